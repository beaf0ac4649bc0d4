//! Black-box integration tests: the real server over HTTP against a real Redis, each test
//! with its own key prefix and port. Run them with `scripts/test.sh`.

mod admin_auth;
mod assertions;
mod audit;
mod bruteforce;
mod cache;
mod cli;
mod cluster;
mod discovery;
mod fuzz;
mod grpc;
mod headers;
mod helpers;
mod introspection;
mod issuer;
mod key_reload;
mod key_rotation;
mod log_hygiene;
mod metrics;
mod org_clients;
mod outage;
mod overload;
mod persistence;
mod startup;
mod tls;
mod token;
mod v1_clients;
