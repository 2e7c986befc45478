//! `cuttle pool create|ls|get|rm`.
//!
//! The monitors validate pool definitions (name, `pg_num`, sizes, failure domains) and
//! answer with stable codes (`invalid_pool`, `pool_exists`, `not_enough_failure_domains`,
//! `no_such_pool`); the CLI only checks what it parses (`--ec K+M`) and refuses
//! `pool rm` without `--yes-i-really-mean-it` before contacting anyone.
//!
//! JSON shape of a pool: `{id, name, type: "erasure"|"replicated", size, ec: {k, m,
//! stripe_unit, codec} | null, pg_num, failure_domain, min_size}` where `size` is the
//! number of members (replicas or `k + m`). `pool ls` prints an array of them;
//! `pool create` adds `epoch` and `warning`; `pool rm` prints `{removed, epoch}`.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, anyhow, bail};
use clap::ValueEnum;
use cuttle_proto as pb;
use cuttle_types::{Pool, Redundancy};
use serde::Serialize;

use crate::ctx::{Ctx, failed};
use crate::output::{self, Report, Table};

/// The flag `pool rm` requires.
pub const CONFIRM_FLAG: &str = "--yes-i-really-mean-it";

/// An erasure-code shape as typed on the command line: `K+M`, e.g. `2+1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EcSpec {
    /// Data chunks.
    pub k: u8,
    /// Parity chunks.
    pub m: u8,
}

impl FromStr for EcSpec {
    type Err = String;

    /// Strict: two decimal numbers from 1 to 255 joined by one `+`, nothing else.
    fn from_str(s: &str) -> Result<EcSpec, String> {
        let usage =
            || format!("{s:?} is not an erasure-code shape: expected K+M such as 2+1 or 4+2");
        let (k, m) = s.split_once('+').ok_or_else(usage)?;
        let number = |part: &str, what: &str| -> Result<u8, String> {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(usage());
            }
            match part.parse::<u8>() {
                Ok(0) => Err(format!("{s:?}: {what} must be at least 1")),
                Ok(n) => Ok(n),
                Err(_) => Err(format!("{s:?}: {what} must be at most 255")),
            }
        };
        Ok(EcSpec {
            k: number(k, "K (data chunks)")?,
            m: number(m, "M (parity chunks)")?,
        })
    }
}

impl fmt::Display for EcSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}", self.k, self.m)
    }
}

/// `--failure-domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailureDomainArg {
    /// Members on distinct hosts.
    Host,
    /// Members on distinct OSDs (single-host clusters).
    Osd,
}

impl FailureDomainArg {
    fn wire(self) -> &'static str {
        match self {
            FailureDomainArg::Host => "host",
            FailureDomainArg::Osd => "osd",
        }
    }
}

/// What `pool create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSpec {
    /// Pool name.
    pub name: String,
    /// Erasure shape, or `None` for replicated.
    pub ec: Option<EcSpec>,
    /// Replica count when not erasure-coded.
    pub replicated: Option<u32>,
    /// Placement groups.
    pub pg_num: u32,
    /// Failure domain.
    pub failure_domain: FailureDomainArg,
    /// `min_size`, or the monitor's default.
    pub min_size: Option<u32>,
}

impl CreateSpec {
    /// The wire request (the monitor fills defaults for a zero `min_size`, stripe unit
    /// and codec).
    pub fn request(&self) -> Result<pb::CreatePoolRequest> {
        use pb::create_pool_request::Redundancy as R;
        let redundancy = match (self.ec, self.replicated) {
            (Some(ec), None) => R::Erasure(pb::EcProfile {
                k: u32::from(ec.k),
                m: u32::from(ec.m),
                stripe_unit: 0,
                codec: String::new(),
            }),
            (None, Some(size)) => R::ReplicatedSize(size),
            _ => bail!("give exactly one of --ec K+M or --replicated N"),
        };
        Ok(pb::CreatePoolRequest {
            name: self.name.clone(),
            redundancy: Some(redundancy),
            pg_num: self.pg_num,
            failure_domain: self.failure_domain.wire().to_string(),
            min_size: self.min_size.unwrap_or(0),
        })
    }
}

/// Erasure-code parameters of a pool.
#[derive(Debug, Clone, Serialize)]
pub struct EcView {
    /// Data chunks.
    pub k: u8,
    /// Parity chunks.
    pub m: u8,
    /// Bytes per data chunk per stripe.
    pub stripe_unit: u32,
    /// Codec name.
    pub codec: String,
}

/// One pool.
#[derive(Debug, Clone, Serialize)]
pub struct PoolView {
    /// Pool id.
    pub id: u32,
    /// Pool name.
    pub name: String,
    /// `erasure` or `replicated`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Members per PG: replicas or `k + m`.
    pub size: u32,
    /// Erasure-code parameters (`null` for replicated pools).
    pub ec: Option<EcView>,
    /// Placement groups.
    pub pg_num: u32,
    /// `host` or `osd`.
    pub failure_domain: String,
    /// Fewest members that accept writes.
    pub min_size: u32,
}

impl From<&Pool> for PoolView {
    fn from(p: &Pool) -> Self {
        let (kind, ec) = match &p.redundancy {
            Redundancy::Replicated { .. } => ("replicated", None),
            Redundancy::Erasure(e) => (
                "erasure",
                Some(EcView {
                    k: e.k,
                    m: e.m,
                    stripe_unit: e.stripe_unit,
                    codec: e.codec.to_string(),
                }),
            ),
        };
        PoolView {
            id: p.id.0,
            name: p.name.clone(),
            kind,
            size: p.redundancy.width(),
            ec,
            pg_num: p.pg_num,
            failure_domain: p.failure_domain.to_string(),
            min_size: p.min_size,
        }
    }
}

impl PoolView {
    /// `erasure 2+1` or `replicated 3`.
    pub fn type_text(&self) -> String {
        match &self.ec {
            Some(e) => format!("erasure {}+{}", e.k, e.m),
            None => format!("replicated {}", self.size),
        }
    }
}

/// Pools as a table (and a JSON array).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct PoolList(pub Vec<PoolView>);

impl Report for PoolList {
    fn table(&self) -> String {
        let mut t = Table::new(&["ID", "NAME", "TYPE", "PG_NUM", "FAILURE_DOMAIN", "MIN_SIZE"])
            .right(0)
            .right(3)
            .right(5);
        for p in &self.0 {
            t.row(vec![
                p.id.to_string(),
                p.name.clone(),
                p.type_text(),
                p.pg_num.to_string(),
                p.failure_domain.clone(),
                p.min_size.to_string(),
            ]);
        }
        t.render()
    }
}

impl Report for PoolView {
    fn table(&self) -> String {
        let mut s = PoolList(vec![self.clone()]).table();
        if let Some(e) = &self.ec {
            s.push_str(&format!(
                "stripe unit {} bytes, codec {}\n",
                e.stripe_unit, e.codec
            ));
        }
        s
    }
}

/// `pool create`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedView {
    /// The pool as recorded.
    #[serde(flatten)]
    pub pool: PoolView,
    /// Map epoch that created it.
    pub epoch: u64,
    /// Why it cannot be placed fully right now; empty when it can.
    pub warning: String,
}

impl Report for CreatedView {
    fn table(&self) -> String {
        let mut s = format!(
            "created pool {:?} at map epoch {}\n",
            self.pool.name, self.epoch
        );
        s.push_str(&self.pool.table());
        if !self.warning.is_empty() {
            s.push_str(&format!("warning: {}\n", self.warning));
        }
        s
    }
}

/// `pool rm`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct RemovedView {
    /// Pool name.
    pub removed: String,
    /// Map epoch after the removal.
    pub epoch: u64,
}

impl Report for RemovedView {
    fn table(&self) -> String {
        format!(
            "removed pool {:?}; map epoch {}\n",
            self.removed, self.epoch
        )
    }
}

/// Runs `cuttle pool create`.
pub async fn create(ctx: &Ctx, spec: &CreateSpec) -> Result<()> {
    let req = spec.request()?;
    let what = format!("creating pool {:?}", spec.name);
    let reply = ctx
        .client()?
        .create_pool(req)
        .await
        .map_err(|e| failed(&what, &e))?;
    let pool = reply
        .pool
        .as_ref()
        .ok_or_else(|| anyhow!("{what}: the monitor's reply names no pool (protocol)"))
        .and_then(|p| {
            Pool::try_from(p).map_err(|e| anyhow!("{what}: malformed reply: {e} (protocol)"))
        })?;
    let view = CreatedView {
        pool: PoolView::from(&pool),
        epoch: reply.epoch,
        warning: reply.warning,
    };
    output::emit(ctx.format, &view)
}

/// Runs `cuttle pool ls`.
pub async fn ls(ctx: &Ctx) -> Result<()> {
    let map = ctx.fresh_map().await?;
    output::emit(
        ctx.format,
        &PoolList(map.pools.values().map(PoolView::from).collect()),
    )
}

/// Runs `cuttle pool get NAME`.
pub async fn get(ctx: &Ctx, name: &str) -> Result<()> {
    let map = ctx.fresh_map().await?;
    let pool = map.pool_by_name(name).ok_or_else(|| {
        anyhow!(
            "reading pool {name:?}: pool {name:?} does not exist in map epoch {} (no_such_pool)",
            map.epoch.0
        )
    })?;
    output::emit(ctx.format, &PoolView::from(pool))
}

/// Runs `cuttle pool rm NAME`: refuses without the confirmation flag, sending nothing.
pub async fn rm(ctx: &Ctx, name: &str, confirmed: bool) -> Result<()> {
    if !confirmed {
        bail!(
            "refusing to remove pool {name:?}: removal destroys all of its data; \
             repeat the command with {CONFIRM_FLAG} to confirm (confirmation_required)"
        );
    }
    let epoch = ctx
        .client()?
        .remove_pool(name, name)
        .await
        .map_err(|e| failed(format_args!("removing pool {name:?}"), &e))?;
    output::emit(
        ctx.format,
        &RemovedView {
            removed: name.to_string(),
            epoch: epoch.0,
        },
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use cuttle_types::{EcProfile, FailureDomain, PoolId};

    use super::*;

    #[test]
    fn ec_shapes_parse_strictly() {
        assert_eq!("2+1".parse(), Ok(EcSpec { k: 2, m: 1 }));
        assert_eq!("10+4".parse(), Ok(EcSpec { k: 10, m: 4 }));
        assert_eq!("255+255".parse(), Ok(EcSpec { k: 255, m: 255 }));
        for bad in [
            "", "2", "2+", "+1", "2+1+1", " 2+1", "2+1 ", "2 +1", "+2+1", "2++1", "a+b", "2-1",
            "2:1", "-2+1", "2+-1", "2.0+1", "0x2+1",
        ] {
            assert!(bad.parse::<EcSpec>().is_err(), "{bad:?} was accepted");
        }
        let zero = "0+1".parse::<EcSpec>().unwrap_err();
        assert!(zero.contains("at least 1"), "{zero}");
        let big = "256+1".parse::<EcSpec>().unwrap_err();
        assert!(big.contains("at most 255"), "{big}");
        assert_eq!(EcSpec { k: 4, m: 2 }.to_string(), "4+2");
    }

    #[test]
    fn create_requests_carry_the_choice() {
        let mut spec = CreateSpec {
            name: "ec".into(),
            ec: Some(EcSpec { k: 4, m: 2 }),
            replicated: None,
            pg_num: 32,
            failure_domain: FailureDomainArg::Osd,
            min_size: None,
        };
        let req = spec.request().unwrap();
        assert_eq!(req.failure_domain, "osd");
        assert_eq!(req.min_size, 0);
        assert!(matches!(
            req.redundancy,
            Some(pb::create_pool_request::Redundancy::Erasure(
                pb::EcProfile { k: 4, m: 2, .. }
            ))
        ));
        spec.ec = None;
        spec.replicated = Some(3);
        spec.min_size = Some(2);
        let req = spec.request().unwrap();
        assert_eq!(
            req.redundancy,
            Some(pb::create_pool_request::Redundancy::ReplicatedSize(3))
        );
        assert_eq!(req.min_size, 2);
        spec.ec = Some(EcSpec { k: 2, m: 1 });
        assert!(spec.request().is_err(), "both kinds at once");
    }

    fn pools() -> PoolList {
        let ec = Pool {
            id: PoolId(1),
            name: "ec".into(),
            redundancy: Redundancy::Erasure(EcProfile::new(2, 1)),
            pg_num: 32,
            failure_domain: FailureDomain::Host,
            min_size: 3,
        };
        let rep = Pool {
            id: PoolId(12),
            name: "metadata".into(),
            redundancy: Redundancy::Replicated { size: 3 },
            pg_num: 128,
            failure_domain: FailureDomain::Osd,
            min_size: 2,
        };
        PoolList(vec![PoolView::from(&ec), PoolView::from(&rep)])
    }

    #[test]
    fn pool_tables_name_the_type() {
        assert_eq!(
            pools().table(),
            "ID  NAME      TYPE          PG_NUM  FAILURE_DOMAIN  MIN_SIZE\n\
             \x201  ec        erasure 2+1       32  host                   3\n\
             12  metadata  replicated 3     128  osd                    2\n"
        );
        assert_eq!(
            PoolList(Vec::new()).table(),
            "ID  NAME  TYPE  PG_NUM  FAILURE_DOMAIN  MIN_SIZE\n"
        );
    }

    #[test]
    fn pool_json_is_flat_with_an_ec_object() {
        let list = pools();
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"id": 1, "name": "ec", "type": "erasure", "size": 3,
                 "ec": {"k": 2, "m": 1, "stripe_unit": 4194304, "codec": "rs_cauchy"},
                 "pg_num": 32, "failure_domain": "host", "min_size": 3},
                {"id": 12, "name": "metadata", "type": "replicated", "size": 3, "ec": null,
                 "pg_num": 128, "failure_domain": "osd", "min_size": 2},
            ])
        );
        let created = CreatedView {
            pool: list.0[0].clone(),
            epoch: 5,
            warning: String::new(),
        };
        let json = serde_json::to_value(&created).unwrap();
        assert_eq!(json["name"], "ec");
        assert_eq!(json["epoch"], 5);
        assert_eq!(
            serde_json::to_value(PoolList(Vec::new())).unwrap(),
            serde_json::json!([])
        );
    }

    #[test]
    fn a_creation_warning_is_shown() {
        let created = CreatedView {
            pool: pools().0[0].clone(),
            epoch: 5,
            warning: "only 2 of the 3 hosts are up".into(),
        };
        let t = created.table();
        assert!(t.starts_with("created pool \"ec\" at map epoch 5\n"), "{t}");
        assert!(
            t.ends_with("warning: only 2 of the 3 hosts are up\n"),
            "{t}"
        );
    }
}
