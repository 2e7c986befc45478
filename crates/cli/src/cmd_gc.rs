//! `cuttle gc list|process`: the S3 gateways' queue of replaced object data waiting to
//! be removed (`cuttle-rgw`'s [`GcQueue`]), like `radosgw-admin gc list|process`.
//! Gateways process due entries on their own; these commands show the queue and remove
//! due data now (`--include-all`: also data not yet due, e.g. to reclaim space at once).
//! `cuttle gc orphans [--remove]` finds (and removes) data nothing refers to, like
//! `rgw-orphan-list` ([`cuttle_rgw::orphans`]).
//!
//! JSON shapes: `list` prints an array of `{due_ms, bucket, key, segments, queued_ms,
//! stripes}`; `process` prints `{entries, stripes}`; `orphans` prints `{orphans,
//! unknown_age, unrecognized, recent, scanned_objects, referenced_instances,
//! removed_stripes, failed_removals}`, each orphan `{instance, bucket_id, bucket,
//! stripes, bytes, age_s}` (`age_s` null when the id tells no age).

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use cuttle_rgw::gc::{GcEntry, GcPass, GcQueue};
use cuttle_rgw::orphans::{Orphan, OrphanReport, OrphanScan, Progress, ScanOptions};
use cuttle_rgw::{PoolNames, Pools};
use serde::Serialize;

use crate::ctx::Ctx;
use crate::output::{self, Report, Table};

async fn pools(ctx: &Ctx) -> Result<Pools> {
    let cluster = ctx.cluster().await?;
    Pools::open(&cluster, &PoolNames::default())
        .await
        .map_err(|e| anyhow!("opening the gateway pools: {e} ({})", e.code()))
}

async fn queue(ctx: &Ctx) -> Result<GcQueue> {
    let pools = pools(ctx).await?;
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

/// Seconds between progress lines of a long scan.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize)]
struct Orphans {
    #[serde(flatten)]
    report: OrphanReport,
    /// `--remove` was given (only changes the wording of the table).
    #[serde(skip)]
    removing: bool,
}

/// An age as `3d4h`, `2h5m`, `7m`, `40s`; `unknown` without one.
fn age(secs: Option<u64>) -> String {
    match secs {
        None => "unknown".to_string(),
        Some(s) if s >= 86_400 => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
        Some(s) if s >= 3600 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        Some(s) if s >= 60 => format!("{}m", s / 60),
        Some(s) => format!("{s}s"),
    }
}

fn orphan_table(list: &[Orphan]) -> String {
    let mut t = Table::new(&["INSTANCE", "BUCKET", "STRIPES", "BYTES", "AGE"])
        .right(2)
        .right(3)
        .right(4);
    for o in list {
        t.row(vec![
            o.instance.clone(),
            o.bucket.clone().unwrap_or_else(|| "(deleted)".to_string()),
            o.stripes.len().to_string(),
            output::bytes(o.bytes),
            age(o.age_s),
        ]);
    }
    t.render()
}

fn totals(list: &[Orphan]) -> (usize, u64) {
    (
        list.iter().map(|o| o.stripes.len()).sum(),
        list.iter().map(|o| o.bytes).sum(),
    )
}

impl Report for Orphans {
    fn table(&self) -> String {
        let r = &self.report;
        let mut out = orphan_table(&r.orphans);
        if !r.unknown_age.is_empty() {
            out.push_str(
                "\nunreferenced, age unknown (ids from before ids carried a time; kept unless \
                 --include-unknown-age):\n",
            );
            out.push_str(&orphan_table(&r.unknown_age));
        }
        if !r.unrecognized.is_empty() {
            out.push_str("\nnot gateway stripes (left alone):\n");
            for n in &r.unrecognized {
                out.push_str(&format!("  {n}\n"));
            }
        }
        for f in &r.failed_removals {
            out.push_str(&format!("failed to remove {}: {}\n", f.stripe, f.error));
        }
        let (stripes, bytes) = totals(&r.orphans);
        out.push_str(&format!(
            "\norphaned instances: {} ({stripes} stripe objects, {}); unreferenced but left alone: \
             {} of unknown age, {} younger than the minimum age; {} unrecognized objects; \
             scanned {} objects against {} referenced instances\n",
            r.orphans.len(),
            output::bytes(bytes),
            r.unknown_age.len(),
            r.recent,
            r.unrecognized.len(),
            r.scanned_objects,
            r.referenced_instances,
        ));
        if self.removing {
            out.push_str(&format!(
                "removed {} of {stripes} stripe objects{}\n",
                r.removed_stripes,
                if r.failed_removals.is_empty() {
                    ""
                } else {
                    " (the others stay; run again)"
                }
            ));
        } else if !r.orphans.is_empty() {
            out.push_str("nothing removed (--remove removes the orphans listed above)\n");
        }
        out
    }
}

/// Runs `cuttle gc orphans`: scans (progress on stderr every few seconds of a long
/// scan), removes the orphans' stripes with `remove`, reports.
pub async fn orphans(ctx: &Ctx, opts: &ScanOptions, remove: bool) -> Result<()> {
    if remove && opts.min_age < Duration::from_secs(3600) {
        eprintln!(
            "warning: removing unreferenced data younger than an hour; uploads still in progress may lose data"
        );
    }
    let scan = OrphanScan::new(&pools(ctx).await?);
    let mut last = Instant::now();
    let progress = |p: Progress| {
        if last.elapsed() < PROGRESS_EVERY {
            return;
        }
        last = Instant::now();
        match p {
            Progress::DataListed { objects } => {
                eprintln!("listing .rgw.data: {objects} objects so far")
            }
            Progress::BucketsRead { done, total } => {
                eprintln!("reading references: {done} of {total} buckets")
            }
        }
    };
    let mut report = scan
        .scan(opts, progress)
        .await
        .map_err(|e| anyhow!("scanning for orphaned data: {e} ({})", e.code()))?;
    if remove {
        scan.remove(&mut report).await;
    }
    let failed = report.failed_removals.len();
    output::emit(
        ctx.format,
        &Orphans {
            report,
            removing: remove,
        },
    )?;
    if failed > 0 {
        return Err(anyhow!(
            "{failed} stripe objects could not be removed (listed in the output) (cluster)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_a_glance() {
        assert_eq!(age(None), "unknown");
        assert_eq!(age(Some(40)), "40s");
        assert_eq!(age(Some(420)), "7m");
        assert_eq!(age(Some(2 * 3600 + 5 * 60)), "2h5m");
        assert_eq!(age(Some(3 * 86_400 + 4 * 3600 + 59)), "3d4h");
    }
}
