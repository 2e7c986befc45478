//! Raft messages between monitors, carried by the monitor service's `Raft` call.
//!
//! openraft's request/response types are serialised as JSON into the call's payload:
//! they are internal to monitors of one version and already `serde`. Transport
//! failures become `Unreachable` (openraft backs off and retries); errors raised by
//! the remote Raft travel back inside the payload.

use std::error::Error;
use std::time::Duration;

use cuttle_proto::monitor_client::MonitorClient;
use cuttle_proto::{RaftKind, RaftRequest};
use cuttle_rpc::{ChannelConfig, ClientAuth, ClusterSecret};
use openraft::BasicNode;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::TypeConfig;

/// A monitor client that signs its calls.
pub type AuthedMonClient = MonitorClient<InterceptedService<Channel, ClientAuth>>;

/// Builds a signed client for the monitor at `addr`.
pub fn mon_client(
    addr: &str,
    secret: &ClusterSecret,
    channels: &ChannelConfig,
) -> Result<AuthedMonClient, tonic::transport::Error> {
    let channel = cuttle_rpc::channel::lazy_channel(addr, channels)?;
    Ok(
        MonitorClient::with_interceptor(channel, ClientAuth::new(secret.clone()))
            .max_decoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES),
    )
}

/// Creates connections to peer monitors.
#[derive(Debug, Clone)]
pub struct Network {
    secret: ClusterSecret,
    channels: ChannelConfig,
}

impl Network {
    /// A factory signing with the cluster secret, dialling with `channels`.
    pub fn new(secret: ClusterSecret, channels: ChannelConfig) -> Network {
        Network { secret, channels }
    }
}

/// A connection to one peer monitor.
#[derive(Debug)]
pub struct Peer {
    target: u64,
    client: Result<AuthedMonClient, String>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Peer {
        Peer {
            target,
            client: mon_client(&node.addr, &self.secret, &self.channels).map_err(|e| e.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

impl Peer {
    async fn call<Req, Resp, E>(
        &mut self,
        kind: RaftKind,
        req: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<u64, BasicNode, RaftError<u64, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => return Err(Unreachable::new(&TransportError(e.clone())).into()),
        };
        let payload = serde_json::to_vec(req).map_err(|e| NetworkError::new(&e))?;
        let mut client = client;
        let call = client.raft(RaftRequest {
            kind: kind as i32,
            payload: payload.into(),
        });
        let reply = match tokio::time::timeout(ttl, call).await {
            Err(_) => {
                return Err(Unreachable::new(&TransportError(format!(
                    "monitor {} did not answer within {ttl:?}",
                    self.target
                )))
                .into());
            }
            Ok(Err(status)) => {
                return Err(Unreachable::new(&TransportError(status.message().to_string())).into());
            }
            Ok(Ok(r)) => r.into_inner(),
        };
        let result: Result<Resp, RaftError<u64, E>> =
            serde_json::from_slice(&reply.payload).map_err(|e| NetworkError::new(&e))?;
        result.map_err(|e| RemoteError::new(self.target, e).into())
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(RaftKind::Append, &rpc, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call(RaftKind::Snapshot, &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.call(RaftKind::Vote, &rpc, option.hard_ttl()).await
    }
}
