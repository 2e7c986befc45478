//! `Pg`: the per-PG state one OSD keeps for a PG it belongs to — the members by
//! position, who is primary, how far the PG's history goes, whether the primary has
//! finished peering for the current set of members, and what recovery and scrub are
//! doing.
//!
//! The state sits behind an async read-write lock: writes, peering and the end of a
//! member's recovery take it exclusively (so they are ordered); reads, per-object
//! recovery steps and scrub share it (so they never see a write half-applied across
//! shards). Recovery progress lives outside the lock, in atomics.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};

use cuttle_objectstore::CollectionId;
use cuttle_types::{OsdId, PgId, Pool, Redundancy, ShardId};
use tokio::sync::{RwLock, watch};

use crate::meta::{self, Version};

/// The phase of a PG on its primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PgStatus {
    /// Peering has not finished for the current members.
    Peering,
    /// Serving I/O (possibly degraded or recovering).
    Active,
    /// Too few members answer to serve the PG.
    Incomplete,
}

/// One inconsistency a scrub found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The object.
    pub object: String,
    /// The member holding the bad copy or shard.
    pub osd: OsdId,
    /// What is wrong: `missing`, `stale_version`, `size_mismatch`, `checksum`,
    /// `parity_mismatch`, `data_mismatch`, `unexpected`.
    pub problem: &'static str,
}

/// A PG as seen by one of its members.
#[derive(Debug, Clone)]
pub struct PgState {
    /// The pool definition.
    pub pool: Pool,
    /// Map epoch of this view.
    pub epoch: u64,
    /// Members by position (shard id for EC), `None` where placement found no OSD.
    pub acting: Vec<Option<OsdId>>,
    /// Whether each acting member is up.
    pub up: Vec<bool>,
    /// OSD addresses of the members.
    pub addrs: HashMap<OsdId, String>,
    /// The primary: the first up member.
    pub primary: Option<OsdId>,
    /// This OSD's position in `acting`.
    pub my_pos: Option<usize>,
    /// Newest version of the PG (authoritative on an active primary).
    pub last_update: Version,
    /// Bumped whenever the members or their up state change: peering is per interval.
    pub interval: u64,
    /// The interval peering last completed for.
    pub active_interval: Option<u64>,
    /// Members that failed an operation since the last peering and must be re-peered.
    pub dirty: BTreeSet<OsdId>,
    /// Members whose store refused the last write or recovery push sent to them for
    /// space: while one of them is dirty, writes fail at once with `no_space` rather
    /// than as a retryable inactive PG.
    pub full: BTreeSet<OsdId>,
    /// Members being recovered in the background: writes reach them, but their
    /// `last_update` advances only when their recovery completes.
    pub recovering: BTreeSet<OsdId>,
    /// Whether the running recovery backfills (full scan) at least one member.
    pub backfilling: bool,
    /// Phase.
    pub status: PgStatus,
    /// Objects that could not be recovered (no intact source).
    pub unfound: usize,
    /// What the last scrub found.
    pub inconsistencies: Vec<Finding>,
    /// Unix seconds of the last scrub and deep scrub.
    pub last_scrub: u64,
    /// See `last_scrub`.
    pub last_deep_scrub: u64,
}

impl PgState {
    /// Whether the pool is erasure-coded.
    pub fn is_ec(&self) -> bool {
        matches!(self.pool.redundancy, Redundancy::Erasure(_))
    }

    /// Shard id of a position (EC), or `None` for replicated pools.
    pub fn shard_at(&self, pos: usize) -> Option<ShardId> {
        self.is_ec().then_some(ShardId(pos as u8))
    }

    /// Members that are up, with their positions.
    pub fn up_members(&self) -> Vec<(usize, OsdId)> {
        self.acting
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.filter(|_| self.up[i]).map(|o| (i, o)))
            .collect()
    }

    /// Members that are up and not awaiting re-peering.
    pub fn usable_members(&self) -> Vec<(usize, OsdId)> {
        self.up_members()
            .into_iter()
            .filter(|(_, o)| !self.dirty.contains(o))
            .collect()
    }

    /// Members that hold every object (usable and not being recovered).
    pub fn complete_members(&self) -> Vec<(usize, OsdId)> {
        self.usable_members()
            .into_iter()
            .filter(|(_, o)| !self.recovering.contains(o))
            .collect()
    }

    /// Whether this view is active (peered for the current interval).
    pub fn is_active(&self) -> bool {
        self.active_interval == Some(self.interval)
    }

    /// The state string operators see, Ceph-style: `active+clean`,
    /// `active+recovering+degraded`, `active+undersized+degraded`, `peering`...
    pub fn state_string(&self) -> String {
        match self.status {
            PgStatus::Peering => return "peering".into(),
            PgStatus::Incomplete => return "incomplete".into(),
            PgStatus::Active if !self.is_active() => return "peering".into(),
            PgStatus::Active => {}
        }
        let mut s = String::from("active");
        if !self.recovering.is_empty() {
            s.push_str(if self.backfilling {
                "+backfilling"
            } else {
                "+recovering"
            });
        }
        let undersized = self.up_members().len() < self.acting.len();
        let degraded =
            undersized || !self.dirty.is_empty() || !self.recovering.is_empty() || self.unfound > 0;
        if undersized {
            s.push_str("+undersized");
        }
        if degraded {
            s.push_str("+degraded");
        } else {
            s.push_str("+clean");
        }
        if !self.inconsistencies.is_empty() {
            s.push_str("+inconsistent");
        }
        s
    }
}

/// What heartbeats and `pg ls` report about a PG, readable without its lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgSummary {
    /// Current primary.
    pub primary: Option<OsdId>,
    /// State string.
    pub state: String,
    /// Newest version.
    pub last_update: Version,
    /// Members by position.
    pub acting: Vec<Option<OsdId>>,
    /// Scrub times.
    pub last_scrub: u64,
    /// Deep scrub time.
    pub last_deep_scrub: u64,
    /// Inconsistent objects found by the last scrub.
    pub inconsistent: u32,
    /// Unfound objects.
    pub unfound: u64,
}

/// Recovery progress of a PG (updated by the recovery task without the PG lock).
#[derive(Debug, Default)]
pub struct Progress {
    /// Objects still to recover.
    pub objects_remaining: AtomicU64,
    /// Bytes recovered since the OSD started.
    pub bytes_done: AtomicU64,
    /// Objects recovered since the OSD started.
    pub objects_done: AtomicU64,
}

/// Objects and logical bytes of a PG as its primary last counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgUsage {
    /// Objects in the PG.
    pub objects: u64,
    /// Sum of their logical sizes.
    pub bytes: u64,
    /// The PG's newest version when the count started (a PG whose `last_update` has
    /// not moved since need not be counted again).
    pub at: Version,
}

/// One PG on this OSD.
#[derive(Debug)]
pub struct Pg {
    /// The PG.
    pub id: PgId,
    /// Its state.
    pub state: RwLock<PgState>,
    /// Announces completed peerings (the interval activated).
    pub activated: watch::Sender<Option<u64>>,
    /// Recovery progress.
    pub progress: Progress,
    summary: parking_lot::Mutex<PgSummary>,
    /// The last count of objects and bytes (primary only; `None` until counted).
    usage: parking_lot::Mutex<Option<PgUsage>>,
    /// The current interval, [`RETIRED`] once the PG left this OSD (watches end on
    /// any change: the primary may have moved).
    interval: watch::Sender<u64>,
}

/// The interval value of a PG this OSD no longer hosts.
pub const RETIRED: u64 = u64::MAX;

impl Pg {
    /// A PG in its first interval, not yet active.
    pub fn new(id: PgId, state: PgState) -> Pg {
        let (activated, _) = watch::channel(None);
        let (interval, _) = watch::channel(state.interval);
        Pg {
            id,
            state: RwLock::new(state),
            activated,
            progress: Progress::default(),
            summary: parking_lot::Mutex::new(PgSummary::default()),
            usage: parking_lot::Mutex::new(None),
            interval,
        }
    }

    /// Follows the PG's interval (changes on every membership change and when the PG
    /// is retired from this OSD).
    pub fn subscribe_interval(&self) -> watch::Receiver<u64> {
        self.interval.subscribe()
    }

    /// Marks the PG as no longer hosted here.
    pub fn retire(&self) {
        self.interval.send_replace(RETIRED);
    }

    /// Publishes the reportable part of `st` (call after changing it).
    pub fn publish(&self, st: &PgState) {
        self.interval.send_if_modified(|i| {
            let changed = *i != st.interval && *i != RETIRED;
            if changed {
                *i = st.interval;
            }
            changed
        });
        *self.summary.lock() = PgSummary {
            primary: st.primary,
            state: st.state_string(),
            last_update: st.last_update,
            acting: st.acting.clone(),
            last_scrub: st.last_scrub,
            last_deep_scrub: st.last_deep_scrub,
            inconsistent: st.inconsistencies.len() as u32,
            unfound: st.unfound as u64,
        };
    }

    /// The last published summary.
    pub fn summary(&self) -> PgSummary {
        self.summary.lock().clone()
    }

    /// The last count of objects and bytes, if any.
    pub fn usage(&self) -> Option<PgUsage> {
        *self.usage.lock()
    }

    /// Records a count of objects and bytes.
    pub fn set_usage(&self, usage: PgUsage) {
        *self.usage.lock() = Some(usage);
    }

    /// Objects still to recover.
    pub fn objects_remaining(&self) -> u64 {
        self.progress.objects_remaining.load(Ordering::Relaxed)
    }

    /// Bytes recovered.
    pub fn bytes_done(&self) -> u64 {
        self.progress.bytes_done.load(Ordering::Relaxed)
    }

    /// Objects recovered.
    pub fn objects_done(&self) -> u64 {
        self.progress.objects_done.load(Ordering::Relaxed)
    }
}

/// Collection of the shard at `pos` of a PG in `state`.
pub fn shard_collection(id: PgId, state: &PgState, pos: usize) -> CollectionId {
    meta::collection(id, state.shard_at(pos))
}
