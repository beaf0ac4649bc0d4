//! The organization face's JSON (contract §1a, Scalekit style): parsing an
//! `OrganizationClient` body and rendering `M2MClient` / `ClientSecret`.
//!
//! PATCH semantics: a key present replaces its field (`[]` clears a list), an absent key
//! leaves it alone, `null` resets it to its default. Output-only fields in a body are
//! ignored; unknown fields are rejected by name.

use serde::Serialize;
use serde_json::{Map, Value};

use super::changes::{ClientChanges, ClientField, SecretChanges, Sent, keep};
use super::error::AdminError;
use crate::domain::proof;
use crate::domain::{
    Actor, Client, ClientKey, CredentialKind, CustomClaim, ExpiryBounds, Federation,
    FieldViolation, Secret, SecretStatus, Timestamp, Usage,
};

/// Fields of `M2MClient` that only the server sets; ignored when a client sends them.
const OUTPUT_ONLY: &[&str] = &[
    "client_id",
    "secrets",
    "organization_id",
    "create_time",
    "update_time",
];

/// Parses an `OrganizationClient` body for a create (`creating`) or a PATCH.
pub fn parse_client(
    body: &Map<String, Value>,
    creating: bool,
    bounds: ExpiryBounds,
) -> Result<ClientChanges, AdminError> {
    let mut changes = ClientChanges::default();
    let mut errors: Vec<FieldViolation> = Vec::new();
    for (key, value) in body {
        match ClientField::from_org(key) {
            Some(field) => changes.set(field, key, Some(value), bounds, &mut errors),
            None if OUTPUT_ONLY.contains(&key.as_str()) => {}
            None => errors.push(FieldViolation::new(
                key,
                "is not a known field of OrganizationClient",
            )),
        }
    }
    if creating && !body.contains_key("name") {
        errors.push(FieldViolation::new("name", "is required"));
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(AdminError::fields(errors))
    }
}

/// Parses the body of a new secret: empty for a shared secret (the contract), or `kind`
/// with `public_key` or `jwks_uri` (`private_key_jwt`) or `federation` (`federated`).
pub fn parse_secret(
    body: &Map<String, Value>,
    creating: bool,
) -> Result<SecretChanges, AdminError> {
    let mut changes = SecretChanges::default();
    let mut errors = Vec::new();
    let sent = |key: &str| key.to_owned();
    for (key, value) in body {
        let e = &mut errors;
        match key.as_str() {
            "kind" if !creating => e.push(FieldViolation::new(
                key,
                "cannot be changed; create a credential of the other kind",
            )),
            "kind" => {
                changes.kind = keep(e, CredentialKind::parse(value, key)).map(|value| Sent {
                    field: sent(key),
                    value,
                });
            }
            "public_key" | "jwks_uri" if changes.key.is_some() => e.push(FieldViolation::new(
                key,
                "send either public_key or jwks_uri, not both",
            )),
            "public_key" => {
                changes.key = keep(e, proof::public_jwk(value, key)).map(|jwk| Sent {
                    field: sent(key),
                    value: ClientKey::Jwk(jwk),
                });
            }
            "jwks_uri" => {
                changes.key = keep(e, proof::fetch_url(value, key)).map(|url| Sent {
                    field: sent(key),
                    value: ClientKey::JwksUri(url),
                });
            }
            "federation" => {
                changes.federation = keep(e, proof::federation(value, key)).map(|value| Sent {
                    field: sent(key),
                    value,
                });
            }
            _ => e.push(FieldViolation::new(
                key,
                "is not a known field (kind, public_key, jwks_uri, federation)",
            )),
        }
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(AdminError::fields(errors))
    }
}

/// A secret as the organization face shows it (never its value or hash). Credentials of
/// the kinds without a shared secret add `kind` and their key or rules.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ClientSecret)]
pub struct ClientSecretView<'a> {
    id: &'a str,
    create_time: Timestamp,
    update_time: Timestamp,
    secret_suffix: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<CredentialKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    public_key: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    federation: Option<&'a Federation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<&'a Actor>,
    status: SecretStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_time: Option<Timestamp>,
}

pub fn secret_view<'a>(secret: &'a Secret, usage: &Usage) -> ClientSecretView<'a> {
    ClientSecretView {
        id: secret.id.as_str(),
        create_time: secret.create_time,
        update_time: secret.update_time,
        secret_suffix: secret.suffix(),
        kind: (secret.kind() != CredentialKind::ClientSecret).then_some(secret.kind()),
        public_key: secret.public_key(),
        jwks_uri: secret.jwks_uri(),
        federation: secret.federation(),
        created_by: secret.creator.as_ref(),
        status: secret.status,
        expire_time: secret.expire_time,
        last_used_time: usage.secret(&secret.id),
    }
}

/// An organization client (Scalekit's `M2MClient`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = M2MClient)]
pub struct M2MClientView<'a> {
    client_id: &'a str,
    secrets: Vec<ClientSecretView<'a>>,
    name: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization_id: Option<&'a str>,
    create_time: Timestamp,
    update_time: Timestamp,
    scopes: &'a [String],
    audience: &'a [String],
    custom_claims: &'a [CustomClaim],
    expiry: u32,
}

/// `{"client": ...}`: the answer of get and update.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OrganizationClientResponse)]
pub struct ClientResponse<'a> {
    pub client: M2MClientView<'a>,
}

/// The answer of create: the client and its first secret's value, shown this once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CreatedOrganizationClient)]
pub struct CreatedClient<'a> {
    pub client: M2MClientView<'a>,
    pub plain_secret: Option<&'a str>,
}

/// One page of an organization's clients.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OrganizationClientList)]
pub struct ClientList<'a> {
    pub clients: Vec<M2MClientView<'a>>,
    /// Empty on the last page.
    pub next_page_token: String,
    /// Always empty: pages go forward only.
    pub prev_page_token: String,
    pub total_size: u64,
}

/// `{"secret": ...}`: the answer of a secret's update.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OrganizationSecretResponse)]
pub struct SecretResponse<'a> {
    pub secret: ClientSecretView<'a>,
}

/// The answer of adding a secret: its value (a shared secret's), shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedSecret<'a> {
    /// The secret's value (client_secret only), shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain_secret: Option<&'a str>,
    pub secret: ClientSecretView<'a>,
}

pub fn client_view<'a>(client: &'a Client, usage: &Usage) -> M2MClientView<'a> {
    M2MClientView {
        client_id: client.client_id.as_str(),
        secrets: client
            .secrets
            .iter()
            .map(|s| secret_view(s, usage))
            .collect(),
        name: &client.name,
        description: &client.description,
        organization_id: client.organization_id.as_ref().map(|o| o.as_str()),
        create_time: client.create_time,
        update_time: client.update_time,
        scopes: client.scopes.as_slice(),
        audience: client.audience.as_slice(),
        custom_claims: &client.custom_claims,
        expiry: client.expiry.secs(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BOUNDS: ExpiryBounds = ExpiryBounds {
        min: 60,
        max: 86_400,
        default: 3600,
    };

    fn body(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn create_needs_a_name_and_reports_every_bad_field() {
        let err = parse_client(
            &body(json!({"scopes": ["a b"], "expiry": 5, "colour": "red"})),
            true,
            BOUNDS,
        )
        .unwrap_err();
        let AdminError::InvalidArgument { details, .. } = err else {
            panic!("{err:?}")
        };
        let mut names: Vec<_> = details.into_iter().map(|d| d.field).collect();
        names.sort();
        assert_eq!(names, ["colour", "expiry", "name", "scopes[0]"]);
    }

    #[test]
    fn null_resets_absent_keeps_and_output_only_is_ignored() {
        let changes = parse_client(
            &body(json!({"scopes": null, "expiry": null, "client_id": "x"})),
            false,
            BOUNDS,
        )
        .unwrap();
        assert_eq!(changes.scopes, Some(crate::domain::ScopeSet::default()));
        assert_eq!(changes.expiry, Some(crate::domain::Expiry::from_secs(3600)));
        assert_eq!(changes.name, None);
        assert!(parse_client(&body(json!({"name": null})), false, BOUNDS).is_err());
    }
}
