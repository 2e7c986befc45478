//! Object I/O through a real 3-monitor, 3-OSD cluster: sizes round-trip byte for byte in
//! the erasure-coded and the replicated pool; stat, attributes, omap (with `omap_cmp`
//! guards), listing, delete.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use cuttle_client::{Cluster, ListCursor};
use cuttle_proto as pb;
use cuttle_tests::{cluster, pattern};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_in_ec_and_replicated_pools() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    for pool in ["ec", "rep"] {
        let io = client.pool(pool).await.unwrap();
        for (i, len) in [0usize, 1, 4095, 4096, (4 << 20) + 1, 64 << 20]
            .into_iter()
            .enumerate()
        {
            let name = format!("obj-{len}");
            let data = pattern(i as u64 + 7, len);
            io.write_full(&name, Bytes::from(data.clone()))
                .await
                .unwrap();
            let got = io.read(&name, 0, 0).await.unwrap();
            assert!(
                got == data,
                "{pool}/{name}: read back {} bytes, wrote {len}",
                got.len()
            );
            let st = io.stat(&name).await.unwrap();
            assert_eq!(st.size, len as u64);
            if len > 100 {
                let part = io.read(&name, 17, 50).await.unwrap();
                assert_eq!(&part[..], &data[17..67], "{pool}/{name} range read");
            }
        }
        // Overwrite replaces; delete removes.
        io.write_full("obj-1", Bytes::from_static(b"xy"))
            .await
            .unwrap();
        assert_eq!(&io.read("obj-1", 0, 0).await.unwrap()[..], b"xy");
        io.remove("obj-1").await.unwrap();
        let err = io.stat("obj-1").await.unwrap_err();
        assert_eq!(err.code(), "no_such_object", "{err}");
        let err = io.remove("obj-1").await.unwrap_err();
        assert_eq!(err.code(), "no_such_object", "{err}");
        // Attributes travel with the object.
        io.set_xattr("obj-0", "owner", Bytes::from_static(b"alice_physics"))
            .await
            .unwrap();
        let st = io.stat("obj-0").await.unwrap();
        assert_eq!(
            st.xattrs.get("owner").map(|v| &v[..]),
            Some(&b"alice_physics"[..])
        );
        // Listing walks every PG.
        let mut names = Vec::new();
        let mut cursor = Some(ListCursor::default());
        while let Some(cur) = cursor {
            let (page, next) = io.list(&cur, 2).await.unwrap();
            names.extend(page);
            cursor = next;
        }
        names.sort();
        let want = [
            "obj-0",
            "obj-4095",
            "obj-4096",
            "obj-4194305",
            "obj-67108864",
        ];
        assert_eq!(names, want, "{pool}: every object listed once");
    }
    // Omap works on the replicated pool and is refused on the EC pool.
    let rep = client.pool("rep").await.unwrap();
    let b = Bytes::from_static;
    rep.omap_set(
        "index",
        vec![
            (b(b"a"), b(b"1")),
            (b(b"b/x"), b(b"2")),
            (b(b"b/y"), b(b"3")),
        ],
    )
    .await
    .unwrap();
    let got = rep
        .omap_get("index", vec![b(b"a"), b(b"zz")])
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    let (page, more) = rep.omap_list("index", b"b/", b"", 1).await.unwrap();
    assert_eq!(page, vec![(b(b"b/x"), b(b"2"))]);
    assert!(more);
    let (page, _) = rep.omap_list("index", b"b/", b"b/x", 10).await.unwrap();
    assert_eq!(page, vec![(b(b"b/y"), b(b"3"))]);
    rep.omap_rm("index", vec![b(b"a")]).await.unwrap();
    assert!(
        rep.omap_get("index", vec![b(b"a")])
            .await
            .unwrap()
            .is_empty()
    );
    // omap_cmp guards a change: applied only while the entry still holds the value
    // (or is absent), refused as a whole otherwise.
    let cmp = |key: &'static [u8], value: Option<&'static [u8]>| pb::ObjectOp {
        op: Some(pb::object_op::Op::OmapCmp(pb::OmapCmp {
            key: b(key),
            present: value.is_some(),
            value: value.map(b).unwrap_or_default(),
        })),
    };
    let set = |key: &'static [u8], value: &'static [u8]| pb::ObjectOp {
        op: Some(pb::object_op::Op::OmapSet(pb::OmapSet {
            entries: vec![pb::KeyValue {
                key: b(key),
                value: b(value),
            }],
        })),
    };
    rep.mutate("index", vec![cmp(b"b/x", Some(b"2")), set(b"b/x", b"20")])
        .await
        .unwrap();
    let err = rep
        .mutate("index", vec![cmp(b"b/x", Some(b"2")), set(b"b/x", b"21")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "compare_failed", "{err}");
    let err = rep
        .mutate("index", vec![cmp(b"b/y", None), set(b"b/y", b"30")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "compare_failed", "{err}");
    rep.mutate("index", vec![cmp(b"new", None), set(b"new", b"1")])
        .await
        .unwrap();
    // On a missing object every `present` compare fails and nothing is created.
    let err = rep
        .mutate("nobody", vec![cmp(b"k", Some(b"v")), set(b"k", b"w")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "compare_failed", "{err}");
    assert!(rep.stat("nobody").await.is_err());
    let got = rep
        .omap_get("index", vec![b(b"b/x"), b(b"b/y"), b(b"new")])
        .await
        .unwrap();
    assert_eq!(
        got.into_iter().collect::<Vec<_>>(),
        vec![
            (b(b"b/x"), b(b"20")),
            (b(b"b/y"), b(b"3")),
            (b(b"new"), b(b"1"))
        ]
    );
    let ec = client.pool("ec").await.unwrap();
    let err = ec
        .omap_set("index", vec![(b(b"a"), b(b"1"))])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "needs_replicated_pool", "{err}");
    let err = client.pool("nope").await.unwrap_err();
    assert_eq!(err.code(), "no_such_pool");
}

/// Reads of a large erasure-coded object racing overwrites of it: every read returns
/// one written version whole, never chunks of two. Large reads are completed by the
/// client from the members (a plan at one version; a member already holding the next
/// one makes the client fall back to the primary), so this is the case where a mix
/// could otherwise slip through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_racing_overwrites_see_whole_versions() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("ec").await.unwrap();
    let versions: Vec<Vec<u8>> = (0..4).map(|i| pattern(100 + i, 3 << 20)).collect();
    io.write_full("raced", Bytes::from(versions[0].clone()))
        .await
        .unwrap();
    let writer = {
        let (io, versions) = (io.clone(), versions.clone());
        tokio::spawn(async move {
            for round in 1..=24 {
                let v = &versions[round % versions.len()];
                io.write_full("raced", Bytes::from(v.clone()))
                    .await
                    .unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (io, versions) = (io.clone(), versions.clone());
            tokio::spawn(async move {
                for i in 0..16u64 {
                    // Whole-object reads and a range spanning both data chunks.
                    let (offset, len) = if (i + r) % 2 == 0 {
                        (0, 0)
                    } else {
                        (1000, 2 << 20)
                    };
                    let got = io.read("raced", offset, len).await.unwrap();
                    let end = if len == 0 { 3 << 20 } else { offset + len } as usize;
                    assert!(
                        versions.iter().any(|v| got == v[offset as usize..end]),
                        "reader {r}, read {i}: {} bytes matching no single version",
                        got.len()
                    );
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for r in readers {
        r.await.unwrap();
    }
    let last = &versions[24 % versions.len()];
    assert!(io.read("raced", 0, 0).await.unwrap() == *last);
}
