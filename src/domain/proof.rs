//! How a credential proves its client ([`Proof`]), and the parsers of the fields that
//! describe the two kinds without a shared secret: a client's public key
//! (`private_key_jwt`, RFC 7523) and a trusted external issuer (`federated`: a workload's
//! own OIDC token, as GitHub Actions and Kubernetes issue them).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::SecretHash;
use super::fields::{FieldViolation, Parsed, claim_key, snake};

/// A credential's kind, as both faces name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    #[default]
    ClientSecret,
    PrivateKeyJwt,
    Federated,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecret => "client_secret",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::Federated => "federated",
        }
    }

    pub fn parse(value: &Value, field: &str) -> Parsed<Self> {
        match value.as_str() {
            Some("client_secret") => Ok(Self::ClientSecret),
            Some("private_key_jwt") => Ok(Self::PrivateKeyJwt),
            Some("federated") => Ok(Self::Federated),
            _ => Err(vec![FieldViolation::new(
                field,
                "must be client_secret, private_key_jwt or federated",
            )]),
        }
    }
}

/// How a credential proves its client. Stored flattened into the credential, tagged by
/// `kind`; documents written before kinds existed have no tag and are secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proof {
    /// A shared secret: its last four characters and its argon2id hash.
    ClientSecret {
        secret_suffix: String,
        hash: SecretHash,
    },
    /// Assertions signed with the client's private key, verified with this public key.
    PrivateKeyJwt { key: ClientKey },
    /// Tokens of an external issuer, accepted for this client when they match the rules.
    Federated { federation: Federation },
}

impl<'de> Deserialize<'de> for Proof {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        enum Tagged {
            ClientSecret {
                secret_suffix: String,
                hash: SecretHash,
            },
            PrivateKeyJwt {
                key: ClientKey,
            },
            Federated {
                federation: Federation,
            },
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Stored {
            Tagged(Tagged),
            Legacy {
                secret_suffix: String,
                hash: SecretHash,
            },
        }
        Ok(match Stored::deserialize(deserializer)? {
            Stored::Tagged(Tagged::ClientSecret {
                secret_suffix,
                hash,
            })
            | Stored::Legacy {
                secret_suffix,
                hash,
            } => Self::ClientSecret {
                secret_suffix,
                hash,
            },
            Stored::Tagged(Tagged::PrivateKeyJwt { key }) => Self::PrivateKeyJwt { key },
            Stored::Tagged(Tagged::Federated { federation }) => Self::Federated { federation },
        })
    }
}

impl Proof {
    pub fn kind(&self) -> CredentialKind {
        match self {
            Self::ClientSecret { .. } => CredentialKind::ClientSecret,
            Self::PrivateKeyJwt { .. } => CredentialKind::PrivateKeyJwt,
            Self::Federated { .. } => CredentialKind::Federated,
        }
    }
}

/// The public key of a `private_key_jwt` credential: held here, or published by the client
/// at a URL tokenmint fetches (within `assertions.*` limits).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKey {
    /// A public JWK (RSA 2048+, P-256 or Ed25519).
    Jwk(Map<String, Value>),
    JwksUri(String),
}

/// An external issuer whose tokens prove this client, and what they must say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Federation {
    /// The issuer's URL (`iss`); its keys come from its discovery document.
    pub issuer: String,
    /// What the token's `aud` must hold.
    pub audience: String,
    /// The exact `sub` required, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Claim values required (`repository`, `ref`, or a path such as
    /// `kubernetes.io/namespace` into nested objects).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub claims: BTreeMap<String, String>,
    /// Claims of the external token copied into the minted token under another name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claim_mappings: Vec<ClaimMapping>,
    /// The oldest a token may be (by `iat`), in seconds.
    #[serde(rename = "max_age_seconds")]
    pub max_age_secs: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimMapping {
    pub from: String,
    pub to: String,
}

pub const DEFAULT_MAX_AGE_SECS: u32 = 3600;
const MAX_RULES: usize = 20;
const MAX_URL: usize = 2048;

fn violation(field: &str, description: impl Into<String>) -> Vec<FieldViolation> {
    vec![FieldViolation::new(field, description)]
}

/// The value at a `/`-separated path into nested objects (`kubernetes.io/namespace`), as
/// the string a rule compares with (numbers and booleans as written).
pub fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut at = claims;
    for part in path.split('/') {
        at = at.as_object()?.get(part)?;
    }
    match at {
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        Value::Number(n) => Some(std::borrow::Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(std::borrow::Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// An issuer or key URL: `https://`, or `http://` to a loopback address only (a test or
/// sidecar issuer), no fragment, at most 2048 characters.
pub fn fetch_url(value: &Value, field: &str) -> Parsed<String> {
    let text = value
        .as_str()
        .ok_or_else(|| violation(field, "must be a string"))?;
    let bad = || {
        violation(
            field,
            "must be an https:// URL (http:// only to 127.0.0.1, [::1] or localhost), without a fragment",
        )
    };
    if text.len() > MAX_URL || text.contains(['#', ' ']) || text.chars().any(char::is_control) {
        return Err(bad());
    }
    let rest = if let Some(rest) = text.strip_prefix("https://") {
        rest
    } else if let Some(rest) = text.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        if !matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
            return Err(bad());
        }
        rest
    } else {
        return Err(bad());
    };
    if rest.split(['/', '?']).next().is_none_or(str::is_empty) {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// A public JWK for `private_key_jwt`: RSA (2048 bits or more), EC P-256 or OKP Ed25519,
/// with no private members; `alg`, if given, must fit the key.
pub fn public_jwk(value: &Value, field: &str) -> Parsed<Map<String, Value>> {
    let object = value
        .as_object()
        .ok_or_else(|| violation(field, "must be a JWK object"))?;
    for private in ["d", "p", "q", "dp", "dq", "qi", "oth", "k"] {
        if object.contains_key(private) {
            return Err(violation(
                &format!("{field}.{private}"),
                "is a private key member: send the public key only",
            ));
        }
    }
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(value.clone())
        .map_err(|_| violation(field, "is not a JWK (RFC 7517) of kty RSA, EC or OKP"))?;
    let allowed = key_algorithms(&jwk).map_err(|why| violation(field, why))?;
    if let Some(alg) = object.get("alg").and_then(Value::as_str)
        && !allowed.iter().any(|a| format!("{a:?}") == alg)
    {
        return Err(violation(
            &format!("{field}.alg"),
            format!("{alg:?} does not fit this key"),
        ));
    }
    jsonwebtoken::DecodingKey::from_jwk(&jwk)
        .map_err(|_| violation(field, "is not a usable public key"))?;
    if object.len() > 16 || value.to_string().len() > 4096 {
        return Err(violation(field, "is too large for a public JWK"));
    }
    Ok(object.clone())
}

/// The signature algorithms a public JWK may verify: RS256 (RSA 2048+), ES256 (P-256),
/// EdDSA (Ed25519). Never HMAC, never `none`.
pub fn key_algorithms(
    jwk: &jsonwebtoken::jwk::Jwk,
) -> Result<&'static [jsonwebtoken::Algorithm], String> {
    use base64::Engine;
    use jsonwebtoken::Algorithm as A;
    use jsonwebtoken::jwk::{AlgorithmParameters as P, EllipticCurve};
    match &jwk.algorithm {
        P::RSA(rsa) => {
            let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(rsa.n.as_bytes())
                .map_err(|_| "has an RSA modulus that is not base64url".to_owned())?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!(
                    "is an RSA key of {bits} bits; 2048 or more are needed"
                ));
            }
            Ok(&[A::RS256])
        }
        P::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Ok(&[A::ES256]),
        P::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Ok(&[A::EdDSA]),
        _ => Err("must be an RSA, EC P-256 or OKP Ed25519 key".into()),
    }
}

fn rule_text(value: &Value, field: &str, max: usize) -> Parsed<String> {
    let text = value
        .as_str()
        .ok_or_else(|| violation(field, "must be a string"))?;
    if text.is_empty() || text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(violation(
            field,
            format!("must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A claim name or path of an external token (`repository`, `kubernetes.io/namespace`).
fn claim_path(text: &str, field: &str) -> Parsed<String> {
    if text.is_empty()
        || text.len() > 256
        || text.split('/').any(str::is_empty)
        || text.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(violation(
            field,
            "must be a claim name, or a path of names joined by / (kubernetes.io/namespace)",
        ));
    }
    Ok(text.to_owned())
}

/// A `federation` object: `issuer` and `audience` required, and `subject` or `claims` (or
/// both), so that not every workload of the issuer gets in.
pub fn federation(value: &Value, field: &str) -> Parsed<Federation> {
    let object = value
        .as_object()
        .ok_or_else(|| violation(field, "must be an object"))?;
    let mut errors = Vec::new();
    let mut issuer = None;
    let mut audience = None;
    let mut subject = None;
    let mut claims = BTreeMap::new();
    let mut mappings = Vec::new();
    let mut max_age = DEFAULT_MAX_AGE_SECS;
    let keep = |parsed: Parsed<()>, errors: &mut Vec<FieldViolation>| {
        if let Err(mut e) = parsed {
            errors.append(&mut e);
        }
    };
    for (key, v) in object {
        let path = format!("{field}.{key}");
        let parsed: Parsed<()> = match snake(key).as_str() {
            "issuer" => fetch_url(v, &path).map(|u| issuer = Some(u)),
            "audience" => rule_text(v, &path, 512).map(|a| audience = Some(a)),
            "subject" if v.is_null() => Ok(()),
            "subject" => rule_text(v, &path, 512).map(|s| subject = Some(s)),
            "claims" => required_claims(v, &path).map(|c| claims = c),
            "claim_mappings" => claim_mappings(v, &path).map(|m| mappings = m),
            "max_age_seconds" | "max_age_secs" => match v.as_u64() {
                Some(secs @ 60..=86_400) => {
                    max_age = u32::try_from(secs).unwrap_or(DEFAULT_MAX_AGE_SECS);
                    Ok(())
                }
                _ => Err(violation(&path, "must be a number of seconds, 60 to 86400")),
            },
            _ => Err(violation(&path, "is not a known field")),
        };
        keep(parsed, &mut errors);
    }
    if issuer.is_none() && !errors.iter().any(|e| e.field.ends_with(".issuer")) {
        errors.push(FieldViolation::new(
            format!("{field}.issuer"),
            "is required",
        ));
    }
    if audience.is_none() && !errors.iter().any(|e| e.field.ends_with(".audience")) {
        errors.push(FieldViolation::new(
            format!("{field}.audience"),
            "is required",
        ));
    }
    if subject.is_none() && claims.is_empty() && errors.is_empty() {
        errors.push(FieldViolation::new(
            field,
            "needs a subject or claims to match: an issuer and audience alone would let every \
             workload of that issuer in",
        ));
    }
    match (issuer, audience) {
        (Some(issuer), Some(audience)) if errors.is_empty() => Ok(Federation {
            issuer,
            audience,
            subject,
            claims,
            claim_mappings: mappings,
            max_age_secs: max_age,
        }),
        _ => Err(errors),
    }
}

/// Both parts of a rule, or every violation of either appended to `errors`.
fn both<A, B>(a: Parsed<A>, b: Parsed<B>, errors: &mut Vec<FieldViolation>) -> Option<(A, B)> {
    match (a, b) {
        (Ok(a), Ok(b)) => Some((a, b)),
        (a, b) => {
            errors.extend(a.err().into_iter().flatten());
            errors.extend(b.err().into_iter().flatten());
            None
        }
    }
}

fn required_claims(value: &Value, field: &str) -> Parsed<BTreeMap<String, String>> {
    let object = value
        .as_object()
        .ok_or_else(|| violation(field, "must be an object of claim -> required value"))?;
    if object.len() > MAX_RULES {
        return Err(violation(
            field,
            format!("must have at most {MAX_RULES} claims"),
        ));
    }
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (name, v) in object {
        let path = format!("{field}.{name}");
        if let Some((name, v)) = both(
            claim_path(name, &path),
            rule_text(v, &path, 512),
            &mut errors,
        ) {
            out.insert(name, v);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn claim_mappings(value: &Value, field: &str) -> Parsed<Vec<ClaimMapping>> {
    let items = value
        .as_array()
        .ok_or_else(|| violation(field, "must be an array of {\"from\", \"to\"} objects"))?;
    if items.len() > MAX_RULES {
        return Err(violation(
            field,
            format!("must have at most {MAX_RULES} entries"),
        ));
    }
    let mut errors = Vec::new();
    let mut out: Vec<ClaimMapping> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let Some(object) = item.as_object() else {
            errors.push(FieldViolation::new(
                &path,
                "must be an object with \"from\" and \"to\"",
            ));
            continue;
        };
        if let Some(unknown) = object.keys().find(|k| *k != "from" && *k != "to") {
            errors.push(FieldViolation::new(
                format!("{path}.{unknown}"),
                "is not a known field",
            ));
            continue;
        }
        let from = object
            .get("from")
            .and_then(Value::as_str)
            .ok_or_else(|| violation(&format!("{path}.from"), "is required (a string)"))
            .and_then(|f| claim_path(f, &format!("{path}.from")));
        let to = object
            .get("to")
            .and_then(Value::as_str)
            .ok_or_else(|| violation(&format!("{path}.to"), "is required (a string)"))
            .and_then(|t| {
                claim_key(t).map_err(|why| violation(&format!("{path}.to"), why))?;
                Ok(t.to_owned())
            });
        match both(from, to, &mut errors) {
            Some((from, to)) if out.iter().any(|m| m.to == to) => errors.push(FieldViolation::new(
                format!("{path}.to"),
                format!("duplicates an earlier {from:?} -> {to:?}"),
            )),
            Some((from, to)) => out.push(ClaimMapping { from, to }),
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_from_before_kinds_are_secrets() {
        let legacy: Proof = serde_json::from_value(
            json!({"secret_suffix": "abcd", "hash": "$argon2id$x", "id": "sks_1"}),
        )
        .unwrap();
        assert_eq!(legacy.kind(), CredentialKind::ClientSecret);
        let federated = Proof::Federated {
            federation: federation(
                &json!({"issuer": "https://token.actions.githubusercontent.com", "audience": "tokenmint", "claims": {"repository": "acme/app"}}),
                "f",
            )
            .unwrap(),
        };
        let stored = serde_json::to_value(&federated).unwrap();
        assert_eq!(stored["kind"], "federated");
        assert_eq!(serde_json::from_value::<Proof>(stored).unwrap(), federated);
    }

    #[test]
    fn federation_rules_are_checked_and_name_the_field() {
        let err = |v: Value| {
            federation(&v, "federation")
                .unwrap_err()
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.description))
                .collect::<Vec<_>>()
                .join("; ")
        };
        assert!(
            err(json!({"issuer": "https://i", "audience": "a"}))
                .contains("needs a subject or claims")
        );
        assert!(
            err(json!({"issuer": "http://evil.example", "audience": "a", "subject": "s"}))
                .contains("federation.issuer")
        );
        assert!(
            err(json!({"audience": "a", "subject": "s"}))
                .contains("federation.issuer: is required")
        );
        assert!(err(json!({"issuer": "https://i", "audience": "a", "subject": "s", "claimMappings": [{"from": "repository", "to": "sub"}]})).contains("reserved"));
        assert!(
            err(
                json!({"issuer": "https://i", "audience": "a", "subject": "s", "maxAgeSeconds": 5})
            )
            .contains("60 to 86400")
        );
        let ok = federation(
            &json!({"issuer": "http://127.0.0.1:9000", "audience": "a", "claims": {"kubernetes.io/namespace": "prod"}, "claim_mappings": [{"from": "repository", "to": "github_repository"}], "max_age_seconds": 600}),
            "federation",
        )
        .unwrap();
        assert_eq!(ok.max_age_secs, 600);
        let token =
            json!({"kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "deployer"}}});
        assert_eq!(
            claim_at(&token, "kubernetes.io/namespace").as_deref(),
            Some("prod")
        );
        assert_eq!(
            claim_at(&token, "kubernetes.io/serviceaccount/name").as_deref(),
            Some("deployer")
        );
        assert_eq!(
            claim_at(&token, "kubernetes.io"),
            None,
            "objects never match"
        );
    }

    #[test]
    fn only_public_asymmetric_keys_are_accepted() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert!(public_jwk(&ec, "publicKey").is_ok());
        let mut private = ec.clone();
        private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        assert!(
            public_jwk(&private, "publicKey").unwrap_err()[0]
                .field
                .ends_with(".d")
        );
        let hmac = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(public_jwk(&hmac, "publicKey").is_err());
        let mut wrong_alg = ec.clone();
        wrong_alg["alg"] = json!("RS256");
        assert!(public_jwk(&wrong_alg, "publicKey").is_err());
        assert!(fetch_url(&json!("https://keys.example.com/jwks.json"), "u").is_ok());
        assert!(fetch_url(&json!("http://localhost:8080/jwks"), "u").is_ok());
        assert!(fetch_url(&json!("http://10.0.0.1/jwks"), "u").is_err());
        assert!(fetch_url(&json!("https://"), "u").is_err());
    }
}
