//! What every command gets: where the cluster configuration is (`-c`, else
//! `CUTTLE_CONF`, else `./cluster/cuttle.toml`), the output format and the per-call
//! deadline; plus the one place cluster errors become the operator's message
//! `<what failed>: <why> (<code>)`.

use std::ffi::OsString;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use cuttle_client::{ClientError, Cluster, ClusterConf, ConfError, MonClient};
use cuttle_cluster::ClusterError;
use cuttle_types::ClusterMap;

use crate::output::Format;

/// Environment variable naming the cluster configuration file.
pub const CONF_ENV: &str = "CUTTLE_CONF";
/// Configuration file used when neither `-c` nor `CUTTLE_CONF` is given: the one
/// `cuttle cluster up` writes with its default `--dir`.
pub const DEFAULT_CONF: &str = "cluster/cuttle.toml";

/// The configuration path: the flag, else a non-empty `CUTTLE_CONF`, else the default.
pub fn resolve_conf(flag: Option<&Path>, env: Option<OsString>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    match env {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_CONF),
    }
}

/// Settings shared by all commands.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Cluster configuration file (resolved, maybe missing).
    pub conf: PathBuf,
    /// Output format.
    pub format: Format,
    /// Deadline of each cluster call, retries included.
    pub timeout: Duration,
}

impl Ctx {
    /// A monitor client for the configured cluster. Reads the configuration only now,
    /// so commands that refuse early never touch it.
    pub fn client(&self) -> Result<MonClient> {
        let conf = ClusterConf::load(&self.conf).map_err(|e| {
            anyhow!(
                "{}; pass -c FILE, set {CONF_ENV}, or start a local cluster with `cuttle cluster up` (config)",
                conf_error(&e)
            )
        })?;
        let client =
            MonClient::from_conf(&conf).map_err(|e| failed("connecting to the monitors", &e))?;
        Ok(client.with_deadline(self.timeout))
    }

    /// An object-I/O connection to the configured cluster.
    pub async fn cluster(&self) -> Result<Cluster> {
        let conf = ClusterConf::load(&self.conf).map_err(|e| {
            anyhow!(
                "{}; pass -c FILE, set {CONF_ENV}, or start a local cluster with `cuttle cluster up` (config)",
                conf_error(&e)
            )
        })?;
        Cluster::connect(&conf)
            .await
            .map_err(|e| failed("connecting to the cluster", &e))
    }

    /// The cluster map, at least as new as the leader's when the call starts.
    ///
    /// Any monitor answers `GetMap` from what it has applied, so a follower may still
    /// serve the map from before the change the previous command made. `Status` is
    /// answered by the leader, so its epoch is the newest committed one; the map is
    /// read again (within the deadline) until it has caught up.
    pub async fn fresh_map(&self) -> Result<ClusterMap> {
        let client = self.client()?;
        let what = "reading the cluster map";
        let newest = client.status().await.map_err(|e| failed(what, &e))?.epoch;
        let start = Instant::now();
        loop {
            let map = client.get_map().await.map_err(|e| failed(what, &e))?;
            if map.epoch.0 >= newest || start.elapsed() >= self.timeout {
                return Ok(map);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A configuration error on one line: a TOML parse error's own rendering spans several
/// lines (with a caret diagram), so it is reduced to its message and line number.
fn conf_error(e: &ConfError) -> String {
    match e {
        ConfError::Parse { path, source } => {
            let line = source.span().and_then(|span| {
                let text = std::fs::read_to_string(path).ok()?;
                let before = text.get(..span.start)?;
                Some(before.matches('\n').count() + 1)
            });
            let at = line.map_or(String::new(), |l| format!(" (line {l})"));
            format!(
                "cluster configuration {}: {}{at}",
                path.display(),
                source.message().trim()
            )
        }
        other => other.to_string(),
    }
}

/// The operator's message for a failed cluster call: `<what>: <why> (<code>)`.
pub fn failed(what: impl Display, e: &ClientError) -> anyhow::Error {
    anyhow!("{what}: {e} ({})", e.code())
}

/// The operator's message for a failed local-cluster operation.
pub fn cluster_failed(what: impl Display, e: &ClusterError) -> anyhow::Error {
    if let ClusterError::Client(c) = e {
        return failed(what, c);
    }
    let code = match e {
        ClusterError::Io { .. } => "io",
        ClusterError::MissingBinary { .. } => "missing_binary",
        ClusterError::NoCluster { .. } => "no_cluster",
        ClusterError::BadLayout { .. } => "bad_layout",
        ClusterError::NoSuchDaemon(_) => "no_such_daemon",
        ClusterError::Timeout { .. } => "timeout",
        ClusterError::PortBusy { .. } => "port_busy",
        ClusterError::Certificates(_) => "certificates",
        ClusterError::Client(_) => "client",
    };
    anyhow!("{what}: {e} ({code})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_the_environment() {
        let p = resolve_conf(Some(Path::new("/etc/c.toml")), Some("/env/c.toml".into()));
        assert_eq!(p, PathBuf::from("/etc/c.toml"));
    }

    #[test]
    fn the_environment_wins_over_the_default() {
        let p = resolve_conf(None, Some("/env/c.toml".into()));
        assert_eq!(p, PathBuf::from("/env/c.toml"));
    }

    #[test]
    fn the_default_is_the_local_cluster_directory() {
        assert_eq!(
            resolve_conf(None, None),
            PathBuf::from("cluster/cuttle.toml")
        );
        assert_eq!(
            resolve_conf(None, Some(OsString::new())),
            PathBuf::from("cluster/cuttle.toml"),
            "an empty CUTTLE_CONF counts as unset"
        );
    }

    #[test]
    fn cluster_errors_carry_their_code() {
        let e = ClientError::Refused {
            grpc: tonic::Code::NotFound,
            code: "no_such_pool".into(),
            message: "pool \"x\" does not exist".into(),
        };
        assert_eq!(
            failed("removing pool \"x\"", &e).to_string(),
            "removing pool \"x\": pool \"x\" does not exist (no_such_pool)"
        );
        let e = ClusterError::NoCluster {
            dir: PathBuf::from("/tmp/none"),
        };
        let msg = cluster_failed("stopping the cluster", &e).to_string();
        assert!(
            msg.starts_with("stopping the cluster: /tmp/none holds no Cuttle cluster"),
            "{msg}"
        );
        assert!(msg.ends_with("(no_cluster)"), "{msg}");
    }
}
