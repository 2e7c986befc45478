//! One conformance suite for the `ObjectStore` trait, run on every backend: the memory
//! store, and the disk store on io_uring and on the pread/pwrite fallback.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use common::{TestDisk, pattern};
use cuttle_objectstore::device::DeviceBackend;
use cuttle_objectstore::{CollectionId, MemStore, ObjectStore, StoreError, Transaction};

fn coll(name: &str) -> CollectionId {
    CollectionId::new(name).unwrap()
}

async fn apply(s: &dyn ObjectStore, f: impl FnOnce(&mut Transaction)) -> Result<(), StoreError> {
    let mut t = Transaction::new();
    f(&mut t);
    s.queue_transaction(t).await
}

async fn read_all(s: &dyn ObjectStore, c: &CollectionId, name: &str) -> Vec<u8> {
    s.read(c, name, 0, u64::MAX).await.unwrap().to_vec()
}

async fn collections(s: &dyn ObjectStore) {
    let a = coll("1.0_s0");
    let b = coll("1.1_s0");
    assert!(!s.collection_exists(&a).await.unwrap());
    apply(s, |t| {
        t.create_collection(&a).create_collection(&b);
    })
    .await
    .unwrap();
    assert!(s.collection_exists(&a).await.unwrap());
    assert_eq!(
        s.list_collections().await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let dup = apply(s, |t| {
        t.create_collection(&a);
    })
    .await;
    assert!(matches!(dup, Err(StoreError::CollectionExists(_))));
    apply(s, |t| {
        t.touch(&a, "x");
    })
    .await
    .unwrap();
    let busy = apply(s, |t| {
        t.remove_collection(&a);
    })
    .await;
    assert!(matches!(busy, Err(StoreError::CollectionNotEmpty(_))));
    apply(s, |t| {
        t.remove(&a, "x").remove_collection(&a);
    })
    .await
    .unwrap();
    assert_eq!(s.list_collections().await.unwrap(), vec![b.clone()]);
    let missing = apply(s, |t| {
        t.touch(&a, "y");
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NoSuchCollection(_))));
    assert!(matches!(
        s.read(&a, "y", 0, 10).await,
        Err(StoreError::NoSuchCollection(_))
    ));
}

async fn round_trips(s: &dyn ObjectStore) {
    let c = coll("rt");
    apply(s, |t| {
        t.create_collection(&c);
    })
    .await
    .unwrap();
    for (i, len) in [0usize, 1, 4095, 4096, 4097, (1 << 20) + 3, 4 << 20]
        .into_iter()
        .enumerate()
    {
        let name = format!("obj{len}");
        let data = pattern(i as u64, len);
        apply(s, |t| {
            t.write_full(&c, &name, Bytes::from(data.clone()));
        })
        .await
        .unwrap();
        assert_eq!(read_all(s, &c, &name).await, data, "len {len}");
        assert_eq!(s.stat(&c, &name).await.unwrap().size, len as u64);
        // Ranged reads, including past the end.
        if len > 10 {
            let got = s.read(&c, &name, 5, 7).await.unwrap();
            assert_eq!(&got[..], &data[5..12]);
            let tail = s.read(&c, &name, len as u64 - 3, 100).await.unwrap();
            assert_eq!(&tail[..], &data[len - 3..]);
        }
        assert!(
            s.read(&c, &name, len as u64 + 10, 5)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let missing = s.read(&c, "nope", 0, 1).await;
    assert!(matches!(missing, Err(StoreError::NoSuchObject { .. })));
    assert!(matches!(
        s.stat(&c, "nope").await,
        Err(StoreError::NoSuchObject { .. })
    ));
}

async fn partial_writes_and_truncate(s: &dyn ObjectStore) {
    let c = coll("pw");
    apply(s, |t| {
        t.create_collection(&c);
    })
    .await
    .unwrap();
    let mut model = pattern(7, 20000);
    apply(s, |t| {
        t.write(&c, "o", 0, Bytes::from(model.clone()));
    })
    .await
    .unwrap();
    // Unaligned overwrite straddling blocks, then one inside a single block.
    for (off, len, seed) in [(4000usize, 5000usize, 1u64), (10, 3, 2), (19990, 30, 3)] {
        let d = pattern(seed + 100, len);
        if model.len() < off + len {
            model.resize(off + len, 0);
        }
        model[off..off + len].copy_from_slice(&d);
        apply(s, |t| {
            t.write(&c, "o", off as u64, Bytes::from(d));
        })
        .await
        .unwrap();
        assert_eq!(read_all(s, &c, "o").await, model);
    }
    // Write beyond the end leaves a zero hole.
    apply(s, |t| {
        t.write(&c, "o", 50000, Bytes::from_static(b"tail"));
    })
    .await
    .unwrap();
    model.resize(50000, 0);
    model.extend_from_slice(b"tail");
    assert_eq!(read_all(s, &c, "o").await, model);
    // Shrink to an unaligned size, then grow back: the cut bytes read as zeros.
    apply(s, |t| {
        t.truncate(&c, "o", 6001);
    })
    .await
    .unwrap();
    model.truncate(6001);
    assert_eq!(read_all(s, &c, "o").await, model);
    apply(s, |t| {
        t.truncate(&c, "o", 12000);
    })
    .await
    .unwrap();
    model.resize(12000, 0);
    assert_eq!(read_all(s, &c, "o").await, model);
    // Zero-length write creates the object without data.
    apply(s, |t| {
        t.write(&c, "empty", 100, Bytes::new());
    })
    .await
    .unwrap();
    assert_eq!(s.stat(&c, "empty").await.unwrap().size, 0);
}

async fn attrs_omap_kv(s: &dyn ObjectStore) {
    let c = coll("meta");
    apply(s, |t| {
        t.create_collection(&c);
    })
    .await
    .unwrap();
    let b = Bytes::from_static;
    apply(s, |t| {
        t.set_attr(&c, "o", "a", b(b"1"))
            .set_attr(&c, "o", "b", b(b"2"))
            .rm_attr(&c, "o", "a")
            .omap_set(
                &c,
                "o",
                vec![
                    (b(b"k1"), b(b"v1")),
                    (b(b"k2"), b(b"v2")),
                    (b(b"p/a"), b(b"pa")),
                    (b(b"p/b"), b(b"pb")),
                    (b(b"p/c"), b(b"pc")),
                ],
            )
            .kv_set("pglog", b(b"0001"), b(b"e1"))
            .kv_set("pglog", b(b"0002"), b(b"e2"))
            .kv_set("other", b(b"0001"), b(b"x"));
    })
    .await
    .unwrap();
    let attrs = s.get_attrs(&c, "o").await.unwrap();
    assert_eq!(attrs, BTreeMap::from([("b".to_string(), b(b"2"))]));
    let got = s.omap_get(&c, "o", &[b(b"k1"), b(b"zz")]).await.unwrap();
    assert_eq!(got, BTreeMap::from([(b(b"k1"), b(b"v1"))]));
    let page = s.omap_list(&c, "o", b"p/", None, None, 2).await.unwrap();
    assert_eq!(
        page.items,
        vec![(b(b"p/a"), b(b"pa")), (b(b"p/b"), b(b"pb"))]
    );
    assert!(page.more);
    let page = s
        .omap_list(&c, "o", b"p/", Some(b"p/b"), None, 2)
        .await
        .unwrap();
    assert_eq!(page.items, vec![(b(b"p/c"), b(b"pc"))]);
    assert!(!page.more);
    // An end bound stops the listing before it (exclusive), and a page that ends there
    // has no more.
    let page = s
        .omap_list(&c, "o", b"", Some(b"k1"), Some(b"p/b"), 10)
        .await
        .unwrap();
    assert_eq!(
        page.items,
        vec![(b(b"k2"), b(b"v2")), (b(b"p/a"), b(b"pa"))]
    );
    assert!(!page.more);
    let page = s
        .omap_list(&c, "o", b"p/", None, Some(b"p/c"), 1)
        .await
        .unwrap();
    assert_eq!(page.items, vec![(b(b"p/a"), b(b"pa"))]);
    assert!(page.more);
    apply(s, |t| {
        t.omap_remove(&c, "o", vec![b(b"k1")])
            .omap_remove_range(&c, "o", b(b"p/a"), b(b"p/c"));
    })
    .await
    .unwrap();
    let all = s.omap_list(&c, "o", b"", None, None, 100).await.unwrap();
    assert_eq!(all.items, vec![(b(b"k2"), b(b"v2")), (b(b"p/c"), b(b"pc"))]);
    apply(s, |t| {
        t.omap_clear(&c, "o");
    })
    .await
    .unwrap();
    assert!(
        s.omap_list(&c, "o", b"", None, None, 100)
            .await
            .unwrap()
            .items
            .is_empty()
    );

    assert_eq!(s.kv_get("pglog", b"0002").await.unwrap(), Some(b(b"e2")));
    let kv = s.kv_list("pglog", None, 10).await.unwrap();
    assert_eq!(kv.items.len(), 2);
    apply(s, |t| {
        t.kv_remove_range("pglog", b(b"0000"), b(b"0002"));
    })
    .await
    .unwrap();
    assert_eq!(s.kv_get("pglog", b"0001").await.unwrap(), None);
    assert_eq!(s.kv_get("other", b"0001").await.unwrap(), Some(b(b"x")));
    apply(s, |t| {
        t.kv_remove("pglog", b(b"0002"));
    })
    .await
    .unwrap();
    assert!(s.kv_list("pglog", None, 10).await.unwrap().items.is_empty());
}

async fn clone_and_remove(s: &dyn ObjectStore) {
    let c = coll("cl");
    let b = Bytes::from_static;
    let data = pattern(5, 9000);
    apply(s, |t| {
        t.create_collection(&c)
            .write_full(&c, "src", Bytes::from(data.clone()))
            .set_attr(&c, "src", "x", b(b"1"))
            .omap_set(&c, "src", vec![(b(b"k"), b(b"v"))])
            .write_full(&c, "dst", b(b"old"));
    })
    .await
    .unwrap();
    apply(s, |t| {
        t.clone_object(&c, "src", "dst");
    })
    .await
    .unwrap();
    assert_eq!(read_all(s, &c, "dst").await, data);
    assert_eq!(
        s.get_attrs(&c, "dst").await.unwrap().get("x"),
        Some(&b(b"1"))
    );
    assert_eq!(
        s.omap_get(&c, "dst", &[b(b"k")])
            .await
            .unwrap()
            .get(&b(b"k")),
        Some(&b(b"v"))
    );
    // The copy is independent.
    apply(s, |t| {
        t.write(&c, "src", 0, b(b"ZZ"))
            .omap_set(&c, "src", vec![(b(b"k"), b(b"w"))]);
    })
    .await
    .unwrap();
    assert_eq!(read_all(s, &c, "dst").await, data);
    assert_eq!(
        s.omap_get(&c, "dst", &[b(b"k")])
            .await
            .unwrap()
            .get(&b(b"k")),
        Some(&b(b"v"))
    );
    // Clone within one transaction sees that transaction's earlier changes.
    apply(s, |t| {
        t.omap_set(&c, "src", vec![(b(b"new"), b(b"1"))])
            .clone_object(&c, "src", "dst2");
    })
    .await
    .unwrap();
    let o = s.omap_list(&c, "dst2", b"", None, None, 10).await.unwrap();
    assert_eq!(o.items, vec![(b(b"k"), b(b"w")), (b(b"new"), b(b"1"))]);
    let missing = apply(s, |t| {
        t.clone_object(&c, "nope", "x");
    })
    .await;
    assert!(matches!(missing, Err(StoreError::NoSuchObject { .. })));
    apply(s, |t| {
        t.remove(&c, "src").remove(&c, "never-existed");
    })
    .await
    .unwrap();
    assert!(matches!(
        s.stat(&c, "src").await,
        Err(StoreError::NoSuchObject { .. })
    ));
    // A new object with the old name starts empty, without old attrs or omap.
    apply(s, |t| {
        t.touch(&c, "src");
    })
    .await
    .unwrap();
    assert!(s.get_attrs(&c, "src").await.unwrap().is_empty());
    assert!(
        s.omap_list(&c, "src", b"", None, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn atomic_failure(s: &dyn ObjectStore) {
    let c = coll("at");
    apply(s, |t| {
        t.create_collection(&c)
            .write_full(&c, "keep", Bytes::from_static(b"v1"));
    })
    .await
    .unwrap();
    let before = s.statfs();
    let bad = coll("does-not-exist");
    let r = apply(s, |t| {
        t.write_full(&c, "keep", Bytes::from(pattern(1, 100_000)))
            .write_full(&c, "new", Bytes::from_static(b"x"))
            .kv_set("ns", Bytes::from_static(b"k"), Bytes::from_static(b"v"))
            .touch(&bad, "boom");
    })
    .await;
    assert!(matches!(r, Err(StoreError::NoSuchCollection(_))));
    assert_eq!(read_all(s, &c, "keep").await, b"v1");
    assert!(s.stat(&c, "new").await.is_err());
    assert_eq!(s.kv_get("ns", b"k").await.unwrap(), None);
    assert_eq!(
        s.statfs().used,
        before.used,
        "no space leaked by the failed transaction"
    );
    let r = apply(s, |t| {
        t.touch(&c, "");
    })
    .await;
    assert!(matches!(r, Err(StoreError::InvalidObjectName { .. })));
}

async fn listing(s: &dyn ObjectStore) {
    let c = coll("ls");
    let names: Vec<String> = (0..25).map(|i| format!("n{i:03}")).collect();
    apply(s, |t| {
        t.create_collection(&c);
        for n in &names {
            t.touch(&c, n);
        }
    })
    .await
    .unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = s.list(&c, after.as_deref(), 10).await.unwrap();
        seen.extend(page.items.iter().cloned());
        if !page.more {
            break;
        }
        after = page.items.last().cloned();
    }
    assert_eq!(seen, names);
}

async fn ordered_concurrency(s: &dyn ObjectStore) {
    let c = coll("cc");
    apply(s, |t| {
        t.create_collection(&c);
    })
    .await
    .unwrap();
    // Many transactions in flight at once: each lands, in queue order per object.
    let futs = (0..64u64).map(|i| {
        let mut t = Transaction::new();
        t.write(
            &c,
            &format!("o{}", i % 4),
            (i / 4) * 10,
            Bytes::from(pattern(i, 10)),
        );
        s.queue_transaction(t)
    });
    for r in futures::future::join_all(futs).await {
        r.unwrap();
    }
    for k in 0..4u64 {
        let got = read_all(s, &c, &format!("o{k}")).await;
        let mut want = Vec::new();
        for i in (k..64).step_by(4) {
            want.extend(pattern(i, 10));
        }
        assert_eq!(got, want, "object o{k}");
    }
}

async fn suite(s: &dyn ObjectStore) {
    collections(s).await;
    round_trips(s).await;
    partial_writes_and_truncate(s).await;
    attrs_omap_kv(s).await;
    clone_and_remove(s).await;
    atomic_failure(s).await;
    listing(s).await;
    ordered_concurrency(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_conforms() {
    suite(&MemStore::new(1 << 30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_store_on_io_uring_conforms() {
    let disk = TestDisk::new(DeviceBackend::Uring);
    let store = disk.mkfs(256 << 20).await;
    assert_eq!(store.backend(), DeviceBackend::Uring);
    suite(&store).await;
    let report = store.fsck(true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disk_store_on_pread_fallback_conforms() {
    let disk = TestDisk::new(DeviceBackend::File);
    let store = disk.mkfs(256 << 20).await;
    assert_eq!(store.backend(), DeviceBackend::File);
    suite(&store).await;
    let report = store.fsck(true).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
}
