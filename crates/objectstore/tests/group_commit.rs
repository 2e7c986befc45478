//! Group commit, proven without timing: the committer is held inside the device flush
//! of one transaction while N small synced transactions are submitted concurrently;
//! once every one of them is queued with its data written, the flush is released, and
//! they must all commit in a single synced RocksDB batch.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{TestDisk, pattern};
use cuttle_objectstore::device::DeviceBackend;
use cuttle_objectstore::{CollectionId, CommitCounters, ObjectStore, Transaction};

const N: u64 = 32;

fn coll() -> CollectionId {
    CollectionId::new("1.0_s0").unwrap()
}

/// Waits (bounded, as a guard against hangs) until `cond` holds. Polling only decides
/// when to move on; no assertion depends on how long anything took.
async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(Duration::from_secs(60), async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting until {what}");
}

fn put_txn(name: &str, seed: u64, len: usize) -> Transaction {
    let mut t = Transaction::new();
    t.write_full(&coll(), name, Bytes::from(pattern(seed, len)));
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_synced_writes_share_one_commit() {
    let disk = TestDisk::new(DeviceBackend::Auto);
    disk.mkfs(64 << 20).await.close().await;
    let (store, faults) = disk.open_faulty().await;
    let store = Arc::new(store);
    let mut t = Transaction::new();
    t.create_collection(&coll());
    store.queue_transaction(t).await.unwrap();

    // 1. Hold the committer inside the device flush of a first transaction (large
    // enough not to be deferred: it needs the flush).
    faults.hold_flushes();
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.queue_transaction(put_txn("first", 0, 200_000)).await }
    });
    wait_until("the first transaction's flush is held", || {
        faults.held_flushes() == 1
    })
    .await;
    let before: CommitCounters = store.commit_counters();

    // 2. N small synced transactions, concurrently, while the committer is held.
    let writers: Vec<_> = (1..=N)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .queue_transaction(put_txn(&format!("o{i}"), i, 3000))
                    .await
            })
        })
        .collect();
    wait_until("all N are queued with their data written", || {
        let c = store.commit_counters();
        c.queued == before.queued + N && c.data_written == before.data_written + N
    })
    .await;
    assert!(
        !first.is_finished(),
        "nothing commits while the flush is held"
    );
    assert!(writers.iter().all(|w| !w.is_finished()));
    assert_eq!(store.commit_counters().groups, before.groups);

    // 3. Release: the first group ([first]) completes, then the committer takes
    // everything queued — all N, all written — as one group.
    faults.release_flushes();
    first.await.unwrap().unwrap();
    for w in writers {
        w.await.unwrap().unwrap();
    }
    let after = store.commit_counters();
    assert_eq!(after.transactions - before.transactions, N + 1);
    let batches_for_n = after.groups - before.groups - 1;
    assert_eq!(batches_for_n, 1, "{before:?} -> {after:?}");
    assert!(batches_for_n < N);

    // Every write is durable and intact.
    for i in 1..=N {
        let got = store
            .read(&coll(), &format!("o{i}"), 0, u64::MAX)
            .await
            .unwrap();
        assert_eq!(got.to_vec(), pattern(i, 3000), "o{i}");
    }
    assert!(store.fsck(true).await.unwrap().is_clean());
}
