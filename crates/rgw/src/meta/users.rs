//! `UserStore`: users, their access keys and tokens. Shared by the gateway (lookups
//! on every authentication) and by `cuttle user …` (administration).

use crate::coherence::announce;
use bytes::Bytes;
use cuttle_client::{Cluster, IoCtx};
use cuttle_proto as pb;
use subtle::ConstantTimeEq;

use super::{omap_all, read_record, remove_if_exists};
use crate::error::{RgwError, RgwResult, is_compare_failed, is_exists, is_not_found, omap_cmp};
use crate::names;
use crate::pools::PoolNames;
use crate::records::{self, KeyInfo, KeyRecord, TokenInfo, TokenRecord, UserInfo, VERSION};

const USERS: &str = "users";
/// Omap of e-mail address (lower case) -> uid: resolves e-mail grants.
const EMAILS: &str = "emails";
const INFO: &[u8] = b"info";
const KEY_PREFIX: &str = "key.";
const TOKEN_PREFIX: &str = "token.";
/// Omap prefix of the bucket list in a user object.
pub(crate) const BUCKET_PREFIX: &str = "bucket.";

fn user_obj(uid: &str) -> String {
    format!("user.{uid}")
}

fn key_obj(ak: &str) -> String {
    format!("key.{ak}")
}

fn token_obj(hash: &str) -> String {
    format!("token.{hash}")
}

fn op(o: pb::object_op::Op) -> pb::ObjectOp {
    pb::ObjectOp { op: Some(o) }
}

fn omap_set(entries: Vec<(Bytes, Bytes)>) -> pb::ObjectOp {
    op(pb::object_op::Op::OmapSet(pb::OmapSet {
        entries: entries
            .into_iter()
            .map(|(key, value)| pb::KeyValue { key, value })
            .collect(),
    }))
}

fn b(s: impl Into<String>) -> Bytes {
    Bytes::from(s.into())
}

/// A rough check that a string is an e-mail address (`local@domain`, no spaces).
fn is_plausible_email(e: &str) -> bool {
    e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
}

/// A credential to create: given by the operator, or generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewCredential {
    /// Access key (generated when `None`).
    pub access_key: Option<String>,
    /// Secret key (generated when `None`).
    pub secret_key: Option<String>,
}

/// Everything about a user (the admin's view: secrets included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    /// Identity and state.
    #[serde(flatten)]
    pub info: UserInfo,
    /// Access keys with their secrets.
    pub keys: Vec<(String, String)>,
    /// Tokens (ids and creation times; never the tokens).
    pub tokens: Vec<TokenInfo>,
    /// Buckets owned.
    pub buckets: Vec<String>,
}

/// Users, keys and tokens in `.rgw.meta`.
#[derive(Debug, Clone)]
pub struct UserStore {
    meta: IoCtx,
}

impl UserStore {
    /// Over an open `.rgw.meta` pool.
    pub fn new(meta: IoCtx) -> UserStore {
        UserStore { meta }
    }

    /// Opens the meta pool of `cluster`.
    pub async fn open(cluster: &Cluster, pools: &PoolNames) -> RgwResult<UserStore> {
        let meta = cluster.pool(&pools.meta).await.map_err(|e| {
            if e.code() == "no_such_pool" {
                RgwError::NoPool(pools.meta.clone())
            } else {
                RgwError::Cluster(e)
            }
        })?;
        Ok(UserStore { meta })
    }

    /// Creates a user with one access key; returns the user and its (access, secret).
    pub async fn create(
        &self,
        uid: &str,
        display_name: &str,
        email: &str,
        cred: NewCredential,
    ) -> RgwResult<(UserInfo, String, String)> {
        names::validate_uid(uid)?;
        let (ak, sk) = resolve_credential(cred)?;
        let email = email.trim().to_ascii_lowercase();
        if !email.is_empty() {
            self.claim_email(&email, uid).await?;
        }
        let info = UserInfo {
            v: VERSION,
            uid: uid.to_string(),
            display_name: if display_name.is_empty() {
                uid.to_string()
            } else {
                display_name.to_string()
            },
            email: email.clone(),
            suspended: false,
            created_ms: records::now_ms(),
        };
        let ops = vec![
            op(pb::object_op::Op::CreateExclusive(pb::Empty {})),
            omap_set(vec![(Bytes::from_static(INFO), records::encode(&info))]),
        ];
        let made = match self.meta.mutate(&user_obj(uid), ops).await {
            Ok(_) => Ok(()),
            Err(e) if is_exists(&e) => Err(RgwError::UserExists(uid.to_string())),
            Err(e) => Err(e.into()),
        };
        let made = match made {
            Ok(()) => match self.attach_key(uid, &ak, &sk).await {
                Ok(()) => Ok(()),
                // The same credential attached to this user concurrently (gateways
                // bootstrapping one admin together): the user is complete.
                Err(RgwError::KeyExists(_))
                    if self
                        .lookup_key(&ak)
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|k| k.uid == uid && k.secret_key == sk) =>
                {
                    Ok(())
                }
                Err(e) => {
                    // Leave no half-made user behind.
                    let _ = remove_if_exists(&self.meta, &user_obj(uid)).await;
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        if let Err(e) = made {
            if !email.is_empty() {
                let _ = self.release_email(&email, uid).await;
            }
            return Err(e);
        }
        self.meta
            .omap_set(USERS, vec![(b(uid), Bytes::new())])
            .await?;
        announce(&self.meta, &format!("user.{uid}")).await;
        Ok((info, ak, sk))
    }

    /// Records `email` as `uid`'s, unless another user has it.
    async fn claim_email(&self, email: &str, uid: &str) -> RgwResult<()> {
        if !is_plausible_email(email) {
            return Err(RgwError::InvalidEmail(email.to_string()));
        }
        let ops = vec![omap_cmp(b(email), None), omap_set(vec![(b(email), b(uid))])];
        match self.meta.mutate(EMAILS, ops).await {
            Ok(_) => Ok(()),
            Err(e) if is_compare_failed(&e) => Err(RgwError::EmailExists(email.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets `email` if it is `uid`'s.
    async fn release_email(&self, email: &str, uid: &str) -> RgwResult<()> {
        let ops = vec![
            omap_cmp(b(email), Some(b(uid))),
            op(pb::object_op::Op::OmapRm(pb::OmapKeys {
                keys: vec![b(email)],
            })),
        ];
        match self.meta.mutate(EMAILS, ops).await {
            Ok(_) => Ok(()),
            Err(e) if is_compare_failed(&e) || is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The uid whose e-mail address is `email` (case-insensitive).
    pub async fn lookup_email(&self, email: &str) -> RgwResult<Option<String>> {
        let k = b(email.trim().to_ascii_lowercase());
        match self.meta.omap_get(EMAILS, vec![k.clone()]).await {
            Ok(m) => Ok(m.get(&k).map(|v| String::from_utf8_lossy(v).into_owned())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn attach_key(&self, uid: &str, ak: &str, sk: &str) -> RgwResult<()> {
        let rec = KeyRecord {
            v: VERSION,
            uid: uid.to_string(),
            secret_key: sk.to_string(),
        };
        let ops = vec![
            op(pb::object_op::Op::CreateExclusive(pb::Empty {})),
            op(pb::object_op::Op::WriteFull(records::encode(&rec))),
        ];
        match self.meta.mutate(&key_obj(ak), ops).await {
            Ok(_) => {}
            Err(e) if is_exists(&e) => return Err(RgwError::KeyExists(ak.to_string())),
            Err(e) => return Err(e.into()),
        }
        let ki = KeyInfo {
            v: VERSION,
            access_key: ak.to_string(),
            created_ms: records::now_ms(),
        };
        self.meta
            .omap_set(
                &user_obj(uid),
                vec![(b(format!("{KEY_PREFIX}{ak}")), records::encode(&ki))],
            )
            .await?;
        Ok(())
    }

    /// The user's identity and state.
    pub async fn info(&self, uid: &str) -> RgwResult<Option<UserInfo>> {
        let got = match self
            .meta
            .omap_get(&user_obj(uid), vec![Bytes::from_static(INFO)])
            .await
        {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        match got.get(INFO) {
            Some(v) => records::decode(&user_obj(uid), v).map(Some),
            None => Ok(None),
        }
    }

    async fn require(&self, uid: &str) -> RgwResult<UserInfo> {
        self.info(uid)
            .await?
            .ok_or_else(|| RgwError::NoSuchUser(uid.to_string()))
    }

    /// The admin's full view of a user.
    pub async fn view(&self, uid: &str) -> RgwResult<UserView> {
        let info = self.require(uid).await?;
        let entries = omap_all(&self.meta, &user_obj(uid), b"").await?;
        let mut keys = Vec::new();
        let mut tokens = Vec::new();
        let mut buckets = Vec::new();
        for (k, v) in entries {
            let k = String::from_utf8_lossy(&k).into_owned();
            if let Some(ak) = k.strip_prefix(KEY_PREFIX) {
                let secret = self
                    .lookup_key(ak)
                    .await?
                    .map(|r| r.secret_key)
                    .unwrap_or_default();
                keys.push((ak.to_string(), secret));
            } else if k.starts_with(TOKEN_PREFIX) {
                tokens.push(records::decode::<TokenInfo>(&k, &v)?);
            } else if let Some(name) = k.strip_prefix(BUCKET_PREFIX) {
                buckets.push(name.to_string());
            }
        }
        Ok(UserView {
            info,
            keys,
            tokens,
            buckets,
        })
    }

    /// Every user, in uid order.
    pub async fn list(&self) -> RgwResult<Vec<UserInfo>> {
        let mut out = Vec::new();
        for (uid, _) in omap_all(&self.meta, USERS, b"").await? {
            let uid = String::from_utf8_lossy(&uid).into_owned();
            if let Some(info) = self.info(&uid).await? {
                out.push(info);
            }
        }
        Ok(out)
    }

    /// Removes a user with its keys and tokens; refuses while it owns buckets.
    pub async fn remove(&self, uid: &str) -> RgwResult<()> {
        let view = self.view(uid).await?;
        if let Some(first) = view.buckets.first() {
            return Err(RgwError::UserHasBuckets {
                uid: uid.to_string(),
                count: view.buckets.len(),
                first: first.clone(),
            });
        }
        // Credentials first: a crash midway leaves a user without keys, never a key
        // without its user.
        for (ak, _) in &view.keys {
            remove_if_exists(&self.meta, &key_obj(ak)).await?;
        }
        for t in &view.tokens {
            remove_if_exists(&self.meta, &token_obj(&t.hash)).await?;
        }
        // Every gateway forgets the credentials before the user record goes.
        announce(&self.meta, &format!("user.{uid}")).await;
        remove_if_exists(&self.meta, &user_obj(uid)).await?;
        self.meta.omap_rm(USERS, vec![b(uid)]).await?;
        if !view.info.email.is_empty() {
            self.release_email(&view.info.email, uid).await?;
        }
        Ok(())
    }

    /// Suspends or re-enables a user.
    pub async fn set_suspended(&self, uid: &str, suspended: bool) -> RgwResult<UserInfo> {
        let mut info = self.require(uid).await?;
        info.suspended = suspended;
        self.meta
            .omap_set(
                &user_obj(uid),
                vec![(Bytes::from_static(INFO), records::encode(&info))],
            )
            .await?;
        announce(&self.meta, &format!("user.{uid}")).await;
        Ok(info)
    }

    /// Adds an access key to a user; returns (access, secret).
    pub async fn add_key(&self, uid: &str, cred: NewCredential) -> RgwResult<(String, String)> {
        self.require(uid).await?;
        let (ak, sk) = resolve_credential(cred)?;
        self.attach_key(uid, &ak, &sk).await?;
        announce(&self.meta, &format!("key.{ak}")).await;
        Ok((ak, sk))
    }

    /// Removes one of a user's access keys.
    pub async fn remove_key(&self, uid: &str, ak: &str) -> RgwResult<()> {
        match self.lookup_key(ak).await? {
            Some(r) if r.uid == uid => {}
            _ => return Err(RgwError::NoSuchKey(ak.to_string())),
        }
        remove_if_exists(&self.meta, &key_obj(ak)).await?;
        announce(&self.meta, &format!("key.{ak}")).await;
        self.meta
            .omap_rm(&user_obj(uid), vec![b(format!("{KEY_PREFIX}{ak}"))])
            .await?;
        Ok(())
    }

    /// Issues a token; returns its info and the token (shown once, stored hashed).
    pub async fn create_token(&self, uid: &str) -> RgwResult<(TokenInfo, String)> {
        self.require(uid).await?;
        let token = names::new_token();
        let hash = names::token_hash(&token);
        let info = TokenInfo {
            v: VERSION,
            id: names::new_token_id(),
            hash: hash.clone(),
            created_ms: records::now_ms(),
        };
        let rec = TokenRecord {
            v: VERSION,
            uid: uid.to_string(),
            id: info.id.clone(),
            hash: hash.clone(),
        };
        // Listed in the user first, so a crash never leaves an unlisted live token.
        self.meta
            .omap_set(
                &user_obj(uid),
                vec![(
                    b(format!("{TOKEN_PREFIX}{}", info.id)),
                    records::encode(&info),
                )],
            )
            .await?;
        let ops = vec![
            op(pb::object_op::Op::CreateExclusive(pb::Empty {})),
            op(pb::object_op::Op::WriteFull(records::encode(&rec))),
        ];
        self.meta.mutate(&token_obj(&hash), ops).await?;
        announce(&self.meta, &format!("token.{}", info.id)).await;
        Ok((info, token))
    }

    /// A user's tokens.
    pub async fn tokens(&self, uid: &str) -> RgwResult<Vec<TokenInfo>> {
        Ok(self.view(uid).await?.tokens)
    }

    /// Revokes a token by id.
    pub async fn revoke_token(&self, uid: &str, id: &str) -> RgwResult<()> {
        let key = b(format!("{TOKEN_PREFIX}{id}"));
        let got = match self.meta.omap_get(&user_obj(uid), vec![key.clone()]).await {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => return Err(RgwError::NoSuchUser(uid.to_string())),
            Err(e) => return Err(e.into()),
        };
        let Some(v) = got.get(&key) else {
            return Err(RgwError::NoSuchToken(id.to_string()));
        };
        let info: TokenInfo = records::decode(id, v)?;
        remove_if_exists(&self.meta, &token_obj(&info.hash)).await?;
        announce(&self.meta, &format!("token.{id}")).await;
        self.meta.omap_rm(&user_obj(uid), vec![key]).await?;
        Ok(())
    }

    /// The record of an access key.
    pub async fn lookup_key(&self, ak: &str) -> RgwResult<Option<KeyRecord>> {
        if ak.is_empty() || ak.contains('/') {
            return Ok(None);
        }
        read_record(&self.meta, &key_obj(ak)).await
    }

    /// The record of a token, checked against the token in constant time.
    pub async fn lookup_token(&self, token: &str) -> RgwResult<Option<TokenRecord>> {
        if !names::is_token_shaped(token) {
            return Ok(None);
        }
        let hash = names::token_hash(token);
        let rec: Option<TokenRecord> = read_record(&self.meta, &token_obj(&hash)).await?;
        Ok(rec.filter(|r| bool::from(r.hash.as_bytes().ct_eq(hash.as_bytes()))))
    }

    /// Records that `uid` owns bucket `name`.
    pub(crate) async fn link_bucket(
        &self,
        uid: &str,
        name: &str,
        created_ms: u64,
    ) -> RgwResult<()> {
        self.meta
            .omap_set(
                &user_obj(uid),
                vec![(
                    b(format!("{BUCKET_PREFIX}{name}")),
                    b(created_ms.to_string()),
                )],
            )
            .await?;
        Ok(())
    }

    /// Forgets that `uid` owns bucket `name`.
    pub(crate) async fn unlink_bucket(&self, uid: &str, name: &str) -> RgwResult<()> {
        match self
            .meta
            .omap_rm(&user_obj(uid), vec![b(format!("{BUCKET_PREFIX}{name}"))])
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Buckets a user owns with their creation times, in name order.
    pub async fn buckets(&self, uid: &str) -> RgwResult<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for (k, v) in omap_all(&self.meta, &user_obj(uid), BUCKET_PREFIX.as_bytes()).await? {
            let name = String::from_utf8_lossy(&k[BUCKET_PREFIX.len()..]).into_owned();
            let created = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            out.push((name, created));
        }
        Ok(out)
    }
}

fn resolve_credential(cred: NewCredential) -> RgwResult<(String, String)> {
    let ak = match cred.access_key {
        Some(k) => {
            names::validate_access_key(&k)?;
            k
        }
        None => names::new_access_key(),
    };
    let sk = match cred.secret_key {
        Some(s) => {
            names::validate_secret_key(&s)?;
            s
        }
        None => names::new_secret_key(),
    };
    Ok((ak, sk))
}
