//! Opaque page tokens. A token names the last item of the previous page (its creation-time
//! score and id), so a page boundary neither skips nor repeats an item when others are
//! added or deleted between pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::AdminError;
use crate::store::IndexEntry;

pub const DEFAULT_PAGE_SIZE: usize = 10;
pub const MAX_PAGE_SIZE: usize = 100;

pub fn encode(entry: &IndexEntry) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{}:{}", entry.score, entry.member))
}

/// Parses a page token; `field` names the query parameter in the error.
pub fn decode(token: &str, field: &str) -> Result<Option<IndexEntry>, AdminError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || AdminError::field(field, "is not a page token returned by this API");
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(score), Some(member)) if !member.is_empty() => Ok(Some(IndexEntry {
            score: score.parse().map_err(|_| invalid())?,
            member: member.to_owned(),
        })),
        _ => Err(invalid()),
    }
}

/// Parses a page size parameter: absent or 0 means the default; at most 100. A value
/// that is not a number (an empty one included) is refused, not taken for the default.
pub fn page_size(value: Option<&str>, field: &str) -> Result<usize, AdminError> {
    let Some(text) = value else {
        return Ok(DEFAULT_PAGE_SIZE);
    };
    match text.parse::<usize>() {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(AdminError::field(
            field,
            format!(
                "must be a whole number from 0 to {MAX_PAGE_SIZE} (0 or absent: {DEFAULT_PAGE_SIZE})"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_numbers_up_to_the_maximum() {
        assert_eq!(page_size(None, "p").unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some("0"), "p").unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(Some("7"), "p").unwrap(), 7);
        assert_eq!(page_size(Some("100"), "p").unwrap(), 100);
        for bad in ["", " 5", "+5", "101", "x", "-1"] {
            assert!(page_size(Some(bad), "p").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let entry = IndexEntry {
            score: 1_700_000_000_123,
            member: "m2m_123456789012345678".into(),
        };
        assert_eq!(decode(&encode(&entry), "page_token").unwrap(), Some(entry));
        assert_eq!(decode("", "page_token").unwrap(), None);
        for bad in ["!!", "djE6", "eDox", &URL_SAFE_NO_PAD.encode("v1:x:y")] {
            assert!(decode(bad, "page_token").is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn page_sizes_default_and_are_bounded() {
        assert_eq!(page_size(None, "p").unwrap(), 10);
        assert_eq!(page_size(Some("100"), "p").unwrap(), 100);
        assert!(page_size(Some("101"), "p").is_err());
        assert!(page_size(Some("-1"), "p").is_err());
        assert!(page_size(Some("ten"), "p").is_err());
    }
}
