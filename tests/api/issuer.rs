//! A small OIDC issuer on loopback for the federation tests: a discovery document, a JWKS,
//! and tokens shaped like GitHub Actions' and Kubernetes' service-account tokens, signed
//! with its ES256 key. It can also misbehave: answer slowly, with a huge JWKS, or not at
//! all. HTTP/1.1 by hand on a tokio listener (one request per connection): the fixture
//! needs four fixed answers, not a web framework.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokenmint::crypto::{Alg, SigningKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the issuer answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Behaviour {
    Normal = 0,
    /// Waits 5 s before answering.
    Slow = 1,
    /// A JWKS of about 1 MiB.
    Huge = 2,
    /// Closes every connection without an answer.
    Down = 3,
}

pub struct TestIssuer {
    pub url: String,
    key: Arc<SigningKey>,
    behaviour: Arc<AtomicU8>,
    /// Requests answered, all paths.
    pub fetches: Arc<AtomicUsize>,
}

pub fn new_key() -> SigningKey {
    let der = tokenmint::crypto::keys::generate_der(Alg::Es256).unwrap();
    SigningKey::from_der("test", &der, "JWT").unwrap()
}

/// A compact JWS of `claims` signed by `key` (header: ES256, its kid, typ JWT).
pub fn sign(key: &SigningKey, claims: &Value) -> String {
    let message = format!(
        "{}.{}",
        key.header_b64(),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(message.as_bytes()).unwrap();
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A JWS with a header of one's own choosing (for `alg: none`, HS256 and the like).
pub fn with_header(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl TestIssuer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let key = Arc::new(new_key());
        let behaviour = Arc::new(AtomicU8::new(Behaviour::Normal as u8));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (k, b, f, u) = (
            Arc::clone(&key),
            Arc::clone(&behaviour),
            Arc::clone(&fetches),
            url.clone(),
        );
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (k, b, f, u) = (Arc::clone(&k), Arc::clone(&b), Arc::clone(&f), u.clone());
                tokio::spawn(async move {
                    let mut request = vec![0u8; 4096];
                    let n = stream.read(&mut request).await.unwrap_or(0);
                    let line = String::from_utf8_lossy(&request[..n]);
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    let behaviour = b.load(Ordering::SeqCst);
                    if behaviour == Behaviour::Down as u8 {
                        return;
                    }
                    f.fetch_add(1, Ordering::SeqCst);
                    if behaviour == Behaviour::Slow as u8 {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    let body = match path.as_str() {
                        "/.well-known/openid-configuration" => json!({
                            "issuer": u,
                            "jwks_uri": format!("{u}/jwks"),
                            "id_token_signing_alg_values_supported": ["ES256"],
                        })
                        .to_string(),
                        "/jwks" if behaviour == Behaviour::Huge as u8 => {
                            let mut keys = vec![serde_json::to_value(k.jwk()).unwrap()];
                            keys.extend((0..5000).map(|i| json!({"kty": "EC", "crv": "P-256", "kid": format!("filler-{i}"), "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})));
                            json!({ "keys": keys }).to_string()
                        }
                        "/jwks" => json!({"keys": [k.jwk()]}).to_string(),
                        _ => {
                            let _ = stream
                                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    };
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = stream.write_all(head.as_bytes()).await;
                    let _ = stream.write_all(body.as_bytes()).await;
                });
            }
        });
        Self {
            url,
            key,
            behaviour,
            fetches,
        }
    }

    pub fn behave(&self, behaviour: Behaviour) {
        self.behaviour.store(behaviour as u8, Ordering::SeqCst);
    }

    /// A token of this issuer with `claims` (iss, iat, exp and jti added unless given).
    pub fn token(&self, claims: Value) -> String {
        let mut full = json!({
            "iss": self.url,
            "iat": now(),
            "nbf": now(),
            "exp": now() + 300,
            "jti": format!("{:x}", rand::random::<u64>()),
        });
        for (k, v) in claims.as_object().unwrap() {
            full[k] = v.clone();
        }
        sign(&self.key, &full)
    }

    /// A token shaped like GitHub Actions' OIDC token for `repository` at `git_ref`.
    pub fn github_token(&self, audience: &str, repository: &str, git_ref: &str) -> String {
        self.token(json!({
            "aud": audience,
            "sub": format!("repo:{repository}:ref:{git_ref}"),
            "repository": repository,
            "repository_owner": repository.split('/').next().unwrap(),
            "ref": git_ref,
            "workflow": "deploy",
            "event_name": "push",
            "runner_environment": "github-hosted",
        }))
    }

    /// A token shaped like a Kubernetes projected service-account token.
    pub fn kubernetes_token(&self, audience: &str, namespace: &str, account: &str) -> String {
        self.token(json!({
            "aud": [audience],
            "sub": format!("system:serviceaccount:{namespace}:{account}"),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": account, "uid": "0b2c0a44-1b2c-4d5e-8f90-123456789abc"},
                "pod": {"name": "deployer-7d9f", "uid": "5f0e1d2c-3b4a-5968-7f8e-9d0c1b2a3f4e"}
            },
        }))
    }
}
