//! The real binary, at the most verbose log level, through token and admin flows: its logs
//! must hold no plain secret, PHC hash, private key or access token.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{redis_url, seed_create_body};

const BINARY: &str = env!("CARGO_BIN_EXE_tokenmint");

fn tokenmint(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(BINARY);
    // TOKENMINT_TEST_STORE is the test run's, not a setting of the binary.
    command
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("TOKENMINT_TEST_STORE");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn run_json(args: &[&str], env: &[(&str, String)]) -> Value {
    let output = tokenmint(args, env).output().expect("the binary runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the server with exit 0: {status:?}"
    );
}

#[tokio::test]
async fn verbose_logs_hold_no_secret_hash_key_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let env = vec![
        ("TOKENMINT_REDIS__URL", redis_url()),
        ("TOKENMINT_REDIS__KEY_PREFIX", format!("tmlog{port}")),
        ("TOKENMINT_KEYS__DIR", keys.display().to_string()),
        ("TOKENMINT_SERVER__BIND", format!("127.0.0.1:{port}")),
        ("TOKENMINT_SERVER__WORKERS", "1".to_owned()),
        ("TOKENMINT_LOG__FORMAT", "json".to_owned()),
        ("RUST_LOG", "trace".to_owned()),
    ];
    let generated = run_json(&["keys", "generate", "--alg", "RS256"], &env);
    let key_file = std::fs::read_to_string(generated["path"].as_str().unwrap()).unwrap();
    let admin = run_json(&["bootstrap-admin", "--name", "ops"], &env);
    let mut secrets = vec![admin["client_secret"].as_str().unwrap().to_owned()];

    let log_path = dir.path().join("server.log");
    let server = tokenmint(&["serve"], &env)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not start");

    let mut tokens = Vec::new();
    let mut error_bodies = Vec::new();
    let token = |id: String, secret: String| {
        let http = http.clone();
        let base = base.clone();
        async move {
            let response = http
                .post(format!("{base}/oauth/token"))
                .basic_auth(&id, Some(&secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, body) = token(
        admin["client_id"].as_str().unwrap().into(),
        secrets[0].clone(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let admin_token = serde_json::from_str::<Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    tokens.push(admin_token.clone());

    let created: Value = http
        .post(format!("{base}/api/v1/organizations/org_logs/clients"))
        .bearer_auth(&admin_token)
        .json(&seed_create_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    secrets.push(created["plain_secret"].as_str().unwrap().to_owned());
    let (status, body) = token(id.clone(), secrets[1].clone()).await;
    assert_eq!(status, StatusCode::OK);
    tokens.push(
        serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let wrong = crate::helpers::altered(&secrets[1]);
    let (status, body) = token(id.clone(), wrong.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    error_bodies.push(body);
    secrets.push(wrong);

    // A credential with an admin-chosen secret, replaced through the mask, then a bad one.
    let chosen = "admin-chosen-secret-with-enough-length-1234".to_owned();
    let replacement = "replacement-secret-also-long-enough-5678".to_owned();
    let credential: Value = http
        .post(format!("{base}/v1/clients/{id}/credentials"))
        .bearer_auth(&admin_token)
        .json(&json!({"displayName": "c", "clientSecret": {"secret": chosen}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let name = credential["name"].as_str().unwrap().to_owned();
    let patch = |body: Value| {
        http.patch(format!("{base}/v1/{name}?updateMask=clientSecret"))
            .bearer_auth(&admin_token)
            .json(&body)
            .send()
    };
    assert_eq!(
        patch(json!({"clientSecret": {"secret": replacement}}))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let rejected = patch(json!({"clientSecret": {"secret": "short-secret"}}))
        .await
        .unwrap();
    assert_eq!(rejected.status(), StatusCode::BAD_REQUEST);
    error_bodies.push(rejected.text().await.unwrap());
    let (status, body) = token(id.clone(), replacement.clone()).await;
    assert_eq!(status, StatusCode::OK);
    tokens.push(
        serde_json::from_str::<Value>(&body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    secrets.extend([chosen, replacement, "short-secret".to_owned()]);

    // Secrets and tokens where they do not belong: in URL queries, in headers of other
    // names, and in the bodies of requests that fail. None of it may reach the logs.
    let admin_id = admin["client_id"].as_str().unwrap().to_owned();
    let send = |request: reqwest::RequestBuilder| async move {
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.text().await.unwrap())
    };
    let misplaced = vec![
        (
            "credentials in the token URL",
            http.post(format!(
                "{base}/oauth/token?client_id={id}&client_secret={}",
                secrets[1]
            ))
            .form(&[("grant_type", "client_credentials")]),
        ),
        (
            "an admin token in the query",
            http.get(format!("{base}/v1/clients?access_token={admin_token}")),
        ),
        (
            "a secret as a page token",
            http.get(format!(
                "{base}/api/v1/organizations/org_logs/clients?page_token={}",
                secrets[0]
            ))
            .bearer_auth(&admin_token),
        ),
        (
            "a secret on an unknown path's query",
            http.get(format!("{base}/nowhere?password={}", secrets[0])),
        ),
        (
            "secrets and tokens in headers of other names",
            http.post(format!("{base}/oauth/token"))
                .header("x-api-key", &secrets[1])
                .header("user-agent", &secrets[0])
                .header("cookie", format!("session={admin_token}"))
                .header("x-forwarded-for", &secrets[1])
                .header("proxy-authorization", format!("Bearer {admin_token}"))
                .header("x-client-secret", &secrets[1])
                .form(&[("grant_type", "client_credentials")]),
        ),
        (
            "the right secret with a wrong grant type",
            http.post(format!("{base}/oauth/token"))
                .basic_auth(&id, Some(&secrets[1]))
                .form(&[("grant_type", secrets[1].as_str())]),
        ),
        (
            "a malformed JSON token body",
            http.post(format!("{base}/oauth/token"))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"grant_type":"client_credentials","client_id":"{id}","client_secret":"{}""#,
                    secrets[1]
                )),
        ),
        (
            "a repeated JSON parameter",
            http.post(format!("{base}/oauth/token"))
                .header("content-type", "application/json")
                .body(format!(
                    r#"{{"grant_type":"client_credentials","client_id":"{admin_id}","client_secret":"{}","client_secret":"x"}}"#,
                    secrets[0]
                )),
        ),
        (
            "an admin body with a secret in a bad field",
            http.post(format!("{base}/api/v1/organizations/org_logs/clients"))
                .bearer_auth(&admin_token)
                .json(&json!({"name": "n", "expiry": secrets[1], "scopes": [secrets[0]]})),
        ),
        (
            "a bad admin token that is a secret",
            http.get(format!("{base}/v1/clients"))
                .bearer_auth(&secrets[1]),
        ),
    ];
    for (case, request) in misplaced {
        let (status, body) = send(request).await;
        assert!(
            status.is_client_error(),
            "case: {case}: got {status} {body}"
        );
    }

    // A caller's request id is kept, answered and logged with its request.
    let traced = http
        .post(format!("{base}/oauth/token"))
        .header("x-request-id", "trace-me-4242")
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(traced.headers()["x-request-id"], "trace-me-4242");
    stop(server);
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.lines()
            .any(|l| l.contains("trace-me-4242") && l.contains("/oauth/token")),
        "the request id is in the request's log line:\n{}",
        logs.lines()
            .filter(|l| l.contains("trace-me"))
            .take(3)
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Admin writes are audit events under their own target, each one JSON object.
    let audit: Vec<Value> = logs
        .lines()
        .filter(|l| l.contains("\"target\":\"tokenmint::audit\""))
        .map(|l| {
            let line: Value = serde_json::from_str(l).unwrap();
            serde_json::from_str(line["fields"]["event"].as_str().unwrap()).unwrap()
        })
        .collect();
    assert!(
        audit
            .iter()
            .any(|e| e["action"] == "client.create" && e["target"] == format!("clients/{id}")),
        "the create is an audit event in the log: {audit:#?}"
    );
    assert!(audit.iter().any(|e| e["action"] == "secret.update"));
    assert!(
        logs.lines().count() > 20,
        "the server logged too little to judge:\n{logs}"
    );
    assert!(
        logs.contains("\"level\":\"TRACE\"") || logs.contains("\"level\":\"DEBUG\""),
        "not verbose"
    );
    let key_body: String = key_file
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let forbidden: Vec<(&str, String)> = secrets
        .iter()
        .map(|s| ("a plain secret", s.clone()))
        .chain(tokens.iter().map(|t| ("an access token", t.clone())))
        .chain(tokens.iter().map(|t| {
            (
                "a token signature",
                t.rsplit('.').next().unwrap().to_owned(),
            )
        }))
        .chain([
            ("a PHC hash", "$argon2id$".to_owned()),
            ("a private key", "PRIVATE KEY".to_owned()),
            ("private key material", key_body[..64].to_owned()),
        ])
        .collect();
    for (what, needle) in &forbidden {
        assert!(!logs.contains(needle.as_str()), "the logs hold {what}");
    }
    for body in &error_bodies {
        for secret in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "an error response echoes a secret: {body}"
            );
        }
    }
    assert!(Path::new(&log_path).exists());
}
