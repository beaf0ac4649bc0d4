//! `GET /metrics` from the real binary (its own process, so its own registry): the series
//! move with real traffic, and none carries a secret or a token.

use reqwest::StatusCode;
use serde_json::Value;
use tonic::transport::Endpoint;

use crate::helpers::{DevProcess, free_port, seed_create_body};
use tokenmint::proto::clients as pb;
use tokenmint::proto::clients::client_service_client::ClientServiceClient;

/// The value of the series whose line starts with `series` (name and labels), or 0.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_move_with_real_traffic_and_carry_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = DevProcess::start(
        port,
        &dir.path().join("keys"),
        &[],
        &[("TOKENMINT_METRICS__MAX_CLIENT_LABELS", "2")],
    );
    let admin = server.admin.clone();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let token = |id: String, secret: String, extra: Vec<(&'static str, &'static str)>| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let mut form = vec![
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("client_id".to_owned(), id),
                ("client_secret".to_owned(), secret),
            ];
            form.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())));
            http.post(format!("{base}/oauth/token"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let admin_id = admin["client_id"].as_str().unwrap().to_owned();
    let admin_secret = admin["client_secret"].as_str().unwrap().to_owned();
    let answer: Value = token(admin_id.clone(), admin_secret.clone(), vec![])
        .await
        .json()
        .await
        .unwrap();
    let admin_token = answer["access_token"].as_str().unwrap().to_owned();
    let created: Value = http
        .post(format!("{base}/api/v1/organizations/org_m/clients"))
        .bearer_auth(&admin_token)
        .json(&seed_create_body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    let secret = created["plain_secret"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        assert_eq!(
            token(id.clone(), secret.clone(), vec![]).await.status(),
            StatusCode::OK
        );
    }
    let wrong = token(id.clone(), format!("{secret}x"), vec![]).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scope = token(id.clone(), secret.clone(), vec![("scope", "nope")]).await;
    assert_eq!(scope.status(), StatusCode::BAD_REQUEST);
    let grant = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(grant.status(), StatusCode::BAD_REQUEST);
    // A third client id goes past the cap of 2 labels: counted under "other".
    let third = token("m2m_000000000000000003".into(), "tm_x".into(), vec![]).await;
    assert_eq!(third.status(), StatusCode::UNAUTHORIZED);
    let missing = http
        .get(format!(
            "{base}/api/v1/organizations/org_m/clients/m2morg_000000000000000001"
        ))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let channel = Endpoint::from_shared(base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut request = tonic::Request::new(pb::GetOrganizationClientRequest {
        organization_id: "org_m".into(),
        client_id: id.clone(),
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {admin_token}").parse().unwrap(),
    );
    ClientServiceClient::new(channel)
        .get_organization_client(request)
        .await
        .unwrap();

    let scraped = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(
        scraped.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = scraped.text().await.unwrap();
    let tokens = |client: &str, outcome: &str| {
        value(
            &text,
            &format!(
                "tokenmint_tokens_total{{alg=\"RS256\",client=\"{client}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert_eq!(tokens(&admin_id, "ok"), 1.0, "{text}");
    assert_eq!(tokens(&id, "ok"), 3.0);
    assert_eq!(tokens(&id, "invalid_client"), 1.0);
    assert_eq!(tokens(&id, "invalid_scope"), 1.0);
    assert_eq!(tokens("unknown", "unsupported_grant_type"), 1.0);
    assert_eq!(tokens("other", "invalid_client"), 1.0, "past the label cap");
    assert!(
        value(
            &text,
            "tokenmint_token_request_duration_seconds_count{outcome=\"ok\"}"
        ) >= 4.0
    );
    assert!(value(&text, "tokenmint_argon2_runs_total") >= 4.0);
    assert!(
        value(
            &text,
            "tokenmint_verified_secret_cache_total{result=\"hit\"}"
        ) >= 2.0
    );
    assert!(
        value(
            &text,
            "tokenmint_verified_secret_cache_total{result=\"miss\"}"
        ) >= 2.0
    );
    assert!(value(&text, "tokenmint_client_cache_total{result=\"hit\"}") >= 1.0);
    assert_eq!(
        value(
            &text,
            "tokenmint_admin_requests_total{face=\"organization\",method=\"POST\",status=\"201\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "tokenmint_admin_requests_total{face=\"organization\",method=\"GET\",status=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            "tokenmint_admin_requests_total{face=\"grpc\",method=\"GetOrganizationClient\",status=\"Ok\"}"
        ),
        1.0
    );
    assert!(text.contains("tokenmint_signing_key_info{alg=\"RS256\",kid=\""));
    assert!(text.contains("tokenmint_build_info{version=\""));
    assert!(text.contains("tokenmint_argon2_in_flight"));
    for leaked in [secret.as_str(), admin_secret.as_str(), admin_token.as_str()] {
        assert!(!text.contains(leaked), "no secret or token in /metrics");
    }
    server.kill();
}

#[test]
fn metrics_can_be_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = DevProcess::start(
        port,
        &dir.path().join("keys"),
        &[],
        &[("TOKENMINT_METRICS__ENABLED", "false")],
    );
    let status = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://127.0.0.1:{port}/metrics"),
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "404");
    server.kill();
}
