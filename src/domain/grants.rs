//! What a client may be granted: its scopes and its audience, each a set of distinct
//! values checked at the edge ([`super::fields`]), with the narrowing rule a token request
//! is judged by.

use serde::{Deserialize, Serialize};

/// A client's scopes: distinct RFC 6749 scope-tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(Vec<String>);

/// A client's audience values (the `aud` of its tokens): distinct, without whitespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Audience(Vec<String>);

/// A token lifetime in whole seconds (the `expiry` of a client; `expires_in` and
/// `exp - iat` of its tokens), checked against the configured bounds where it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Expiry(u32);

impl Expiry {
    pub fn from_secs(secs: u32) -> Self {
        Self(secs)
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

/// The environments a credential is restricted to (none: unrestricted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Environments(Vec<String>);

impl Environments {
    /// From values already checked (by [`super::fields::environments`]).
    pub(crate) fn from_checked(values: Vec<String>) -> Self {
        Self(values)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The `environments` claim of a token: the requested environment if allowed (any is,
    /// on an unrestricted credential), all of a restricted credential's environments if
    /// none was requested, nothing for an unrestricted one. `Err` is the refused request.
    pub fn grant<'a>(
        &'a self,
        requested: Option<&'a str>,
    ) -> Result<Option<Vec<&'a str>>, &'a str> {
        match requested {
            Some(env) if self.0.is_empty() || self.0.iter().any(|e| e == env) => {
                Ok(Some(vec![env]))
            }
            Some(env) => Err(env),
            None if self.0.is_empty() => Ok(None),
            None => Ok(Some(self.0.iter().map(String::as_str).collect())),
        }
    }
}

impl ScopeSet {
    /// From values already checked (by [`super::fields::scopes`] or configuration).
    pub(crate) fn from_checked(scopes: Vec<String>) -> Self {
        Self(scopes)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    /// RFC 6749 §3.3: the requested scopes (space-delimited), each one of these, repeats
    /// dropped; none requested means all of them. `Err` names the first refused scope.
    pub fn narrow<'a>(&'a self, requested: Option<&'a str>) -> Result<Vec<&'a str>, &'a str> {
        narrow(&self.0, requested.unwrap_or("").split(' '))
    }
}

impl Audience {
    /// From values already checked (by [`super::fields::audience`]).
    pub(crate) fn from_checked(values: Vec<String>) -> Self {
        Self(values)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// The requested `audience` / `resource` values, each one of these, repeats dropped;
    /// none requested means all of them. `Err` names the first refused value.
    pub fn narrow<'a>(
        &'a self,
        requested: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<&'a str>, &'a str> {
        narrow(&self.0, requested)
    }
}

/// The requested values, each one of `allowed`, without repeats; none → all of `allowed`.
fn narrow<'a>(
    allowed: &'a [String],
    requested: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<&'a str>, &'a str> {
    let mut granted: Vec<&str> = Vec::new();
    for value in requested.into_iter().filter(|v| !v.is_empty()) {
        if !allowed.iter().any(|a| a == value) {
            return Err(value);
        }
        if !granted.contains(&value) {
            granted.push(value);
        }
    }
    if granted.is_empty() {
        granted = allowed.iter().map(String::as_str).collect();
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrowing_grants_what_is_asked_of_what_is_held() {
        let scopes = ScopeSet::from_checked(vec!["read".into(), "write".into()]);
        assert_eq!(
            scopes.narrow(None),
            Ok(vec!["read", "write"]),
            "none asked: all"
        );
        assert_eq!(scopes.narrow(Some("write  write")), Ok(vec!["write"]));
        assert_eq!(scopes.narrow(Some("read admin")), Err("admin"));
        let audience = Audience::from_checked(vec!["https://a".into()]);
        assert_eq!(audience.narrow(["https://a"]), Ok(vec!["https://a"]));
        assert_eq!(audience.narrow(["https://b"]), Err("https://b"));
        assert!(ScopeSet::default().narrow(None).unwrap().is_empty());
        let open = Environments::default();
        assert_eq!(open.grant(None), Ok(None));
        assert_eq!(open.grant(Some("dev")), Ok(Some(vec!["dev"])));
        let restricted = Environments::from_checked(vec!["prod".into(), "stage".into()]);
        assert_eq!(restricted.grant(None), Ok(Some(vec!["prod", "stage"])));
        assert_eq!(restricted.grant(Some("stage")), Ok(Some(vec!["stage"])));
        assert_eq!(restricted.grant(Some("dev")), Err("dev"));
    }
}
