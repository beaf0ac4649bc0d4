//! The key store (`keys.source = "redis"`): two real processes sharing one Redis go through
//! rotations, on demand and on schedule, and every token either mints verifies against the
//! JWKS both serve, before, during and after; private keys are sealed under the KEK; a
//! wrong KEK stops the server naming it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use rand::RngExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{DevProcess, Spawn, free_port, needs_redis, redis_url, spawn};

/// The settings of a fast key store: a key is published 3 s before it signs (JWKS max-age
/// 1 s + 1 s watch + margin), tokens live 2 s, a retired key leaves 1 s after that.
fn key_store_env(prefix: &str, kek: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("TOKENMINT_REDIS__URL", redis_url().as_str()),
        ("TOKENMINT_REDIS__KEY_PREFIX", prefix),
        ("TOKENMINT_KEYS__SOURCE", "redis"),
        ("TOKENMINT_KEK", kek),
        ("TOKENMINT_KEYS__JWKS_MAX_AGE", "1"),
        ("TOKENMINT_KEYS__WATCH_SECS", "1"),
        ("TOKENMINT_KEYS__PUBLISH_AHEAD_SECS", "3"),
        ("TOKENMINT_KEYS__RETIRE_MARGIN_SECS", "1"),
        ("TOKENMINT_TOKENS__MIN_EXPIRY", "1"),
        ("TOKENMINT_TOKENS__DEFAULT_EXPIRY", "2"),
        ("TOKENMINT_TOKENS__MAX_EXPIRY", "2"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn new_kek() -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kek");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["keys", "new-kek", "--out"])
        .arg(&out)
        .env_clear()
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read_to_string(out).unwrap().trim().to_owned()
}

/// Two `serve --dev` processes on one Redis key store.
struct Fleet {
    _dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    one: DevProcess,
    two: DevProcess,
    http: reqwest::Client,
}

impl Fleet {
    fn start(extra: &[(&str, &str)]) -> Self {
        let prefix = format!("tmrot{}", rand::rng().random::<u64>());
        let env = key_store_env(&prefix, &new_kek(), extra);
        let dir = tempfile::tempdir().unwrap();
        for name in ["one", "two"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let one = DevProcess::start(free_port(), &dir.path().join("one/keys"), &[], &pairs);
        let two = DevProcess::start(free_port(), &dir.path().join("two/keys"), &[], &pairs);
        Self {
            _dir: dir,
            env,
            one,
            two,
            http: reqwest::Client::new(),
        }
    }

    fn servers(&self) -> [&DevProcess; 2] {
        [&self.one, &self.two]
    }

    async fn token(&self, server: &DevProcess) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/oauth/token", server.base))
            .basic_auth(
                server.admin["client_id"].as_str().unwrap(),
                server.admin["client_secret"].as_str(),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["access_token"].as_str().expect("a token").to_owned()
    }

    async fn jwks(&self, server: &DevProcess) -> JwkSet {
        self.http
            .get(format!("{}/keys", server.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn admin_call(
        &self,
        server: &DevProcess,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let token = self.token(server).await;
        let mut request = self
            .http
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// `tokenmint keys ARGS` on the fleet's settings.
    fn keys_command(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"));
        command.arg("keys").args(args).env_clear();
        for (k, v) in &self.env {
            command.env(k, v);
        }
        command.output().unwrap()
    }

    /// One look: a token from each instance, verified against the JWKS of each (fetched
    /// after both tokens were minted). Panics on any token that does not verify; returns
    /// the kids that signed and the kids each JWKS published.
    async fn sample(&self) -> Sample {
        let tokens = [self.token(&self.one).await, self.token(&self.two).await];
        let sets = [self.jwks(&self.one).await, self.jwks(&self.two).await];
        let mut signed = Vec::new();
        for token in &tokens {
            let header = jsonwebtoken::decode_header(token).unwrap();
            let kid = header.kid.clone().unwrap();
            for (i, set) in sets.iter().enumerate() {
                let jwk = set.find(&kid).unwrap_or_else(|| {
                    panic!("a token signed by {kid} does not verify against instance {i}'s JWKS: the kid is not published")
                });
                let mut validation = Validation::new(header.alg);
                validation.validate_aud = false;
                jsonwebtoken::decode::<Value>(
                    token,
                    &DecodingKey::from_jwk(jwk).unwrap(),
                    &validation,
                )
                .unwrap_or_else(|e| panic!("token by {kid} fails against instance {i}: {e}"));
            }
            signed.push(kid);
        }
        let published = sets.map(|s| {
            s.keys
                .iter()
                .map(|k| k.common.key_id.clone().unwrap())
                .collect::<BTreeSet<_>>()
        });
        Sample { signed, published }
    }

    /// Samples for `how_long`, every ~50 ms.
    async fn sample_for(&self, how_long: Duration, into: &mut Vec<Sample>) {
        let started = Instant::now();
        while started.elapsed() < how_long {
            into.push(self.sample().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Sample {
    signed: Vec<String>,
    published: [BTreeSet<String>; 2],
}

#[tokio::test]
async fn a_rotation_across_two_instances_keeps_every_token_verifying_against_both_jwks() {
    needs_redis!("the key store lives in Redis");
    let fleet = Fleet::start(&[]);
    let mut samples = Vec::new();
    fleet.sample_for(Duration::from_secs(1), &mut samples).await;
    let first = samples[0].signed[0].clone();
    assert!(
        samples.iter().all(|s| s.signed.iter().all(|k| *k == first)),
        "both instances sign with the one first key"
    );

    // On demand, from the command line.
    let output = fleet.keys_command(&["rotate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    let next = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["state"], "published");

    // A second rotation while this one is under way is refused (admin API, the other
    // instance).
    let (status, body) = fleet
        .admin_call(
            &fleet.two,
            reqwest::Method::POST,
            "/v1/signingKeys/rotate",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains(&next),
        "{body}"
    );

    // Through publish-ahead (3 s), the hand-over, and the old key's retirement (2 s tokens
    // + 1 s margin later), with margin.
    fleet.sample_for(Duration::from_secs(9), &mut samples).await;
    let signers: Vec<&str> = samples
        .iter()
        .flat_map(|s| s.signed.iter().map(String::as_str))
        .collect();
    assert!(signers.contains(&next.as_str()), "the new key came to sign");
    let first_by_new = samples
        .iter()
        .position(|s| s.signed.contains(&next))
        .unwrap();
    assert!(
        samples[..first_by_new].iter().any(|s| s
            .published
            .iter()
            .all(|p| p.contains(&next) && p.contains(&first))),
        "both instances published the new key before either signed with it"
    );
    assert!(
        samples[first_by_new..]
            .iter()
            .skip(2)
            .all(|s| s.signed.iter().all(|k| *k == next)),
        "after the hand-over only the new key signs"
    );
    let last = samples.last().unwrap();
    for published in &last.published {
        assert_eq!(
            published,
            &BTreeSet::from([next.clone()]),
            "the old key retired from both JWKS"
        );
    }

    // Each key's state, through the admin API and the command line.
    let (status, listed) = fleet
        .admin_call(&fleet.one, reqwest::Method::GET, "/v1/signingKeys", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let states: Vec<(&str, &str)> = listed["signingKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [(first.as_str(), "retired"), (next.as_str(), "signing")]
    );
    let output = fleet.keys_command(&["list"]);
    assert!(output.status.success());
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&first) && l.contains("retired")),
        "{table}"
    );

    // On demand through the admin API, of another algorithm: the other instance follows.
    let (status, made) = fleet
        .admin_call(
            &fleet.one,
            reqwest::Method::POST,
            "/v1/signingKeys/rotate",
            Some(json!({"alg": "ES256"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{made}");
    assert_eq!(
        (made["alg"].as_str(), made["state"].as_str()),
        (Some("ES256"), Some("published"))
    );
    let third = made["kid"].as_str().unwrap().to_owned();
    let mut more = Vec::new();
    fleet
        .sample_for(Duration::from_millis(1_500), &mut more)
        .await;
    assert!(
        more.last()
            .unwrap()
            .published
            .iter()
            .all(|p| p.contains(&third)),
        "the other instance publishes the new key within the watch interval"
    );
    assert!(
        more.iter().all(|s| s.signed.iter().all(|k| *k == next)),
        "not signing yet"
    );
    for server in fleet.servers() {
        let logs = server.logs();
        assert!(!logs.contains("PRIVATE KEY"), "{logs}");
    }
}

#[tokio::test]
async fn instances_rotate_on_schedule_exactly_once_each_time() {
    needs_redis!("the key store lives in Redis");
    // Each key signs 4 s; the next is published 3 s before its turn.
    let fleet = Fleet::start(&[("TOKENMINT_KEYS__ROTATE_EVERY_SECS", "4")]);
    let mut samples = Vec::new();
    fleet
        .sample_for(Duration::from_secs(10), &mut samples)
        .await;
    let (status, listed) = fleet
        .admin_call(&fleet.two, reqwest::Method::GET, "/v1/signingKeys", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let keys = listed["signingKeys"].as_array().unwrap();
    let starts: Vec<u64> = keys
        .iter()
        .map(|k| {
            let at = humantime::parse_rfc3339(k["signsFrom"].as_str().unwrap()).unwrap();
            at.duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64
        })
        .collect();
    assert!(
        starts.len() >= 3,
        "at least two rotations in 10 s: {listed}"
    );
    for pair in starts.windows(2) {
        let apart = pair[1] - pair[0];
        assert!(
            // Late by as long as making the key takes (an RSA key, on a loaded machine),
            // never early; two instances rotating for one turn would be ~0 ms apart.
            (4_000..6_000).contains(&apart),
            "each key signs for rotate_every (4 s), one rotation per turn for the two \
             instances, not one each: {apart} ms apart in {listed}"
        );
    }
    let signers: BTreeSet<&String> = samples.iter().flat_map(|s| &s.signed).collect();
    assert!(signers.len() >= 2, "tokens were signed by the rotated keys");
    // Each scheduled rotation is one audit event, by the server itself.
    let (status, events) = fleet
        .admin_call(
            &fleet.one,
            reqwest::Method::GET,
            "/v1/auditEvents?pageSize=100",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let rotations: Vec<&Value> = events["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key.rotate")
        .collect();
    assert_eq!(rotations.len(), starts.len() - 1, "{events}");
    assert!(
        rotations
            .iter()
            .all(|e| e["actor"] == "tokenmint" && e["face"] == "server")
    );
}

#[tokio::test]
async fn private_keys_are_sealed_in_redis_and_a_wrong_kek_stops_the_server_naming_it() {
    needs_redis!("the key store lives in Redis");
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["keys", "new-kek", "--out"])
        .arg(&kek)
        .env_clear()
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let kek_file = kek.clone();
    let app = spawn(Spawn {
        configure: Box::new(move |s| {
            s.keys.source = tokenmint::config::KeySource::Redis;
            s.keys.kek_file = kek_file;
        }),
        ..Spawn::default()
    })
    .await;
    let token = app.token_for(&app.admin_id, &app.admin_secret).await;
    app.verify(&token).await;

    let mut redis = app.redis().await;
    let doc: String = redis::cmd("GET")
        .arg(format!("{}:signing-keys", app.prefix))
        .query_async(&mut redis)
        .await
        .unwrap();
    let schedule: Value = serde_json::from_str(&doc).unwrap();
    let record = &schedule["keys"][0];
    assert_eq!(record["alg"], "RS256", "keys.alg's default");
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(
            record["public_jwk"].get(private).is_none(),
            "{private} in {doc}"
        );
    }
    assert!(record["sealed"]["ciphertext"].as_str().unwrap().len() > 1000);
    assert!(!doc.contains("PRIVATE KEY"));

    // The same store under another KEK: refused at startup, naming the setting.
    let other = dir.path().join("other");
    std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["keys", "new-kek", "--out"])
        .arg(&other)
        .env_clear()
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    let mut settings = app.settings.clone();
    settings.keys.kek_file = other;
    let store = crate::helpers::store_for(&settings).await;
    let err = match tokenmint::startup::Application::build(settings, store).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the server started with the wrong KEK"),
    };
    assert!(
        err.contains("another key-encryption key") && err.contains("keys.kek_file"),
        "{err}"
    );
    assert!(!err.contains(&std::fs::read_to_string(&kek).unwrap().trim().to_string()));
}

#[tokio::test]
async fn a_keys_folder_lists_its_keys_and_refuses_an_api_rotation() {
    let app = spawn(Spawn::default()).await;
    let listed = app.get_json("/v1/signingKeys").await;
    let keys = listed["signingKeys"].as_array().expect("a list");
    assert_eq!(keys.len(), 1, "{listed}");
    assert_eq!(keys[0]["state"], "signing");
    assert!(keys[0]["file"].as_str().unwrap().ends_with(".pem"));
    let response = app.post("/v1/signingKeys/rotate", &json!({})).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("keys.source"),
        "{body}"
    );
    let response = app
        .post("/v1/signingKeys/rotate", &json!({"alg": "HS256"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
