//! Starting and stopping a monitor: storage, Raft, the gRPC server and background
//! tasks, all stopped by one cancellation token.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use cuttle_proto::monitor_server::MonitorServer;
use cuttle_rpc::{ChannelConfig, ServerAuth};
use openraft::{BasicNode, Config, SnapshotPolicy};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::interceptor::InterceptedService;

use crate::config::{ConfigError, MonConfig};
use crate::node::MonNode;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::{OpenError, StateMachine};
use crate::raft::{MonRaft, open_db};
use crate::service::MonService;
use crate::tasks;

/// Why a monitor stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum MonError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data directory cannot be used.
    #[error("monitor data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// RocksDB failed to open.
    #[error("opening the monitor store: {0}")]
    Db(#[from] rocksdb::Error),
    /// The stored state is unusable.
    #[error(transparent)]
    State(#[from] OpenError),
    /// Raft refused to start.
    #[error("raft: {0}")]
    Raft(String),
    /// The listen address is unusable.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// Address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A started monitor.
#[derive(Debug)]
pub struct RunningMon {
    /// The node (for tests and embedding).
    pub node: Arc<MonNode>,
    /// The address the server listens on.
    pub addr: SocketAddr,
    /// Where `/metrics` and the dashboard are served, when `metrics_addr` is set.
    pub metrics_addr: Option<SocketAddr>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl RunningMon {
    /// Stops the monitor and waits for its tasks.
    pub async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
        let _ = self.node.raft.shutdown().await;
    }

    /// Resolves when the monitor stopped (by [`shutdown`](Self::shutdown) or a fatal error).
    pub async fn stopped(&self) {
        self.stop.cancelled().await;
    }

    /// The cancellation token; cancelling it stops the monitor.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }
}

/// Starts a monitor from its configuration.
pub async fn start(config: MonConfig) -> Result<RunningMon, MonError> {
    config.validate()?;
    let secret = config.secret()?;
    let tls = config.tls()?;
    let channels = ChannelConfig::from_tls(tls.as_ref().map(|t| t.client.clone()));
    let config = Arc::new(config);
    let raft_id = config
        .raft_id(&config.name)
        .ok_or_else(|| ConfigError::Invalid("name not among monitors".into()))?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| MonError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let db_dir = config.data_dir.join("store");
    let db = tokio::task::spawn_blocking(move || open_db(&db_dir))
        .await
        .map_err(|e| MonError::Raft(e.to_string()))??;
    let sm = StateMachine::open(db.clone(), config.fsid)?;
    let t = &config.timing;
    let raft_config = Config {
        cluster_name: format!("cuttle-{}", config.fsid),
        heartbeat_interval: t.raft_heartbeat_ms,
        election_timeout_min: t.election_timeout_min_ms,
        election_timeout_max: t.election_timeout_max_ms,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
        max_in_snapshot_log_to_keep: 1000,
        ..Config::default()
    }
    .validate()
    .map_err(|e| MonError::Raft(e.to_string()))?;
    let raft = MonRaft::new(
        raft_id,
        Arc::new(raft_config),
        Network::new(secret.clone(), channels.clone()),
        LogStore::new(db),
        sm.clone(),
    )
    .await
    .map_err(|e| MonError::Raft(e.to_string()))?;

    let listen = config.listen_addr();
    let addr: SocketAddr = tokio::net::lookup_host(&listen)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| MonError::Listen {
            addr: listen.clone(),
            reason: "cannot resolve".into(),
        })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| MonError::Listen {
            addr: listen.clone(),
            reason: e.to_string(),
        })?;
    let addr = listener.local_addr().map_err(|e| MonError::Listen {
        addr: listen.clone(),
        reason: e.to_string(),
    })?;

    // Every monitor initialises with the same membership on first start; openraft
    // makes that safe, and it ignores the call on an already formed cluster.
    let members: BTreeMap<u64, BasicNode> = config
        .monitors
        .iter()
        .enumerate()
        .map(|(i, (_, a))| (i as u64 + 1, BasicNode { addr: a.clone() }))
        .collect();
    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| MonError::Raft(e.to_string()))?;
    if !initialized && let Err(e) = raft.initialize(members).await {
        tracing::debug!("raft initialize: {e}");
    }

    let node = Arc::new(MonNode::new(
        config.clone(),
        raft_id,
        raft,
        sm,
        secret.clone(),
        channels,
    ));
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let server = MonitorServer::new(MonService::new(node.clone()))
        .max_decoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES);
    let service = InterceptedService::new(server, ServerAuth::new(secret));
    let incoming = cuttle_rpc::channel::incoming(listener);
    let mut builder = cuttle_rpc::channel::server(tls.as_ref().map(|t| &t.server))?;
    let server_stop = stop.clone();
    tasks.spawn(async move {
        let r = builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, server_stop.cancelled())
            .await;
        if let Err(e) = r {
            tracing::error!("monitor server stopped: {e}");
            server_stop.cancel();
        }
    });
    tasks.spawn(tasks::pinger(node.clone(), stop.clone()));
    tasks.spawn(tasks::failure_detector(node.clone(), stop.clone()));
    tasks.spawn(tasks::sample_client_io(node.clone(), stop.clone()));
    let metrics_addr = match &config.metrics_addr {
        Some(a) => {
            let exporter = crate::metrics::exporter(node.clone());
            let dashboard: Arc<dyn cuttle_metrics::Pages> =
                Arc::new(crate::dashboard::Dashboard::new(node.clone()));
            match cuttle_metrics::spawn_with_pages(
                a,
                exporter,
                Some(dashboard),
                stop.clone(),
                &tasks,
            )
            .await
            {
                Ok(bound) => Some(bound),
                Err(e) => {
                    // Metrics never stop a monitor: it serves on without them.
                    tracing::error!("metrics disabled: {e}");
                    None
                }
            }
        }
        None => None,
    };
    tracing::info!(name = %config.name, %addr, raft_id, "monitor started");
    Ok(RunningMon {
        node,
        addr,
        metrics_addr,
        stop,
        tasks,
    })
}
