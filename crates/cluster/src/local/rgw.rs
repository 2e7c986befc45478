//! S3 gateways of a local cluster. Kept in `DIR/rgw.toml` (mode 0600: it holds the
//! admin credential) beside `cuttle.toml`, so clusters made before gateways existed
//! keep loading:
//!
//! ```toml
//! [admin]                      # created by the first gateway at its start
//! uid = "admin"
//! access_key = "CK…"
//! secret_key = "…"
//! [rgws."rgw.0"]
//! addr = "127.0.0.1:7480"
//! ```
//!
//! In a TLS cluster every gateway dials the cluster with its CA (`[rpc_tls]`) and, unless
//! given another certificate, serves HTTPS with the cluster's server certificate.
//!
//! Each gateway `rgw.N` runs `cuttle-rgw --config DIR/rgw.N.toml`. `up` creates the
//! gateway pools (`.rgw.meta`, `.rgw.index` replicated; `.rgw.data` EC 2+1 with at
//! least 3 OSDs, else replicated) before starting gateways, and waits until each one
//! accepts connections.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cuttle_client::MonClient;
use cuttle_proto as pb;
use serde::{Deserialize, Serialize};

use super::LocalCluster;
use crate::error::ClusterError;
use crate::process;

/// The gateway daemon binary.
pub(super) const RGW_BIN: &str = "cuttle-rgw";

/// The local cluster's S3 administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Admin {
    /// User id.
    pub uid: String,
    /// Access key.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

/// One gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalRgw {
    /// Address it serves S3 on.
    pub addr: String,
    /// Serve HTTPS with this PEM certificate and key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<(PathBuf, PathBuf)>,
    /// DNS suffix for virtual-hosted-style requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_suffix: Option<String>,
    /// Accept tokens as access keys.
    #[serde(default = "yes")]
    pub tokens: bool,
    /// Where it serves Prometheus metrics (`/metrics`); none for gateways added
    /// before metrics existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<String>,
    /// The gateway's `inline_max_bytes` (none: its default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline_max_bytes: Option<u64>,
}

fn yes() -> bool {
    true
}

/// Options of gateways added to a local cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RgwOptions {
    /// PEM certificate and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// DNS suffix for virtual-hosted-style requests.
    pub dns_suffix: Option<String>,
    /// Refuse tokens (keypair mode only).
    pub no_tokens: bool,
    /// Store objects up to this size inline beside their index entry (`cuttle-rgw`'s
    /// `inline_max_bytes`, 0: none; none: the gateway's default).
    pub inline_max_bytes: Option<u64>,
}

/// `DIR/rgw.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RgwLayout {
    /// The administrator every gateway makes sure exists.
    pub admin: S3Admin,
    /// Gateways by daemon name (`rgw.0`...).
    #[serde(default)]
    pub rgws: BTreeMap<String, LocalRgw>,
}

fn random_chars(alphabet: &[u8], n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < n {
                out.push(alphabet[usize::from(*b) % alphabet.len()] as char);
            }
        }
    }
    out
}

impl RgwLayout {
    fn path(dir: &Path) -> PathBuf {
        dir.join("rgw.toml")
    }

    /// Reads `DIR/rgw.toml` (`None` when the cluster has no gateways).
    pub fn load(dir: &Path) -> Result<Option<RgwLayout>, ClusterError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ClusterError::Io {
                    what: "reading",
                    path,
                    source,
                });
            }
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| ClusterError::BadLayout {
                path,
                reason: e.to_string(),
            })
    }

    fn save(&self, dir: &Path) -> Result<(), ClusterError> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = Self::path(dir);
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
        f.write_all(b"# Cuttle local cluster: S3 gateways and the S3 admin credential.\n")
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

impl LocalCluster {
    /// The gateways' description, if the cluster has gateways.
    pub fn rgw_layout(&self) -> Option<RgwLayout> {
        RgwLayout::load(self.dir()).ok().flatten()
    }

    /// Names of the gateway daemons (`rgw.N`), in order.
    pub fn rgw_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rgw_layout()
            .map(|l| l.rgws.into_keys().collect())
            .unwrap_or_default();
        names.sort_by_key(|n| {
            n.trim_start_matches("rgw.")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        });
        names
    }

    pub(super) fn rgw_metrics_addr(&self, name: &str) -> Option<String> {
        self.rgw_layout()
            .and_then(|l| l.rgws.get(name).and_then(|r| r.metrics.clone()))
    }

    pub(super) fn rgw_addr(&self, name: &str) -> String {
        self.rgw_layout()
            .and_then(|l| l.rgws.get(name).map(|r| r.addr.clone()))
            .unwrap_or_default()
    }

    /// The S3 endpoint URLs (`http://127.0.0.1:PORT`, `https://…` with TLS).
    pub fn s3_endpoints(&self) -> Vec<String> {
        let Some(l) = self.rgw_layout() else {
            return Vec::new();
        };
        self.rgw_names()
            .iter()
            .filter_map(|n| l.rgws.get(n))
            .map(|r| {
                let scheme = if r.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", r.addr)
            })
            .collect()
    }

    /// The local S3 administrator, once gateways exist.
    pub fn s3_admin(&self) -> Option<S3Admin> {
        self.rgw_layout().map(|l| l.admin)
    }

    /// Makes sure the cluster has at least `n` gateways (adds the missing ones, with
    /// `opts`; starts nothing). The first call creates the admin credential. In a TLS
    /// cluster, gateways without `opts.tls` serve HTTPS with the cluster certificate.
    pub fn ensure_rgws(&self, n: usize, opts: &RgwOptions) -> Result<Vec<String>, ClusterError> {
        let mut l = match self.rgw_layout() {
            Some(l) => l,
            None if n == 0 => return Ok(Vec::new()),
            None => RgwLayout {
                admin: S3Admin {
                    uid: "admin".into(),
                    access_key: format!(
                        "CK{}",
                        random_chars(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 18)
                    ),
                    secret_key: random_chars(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                        40,
                    ),
                },
                rgws: BTreeMap::new(),
            },
        };
        let mut added = Vec::new();
        let mut i = 0usize;
        while l.rgws.len() < n {
            let name = format!("rgw.{i}");
            i += 1;
            if l.rgws.contains_key(&name) {
                continue;
            }
            l.rgws.insert(
                name.clone(),
                LocalRgw {
                    addr: format!("127.0.0.1:{}", process::free_port()?),
                    tls: opts.tls.clone().or_else(|| {
                        self.layout()
                            .server_tls(self.dir())
                            .map(|t| (t.cert, t.key))
                    }),
                    dns_suffix: opts.dns_suffix.clone(),
                    tokens: !opts.no_tokens,
                    metrics: Some(format!("127.0.0.1:{}", process::free_port()?)),
                    inline_max_bytes: opts.inline_max_bytes,
                },
            );
            added.push(name);
        }
        l.save(self.dir())?;
        for (name, r) in &l.rgws {
            let path = self.dir().join(format!("{name}.toml"));
            std::fs::write(&path, self.rgw_config(&l.admin, r)).map_err(|source| {
                ClusterError::Io {
                    what: "writing",
                    path: path.clone(),
                    source,
                }
            })?;
        }
        Ok(added)
    }

    /// The gateway configuration file (TOML for `cuttle-rgw`).
    fn rgw_config(&self, admin: &S3Admin, r: &LocalRgw) -> String {
        #[derive(Serialize)]
        struct Auth {
            keypair: bool,
            tokens: bool,
        }
        #[derive(Serialize)]
        struct Tls<'a> {
            cert: &'a Path,
            key: &'a Path,
        }
        #[derive(Serialize)]
        struct RgwFile<'a> {
            listen: &'a str,
            fsid: uuid::Uuid,
            secret: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            dns_suffix: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            inline_max_bytes: Option<u64>,
            monitors: &'a BTreeMap<String, String>,
            auth: Auth,
            bootstrap_admin: &'a S3Admin,
            #[serde(skip_serializing_if = "Option::is_none")]
            tls: Option<Tls<'a>>,
            #[serde(skip_serializing_if = "Option::is_none")]
            metrics_addr: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            rpc_tls: Option<&'a cuttle_rpc::ClientTlsFiles>,
        }
        let layout = self.layout();
        toml::to_string_pretty(&RgwFile {
            listen: &r.addr,
            fsid: layout.fsid,
            secret: &layout.secret,
            dns_suffix: r.dns_suffix.as_deref(),
            monitors: &layout.monitors,
            auth: Auth {
                keypair: true,
                tokens: r.tokens,
            },
            bootstrap_admin: admin,
            tls: r.tls.as_ref().map(|(c, k)| Tls { cert: c, key: k }),
            metrics_addr: r.metrics.as_deref(),
            rpc_tls: layout.rpc_tls.as_ref(),
            inline_max_bytes: r.inline_max_bytes,
        })
        .unwrap_or_default()
    }

    /// Creates the gateway pools if missing; returns the ones created.
    pub(super) async fn rgw_pools(&self, client: &MonClient) -> Result<Vec<String>, ClusterError> {
        if self.rgw_layout().is_none() {
            return Ok(Vec::new());
        }
        let map = client.get_map().await?;
        let osds = self.layout().local.osds.len() as u32;
        let pg_num = self.layout().local.pg_num;
        let replicated = pb::create_pool_request::Redundancy::ReplicatedSize(osds.clamp(1, 3));
        let data = if osds >= 3 {
            pb::create_pool_request::Redundancy::Erasure(pb::EcProfile {
                k: 2,
                m: 1,
                stripe_unit: 0,
                codec: String::new(),
            })
        } else {
            replicated.clone()
        };
        let mut made = Vec::new();
        for (name, redundancy) in [
            (".rgw.meta", replicated.clone()),
            (".rgw.index", replicated),
            (".rgw.data", data),
        ] {
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

    /// Starts the gateways that are not running and waits until every gateway accepts
    /// connections. Returns the ones started.
    pub(super) async fn up_rgws(&self, timeout: Duration) -> Result<Vec<String>, ClusterError> {
        let mut started = Vec::new();
        for name in self.rgw_names() {
            if self.start(&name)? {
                started.push(name);
            }
        }
        let deadline = Instant::now() + timeout;
        for name in self.rgw_names() {
            let addr = self.rgw_addr(&name);
            loop {
                if tokio::net::TcpStream::connect(&addr).await.is_ok() {
                    break;
                }
                if !self.daemon_state(&name)?.running {
                    return Err(ClusterError::Timeout {
                        what: "gateway exited",
                        secs: 0,
                        detail: format!(
                            "{name} stopped; see {}",
                            self.dir().join(format!("{name}.log")).display()
                        ),
                    });
                }
                if Instant::now() > deadline {
                    return Err(ClusterError::Timeout {
                        what: "gateway not serving",
                        secs: timeout.as_secs(),
                        detail: format!("{name} does not accept connections on {addr}"),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(started)
    }
}
