//! `cuttle-types`: the shared vocabulary of every Cuttle crate.
//!
//! It owns the newtype identifiers (`OsdId`, `PoolId`, `PgId`, `Epoch`, `ShardId`), the
//! cluster map (OSDs, pools, epoch) and the erasure-code profile a pool records.
//!
//! # Layout
//! - [`ids`]: identifiers and units; each is a newtype so a pool id is never mistaken
//!   for an OSD id.
//! - [`map`]: the cluster map as the monitor quorum replicates it.
//! - [`pool`]: pool definitions, their redundancy scheme and failure domain.
//!
//! # Rules
//! This crate is pure data: it must not depend on tokio, tonic, RocksDB or any I/O.
//! Everything here is `serde`-serialisable so the monitor can persist it and the CLI
//! can print it as JSON.

pub mod ids;
pub mod map;
pub mod pool;

pub use ids::{Epoch, OsdId, OsdWeight, PgId, PoolId, ShardId};
pub use map::{ClusterMap, MapError, MapIncremental, OsdInfo};
pub use pool::{EcCodec, EcProfile, FailureDomain, Pool, PoolError, Redundancy};
