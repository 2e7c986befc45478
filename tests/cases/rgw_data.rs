//! The gateway's data path (`cuttle_rgw::data`) in this process against a real
//! cluster: many multi-stripe uploads share a stripe budget of the smallest allowed
//! size, and every one completes, hashes and reads back right, with the budget whole
//! again afterwards.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use cuttle_client::Cluster;
use cuttle_rgw::checksum::{Hashers, Hashes};
use cuttle_rgw::data::{DataStore, DataTuning};
use cuttle_tests::{cluster, eventually, pattern};
use futures::StreamExt;

type StdError = Box<dyn std::error::Error + Send + Sync>;

/// Stripes of 256 KiB and a budget of four of them (at most four stripes in flight in
/// the whole store, filled, written or hashed). Twelve uploads of about
/// 3 MiB, sent in 64 KiB chunks, each cut into 12–13 stripes: each upload's MD5 stream
/// collects a stripe while its previous one is still hashed, so this is where an
/// upload waiting for budget while holding a collected stripe would hang them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_share_the_smallest_stripe_budget_and_all_complete() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("ec").await.unwrap();
    let stripe = 256u64 << 10;
    let budget_bytes = 4 * stripe;
    let store = DataStore::new(
        io,
        DataTuning {
            stripe,
            put_parallel: 2,
            get_prefetch: 2,
            budget_bytes,
            inline_max: 0,
        },
    );
    let uploads: Vec<_> = (0..12u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let data = Bytes::from(pattern(500 + i, (3 << 20) + i as usize * 4099));
                let chunks: Vec<Result<Bytes, StdError>> = (0..data.len())
                    .step_by(64 << 10)
                    .map(|at| Ok(data.slice(at..(at + (64 << 10)).min(data.len()))))
                    .collect();
                let written = store
                    .write_stream(
                        format!("budget-{i}"),
                        futures::stream::iter(chunks).boxed(),
                        Hashes::default(),
                        Some(data.len() as u64),
                        u64::MAX,
                        false,
                    )
                    .await
                    .unwrap();
                (data, written)
            })
        })
        .collect();
    // A hang guard only: the uploads take seconds; waiting on each other they never end.
    let done = tokio::time::timeout(Duration::from_secs(300), futures::future::join_all(uploads))
        .await
        .expect("uploads sharing the stripe budget stopped making progress");
    for upload in done {
        let (data, written) = upload.unwrap();
        let name = &written.segment.i;
        assert_eq!(written.segment.s, data.len() as u64, "{name}: size");
        assert_eq!(written.segment.ss, stripe, "{name}: stripe size");
        assert_eq!(written.digests.md5, Hashers::md5_of(&data), "{name}: MD5");
        let back = store
            .read_all(std::slice::from_ref(&written.segment), 0, data.len() as u64)
            .await
            .unwrap();
        assert!(back == data, "{name}: read back differs");
    }
    // Every share is given back once its stripe's write and hashing let go of it.
    eventually(30, "the whole stripe budget free again", || async {
        (store.budget_free_bytes() == budget_bytes).then_some(())
    })
    .await;
}
