//! Disk-store behaviour beyond the trait: persistence across reopen, refusing wrong or
//! foreign devices, a full device, device failures, and on-disk corruption.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::sync::atomic::Ordering;

use bytes::Bytes;
use common::{TestDisk, pattern};
use cuttle_objectstore::device::DeviceBackend;
use cuttle_objectstore::{
    CollectionId, DiskStore, FsckIssue, MkfsOptions, ObjectStore, OpenOptions, StoreError,
    Transaction,
};
use uuid::Uuid;

const MIB: u64 = 1 << 20;

fn coll() -> CollectionId {
    CollectionId::new("1.0_s0").unwrap()
}

async fn put(s: &dyn ObjectStore, name: &str, data: Vec<u8>) -> Result<(), StoreError> {
    let mut t = Transaction::new();
    t.write_full(&coll(), name, Bytes::from(data));
    s.queue_transaction(t).await
}

async fn create_coll(s: &dyn ObjectStore) {
    let mut t = Transaction::new();
    t.create_collection(&coll());
    s.queue_transaction(t).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_survives_reopen() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(64 * MIB).await;
    create_coll(&store).await;
    for i in 0..20u64 {
        put(&store, &format!("o{i}"), pattern(i, (i as usize) * 3001))
            .await
            .unwrap();
    }
    let mut t = Transaction::new();
    t.omap_set(
        &coll(),
        "o1",
        vec![(Bytes::from_static(b"k"), Bytes::from_static(b"v"))],
    )
    .set_attr(&coll(), "o2", "a", Bytes::from_static(b"x"))
    .kv_set(
        "log",
        Bytes::from_static(b"1"),
        Bytes::from_static(b"entry"),
    )
    .remove(&coll(), "o3");
    store.queue_transaction(t).await.unwrap();
    // The small writes were deferred (no device flush before their ack), so o3's space
    // waits for their records to go; a large write flushes the device and retires them
    // in its own commit, after which the allocator is exact.
    assert!(
        store.commit_counters().deferred >= 19,
        "{:?}",
        store.commit_counters()
    );
    put(&store, "big", pattern(99, 300_000)).await.unwrap();
    let used = store.statfs().used;
    store.close().await;

    let store = disk.open().await;
    for i in 0..20u64 {
        if i == 3 {
            assert!(store.stat(&coll(), "o3").await.is_err());
            continue;
        }
        let got = store
            .read(&coll(), &format!("o{i}"), 0, u64::MAX)
            .await
            .unwrap();
        assert_eq!(got.to_vec(), pattern(i, (i as usize) * 3001), "o{i}");
    }
    let omap = store
        .omap_get(&coll(), "o1", &[Bytes::from_static(b"k")])
        .await
        .unwrap();
    assert_eq!(omap.len(), 1);
    assert_eq!(store.get_attrs(&coll(), "o2").await.unwrap().len(), 1);
    assert_eq!(
        store.kv_get("log", b"1").await.unwrap(),
        Some(Bytes::from_static(b"entry"))
    );
    assert_eq!(
        store.statfs().used,
        used,
        "allocator rebuilt from the bitmap"
    );
    let report = store.fsck(true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.objects, 20);
    assert_eq!(
        store
            .read(&coll(), "big", 0, u64::MAX)
            .await
            .unwrap()
            .to_vec(),
        pattern(99, 300_000)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_and_foreign_devices_are_refused() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(32 * MIB).await;
    store.close().await;

    // Formatting again without force is refused, and names the owner.
    let again = DiskStore::mkfs(
        &disk.device,
        &disk.meta,
        &MkfsOptions {
            osd_id: 9,
            fsid: Uuid::new_v4(),
            device_uuid: Uuid::new_v4(),
            create_size: None,
            force: false,
        },
        &disk.config,
    )
    .await;
    assert!(matches!(
        again,
        Err(StoreError::AlreadyFormatted { osd_id: 3, .. })
    ));

    // Another cluster or another OSD.
    let other_cluster = DiskStore::open(
        &disk.device,
        &disk.meta,
        &OpenOptions {
            fsid: Some(Uuid::new_v4()),
            osd_id: None,
        },
        &disk.config,
    )
    .await;
    assert!(matches!(
        other_cluster,
        Err(StoreError::WrongCluster { .. })
    ));
    let other_osd = DiskStore::open(
        &disk.device,
        &disk.meta,
        &OpenOptions {
            fsid: None,
            osd_id: Some(4),
        },
        &disk.config,
    )
    .await;
    assert!(matches!(
        other_osd,
        Err(StoreError::WrongOsd {
            expected: 4,
            found: 3,
            ..
        })
    ));

    // A metadata directory that belongs to a different device.
    let second = TestDisk::new(DeviceBackend::Auto);
    let s2 = DiskStore::mkfs(
        &second.device,
        &second.meta,
        &MkfsOptions {
            osd_id: 3,
            fsid: disk.fsid,
            device_uuid: Uuid::new_v4(),
            create_size: Some(32 * MIB),
            force: false,
        },
        &second.config,
    )
    .await
    .unwrap();
    s2.close().await;
    let swapped = DiskStore::open(
        &disk.device,
        &second.meta,
        &OpenOptions::default(),
        &disk.config,
    )
    .await;
    assert!(matches!(swapped, Err(StoreError::MetadataMismatch { .. })));

    // A file full of random bytes, and one of zeros: not Cuttle devices.
    for (name, fill) in [
        ("random", pattern(9, 32 * MIB as usize)),
        ("zeros", vec![0u8; 32 * MIB as usize]),
    ] {
        let path = disk.dir.path().join(name);
        std::fs::write(&path, fill).unwrap();
        let r = DiskStore::open(&path, &disk.meta, &OpenOptions::default(), &disk.config).await;
        assert!(
            matches!(r, Err(StoreError::NotFormatted { .. })),
            "{name}: {r:?}"
        );
    }

    // mkfs formats a blank device but refuses one holding someone else's data (here
    // random bytes; a partition table or a file system alike) unless forced.
    let mkfs_at = |path: std::path::PathBuf, meta: std::path::PathBuf, force: bool| {
        let config = disk.config.clone();
        async move {
            DiskStore::mkfs(
                &path,
                &meta,
                &MkfsOptions {
                    osd_id: 5,
                    fsid: Uuid::new_v4(),
                    device_uuid: Uuid::new_v4(),
                    create_size: None,
                    force,
                },
                &config,
            )
            .await
        }
    };
    let random = disk.dir.path().join("random");
    let refused = mkfs_at(random.clone(), disk.dir.path().join("meta-r"), false).await;
    assert!(
        matches!(refused, Err(StoreError::ForeignData { .. })),
        "{refused:?}"
    );
    assert_eq!(
        std::fs::read(&random).unwrap(),
        pattern(9, 32 * MIB as usize),
        "a refused mkfs writes nothing"
    );
    let forced = mkfs_at(random, disk.dir.path().join("meta-f"), true).await;
    forced.unwrap().close().await;
    let zeros = mkfs_at(
        disk.dir.path().join("zeros"),
        disk.dir.path().join("meta-z"),
        false,
    )
    .await;
    zeros.unwrap().close().await;

    // A damaged superblock (bit flip inside it) is reported as such.
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&disk.device)
            .unwrap();
        f.seek(SeekFrom::Start(30)).unwrap();
        f.write_all(&[0xff]).unwrap();
        f.sync_all().unwrap();
    }
    let damaged = DiskStore::open(
        &disk.device,
        &disk.meta,
        &OpenOptions::default(),
        &disk.config,
    )
    .await;
    assert!(
        matches!(damaged, Err(StoreError::BadSuperblock { .. })),
        "{damaged:?}"
    );

    // A missing device path is a clear error, not a crash.
    let missing = DiskStore::open(
        &disk.dir.path().join("nope"),
        &disk.meta,
        &OpenOptions::default(),
        &disk.config,
    )
    .await;
    assert!(matches!(missing, Err(StoreError::Device(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_device_fails_cleanly_and_recovers() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(32 * MIB).await; // 31 MiB data area
    create_coll(&store).await;
    let mut stored = Vec::new();
    let mut i = 0u64;
    let err = loop {
        let data = pattern(i, 3 * MIB as usize);
        match put(&store, &format!("o{i}"), data.clone()).await {
            Ok(()) => stored.push((format!("o{i}"), data)),
            Err(e) => break e,
        }
        i += 1;
        assert!(i < 100, "device never filled up");
    };
    assert!(matches!(err, StoreError::NoSpace { .. }), "{err}");
    // Nothing of the failed transaction remains, everything acknowledged does.
    assert!(store.stat(&coll(), &format!("o{i}")).await.is_err());
    for (name, data) in &stored {
        assert_eq!(
            &store.read(&coll(), name, 0, u64::MAX).await.unwrap()[..],
            &data[..]
        );
    }
    let report = store.fsck(false).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    // Freeing space makes writes work again.
    let mut t = Transaction::new();
    t.remove(&coll(), &stored[0].0)
        .remove(&coll(), &stored[1].0);
    store.queue_transaction(t).await.unwrap();
    put(&store, "after", pattern(77, 3 * MIB as usize))
        .await
        .unwrap();
    assert!(store.fsck(true).await.unwrap().is_clean());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_device_stops_writes_but_keeps_reads() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    disk.mkfs(32 * MIB).await.close().await;
    let (store, faults) = disk.open_faulty().await;
    create_coll(&store).await;
    put(&store, "good", pattern(1, 10000)).await.unwrap();

    faults.fail_writes.store(true, Ordering::SeqCst);
    // (Large enough not to be deferred: its data must reach the device before it
    // commits, so the failed write leaves nothing.)
    let r = put(&store, "bad", pattern(2, 100_000)).await;
    assert!(matches!(r, Err(StoreError::Failed(_))), "{r:?}");
    faults.fail_writes.store(false, Ordering::SeqCst);
    // The store refuses further writes until reopened (like an OSD on EIO)...
    let r = put(&store, "later", pattern(3, 10)).await;
    assert!(matches!(r, Err(StoreError::Failed(_))), "{r:?}");
    // ...but committed data stays readable.
    assert_eq!(
        store
            .read(&coll(), "good", 0, u64::MAX)
            .await
            .unwrap()
            .to_vec(),
        pattern(1, 10000)
    );
    assert!(store.stat(&coll(), "bad").await.is_err());
    store.close().await;

    // Reopened, the failed write left nothing behind.
    let store = disk.open().await;
    assert!(store.stat(&coll(), "bad").await.is_err());
    assert!(store.fsck(true).await.unwrap().is_clean());
    put(&store, "later", pattern(3, 10)).await.unwrap();

    // A failing flush is just as fatal for the writes in its group.
    store.close().await;
    let (store, faults) = disk.open_faulty().await;
    faults.fail_flushes.store(true, Ordering::SeqCst);
    // (Large enough not to be deferred: a deferred write needs no flush to commit.)
    assert!(matches!(
        put(&store, "x", pattern(4, 100_000)).await,
        Err(StoreError::Failed(_))
    ));
    // Reads that hit a failing device report the error instead of data.
    faults.fail_reads.store(true, Ordering::SeqCst);
    assert!(matches!(
        store.read(&coll(), "good", 0, 10).await,
        Err(StoreError::Device(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flipped_bytes_are_caught_by_reads_and_deep_fsck() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(64 * MIB).await;
    create_coll(&store).await;
    for i in 0..8u64 {
        put(&store, &format!("o{i}"), pattern(i, 50_000))
            .await
            .unwrap();
    }
    // Corrupt one block in the middle of o5 on the device file itself.
    let map = store.object_map(&coll(), "o5").await.unwrap();
    let (logical, device_off, _) = map[0];
    assert_eq!(logical, 0);
    store.close().await;
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&disk.device)
            .unwrap();
        f.seek(SeekFrom::Start(device_off + 4096 * 3 + 17)).unwrap();
        f.write_all(b"\xde\xad\xbe\xef").unwrap();
        f.sync_all().unwrap();
    }
    let store = disk.open().await;
    let r = store.read(&coll(), "o5", 0, u64::MAX).await;
    match r {
        Err(StoreError::Checksum { name, offset, .. }) => {
            assert_eq!(name, "o5");
            assert_eq!(offset, 4096 * 3);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    // Blocks before the damage still read fine; other objects are untouched.
    assert_eq!(
        store.read(&coll(), "o5", 0, 8192).await.unwrap().to_vec(),
        pattern(5, 50_000)[..8192]
    );
    for i in (0..8u64).filter(|&i| i != 5) {
        assert_eq!(
            store
                .read(&coll(), &format!("o{i}"), 0, u64::MAX)
                .await
                .unwrap()
                .to_vec(),
            pattern(i, 50_000)
        );
    }
    let shallow = store.fsck(false).await.unwrap();
    assert!(shallow.is_clean(), "metadata is fine: {shallow:?}");
    let deep = store.fsck(true).await.unwrap();
    assert_eq!(
        deep.issues,
        vec![FsckIssue::Checksum {
            object: "1.0_s0/o5".into(),
            offset: 4096 * 3
        }]
    );
    // Rewriting the object heals it.
    put(&store, "o5", pattern(55, 1000)).await.unwrap();
    assert!(store.fsck(true).await.unwrap().is_clean());
}

/// Small writes are deferred: acknowledged once their data is in the synced RocksDB
/// batch, before the device is flushed. If the data never reaches the disk (here: the
/// device drops it, and the later flush that would retire the records fails, as in a
/// power cut), the next open writes it from the records: nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deferred_writes_come_back_when_the_device_lost_them() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(64 * MIB).await;
    create_coll(&store).await;
    store.close().await;

    let (store, faults) = disk.open_faulty().await;
    faults.lose_writes.store(true, Ordering::SeqCst);
    faults.fail_flushes.store(true, Ordering::SeqCst);
    let sizes = [1, 4096, 4097, 20_000, 65_536];
    for (i, len) in sizes.iter().enumerate() {
        put(&store, &format!("d{i}"), pattern(50 + i as u64, *len))
            .await
            .unwrap();
    }
    assert_eq!(store.commit_counters().deferred, sizes.len() as u64);
    // Closing tries to retire the records: the flush fails, so they stay.
    store.close().await;

    let store = disk.open().await;
    for (i, len) in sizes.iter().enumerate() {
        assert_eq!(
            store
                .read(&coll(), &format!("d{i}"), 0, u64::MAX)
                .await
                .unwrap()
                .to_vec(),
            pattern(50 + i as u64, *len),
            "d{i}"
        );
    }
    let report = store.fsck(true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    store.close().await;
}

/// A deferred write is acknowledged once its record is durable, even if its device
/// write then fails: the store stops taking writes (as on any device error), and the
/// next open writes the data from the record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_write_whose_device_write_fails_is_still_durable() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    let store = disk.mkfs(32 * MIB).await;
    create_coll(&store).await;
    store.close().await;
    let (store, faults) = disk.open_faulty().await;
    faults.fail_writes.store(true, Ordering::SeqCst);
    faults.fail_flushes.store(true, Ordering::SeqCst);
    put(&store, "small", pattern(8, 9000)).await.unwrap();
    let r = put(&store, "next", pattern(9, 10)).await;
    assert!(matches!(r, Err(StoreError::Failed(_))), "{r:?}");
    store.close().await;

    let store = disk.open().await;
    assert_eq!(
        store
            .read(&coll(), "small", 0, u64::MAX)
            .await
            .unwrap()
            .to_vec(),
        pattern(8, 9000)
    );
    assert!(store.stat(&coll(), "next").await.is_err());
    assert!(store.fsck(true).await.unwrap().is_clean());
    store.close().await;
}
