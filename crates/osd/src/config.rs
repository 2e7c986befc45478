//! `OsdConfig`: one OSD's configuration (TOML), validated at load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cuttle_objectstore::StoreConfig;
use cuttle_rpc::{ClusterSecret, DaemonTls, ServerTlsFiles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Parsing failed (the message names the offending key).
    #[error("{path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        source: toml::de::Error,
    },
    /// A value breaks a rule.
    #[error("invalid OSD configuration: {0}")]
    Invalid(String),
    /// A file of `[rpc_tls]` is missing or unusable.
    #[error("[rpc_tls]: {0}")]
    Tls(#[from] cuttle_rpc::TlsError),
}

/// Configuration of one OSD daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsdConfig {
    /// Directory of the OSD: metadata (`db/`), its uuid file, and by default the data
    /// device file (`block`).
    pub data_dir: PathBuf,
    /// Data device: a block device or a file; default `<data_dir>/block`.
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// When the device file does not exist, create it with this many bytes.
    #[serde(default)]
    pub device_size: Option<u64>,
    /// Host name (the failure domain) this OSD reports.
    pub host: String,
    /// Address to listen on (`host:port`; port 0 picks one).
    pub listen: String,
    /// Address other daemons use to reach this OSD; default: the listen address.
    #[serde(default)]
    pub public_addr: Option<String>,
    /// The cluster's monitors, name → address.
    pub monitors: BTreeMap<String, String>,
    /// Cluster identity.
    pub fsid: Uuid,
    /// Cluster secret (hex), or use `secret_file`.
    #[serde(default)]
    pub secret: Option<String>,
    /// File holding the cluster secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Milliseconds between heartbeats to the monitors.
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_interval_ms: u64,
    /// Object-store tunables.
    #[serde(default)]
    pub store: StoreConfig,
    /// Objects this OSD recovers at once (client I/O keeps the rest of the disk).
    #[serde(default = "default_recovery_active")]
    pub recovery_max_active: usize,
    /// Recovery bandwidth cap in bytes per second; 0 for none.
    #[serde(default)]
    pub recovery_max_bytes_per_sec: u64,
    /// Seconds between light scrubs of each PG (0 disables periodic scrubs).
    #[serde(default = "default_scrub")]
    pub scrub_interval_secs: u64,
    /// Seconds between deep scrubs of each PG (0 disables periodic deep scrubs).
    #[serde(default = "default_deep_scrub")]
    pub deep_scrub_interval_secs: u64,
    /// Serve Prometheus metrics on `http://ADDR/metrics` (`host:port`); off when absent.
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// TLS of the internal gRPC (served, and dialled to monitors and peer OSDs);
    /// plaintext when absent.
    #[serde(default)]
    pub rpc_tls: Option<ServerTlsFiles>,
}

fn default_heartbeat_ms() -> u64 {
    2000
}

fn default_recovery_active() -> usize {
    3
}

fn default_scrub() -> u64 {
    24 * 3600
}

fn default_deep_scrub() -> u64 {
    7 * 24 * 3600
}

impl OsdConfig {
    /// Loads and validates a TOML file.
    pub fn load(path: &Path) -> Result<OsdConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: OsdConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.monitors.is_empty() {
            return Err(ConfigError::Invalid("no monitors configured".into()));
        }
        if self.host.is_empty() {
            return Err(ConfigError::Invalid("host must not be empty".into()));
        }
        if self.heartbeat_interval_ms == 0 {
            return Err(ConfigError::Invalid(
                "heartbeat_interval_ms must be positive".into(),
            ));
        }
        self.secret().map(|_| ())
    }

    /// The loaded `[rpc_tls]` files, when TLS is configured.
    pub fn tls(&self) -> Result<Option<DaemonTls>, ConfigError> {
        Ok(self
            .rpc_tls
            .as_ref()
            .map(ServerTlsFiles::load)
            .transpose()?)
    }

    /// The cluster secret.
    pub fn secret(&self) -> Result<ClusterSecret, ConfigError> {
        let text = match (&self.secret, &self.secret_file) {
            (Some(s), None) => s.clone(),
            (None, Some(f)) => std::fs::read_to_string(f).map_err(|source| ConfigError::Read {
                path: f.clone(),
                source,
            })?,
            _ => {
                return Err(ConfigError::Invalid(
                    "give exactly one of `secret` and `secret_file`".into(),
                ));
            }
        };
        ClusterSecret::from_hex(&text).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The data device path.
    pub fn device_path(&self) -> PathBuf {
        self.device
            .clone()
            .unwrap_or_else(|| self.data_dir.join("block"))
    }
}
