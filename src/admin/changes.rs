//! Parsed, validated changes to a client or a secret, shared by both admin faces: each face
//! parses its own JSON into these, and the service applies them to the stored record.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::crypto::PlainSecret;
use crate::domain::fields::{self, Parsed};
use crate::domain::{
    Client, CustomClaim, ExpiryBounds, FieldViolation, SdkType, Secret, SecretStatus, Timestamp,
};

/// The parsed value, or its violations appended to `errors`.
pub fn keep<T>(errors: &mut Vec<FieldViolation>, parsed: Parsed<T>) -> Option<T> {
    parsed.map_err(|mut e| errors.append(&mut e)).ok()
}

/// `Some(value)` sets a field (defaults included, for a clear); `None` leaves it alone.
#[derive(Clone, Debug, Default)]
pub struct ClientChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub audience: Option<Vec<String>>,
    pub custom_claims: Option<Vec<CustomClaim>>,
    pub expiry: Option<u32>,
    pub labels: Option<BTreeMap<String, String>>,
}

impl ClientChanges {
    /// Sets one field from its JSON; `None` or `null` resets it to its default. `field` is
    /// the model's name (`name`, `description`, `labels`, `scopes`, `audience`,
    /// `custom_claims`, `expiry`), `key` the name the caller sent, used in errors. The name
    /// cannot be reset: a client needs one.
    pub fn set(
        &mut self,
        field: &str,
        key: &str,
        value: Option<&Value>,
        bounds: ExpiryBounds,
        errors: &mut Vec<FieldViolation>,
    ) {
        let e = errors;
        match (field, value.filter(|v| !v.is_null())) {
            ("name", None) => e.push(FieldViolation::new(
                key,
                "is required and cannot be cleared",
            )),
            ("name", Some(v)) => self.name = keep(e, fields::client_name(v, key)),
            ("description", None) => self.description = Some(String::new()),
            ("description", Some(v)) => self.description = keep(e, fields::description(v, key)),
            ("labels", None) => self.labels = Some(BTreeMap::new()),
            ("labels", Some(v)) => self.labels = keep(e, fields::labels(v, key)),
            ("scopes", None) => self.scopes = Some(Vec::new()),
            ("scopes", Some(v)) => self.scopes = keep(e, fields::scopes(v, key)),
            ("audience", None) => self.audience = Some(Vec::new()),
            ("audience", Some(v)) => self.audience = keep(e, fields::audience(v, key)),
            ("custom_claims", None) => self.custom_claims = Some(Vec::new()),
            ("custom_claims", Some(v)) => {
                self.custom_claims = keep(e, fields::custom_claims(v, key))
            }
            ("expiry", None) => self.expiry = Some(bounds.default),
            ("expiry", Some(v)) => self.expiry = keep(e, fields::expiry(v, key, bounds)),
            _ => e.push(FieldViolation::new(key, "is not a known field")),
        }
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

/// Changes to a secret; `replacement` swaps its value (hashed before it is applied).
#[derive(Debug, Default)]
pub struct SecretChanges {
    pub display_name: Option<String>,
    pub status: Option<SecretStatus>,
    pub environments: Option<Vec<String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub sdk_type: Option<SdkType>,
    pub expire_time: Option<Option<Timestamp>>,
    pub replacement: Option<PlainSecret>,
}

impl SecretChanges {
    /// Applies everything but `replacement`, which the service hashes first.
    pub fn apply(&self, secret: &mut Secret) {
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
