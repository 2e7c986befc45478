//! `cuttle-client`: the library daemons, the CLI and tests use to talk to a Cuttle
//! cluster (the librados of Cuttle).
//!
//! - [`ClusterConf`]: where the cluster is (monitor addresses, secret) — the
//!   `cuttle.toml` file `cuttle cluster up` writes;
//! - [`MonClient`]: monitor calls with failover across monitors, bounded retries on
//!   transient errors (elections, restarts) and clear final errors;
//! - [`MapWatcher`]: a background subscription that keeps the newest cluster map.
//!
//! Object I/O (placement computed locally, ops sent to PG primaries) joins here with
//! the OSD. Must not depend on daemon or storage crates.

mod conf;
mod error;
mod mon;
mod watch;

pub use conf::{ClusterConf, ConfError};
pub use error::ClientError;
pub use mon::MonClient;
pub use watch::MapWatcher;
