//! Parsing a token request (RFC 6749 §4.4, §2.3.1) from its headers and body.
//!
//! The body is `application/x-www-form-urlencoded` or `application/json` with the same
//! keys. A parameter may appear once, except `audience` and `resource`, which may repeat.
//! A parameter without a value counts as absent (RFC 6749 §3.1).
//!
//! The Confidence alias (`POST /v1/oauth/token`) takes a JSON body with the same parameters
//! in camelCase (`clientId`, `clientSecret`, `grantType`, ...): [`Dialect::Confidence`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use super::error::OAuthError;
use crate::crypto::PlainSecret;

/// The `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What proves the client: a secret, or a signed JWT assertion (`private_key_jwt`, or an
/// external issuer's token for a federated credential).
#[derive(Debug)]
pub enum Presented {
    Secret(PlainSecret),
    Assertion(String),
}

/// Who the caller claims to be, and what should prove it.
#[derive(Debug)]
pub struct Credentials {
    pub client_id: String,
    pub proof: Presented,
    /// Presented with HTTP Basic (`client_secret_basic`) rather than in the body.
    pub basic: bool,
}

/// The unverified `sub` of a JWT (the client id of a `private_key_jwt` assertion), when
/// the request names no `client_id`.
fn assertion_subject(assertion: &str) -> Option<String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = assertion.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("sub")?.as_str().map(str::to_owned)
}

impl Credentials {
    /// The presented secret, in tests.
    #[cfg(test)]
    fn secret(&self) -> &PlainSecret {
        match &self.proof {
            Presented::Secret(secret) => secret,
            Presented::Assertion(_) => panic!("an assertion, not a secret"),
        }
    }

    /// The credentials of a request: HTTP Basic (`client_secret_basic`) or `client_id` and
    /// `client_secret` in the body (`client_secret_post`), never both; or a JWT client
    /// assertion (RFC 7523 §2.2): `client_assertion` with `client_assertion_type` =
    /// [`JWT_BEARER`] and no secret, for the client `client_id` names, else the assertion's
    /// `sub`. None is `invalid_client`.
    pub(crate) fn presented(
        basic: Option<(String, String)>,
        body_id: Option<String>,
        body_secret: Option<String>,
        assertion_type: Option<String>,
        assertion: Option<String>,
    ) -> Result<Self, OAuthError> {
        match (assertion_type.as_deref(), assertion) {
            (None, None) => {}
            (Some(JWT_BEARER), Some(assertion)) => {
                if basic.is_some() || body_secret.is_some() {
                    return Err(OAuthError::InvalidRequest(
                        "send either a client secret or a client assertion, not both".into(),
                    ));
                }
                let client_id = body_id
                    .or_else(|| assertion_subject(&assertion))
                    .ok_or(OAuthError::InvalidClient { basic: false })?;
                return Ok(Self {
                    client_id,
                    proof: Presented::Assertion(assertion),
                    basic: false,
                });
            }
            (Some(JWT_BEARER), None) => {
                return Err(OAuthError::InvalidRequest(
                    "client_assertion is required with client_assertion_type".into(),
                ));
            }
            (_, _) => {
                return Err(OAuthError::InvalidRequest(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
        }
        match (basic, body_id, body_secret) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
                "send client credentials either with HTTP Basic or in the body, not both".into(),
            )),
            (Some((client_id, secret)), None, None) => Ok(Self {
                client_id,
                proof: Presented::Secret(PlainSecret::from_presented(secret)),
                basic: true,
            }),
            (None, Some(client_id), Some(secret)) => Ok(Self {
                client_id,
                proof: Presented::Secret(PlainSecret::from_presented(secret)),
                basic: false,
            }),
            (None, _, _) => Err(OAuthError::InvalidClient { basic: false }),
        }
    }
}

/// The grants this endpoint issues tokens for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantType {
    ClientCredentials,
}

impl GrantType {
    /// `unsupported_grant_type` for anything else; the value is not echoed (errors are
    /// logged, and a confused client may have put anything there).
    fn parse(value: &str) -> Result<Self, OAuthError> {
        match value {
            "client_credentials" => Ok(Self::ClientCredentials),
            _ => Err(OAuthError::UnsupportedGrantType(
                "this grant_type is not supported; use client_credentials".into(),
            )),
        }
    }
}

#[derive(Debug)]
pub struct TokenRequest {
    pub grant_type: GrantType,
    pub credentials: Credentials,
    pub scope: Option<String>,
    /// `audience` values (space-delimited or repeated) and RFC 8707 `resource` values.
    pub targets: Vec<String>,
    pub environment: Option<String>,
}

/// How a token request names its parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 6749: form or JSON, snake_case names.
    OAuth,
    /// Confidence's SDKs: JSON only, camelCase names.
    Confidence,
}

impl Dialect {
    /// The RFC 6749 name of a JSON member in this dialect (`None`: not a parameter).
    fn parameter(self, member: &str) -> Option<&'static str> {
        match self {
            Self::OAuth => KNOWN.iter().find(|k| **k == member).copied(),
            Self::Confidence => CAMEL
                .iter()
                .find(|(camel, _)| *camel == member)
                .map(|(_, known)| *known),
        }
    }
}

/// Confidence's names of the parameters of [`KNOWN`].
const CAMEL: &[(&str, &str)] = &[
    ("grantType", "grant_type"),
    ("clientId", "client_id"),
    ("clientSecret", "client_secret"),
    ("scope", "scope"),
    ("audience", "audience"),
    ("resource", "resource"),
    ("environment", "environment"),
    ("clientAssertionType", "client_assertion_type"),
    ("clientAssertion", "client_assertion"),
];

const REPEATABLE: &[&str] = &["audience", "resource"];
const KNOWN: &[&str] = &[
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "audience",
    "resource",
    "environment",
    "client_assertion_type",
    "client_assertion",
];

fn invalid(why: impl Into<String>) -> OAuthError {
    OAuthError::InvalidRequest(why.into())
}

/// `application/x-www-form-urlencoded` body into (name, value) pairs.
fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    // Reject bytes that are not valid UTF-8 once percent-decoded, rather than guessing.
    let mut pairs = Vec::new();
    for (name, value) in form_urlencoded::parse(body) {
        if name.contains('\u{FFFD}') || value.contains('\u{FFFD}') {
            return Err(invalid("the body is not valid UTF-8 once percent-decoded"));
        }
        pairs.push((name.into_owned(), value.into_owned()));
    }
    Ok(pairs)
}

/// A JSON object's members in order, repeats kept (serde_json's map keeps the last).
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// JSON object body into (name, value) pairs; arrays are allowed for repeatable keys. As in
/// a form, a key may appear once (JSON with repeated keys is ambiguous: RFC 8259 §4), and
/// members this endpoint does not know are ignored whatever their type.
fn json_pairs(body: &[u8], dialect: Dialect) -> Result<Vec<(String, String)>, OAuthError> {
    let Members(members) = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            invalid("the JSON body must be an object")
        } else {
            invalid("the body is not valid JSON")
        }
    })?;
    let mut pairs = Vec::new();
    for (index, (name, value)) in members.iter().enumerate() {
        if members[..index].iter().any(|(earlier, _)| earlier == name) {
            return Err(invalid(format!("parameter {name} is repeated")));
        }
        let Some(parameter) = dialect.parameter(name) else {
            continue; // RFC 6749 §3.2: unrecognised parameters are ignored.
        };
        match value {
            Value::String(s) => pairs.push((parameter.to_owned(), s.clone())),
            Value::Null => {}
            Value::Array(items) if REPEATABLE.contains(&parameter) => {
                for item in items {
                    let Value::String(s) = item else {
                        return Err(invalid(format!(
                            "{name} must be a string or an array of strings"
                        )));
                    };
                    pairs.push((parameter.to_owned(), s.clone()));
                }
            }
            _ => return Err(invalid(format!("{name} must be a string"))),
        }
    }
    Ok(pairs)
}

/// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))`, or `None` when the
/// header is absent or of another scheme (a stale `Bearer` token is ignored here).
pub(crate) fn basic_credentials(
    authorization: Option<&str>,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = authorization else {
        return Ok(None);
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || OAuthError::InvalidClient { basic: true };
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: each part is form-urlencoded (`+` is a space, `%XX` a byte). Other
    // characters, `&` and `=` included, stand for themselves: many clients send them raw.
    let unescape = |part: &str| -> Result<String, OAuthError> {
        percent_encoding::percent_decode_str(&part.replace('+', " "))
            .decode_utf8()
            .map(|text| text.into_owned())
            .map_err(|_| bad())
    };
    Ok(Some((unescape(id)?, unescape(secret)?)))
}

/// Whether the media type (parameters ignored) is `expected`.
fn is_media_type(content_type: &str, expected: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

impl TokenRequest {
    pub fn parse(
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Self, OAuthError> {
        Self::parse_as(Dialect::OAuth, content_type, authorization, body)
    }

    pub fn parse_as(
        dialect: Dialect,
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Self, OAuthError> {
        let content_type = content_type.unwrap_or("");
        let json = is_media_type(content_type, "application/json");
        let pairs = if dialect == Dialect::Confidence {
            if !json {
                return Err(invalid("Content-Type must be application/json"));
            }
            json_pairs(body, dialect)?
        } else if is_media_type(content_type, "application/x-www-form-urlencoded") {
            form_pairs(body)?
        } else if json {
            json_pairs(body, dialect)?
        } else {
            return Err(invalid(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            ));
        };

        // One slot per parameter of KNOWN that may appear once.
        let mut single: [Option<String>; KNOWN.len()] = Default::default();
        let mut targets = Vec::new();
        for (name, value) in pairs {
            let Some(index) = KNOWN.iter().position(|k| *k == name) else {
                continue; // RFC 6749 §3.2: unrecognised parameters are ignored.
            };
            let known = KNOWN[index];
            if REPEATABLE.contains(&known) {
                targets.extend(
                    value
                        .split(' ')
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned),
                );
            } else if value.is_empty() {
                continue;
            } else if single[index].replace(value).is_some() {
                return Err(invalid(format!("parameter {known} is repeated")));
            }
        }
        let mut take = |name: &str| {
            KNOWN
                .iter()
                .position(|k| *k == name)
                .and_then(|index| single[index].take())
        };

        let basic = basic_credentials(authorization)?;
        let body_id = take("client_id");
        let body_secret = take("client_secret");
        let (assertion_type, assertion) = (take("client_assertion_type"), take("client_assertion"));
        let credentials =
            Credentials::presented(basic, body_id, body_secret, assertion_type, assertion)?;
        let grant_type = take("grant_type").ok_or_else(|| match dialect {
            Dialect::OAuth => invalid("grant_type is required"),
            Dialect::Confidence => invalid("grantType is required"),
        })?;
        let grant_type = GrantType::parse(&grant_type)?;
        Ok(Self {
            grant_type,
            credentials,
            scope: take("scope"),
            targets,
            environment: take("environment"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn body_credentials_and_repeated_targets_parse() {
        let body = b"grant_type=client_credentials&client_id=m2m_1&client_secret=s%2B1&audience=a+b&resource=c&audience=d";
        let request = TokenRequest::parse(FORM, None, body).unwrap();
        assert_eq!(request.credentials.client_id, "m2m_1");
        assert_eq!(request.credentials.secret().expose(), "s+1");
        assert!(!request.credentials.basic);
        assert_eq!(request.targets, ["a", "b", "c", "d"]);
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_other_schemes_ignored() {
        let auth = basic("m2m%5F1", "a%3Ab+c");
        let request =
            TokenRequest::parse(FORM, Some(&auth), b"grant_type=client_credentials").unwrap();
        assert_eq!(
            (
                request.credentials.client_id.as_str(),
                request.credentials.secret().expose()
            ),
            ("m2m_1", "a:b c")
        );
        assert!(request.credentials.basic);
        let body = b"grant_type=client_credentials&client_id=x&client_secret=y";
        assert!(TokenRequest::parse(FORM, Some("Bearer stale.token"), body).is_ok());
        // An admin-chosen secret may hold reserved characters, sent unencoded.
        let auth = basic("m2m_1", "a&b=c;d%21");
        let request =
            TokenRequest::parse(FORM, Some(&auth), b"grant_type=client_credentials").unwrap();
        assert_eq!(request.credentials.secret().expose(), "a&b=c;d!");
        let auth = basic("m2m_1", "bad%FFutf8");
        assert!(TokenRequest::parse(FORM, Some(&auth), b"grant_type=client_credentials").is_err());
    }

    #[test]
    fn json_bodies_take_the_same_keys() {
        let body = br#"{"grant_type":"client_credentials","client_id":"x","client_secret":"y","audience":["a","b"]}"#;
        let request =
            TokenRequest::parse(Some("application/json; charset=utf-8"), None, body).unwrap();
        assert_eq!(request.targets, ["a", "b"]);
        // Unknown members of any type are ignored, as in a form.
        let body = br#"{"grant_type":"client_credentials","client_id":"x","client_secret":"y","extra":{"a":1},"n":5,"l":[1]}"#;
        assert!(TokenRequest::parse(Some("application/json"), None, body).is_ok());
    }

    #[test]
    fn the_confidence_dialect_takes_camel_case_json_only() {
        let body = br#"{"grantType":"client_credentials","clientId":"x","clientSecret":"y","scope":"read"}"#;
        let request =
            TokenRequest::parse_as(Dialect::Confidence, Some("application/json"), None, body)
                .unwrap();
        assert_eq!(request.credentials.client_id, "x");
        assert_eq!(request.scope.as_deref(), Some("read"));
        let snake = br#"{"grant_type":"client_credentials","client_id":"x","client_secret":"y"}"#;
        let refused = |content_type, body: &[u8]| {
            TokenRequest::parse_as(Dialect::Confidence, Some(content_type), None, body)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            refused("application/json", snake),
            "client authentication failed"
        );
        let form = b"grant_type=client_credentials&client_id=x&client_secret=y";
        assert!(refused("application/x-www-form-urlencoded", form).contains("application/json"));
        let no_grant = br#"{"clientId":"x","clientSecret":"y"}"#;
        assert!(refused("application/json", no_grant).contains("grantType is required"));
    }

    #[test]
    fn malformed_requests_are_refused_with_the_right_error() {
        let both = basic("x", "y");
        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8], &'a str);
        let cases: Vec<Case> = vec![
            (
                "both auth methods",
                FORM,
                Some(&both),
                b"grant_type=client_credentials&client_id=x",
                "invalid_request",
            ),
            (
                "repeated scope",
                FORM,
                None,
                b"grant_type=client_credentials&client_id=x&client_secret=y&scope=a&scope=b",
                "invalid_request",
            ),
            (
                "another grant type",
                FORM,
                None,
                b"grant_type=password&client_id=x&client_secret=y",
                "unsupported_grant_type",
            ),
            (
                "no grant_type",
                FORM,
                None,
                b"client_id=x&client_secret=y",
                "invalid_request",
            ),
            (
                "no credentials",
                FORM,
                None,
                b"grant_type=client_credentials",
                "invalid_client",
            ),
            (
                "id without secret",
                FORM,
                None,
                b"grant_type=client_credentials&client_id=x",
                "invalid_client",
            ),
            (
                "bad basic base64",
                FORM,
                Some("Basic !!!"),
                b"grant_type=client_credentials",
                "invalid_client",
            ),
            (
                "basic without colon",
                FORM,
                Some("Basic eHl6"),
                b"grant_type=client_credentials",
                "invalid_client",
            ),
            (
                "wrong content type",
                Some("text/plain"),
                None,
                b"grant_type=client_credentials",
                "invalid_request",
            ),
            (
                "no content type",
                None,
                None,
                b"grant_type=client_credentials",
                "invalid_request",
            ),
            (
                "invalid utf-8",
                FORM,
                None,
                b"grant_type=client_credentials&client_id=%FF&client_secret=y",
                "invalid_request",
            ),
            (
                "json not object",
                Some("application/json"),
                None,
                b"[1]",
                "invalid_request",
            ),
            (
                "json repeated key",
                Some("application/json"),
                None,
                br#"{"grant_type":"client_credentials","client_id":"x","client_secret":"y","client_id":"z"}"#,
                "invalid_request",
            ),
            (
                "json repeated unknown key",
                Some("application/json"),
                None,
                br#"{"grant_type":"client_credentials","client_id":"x","client_secret":"y","x":1,"x":2}"#,
                "invalid_request",
            ),
            (
                "json number",
                Some("application/json"),
                None,
                br#"{"grant_type":5}"#,
                "invalid_request",
            ),
        ];
        for (case, content_type, auth, body, code) in cases {
            let err = TokenRequest::parse(content_type, auth, body).expect_err(case);
            let got = match err {
                OAuthError::InvalidRequest(_) => "invalid_request",
                OAuthError::InvalidClient { .. } => "invalid_client",
                OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
                _ => "other",
            };
            assert_eq!(got, code, "case: {case}");
        }
    }
}
