//! `ClusterError`: why a local cluster operation failed.

use std::path::PathBuf;

/// Why a local-cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A file or directory operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Path involved.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// A daemon binary is missing.
    #[error(
        "daemon binary {path} not found; build the workspace first (e.g. `cargo build --workspace`) or set CUTTLE_BIN_DIR"
    )]
    MissingBinary {
        /// Expected path.
        path: PathBuf,
    },
    /// The directory does not hold a cluster.
    #[error(
        "{dir} holds no Cuttle cluster (no cuttle.toml); run `cuttle cluster up --dir {dir}` to create one"
    )]
    NoCluster {
        /// Directory.
        dir: PathBuf,
    },
    /// The cluster description cannot be read.
    #[error("{path}: {reason}")]
    BadLayout {
        /// File.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A name does not denote a daemon of this cluster.
    #[error("no daemon named {0} in this cluster")]
    NoSuchDaemon(String),
    /// The cluster did not reach the expected state in time.
    #[error("{what} within {secs}s: {detail}")]
    Timeout {
        /// What was awaited.
        what: &'static str,
        /// Seconds waited.
        secs: u64,
        /// Last thing seen.
        detail: String,
    },
    /// The TLS certificates of `cluster up --tls` could not be made.
    #[error("generating the local cluster's TLS certificates: {0}")]
    Certificates(String),
    /// A cluster call failed.
    #[error(transparent)]
    Client(#[from] cuttle_client::ClientError),
    /// A port needed by the cluster is taken by another program.
    #[error(
        "port {port} for {daemon} is in use by another program; stop it or recreate the cluster"
    )]
    PortBusy {
        /// Daemon.
        daemon: String,
        /// Port.
        port: u16,
    },
}
