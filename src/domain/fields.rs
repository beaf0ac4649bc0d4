//! One parser per client or secret field. Each takes untrusted JSON and returns the value
//! the model stores, or every [`FieldViolation`] it found, each naming the exact field
//! (`scopes[1]`, `custom_claims[0].key`) so an admin can fix all of them in one go.
//!
//! The rules are the contract's (`api.md` §1); lengths count Unicode scalar values.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::client::{CustomClaim, Labels, SdkType, SecretStatus};
use super::grants::{Audience, Environments, Expiry, ScopeSet};
use super::time::Timestamp;

/// One thing wrong with one field of a request, in the AIP-193 `details` shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// A parser's answer: the value, or everything wrong with it.
pub type Parsed<T> = Result<T, Vec<FieldViolation>>;

/// Claim names a custom claim may not use: they are set by tokenmint itself or carry
/// meaning to verifiers that an admin-supplied string must not fake.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "scope",
    "scopes",
    "client_id",
    "credential_id",
    "scp",
    "oid",
    "typ",
    "azp",
    "cnf",
    "act",
    "may_act",
    "auth_time",
    "acr",
    "amr",
    "environments",
];

pub const MAX_SCOPES: usize = 100;
pub const MAX_AUDIENCE: usize = 20;
pub const MAX_CUSTOM_CLAIMS: usize = 50;
pub const MAX_LABELS: usize = 64;
pub const MAX_ENVIRONMENTS: usize = 50;

/// Token lifetime bounds, from configuration.
#[derive(Clone, Copy, Debug)]
pub struct ExpiryBounds {
    pub min: u32,
    pub max: u32,
    pub default: u32,
}

/// `fooBar` → `foo_bar`; snake_case passes through (how the `/v1` face, and nested objects
/// on both faces, match the names they accept in either case). By hand rather than with
/// `heck`: heck also turns punctuation into word breaks (`display-name`, `expire$time` would
/// become field names), and an update mask must name its fields exactly (AIP-161).
pub fn snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn one(field: &str, description: impl Into<String>) -> Vec<FieldViolation> {
    vec![FieldViolation::new(field, description)]
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

fn as_str<'a>(value: &'a Value, field: &str) -> Parsed<&'a str> {
    value.as_str().ok_or_else(|| one(field, "must be a string"))
}

fn bounded_text(
    value: &Value,
    field: &str,
    min: usize,
    max: usize,
    controls: bool,
) -> Parsed<String> {
    let text = as_str(value, field)?;
    let len = char_len(text);
    if len < min || len > max {
        let rule = if min == 0 {
            format!("must be at most {max} characters (got {len})")
        } else {
            format!("must be {min} to {max} characters (got {len})")
        };
        return Err(one(field, rule));
    }
    if !controls && text.chars().any(char::is_control) {
        return Err(one(field, "must not contain control characters"));
    }
    Ok(text.to_owned())
}

/// Characters that make a name display as something it is not: bidirectional embeddings,
/// overrides and isolates (U+202A-202E, U+2066-2069, the marks U+200E, U+200F, U+061C), and
/// invisible ones (zero-width space, joiners, word joiner, BOM, soft hyphen).
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}'
        | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}')
}

/// A name people read in consoles and logs: `min..=256` characters, not only whitespace,
/// no control, bidirectional-override or zero-width characters.
fn name(value: &Value, field: &str, min: usize) -> Parsed<String> {
    let text = bounded_text(value, field, min, 256, false)?;
    if !text.is_empty() && text.trim().is_empty() {
        return Err(one(field, "must not consist only of whitespace"));
    }
    if text.chars().any(is_deceptive) {
        return Err(one(
            field,
            "must not contain bidirectional-control or zero-width characters",
        ));
    }
    Ok(text)
}

/// Client name (`name` / `displayName`): 1..=256 characters (see `name`).
pub fn client_name(value: &Value, field: &str) -> Parsed<String> {
    name(value, field, 1)
}

/// Client description: up to 2048 characters; line breaks allowed.
pub fn description(value: &Value, field: &str) -> Parsed<String> {
    let text = bounded_text(value, field, 0, 2048, true)?;
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(one(
            field,
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(text)
}

/// Credential display name: 1..=256 characters (see `name`); it cannot be emptied.
pub fn secret_display_name(value: &Value, field: &str) -> Parsed<String> {
    name(value, field, 1)
}

/// A list of distinct strings, each checked by `item`; all failures are reported.
fn string_list(
    value: &Value,
    field: &str,
    max_items: usize,
    item: impl Fn(&str) -> Result<(), String>,
) -> Parsed<Vec<String>> {
    let items = value
        .as_array()
        .ok_or_else(|| one(field, "must be an array of strings"))?;
    if items.len() > max_items {
        return Err(one(
            field,
            format!(
                "must have at most {max_items} entries (got {})",
                items.len()
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, entry) in items.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let Some(text) = entry.as_str() else {
            errors.push(FieldViolation::new(path, "must be a string"));
            continue;
        };
        if let Err(why) = item(text) {
            errors.push(FieldViolation::new(path, why));
        } else if !seen.insert(text) {
            errors.push(FieldViolation::new(
                path,
                format!("duplicates an earlier entry {text:?}"),
            ));
        } else {
            out.push(text.to_owned());
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn length_rule(text: &str, max: usize) -> Result<(), String> {
    let len = char_len(text);
    if len == 0 || len > max {
        return Err(format!("must be 1 to {max} characters (got {len})"));
    }
    Ok(())
}

/// RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`, 1..=256 characters.
pub fn scope_token(text: &str) -> Result<(), String> {
    length_rule(text, 256)?;
    if text
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    {
        Ok(())
    } else {
        Err("must be printable ASCII without spaces, '\"' or '\\' (RFC 6749 scope-token)".into())
    }
}

pub fn scopes(value: &Value, field: &str) -> Parsed<ScopeSet> {
    string_list(value, field, MAX_SCOPES, scope_token).map(ScopeSet::from_checked)
}

/// An audience value: 1..=2048 characters, no whitespace or control characters.
fn audience_value(text: &str) -> Result<(), String> {
    length_rule(text, 2048)?;
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain whitespace or control characters".into());
    }
    Ok(())
}

pub fn audience(value: &Value, field: &str) -> Parsed<Audience> {
    string_list(value, field, MAX_AUDIENCE, audience_value).map(Audience::from_checked)
}

/// Secret environments: up to 50 distinct names of 1..=256 characters without whitespace.
pub fn environments(value: &Value, field: &str) -> Parsed<Environments> {
    string_list(value, field, MAX_ENVIRONMENTS, |text| {
        length_rule(text, 256)?;
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("must not contain whitespace or control characters".into());
        }
        Ok(())
    })
    .map(Environments::from_checked)
}

/// `[A-Za-z_][A-Za-z0-9_.:-]{0,127}` and not a reserved claim name.
pub fn claim_key(key: &str) -> Result<(), String> {
    let mut bytes = key.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    let rest_ok =
        bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if !first_ok || !rest_ok || key.len() > 128 {
        return Err("must match [A-Za-z_][A-Za-z0-9_.:-]{0,127}".into());
    }
    if RESERVED_CLAIMS.contains(&key) {
        return Err(format!("{key:?} is a reserved claim name"));
    }
    Ok(())
}

/// `[{key, value}]`: up to 50 claims, unique keys, values up to 1024 characters without
/// control characters (verifiers compare and log them).
pub fn custom_claims(value: &Value, field: &str) -> Parsed<Vec<CustomClaim>> {
    let items = value
        .as_array()
        .ok_or_else(|| one(field, "must be an array of {\"key\", \"value\"} objects"))?;
    if items.len() > MAX_CUSTOM_CLAIMS {
        return Err(one(
            field,
            format!(
                "must have at most {MAX_CUSTOM_CLAIMS} entries (got {})",
                items.len()
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, entry) in items.iter().enumerate() {
        let path = format!("{field}[{i}]");
        let Some(object) = entry.as_object() else {
            errors.push(FieldViolation::new(
                path,
                "must be an object with \"key\" and \"value\"",
            ));
            continue;
        };
        if let Some(unknown) = object.keys().find(|k| *k != "key" && *k != "value") {
            errors.push(FieldViolation::new(
                format!("{path}.{unknown}"),
                "is not a known field",
            ));
        }
        let key = match object.get("key").map(|k| as_str(k, &format!("{path}.key"))) {
            None => {
                errors.push(FieldViolation::new(format!("{path}.key"), "is required"));
                None
            }
            Some(Err(mut e)) => {
                errors.append(&mut e);
                None
            }
            Some(Ok(key)) => match claim_key(key) {
                Err(why) => {
                    errors.push(FieldViolation::new(format!("{path}.key"), why));
                    None
                }
                Ok(()) if !seen.insert(key.to_owned()) => {
                    errors.push(FieldViolation::new(
                        format!("{path}.key"),
                        format!("duplicates an earlier key {key:?}"),
                    ));
                    None
                }
                Ok(()) => Some(key.to_owned()),
            },
        };
        let value = match object.get("value") {
            None | Some(Value::Null) => Some(String::new()),
            Some(v) => match bounded_text(v, &format!("{path}.value"), 0, 1024, false) {
                Ok(v) => Some(v),
                Err(mut e) => {
                    errors.append(&mut e);
                    None
                }
            },
        };
        if let (Some(key), Some(value)) = (key, value) {
            out.push(CustomClaim { key, value });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Token lifetime in seconds, as a JSON number or a numeric string, within the bounds.
pub fn expiry(value: &Value, field: &str, bounds: ExpiryBounds) -> Parsed<Expiry> {
    let seconds = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    let rule = format!(
        "must be a whole number of seconds from {} to {}",
        bounds.min, bounds.max
    );
    match seconds {
        Some(s) if (u64::from(bounds.min)..=u64::from(bounds.max)).contains(&s) => Ok(
            Expiry::from_secs(u32::try_from(s).expect("bounded by a u32")),
        ),
        Some(s) => Err(one(field, format!("{rule} (got {s})"))),
        None => Err(one(field, rule)),
    }
}

/// `{key: value}`: up to 64 labels, keys `[a-z0-9_-]{1,63}`, values up to 256 characters.
pub fn labels(value: &Value, field: &str) -> Parsed<Labels> {
    let object = value
        .as_object()
        .ok_or_else(|| one(field, "must be an object of string values"))?;
    if object.len() > MAX_LABELS {
        return Err(one(
            field,
            format!(
                "must have at most {MAX_LABELS} entries (got {})",
                object.len()
            ),
        ));
    }
    let mut errors = Vec::new();
    let mut out = BTreeMap::new();
    for (key, entry) in object {
        let path = format!("{field}.{key}");
        let key_ok = (1..=63).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !key_ok {
            errors.push(FieldViolation::new(
                path,
                "label keys must match [a-z0-9_-]{1,63}",
            ));
            continue;
        }
        match bounded_text(entry, &path, 0, 256, false) {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Labels::checked(out))
    } else {
        Err(errors)
    }
}

pub fn sdk_type(value: &Value, field: &str) -> Parsed<SdkType> {
    match as_str(value, field)? {
        "SDK_TYPE_UNSPECIFIED" => Ok(SdkType::Unspecified),
        "BACKEND" => Ok(SdkType::Backend),
        "FRONTEND" => Ok(SdkType::Frontend),
        _ => Err(one(
            field,
            "must be one of SDK_TYPE_UNSPECIFIED, BACKEND, FRONTEND",
        )),
    }
}

pub fn status(value: &Value, field: &str) -> Parsed<SecretStatus> {
    match as_str(value, field)? {
        "ACTIVE" => Ok(SecretStatus::Active),
        "INACTIVE" => Ok(SecretStatus::Inactive),
        _ => Err(one(field, "must be ACTIVE or INACTIVE")),
    }
}

pub fn timestamp(value: &Value, field: &str) -> Parsed<Timestamp> {
    Timestamp::parse(as_str(value, field)?).map_err(|why| one(field, why))
}

/// A replacement plain secret supplied by an admin: 32..=256 printable ASCII characters.
pub fn plain_secret(value: &Value, field: &str) -> Parsed<String> {
    let text = as_str(value, field)?;
    if !(32..=256).contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(one(
            field,
            "must be 32 to 256 printable ASCII characters without spaces",
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BOUNDS: ExpiryBounds = ExpiryBounds {
        min: 60,
        max: 86_400,
        default: 3600,
    };

    fn fields(result: Parsed<impl std::fmt::Debug>) -> Vec<String> {
        result
            .expect_err("accepted")
            .into_iter()
            .map(|v| v.field)
            .collect()
    }

    #[test]
    fn names_must_be_short_printable_text() {
        assert_eq!(
            client_name(&json!("Deploy bot"), "name"),
            Ok("Deploy bot".into())
        );
        for (case, bad) in [
            ("empty", json!("")),
            ("too long", json!("x".repeat(257))),
            ("control char", json!("a\u{7}b")),
            ("not a string", json!(42)),
            ("only spaces", json!("   ")),
            ("only a tab-like space", json!("\u{3000}")),
            ("bidi override", json!("invoice\u{202E}fdp.exe")),
            ("bidi isolate", json!("a\u{2066}b")),
            ("zero-width space", json!("ad\u{200B}min")),
            ("zero-width joiner", json!("a\u{200D}b")),
            ("byte order mark", json!("\u{FEFF}admin")),
        ] {
            assert_eq!(fields(client_name(&bad, "name")), ["name"], "case: {case}");
            assert_eq!(
                fields(secret_display_name(&bad, "displayName")),
                ["displayName"],
                "case: {case}"
            );
        }
        assert_eq!(
            fields(secret_display_name(&json!(""), "displayName")),
            ["displayName"]
        );
        assert!(client_name(&json!(" spaced name "), "name").is_ok());
        assert!(
            client_name(&json!("é".repeat(256)), "name").is_ok(),
            "length counts characters"
        );
    }

    #[test]
    fn scopes_report_every_bad_entry_by_index() {
        let bad = json!(["ok:scope", "has space", "ok:scope", "quote\"", "", 7]);
        assert_eq!(
            fields(scopes(&bad, "scopes")),
            [
                "scopes[1]",
                "scopes[2]",
                "scopes[3]",
                "scopes[4]",
                "scopes[5]"
            ]
        );
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}")).collect();
        assert_eq!(fields(scopes(&json!(many), "scopes")), ["scopes"]);
        assert_eq!(fields(scopes(&json!("read"), "scopes")), ["scopes"]);
    }

    #[test]
    fn audience_values_have_no_whitespace() {
        assert!(audience(&json!(["https://api.example.com/x"]), "audience").is_ok());
        assert_eq!(
            fields(audience(&json!(["a b", "x".repeat(2049)]), "audience")),
            ["audience[0]", "audience[1]"]
        );
    }

    #[test]
    fn custom_claims_reject_reserved_malformed_and_duplicate_keys() {
        let ok = json!([{"key": "environment", "value": "production"}, {"key": "svc.name", "value": ""}]);
        assert_eq!(custom_claims(&ok, "c").unwrap().len(), 2);
        let bad = json!([
            {"key": "sub", "value": "x"},
            {"key": "1abc", "value": "x"},
            {"key": "dup", "value": "x"},
            {"key": "dup", "value": "y"},
            {"key": "long", "value": "v".repeat(1025)},
            {"key": "nul", "value": "a\u{0}b"},
            {"key": "esc", "value": "\u{1b}[31mred"},
            {"key": "scp", "value": "admin"},
            {"key": "credential_id", "value": "sks_1"},
            {"value": "no key"},
            {"key": "k", "value": "v", "extra": 1},
            "not an object"
        ]);
        assert_eq!(
            fields(custom_claims(&bad, "c")),
            [
                "c[0].key",
                "c[1].key",
                "c[3].key",
                "c[4].value",
                "c[5].value",
                "c[6].value",
                "c[7].key",
                "c[8].key",
                "c[9].key",
                "c[10].extra",
                "c[11]"
            ]
        );
    }

    #[test]
    fn expiry_accepts_numbers_and_numeric_strings_within_bounds() {
        let secs = |v| expiry(&v, "expiry", BOUNDS).map(Expiry::secs);
        assert_eq!(secs(json!(3600)), Ok(3600));
        assert_eq!(secs(json!("7200")), Ok(7200));
        for bad in [
            json!(59),
            json!(86_401),
            json!(-5),
            json!(1.5),
            json!("soon"),
            json!(null),
            json!(true),
        ] {
            assert!(expiry(&bad, "expiry", BOUNDS).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn labels_need_lowercase_keys_and_short_string_values() {
        assert!(labels(&json!({"team": "infra", "tier-1": ""}), "labels").is_ok());
        assert_eq!(
            fields(labels(
                &json!({"Team": "x", "ok": 5, "v": "x".repeat(257)}),
                "labels"
            )),
            ["labels.Team", "labels.ok", "labels.v"]
        );
        assert_eq!(fields(labels(&json!(["a"]), "labels")), ["labels"]);
    }

    #[test]
    fn enums_and_plain_secrets_are_checked() {
        assert_eq!(sdk_type(&json!("BACKEND"), "s"), Ok(SdkType::Backend));
        assert!(sdk_type(&json!("backend"), "s").is_err());
        assert_eq!(status(&json!("INACTIVE"), "s"), Ok(SecretStatus::Inactive));
        assert!(plain_secret(&json!("short"), "s").is_err());
        assert!(plain_secret(&json!("x".repeat(32)), "s").is_ok());
        assert!(plain_secret(&json!(format!("{} ", "x".repeat(32))), "s").is_err());
    }
}
