//! `ClusterConf`: the client-side description of a cluster, as written by
//! `cuttle cluster up` to `DIR/cuttle.toml`:
//!
//! ```toml
//! fsid = "…uuid…"
//! secret = "…64 hex digits…"
//! [monitors]
//! a = "127.0.0.1:6789"
//! [rpc_tls]                    # optional: the cluster's gRPC uses TLS
//! ca = "/path/to/ca.pem"
//! ```
//!
//! Extra tables (endpoints, local-cluster bookkeeping) may follow; clients ignore them.
//! `[rpc_tls]` itself refuses unknown keys (a client has no certificate of its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cuttle_rpc::{ChannelConfig, ClientTlsFiles, ClusterSecret};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A cluster configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    /// Reading failed.
    #[error("cannot read cluster configuration {path}: {source}")]
    Read {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Parsing failed.
    #[error("cluster configuration {path}: {source}")]
    Parse {
        /// Path.
        path: PathBuf,
        /// Cause.
        source: toml::de::Error,
    },
    /// A value is unusable.
    #[error("cluster configuration {path}: {reason}")]
    Invalid {
        /// Path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Where a cluster is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConf {
    /// Cluster identity.
    pub fsid: Uuid,
    /// Cluster secret, hex.
    pub secret: String,
    /// Monitor name → address.
    pub monitors: BTreeMap<String, String>,
    /// The CA bundle of the cluster's gRPC TLS; plaintext when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_tls: Option<ClientTlsFiles>,
}

impl ClusterConf {
    /// Loads a configuration file.
    pub fn load(path: &Path) -> Result<ClusterConf, ConfError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses configuration text (`path` names it in errors).
    pub fn parse(path: &Path, text: &str) -> Result<ClusterConf, ConfError> {
        #[derive(Deserialize)]
        struct Raw {
            fsid: Uuid,
            secret: String,
            monitors: BTreeMap<String, String>,
            #[serde(default)]
            rpc_tls: Option<ClientTlsFiles>,
        }
        let raw: Raw = toml::from_str(text).map_err(|source| ConfError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
        let conf = ClusterConf {
            fsid: raw.fsid,
            secret: raw.secret,
            monitors: raw.monitors,
            rpc_tls: raw.rpc_tls,
        };
        if conf.monitors.is_empty() {
            return Err(ConfError::Invalid {
                path: path.to_path_buf(),
                reason: "no monitors listed".into(),
            });
        }
        conf.cluster_secret().map_err(|e| ConfError::Invalid {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(conf)
    }

    /// The parsed secret.
    pub fn cluster_secret(&self) -> Result<ClusterSecret, cuttle_rpc::AuthError> {
        ClusterSecret::from_hex(&self.secret)
    }

    /// How to dial the cluster: TLS with the `[rpc_tls]` CA bundle (read now), else
    /// plaintext.
    pub fn channel_config(&self) -> Result<ChannelConfig, cuttle_rpc::TlsError> {
        Ok(ChannelConfig::from_tls(
            self.rpc_tls
                .as_ref()
                .map(ClientTlsFiles::load)
                .transpose()?,
        ))
    }

    /// Monitor addresses in name order.
    pub fn monitor_addrs(&self) -> Vec<String> {
        self.monitors.values().cloned().collect()
    }
}
