//! `cuttle user …`: S3 users, their access keys and tokens, stored in the cluster
//! (`.rgw.meta`) through `cuttle-rgw`'s [`UserStore`], so every gateway sees them.
//!
//! JSON shapes: a user is `{uid, display_name, email, suspended, created_ms, keys:
//! [{access_key, secret_key}], tokens: [{id, created_ms}], buckets: [name]}`; `create`
//! prints `{uid, display_name, email, access_key, secret_key}`; `key add` prints
//! `{uid, access_key, secret_key}`; `token create` prints `{uid, id, token}` (the token
//! is shown only then: it is stored hashed); `ls` prints an array of
//! `{uid, display_name, email, suspended}`; removals print `{removed: …}`.

use anyhow::{Result, anyhow};
use cuttle_rgw::records::UserInfo;
use cuttle_rgw::{NewCredential, PoolNames, RgwError, UserStore, UserView};
use serde::Serialize;

use crate::ctx::Ctx;
use crate::output::{self, Report, Table, yes_no};

/// The operator's message for a failed user operation.
fn failed(what: impl std::fmt::Display, e: &RgwError) -> anyhow::Error {
    anyhow!("{what}: {e} ({})", e.code())
}

async fn store(ctx: &Ctx) -> Result<UserStore> {
    let cluster = ctx.cluster().await?;
    UserStore::open(&cluster, &PoolNames::default())
        .await
        .map_err(|e| failed("opening the user store", &e))
}

/// `user create`'s result.
#[derive(Debug, Serialize)]
struct Created {
    uid: String,
    display_name: String,
    email: String,
    access_key: String,
    secret_key: String,
}

impl Report for Created {
    fn table(&self) -> String {
        format!(
            "created user {} ({})\naccess_key: {}\nsecret_key: {}\n",
            self.uid, self.display_name, self.access_key, self.secret_key
        )
    }
}

/// Runs `cuttle user create`.
pub async fn create(
    ctx: &Ctx,
    uid: &str,
    display_name: &str,
    email: &str,
    cred: NewCredential,
) -> Result<()> {
    let s = store(ctx).await?;
    let (info, ak, sk) = s
        .create(uid, display_name, email, cred)
        .await
        .map_err(|e| failed(format_args!("creating user {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &Created {
            uid: info.uid,
            display_name: info.display_name,
            email: info.email,
            access_key: ak,
            secret_key: sk,
        },
    )
}

#[derive(Debug, Serialize)]
struct UserRow {
    uid: String,
    display_name: String,
    email: String,
    suspended: bool,
}

impl From<UserInfo> for UserRow {
    fn from(u: UserInfo) -> UserRow {
        UserRow {
            uid: u.uid,
            display_name: u.display_name,
            email: u.email,
            suspended: u.suspended,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct UserList(Vec<UserRow>);

impl Report for UserList {
    fn table(&self) -> String {
        let mut t = Table::new(&["UID", "DISPLAY NAME", "EMAIL", "SUSPENDED"]);
        for u in &self.0 {
            t.row(vec![
                u.uid.clone(),
                u.display_name.clone(),
                u.email.clone(),
                yes_no(u.suspended),
            ]);
        }
        t.render()
    }
}

/// Runs `cuttle user ls`.
pub async fn ls(ctx: &Ctx) -> Result<()> {
    let s = store(ctx).await?;
    let users = s.list().await.map_err(|e| failed("listing users", &e))?;
    output::emit(
        ctx.format,
        &UserList(users.into_iter().map(UserRow::from).collect()),
    )
}

#[derive(Debug, Serialize)]
struct KeyView {
    access_key: String,
    secret_key: String,
}

#[derive(Debug, Serialize)]
struct TokenView {
    id: String,
    created_ms: u64,
}

#[derive(Debug, Serialize)]
struct Info {
    #[serde(flatten)]
    info: UserInfo,
    keys: Vec<KeyView>,
    tokens: Vec<TokenView>,
    buckets: Vec<String>,
}

impl From<UserView> for Info {
    fn from(v: UserView) -> Info {
        Info {
            info: v.info,
            keys: v
                .keys
                .into_iter()
                .map(|(access_key, secret_key)| KeyView {
                    access_key,
                    secret_key,
                })
                .collect(),
            tokens: v
                .tokens
                .into_iter()
                .map(|t| TokenView {
                    id: t.id,
                    created_ms: t.created_ms,
                })
                .collect(),
            buckets: v.buckets,
        }
    }
}

impl Report for Info {
    fn table(&self) -> String {
        let mut s = format!(
            "uid: {}\ndisplay name: {}\nemail: {}\nsuspended: {}\n",
            self.info.uid,
            self.info.display_name,
            self.info.email,
            yes_no(self.info.suspended)
        );
        let mut t = Table::new(&["ACCESS KEY", "SECRET KEY"]);
        for k in &self.keys {
            t.row(vec![k.access_key.clone(), k.secret_key.clone()]);
        }
        s.push_str(&t.render());
        if !self.tokens.is_empty() {
            let ids: Vec<&str> = self.tokens.iter().map(|t| t.id.as_str()).collect();
            s.push_str(&format!("tokens: {}\n", ids.join(", ")));
        }
        s.push_str(&format!("buckets: {}\n", self.buckets.join(", ")));
        s
    }
}

/// Runs `cuttle user info`.
pub async fn info(ctx: &Ctx, uid: &str) -> Result<()> {
    let s = store(ctx).await?;
    let v = s
        .view(uid)
        .await
        .map_err(|e| failed(format_args!("reading user {uid:?}"), &e))?;
    output::emit(ctx.format, &Info::from(v))
}

#[derive(Debug, Serialize)]
struct Removed {
    removed: String,
}

impl Report for Removed {
    fn table(&self) -> String {
        format!("removed {}\n", self.removed)
    }
}

/// Runs `cuttle user rm`.
pub async fn rm(ctx: &Ctx, uid: &str) -> Result<()> {
    let s = store(ctx).await?;
    s.remove(uid)
        .await
        .map_err(|e| failed(format_args!("removing user {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &Removed {
            removed: uid.to_string(),
        },
    )
}

#[derive(Debug, Serialize)]
struct Suspended {
    uid: String,
    suspended: bool,
}

impl Report for Suspended {
    fn table(&self) -> String {
        let state = if self.suspended {
            "suspended"
        } else {
            "enabled"
        };
        format!("user {} is {state}\n", self.uid)
    }
}

/// Runs `cuttle user suspend|enable`.
pub async fn suspend(ctx: &Ctx, uid: &str, suspended: bool) -> Result<()> {
    let s = store(ctx).await?;
    let info = s
        .set_suspended(uid, suspended)
        .await
        .map_err(|e| failed(format_args!("changing user {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &Suspended {
            uid: info.uid,
            suspended: info.suspended,
        },
    )
}

#[derive(Debug, Serialize)]
struct KeyAdded {
    uid: String,
    access_key: String,
    secret_key: String,
}

impl Report for KeyAdded {
    fn table(&self) -> String {
        format!(
            "added a key to {}\naccess_key: {}\nsecret_key: {}\n",
            self.uid, self.access_key, self.secret_key
        )
    }
}

/// Runs `cuttle user key add`.
pub async fn key_add(ctx: &Ctx, uid: &str, cred: NewCredential) -> Result<()> {
    let s = store(ctx).await?;
    let (ak, sk) = s
        .add_key(uid, cred)
        .await
        .map_err(|e| failed(format_args!("adding a key to {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &KeyAdded {
            uid: uid.to_string(),
            access_key: ak,
            secret_key: sk,
        },
    )
}

/// Runs `cuttle user key rm`.
pub async fn key_rm(ctx: &Ctx, uid: &str, access_key: &str) -> Result<()> {
    let s = store(ctx).await?;
    s.remove_key(uid, access_key)
        .await
        .map_err(|e| failed(format_args!("removing key {access_key:?} of {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &Removed {
            removed: access_key.to_string(),
        },
    )
}

#[derive(Debug, Serialize)]
struct TokenCreated {
    uid: String,
    id: String,
    token: String,
}

impl Report for TokenCreated {
    fn table(&self) -> String {
        format!(
            "token {} for {} (shown once; use it as the access key, with any secret):\n{}\n",
            self.id, self.uid, self.token
        )
    }
}

/// Runs `cuttle user token create`.
pub async fn token_create(ctx: &Ctx, uid: &str) -> Result<()> {
    let s = store(ctx).await?;
    let (info, token) = s
        .create_token(uid)
        .await
        .map_err(|e| failed(format_args!("creating a token for {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &TokenCreated {
            uid: uid.to_string(),
            id: info.id,
            token,
        },
    )
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct TokenList(Vec<TokenView>);

impl Report for TokenList {
    fn table(&self) -> String {
        let mut t = Table::new(&["ID", "CREATED (UNIX MS)"]);
        for k in &self.0 {
            t.row(vec![k.id.clone(), k.created_ms.to_string()]);
        }
        t.render()
    }
}

/// Runs `cuttle user token ls`.
pub async fn token_ls(ctx: &Ctx, uid: &str) -> Result<()> {
    let s = store(ctx).await?;
    let list = s
        .tokens(uid)
        .await
        .map_err(|e| failed(format_args!("listing tokens of {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &TokenList(
            list.into_iter()
                .map(|t| TokenView {
                    id: t.id,
                    created_ms: t.created_ms,
                })
                .collect(),
        ),
    )
}

/// Runs `cuttle user token revoke`.
pub async fn token_revoke(ctx: &Ctx, uid: &str, id: &str) -> Result<()> {
    let s = store(ctx).await?;
    s.revoke_token(uid, id)
        .await
        .map_err(|e| failed(format_args!("revoking token {id:?} of {uid:?}"), &e))?;
    output::emit(
        ctx.format,
        &Removed {
            removed: id.to_string(),
        },
    )
}
