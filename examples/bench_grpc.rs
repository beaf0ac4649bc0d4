//! Load generator for the gRPC face (`scripts/bench.sh`): `GetOrganizationClient` with a
//! fixed number of calls in flight, spread over a few HTTP/2 connections, for a fixed time.
//! Prints `req/s p99_ms errors` like bench.sh's wrk summaries. No gRPC load tool is
//! packaged for this machine's distribution, hence this small one.
//!
//! Usage: bench_grpc <http://host:port> <admin token> <organization id> <client id>
//!        [in flight (64)] [seconds (5)]

use std::time::{Duration, Instant};

use tokenmint::proto::clients::GetOrganizationClientRequest;
use tokenmint::proto::clients::client_service_client::ClientServiceClient;
use tonic::transport::Endpoint;

const CONNECTIONS: usize = 4;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        return Err("usage: bench_grpc <url> <admin token> <organization id> <client id> [in flight] [seconds]".into());
    }
    let in_flight: usize = args.get(5).map_or(Ok(64), |s| s.parse())?;
    let seconds: u64 = args.get(6).map_or(Ok(5), |s| s.parse())?;
    let authorization: tonic::metadata::MetadataValue<_> = format!("Bearer {}", args[2]).parse()?;
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(Endpoint::from_shared(args[1].clone())?.connect().await?);
    }
    let until = Instant::now() + Duration::from_secs(seconds);
    let workers = (0..in_flight).map(|n| {
        let mut client = ClientServiceClient::new(channels[n % CONNECTIONS].clone());
        let authorization = authorization.clone();
        let (org, id) = (args[3].clone(), args[4].clone());
        tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0u64);
            while Instant::now() < until {
                let mut request = tonic::Request::new(GetOrganizationClientRequest {
                    organization_id: org.clone(),
                    client_id: id.clone(),
                });
                request
                    .metadata_mut()
                    .insert("authorization", authorization.clone());
                let started = Instant::now();
                match client.get_organization_client(request).await {
                    Ok(_) => latencies.push(started.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        })
    });
    let started = Instant::now();
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for worker in workers.collect::<Vec<_>>() {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let p99 = latencies
        .get(latencies.len().saturating_sub(1) * 99 / 100)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    println!("{:.0} {p99:.2} {errors}", latencies.len() as f64 / elapsed);
    Ok(())
}
