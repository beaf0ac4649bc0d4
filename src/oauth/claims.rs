//! The access token's claims (contract §3), base64url-encoded for signing.
//!
//! Every claim but `iat`, `nbf`, `exp` and `jti` is the same for all the tokens of one
//! grant. That constant part is serialized once as `{"iss":…,…,` padded with spaces (JSON
//! whitespace) to a multiple of three bytes, so that its base64url encoding ends on a whole
//! group and a token's own four claims can be encoded and appended to it. Grants that ask
//! for no narrowing (no `scope`, audience, resource or environment: the usual case) are
//! kept per client document version and secret ([`super::prepared`]); any change to a
//! client makes a new version, so a kept part is never stale.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::ser::SerializeMap;

use crate::domain::{Client, SecretId};

/// The constant part of one grant's tokens, and the `scope` string its response carries.
#[derive(Debug)]
pub struct Constant {
    encoded: String,
    pub scope: String,
}

/// What a token grants beyond the client itself.
pub struct Grant<'a> {
    pub issuer: &'a str,
    pub client: &'a Client,
    /// The credential (secret) that authenticated the grant.
    pub credential: &'a SecretId,
    pub audience: &'a [&'a str],
    pub scopes: &'a [&'a str],
    pub environments: Option<&'a [&'a str]>,
    /// Claims a federated credential maps from the workload's token (their names are
    /// checked like custom claim keys; a custom claim of the same name wins).
    pub mapped: &'a [(String, String)],
}

/// Serialized straight from borrowed data.
impl Serialize for Grant<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let client = self.client;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("iss", self.issuer)?;
        map.serialize_entry("sub", &client.client_id)?;
        map.serialize_entry("client_id", &client.client_id)?;
        map.serialize_entry("credential_id", self.credential)?;
        match self.audience {
            [] => {}
            [one] => map.serialize_entry("aud", one)?,
            many => map.serialize_entry("aud", many)?,
        }
        map.serialize_entry("scope", &self.scopes.join(" "))?;
        map.serialize_entry("scopes", self.scopes)?;
        if let Some(org) = &client.organization_id {
            map.serialize_entry("oid", org)?;
        }
        if let Some(environments) = self.environments {
            map.serialize_entry("environments", environments)?;
        }
        // Custom claim keys are validated not to collide with any standard claim.
        for claim in &client.custom_claims {
            map.serialize_entry(&claim.key, &claim.value)?;
        }
        for (key, value) in self.mapped {
            if !client.custom_claims.iter().any(|c| &c.key == key) {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

impl Grant<'_> {
    pub fn constant(&self) -> Constant {
        let mut json = serde_json::to_vec(self).expect("claims serialize to JSON");
        // `{...}` → `{...,` then spaces up to a multiple of three bytes.
        json.pop();
        json.push(b',');
        while !json.len().is_multiple_of(3) {
            json.push(b' ');
        }
        Constant {
            encoded: URL_SAFE_NO_PAD.encode(&json),
            scope: self.scopes.join(" "),
        }
    }
}

impl Constant {
    /// The token's payload: the constant part, then `iat`, `nbf` (= `iat`), `exp`, `jti`.
    pub fn payload(&self, iat: u64, exp: u64, jti: &str) -> String {
        debug_assert!(jti.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        let own = format!(r#""iat":{iat},"nbf":{iat},"exp":{exp},"jti":"{jti}"}}"#);
        let mut payload = String::with_capacity(self.encoded.len() + own.len() * 4 / 3 + 4);
        payload.push_str(&self.encoded);
        URL_SAFE_NO_PAD.encode_string(own, &mut payload);
        payload
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn client(custom: &str) -> Client {
        serde_json::from_value(json!({
            "version": 3,
            "client_id": "m2morg_000000000000000042",
            "organization_id": "org_1",
            "name": "n",
            "scopes": ["read", "write"],
            "audience": ["https://api.example.com"],
            "custom_claims": [{"key": "team", "value": custom}],
            "expiry": 3600,
            "create_time": "2026-01-01T00:00:00Z",
            "update_time": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn decode(payload: &str) -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[test]
    fn the_payload_is_every_claim_whatever_the_constant_part_length() {
        // Custom claim values of three consecutive lengths cover every remainder mod 3.
        for custom in ["a", "ab", "abc", "quote\"d \u{e9}"] {
            let client = client(custom);
            let grant = Grant {
                issuer: "https://auth.example.com",
                client: &client,
                credential: &SecretId::parse("sks_000000000000000007").unwrap(),
                audience: &["https://api.example.com"],
                scopes: &["read", "write"],
                environments: Some(&["prod"]),
                mapped: &[],
            };
            let constant = grant.constant();
            assert_eq!(constant.scope, "read write");
            let claims = decode(&constant.payload(100, 3700, "tkn_00ff"));
            assert_eq!(
                claims,
                json!({
                    "iss": "https://auth.example.com",
                    "sub": "m2morg_000000000000000042",
                    "client_id": "m2morg_000000000000000042",
                    "credential_id": "sks_000000000000000007",
                    "aud": "https://api.example.com",
                    "scope": "read write",
                    "scopes": ["read", "write"],
                    "oid": "org_1",
                    "environments": ["prod"],
                    "team": custom,
                    "iat": 100, "nbf": 100, "exp": 3700, "jti": "tkn_00ff",
                })
            );
        }
    }
}
