//! One listener for every face: the REST APIs, `/oauth/token`, discovery and the gRPC
//! `ClientService` share one host:port, with or without TLS, routed per connection and per
//! request.
//!
//! actix-web cannot send HTTP/2 trailers, which every gRPC response needs, so HTTP/2 is
//! served by hyper here; HTTP/1.1, where all the REST traffic and the token path live, is
//! served by actix-http exactly as `actix_web::HttpServer` would (the same H1 dispatcher,
//! configured the same way; `HttpServer` itself has no hook to take connections elsewhere,
//! which is why this module builds the actix-server listener by hand). Per connection:
//!
//! - TLS (when configured) is accepted here, offering ALPN `h2` and `http/1.1`;
//! - a connection that chose `h2`, or that opens with the HTTP/2 preface (h2c with prior
//!   knowledge: no HTTP/1 request starts with `PRI`), goes to hyper; every other connection
//!   to actix's HTTP/1 dispatcher;
//! - on HTTP/2, a request whose `content-type` is `application/grpc...` goes to the tonic
//!   service; any other request is handed, in process, to the same actix `App` that serves
//!   HTTP/1 (same routes, middleware, limits and logs).

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::body::{BoxBody, MessageBody};
use actix_http::{HttpService, Request as ActixRequest, Response as ActixResponse};
use actix_rt::net::TcpStream;
use actix_server::{GracefulShutdownSignal, Server};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_factory, fn_service,
};
use actix_web::dev::{AppConfig, ServiceResponse};
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, BodyStream, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::config::ServerSettings;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every HTTP/2 response, gRPC or bridged.
type H2Body = UnsyncBoxBody<Bytes, BoxError>;

/// The gRPC side of HTTP/2: a tower service over hyper's requests (tonic's generated server).
pub trait GrpcService:
    tower_service::Service<
        http::Request<Incoming>,
        Response = http::Response<tonic::body::Body>,
        Error = Infallible,
        Future: Send,
    > + Clone
    + Send
    + 'static
{
}

impl<T> GrpcService for T where
    T: tower_service::Service<
            http::Request<Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
            Future: Send,
        > + Clone
        + Send
        + 'static
{
}

/// How connections are served (from `server.*`).
#[derive(Clone)]
struct Limits {
    keep_alive: Duration,
    request_timeout: Duration,
    max_header_bytes: usize,
}

/// Serves `app` (every REST route) and `grpc` on `listener`, with TLS when `tls` is given.
pub fn serve<F, I, S, B, G>(
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    settings: &ServerSettings,
    max_header_bytes: usize,
    app: F,
    grpc: G,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, ActixRequest>,
    S: ServiceFactory<
            ActixRequest,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
    G: GrpcService,
{
    let addr = listener.local_addr()?;
    let acceptor = tls.map(|mut config| {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    });
    let limits = Limits {
        keep_alive: settings.keep_alive,
        request_timeout: settings.request_timeout,
        max_header_bytes,
    };
    let mut builder = Server::build();
    let signal = builder.graceful_shutdown_signal();
    builder = builder
        .workers(settings.workers.resolve().get())
        .max_concurrent_connections(settings.max_connections.get())
        .shutdown_timeout(10)
        // Signals are the binary's to handle (`commands::serve`): actix's own handler
        // stops at once on SIGINT, dropping in-flight requests.
        .disable_signals();
    builder
        .listen("tokenmint", listener, move || {
            let (app, grpc, acceptor, limits, signal) = (
                app.clone(),
                grpc.clone(),
                acceptor.clone(),
                limits.clone(),
                signal.clone(),
            );
            fn_factory(move || {
                let (app, grpc, acceptor, limits, signal) = (
                    app.clone(),
                    grpc.clone(),
                    acceptor.clone(),
                    limits.clone(),
                    signal.clone(),
                );
                async move {
                    let worker = Worker::start(app, grpc, acceptor, limits, signal, addr).await?;
                    let worker = Rc::new(worker);
                    Ok::<_, ()>(fn_service(move |stream: TcpStream| {
                        let worker = Rc::clone(&worker);
                        async move {
                            worker.connection(stream).await;
                            Ok::<_, Infallible>(())
                        }
                    }))
                }
            })
        })
        .map(|builder| builder.run())
}

/// Serves one HTTP/1 connection with actix.
type H1 = Rc<dyn Fn(Io, Option<SocketAddr>) -> LocalBoxFuture<'static, ()>>;
/// Runs one request through the actix `App`.
type Bridge = Rc<dyn Fn(ActixRequest) -> LocalBoxFuture<'static, ActixResponse<BoxBody>>>;

/// One worker thread's services (actix's are not `Send`: one set per worker).
struct Worker<G> {
    h1: H1,
    bridge: Bridge,
    grpc: G,
    acceptor: Option<TlsAcceptor>,
    limits: Limits,
    signal: GracefulShutdownSignal,
}

impl<G: GrpcService> Worker<G> {
    async fn start<F, I, S, B>(
        app: F,
        grpc: G,
        acceptor: Option<TlsAcceptor>,
        limits: Limits,
        signal: GracefulShutdownSignal,
        addr: SocketAddr,
    ) -> Result<Self, ()>
    where
        F: Fn() -> I,
        I: IntoServiceFactory<S, ActixRequest>,
        S: ServiceFactory<
                ActixRequest,
                Config = AppConfig,
                Response = ServiceResponse<B>,
                Error = actix_web::Error,
                InitError = (),
            > + 'static,
        S::Service: 'static,
        B: MessageBody + 'static,
    {
        // The HTTP/1 dispatcher, configured as `actix_web::HttpServer` configures it.
        let drain = signal.clone();
        let mut h1 = HttpService::build()
            .graceful_shutdown_signal(move || {
                let drain = drain.clone();
                async move { drain.notified().await }
            })
            .keep_alive(limits.keep_alive)
            .client_request_timeout(limits.request_timeout)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr);
        if acceptor.is_some() {
            h1 = h1.secure();
        }
        let factory =
            actix_service::map_config(app().into_factory().map_err(|e| e.error_response()), |_| {
                AppConfig::default()
            });
        let h1 = Rc::new(h1.h1(factory).new_service(()).await?);
        let h1: H1 = Rc::new(move |io, peer| {
            let h1 = Rc::clone(&h1);
            Box::pin(async move {
                if let Err(e) = h1.call((io, peer)).await {
                    tracing::debug!(error = ?e, "HTTP/1 connection ended with an error");
                }
            })
        });
        // The same App again, called directly for HTTP/2 requests that are not gRPC.
        let service = Rc::new(
            actix_service::map_config(app().into_factory(), |_| AppConfig::default())
                .new_service(())
                .await?,
        );
        let bridge: Bridge = Rc::new(move |request| {
            let service = Rc::clone(&service);
            Box::pin(async move {
                match service.call(request).await {
                    Ok(response) => response.map_into_boxed_body().into(),
                    Err(e) => e.error_response().into(),
                }
            })
        });
        Ok(Self {
            h1,
            bridge,
            grpc,
            acceptor,
            limits,
            signal,
        })
    }

    async fn connection(self: Rc<Self>, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
        let _ = stream.set_nodelay(true);
        let conn = match &self.acceptor {
            None => Conn::Plain(stream),
            Some(acceptor) => {
                match tokio::time::timeout(self.limits.request_timeout, acceptor.accept(stream))
                    .await
                {
                    Ok(Ok(tls)) => Conn::Tls(Box::new(tls)),
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                }
            }
        };
        let (io, h2) = if conn.chose_h2() {
            (Io::new(conn, Bytes::new()), true)
        } else {
            match tokio::time::timeout(self.limits.request_timeout, sniff(conn)).await {
                Ok(Ok(sniffed)) => sniffed,
                _ => return,
            }
        };
        if h2 {
            self.serve_h2(io, peer).await;
        } else {
            (self.h1)(io, peer).await;
        }
    }

    async fn serve_h2(self: Rc<Self>, io: Io, peer: Option<SocketAddr>) {
        let worker = Rc::clone(&self);
        let service = hyper::service::service_fn(move |request| {
            let worker = Rc::clone(&worker);
            async move { Ok::<_, Infallible>(worker.route(request, peer).await) }
        });
        let mut builder = hyper::server::conn::http2::Builder::new(LocalExec);
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.limits.max_header_bytes).unwrap_or(u32::MAX))
            .max_concurrent_streams(256)
            .keep_alive_interval(Some(self.limits.keep_alive))
            .keep_alive_timeout(Duration::from_secs(20));
        let connection = builder.serve_connection(TokioIo::new(io), service);
        let mut connection = std::pin::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "HTTP/2 connection ended with an error");
                }
            }
            () = self.signal.notified() => {
                connection.as_mut().graceful_shutdown();
                let _ = connection.await;
            }
        }
    }

    async fn route(
        &self,
        request: hyper::Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> hyper::Response<H2Body> {
        let grpc = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/grpc"));
        if grpc {
            // The REST routes get their request id from actix middleware; gRPC calls here.
            let id = crate::telemetry::RequestId::from_header(
                request
                    .headers()
                    .get(crate::telemetry::RequestId::HEADER)
                    .map(http::HeaderValue::as_bytes),
            );
            let mut request = request;
            let path = request.uri().path().to_owned();
            request.extensions_mut().insert(crate::audit::Origin {
                face: crate::audit::Face::Grpc,
                request_id: id.clone(),
                peer: peer.map(|p| p.ip()),
                path,
            });
            let mut response = self.grpc(request).await;
            if let Ok(value) = http::HeaderValue::from_str(id.as_str()) {
                response
                    .headers_mut()
                    .insert(crate::telemetry::RequestId::HEADER, value);
            }
            response
        } else {
            self.bridged(request, peer).await
        }
    }

    /// A gRPC call, within its `grpc-timeout` when it sends one.
    async fn grpc(&self, request: hyper::Request<Incoming>) -> hyper::Response<H2Body> {
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(grpc_timeout);
        let mut service = self.grpc.clone();
        let call = tower_service::Service::call(&mut service, request);
        let response = match deadline {
            None => call.await,
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(response) => response,
                Err(_) => Ok(tonic::Status::deadline_exceeded(
                    "the call did not finish within its grpc-timeout",
                )
                .into_http()),
            },
        };
        let Ok(response) = response;
        response.map(|body| body.map_err(BoxError::from).boxed_unsync())
    }

    /// A non-gRPC HTTP/2 request, answered by the actix `App`.
    async fn bridged(
        &self,
        request: hyper::Request<Incoming>,
        peer: Option<SocketAddr>,
    ) -> hyper::Response<H2Body> {
        let (parts, body) = request.into_parts();
        let payload: actix_http::BoxedPayloadStream =
            Box::pin(BodyStream::new(body).filter_map(|frame| async move {
                match frame {
                    Ok(frame) => frame.into_data().ok().map(Ok),
                    Err(e) => Some(Err(actix_http::error::PayloadError::Io(io::Error::other(
                        e,
                    )))),
                }
            }));
        let mut actix = ActixRequest::with_payload(actix_http::Payload::Stream { payload });
        let head = actix.head_mut();
        let (Ok(method), Ok(uri)) = (
            actix_http::Method::from_bytes(parts.method.as_str().as_bytes()),
            parts.uri.to_string().parse::<actix_http::Uri>(),
        ) else {
            return plain(http::StatusCode::BAD_REQUEST);
        };
        head.method = method;
        head.uri = uri;
        head.version = actix_http::Version::HTTP_2;
        head.peer_addr = peer;
        for (name, value) in &parts.headers {
            if let (Ok(name), Ok(value)) = (
                actix_http::header::HeaderName::from_bytes(name.as_str().as_bytes()),
                actix_http::header::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                head.headers.append(name, value);
            }
        }
        let response = (self.bridge)(actix).await;
        let status = response.status().as_u16();
        let mut out = hyper::Response::builder().status(status);
        for (name, value) in response.headers() {
            out = out.header(name.as_str(), value.as_bytes());
        }
        // Admin and token responses are small and complete: no streaming to carry over.
        let body = match actix_http::body::to_bytes(response.into_body()).await {
            Ok(bytes) => bytes,
            Err(_) => return plain(http::StatusCode::INTERNAL_SERVER_ERROR),
        };
        out.body(full(body))
            .unwrap_or_else(|_| plain(http::StatusCode::INTERNAL_SERVER_ERROR))
    }
}

fn full(bytes: Bytes) -> H2Body {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn plain(status: http::StatusCode) -> hyper::Response<H2Body> {
    let mut response = hyper::Response::new(full(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// A `grpc-timeout` value (`1-8 digits` and a unit: H, M, S, m, u, n).
fn grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Reads the first bytes of a connection that did not choose a protocol by ALPN: the
/// HTTP/2 preface starts with `PRI`, which no HTTP/1 method is. The bytes read are replayed
/// to whichever side serves the connection.
async fn sniff(conn: Conn) -> io::Result<(Io, bool)> {
    const PREFIX: &[u8] = b"PRI";
    let mut io = Io::new(conn, Bytes::new());
    let mut buf = vec![0u8; 24];
    let mut filled = 0;
    while filled < PREFIX.len() && buf[..filled] == PREFIX[..filled] {
        let n = io.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    let h2 = buf.starts_with(PREFIX);
    io.replay = Bytes::from(buf);
    Ok((io, h2))
}

/// hyper's HTTP/2 streams run on the worker's own thread, beside its actix services.
#[derive(Clone, Copy)]
struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, future: F) {
        actix_rt::spawn(async move {
            future.await;
        });
    }
}

/// An accepted connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    fn chose_h2(&self) -> bool {
        match self {
            Self::Plain(_) => false,
            Self::Tls(tls) => tls.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

/// A connection with the bytes already read from it put back in front.
pub struct Io {
    replay: Bytes,
    conn: Conn,
}

impl Io {
    fn new(conn: Conn, replay: Bytes) -> Self {
        Self { replay, conn }
    }
}

impl AsyncRead for Io {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.replay.is_empty() {
            let n = this.replay.len().min(buf.remaining());
            buf.put_slice(&this.replay.split_to(n));
            return Poll::Ready(Ok(()));
        }
        match &mut this.conn {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.conn {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, data),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, data),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.conn {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.conn {
            Conn::Plain(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.conn {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.conn {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_by_their_unit() {
        assert_eq!(grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        for bad in ["", "S", "5", "123456789S", "5x", "-1S"] {
            assert_eq!(grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
