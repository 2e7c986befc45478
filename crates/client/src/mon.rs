//! `MonClient`: calls to the monitors with failover.
//!
//! A call goes to the monitor that answered last, then to the others in turn. Transient
//! failures — a monitor down, an election in progress (`not_leader`), no quorum yet
//! (`no_quorum`) — are retried with a short back-off until the call's deadline; the
//! final error is the most informative one seen (a monitor's own explanation beats a
//! connection error). Refusals such as `pool_exists` return at once.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cuttle_proto as pb;
use cuttle_proto::monitor_client::MonitorClient;
use cuttle_rpc::{ChannelConfig, ClientAuth, ClusterSecret};
use cuttle_types::{ClusterMap, Epoch, OsdId};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::conf::ClusterConf;
use crate::error::ClientError;

type Client = MonitorClient<InterceptedService<Channel, ClientAuth>>;

/// Default time a call may take, retries included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(15);
/// Longest single attempt (a monitor waits up to its write timeout for a quorum).
const ATTEMPT: Duration = Duration::from_secs(8);

/// A handle on the monitors of one cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct MonClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    addrs: Vec<String>,
    clients: Vec<Client>,
    preferred: AtomicUsize,
    deadline: Duration,
}

fn retryable(s: &Status) -> bool {
    match s.code() {
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => true,
        Code::Internal => cuttle_rpc::error_code(s).is_none(),
        _ => false,
    }
}

impl MonClient {
    /// A client for monitors at `addrs`, signing with `secret`, dialling with `channels`.
    pub fn new(
        addrs: Vec<String>,
        secret: ClusterSecret,
        channels: &ChannelConfig,
    ) -> Result<MonClient, ClientError> {
        if addrs.is_empty() {
            return Err(ClientError::Config("no monitor addresses".into()));
        }
        let clients = addrs
            .iter()
            .map(|a| {
                let ch = cuttle_rpc::channel::lazy_channel(a, channels)
                    .map_err(|e| ClientError::Config(format!("monitor address {a:?}: {e}")))?;
                Ok(
                    MonitorClient::with_interceptor(ch, ClientAuth::new(secret.clone()))
                        .max_decoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES)
                        .max_encoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES),
                )
            })
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(MonClient {
            inner: Arc::new(Inner {
                addrs,
                clients,
                preferred: AtomicUsize::new(0),
                deadline: DEFAULT_DEADLINE,
            }),
        })
    }

    /// A client for the cluster described by `conf`.
    pub fn from_conf(conf: &ClusterConf) -> Result<MonClient, ClientError> {
        let secret = conf
            .cluster_secret()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let channels = conf
            .channel_config()
            .map_err(|e| ClientError::Config(format!("[rpc_tls]: {e}")))?;
        MonClient::new(conf.monitor_addrs(), secret, &channels)
    }

    /// The same client with another per-call deadline.
    pub fn with_deadline(self, deadline: Duration) -> MonClient {
        let inner = Inner {
            addrs: self.inner.addrs.clone(),
            clients: self.inner.clients.clone(),
            preferred: AtomicUsize::new(self.inner.preferred.load(Ordering::Relaxed)),
            deadline,
        };
        MonClient {
            inner: Arc::new(inner),
        }
    }

    /// Monitor addresses.
    pub fn addrs(&self) -> &[String] {
        &self.inner.addrs
    }

    pub(crate) fn raw(&self, i: usize) -> Client {
        self.inner.clients[i % self.inner.clients.len()].clone()
    }

    /// Runs `f` against monitors until one answers or the deadline passes.
    pub(crate) async fn call<T, F, Fut>(&self, f: F) -> Result<T, ClientError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let n = self.inner.clients.len();
        let start = Instant::now();
        let first = self.inner.preferred.load(Ordering::Relaxed);
        let mut explained: Option<Status> = None;
        let mut transport: Option<String> = None;
        // Consecutive TLS handshake failures: once every monitor refused, stop.
        let mut tls_refused = 0usize;
        let mut attempt = 0usize;
        loop {
            let elapsed = start.elapsed();
            if elapsed >= self.inner.deadline {
                break;
            }
            let i = (first + attempt) % n;
            let budget = (self.inner.deadline - elapsed).min(ATTEMPT);
            match tokio::time::timeout(budget, f(self.inner.clients[i].clone())).await {
                Ok(Ok(r)) => {
                    self.inner.preferred.store(i, Ordering::Relaxed);
                    return Ok(r.into_inner());
                }
                Ok(Err(s)) if retryable(&s) => {
                    if let Some(reason) = cuttle_rpc::tls::tls_failure(&s) {
                        tls_refused += 1;
                        if tls_refused >= n {
                            return Err(ClientError::Tls {
                                tried: self.inner.addrs.join(", "),
                                reason,
                            });
                        }
                        transport = Some(format!("{}: TLS: {reason}", self.inner.addrs[i]));
                        attempt += 1;
                        continue;
                    }
                    tls_refused = 0;
                    if cuttle_rpc::error_code(&s).is_some() {
                        explained = Some(s);
                    } else {
                        transport = Some(format!("{}: {}", self.inner.addrs[i], s.message()));
                    }
                }
                Ok(Err(s)) => return Err(ClientError::from_status(&s)),
                Err(_) => {
                    tls_refused = 0;
                    transport = Some(format!(
                        "{}: no answer within {budget:?}",
                        self.inner.addrs[i]
                    ))
                }
            }
            attempt += 1;
            if attempt.is_multiple_of(n) {
                let pause = Duration::from_millis(150 * (attempt / n).min(6) as u64);
                tokio::time::sleep(pause).await;
            }
        }
        match explained {
            Some(s) => Err(ClientError::from_status(&s)),
            None => Err(ClientError::Unreachable {
                secs: self.inner.deadline.as_secs(),
                tried: self.inner.addrs.join(", "),
                last: transport.unwrap_or_else(|| "no attempt made".into()),
            }),
        }
    }

    /// The current cluster map (as the answering monitor has applied it).
    pub async fn get_map(&self) -> Result<ClusterMap, ClientError> {
        let m = self
            .call(|mut c| async move { c.get_map(pb::GetMapRequest {}).await })
            .await?;
        ClusterMap::try_from(&m).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Health, quorum and summary.
    pub async fn status(&self) -> Result<pb::StatusReply, ClientError> {
        self.call(|mut c| async move { c.status(pb::StatusRequest::default()).await })
            .await
    }

    /// Creates a pool.
    pub async fn create_pool(
        &self,
        req: pb::CreatePoolRequest,
    ) -> Result<pb::PoolReply, ClientError> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.create_pool(req).await }
        })
        .await
    }

    /// Removes a pool; `confirm` must repeat its name.
    pub async fn remove_pool(&self, name: &str, confirm: &str) -> Result<Epoch, ClientError> {
        let req = pb::RemovePoolRequest {
            name: name.to_string(),
            confirm: confirm.to_string(),
        };
        let r = self
            .call(|mut c| {
                let req = req.clone();
                async move { c.remove_pool(req).await }
            })
            .await?;
        Ok(Epoch(r.epoch))
    }

    /// Marks an OSD out, in or down.
    pub async fn set_osd_state(
        &self,
        osd: OsdId,
        change: pb::OsdStateChange,
    ) -> Result<Epoch, ClientError> {
        let req = pb::SetOsdStateRequest {
            osd_id: osd.0,
            change: change as i32,
        };
        let r = self
            .call(|mut c| async move { c.set_osd_state(req).await })
            .await?;
        Ok(Epoch(r.epoch))
    }

    /// Registers a new OSD (by uuid) and returns its id, without marking it up.
    pub async fn create_osd(
        &self,
        uuid: &str,
        host: &str,
    ) -> Result<pb::BootOsdReply, ClientError> {
        let req = pb::CreateOsdRequest {
            uuid: uuid.to_string(),
            host: host.to_string(),
        };
        self.call(|mut c| {
            let req = req.clone();
            async move { c.create_osd(req).await }
        })
        .await
    }

    /// The latest per-PG stats (from the PGs' primaries).
    pub async fn pg_stats(&self) -> Result<pb::PgStatsReply, ClientError> {
        self.call(|mut c| async move { c.pg_stats(pb::PgStatsRequest {}).await })
            .await
    }

    /// Removes a down and out OSD from the map.
    pub async fn purge_osd(&self, osd: OsdId) -> Result<Epoch, ClientError> {
        let req = pb::PurgeOsdRequest { osd_id: osd.0 };
        let r = self
            .call(|mut c| async move { c.purge_osd(req).await })
            .await?;
        Ok(Epoch(r.epoch))
    }

    /// Registers a booting OSD.
    pub async fn boot_osd(&self, req: pb::BootOsdRequest) -> Result<pb::BootOsdReply, ClientError> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.boot_osd(req).await }
        })
        .await
    }

    /// Sends an OSD heartbeat.
    pub async fn heartbeat(
        &self,
        req: pb::HeartbeatRequest,
    ) -> Result<pb::HeartbeatReply, ClientError> {
        self.call(|mut c| {
            let req = req.clone();
            async move { c.heartbeat(req).await }
        })
        .await
    }
}
