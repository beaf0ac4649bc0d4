//! The gRPC face (`scalekit.v1.clients.ClientService`), driven by a tonic client over h2c and
//! over TLS on the same port as the REST faces.

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;
use serde_json::json;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request};
use tonic_types::StatusExt;

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn, spawn_app};
use tokenmint::proto::clients as pb;
use tokenmint::proto::clients::client_service_client::ClientServiceClient;

type Client = ClientServiceClient<Channel>;

pub(crate) async fn plain_client(app: &TestApp) -> Client {
    let channel = Endpoint::from_shared(app.base.clone())
        .unwrap()
        .connect()
        .await
        .expect("h2c with prior knowledge on the REST port");
    ClientServiceClient::new(channel)
}

/// `message` with `token` as its bearer metadata, as the SDKs send it.
pub(crate) fn authed<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    let value: MetadataValue<_> = format!("Bearer {token}").parse().unwrap();
    request.metadata_mut().insert("authorization", value);
    request
        .metadata_mut()
        .insert("x-sdk-version", "tokenmint-tests".parse().unwrap());
    request
}

/// The seed's create body as the SDK sends it.
pub(crate) fn seed_client() -> pb::OrganizationClient {
    let body = seed_create_body();
    let strings = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    pb::OrganizationClient {
        name: body["name"].as_str().unwrap().to_owned(),
        description: body["description"].as_str().unwrap().to_owned(),
        scopes: strings("scopes"),
        audience: strings("audience"),
        custom_claims: body["custom_claims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| pb::CustomClaim {
                key: c["key"].as_str().unwrap().to_owned(),
                value: c["value"].as_str().unwrap().to_owned(),
            })
            .collect(),
        expiry: 3600,
    }
}

#[tokio::test]
async fn every_organization_client_call_works_over_grpc_and_matches_rest() {
    let app = spawn_app().await;
    let mut grpc = plain_client(&app).await;
    let token = app.admin_token.clone();
    let created = grpc
        .create_organization_client(authed(
            &token,
            pb::CreateOrganizationClientRequest {
                organization_id: ORG.into(),
                client: Some(seed_client()),
            },
        ))
        .await
        .expect("create")
        .into_inner();
    let client = created.client.unwrap();
    assert_eq!(client.name, "GitHub Actions Deployment Service");
    assert_eq!(client.organization_id, ORG);
    assert_eq!(client.expiry, 3600);
    assert_eq!(client.secrets.len(), 1);
    assert!(client.secrets[0].plain_secret.is_none());
    assert!(client.create_time.is_some());
    let id = client.client_id.clone();
    // The plain secret authenticates at the token endpoint.
    let token_claims = app
        .verify(&app.token_for(&id, &created.plain_secret).await)
        .await;
    assert_eq!(token_claims["client_id"], id.as_str());

    // Get agrees with the REST face.
    let got = grpc
        .get_organization_client(authed(
            &token,
            pb::GetOrganizationClientRequest {
                organization_id: ORG.into(),
                client_id: id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .client
        .unwrap();
    let rest = app
        .get_json(&format!("{}/{id}", TestApp::clients_path(ORG)))
        .await;
    assert_eq!(rest["client"]["name"], got.name.as_str());
    assert_eq!(rest["client"]["scopes"], json!(got.scopes));
    assert_eq!(
        rest["client"]["secrets"][0]["id"],
        got.secrets[0].id.as_str()
    );

    // Update with the seed's fields: what is sent changes, empty fields stay as they were.
    let updated = grpc
        .update_organization_client(authed(
            &token,
            pb::UpdateOrganizationClientRequest {
                organization_id: ORG.into(),
                client_id: id.clone(),
                client: Some(pb::OrganizationClient {
                    description: "production_eu".into(),
                    custom_claims: vec![pb::CustomClaim {
                        key: "environment".into(),
                        value: "production_eu".into(),
                    }],
                    ..Default::default()
                }),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .client
        .unwrap();
    assert_eq!(updated.description, "production_eu");
    assert_eq!(updated.name, "GitHub Actions Deployment Service", "kept");
    assert_eq!(
        updated.scopes, got.scopes,
        "an empty list leaves scopes alone"
    );
    assert_eq!(updated.expiry, 3600, "expiry 0 leaves it alone");
    assert_eq!(updated.custom_claims.len(), 1);

    // Secrets: add one, remove the first.
    let added = grpc
        .create_organization_client_secret(authed(
            &token,
            pb::CreateOrganizationClientSecretRequest {
                organization_id: ORG.into(),
                client_id: id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!added.plain_secret.is_empty());
    let second = added.secret.unwrap();
    assert_eq!(second.status, pb::ClientSecretStatus::Active as i32);
    assert_eq!(
        app.token_request(&id, &added.plain_secret, &[])
            .await
            .status(),
        StatusCode::OK
    );
    grpc.delete_organization_client_secret(authed(
        &token,
        pb::DeleteOrganizationClientSecretRequest {
            organization_id: ORG.into(),
            client_id: id.clone(),
            secret_id: client.secrets[0].id.clone(),
        },
    ))
    .await
    .unwrap();
    assert_eq!(
        app.token_request(&id, &created.plain_secret, &[])
            .await
            .status(),
        StatusCode::UNAUTHORIZED,
        "the removed secret no longer works"
    );

    // List pages through every client of the organization.
    for n in 0..2 {
        let mut more = seed_client();
        more.name = format!("more {n}");
        grpc.create_organization_client(authed(
            &token,
            pb::CreateOrganizationClientRequest {
                organization_id: ORG.into(),
                client: Some(more),
            },
        ))
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = grpc
            .list_organization_clients(authed(
                &token,
                pb::ListOrganizationClientsRequest {
                    organization_id: ORG.into(),
                    page_size: 2,
                    page_token: page_token.clone(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        assert!(page.clients.len() <= 2);
        assert!(page.total_size >= 3);
        seen.extend(page.clients.into_iter().map(|c| c.client_id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert!(seen.contains(&id));
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no client on two pages");

    // Delete, then it is gone on both faces.
    grpc.delete_organization_client(authed(
        &token,
        pb::DeleteOrganizationClientRequest {
            organization_id: ORG.into(),
            client_id: id.clone(),
        },
    ))
    .await
    .unwrap();
    let gone = app
        .get(&format!("{}/{id}", TestApp::clients_path(ORG)))
        .await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn grpc_errors_are_the_admin_errors_with_their_details() {
    let app = spawn_app().await;
    let mut grpc = plain_client(&app).await;
    let token = app.admin_token.clone();
    let get = |org: &str, id: &str| pb::GetOrganizationClientRequest {
        organization_id: org.into(),
        client_id: id.into(),
    };

    // No token, a bad token: UNAUTHENTICATED, with details (the Python SDK reads them).
    let missing = grpc
        .get_organization_client(Request::new(get(ORG, "m2morg_000000000000000001")))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::Unauthenticated);
    assert!(!missing.details().is_empty());
    let forged = grpc
        .get_organization_client(authed("not.a.token", get(ORG, "m2morg_000000000000000001")))
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);

    // Unknown client: NOT_FOUND.
    let unknown = grpc
        .get_organization_client(authed(&token, get(ORG, "m2morg_000000000000000001")))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert!(!unknown.details().is_empty());

    // A bad field: INVALID_ARGUMENT naming every violation.
    let mut bad = seed_client();
    bad.name = String::new();
    bad.scopes = vec!["two words".into()];
    bad.expiry = 5;
    let invalid = grpc
        .create_organization_client(authed(
            &token,
            pb::CreateOrganizationClientRequest {
                organization_id: ORG.into(),
                client: Some(bad),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let request = invalid
        .get_details_bad_request()
        .expect("BadRequest details");
    let mut fields: Vec<_> = request
        .field_violations
        .iter()
        .map(|v| v.field.clone())
        .collect();
    fields.sort();
    assert_eq!(fields, ["client.expiry", "client.name", "client.scopes[0]"]);

    // An organization admin is confined to its organization, as on REST.
    let mut body = seed_create_body();
    body["scopes"] = json!(["tokenmint:admin"]);
    body["audience"] = json!([]);
    let (admin, secret) = app.create_client("org_a", &body).await;
    let org_token = app
        .token_for(admin["client_id"].as_str().unwrap(), &secret)
        .await;
    let (other, _) = app.create_client("org_b", &seed_create_body()).await;
    let other_id = other["client_id"].as_str().unwrap();
    let elsewhere = grpc
        .get_organization_client(authed(&org_token, get("org_b", other_id)))
        .await
        .unwrap_err();
    assert_eq!(elsewhere.code(), Code::PermissionDenied);
    let through_own = grpc
        .get_organization_client(authed(&org_token, get("org_a", other_id)))
        .await
        .unwrap_err();
    assert_eq!(through_own.code(), Code::NotFound);
}

#[tokio::test]
async fn one_tls_port_serves_grpc_and_rest_and_rest_over_http2() {
    let dir = tempfile::tempdir().unwrap();
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pem = issued.cert.pem();
    let app = spawn(Spawn {
        configure: Box::new(move |s| {
            s.server.tls.cert = cert;
            s.server.tls.key = key;
        }),
        trust: Some(pem.clone()),
        ..Spawn::default()
    })
    .await;
    // REST over HTTP/1.1 (the test client's default) already worked to get the admin token.
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let channel = Endpoint::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&pem)))
        .unwrap()
        .connect()
        .await
        .expect("gRPC over TLS, ALPN h2");
    let mut grpc = ClientServiceClient::new(channel);
    let created = grpc
        .create_organization_client(authed(
            &app.admin_token,
            pb::CreateOrganizationClientRequest {
                organization_id: ORG.into(),
                client: Some(seed_client()),
            },
        ))
        .await
        .expect("create over TLS")
        .into_inner();
    let id = created.client.unwrap().client_id;

    // REST over HTTP/2 (ALPN h2) is answered by the same routes.
    let h2 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = h2
        .get(format!(
            "https://localhost:{port}/api/v1/organizations/{ORG}/clients/{id}"
        ))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let token = h2
        .post(format!("https://localhost:{port}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &created.plain_secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let body: serde_json::Value = token.json().await.unwrap();
    app.verify(body["access_token"].as_str().unwrap()).await;
}

#[tokio::test]
async fn a_call_that_outlives_its_grpc_timeout_is_deadline_exceeded() {
    let app = spawn_app().await;
    // A raw HTTP/2 call, so that only the server enforces the deadline (tonic's client
    // would give up on its own first). A create hashes a new secret with argon2, which takes
    // far longer than a 1 ms deadline (the timer's granularity).
    let h2c = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let message = prost::Message::encode_to_vec(&pb::CreateOrganizationClientRequest {
        organization_id: ORG.into(),
        client: Some(seed_client()),
    });
    let mut frame = vec![0u8];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(&message);
    let call = |timeout: &'static str| {
        h2c.post(app.url("/scalekit.v1.clients.ClientService/CreateOrganizationClient"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", timeout)
            .bearer_auth(&app.admin_token)
            .body(frame.clone())
            .send()
    };
    let late = call("1m").await.unwrap();
    assert_eq!(late.status(), StatusCode::OK);
    assert_eq!(late.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
    let patient = call("10S").await.unwrap();
    assert_eq!(patient.status(), StatusCode::OK);
    assert!(
        !patient.headers().contains_key("grpc-status") || patient.headers()["grpc-status"] == "0",
        "within its deadline the call is answered"
    );
}
