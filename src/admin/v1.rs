//! The Confidence-style face's JSON (contract §1b, camelCase, resource names): parsing
//! `Client` and `ClientCredential` bodies under an AIP-134 `updateMask`, and rendering them.
//!
//! Mask rules: paths are camelCase or snake_case; only listed fields change; a listed field
//! absent from the body is cleared (`displayName` and `clientSecret` cannot be); `*` means
//! every mutable field; no mask means the fields present in the body. Unknown and
//! output-only paths are rejected by name. Output-only fields in a body are ignored, unknown
//! fields rejected.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::changes::{ClientChanges, ClientField, CredentialField, SecretChanges, Sent, keep};
use super::error::AdminError;
use crate::crypto::PlainSecret;
use crate::domain::fields::{self, Parsed, snake};
use crate::domain::proof;
use crate::domain::{
    Actor, ClaimMapping, Client, ClientKey, CredentialKind, CustomClaim, Environments,
    ExpiryBounds, Federation, FieldViolation, Labels, SdkType, Secret, SecretStatus, Timestamp,
    Usage,
};

/// A resource's mutable fields as this face names them: parsed from snake_case or
/// camelCase (after [`snake`]), rendered in camelCase.
trait Field: Copy + Ord + 'static {
    /// Every mutable field (what `*` means).
    const ALL: &'static [Self];
    /// Fields the server sets: ignored in a body, refused in a mask.
    const OUTPUT_ONLY: &'static [&'static str];
    fn from_snake(name: &str) -> Option<Self>;
    fn camel(self) -> &'static str;
}

impl Field for ClientField {
    const ALL: &'static [Self] = &[
        Self::Name,
        Self::Description,
        Self::Labels,
        Self::Scopes,
        Self::Audience,
        Self::CustomClaims,
        Self::Expiry,
    ];
    const OUTPUT_ONLY: &'static [&'static str] = &[
        "name",
        "create_time",
        "update_time",
        "creator",
        "updater",
        "last_seen_time",
        "organization_id",
    ];

    /// `display_name` is the client's name here (`name` is its resource name).
    fn from_snake(name: &str) -> Option<Self> {
        Some(match name {
            "display_name" => Self::Name,
            "description" => Self::Description,
            "labels" => Self::Labels,
            "scopes" => Self::Scopes,
            "audience" => Self::Audience,
            "custom_claims" => Self::CustomClaims,
            "expiry" => Self::Expiry,
            _ => return None,
        })
    }

    fn camel(self) -> &'static str {
        match self {
            Self::Name => "displayName",
            Self::Description => "description",
            Self::Labels => "labels",
            Self::Scopes => "scopes",
            Self::Audience => "audience",
            Self::CustomClaims => "customClaims",
            Self::Expiry => "expiry",
        }
    }
}

impl Field for CredentialField {
    const ALL: &'static [Self] = &[
        Self::DisplayName,
        Self::ClientSecret,
        Self::Status,
        Self::Environments,
        Self::Labels,
        Self::SdkType,
        Self::ExpireTime,
        Self::Kind,
        Self::PublicKey,
        Self::JwksUri,
        Self::Federation,
    ];
    const OUTPUT_ONLY: &'static [&'static str] = &[
        "name",
        "secret_suffix",
        "create_time",
        "update_time",
        "creator",
        "updater",
        "last_seen_time",
    ];

    fn from_snake(name: &str) -> Option<Self> {
        Some(match name {
            "display_name" => Self::DisplayName,
            "client_secret" => Self::ClientSecret,
            "status" => Self::Status,
            "environments" => Self::Environments,
            "labels" => Self::Labels,
            "sdk_type" => Self::SdkType,
            "expire_time" => Self::ExpireTime,
            "kind" => Self::Kind,
            "public_key" => Self::PublicKey,
            "jwks_uri" => Self::JwksUri,
            "federation" => Self::Federation,
            _ => return None,
        })
    }

    fn camel(self) -> &'static str {
        match self {
            Self::DisplayName => "displayName",
            Self::ClientSecret => "clientSecret",
            Self::Status => "status",
            Self::Environments => "environments",
            Self::Labels => "labels",
            Self::SdkType => "sdkType",
            Self::ExpireTime => "expireTime",
            Self::Kind => "kind",
            Self::PublicKey => "publicKey",
            Self::JwksUri => "jwksUri",
            Self::Federation => "federation",
        }
    }
}

/// Which fields an update touches.
enum Mask<F> {
    /// No mask: the fields present in the body.
    Present,
    /// `*`: every mutable field, present or cleared.
    All,
    /// A list: these fields, present or cleared.
    Fields(Vec<F>),
}

fn parse_mask<F: Field>(raw: Option<&str>) -> Result<Mask<F>, AdminError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(Mask::Present);
    };
    if raw == "*" {
        return Ok(Mask::All);
    }
    let mut errors = Vec::new();
    let mut fields = Vec::new();
    for path in raw.split(',').map(str::trim) {
        let name = snake(path);
        // `clientSecret.secret` names the secret's one subfield.
        let name = name
            .strip_suffix(".secret")
            .filter(|n| *n == "client_secret")
            .unwrap_or(&name);
        if let Some(field) = F::from_snake(name) {
            if !fields.contains(&field) {
                fields.push(field);
            }
        } else if F::OUTPUT_ONLY.contains(&name) {
            errors.push(FieldViolation::new(
                "updateMask",
                format!("{path:?} is output only and cannot be updated"),
            ));
        } else {
            errors.push(FieldViolation::new(
                "updateMask",
                format!("{path:?} is not a field of this resource"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(Mask::Fields(fields))
    } else {
        Err(AdminError::fields(errors))
    }
}

/// The body's fields with the key as sent, rejecting unknown keys and dropping
/// output-only ones.
fn body_fields<'a, F: Field>(
    body: &'a Map<String, Value>,
    errors: &mut Vec<FieldViolation>,
) -> BTreeMap<F, (&'a str, &'a Value)> {
    let mut out = BTreeMap::new();
    for (key, value) in body {
        let name = snake(key);
        match F::from_snake(&name) {
            Some(field) => {
                out.insert(field, (key.as_str(), value));
            }
            None if F::OUTPUT_ONLY.contains(&name.as_str()) => {}
            None => errors.push(FieldViolation::new(key.as_str(), "is not a known field")),
        }
    }
    out
}

/// For each field the update touches, the key as sent (or its camelCase name) and its
/// value: `None` to clear.
fn touched<'a, F: Field>(
    mask: &Mask<F>,
    present: &BTreeMap<F, (&'a str, &'a Value)>,
) -> Vec<(F, String, Option<&'a Value>)> {
    let listed = |field: F| {
        let (key, value) = present
            .get(&field)
            .map_or((field.camel().to_owned(), None), |(key, value)| {
                ((*key).to_owned(), Some(*value))
            });
        (field, key, value.filter(|v| !v.is_null()))
    };
    match mask {
        Mask::Present => present.keys().map(|field| listed(*field)).collect(),
        Mask::All => F::ALL.iter().map(|field| listed(*field)).collect(),
        Mask::Fields(fields) => fields.iter().map(|field| listed(*field)).collect(),
    }
}

/// Parses a `Client` body: a create (`mask` ignored, `displayName` required) or an update.
pub fn parse_client(
    body: &Map<String, Value>,
    creating: bool,
    mask: Option<&str>,
    bounds: ExpiryBounds,
) -> Result<ClientChanges, AdminError> {
    let mask = if creating {
        Mask::Present
    } else {
        parse_mask::<ClientField>(mask)?
    };
    let mut errors = Vec::new();
    let present = body_fields(body, &mut errors);
    let mut c = ClientChanges::default();
    for (field, key, value) in touched(&mask, &present) {
        c.set(field, &key, value, bounds, &mut errors);
    }
    if creating && c.name.is_none() && !errors.iter().any(|v| v.field == "displayName") {
        errors.push(FieldViolation::new("displayName", "is required"));
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(AdminError::fields(errors))
    }
}

fn client_secret(value: &Value, key: &str) -> Parsed<PlainSecret> {
    let Some(object) = value.as_object() else {
        return Err(vec![FieldViolation::new(
            key,
            "must be an object {\"secret\": \"...\"}",
        )]);
    };
    if let Some(other) = object.keys().find(|k| *k != "secret") {
        return Err(vec![FieldViolation::new(
            format!("{key}.{other}"),
            "is not a known field",
        )]);
    }
    let path = format!("{key}.secret");
    let secret = object.get("secret").ok_or_else(|| {
        vec![FieldViolation::new(
            &path,
            "is required to replace the secret",
        )]
    })?;
    fields::plain_secret(secret, &path).map(PlainSecret::from_presented)
}

/// Parses a `ClientCredential` body: a create (`displayName` required) or an update.
pub fn parse_credential(
    body: &Map<String, Value>,
    creating: bool,
    mask: Option<&str>,
) -> Result<SecretChanges, AdminError> {
    let mask = if creating {
        Mask::Present
    } else {
        parse_mask::<CredentialField>(mask)?
    };
    let mut errors = Vec::new();
    let present = body_fields(body, &mut errors);
    let mut c = SecretChanges::default();
    let is_star = matches!(mask, Mask::All);
    for (field, key, value) in touched(&mask, &present) {
        use CredentialField as F;
        let (e, k) = (&mut errors, key.as_str());
        match (field, value) {
            (F::DisplayName, None) => e.push(FieldViolation::new(
                "displayName",
                "is required and cannot be cleared",
            )),
            (F::DisplayName, Some(v)) => {
                c.display_name = keep(e, fields::secret_display_name(v, k))
            }
            // `*` does not ask to replace the secret when the body carries none.
            (F::ClientSecret, None) if is_star || creating => {}
            (F::ClientSecret, None) => e.push(FieldViolation::new(
                "clientSecret",
                "cannot be cleared; send clientSecret.secret to replace it",
            )),
            (F::ClientSecret, Some(v)) => c.replacement = keep(e, client_secret(v, k)),
            (F::Status, None) => c.status = Some(SecretStatus::Active),
            (F::Status, Some(v)) => c.status = keep(e, fields::status(v, k)),
            (F::Environments, None) => c.environments = Some(Environments::default()),
            (F::Environments, Some(v)) => c.environments = keep(e, fields::environments(v, k)),
            (F::Labels, None) => c.labels = Some(Labels::default()),
            (F::Labels, Some(v)) => c.labels = keep(e, fields::labels(v, k)),
            (F::SdkType, None) => c.sdk_type = Some(SdkType::Unspecified),
            (F::SdkType, Some(v)) => c.sdk_type = keep(e, fields::sdk_type(v, k)),
            (F::ExpireTime, None) => c.expire_time = Some(None),
            (F::ExpireTime, Some(v)) => c.expire_time = keep(e, fields::timestamp(v, k)).map(Some),
            (F::Kind, None) if is_star || creating => {}
            (F::Kind | F::PublicKey | F::JwksUri | F::Federation, None) if is_star => {}
            (F::Kind, Some(v)) if creating => {
                c.kind = keep(e, CredentialKind::parse(v, k)).map(|value| Sent {
                    field: key.clone(),
                    value,
                });
            }
            (F::Kind, _) => e.push(FieldViolation::new(
                k,
                "cannot be changed; create a credential of the other kind",
            )),
            (F::PublicKey | F::JwksUri | F::Federation, None) => {
                e.push(FieldViolation::new(k, "cannot be cleared"))
            }
            (F::PublicKey | F::JwksUri, Some(_)) if c.key.is_some() => e.push(FieldViolation::new(
                k,
                "send either publicKey or jwksUri, not both",
            )),
            (F::PublicKey, Some(v)) => {
                c.key = keep(e, proof::public_jwk(v, k)).map(|jwk| Sent {
                    field: key.clone(),
                    value: ClientKey::Jwk(jwk),
                });
            }
            (F::JwksUri, Some(v)) => {
                c.key = keep(e, proof::fetch_url(v, k)).map(|url| Sent {
                    field: key.clone(),
                    value: ClientKey::JwksUri(url),
                });
            }
            (F::Federation, Some(v)) => {
                c.federation = keep(e, proof::federation(v, k)).map(|value| Sent {
                    field: key.clone(),
                    value,
                });
            }
        }
    }
    if creating && c.display_name.is_none() && !errors.iter().any(|v| v.field == "displayName") {
        errors.push(FieldViolation::new("displayName", "is required"));
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(AdminError::fields(errors))
    }
}

/// A client as the `/v1` face shows it; `name` is its resource name (`clients/<id>`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Client)]
pub struct ClientView<'a> {
    name: String,
    display_name: &'a str,
    description: &'a str,
    labels: &'a Labels,
    scopes: &'a [String],
    audience: &'a [String],
    custom_claims: &'a [CustomClaim],
    expiry: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization_id: Option<&'a str>,
    create_time: Timestamp,
    update_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    creator: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updater: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_time: Option<Timestamp>,
}

/// One page of clients.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientList<'a> {
    pub clients: Vec<ClientView<'a>>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// One page of a client's credentials.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CredentialList<'a> {
    pub client_credentials: Vec<CredentialView<'a>>,
    /// Empty on the last page.
    pub next_page_token: String,
}

pub fn client_view<'a>(client: &'a Client, usage: &Usage) -> ClientView<'a> {
    ClientView {
        name: format!("clients/{}", client.client_id),
        display_name: &client.name,
        description: &client.description,
        labels: &client.labels,
        scopes: client.scopes.as_slice(),
        audience: client.audience.as_slice(),
        custom_claims: &client.custom_claims,
        expiry: client.expiry.secs(),
        organization_id: client.organization_id.as_ref().map(|o| o.as_str()),
        create_time: client.create_time,
        update_time: client.update_time,
        creator: client.creator.as_ref(),
        updater: client.updater.as_ref(),
        last_seen_time: usage.client,
    }
}

/// A plain secret: only in the response that created it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SecretValue<'a> {
    secret: &'a str,
}

/// A credential (a secret of a client), `clients/<id>/credentials/<id>`.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Credential)]
pub struct CredentialView<'a> {
    name: String,
    display_name: &'a str,
    kind: CredentialKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<SecretValue<'a>>,
    /// The secret's last characters (client_secret only).
    #[serde(skip_serializing_if = "str::is_empty")]
    secret_suffix: &'a str,
    /// The client's public JWK (private_key_jwt).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    public_key: Option<&'a Map<String, Value>>,
    /// Where the client publishes its keys (private_key_jwt).
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    federation: Option<FederationView<'a>>,
    status: SecretStatus,
    environments: &'a [String],
    labels: &'a Labels,
    sdk_type: SdkType,
    create_time: Timestamp,
    update_time: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    creator: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updater: Option<&'a Actor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_seen_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expire_time: Option<Timestamp>,
}

/// A federated credential's rules, as this face names them.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederationView<'a> {
    issuer: &'a str,
    audience: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    #[schema(value_type = Object)]
    claims: &'a BTreeMap<String, String>,
    claim_mappings: &'a [ClaimMapping],
    max_age_seconds: u32,
}

impl<'a> FederationView<'a> {
    pub fn of(f: &'a Federation) -> Self {
        Self {
            issuer: &f.issuer,
            audience: &f.audience,
            subject: f.subject.as_deref(),
            claims: &f.claims,
            claim_mappings: &f.claim_mappings,
            max_age_seconds: f.max_age_secs,
        }
    }
}

/// A credential; `plain` only in the response that created it.
pub fn credential_view<'a>(
    client: &Client,
    secret: &'a Secret,
    usage: &Usage,
    plain: Option<&'a PlainSecret>,
) -> CredentialView<'a> {
    CredentialView {
        name: format!("clients/{}/credentials/{}", client.client_id, secret.id),
        display_name: &secret.display_name,
        kind: secret.kind(),
        client_secret: plain.map(|p| SecretValue { secret: p.expose() }),
        secret_suffix: secret.suffix(),
        public_key: secret.public_key(),
        jwks_uri: secret.jwks_uri(),
        federation: secret.federation().map(FederationView::of),
        status: secret.status,
        environments: secret.environments.as_slice(),
        labels: &secret.labels,
        sdk_type: secret.sdk_type,
        create_time: secret.create_time,
        update_time: secret.update_time,
        creator: secret.creator.as_ref(),
        updater: secret.updater.as_ref(),
        last_seen_time: usage.secret(&secret.id),
        expire_time: secret.expire_time,
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

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn masks_accept_both_cases_and_reject_unknown_and_output_only_paths() {
        let b = body(json!({"displayName": "x", "environments": ["prod"]}));
        let c = parse_credential(&b, false, Some("display_name,environments")).unwrap();
        assert_eq!(c.display_name.as_deref(), Some("x"));
        assert_eq!(
            c.environments.as_ref().map(Environments::as_slice),
            Some(&["prod".to_owned()][..])
        );
        let c = parse_credential(&b, false, Some("sdkType")).unwrap();
        assert_eq!(
            (c.display_name, c.sdk_type),
            (None, Some(SdkType::Unspecified)),
            "listed but absent is cleared"
        );
        for bad in ["nope", "createTime", "name", "displayName,bogus"] {
            assert!(
                parse_credential(&b, false, Some(bad)).is_err(),
                "accepted mask {bad}"
            );
        }
        assert!(
            parse_credential(&body(json!({})), false, Some("displayName")).is_err(),
            "displayName cannot be cleared"
        );
        assert!(
            parse_client(
                &body(json!({"displayName": "n", "wat": 1})),
                false,
                None,
                BOUNDS
            )
            .is_err()
        );
    }

    #[test]
    fn star_keeps_an_absent_secret_but_an_explicit_clientsecret_path_needs_a_value() {
        let b = body(json!({"displayName": "x"}));
        let star = parse_credential(&b, false, Some("*")).unwrap();
        assert!(star.replacement.is_none());
        assert_eq!(
            star.environments,
            Some(Environments::default()),
            "* clears absent fields"
        );
        let every = "displayName,clientSecret,status,environments,labels,sdkType,expireTime";
        assert!(
            parse_credential(&b, false, Some(every)).is_err(),
            "listing clientSecret without a value is not the same as *"
        );
    }
}
