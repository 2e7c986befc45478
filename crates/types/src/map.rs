//! The cluster map: every OSD and pool the cluster knows, at one epoch.
//!
//! The monitor quorum is the only writer; every change produces a new map with
//! `epoch + 1`. Daemons and clients hold a copy and compute placement from it locally.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{Epoch, OsdId, OsdWeight, PoolId};
use crate::pool::Pool;

/// One OSD as the map records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsdInfo {
    /// The OSD's id.
    pub id: OsdId,
    /// Identity of the OSD's disk, written in its superblock at mkfs; a booting OSD
    /// registers with it and gets back the same id every time.
    pub uuid: Uuid,
    /// Host (failure domain) the OSD runs on.
    pub host: String,
    /// `host:port` of the OSD's gRPC endpoint; empty until it first boots.
    pub addr: String,
    /// Placement weight (capacity).
    pub weight: OsdWeight,
    /// The daemon is running and heartbeating.
    pub up: bool,
    /// The OSD is part of data placement. An `out` OSD receives no PGs.
    pub in_cluster: bool,
    /// Unix seconds when the OSD was marked down (`None` while up); the monitor marks
    /// it out once it has been down for longer than the down-out interval.
    #[serde(default)]
    pub down_since: Option<u64>,
}

/// The cluster map at one epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMap {
    /// Cluster identity, created once with the cluster.
    pub fsid: Uuid,
    /// Version of this map.
    pub epoch: Epoch,
    /// All OSDs ever registered and not purged, by id (the key equals `OsdInfo::id`).
    pub osds: BTreeMap<OsdId, OsdInfo>,
    /// All pools, by id.
    pub pools: BTreeMap<PoolId, Pool>,
}

impl ClusterMap {
    /// An empty map at epoch 0 for a new cluster.
    pub fn new(fsid: Uuid) -> ClusterMap {
        ClusterMap {
            fsid,
            epoch: Epoch(0),
            osds: BTreeMap::new(),
            pools: BTreeMap::new(),
        }
    }

    /// The pool with the given name.
    pub fn pool_by_name(&self, name: &str) -> Option<&Pool> {
        self.pools.values().find(|p| p.name == name)
    }

    /// Whether the OSD exists and is up.
    pub fn is_up(&self, osd: OsdId) -> bool {
        self.osds.get(&osd).is_some_and(|o| o.up)
    }

    /// The changes from `self` to `newer` (whose epoch the incremental carries).
    pub fn diff(&self, newer: &ClusterMap) -> MapIncremental {
        MapIncremental {
            epoch: newer.epoch,
            osds_upserted: newer
                .osds
                .values()
                .filter(|o| self.osds.get(&o.id) != Some(*o))
                .cloned()
                .collect(),
            osds_removed: self
                .osds
                .keys()
                .filter(|id| !newer.osds.contains_key(id))
                .copied()
                .collect(),
            pools_upserted: newer
                .pools
                .values()
                .filter(|p| self.pools.get(&p.id) != Some(*p))
                .cloned()
                .collect(),
            pools_removed: self
                .pools
                .keys()
                .filter(|id| !newer.pools.contains_key(id))
                .copied()
                .collect(),
        }
    }

    /// Applies an incremental; it must be for the next epoch.
    pub fn apply(&mut self, inc: &MapIncremental) -> Result<(), MapError> {
        if inc.epoch != self.epoch.next() {
            return Err(MapError::EpochGap {
                have: self.epoch,
                got: inc.epoch,
            });
        }
        for o in &inc.osds_upserted {
            self.osds.insert(o.id, o.clone());
        }
        for id in &inc.osds_removed {
            self.osds.remove(id);
        }
        for p in &inc.pools_upserted {
            self.pools.insert(p.id, p.clone());
        }
        for id in &inc.pools_removed {
            self.pools.remove(id);
        }
        self.epoch = inc.epoch;
        Ok(())
    }
}

/// The changes that turn the map of `epoch - 1` into the map of `epoch`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MapIncremental {
    /// The epoch this incremental produces.
    pub epoch: Epoch,
    /// OSDs added or changed (whole records).
    pub osds_upserted: Vec<OsdInfo>,
    /// OSDs removed.
    pub osds_removed: Vec<OsdId>,
    /// Pools added or changed (whole records).
    pub pools_upserted: Vec<Pool>,
    /// Pools removed.
    pub pools_removed: Vec<PoolId>,
}

/// A map update cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The incremental is not for the next epoch.
    #[error("map incremental for {got} cannot follow {have}")]
    EpochGap {
        /// Epoch of the map.
        have: Epoch,
        /// Epoch of the incremental.
        got: Epoch,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{EcProfile, FailureDomain, Redundancy};

    fn osd(id: u32, up: bool) -> OsdInfo {
        OsdInfo {
            id: OsdId(id),
            uuid: Uuid::from_u128(id as u128),
            host: format!("h{id}"),
            addr: String::new(),
            weight: OsdWeight::ONE,
            up,
            in_cluster: true,
            down_since: None,
        }
    }

    #[test]
    fn diff_then_apply_reproduces_the_newer_map() {
        let mut a = ClusterMap::new(Uuid::from_u128(1));
        a.osds.insert(OsdId(0), osd(0, true));
        a.osds.insert(OsdId(1), osd(1, true));
        let mut b = a.clone();
        b.epoch = a.epoch.next();
        b.osds.insert(OsdId(1), osd(1, false));
        b.osds.remove(&OsdId(0));
        b.pools.insert(
            PoolId(3),
            Pool {
                id: PoolId(3),
                name: "p".into(),
                redundancy: Redundancy::Erasure(EcProfile::new(2, 1)),
                pg_num: 8,
                failure_domain: FailureDomain::Host,
                min_size: 3,
            },
        );
        let inc = a.diff(&b);
        assert_eq!(inc.osds_upserted.len(), 1);
        assert_eq!(inc.osds_removed, vec![OsdId(0)]);
        let mut c = a.clone();
        c.apply(&inc).expect("next epoch");
        assert_eq!(c, b);
        assert!(matches!(c.apply(&inc), Err(MapError::EpochGap { .. })));
    }
}
