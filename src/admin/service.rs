//! Admin operations on the model, shared by both faces. Each takes parsed input and the
//! authenticated [`Admin`], and returns records for the face to render.
//!
//! Every write is read → change → compare-and-set on the client's version. Without
//! `If-Match` a lost race is retried on fresh data (so concurrent updates of different
//! fields all survive); with `If-Match` it is a 412, as the caller asked.

use super::auth::Admin;
use super::changes::{ClientChanges, SecretChanges};
use super::error::AdminError;
use crate::config::Settings;
use crate::crypto::secret::HashError;
use crate::crypto::{Hasher, PlainSecret};
use crate::domain::{
    Client, ClientId, OrganizationId, Secret, SecretHash, SecretId, SecretStatus, Timestamp, Usage,
};
use std::sync::Arc;

use crate::audit::{Action, Auditor, Event, Page};
use crate::crypto::{Alg, Keys};
use crate::domain::{Actor, Audience, Expiry, ExpiryBounds, ScopeSet};
use crate::domain::{CredentialKind, Proof};
use crate::keystore::{KeyStore, KeyStoreError, KeyView};
use crate::store::{IndexEntry, Store, WriteOutcome};

/// Where a lookup may find clients: a client outside is reported as not found.
#[derive(Clone, Debug)]
pub enum Within {
    Organization(OrganizationId),
    Anywhere,
}

impl Within {
    fn contains(&self, client: &Client) -> bool {
        match self {
            Self::Organization(org) => client.organization_id.as_ref() == Some(org),
            Self::Anywhere => true,
        }
    }
}

/// The `If-Match` precondition of a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IfMatch {
    Any,
    Versions(Vec<u64>),
}

impl IfMatch {
    fn allows(&self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::Versions(versions) => versions.contains(&version),
        }
    }
}

/// Enough for dozens of writers racing on one client: each round, one of them wins.
const MAX_WRITE_ATTEMPTS: u32 = 64;

/// A random pause before retrying a lost race, growing with the attempt (at most 10 ms),
/// so that racing writers spread out instead of colliding again in lockstep.
async fn backoff(attempt: u32) {
    let ceiling = u64::from(attempt.min(10)) * 1000;
    let micros = rand::RngExt::random_range(&mut rand::rng(), 0..=ceiling);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

/// A client id from a request path; one that cannot be a client's is not found.
pub fn parse_client_id(raw: &str) -> Result<ClientId, AdminError> {
    ClientId::parse(raw).ok_or_else(|| client_not_found(raw))
}

/// A secret (credential) id from a request path; one that cannot be a secret's is not found.
pub fn parse_secret_id(raw: &str, what: &str) -> Result<SecretId, AdminError> {
    SecretId::parse(raw).ok_or_else(|| AdminError::NotFound(format!("{what} {raw} not found")))
}

fn client_not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("client {id} not found"))
}

fn secret_not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("secret {id} not found"))
}

pub struct ClientList {
    pub clients: Vec<(Client, Usage)>,
    pub next: Option<IndexEntry>,
    pub total: u64,
}

fn new_secret(creator: Option<Actor>, changes: &SecretChanges, proof: Proof) -> Secret {
    let now = Timestamp::now();
    let mut secret = Secret {
        id: SecretId::generate(),
        display_name: String::new(),
        status: SecretStatus::Active,
        environments: Default::default(),
        labels: Default::default(),
        sdk_type: Default::default(),
        create_time: now,
        update_time: now,
        updater: creator.clone(),
        creator,
        expire_time: None,
        proof,
        tokens_not_before: None,
    };
    changes.apply(&mut secret);
    secret
}

/// A new credential, and a secret's plain value when one was made: returned once, in the
/// create response (credentials of the other kinds have none).
pub struct Issued {
    pub secret_id: SecretId,
    pub plain: Option<PlainSecret>,
}

async fn hash_new(
    hasher: &Hasher,
    prefix: &str,
    plain: Option<PlainSecret>,
) -> Result<(PlainSecret, SecretHash), AdminError> {
    let plain = plain.unwrap_or_else(|| PlainSecret::generate(prefix));
    let hash = hasher.hash(&plain).await.map_err(|e| match e {
        HashError::Busy => AdminError::Unavailable(
            "too many secrets are being hashed at once; retry shortly".into(),
        ),
        e => {
            tracing::error!(error = %e, "hashing a secret failed");
            AdminError::Internal
        }
    })?;
    Ok((plain, hash))
}

fn blank_client(
    default_expiry: u32,
    organization_id: Option<OrganizationId>,
    creator: Option<Actor>,
) -> Client {
    let now = Timestamp::now();
    Client {
        version: 1,
        client_id: ClientId::generate(organization_id.is_some()),
        organization_id,
        name: String::new(),
        description: String::new(),
        scopes: ScopeSet::default(),
        audience: Audience::default(),
        custom_claims: Vec::new(),
        expiry: Expiry::from_secs(default_expiry),
        labels: Default::default(),
        create_time: now,
        update_time: now,
        updater: creator.clone(),
        creator,
        secrets: Vec::new(),
        tokens_not_before: None,
    }
}

fn too_many_secrets(max: usize) -> AdminError {
    AdminError::Conflict(format!(
        "a client may hold at most {max} secrets; delete one first"
    ))
}

/// One page of a client's secrets in creation order, after `after` (creation time in
/// nanoseconds and id), and the cursor of the next page if there is one.
pub fn secrets_page<'a>(
    client: &'a Client,
    after: Option<&IndexEntry>,
    size: usize,
) -> (Vec<&'a Secret>, Option<IndexEntry>) {
    let key = |s: &'a Secret| (s.create_time.as_nanos(), s.id.as_str());
    let mut secrets: Vec<&Secret> = client
        .secrets
        .iter()
        .filter(|s| after.is_none_or(|a| key(s) > (a.score, a.member.as_str())))
        .collect();
    secrets.sort_by_key(|s| key(s));
    let next = (secrets.len() > size).then(|| {
        let (score, member) = key(secrets[size - 1]);
        IndexEntry {
            score,
            member: member.to_owned(),
        }
    });
    secrets.truncate(size);
    (secrets, next)
}

/// The admin API's service: every admin operation, for all faces (each face is a thin
/// translation onto it), and admin authentication. Built once at startup from what it needs.
pub struct AdminService {
    pub(super) store: Store,
    hasher: Hasher,
    /// Admin tokens must verify against these keys and name this issuer ([`super::auth`]).
    pub(super) keys: Arc<Keys>,
    pub(super) issuer: String,
    pub(super) admin_scope: String,
    default_expiry: u32,
    expiry_bounds: ExpiryBounds,
    secret_prefix: String,
    max_secrets: usize,
    /// The longest a token can live: how long a revoked `jti` stays on the denylist.
    max_expiry: u32,
    pub(super) auditor: Arc<Auditor>,
    /// The key store, when keys come from Redis (rotation); else the folder.
    key_store: Option<Arc<KeyStore>>,
    /// `assertions.allow_http_loopback`.
    allow_http_loopback: bool,
}

impl AdminService {
    pub fn new(
        settings: &Settings,
        issuer: String,
        store: Store,
        keys: Arc<Keys>,
        key_store: Option<Arc<KeyStore>>,
        hasher: Hasher,
        auditor: Arc<Auditor>,
    ) -> Self {
        Self {
            auditor,
            key_store,
            allow_http_loopback: settings.assertions.allow_http_loopback,
            store,
            hasher,
            keys,
            issuer,
            admin_scope: settings.admin.scope.clone(),
            default_expiry: settings.tokens.default_expiry,
            expiry_bounds: settings.expiry_bounds(),
            secret_prefix: settings.secrets.prefix.clone(),
            max_secrets: settings.secrets.max_per_client.get(),
            max_expiry: settings.tokens.max_expiry,
        }
    }

    /// The bounds a client's `expiry` must stay in (the faces parse with them).
    pub fn expiry_bounds(&self) -> ExpiryBounds {
        self.expiry_bounds
    }

    async fn load(&self, within: &Within, id: &ClientId) -> Result<Client, AdminError> {
        match self.store.get_client(id).await? {
            Some(client) if within.contains(&client) => Ok(client),
            _ => Err(client_not_found(id.as_str())),
        }
    }

    pub async fn get_client(
        &self,
        within: &Within,
        id: &ClientId,
    ) -> Result<(Client, Usage), AdminError> {
        let client = self.load(within, id).await?;
        let usage = self.store.usage(&client.client_id).await?;
        Ok((client, usage))
    }

    pub async fn list_clients(
        &self,
        org: Option<&OrganizationId>,
        page_size: usize,
        after: Option<IndexEntry>,
    ) -> Result<ClientList, AdminError> {
        let page = self.store.list_clients(org, after, page_size).await?;
        let total = self.store.count_clients(org).await?;
        let ids: Vec<&ClientId> = page.clients.iter().map(|c| &c.client_id).collect();
        let usages = self.store.usages(&ids).await?;
        Ok(ClientList {
            clients: page.clients.into_iter().zip(usages).collect(),
            next: page.next,
            total,
        })
    }

    /// Records the audit event of `admin`'s `action` on `target`, as `result` ended.
    async fn audit<T>(
        &self,
        admin: &Admin,
        action: Action,
        target: String,
        fields: Vec<String>,
        result: &Result<T, AdminError>,
    ) {
        let event = Event::new(&admin.origin, admin.actor().to_string(), action, target)
            .with_fields(fields);
        let event = match result {
            Ok(_) => event,
            Err(e) => event.failed(e.status_name(), e.to_string()),
        };
        self.auditor.record(event).await;
    }

    /// One page of the audit trail, newest first (environment admins only).
    pub async fn audit_events(
        &self,
        admin: &Admin,
        token: Option<&str>,
        size: usize,
        target: Option<&str>,
    ) -> Result<Page, AdminError> {
        admin.require_environment()?;
        Ok(self.auditor.page(token, size, target).await?)
    }

    /// The signing keys and their states (environment admins only).
    pub async fn signing_keys(&self, admin: &Admin) -> Result<Vec<KeyView>, AdminError> {
        admin.require_environment()?;
        match &self.key_store {
            Some(store) => Ok(store.list().await?),
            None => Ok(KeyView::of_ring(&self.keys.current().ring)),
        }
    }

    /// Publishes the next signing key (environment admins only; key store only).
    pub async fn rotate_signing_key(
        &self,
        admin: &Admin,
        alg: Option<Alg>,
    ) -> Result<KeyView, AdminError> {
        let result = match (admin.require_environment(), &self.key_store) {
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(KeyStoreError::FolderSource.into()),
            (Ok(()), Some(store)) => store.rotate(alg).await.map_err(AdminError::from),
        };
        let target = match &result {
            Ok(view) => format!("signingKeys/{}", view.kid),
            Err(_) => "signingKeys".to_owned(),
        };
        self.audit(admin, Action::RotateKey, target, Vec::new(), &result)
            .await;
        result
    }

    /// Creates a client; with `first_secret`, also its first secret.
    pub async fn create_client(
        &self,
        admin: &Admin,
        organization_id: Option<OrganizationId>,
        changes: ClientChanges,
        first_secret: Option<SecretChanges>,
    ) -> Result<(Client, Option<Issued>), AdminError> {
        let fields = changes.field_names();
        let result = self
            .create_client_unaudited(admin, organization_id, changes, first_secret)
            .await;
        let target = match &result {
            Ok((client, _)) => client_name(&client.client_id),
            Err(_) => "clients".to_owned(),
        };
        self.audit(admin, Action::CreateClient, target, fields, &result)
            .await;
        result
    }

    async fn create_client_unaudited(
        &self,
        admin: &Admin,
        organization_id: Option<OrganizationId>,
        changes: ClientChanges,
        first_secret: Option<SecretChanges>,
    ) -> Result<(Client, Option<Issued>), AdminError> {
        let issued = match &first_secret {
            Some(changes) => Some(self.make_secret(admin, changes, None).await?),
            None => None,
        };
        let mut client = blank_client(self.default_expiry, organization_id, Some(admin.actor()));
        changes.apply(&mut client);
        let issued = issued.map(|(secret, plain)| {
            let secret_id = secret.id.clone();
            client.secrets.push(secret);
            Issued { secret_id, plain }
        });
        // An 18-digit id collides with vanishing probability; the store refuses to overwrite.
        match self.store.create_client(&client).await? {
            WriteOutcome::Done => Ok((client, issued)),
            _ => Err(AdminError::Conflict(
                "client id collision; retry the request".into(),
            )),
        }
    }

    /// Hashes a new (or admin-supplied) plain secret off the async workers.
    /// Refuses a plain-http key URL or issuer unless `assertions.allow_http_loopback`.
    fn check_urls(&self, changes: &SecretChanges) -> Result<(), AdminError> {
        match changes.plain_http() {
            Some(field) if !self.allow_http_loopback => Err(AdminError::field(
                field,
                "must be an https:// URL (http:// to a loopback address needs \
                 assertions.allow_http_loopback)",
            )),
            _ => Ok(()),
        }
    }

    /// A new credential of the kind `changes` describe: for a secret, its value (made
    /// unless given) hashed with argon2; for the other kinds, their key or rules.
    async fn make_secret(
        &self,
        admin: &Admin,
        changes: &SecretChanges,
        plain: Option<PlainSecret>,
    ) -> Result<(Secret, Option<PlainSecret>), AdminError> {
        self.check_urls(changes)?;
        let proof = match changes.new_kind()? {
            CredentialKind::ClientSecret => {
                let (plain, hash) = hash_new(&self.hasher, &self.secret_prefix, plain).await?;
                let proof = Proof::ClientSecret {
                    secret_suffix: plain.suffix(),
                    hash,
                };
                return Ok((new_secret(Some(admin.actor()), changes, proof), Some(plain)));
            }
            CredentialKind::PrivateKeyJwt => Proof::PrivateKeyJwt {
                key: changes.key.clone().ok_or(AdminError::Internal)?.value,
            },
            CredentialKind::Federated => Proof::Federated {
                federation: changes
                    .federation
                    .clone()
                    .ok_or(AdminError::Internal)?
                    .value,
            },
        };
        Ok((new_secret(Some(admin.actor()), changes, proof), None))
    }

    /// Creates an environment-level client holding the admin scope, with one secret: the
    /// first admin of a fresh deployment (`tokenmint bootstrap-admin`, `serve --dev`).
    pub async fn bootstrap_admin(&self, name: &str) -> Result<(Client, PlainSecret), AdminError> {
        let policy = BootstrapPolicy {
            admin_scope: &self.admin_scope,
            default_expiry: self.default_expiry,
            secret_prefix: &self.secret_prefix,
        };
        bootstrap_admin(&self.store, &self.hasher, policy, name).await
    }

    /// Read → `change` → compare-and-set, retried on a lost race unless `if_match` pins the
    /// version. `change` may run several times and must only depend on the client it gets.
    async fn modify(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        if_match: Option<&IfMatch>,
        mut change: impl FnMut(&mut Client) -> Result<(), AdminError>,
    ) -> Result<Client, AdminError> {
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let mut client = self.load(within, id).await?;
            if let Some(condition) = if_match
                && !condition.allows(client.version)
            {
                return Err(AdminError::PreconditionFailed(
                    "the resource has changed since it was read (If-Match)".into(),
                ));
            }
            change(&mut client)?;
            client.version += 1;
            client.update_time = Timestamp::now();
            client.updater = Some(admin.actor());
            match self.store.update_client(&client).await? {
                WriteOutcome::Done => return Ok(client),
                WriteOutcome::Missing => return Err(client_not_found(id.as_str())),
                WriteOutcome::Conflict if if_match.is_some() => {
                    return Err(AdminError::PreconditionFailed(
                        "the resource has changed since it was read (If-Match)".into(),
                    ));
                }
                WriteOutcome::Conflict => continue,
            }
        }
        Err(AdminError::Conflict(
            "too many concurrent writes to this client; retry".into(),
        ))
    }

    pub async fn update_client(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        if_match: Option<&IfMatch>,
        changes: ClientChanges,
    ) -> Result<(Client, Usage), AdminError> {
        let fields = changes.field_names();
        let result = self
            .modify(admin, within, id, if_match, |client| {
                changes.clone().apply(client);
                Ok(())
            })
            .await;
        self.audit(
            admin,
            Action::UpdateClient,
            client_name(id),
            fields,
            &result,
        )
        .await;
        let client = result?;
        let usage = self.store.usage(&client.client_id).await?;
        Ok((client, usage))
    }

    pub async fn delete_client(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        if_match: Option<&IfMatch>,
    ) -> Result<(), AdminError> {
        let result = self.delete_client_unaudited(within, id, if_match).await;
        self.audit(
            admin,
            Action::DeleteClient,
            client_name(id),
            Vec::new(),
            &result,
        )
        .await;
        result
    }

    async fn delete_client_unaudited(
        &self,
        within: &Within,
        id: &ClientId,
        if_match: Option<&IfMatch>,
    ) -> Result<(), AdminError> {
        let client = self.load(within, id).await?;
        let expected = match if_match {
            Some(condition) if !condition.allows(client.version) => {
                return Err(AdminError::PreconditionFailed(
                    "the resource has changed since it was read (If-Match)".into(),
                ));
            }
            Some(_) => Some(client.version),
            None => None,
        };
        match self.store.delete_client(&client, expected).await? {
            WriteOutcome::Done => Ok(()),
            WriteOutcome::Missing => Err(client_not_found(id.as_str())),
            WriteOutcome::Conflict => Err(AdminError::PreconditionFailed(
                "the resource has changed since it was read (If-Match)".into(),
            )),
        }
    }

    /// Adds a secret (at most `secrets.max_per_client`); `plain` is an admin-supplied value.
    pub async fn add_secret(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        changes: SecretChanges,
    ) -> Result<(Client, Issued), AdminError> {
        let fields = changes.field_names();
        let result = self.add_secret_unaudited(admin, within, id, changes).await;
        let target = match &result {
            Ok((_, issued)) => secret_name(id, &issued.secret_id),
            Err(_) => format!("{}/secrets", client_name(id)),
        };
        self.audit(admin, Action::AddSecret, target, fields, &result)
            .await;
        result
    }

    async fn add_secret_unaudited(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        changes: SecretChanges,
    ) -> Result<(Client, Issued), AdminError> {
        let max = self.max_secrets;
        // Fail fast before paying for argon2; the write below checks again.
        let current = self.load(within, id).await?;
        if current.secrets.len() >= max {
            return Err(too_many_secrets(max));
        }
        let plain = changes.replacement.clone();
        let (secret, plain) = self.make_secret(admin, &changes, plain).await?;
        let secret_id = secret.id.clone();
        let client = self
            .modify(admin, within, id, None, |client| {
                if client.secrets.len() >= max {
                    return Err(too_many_secrets(max));
                }
                client.secrets.push(secret.clone());
                Ok(())
            })
            .await?;
        Ok((client, Issued { secret_id, plain }))
    }

    /// Changes a secret's fields; a `replacement` value is hashed and swapped in. Returns the
    /// client with the changed secret.
    pub async fn update_secret(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        sid: &SecretId,
        if_match: Option<&IfMatch>,
        changes: SecretChanges,
    ) -> Result<(Client, Usage), AdminError> {
        let fields = changes.field_names();
        let result = self
            .update_secret_unaudited(admin, within, id, sid, if_match, changes)
            .await;
        let target = secret_name(id, sid);
        self.audit(admin, Action::UpdateSecret, target, fields, &result)
            .await;
        result
    }

    async fn update_secret_unaudited(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        sid: &SecretId,
        if_match: Option<&IfMatch>,
        changes: SecretChanges,
    ) -> Result<(Client, Usage), AdminError> {
        let current = self.load(within, id).await?;
        let Some(stored) = current.secret(sid) else {
            return Err(secret_not_found(sid.as_str()));
        };
        changes.fits(stored.kind())?;
        self.check_urls(&changes)?;
        let replacement = match &changes.replacement {
            Some(plain) => {
                let (plain, hash) = hash_new(&self.hasher, "", Some(plain.clone())).await?;
                Some((plain.suffix(), hash))
            }
            None => None,
        };
        let client = self
            .modify(admin, within, id, if_match, |client| {
                let updater = admin.actor();
                let secret = client
                    .secret_mut(sid)
                    .ok_or_else(|| secret_not_found(sid.as_str()))?;
                // A kind never changes, so what `fits` checked still holds.
                changes.apply(secret);
                if let Some((suffix, hash)) = &replacement {
                    secret.proof = Proof::ClientSecret {
                        secret_suffix: suffix.clone(),
                        hash: hash.clone(),
                    };
                }
                secret.update_time = Timestamp::now();
                secret.updater = Some(updater);
                Ok(())
            })
            .await?;
        let usage = self.store.usage(&client.client_id).await?;
        Ok((client, usage))
    }

    pub async fn delete_secret(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        sid: &SecretId,
        if_match: Option<&IfMatch>,
    ) -> Result<(), AdminError> {
        let result = self
            .modify(admin, within, id, if_match, |client| {
                let before = client.secrets.len();
                client.secrets.retain(|s| s.id != *sid);
                if client.secrets.len() == before {
                    return Err(secret_not_found(sid.as_str()));
                }
                Ok(())
            })
            .await
            .map(|_| ());
        let target = secret_name(id, sid);
        self.audit(admin, Action::DeleteSecret, target, Vec::new(), &result)
            .await;
        result
    }
}

/// A client's resource name in audit events: `clients/<id>`.
fn client_name(id: &ClientId) -> String {
    format!("clients/{id}")
}

/// A secret's resource name in audit events: `clients/<id>/secrets/<secret id>`.
fn secret_name(id: &ClientId, sid: &SecretId) -> String {
    format!("clients/{id}/secrets/{sid}")
}

/// Which tokens of a client to revoke.
#[derive(Clone, Debug)]
pub enum Revoke {
    /// Every token the client was issued until now.
    Client,
    /// Every token one of its secrets minted until now.
    Secret(SecretId),
    /// One token, by its `jti`.
    Token(String),
}

impl AdminService {
    /// Revokes tokens of client `id`: a not-before time on the client or a secret (one
    /// compare-and-set write, read with the client's document wherever tokens are checked),
    /// or one `jti` on the denylist until any token could have expired.
    pub async fn revoke_tokens(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        which: Revoke,
    ) -> Result<(), AdminError> {
        let (target, fields) = match &which {
            Revoke::Client => (client_name(id), vec!["tokens_not_before".to_owned()]),
            Revoke::Secret(sid) => (secret_name(id, sid), vec!["tokens_not_before".to_owned()]),
            Revoke::Token(jti) => (format!("{}/tokens/{jti}", client_name(id)), Vec::new()),
        };
        let result = self.revoke_unaudited(admin, within, id, which).await;
        self.audit(admin, Action::RevokeTokens, target, fields, &result)
            .await;
        result
    }

    async fn revoke_unaudited(
        &self,
        admin: &Admin,
        within: &Within,
        id: &ClientId,
        which: Revoke,
    ) -> Result<(), AdminError> {
        let now = Timestamp::now();
        match which {
            Revoke::Token(jti) => {
                self.load(within, id).await?;
                let until = Timestamp::from_millis(
                    now.as_millis() + u64::from(self.max_expiry) * 1000 + 60_000,
                );
                Ok(self.store.revoke_token(id, &jti, until).await?)
            }
            Revoke::Client => self
                .modify(admin, within, id, None, |client| {
                    client.tokens_not_before = Some(now);
                    Ok(())
                })
                .await
                .map(|_| ()),
            Revoke::Secret(sid) => self
                .modify(admin, within, id, None, |client| {
                    let secret = client
                        .secret_mut(&sid)
                        .ok_or_else(|| secret_not_found(sid.as_str()))?;
                    secret.tokens_not_before = Some(now);
                    Ok(())
                })
                .await
                .map(|_| ()),
        }
    }
}

/// What a bootstrapped admin client is made of.
pub struct BootstrapPolicy<'a> {
    pub admin_scope: &'a str,
    pub default_expiry: u32,
    pub secret_prefix: &'a str,
}

impl<'a> BootstrapPolicy<'a> {
    pub fn from_settings(settings: &'a Settings) -> Self {
        Self {
            admin_scope: &settings.admin.scope,
            default_expiry: settings.tokens.default_expiry,
            secret_prefix: &settings.secrets.prefix,
        }
    }
}

/// Creates an environment-level admin client with one secret in `store`: what
/// [`AdminService::bootstrap_admin`] does, for the CLI, which needs no keys to do it.
pub async fn bootstrap_admin(
    store: &Store,
    hasher: &Hasher,
    policy: BootstrapPolicy<'_>,
    name: &str,
) -> Result<(Client, PlainSecret), AdminError> {
    let name = crate::domain::fields::client_name(&serde_json::Value::from(name), "name")
        .map_err(AdminError::fields)?;
    let (plain, hash) = hash_new(hasher, policy.secret_prefix, None).await?;
    let mut client = blank_client(policy.default_expiry, None, None);
    client.name = name;
    client.description = "Administrator created by tokenmint bootstrap-admin".into();
    client.scopes = ScopeSet::from_checked(vec![policy.admin_scope.to_owned()]);
    client.secrets.push(new_secret(
        None,
        &SecretChanges::default(),
        Proof::ClientSecret {
            secret_suffix: plain.suffix(),
            hash,
        },
    ));
    match store.create_client(&client).await? {
        WriteOutcome::Done => Ok((client, plain)),
        _ => Err(AdminError::Conflict("client id collision; retry".into())),
    }
}
