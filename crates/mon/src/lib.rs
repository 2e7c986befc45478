//! `cuttle-mon`: the monitor daemon. Monitors keep the cluster map — OSDs, pools, the
//! epoch — in a Raft-replicated state machine, detect failed OSDs, report health, and
//! stream map updates to daemons and clients.
//!
//! # Layout
//! - [`state`]: the replicated state and its commands (pure, deterministic);
//! - [`health`]: health checks (pure);
//! - [`raft`]: openraft glue — RocksDB log store, state machine, network;
//! - [`node`]: one running monitor and its leader-local soft state;
//! - [`service`]: the gRPC service (routing, forwarding, error codes);
//! - [`tasks`]: peer pings, client I/O sampling and the OSD failure detector;
//! - [`client_io`]: cluster-wide client I/O rates from the OSDs' heartbeats;
//! - [`metrics`]: the Prometheus metrics served on `metrics_addr`;
//! - [`dashboard`]: the read-only web dashboard served beside them;
//! - [`config`], [`daemon`]: configuration and start/stop.
//!
//! Writes go through Raft on the leader; a follower forwards them once. A write that
//! cannot reach a quorum fails after the write timeout with `no_quorum` instead of
//! hanging. The map an OSD or client sees may lag the leader by the replication delay;
//! every map carries its epoch.
//!
//! Must not depend on OSD, gateway or object-store code.

pub mod client_io;
pub mod config;
pub mod daemon;
pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod node;
pub mod raft;
pub mod service;
pub mod state;
pub mod tasks;

pub use config::{MonConfig, Timing};
pub use daemon::{MonError, RunningMon, start};
