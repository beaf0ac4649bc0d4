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

    /// STRING: a revoked token (by `jti`) of a client, holding the token's expiry (ms); it
    /// expires with the token. In the client's slot.
    pub fn revoked(&self, id: &ClientId, jti: &str) -> String {
        format!("{}:revoked:{{{id}}}:{jti}", self.prefix)
    }

    /// STRING: the `jti` of a client assertion already used (`private_key_jwt`), holding
    /// its expiry (ms); it expires with the assertion. In the client's slot.
    pub fn used_assertion(&self, id: &ClientId, jti: &str) -> String {
        format!("{}:assertion:{{{id}}}:{jti}", self.prefix)
    }

    /// The signing-key schedule of the key store (JSON with a version; private keys sealed).
    pub fn signing_keys(&self) -> String {
        format!("{}:signing-keys", self.prefix)
    }

    /// STREAM of audit events (one field, `entry`: the event's JSON), capped in length.
    pub fn audit(&self) -> String {
        format!("{}:audit", self.prefix)
    }
}

impl KeyNames {
    /// The two ZSETs of recent failed authentications (scores and members are times) a
    /// token request is judged by: of one client id from one address, and from one address
    /// whatever the client. `client` is `-` for a presented id that is not a client id.
    /// Built on the token endpoint's hot path, so the address is formatted once.
    pub fn failures(&self, client: Option<&ClientId>, address: IpAddr) -> [String; 2] {
        let client = client.map_or("-", ClientId::as_str);
        let address = address.to_string();
        let prefix = &self.prefix;
        let mut of_client = String::with_capacity(prefix.len() + client.len() + address.len() + 9);
        for part in [prefix, ":fail:{", client, "}:", &address] {
            of_client.push_str(part);
        }
        let mut at_address = String::with_capacity(prefix.len() + address.len() + 12);
        for part in [prefix, ":fail:addr:{", &address, "}"] {
            at_address.push_str(part);
        }
        [of_client, at_address]
    }
}

/// The field of the seen HASH that records the client's own last use.
pub const SEEN_CLIENT_FIELD: &str = "client";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_keys_follow_the_contract_layout() {
        let names = KeyNames::new("tm");
        let id = ClientId::parse("m2morg_000000000000000042").unwrap();
        assert_eq!(
            names.failures(Some(&id), "192.0.2.7".parse().unwrap()),
            [
                "tm:fail:{m2morg_000000000000000042}:192.0.2.7",
                "tm:fail:addr:{192.0.2.7}"
            ]
        );
        assert_eq!(
            names.failures(None, "2001:db8::1".parse().unwrap()),
            ["tm:fail:{-}:2001:db8::1", "tm:fail:addr:{2001:db8::1}"]
        );
    }
}
