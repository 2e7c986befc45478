//! `RgwConfig`: the gateway's configuration file (TOML), e.g.
//!
//! ```toml
//! listen = "127.0.0.1:7480"
//! fsid = "…uuid…"
//! secret = "…64 hex digits…"
//! [monitors]
//! a = "127.0.0.1:6789"
//! [auth]
//! keypair = true
//! tokens = true
//! [bootstrap_admin]            # optional: ensure this user exists at start
//! uid = "admin"
//! access_key = "…"
//! secret_key = "…"
//! [rpc_tls]                    # optional: the cluster's internal gRPC uses TLS
//! ca = "/etc/cuttle/tls/ca.pem"
//! ```
//!
//! `[tls]` is the gateway's own HTTPS front (what S3 clients see); `[rpc_tls]` is how
//! the gateway, as a client, dials the monitors and OSDs.
//!
//! Every field is documented below; unknown fields are refused, and [`RgwConfig::validate`]
//! runs at load.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{RgwError, RgwResult};
use crate::pools::PoolNames;

/// Which credentials authenticate requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Access key + secret (SigV4, SigV2). The default and the safe mode.
    pub keypair: bool,
    /// Tokens used as the access key, the signature being ignored.
    pub tokens: bool,
    /// Largest clock difference accepted, seconds (S3: 15 minutes).
    pub max_skew_secs: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            keypair: true,
            tokens: false,
            max_skew_secs: 900,
        }
    }
}

/// A user the gateway creates at start if missing (the local cluster's admin).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootstrapUser {
    /// User id.
    pub uid: String,
    /// Access key.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

/// HTTPS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The gateway's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RgwConfig {
    /// Address to serve S3 on.
    pub listen: SocketAddr,
    /// Cluster identity.
    pub fsid: uuid::Uuid,
    /// Cluster secret (hex).
    pub secret: String,
    /// Monitor name → address.
    pub monitors: BTreeMap<String, String>,
    /// The gateway's region (`us-east-1`): SigV4 requests must be signed for it, it is
    /// the only `LocationConstraint` accepted, and HeadBucket reports it.
    #[serde(default = "default_region")]
    pub region: String,
    /// DNS suffix for virtual-hosted-style requests (`s3.example.org`: the bucket is
    /// `b` for host `b.s3.example.org`); path-style requests always work.
    #[serde(default)]
    pub dns_suffix: Option<String>,
    /// Serve HTTPS with this certificate (HTTP when absent).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Authentication modes.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Pool names.
    #[serde(default)]
    pub pools: PoolNames,
    /// Index shards of new buckets.
    #[serde(default = "default_shards")]
    pub index_shards: u32,
    /// Data stripe size, bytes (the EC pool's stripe: 4 MiB).
    #[serde(default = "default_stripe")]
    pub stripe_size: u64,
    /// Stripe writes in flight per upload.
    #[serde(default = "default_put_parallel")]
    pub put_parallel: usize,
    /// Stripe reads ahead per download.
    #[serde(default = "default_prefetch")]
    pub get_prefetch: usize,
    /// Stripe buffers in flight across the gateway, MiB (bounds memory).
    #[serde(default = "default_budget")]
    pub buffer_budget_mib: u64,
    /// Objects up to this many bytes are stored inline beside their index entry (one
    /// cluster write per PUT and one read per GET instead of two each; default
    /// [`INLINE_MAX_DEFAULT`]); 0 turns it off. Set 0 while gateways from before
    /// inline objects still serve the cluster.
    #[serde(default = "default_inline_max")]
    pub inline_max_bytes: u64,
    /// How long user, key, token and bucket records are cached, milliseconds.
    #[serde(default = "default_cache_ttl")]
    pub cache_ttl_ms: u64,
    /// Create this user at start if missing.
    #[serde(default)]
    pub bootstrap_admin: Option<BootstrapUser>,
    /// Replaced or deleted object data is removed this long after it was unlinked,
    /// seconds (reads that started before may still be streaming it).
    #[serde(default = "default_gc_delay")]
    pub gc_delay_secs: u64,
    /// How often each gateway removes due data, seconds.
    #[serde(default = "default_gc_interval")]
    pub gc_interval_secs: u64,
    /// Serve Prometheus metrics on `http://ADDR/metrics`; off when absent.
    #[serde(default)]
    pub metrics_addr: Option<SocketAddr>,
    /// The CA bundle of the cluster's internal gRPC TLS (plaintext when absent). Not
    /// the HTTPS front: that is `tls`.
    #[serde(default)]
    pub rpc_tls: Option<cuttle_rpc::ClientTlsFiles>,
}

fn default_region() -> String {
    "us-east-1".into()
}
fn default_shards() -> u32 {
    16
}
/// Default of `inline_max_bytes`: up to 8 KiB an inline copy on a replicated index
/// pool of size 3 takes at most twice the space of an EC 2+1 stripe (whose chunks are
/// padded to 4 KiB blocks), and small objects are where the saved cluster operation
/// matters. (Index shards then hold much larger omaps; OSDs recover those in pages.)
pub const INLINE_MAX_DEFAULT: u64 = INLINE_MAX_SUGGESTED;
/// The suggested `inline_max_bytes` (the default).
pub const INLINE_MAX_SUGGESTED: u64 = 8 << 10;
/// Largest `inline_max_bytes` accepted.
pub const INLINE_MAX_LIMIT: u64 = 256 << 10;

fn default_stripe() -> u64 {
    4 << 20
}
fn default_put_parallel() -> usize {
    4
}
fn default_prefetch() -> usize {
    2
}
fn default_budget() -> u64 {
    128
}
fn default_inline_max() -> u64 {
    INLINE_MAX_DEFAULT
}
fn default_cache_ttl() -> u64 {
    2000
}
fn default_gc_delay() -> u64 {
    900
}
fn default_gc_interval() -> u64 {
    60
}

impl RgwConfig {
    /// Loads and validates a configuration file.
    pub fn load(path: &Path) -> RgwResult<RgwConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RgwError::Config(format!("reading {}: {e}", path.display())))?;
        let c: RgwConfig = toml::from_str(&text)
            .map_err(|e| RgwError::Config(format!("{}: {}", path.display(), e.message())))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> RgwResult<()> {
        let bad = |m: String| Err(RgwError::Config(m));
        if self.monitors.is_empty() {
            return bad("no monitors listed".into());
        }
        if !(1..=1024).contains(&self.index_shards) {
            return bad(format!(
                "index_shards {} is not in 1..=1024",
                self.index_shards
            ));
        }
        if !(64 << 10..=64 << 20).contains(&self.stripe_size) {
            return bad(format!(
                "stripe_size {} is not in 64 KiB..=64 MiB",
                self.stripe_size
            ));
        }
        if self.put_parallel == 0 || self.get_prefetch == 0 {
            return bad("put_parallel and get_prefetch must be at least 1".into());
        }
        if self.buffer_budget_mib << 20 < 4 * self.stripe_size {
            return bad(format!(
                "buffer_budget_mib {} must hold at least 4 stripes of {} bytes",
                self.buffer_budget_mib, self.stripe_size
            ));
        }
        if self.inline_max_bytes > INLINE_MAX_LIMIT {
            return bad(format!(
                "inline_max_bytes {} is over {INLINE_MAX_LIMIT} (index shards hold inline data)",
                self.inline_max_bytes
            ));
        }
        if !self.auth.keypair && !self.auth.tokens {
            return bad("[auth]: enable keypair, tokens or both".into());
        }
        if self.region.is_empty()
            || !self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(format!(
                "region {:?}: give lower-case letters, digits and '-' (like us-east-1)",
                self.region
            ));
        }
        if let Some(s) = &self.dns_suffix
            && (s.is_empty() || s.starts_with('.') || s.contains(':'))
        {
            return bad(format!(
                "dns_suffix {s:?}: give a host name like s3.example.org"
            ));
        }
        if let Some(b) = &self.bootstrap_admin {
            crate::names::validate_uid(&b.uid)?;
        }
        Ok(())
    }

    /// The client configuration of the cluster.
    pub fn cluster_conf(&self) -> cuttle_client::ClusterConf {
        cuttle_client::ClusterConf {
            fsid: self.fsid,
            secret: self.secret.clone(),
            monitors: self.monitors.clone(),
            rpc_tls: self.rpc_tls.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: &str = r#"
listen = "127.0.0.1:0"
fsid = "6f3e3a8e-2a4c-4b9e-9d55-0a8f0b1f2c3d"
secret = "00"
[monitors]
a = "127.0.0.1:1"
"#;

    #[test]
    fn defaults_fill_in_and_validate() {
        let c: RgwConfig = toml::from_str(MIN).expect("parses");
        assert!(c.validate().is_ok());
        assert_eq!(c.region, "us-east-1");
        assert!(c.auth.keypair && !c.auth.tokens);
        assert_eq!(c.pools.data, ".rgw.data");
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        assert!(toml::from_str::<RgwConfig>(&format!("bogus = 1\n{MIN}")).is_err());
        let mut c: RgwConfig = toml::from_str(MIN).expect("parses");
        c.auth.keypair = false;
        assert!(c.validate().is_err());
        c.auth.tokens = true;
        assert!(c.validate().is_ok());
        c.stripe_size = 1;
        assert!(c.validate().is_err());
        // Regions are what SigV4 credential scopes can name.
        let mut c: RgwConfig = toml::from_str(MIN).expect("parses");
        for bad in ["", "US", "eu west"] {
            c.region = bad.into();
            assert!(c.validate().is_err(), "{bad:?}");
        }
        c.region = "eu-central-2".into();
        assert!(c.validate().is_ok());
        // The gateway only dials the cluster: its [rpc_tls] is the CA alone.
        let c: RgwConfig =
            toml::from_str(&format!("{MIN}[rpc_tls]\nca = \"/ca.pem\"\n")).expect("parses");
        assert_eq!(
            c.cluster_conf().rpc_tls.map(|t| t.ca),
            Some(PathBuf::from("/ca.pem"))
        );
        let e = toml::from_str::<RgwConfig>(&format!(
            "{MIN}[rpc_tls]\nca = \"/ca.pem\"\nkey = \"/k.pem\"\n"
        ))
        .expect_err("a client has no key");
        assert!(e.to_string().contains("key"), "{e}");
    }
}
