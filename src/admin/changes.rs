//! Parsed, validated changes to a client or a secret, shared by both admin faces: each face
//! parses its own JSON into these, and the service applies them to the stored record.

use std::collections::BTreeMap;

use crate::crypto::PlainSecret;
use crate::domain::{Client, CustomClaim, SdkType, Secret, SecretStatus, Timestamp};

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
