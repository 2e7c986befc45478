//! `LogStore`: the Raft log, vote and commit point in RocksDB.
//!
//! Keys: `l` + index (u64 big-endian) → entry (JSON); `m/vote`, `m/committed`,
//! `m/purged` → JSON. Appends and votes are written with a synced batch before they are
//! acknowledged, so a monitor never forgets a vote or an entry it accepted.
//! RocksDB calls run on tokio's blocking pool.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{Entry, LogId, OptionalSend, RaftLogReader, StorageIOError, Vote};
use rocksdb::{DB, WriteBatch, WriteOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{StorageError, TypeConfig};

const LOG: u8 = b'l';
const VOTE: &[u8] = b"m/vote";
const COMMITTED: &[u8] = b"m/committed";
const PURGED: &[u8] = b"m/purged";

fn log_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = LOG;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn index_of(key: &[u8]) -> Option<u64> {
    if key.len() != 9 || key[0] != LOG {
        return None;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&key[1..]);
    Some(u64::from_be_bytes(a))
}

fn synced() -> WriteOptions {
    let mut o = WriteOptions::default();
    o.set_sync(true);
    o
}

/// The Raft log in RocksDB. Cheap to clone (shares the database).
#[derive(Debug, Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

impl LogStore {
    /// A log store on `db`.
    pub fn new(db: Arc<DB>) -> LogStore {
        LogStore { db }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&DB) -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StorageIOError::write(&e).into())
            .and_then(|r| r)
    }

    fn get_json<T: DeserializeOwned>(db: &DB, key: &[u8]) -> Result<Option<T>, StorageError> {
        match db.get(key).map_err(|e| StorageIOError::read(&e))? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| StorageIOError::read(&e).into()),
        }
    }

    fn put_json<T: Serialize>(db: &DB, key: &[u8], value: &T) -> Result<(), StorageError> {
        let v = serde_json::to_vec(value).map_err(|e| StorageIOError::write(&e))?;
        db.put_opt(key, v, &synced())
            .map_err(|e| StorageIOError::write(&e).into())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(&i) => i,
            Bound::Excluded(&i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&i) => Some(i.saturating_add(1)),
            Bound::Excluded(&i) => Some(i),
            Bound::Unbounded => None,
        };
        self.blocking(move |db| {
            let mut out = Vec::new();
            let mut it = db.raw_iterator();
            it.seek(log_key(start));
            while let (Some(k), Some(v)) = (it.key(), it.value()) {
                let Some(index) = index_of(k) else { break };
                if end.is_some_and(|e| index >= e) {
                    break;
                }
                let entry: Entry<TypeConfig> = serde_json::from_slice(v)
                    .map_err(|e| StorageIOError::read_log_at_index(index, &e))?;
                out.push(entry);
                it.next();
            }
            it.status().map_err(|e| StorageIOError::read_logs(&e))?;
            Ok(out)
        })
        .await
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.blocking(|db| {
            let purged: Option<LogId<u64>> = LogStore::get_json(db, PURGED)?;
            let mut it = db.raw_iterator();
            it.seek_for_prev(log_key(u64::MAX));
            let last = match (it.key(), it.value()) {
                (Some(k), Some(v)) if index_of(k).is_some() => {
                    let e: Entry<TypeConfig> =
                        serde_json::from_slice(v).map_err(|e| StorageIOError::read_logs(&e))?;
                    Some(e.log_id)
                }
                _ => None,
            };
            Ok(LogState {
                last_purged_log_id: purged,
                last_log_id: last.or(purged),
            })
        })
        .await
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        let vote = *vote;
        self.blocking(move |db| LogStore::put_json(db, VOTE, &vote))
            .await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.blocking(|db| LogStore::get_json(db, VOTE)).await
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        self.blocking(move |db| LogStore::put_json(db, COMMITTED, &committed))
            .await
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        self.blocking(|db| Ok(LogStore::get_json::<Option<LogId<u64>>>(db, COMMITTED)?.flatten()))
            .await
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let result = self
            .blocking(move |db| {
                let mut batch = WriteBatch::default();
                for e in &entries {
                    let v =
                        serde_json::to_vec(e).map_err(|err| StorageIOError::write_logs(&err))?;
                    batch.put(log_key(e.log_id.index), v);
                }
                db.write_opt(batch, &synced())
                    .map_err(|e| StorageIOError::write_logs(&e).into())
            })
            .await;
        match &result {
            Ok(()) => callback.log_io_completed(Ok(())),
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        result
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.blocking(move |db| {
            let mut batch = WriteBatch::default();
            batch.delete_range(log_key(log_id.index), log_key(u64::MAX));
            batch.delete(log_key(u64::MAX));
            db.write_opt(batch, &synced())
                .map_err(|e| StorageIOError::write_logs(&e).into())
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.blocking(move |db| {
            let mut batch = WriteBatch::default();
            let v = serde_json::to_vec(&log_id).map_err(|e| StorageIOError::write_logs(&e))?;
            batch.put(PURGED, v);
            batch.delete_range(log_key(0), log_key(log_id.index.saturating_add(1)));
            db.write_opt(batch, &synced())
                .map_err(|e| StorageIOError::write_logs(&e).into())
        })
        .await
    }
}
