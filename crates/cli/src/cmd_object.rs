//! `cuttle object put|get|stat|ls|rm`: single objects of a pool, like `rados put/get`.
//! Useful to check a cluster by hand and in scripts; data comes from and goes to files
//! (`-` for stdin/stdout).

use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use bytes::Bytes;
use cuttle_client::ListCursor;
use serde::Serialize;

use crate::ctx::{Ctx, failed};
use crate::output::{self, Report, Table};

/// `object put`: stores a file's bytes as an object.
pub async fn put(ctx: &Ctx, pool: &str, name: &str, file: &Path) -> Result<()> {
    let data = if file == Path::new("-") {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .context("reading stdin")?;
        v
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    let cluster = ctx.cluster().await?;
    let io = cluster
        .pool(pool)
        .await
        .map_err(|e| failed(format_args!("opening pool {pool:?}"), &e))?;
    let len = data.len();
    let (e, s) = io
        .write_full(name, Bytes::from(data))
        .await
        .map_err(|e| failed(format_args!("writing {pool}/{name}"), &e))?;
    let view = Written {
        pool,
        name,
        bytes: len,
        version: format!("{e}'{s}"),
    };
    output::emit(ctx.format, &view)
}

#[derive(Serialize)]
struct Written<'a> {
    pool: &'a str,
    name: &'a str,
    bytes: usize,
    version: String,
}

impl Report for Written<'_> {
    fn table(&self) -> String {
        format!(
            "wrote {} bytes to {}/{} (version {})\n",
            self.bytes, self.pool, self.name, self.version
        )
    }
}

/// `object get`: writes an object's bytes to a file or stdout.
pub async fn get(ctx: &Ctx, pool: &str, name: &str, file: &Path) -> Result<()> {
    let cluster = ctx.cluster().await?;
    let io = cluster
        .pool(pool)
        .await
        .map_err(|e| failed(format_args!("opening pool {pool:?}"), &e))?;
    let data = io
        .read(name, 0, 0)
        .await
        .map_err(|e| failed(format_args!("reading {pool}/{name}"), &e))?;
    if file == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(&data).context("writing stdout")?;
        out.flush().context("writing stdout")?;
    } else {
        std::fs::write(file, &data).with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

#[derive(Serialize)]
struct Stat {
    pool: String,
    name: String,
    size: u64,
    version: String,
    xattrs: Vec<String>,
}

impl Report for Stat {
    fn table(&self) -> String {
        format!(
            "{}/{}: {} bytes, version {}, attributes: {}\n",
            self.pool,
            self.name,
            self.size,
            self.version,
            if self.xattrs.is_empty() {
                "none".to_string()
            } else {
                self.xattrs.join(", ")
            }
        )
    }
}

/// `object stat`.
pub async fn stat(ctx: &Ctx, pool: &str, name: &str) -> Result<()> {
    let cluster = ctx.cluster().await?;
    let io = cluster
        .pool(pool)
        .await
        .map_err(|e| failed(format_args!("opening pool {pool:?}"), &e))?;
    let info = io
        .stat(name)
        .await
        .map_err(|e| failed(format_args!("stat {pool}/{name}"), &e))?;
    let view = Stat {
        pool: pool.into(),
        name: name.into(),
        size: info.size,
        version: format!("{}'{}", info.version.0, info.version.1),
        xattrs: info.xattrs.keys().cloned().collect(),
    };
    output::emit(ctx.format, &view)
}

#[derive(Serialize)]
struct Listing {
    pool: String,
    objects: Vec<String>,
}

impl Report for Listing {
    fn table(&self) -> String {
        let mut t = Table::new(&["NAME"]);
        for o in &self.objects {
            t.row(vec![o.clone()]);
        }
        t.render()
    }
}

/// `object ls`: every object of the pool (PG by PG).
pub async fn ls(ctx: &Ctx, pool: &str) -> Result<()> {
    let cluster = ctx.cluster().await?;
    let io = cluster
        .pool(pool)
        .await
        .map_err(|e| failed(format_args!("opening pool {pool:?}"), &e))?;
    let mut objects = Vec::new();
    let mut cursor = Some(ListCursor::default());
    while let Some(cur) = cursor {
        let (page, next) = io
            .list(&cur, 1000)
            .await
            .map_err(|e| failed(format_args!("listing {pool}"), &e))?;
        objects.extend(page);
        cursor = next;
    }
    objects.sort();
    output::emit(
        ctx.format,
        &Listing {
            pool: pool.into(),
            objects,
        },
    )
}

/// `object rm`.
pub async fn rm(ctx: &Ctx, pool: &str, name: &str) -> Result<()> {
    let cluster = ctx.cluster().await?;
    let io = cluster
        .pool(pool)
        .await
        .map_err(|e| failed(format_args!("opening pool {pool:?}"), &e))?;
    io.remove(name)
        .await
        .map_err(|e| failed(format_args!("removing {pool}/{name}"), &e))?;
    output::emit(
        ctx.format,
        &Removed {
            removed: format!("{pool}/{name}"),
        },
    )
}

#[derive(Serialize)]
struct Removed {
    removed: String,
}

impl Report for Removed {
    fn table(&self) -> String {
        format!("removed {}\n", self.removed)
    }
}
