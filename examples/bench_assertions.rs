//! `private_key_jwt` assertions for `scripts/bench.sh`: each one is good once (its `jti` is
//! recorded), so the load generator replays none and needs one per request.
//!
//! `bench_assertions <client_id> <audience> <count> <out>` makes an ES256 key, prints its
//! public JWK (one line of JSON) for the client's credential, and writes `count` assertions
//! (iss = sub = client_id, aud = audience, exp in 5 minutes, a fresh jti each) to `out`, one
//! per line.

use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use tokenmint::crypto::{Alg, SigningKey, keys};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, client, audience, count, out] = args.as_slice() else {
        eprintln!("usage: bench_assertions <client_id> <audience> <count> <out>");
        std::process::exit(2);
    };
    let count: usize = count.parse().expect("a count");
    let der = keys::generate_der(Alg::Es256).expect("a key");
    let key = SigningKey::from_der("bench", &der, "JWT").expect("a key");
    println!("{}", serde_json::to_string(key.jwk()).expect("a JWK"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).expect("the output file"));
    for i in 0..count {
        let claims = json!({
            "iss": client, "sub": client, "aud": audience,
            "iat": now, "exp": now + 300, "jti": format!("bench-{now}-{i}"),
        });
        let message = format!(
            "{}.{}",
            key.header_b64(),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = key.sign(message.as_bytes()).expect("a signature");
        writeln!(file, "{message}.{}", URL_SAFE_NO_PAD.encode(signature)).expect("written");
    }
}
