//! The stored records. A [`Client`] owns its [`Secret`]s: they live in one document so that
//! a token request needs one read, and a write to either is one compare-and-set.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::grants::{Audience, Environments, Expiry, ScopeSet};
use super::ids::{ClientId, OrganizationId, SecretId};
use super::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomClaim {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecretStatus {
    #[default]
    Active,
    Inactive,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SdkType {
    #[default]
    #[serde(rename = "SDK_TYPE_UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "BACKEND")]
    Backend,
    #[serde(rename = "FRONTEND")]
    Frontend,
}

/// An argon2id PHC string. Its `Debug` is redacted so that no log line or panic message
/// can carry it; it is serialized only into the store.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretHash(String);

impl SecretHash {
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<hidden>)")
    }
}

/// A client secret (a Confidence "credential"). The plain value is never stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub id: SecretId,
    #[serde(default)]
    pub display_name: String,
    pub secret_suffix: String,
    #[serde(default)]
    pub status: SecretStatus,
    #[serde(default)]
    pub environments: Environments,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub sdk_type: SdkType,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    #[serde(default)]
    pub creator: Option<String>,
    #[serde(default)]
    pub updater: Option<String>,
    #[serde(default)]
    pub expire_time: Option<Timestamp>,
    pub hash: SecretHash,
}

impl Secret {
    /// Whether this secret may authenticate at `now` (its hash still has to match).
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.status == SecretStatus::Active && self.expire_time.is_none_or(|at| now < at)
    }
}

/// A machine-to-machine client. `version` increases by one on every write and is the
/// compare-and-set token that keeps concurrent writers from losing each other's changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub version: u64,
    pub client_id: ClientId,
    #[serde(default)]
    pub organization_id: Option<OrganizationId>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub scopes: ScopeSet,
    #[serde(default)]
    pub audience: Audience,
    #[serde(default)]
    pub custom_claims: Vec<CustomClaim>,
    pub expiry: Expiry,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    #[serde(default)]
    pub creator: Option<String>,
    #[serde(default)]
    pub updater: Option<String>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
}

impl Client {
    pub fn secret(&self, id: &SecretId) -> Option<&Secret> {
        self.secrets.iter().find(|s| &s.id == id)
    }

    pub fn secret_mut(&mut self, id: &SecretId) -> Option<&mut Secret> {
        self.secrets.iter_mut().find(|s| &s.id == id)
    }
}

/// When a client and each of its secrets were last used at the token endpoint. Kept apart
/// from the client document so that recording a use never races an admin's write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub client: Option<Timestamp>,
    pub secrets: HashMap<SecretId, Timestamp>,
}

impl Usage {
    pub fn secret(&self, id: &SecretId) -> Option<Timestamp> {
        self.secrets.get(id).copied()
    }
}
