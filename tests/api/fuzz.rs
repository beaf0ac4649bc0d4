//! Property tests over HTTP: random token requests and admin bodies against the real server
//! answer 4xx with a clear error, never a 5xx.

use base64::Engine;
use proptest::prelude::*;
use serde_json::Value;

use crate::helpers::{ORG, TestApp, spawn_app};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Form bodies built from real parameter names with tricky values, or raw bytes.
fn token_body() -> impl Strategy<Value = Vec<u8>> {
    let name = prop::sample::select(vec![
        "grant_type",
        "client_id",
        "client_secret",
        "scope",
        "audience",
        "resource",
        "environment",
        "x",
    ]);
    let value = prop_oneof![
        Just("client_credentials".to_owned()),
        "[a-zA-Z0-9_:]{0,20}",
        "[%+&=;a-fA-F0-9G]{0,20}",
        any::<String>(),
    ];
    prop_oneof![
        prop::collection::vec((name, value), 0..10).prop_map(|pairs| {
            pairs
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("&")
                .into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..300),
        // Past the 8 KiB limit.
        prop::collection::vec(any::<u8>(), 8200..9000),
    ]
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(b)
        ))),
        "[%:+a-zA-Z0-9_]{0,40}".prop_map(|s| Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        ))),
        "[ -~]{0,30}".prop_map(|s| Some(format!("Basic {s}"))),
    ]
}

async fn assert_clear_4xx(response: reqwest::Response, case: &str) -> Result<(), TestCaseError> {
    let status = response.status();
    prop_assert!(status.is_client_error(), "{case}: status {status}");
    let body: Value = response
        .json()
        .await
        .map_err(|e| TestCaseError::fail(format!("{case}: not JSON: {e}")))?;
    let clear = body["error_description"]
        .as_str()
        .is_some_and(|d| !d.is_empty())
        || body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty());
    prop_assert!(clear, "{case}: no clear error: {body}");
    Ok(())
}

#[test]
fn random_token_requests_get_a_clear_4xx() {
    let rt = runtime();
    let app: TestApp = rt.block_on(spawn_app());
    let content_types = prop::sample::select(vec![
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "",
    ]);
    proptest!(ProptestConfig::with_cases(64), |(body in token_body(), auth in authorization(), content_type in content_types)| {
        rt.block_on(async {
            let mut request = app.http.post(app.url("/oauth/token")).body(body);
            if !content_type.is_empty() {
                request = request.header("content-type", content_type);
            }
            if let Some(auth) = &auth {
                request = request.header("authorization", auth);
            }
            assert_clear_4xx(request.send().await.unwrap(), "token request").await
        })?;
    });
}

#[test]
fn random_admin_bodies_and_masks_get_a_clear_answer() {
    let rt = runtime();
    let app: TestApp = rt.block_on(spawn_app());
    let (client, _) = rt.block_on(app.create_client(ORG, &crate::helpers::seed_create_body()));
    let id = client["client_id"].as_str().unwrap().to_owned();
    let body = prop::collection::btree_map(
        prop_oneof![
            prop::sample::select(vec![
                "name",
                "displayName",
                "scopes",
                "expiry",
                "labels",
                "custom_claims"
            ])
            .prop_map(str::to_owned),
            "[a-z]{1,8}",
        ],
        prop_oneof![
            Just(Value::Null),
            any::<i64>().prop_map(Value::from),
            any::<String>().prop_map(Value::from)
        ],
        0..5,
    );
    proptest!(ProptestConfig::with_cases(48), |(body in body, mask in "[a-zA-Z_,.*]{0,30}")| {
        let body: serde_json::Map<String, Value> = body.into_iter().collect();
        rt.block_on(async {
            for (case, response) in [
                ("org create", app.post(&TestApp::clients_path(ORG), &Value::Object(body.clone())).await),
                ("v1 patch", app.patch(&format!("/v1/clients/{id}?updateMask={mask}"), &Value::Object(body.clone())).await),
            ] {
                let status = response.status();
                prop_assert!(status.as_u16() < 500, "{case}: status {status}");
                if !status.is_success() {
                    assert_clear_4xx(response, case).await?;
                }
            }
            Ok(())
        })?;
    });
}
