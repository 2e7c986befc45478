//! `cuttle-client`: the library daemons, the CLI and tests use to talk to a Cuttle
//! cluster (the librados of Cuttle).
//!
//! - [`ClusterConf`]: where the cluster is (monitor addresses, secret, and the CA
//!   bundle when its gRPC uses TLS) — the `cuttle.toml` file `cuttle cluster up` writes;
//! - [`MonClient`]: monitor calls with failover across monitors, bounded retries on
//!   transient errors (elections, restarts) and clear final errors;
//! - [`MapWatcher`]: a background subscription that keeps the newest cluster map.
//!
//! - [`Cluster`] / [`IoCtx`]: object I/O on a pool — placement computed locally from
//!   the map, each operation sent to its PG's primary, retried transparently when the
//!   map changes or the primary fails, within a deadline. A large erasure-coded read
//!   may come back as the primary's read plan: the client fetches the other chunks
//!   from their OSDs at the planned version and decodes them (`cuttle-ec`), and reads
//!   through the primary instead on any mismatch.
//!
//! Must not depend on daemon or storage crates.

mod conf;
mod error;
mod mon;
mod notify;
mod objects;
mod watch;

pub use conf::{ClusterConf, ConfError};
pub use error::ClientError;
pub use mon::MonClient;
pub use notify::{NotifyResult, WatchEvent, WatchHandle};
pub use objects::{Cluster, IoCtx, ListCursor, ObjectInfo};
pub use watch::MapWatcher;
