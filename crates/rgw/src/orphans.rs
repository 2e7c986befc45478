//! Orphaned object data: stripes in `.rgw.data` that no bucket index entry, unfinished
//! multipart upload or gc queue entry refers to (Ceph's `rgw-orphan-list`). Operators
//! list and remove them with `cuttle gc orphans`.
//!
//! How data leaks: a PUT (or UploadPart, CopyObject) writes its stripes first and its
//! index entry (part record) last, so a gateway killed in between leaves stripes that
//! nothing names; so does one killed between unlinking replaced data and queueing it
//! for the gc ([`crate::gc`]), and so does a removal that failed ("left as garbage" in
//! the gateway's log). Nothing else ever finds such stripes again.
//!
//! The scan, in this order:
//!
//! 1. list every object name of `.rgw.data`, grouping stripes `<bucket id>.<id>.<n>` by
//!    instance `<bucket id>.<id>` (names of any other shape are reported as
//!    unrecognized and never removed);
//! 2. collect every referenced instance (a segment's `i`, whether or not it names
//!    stripes): for every bucket record in `.rgw.meta`, the parts of its unfinished
//!    multipart uploads (`<bucket id>.mpu`, `<bucket id>.mpu.<upload>`) and then every
//!    entry of its index; then every gc queue entry (queued data is the gc's job);
//! 3. an unreferenced instance is an orphan when its id (a UUIDv7,
//!    [`crate::names::instance_id_time_ms`]) is at least `min_age` older than the start
//!    of the scan. Ids made before ids carried a time (UUIDv4) are reported as "age
//!    unknown" and count as orphans only when the caller asks;
//! 4. each candidate's stripes are stat'ed (sizes; stripes gone meanwhile, e.g. removed
//!    by a gc pass, are dropped) and the gc queue is read once more, so that data an
//!    overwrite or delete unlinked during the scan and queued just after is not taken.
//!
//! Why this order is safe: data is listed before any reference is read, so everything
//! committed while the scan runs is seen as referenced. Data moves between references
//! only in one direction each (a part record → an index entry at
//! CompleteMultipartUpload, which writes the entry before forgetting the upload; an
//! index entry → the gc queue at overwrite and delete), and each source is read before
//! its destination, so moving data is seen in one of the two. Any error while reading
//! references fails the scan: an incomplete set of references must never decide what
//! to remove.
//!
//! The remaining race, as radosgw's `rgw-orphan-list` documents too: an upload that is
//! still writing stripes `min_age` after it started has no index entry (or part record)
//! yet, so its stripes look orphaned. Choose `min_age` well above the longest upload
//! (the default is a day; the instance id's time is the upload's start), and do not
//! remove with a small `min_age` on a cluster taking writes.
//!
//! Cost: one listing of `.rgw.data`, a full listing of every bucket index, and a stat
//! per candidate stripe; the listing is held in memory (one entry per instance).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use cuttle_client::{IoCtx, ListCursor};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::error::{RgwError, RgwResult, is_not_found};
use crate::gc::{GC_SHARDS, GcRecord};
use crate::index::{BucketIndex, ListParams, Listed};
use crate::meta::{BucketStore, omap_all};
use crate::names;
use crate::pools::Pools;
use crate::records::{self, BucketRecord, PartRecord, UploadRecord};

/// Default minimum age of an orphan (a day, as for `rgw-orphan-list`'s advice).
pub const DEFAULT_MIN_AGE: Duration = Duration::from_secs(86_400);
/// Names per listing call, entries per index page.
const PAGE: u32 = 1000;
/// Cluster calls in flight (stats, removals, buckets read at once).
const PARALLEL: usize = 8;
/// Prefix of bucket record objects in `.rgw.meta` (`crate::records`).
const BUCKET_PREFIX: &str = "bucket.";

/// What the scan counts as an orphan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanOptions {
    /// Unreferenced data younger than this is left alone: it may belong to an upload
    /// in progress.
    pub min_age: Duration,
    /// Unreferenced data whose id tells no time (UUIDv4 ids made before v7) counts as
    /// orphaned too.
    pub include_unknown_age: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            min_age: DEFAULT_MIN_AGE,
            include_unknown_age: false,
        }
    }
}

/// A stripe name of `.rgw.data` taken apart: `<bucket id>.<id>.<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StripeName<'a> {
    /// `<bucket id>.<id>`: the instance (a segment's `i`).
    pub instance: &'a str,
    /// The bucket id.
    pub bucket_id: &'a str,
    /// The instance's own id (its time tells the data's age).
    pub id: &'a str,
    /// Stripe number.
    pub n: u64,
}

/// Takes a stripe name apart; `None` for any name the gateway does not write: both
/// ids 32 lower-case hex digits, the stripe number in decimal without leading zeros.
pub fn parse_stripe_name(name: &str) -> Option<StripeName<'_>> {
    let (instance, n) = name.rsplit_once('.')?;
    let (bucket_id, id) = instance.split_once('.')?;
    if !names::is_instance_id(bucket_id) || !names::is_instance_id(id) {
        return None;
    }
    let canonical =
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'));
    if !canonical {
        return None;
    }
    Some(StripeName {
        instance,
        bucket_id,
        id,
        n: n.parse().ok()?,
    })
}

/// What becomes of an instance that nothing refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Old enough (or of unknown age, when asked for): an orphan.
    Orphan,
    /// Younger than the minimum age (perhaps an upload in progress): left alone.
    Recent,
    /// Its id tells no time: reported, left alone.
    UnknownAge,
}

/// Judges an unreferenced instance made at `created_ms` (`None`: unknown), seen
/// unreferenced by a scan that started at `now_ms`. A creation time in the future
/// (clock skew between machines) counts as age 0.
pub fn judge(created_ms: Option<u64>, now_ms: u64, opts: &ScanOptions) -> Verdict {
    let min_age_ms = u64::try_from(opts.min_age.as_millis()).unwrap_or(u64::MAX);
    match created_ms {
        None if opts.include_unknown_age => Verdict::Orphan,
        None => Verdict::UnknownAge,
        Some(t) if now_ms.saturating_sub(t) >= min_age_ms => Verdict::Orphan,
        Some(_) => Verdict::Recent,
    }
}

/// Object names of `.rgw.data`, stripes grouped by instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataListing {
    /// Stripe numbers of each instance, as listed.
    pub instances: BTreeMap<String, Vec<u64>>,
    /// Names not of the stripe shape.
    pub unrecognized: Vec<String>,
    /// Names seen.
    pub objects: u64,
}

impl DataListing {
    /// Adds one listed name.
    pub fn add(&mut self, name: String) {
        self.objects += 1;
        match parse_stripe_name(&name) {
            Some(s) => self
                .instances
                .entry(s.instance.to_string())
                .or_default()
                .push(s.n),
            None => self.unrecognized.push(name),
        }
    }
}

/// An unreferenced instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Orphan {
    /// `<bucket id>.<id>`.
    pub instance: String,
    /// The bucket id it was written under.
    pub bucket_id: String,
    /// Name of the bucket with that id, `None` when it no longer exists.
    pub bucket: Option<String>,
    /// Its stripe objects, in stripe order.
    pub stripes: Vec<String>,
    /// Bytes in them.
    pub bytes: u64,
    /// Age at the start of the scan, seconds; `None` when its id tells no time.
    pub age_s: Option<u64>,
}

/// A stripe that could not be removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedRemoval {
    /// The stripe object.
    pub stripe: String,
    /// Why.
    pub error: String,
}

/// What a scan found (and a removal did), as `cuttle gc orphans` reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OrphanReport {
    /// Orphans: unreferenced and old enough (with `include_unknown_age`, also those of
    /// unknown age). Only these are removed.
    pub orphans: Vec<Orphan>,
    /// Unreferenced instances whose id tells no time (left alone).
    pub unknown_age: Vec<Orphan>,
    /// Names of `.rgw.data` objects not of the stripe shape (left alone).
    pub unrecognized: Vec<String>,
    /// Unreferenced instances younger than the minimum age (left alone).
    pub recent: u64,
    /// Objects listed in `.rgw.data`.
    pub scanned_objects: u64,
    /// Distinct instances referenced by indexes, uploads and the gc queue.
    pub referenced_instances: u64,
    /// Stripe objects removed (or found gone) by [`OrphanScan::remove`].
    pub removed_stripes: u64,
    /// Stripe objects [`OrphanScan::remove`] could not remove (they stay).
    pub failed_removals: Vec<FailedRemoval>,
}

fn orphan_of(instance: &str, mut stripes: Vec<u64>, age_s: Option<u64>) -> Orphan {
    stripes.sort_unstable();
    stripes.dedup();
    Orphan {
        instance: instance.to_string(),
        bucket_id: instance
            .split_once('.')
            .map_or_else(String::new, |(b, _)| b.to_string()),
        bucket: None,
        stripes: stripes.iter().map(|n| format!("{instance}.{n}")).collect(),
        bytes: 0,
        age_s,
    }
}

/// Sorts a listing against the referenced instances; a pure decision (no I/O).
/// `now_ms` is when the scan started.
pub fn classify(
    listing: DataListing,
    referenced: &HashSet<String>,
    now_ms: u64,
    opts: &ScanOptions,
) -> OrphanReport {
    let mut report = OrphanReport {
        unrecognized: listing.unrecognized,
        scanned_objects: listing.objects,
        referenced_instances: referenced.len() as u64,
        ..OrphanReport::default()
    };
    for (instance, stripes) in listing.instances {
        if referenced.contains(&instance) {
            continue;
        }
        let created = instance
            .split_once('.')
            .and_then(|(_, id)| names::instance_id_time_ms(id));
        let age_s = created.map(|t| now_ms.saturating_sub(t) / 1000);
        match judge(created, now_ms, opts) {
            Verdict::Orphan => report.orphans.push(orphan_of(&instance, stripes, age_s)),
            Verdict::UnknownAge => report
                .unknown_age
                .push(orphan_of(&instance, stripes, age_s)),
            Verdict::Recent => report.recent += 1,
        }
    }
    report.unrecognized.sort();
    report
}

/// What a scan is doing, for progress displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Listing `.rgw.data`: names seen so far.
    DataListed {
        /// Names so far.
        objects: u64,
    },
    /// Reading the references of bucket after bucket.
    BucketsRead {
        /// Buckets read.
        done: u64,
        /// Buckets in all.
        total: u64,
    },
}

/// The orphan scan over the gateway pools.
#[derive(Debug, Clone)]
pub struct OrphanScan {
    meta: IoCtx,
    index: IoCtx,
    data: IoCtx,
}

impl OrphanScan {
    /// Over the gateway pools.
    pub fn new(pools: &Pools) -> OrphanScan {
        OrphanScan {
            meta: pools.meta.clone(),
            index: pools.index.clone(),
            data: pools.data.clone(),
        }
    }

    /// Scans for orphans (the steps and their order are in the module doc). Nothing
    /// is removed; `progress` hears how far the scan is.
    pub async fn scan(
        &self,
        opts: &ScanOptions,
        mut progress: impl FnMut(Progress),
    ) -> RgwResult<OrphanReport> {
        let started = records::now_ms();
        let listing = self.list_data(&mut progress).await?;
        let mut referenced = HashSet::new();
        let buckets = self
            .bucket_references(&mut referenced, &mut progress)
            .await?;
        self.gc_references(&mut referenced).await?;
        let mut report = classify(listing, &referenced, started, opts);
        self.measure(&mut report.orphans).await?;
        self.measure(&mut report.unknown_age).await?;
        // Data unlinked during the scan is queued just after its index change: read
        // the queue once more before calling anything an orphan.
        self.gc_references(&mut referenced).await?;
        for list in [&mut report.orphans, &mut report.unknown_age] {
            list.retain(|o| !referenced.contains(&o.instance));
            for o in list.iter_mut() {
                o.bucket = buckets.get(&o.bucket_id).cloned();
            }
        }
        report.referenced_instances = referenced.len() as u64;
        Ok(report)
    }

    /// Removes the stripes of `report.orphans` (only those), recording what it removed
    /// and what failed in the report.
    pub async fn remove(&self, report: &mut OrphanReport) {
        let names: Vec<String> = report
            .orphans
            .iter()
            .flat_map(|o| o.stripes.iter().cloned())
            .collect();
        for (stripe, failed) in crate::gc::remove_named(&self.data, names).await {
            match failed {
                None => report.removed_stripes += 1,
                Some(error) => report.failed_removals.push(FailedRemoval { stripe, error }),
            }
        }
        report
            .failed_removals
            .sort_by(|a, b| a.stripe.cmp(&b.stripe));
    }

    async fn list_data(&self, progress: &mut impl FnMut(Progress)) -> RgwResult<DataListing> {
        let mut listing = DataListing::default();
        let mut cursor = Some(ListCursor::default());
        while let Some(cur) = cursor {
            let (page, next) = self.data.list(&cur, PAGE).await?;
            for name in page {
                listing.add(name);
            }
            progress(Progress::DataListed {
                objects: listing.objects,
            });
            cursor = next;
        }
        Ok(listing)
    }

    /// Adds the instances every bucket refers to; returns bucket id → name.
    async fn bucket_references(
        &self,
        referenced: &mut HashSet<String>,
        progress: &mut impl FnMut(Progress),
    ) -> RgwResult<HashMap<String, String>> {
        let mut names = Vec::new();
        let mut cursor = Some(ListCursor::default());
        while let Some(cur) = cursor {
            let (page, next) = self.meta.list(&cur, PAGE).await?;
            names.extend(
                page.iter()
                    .filter_map(|n| n.strip_prefix(BUCKET_PREFIX))
                    .map(str::to_string),
            );
            cursor = next;
        }
        let total = names.len() as u64;
        let store = BucketStore::new(self.meta.clone());
        let index = BucketIndex::new(self.index.clone());
        let mut buckets = HashMap::new();
        let mut read = futures::stream::iter(names)
            .map(|name| {
                let (store, index) = (&store, &index);
                async move {
                    // Gone since the listing: it was empty, so its data went to the gc
                    // queue, which is read after every bucket.
                    let Some(b) = store.get(&name).await? else {
                        return Ok::<_, RgwError>(None);
                    };
                    let mut refs = Vec::new();
                    // Parts before the index: CompleteMultipartUpload writes the index
                    // entry first, then forgets the upload.
                    self.upload_references(&b, &mut refs).await?;
                    index_references(index, &b, &mut refs).await?;
                    Ok(Some((b, refs)))
                }
            })
            .buffer_unordered(PARALLEL);
        let mut done = 0;
        while let Some(got) = read.try_next().await? {
            done += 1;
            if let Some((b, refs)) = got {
                referenced.extend(refs);
                buckets.insert(b.id, b.name);
            }
            progress(Progress::BucketsRead { done, total });
        }
        Ok(buckets)
    }

    /// The parts of the bucket's unfinished multipart uploads (layout in
    /// `crate::records`).
    async fn upload_references(&self, b: &BucketRecord, refs: &mut Vec<String>) -> RgwResult<()> {
        for (_, v) in omap_all(&self.index, &records::uploads_object(&b.id), b"").await? {
            let u: UploadRecord = records::decode(&format!("upload of bucket {}", b.name), &v)?;
            let parts = records::parts_object(&b.id, &u.upload_id);
            for (k, v) in omap_all(&self.index, &parts, b"").await? {
                let what = format!("part {} of {parts}", String::from_utf8_lossy(&k));
                let p: PartRecord = records::decode(&what, &v)?;
                refs.push(p.data.i);
            }
        }
        Ok(())
    }

    /// Every instance in the gc queue (`crate::gc` layout: `gc.<shard>` omap objects).
    async fn gc_references(&self, referenced: &mut HashSet<String>) -> RgwResult<()> {
        for shard in 0..GC_SHARDS {
            for (k, v) in omap_all(&self.index, &crate::gc::shard_object(shard), b"").await? {
                let what = format!("gc entry {}", String::from_utf8_lossy(&k));
                let r: GcRecord = records::decode(&what, &v)?;
                referenced.extend(r.segments.into_iter().map(|s| s.i));
            }
        }
        Ok(())
    }

    /// Stats every stripe of `list`: sums sizes, drops stripes (and instances) that
    /// are gone by now.
    async fn measure(&self, list: &mut Vec<Orphan>) -> RgwResult<()> {
        let stripes: Vec<(usize, String)> = list
            .iter()
            .enumerate()
            .flat_map(|(i, o)| o.stripes.iter().map(move |s| (i, s.clone())))
            .collect();
        let sizes: Vec<(usize, String, Option<u64>)> = futures::stream::iter(stripes)
            .map(|(i, name)| async move {
                match self.data.stat(&name).await {
                    Ok(info) => Ok((i, name, Some(info.size))),
                    Err(e) if is_not_found(&e) => Ok((i, name, None)),
                    Err(e) => Err(RgwError::Cluster(e)),
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect()
            .await?;
        let mut gone: HashSet<String> = HashSet::new();
        for (i, name, size) in sizes {
            match (size, list.get_mut(i)) {
                (Some(size), Some(o)) => o.bytes += size,
                _ => {
                    gone.insert(name);
                }
            }
        }
        for o in list.iter_mut() {
            o.stripes.retain(|s| !gone.contains(s));
        }
        list.retain(|o| !o.stripes.is_empty());
        Ok(())
    }
}

/// Every instance the bucket's index entries refer to.
async fn index_references(
    index: &BucketIndex,
    b: &BucketRecord,
    refs: &mut Vec<String>,
) -> RgwResult<()> {
    let mut params = ListParams {
        max: PAGE as usize,
        ..ListParams::default()
    };
    loop {
        let page = index.list(b, &params).await?;
        for item in &page.items {
            if let Listed::Object(_, e) = item {
                refs.extend(e.data.iter().map(|s| s.i.clone()));
            }
        }
        match page.items.last() {
            Some(last) if page.truncated => params.start_after = Some(last.name().to_string()),
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BID: &str = "0190b2c4d5e67000800000000000000b";
    /// A v7 id of 1_600_000_000_000 ms.
    const OLD: &str = "0174876e800070008000000000000001";
    const V4: &str = "4f9c1e0a3b2d4c5e9f8a7b6c5d4e3f21";

    fn day() -> ScanOptions {
        ScanOptions::default()
    }

    #[test]
    fn stripe_names_are_taken_apart() {
        let name = format!("{BID}.{OLD}.12");
        let s = parse_stripe_name(&name);
        assert_eq!(
            s,
            Some(StripeName {
                instance: &name[..65],
                bucket_id: BID,
                id: OLD,
                n: 12
            })
        );
        assert_eq!(
            parse_stripe_name(&format!("{BID}.{V4}.0")).map(|s| s.n),
            Some(0)
        );
        for bad in [
            String::new(),
            "notify.0".to_string(),
            format!("{BID}.{OLD}"),     // no stripe number
            format!("{BID}.{OLD}.01"),  // leading zero
            format!("{BID}.{OLD}.-1"),  // not a number
            format!("{BID}.{OLD}."),    // empty number
            format!("{BID}.{OLD}.x.0"), // extra part
            format!("{BID}.mpu.{OLD}"), // index-pool shape
            format!("bid.{OLD}.0"),     // short bucket id
            format!("{BID}.{}.0", OLD.to_uppercase()),
            format!("{BID}.{OLD}.99999999999999999999999"), // overflows u64
        ] {
            assert_eq!(parse_stripe_name(&bad), None, "{bad}");
        }
    }

    #[test]
    fn only_old_enough_unreferenced_data_is_an_orphan() {
        let now = 1_000_000_000;
        let hour = ScanOptions {
            min_age: Duration::from_secs(3600),
            ..day()
        };
        assert_eq!(judge(Some(now - 3_600_000), now, &hour), Verdict::Orphan);
        assert_eq!(judge(Some(now - 3_599_999), now, &hour), Verdict::Recent);
        // Clock skew: made "in the future" is as young as can be.
        assert_eq!(judge(Some(now + 5), now, &hour), Verdict::Recent);
        assert_eq!(judge(None, now, &hour), Verdict::UnknownAge);
        let all = ScanOptions {
            include_unknown_age: true,
            ..hour
        };
        assert_eq!(judge(None, now, &all), Verdict::Orphan);
        assert_eq!(judge(Some(now), now, &all), Verdict::Recent);
        let zero = ScanOptions {
            min_age: Duration::ZERO,
            ..day()
        };
        assert_eq!(judge(Some(now), now, &zero), Verdict::Orphan);
    }

    #[test]
    fn classification_leaves_referenced_recent_and_odd_data_alone() {
        let now = 1_600_000_000_000 + 7_200_000; // OLD is two hours old
        let recent = names::new_instance_id();
        let referenced_old = "0174876e800070008000000000000002";
        let mut listing = DataListing::default();
        for name in [
            format!("{BID}.{OLD}.1"),
            format!("{BID}.{OLD}.0"),
            format!("{BID}.{referenced_old}.0"),
            format!("{BID}.{V4}.0"),
            format!("{BID}.{recent}.0"),
            "zz-odd".to_string(),
        ] {
            listing.add(name);
        }
        let referenced: HashSet<String> = [format!("{BID}.{referenced_old}")].into();
        let hour = ScanOptions {
            min_age: Duration::from_secs(3600),
            ..day()
        };
        let r = classify(listing.clone(), &referenced, now, &hour);
        assert_eq!(r.scanned_objects, 6);
        assert_eq!(r.referenced_instances, 1);
        assert_eq!(r.unrecognized, vec!["zz-odd".to_string()]);
        assert_eq!(r.recent, 1, "{r:?}");
        assert_eq!(
            r.orphans,
            vec![Orphan {
                instance: format!("{BID}.{OLD}"),
                bucket_id: BID.into(),
                bucket: None,
                stripes: vec![format!("{BID}.{OLD}.0"), format!("{BID}.{OLD}.1")],
                bytes: 0,
                age_s: Some(7200),
            }]
        );
        assert_eq!(r.unknown_age.len(), 1);
        assert_eq!(r.unknown_age[0].instance, format!("{BID}.{V4}"));
        assert_eq!(r.unknown_age[0].age_s, None);
        // Asked for: unknown-age data becomes an orphan too.
        let all = ScanOptions {
            include_unknown_age: true,
            ..hour
        };
        let r = classify(listing, &referenced, now, &all);
        assert_eq!(r.orphans.len(), 2);
        assert!(r.unknown_age.is_empty());
    }

    #[test]
    fn the_report_has_the_documented_json_shape() {
        let r = OrphanReport::default();
        let v = serde_json::to_value(&r).ok();
        let keys: Option<Vec<String>> = v
            .as_ref()
            .and_then(|v| v.as_object())
            .map(|o| o.keys().cloned().collect());
        for k in [
            "orphans",
            "unknown_age",
            "unrecognized",
            "scanned_objects",
            "referenced_instances",
            "removed_stripes",
        ] {
            assert!(
                keys.as_ref().is_some_and(|ks| ks.iter().any(|x| x == k)),
                "{k}"
            );
        }
    }
}
