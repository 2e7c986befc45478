//! Read paths: committed onodes (cache, then RocksDB), object data with checksum
//! verification, and key-range scans.

use std::sync::Arc;

use bytes::Bytes;

use super::{Core, keys};
use crate::device::{AlignedBuf, BLOCK_SIZE};
use crate::error::{StoreError, StoreResult};
use crate::ids::{CollectionId, validate_object_name};
use crate::onode::Onode;

const B: u64 = BLOCK_SIZE as u64;

/// Runs blocking work (RocksDB calls) off the async reactor threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> StoreResult<T> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| StoreError::Closed)?
}

fn decode_onode(key: &[u8], raw: &[u8]) -> StoreResult<Option<Arc<Onode>>> {
    Onode::decode(raw)
        .map(|o| Some(Arc::new(o)))
        .map_err(|e| StoreError::CorruptRecord {
            key: keys::printable(key),
            reason: e.0,
        })
}

/// Loads and decodes an onode from RocksDB. Answered in place when RocksDB can answer
/// from memory (memtable, block cache, bloom filters: the usual case, and always for a
/// new object's "not there"); only a lookup that needs disk I/O goes to a blocking
/// thread. Preparation is serial, so the thread hop saved here is throughput.
pub(super) async fn db_onode(core: &Core, key: Vec<u8>) -> StoreResult<Option<Arc<Onode>>> {
    let mut memory_only = rocksdb::ReadOptions::default();
    memory_only.set_read_tier(rocksdb::ReadTier::BlockCache);
    match core.db.get_pinned_opt(&key, &memory_only) {
        Ok(Some(raw)) => return decode_onode(&key, &raw),
        Ok(None) => return Ok(None),
        Err(e) if e.kind() == rocksdb::ErrorKind::Incomplete => {}
        Err(e) => return Err(StoreError::db("onode get")(e)),
    }
    let db = core.db.clone();
    blocking(
        move || match db.get_pinned(&key).map_err(StoreError::db("onode get"))? {
            Some(raw) => decode_onode(&key, &raw),
            None => Ok(None),
        },
    )
    .await
}

/// The committed onode of `key`, through the cache.
pub(super) async fn committed_onode(core: &Core, key: &[u8]) -> StoreResult<Option<Arc<Onode>>> {
    let generation = {
        let mut sh = core.shared.lock();
        if let Some(o) = sh.cache.get(key) {
            return Ok(Some(o));
        }
        sh.commit_gen
    };
    let loaded = db_onode(core, key.to_vec()).await?;
    if let Some(o) = &loaded {
        let mut sh = core.shared.lock();
        // Cache only if no commit could have changed the key since we looked.
        if sh.commit_gen == generation {
            sh.cache.put(key.to_vec(), o.clone());
        }
    }
    Ok(loaded)
}

/// Fails unless the collection exists (committed).
pub(super) fn check_collection(core: &Core, coll: &CollectionId) -> StoreResult<()> {
    if core.shared.lock().colls.contains(coll) {
        Ok(())
    } else {
        Err(StoreError::NoSuchCollection(coll.clone()))
    }
}

/// The committed onode of an object, or `NoSuchObject`.
pub(super) async fn committed_onode_required(
    core: &Core,
    coll: &CollectionId,
    name: &str,
) -> StoreResult<Arc<Onode>> {
    check_collection(core, coll)?;
    validate_object_name(name)?;
    committed_onode(core, &keys::onode_key(coll, name))
        .await?
        .ok_or_else(|| StoreError::NoSuchObject {
            coll: coll.clone(),
            name: name.to_string(),
        })
}

/// Up to `max` (key, value) rows whose key starts with `prefix`, strictly after
/// `after` when given, in key order.
pub(super) async fn scan(
    core: &Core,
    prefix: Vec<u8>,
    after: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
    max: usize,
) -> StoreResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let db = core.db.clone();
    blocking(move || {
        let mut it = db.raw_iterator();
        match &after {
            Some(a) if a.as_slice() >= prefix.as_slice() => it.seek(a),
            _ => it.seek(&prefix),
        }
        let mut out = Vec::new();
        while out.len() < max {
            let (Some(k), Some(v)) = (it.key(), it.value()) else {
                break;
            };
            if !k.starts_with(&prefix) || end.as_deref().is_some_and(|e| k >= e) {
                break;
            }
            if after.as_deref() != Some(k) {
                out.push((k.to_vec(), v.to_vec()));
            }
            it.next();
        }
        it.status().map_err(StoreError::db("scan"))?;
        Ok(out)
    })
    .await
}

/// Holds a reader's place in the read gate; leaving may release parked extents.
struct GateGuard<'a> {
    core: &'a Core,
    generation: u64,
}

impl<'a> GateGuard<'a> {
    fn enter(core: &'a Core) -> GateGuard<'a> {
        let generation = core.shared.lock().gate.enter();
        GateGuard { core, generation }
    }
}

impl Drop for GateGuard<'_> {
    fn drop(&mut self) {
        let mut sh = self.core.shared.lock();
        let reusable = sh.gate.exit(self.generation);
        self.core.release(&mut sh, reusable);
    }
}

/// A contiguous run of stored blocks to read: logical start, device start, crcs.
struct Piece<'a> {
    logical: u64,
    device: u64,
    crcs: &'a [u32],
}

/// Reads `[offset, offset + len)` of an object (clipped to its size).
pub(super) async fn read(
    core: &Core,
    coll: &CollectionId,
    name: &str,
    offset: u64,
    len: u64,
) -> StoreResult<Bytes> {
    check_collection(core, coll)?;
    validate_object_name(name)?;
    let _guard = GateGuard::enter(core);
    let o = committed_onode(core, &keys::onode_key(coll, name))
        .await?
        .ok_or_else(|| StoreError::NoSuchObject {
            coll: coll.clone(),
            name: name.to_string(),
        })?;
    let start = offset.min(o.size);
    let end = start.saturating_add(len).min(o.size);
    if start == end {
        return Ok(Bytes::new());
    }
    let bstart = start / B * B;
    let bend = end.div_ceil(B) * B;
    let pieces: Vec<Piece<'_>> = o
        .extents
        .iter()
        .filter(|e| e.logical < bend && e.logical_end() > bstart)
        .map(|e| {
            let from = (bstart.max(e.logical) - e.logical) / B;
            let to = (bend.min(e.logical_end()) - e.logical) / B;
            Piece {
                logical: e.logical + from * B,
                device: e.device + from * B,
                crcs: &e.crcs[from as usize..to as usize],
            }
        })
        .collect();
    let reads = pieces.iter().map(|p| {
        core.dev
            .read(p.device, AlignedBuf::for_read(p.crcs.len() * BLOCK_SIZE))
    });
    let bufs = futures::future::try_join_all(reads).await?;
    for (p, buf) in pieces.iter().zip(&bufs) {
        for (i, (block, &expected)) in buf.as_slice().chunks(BLOCK_SIZE).zip(p.crcs).enumerate() {
            let actual = crc32c::crc32c(block);
            if actual != expected {
                return Err(StoreError::Checksum {
                    coll: coll.clone(),
                    name: name.to_string(),
                    offset: p.logical + i as u64 * B,
                    expected,
                    actual,
                });
            }
        }
    }
    // One piece covering the whole range: hand out the device buffer itself.
    if let [p] = pieces.as_slice()
        && p.logical == bstart
        && p.logical + p.crcs.len() as u64 * B >= bend
    {
        let from = (start - bstart) as usize;
        let to = (end - bstart) as usize;
        if let Some(buf) = bufs.into_iter().next() {
            return Ok(Bytes::from_owner(buf).slice(from..to));
        }
        return Ok(Bytes::new());
    }
    let mut out = vec![0u8; (end - start) as usize];
    for (p, buf) in pieces.iter().zip(&bufs) {
        let pstart = p.logical;
        let pend = pstart + buf.len() as u64;
        let from = pstart.max(start);
        let to = pend.min(end);
        if from < to {
            out[(from - start) as usize..(to - start) as usize]
                .copy_from_slice(&buf.as_slice()[(from - pstart) as usize..(to - pstart) as usize]);
        }
    }
    Ok(Bytes::from(out))
}
