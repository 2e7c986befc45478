//! `MonNode`: one running monitor — its Raft handle, state machine, peers, and the
//! leader-local soft state (OSD heartbeats and reports, monitor liveness).
//!
//! Soft state is deliberately not replicated: heartbeats arrive every few seconds
//! from every OSD, and a new leader simply gives every up OSD a fresh grace period.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cuttle_proto as pb;
use cuttle_rpc::{ChannelConfig, ClusterSecret, status};
use cuttle_types::{ClusterMap, OsdId};
use openraft::error::{ClientWriteError, RaftError};
use parking_lot::Mutex;
use tonic::{Code, Status};

use crate::config::MonConfig;
use crate::health::{self, HealthInput, MonitorView, OsdUsage, Ratios};
use crate::raft::MonRaft;
use crate::raft::network::{AuthedMonClient, mon_client};
use crate::raft::state_machine::StateMachine;
use crate::state::{MonCommand, MonResponse};

/// Metadata key set on requests a follower forwards to the leader.
pub const FORWARDED_KEY: &str = "x-cuttle-forwarded";

/// The latest heartbeat of an OSD (leader-local).
#[derive(Debug, Clone)]
pub struct OsdReport {
    /// When it arrived.
    pub at: Instant,
    /// Reported usage.
    pub usage: OsdUsage,
    /// PG states of PGs the OSD is primary for.
    pub pg_states: BTreeMap<String, u32>,
    /// Per-PG detail of those PGs.
    pub pgs: Vec<pb::PgStat>,
}

/// A peer monitor.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Name.
    pub name: String,
    /// Address.
    pub addr: String,
}

/// One running monitor.
pub struct MonNode {
    /// Configuration.
    pub config: Arc<MonConfig>,
    /// This monitor's Raft id.
    pub raft_id: u64,
    /// Raft handle.
    pub raft: MonRaft,
    /// State machine (the applied map).
    pub sm: StateMachine,
    /// Cluster secret.
    pub secret: ClusterSecret,
    /// How this monitor dials its peers (plaintext or TLS).
    pub channels: ChannelConfig,
    /// Every monitor by Raft id, this one included.
    pub members: BTreeMap<u64, PeerInfo>,
    /// When each peer last answered a ping.
    pub last_pong: Mutex<HashMap<u64, Instant>>,
    /// Last heartbeat per OSD (meaningful on the leader).
    pub osd_reports: Mutex<BTreeMap<OsdId, OsdReport>>,
    /// Recent (time, total recovered bytes, total recovered objects) samples, for the
    /// recovery rates.
    recovery_samples: Mutex<std::collections::VecDeque<(Instant, u64, u64)>>,
    clients: Mutex<HashMap<u64, AuthedMonClient>>,
    /// Client I/O rates from the OSDs' heartbeats (meaningful on the leader).
    pub client_io: crate::client_io::ClientIo,
}

impl std::fmt::Debug for MonNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonNode")
            .field("name", &self.config.name)
            .field("raft_id", &self.raft_id)
            .finish_non_exhaustive()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl MonNode {
    /// Wraps the parts of a started monitor.
    pub fn new(
        config: Arc<MonConfig>,
        raft_id: u64,
        raft: MonRaft,
        sm: StateMachine,
        secret: ClusterSecret,
        channels: ChannelConfig,
    ) -> MonNode {
        let members = config
            .monitors
            .iter()
            .enumerate()
            .map(|(i, (name, addr))| {
                (
                    i as u64 + 1,
                    PeerInfo {
                        name: name.clone(),
                        addr: addr.clone(),
                    },
                )
            })
            .collect();
        MonNode {
            config,
            raft_id,
            raft,
            sm,
            secret,
            channels,
            members,
            last_pong: Mutex::new(HashMap::new()),
            osd_reports: Mutex::new(BTreeMap::new()),
            recovery_samples: Mutex::new(std::collections::VecDeque::new()),
            clients: Mutex::new(HashMap::new()),
            client_io: crate::client_io::ClientIo::default(),
        }
    }

    /// This monitor's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The Raft leader this monitor knows of.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// Whether this monitor is the leader.
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.raft_id)
    }

    /// A signed client for a peer.
    pub fn client(&self, id: u64) -> Result<AuthedMonClient, Status> {
        if let Some(c) = self.clients.lock().get(&id) {
            return Ok(c.clone());
        }
        let peer = self.members.get(&id).ok_or_else(|| {
            status(
                Code::Internal,
                "unknown_monitor",
                format!("no monitor with raft id {id}"),
            )
        })?;
        let c = mon_client(&peer.addr, &self.secret, &self.channels)
            .map_err(|e| status(Code::Internal, "bad_address", e.to_string()))?;
        self.clients.lock().insert(id, c.clone());
        Ok(c)
    }

    /// Where a leader-only request goes: `None` to handle it here, or the leader's
    /// client to forward to. Refuses when no leader is known or the request was
    /// already forwarded once.
    pub fn route<T>(&self, req: &tonic::Request<T>) -> Result<Option<AuthedMonClient>, Status> {
        match self.leader() {
            Some(l) if l == self.raft_id => Ok(None),
            Some(l) if req.metadata().get(FORWARDED_KEY).is_none() => Ok(Some(self.client(l)?)),
            Some(_) => Err(status(
                Code::Unavailable,
                "not_leader",
                "the monitor leadership is changing; retry",
            )),
            None => Err(self.no_quorum()),
        }
    }

    /// The error returned when the monitors cannot commit.
    pub fn no_quorum(&self) -> Status {
        let reachable = self.reachable_monitors();
        status(
            Code::Unavailable,
            "no_quorum",
            format!(
                "no monitor quorum: {} of {} monitors reachable from mon.{}; map changes cannot commit until a majority is up",
                reachable,
                self.members.len(),
                self.name()
            ),
        )
    }

    fn reachable_monitors(&self) -> usize {
        self.monitor_views().iter().filter(|m| m.reachable).count()
    }

    /// Proposes a command and waits for it to commit, within the write timeout.
    pub async fn propose(&self, cmd: MonCommand) -> Result<MonResponse, Status> {
        let timeout = Duration::from_secs(self.config.timing.write_timeout_secs);
        match tokio::time::timeout(timeout, self.raft.client_write(cmd)).await {
            Err(_) => Err(status(
                Code::Unavailable,
                "no_quorum",
                format!(
                    "no monitor quorum: the change was not committed within {}s ({} of {} monitors reachable from mon.{}); it takes effect only if a majority returns before the leadership changes",
                    timeout.as_secs(),
                    self.reachable_monitors(),
                    self.members.len(),
                    self.name()
                ),
            )),
            Ok(Ok(r)) => Ok(r.data),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Err(status(
                Code::Unavailable,
                "not_leader",
                "the monitor leadership changed during the request; retry",
            )),
            Ok(Err(e)) => Err(status(Code::Internal, "raft_error", e.to_string())),
        }
    }

    /// Each monitor and whether it answered pings recently.
    pub fn monitor_views(&self) -> Vec<MonitorView> {
        let pongs = self.last_pong.lock();
        let fresh = Duration::from_millis(self.config.timing.ping_interval_ms * 3 + 500);
        self.members
            .iter()
            .map(|(id, p)| MonitorView {
                name: p.name.clone(),
                reachable: *id == self.raft_id
                    || pongs.get(id).is_some_and(|t| t.elapsed() < fresh),
            })
            .collect()
    }

    /// Records an OSD heartbeat (leader).
    pub fn record_heartbeat(&self, osd: OsdId, report: OsdReport) {
        self.osd_reports.lock().insert(osd, report);
    }

    /// The latest per-PG stats from fresh reports of up OSDs, and the PGs of the map
    /// nobody reported.
    pub fn pg_stats(&self) -> pb::PgStatsReply {
        let state = self.sm.current();
        let map = &state.map;
        let grace = Duration::from_secs(self.config.timing.osd_heartbeat_grace_secs);
        let mut by_pg: BTreeMap<(u32, u32), pb::PgStat> = BTreeMap::new();
        for (id, r) in self.osd_reports.lock().iter() {
            if r.at.elapsed() > grace || !map.is_up(*id) {
                continue;
            }
            for p in &r.pgs {
                by_pg.insert((p.pool, p.seed), p.clone());
            }
        }
        let mut unreported = Vec::new();
        for pool in map.pools.values() {
            for seed in 0..pool.pg_num {
                if !by_pg.contains_key(&(pool.id.0, seed)) {
                    unreported.push(format!("{}.{seed:x}", pool.id.0));
                }
            }
        }
        by_pg.retain(|(pool, seed), _| {
            map.pools
                .get(&cuttle_types::PoolId(*pool))
                .is_some_and(|p| *seed < p.pg_num)
        });
        let remaining = by_pg.values().map(|p| p.recovery_objects_remaining).sum();
        let bytes_done: u64 = by_pg.values().map(|p| p.recovery_bytes_done).sum();
        let objects_done: u64 = by_pg.values().map(|p| p.recovery_objects_done).sum();
        let (bytes_rate, objects_rate) = self.recovery_rates(bytes_done, objects_done);
        pb::PgStatsReply {
            pgs: by_pg.into_values().collect(),
            unreported,
            recovery_objects_remaining: remaining,
            recovery_bytes_per_sec: bytes_rate,
            recovery_objects_per_sec: objects_rate,
        }
    }

    /// Bytes and objects per second recovered over the last ~10 s, from cumulative
    /// samples. A sum that shrinks (a primary moved or restarted) counts as no progress.
    fn recovery_rates(&self, bytes_done: u64, objects_done: u64) -> (f64, f64) {
        let mut samples = self.recovery_samples.lock();
        let now = Instant::now();
        samples.push_back((now, bytes_done, objects_done));
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(t, _, _)| now.duration_since(*t) > Duration::from_secs(10))
        {
            samples.pop_front();
        }
        match samples.front() {
            Some((t, bytes, objects)) if now.duration_since(*t) > Duration::from_millis(500) => {
                let secs = now.duration_since(*t).as_secs_f64();
                (
                    bytes_done.saturating_sub(*bytes) as f64 / secs,
                    objects_done.saturating_sub(*objects) as f64 / secs,
                )
            }
            _ => (0.0, 0.0),
        }
    }

    /// Whether a quorum acknowledged this (leader) monitor within the last 5 s: the
    /// `quorum` argument of [`MonNode::status`].
    pub fn quorum_acked(&self) -> bool {
        self.raft
            .metrics()
            .borrow()
            .millis_since_quorum_ack
            .is_some_and(|ms| ms < 5_000)
    }

    /// Status as this monitor sees it. `quorum` says whether it is a working leader.
    pub fn status(&self, quorum: bool) -> pb::StatusReply {
        let state = self.sm.current();
        let map: &ClusterMap = &state.map;
        let grace = Duration::from_secs(self.config.timing.osd_heartbeat_grace_secs);
        let mut usage = BTreeMap::new();
        let mut pg_states: BTreeMap<String, u32> = BTreeMap::new();
        // Per pool: (objects, bytes, PGs counted), from each PG's primary.
        let mut pools: BTreeMap<u32, (u64, u64, u32)> = BTreeMap::new();
        for (id, r) in self.osd_reports.lock().iter() {
            if r.at.elapsed() > grace || !map.is_up(*id) {
                continue;
            }
            usage.insert(*id, r.usage);
            for (s, n) in &r.pg_states {
                *pg_states.entry(s.clone()).or_insert(0) += n;
            }
            for p in r.pgs.iter().filter(|p| p.counted) {
                let e = pools.entry(p.pool).or_default();
                e.0 += p.objects;
                e.1 += p.bytes;
                e.2 += 1;
            }
        }
        let pool_usage = map
            .pools
            .values()
            .map(|p| {
                let (objects, bytes, counted) = pools.get(&p.id.0).copied().unwrap_or_default();
                pb::PoolUsage {
                    pool: p.id.0,
                    name: p.name.clone(),
                    objects,
                    bytes,
                    pgs_uncounted: p.pg_num.saturating_sub(counted),
                }
            })
            .collect();
        let osd_usage = usage
            .iter()
            .map(|(id, u)| pb::OsdUsage {
                osd_id: id.0,
                bytes_total: u.total,
                bytes_used: u.used,
            })
            .collect();
        let monitors = self.monitor_views();
        let h = health::compute(&HealthInput {
            map,
            quorum,
            monitors: &monitors,
            usage: &usage,
            pg_states: &pg_states,
            ratios: Ratios::default(),
        });
        let metrics = self.raft.metrics().borrow().clone();
        let applied = self.sm.last_applied_index();
        pb::StatusReply {
            fsid: map.fsid.to_string(),
            epoch: map.epoch.0,
            health: h.status.to_string(),
            checks: h
                .checks
                .iter()
                .map(|c| pb::HealthCheck {
                    code: c.code.to_string(),
                    severity: c.severity.to_string(),
                    summary: c.summary.clone(),
                    detail: c.detail.clone(),
                    remedy: c.remedy.clone(),
                })
                .collect(),
            monitors: self
                .members
                .iter()
                .zip(&monitors)
                .map(|((id, p), v)| pb::MonitorStatus {
                    name: p.name.clone(),
                    raft_id: *id,
                    addr: p.addr.clone(),
                    leader: metrics.current_leader == Some(*id),
                    reachable: v.reachable,
                    last_applied: if *id == self.raft_id { applied } else { 0 },
                })
                .collect(),
            leader: metrics
                .current_leader
                .and_then(|l| self.members.get(&l))
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            term: metrics.current_term,
            osds: map.osds.len() as u32,
            osds_up: map.osds.values().filter(|o| o.up).count() as u32,
            osds_in: map.osds.values().filter(|o| o.in_cluster).count() as u32,
            pools: map.pools.len() as u32,
            bytes_total: usage.values().map(|u| u.total).sum(),
            bytes_used: usage.values().map(|u| u.used).sum(),
            pg_states: pg_states
                .into_iter()
                .map(|(state, count)| pb::PgStateCount { state, count })
                .collect(),
            answered_by: self.name().to_string(),
            recovery_objects_remaining: 0,
            recovery_bytes_per_sec: 0.0,
            recovery_objects_per_sec: 0.0,
            osd_usage,
            pool_usage,
            client_io: Some(self.client_io.current()),
            io_history: Vec::new(),
        }
    }

    /// Unix seconds now (stamped into commands by the proposer).
    pub fn now_unix() -> u64 {
        unix_now()
    }
}
