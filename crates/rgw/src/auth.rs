//! Who is calling: s3s's signature checks get secrets from [`KeypairAuth`]; the
//! [`Gatekeeper`] access hook turns the verified access key (or a token identity set
//! by the token layer, see [`crate::front`]) into a [`Caller`] in the request's
//! extensions, and refuses unknown keys and suspended users. Unsigned requests pass
//! without a caller: the operations treat them as anonymous and give them what the
//! AllUsers group was granted ([`crate::acl`]). Lookups go through [`AuthCache`],
//! kept coherent across gateways by [`crate::coherence`].

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lru::LruCache;
use parking_lot::Mutex;
use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::coherence::{Coherence, Stamp};
use crate::error::RgwResult;
use crate::meta::UserStore;
use crate::records::{KeyRecord, TokenRecord, UserInfo};

/// The authenticated user of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// User id.
    pub uid: Arc<str>,
}

type Slot<T> = Mutex<LruCache<String, (Instant, Stamp, Option<T>)>>;

/// Cached user, key and token lookups.
#[derive(Debug)]
pub struct AuthCache {
    users: UserStore,
    ttl: Duration,
    coherence: Arc<Coherence>,
    keys: Slot<KeyRecord>,
    tokens: Slot<TokenRecord>,
    infos: Slot<UserInfo>,
}

fn slot<T>() -> Slot<T> {
    Mutex::new(LruCache::new(
        NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN),
    ))
}

fn cached<T: Clone>(s: &Slot<T>, k: &str, ttl: Duration, c: &Coherence) -> Option<Option<T>> {
    let mut s = s.lock();
    match s.get(k) {
        Some((at, stamp, v)) if at.elapsed() < ttl && c.is_fresh(*stamp) => Some(v.clone()),
        _ => None,
    }
}

impl AuthCache {
    /// A cache over a user store; entries are served while `coherence` trusts them
    /// (and for at most `ttl`).
    pub fn new(users: UserStore, ttl: Duration, coherence: Arc<Coherence>) -> AuthCache {
        AuthCache {
            users,
            ttl,
            coherence,
            keys: slot(),
            tokens: slot(),
            infos: slot(),
        }
    }

    /// The store.
    pub fn users(&self) -> &UserStore {
        &self.users
    }

    /// An access key's record.
    pub async fn key(&self, ak: &str) -> RgwResult<Option<KeyRecord>> {
        if let Some(v) = cached(&self.keys, ak, self.ttl, &self.coherence) {
            return Ok(v);
        }
        let stamp = self.coherence.stamp();
        let v = self.users.lookup_key(ak).await?;
        self.keys
            .lock()
            .put(ak.to_string(), (Instant::now(), stamp, v.clone()));
        Ok(v)
    }

    /// A token's record (cached by the token's hash, never by the token).
    pub async fn token(&self, token: &str) -> RgwResult<Option<TokenRecord>> {
        let h = crate::names::token_hash(token);
        if let Some(v) = cached(&self.tokens, &h, self.ttl, &self.coherence) {
            return Ok(v);
        }
        let stamp = self.coherence.stamp();
        let v = self.users.lookup_token(token).await?;
        self.tokens
            .lock()
            .put(h, (Instant::now(), stamp, v.clone()));
        Ok(v)
    }

    /// A user's identity and state.
    pub async fn user(&self, uid: &str) -> RgwResult<Option<UserInfo>> {
        if let Some(v) = cached(&self.infos, uid, self.ttl, &self.coherence) {
            return Ok(v);
        }
        let stamp = self.coherence.stamp();
        let v = self.users.info(uid).await?;
        self.infos
            .lock()
            .put(uid.to_string(), (Instant::now(), stamp, v.clone()));
        Ok(v)
    }

    /// Checks that `uid` exists and is not suspended.
    pub async fn active(&self, uid: &str) -> S3Result<Caller> {
        match self.user(uid).await {
            Ok(Some(u)) if !u.suspended => Ok(Caller { uid: uid.into() }),
            Ok(Some(_)) => Err(suspended()),
            Ok(None) => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

/// The error a suspended user gets (as Ceph RGW answers).
pub fn suspended() -> S3Error {
    let mut e = S3Error::with_message(
        S3ErrorCode::Custom("UserSuspended".into()),
        "The user is suspended.",
    );
    e.set_status_code(http::StatusCode::FORBIDDEN);
    e
}

/// The error when the cluster cannot answer a lookup.
pub fn unavailable(e: &dyn std::fmt::Display) -> S3Error {
    tracing::warn!("credential lookup failed: {e}");
    s3_error!(ServiceUnavailable, "Please reduce your request rate.")
}

/// Secrets for s3s's signature checks (keypair mode).
#[derive(Debug)]
pub struct KeypairAuth {
    /// Lookups.
    pub cache: Arc<AuthCache>,
    /// Keypair mode on.
    pub enabled: bool,
}

#[async_trait::async_trait]
impl S3Auth for KeypairAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        let unknown = || {
            s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        };
        if !self.enabled {
            return Err(unknown());
        }
        match self.cache.key(access_key).await {
            Ok(Some(r)) => Ok(SecretKey::from(r.secret_key)),
            Ok(None) => Err(unknown()),
            Err(e) => Err(unavailable(&e)),
        }
    }
}

/// The access hook: establishes the [`Caller`] of every request or refuses it.
#[derive(Debug)]
pub struct Gatekeeper {
    /// Lookups.
    pub cache: Arc<AuthCache>,
}

#[async_trait::async_trait]
impl S3Access for Gatekeeper {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        if cx.extensions_mut().get::<Caller>().is_some() {
            // Authenticated by token in the front layer.
            return Ok(());
        }
        let Some(cred) = cx.credentials() else {
            // Anonymous: each operation checks what AllUsers may do.
            return Ok(());
        };
        let ak = cred.access_key.clone();
        let uid = match self.cache.key(&ak).await {
            Ok(Some(r)) => r.uid,
            Ok(None) => return Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => return Err(unavailable(&e)),
        };
        let caller = self.cache.active(&uid).await?;
        cx.extensions_mut().insert(caller);
        Ok(())
    }
}
