use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn};

#[tokio::test]
async fn a_storm_of_cold_requests_gets_quick_503s_while_the_rest_is_served() {
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            s.argon2.max_concurrent =
                tokenmint::config::Threads::fixed(std::num::NonZeroUsize::MIN);
            s.argon2.max_queue = 2;
        }),
        ..Spawn::default()
    })
    .await;
    // Distinct clients: identical requests would share one argon2 run (see below).
    let mut clients = Vec::new();
    for _ in 0..12 {
        let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
        clients.push((client["client_id"].as_str().unwrap().to_owned(), secret));
    }

    let storm = clients
        .iter()
        .map(|(id, secret)| app.token_request(id, secret, &[]));
    let bystanders = async {
        let mut statuses = Vec::new();
        for path in ["/healthz", "/.well-known/jwks.json", "/keys", "/healthz"] {
            statuses.push(app.http.get(app.url(path)).send().await.unwrap().status());
        }
        statuses
    };
    let (responses, bystanders) = tokio::join!(futures_util::future::join_all(storm), bystanders);
    assert!(
        bystanders.iter().all(|s| *s == StatusCode::OK),
        "{bystanders:?}"
    );
    let (mut ok, mut busy) = (0, 0);
    for response in responses {
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                busy += 1;
                assert_eq!(response.headers()["retry-after"], "1");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["error"], "temporarily_unavailable");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
}

#[tokio::test]
async fn identical_first_requests_at_once_share_one_argon2_run() {
    // One argon2 place and no queue: without sharing, all but one would get 503.
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            s.argon2.max_concurrent =
                tokenmint::config::Threads::fixed(std::num::NonZeroUsize::MIN);
            s.argon2.max_queue = 0;
        }),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let runs = |ready: Value| ready["argon2"]["runs"].as_u64().unwrap();
    let before = runs(app.get_json("/readyz").await);

    let herd = (0..20).map(|_| app.token_request(id, &secret, &[]));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(herd)
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(runs(app.get_json("/readyz").await) - before, 1);

    // A wrong secret sent by many at once is refused for each (not 503: they share a run).
    // It keeps the right last four characters, so it is checked against the stored hash.
    let wrong = format!("x{}", &secret[1..]);
    assert_ne!(wrong, secret);
    let before = runs(app.get_json("/readyz").await);
    let herd = (0..5).map(|_| app.token_request(id, &wrong, &[]));
    for response in futures_util::future::join_all(herd).await {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let shared = runs(app.get_json("/readyz").await) - before;
    assert!((1..=2).contains(&shared), "{shared} runs");
}

fn raw_exchange(app: &TestApp, request: &[u8]) -> (String, Duration) {
    let address = app.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    (
        String::from_utf8_lossy(&reply).into_owned(),
        started.elapsed(),
    )
}

fn quick_timeouts(settings: &mut tokenmint::config::Settings) {
    settings.server.request_timeout = Duration::from_millis(300);
}

#[tokio::test]
async fn a_client_that_never_finishes_its_head_is_cut_off() {
    let app = spawn(Spawn {
        configure: Box::new(quick_timeouts),
        ..Spawn::default()
    })
    .await;
    let request = b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n".to_vec();
    let (reply, took) = tokio::task::spawn_blocking(move || raw_exchange(&app, &request))
        .await
        .unwrap();
    assert!(
        took < Duration::from_secs(3),
        "the connection was held {took:?}"
    );
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
        "{reply}"
    );
}

#[tokio::test]
async fn a_client_that_trickles_its_body_gets_408() {
    let app = spawn(Spawn {
        configure: Box::new(quick_timeouts),
        ..Spawn::default()
    })
    .await;
    let request = b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 200\r\n\r\ngrant_type=".to_vec();
    let (reply, took) = tokio::task::spawn_blocking(move || raw_exchange(&app, &request))
        .await
        .unwrap();
    assert!(
        took < Duration::from_secs(3),
        "the request was held {took:?}"
    );
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("invalid_request"), "{reply}");
}

#[tokio::test]
async fn oversized_headers_get_431_and_no_server_banner_is_sent() {
    let app = spawn(Spawn::default()).await;
    let response = app
        .http
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let response = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("server").is_none(),
        "no version banner"
    );
}

/// Sends one request on `stream` and reads its (small) response.
fn request_on(stream: &mut TcpStream, path: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buffer = [0u8; 4096];
    let n = stream.read(&mut buffer).unwrap_or(0);
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let app = spawn(Spawn {
        configure: Box::new(|s| s.server.keep_alive = Duration::from_secs(1)),
        ..Spawn::default()
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let closed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        assert!(request_on(&mut stream, "/healthz").starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(2500));
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut buffer = [0u8; 64];
        matches!(stream.read(&mut buffer), Ok(0))
    })
    .await
    .unwrap();
    assert!(closed, "an idle connection outlived keep_alive_secs");
}

#[tokio::test]
async fn connections_past_the_limit_wait_until_one_closes() {
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            s.server.max_connections = 2.try_into().unwrap();
            s.server.keep_alive = Duration::from_secs(30);
        }),
        ..Spawn::default()
    })
    .await;
    let address = app.base.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        // The test client may hold a pooled connection of its own, so count how many more
        // are served before one has to wait: at most the limit.
        let mut held: Vec<TcpStream> = Vec::new();
        let mut waiting = None;
        for _ in 0..3 {
            let mut stream = TcpStream::connect(&address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_millis(700)))
                .unwrap();
            write!(stream, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut buffer = [0u8; 4096];
            match stream.read(&mut buffer) {
                Ok(n) if String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200") => {
                    held.push(stream)
                }
                _ => {
                    waiting = Some(stream);
                    break;
                }
            }
        }
        assert!(
            held.len() <= 2,
            "{} connections were served past a limit of 2",
            held.len()
        );
        let mut waiting = waiting.expect("a connection past the limit was served at once");
        drop(held);
        waiting
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buffer = [0u8; 4096];
        let n = waiting.read(&mut buffer).unwrap();
        assert!(
            String::from_utf8_lossy(&buffer[..n]).starts_with("HTTP/1.1 200"),
            "served once a slot freed"
        );
    })
    .await
    .unwrap();
}
