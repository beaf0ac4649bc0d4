//! Timestamps as the API prints them: RFC 3339, UTC, `Z`, nine fractional digits.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time with nanosecond precision, stored and compared as an integer so that
/// ordering and arithmetic never go through string parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(u64::try_from(since.as_nanos()).unwrap_or(u64::MAX))
    }

    pub fn from_millis(ms: u64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }

    pub fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    pub fn as_nanos(self) -> u64 {
        self.0
    }

    pub fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// Parses an RFC 3339 timestamp in UTC (`Z`), the form this API prints.
    pub fn parse(text: &str) -> Result<Self, String> {
        let at = humantime::parse_rfc3339(text)
            .map_err(|_| "must be an RFC 3339 timestamp in UTC, e.g. 2030-01-01T00:00:00Z")?;
        let since = at
            .duration_since(UNIX_EPOCH)
            .map_err(|_| "must not be before 1970")?;
        u64::try_from(since.as_nanos())
            .map(Self)
            .map_err(|_| "is too far in the future".to_string())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = UNIX_EPOCH + Duration::from_nanos(self.0);
        write!(f, "{}", humantime::format_rfc3339_nanos(at))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_rfc3339_utc_with_nanoseconds_and_parses_back() {
        let at = Timestamp(1_744_786_565_360_000_001);
        let text = at.to_string();
        assert_eq!(text, "2025-04-16T06:56:05.360000001Z");
        assert_eq!(Timestamp::parse(&text), Ok(at));
    }

    #[test]
    fn rejects_text_that_is_not_a_utc_timestamp() {
        for bad in ["", "yesterday", "2025-04-16", "2025-04-16T06:56:05+02:00"] {
            assert!(Timestamp::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
