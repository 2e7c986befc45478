//! `Pg`: the per-PG state one OSD keeps for a PG it belongs to — the members by
//! position, who is primary, how far the PG's history goes, and whether the primary has
//! finished peering for the current set of members.
//!
//! The state sits behind an async read-write lock: writes, peering and recovery take
//! it exclusively (so they are ordered), reads share it (so they never see a write
//! half-applied across shards).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use cuttle_objectstore::CollectionId;
use cuttle_types::{OsdId, PgId, Pool, Redundancy, ShardId};
use tokio::sync::{RwLock, watch};

use crate::meta::{self, Version};

/// Health of a PG as its primary reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PgStatus {
    /// Peering has not finished for the current members.
    Peering,
    /// Serving; every position has an up, recovered member.
    Clean,
    /// Serving with fewer members than wanted, or members still missing objects.
    Degraded,
    /// Too few members to serve, or objects without enough intact copies.
    Incomplete,
}

impl fmt::Display for PgStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PgStatus::Peering => "peering",
            PgStatus::Clean => "active+clean",
            PgStatus::Degraded => "active+degraded",
            PgStatus::Incomplete => "incomplete",
        })
    }
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
    /// Reported status.
    pub status: PgStatus,
    /// Objects that could not be recovered at last peering.
    pub unfound: usize,
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

    /// Whether this view is active (peered for the current interval).
    pub fn is_active(&self) -> bool {
        self.active_interval == Some(self.interval)
    }
}

/// What heartbeats and `pg ls` report about a PG, readable without its lock.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PgSummary {
    /// Current primary.
    pub primary: Option<OsdId>,
    /// State string, e.g. `active+clean`, `active+degraded+undersized`.
    pub state: String,
    /// Newest version.
    pub last_update: Version,
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
    summary: parking_lot::Mutex<PgSummary>,
}

impl Pg {
    /// A PG in its first interval, not yet active.
    pub fn new(id: PgId, state: PgState) -> Pg {
        let (activated, _) = watch::channel(None);
        Pg {
            id,
            state: RwLock::new(state),
            activated,
            summary: parking_lot::Mutex::new(PgSummary::default()),
        }
    }

    /// Publishes the reportable part of `st` (call after changing it).
    pub fn publish(&self, st: &PgState) {
        let mut state = st.status.to_string();
        if st.status != PgStatus::Peering && st.up_members().len() < st.acting.len() {
            state.push_str("+undersized");
        }
        *self.summary.lock() = PgSummary {
            primary: st.primary,
            state,
            last_update: st.last_update,
        };
    }

    /// The last published summary.
    pub fn summary(&self) -> PgSummary {
        self.summary.lock().clone()
    }
}

/// Collection of the shard at `pos` of a PG in `state`.
pub fn shard_collection(id: PgId, state: &PgState, pos: usize) -> CollectionId {
    meta::collection(id, state.shard_at(pos))
}
