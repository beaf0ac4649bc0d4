//! The admin CLI through the real binary against a running server: every command, both
//! output forms, and the exit codes and messages a script relies on.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ORG, TestApp, spawn_app};

/// Runs `tokenmint args...` with the admin's credentials in the environment (plus `env`).
async fn run(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"));
    command
        .args(args)
        .env_clear()
        .env("TOKENMINT_URL", &app.base)
        .env("TOKENMINT_ADMIN_ID", &app.admin_id)
        .env("TOKENMINT_ADMIN_SECRET", &app.admin_secret);
    for (key, value) in env {
        command.env(key, value);
    }
    // Off the runtime's thread: the server under test runs on it.
    tokio::task::spawn_blocking(move || command.output().expect("the binary runs"))
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON a successful command printed.
fn json_of(output: &Output) -> Value {
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test]
async fn the_cli_manages_clients_and_secrets_on_both_faces() {
    let app = spawn_app().await;
    // Create (organization face), JSON: the server's answer, its secret included once.
    let created = json_of(
        &run(
            &app,
            &[
                "clients",
                "create",
                "--org",
                ORG,
                "--name",
                "deployer",
                "--scope",
                "deploy:apps",
                "--scope",
                "read:deployments",
                "--claim",
                "env=prod",
                "--expiry",
                "900",
                "--output",
                "json",
            ],
            &[],
        )
        .await,
    );
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    let plain = created["plain_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["client"]["scopes"][1], "read:deployments");
    assert_eq!(created["client"]["custom_claims"][0]["value"], "prod");
    assert_eq!(created["client"]["expiry"], 900);

    // The table form marks the secret as shown once.
    let table = run(
        &app,
        &["clients", "create", "--org", ORG, "--name", "second"],
        &[],
    )
    .await;
    assert_eq!(table.status.code(), Some(0), "{}", stderr(&table));
    let text = stdout(&table);
    assert!(
        text.contains("client_secret") && text.contains("shown once"),
        "{text}"
    );

    // `token` gets a token with the new secret; the server signed it for this client.
    let token = json_of(
        &run(
            &app,
            &[
                "token",
                "--client-id",
                &id,
                "--scope",
                "deploy:apps",
                "--output",
                "json",
            ],
            &[("TOKENMINT_CLIENT_SECRET", &plain)],
        )
        .await,
    );
    let claims = app.verify(token["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], id.as_str());
    assert_eq!(claims["scope"], "deploy:apps");

    // List (both faces) and get (both faces).
    let list = json_of(
        &run(
            &app,
            &["clients", "list", "--org", ORG, "--output", "json"],
            &[],
        )
        .await,
    );
    assert_eq!(list["clients"].as_array().unwrap().len(), 2);
    let listed = run(&app, &["clients", "list", "--page-size", "1"], &[]).await;
    let text = stdout(&listed);
    assert!(text.starts_with("ID"), "{text}");
    assert!(text.contains("next page: --page-token"), "{text}");
    let got = json_of(&run(&app, &["clients", "get", &id, "--output", "json"], &[]).await);
    assert_eq!(got["name"], format!("clients/{id}"));
    assert_eq!(got["displayName"], "deployer");
    let shown = stdout(&run(&app, &["clients", "get", &id, "--org", ORG], &[]).await);
    assert!(shown.contains("deploy:apps read:deployments"), "{shown}");
    assert!(shown.contains("env=prod"), "{shown}");

    // Update: what is given changes, the rest stays (either face).
    let updated = json_of(
        &run(
            &app,
            &[
                "clients",
                "update",
                &id,
                "--org",
                ORG,
                "--description",
                "ships",
                "--output",
                "json",
            ],
            &[],
        )
        .await,
    );
    assert_eq!(updated["client"]["description"], "ships");
    assert_eq!(updated["client"]["name"], "deployer");
    let renamed = json_of(
        &run(
            &app,
            &[
                "clients", "update", &id, "--name", "renamed", "--output", "json",
            ],
            &[],
        )
        .await,
    );
    assert_eq!(renamed["displayName"], "renamed");
    assert_eq!(renamed["description"], "ships");

    // Secrets: add one (shown once), delete the first; the deleted one stops working.
    let added = json_of(
        &run(
            &app,
            &["secrets", "add", &id, "--org", ORG, "--output", "json"],
            &[],
        )
        .await,
    );
    let second = added["plain_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        app.token_request(&id, &second, &[]).await.status(),
        StatusCode::OK
    );
    let first_sid = created["client"]["secrets"][0]["id"].as_str().unwrap();
    let deleted = run(
        &app,
        &["secrets", "delete", &id, first_sid, "--org", ORG],
        &[],
    )
    .await;
    assert_eq!(deleted.status.code(), Some(0), "{}", stderr(&deleted));
    assert!(stdout(&deleted).starts_with("deleted clients/"));
    let refused = run(
        &app,
        &["token", "--client-id", &id],
        &[("TOKENMINT_CLIENT_SECRET", &plain)],
    )
    .await;
    assert_eq!(refused.status.code(), Some(1), "a refusal exits 1");
    assert!(stderr(&refused).contains("401"), "{}", stderr(&refused));
    assert!(
        !stderr(&refused).contains(&plain),
        "the secret is never echoed"
    );
    // The /v1 face's credential: added with a name, printed once.
    let credential = run(&app, &["secrets", "add", &id, "--display-name", "ci"], &[]).await;
    let text = stdout(&credential);
    assert!(text.contains("shown once"), "{text}");

    // Delete; then the client is gone, and saying so exits 1 with the server's message.
    let gone = run(&app, &["clients", "delete", &id, "--output", "json"], &[]).await;
    assert_eq!(json_of(&gone)["deleted"], format!("clients/{id}"));
    let missing = run(&app, &["clients", "get", &id], &[]).await;
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("not found"),
        "{}",
        stderr(&missing)
    );
}

#[tokio::test]
async fn the_cli_exit_codes_tell_usage_refusal_and_unreachable_apart() {
    let app = spawn_app().await;
    // No admin credentials: a usage error naming the variable (exit 2).
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"));
    command
        .args(["clients", "list"])
        .env_clear()
        .env("TOKENMINT_URL", &app.base);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("TOKENMINT_ADMIN_ID"),
        "{}",
        stderr(&output)
    );

    // Wrong admin secret: refused (exit 1), said so, the secret not echoed.
    let wrong = format!("{}x", app.admin_secret);
    let output = run(
        &app,
        &["clients", "list"],
        &[("TOKENMINT_ADMIN_SECRET", &wrong)],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("admin credentials were not accepted"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains(&wrong));

    // A bad field: the server's error, naming the field (exit 1).
    let output = run(
        &app,
        &[
            "clients", "create", "--org", ORG, "--name", "x", "--scope", "a b",
        ],
        &[],
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("scopes"), "{}", stderr(&output));
    let output = run(&app, &["clients", "update", "m2m_1"], &[]).await;
    assert_eq!(
        output.status.code(),
        Some(2),
        "nothing to change is a usage error"
    );

    // Nothing listening: exit 3.
    let port = crate::helpers::free_port();
    let output = run(
        &app,
        &["clients", "list"],
        &[("TOKENMINT_URL", &format!("http://127.0.0.1:{port}"))],
    )
    .await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot reach the server"));
}
