//! fsck against planted corruption: each test damages one thing directly in the
//! store's metadata (RocksDB records, the in-memory allocator) or on the data device,
//! and checks that fsck reports exactly that problem — its kind and its location — and
//! nothing else, and that an undamaged store reports nothing.
//!
//! These are unit tests (not in `tests/`) because planting needs the private key
//! layout and the live allocator; nothing here is part of the public API.
#![allow(clippy::unwrap_used)]

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use bytes::Bytes;
use tempfile::TempDir;
use uuid::Uuid;

use super::{DiskStore, FsckIssue, MkfsOptions, OpenOptions, StoreConfig, keys};
use crate::alloc::Extent;
use crate::device::BLOCK_SIZE;
use crate::error::StoreError;
use crate::freelist::Toggles;
use crate::ids::CollectionId;
use crate::onode::{DataExtent, Onode};
use crate::store::ObjectStore;
use crate::txn::Transaction;

const B: u64 = BLOCK_SIZE as u64;
const COLL: &str = "1.0_s0";

fn coll() -> CollectionId {
    CollectionId::new(COLL).unwrap()
}

/// fsck's name of an object of the test collection.
fn fsck_name(name: &str) -> String {
    format!("{COLL}/{name}")
}

/// A store in a temporary directory (removed on drop).
struct Fixture {
    _dir: TempDir,
    device: PathBuf,
    meta: PathBuf,
    fsid: Uuid,
}

impl Fixture {
    /// Formats a 32 MiB store holding three objects: `a` (5 blocks), `b` (3 blocks,
    /// then 1 block partially overwritten) and `c` (2 blocks).
    async fn new() -> (Fixture, DiskStore) {
        let dir = tempfile::tempdir().unwrap();
        let fx = Fixture {
            device: dir.path().join("block"),
            meta: dir.path().join("db"),
            fsid: Uuid::new_v4(),
            _dir: dir,
        };
        let store = DiskStore::mkfs(
            &fx.device,
            &fx.meta,
            &MkfsOptions {
                osd_id: 1,
                fsid: fx.fsid,
                device_uuid: Uuid::new_v4(),
                create_size: Some(32 << 20),
                force: false,
            },
            &StoreConfig::default(),
        )
        .await
        .unwrap();
        let mut t = Transaction::new();
        t.create_collection(&coll())
            .write_full(&coll(), "a", data(1, 5 * B))
            .write_full(&coll(), "b", data(2, 3 * B))
            .write_full(&coll(), "c", data(3, 2 * B));
        store.queue_transaction(t).await.unwrap();
        let mut t = Transaction::new();
        t.write(&coll(), "b", B + 100, data(4, 50));
        store.queue_transaction(t).await.unwrap();
        (fx, store)
    }

    /// Closes the store and opens it again (rebuilding the allocator from the bitmap).
    async fn reopen(&self, store: DiskStore) -> DiskStore {
        store.close().await;
        DiskStore::open(
            &self.device,
            &self.meta,
            &OpenOptions {
                fsid: Some(self.fsid),
                osd_id: Some(1),
            },
            &StoreConfig::default(),
        )
        .await
        .unwrap()
    }
}

fn data(seed: u8, len: u64) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The committed onode of `name`, straight from RocksDB.
fn onode(store: &DiskStore, name: &str) -> Onode {
    let raw = store
        .core
        .db
        .get(keys::onode_key(&coll(), name))
        .unwrap()
        .unwrap();
    Onode::decode(&raw).unwrap()
}

/// Writes an onode record behind the store's back.
fn plant_onode(store: &DiskStore, name: &str, o: &Onode) {
    store
        .core
        .db
        .put(keys::onode_key(&coll(), name), o.encode())
        .unwrap();
}

/// Flips the freelist bitmap bits of `ext` behind the store's back (as the commit path
/// does, with an XOR merge operand).
fn toggle_bitmap(store: &DiskStore, ext: Extent) {
    let mut t = Toggles::new();
    t.toggle(ext);
    for (k, m) in t.operands() {
        store.core.db.merge(k, m).unwrap();
    }
}

/// The last `blocks` blocks of the highest free extent (free in a fresh store).
fn free_tail(store: &DiskStore, blocks: u64) -> Extent {
    let sh = store.core.shared.lock();
    let last = sh.alloc.free_extents().last().unwrap();
    assert!(last.len >= blocks * B);
    Extent {
        offset: last.end() - blocks * B,
        len: blocks * B,
    }
}

async fn assert_clean(store: &DiskStore) {
    for deep in [false, true] {
        let r = store.fsck(deep).await.unwrap();
        assert!(r.is_clean(), "deep={deep}: {:?}", r.issues);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undamaged_store_reports_nothing() {
    let (fx, store) = Fixture::new().await;
    let r = store.fsck(true).await.unwrap();
    assert!(r.is_clean(), "{:?}", r.issues);
    assert_eq!(r.objects, 3);
    assert_eq!(r.referenced_bytes, 10 * B);
    let store = fx.reopen(store).await;
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leaked_extent_is_reported_where_it_is() {
    let (fx, store) = Fixture::new().await;
    // In the durable freelist: three free blocks marked used, owned by no onode.
    let leak = free_tail(&store, 3);
    toggle_bitmap(&store, leak);
    let store = fx.reopen(store).await;
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![FsckIssue::Leaked {
            offset: leak.offset,
            len: leak.len
        }]
    );
    // Undo: clean again.
    toggle_bitmap(&store, leak);
    let store = fx.reopen(store).await;
    assert_clean(&store).await;

    // In the live allocator: two blocks taken out of free space but neither marked
    // used nor owned by anything (lost until the next open).
    let lost = free_tail(&store, 2);
    assert!(store.core.shared.lock().alloc.reserve(lost));
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![FsckIssue::Unaccounted {
            offset: lost.offset,
            len: lost.len
        }]
    );
    // A reopen rebuilds the allocator from the bitmap: the space is back.
    let store = fx.reopen(store).await;
    assert_clean(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocks_referenced_twice_are_reported_where_they_are() {
    let (fx, store) = Fixture::new().await;
    // Two onodes: `dup` claims `a`'s blocks (same extents, its own nid).
    let a = onode(&store, "a");
    assert_eq!(a.extents.len(), 1, "{a:?}");
    let shared = a.extents[0].device_extent();
    let mut dup = a.clone();
    dup.nid = 1000;
    plant_onode(&store, "dup", &dup);
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![FsckIssue::ExtentReferencedTwice {
            object: fsck_name("a"),
            other: fsck_name("dup"),
            offset: shared.offset,
            len: shared.len,
        }]
    );
    store
        .core
        .db
        .delete(keys::onode_key(&coll(), "dup"))
        .unwrap();
    assert_clean(&store).await;

    // One onode whose two extents share a block: `self` maps logical blocks 0 and 1 to
    // the same device block, which the bitmap marks used (so nothing else is wrong).
    let blk = free_tail(&store, 1);
    toggle_bitmap(&store, blk);
    let crc = crc32c::crc32c(&[0u8; BLOCK_SIZE]);
    let mut twice = Onode::new(1001);
    twice.size = 2 * B;
    for logical in [0, B] {
        twice.insert(DataExtent {
            logical,
            device: blk.offset,
            crcs: vec![crc],
        });
    }
    plant_onode(&store, "self", &twice);
    let store = fx.reopen(store).await;
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![FsckIssue::ExtentReferencedTwice {
            object: fsck_name("self"),
            other: fsck_name("self"),
            offset: blk.offset,
            len: B,
        }]
    );

    // An extent starting inside a longer one that also covers a third: both overlaps
    // are found, not just the one between neighbours in offset order.
    store
        .core
        .db
        .delete(keys::onode_key(&coll(), "self"))
        .unwrap();
    let a = onode(&store, "a").extents[0].clone(); // 5 blocks
    let mut inner = Onode::new(1002);
    inner.size = 3 * B;
    inner.insert(DataExtent {
        logical: 0,
        device: a.device + B,
        crcs: a.crcs[1..2].to_vec(),
    });
    inner.insert(DataExtent {
        logical: 2 * B,
        device: a.device + 3 * B,
        crcs: a.crcs[3..4].to_vec(),
    });
    plant_onode(&store, "inner", &inner);
    toggle_bitmap(&store, blk); // `self` is gone: its block is free again
    let store = fx.reopen(store).await;
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![
            FsckIssue::ExtentReferencedTwice {
                object: fsck_name("a"),
                other: fsck_name("inner"),
                offset: a.device + B,
                len: B,
            },
            FsckIssue::ExtentReferencedTwice {
                object: fsck_name("a"),
                other: fsck_name("inner"),
                offset: a.device + 3 * B,
                len: B,
            },
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_and_used_overlapping_is_reported_where_it_is() {
    let (fx, store) = Fixture::new().await;
    // Live: the allocator is handed `c`'s blocks back although the bitmap (rightly)
    // marks them used: it would give them to the next write.
    let c = onode(&store, "c").extents[0].device_extent();
    store.core.shared.lock().alloc.release(c).unwrap();
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![FsckIssue::FreeSpaceOverlapsUsed {
            offset: c.offset,
            len: c.len
        }]
    );
    assert!(store.core.shared.lock().alloc.reserve(c));
    assert_clean(&store).await;

    // Durable: `b`'s first extent is marked free in the bitmap; after a reopen the
    // allocator (built from it) holds it as free too.
    let b = onode(&store, "b");
    let ext = b.extents[0].device_extent();
    toggle_bitmap(&store, ext);
    let store = fx.reopen(store).await;
    let r = store.fsck(false).await.unwrap();
    assert_eq!(
        r.issues,
        vec![FsckIssue::UsedButMarkedFree {
            object: fsck_name("b"),
            offset: ext.offset,
            len: ext.len
        }]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_data_byte_is_found_by_deep_fsck_only() {
    let (fx, store) = Fixture::new().await;
    let a = onode(&store, "a").extents[0].clone();
    store.close().await;
    {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fx.device)
            .unwrap();
        let at = a.device + 2 * B + 1234;
        let mut byte = [0u8; 1];
        f.seek(SeekFrom::Start(at)).unwrap();
        std::io::Read::read_exact(&mut f, &mut byte).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&[byte[0] ^ 0x01]).unwrap();
        f.sync_all().unwrap();
    }
    let store = DiskStore::open(
        &fx.device,
        &fx.meta,
        &OpenOptions::default(),
        &StoreConfig::default(),
    )
    .await
    .unwrap();
    let shallow = store.fsck(false).await.unwrap();
    assert!(
        shallow.is_clean(),
        "metadata is intact: {:?}",
        shallow.issues
    );
    let deep = store.fsck(true).await.unwrap();
    assert_eq!(
        deep.issues,
        vec![FsckIssue::Checksum {
            object: fsck_name("a"),
            offset: 2 * B
        }]
    );
    let read = store.read(&coll(), "a", 0, u64::MAX).await;
    assert!(
        matches!(read, Err(StoreError::Checksum { offset, .. }) if offset == 2 * B),
        "{read:?}"
    );
}
