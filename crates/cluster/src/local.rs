//! `LocalCluster`: create, start, stop and inspect the daemons of a cluster directory.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cuttle_client::{ClusterConf, MonClient};
use cuttle_proto as pb;
use cuttle_rpc::{ClientTlsFiles, ClusterSecret};
use serde::Serialize;
use uuid::Uuid;

use crate::error::ClusterError;
use crate::layout::{Layout, LocalOsd, LocalSection, LocalSpec, MON_NAMES};
use crate::process;

mod rgw;
pub use rgw::{LocalRgw, RgwLayout, RgwOptions, S3Admin};

const MON_BIN: &str = "cuttle-mon";
const OSD_BIN: &str = "cuttle-osd";

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    /// Daemons started by this call.
    pub started: Vec<String>,
    /// Pools created by this call.
    pub pools_created: Vec<String>,
    /// Health when `up` returned.
    pub health: String,
    /// Health checks still open (empty when healthy).
    pub checks: Vec<String>,
}

/// One daemon of the cluster and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonState {
    /// `mon.a`, `osd.0`...
    pub name: String,
    /// Pid from the pid file.
    pub pid: Option<i32>,
    /// Whether that pid is a live process of the right binary.
    pub running: bool,
    /// Address it serves on.
    pub addr: String,
    /// Its Prometheus metrics URL (`http://ADDR/metrics`), when it serves metrics.
    pub metrics: Option<String>,
    /// Its log file.
    pub log: PathBuf,
}

/// A cluster directory and the daemons it describes.
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    layout: Layout,
    bin_dir: PathBuf,
    /// Processes this handle started, so they can be reaped (no zombies).
    children: Mutex<HashMap<String, Child>>,
}

impl LocalCluster {
    /// Opens the cluster in `dir`.
    pub fn open(dir: &Path) -> Result<LocalCluster, ClusterError> {
        let layout = Layout::load(dir)?;
        Ok(LocalCluster {
            dir: dir.to_path_buf(),
            layout,
            bin_dir: process::bin_dir(),
            children: Mutex::new(HashMap::new()),
        })
    }

    /// Creates a new cluster description in `dir` (which must not hold one): identity,
    /// secret, ports and per-daemon configuration. Starts nothing.
    pub fn create(dir: &Path, spec: &LocalSpec) -> Result<LocalCluster, ClusterError> {
        if Layout::path(dir).exists() {
            return LocalCluster::open(dir);
        }
        if spec.mons == 0 || spec.mons > MON_NAMES.len() {
            return Err(ClusterError::BadLayout {
                path: dir.to_path_buf(),
                reason: format!("{} monitors requested; use 1 to 7", spec.mons),
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| ClusterError::Io {
            what: "creating",
            path: dir.to_path_buf(),
            source,
        })?;
        let mut monitors = BTreeMap::new();
        let mut mon_metrics = BTreeMap::new();
        for name in MON_NAMES.iter().take(spec.mons) {
            monitors.insert(
                name.to_string(),
                format!("127.0.0.1:{}", process::free_port()?),
            );
            mon_metrics.insert(
                name.to_string(),
                format!("127.0.0.1:{}", process::free_port()?),
            );
        }
        let mut osds = BTreeMap::new();
        for i in 0..spec.osds {
            osds.insert(
                format!("osd.{i}"),
                LocalOsd {
                    host: format!("host{i}"),
                    addr: format!("127.0.0.1:{}", process::free_port()?),
                    size: spec.osd_size,
                    metrics: Some(format!("127.0.0.1:{}", process::free_port()?)),
                },
            );
        }
        let rpc_tls = if spec.tls {
            let files = crate::pki::generate(dir)?;
            Some(ClientTlsFiles { ca: files.ca })
        } else {
            None
        };
        let layout = Layout {
            fsid: Uuid::new_v4(),
            secret: ClusterSecret::generate().to_hex(),
            monitors,
            rpc_tls,
            local: LocalSection {
                mon_timing: spec.timing.clone(),
                osds,
                default_pools: spec.default_pools,
                pg_num: spec.pg_num,
                osd_heartbeat_ms: spec.osd_heartbeat_ms,
                mon_metrics,
                tls: spec.tls,
            },
        };
        layout.save(dir)?;
        let cluster = LocalCluster {
            dir: dir.to_path_buf(),
            layout,
            bin_dir: process::bin_dir(),
            children: Mutex::new(HashMap::new()),
        };
        cluster.write_daemon_configs()?;
        Ok(cluster)
    }

    fn write_daemon_configs(&self) -> Result<(), ClusterError> {
        let write = |file: String, text: String| {
            let path = self.dir.join(file);
            std::fs::write(&path, text).map_err(|source| ClusterError::Io {
                what: "writing",
                path: path.clone(),
                source,
            })
        };
        for name in self.layout.monitors.keys() {
            write(
                format!("mon.{name}.toml"),
                self.layout.mon_config(&self.dir, name),
            )?;
        }
        for (name, osd) in &self.layout.local.osds {
            write(
                format!("{name}.toml"),
                self.layout.osd_config(&self.dir, name, osd),
            )?;
        }
        Ok(())
    }

    /// Uses daemon binaries from `dir` instead of the default location.
    pub fn with_bin_dir(mut self, dir: PathBuf) -> LocalCluster {
        self.bin_dir = dir;
        self
    }

    /// The cluster directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cluster description.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Path of `cuttle.toml`.
    pub fn conf_path(&self) -> PathBuf {
        Layout::path(&self.dir)
    }

    /// Client configuration.
    pub fn conf(&self) -> ClusterConf {
        ClusterConf {
            fsid: self.layout.fsid,
            secret: self.layout.secret.clone(),
            monitors: self.layout.monitors.clone(),
            rpc_tls: self.layout.rpc_tls.clone(),
        }
    }

    /// A monitor client for this cluster.
    pub fn client(&self) -> Result<MonClient, ClusterError> {
        Ok(MonClient::from_conf(&self.conf())?)
    }

    /// Names of every daemon, monitors first.
    pub fn daemon_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .layout
            .monitors
            .keys()
            .map(|n| format!("mon.{n}"))
            .collect();
        names.extend(self.osd_names());
        names.extend(self.rgw_names());
        names
    }

    /// Names of the OSD daemons (`osd.N`, N being the OSD id), in id order.
    pub fn osd_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.layout.local.osds.keys().cloned().collect();
        names.sort_by_key(|n| {
            n.trim_start_matches("osd.")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        names
    }

    fn pidfile(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pid"))
    }

    fn logfile(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    fn binary_of(&self, name: &str) -> Result<&'static str, ClusterError> {
        match name.split_once('.') {
            Some(("mon", id)) if self.layout.monitors.contains_key(id) => Ok(MON_BIN),
            Some(("osd", _)) if self.layout.local.osds.contains_key(name) => Ok(OSD_BIN),
            Some(("rgw", _)) if self.rgw_names().iter().any(|n| n == name) => Ok(rgw::RGW_BIN),
            _ => Err(ClusterError::NoSuchDaemon(name.to_string())),
        }
    }

    fn addr_of(&self, name: &str) -> String {
        match name.split_once('.') {
            Some(("mon", id)) => self.layout.monitors.get(id).cloned().unwrap_or_default(),
            Some(("osd", _)) => self
                .layout
                .local
                .osds
                .get(name)
                .map(|o| o.addr.clone())
                .unwrap_or_default(),
            Some(("rgw", _)) => self.rgw_addr(name),
            _ => String::new(),
        }
    }

    /// The address a daemon serves Prometheus metrics on, if it does.
    pub fn metrics_addr(&self, name: &str) -> Option<String> {
        match name.split_once('.') {
            Some(("mon", id)) => self.layout.local.mon_metrics.get(id).cloned(),
            Some(("osd", _)) => self
                .layout
                .local
                .osds
                .get(name)
                .and_then(|o| o.metrics.clone()),
            Some(("rgw", _)) => self.rgw_metrics_addr(name),
            _ => None,
        }
    }

    fn reap(&self) {
        if let Ok(mut children) = self.children.lock() {
            children.retain(|_, c| matches!(c.try_wait(), Ok(None)));
        }
    }

    /// Whether a daemon runs, and its pid.
    pub fn daemon_state(&self, name: &str) -> Result<DaemonState, ClusterError> {
        let bin = self.binary_of(name)?;
        self.reap();
        let pid = process::read_pid(&self.pidfile(name));
        Ok(DaemonState {
            name: name.to_string(),
            pid,
            running: pid.is_some_and(|p| process::alive(p, bin)),
            addr: self.addr_of(name),
            metrics: self
                .metrics_addr(name)
                .map(|a| format!("http://{a}/metrics")),
            log: self.logfile(name),
        })
    }

    /// Every daemon's state.
    pub fn states(&self) -> Result<Vec<DaemonState>, ClusterError> {
        self.daemon_names()
            .iter()
            .map(|n| self.daemon_state(n))
            .collect()
    }

    /// Starts a daemon unless it already runs. Returns whether it was started.
    pub fn start(&self, name: &str) -> Result<bool, ClusterError> {
        let st = self.daemon_state(name)?;
        if st.running {
            return Ok(false);
        }
        let bin = process::binary(&self.bin_dir, self.binary_of(name)?)?;
        if let Some((_, port)) = st.addr.rsplit_once(':')
            && let Ok(port) = port.parse::<u16>()
            && process::port_in_use(port)
        {
            return Err(ClusterError::PortBusy {
                daemon: name.to_string(),
                port,
            });
        }
        let config = self.dir.join(format!("{name}.toml"));
        let args = vec!["--config".to_string(), config.display().to_string()];
        let child = process::spawn(&bin, &args, &self.logfile(name), &self.pidfile(name))?;
        if let Ok(mut children) = self.children.lock() {
            children.insert(name.to_string(), child);
        }
        Ok(true)
    }

    /// Starts every daemon that is not running; returns the ones started.
    pub fn start_all(&self) -> Result<Vec<String>, ClusterError> {
        let mut started = Vec::new();
        for name in self.daemon_names() {
            if self.start(&name)? {
                started.push(name);
            }
        }
        Ok(started)
    }

    /// Sends a signal to a running daemon (tests use SIGKILL).
    pub fn signal(&self, name: &str, sig: i32) -> Result<(), ClusterError> {
        let st = self.daemon_state(name)?;
        if let (Some(pid), true) = (st.pid, st.running) {
            process::signal(pid, sig);
            let bin = self.binary_of(name)?;
            let start = Instant::now();
            while sig == libc::SIGKILL
                && process::alive(pid, bin)
                && start.elapsed() < Duration::from_secs(10)
            {
                self.reap();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        Ok(())
    }

    /// Stops a daemon (SIGTERM, SIGKILL after a grace period) and removes its pid file.
    pub fn stop(&self, name: &str) -> Result<(), ClusterError> {
        let bin = self.binary_of(name)?;
        if let Some(pid) = process::read_pid(&self.pidfile(name)) {
            let handle = self.children.lock().ok().and_then(|mut c| c.remove(name));
            process::stop(pid, bin, Duration::from_secs(10));
            if let Some(mut child) = handle {
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_file(self.pidfile(name));
        Ok(())
    }

    /// Stops every daemon, in reverse order.
    pub fn stop_all(&self) -> Result<(), ClusterError> {
        for name in self.daemon_names().iter().rev() {
            self.stop(name)?;
        }
        Ok(())
    }

    /// Registers OSDs that have never started, in id order, so daemon `osd.N` gets
    /// OSD id N (each OSD reads its uuid from its data directory when it formats).
    pub async fn register_osds(&self) -> Result<(), ClusterError> {
        let client = self.client()?;
        for name in self.osd_names() {
            let dir = self.dir.join(&name);
            let uuid_path = dir.join("uuid");
            if uuid_path.exists() {
                continue;
            }
            let io = |source| ClusterError::Io {
                what: "writing",
                path: uuid_path.clone(),
                source,
            };
            std::fs::create_dir_all(&dir).map_err(io)?;
            let uuid = Uuid::new_v4();
            let host = self.layout.local.osds[&name].host.clone();
            let reply = client.create_osd(&uuid.to_string(), &host).await?;
            let want: u32 = name.trim_start_matches("osd.").parse().unwrap_or(u32::MAX);
            if reply.osd_id != want {
                return Err(ClusterError::BadLayout {
                    path: self.conf_path(),
                    reason: format!(
                        "{name} was registered as osd.{}; the cluster map has OSDs this directory does not know",
                        reply.osd_id
                    ),
                });
            }
            std::fs::write(&uuid_path, format!("{uuid}\n")).map_err(io)?;
        }
        Ok(())
    }

    /// Adds an OSD and starts it: registers it with the monitors (which give it the
    /// lowest free id, as Ceph does), writes its configuration and starts the daemon,
    /// which formats a fresh device. A directory left behind by a purged OSD of the same
    /// id is wiped first. `host` defaults to `hostN`, `size` to the first OSD's device
    /// size. Returns the daemon name (`osd.N`).
    pub async fn add_osd(
        &mut self,
        host: Option<&str>,
        size: Option<u64>,
    ) -> Result<String, ClusterError> {
        let client = self.client()?;
        let map = client.get_map().await?;
        let next = (0u32..)
            .find(|id| !map.osds.keys().any(|o| o.0 == *id))
            .unwrap_or(u32::MAX);
        let host = host.map_or_else(|| format!("host{next}"), str::to_string);
        let size = size
            .or_else(|| self.layout.local.osds.values().next().map(|o| o.size))
            .unwrap_or(4 << 30);
        let uuid = Uuid::new_v4();
        let reply = client.create_osd(&uuid.to_string(), &host).await?;
        let name = format!("osd.{}", reply.osd_id);
        let dir = self.dir.join(&name);
        if self.layout.local.osds.contains_key(&name) {
            if self.daemon_state(&name)?.running {
                return Err(ClusterError::BadLayout {
                    path: self.conf_path(),
                    reason: format!(
                        "the monitors gave the new OSD id {}, but {name} still runs here; stop and purge it first",
                        reply.osd_id
                    ),
                });
            }
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| ClusterError::Io {
                    what: "wiping",
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        // Metrics like the cluster's other OSDs (clusters made before metrics have none).
        let metrics = if self.layout.local.osds.values().any(|o| o.metrics.is_some()) {
            Some(format!("127.0.0.1:{}", process::free_port()?))
        } else {
            None
        };
        let osd = LocalOsd {
            host,
            addr: format!("127.0.0.1:{}", process::free_port()?),
            size,
            metrics,
        };
        let config = self.layout.osd_config(&self.dir, &name, &osd);
        self.layout.local.osds.insert(name.clone(), osd);
        self.layout.save(&self.dir)?;
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|source| ClusterError::Io {
                what: "writing",
                path,
                source,
            })
        };
        std::fs::create_dir_all(&dir).map_err(|source| ClusterError::Io {
            what: "creating",
            path: dir.clone(),
            source,
        })?;
        write(self.dir.join(format!("{name}.toml")), config)?;
        write(dir.join("uuid"), format!("{uuid}\n"))?;
        self.start(&name)?;
        Ok(name)
    }

    /// Brings the whole cluster up: monitors (waiting for quorum), OSDs (registered in
    /// order, waited for until up), default pools, then waits for `HEALTH_OK` up to
    /// `timeout`. Daemons already running are left alone.
    pub async fn up(&self, timeout: Duration) -> Result<UpReport, ClusterError> {
        let start = Instant::now();
        let mut started = Vec::new();
        for name in self.layout.monitors.keys() {
            let n = format!("mon.{name}");
            if self.start(&n)? {
                started.push(n);
            }
        }
        self.wait_for_quorum(timeout).await?;
        self.register_osds().await?;
        for name in self.osd_names() {
            if self.start(&name)? {
                started.push(name);
            }
        }
        let client = self.client()?.with_deadline(Duration::from_secs(5));
        let want = self.layout.local.osds.len();
        let mut last: String;
        loop {
            match client.get_map().await {
                Ok(m) if m.osds.values().filter(|o| o.up).count() >= want => break,
                Ok(m) => {
                    last = format!(
                        "{} of {want} OSDs up",
                        m.osds.values().filter(|o| o.up).count()
                    )
                }
                Err(e) => last = e.to_string(),
            }
            if start.elapsed() > timeout {
                return Err(ClusterError::Timeout {
                    what: "OSDs not up",
                    secs: timeout.as_secs(),
                    detail: last,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let mut pools_created = if self.layout.local.default_pools {
            self.default_pools(&client).await?
        } else {
            Vec::new()
        };
        // S3 gateways (if the cluster has any): their pools, then the daemons.
        pools_created.extend(self.rgw_pools(&client).await?);
        started.extend(self.up_rgws(timeout).await?);
        loop {
            let st = client.status().await?;
            if st.health == "HEALTH_OK" || start.elapsed() > timeout {
                return Ok(UpReport {
                    started,
                    pools_created,
                    health: st.health,
                    checks: st
                        .checks
                        .iter()
                        .map(|c| format!("{}: {}", c.code, c.summary))
                        .collect(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Creates `ec` (EC 2+1) and `rep` (3 replicas, fewer with fewer OSDs) if missing.
    async fn default_pools(&self, client: &MonClient) -> Result<Vec<String>, ClusterError> {
        let map = client.get_map().await?;
        let osds = self.layout.local.osds.len() as u32;
        let mut made = Vec::new();
        let pg_num = self.layout.local.pg_num;
        let mut want = Vec::new();
        if osds >= 3 {
            want.push((
                "ec",
                pb::create_pool_request::Redundancy::Erasure(pb::EcProfile {
                    k: 2,
                    m: 1,
                    stripe_unit: 0,
                    codec: String::new(),
                }),
            ));
        }
        if osds >= 1 {
            want.push((
                "rep",
                pb::create_pool_request::Redundancy::ReplicatedSize(osds.min(3)),
            ));
        }
        for (name, redundancy) in want {
            if map.pool_by_name(name).is_some() {
                continue;
            }
            client
                .create_pool(pb::CreatePoolRequest {
                    name: name.into(),
                    redundancy: Some(redundancy),
                    pg_num,
                    failure_domain: "host".into(),
                    min_size: 0,
                })
                .await?;
            made.push(name.to_string());
        }
        Ok(made)
    }

    /// Waits until the monitors have a leader and answer status.
    pub async fn wait_for_quorum(
        &self,
        timeout: Duration,
    ) -> Result<pb::StatusReply, ClusterError> {
        let client = self.client()?.with_deadline(Duration::from_secs(2));
        let start = Instant::now();
        let mut last = String::from("no answer yet");
        while start.elapsed() < timeout {
            match client.status().await {
                Ok(s)
                    if !s.leader.is_empty() && !s.checks.iter().any(|c| c.code == "MON_QUORUM") =>
                {
                    return Ok(s);
                }
                Ok(s) => last = format!("{} (leader: {:?})", s.health, s.leader),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(ClusterError::Timeout {
            what: "monitor quorum not formed",
            secs: timeout.as_secs(),
            detail: last,
        })
    }
}
