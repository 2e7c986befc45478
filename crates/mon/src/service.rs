//! The monitor's gRPC service: converts wire messages, routes leader-only requests
//! (forwarding them once to the leader), proposes commands, and maps results to
//! replies or statuses with stable error codes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use cuttle_proto as pb;
use cuttle_proto::convert::{create_pool_redundancy, failure_domain};
use cuttle_proto::monitor_server::Monitor;
use cuttle_rpc::status;
use cuttle_types::{Epoch, OsdId, OsdWeight};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

use crate::health::OsdUsage;
use crate::node::{FORWARDED_KEY, MonNode, OsdReport};
use crate::raft::TypeConfig;
use crate::state::{MonCommand, MonResponse};

/// The Monitor service of one node.
#[derive(Debug, Clone)]
pub struct MonService {
    node: Arc<MonNode>,
}

impl MonService {
    /// A service for `node`.
    pub fn new(node: Arc<MonNode>) -> MonService {
        MonService { node }
    }
}

fn forwarded<T>(inner: T) -> Request<T> {
    let mut r = Request::new(inner);
    r.metadata_mut()
        .insert(FORWARDED_KEY, MetadataValue::from_static("1"));
    r
}

fn invalid(code: &'static str, e: impl std::fmt::Display) -> Status {
    status(Code::InvalidArgument, code, e.to_string())
}

/// Maps a command's outcome to an epoch, or its refusal to a status.
fn refused(r: MonResponse) -> Result<MonResponse, Status> {
    match r {
        MonResponse::Refused(e) => {
            let code = match e {
                crate::state::CommandError::PoolExists(_) => Code::AlreadyExists,
                crate::state::CommandError::NoSuchPool(_)
                | crate::state::CommandError::NoSuchOsd(_) => Code::NotFound,
                crate::state::CommandError::NotEnoughFailureDomains { .. } => {
                    Code::FailedPrecondition
                }
                crate::state::CommandError::InvalidPool(_) => Code::InvalidArgument,
                crate::state::CommandError::OsdStillActive(_) => Code::FailedPrecondition,
            };
            Err(status(code, e.code(), e.to_string()))
        }
        other => Ok(other),
    }
}

fn epoch_of(r: &MonResponse) -> u64 {
    match r {
        MonResponse::Done { epoch }
        | MonResponse::Booted { epoch, .. }
        | MonResponse::PoolCreated { epoch, .. } => epoch.0,
        MonResponse::Refused(_) | MonResponse::Internal => 0,
    }
}

fn json<T: Serialize>(v: &T) -> Result<pb::RaftReply, Status> {
    serde_json::to_vec(v)
        .map(|payload| pb::RaftReply {
            payload: payload.into(),
        })
        .map_err(|e| status(Code::Internal, "encode", e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(payload).map_err(|e| invalid("bad_raft_payload", e))
}

#[tonic::async_trait]
impl Monitor for MonService {
    /// Served by the leader when there is one, so a caller reads its own writes; a
    /// monitor without a reachable leader answers with the map it has.
    async fn get_map(
        &self,
        req: Request<pb::GetMapRequest>,
    ) -> Result<Response<pb::ClusterMap>, Status> {
        if let Ok(Some(mut leader)) = self.node.route(&req)
            && let Ok(r) = leader.get_map(forwarded(pb::GetMapRequest {})).await
        {
            return Ok(r);
        }
        let state = self.node.sm.current();
        Ok(Response::new((&state.map).into()))
    }

    type SubscribeStream = ReceiverStream<Result<pb::MapUpdate, Status>>;

    async fn subscribe(
        &self,
        req: Request<pb::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let from = Epoch(req.into_inner().from_epoch);
        let mut updates = self.node.sm.subscribe();
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            // `sent` is the epoch the subscriber holds.
            let mut sent = from;
            let mut first = true;
            loop {
                let state = updates.borrow_and_update().clone();
                let mut out = Vec::new();
                if first && from.0 == 0 {
                    out.push(pb::map_update::Update::Full((&state.map).into()));
                } else if state.map.epoch > sent {
                    match state.incrementals_since(sent) {
                        Some(incs) => out.extend(
                            incs.iter()
                                .map(|i| pb::map_update::Update::Incremental(i.into())),
                        ),
                        None => out.push(pb::map_update::Update::Full((&state.map).into())),
                    }
                }
                first = false;
                if !out.is_empty() {
                    sent = state.map.epoch;
                }
                for u in out {
                    if tx
                        .send(Ok(pb::MapUpdate { update: Some(u) }))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
                if updates.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn create_pool(
        &self,
        req: Request<pb::CreatePoolRequest>,
    ) -> Result<Response<pb::PoolReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.create_pool(forwarded(req.into_inner())).await;
        }
        let r = req.into_inner();
        let redundancy = create_pool_redundancy(r.redundancy.as_ref())
            .map_err(|e| invalid("invalid_pool", e))?;
        let cmd = MonCommand::CreatePool {
            name: r.name,
            redundancy,
            pg_num: r.pg_num,
            failure_domain: failure_domain(&r.failure_domain)
                .map_err(|e| invalid("invalid_pool", e))?,
            min_size: (r.min_size != 0).then_some(r.min_size),
        };
        match refused(self.node.propose(cmd).await?)? {
            MonResponse::PoolCreated { pool, epoch } => {
                let map = self.node.sm.current();
                let down_domains = crate::state::failure_domains(&map.map, pool.failure_domain);
                let up_hosts = map
                    .map
                    .osds
                    .values()
                    .filter(|o| o.up && o.in_cluster)
                    .map(|o| o.host.as_str())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len() as u32;
                let warning = if pool.failure_domain == cuttle_types::FailureDomain::Host
                    && up_hosts < pool.redundancy.width()
                {
                    format!(
                        "only {up_hosts} of the {down_domains} hosts are up: PGs start degraded until they return"
                    )
                } else {
                    String::new()
                };
                Ok(Response::new(pb::PoolReply {
                    pool: Some((&pool).into()),
                    epoch: epoch.0,
                    warning,
                }))
            }
            other => Err(status(
                Code::Internal,
                "unexpected_response",
                format!("{other:?}"),
            )),
        }
    }

    async fn remove_pool(
        &self,
        req: Request<pb::RemovePoolRequest>,
    ) -> Result<Response<pb::EpochReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.remove_pool(forwarded(req.into_inner())).await;
        }
        let r = req.into_inner();
        if r.confirm != r.name {
            return Err(status(
                Code::FailedPrecondition,
                "confirmation_required",
                format!(
                    "removing pool {:?} destroys its data; confirm by repeating its name",
                    r.name
                ),
            ));
        }
        let resp = refused(
            self.node
                .propose(MonCommand::RemovePool { name: r.name })
                .await?,
        )?;
        Ok(Response::new(pb::EpochReply {
            epoch: epoch_of(&resp),
        }))
    }

    async fn set_osd_state(
        &self,
        req: Request<pb::SetOsdStateRequest>,
    ) -> Result<Response<pb::EpochReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.set_osd_state(forwarded(req.into_inner())).await;
        }
        let r = req.into_inner();
        let osds = vec![OsdId(r.osd_id)];
        let cmd = match pb::OsdStateChange::try_from(r.change) {
            Ok(pb::OsdStateChange::Out) => MonCommand::MarkOut { osds },
            Ok(pb::OsdStateChange::In) => MonCommand::MarkIn { osds },
            Ok(pb::OsdStateChange::Down) => MonCommand::MarkDown {
                osds,
                at: MonNode::now_unix(),
            },
            _ => {
                return Err(invalid(
                    "bad_state_change",
                    "change must be out, in or down",
                ));
            }
        };
        let resp = refused(self.node.propose(cmd).await?)?;
        Ok(Response::new(pb::EpochReply {
            epoch: epoch_of(&resp),
        }))
    }

    async fn create_osd(
        &self,
        req: Request<pb::CreateOsdRequest>,
    ) -> Result<Response<pb::BootOsdReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.create_osd(forwarded(req.into_inner())).await;
        }
        let r = req.into_inner();
        let uuid = Uuid::parse_str(&r.uuid).map_err(|e| invalid("bad_uuid", e))?;
        if r.host.is_empty() {
            return Err(invalid("bad_boot", "host is required"));
        }
        let cmd = MonCommand::CreateOsd { uuid, host: r.host };
        match refused(self.node.propose(cmd).await?)? {
            MonResponse::Booted { osd, epoch } => Ok(Response::new(pb::BootOsdReply {
                osd_id: osd.0,
                epoch: epoch.0,
                fsid: self.node.config.fsid.to_string(),
            })),
            other => Err(status(
                Code::Internal,
                "unexpected_response",
                format!("{other:?}"),
            )),
        }
    }

    async fn boot_osd(
        &self,
        req: Request<pb::BootOsdRequest>,
    ) -> Result<Response<pb::BootOsdReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.boot_osd(forwarded(req.into_inner())).await;
        }
        let r = req.into_inner();
        let uuid = Uuid::parse_str(&r.uuid).map_err(|e| invalid("bad_uuid", e))?;
        if r.host.is_empty() || r.addr.is_empty() {
            return Err(invalid("bad_boot", "host and addr are required"));
        }
        let cmd = MonCommand::BootOsd {
            uuid,
            host: r.host,
            addr: r.addr,
            weight: (r.weight != 0).then_some(OsdWeight(r.weight)),
        };
        match refused(self.node.propose(cmd).await?)? {
            MonResponse::Booted { osd, epoch } => {
                self.node.record_heartbeat(
                    osd,
                    OsdReport {
                        at: Instant::now(),
                        usage: OsdUsage::default(),
                        pg_states: BTreeMap::new(),
                        pgs: Vec::new(),
                    },
                );
                Ok(Response::new(pb::BootOsdReply {
                    osd_id: osd.0,
                    epoch: epoch.0,
                    fsid: self.node.config.fsid.to_string(),
                }))
            }
            other => Err(status(
                Code::Internal,
                "unexpected_response",
                format!("{other:?}"),
            )),
        }
    }

    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> Result<Response<pb::HeartbeatReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.heartbeat(forwarded(req.into_inner())).await;
        }
        let r = req.into_inner();
        let state = self.node.sm.current();
        let osd = OsdId(r.osd_id);
        let known = state
            .map
            .osds
            .get(&osd)
            .is_some_and(|o| o.uuid.to_string() == r.uuid);
        if !known {
            return Err(status(
                Code::NotFound,
                "no_such_osd",
                format!("{osd} with uuid {} is not registered; boot first", r.uuid),
            ));
        }
        if let Some(io) = &r.client_io {
            self.node.client_io.record(osd, io);
        }
        self.node.record_heartbeat(
            osd,
            OsdReport {
                at: Instant::now(),
                usage: OsdUsage {
                    total: r.bytes_total,
                    used: r.bytes_used,
                },
                pg_states: r
                    .pg_states
                    .into_iter()
                    .map(|p| (p.state, p.count))
                    .collect(),
                pgs: r.pgs,
            },
        );
        Ok(Response::new(pb::HeartbeatReply {
            epoch: state.map.epoch.0,
        }))
    }

    async fn status(
        &self,
        req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusReply>, Status> {
        let with_history = req.get_ref().io_history;
        let local = |quorum: bool| {
            let mut st = self.node.status(quorum);
            if with_history {
                st.io_history = self.node.client_io.history();
            }
            st
        };
        match self.node.route(&req) {
            Ok(None) => {
                let mut st = local(self.node.quorum_acked());
                let pgs = self.node.pg_stats();
                st.recovery_objects_remaining = pgs.recovery_objects_remaining;
                st.recovery_bytes_per_sec = pgs.recovery_bytes_per_sec;
                st.recovery_objects_per_sec = pgs.recovery_objects_per_sec;
                Ok(Response::new(st))
            }
            Ok(Some(mut leader)) => match leader.status(forwarded(req.into_inner())).await {
                Ok(r) => Ok(r),
                // The leader we knew is gone: answer from here, without quorum.
                Err(_) => Ok(Response::new(local(false))),
            },
            Err(_) => Ok(Response::new(local(false))),
        }
    }

    async fn pg_stats(
        &self,
        req: Request<pb::PgStatsRequest>,
    ) -> Result<Response<pb::PgStatsReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.pg_stats(forwarded(pb::PgStatsRequest {})).await;
        }
        Ok(Response::new(self.node.pg_stats()))
    }

    async fn purge_osd(
        &self,
        req: Request<pb::PurgeOsdRequest>,
    ) -> Result<Response<pb::EpochReply>, Status> {
        if let Some(mut leader) = self.node.route(&req)? {
            return leader.purge_osd(forwarded(req.into_inner())).await;
        }
        let osd = OsdId(req.into_inner().osd_id);
        let resp = refused(self.node.propose(MonCommand::PurgeOsd { osd }).await?)?;
        self.node.osd_reports.lock().remove(&osd);
        Ok(Response::new(pb::EpochReply {
            epoch: epoch_of(&resp),
        }))
    }

    async fn ping(
        &self,
        _req: Request<pb::PingRequest>,
    ) -> Result<Response<pb::PingReply>, Status> {
        Ok(Response::new(pb::PingReply {
            name: self.node.name().to_string(),
            last_applied: self.node.sm.last_applied_index(),
        }))
    }

    async fn raft(&self, req: Request<pb::RaftRequest>) -> Result<Response<pb::RaftReply>, Status> {
        let r = req.into_inner();
        let raft = &self.node.raft;
        let reply = match pb::RaftKind::try_from(r.kind) {
            Ok(pb::RaftKind::Append) => {
                let rpc: AppendEntriesRequest<TypeConfig> = parse(&r.payload)?;
                json(&raft.append_entries(rpc).await)?
            }
            Ok(pb::RaftKind::Vote) => {
                let rpc: VoteRequest<u64> = parse(&r.payload)?;
                json(&raft.vote(rpc).await)?
            }
            Ok(pb::RaftKind::Snapshot) => {
                let rpc: InstallSnapshotRequest<TypeConfig> = parse(&r.payload)?;
                json(&raft.install_snapshot(rpc).await)?
            }
            _ => {
                return Err(invalid(
                    "bad_raft_kind",
                    format!("unknown raft message kind {}", r.kind),
                ));
            }
        };
        Ok(Response::new(reply))
    }
}
