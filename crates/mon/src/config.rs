//! `MonConfig`: one monitor's configuration (TOML), validated at load.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cuttle_rpc::{ClusterSecret, DaemonTls, ServerTlsFiles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this structure (names the offending key).
    #[error("{path}: {source}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// Parser error.
        source: toml::de::Error,
    },
    /// A value breaks a rule.
    #[error("invalid monitor configuration: {0}")]
    Invalid(String),
    /// A file of `[rpc_tls]` is missing or unusable.
    #[error("[rpc_tls]: {0}")]
    Tls(#[from] cuttle_rpc::TlsError),
}

/// Timers of the monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timing {
    /// An OSD that sends no heartbeat for this long is marked down.
    pub osd_heartbeat_grace_secs: u64,
    /// An OSD down for this long is marked out (its data is rebuilt elsewhere).
    pub osd_down_out_interval_secs: u64,
    /// Raft heartbeat interval, milliseconds.
    pub raft_heartbeat_ms: u64,
    /// Lower bound of the Raft election timeout, milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper bound of the Raft election timeout, milliseconds.
    pub election_timeout_max_ms: u64,
    /// How often monitors ping each other, milliseconds.
    pub ping_interval_ms: u64,
    /// How long a map change may wait for the quorum before the caller is told it did
    /// not commit, seconds.
    pub write_timeout_secs: u64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
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

/// Configuration of one monitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonConfig {
    /// This monitor's name; must be a key of `monitors`.
    pub name: String,
    /// Directory of the Raft log, snapshots and state.
    pub data_dir: PathBuf,
    /// Address to listen on; defaults to this monitor's entry in `monitors`.
    #[serde(default)]
    pub listen: Option<String>,
    /// Every monitor of the cluster, name → `host:port`. Fixed when the cluster is
    /// created; Raft ids are the 1-based positions in name order.
    pub monitors: BTreeMap<String, String>,
    /// The cluster's identity.
    pub fsid: Uuid,
    /// The cluster secret (64 hex digits); or give `secret_file`.
    #[serde(default)]
    pub secret: Option<String>,
    /// File holding the cluster secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Timers.
    #[serde(default)]
    pub timing: Timing,
    /// Serve Prometheus metrics on `http://ADDR/metrics` (`host:port`); off when absent.
    #[serde(default)]
    pub metrics_addr: Option<String>,
    /// TLS of the internal gRPC (served and dialled); plaintext when absent.
    #[serde(default)]
    pub rpc_tls: Option<ServerTlsFiles>,
}

impl MonConfig {
    /// Loads and validates a TOML file.
    pub fn load(path: &Path) -> Result<MonConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: MonConfig = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every rule.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.monitors.is_empty() || self.monitors.len() > 7 {
            return bad(format!(
                "{} monitors configured; use 1 to 7 (odd numbers)",
                self.monitors.len()
            ));
        }
        if !self.monitors.contains_key(&self.name) {
            return bad(format!(
                "this monitor's name {:?} is not in `monitors`",
                self.name
            ));
        }
        for (name, addr) in &self.monitors {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                return bad(format!(
                    "monitor name {name:?} must be letters, digits or '-'"
                ));
            }
            if addr
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            {
                return bad(format!("monitor {name} address {addr:?} is not host:port"));
            }
        }
        if let Some(m) = &self.metrics_addr
            && m.rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return bad(format!("metrics_addr {m:?} is not host:port"));
        }
        let t = &self.timing;
        if t.election_timeout_min_ms <= t.raft_heartbeat_ms
            || t.election_timeout_max_ms <= t.election_timeout_min_ms
        {
            return bad("timing: need raft_heartbeat_ms < election_timeout_min_ms < election_timeout_max_ms".into());
        }
        if t.osd_heartbeat_grace_secs == 0 || t.write_timeout_secs == 0 {
            return bad("timing: grace and write timeout must be positive".into());
        }
        self.secret().map(|_| ())
    }

    /// The cluster secret, from `secret` or `secret_file`.
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

    /// The loaded `[rpc_tls]` files, when TLS is configured.
    pub fn tls(&self) -> Result<Option<DaemonTls>, ConfigError> {
        Ok(self
            .rpc_tls
            .as_ref()
            .map(ServerTlsFiles::load)
            .transpose()?)
    }

    /// Raft id of a monitor name.
    pub fn raft_id(&self, name: &str) -> Option<u64> {
        self.monitors
            .keys()
            .position(|n| n == name)
            .map(|i| i as u64 + 1)
    }

    /// The address this monitor listens on.
    pub fn listen_addr(&self) -> String {
        self.listen
            .clone()
            .or_else(|| self.monitors.get(&self.name).cloned())
            .unwrap_or_default()
    }

    /// A duration from milliseconds.
    pub fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MonConfig {
        MonConfig {
            name: "b".into(),
            data_dir: "/tmp/x".into(),
            listen: None,
            monitors: [
                ("a", "127.0.0.1:1"),
                ("b", "127.0.0.1:2"),
                ("c", "127.0.0.1:3"),
            ]
            .into_iter()
            .map(|(n, a)| (n.to_string(), a.to_string()))
            .collect(),
            fsid: Uuid::from_u128(1),
            secret: Some(ClusterSecret::generate().to_hex()),
            secret_file: None,
            timing: Timing::default(),
            metrics_addr: None,
            rpc_tls: None,
        }
    }

    #[test]
    fn validation_and_ids() {
        let c = sample();
        c.validate().expect("valid");
        assert_eq!(c.raft_id("a"), Some(1));
        assert_eq!(c.raft_id("c"), Some(3));
        assert_eq!(c.listen_addr(), "127.0.0.1:2");
        let mut bad = sample();
        bad.name = "z".into();
        assert!(bad.validate().is_err());
        let mut bad = sample();
        bad.secret = Some("xyz".into());
        assert!(bad.validate().is_err());
        let mut bad = sample();
        bad.monitors.insert("d".into(), "nohost".into());
        assert!(bad.validate().is_err());
    }

    #[test]
    fn rpc_tls_needs_three_files_and_names_a_missing_one() {
        let base = format!(
            "name = \"a\"\ndata_dir = \"/x\"\nfsid = \"{}\"\nsecret = \"{}\"\n[monitors]\na = \"127.0.0.1:1\"\n",
            Uuid::from_u128(1),
            ClusterSecret::generate().to_hex()
        );
        let err = toml::from_str::<MonConfig>(&format!("{base}[rpc_tls]\nca = \"/c\"\n"))
            .expect_err("cert and key are required");
        assert!(err.to_string().contains("cert"), "{err}");
        let c: MonConfig = toml::from_str(&format!(
            "{base}[rpc_tls]\nca = \"/nonexistent/ca.pem\"\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n"
        ))
        .expect("parses");
        c.validate()
            .expect("files are read at start, not at validation");
        let err = c.tls().expect_err("missing files");
        assert!(matches!(err, ConfigError::Tls(_)), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");
        assert!(sample().tls().expect("no TLS").is_none());
    }

    #[test]
    fn unknown_keys_are_named() {
        let text = format!(
            "name = \"a\"\ndata_dir = \"/x\"\nfsid = \"{}\"\nsecret = \"{}\"\nbogus = 1\n[monitors]\na = \"127.0.0.1:1\"\n",
            Uuid::from_u128(1),
            ClusterSecret::generate().to_hex()
        );
        let err = toml::from_str::<MonConfig>(&text).expect_err("unknown key");
        assert!(err.to_string().contains("bogus"), "{err}");
    }
}
