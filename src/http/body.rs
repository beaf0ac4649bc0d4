//! Request bodies and preconditions for the admin faces: JSON objects only, at most the
//! configured size, and `If-Match` against the `ETag` (`"<version>"`) of a client.

use actix_web::HttpRequest;
use actix_web::http::header;
use actix_web::web::{self, BytesMut};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Map, Value};

use super::HttpSettings;
use crate::admin::AdminError;
use crate::admin::service::IfMatch;

/// Reads the payload, refusing more than `limit` bytes.
pub async fn read_limited(
    mut payload: web::Payload,
    limit: usize,
    deadline: Duration,
) -> Result<BytesMut, BodyError> {
    let read = async {
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| BodyError::Broken)?;
            if body.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // actix bounds the time to receive a request's head, not its body: a client trickling
    // its body would otherwise hold the request open for as long as it likes.
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(BodyError::Slow))
}

/// Why a body could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    TooLarge,
    /// Not received within the request timeout.
    Slow,
    Broken,
}

/// A JSON object body of at most `server.admin_body_limit` bytes. An empty body counts as `{}` when `empty_ok` (e.g. creating a
/// secret, whose body is optional).
pub async fn json_object(
    req: &HttpRequest,
    payload: web::Payload,
    http: &HttpSettings,
    empty_ok: bool,
) -> Result<Map<String, Value>, AdminError> {
    let limit = http.admin_body_limit;
    let body = read_limited(payload, limit, http.request_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => {
                AdminError::PayloadTooLarge(format!("the request body exceeds {limit} bytes"))
            }
            BodyError::Slow => {
                AdminError::RequestTimeout("the request body was not received in time".into())
            }
            BodyError::Broken => AdminError::field("body", "could not be read"),
        })?;
    if body.is_empty() && empty_ok {
        return Ok(Map::new());
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err(AdminError::UnsupportedMediaType(
            "the request body must be JSON with Content-Type: application/json".into(),
        ));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(AdminError::field("body", "must be a JSON object")),
        Err(e) => Err(AdminError::field("body", format!("is not valid JSON: {e}"))),
    }
}

/// The `ETag` of a client at `version`: `"<version>"`, strong.
pub fn etag(version: u64) -> header::ETag {
    header::ETag(header::EntityTag::new_strong(version.to_string()))
}

/// The `If-Match` precondition, if any (actix parses the header). Weak tags never match
/// (RFC 9110 §13.1.1); an entry that is not a strong version tag matches nothing (so the
/// write gets 412); a header that is not text is a 400 naming it.
pub fn if_match(req: &HttpRequest) -> Result<Option<IfMatch>, AdminError> {
    if !req.headers().contains_key(header::IF_MATCH) {
        return Ok(None);
    }
    let parsed = <header::IfMatch as header::Header>::parse(req).map_err(|_| {
        AdminError::field(
            "If-Match",
            "must be * or a comma-separated list of entity tags, e.g. \"3\"",
        )
    })?;
    Ok(Some(match parsed {
        header::IfMatch::Any => IfMatch::Any,
        header::IfMatch::Items(tags) => IfMatch::Versions(
            tags.iter()
                .filter(|tag| !tag.weak)
                .filter_map(|tag| tag.tag().parse::<u64>().ok())
                .collect(),
        ),
    }))
}

/// A body that must be empty (`{}` or none): its first field, if any, is a 400 naming it.
pub async fn no_fields(
    req: &HttpRequest,
    payload: web::Payload,
    http: &HttpSettings,
) -> Result<(), AdminError> {
    let body = json_object(req, payload, http, true).await?;
    match body.keys().next() {
        Some(field) => Err(AdminError::field(
            field,
            "is not a known field; this request takes no body",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn parsed(value: &str) -> Result<Option<IfMatch>, AdminError> {
        if_match(
            &TestRequest::default()
                .insert_header(("If-Match", value))
                .to_http_request(),
        )
    }

    #[test]
    fn if_match_takes_strong_version_tags_star_and_lists() {
        assert!(
            if_match(&TestRequest::default().to_http_request())
                .unwrap()
                .is_none()
        );
        assert_eq!(parsed("*").unwrap(), Some(IfMatch::Any));
        assert_eq!(parsed("\"3\"").unwrap(), Some(IfMatch::Versions(vec![3])));
        assert_eq!(
            parsed("\"3\", W/\"4\", \"x\", \"5\"").unwrap(),
            Some(IfMatch::Versions(vec![3, 5])),
            "weak and non-version tags match nothing"
        );
        for unusable in ["3", "\"unterminated"] {
            assert_eq!(
                parsed(unusable).unwrap(),
                Some(IfMatch::Versions(vec![])),
                "{unusable:?} matches nothing (412)"
            );
        }
    }
}
