//! Model-based test: random transaction sequences applied to the disk store and to the
//! memory store (the reference model) must give identical results — the same success
//! or error code per transaction and the same reads — including across reopens.
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::{TestDisk, pattern};
use cuttle_objectstore::device::DeviceBackend;
use cuttle_objectstore::{CollectionId, DiskStore, MemStore, ObjectStore, Op, Transaction};
use proptest::prelude::*;

const NAMES: [&str; 4] = ["a", "b", "c", "d"];
const COLLS: [&str; 2] = ["c1", "c2"];

fn coll(i: usize) -> CollectionId {
    CollectionId::new(COLLS[i % COLLS.len()]).unwrap()
}

#[derive(Debug, Clone)]
enum Step {
    Txn(Vec<Op>),
    Reopen,
}

/// Operations on a few objects; `scale` multiplies data sizes and offsets (1: objects of
/// tens of KiB; 16: hundreds of KiB, so big buffers are recycled between transactions).
fn op_strategy(scale: usize) -> impl Strategy<Value = Op> {
    let s = scale as u64;
    let name = (0..NAMES.len()).prop_map(|i| NAMES[i].to_string());
    let c = (0..COLLS.len()).prop_map(coll);
    let key = (0u8..6).prop_map(|k| Bytes::from(vec![b'k', b'0' + k]));
    prop_oneof![
        4 => (c.clone(), name.clone(), 0u64..20_000 * s, 0usize..10_000 * scale, any::<u64>()).prop_map(
            |(coll, name, offset, len, seed)| Op::Write { coll, name, offset, data: Bytes::from(pattern(seed, len)) }
        ),
        2 => (c.clone(), name.clone(), 0usize..30_000 * scale, any::<u64>()).prop_map(
            |(coll, name, len, seed)| Op::WriteFull { coll, name, data: Bytes::from(pattern(seed, len)) }
        ),
        2 => (c.clone(), name.clone(), 0u64..25_000 * s).prop_map(|(coll, name, size)| Op::Truncate { coll, name, size }),
        2 => (c.clone(), name.clone()).prop_map(|(coll, name)| Op::Remove { coll, name }),
        1 => (c.clone(), name.clone()).prop_map(|(coll, name)| Op::Touch { coll, name }),
        1 => (c.clone(), name.clone(), name.clone()).prop_map(|(coll, src, dst)| Op::Clone { coll, src, dst }),
        1 => (c.clone(), name.clone(), 0u8..3, any::<u8>()).prop_map(|(coll, name, k, v)| Op::SetAttr {
            coll, name, key: format!("x{k}"), value: Bytes::from(vec![v; 3])
        }),
        1 => (c.clone(), name.clone(), 0u8..3).prop_map(|(coll, name, k)| Op::RmAttr { coll, name, key: format!("x{k}") }),
        2 => (c.clone(), name.clone(), prop::collection::vec((key.clone(), any::<u8>()), 1..4)).prop_map(
            |(coll, name, kv)| Op::OmapSet { coll, name, entries: kv.into_iter().map(|(k, v)| (k, Bytes::from(vec![v]))).collect() }
        ),
        1 => (c.clone(), name.clone(), key.clone()).prop_map(|(coll, name, k)| Op::OmapRemove { coll, name, keys: vec![k] }),
        1 => (c.clone(), name.clone(), key.clone(), key.clone()).prop_map(|(coll, name, start, end)| Op::OmapRemoveRange { coll, name, start, end }),
        1 => (c.clone(), name.clone()).prop_map(|(coll, name)| Op::OmapClear { coll, name }),
        1 => (key.clone(), any::<u8>()).prop_map(|(key, v)| Op::KvSet { ns: "ns".into(), key, value: Bytes::from(vec![v]) }),
        1 => key.clone().prop_map(|key| Op::KvRemove { ns: "ns".into(), key }),
        1 => c.clone().prop_map(Op::CreateCollection),
        1 => c.prop_map(Op::RemoveCollection),
    ]
}

fn steps(scale: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            9 => prop::collection::vec(op_strategy(scale), 1..6).prop_map(Step::Txn),
            1 => Just(Step::Reopen),
        ],
        1..14,
    )
}

/// Everything observable about the store, as comparable data.
async fn snapshot(s: &dyn ObjectStore) -> Vec<String> {
    let mut out = vec![format!("colls {:?}", s.list_collections().await.unwrap())];
    for ci in 0..COLLS.len() {
        let c = coll(ci);
        if !s.collection_exists(&c).await.unwrap() {
            continue;
        }
        out.push(format!(
            "{c} list {:?}",
            s.list(&c, None, 100).await.unwrap().items
        ));
        for n in NAMES {
            match s.stat(&c, n).await {
                Err(e) => out.push(format!("{c}/{n} {}", e.code())),
                Ok(st) => {
                    let data = s.read(&c, n, 0, u64::MAX).await.unwrap();
                    assert_eq!(data.len() as u64, st.size);
                    let mid = s.read(&c, n, 4000, 5000).await.unwrap();
                    out.push(format!(
                        "{c}/{n} size {} crc {:08x} mid {:08x} attrs {:?} omap {:?}",
                        st.size,
                        crc32c::crc32c(&data),
                        crc32c::crc32c(&mid),
                        s.get_attrs(&c, n).await.unwrap(),
                        s.omap_list(&c, n, b"", None, None, 100)
                            .await
                            .unwrap()
                            .items,
                    ));
                }
            }
        }
    }
    out.push(format!(
        "kv {:?}",
        s.kv_list("ns", None, 100).await.unwrap().items
    ));
    out
}

async fn run_case(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let model = MemStore::new(u64::MAX);
    let disk = TestDisk::new(DeviceBackend::Auto);
    let mut store: DiskStore = disk.mkfs(64 << 20).await;
    for s in [&model as &dyn ObjectStore, &store] {
        let mut t = Transaction::new();
        t.create_collection(&coll(0)).create_collection(&coll(1));
        s.queue_transaction(t).await.unwrap();
    }
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::Reopen => {
                store.close().await;
                store = disk.open().await;
            }
            Step::Txn(ops) => {
                let want = model
                    .queue_transaction(Transaction { ops: ops.clone() })
                    .await;
                let got = store.queue_transaction(Transaction { ops }).await;
                prop_assert_eq!(
                    want.as_ref().map_err(|e| e.code()),
                    got.as_ref().map_err(|e| e.code()),
                    "step {}: model {:?} disk {:?}",
                    i,
                    want,
                    got
                );
            }
        }
        prop_assert_eq!(
            snapshot(&model).await,
            snapshot(&store).await,
            "after step {}",
            i
        );
    }
    let report = store.fsck(true).await.unwrap();
    prop_assert!(report.is_clean(), "{:?}", report);
    store.close().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn disk_store_matches_the_model(steps in steps(1)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run_case(steps))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    /// Objects of hundreds of KiB: their device buffers come from the recycling pool,
    /// so a recycled buffer's old bytes showing through (in padding, partial blocks or
    /// reads) would make the stores disagree.
    #[test]
    fn disk_store_matches_the_model_with_large_objects(steps in steps(16)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run_case(steps))?;
    }
}
