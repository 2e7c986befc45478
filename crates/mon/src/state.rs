//! `MonState`: the replicated state machine of the monitors — the cluster map plus a
//! bounded history of incrementals — and the commands that change it.
//!
//! Applying a command is deterministic: it depends only on the state and the command
//! (wall-clock time travels inside commands, stamped by the proposing leader), so
//! every monitor that applies the same Raft log holds the same map. Validation happens
//! at apply time, because the state may change between proposal and commit; a refused
//! command still occupies a log entry but changes nothing and returns the reason.
//! Every effective change bumps the epoch by exactly one and records the incremental.

use std::collections::{BTreeSet, VecDeque};

use cuttle_types::{
    ClusterMap, Epoch, FailureDomain, MapIncremental, OsdId, OsdInfo, OsdWeight, Pool, PoolError,
    PoolId, Redundancy,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Incrementals kept for subscribers that fall behind (older ones get the full map).
pub const DEFAULT_HISTORY: usize = 500;

/// A change to the cluster map, as proposed through Raft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonCommand {
    /// An OSD daemon starts: register it (by uuid) if new, record its address, mark it up.
    BootOsd {
        /// Identity of the OSD's disk.
        uuid: Uuid,
        /// Host it runs on.
        host: String,
        /// Its gRPC address.
        addr: String,
        /// Weight to set; `None` keeps the current one (1.0 for a new OSD).
        weight: Option<OsdWeight>,
    },
    /// Register an OSD by uuid (idempotent) without marking it up.
    CreateOsd {
        /// Identity of the OSD's disk.
        uuid: Uuid,
        /// Host it will run on.
        host: String,
    },
    /// Mark OSDs down (missed heartbeats or by hand) at Unix time `at`.
    MarkDown {
        /// OSDs to mark.
        osds: Vec<OsdId>,
        /// Unix seconds, stamped by the proposer.
        at: u64,
    },
    /// Take OSDs out of data placement.
    MarkOut {
        /// OSDs to mark.
        osds: Vec<OsdId>,
    },
    /// Put OSDs back into data placement.
    MarkIn {
        /// OSDs to mark.
        osds: Vec<OsdId>,
    },
    /// Remove a down and out OSD from the map for good.
    PurgeOsd {
        /// The OSD.
        osd: OsdId,
    },
    /// Create a pool.
    CreatePool {
        /// Pool name.
        name: String,
        /// Replication or erasure coding.
        redundancy: Redundancy,
        /// Number of PGs.
        pg_num: u32,
        /// Distinctness constraint.
        failure_domain: FailureDomain,
        /// `None` for the default.
        min_size: Option<u32>,
    },
    /// Remove a pool and its data.
    RemovePool {
        /// Pool name.
        name: String,
    },
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum CommandError {
    /// The pool definition breaks a rule.
    #[error("{0}")]
    InvalidPool(String),
    /// A pool of that name exists.
    #[error("pool {0:?} already exists")]
    PoolExists(String),
    /// No pool of that name.
    #[error("pool {0:?} does not exist")]
    NoSuchPool(String),
    /// No OSD with that id.
    #[error("osd.{0} does not exist")]
    NoSuchOsd(u32),
    /// Purging needs the OSD down and out (its data moved elsewhere first).
    #[error(
        "osd.{0} must be down and out before it is purged (`cuttle osd out {0}`, wait for active+clean, stop it)"
    )]
    OsdStillActive(u32),
    /// The pool cannot be placed on the failure domains the cluster has.
    #[error(
        "pool {name:?} needs {needed} distinct {domain}s (its width), but the cluster has {have} {domain}(s) with OSDs in; add {domain}s, use a narrower profile, or --failure-domain osd on a single host"
    )]
    NotEnoughFailureDomains {
        /// Pool name.
        name: String,
        /// k+m or size.
        needed: u32,
        /// Domains available.
        have: u32,
        /// host or osd.
        domain: String,
    },
}

impl CommandError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::InvalidPool(_) => "invalid_pool",
            CommandError::PoolExists(_) => "pool_exists",
            CommandError::NoSuchPool(_) => "no_such_pool",
            CommandError::NoSuchOsd(_) => "no_such_osd",
            CommandError::OsdStillActive(_) => "osd_still_active",
            CommandError::NotEnoughFailureDomains { .. } => "not_enough_failure_domains",
        }
    }
}

/// The result of applying a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonResponse {
    /// Applied; the map is now at `epoch` (unchanged if nothing needed changing).
    Done {
        /// Map epoch after the command.
        epoch: Epoch,
    },
    /// An OSD booted and got this id.
    Booted {
        /// Its id.
        osd: OsdId,
        /// Map epoch after the command.
        epoch: Epoch,
    },
    /// A pool was created.
    PoolCreated {
        /// The new pool.
        pool: Pool,
        /// Map epoch after the command.
        epoch: Epoch,
    },
    /// The command was refused; nothing changed.
    Refused(CommandError),
    /// A Raft-internal entry (blank or membership) with no application result.
    Internal,
}

/// The monitors' replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonState {
    /// The current cluster map.
    pub map: ClusterMap,
    /// Incrementals of the most recent epochs, oldest first; entry `i` produced epoch
    /// `history[i].epoch`.
    pub history: VecDeque<MapIncremental>,
    /// Next pool id to hand out (ids are never reused).
    pub next_pool_id: u32,
    /// How many incrementals to keep.
    pub history_len: usize,
}

impl MonState {
    /// The state of a new cluster.
    pub fn new(fsid: Uuid) -> MonState {
        MonState {
            map: ClusterMap::new(fsid),
            history: VecDeque::new(),
            next_pool_id: 1,
            history_len: DEFAULT_HISTORY,
        }
    }

    /// The incrementals after `epoch`, if the history still covers them.
    pub fn incrementals_since(&self, epoch: Epoch) -> Option<Vec<MapIncremental>> {
        if epoch >= self.map.epoch {
            return Some(Vec::new());
        }
        let first = self.history.front()?.epoch;
        if epoch.next() < first {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|i| i.epoch > epoch)
                .cloned()
                .collect(),
        )
    }

    /// Applies a command: on success the map moves to the next epoch (if anything
    /// changed) and the incremental is recorded.
    pub fn apply(&mut self, cmd: &MonCommand) -> MonResponse {
        let mut next = self.map.clone();
        let result = apply_to(&mut next, &mut self.next_pool_id, cmd);
        match result {
            Err(e) => MonResponse::Refused(e),
            Ok(outcome) => {
                if next != self.map {
                    next.epoch = self.map.epoch.next();
                    let inc = self.map.diff(&next);
                    self.history.push_back(inc);
                    while self.history.len() > self.history_len {
                        self.history.pop_front();
                    }
                    self.map = next;
                }
                let epoch = self.map.epoch;
                match outcome {
                    Outcome::Done => MonResponse::Done { epoch },
                    Outcome::Booted(osd) => MonResponse::Booted { osd, epoch },
                    Outcome::PoolCreated(id) => match self.map.pools.get(&id) {
                        Some(pool) => MonResponse::PoolCreated {
                            pool: pool.clone(),
                            epoch,
                        },
                        None => MonResponse::Done { epoch },
                    },
                }
            }
        }
    }
}

enum Outcome {
    Done,
    Booted(OsdId),
    PoolCreated(PoolId),
}

fn osd_mut(map: &mut ClusterMap, id: OsdId) -> Result<&mut OsdInfo, CommandError> {
    map.osds.get_mut(&id).ok_or(CommandError::NoSuchOsd(id.0))
}

/// Number of distinct failure domains with at least one `in` OSD of positive weight.
pub fn failure_domains(map: &ClusterMap, domain: FailureDomain) -> u32 {
    let usable = map
        .osds
        .values()
        .filter(|o| o.in_cluster && o.weight > OsdWeight::ZERO);
    match domain {
        FailureDomain::Osd => usable.count() as u32,
        FailureDomain::Host => usable
            .map(|o| o.host.as_str())
            .collect::<BTreeSet<_>>()
            .len() as u32,
    }
}

/// The id of the OSD with `uuid`, registering it (down, in, weight 1.0, lowest free
/// id as Ceph hands them out) when new.
fn register(map: &mut ClusterMap, uuid: Uuid, host: &str) -> OsdId {
    if let Some(id) = map.osds.values().find(|o| o.uuid == uuid).map(|o| o.id) {
        return id;
    }
    let id = (0u32..)
        .map(OsdId)
        .find(|id| !map.osds.contains_key(id))
        .unwrap_or(OsdId(u32::MAX));
    map.osds.insert(
        id,
        OsdInfo {
            id,
            uuid,
            host: host.to_string(),
            addr: String::new(),
            weight: OsdWeight::ONE,
            up: false,
            in_cluster: true,
            down_since: None,
        },
    );
    id
}

fn apply_to(
    map: &mut ClusterMap,
    next_pool_id: &mut u32,
    cmd: &MonCommand,
) -> Result<Outcome, CommandError> {
    match cmd {
        MonCommand::CreateOsd { uuid, host } => Ok(Outcome::Booted(register(map, *uuid, host))),
        MonCommand::BootOsd {
            uuid,
            host,
            addr,
            weight,
        } => {
            let id = register(map, *uuid, host);
            let o = osd_mut(map, id)?;
            o.host = host.clone();
            o.addr = addr.clone();
            o.up = true;
            o.down_since = None;
            if let Some(w) = weight {
                o.weight = *w;
            }
            Ok(Outcome::Booted(id))
        }
        MonCommand::MarkDown { osds, at } => {
            for id in osds {
                let o = osd_mut(map, *id)?;
                if o.up {
                    o.up = false;
                    o.down_since = Some(*at);
                }
            }
            Ok(Outcome::Done)
        }
        MonCommand::MarkOut { osds } => {
            for id in osds {
                osd_mut(map, *id)?.in_cluster = false;
            }
            Ok(Outcome::Done)
        }
        MonCommand::MarkIn { osds } => {
            for id in osds {
                osd_mut(map, *id)?.in_cluster = true;
            }
            Ok(Outcome::Done)
        }
        MonCommand::CreatePool {
            name,
            redundancy,
            pg_num,
            failure_domain,
            min_size,
        } => {
            if map.pool_by_name(name).is_some() {
                return Err(CommandError::PoolExists(name.clone()));
            }
            let pool = Pool {
                id: PoolId(*next_pool_id),
                name: name.clone(),
                redundancy: *redundancy,
                pg_num: *pg_num,
                failure_domain: *failure_domain,
                min_size: min_size.unwrap_or_else(|| redundancy.default_min_size()),
            };
            pool.validate()
                .map_err(|e: PoolError| CommandError::InvalidPool(e.to_string()))?;
            let have = failure_domains(map, *failure_domain);
            let needed = redundancy.width();
            if have < needed {
                return Err(CommandError::NotEnoughFailureDomains {
                    name: name.clone(),
                    needed,
                    have,
                    domain: failure_domain.to_string(),
                });
            }
            *next_pool_id += 1;
            let id = pool.id;
            map.pools.insert(id, pool);
            Ok(Outcome::PoolCreated(id))
        }
        MonCommand::PurgeOsd { osd } => {
            let o = map.osds.get(osd).ok_or(CommandError::NoSuchOsd(osd.0))?;
            if o.up || o.in_cluster {
                return Err(CommandError::OsdStillActive(osd.0));
            }
            map.osds.remove(osd);
            Ok(Outcome::Done)
        }
        MonCommand::RemovePool { name } => {
            let id = map
                .pool_by_name(name)
                .map(|p| p.id)
                .ok_or_else(|| CommandError::NoSuchPool(name.clone()))?;
            map.pools.remove(&id);
            Ok(Outcome::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_types::EcProfile;

    fn boot(s: &mut MonState, n: u128, host: &str) -> OsdId {
        match s.apply(&MonCommand::BootOsd {
            uuid: Uuid::from_u128(n),
            host: host.into(),
            addr: format!("127.0.0.1:{n}"),
            weight: None,
        }) {
            MonResponse::Booted { osd, .. } => osd,
            other => panic!("{other:?}"),
        }
    }

    fn ec_pool(name: &str, k: u8, m: u8) -> MonCommand {
        MonCommand::CreatePool {
            name: name.into(),
            redundancy: Redundancy::Erasure(EcProfile::new(k, m)),
            pg_num: 16,
            failure_domain: FailureDomain::Host,
            min_size: None,
        }
    }

    #[test]
    fn boot_assigns_stable_ids_and_bumps_epochs() {
        let mut s = MonState::new(Uuid::from_u128(1));
        assert_eq!(boot(&mut s, 10, "a"), OsdId(0));
        assert_eq!(boot(&mut s, 11, "b"), OsdId(1));
        assert_eq!(s.map.epoch, Epoch(2));
        // The same uuid gets the same id back; a re-boot with identical facts is no change.
        assert_eq!(boot(&mut s, 10, "a"), OsdId(0));
        assert_eq!(s.map.epoch, Epoch(2));
        s.apply(&MonCommand::MarkDown {
            osds: vec![OsdId(0)],
            at: 99,
        });
        assert_eq!(s.map.epoch, Epoch(3));
        assert_eq!(s.map.osds[&OsdId(0)].down_since, Some(99));
        assert_eq!(boot(&mut s, 10, "a"), OsdId(0));
        assert!(s.map.osds[&OsdId(0)].up);
        assert_eq!(s.map.epoch, Epoch(4));
        assert_eq!(
            s.apply(&MonCommand::MarkOut {
                osds: vec![OsdId(7)]
            }),
            MonResponse::Refused(CommandError::NoSuchOsd(7))
        );
    }

    #[test]
    fn pools_are_validated_against_the_map() {
        let mut s = MonState::new(Uuid::from_u128(1));
        boot(&mut s, 1, "a");
        boot(&mut s, 2, "b");
        assert!(matches!(
            s.apply(&ec_pool("ec", 2, 1)),
            MonResponse::Refused(CommandError::NotEnoughFailureDomains {
                needed: 3,
                have: 2,
                ..
            })
        ));
        boot(&mut s, 3, "c");
        let r = s.apply(&ec_pool("ec", 2, 1));
        let MonResponse::PoolCreated { pool, epoch } = r else {
            panic!("{r:?}")
        };
        assert_eq!(pool.min_size, 3);
        assert_eq!(epoch, s.map.epoch);
        assert_eq!(
            s.apply(&ec_pool("ec", 2, 1)),
            MonResponse::Refused(CommandError::PoolExists("ec".into()))
        );
        for bad in [ec_pool("bad name", 2, 1), ec_pool("x", 0, 1)] {
            assert!(matches!(
                s.apply(&bad),
                MonResponse::Refused(CommandError::InvalidPool(_))
            ));
        }
        let zero_pgs = MonCommand::CreatePool {
            name: "z".into(),
            redundancy: Redundancy::Replicated { size: 3 },
            pg_num: 0,
            failure_domain: FailureDomain::Host,
            min_size: None,
        };
        assert!(matches!(
            s.apply(&zero_pgs),
            MonResponse::Refused(CommandError::InvalidPool(_))
        ));
        let before = s.map.epoch;
        assert_eq!(
            s.apply(&MonCommand::RemovePool {
                name: "nope".into()
            }),
            MonResponse::Refused(CommandError::NoSuchPool("nope".into()))
        );
        assert_eq!(s.map.epoch, before, "a refused command changes nothing");
        s.apply(&MonCommand::RemovePool { name: "ec".into() });
        assert!(s.map.pools.is_empty());
        // Ids are never reused.
        let MonResponse::PoolCreated { pool, .. } = s.apply(&ec_pool("ec", 2, 1)) else {
            panic!()
        };
        assert_eq!(pool.id, PoolId(2));
    }

    #[test]
    fn incrementals_replay_to_the_current_map() {
        let mut s = MonState::new(Uuid::from_u128(1));
        s.history_len = 4;
        let start = s.map.clone();
        for n in 0..3 {
            boot(&mut s, n, &format!("h{n}"));
        }
        let incs = s.incrementals_since(Epoch(0)).expect("covered");
        let mut m = start;
        for i in &incs {
            m.apply(i).expect("in order");
        }
        assert_eq!(m, s.map);
        for n in 3..8 {
            boot(&mut s, n, "h");
        }
        assert_eq!(s.history.len(), 4);
        assert!(
            s.incrementals_since(Epoch(1)).is_none(),
            "too old: full map needed"
        );
        assert_eq!(s.incrementals_since(Epoch(6)).map(|v| v.len()), Some(2));
        assert_eq!(s.incrementals_since(s.map.epoch), Some(vec![]));
    }
}
