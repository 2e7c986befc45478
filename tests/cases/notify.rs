//! Watch/notify with real processes: every watcher of an object hears a notify and
//! acknowledges it; when the object's primary is killed, watchers are told they lost
//! the watch, register on the new primary, and hear the next notify there.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cuttle_client::{Cluster, WatchEvent};
use cuttle_tests::{cluster, eventually};
use parking_lot::Mutex;

type Log = Arc<Mutex<Vec<WatchEvent>>>;

fn recorder() -> (Log, impl Fn(WatchEvent) + Send + Sync + 'static) {
    let log: Log = Arc::default();
    let l = log.clone();
    (log, move |e| l.lock().push(e))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_hear_notifies_and_follow_the_primary() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("rep").await.unwrap();
    let object = "control.0";
    // Two watchers (as two gateways would be), each with its own connection.
    let other = Cluster::connect(&c.conf()).await.unwrap();
    let other_io = other.pool("rep").await.unwrap();
    let (log_a, on_a) = recorder();
    let (log_b, on_b) = recorder();
    let mut a = io.watch(object, on_a);
    let mut b = other_io.watch(object, on_b);
    assert!(a.wait_established(Duration::from_secs(30)).await);
    assert!(b.wait_established(Duration::from_secs(30)).await);

    let r = io
        .notify(
            object,
            Bytes::from_static(b"user.alice"),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert_eq!((r.acked, r.timed_out), (2, 0));
    // The handler ran before the acknowledgement, so the events are already logged.
    for log in [&log_a, &log_b] {
        assert_eq!(
            *log.lock(),
            [
                WatchEvent::Established,
                WatchEvent::Notify(Bytes::from_static(b"user.alice"))
            ]
        );
    }
    // Another object's notify reaches nobody.
    let r = io
        .notify("control.1", Bytes::new(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!((r.acked, r.timed_out), (0, 0));

    // Kill the primary: both watches are lost and established again elsewhere.
    let map = client.map().unwrap();
    let (pg, _) = client.locate(io.pool_id(), object).unwrap();
    let (primary, _) = client.primary(&map, pg).unwrap();
    c.signal(&primary.to_string(), libc::SIGKILL).unwrap();
    for log in [&log_a, &log_b] {
        let log = log.clone();
        eventually(60, "the watch re-established on the new primary", || {
            let log = log.clone();
            async move {
                let l = log.lock();
                let lost = l.iter().position(|e| *e == WatchEvent::Lost)?;
                l[lost..].contains(&WatchEvent::Established).then_some(())
            }
        })
        .await;
    }
    let new_primary = eventually(60, "a new primary", || {
        let client = client.clone();
        async move {
            let map = client.map().ok()?;
            client.primary(&map, pg).filter(|(p, _)| *p != primary)
        }
    })
    .await;
    assert_ne!(new_primary.0, primary);
    // Both watchers hear the next notify (it waits for them to register if needed).
    let r = eventually(60, "both watchers acknowledge", || {
        let io = io.clone();
        async move {
            let r = io
                .notify(
                    object,
                    Bytes::from_static(b"bucket.x"),
                    Duration::from_secs(10),
                )
                .await
                .ok()?;
            (r.acked == 2).then_some(r)
        }
    })
    .await;
    assert_eq!(r.timed_out, 0);
    for log in [&log_a, &log_b] {
        assert_eq!(
            log.lock().last(),
            Some(&WatchEvent::Notify(Bytes::from_static(b"bucket.x")))
        );
    }

    // A dropped handle ends its watch.
    drop(b);
    let r = eventually(30, "only one watcher left", || {
        let io = io.clone();
        async move {
            let r = io
                .notify(object, Bytes::new(), Duration::from_secs(5))
                .await
                .ok()?;
            (r.acked + r.timed_out == 1).then_some(r)
        }
    })
    .await;
    assert_eq!(r.acked, 1);
    assert!(a.is_established());
}
