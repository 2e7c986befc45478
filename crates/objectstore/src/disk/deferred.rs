//! The life of a deferred write after its commit, until its record is deleted.
//!
//! ```text
//!  committed ──> outstanding ──> cleaning ──────────> flushed ──> record deleted in
//!  (record in    (data only in   (background task:    (on disk)   the next group's
//!   the WAL)      memory)         write + flush)                  batch; space freed
//!                                                                 behind it reusable
//! ```
//! A transaction with at most [`DEFERRED_MAX_BYTES`] of data commits with a copy of its
//! data in its RocksDB batch (`D` records). Its blocks are written later, for many
//! transactions at once and adjacent blocks merged (`unapplied.rs`, which readers
//! consult meanwhile): once [`CLEAN_AT`] transactions are outstanding, a background
//! task writes them and flushes the device while the committer goes on committing
//! groups; their records are then deleted in the next group's batch (no sync of its
//! own). When the committer is idle for [`DEFERRED_IDLE`], the same happens to
//! whatever is outstanding, the deletion in a batch of its own; at close, everything
//! is written, flushed and deleted before the store closes. A group that flushes the device for its
//! own data writes the outstanding data first and deletes those records too. Until a
//! record is durably gone, space freed by later transactions stays parked in the read
//! gate: neither a replay nor a late write may land on reused blocks.
//!
//! After a crash, [`replay_deferred`] writes the records left onto the device again
//! at open. Deleting a record late is always safe: its replay rewrites the same bytes
//! onto blocks nobody else owns yet.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rocksdb::{DB, WriteBatch, WriteOptions};
use tokio::task::JoinHandle;

use super::read::blocking;
use super::{Core, keys};
use crate::device::{AlignedBuf, BlockDevice, DeviceResult};
use crate::error::{StoreError, StoreResult};

/// Largest data of a transaction committed as a deferred write.
pub(super) const DEFERRED_MAX_BYTES: usize = 64 << 10;
/// Outstanding deferred transactions that start a background clean.
const CLEAN_AT: usize = 256;
/// Outstanding deferred transactions at which the committer waits for a running clean
/// (bounds the memory held for reads: at most this many × [`DEFERRED_MAX_BYTES`]).
const WAIT_AT: usize = 4 * CLEAN_AT;
/// Idle time of the committer after which every deferred record is cleaned.
pub(super) const DEFERRED_IDLE: Duration = Duration::from_millis(100);

/// One piece of a deferred transaction's data.
#[derive(Debug)]
pub(super) struct Deferred {
    /// Its record's key (`D <seq> <offset>`).
    pub key: Vec<u8>,
    pub offset: u64,
    /// The blocks, shared with readers (`Shared::unapplied`) until written.
    pub buf: Arc<AlignedBuf>,
}

/// Committed deferred transactions: (seq, data).
type Batch = Vec<(u64, Vec<Deferred>)>;

/// Every piece of these transactions' data.
pub(super) fn pieces<'a>(
    data: impl Iterator<Item = &'a Vec<Deferred>>,
) -> Vec<(u64, Arc<AlignedBuf>)> {
    data.flat_map(|d| d.iter().map(|d| (d.offset, d.buf.clone())))
        .collect()
}

/// The committer's deferred transactions between commit and record deletion.
#[derive(Debug, Default)]
pub(super) struct Deferrals {
    /// Committed; their data may be in memory only.
    outstanding: Batch,
    /// Being written and flushed by a background task.
    cleaning: Option<(JoinHandle<DeviceResult<()>>, Batch)>,
    /// Written and flushed: their records can be deleted.
    flushed: Batch,
}

impl Deferrals {
    /// Whether nothing waits for a clean.
    pub(super) fn is_empty(&self) -> bool {
        self.outstanding.is_empty() && self.cleaning.is_none() && self.flushed.is_empty()
    }

    /// Transaction `seq` committed with deferred data (the caller parks it in the gate).
    pub(super) fn committed(&mut self, seq: u64, data: Vec<Deferred>) {
        self.outstanding.push((seq, data));
    }

    /// The outstanding data: what a group that flushes must write first.
    pub(super) fn outstanding_data(&self) -> impl Iterator<Item = &Vec<Deferred>> {
        self.outstanding.iter().map(|(_, d)| d)
    }

    /// Keys of the records a group's batch deletes: the flushed ones, and, when the
    /// group flushed the device after writing their data, the outstanding ones.
    pub(super) fn records_to_delete(&self, group_flushed: bool) -> impl Iterator<Item = &[u8]> {
        let outstanding = group_flushed.then_some(&self.outstanding);
        self.flushed
            .iter()
            .chain(outstanding.into_iter().flatten())
            .flat_map(|(_, d)| d.iter().map(|d| d.key.as_slice()))
    }

    /// The group's batch that deleted [`Deferrals::records_to_delete`] is durable:
    /// returns the sequence numbers whose records are gone.
    pub(super) fn deleted(&mut self, core: &Core, group_flushed: bool) -> Vec<u64> {
        let mut seqs: Vec<u64> = self.flushed.drain(..).map(|(s, _)| s).collect();
        if group_flushed {
            seqs.extend(self.outstanding.drain(..).map(|(s, _)| s));
        }
        core.stats
            .deferred_cleaned
            .fetch_add(seqs.len() as u64, Ordering::Relaxed);
        seqs
    }

    /// Between groups: collects a finished background clean, starts the next one when
    /// enough are outstanding, and waits for a running one when far too many are.
    pub(super) async fn between_groups(&mut self, core: &Arc<Core>) {
        if self.cleaning.as_ref().is_some_and(|(t, _)| t.is_finished())
            || self.outstanding.len() >= WAIT_AT
        {
            self.finish_cleaning(core).await;
        }
        if self.outstanding.len() >= CLEAN_AT {
            self.start_cleaning(core);
        }
    }

    /// The committer has been idle: collects a finished background clean and deletes
    /// the records it flushed (one synced batch), or starts a clean of what is
    /// outstanding. Never waits for the device, so a transaction arriving meanwhile is
    /// not held up by a flush.
    pub(super) async fn idle(&mut self, core: &Arc<Core>) {
        if self.cleaning.as_ref().is_some_and(|(t, _)| t.is_finished()) {
            self.finish_cleaning(core).await;
        }
        if self.cleaning.is_none() {
            self.delete_flushed(core).await;
            self.start_cleaning(core);
        }
    }

    /// Starts writing and flushing the outstanding data in the background, unless a
    /// clean is running or nothing is outstanding.
    fn start_cleaning(&mut self, core: &Arc<Core>) {
        if self.cleaning.is_some() || self.outstanding.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.outstanding);
        let data = pieces(batch.iter().map(|(_, d)| d));
        let core = core.clone();
        let task = tokio::spawn(async move {
            core.apply_deferred(data).await?;
            let t = Instant::now();
            core.dev.flush().await?;
            super::commit::add_us(&core.stats.flush_us, t);
            Ok(())
        });
        self.cleaning = Some((task, batch));
    }

    /// Waits for the running background clean, if any; on success its transactions'
    /// records may be deleted, on failure the store stops taking writes (the records
    /// stay, to be replayed at the next open).
    async fn finish_cleaning(&mut self, core: &Core) {
        let Some((task, batch)) = self.cleaning.take() else {
            return;
        };
        let result = match task.await {
            Ok(r) => r,
            Err(_) => Err(crate::device::DeviceError::Closed),
        };
        match result {
            Ok(()) => self.flushed.extend(batch),
            Err(e) => core.fail(Arc::new(StoreError::Device(e))),
        }
    }

    /// Cleans everything now (at close): writes and flushes what is not on the device,
    /// deletes every record in one synced batch, then lets the space parked behind
    /// them go.
    pub(super) async fn clean_all(&mut self, core: &Arc<Core>) {
        self.finish_cleaning(core).await;
        if core.failed.lock().is_some() {
            return;
        }
        if !self.outstanding.is_empty() {
            let data = pieces(self.outstanding_data());
            let written = core.apply_deferred(data).await;
            let t = Instant::now();
            if let Err(e) = match written {
                Ok(()) => core.dev.flush().await,
                Err(e) => Err(e),
            } {
                core.fail(Arc::new(StoreError::Device(e)));
                return;
            }
            super::commit::add_us(&core.stats.flush_us, t);
            self.flushed.append(&mut self.outstanding);
        }
        self.delete_flushed(core).await;
    }

    /// Deletes the records of the flushed transactions in one synced batch and lets
    /// the space parked behind them go.
    async fn delete_flushed(&mut self, core: &Core) {
        if self.flushed.is_empty() || core.failed.lock().is_some() {
            return;
        }
        let mut batch = WriteBatch::default();
        for key in self.records_to_delete(false) {
            batch.delete(key);
        }
        let db = core.db.clone();
        let written = blocking(move || {
            let mut opts = WriteOptions::default();
            opts.set_sync(true);
            db.write_opt(batch, &opts)
                .map_err(StoreError::db("deleting deferred records"))
        })
        .await;
        if let Err(e) = written {
            core.fail(Arc::new(e));
            return;
        }
        let seqs = self.deleted(core, false);
        let mut sh = core.shared.lock();
        let reusable = sh.gate.deferred_cleaned(seqs);
        core.release(&mut sh, reusable);
    }
}

/// Writes the deferred records left by a crash onto the device, flushes it and deletes
/// them; returns how many there were. Runs at open, before anything allocates or reads.
pub(super) async fn replay_deferred(
    dev: &Arc<dyn BlockDevice>,
    db: &Arc<DB>,
) -> StoreResult<usize> {
    let (lo, hi) = keys::deferred_range();
    let reader = db.clone();
    let (lo2, hi2) = (lo.clone(), hi.clone());
    let records = blocking(move || {
        let mut out = Vec::new();
        let mut it = reader.raw_iterator();
        it.seek(&lo2);
        while let (Some(k), Some(v)) = (it.key(), it.value()) {
            if k >= hi2.as_slice() {
                break;
            }
            let offset = keys::parse_deferred_key(k).ok_or_else(|| StoreError::CorruptRecord {
                key: keys::printable(k),
                reason: "not a deferred record key",
            })?;
            if v.is_empty() || v.len() % crate::device::BLOCK_SIZE != 0 {
                return Err(StoreError::CorruptRecord {
                    key: keys::printable(k),
                    reason: "deferred data is not whole blocks",
                });
            }
            out.push((offset, v.to_vec()));
            it.next();
        }
        it.status()
            .map_err(StoreError::db("reading deferred records"))?;
        Ok(out)
    })
    .await?;
    if records.is_empty() {
        return Ok(0);
    }
    for (offset, data) in &records {
        dev.write(*offset, Arc::new(AlignedBuf::copy_from(data)))
            .await
            .map_err(StoreError::Device)?;
    }
    dev.flush().await.map_err(StoreError::Device)?;
    let writer = db.clone();
    blocking(move || {
        let mut batch = WriteBatch::default();
        batch.delete_range(&lo, &hi);
        let mut opts = WriteOptions::default();
        opts.set_sync(true);
        writer
            .write_opt(batch, &opts)
            .map_err(StoreError::db("deleting replayed deferred records"))
    })
    .await?;
    Ok(records.len())
}
