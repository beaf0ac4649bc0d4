//! The stored records. A [`Client`] owns its [`Secret`]s: they live in one document so that
//! a token request needs one read, and a write to either is one compare-and-set.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::grants::{Audience, Environments, Expiry, ScopeSet};
use super::ids::{ClientId, OrganizationId, SecretId};
use super::proof::{ClientKey, CredentialKind, Federation, Proof};
use super::time::Timestamp;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomClaim {
    pub key: String,
    pub value: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecretStatus {
    #[default]
    Active,
    Inactive,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SdkType {
    #[default]
    #[serde(rename = "SDK_TYPE_UNSPECIFIED")]
    Unspecified,
    #[serde(rename = "BACKEND")]
    Backend,
    #[serde(rename = "FRONTEND")]
    Frontend,
}

/// A client's or secret's labels: keys `[a-z0-9_-]{1,63}`, values up to 256 characters,
/// at most 64 ([`super::fields::labels`] is the only way in from a request).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Labels(BTreeMap<String, String>);

impl Labels {
    /// Labels whose keys and values the caller has checked.
    pub(crate) fn checked(labels: BTreeMap<String, String>) -> Self {
        Self(labels)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Who made a change: an admin client, named as a resource (`clients/<id>`) in responses
/// and in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(ClientId);

impl Actor {
    pub fn client(id: ClientId) -> Self {
        Self(id)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clients/{}", self.0)
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.strip_prefix("clients/")
            .and_then(ClientId::parse)
            .map(Self)
            .ok_or_else(|| serde::de::Error::custom("an actor is clients/<client id>"))
    }
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
    #[serde(default)]
    pub status: SecretStatus,
    #[serde(default)]
    pub environments: Environments,
    #[serde(default)]
    pub labels: Labels,
    #[serde(default)]
    pub sdk_type: SdkType,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    #[serde(default)]
    pub creator: Option<Actor>,
    #[serde(default)]
    pub updater: Option<Actor>,
    #[serde(default)]
    pub expire_time: Option<Timestamp>,
    /// What proves the client: a secret's hash, a public key, or an external issuer.
    #[serde(flatten)]
    pub proof: Proof,
    /// Tokens this secret minted at or before this time (by `iat`, in seconds) are revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_not_before: Option<Timestamp>,
}

impl Secret {
    /// Whether this secret may authenticate at `now` (its hash still has to match).
    pub fn is_usable(&self, now: Timestamp) -> bool {
        self.status == SecretStatus::Active && self.expire_time.is_none_or(|at| now < at)
    }

    /// The last characters of a shared secret (empty for the other kinds).
    pub fn suffix(&self) -> &str {
        match &self.proof {
            Proof::ClientSecret { secret_suffix, .. } => secret_suffix,
            _ => "",
        }
    }

    /// A shared secret's argon2id hash (`None` for the other kinds).
    pub fn hash(&self) -> Option<&SecretHash> {
        match &self.proof {
            Proof::ClientSecret { hash, .. } => Some(hash),
            _ => None,
        }
    }

    pub fn kind(&self) -> CredentialKind {
        self.proof.kind()
    }

    /// A `private_key_jwt` credential's public JWK, when it holds one.
    pub fn public_key(&self) -> Option<&serde_json::Map<String, serde_json::Value>> {
        match &self.proof {
            Proof::PrivateKeyJwt {
                key: ClientKey::Jwk(jwk),
            } => Some(jwk),
            _ => None,
        }
    }

    /// Where a `private_key_jwt` credential's keys are published, when they are.
    pub fn jwks_uri(&self) -> Option<&str> {
        match &self.proof {
            Proof::PrivateKeyJwt {
                key: ClientKey::JwksUri(url),
            } => Some(url),
            _ => None,
        }
    }

    /// A `federated` credential's rules.
    pub fn federation(&self) -> Option<&Federation> {
        match &self.proof {
            Proof::Federated { federation } => Some(federation),
            _ => None,
        }
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
    pub labels: Labels,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    #[serde(default)]
    pub creator: Option<Actor>,
    #[serde(default)]
    pub updater: Option<Actor>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Tokens of this client minted at or before this time (by `iat`, in seconds) are
    /// revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_not_before: Option<Timestamp>,
}

/// Whether a token issued at `iat` (seconds) is revoked by a not-before time: a token of the
/// same second as the revocation counts as before it (tokens carry whole seconds).
pub fn revoked_by(not_before: Option<Timestamp>, iat: u64) -> bool {
    not_before.is_some_and(|at| iat <= at.as_secs())
}

impl Client {
    /// Whether a token this client's secret `secret` minted at `iat` was revoked by a
    /// not-before time of the client or of that secret.
    pub fn revokes(&self, secret: Option<&Secret>, iat: u64) -> bool {
        revoked_by(self.tokens_not_before, iat)
            || secret.is_some_and(|s| revoked_by(s.tokens_not_before, iat))
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_actor_is_stored_and_shown_as_its_resource_name() {
        let id = ClientId::generate(false);
        let actor = Actor::client(id.clone());
        let stored = serde_json::to_string(&actor).unwrap();
        assert_eq!(stored, format!("\"clients/{id}\""));
        assert_eq!(serde_json::from_str::<Actor>(&stored).unwrap(), actor);
        for bad in ["\"clients/\"", &format!("\"{id}\""), "\"organizations/x\""] {
            assert!(serde_json::from_str::<Actor>(bad).is_err(), "{bad}");
        }
    }
}
