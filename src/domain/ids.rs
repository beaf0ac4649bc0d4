//! Identifiers. Generated ids are a kind prefix plus 18 random digits, like Scalekit's;
//! parsing accepts exactly that shape, so a malformed id never reaches the store.

use std::fmt;

use rand::RngExt;
use serde::{Deserialize, Serialize};

const DIGITS: usize = 18;

fn random_digits() -> String {
    let mut rng = rand::rng();
    (0..DIGITS)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn has_shape(text: &str, prefix: &str) -> bool {
    text.strip_prefix(prefix)
        .is_some_and(|digits| digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// `m2morg_` + 18 digits for organization clients, `m2m_` + 18 digits otherwise.
    ClientId
);
string_id!(
    /// `sks_` + 18 digits.
    SecretId
);
string_id!(
    /// `[A-Za-z0-9_-]{1,64}`, chosen by the caller (it is a path segment).
    OrganizationId
);

impl ClientId {
    pub const ORGANIZATION_PREFIX: &'static str = "m2morg_";
    pub const ENVIRONMENT_PREFIX: &'static str = "m2m_";

    pub fn generate(organization: bool) -> Self {
        let prefix = if organization {
            Self::ORGANIZATION_PREFIX
        } else {
            Self::ENVIRONMENT_PREFIX
        };
        Self(format!("{prefix}{}", random_digits()))
    }

    pub fn parse(text: &str) -> Option<Self> {
        (has_shape(text, Self::ORGANIZATION_PREFIX) || has_shape(text, Self::ENVIRONMENT_PREFIX))
            .then(|| Self(text.to_owned()))
    }
}

impl SecretId {
    pub fn generate() -> Self {
        Self(format!("sks_{}", random_digits()))
    }

    pub fn parse(text: &str) -> Option<Self> {
        has_shape(text, "sks_").then(|| Self(text.to_owned()))
    }
}

impl OrganizationId {
    pub fn parse(text: &str) -> Option<Self> {
        let ok = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        ok.then(|| Self(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for organization in [true, false] {
            let id = ClientId::generate(organization);
            assert_eq!(ClientId::parse(id.as_str()), Some(id.clone()));
            assert_eq!(id.as_str().starts_with("m2morg_"), organization);
        }
        let sid = SecretId::generate();
        assert_eq!(SecretId::parse(sid.as_str()), Some(sid));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "m2m_",
            "m2m_12345",
            "m2morg_12345678901234567x",
            "x2m_123456789012345678",
        ] {
            assert_eq!(ClientId::parse(bad), None, "accepted {bad:?}");
        }
        assert_eq!(SecretId::parse("sks_1"), None);
        for bad in ["", "org/1", "org 1", &"a".repeat(65), "é"] {
            assert_eq!(OrganizationId::parse(bad), None, "accepted {bad:?}");
        }
        assert!(OrganizationId::parse("org_59615193906282635").is_some());
    }
}
