//! `cuttle gc list|process`: the S3 gateways' queue of replaced object data waiting to
//! be removed (`cuttle-rgw`'s [`GcQueue`]), like `radosgw-admin gc list|process`.
//! Gateways process due entries on their own; these commands show the queue and remove
//! due data now (`--include-all`: also data not yet due, e.g. to reclaim space at once).
//!
//! JSON shapes: `list` prints an array of `{due_ms, bucket, key, segments, queued_ms,
//! stripes}`; `process` prints `{entries, stripes}`.

use std::time::Duration;

use anyhow::{Result, anyhow};
use cuttle_rgw::gc::{GcEntry, GcPass, GcQueue};
use cuttle_rgw::{PoolNames, Pools};
use serde::Serialize;

use crate::ctx::Ctx;
use crate::output::{self, Report, Table};

async fn queue(ctx: &Ctx) -> Result<GcQueue> {
    let cluster = ctx.cluster().await?;
    let pools = Pools::open(&cluster, &PoolNames::default())
        .await
        .map_err(|e| anyhow!("opening the gateway pools: {e} ({})", e.code()))?;
    // The delay only matters for queueing, which these commands do not do.
    Ok(GcQueue::new(pools.index, pools.data, Duration::ZERO))
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct GcList(Vec<GcEntry>);

impl Report for GcList {
    fn table(&self) -> String {
        let mut t = Table::new(&["DUE", "BUCKET", "KEY", "BYTES", "STRIPES"]);
        let now = cuttle_rgw::records::now_ms();
        for e in &self.0 {
            let due = if e.due_ms <= now {
                "now".to_string()
            } else {
                format!("in {}s", (e.due_ms - now).div_ceil(1000))
            };
            t.row(vec![
                due,
                e.record.bucket.clone(),
                e.record.key.clone(),
                output::bytes(e.record.segments.iter().map(|s| s.s).sum()),
                e.stripes.len().to_string(),
            ]);
        }
        t.render()
    }
}

/// Runs `cuttle gc list`.
pub async fn list(ctx: &Ctx, max: u32) -> Result<()> {
    let q = queue(ctx).await?;
    let entries = q
        .list(max)
        .await
        .map_err(|e| anyhow!("listing the gc queue: {e} ({})", e.code()))?;
    output::emit(ctx.format, &GcList(entries))
}

#[derive(Debug, Serialize)]
#[serde(transparent)]
struct Processed(GcPass);

impl Report for Processed {
    fn table(&self) -> String {
        format!(
            "removed the data of {} queue entries ({} stripe objects)\n",
            self.0.entries, self.0.stripes
        )
    }
}

/// Runs `cuttle gc process`.
pub async fn process(ctx: &Ctx, include_all: bool) -> Result<()> {
    let q = queue(ctx).await?;
    let pass = q
        .process(include_all)
        .await
        .map_err(|e| anyhow!("processing the gc queue: {e} ({})", e.code()))?;
    output::emit(ctx.format, &Processed(pass))
}
