//! Property tests: every parser of untrusted input, fed arbitrary input, answers without
//! panicking, and every refusal names a field and says what is wrong.

use proptest::prelude::*;
use serde_json::{Map, Value};

use crate::admin::{org, paging, v1};
use crate::domain::fields::{self, Parsed};
use crate::domain::{ClientId, ExpiryBounds, FieldViolation, OrganizationId, SecretId, Timestamp};
use crate::oauth::{OAuthError, TokenRequest};

const BOUNDS: ExpiryBounds = ExpiryBounds {
    min: 60,
    max: 86_400,
    default: 3600,
};

/// Arbitrary JSON, nested a few levels, with strings that include tricky characters.
fn json() -> impl Strategy<Value = Value> {
    let text = prop_oneof![any::<String>(), "[ -~]{0,40}", "[a-z_:.\\-]{0,12}"];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text.prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z_]{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An object whose keys are mostly real field names of either face.
fn body() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "name",
            "displayName",
            "description",
            "scopes",
            "audience",
            "custom_claims",
            "customClaims",
            "expiry",
            "labels",
            "environments",
            "sdkType",
            "status",
            "clientSecret",
            "expireTime",
            "createTime",
            "client_id",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z_]{1,10}",
    ];
    prop::collection::btree_map(key, json(), 0..8).prop_map(|m| m.into_iter().collect())
}

fn well_formed(violations: &[FieldViolation]) -> bool {
    !violations.is_empty()
        && violations
            .iter()
            .all(|v| !v.field.is_empty() && !v.description.is_empty())
}

fn check<T>(parsed: Parsed<T>) -> Result<(), TestCaseError> {
    if let Err(violations) = parsed {
        prop_assert!(well_formed(&violations), "{violations:?}");
    }
    Ok(())
}

fn admin_check<T>(parsed: Result<T, crate::admin::AdminError>) -> Result<(), TestCaseError> {
    if let Err(error) = parsed {
        prop_assert!(!error.to_string().is_empty());
        if let crate::admin::AdminError::InvalidArgument { details, .. } = error {
            prop_assert!(well_formed(&details), "{details:?}");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn field_parsers_never_panic_and_always_name_the_field(value in json()) {
        check(fields::client_name(&value, "f"))?;
        check(fields::description(&value, "f"))?;
        check(fields::secret_display_name(&value, "f"))?;
        check(fields::scopes(&value, "f"))?;
        check(fields::audience(&value, "f"))?;
        check(fields::environments(&value, "f"))?;
        check(fields::custom_claims(&value, "f"))?;
        check(fields::expiry(&value, "f", BOUNDS))?;
        check(fields::labels(&value, "f"))?;
        check(fields::sdk_type(&value, "f"))?;
        check(fields::status(&value, "f"))?;
        check(fields::timestamp(&value, "f"))?;
        check(fields::plain_secret(&value, "f"))?;
    }

    #[test]
    fn accepted_values_satisfy_their_rules(value in json()) {
        if let Ok(scopes) = fields::scopes(&value, "f") {
            prop_assert!(scopes.as_slice().len() <= fields::MAX_SCOPES);
            prop_assert!(scopes.as_slice().iter().all(|s| fields::scope_token(s).is_ok()));
        }
        if let Ok(claims) = fields::custom_claims(&value, "f") {
            prop_assert!(claims.iter().all(|c| fields::claim_key(&c.key).is_ok()));
        }
        if let Ok(expiry) = fields::expiry(&value, "f", BOUNDS) {
            prop_assert!((BOUNDS.min..=BOUNDS.max).contains(&expiry.secs()));
        }
    }

    #[test]
    fn id_time_and_paging_parsers_never_panic(text in any::<String>(), raw in "[ -~]{0,60}") {
        for input in [text.as_str(), raw.as_str()] {
            let _ = ClientId::parse(input);
            let _ = SecretId::parse(input);
            let _ = OrganizationId::parse(input);
            let _ = Timestamp::parse(input);
            let _ = paging::page_size(Some(input), "pageSize");
            if let Err(e) = paging::decode(input, "pageToken") {
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn both_faces_parse_any_body_and_mask_without_panicking(
        body in body(),
        mask in prop_oneof![Just(None), "[a-zA-Z_.,* ]{0,40}".prop_map(Some)],
        creating in any::<bool>(),
    ) {
        admin_check(org::parse_client(&body, creating, BOUNDS))?;
        admin_check(v1::parse_client(&body, creating, mask.as_deref(), BOUNDS))?;
        admin_check(v1::parse_credential(&body, creating, mask.as_deref()))?;
    }

    #[test]
    fn the_token_request_parser_answers_any_bytes_with_a_clear_error(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            "[a-z_=&%+0-9A-F]{0,200}".prop_map(String::into_bytes),
        ],
        content_type in prop::sample::select(vec![
            "", "application/x-www-form-urlencoded", "application/json",
            "application/json; charset=utf-8", "text/plain", "multipart/form-data",
        ]),
        authorization in prop_oneof![
            Just(None),
            any::<String>().prop_map(|s| Some(format!("Basic {s}"))),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| {
                use base64::Engine;
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(b)))
            }),
            "[%:+a-zA-Z0-9]{0,40}".prop_map(|s| {
                use base64::Engine;
                Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s)))
            }),
            Just(Some("Bearer stale".to_owned())),
        ],
    ) {
        let content_type = (!content_type.is_empty()).then_some(content_type);
        if let Err(error) = TokenRequest::parse(content_type, authorization.as_deref(), &body) {
            prop_assert!(!error.to_string().is_empty());
            let expected = matches!(error, OAuthError::InvalidRequest(_) | OAuthError::InvalidClient { .. });
            prop_assert!(expected, "unexpected error kind: {:?}", error);
        }
    }
}
