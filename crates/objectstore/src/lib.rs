//! `cuttle-objectstore`: one OSD's local object store.
//!
//! It owns everything between an OSD and its disk: collections (one per PG shard) of
//! named objects with data, extended attributes and an ordered key/value map (omap),
//! plus a small store-wide key/value space for daemon state such as PG logs. Changes
//! are grouped in atomic, durable, ordered [`Transaction`]s; reads verify a crc32c per
//! 4 KiB block and never return wrong bytes.
//!
//! # Layout
//! - [`store`]: the [`ObjectStore`] trait — the seam the OSD programs against.
//! - [`MemStore`] (`mem`): in-memory backend and reference model.
//! - [`DiskStore`] (`disk`): data on a raw block device or preallocated file through
//!   io_uring with `O_DIRECT` ([`device`]), metadata in RocksDB, copy-on-write data
//!   placement, group commit, `fsck`.
//! - `alloc` / `freelist`: free space in memory and its durable bitmap.
//! - `onode`, `superblock`: on-disk records, each documenting its layout.
//!
//! # Invariants
//! - A transaction is all-or-nothing, also across a crash: data goes to newly
//!   allocated blocks and is made durable before the metadata batch that references
//!   it commits; replaced blocks are reused only after that commit.
//! - Every allocated block is referenced exactly once; free and used space are
//!   disjoint and add up (checked by `DiskStore::fsck`).
//! - A device carries a superblock naming its cluster and OSD; a wrong, foreign or
//!   unformatted device is refused at open.
//!
//! # Must not depend on
//! The network, gRPC, the cluster map or any daemon code: this crate is storage only.

pub mod alloc;
mod codec;
pub mod device;
mod disk;
mod error;
pub mod freelist;
mod ids;
mod mem;
pub mod onode;
pub mod store;
pub mod superblock;
pub mod torture;
mod txn;

pub use disk::{
    CommitCounters, DiskStore, FsckIssue, FsckReport, MkfsOptions, OpenOptions, StoreConfig,
};
pub use error::{StoreError, StoreResult};
pub use ids::{CollectionId, MAX_COLLECTION_NAME, MAX_OBJECT_NAME, validate_object_name};
pub use mem::MemStore;
pub use store::{ObjectStat, ObjectStore, Page, StatFs};
pub use txn::{Op, Transaction};

/// Largest object the store accepts, in bytes (clients stripe bigger data over several
/// objects, as RADOS clients do).
pub const MAX_OBJECT_SIZE: u64 = 1 << 30;
