//! Cluster descriptions and counting helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use cuttle_placement::{Hierarchy, Placement};
use cuttle_types::{
    ClusterMap, EcProfile, Epoch, FailureDomain, OsdId, OsdInfo, OsdWeight, PgId, Pool, PoolId,
    Redundancy,
};

/// One OSD of a test cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Osd {
    pub host: String,
    pub id: OsdId,
    pub weight: OsdWeight,
    pub is_in: bool,
}

/// `hosts` hosts named `host-NN` with `per_host` OSDs each, all weight 1.0 and in.
/// OSD ids are `host * per_host + slot`.
pub fn uniform(hosts: u32, per_host: u32) -> Vec<Osd> {
    (0..hosts)
        .flat_map(|h| {
            (0..per_host).map(move |s| Osd {
                host: format!("host-{h:02}"),
                id: OsdId(h * per_host + s),
                weight: OsdWeight::ONE,
                is_in: true,
            })
        })
        .collect()
}

pub fn tree(osds: &[Osd]) -> Hierarchy {
    let mut b = Hierarchy::builder();
    for o in osds {
        if o.is_in {
            b.osd(&o.host, o.id, o.weight);
        } else {
            b.out_osd(&o.host, o.id, o.weight);
        }
    }
    b.build().unwrap()
}

pub fn cluster_map(osds: &[Osd]) -> ClusterMap {
    let mut map = ClusterMap::new(uuid::Uuid::nil());
    map.epoch = Epoch(7);
    for o in osds {
        let info = OsdInfo {
            id: o.id,
            uuid: uuid::Uuid::nil(),
            host: o.host.clone(),
            addr: String::new(),
            weight: o.weight,
            up: o.id.0 % 2 == 0, // up/down must not matter
            in_cluster: o.is_in,
            down_since: None,
        };
        map.osds.insert(o.id, info);
    }
    map
}

/// The same cluster with every OSD in: its placements are the "base" placements.
pub fn all_in(osds: &[Osd]) -> Vec<Osd> {
    osds.iter()
        .cloned()
        .map(|o| Osd { is_in: true, ..o })
        .collect()
}

pub fn with_out(osds: &[Osd], out: OsdId) -> Vec<Osd> {
    osds.iter()
        .cloned()
        .map(|o| {
            if o.id == out {
                Osd { is_in: false, ..o }
            } else {
                o
            }
        })
        .collect()
}

pub fn pool(id: u32, redundancy: Redundancy, failure_domain: FailureDomain, pg_num: u32) -> Pool {
    Pool {
        id: PoolId(id),
        name: format!("pool-{id}"),
        redundancy,
        pg_num,
        failure_domain,
        min_size: redundancy.default_min_size(),
    }
}

pub fn ec(id: u32, k: u8, m: u8, fd: FailureDomain, pg_num: u32) -> Pool {
    pool(id, Redundancy::Erasure(EcProfile::new(k, m)), fd, pg_num)
}

pub fn replicated(id: u32, size: u32, fd: FailureDomain, pg_num: u32) -> Pool {
    pool(id, Redundancy::Replicated { size }, fd, pg_num)
}

/// Placements of PGs `0..pool.pg_num`.
pub fn place_all(tree: &Hierarchy, pool: &Pool) -> Vec<Placement> {
    (0..pool.pg_num)
        .map(|seed| tree.place(pool, PgId::new(pool.id, seed)))
        .collect()
}

/// Member slots per OSD over all placements.
pub fn slots_per_osd(placements: &[Placement]) -> BTreeMap<OsdId, u64> {
    let mut counts = BTreeMap::new();
    for p in placements {
        for osd in p.osds() {
            *counts.entry(osd).or_insert(0) += 1;
        }
    }
    counts
}

/// Positions whose OSD differs between two positional placements.
pub fn changed_positions(before: &Placement, after: &Placement) -> Vec<usize> {
    (0..before.width())
        .filter(|&i| before.members[i] != after.members[i])
        .collect()
}

pub fn set(p: &Placement) -> BTreeSet<OsdId> {
    p.osds().collect()
}
