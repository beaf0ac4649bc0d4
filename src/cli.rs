//! The admin CLI: `tokenmint clients ...`, `tokenmint secrets ...` and `tokenmint token`,
//! talking to a running server over its HTTP API (never to Redis), as any admin would.
//!
//! With `--org` a command uses the organization face (`/api/v1/organizations/{org}/...`,
//! which organization admins may use too); without, the `/v1` face (environment admins).
//! The admin's client id and secret come from `--admin-id`/`--admin-secret` or
//! `TOKENMINT_ADMIN_ID`/`TOKENMINT_ADMIN_SECRET`; each command first gets an admin token
//! from `/oauth/token`.
//!
//! Output: `--output table` (default) for people, `--output json` for scripts (the server's
//! JSON, unchanged). A plain secret is printed once, marked as such. Exit codes: 0 done,
//! 1 the server refused (its error on stderr), 2 bad usage or missing credentials, 3 the
//! server could not be reached.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use reqwest::{Method, StatusCode};
use serde_json::{Map, Value, json};

/// Where the server is and who the admin is.
#[derive(Args, Clone, Debug)]
pub struct Connection {
    /// The server's base URL.
    #[arg(
        long,
        env = "TOKENMINT_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    url: String,
    /// The admin client's id.
    #[arg(
        long,
        env = "TOKENMINT_ADMIN_ID",
        global = true,
        hide_env_values = true
    )]
    admin_id: Option<String>,
    /// The admin client's secret (prefer the environment variable: flags show in `ps`).
    #[arg(
        long,
        env = "TOKENMINT_ADMIN_SECRET",
        global = true,
        hide_env_values = true
    )]
    admin_secret: Option<String>,
    /// A PEM CA certificate to trust besides the system's (e.g. serve --dev --tls's).
    #[arg(long, env = "TOKENMINT_CA_FILE", global = true, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// How to print results.
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// The fields of a client a command may set.
#[derive(Args, Clone, Debug, Default)]
pub struct ClientFields {
    /// The client's name.
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// A granted scope (repeat for several; `--scope ''` clears them on update).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Option<Vec<String>>,
    /// An audience (repeat for several; `--audience ''` clears them on update).
    #[arg(long = "audience", value_name = "AUDIENCE")]
    audience: Option<Vec<String>>,
    /// A custom claim KEY=VALUE (repeat for several; `--claim ''` clears them on update).
    #[arg(long = "claim", value_name = "KEY=VALUE")]
    claims: Option<Vec<String>>,
    /// Token lifetime in seconds.
    #[arg(long)]
    expiry: Option<u64>,
}

#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Create a client; with --org also its first secret (printed once).
    Create {
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        fields: ClientFields,
    },
    /// List clients, oldest first, a page at a time.
    List {
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value_t = 10)]
        page_size: u32,
        /// The next_page_token a previous page printed.
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Show one client.
    Get {
        client_id: String,
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
    },
    /// Change the given fields of a client (others stay as they are).
    Update {
        client_id: String,
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
        #[command(flatten)]
        fields: ClientFields,
    },
    /// Delete a client: its secrets stop working at once.
    Delete {
        client_id: String,
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Add a secret to a client; its value is printed once.
    Add {
        client_id: String,
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
        /// A name for the secret (the /v1 face only).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// Delete a secret: it stops working at once.
    Delete {
        client_id: String,
        secret_id: String,
        /// The organization: use its organization face (else the /v1 face, environment
        /// admins only).
        #[arg(long)]
        org: Option<String>,
    },
}

/// `tokenmint token`: a token for any client, for a quick test.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[arg(long, env = "TOKENMINT_CLIENT_ID")]
    client_id: String,
    /// The client's secret (prefer the environment variable: flags show in `ps`).
    #[arg(long, env = "TOKENMINT_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Narrow the token to these scopes (space-separated).
    #[arg(long)]
    scope: Option<String>,
    /// Narrow the token to this audience (RFC 8707 resource).
    #[arg(long)]
    audience: Option<String>,
}

/// Why a command failed, and its exit code.
#[derive(Debug)]
enum Failure {
    /// The server answered with an error.
    Refused(StatusCode, String),
    Usage(String),
    Unreachable(String),
}

impl Failure {
    fn exit(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Refused(..) => 1,
            Self::Usage(_) => 2,
            Self::Unreachable(_) => 3,
        })
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(status, message) => write!(f, "the server refused ({status}): {message}"),
            Self::Usage(message) => f.write_str(message),
            Self::Unreachable(message) => write!(f, "cannot reach the server: {message}"),
        }
    }
}

/// A connection to the server's HTTP API.
struct Api {
    http: reqwest::Client,
    base: String,
    connection: Connection,
}

impl Api {
    fn new(connection: Connection) -> Result<Self, Failure> {
        let mut builder = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30));
        if let Some(path) = &connection.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| Failure::Usage(format!("--ca-file {}: {e}", path.display())))?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                Failure::Usage(format!(
                    "--ca-file {}: not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let http = builder
            .build()
            .map_err(|e| Failure::Usage(format!("cannot set up HTTPS: {e}")))?;
        let base = connection.url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::Usage(format!(
                "--url (TOKENMINT_URL) must be an http(s) URL, got {base:?}"
            )));
        }
        Ok(Self {
            http,
            base,
            connection,
        })
    }

    /// `POST /oauth/token` for `id`:`secret` (client_secret_basic); the token response.
    async fn token(
        &self,
        id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> Result<Value, Failure> {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let request = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .basic_auth(id, Some(secret))
            .form(&form);
        answer(request.send().await).await
    }

    /// An admin token from the configured admin credentials.
    async fn admin_token(&self) -> Result<String, Failure> {
        let missing = |what: &str, var: &str| {
            Failure::Usage(format!("no admin {what}: set {var} or pass --admin-{what}"))
        };
        let id = self
            .connection
            .admin_id
            .as_deref()
            .ok_or_else(|| missing("id", "TOKENMINT_ADMIN_ID"))?;
        let secret = self
            .connection
            .admin_secret
            .as_deref()
            .ok_or_else(|| missing("secret", "TOKENMINT_ADMIN_SECRET"))?;
        let answer = self.token(id, secret, &[]).await.map_err(|e| match e {
            Failure::Refused(status, message) => Failure::Refused(
                status,
                format!("the admin credentials were not accepted: {message}"),
            ),
            other => other,
        })?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Failure::Unreachable("the token response has no access_token".into()))
    }

    /// An admin call; its JSON answer (`{}` for an empty body).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        let token = self.admin_token().await?;
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await).await
    }
}

/// The JSON of a response, or the error it carries (AIP-193 or RFC 6749 shape).
async fn answer(sent: reqwest::Result<reqwest::Response>) -> Result<Value, Failure> {
    // reqwest's errors name the URL, never a header or body: no secret in them.
    let response = sent.map_err(|e| Failure::Unreachable(e.without_url().to_string()))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Failure::Unreachable(e.without_url().to_string()))?;
    let body: Value = if text.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| json!({ "message": text }))
    };
    if status.is_success() {
        return Ok(body);
    }
    let message = body
        .pointer("/error/message")
        .or_else(|| body.get("error_description"))
        .or_else(|| body.get("error"))
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("no message")
        .to_owned();
    let fields: Vec<String> = body
        .pointer("/error/details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some(format!(
                "{}: {}",
                d["field"].as_str()?,
                d["description"].as_str()?
            ))
        })
        .collect();
    let message = if fields.len() > 1 {
        format!("{message} ({})", fields.join("; "))
    } else {
        message
    };
    Err(Failure::Refused(status, message))
}

fn clients_path(org: Option<&str>) -> String {
    match org {
        Some(org) => format!("/api/v1/organizations/{}/clients", segment(org)),
        None => "/v1/clients".to_owned(),
    }
}

/// A path segment, percent-encoded (ids never need it; a typo might).
fn segment(raw: &str) -> String {
    percent_encoding::utf8_percent_encode(raw, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl ClientFields {
    /// The body for the face (`org`: snake_case keys; else `/v1` camelCase) and, for the
    /// `/v1` face, the update mask.
    fn body(&self, org: bool) -> Result<(Value, Vec<&'static str>), Failure> {
        let mut body = Map::new();
        let mut mask = Vec::new();
        let list = |values: &Vec<String>| -> Value {
            values
                .iter()
                .filter(|v| !v.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .into()
        };
        let mut set = |snake: &'static str, camel: &'static str, value: Value| {
            body.insert(if org { snake } else { camel }.to_owned(), value);
            mask.push(camel);
        };
        if let Some(name) = &self.name {
            set("name", "displayName", name.clone().into());
        }
        if let Some(description) = &self.description {
            set("description", "description", description.clone().into());
        }
        if let Some(scopes) = &self.scopes {
            set("scopes", "scopes", list(scopes));
        }
        if let Some(audience) = &self.audience {
            set("audience", "audience", list(audience));
        }
        if let Some(claims) = &self.claims {
            let mut parsed = Vec::new();
            for claim in claims.iter().filter(|c| !c.is_empty()) {
                let (key, value) = claim.split_once('=').ok_or_else(|| {
                    Failure::Usage(format!("--claim {claim:?} must be KEY=VALUE"))
                })?;
                parsed.push(json!({"key": key, "value": value}));
            }
            set("custom_claims", "customClaims", parsed.into());
        }
        if let Some(expiry) = self.expiry {
            set("expiry", "expiry", expiry.into());
        }
        Ok((Value::Object(body), mask))
    }
}

/// Runs `tokenmint clients ...`.
pub async fn clients(connection: Connection, command: ClientsCommand) -> ExitCode {
    let output = connection.output;
    finish(output, async {
        let api = Api::new(connection)?;
        Ok(match command {
            ClientsCommand::Create { org, fields } => {
                if fields.name.is_none() {
                    return Err(Failure::Usage("clients create needs --name".into()));
                }
                let (body, _) = fields.body(org.is_some())?;
                let created = api
                    .call(Method::POST, &clients_path(org.as_deref()), Some(body))
                    .await?;
                Shown::Client(created)
            }
            ClientsCommand::List {
                org,
                page_size,
                page_token,
            } => {
                let (size, token) = if org.is_some() {
                    ("page_size", "page_token")
                } else {
                    ("pageSize", "pageToken")
                };
                let path = format!(
                    "{}?{size}={page_size}&{token}={}",
                    clients_path(org.as_deref()),
                    segment(&page_token)
                );
                Shown::List(api.call(Method::GET, &path, None).await?)
            }
            ClientsCommand::Get { client_id, org } => {
                let path = format!("{}/{}", clients_path(org.as_deref()), segment(&client_id));
                Shown::Client(api.call(Method::GET, &path, None).await?)
            }
            ClientsCommand::Update {
                client_id,
                org,
                fields,
            } => {
                let (body, mask) = fields.body(org.is_some())?;
                if mask.is_empty() {
                    return Err(Failure::Usage(
                        "clients update needs at least one field to change (--name, --scope, ...)"
                            .into(),
                    ));
                }
                let mut path = format!("{}/{}", clients_path(org.as_deref()), segment(&client_id));
                if org.is_none() {
                    write!(path, "?updateMask={}", mask.join(",")).expect("writing to a String");
                }
                Shown::Client(api.call(Method::PATCH, &path, Some(body)).await?)
            }
            ClientsCommand::Delete { client_id, org } => {
                let path = format!("{}/{}", clients_path(org.as_deref()), segment(&client_id));
                api.call(Method::DELETE, &path, None).await?;
                Shown::Deleted(format!("clients/{client_id}"))
            }
        })
    })
    .await
}

/// Runs `tokenmint secrets ...`.
pub async fn secrets(connection: Connection, command: SecretsCommand) -> ExitCode {
    let output = connection.output;
    finish(output, async {
        let api = Api::new(connection)?;
        Ok(match command {
            SecretsCommand::Add {
                client_id,
                org,
                display_name,
            } => {
                let base = format!("{}/{}", clients_path(org.as_deref()), segment(&client_id));
                let created = match org {
                    Some(_) => {
                        api.call(Method::POST, &format!("{base}/secrets"), Some(json!({})))
                            .await?
                    }
                    None => {
                        let body = json!({"displayName": display_name.unwrap_or_default()});
                        api.call(Method::POST, &format!("{base}/credentials"), Some(body))
                            .await?
                    }
                };
                Shown::Secret(created)
            }
            SecretsCommand::Delete {
                client_id,
                secret_id,
                org,
            } => {
                let kind = if org.is_some() {
                    "secrets"
                } else {
                    "credentials"
                };
                let path = format!(
                    "{}/{}/{kind}/{}",
                    clients_path(org.as_deref()),
                    segment(&client_id),
                    segment(&secret_id)
                );
                api.call(Method::DELETE, &path, None).await?;
                Shown::Deleted(format!("clients/{client_id}/secrets/{secret_id}"))
            }
        })
    })
    .await
}

/// Runs `tokenmint token`.
pub async fn token(connection: Connection, args: TokenArgs) -> ExitCode {
    let output = connection.output;
    finish(output, async {
        let api = Api::new(connection)?;
        let mut extra = Vec::new();
        if let Some(scope) = &args.scope {
            extra.push(("scope", scope.as_str()));
        }
        if let Some(audience) = &args.audience {
            extra.push(("resource", audience.as_str()));
        }
        Ok(Shown::Token(
            api.token(&args.client_id, &args.client_secret, &extra)
                .await?,
        ))
    })
    .await
}

/// What a command prints.
enum Shown {
    Client(Value),
    List(Value),
    Secret(Value),
    Token(Value),
    Deleted(String),
}

async fn finish(
    output: Output,
    run: impl std::future::Future<Output = Result<Shown, Failure>>,
) -> ExitCode {
    match run.await {
        Ok(shown) => {
            print!("{}", render(output, &shown));
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("tokenmint: {failure}");
            failure.exit()
        }
    }
}

const SHOWN_ONCE: &str = "(shown once: store it now, it cannot be read again)";

fn render(output: Output, shown: &Shown) -> String {
    if output == Output::Json {
        let value = match shown {
            Shown::Client(v) | Shown::List(v) | Shown::Secret(v) | Shown::Token(v) => v.clone(),
            Shown::Deleted(name) => json!({"deleted": name}),
        };
        return format!("{value:#}\n");
    }
    let mut out = String::new();
    match shown {
        Shown::Client(value) => {
            let client = value.get("client").unwrap_or(value);
            out.push_str(&client_table(client));
            if let Some(plain) = value.get("plain_secret").and_then(Value::as_str) {
                let sid = client
                    .pointer("/secrets/0/id")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let _ = writeln!(out, "{:<14}{sid}", "secret_id");
                let _ = writeln!(out, "{:<14}{plain}  {SHOWN_ONCE}", "client_secret");
            }
        }
        Shown::List(value) => {
            let clients = value["clients"].as_array().cloned().unwrap_or_default();
            let _ = writeln!(
                out,
                "{:<26} {:<32} {:<24} SCOPES",
                "ID", "NAME", "ORGANIZATION"
            );
            for client in &clients {
                let (id, name) = id_and_name(client);
                let org = client
                    .get("organization_id")
                    .or_else(|| client.get("organizationId"))
                    .and_then(Value::as_str)
                    .unwrap_or("-");
                let _ = writeln!(
                    out,
                    "{id:<26} {name:<32} {org:<24} {}",
                    joined(&client["scopes"])
                );
            }
            let next = value
                .get("next_page_token")
                .or_else(|| value.get("nextPageToken"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !next.is_empty() {
                let _ = writeln!(out, "next page: --page-token {next}");
            }
        }
        Shown::Secret(value) => {
            let (sid, plain) = match value.get("secret") {
                Some(secret) => (
                    secret["id"].as_str().unwrap_or(""),
                    value["plain_secret"].as_str().unwrap_or(""),
                ),
                None => (
                    value["name"]
                        .as_str()
                        .and_then(|n| n.rsplit('/').next())
                        .unwrap_or(""),
                    value
                        .pointer("/clientSecret/secret")
                        .and_then(Value::as_str)
                        .unwrap_or(""),
                ),
            };
            let _ = writeln!(out, "{:<14}{sid}", "secret_id");
            let _ = writeln!(out, "{:<14}{plain}  {SHOWN_ONCE}", "client_secret");
        }
        Shown::Token(value) => {
            for key in ["access_token", "token_type", "expires_in", "scope"] {
                let text = match &value[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = writeln!(out, "{key:<14}{text}");
            }
        }
        Shown::Deleted(name) => {
            let _ = writeln!(out, "deleted {name}");
        }
    }
    out
}

/// A client's id and name in either face's JSON.
fn id_and_name(client: &Value) -> (String, String) {
    match client.get("client_id").and_then(Value::as_str) {
        Some(id) => (
            id.to_owned(),
            client["name"].as_str().unwrap_or("").to_owned(),
        ),
        None => (
            client["name"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches("clients/")
                .to_owned(),
            client["displayName"].as_str().unwrap_or("").to_owned(),
        ),
    }
}

fn joined(list: &Value) -> String {
    let items: Vec<&str> = list
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(" ")
    }
}

fn client_table(client: &Value) -> String {
    let (id, name) = id_and_name(client);
    let field = |snake: &str, camel: &str| {
        client
            .get(snake)
            .or_else(|| client.get(camel))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let text = |v: Value| match v {
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s,
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    let claims: Vec<String> = field("custom_claims", "customClaims")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some(format!("{}={}", c["key"].as_str()?, c["value"].as_str()?)))
        .collect();
    let mut out = String::new();
    let mut row = |key: &str, value: String| {
        let _ = writeln!(out, "{key:<14}{value}");
    };
    row("client_id", id);
    row("name", name);
    row("description", text(field("description", "description")));
    row(
        "organization",
        text(field("organization_id", "organizationId")),
    );
    row("scopes", joined(&client["scopes"]));
    row("audience", joined(&client["audience"]));
    row(
        "custom_claims",
        if claims.is_empty() {
            "-".into()
        } else {
            claims.join(" ")
        },
    );
    row("expiry", format!("{} s", text(field("expiry", "expiry"))));
    if let Some(secrets) = client["secrets"].as_array() {
        let ids: Vec<&str> = secrets.iter().filter_map(|s| s["id"].as_str()).collect();
        row(
            "secrets",
            if ids.is_empty() {
                "-".into()
            } else {
                ids.join(" ")
            },
        );
    }
    row("created", text(field("create_time", "createTime")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_each_faces_body_and_mask() {
        let fields = ClientFields {
            name: Some("n".into()),
            scopes: Some(vec!["a".into(), "b".into()]),
            claims: Some(vec!["env=prod".into()]),
            ..Default::default()
        };
        let (org, _) = fields.body(true).unwrap();
        assert_eq!(
            org,
            json!({"name": "n", "scopes": ["a", "b"], "custom_claims": [{"key": "env", "value": "prod"}]})
        );
        let (v1, mask) = fields.body(false).unwrap();
        assert_eq!(v1["displayName"], "n");
        assert_eq!(mask, ["displayName", "scopes", "customClaims"]);
        let cleared = ClientFields {
            scopes: Some(vec![String::new()]),
            ..Default::default()
        };
        assert_eq!(cleared.body(true).unwrap().0, json!({"scopes": []}));
        let bad = ClientFields {
            claims: Some(vec!["novalue".into()]),
            ..Default::default()
        };
        assert!(matches!(bad.body(true), Err(Failure::Usage(_))));
    }
}
