//! Starting and stopping an OSD: open (or format) the store, register with the
//! monitors, serve, boot, and run the background tasks — all stopped by one token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cuttle_client::{MapWatcher, MonClient};
use cuttle_objectstore::{DiskStore, MkfsOptions, OpenOptions, StoreError};
use cuttle_proto as pb;
use cuttle_proto::osd_server::OsdServer;
use cuttle_rpc::{ChannelConfig, ServerAuth};
use cuttle_types::OsdId;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::service::interceptor::InterceptedService;
use uuid::Uuid;

use crate::config::{ConfigError, OsdConfig};
use crate::osd::Osd;
use crate::peers::Peers;
use crate::service::OsdService;
use crate::tasks;

/// Why an OSD could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The CPU cannot run the erasure-code kernels.
    #[error(transparent)]
    Cpu(#[from] cuttle_ec::EcError),
    /// The data directory or uuid file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was done.
        what: &'static str,
        /// Path.
        path: std::path::PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The store refused to open or format.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The monitors refused or could not be reached.
    #[error("monitors: {0}")]
    Mon(#[from] cuttle_client::ClientError),
    /// The listen address is unusable.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// Address.
        addr: String,
        /// Why.
        reason: String,
    },
    /// The gRPC server cannot be set up.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A started OSD.
#[derive(Debug)]
pub struct RunningOsd {
    /// The OSD.
    pub osd: Arc<Osd>,
    /// Where it serves.
    pub addr: SocketAddr,
    /// Where `/metrics` is served, when `metrics_addr` is set.
    pub metrics_addr: Option<SocketAddr>,
    _watcher: MapWatcher,
}

impl RunningOsd {
    /// Stops serving, finishes background work and syncs the store.
    pub async fn shutdown(self) {
        self.osd.stop.cancel();
        self.osd.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.osd.tasks.wait()).await;
        self.osd.disk.sync().await;
    }

    /// Resolves when the OSD stops.
    pub async fn stopped(&self) {
        self.osd.stop.cancelled().await;
    }
}

fn uuid_file(config: &OsdConfig) -> Result<Uuid, StartError> {
    let path = config.data_dir.join("uuid");
    let io = |what| {
        let path = path.clone();
        move |source| StartError::Io { what, path, source }
    };
    match std::fs::read_to_string(&path) {
        Ok(s) => Uuid::parse_str(s.trim()).map_err(|_| StartError::Io {
            what: "parsing",
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not a uuid"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let u = Uuid::new_v4();
            std::fs::write(&path, format!("{u}\n")).map_err(io("writing"))?;
            Ok(u)
        }
        Err(e) => Err(io("reading")(e)),
    }
}

/// Opens the OSD's store, formatting the device (after getting an id from the monitors)
/// when it holds no store yet.
async fn open_store(config: &OsdConfig, mon: &MonClient) -> Result<DiskStore, StartError> {
    let device = config.device_path();
    let meta = config.data_dir.join("db");
    let expect = OpenOptions {
        fsid: Some(config.fsid),
        osd_id: None,
    };
    match DiskStore::open(&device, &meta, &expect, &config.store).await {
        Ok(s) => return Ok(s),
        Err(StoreError::NotFormatted { .. }) => {}
        Err(StoreError::Device(cuttle_objectstore::device::DeviceError::Open {
            source, ..
        })) if source.kind() == std::io::ErrorKind::NotFound && config.device_size.is_some() => {}
        Err(e) => return Err(e.into()),
    }
    let uuid = uuid_file(config)?;
    let reg = mon.create_osd(&uuid.to_string(), &config.host).await?;
    tracing::info!(osd = reg.osd_id, %uuid, device = %device.display(), "formatting a new OSD store");
    Ok(DiskStore::mkfs(
        &device,
        &meta,
        &MkfsOptions {
            osd_id: reg.osd_id,
            fsid: config.fsid,
            device_uuid: uuid,
            create_size: config.device_size,
            force: false,
        },
        &config.store,
    )
    .await?)
}

/// Starts an OSD.
pub async fn start(config: OsdConfig) -> Result<RunningOsd, StartError> {
    config.validate()?;
    cuttle_ec::check_cpu()?;
    let secret = config.secret()?;
    let tls = config.tls()?;
    let channels = ChannelConfig::from_tls(tls.as_ref().map(|t| t.client.clone()));
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::Io {
        what: "creating",
        path: config.data_dir.clone(),
        source,
    })?;
    let mon = MonClient::new(
        config.monitors.values().cloned().collect(),
        secret.clone(),
        &channels,
    )?;
    let disk = Arc::new(open_store(&config, &mon).await?);
    let sb = *disk.superblock();
    let id = OsdId(sb.osd_id);

    let listen_err = |reason: String| StartError::Listen {
        addr: config.listen.clone(),
        reason,
    };
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| listen_err(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| listen_err(e.to_string()))?;
    let public = config
        .public_addr
        .clone()
        .unwrap_or_else(|| addr.to_string());

    let watcher = MapWatcher::start(mon.clone());
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let osd = Arc::new_cyclic(|me| {
        Osd::new(
            me.clone(),
            id,
            sb.device_uuid,
            disk,
            Peers::new(secret.clone(), channels.clone()),
            mon.clone(),
            watcher.receiver(),
            stop.clone(),
            tasks.clone(),
            crate::osd::Tunables {
                recovery_max_active: config.recovery_max_active,
                recovery_bytes_per_sec: config.recovery_max_bytes_per_sec,
                scrub_interval_secs: config.scrub_interval_secs,
                deep_scrub_interval_secs: config.deep_scrub_interval_secs,
            },
        )
    });
    let server = OsdServer::new(OsdService::new(osd.clone()))
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
            tracing::error!("OSD server stopped: {e}");
            server_stop.cancel();
        }
    });
    let boot = mon
        .boot_osd(pb::BootOsdRequest {
            uuid: sb.device_uuid.to_string(),
            host: config.host.clone(),
            addr: public.clone(),
            weight: 0,
        })
        .await?;
    tracing::info!(osd = %id, addr = %public, epoch = boot.epoch, backend = %osd.disk.backend(), "OSD booted");
    tasks.spawn(tasks::follow_map(osd.clone()));
    tasks.spawn(tasks::heartbeat(
        osd.clone(),
        Duration::from_millis(config.heartbeat_interval_ms),
    ));
    tasks.spawn(tasks::maintain(osd.clone()));
    tasks.spawn(tasks::count_pg_usage(osd.clone(), Duration::from_secs(5)));
    tasks.spawn(tasks::remove_strays(osd.clone(), Duration::from_secs(10)));
    let metrics_addr = match &config.metrics_addr {
        Some(a) => {
            let exporter = crate::metrics::exporter(osd.clone());
            match cuttle_metrics::spawn(a, exporter, osd.stop.clone(), &osd.tasks).await {
                Ok(bound) => Some(bound),
                Err(e) => {
                    // Metrics never stop an OSD: it serves on without them.
                    tracing::error!("metrics disabled: {e}");
                    None
                }
            }
        }
        None => None,
    };
    Ok(RunningOsd {
        osd,
        addr,
        metrics_addr,
        _watcher: watcher,
    })
}
