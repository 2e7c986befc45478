//! `Osd`: one running OSD — its store, its view of the map, and the PGs it belongs to.
//!
//! Each new map is applied to every PG: members, up state and primary are recomputed
//! with the placement library (exactly as clients compute them); a change of members or
//! of their up state starts a new interval, which the primary must peer before it serves
//! the PG again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cuttle_client::MonClient;
use cuttle_ec::ErasureCode;
use cuttle_objectstore::DiskStore;
use cuttle_placement::{Hierarchy, object_to_pg};
use cuttle_types::{ClusterMap, EcProfile, OsdId, PgId, PoolId};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::error::{OsdError, OsdResult};
use crate::meta::Version;
use crate::peers::Peers;
use crate::pg::{Pg, PgState, PgStatus};
use crate::shard::ShardStore;

/// How long a client operation waits for a PG to finish peering.
pub const ACTIVATE_WAIT: Duration = Duration::from_secs(20);

/// One running OSD.
#[derive(Debug)]
pub struct Osd {
    /// Its id.
    pub id: OsdId,
    /// Its uuid (the disk's identity).
    pub uuid: Uuid,
    /// PG shards on the local store.
    pub shards: ShardStore,
    /// The disk store itself (benchmarks, statistics).
    pub disk: Arc<DiskStore>,
    /// Connections to peers.
    pub peers: Peers,
    /// The monitors.
    pub mon: MonClient,
    /// Newest map known.
    pub map: watch::Receiver<Option<Arc<ClusterMap>>>,
    /// PGs this OSD belongs to.
    pub pgs: Mutex<HashMap<PgId, Arc<Pg>>>,
    codecs: Mutex<HashMap<EcProfile, Arc<dyn ErasureCode>>>,
    /// Stops background work.
    pub stop: CancellationToken,
    /// Background tasks.
    pub tasks: TaskTracker,
    /// Recovery objects in flight on this OSD (`recovery_max_active`).
    pub recovery_slots: tokio::sync::Semaphore,
    /// Recovery bandwidth cap, bytes per second (0: none).
    pub recovery_bytes_per_sec: u64,
    /// Seconds between scrubs and between deep scrubs of a PG.
    pub scrub_intervals: (u64, u64),
    /// Counters and latency histograms (served on `metrics_addr`).
    pub metrics: crate::metrics::OsdMetrics,
    me: std::sync::Weak<Osd>,
}

/// Tunables of recovery and scrub.
#[derive(Debug, Clone, Copy)]
pub struct Tunables {
    /// Objects recovered at once per OSD.
    pub recovery_max_active: usize,
    /// Recovery bandwidth cap, bytes/s (0: none).
    pub recovery_bytes_per_sec: u64,
    /// Seconds between scrubs of a PG.
    pub scrub_interval_secs: u64,
    /// Seconds between deep scrubs of a PG.
    pub deep_scrub_interval_secs: u64,
}

impl Osd {
    /// Wraps the parts of a starting OSD.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        me: std::sync::Weak<Osd>,
        id: OsdId,
        uuid: Uuid,
        disk: Arc<DiskStore>,
        peers: Peers,
        mon: MonClient,
        map: watch::Receiver<Option<Arc<ClusterMap>>>,
        stop: CancellationToken,
        tasks: TaskTracker,
        tunables: Tunables,
    ) -> Osd {
        Osd {
            id,
            uuid,
            shards: ShardStore::new(disk.clone()),
            disk,
            peers,
            mon,
            map,
            pgs: Mutex::new(HashMap::new()),
            codecs: Mutex::new(HashMap::new()),
            stop,
            tasks,
            recovery_slots: tokio::sync::Semaphore::new(tunables.recovery_max_active.max(1)),
            recovery_bytes_per_sec: tunables.recovery_bytes_per_sec,
            scrub_intervals: (
                tunables.scrub_interval_secs,
                tunables.deep_scrub_interval_secs,
            ),
            metrics: crate::metrics::OsdMetrics::default(),
            me,
        }
    }

    /// A strong handle on this OSD (for spawning background work).
    pub fn me(&self) -> Option<Arc<Osd>> {
        self.me.upgrade()
    }

    /// The newest map, if one arrived.
    pub fn current_map(&self) -> Option<Arc<ClusterMap>> {
        self.map.borrow().clone()
    }

    /// The map, once it has reached `epoch` (waits briefly for it).
    pub async fn map_at_least(&self, epoch: u64) -> OsdResult<Arc<ClusterMap>> {
        let mut rx = self.map.clone();
        let waited = tokio::time::timeout(
            Duration::from_secs(3),
            rx.wait_for(|m| m.as_ref().is_some_and(|m| m.epoch.0 >= epoch)),
        )
        .await;
        match waited {
            Ok(Ok(m)) => m.clone().ok_or(OsdError::MapBehind {
                have: 0,
                want: epoch,
            }),
            _ => Err(OsdError::MapBehind {
                have: self.current_map().map_or(0, |m| m.epoch.0),
                want: epoch,
            }),
        }
    }

    /// The codec of an EC profile (cached).
    pub fn codec(&self, profile: &EcProfile) -> OsdResult<Arc<dyn ErasureCode>> {
        if let Some(c) = self.codecs.lock().get(profile) {
            return Ok(c.clone());
        }
        let c = cuttle_ec::codec_for(profile)?;
        self.codecs.lock().insert(*profile, c.clone());
        Ok(c)
    }

    /// A PG of this OSD.
    pub fn pg(&self, id: PgId) -> Option<Arc<Pg>> {
        self.pgs.lock().get(&id).cloned()
    }

    /// Updates every PG for a new map; returns the PGs that need peering (this OSD is
    /// their primary and they are not active for their interval).
    pub async fn apply_map(&self, map: &ClusterMap) -> Vec<Arc<Pg>> {
        let hier = Hierarchy::from_map(map);
        let mut mine: HashMap<PgId, (cuttle_types::Pool, Vec<Option<OsdId>>)> = HashMap::new();
        for pool in map.pools.values() {
            for seed in 0..pool.pg_num {
                let id = PgId::new(pool.id, seed);
                let placement = hier.place(pool, id);
                if placement.members.contains(&Some(self.id)) {
                    mine.insert(id, (pool.clone(), placement.members));
                }
            }
        }
        let existing: Vec<(PgId, Arc<Pg>)> = {
            let mut pgs = self.pgs.lock();
            pgs.retain(|id, pg| {
                let keep = mine.contains_key(id);
                if !keep {
                    pg.retire();
                }
                keep
            });
            for id in mine.keys() {
                if !pgs.contains_key(id) {
                    let (pool, acting) = &mine[id];
                    pgs.insert(
                        *id,
                        Arc::new(Pg::new(*id, blank_state(pool.clone(), acting.clone()))),
                    );
                }
            }
            pgs.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        let mut to_peer = Vec::new();
        for (id, pg) in existing {
            let Some((pool, acting)) = mine.remove(&id) else {
                continue;
            };
            let up: Vec<bool> = acting
                .iter()
                .map(|m| m.is_some_and(|o| map.is_up(o)))
                .collect();
            let addrs: HashMap<OsdId, String> = acting
                .iter()
                .flatten()
                .filter_map(|o| map.osds.get(o).map(|i| (*o, i.addr.clone())))
                .collect();
            let primary = acting.iter().zip(&up).find_map(|(m, u)| m.filter(|_| *u));
            let mut st = pg.state.write().await;
            let changed = st.acting != acting || st.up != up || st.primary != primary;
            st.pool = pool;
            st.epoch = map.epoch.0;
            st.my_pos = acting.iter().position(|m| *m == Some(self.id));
            st.acting = acting;
            st.up = up;
            st.addrs = addrs;
            st.primary = primary;
            if changed || st.epoch == 0 {
                st.interval += 1;
                st.status = PgStatus::Peering;
                st.recovering.clear();
                st.backfilling = false;
            }
            pg.publish(&st);
            if st.primary == Some(self.id) && !st.is_active() {
                to_peer.push(pg.clone());
            }
        }
        to_peer
    }

    /// The PG `id` if this OSD is its primary at `epoch` (or newer), once active.
    pub async fn primary_pg(&self, id: PgId, epoch: u64) -> OsdResult<Arc<Pg>> {
        let map = self.map_at_least(epoch).await?;
        let wrong = |primary: Option<OsdId>| OsdError::WrongPrimary {
            pg: id,
            epoch: map.epoch.0,
            primary: primary.map_or("none".into(), |p| p.to_string()),
        };
        let Some(pg) = self.pg(id) else {
            return Err(wrong(None));
        };
        let mut activated = pg.activated.subscribe();
        let deadline = tokio::time::Instant::now() + ACTIVATE_WAIT;
        loop {
            {
                let st = pg.state.read().await;
                if st.primary != Some(self.id) {
                    return Err(wrong(st.primary));
                }
                if st.is_active() {
                    return Ok(pg.clone());
                }
            }
            if tokio::time::timeout_at(deadline, activated.changed())
                .await
                .is_err()
            {
                return Err(OsdError::NotActive(id));
            }
        }
    }

    /// The PG an object of `pool` maps to (checks the caller's routing).
    pub fn pg_of(map: &ClusterMap, pool: PoolId, object: &str) -> Option<PgId> {
        map.pools
            .get(&pool)
            .map(|p| object_to_pg(p, object.as_bytes()))
    }

    /// Everything about a PG this OSD is primary of, for `cuttle pg query`.
    pub async fn pg_detail(&self, pg: &Pg) -> OsdResult<cuttle_proto::PgDetail> {
        let st = pg.state.read().await;
        let (objects, bytes) = match st.my_pos {
            Some(p) => {
                let all = self
                    .shards
                    .versions(&crate::pg::shard_collection(pg.id, &st, p))
                    .await?;
                (all.len() as u64, all.values().map(|(_, size)| size).sum())
            }
            None => (0, 0),
        };
        Ok(cuttle_proto::PgDetail {
            pg: Some(cuttle_proto::PgRef {
                pool: pg.id.pool.0,
                seed: pg.id.seed,
            }),
            state: st.state_string(),
            epoch: st.epoch,
            acting: st
                .acting
                .iter()
                .map(|m| m.map_or(-1, |o| o.0 as i64))
                .collect(),
            up: st.up.clone(),
            primary: st.primary.map_or(0, |o| o.0),
            last_update: Some(st.last_update.into()),
            objects,
            bytes,
            unfound: st.unfound as u64,
            recovery_objects_remaining: pg.objects_remaining(),
            recovery_bytes_done: pg.bytes_done(),
            recovery_objects_done: pg.objects_done(),
            last_scrub: st.last_scrub,
            last_deep_scrub: st.last_deep_scrub,
            inconsistencies: st
                .inconsistencies
                .iter()
                .map(|f| cuttle_proto::ScrubFinding {
                    object: f.object.clone(),
                    osd: f.osd.0,
                    problem: f.problem.to_string(),
                })
                .collect(),
            repaired: 0,
        })
    }

    /// Per-PG stats of the PGs this OSD is primary of, for heartbeats.
    pub fn pg_stats(&self) -> Vec<cuttle_proto::PgStat> {
        self.pgs
            .lock()
            .values()
            .filter_map(|pg| {
                let s = pg.summary();
                let usage = pg.usage();
                (s.primary == Some(self.id)).then(|| cuttle_proto::PgStat {
                    pool: pg.id.pool.0,
                    seed: pg.id.seed,
                    state: s.state,
                    acting: s
                        .acting
                        .iter()
                        .map(|m| m.map_or(-1, |o| o.0 as i64))
                        .collect(),
                    primary: self.id.0,
                    recovery_objects_remaining: pg.objects_remaining(),
                    recovery_bytes_done: pg.bytes_done(),
                    recovery_objects_done: pg.objects_done(),
                    last_scrub: s.last_scrub,
                    last_deep_scrub: s.last_deep_scrub,
                    inconsistent_objects: s.inconsistent,
                    unfound: s.unfound,
                    objects: usage.map_or(0, |u| u.objects),
                    bytes: usage.map_or(0, |u| u.bytes),
                    counted: usage.is_some(),
                })
            })
            .collect()
    }

    /// Counts the objects and bytes of `pg` (this OSD its primary) again if it changed
    /// since the last count. Reads the PG lock only to find the collection, so writes
    /// go on while the listing runs; a write that lands during it moves `last_update`
    /// and the next call counts again.
    pub async fn count_usage(&self, pg: &Pg) -> OsdResult<()> {
        let (coll, at) = {
            let st = pg.state.read().await;
            if st.primary != Some(self.id) || !st.is_active() {
                return Ok(());
            }
            if pg.usage().is_some_and(|u| u.at == st.last_update) {
                return Ok(());
            }
            let Some(pos) = st.my_pos else {
                return Ok(());
            };
            (crate::pg::shard_collection(pg.id, &st, pos), st.last_update)
        };
        let all = self.shards.versions(&coll).await?;
        pg.set_usage(crate::pg::PgUsage {
            objects: all.len() as u64,
            bytes: all.values().map(|(_, size)| size).sum(),
            at,
        });
        Ok(())
    }

    /// Counts of PG states for PGs this OSD is primary of.
    pub fn pg_state_counts(&self) -> HashMap<String, u32> {
        let mut out: HashMap<String, u32> = HashMap::new();
        for pg in self.pgs.lock().values() {
            let summary = pg.summary();
            if summary.primary == Some(self.id) {
                *out.entry(summary.state).or_insert(0) += 1;
            }
        }
        out
    }
}

fn blank_state(pool: cuttle_types::Pool, acting: Vec<Option<OsdId>>) -> PgState {
    let n = acting.len();
    PgState {
        pool,
        epoch: 0,
        acting: vec![None; n],
        up: vec![false; n],
        addrs: HashMap::new(),
        primary: None,
        my_pos: None,
        last_update: Version::ZERO,
        interval: 0,
        active_interval: None,
        dirty: Default::default(),
        full: Default::default(),
        recovering: Default::default(),
        backfilling: false,
        status: PgStatus::Peering,
        unfound: 0,
        inconsistencies: Vec::new(),
        last_scrub: unix_now(),
        last_deep_scrub: unix_now(),
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
