//! `DiskStore`: the production object store — object data on a raw device (io_uring,
//! `O_DIRECT`), metadata in RocksDB.
//!
//! # Write path
//! ```text
//! queue_transaction ─┬─ prepare (one at a time, in memory): resolve onodes, allocate
//!                    │    fresh extents (copy-on-write), build block buffers + crcs,
//!                    │    build the metadata batch, publish the new state as *pending*
//!                    ├─ data writes start at once (a spawned task; survives the caller)
//!                    └─ committer (one task, in sequence order): waits for the data,
//!                         flushes the device once per group, commits the metadata of
//!                         the whole group in one synced RocksDB batch, then frees
//!                         replaced extents (via the read gate) and acknowledges.
//! ```
//! Several transactions that become ready together share one device flush and one
//! RocksDB sync (group commit). A transaction is durable, and visible to reads, exactly
//! when it is acknowledged. Extents are never overwritten in place, so a crash at any
//! point leaves each object wholly old or wholly new: uncommitted extents are simply
//! free again, because the freelist bitmap only changes in the commit batch.
//!
//! If a data write, flush or metadata commit fails after a transaction was prepared,
//! later transactions were built on top of it, so the store stops accepting writes
//! ([`StoreError::Failed`]) — as a Ceph OSD stops on EIO — while reads keep working.
//!
//! # Modules
//! `keys` (key layout), `cache` (onode cache), `gate` (safe reuse of freed space),
//! `prepare` (transaction → plan), `commit` (group commit), `read` (read paths),
//! `format` (mkfs/open), `fsck` (consistency checks; `fsck_tests` plants corruption).

mod cache;
mod commit;
mod format;
mod fsck;
#[cfg(test)]
mod fsck_tests;
mod gate;
mod keys;
mod prepare;
mod read;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use rocksdb::DB;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

pub use format::{MkfsOptions, OpenOptions};
pub use fsck::{FsckIssue, FsckReport};

use crate::alloc::{Allocator, Extent};
use crate::device::{AlignedBuf, BlockDevice, DeviceBackend};
use crate::error::{StoreError, StoreResult};
use crate::ids::CollectionId;
use crate::onode::Onode;
use crate::store::{ObjectStat, ObjectStore, Page, StatFs};
use crate::superblock::Superblock;
use crate::txn::Transaction;
use cache::OnodeCache;
use commit::Prepared;
use gate::ReadGate;

/// Tunables of a disk store. Memory use is bounded by the two cache sizes plus the
/// RocksDB write buffers plus the data of transactions in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Bytes of object metadata (onodes) cached in memory.
    pub onode_cache_bytes: usize,
    /// Bytes of RocksDB block cache.
    pub db_cache_bytes: usize,
    /// Bytes of one RocksDB memtable (two at most are kept).
    pub db_write_buffer_bytes: usize,
    /// I/O backend for the data device: `Auto` (io_uring when the kernel's probe
    /// passes, else pread/pwrite, logged once), `Uring` (refuse to open without it) or
    /// `File` (force pread/pwrite).
    pub backend: DeviceBackend,
    /// Maximum data-device requests in flight.
    pub queue_depth: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            onode_cache_bytes: 32 << 20,
            db_cache_bytes: 32 << 20,
            db_write_buffer_bytes: 16 << 20,
            backend: DeviceBackend::Auto,
            queue_depth: 128,
        }
    }
}

/// A prepared-but-uncommitted onode state.
#[derive(Debug)]
struct PendingOnode {
    /// New state; `None` when the transaction removes the object.
    onode: Option<Arc<Onode>>,
    /// Sequence number of the last transaction that changed it.
    seq: u64,
}

/// State shared by preparers, the committer and readers; locked only briefly and
/// never across an `.await`.
#[derive(Debug)]
struct Shared {
    alloc: Allocator,
    /// Onode states of transactions prepared but not yet committed.
    overlay: HashMap<Vec<u8>, PendingOnode>,
    /// Collection existence changes not yet committed: (exists, seq).
    coll_overlay: HashMap<CollectionId, (bool, u64)>,
    /// Committed collections.
    colls: BTreeSet<CollectionId>,
    /// Committed onodes.
    cache: OnodeCache,
    /// Bumped by every commit; a reader caches what it loaded from RocksDB only if no
    /// commit happened meanwhile.
    commit_gen: u64,
    /// Data of writes not yet committed, by device offset, for read-modify-write.
    pending_data: BTreeMap<u64, (Arc<AlignedBuf>, u64)>,
    next_nid: u64,
    /// Sequence number the next prepared transaction gets.
    next_seq: u64,
    gate: ReadGate,
}

/// Counters of the commit pipeline (for metrics and benchmarks).
#[derive(Debug, Default)]
pub struct CommitStats {
    /// Groups committed: each is one synced RocksDB write batch.
    pub groups: AtomicU64,
    /// Transactions committed.
    pub transactions: AtomicU64,
    /// Transactions prepared and handed to the committer.
    pub queued: AtomicU64,
    /// Transactions with data whose data writes have finished.
    pub data_written: AtomicU64,
    /// Transactions committed as deferred writes (no device flush before the ack).
    pub deferred: AtomicU64,
    /// Microseconds spent in device flushes.
    pub flush_us: AtomicU64,
    /// Microseconds spent in synced RocksDB writes.
    pub db_us: AtomicU64,
}

/// A snapshot of the commit pipeline's counters. `transactions / groups` is the mean
/// group size: how many transactions shared one synced RocksDB batch (and at most one
/// device flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CommitCounters {
    /// Groups committed: each is one synced RocksDB write batch.
    pub groups: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Transactions prepared and handed to the committer (committed, failed or still
    /// in the pipeline).
    pub queued: u64,
    /// Transactions with data whose data writes have finished (before their flush).
    pub data_written: u64,
    /// Transactions committed as deferred writes: small data made durable through the
    /// RocksDB WAL, the device flushed later for many at once.
    pub deferred: u64,
    /// Microseconds spent in device flushes.
    pub flush_us: u64,
    /// Microseconds spent in synced RocksDB writes.
    pub db_us: u64,
}

/// What preparers, readers and the committer share.
#[derive(Debug)]
struct Core {
    stats: Arc<CommitStats>,
    dev: Arc<dyn BlockDevice>,
    db: Arc<DB>,
    sb: Superblock,
    data_end: u64,
    shared: Mutex<Shared>,
    /// Set when a prepared transaction failed: no more writes are accepted.
    failed: Mutex<Option<Arc<StoreError>>>,
    /// Highest committed sequence number.
    committed: watch::Sender<u64>,
}

impl Core {
    fn check_failed(&self) -> StoreResult<()> {
        match &*self.failed.lock() {
            Some(cause) => Err(StoreError::Failed(cause.clone())),
            None => Ok(()),
        }
    }

    fn fail(&self, cause: Arc<StoreError>) {
        let mut failed = self.failed.lock();
        if failed.is_none() {
            tracing::error!("object store stops accepting writes: {cause}");
            *failed = Some(cause);
        }
    }

    /// Returns extents to the allocator (after the read gate let them go).
    fn release(&self, shared: &mut Shared, extents: Vec<Extent>) {
        for e in extents {
            if let Err(err) = shared.alloc.release(e) {
                tracing::error!("allocator bookkeeping error: {err}");
            }
        }
    }
}

/// The disk-backed object store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct DiskStore {
    core: Arc<Core>,
    /// Serialises transaction preparation (which keeps their order).
    prep: tokio::sync::Mutex<()>,
    commit_tx: mpsc::UnboundedSender<Prepared>,
    committer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl DiskStore {
    /// The device's superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.core.sb
    }

    /// Which I/O backend the data device uses (never `Auto`: what `Auto` chose).
    pub fn backend(&self) -> DeviceBackend {
        self.core.dev.backend()
    }

    /// The backend's name, for logs and status: `io_uring` or `pread/pwrite`.
    pub fn backend_name(&self) -> &'static str {
        self.backend().name()
    }

    /// Waits until every transaction queued so far has committed (or failed).
    pub async fn sync(&self) {
        let target = {
            let _prep = self.prep.lock().await;
            self.core.shared.lock().next_seq.saturating_sub(1)
        };
        let mut rx = self.core.committed.subscribe();
        let _ = rx.wait_for(|&c| c >= target).await;
    }

    /// Finishes in-flight transactions and stops the committer.
    pub async fn close(self) {
        self.sync().await;
        let DiskStore {
            commit_tx,
            committer,
            ..
        } = self;
        drop(commit_tx);
        let handle = committer.lock().take();
        if let Some(h) = handle {
            let _ = h.await;
        }
    }

    /// Where an object's blocks live on the device, as (logical offset, device offset,
    /// length) runs: for diagnostics and tools.
    pub async fn object_map(
        &self,
        coll: &CollectionId,
        name: &str,
    ) -> StoreResult<Vec<(u64, u64, u64)>> {
        let o = read::committed_onode_required(&self.core, coll, name).await?;
        Ok(o.extents
            .iter()
            .map(|e| (e.logical, e.device, e.len()))
            .collect())
    }

    /// Commit pipeline counters since open.
    pub fn commit_counters(&self) -> CommitCounters {
        let s = &self.core.stats;
        CommitCounters {
            groups: s.groups.load(Ordering::Relaxed),
            transactions: s.transactions.load(Ordering::Relaxed),
            queued: s.queued.load(Ordering::SeqCst),
            data_written: s.data_written.load(Ordering::SeqCst),
            deferred: s.deferred.load(Ordering::Relaxed),
            flush_us: s.flush_us.load(Ordering::Relaxed),
            db_us: s.db_us.load(Ordering::Relaxed),
        }
    }

    /// Approximate bytes of onodes cached in memory.
    pub fn cached_onode_bytes(&self) -> usize {
        self.core.shared.lock().cache.bytes()
    }

    /// Device requests in flight (io_uring queue depth in use; 0 for other backends).
    pub fn device_in_flight(&self) -> u64 {
        self.core.dev.in_flight()
    }

    /// An integer RocksDB property of the metadata database (`rocksdb.estimate-live-data-size`,
    /// `rocksdb.cur-size-all-mem-tables`...); `None` when RocksDB does not know it.
    /// Reads in-memory statistics only: cheap enough for a metrics scrape.
    pub fn db_property(&self, name: &str) -> Option<u64> {
        self.core.db.property_int_value(name).ok().flatten()
    }
}

fn into_page<T>(mut items: Vec<T>, max: usize) -> Page<T> {
    let more = items.len() > max;
    items.truncate(max);
    Page { items, more }
}

impl ObjectStore for DiskStore {
    fn queue_transaction(&self, txn: Transaction) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let reply = self.prepare_and_submit(txn).await?;
            reply.await.map_err(|_| StoreError::Closed)?
        })
    }

    fn read<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, StoreResult<Bytes>> {
        Box::pin(read::read(&self.core, coll, name, offset, len))
    }

    fn stat<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<ObjectStat>> {
        Box::pin(async move {
            let o = read::committed_onode_required(&self.core, coll, name).await?;
            Ok(ObjectStat {
                size: o.size,
                allocated: o.allocated_bytes(),
            })
        })
    }

    fn get_attrs<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<BTreeMap<String, Bytes>>> {
        Box::pin(async move {
            let o = read::committed_onode_required(&self.core, coll, name).await?;
            Ok(o.xattrs.clone())
        })
    }

    fn list<'a>(
        &'a self,
        coll: &'a CollectionId,
        after: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<String>>> {
        Box::pin(async move {
            read::check_collection(&self.core, coll)?;
            let prefix = keys::onode_prefix(coll);
            let start = after.map(|a| keys::onode_key(coll, a));
            let rows = read::scan(&self.core, prefix, start, None, max.saturating_add(1)).await?;
            let names = rows
                .into_iter()
                .filter_map(|(k, _)| keys::parse_onode_key(&k).map(|(_, n)| n))
                .collect();
            Ok(into_page(names, max))
        })
    }

    fn omap_get<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        wanted: &'a [Bytes],
    ) -> BoxFuture<'a, StoreResult<BTreeMap<Bytes, Bytes>>> {
        Box::pin(async move {
            let o = read::committed_onode_required(&self.core, coll, name).await?;
            let db = self.core.db.clone();
            let nid = o.nid;
            let wanted = wanted.to_vec();
            read::blocking(move || {
                let keys: Vec<Vec<u8>> = wanted.iter().map(|k| keys::omap_key(nid, k)).collect();
                let mut out = BTreeMap::new();
                for (k, v) in wanted.iter().zip(db.multi_get(&keys)) {
                    if let Some(v) = v.map_err(StoreError::db("omap get"))? {
                        out.insert(k.clone(), Bytes::from(v));
                    }
                }
                Ok(out)
            })
            .await
        })
    }

    fn omap_list<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        prefix: &'a [u8],
        after: Option<&'a [u8]>,
        end: Option<&'a [u8]>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<(Bytes, Bytes)>>> {
        Box::pin(async move {
            let o = read::committed_onode_required(&self.core, coll, name).await?;
            let base = keys::omap_prefix(o.nid);
            let full_prefix = keys::omap_key(o.nid, prefix);
            let start = after.map(|a| keys::omap_key(o.nid, a));
            let end = end.map(|e| keys::omap_key(o.nid, e));
            let rows =
                read::scan(&self.core, full_prefix, start, end, max.saturating_add(1)).await?;
            let items = rows
                .into_iter()
                .map(|(k, v)| (Bytes::copy_from_slice(&k[base.len()..]), Bytes::from(v)))
                .collect();
            Ok(into_page(items, max))
        })
    }

    fn list_collections(&self) -> BoxFuture<'_, StoreResult<Vec<CollectionId>>> {
        Box::pin(async move { Ok(self.core.shared.lock().colls.iter().cloned().collect()) })
    }

    fn collection_exists<'a>(&'a self, coll: &'a CollectionId) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { Ok(self.core.shared.lock().colls.contains(coll)) })
    }

    fn kv_get<'a>(
        &'a self,
        ns: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<Option<Bytes>>> {
        Box::pin(async move {
            prepare::check_ns(ns)?;
            let db = self.core.db.clone();
            let k = keys::kv_key(ns, key);
            read::blocking(move || {
                Ok(db
                    .get(&k)
                    .map_err(StoreError::db("kv get"))?
                    .map(Bytes::from))
            })
            .await
        })
    }

    fn kv_list<'a>(
        &'a self,
        ns: &'a str,
        after: Option<&'a [u8]>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<(Bytes, Bytes)>>> {
        Box::pin(async move {
            prepare::check_ns(ns)?;
            let prefix = keys::kv_prefix(ns);
            let plen = prefix.len();
            let start = after.map(|a| keys::kv_key(ns, a));
            let rows = read::scan(&self.core, prefix, start, None, max.saturating_add(1)).await?;
            let items = rows
                .into_iter()
                .map(|(k, v)| (Bytes::copy_from_slice(&k[plen..]), Bytes::from(v)))
                .collect();
            Ok(into_page(items, max))
        })
    }

    fn statfs(&self) -> StatFs {
        let total = self.core.data_end - self.core.sb.data_start;
        let free = self.core.shared.lock().alloc.free_bytes();
        StatFs {
            total,
            used: total.saturating_sub(free),
            free,
        }
    }
}

impl DiskStore {
    /// Prepares a transaction and hands it to the committer; the receiver yields the
    /// commit result.
    async fn prepare_and_submit(
        &self,
        txn: Transaction,
    ) -> StoreResult<oneshot::Receiver<StoreResult<()>>> {
        let _prep = self.prep.lock().await;
        self.core.check_failed()?;
        let plan = prepare::prepare(&self.core, txn).await?;
        let (reply_tx, reply_rx) = oneshot::channel();
        let prepared = commit::submit(&self.core, plan, reply_tx);
        self.commit_tx
            .send(prepared)
            .map_err(|_| StoreError::Closed)?;
        self.core.stats.queued.fetch_add(1, Ordering::SeqCst);
        Ok(reply_rx)
    }
}
