//! Every Redis key name tokenmint uses, and nothing else, lives here (contract §6).
//!
//! One client's keys share a hash tag (`{<client_id>}`), so they sit in one cluster slot and
//! a script may touch them together.

use std::net::IpAddr;

use crate::domain::{ClientId, OrganizationId};

#[derive(Clone, Debug)]
pub struct KeyNames {
    prefix: String,
}

impl KeyNames {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The client document (JSON, secrets and their hashes included, with a version).
    pub fn client(&self, id: &ClientId) -> String {
        format!("{}:client:{{{id}}}", self.prefix)
    }

    /// HASH of last-use times in milliseconds: secret id → time, `client` → time.
    pub fn seen(&self, id: &ClientId) -> String {
        format!("{}:client:{{{id}}}:seen", self.prefix)
    }

    /// ZSET of an organization's client ids scored by creation time (ms).
    pub fn organization_clients(&self, organization: &OrganizationId) -> String {
        format!("{}:org:{{{organization}}}:clients", self.prefix)
    }

    /// ZSET of every client id scored by creation time (ms).
    pub fn all_clients(&self) -> String {
        format!("{}:clients", self.prefix)
    }
}

impl KeyNames {
    /// ZSET of recent failed authentications of one client id from one address (scores and
    /// members are times). `client` is `-` for a presented id that is not a client id.
    pub fn failures_of_client_at(&self, client: Option<&ClientId>, address: IpAddr) -> String {
        let client = client.map_or("-", ClientId::as_str);
        format!("{}:fail:{{{client}}}:{address}", self.prefix)
    }

    /// ZSET of recent failed authentications from one address, whatever the client.
    pub fn failures_at(&self, address: IpAddr) -> String {
        format!("{}:fail:addr:{{{address}}}", self.prefix)
    }
}

/// The field of the seen HASH that records the client's own last use.
pub const SEEN_CLIENT_FIELD: &str = "client";
