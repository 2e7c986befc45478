//! `cuttle-cluster`: a local Cuttle cluster of real daemon processes on loopback.
//!
//! One directory holds everything: `cuttle.toml` (what clients need, plus a `[local]`
//! table describing how to run the daemons), one sub-directory per daemon, a log file
//! and a pid file per daemon (`mon.a.pid`...). `cuttle cluster up|down|status` uses
//! [`LocalCluster`]; tests use [`TestCluster`], which lives in a temporary directory
//! and kills every daemon it started when dropped, even when the test fails.
//! S3 gateways (`rgw.N`) are added with [`LocalCluster::ensure_rgws`] and described in
//! `DIR/rgw.toml` (with the admin credential); `up` starts them after their pools.
//! A cluster created with [`LocalSpec::tls`] has a throw-away CA and server certificate
//! in `DIR/tls/` ([`pki`]): every daemon's gRPC, the gateways' HTTPS and the clients of
//! `cuttle.toml` use them.
//!
//! Daemons are found next to the running executable (or in `CUTTLE_BIN_DIR`); for a
//! test binary in `target/<profile>/deps`, that is `target/<profile>`.
//!
//! Must not depend on daemon crates: it only starts their binaries.

mod error;
mod layout;
mod local;
pub mod pki;
mod process;
mod test_cluster;

pub use error::ClusterError;
pub use layout::{Layout, LocalOsd, LocalSpec, MonTiming};
pub use local::{DaemonState, LocalCluster, LocalRgw, RgwLayout, RgwOptions, S3Admin, UpReport};
pub use process::bin_dir;
pub use test_cluster::TestCluster;
