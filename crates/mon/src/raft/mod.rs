//! The monitors' Raft, on openraft 0.9: type configuration, RocksDB-backed log storage,
//! the state-machine adapter around [`MonState`](crate::state::MonState), and the
//! network over the monitor gRPC service.
//!
//! Why openraft: it is maintained (0.9 releases through 2025), async/tokio native, and
//! separates log storage from the state machine (storage v2 API), which maps directly
//! onto "log in RocksDB, map in memory with snapshots". tikv's raft-rs has had no
//! release since 2023 and leaves the event loop, storage and transport to the user.

// openraft's storage traits fix their error type (`StorageError`, ~224 bytes); our
// helpers return the same type rather than converting at every call.
#[allow(clippy::result_large_err)]
pub mod log_store;
pub mod network;
#[allow(clippy::result_large_err)]
pub mod state_machine;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use rocksdb::{DB, Options};

use crate::state::{MonCommand, MonResponse};

openraft::declare_raft_types!(
    /// Raft types of the monitors: commands in, responses out, u64 node ids whose
    /// `BasicNode.addr` is the monitor's gRPC address.
    pub TypeConfig:
        D = MonCommand,
        R = MonResponse,
);

/// The Raft handle of a monitor.
pub type MonRaft = openraft::Raft<TypeConfig>;
/// Storage errors as openraft types them.
pub type StorageError = openraft::StorageError<u64>;

/// Opens (creating if needed) the monitor's RocksDB store under `dir`.
pub fn open_db(dir: &Path) -> Result<Arc<DB>, rocksdb::Error> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_keep_log_file_num(3);
    opts.set_max_total_wal_size(64 << 20);
    opts.set_write_buffer_size(8 << 20);
    Ok(Arc::new(DB::open(&opts, dir)?))
}
