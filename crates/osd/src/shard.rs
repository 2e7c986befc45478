//! `ShardStore`: a member's side of PGs — applying sub-writes (object change, version,
//! log entry and PG info in one store transaction), reading shards, and answering PG
//! queries. Writes to one PG shard are serialised by a per-collection lock, so the PG
//! info read-modify-write is safe.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use cuttle_objectstore::{CollectionId, ObjectStore, StoreError, Transaction};
use cuttle_proto as pb;
use parking_lot::Mutex;

use crate::error::{OsdError, OsdResult};
use crate::meta::{
    self, LOG_KEEP, LogEntry, NS_INFO, NS_LOG, PgInfo, USER_XATTR, Version, XATTR_SIZE,
    XATTR_VERSION,
};

/// Reads of a shard before a read gives up on an object that writes keep changing.
const READ_ATTEMPTS: usize = 4;

/// A change to apply to one shard.
#[derive(Debug, Clone, Default)]
pub struct ShardWrite {
    /// Object changed; empty for a PG-info-only update.
    pub object: String,
    /// Version of the change.
    pub version: Version,
    /// Logical object size after the change.
    pub object_size: u64,
    /// The operations.
    pub ops: Vec<pb::SubOp>,
    /// Replace the object's whole state (recovery push).
    pub full_state: bool,
    /// Do not log this change (the log comes in `log`).
    pub no_log: bool,
    /// Extra log entries to record.
    pub log: Vec<LogEntry>,
    /// Advance last_update to at least this.
    pub last_update: Version,
    /// The member is being recovered: record the change without advancing its
    /// last_update.
    pub keep_last_update: bool,
    /// A page of a recovery push that more pages follow: the object is recorded at
    /// version zero (nothing takes it for complete) and last_update stays.
    pub incomplete: bool,
    /// A later page of a paged recovery push: applied only while the member's copy is
    /// at version zero (the first page was applied and nothing newer came since).
    pub continues: bool,
}

/// Which omap entries a full-state read returns: those after `after`, until about
/// `max_bytes` of keys and values (always at least one entry; 0: all of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OmapWindow {
    /// Start strictly after this key.
    pub after: Option<Bytes>,
    /// Byte budget of the entries returned.
    pub max_bytes: u64,
}

/// The state of one object shard, as recovery needs it.
#[derive(Debug, Clone, Default)]
pub struct ShardState {
    /// Data bytes (chunk or whole object).
    pub data: Bytes,
    /// Logical object size.
    pub object_size: u64,
    /// Version.
    pub version: Version,
    /// User attributes (without the `u.` prefix).
    pub xattrs: BTreeMap<String, Bytes>,
    /// Omap entries (those of the window asked for).
    pub omap: Vec<(Bytes, Bytes)>,
    /// More omap entries follow the window.
    pub omap_more: bool,
}

/// A member's PG shards on the local store.
#[derive(Debug)]
pub struct ShardStore {
    store: Arc<dyn ObjectStore>,
    locks: Mutex<HashMap<CollectionId, Arc<tokio::sync::Mutex<Option<PgInfo>>>>>,
}

fn user_key(k: &[u8]) -> OsdResult<String> {
    let k = std::str::from_utf8(k)
        .map_err(|_| OsdError::BadRequest("attribute names must be UTF-8".into()))?;
    Ok(format!("{USER_XATTR}{k}"))
}

impl ShardStore {
    /// Shards kept in `store`.
    pub fn new(store: Arc<dyn ObjectStore>) -> ShardStore {
        ShardStore {
            store,
            locks: Mutex::new(HashMap::new()),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    fn lock_of(&self, coll: &CollectionId) -> Arc<tokio::sync::Mutex<Option<PgInfo>>> {
        self.locks
            .lock()
            .entry(coll.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(None)))
            .clone()
    }

    async fn load_info(&self, coll: &CollectionId) -> OsdResult<PgInfo> {
        Ok(
            match self.store.kv_get(NS_INFO, coll.as_str().as_bytes()).await? {
                Some(raw) => serde_json::from_slice(&raw).map_err(|e| {
                    OsdError::Store(StoreError::CorruptRecord {
                        key: format!("pginfo/{coll}"),
                        reason: if e.is_eof() {
                            "truncated"
                        } else {
                            "not valid PG info"
                        },
                    })
                })?,
                None => PgInfo::default(),
            },
        )
    }

    /// The PG info of a shard (zero when the shard is new).
    pub async fn info(&self, coll: &CollectionId) -> OsdResult<PgInfo> {
        let lock = self.lock_of(coll);
        let mut cached = lock.lock().await;
        if let Some(i) = *cached {
            return Ok(i);
        }
        let i = self.load_info(coll).await?;
        *cached = Some(i);
        Ok(i)
    }

    /// Applies a change durably. Creates the collection on first use.
    pub async fn apply(&self, coll: &CollectionId, w: ShardWrite) -> OsdResult<()> {
        let lock = self.lock_of(coll);
        let mut cached = lock.lock().await;
        let mut info = match *cached {
            Some(i) => i,
            None => self.load_info(coll).await?,
        };
        let mut t = Transaction::new();
        if !self.store.collection_exists(coll).await? {
            t.create_collection(coll);
        }
        let mut entries = w.log.clone();
        // A recovery push older than what the member already holds (a client write
        // reached it first) must not go back in time.
        let stale_push = !w.object.is_empty()
            && if w.full_state {
                matches!(self.object_meta(coll, &w.object).await, Ok((v, _, _)) if v > w.version)
            } else if w.continues {
                !matches!(self.object_meta(coll, &w.object).await, Ok((v, _, _)) if v == Version::ZERO)
            } else {
                false
            };
        let recorded_version = if w.incomplete {
            Version::ZERO
        } else {
            w.version
        };
        if !w.object.is_empty() && !stale_push {
            let obj = w.object.as_str();
            if w.full_state {
                t.remove(coll, obj);
            }
            let mut removed = false;
            for op in &w.ops {
                match &op.op {
                    Some(pb::sub_op::Op::WriteFull(d)) => {
                        t.write_full(coll, obj, d.clone());
                        removed = false;
                    }
                    Some(pb::sub_op::Op::Remove(_)) => {
                        t.remove(coll, obj);
                        removed = true;
                    }
                    Some(pb::sub_op::Op::SetXattr(kv)) => {
                        t.set_attr(coll, obj, &user_key(&kv.key)?, kv.value.clone());
                    }
                    Some(pb::sub_op::Op::RmXattr(k)) => {
                        t.rm_attr(coll, obj, &user_key(k)?);
                    }
                    Some(pb::sub_op::Op::OmapSet(s)) => {
                        let entries = s
                            .entries
                            .iter()
                            .map(|e| (e.key.clone(), e.value.clone()))
                            .collect();
                        t.omap_set(coll, obj, entries);
                    }
                    Some(pb::sub_op::Op::OmapRm(k)) => {
                        t.omap_remove(coll, obj, k.keys.clone());
                    }
                    Some(pb::sub_op::Op::OmapClear(_)) => {
                        t.omap_clear(coll, obj);
                    }
                    None => return Err(OsdError::BadRequest("empty sub-operation".into())),
                }
            }
            if !removed {
                t.set_attr(
                    coll,
                    obj,
                    XATTR_VERSION,
                    Bytes::copy_from_slice(&recorded_version.to_bytes()),
                );
                t.set_attr(
                    coll,
                    obj,
                    XATTR_SIZE,
                    Bytes::copy_from_slice(&meta::size_bytes(w.object_size)),
                );
            }
            if !w.no_log {
                entries.push(LogEntry {
                    version: w.version,
                    object: w.object.clone(),
                    delete: removed,
                });
            }
            if !w.keep_last_update && !w.incomplete {
                info.last_update = info.last_update.max(w.version);
            }
        }
        for e in &entries {
            let raw =
                serde_json::to_vec(e).map_err(|_| OsdError::BadRequest("log entry".into()))?;
            t.kv_set(
                NS_LOG,
                Bytes::from(meta::log_key(coll, e.version)),
                Bytes::from(raw),
            );
            if !w.keep_last_update {
                info.last_update = info.last_update.max(e.version);
            }
        }
        info.log_len += entries.len() as u64;
        info.last_update = info.last_update.max(w.last_update);
        if info.log_len > LOG_KEEP + LOG_KEEP / 4 {
            self.trim(coll, &mut info, &mut t).await?;
        }
        let raw = serde_json::to_vec(&info).map_err(|_| OsdError::BadRequest("pg info".into()))?;
        t.kv_set(
            NS_INFO,
            Bytes::copy_from_slice(coll.as_str().as_bytes()),
            Bytes::from(raw),
        );
        self.store.queue_transaction(t).await?;
        *cached = Some(info);
        Ok(())
    }

    /// Drops the oldest log entries so `LOG_KEEP` remain.
    async fn trim(
        &self,
        coll: &CollectionId,
        info: &mut PgInfo,
        t: &mut Transaction,
    ) -> OsdResult<()> {
        let drop = info.log_len.saturating_sub(LOG_KEEP) as usize;
        let prefix = meta::log_prefix(coll);
        let page = self
            .store
            .kv_list(NS_LOG, Some(&prefix[..prefix.len() - 1]), drop)
            .await?;
        let mut last = None;
        for (k, _) in page
            .items
            .iter()
            .take_while(|(k, _)| k.starts_with(&prefix))
        {
            last = Version::from_bytes(&k[prefix.len()..]);
        }
        if let Some(v) = last {
            let mut end = meta::log_key(coll, v);
            end.push(0);
            t.kv_remove_range(NS_LOG, Bytes::from(prefix), Bytes::from(end));
            info.log_tail = v;
            info.log_len = info.log_len.saturating_sub(drop as u64);
        }
        Ok(())
    }

    /// Deletes these objects of a shard in one transaction (stray removal; no log).
    pub async fn remove_objects(&self, coll: &CollectionId, names: &[String]) -> OsdResult<()> {
        let lock = self.lock_of(coll);
        let _guard = lock.lock().await;
        let mut t = Transaction::new();
        for n in names {
            t.remove(coll, n);
        }
        self.store.queue_transaction(t).await?;
        Ok(())
    }

    /// Deletes an emptied shard: its PG info, its log and its collection.
    pub async fn drop_shard(&self, coll: &CollectionId) -> OsdResult<()> {
        let lock = self.lock_of(coll);
        let mut cached = lock.lock().await;
        let prefix = meta::log_prefix(coll);
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let mut t = Transaction::new();
        t.kv_remove(NS_INFO, Bytes::copy_from_slice(coll.as_str().as_bytes()));
        t.kv_remove_range(NS_LOG, Bytes::from(prefix), Bytes::from(end));
        if self.store.collection_exists(coll).await? {
            t.remove_collection(coll);
        }
        self.store.queue_transaction(t).await?;
        *cached = None;
        Ok(())
    }

    /// Log entries newer than `after`, oldest first.
    pub async fn log_since(&self, coll: &CollectionId, after: Version) -> OsdResult<Vec<LogEntry>> {
        let prefix = meta::log_prefix(coll);
        let mut out = Vec::new();
        let mut cursor = meta::log_key(coll, after);
        loop {
            let page = self.store.kv_list(NS_LOG, Some(&cursor), 1000).await?;
            for (k, v) in &page.items {
                if !k.starts_with(&prefix) {
                    return Ok(out);
                }
                if let Ok(e) = serde_json::from_slice::<LogEntry>(v) {
                    out.push(e);
                }
            }
            match page.items.last() {
                Some((k, _)) if page.more => cursor = k.to_vec(),
                _ => return Ok(out),
            }
        }
    }

    /// The version and size recorded on a shard's object.
    pub async fn object_meta(
        &self,
        coll: &CollectionId,
        object: &str,
    ) -> OsdResult<(Version, u64, BTreeMap<String, Bytes>)> {
        let attrs = match self.store.get_attrs(coll, object).await {
            Ok(a) => a,
            Err(StoreError::NoSuchObject { .. } | StoreError::NoSuchCollection(_)) => {
                return Err(OsdError::NoSuchObject(object.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let version = attrs
            .get(XATTR_VERSION)
            .and_then(|b| Version::from_bytes(b))
            .unwrap_or_default();
        let size = attrs
            .get(XATTR_SIZE)
            .and_then(|b| meta::size_from(b))
            .unwrap_or(0);
        let user = attrs
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix(USER_XATTR).map(|k| (k.to_string(), v)))
            .collect();
        Ok((version, size, user))
    }

    /// Reads a shard's object bytes (and, for recovery, its whole state, with the omap
    /// entries of the window given), all of one version: when a write lands while it
    /// reads, it reads again ([`READ_ATTEMPTS`] times at most, then
    /// [`OsdError::Changing`]).
    pub async fn read(
        &self,
        coll: &CollectionId,
        object: &str,
        offset: u64,
        len: u64,
        full: Option<&OmapWindow>,
    ) -> OsdResult<ShardState> {
        for _ in 0..READ_ATTEMPTS {
            let state = self.read_once(coll, object, offset, len, full).await?;
            // The metadata and the data are separate reads of the store: a write that
            // landed between them would pair one version's number with another's
            // bytes (a direct read checks pieces by that number). Unchanged after the
            // data, the version is the one the data belongs to.
            let (now, _, _) = self.object_meta(coll, object).await?;
            if now == state.version {
                return Ok(state);
            }
        }
        Err(OsdError::Changing(object.to_string()))
    }

    /// [`ShardStore::read`] without the check that no write landed meanwhile.
    async fn read_once(
        &self,
        coll: &CollectionId,
        object: &str,
        offset: u64,
        len: u64,
        full: Option<&OmapWindow>,
    ) -> OsdResult<ShardState> {
        let (version, object_size, xattrs) = self.object_meta(coll, object).await?;
        let len = if len == 0 { u64::MAX } else { len };
        let data = self.store.read(coll, object, offset, len).await?;
        let mut omap = Vec::new();
        let mut omap_more = false;
        if let Some(window) = full {
            let mut after = window.after.clone();
            let mut bytes = 0u64;
            'pages: loop {
                let page = self
                    .store
                    .omap_list(coll, object, b"", after.as_deref(), None, 1000)
                    .await?;
                let mut items = page.items.into_iter().peekable();
                while let Some((k, v)) = items.next() {
                    bytes += (k.len() + v.len()) as u64;
                    omap.push((k, v));
                    if window.max_bytes > 0 && bytes >= window.max_bytes {
                        omap_more = items.peek().is_some() || page.more;
                        break 'pages;
                    }
                }
                if !page.more {
                    break;
                }
                after = omap.last().map(|(k, _)| k.clone());
            }
        }
        Ok(ShardState {
            data,
            object_size,
            version,
            xattrs,
            omap,
            omap_more,
        })
    }

    /// Object names of a shard after `after`.
    pub async fn list(
        &self,
        coll: &CollectionId,
        after: Option<&str>,
        max: usize,
    ) -> OsdResult<(Vec<String>, bool)> {
        match self.store.list(coll, after, max).await {
            Ok(p) => Ok((p.items, p.more)),
            Err(StoreError::NoSuchCollection(_)) => Ok((Vec::new(), false)),
            Err(e) => Err(e.into()),
        }
    }

    /// Every object of a shard with its version and logical size.
    pub async fn versions(
        &self,
        coll: &CollectionId,
    ) -> OsdResult<BTreeMap<String, (Version, u64)>> {
        let mut out = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let (names, more) = self.list(coll, after.as_deref(), 1000).await?;
            for n in &names {
                let v = match self.object_meta(coll, n).await {
                    Ok((v, size, _)) => (v, size),
                    Err(OsdError::NoSuchObject(_)) => continue,
                    Err(e) => return Err(e),
                };
                out.insert(n.clone(), v);
            }
            if !more {
                return Ok(out);
            }
            after = names.last().cloned();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use cuttle_objectstore::MemStore;

    fn omap_write(object: &str, version: Version, entries: &[(&str, &str)]) -> ShardWrite {
        ShardWrite {
            object: object.to_string(),
            version,
            ops: vec![pb::SubOp {
                op: Some(pb::sub_op::Op::OmapSet(pb::OmapSet {
                    entries: entries
                        .iter()
                        .map(|(k, v)| pb::KeyValue {
                            key: Bytes::copy_from_slice(k.as_bytes()),
                            value: Bytes::copy_from_slice(v.as_bytes()),
                        })
                        .collect(),
                })),
            }],
            no_log: true,
            ..ShardWrite::default()
        }
    }

    /// The three kinds of page a paged recovery push sends.
    fn pages(object: &str, version: Version) -> [ShardWrite; 3] {
        let first = ShardWrite {
            full_state: true,
            incomplete: true,
            ..omap_write(object, version, &[("a", "old-a")])
        };
        let middle = ShardWrite {
            incomplete: true,
            continues: true,
            ..omap_write(object, version, &[("b", "old-b")])
        };
        let last = ShardWrite {
            continues: true,
            ..omap_write(object, version, &[("c", "old-c")])
        };
        [first, middle, last]
    }

    async fn state(s: &ShardStore, coll: &CollectionId, object: &str) -> ShardState {
        s.read(coll, object, 0, 0, Some(&OmapWindow::default()))
            .await
            .unwrap()
    }

    fn keys(st: &ShardState) -> Vec<&[u8]> {
        st.omap.iter().map(|(k, _)| k.as_ref()).collect()
    }

    #[tokio::test]
    async fn a_paged_push_is_version_zero_until_its_last_page_and_never_goes_back_in_time() {
        let s = ShardStore::new(Arc::new(MemStore::new(1 << 30)));
        let coll = CollectionId::new("1.0").unwrap();
        let old = Version::ZERO.next(3);
        let new = old.next(4);

        // A member without the object: version zero until the last page lands.
        let [first, middle, last] = pages("p", old);
        s.apply(&coll, first).await.unwrap();
        assert_eq!(state(&s, &coll, "p").await.version, Version::ZERO);
        s.apply(&coll, middle).await.unwrap();
        assert_eq!(state(&s, &coll, "p").await.version, Version::ZERO);
        s.apply(&coll, last).await.unwrap();
        let st = state(&s, &coll, "p").await;
        assert_eq!(st.version, old);
        assert_eq!(keys(&st), [b"a", b"b", b"c"]);

        // Windows: a budget of one entry's bytes returns one entry and says more follow.
        let window = OmapWindow {
            after: Some(Bytes::from_static(b"a")),
            max_bytes: 1,
        };
        let page = s.read(&coll, "p", 0, 0, Some(&window)).await.unwrap();
        assert_eq!((keys(&page), page.omap_more), (vec![&b"b"[..]], true));

        // A member that already holds a newer version keeps it: every page is dropped.
        s.apply(&coll, omap_write("q", new, &[("z", "new-z")]))
            .await
            .unwrap();
        for page in pages("q", old) {
            s.apply(&coll, page).await.unwrap();
        }
        let st = state(&s, &coll, "q").await;
        assert_eq!(st.version, new);
        assert_eq!(keys(&st), [b"z"]);
    }

    /// A store that commits queued transactions, one per data read, just before that
    /// read: a write landing between a shard read's metadata and its data.
    #[derive(Debug)]
    struct WriteBeforeRead {
        inner: MemStore,
        pending: Mutex<std::collections::VecDeque<Transaction>>,
    }

    type Fut<'a, T> = futures::future::BoxFuture<'a, cuttle_objectstore::StoreResult<T>>;

    impl ObjectStore for WriteBeforeRead {
        fn queue_transaction(&self, txn: Transaction) -> Fut<'_, ()> {
            self.inner.queue_transaction(txn)
        }
        fn read<'a>(
            &'a self,
            coll: &'a CollectionId,
            name: &'a str,
            offset: u64,
            len: u64,
        ) -> Fut<'a, Bytes> {
            Box::pin(async move {
                let landing = self.pending.lock().pop_front();
                if let Some(txn) = landing {
                    self.inner.queue_transaction(txn).await?;
                }
                self.inner.read(coll, name, offset, len).await
            })
        }
        fn stat<'a>(
            &'a self,
            coll: &'a CollectionId,
            name: &'a str,
        ) -> Fut<'a, cuttle_objectstore::ObjectStat> {
            self.inner.stat(coll, name)
        }
        fn get_attrs<'a>(
            &'a self,
            coll: &'a CollectionId,
            name: &'a str,
        ) -> Fut<'a, BTreeMap<String, Bytes>> {
            self.inner.get_attrs(coll, name)
        }
        fn list<'a>(
            &'a self,
            coll: &'a CollectionId,
            after: Option<&'a str>,
            max: usize,
        ) -> Fut<'a, cuttle_objectstore::Page<String>> {
            self.inner.list(coll, after, max)
        }
        fn omap_get<'a>(
            &'a self,
            coll: &'a CollectionId,
            name: &'a str,
            keys: &'a [Bytes],
        ) -> Fut<'a, BTreeMap<Bytes, Bytes>> {
            self.inner.omap_get(coll, name, keys)
        }
        fn omap_list<'a>(
            &'a self,
            coll: &'a CollectionId,
            name: &'a str,
            prefix: &'a [u8],
            after: Option<&'a [u8]>,
            end: Option<&'a [u8]>,
            max: usize,
        ) -> Fut<'a, cuttle_objectstore::Page<(Bytes, Bytes)>> {
            self.inner.omap_list(coll, name, prefix, after, end, max)
        }
        fn list_collections(&self) -> Fut<'_, Vec<CollectionId>> {
            self.inner.list_collections()
        }
        fn collection_exists<'a>(&'a self, coll: &'a CollectionId) -> Fut<'a, bool> {
            self.inner.collection_exists(coll)
        }
        fn kv_get<'a>(&'a self, ns: &'a str, key: &'a [u8]) -> Fut<'a, Option<Bytes>> {
            self.inner.kv_get(ns, key)
        }
        fn kv_list<'a>(
            &'a self,
            ns: &'a str,
            after: Option<&'a [u8]>,
            max: usize,
        ) -> Fut<'a, cuttle_objectstore::Page<(Bytes, Bytes)>> {
            self.inner.kv_list(ns, after, max)
        }
        fn statfs(&self) -> cuttle_objectstore::StatFs {
            self.inner.statfs()
        }
    }

    /// A shard object's data and version, as one transaction (what a sub-write of a
    /// whole object commits).
    fn version_write(coll: &CollectionId, name: &str, v: Version, data: &[u8]) -> Transaction {
        let mut t = Transaction::new();
        t.write_full(coll, name, Bytes::copy_from_slice(data))
            .set_attr(
                coll,
                name,
                XATTR_VERSION,
                Bytes::copy_from_slice(&v.to_bytes()),
            )
            .set_attr(
                coll,
                name,
                XATTR_SIZE,
                Bytes::copy_from_slice(&meta::size_bytes(data.len() as u64)),
            );
        t
    }

    /// Versions 1.. of one object and their bytes; `landing` of them (from the second)
    /// are queued to land one before each data read.
    async fn racing(landing: usize) -> (ShardStore, CollectionId, Vec<(Version, Vec<u8>)>) {
        let coll = CollectionId::new("1.0").unwrap();
        let versions: Vec<(Version, Vec<u8>)> = (1..=6u64)
            .map(|i| (Version { epoch: 1, seq: i }, vec![i as u8; 4096]))
            .collect();
        let store = WriteBeforeRead {
            inner: MemStore::new(1 << 30),
            pending: Mutex::new(
                versions[1..=landing]
                    .iter()
                    .map(|(v, d)| version_write(&coll, "o", *v, d))
                    .collect(),
            ),
        };
        let mut first = Transaction::new();
        first.create_collection(&coll);
        store.inner.queue_transaction(first).await.unwrap();
        let (v, d) = &versions[0];
        store
            .inner
            .queue_transaction(version_write(&coll, "o", *v, d))
            .await
            .unwrap();
        (ShardStore::new(Arc::new(store)), coll, versions)
    }

    /// A write landing between the metadata and the data read must not pair the old
    /// version's number with the new bytes: a direct read trusts that number (an EC
    /// read mixing two versions' chunks was seen under racing overwrites).
    #[tokio::test]
    async fn a_read_never_pairs_one_versions_number_with_anothers_bytes() {
        let (s, coll, versions) = racing(1).await;
        let got = s.read(&coll, "o", 0, 0, None).await.unwrap();
        let (v2, d2) = &versions[1];
        assert_eq!(got.version, *v2, "the version the bytes belong to");
        assert_eq!(got.data.as_ref(), d2.as_slice());
        assert_eq!(got.object_size, d2.len() as u64);
    }

    /// Writes landing before every attempt: the read gives up with a retryable error
    /// rather than answering with bytes of no stated version.
    #[tokio::test]
    async fn a_read_that_never_sees_one_version_whole_fails_to_be_retried() {
        let (s, coll, _) = racing(READ_ATTEMPTS + 1).await;
        let err = s.read(&coll, "o", 0, 0, None).await.unwrap_err();
        assert!(matches!(err, OsdError::Changing(_)), "{err}");
        assert_eq!(err.to_status().code(), tonic::Code::Unavailable);
    }
}
