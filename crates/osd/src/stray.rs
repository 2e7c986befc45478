//! Stray PG shards: collections on this OSD's disk for PGs (or EC shard positions) it
//! no longer serves, left behind when an OSD is marked out, a new one takes its place,
//! or a pool is removed. A stray is deleted only once the PG is `active+clean` on its
//! current members (asked of their primary, at a map no older than ours), so the last
//! good copy of anything is never the one removed; a pool gone from the map takes its
//! shards with it.

use std::sync::Arc;

use cuttle_objectstore::CollectionId;
use cuttle_placement::Hierarchy;
use cuttle_proto as pb;
use cuttle_types::{ClusterMap, PgId, PoolId};

use crate::error::OsdResult;
use crate::osd::Osd;

/// A PG shard named by its collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardName {
    /// The PG.
    pub pg: PgId,
    /// EC shard position (`None` for replicated pools).
    pub shard: Option<u8>,
}

/// Parses `POOL.SEEDHEX` or `POOL.SEEDHEXsSHARD` (what [`crate::meta::collection`]
/// writes); other collections (e.g. the bench scratch space) are not PG shards.
pub fn parse_collection(name: &str) -> Option<ShardName> {
    let (pool, rest) = name.split_once('.')?;
    let (seed, shard) = match rest.split_once('s') {
        Some((seed, shard)) => (seed, Some(shard.parse::<u8>().ok()?)),
        None => (rest, None),
    };
    if pool.is_empty() || seed.is_empty() || !pool.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let pool = pool.parse::<u32>().ok()?;
    let seed = u32::from_str_radix(seed, 16).ok()?;
    Some(ShardName {
        pg: PgId::new(PoolId(pool), seed),
        shard,
    })
}

/// What to do with one local shard at a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// This OSD serves it: keep.
    Mine,
    /// Its pool is gone: delete.
    PoolGone,
    /// Served by others: delete once they are clean. Holds the primary (if any is up).
    Stray(Option<cuttle_types::OsdId>),
}

/// Whether `shard` belongs to `me` at `map`.
pub fn judge(
    map: &ClusterMap,
    hier: &Hierarchy,
    me: cuttle_types::OsdId,
    shard: ShardName,
) -> Verdict {
    let Some(pool) = map.pools.get(&shard.pg.pool) else {
        return Verdict::PoolGone;
    };
    if shard.pg.seed >= pool.pg_num {
        return Verdict::PoolGone;
    }
    let members = hier.place(pool, shard.pg).members;
    let mine = match (
        matches!(pool.redundancy, cuttle_types::Redundancy::Erasure(_)),
        shard.shard,
    ) {
        (true, Some(s)) => members.get(usize::from(s)) == Some(&Some(me)),
        (false, None) => members.contains(&Some(me)),
        // A shard named for the other kind of pool: a pool id was reused. Not ours.
        _ => false,
    };
    if mine {
        return Verdict::Mine;
    }
    let primary = members.iter().flatten().copied().find(|o| map.is_up(*o));
    Verdict::Stray(primary)
}

/// Whether a primary's state string says every member holds everything.
fn clean(state: &str) -> bool {
    let flags: Vec<&str> = state.split('+').collect();
    flags.contains(&"active") && flags.contains(&"clean")
}

impl Osd {
    /// Deletes stray shards whose PG is clean elsewhere. Returns how many were removed.
    pub async fn remove_strays(self: &Arc<Self>) -> OsdResult<usize> {
        let Some(map) = self.current_map() else {
            return Ok(0);
        };
        let hier = Hierarchy::from_map(&map);
        let store = self.shards.store().clone();
        let mut removed = 0;
        for coll in store.list_collections().await? {
            let Some(shard) = parse_collection(coll.as_str()) else {
                continue;
            };
            let remove = match judge(&map, &hier, self.id, shard) {
                Verdict::Mine => false,
                Verdict::PoolGone => true,
                Verdict::Stray(None) => false,
                Verdict::Stray(Some(primary)) => {
                    self.clean_elsewhere(&map, shard.pg, primary).await
                }
            };
            if remove && self.still_stray(&map, shard) {
                let objects = self.remove_shard(&coll, shard).await?;
                tracing::info!(collection = %coll, objects, "removed stray PG shard");
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Asks the PG's primary whether it is clean at a map at least as new as `map`.
    async fn clean_elsewhere(
        &self,
        map: &ClusterMap,
        pg: PgId,
        primary: cuttle_types::OsdId,
    ) -> bool {
        let Some(addr) = map.osds.get(&primary).map(|o| o.addr.clone()) else {
            return false;
        };
        let Ok(mut client) = self.peers.get(primary, &addr) else {
            return false;
        };
        let req = pb::PgCommandRequest {
            epoch: map.epoch.0,
            pg: Some(pb::PgRef {
                pool: pg.pool.0,
                seed: pg.seed,
            }),
            command: pb::PgCommandKind::Query as i32,
        };
        match tokio::time::timeout(crate::members::SUB_OP_TIMEOUT, client.pg_command(req)).await {
            Ok(Ok(r)) => {
                let d = r.into_inner();
                d.epoch >= map.epoch.0 && clean(&d.state)
            }
            _ => false,
        }
    }

    /// Whether the newest map still makes `shard` a stray (the map may have moved on
    /// while the primary was asked).
    fn still_stray(&self, map: &ClusterMap, shard: ShardName) -> bool {
        match self.current_map() {
            Some(now) if now.epoch == map.epoch => true,
            Some(now) => !matches!(
                judge(&now, &Hierarchy::from_map(&now), self.id, shard),
                Verdict::Mine
            ),
            None => false,
        }
    }

    /// Deletes a shard's objects in batches, then its PG info, log and collection.
    /// Stops early (keeping what is left) if the PG becomes this OSD's again.
    async fn remove_shard(&self, coll: &CollectionId, shard: ShardName) -> OsdResult<u64> {
        let mut objects = 0u64;
        loop {
            let hosted = self.pgs.lock().contains_key(&shard.pg);
            if hosted
                && let Some(map) = self.current_map()
                && matches!(
                    judge(&map, &Hierarchy::from_map(&map), self.id, shard),
                    Verdict::Mine
                )
            {
                return Ok(objects);
            }
            let (names, more) = self.shards.list(coll, None, 256).await?;
            if names.is_empty() {
                break;
            }
            objects += names.len() as u64;
            self.shards.remove_objects(coll, &names).await?;
            if !more {
                break;
            }
        }
        self.shards.drop_shard(coll).await?;
        Ok(objects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names_parse_back_to_shards() {
        let pg = PgId::new(PoolId(3), 0x1f);
        assert_eq!(
            parse_collection("3.1fs2"),
            Some(ShardName { pg, shard: Some(2) })
        );
        assert_eq!(
            parse_collection("3.1f"),
            Some(ShardName { pg, shard: None })
        );
        for name in ["bench", "3.", ".1f", "3.1fs", "3.zz", "x.1f", "3.1fsx"] {
            assert_eq!(parse_collection(name), None, "{name}");
        }
        for shard in [None, Some(cuttle_types::ShardId(1))] {
            let c = crate::meta::collection(pg, shard);
            let parsed = parse_collection(c.as_str());
            assert_eq!(parsed.map(|s| s.shard), Some(shard.map(|s| s.0)));
        }
    }

    #[test]
    fn only_clean_states_allow_removal() {
        assert!(clean("active+clean"));
        assert!(clean("active+clean+inconsistent"));
        assert!(!clean("active+undersized+degraded"));
        assert!(!clean("active+backfilling+degraded"));
        assert!(!clean("peering"));
    }
}
