//! `Layout`: the persisted description of a local cluster (`DIR/cuttle.toml`).
//!
//! The top (`fsid`, `secret`, `[monitors]`, and `[rpc_tls]` for a TLS cluster) is the
//! client configuration every command reads; `[local]` says how `cuttle cluster up`
//! runs the daemons. The file is written once at creation (mode 0600: it holds the
//! secret) and read by later commands.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use cuttle_rpc::{ClientTlsFiles, ServerTlsFiles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ClusterError;
use crate::pki::PkiFiles;

/// Monitor timers for a local cluster (the same keys as the monitor's `[timing]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonTiming {
    /// OSD heartbeat grace, seconds.
    pub osd_heartbeat_grace_secs: u64,
    /// Down → out interval, seconds.
    pub osd_down_out_interval_secs: u64,
    /// Raft heartbeat, ms.
    pub raft_heartbeat_ms: u64,
    /// Election timeout lower bound, ms.
    pub election_timeout_min_ms: u64,
    /// Election timeout upper bound, ms.
    pub election_timeout_max_ms: u64,
    /// Peer ping interval, ms.
    pub ping_interval_ms: u64,
    /// Map-change commit timeout, seconds.
    pub write_timeout_secs: u64,
}

impl Default for MonTiming {
    fn default() -> Self {
        MonTiming {
            osd_heartbeat_grace_secs: 20,
            osd_down_out_interval_secs: 600,
            raft_heartbeat_ms: 250,
            election_timeout_min_ms: 1000,
            election_timeout_max_ms: 2000,
            ping_interval_ms: 1000,
            write_timeout_secs: 5,
        }
    }
}

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSpec {
    /// Number of monitors (1, 3 or 5).
    pub mons: usize,
    /// Number of OSDs, each on its own simulated host.
    pub osds: usize,
    /// Size of each OSD's file-backed device, bytes.
    pub osd_size: u64,
    /// Create the default pools (`ec`: EC 2+1, `rep`: 3 replicas) when there are
    /// enough OSDs.
    pub default_pools: bool,
    /// PGs per default pool.
    pub pg_num: u32,
    /// Monitor timers.
    pub timing: MonTiming,
    /// OSD heartbeat interval, milliseconds.
    pub osd_heartbeat_ms: u64,
    /// Encrypt the cluster's gRPC (and serve the gateways' S3 over HTTPS) with a
    /// throw-away CA made in `DIR/tls/`.
    pub tls: bool,
}

impl Default for LocalSpec {
    fn default() -> Self {
        LocalSpec {
            mons: 3,
            osds: 3,
            osd_size: 4 << 30,
            default_pools: true,
            pg_num: 32,
            timing: MonTiming::default(),
            osd_heartbeat_ms: 2000,
            tls: false,
        }
    }
}

/// One OSD of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalOsd {
    /// Simulated host (its failure domain).
    pub host: String,
    /// gRPC address.
    pub addr: String,
    /// Device size, bytes.
    pub size: u64,
    /// Where it serves Prometheus metrics (`/metrics`); none for OSDs added before
    /// metrics existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
}

/// How `cuttle cluster up` runs this cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalSection {
    /// Monitor timers.
    #[serde(default)]
    pub mon_timing: MonTiming,
    /// OSDs by daemon name (`osd.0`...): the number is the OSD id.
    #[serde(default)]
    pub osds: BTreeMap<String, LocalOsd>,
    /// Create the default pools.
    #[serde(default)]
    pub default_pools: bool,
    /// PGs per default pool.
    #[serde(default = "default_pg_num")]
    pub pg_num: u32,
    /// OSD heartbeat interval, milliseconds.
    #[serde(default = "default_hb")]
    pub osd_heartbeat_ms: u64,
    /// Monitor name → address of its Prometheus metrics endpoint (`/metrics`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mon_metrics: BTreeMap<String, String>,
    /// Daemons serve gRPC (and gateways S3) with TLS, with the certificates in
    /// `DIR/tls/` (see [`crate::pki`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub tls: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_pg_num() -> u32 {
    32
}

fn default_hb() -> u64 {
    2000
}

/// The whole `cuttle.toml` of a local cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Cluster identity.
    pub fsid: Uuid,
    /// Cluster secret, hex.
    pub secret: String,
    /// Monitor name → address.
    pub monitors: BTreeMap<String, String>,
    /// For clients: the CA of the cluster's gRPC TLS (TLS clusters only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_tls: Option<ClientTlsFiles>,
    /// Local-run settings.
    pub local: LocalSection,
}

/// Monitor names in creation order.
pub const MON_NAMES: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

impl Layout {
    /// Path of the file inside a cluster directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("cuttle.toml")
    }

    /// Reads the layout of the cluster in `dir`.
    pub fn load(dir: &Path) -> Result<Layout, ClusterError> {
        let path = Layout::path(dir);
        if !path.exists() {
            return Err(ClusterError::NoCluster {
                dir: dir.to_path_buf(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|source| ClusterError::Io {
            what: "reading",
            path: path.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ClusterError::BadLayout {
            path,
            reason: e.to_string(),
        })
    }

    /// Writes the layout (0600).
    pub fn save(&self, dir: &Path) -> Result<(), ClusterError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Layout::path(dir);
        let text = toml::to_string_pretty(self).map_err(|e| ClusterError::BadLayout {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let io = |source| ClusterError::Io {
            what: "writing",
            path: path.clone(),
            source,
        };
        let tmp = path.with_extension("toml.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(
            b"# Cuttle local cluster: client settings, then how `cuttle cluster up` runs it.\n",
        )
        .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }

    /// The `[rpc_tls]` of the daemons of the cluster in `dir`, when it uses TLS.
    pub fn server_tls(&self, dir: &Path) -> Option<ServerTlsFiles> {
        self.local.tls.then(|| {
            let f = PkiFiles::in_dir(dir);
            ServerTlsFiles {
                ca: f.ca,
                cert: f.cert,
                key: f.key,
            }
        })
    }

    /// The OSD configuration file for OSD daemon `name` (TOML for `cuttle-osd`).
    pub fn osd_config(&self, dir: &Path, name: &str, osd: &LocalOsd) -> String {
        #[derive(Serialize)]
        struct OsdFile<'a> {
            data_dir: PathBuf,
            device_size: u64,
            host: &'a str,
            listen: &'a str,
            fsid: Uuid,
            secret: &'a str,
            heartbeat_interval_ms: u64,
            monitors: &'a BTreeMap<String, String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics_addr: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            rpc_tls: Option<ServerTlsFiles>,
        }
        toml::to_string_pretty(&OsdFile {
            data_dir: dir.join(name),
            device_size: osd.size,
            host: &osd.host,
            listen: &osd.addr,
            fsid: self.fsid,
            secret: &self.secret,
            heartbeat_interval_ms: self.local.osd_heartbeat_ms,
            monitors: &self.monitors,
            metrics_addr: osd.metrics.as_deref(),
            rpc_tls: self.server_tls(dir),
        })
        .unwrap_or_default()
    }

    /// The monitor configuration file for monitor `name` (TOML for `cuttle-mon`).
    pub fn mon_config(&self, dir: &Path, name: &str) -> String {
        #[derive(Serialize)]
        struct MonFile<'a> {
            name: &'a str,
            data_dir: PathBuf,
            fsid: Uuid,
            secret: &'a str,
            monitors: &'a BTreeMap<String, String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics_addr: Option<&'a str>,
            timing: &'a MonTiming,
            #[serde(skip_serializing_if = "Option::is_none")]
            rpc_tls: Option<ServerTlsFiles>,
        }
        toml::to_string_pretty(&MonFile {
            name,
            data_dir: dir.join(format!("mon.{name}")),
            fsid: self.fsid,
            secret: &self.secret,
            monitors: &self.monitors,
            metrics_addr: self.local.mon_metrics.get(name).map(String::as_str),
            timing: &self.local.mon_timing,
            rpc_tls: self.server_tls(dir),
        })
        .unwrap_or_default()
    }
}
