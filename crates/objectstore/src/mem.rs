//! `MemStore`: the object store kept entirely in memory.
//!
//! It is the reference model of the [`ObjectStore`] semantics (kept deliberately
//! simple: plain maps, whole-byte-vector objects) and a fast store for tests of the
//! layers above. Nothing survives a restart. Each transaction records how to undo every
//! change it makes and rolls back on the first error, so a failed transaction leaves
//! no trace.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use futures::future::BoxFuture;
use parking_lot::Mutex;

use crate::MAX_OBJECT_SIZE;
use crate::error::{StoreError, StoreResult};
use crate::ids::{CollectionId, validate_object_name};
use crate::store::{ObjectStat, ObjectStore, Page, StatFs};
use crate::txn::{Op, Transaction};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct MemObject {
    data: Vec<u8>,
    xattrs: BTreeMap<String, Bytes>,
    omap: BTreeMap<Bytes, Bytes>,
}

type Collection = BTreeMap<String, MemObject>;

#[derive(Debug, Default)]
struct State {
    colls: BTreeMap<CollectionId, Collection>,
    kv: BTreeMap<(String, Bytes), Bytes>,
}

/// What to restore when a transaction fails.
#[derive(Debug, Default)]
struct Undo {
    objects: HashMap<(CollectionId, String), Option<MemObject>>,
    colls: Vec<(CollectionId, Option<Collection>)>,
    kv: Vec<((String, Bytes), Option<Bytes>)>,
}

/// An in-memory object store.
#[derive(Debug, Default)]
pub struct MemStore {
    state: Mutex<State>,
    capacity: u64,
}

impl MemStore {
    /// An empty store reporting `capacity` bytes in `statfs` and refusing writes that
    /// would exceed it.
    pub fn new(capacity: u64) -> MemStore {
        MemStore {
            state: Mutex::new(State::default()),
            capacity,
        }
    }

    fn apply(&self, txn: &Transaction) -> StoreResult<()> {
        let mut st = self.state.lock();
        let mut undo = Undo::default();
        let result = txn
            .ops
            .iter()
            .try_for_each(|op| apply_op(&mut st, &mut undo, op))
            .and_then(|()| {
                let used = used_bytes(&st);
                if used > self.capacity {
                    Err(StoreError::NoSpace {
                        requested: used,
                        free: self.capacity,
                    })
                } else {
                    Ok(())
                }
            });
        if result.is_err() {
            rollback(&mut st, undo);
        }
        result
    }

    fn with_object<T>(
        &self,
        coll: &CollectionId,
        name: &str,
        f: impl FnOnce(&MemObject) -> T,
    ) -> StoreResult<T> {
        let st = self.state.lock();
        let c = st
            .colls
            .get(coll)
            .ok_or_else(|| StoreError::NoSuchCollection(coll.clone()))?;
        let o = c.get(name).ok_or_else(|| StoreError::NoSuchObject {
            coll: coll.clone(),
            name: name.to_string(),
        })?;
        Ok(f(o))
    }
}

fn used_bytes(st: &State) -> u64 {
    st.colls
        .values()
        .flat_map(|c| c.values())
        .map(|o| o.data.len() as u64)
        .sum()
}

fn rollback(st: &mut State, undo: Undo) {
    // Collections first: an object removed from a collection that the transaction then
    // removed goes back into the restored collection.
    for (coll, old) in undo.colls.into_iter().rev() {
        match old {
            Some(c) => {
                st.colls.insert(coll, c);
            }
            None => {
                st.colls.remove(&coll);
            }
        }
    }
    for ((coll, name), old) in undo.objects {
        if let Some(c) = st.colls.get_mut(&coll) {
            match old {
                Some(o) => {
                    c.insert(name, o);
                }
                None => {
                    c.remove(&name);
                }
            }
        }
    }
    for (key, old) in undo.kv.into_iter().rev() {
        match old {
            Some(v) => {
                st.kv.insert(key, v);
            }
            None => {
                st.kv.remove(&key);
            }
        }
    }
}

/// The object, created if missing, after saving its prior state for undo.
fn object_mut<'a>(
    st: &'a mut State,
    undo: &mut Undo,
    coll: &CollectionId,
    name: &str,
) -> StoreResult<&'a mut MemObject> {
    validate_object_name(name)?;
    let c = st
        .colls
        .get_mut(coll)
        .ok_or_else(|| StoreError::NoSuchCollection(coll.clone()))?;
    undo.objects
        .entry((coll.clone(), name.to_string()))
        .or_insert_with(|| c.get(name).cloned());
    Ok(c.entry(name.to_string()).or_default())
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

fn kv_key(ns: &str, key: &Bytes) -> (String, Bytes) {
    (ns.to_string(), key.clone())
}

fn apply_op(st: &mut State, undo: &mut Undo, op: &Op) -> StoreResult<()> {
    match op {
        Op::CreateCollection(c) => {
            if st.colls.contains_key(c) {
                return Err(StoreError::CollectionExists(c.clone()));
            }
            undo.colls.push((c.clone(), None));
            st.colls.insert(c.clone(), Collection::new());
        }
        Op::RemoveCollection(c) => {
            let coll = st
                .colls
                .get(c)
                .ok_or_else(|| StoreError::NoSuchCollection(c.clone()))?;
            if !coll.is_empty() {
                return Err(StoreError::CollectionNotEmpty(c.clone()));
            }
            let old = st.colls.remove(c);
            undo.colls.push((c.clone(), old));
        }
        Op::Touch { coll, name } => {
            object_mut(st, undo, coll, name)?;
        }
        Op::Write {
            coll,
            name,
            offset,
            data,
        } => {
            let end = offset
                .checked_add(data.len() as u64)
                .ok_or(StoreError::ObjectTooLarge {
                    size: u64::MAX,
                    max: MAX_OBJECT_SIZE,
                })?;
            check_size(end)?;
            let o = object_mut(st, undo, coll, name)?;
            if !data.is_empty() {
                let (off, end) = (*offset as usize, end as usize);
                if o.data.len() < end {
                    o.data.resize(end, 0);
                }
                o.data[off..end].copy_from_slice(data);
            }
        }
        Op::WriteFull { coll, name, data } => {
            check_size(data.len() as u64)?;
            object_mut(st, undo, coll, name)?.data = data.to_vec();
        }
        Op::Truncate { coll, name, size } => {
            check_size(*size)?;
            object_mut(st, undo, coll, name)?
                .data
                .resize(*size as usize, 0);
        }
        Op::Remove { coll, name } => {
            let c = st
                .colls
                .get_mut(coll)
                .ok_or_else(|| StoreError::NoSuchCollection(coll.clone()))?;
            let old = c.remove(name);
            undo.objects
                .entry((coll.clone(), name.clone()))
                .or_insert(old);
        }
        Op::Clone { coll, src, dst } => {
            let c = st
                .colls
                .get(coll)
                .ok_or_else(|| StoreError::NoSuchCollection(coll.clone()))?;
            let copy = c
                .get(src)
                .cloned()
                .ok_or_else(|| StoreError::NoSuchObject {
                    coll: coll.clone(),
                    name: src.clone(),
                })?;
            *object_mut(st, undo, coll, dst)? = copy;
        }
        Op::SetAttr {
            coll,
            name,
            key,
            value,
        } => {
            object_mut(st, undo, coll, name)?
                .xattrs
                .insert(key.clone(), value.clone());
        }
        Op::RmAttr { coll, name, key } => {
            object_mut(st, undo, coll, name)?.xattrs.remove(key);
        }
        Op::OmapSet {
            coll,
            name,
            entries,
        } => {
            let o = object_mut(st, undo, coll, name)?;
            for (k, v) in entries {
                o.omap.insert(k.clone(), v.clone());
            }
        }
        Op::OmapRemove { coll, name, keys } => {
            let o = object_mut(st, undo, coll, name)?;
            for k in keys {
                o.omap.remove(k);
            }
        }
        Op::OmapRemoveRange {
            coll,
            name,
            start,
            end,
        } => {
            let o = object_mut(st, undo, coll, name)?;
            o.omap.retain(|k, _| !(k >= start && k < end));
        }
        Op::OmapClear { coll, name } => {
            object_mut(st, undo, coll, name)?.omap.clear();
        }
        Op::KvSet { ns, key, value } => {
            let k = kv_key(ns, key);
            let old = st.kv.insert(k.clone(), value.clone());
            undo.kv.push((k, old));
        }
        Op::KvRemove { ns, key } => {
            let k = kv_key(ns, key);
            let old = st.kv.remove(&k);
            undo.kv.push((k, old));
        }
        Op::KvRemoveRange { ns, start, end } => {
            let doomed: Vec<(String, Bytes)> = st
                .kv
                .range(kv_key(ns, start)..kv_key(ns, end))
                .map(|(k, _)| k.clone())
                .collect();
            for k in doomed {
                let old = st.kv.remove(&k);
                undo.kv.push((k, old));
            }
        }
    }
    Ok(())
}

fn page<T>(mut items: Vec<T>, max: usize) -> Page<T> {
    let more = items.len() > max;
    items.truncate(max);
    Page { items, more }
}

impl ObjectStore for MemStore {
    fn queue_transaction(&self, txn: Transaction) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move { self.apply(&txn) })
    }

    fn read<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, StoreResult<Bytes>> {
        Box::pin(async move {
            self.with_object(coll, name, |o| {
                let size = o.data.len() as u64;
                let start = offset.min(size);
                let end = start.saturating_add(len).min(size);
                Bytes::copy_from_slice(&o.data[start as usize..end as usize])
            })
        })
    }

    fn stat<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<ObjectStat>> {
        Box::pin(async move {
            self.with_object(coll, name, |o| ObjectStat {
                size: o.data.len() as u64,
                allocated: 0,
            })
        })
    }

    fn get_attrs<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<BTreeMap<String, Bytes>>> {
        Box::pin(async move { self.with_object(coll, name, |o| o.xattrs.clone()) })
    }

    fn list<'a>(
        &'a self,
        coll: &'a CollectionId,
        after: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<String>>> {
        Box::pin(async move {
            let st = self.state.lock();
            let c = st
                .colls
                .get(coll)
                .ok_or_else(|| StoreError::NoSuchCollection(coll.clone()))?;
            let items: Vec<String> = c
                .keys()
                .filter(|k| after.is_none_or(|a| k.as_str() > a))
                .take(max.saturating_add(1))
                .cloned()
                .collect();
            Ok(page(items, max))
        })
    }

    fn omap_get<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        keys: &'a [Bytes],
    ) -> BoxFuture<'a, StoreResult<BTreeMap<Bytes, Bytes>>> {
        Box::pin(async move {
            self.with_object(coll, name, |o| {
                keys.iter()
                    .filter_map(|k| o.omap.get(k).map(|v| (k.clone(), v.clone())))
                    .collect()
            })
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
            self.with_object(coll, name, |o| {
                let items: Vec<(Bytes, Bytes)> = o
                    .omap
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix))
                    .filter(|(k, _)| after.is_none_or(|a| k.as_ref() > a))
                    .take_while(|(k, _)| end.is_none_or(|e| k.as_ref() < e))
                    .take(max.saturating_add(1))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                page(items, max)
            })
        })
    }

    fn list_collections(&self) -> BoxFuture<'_, StoreResult<Vec<CollectionId>>> {
        Box::pin(async move { Ok(self.state.lock().colls.keys().cloned().collect()) })
    }

    fn collection_exists<'a>(&'a self, coll: &'a CollectionId) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move { Ok(self.state.lock().colls.contains_key(coll)) })
    }

    fn kv_get<'a>(
        &'a self,
        ns: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<Option<Bytes>>> {
        Box::pin(async move {
            let k = (ns.to_string(), Bytes::copy_from_slice(key));
            Ok(self.state.lock().kv.get(&k).cloned())
        })
    }

    fn kv_list<'a>(
        &'a self,
        ns: &'a str,
        after: Option<&'a [u8]>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<(Bytes, Bytes)>>> {
        Box::pin(async move {
            let st = self.state.lock();
            let items: Vec<(Bytes, Bytes)> = st
                .kv
                .range((ns.to_string(), Bytes::new())..)
                .take_while(|((n, _), _)| n == ns)
                .filter(|((_, k), _)| after.is_none_or(|a| k.as_ref() > a))
                .take(max.saturating_add(1))
                .map(|((_, k), v)| (k.clone(), v.clone()))
                .collect();
            Ok(page(items, max))
        })
    }

    fn statfs(&self) -> StatFs {
        let used = used_bytes(&self.state.lock());
        StatFs {
            total: self.capacity,
            used,
            free: self.capacity.saturating_sub(used),
        }
    }
}
