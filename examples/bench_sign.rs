//! In-process token signing rate of each algorithm on one core, the ceiling the token
//! endpoint is measured against by `scripts/bench.sh`.
//!
//! `cargo run --release --example bench_sign [seconds [alg [verify]]]` prints one line per
//! algorithm (or for `alg` only): `<alg> <signs per second>`; with `verify`, the rate at
//! which a verifier holding the public key checks such a token (signature, issuer, expiry:
//! what a resource server verifying locally does), `<alg> <verifications per second>`.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, json};
use tokenmint::crypto::{Alg, KeyRing, jwt, keys};

fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let only = std::env::args().nth(2);
    let verify = std::env::args().nth(3).as_deref() == Some("verify");
    let mut claims = Map::new();
    for (k, v) in [
        ("iss", json!("http://127.0.0.1:8080")),
        ("sub", json!("m2morg_123456789012345678")),
        ("client_id", json!("m2morg_123456789012345678")),
        ("aud", json!("https://api.example.com")),
        ("iat", json!(1_795_000_000u64)),
        ("nbf", json!(1_795_000_000u64)),
        ("exp", json!(4_102_444_800u64)),
        ("jti", json!("tkn_0123456789abcdef0123456789abcdef")),
        ("scope", json!("deploy:applications read:deployments")),
        ("scopes", json!(["deploy:applications", "read:deployments"])),
        ("oid", json!("org_59615193906282635")),
    ] {
        claims.insert(k.into(), v);
    }
    // Claims are encoded once, as the token endpoint keeps its grants' claims encoded.
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256] {
        if only.as_deref().is_some_and(|name| name != alg.name()) {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        keys::generate(dir.path(), alg).unwrap();
        let ring = KeyRing::load(dir.path(), "", "at+jwt").unwrap();
        let key = ring.active();
        let budget = Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let mut count = 0u64;
        if verify {
            let token = jwt::mint_payload(key, &payload).unwrap();
            while started.elapsed() < budget {
                std::hint::black_box(jwt::verify(&ring, &token, "http://127.0.0.1:8080").unwrap());
                count += 1;
            }
        } else {
            while started.elapsed() < budget {
                std::hint::black_box(jwt::mint_payload(key, &payload).unwrap());
                count += 1;
            }
        }
        println!(
            "{} {:.0}",
            alg.name(),
            count as f64 / started.elapsed().as_secs_f64()
        );
    }
}
