//! RFC 7662 introspection (`POST /oauth/introspect`) and RFC 7009 revocation
//! (`POST /oauth/revoke`). Both take a form body with `token` (and an ignored
//! `token_type_hint`) from an authenticated client: Basic or body credentials, as at the
//! token endpoint and within the same brute-force limits; revocation also takes an admin
//! bearer token.
//!
//! A token is active while its signature, issuer and expiry verify, its client exists, it
//! is not revoked by its client's or its credential's not-before time, its `jti` is not on
//! the denylist, and (admin tokens always; others with `revocation.with_credential`) its
//! credential still exists and is active. Every read goes through the client-side cache:
//! an answer costs one signature verification and cached lookups.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::request::{Credentials, basic_credentials};
use super::{OAuthError, TokenService, authenticated, store_error};
use crate::crypto::jwt;
use crate::domain::{ClientId, OrganizationId, SecretId, Timestamp};

/// A parsed introspection or revocation request.
pub struct TokenQuery {
    pub token: String,
    /// The caller's client credentials, unless it sent a bearer token instead.
    pub credentials: Option<Credentials>,
    /// An admin access token (`Authorization: Bearer`), for revocation.
    pub bearer: Option<String>,
}

impl TokenQuery {
    /// Parses a form body (`token`, `token_type_hint`, `client_id`, `client_secret`) and the
    /// `Authorization` header.
    pub fn parse(
        content_type: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<Self, OAuthError> {
        let invalid = |m: &str| OAuthError::InvalidRequest(m.to_owned());
        let media = content_type
            .and_then(|t| t.split(';').next())
            .map(str::trim)
            .unwrap_or("");
        if !media.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(invalid(
                "Content-Type must be application/x-www-form-urlencoded",
            ));
        }
        let (mut token, mut id, mut secret) = (None, None, None);
        let (mut assertion_type, mut assertion) = (None, None);
        for (name, value) in form_urlencoded::parse(body) {
            let slot = match name.as_ref() {
                "token" => &mut token,
                "client_id" => &mut id,
                "client_secret" => &mut secret,
                "client_assertion_type" => &mut assertion_type,
                "client_assertion" => &mut assertion,
                _ => continue, // RFC 7662 §2.1 / RFC 7009 §2.1: token_type_hint and others.
            };
            if value.is_empty() {
                continue;
            }
            if slot.replace(value.into_owned()).is_some() {
                return Err(OAuthError::InvalidRequest(format!(
                    "parameter {name} is repeated"
                )));
            }
        }
        let token = token.ok_or_else(|| invalid("token is required"))?;
        let bearer = authorization
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim().to_owned());
        if bearer.is_some() {
            if id.is_some() || secret.is_some() || assertion.is_some() {
                return Err(invalid(
                    "send either a bearer token or client credentials, not both",
                ));
            }
            return Ok(Self {
                token,
                credentials: None,
                bearer,
            });
        }
        let credentials = Credentials::presented(
            basic_credentials(authorization)?,
            id,
            secret,
            assertion_type,
            assertion,
        )?;
        Ok(Self {
            token,
            credentials: Some(credentials),
            bearer: None,
        })
    }
}

/// A token that verified, with the client it belongs to.
struct Verified {
    client_id: ClientId,
    organization_id: Option<OrganizationId>,
    jti: Option<String>,
    exp: u64,
    claims: Map<String, Value>,
}

impl TokenService {
    /// The authenticated caller of introspection or revocation.
    async fn caller(
        &self,
        credentials: &Credentials,
        source: IpAddr,
    ) -> Result<(ClientId, crate::domain::ScopeSet), OAuthError> {
        let id = ClientId::parse(&credentials.client_id);
        let prepared = authenticated(self, credentials, id.as_ref(), source)
            .await?
            .prepared;
        Ok((
            prepared.client.client_id.clone(),
            prepared.client.scopes.clone(),
        ))
    }

    /// `token` if it is active now (see the module comment), else `None`.
    async fn active(&self, token: &str) -> Result<Option<Verified>, OAuthError> {
        let Ok((claims, all)) = jwt::verify_all(&self.keys.current().ring, token, &self.issuer)
        else {
            return Ok(None);
        };
        let Some(client_id) = ClientId::parse(&claims.sub) else {
            return Ok(None);
        };
        let Some(document) = self
            .store
            .get_client_document(&client_id)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let prepared = self
            .prepared
            .get(&client_id, document)
            .map_err(store_error)?;
        let client = &prepared.client;
        let secret = claims
            .credential_id
            .as_deref()
            .and_then(SecretId::parse)
            .and_then(|sid| client.secret(&sid));
        if client.revokes(secret, claims.iat) {
            return Ok(None);
        }
        let is_admin = claims.scope.split(' ').any(|s| s == self.admin_scope);
        if (is_admin || self.revoke_with_credential)
            && !secret.is_some_and(|s| s.is_usable(Timestamp::now()))
        {
            return Ok(None);
        }
        if let Some(jti) = &claims.jti
            && self
                .store
                .is_token_revoked(&client_id, jti)
                .await
                .map_err(store_error)?
        {
            return Ok(None);
        }
        Ok(Some(Verified {
            organization_id: client.organization_id.clone(),
            client_id,
            jti: claims.jti,
            exp: claims.exp,
            claims: all,
        }))
    }

    /// RFC 7662: the token's claims with `active: true`, or just `active: false`. The
    /// caller must hold `introspection.scope`.
    pub async fn introspect(&self, query: TokenQuery, source: IpAddr) -> Result<Value, OAuthError> {
        let credentials = query.credentials.as_ref().ok_or_else(|| {
            OAuthError::InvalidRequest(
                "introspection takes client credentials (Basic or in the body), not a bearer token"
                    .into(),
            )
        })?;
        let (_, scopes) = self.caller(credentials, source).await?;
        if !scopes.contains(&self.introspection_scope) {
            return Err(OAuthError::InsufficientScope(format!(
                "introspection needs the {} scope",
                self.introspection_scope
            )));
        }
        Ok(match self.active(&query.token).await? {
            Some(verified) => {
                let mut answer = Map::new();
                answer.insert("active".into(), Value::Bool(true));
                answer.insert("token_type".into(), Value::from("Bearer"));
                answer.extend(verified.claims);
                Value::Object(answer)
            }
            None => serde_json::json!({"active": false}),
        })
    }

    /// RFC 7009 for a client: its own token goes on the denylist. A token that is not
    /// active (or not one of ours) is answered as revoked, as the RFC asks; a token of
    /// another client is refused.
    pub async fn revoke(&self, query: TokenQuery, source: IpAddr) -> Result<(), OAuthError> {
        let credentials = query
            .credentials
            .as_ref()
            .ok_or(OAuthError::InvalidClient { basic: false })?;
        let (caller, _) = self.caller(credentials, source).await?;
        let Some(verified) = self.active(&query.token).await? else {
            return Ok(());
        };
        if verified.client_id != caller {
            return Err(OAuthError::UnauthorizedClient(
                "a client may revoke only its own tokens".into(),
            ));
        }
        self.deny(&verified).await
    }

    /// RFC 7009 for an admin: any token of its tenant (every token for an environment
    /// admin, its organization's for an organization admin).
    pub async fn revoke_as_admin(
        &self,
        token: &str,
        tenant: Option<&OrganizationId>,
    ) -> Result<(), OAuthError> {
        let Some(verified) = self.active(token).await? else {
            return Ok(());
        };
        if tenant.is_some_and(|org| verified.organization_id.as_ref() != Some(org)) {
            return Err(OAuthError::UnauthorizedClient(
                "an organization admin may revoke only its organization's tokens".into(),
            ));
        }
        self.deny(&verified).await
    }

    async fn deny(&self, verified: &Verified) -> Result<(), OAuthError> {
        let Some(jti) = &verified.jti else {
            return Ok(());
        };
        let expires = Timestamp::from_millis(verified.exp.saturating_mul(1000));
        self.store
            .revoke_token(&verified.client_id, jti, expires)
            .await
            .map_err(store_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn a_query_takes_the_token_and_either_credentials_or_a_bearer() {
        let q = TokenQuery::parse(
            FORM,
            None,
            b"token=abc&client_id=m2m_1&client_secret=s&token_type_hint=access_token",
        )
        .unwrap();
        assert_eq!(q.token, "abc");
        assert_eq!(q.credentials.unwrap().client_id, "m2m_1");
        let q = TokenQuery::parse(FORM, Some("Bearer xyz"), b"token=abc").unwrap();
        assert_eq!(q.bearer.as_deref(), Some("xyz"));
        assert!(q.credentials.is_none());
        assert!(TokenQuery::parse(FORM, None, b"client_id=a&client_secret=b").is_err());
        assert!(TokenQuery::parse(FORM, None, b"token=a&token=b").is_err());
        assert!(TokenQuery::parse(Some("application/json"), None, b"{}").is_err());
        assert!(matches!(
            TokenQuery::parse(FORM, None, b"token=a"),
            Err(OAuthError::InvalidClient { .. })
        ));
        assert!(TokenQuery::parse(FORM, Some("Bearer x"), b"token=a&client_id=b").is_err());
    }
}
