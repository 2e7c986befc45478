//! Preparing a transaction: turning its operations into a [`Plan`] — new onode states,
//! freshly allocated extents with their block buffers and crcs, and the metadata
//! batch — without touching durable state. Runs under the store's preparation lock,
//! so transactions are prepared one at a time, in queue order.
//!
//! Each operation works on a private copy of the onodes it touches (loaded from the
//! pending overlay, the onode cache or RocksDB, in that order). Data is never
//! overwritten in place: a write allocates new blocks for the whole block range it
//! covers, filling partial edge blocks from the current content (read-modify-write),
//! and frees the blocks it replaces. On any error the allocations are returned and
//! nothing is published.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::read;
use super::{Core, keys};
use crate::MAX_OBJECT_SIZE;
use crate::alloc::{AllocError, Extent};
use crate::device::{AlignedBuf, BLOCK_SIZE};
use crate::error::{StoreError, StoreResult};
use crate::freelist::Toggles;
use crate::ids::{CollectionId, validate_object_name};
use crate::onode::{DataExtent, Onode};
use crate::txn::{Op, Transaction};

const B: u64 = BLOCK_SIZE as u64;

fn down(x: u64) -> u64 {
    x / B * B
}

fn up(x: u64) -> u64 {
    x.div_ceil(B) * B
}

/// A metadata change, applied in order inside one RocksDB batch.
#[derive(Debug, Clone)]
pub(super) enum KvOp {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Everything needed to commit a prepared transaction.
#[derive(Debug)]
pub(super) struct Plan {
    /// Metadata changes other than onodes, in operation order.
    pub kv: Vec<KvOp>,
    /// Freelist bitmap toggles (allocations and frees).
    pub toggles: Toggles,
    /// Final state of every onode the transaction changed.
    pub onodes: Vec<(Vec<u8>, Option<Onode>)>,
    /// Collection existence changes.
    pub colls: Vec<(CollectionId, bool)>,
    /// Device extents the transaction stops using (reusable after commit).
    pub freed: Vec<Extent>,
    /// Data to write before the metadata commits: (device offset, blocks).
    pub writes: Vec<(u64, Arc<AlignedBuf>)>,
    /// New value of the nid counter, when the transaction used nids.
    pub next_nid: Option<u64>,
}

/// Checks a key/value namespace name.
pub(super) fn check_ns(ns: &str) -> StoreResult<()> {
    if ns.is_empty() || ns.len() > keys::MAX_NS_LEN {
        return Err(StoreError::InvalidCollectionName(ns.to_string()));
    }
    CollectionId::new(ns).map(|_| ())
}

/// The collection and name of the object an operation works on (for error reports).
type Obj<'a> = (&'a CollectionId, &'a str);

struct Ctx<'a> {
    core: &'a Core,
    /// Working onode states by key; `None` = absent.
    onodes: HashMap<Vec<u8>, Option<Onode>>,
    /// Keys whose state changed, in first-change order.
    dirty: Vec<Vec<u8>>,
    dirty_set: HashSet<Vec<u8>>,
    colls: HashMap<CollectionId, bool>,
    coll_order: Vec<CollectionId>,
    kv: Vec<KvOp>,
    toggles: Toggles,
    allocated: Vec<Extent>,
    freed: Vec<Extent>,
    writes: Vec<(u64, Arc<AlignedBuf>)>,
    nid_used: bool,
}

/// Prepares `txn`. On error, nothing is left allocated or published.
pub(super) async fn prepare(core: &Core, txn: Transaction) -> StoreResult<Plan> {
    let mut ctx = Ctx {
        core,
        onodes: HashMap::new(),
        dirty: Vec::new(),
        dirty_set: HashSet::new(),
        colls: HashMap::new(),
        coll_order: Vec::new(),
        kv: Vec::new(),
        toggles: Toggles::new(),
        allocated: Vec::new(),
        freed: Vec::new(),
        writes: Vec::new(),
        nid_used: false,
    };
    for op in txn.ops {
        if let Err(e) = ctx.apply(op).await {
            ctx.abort();
            return Err(e);
        }
    }
    Ok(ctx.finish())
}

impl Ctx<'_> {
    fn abort(&mut self) {
        let mut sh = self.core.shared.lock();
        let allocated = std::mem::take(&mut self.allocated);
        self.core.release(&mut sh, allocated);
    }

    fn finish(self) -> Plan {
        let mut onodes = Vec::with_capacity(self.dirty.len());
        let mut states = self.onodes;
        for key in self.dirty {
            let state = states.remove(&key).flatten();
            onodes.push((key, state));
        }
        let next_nid = self.nid_used.then(|| self.core.shared.lock().next_nid);
        let colls = self
            .coll_order
            .into_iter()
            .filter_map(|c| self.colls.get(&c).map(|&e| (c, e)))
            .collect();
        Plan {
            kv: self.kv,
            toggles: self.toggles,
            onodes,
            colls,
            freed: self.freed,
            writes: self.writes,
            next_nid,
        }
    }

    async fn apply(&mut self, op: Op) -> StoreResult<()> {
        match op {
            Op::CreateCollection(c) => {
                if self.coll_exists(&c) {
                    return Err(StoreError::CollectionExists(c));
                }
                self.kv.push(KvOp::Put(keys::coll_key(&c), vec![1]));
                self.set_coll(c, true);
            }
            Op::RemoveCollection(c) => {
                if !self.coll_exists(&c) {
                    return Err(StoreError::NoSuchCollection(c));
                }
                if !self.coll_is_empty(&c).await? {
                    return Err(StoreError::CollectionNotEmpty(c));
                }
                self.kv.push(KvOp::Delete(keys::coll_key(&c)));
                self.set_coll(c, false);
            }
            Op::Touch { coll, name } => {
                let (key, o) = self.take_or_create(&coll, &name).await?;
                self.put(key, Some(o));
            }
            Op::Write {
                coll,
                name,
                offset,
                data,
            } => {
                let (key, mut o) = self.take_or_create(&coll, &name).await?;
                let r = self.write_into((&coll, &name), &mut o, offset, &data).await;
                self.put(key, Some(o));
                r?;
            }
            Op::WriteFull { coll, name, data } => {
                check_size(data.len() as u64)?;
                let (key, mut o) = self.take_or_create(&coll, &name).await?;
                let end = up(o.size).max(o.extents.last().map_or(0, DataExtent::logical_end));
                let freed = o.punch(0, end);
                self.free(freed);
                o.size = 0;
                let r = self.write_into((&coll, &name), &mut o, 0, &data).await;
                self.put(key, Some(o));
                r?;
            }
            Op::Truncate { coll, name, size } => {
                check_size(size)?;
                let (key, mut o) = self.take_or_create(&coll, &name).await?;
                let r = self.truncate((&coll, &name), &mut o, size).await;
                self.put(key, Some(o));
                r?;
            }
            Op::Remove { coll, name } => {
                self.require_coll(&coll)?;
                validate_object_name(&name)?;
                let key = keys::onode_key(&coll, &name);
                self.load(&key).await?;
                if let Some(Some(o)) = self.onodes.get(&key).cloned() {
                    self.destroy(&o);
                }
                self.put(key, None);
            }
            Op::Clone { coll, src, dst } => self.clone_object(&coll, &src, &dst).await?,
            Op::SetAttr {
                coll,
                name,
                key: attr,
                value,
            } => {
                let (key, mut o) = self.take_or_create(&coll, &name).await?;
                o.xattrs.insert(attr, value);
                self.put(key, Some(o));
            }
            Op::RmAttr {
                coll,
                name,
                key: attr,
            } => {
                let (key, mut o) = self.take_or_create(&coll, &name).await?;
                o.xattrs.remove(&attr);
                self.put(key, Some(o));
            }
            Op::OmapSet {
                coll,
                name,
                entries,
            } => {
                let (key, mut o) = self.take_or_create(&coll, &name).await?;
                o.has_omap = true;
                for (k, v) in entries {
                    self.kv
                        .push(KvOp::Put(keys::omap_key(o.nid, &k), v.to_vec()));
                }
                self.put(key, Some(o));
            }
            Op::OmapRemove {
                coll,
                name,
                keys: doomed,
            } => {
                let (key, o) = self.take_or_create(&coll, &name).await?;
                for k in doomed {
                    self.kv.push(KvOp::Delete(keys::omap_key(o.nid, &k)));
                }
                self.put(key, Some(o));
            }
            Op::OmapRemoveRange {
                coll,
                name,
                start,
                end,
            } => {
                let (key, o) = self.take_or_create(&coll, &name).await?;
                if start < end {
                    self.kv.push(KvOp::DeleteRange(
                        keys::omap_key(o.nid, &start),
                        keys::omap_key(o.nid, &end),
                    ));
                }
                self.put(key, Some(o));
            }
            Op::OmapClear { coll, name } => {
                let (key, o) = self.take_or_create(&coll, &name).await?;
                self.clear_omap(o.nid);
                self.put(key, Some(o));
            }
            Op::KvSet { ns, key, value } => {
                check_ns(&ns)?;
                self.kv
                    .push(KvOp::Put(keys::kv_key(&ns, &key), value.to_vec()));
            }
            Op::KvRemove { ns, key } => {
                check_ns(&ns)?;
                self.kv.push(KvOp::Delete(keys::kv_key(&ns, &key)));
            }
            Op::KvRemoveRange { ns, start, end } => {
                check_ns(&ns)?;
                if start < end {
                    self.kv.push(KvOp::DeleteRange(
                        keys::kv_key(&ns, &start),
                        keys::kv_key(&ns, &end),
                    ));
                }
            }
        }
        Ok(())
    }

    // ----- collections -----

    fn coll_exists(&self, c: &CollectionId) -> bool {
        if let Some(&e) = self.colls.get(c) {
            return e;
        }
        let sh = self.core.shared.lock();
        match sh.coll_overlay.get(c) {
            Some(&(e, _)) => e,
            None => sh.colls.contains(c),
        }
    }

    fn require_coll(&self, c: &CollectionId) -> StoreResult<()> {
        if self.coll_exists(c) {
            Ok(())
        } else {
            Err(StoreError::NoSuchCollection(c.clone()))
        }
    }

    fn set_coll(&mut self, c: CollectionId, exists: bool) {
        if !self.colls.contains_key(&c) {
            self.coll_order.push(c.clone());
        }
        self.colls.insert(c, exists);
    }

    /// Whether no object of `c` exists in the state this transaction sees.
    async fn coll_is_empty(&self, c: &CollectionId) -> StoreResult<bool> {
        let prefix = keys::onode_prefix(c);
        let mut gone: HashSet<Vec<u8>> = HashSet::new();
        for (k, state) in &self.onodes {
            if k.starts_with(&prefix) {
                if state.is_some() {
                    return Ok(false);
                }
                gone.insert(k.clone());
            }
        }
        {
            let sh = self.core.shared.lock();
            for (k, p) in &sh.overlay {
                if k.starts_with(&prefix) && !self.onodes.contains_key(k) {
                    if p.onode.is_some() {
                        return Ok(false);
                    }
                    gone.insert(k.clone());
                }
            }
        }
        let db = self.core.db.clone();
        read::blocking(move || {
            let mut it = db.raw_iterator();
            it.seek(&prefix);
            while let Some(k) = it.key() {
                if !k.starts_with(&prefix) {
                    break;
                }
                if !gone.contains(k) {
                    return Ok(false);
                }
                it.next();
            }
            it.status().map_err(StoreError::db("collection scan"))?;
            Ok(true)
        })
        .await
    }

    // ----- onodes -----

    /// Makes sure the working set has the state of `key`.
    async fn load(&mut self, key: &[u8]) -> StoreResult<()> {
        if self.onodes.contains_key(key) {
            return Ok(());
        }
        let known: Option<Option<Onode>> = {
            let mut sh = self.core.shared.lock();
            if let Some(p) = sh.overlay.get(key) {
                Some(p.onode.as_deref().cloned())
            } else {
                sh.cache.get(key).map(|o| Some((*o).clone()))
            }
        };
        let state = match known {
            Some(s) => s,
            None => read::db_onode(self.core, key.to_vec())
                .await?
                .map(|o| (*o).clone()),
        };
        self.onodes.insert(key.to_vec(), state);
        Ok(())
    }

    /// Takes the object's working onode out for modification, creating it if absent.
    /// The caller puts it back with [`put`](Self::put).
    async fn take_or_create(
        &mut self,
        coll: &CollectionId,
        name: &str,
    ) -> StoreResult<(Vec<u8>, Onode)> {
        self.require_coll(coll)?;
        validate_object_name(name)?;
        let key = keys::onode_key(coll, name);
        self.load(&key).await?;
        let existing = self.onodes.get_mut(&key).and_then(Option::take);
        let o = match existing {
            Some(o) => o,
            None => Onode::new(self.new_nid()),
        };
        Ok((key, o))
    }

    fn put(&mut self, key: Vec<u8>, state: Option<Onode>) {
        if self.dirty_set.insert(key.clone()) {
            self.dirty.push(key.clone());
        }
        self.onodes.insert(key, state);
    }

    fn new_nid(&mut self) -> u64 {
        self.nid_used = true;
        let mut sh = self.core.shared.lock();
        let nid = sh.next_nid;
        sh.next_nid += 1;
        nid
    }

    /// Frees everything an object owns (its data and omap).
    fn destroy(&mut self, o: &Onode) {
        let exts: Vec<Extent> = o.device_extents().collect();
        self.free(exts);
        if o.has_omap {
            self.clear_omap(o.nid);
        }
    }

    fn clear_omap(&mut self, nid: u64) {
        self.kv.push(KvOp::DeleteRange(
            keys::omap_prefix(nid),
            keys::omap_prefix(nid + 1),
        ));
    }

    // ----- space -----

    fn allocate(&mut self, len: u64) -> StoreResult<Vec<Extent>> {
        let exts = self
            .core
            .shared
            .lock()
            .alloc
            .allocate(len)
            .map_err(|e| match e {
                AllocError::NoSpace { requested, free } => StoreError::NoSpace { requested, free },
                AllocError::DoubleFree { .. } => StoreError::NoSpace {
                    requested: len,
                    free: 0,
                },
            })?;
        for &e in &exts {
            self.toggles.toggle(e);
        }
        self.allocated.extend(exts.iter().copied());
        Ok(exts)
    }

    fn free(&mut self, exts: Vec<Extent>) {
        for &e in &exts {
            self.toggles.toggle(e);
        }
        self.freed.extend(exts);
    }

    // ----- data -----

    /// Writes `data` at `offset` of `o` (copy-on-write of the covered blocks).
    async fn write_into(
        &mut self,
        obj: Obj<'_>,
        o: &mut Onode,
        offset: u64,
        data: &[u8],
    ) -> StoreResult<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(StoreError::ObjectTooLarge {
                size: u64::MAX,
                max: MAX_OBJECT_SIZE,
            })?;
        check_size(end)?;
        if data.is_empty() {
            return Ok(());
        }
        let bstart = down(offset);
        let bend = up(end);
        // Current content of partially overwritten edge blocks (read-modify-write).
        let head_partial = offset > bstart;
        let head = if head_partial && bstart < o.size {
            self.current_block(obj, o, bstart).await?
        } else {
            None
        };
        let tail_block = bend - B;
        let tail = if end < bend && tail_block < o.size && !(head_partial && tail_block == bstart) {
            self.current_block(obj, o, tail_block).await?
        } else {
            None
        };
        let at = (offset - bstart) as usize;
        let mut buf = AlignedBuf::with_data((bend - bstart) as usize, at, data);
        let edge = (end - bstart) as usize;
        if let Some(h) = &head {
            buf.as_mut_slice()[..at].copy_from_slice(&h.as_slice()[..at]);
            if tail_block == bstart && edge < BLOCK_SIZE {
                buf.as_mut_slice()[edge..BLOCK_SIZE].copy_from_slice(&h.as_slice()[edge..]);
            }
        }
        if let Some(t) = &tail {
            let from = (tail_block - bstart) as usize;
            let len = buf.len();
            buf.as_mut_slice()[edge..len].copy_from_slice(&t.as_slice()[edge - from..len - from]);
        }
        o.size = o.size.max(end);
        self.place(o, bstart, buf)
    }

    /// Cuts or extends `o` to `size`, keeping past-the-end bytes zero on disk.
    async fn truncate(&mut self, obj: Obj<'_>, o: &mut Onode, size: u64) -> StoreResult<()> {
        if size < o.size {
            let keep = up(size);
            let stored_end = o.extents.last().map_or(0, DataExtent::logical_end);
            let freed = o.punch(keep, stored_end.max(keep));
            self.free(freed);
            if !size.is_multiple_of(B) {
                let last = down(size);
                if let Some(block) = self.current_block(obj, o, last).await? {
                    let keep = (size - last) as usize;
                    let buf = AlignedBuf::with_data(BLOCK_SIZE, 0, &block.as_slice()[..keep]);
                    self.place(o, last, buf)?;
                }
            }
        }
        o.size = size;
        Ok(())
    }

    /// Stores `buf` (whole blocks) as the new content of logical `[lstart, ..)`.
    fn place(&mut self, o: &mut Onode, lstart: u64, buf: AlignedBuf) -> StoreResult<()> {
        let len = buf.len() as u64;
        let crcs: Vec<u32> = buf
            .as_slice()
            .chunks(BLOCK_SIZE)
            .map(crc32c::crc32c)
            .collect();
        let exts = self.allocate(len)?;
        let freed = o.punch(lstart, lstart + len);
        self.free(freed);
        if exts.len() == 1 {
            self.add_extent(o, lstart, exts[0], crcs, Arc::new(buf));
            return Ok(());
        }
        let mut done = 0u64;
        for e in exts {
            let from = done as usize;
            let to = (done + e.len) as usize;
            let piece = AlignedBuf::copy_from(&buf.as_slice()[from..to]);
            let piece_crcs = crcs[from / BLOCK_SIZE..to / BLOCK_SIZE].to_vec();
            self.add_extent(o, lstart + done, e, piece_crcs, Arc::new(piece));
            done += e.len;
        }
        Ok(())
    }

    fn add_extent(
        &mut self,
        o: &mut Onode,
        logical: u64,
        e: Extent,
        crcs: Vec<u32>,
        buf: Arc<AlignedBuf>,
    ) {
        o.insert(DataExtent {
            logical,
            device: e.offset,
            crcs,
        });
        self.writes.push((e.offset, buf));
    }

    /// The current content of logical block `lblock` of `o` (`None` for a hole),
    /// verified against its checksum.
    async fn current_block(
        &self,
        at_obj: Obj<'_>,
        o: &Onode,
        lblock: u64,
    ) -> StoreResult<Option<AlignedBuf>> {
        let Some((dev, crc)) = o.block(lblock) else {
            return Ok(None);
        };
        let block = self.read_device(dev, B).await?;
        let actual = crc32c::crc32c(block.as_slice());
        if actual != crc {
            return Err(StoreError::Checksum {
                coll: at_obj.0.clone(),
                name: at_obj.1.to_string(),
                offset: lblock,
                expected: crc,
                actual,
            });
        }
        Ok(Some(block))
    }

    /// Reads device bytes, preferring data of writes not yet committed.
    async fn read_device(&self, dev: u64, len: u64) -> StoreResult<AlignedBuf> {
        let contains =
            |start: u64, buf: &AlignedBuf| start <= dev && dev + len <= start + buf.len() as u64;
        let pending = self
            .writes
            .iter()
            .rev()
            .find(|(s, b)| contains(*s, b))
            .map(|(s, b)| (*s, b.clone()))
            .or_else(|| {
                let sh = self.core.shared.lock();
                sh.pending_data
                    .range(..=dev)
                    .next_back()
                    .filter(|(s, (b, _))| contains(**s, b))
                    .map(|(s, (b, _))| (*s, b.clone()))
            });
        if let Some((start, buf)) = pending {
            let from = (dev - start) as usize;
            return Ok(AlignedBuf::copy_from(
                &buf.as_slice()[from..from + len as usize],
            ));
        }
        Ok(self
            .core
            .dev
            .read(dev, AlignedBuf::for_read(len as usize))
            .await?)
    }

    /// `dst` becomes a copy of `src`: data in new extents, xattrs, omap.
    async fn clone_object(&mut self, coll: &CollectionId, src: &str, dst: &str) -> StoreResult<()> {
        self.require_coll(coll)?;
        validate_object_name(src)?;
        validate_object_name(dst)?;
        let skey = keys::onode_key(coll, src);
        self.load(&skey).await?;
        let Some(Some(source)) = self.onodes.get(&skey).cloned() else {
            return Err(StoreError::NoSuchObject {
                coll: coll.clone(),
                name: src.to_string(),
            });
        };
        if src == dst {
            return Ok(());
        }
        let omap = if source.has_omap {
            self.omap_snapshot(source.nid).await?
        } else {
            Vec::new()
        };
        let (dkey, old) = self.take_or_create(coll, dst).await?;
        self.destroy(&old);
        let mut copy = Onode::new(old.nid);
        copy.size = source.size;
        copy.xattrs = source.xattrs.clone();
        copy.has_omap = !omap.is_empty();
        for ext in &source.extents {
            let data = self.read_device(ext.device, ext.len()).await?;
            let dev = self.allocate(ext.len())?;
            let mut done = 0u64;
            for e in dev {
                let from = done as usize;
                let to = (done + e.len) as usize;
                let piece = if from == 0 && to == data.len() {
                    AlignedBuf::copy_from(data.as_slice())
                } else {
                    AlignedBuf::copy_from(&data.as_slice()[from..to])
                };
                let crcs = ext.crcs[from / BLOCK_SIZE..to / BLOCK_SIZE].to_vec();
                self.add_extent(&mut copy, ext.logical + done, e, crcs, Arc::new(piece));
                done += e.len;
            }
        }
        for (k, v) in omap {
            self.kv.push(KvOp::Put(keys::omap_key(copy.nid, &k), v));
        }
        self.put(dkey, Some(copy));
        Ok(())
    }

    /// The omap of object `nid` as this transaction sees it: committed entries (after
    /// every earlier transaction has committed) with this transaction's changes so far.
    async fn omap_snapshot(&self, nid: u64) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let target = self.core.shared.lock().next_seq.saturating_sub(1);
        let mut rx = self.core.committed.subscribe();
        let _ = rx.wait_for(|&c| c >= target).await;
        let prefix = keys::omap_prefix(nid);
        let rows = read::scan(self.core, prefix.clone(), None, None, usize::MAX).await?;
        let mut map: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = rows.into_iter().collect();
        for op in &self.kv {
            match op {
                KvOp::Put(k, v) if k.starts_with(&prefix) => {
                    map.insert(k.clone(), v.clone());
                }
                KvOp::Delete(k) => {
                    map.remove(k);
                }
                KvOp::DeleteRange(a, b) => {
                    map.retain(|k, _| !(k >= a && k < b));
                }
                KvOp::Put(..) => {}
            }
        }
        Ok(map
            .into_iter()
            .map(|(k, v)| (k[prefix.len()..].to_vec(), v))
            .collect())
    }
}

fn check_size(size: u64) -> StoreResult<()> {
    if size > MAX_OBJECT_SIZE {
        return Err(StoreError::ObjectTooLarge {
            size,
            max: MAX_OBJECT_SIZE,
        });
    }
    Ok(())
}
