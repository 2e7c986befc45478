//! `cuttle-osd`: the OSD daemon. It keeps the shards of the placement groups placed on
//! its store, orders writes as the PG primary (encode or replicate, send to every
//! member, acknowledge once at least `min_size` have them durably), reads (rebuilding
//! from parity when a chunk is missing or corrupt, then repairing it), and peers and
//! recovers PGs whenever their members change.
//!
//! # Layout
//! - [`meta`]: versions, PG log and info, names of collections and attributes;
//! - [`shard`]: a member's side (apply a sub-write atomically, read, answer queries);
//! - [`pg`]: per-PG state; [`osd`]: the running OSD and how a map updates its PGs;
//! - [`members`]: talking to a PG's members (local or over gRPC);
//! - [`primary`]: client operations on the primary; [`recovery`]: peering and recovery;
//!   [`scrub`]: scrub, deep scrub and repair; [`stray`]: deleting shards moved away;
//! - [`service`]: the gRPC service; [`tasks`]: map, heartbeats, maintenance;
//! - [`metrics`]: the Prometheus metrics served on `metrics_addr`;
//! - [`config`], [`daemon`]: configuration and start/stop.
//!
//! Must not depend on the monitor or gateway crates: it talks to monitors through
//! `cuttle-client`.

pub mod config;
pub mod daemon;
pub mod error;
pub mod members;
pub mod meta;
pub mod metrics;
pub mod osd;
pub mod peers;
pub mod pg;
pub mod primary;
pub mod recovery;
pub mod scrub;
pub mod service;
pub mod shard;
pub mod stray;
pub mod tasks;
pub mod watch;

pub use config::OsdConfig;
pub use daemon::{RunningOsd, StartError, start};
