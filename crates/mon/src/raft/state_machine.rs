//! `StateMachine`: openraft's view of [`MonState`]. The state lives in memory; a
//! snapshot (the whole state as JSON) is persisted in RocksDB whenever openraft builds
//! or installs one, and loaded at start-up, after which openraft re-applies the
//! committed log entries that follow it.
//!
//! Every applied entry publishes the new state on a watch channel, which feeds map
//! subscriptions and status queries.

use std::io::Cursor;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, StorageIOError,
    StoredMembership,
};
use parking_lot::RwLock;
use rocksdb::DB;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use uuid::Uuid;

use super::{StorageError, TypeConfig};
use crate::state::{MonResponse, MonState};

const SNAPSHOT_KEY: &[u8] = b"s/snapshot";

/// What a snapshot holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmData {
    /// Last log entry applied.
    pub last_applied: Option<LogId<u64>>,
    /// Last membership applied.
    pub membership: StoredMembership<u64, BasicNode>,
    /// The monitors' state.
    pub mon: MonState,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

#[derive(Debug)]
struct Inner {
    data: RwLock<SmData>,
    db: Arc<DB>,
    published: watch::Sender<Arc<MonState>>,
    snapshots_built: AtomicU64,
}

/// The monitors' state machine. Cheap to clone.
#[derive(Debug, Clone)]
pub struct StateMachine {
    inner: Arc<Inner>,
}

/// Why the state machine cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// RocksDB failed.
    #[error("reading the monitor store: {0}")]
    Db(#[from] rocksdb::Error),
    /// The stored snapshot does not decode.
    #[error("the monitor store holds a damaged snapshot: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The store belongs to another cluster.
    #[error("the monitor store belongs to cluster {found}, not {expected}")]
    WrongCluster {
        /// Configured fsid.
        expected: Uuid,
        /// Stored fsid.
        found: Uuid,
    },
}

impl StateMachine {
    /// Loads the last snapshot from `db`, or starts a new cluster `fsid`.
    pub fn open(db: Arc<DB>, fsid: Uuid) -> Result<StateMachine, OpenError> {
        let data = match db.get(SNAPSHOT_KEY)? {
            Some(raw) => {
                let stored: StoredSnapshot = serde_json::from_slice(&raw)?;
                let data: SmData = serde_json::from_slice(&stored.data)?;
                if data.mon.map.fsid != fsid {
                    return Err(OpenError::WrongCluster {
                        expected: fsid,
                        found: data.mon.map.fsid,
                    });
                }
                data
            }
            None => SmData {
                last_applied: None,
                membership: StoredMembership::default(),
                mon: MonState::new(fsid),
            },
        };
        let (published, _) = watch::channel(Arc::new(data.mon.clone()));
        Ok(StateMachine {
            inner: Arc::new(Inner {
                data: RwLock::new(data),
                db,
                published,
                snapshots_built: AtomicU64::new(0),
            }),
        })
    }

    /// Follows the applied state.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MonState>> {
        self.inner.published.subscribe()
    }

    /// The state as of the last applied entry.
    pub fn current(&self) -> Arc<MonState> {
        self.inner.published.borrow().clone()
    }

    /// Index of the last applied entry.
    pub fn last_applied_index(&self) -> u64 {
        self.inner.data.read().last_applied.map_or(0, |l| l.index)
    }

    fn persist(&self, stored: &StoredSnapshot) -> Result<(), StorageError> {
        let raw = serde_json::to_vec(stored)
            .map_err(|e| StorageIOError::write_snapshot(Some(stored.meta.signature()), &e))?;
        self.inner
            .db
            .put(SNAPSHOT_KEY, raw)
            .map_err(|e| StorageIOError::write_snapshot(Some(stored.meta.signature()), &e).into())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_applied, membership) = {
            let d = self.inner.data.read();
            let raw =
                serde_json::to_vec(&*d).map_err(|e| StorageIOError::read_state_machine(&e))?;
            (raw, d.last_applied, d.membership.clone())
        };
        let n = self.inner.snapshots_built.fetch_add(1, Ordering::Relaxed);
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id: format!("{}-{n}", last_applied.map_or(0, |l| l.index)),
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.persist(&stored))
            .await
            .map_err(|e| StorageIOError::write(&e))??;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError> {
        let d = self.inner.data.read();
        Ok((d.last_applied, d.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<MonResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        let snapshot = {
            let mut d = self.inner.data.write();
            for entry in entries {
                d.last_applied = Some(entry.log_id);
                let r = match entry.payload {
                    EntryPayload::Blank => MonResponse::Internal,
                    EntryPayload::Normal(cmd) => d.mon.apply(&cmd),
                    EntryPayload::Membership(m) => {
                        d.membership = StoredMembership::new(Some(entry.log_id), m);
                        MonResponse::Internal
                    }
                };
                responses.push(r);
            }
            Arc::new(d.mon.clone())
        };
        self.inner.published.send_replace(snapshot);
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let raw = snapshot.into_inner();
        let data: SmData = serde_json::from_slice(&raw)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: raw,
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.persist(&stored))
            .await
            .map_err(|e| StorageIOError::write(&e))??;
        let published = Arc::new(data.mon.clone());
        *self.inner.data.write() = data;
        self.inner.published.send_replace(published);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = self.inner.db.clone();
        let raw = tokio::task::spawn_blocking(move || db.get(SNAPSHOT_KEY))
            .await
            .map_err(|e| StorageIOError::read(&e))?
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        let Some(raw) = raw else { return Ok(None) };
        let stored: StoredSnapshot =
            serde_json::from_slice(&raw).map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(Some(Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}
