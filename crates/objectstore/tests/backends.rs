//! The same workload on both data-device backends — io_uring and the pread/pwrite
//! fallback, each forced through `StoreConfig::backend` — and `Auto` choosing io_uring
//! exactly when the kernel's probe allows it. Each run asserts which backend served it.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Seek, SeekFrom, Write};

use bytes::Bytes;
use common::{TestDisk, pattern};
use cuttle_objectstore::device::{DeviceBackend, uring_support};
use cuttle_objectstore::{CollectionId, DiskStore, ObjectStore, StoreError, Transaction};

const B: usize = 4096;

fn coll() -> CollectionId {
    CollectionId::new("2.7_s1").unwrap()
}

async fn apply(s: &DiskStore, f: impl FnOnce(&mut Transaction)) {
    let mut t = Transaction::new();
    f(&mut t);
    s.queue_transaction(t).await.unwrap();
}

async fn read_all(s: &DiskStore, name: &str) -> Vec<u8> {
    s.read(&coll(), name, 0, u64::MAX).await.unwrap().to_vec()
}

/// Writes, partial-block overwrites, reads (every block's crc32c is verified on read),
/// a remove, a reopen, and a flipped byte that reads must refuse; checks the backend in
/// use after every open.
async fn workload(backend: DeviceBackend) {
    let disk = TestDisk::new(backend);
    let store = disk.mkfs(64 << 20).await;
    assert_eq!(
        store.backend(),
        backend,
        "mkfs opened {}",
        store.backend_name()
    );

    let mut a = pattern(1, 5 * B + 123);
    let b = pattern(2, 2 * B);
    apply(&store, |t| {
        t.create_collection(&coll())
            .write_full(&coll(), "a", Bytes::from(a.clone()))
            .write_full(&coll(), "b", Bytes::from(b.clone()))
            .write_full(&coll(), "gone", Bytes::from(pattern(3, 7000)));
    })
    .await;
    // Overwrites inside one block, across a block boundary, and past the end.
    for (off, len, seed) in [
        (10usize, 20usize, 4u64),
        (B - 7, 30, 5),
        (5 * B + 100, 900, 6),
    ] {
        let patch = pattern(seed, len);
        apply(&store, |t| {
            t.write(&coll(), "a", off as u64, Bytes::from(patch.clone()));
        })
        .await;
        if a.len() < off + len {
            a.resize(off + len, 0);
        }
        a[off..off + len].copy_from_slice(&patch);
    }
    assert_eq!(read_all(&store, "a").await, a);
    assert_eq!(
        store
            .read(&coll(), "a", B as u64 - 7, 30)
            .await
            .unwrap()
            .to_vec(),
        a[B - 7..B + 23]
    );
    apply(&store, |t| {
        t.remove(&coll(), "gone");
    })
    .await;
    let map_b = store.object_map(&coll(), "b").await.unwrap();
    store.close().await;

    // Reopen with the same setting: same backend, same bytes, nothing removed returns.
    let store = disk.open().await;
    assert_eq!(store.backend(), backend, "reopen used {}", store.backend());
    assert_eq!(read_all(&store, "a").await, a);
    assert_eq!(read_all(&store, "b").await, b);
    assert!(matches!(
        store.stat(&coll(), "gone").await,
        Err(StoreError::NoSuchObject { .. })
    ));
    assert!(store.fsck(true).await.unwrap().is_clean());
    store.close().await;

    // Checksums are verified on this backend's reads: flip one byte of b's 2nd block.
    let (_, dev_off, _) = map_b[0];
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&disk.device)
            .unwrap();
        f.seek(SeekFrom::Start(dev_off + B as u64 + 5)).unwrap();
        f.write_all(&[b[B + 5] ^ 0x80]).unwrap();
        f.sync_all().unwrap();
    }
    let store = disk.open().await;
    assert_eq!(store.backend(), backend);
    let r = store.read(&coll(), "b", 0, u64::MAX).await;
    assert!(
        matches!(r, Err(StoreError::Checksum { offset, .. }) if offset == B as u64),
        "{backend}: {r:?}"
    );
    assert_eq!(read_all(&store, "a").await, a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_on_forced_pread_fallback() {
    workload(DeviceBackend::File).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_on_io_uring() {
    if let Err(e) = uring_support() {
        // Forcing io_uring where the kernel refuses it must fail to open, clearly.
        let disk = TestDisk::new(DeviceBackend::Uring);
        let r = DiskStore::mkfs(
            &disk.device,
            &disk.meta,
            &cuttle_objectstore::MkfsOptions {
                osd_id: 3,
                fsid: disk.fsid,
                device_uuid: uuid::Uuid::new_v4(),
                create_size: Some(64 << 20),
                force: false,
            },
            &disk.config,
        )
        .await;
        assert!(matches!(r, Err(StoreError::Device(_))), "{r:?}");
        eprintln!("io_uring unavailable here ({e}): only the refusal was checked");
        return;
    }
    workload(DeviceBackend::Uring).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_uses_io_uring_exactly_when_the_probe_allows() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(32 << 20).await;
    let expected = match uring_support() {
        Ok(()) => DeviceBackend::Uring,
        Err(_) => DeviceBackend::File,
    };
    assert_eq!(store.backend(), expected);
    assert_eq!(store.backend_name(), expected.name());
    assert_ne!(store.backend_name(), "auto", "the choice made is reported");
    apply(&store, |t| {
        t.create_collection(&coll())
            .write_full(&coll(), "x", Bytes::from(pattern(9, 3 * B + 1)));
    })
    .await;
    assert_eq!(read_all(&store, "x").await, pattern(9, 3 * B + 1));
}
