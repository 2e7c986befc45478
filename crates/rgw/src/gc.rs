//! Deferred removal of replaced object data (the gateway's garbage collector, as Ceph
//! RGW's). When an overwrite or a delete unlinks an object's data, readers that looked
//! the object up just before may still be streaming it, so its stripes are not removed
//! at once. They are queued instead, persistently, and removed `delay` later:
//!
//! ```text
//! .rgw.index
//!   gc.<shard>   omap  <due unix ms, 16 digits>.<instance> -> GcRecord
//! ```
//!
//! (shard = crc32c(instance) mod [`GC_SHARDS`], so queueing spreads over PGs). Every
//! gateway processes due entries every `interval`; removing a stripe twice is harmless,
//! so gateways need no coordination. Operators list and process the queue with `cuttle
//! gc list|process` (like `radosgw-admin gc list|process`).

use std::time::Duration;

use bytes::Bytes;
use cuttle_client::IoCtx;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::error::{RgwResult, is_not_found};
use crate::records::{self, Segment, VERSION};

/// Shards of the queue.
pub const GC_SHARDS: u32 = 8;
/// Entries read from a shard per step.
const PAGE: u32 = 100;

/// The omap object of queue shard `shard`.
pub(crate) fn shard_object(shard: u32) -> String {
    format!("gc.{shard}")
}

/// Data waiting to be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcRecord {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Bucket the data belonged to (for operators).
    pub bucket: String,
    /// Object key it was the data of (for operators).
    pub key: String,
    /// The data.
    pub segments: Vec<Segment>,
    /// When it was unlinked, unix milliseconds.
    pub queued_ms: u64,
}

fn v1() -> u32 {
    VERSION
}

impl records::Versioned for GcRecord {
    fn version(&self) -> u32 {
        self.v
    }
}

/// A queued entry as `cuttle gc list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GcEntry {
    /// When it becomes due, unix milliseconds.
    pub due_ms: u64,
    /// The record.
    #[serde(flatten)]
    pub record: GcRecord,
    /// Stripe objects to remove.
    pub stripes: Vec<String>,
}

/// What a processing pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GcPass {
    /// Queue entries completed.
    pub entries: u64,
    /// Stripe objects removed (or already gone).
    pub stripes: u64,
}

/// The queue, over the index pool (queue) and the data pool (stripes).
#[derive(Debug, Clone)]
pub struct GcQueue {
    index: IoCtx,
    data: IoCtx,
    delay: Duration,
}

/// Removes the objects `names`, up to 8 at a time, treating "already gone" as done;
/// returns each name with the error its removal failed with, if any.
pub async fn remove_named(io: &IoCtx, names: Vec<String>) -> Vec<(String, Option<String>)> {
    futures::stream::iter(names)
        .map(|name| async move {
            match io.remove(&name).await {
                Ok(()) => (name, None),
                Err(e) if is_not_found(&e) => (name, None),
                Err(e) => (name, Some(e.to_string())),
            }
        })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Removes stripes, treating "already gone" as done; failures are logged (the
/// stripes stay as garbage) and counted out.
pub async fn remove_stripes(io: &IoCtx, segments: &[Segment]) -> u64 {
    let names: Vec<String> = segments.iter().flat_map(Segment::stripe_names).collect();
    let mut removed = 0;
    for (name, failed) in remove_named(io, names).await {
        match failed {
            None => removed += 1,
            Some(e) => {
                tracing::warn!(object = %name, "removing a stripe failed (left as garbage): {e}")
            }
        }
    }
    removed
}

impl GcQueue {
    /// A queue whose entries become due `delay` after they are queued.
    pub fn new(index: IoCtx, data: IoCtx, delay: Duration) -> GcQueue {
        GcQueue { index, data, delay }
    }

    /// Queues the data of `bucket`/`key` for removal after the delay.
    pub async fn enqueue(&self, bucket: &str, key: &str, segments: Vec<Segment>) -> RgwResult<()> {
        let Some(first) = segments.iter().find(|s| s.stripes() > 0) else {
            return Ok(());
        };
        let now = records::now_ms();
        let due = now.saturating_add(self.delay.as_millis() as u64);
        let shard = crc32c::crc32c(first.i.as_bytes()) % GC_SHARDS;
        let rec = GcRecord {
            v: VERSION,
            bucket: bucket.to_string(),
            key: key.to_string(),
            segments,
            queued_ms: now,
        };
        let entry_key = format!("{due:016}.{}", rec.segments[0].i);
        self.index
            .omap_set(
                &shard_object(shard),
                vec![(Bytes::from(entry_key), records::encode(&rec))],
            )
            .await?;
        Ok(())
    }

    /// Up to `max` queued entries of each shard, due first.
    pub async fn list(&self, max: u32) -> RgwResult<Vec<GcEntry>> {
        let mut out = Vec::new();
        for shard in 0..GC_SHARDS {
            let (page, _) = match self
                .index
                .omap_list(&shard_object(shard), b"", b"", max.max(1))
                .await
            {
                Ok(p) => p,
                Err(e) if is_not_found(&e) => continue,
                Err(e) => return Err(e.into()),
            };
            for (k, v) in page {
                out.push(entry_of(&k, &v)?);
            }
        }
        out.sort_by_key(|e| e.due_ms);
        Ok(out)
    }

    /// Removes the data of every due entry (every entry with `include_all`).
    pub async fn process(&self, include_all: bool) -> RgwResult<GcPass> {
        let now = records::now_ms();
        let mut pass = GcPass::default();
        for shard in 0..GC_SHARDS {
            let object = shard_object(shard);
            let mut after: Vec<u8> = Vec::new();
            loop {
                let (page, more) = match self.index.omap_list(&object, b"", &after, PAGE).await {
                    Ok(p) => p,
                    Err(e) if is_not_found(&e) => break,
                    Err(e) => return Err(e.into()),
                };
                let mut done = Vec::new();
                let mut reached_future = false;
                for (k, v) in &page {
                    let e = entry_of(k, v)?;
                    if !include_all && e.due_ms > now {
                        reached_future = true;
                        break;
                    }
                    let removed = remove_stripes(&self.data, &e.record.segments).await;
                    pass.stripes += removed;
                    if removed == e.stripes.len() as u64 {
                        done.push(k.clone());
                    }
                }
                if !done.is_empty() {
                    pass.entries += done.len() as u64;
                    self.index.omap_rm(&object, done).await?;
                }
                match page.last() {
                    Some((k, _)) if more && !reached_future => after = k.to_vec(),
                    _ => break,
                }
            }
        }
        Ok(pass)
    }

    /// Processes due entries every `interval` until `stop` fires.
    pub async fn run(self, interval: Duration, stop: tokio_util::sync::CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.cancelled() => return,
            }
            match self.process(false).await {
                Ok(p) if p.entries > 0 => {
                    tracing::info!(
                        entries = p.entries,
                        stripes = p.stripes,
                        "gc: removed replaced data"
                    )
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("gc pass failed (retried next interval): {e}"),
            }
        }
    }
}

fn entry_of(key: &[u8], value: &[u8]) -> RgwResult<GcEntry> {
    let k = String::from_utf8_lossy(key);
    let record: GcRecord = records::decode(&format!("gc entry {k}"), value)?;
    let due_ms = k
        .split_once('.')
        .and_then(|(d, _)| d.parse().ok())
        .unwrap_or(0);
    let stripes = record
        .segments
        .iter()
        .flat_map(Segment::stripe_names)
        .collect();
    Ok(GcEntry {
        due_ms,
        record,
        stripes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_decode_with_their_due_time_and_stripes() {
        let rec = GcRecord {
            v: VERSION,
            bucket: "b".into(),
            key: "k".into(),
            segments: vec![Segment {
                i: "bid.inst".into(),
                s: 9 << 20,
                ss: 4 << 20,
            }],
            queued_ms: 5,
        };
        let e = entry_of(b"0000000000001234.bid.inst", &records::encode(&rec));
        let e = e.ok();
        assert_eq!(e.as_ref().map(|e| e.due_ms), Some(1234));
        assert_eq!(
            e.map(|e| e.stripes),
            Some(vec![
                "bid.inst.0".to_string(),
                "bid.inst.1".into(),
                "bid.inst.2".into()
            ])
        );
        assert!(entry_of(b"0000000000001234.x", b"{").is_err());
    }
}
