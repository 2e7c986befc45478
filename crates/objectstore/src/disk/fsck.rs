//! `fsck`: proves the store's space invariants and, in deep mode, its data.
//!
//! Checks, on a quiesced store:
//! - every onode decodes and its extents lie inside the data area;
//! - no device block is referenced by two extents;
//! - every referenced block is marked used in the freelist bitmap, and every block the
//!   bitmap marks used is referenced (no leaks);
//! - the in-memory allocator's free space is disjoint from the bitmap's used space, no
//!   block of the data area is in neither (lost space), and free + used (+ space parked
//!   for active readers) adds up to the data area;
//! - deep: every block of every object matches its crc32c (one issue per object).

use std::collections::BTreeMap;

use serde::Serialize;

use super::read::blocking;
use super::{DiskStore, keys};
use crate::alloc::Extent;
use crate::device::{AlignedBuf, BLOCK_SIZE};
use crate::error::{StoreError, StoreResult};
use crate::freelist;
use crate::onode::Onode;

const B: u64 = BLOCK_SIZE as u64;
/// Largest single read during a deep check.
const DEEP_READ: u64 = 4 << 20;

/// One inconsistency found by fsck.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FsckIssue {
    /// An onode record cannot be decoded.
    CorruptOnode {
        /// Printable key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// An extent points outside the data area.
    ExtentOutsideDataArea {
        /// Owner.
        object: String,
        /// Device offset.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Two extents (of two objects, or twice of one) share device blocks.
    ExtentReferencedTwice {
        /// Owner of the extent that starts first.
        object: String,
        /// Owner of the extent starting inside it (may be `object` itself).
        other: String,
        /// First shared device byte.
        offset: u64,
        /// Shared bytes.
        len: u64,
    },
    /// A referenced extent is marked free in the bitmap (so the allocator, which is
    /// built from the bitmap at open, would hand it out again).
    UsedButMarkedFree {
        /// Owner.
        object: String,
        /// Device offset.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Space marked used in the bitmap that no object references.
    Leaked {
        /// Device offset.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// The in-memory allocator holds as free space that the bitmap marks used: it
    /// would hand out blocks that are in use.
    FreeSpaceOverlapsUsed {
        /// Device offset.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Space of the data area that is neither free in the allocator, nor marked used
    /// in the bitmap, nor waiting for readers: lost until the next open.
    Unaccounted {
        /// Device offset.
        offset: u64,
        /// Length.
        len: u64,
    },
    /// Free plus used plus parked space does not add up to the data area, beyond what
    /// the located issues above explain.
    SpaceDoesNotAddUp {
        /// Free bytes (allocator).
        free: u64,
        /// Used bytes (bitmap).
        used: u64,
        /// Bytes parked for readers.
        parked: u64,
        /// Data area bytes.
        total: u64,
    },
    /// Deep: a block's data does not match its checksum.
    Checksum {
        /// Owner.
        object: String,
        /// Logical offset of the first bad block.
        offset: u64,
    },
    /// Deep: reading an object's data failed.
    ReadFailed {
        /// Owner.
        object: String,
        /// The error.
        error: String,
    },
}

/// Result of an fsck run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    /// Whether data blocks were read and verified.
    pub deep: bool,
    /// Objects checked.
    pub objects: u64,
    /// Logical bytes of all objects.
    pub logical_bytes: u64,
    /// Device bytes referenced by objects.
    pub referenced_bytes: u64,
    /// Device bytes free.
    pub free_bytes: u64,
    /// Everything found wrong.
    pub issues: Vec<FsckIssue>,
}

impl FsckReport {
    /// Whether no issue was found.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }
}

struct Scan {
    objects: Vec<(String, Onode)>,
    bad: Vec<FsckIssue>,
    regions: BTreeMap<u64, Vec<u8>>,
}

impl DiskStore {
    /// Checks the store's invariants (and with `deep`, every block's checksum). Waits
    /// for in-flight transactions and holds new ones off while it runs.
    pub async fn fsck(&self, deep: bool) -> StoreResult<FsckReport> {
        let _prep = self.prep.lock().await;
        let target = self.core.shared.lock().next_seq.saturating_sub(1);
        let mut rx = self.core.committed.subscribe();
        let _ = rx.wait_for(|&c| c >= target).await;

        let db = self.core.db.clone();
        let scan = blocking(move || {
            let mut objects = Vec::new();
            let mut bad = Vec::new();
            let mut regions = BTreeMap::new();
            let mut it = db.raw_iterator();
            it.seek(keys::onode_prefix_all());
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let Some((coll, name)) = keys::parse_onode_key(k) else {
                    break;
                };
                match Onode::decode(v) {
                    Ok(o) => objects.push((format!("{coll}/{name}"), o)),
                    Err(e) => bad.push(FsckIssue::CorruptOnode {
                        key: keys::printable(k),
                        reason: e.0,
                    }),
                }
                it.next();
            }
            it.seek([freelist::PREFIX]);
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let Some(r) = freelist::parse_region_key(k) else {
                    break;
                };
                regions.insert(r, v.to_vec());
                it.next();
            }
            it.status().map_err(StoreError::db("fsck scan"))?;
            Ok(Scan {
                objects,
                bad,
                regions,
            })
        })
        .await?;

        let core = &self.core;
        let (start, end) = (core.sb.data_start, core.data_end);
        let mut report = FsckReport {
            deep,
            issues: scan.bad,
            ..FsckReport::default()
        };
        let mut refs: Vec<(Extent, usize)> = Vec::new();
        for (i, (name, o)) in scan.objects.iter().enumerate() {
            report.objects += 1;
            report.logical_bytes += o.size;
            for e in o.device_extents() {
                report.referenced_bytes += e.len;
                if e.offset < start || e.end() > end {
                    report.issues.push(FsckIssue::ExtentOutsideDataArea {
                        object: name.clone(),
                        offset: e.offset,
                        len: e.len,
                    });
                }
                refs.push((e, i));
            }
        }
        refs.sort();
        let name_of = |i: usize| scan.objects[i].0.clone();
        report
            .issues
            .extend(double_references(&refs).map(|(a, b, offset, len)| {
                FsckIssue::ExtentReferencedTwice {
                    object: name_of(a),
                    other: name_of(b),
                    offset,
                    len,
                }
            }));
        let used_bit = |block: u64| {
            let region = block / freelist::REGION_BLOCKS;
            scan.regions
                .get(&region)
                .is_some_and(|bm| freelist::bit(bm, (block % freelist::REGION_BLOCKS) as usize))
        };
        for (e, i) in &refs {
            if (e.offset / B..e.end() / B).any(|blk| !used_bit(blk)) {
                report.issues.push(FsckIssue::UsedButMarkedFree {
                    object: name_of(*i),
                    offset: e.offset,
                    len: e.len,
                });
            }
        }
        // Leaks: blocks marked used that no extent covers. Also collects the used
        // blocks as runs, for the comparison with the allocator below.
        let mut used_runs: Vec<Extent> = Vec::new();
        let mut leak: Option<(u64, u64)> = None;
        let mut ri = 0usize;
        let push_leak = |leak: &mut Option<(u64, u64)>, issues: &mut Vec<FsckIssue>| {
            if let Some((s, n)) = leak.take() {
                issues.push(FsckIssue::Leaked {
                    offset: s * B,
                    len: n * B,
                });
            }
        };
        for (&region, bm) in &scan.regions {
            for bit in 0..freelist::REGION_BLOCKS {
                if !freelist::bit(bm, bit as usize) {
                    continue;
                }
                let block = region * freelist::REGION_BLOCKS + bit;
                let off = block * B;
                match used_runs.last_mut() {
                    Some(run) if run.end() == off => run.len += B,
                    _ => used_runs.push(Extent {
                        offset: off,
                        len: B,
                    }),
                }
                while ri < refs.len() && refs[ri].0.end() <= off {
                    ri += 1;
                }
                let covered = ri < refs.len() && refs[ri].0.offset <= off;
                if covered {
                    push_leak(&mut leak, &mut report.issues);
                } else {
                    leak = match leak {
                        Some((s, n)) if s + n == block => Some((s, n + 1)),
                        other => {
                            let mut l = other;
                            push_leak(&mut l, &mut report.issues);
                            Some((block, 1))
                        }
                    };
                }
            }
        }
        push_leak(&mut leak, &mut report.issues);

        {
            let sh = core.shared.lock();
            report.free_bytes = sh.alloc.free_bytes();
            let free: Vec<Extent> = sh.alloc.free_extents().collect();
            let mut parked: Vec<Extent> = sh.gate.parked_extents().collect();
            parked.sort();
            let parked_bytes = sh.gate.parked_bytes();
            drop(sh);
            let used_in_area: u64 = used_runs
                .iter()
                .filter_map(|r| clip(*r, start, end))
                .map(|r| r.len)
                .sum();
            let mut overlap = 0u64;
            let mut unaccounted = 0u64;
            for (kind, e) in space_anomalies(start, end, &free, &used_runs, &parked) {
                report.issues.push(match kind {
                    Anomaly::FreeAndUsed => {
                        overlap += e.len;
                        FsckIssue::FreeSpaceOverlapsUsed {
                            offset: e.offset,
                            len: e.len,
                        }
                    }
                    Anomaly::Unaccounted => {
                        unaccounted += e.len;
                        FsckIssue::Unaccounted {
                            offset: e.offset,
                            len: e.len,
                        }
                    }
                });
            }
            // What the located checks above did not explain (e.g. an extent both free
            // and parked): the totals must still add up.
            let total = end - start;
            if report.free_bytes + used_in_area + parked_bytes + unaccounted != total + overlap {
                report.issues.push(FsckIssue::SpaceDoesNotAddUp {
                    free: report.free_bytes,
                    used: used_in_area,
                    parked: parked_bytes,
                    total,
                });
            }
        }

        if deep {
            for (name, o) in &scan.objects {
                if let Some(issue) = self.deep_check(name, o).await {
                    report.issues.push(issue);
                }
            }
        }
        Ok(report)
    }

    async fn deep_check(&self, name: &str, o: &Onode) -> Option<FsckIssue> {
        for e in &o.extents {
            let mut done = 0u64;
            while done < e.len() {
                let n = (e.len() - done).min(DEEP_READ);
                let buf = match self
                    .core
                    .dev
                    .read(e.device + done, AlignedBuf::for_read(n as usize))
                    .await
                {
                    Ok(b) => b,
                    Err(err) => {
                        return Some(FsckIssue::ReadFailed {
                            object: name.to_string(),
                            error: err.to_string(),
                        });
                    }
                };
                let first = (done / B) as usize;
                for (i, block) in buf.as_slice().chunks(BLOCK_SIZE).enumerate() {
                    if e.crcs.get(first + i) != Some(&crc32c::crc32c(block)) {
                        return Some(FsckIssue::Checksum {
                            object: name.to_string(),
                            offset: e.logical + done + i as u64 * B,
                        });
                    }
                }
                done += n;
            }
        }
        None
    }
}

/// The part of `e` inside `[start, end)`, if any.
fn clip(e: Extent, start: u64, end: u64) -> Option<Extent> {
    let s = e.offset.max(start);
    let t = e.end().min(end);
    (s < t).then_some(Extent {
        offset: s,
        len: t - s,
    })
}

/// Device ranges referenced by two extents, from extents sorted by offset: each
/// extent that starts inside an earlier one (the one reaching furthest) yields
/// (earlier owner, its owner, first shared byte, shared length).
fn double_references(
    refs: &[(Extent, usize)],
) -> impl Iterator<Item = (usize, usize, u64, u64)> + '_ {
    let mut reach: Option<(u64, usize)> = None;
    refs.iter().filter_map(move |&(e, owner)| {
        let found = reach
            .filter(|&(reach_end, _)| reach_end > e.offset)
            .map(|(reach_end, first)| (first, owner, e.offset, reach_end.min(e.end()) - e.offset));
        if reach.is_none_or(|(reach_end, _)| e.end() > reach_end) {
            reach = Some((e.end(), owner));
        }
        found
    })
}

/// A located space-accounting problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Anomaly {
    /// The allocator holds as free space the bitmap marks used.
    FreeAndUsed,
    /// Neither free, nor marked used, nor parked for readers.
    Unaccounted,
}

/// Whether the sorted (by offset) extents cover byte `at`, advancing `cursor`, which
/// must only see non-decreasing `at`.
fn covers(list: &[Extent], cursor: &mut usize, at: u64) -> bool {
    while *cursor < list.len() && list[*cursor].end() <= at {
        *cursor += 1;
    }
    *cursor < list.len() && list[*cursor].offset <= at
}

/// Sweeps the data area `[start, end)` and returns, coalesced, the ranges the
/// allocator's free space shares with the bitmap's used runs, and the ranges that are
/// in none of free, used and parked. Each list must be sorted by offset.
fn space_anomalies(
    start: u64,
    end: u64,
    free: &[Extent],
    used: &[Extent],
    parked: &[Extent],
) -> Vec<(Anomaly, Extent)> {
    let mut points: Vec<u64> = vec![start, end];
    for e in free.iter().chain(used).chain(parked) {
        points.extend([e.offset, e.end()]);
    }
    points.retain(|&p| (start..=end).contains(&p));
    points.sort_unstable();
    points.dedup();
    let (mut fc, mut uc, mut pc) = (0usize, 0usize, 0usize);
    let mut out: Vec<(Anomaly, Extent)> = Vec::new();
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        let is_free = covers(free, &mut fc, a);
        let is_used = covers(used, &mut uc, a);
        let is_parked = covers(parked, &mut pc, a);
        let kind = match (is_free, is_used, is_parked) {
            (true, true, _) => Anomaly::FreeAndUsed,
            (false, false, false) => Anomaly::Unaccounted,
            _ => continue,
        };
        match out.last_mut() {
            Some((k, e)) if *k == kind && e.end() == a => e.len += b - a,
            _ => out.push((
                kind,
                Extent {
                    offset: a,
                    len: b - a,
                },
            )),
        }
    }
    out
}
