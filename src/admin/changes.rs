//! Parsed, validated changes to a client or a secret, shared by both admin faces: each face
//! parses its own JSON into these, and the service applies them to the stored record.

use serde_json::Value;

use super::error::AdminError;
use crate::crypto::PlainSecret;
use crate::domain::fields::{self, Parsed};
use crate::domain::{
    Audience, Client, ClientKey, CredentialKind, CustomClaim, Environments, Expiry, ExpiryBounds,
    Federation, FieldViolation, Labels, Proof, ScopeSet, SdkType, Secret, SecretStatus, Timestamp,
};

/// The parsed value, or its violations appended to `errors`.
pub fn keep<T>(errors: &mut Vec<FieldViolation>, parsed: Parsed<T>) -> Option<T> {
    parsed.map_err(|mut e| errors.append(&mut e)).ok()
}

/// A client's mutable fields. Both faces parse their spellings into these, so a field that
/// one of them forgot to handle is a compile error, not a string that matches nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ClientField {
    Name,
    Description,
    Labels,
    Scopes,
    Audience,
    CustomClaims,
    Expiry,
}

impl ClientField {
    /// The organization face's keys (snake_case; no labels there).
    pub fn from_org(key: &str) -> Option<Self> {
        Some(match key {
            "name" => Self::Name,
            "description" => Self::Description,
            "scopes" => Self::Scopes,
            "audience" => Self::Audience,
            "custom_claims" => Self::CustomClaims,
            "expiry" => Self::Expiry,
            _ => return None,
        })
    }
}

/// A credential's (secret's) mutable fields, as the `/v1` face names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialField {
    DisplayName,
    ClientSecret,
    Status,
    Environments,
    Labels,
    SdkType,
    ExpireTime,
    Kind,
    PublicKey,
    JwksUri,
    Federation,
}

/// `Some(value)` sets a field (defaults included, for a clear); `None` leaves it alone.
#[derive(Clone, Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub scopes: Option<ScopeSet>,
    pub audience: Option<Audience>,
    pub custom_claims: Option<Vec<CustomClaim>>,
    pub expiry: Option<Expiry>,
    pub labels: Option<Labels>,
}

impl ClientChanges {
    /// Sets one field from its JSON; `None` or `null` resets it to its default. `key` is
    /// the name the caller sent, used in errors. The name cannot be reset: a client needs
    /// one.
    pub fn set(
        &mut self,
        field: ClientField,
        key: &str,
        value: Option<&Value>,
        bounds: ExpiryBounds,
        errors: &mut Vec<FieldViolation>,
    ) {
        use ClientField as F;
        let e = errors;
        match (field, value.filter(|v| !v.is_null())) {
            (F::Name, None) => e.push(FieldViolation::new(
                key,
                "is required and cannot be cleared",
            )),
            (F::Name, Some(v)) => self.name = keep(e, fields::client_name(v, key)),
            (F::Description, None) => self.description = Some(String::new()),
            (F::Description, Some(v)) => self.description = keep(e, fields::description(v, key)),
            (F::Labels, None) => self.labels = Some(Labels::default()),
            (F::Labels, Some(v)) => self.labels = keep(e, fields::labels(v, key)),
            (F::Scopes, None) => self.scopes = Some(ScopeSet::default()),
            (F::Scopes, Some(v)) => self.scopes = keep(e, fields::scopes(v, key)),
            (F::Audience, None) => self.audience = Some(Audience::default()),
            (F::Audience, Some(v)) => self.audience = keep(e, fields::audience(v, key)),
            (F::CustomClaims, None) => self.custom_claims = Some(Vec::new()),
            (F::CustomClaims, Some(v)) => {
                self.custom_claims = keep(e, fields::custom_claims(v, key))
            }
            (F::Expiry, None) => self.expiry = Some(Expiry::from_secs(bounds.default)),
            (F::Expiry, Some(v)) => self.expiry = keep(e, fields::expiry(v, key, bounds)),
        }
    }

    /// The names of the fields this changes (snake_case, face-neutral), for the audit trail.
    pub fn field_names(&self) -> Vec<String> {
        let set = [
            ("name", self.name.is_some()),
            ("description", self.description.is_some()),
            ("scopes", self.scopes.is_some()),
            ("audience", self.audience.is_some()),
            ("custom_claims", self.custom_claims.is_some()),
            ("expiry", self.expiry.is_some()),
            ("labels", self.labels.is_some()),
        ];
        set.iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }

    pub fn apply(self, client: &mut Client) {
        let Self {
            name,
            description,
            scopes,
            audience,
            custom_claims,
            expiry,
            labels,
        } = self;
        if let Some(v) = name {
            client.name = v;
        }
        if let Some(v) = description {
            client.description = v;
        }
        if let Some(v) = scopes {
            client.scopes = v;
        }
        if let Some(v) = audience {
            client.audience = v;
        }
        if let Some(v) = custom_claims {
            client.custom_claims = v;
        }
        if let Some(v) = expiry {
            client.expiry = v;
        }
        if let Some(v) = labels {
            client.labels = v;
        }
    }
}

/// A value with the field name the caller sent it under (for errors the service finds,
/// such as a public key sent for a credential of another kind).
#[derive(Clone, Debug)]
pub struct Sent<T> {
    pub field: String,
    pub value: T,
}

/// Changes to a secret; `replacement` swaps its value (hashed before it is applied).
/// `kind` (create only), `key` and `federation` describe credentials of the other kinds.
#[derive(Debug, Default)]
pub struct SecretChanges {
    pub display_name: Option<String>,
    pub status: Option<SecretStatus>,
    pub environments: Option<Environments>,
    pub labels: Option<Labels>,
    pub sdk_type: Option<SdkType>,
    pub expire_time: Option<Option<Timestamp>>,
    pub replacement: Option<PlainSecret>,
    pub kind: Option<Sent<CredentialKind>>,
    pub key: Option<Sent<ClientKey>>,
    pub federation: Option<Sent<Federation>>,
}

impl SecretChanges {
    /// The names of the fields this changes (snake_case; `secret` for a new value, never
    /// the value), for the audit trail.
    pub fn field_names(&self) -> Vec<String> {
        let set = [
            ("display_name", self.display_name.is_some()),
            ("status", self.status.is_some()),
            ("environments", self.environments.is_some()),
            ("labels", self.labels.is_some()),
            ("sdk_type", self.sdk_type.is_some()),
            ("expire_time", self.expire_time.is_some()),
            ("secret", self.replacement.is_some()),
            ("kind", self.kind.is_some()),
            ("public_key", self.key.is_some()),
            ("federation", self.federation.is_some()),
        ];
        set.iter()
            .filter(|(_, changed)| *changed)
            .map(|(name, _)| (*name).to_owned())
            .collect()
    }

    /// The kind a new credential gets: as sent, else the kind its fields describe; a
    /// field of another kind is an error naming it.
    pub fn new_kind(&self) -> Result<CredentialKind, AdminError> {
        let kind = match &self.kind {
            Some(kind) => kind.value,
            None if self.key.is_some() => CredentialKind::PrivateKeyJwt,
            None if self.federation.is_some() => CredentialKind::Federated,
            None => CredentialKind::ClientSecret,
        };
        self.fits(kind)?;
        let missing = |field: &str| {
            Err(AdminError::field(
                field,
                format!("is required for a {} credential", kind.as_str()),
            ))
        };
        match kind {
            CredentialKind::PrivateKeyJwt if self.key.is_none() => missing("publicKey"),
            CredentialKind::Federated if self.federation.is_none() => missing("federation"),
            _ => Ok(kind),
        }
    }

    /// The field (as sent) of a key URL or issuer that is plain `http://`, if any.
    pub fn plain_http(&self) -> Option<&str> {
        let http = |url: &str| url.starts_with("http://");
        if let Some(Sent {
            field,
            value: ClientKey::JwksUri(url),
        }) = &self.key
            && http(url)
        {
            return Some(field);
        }
        self.federation
            .as_ref()
            .filter(|f| http(&f.value.issuer))
            .map(|f| f.field.as_str())
    }

    /// Refuses fields that do not belong to a credential of `kind`, naming them.
    pub fn fits(&self, kind: CredentialKind) -> Result<(), AdminError> {
        let foreign = |field: &str| {
            Err(AdminError::field(
                field,
                format!("does not apply to a {} credential", kind.as_str()),
            ))
        };
        if kind != CredentialKind::ClientSecret && self.replacement.is_some() {
            return foreign("clientSecret");
        }
        if let Some(key) = &self.key
            && kind != CredentialKind::PrivateKeyJwt
        {
            return foreign(&key.field);
        }
        if let Some(federation) = &self.federation
            && kind != CredentialKind::Federated
        {
            return foreign(&federation.field);
        }
        Ok(())
    }

    /// Applies everything but `replacement`, which the service hashes first (and `kind`,
    /// which only a create uses). The caller has checked the fields [`Self::fits`].
    pub fn apply(&self, secret: &mut Secret) {
        match &mut secret.proof {
            Proof::PrivateKeyJwt { key } => {
                if let Some(new) = &self.key {
                    key.clone_from(&new.value);
                }
            }
            Proof::Federated { federation } => {
                if let Some(new) = &self.federation {
                    federation.clone_from(&new.value);
                }
            }
            Proof::ClientSecret { .. } => {}
        }
        if let Some(v) = &self.display_name {
            secret.display_name.clone_from(v);
        }
        if let Some(v) = self.status {
            secret.status = v;
        }
        if let Some(v) = &self.environments {
            secret.environments.clone_from(v);
        }
        if let Some(v) = &self.labels {
            secret.labels.clone_from(v);
        }
        if let Some(v) = self.sdk_type {
            secret.sdk_type = v;
        }
        if let Some(v) = self.expire_time {
            secret.expire_time = v;
        }
    }
}
