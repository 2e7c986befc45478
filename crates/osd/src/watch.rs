//! Watch/notify on objects, Ceph's mechanism for keeping clients' caches coherent (the
//! S3 gateways watch a control object and notify it on every metadata change).
//!
//! Watches live in memory on the object's primary only. A watch ends (the watcher is
//! told, and must watch again and assume it missed notifications) when the PG's
//! interval changes or the PG leaves this OSD, and when the watcher fails to
//! acknowledge a notification in time. A notify returns once every watcher registered
//! when it started has acknowledged, or at its deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cuttle_proto as pb;
use cuttle_types::PgId;
use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, oneshot};
use tonic::Status;

/// Longest a notify waits for acknowledgements.
pub const MAX_NOTIFY_WAIT: Duration = Duration::from_secs(30);

/// Events queued per watcher before a notify counts it as not acknowledging.
pub const WATCH_QUEUE: usize = 64;

/// The sending side of one watch stream.
pub type EventSender = mpsc::Sender<Result<pb::WatchEvent, Status>>;

struct Watcher {
    id: u64,
    events: EventSender,
    /// Wakes the watch's task to end the stream (a missed acknowledgement).
    kill: Arc<Notify>,
}

#[derive(Default)]
struct Inner {
    watchers: HashMap<(PgId, String), Vec<Watcher>>,
    /// (notify id, watcher id) → the notifier waiting for that acknowledgement.
    pending: HashMap<(u64, u64), oneshot::Sender<()>>,
}

/// The watches registered on this OSD.
#[derive(Default)]
pub struct Watches {
    next_id: AtomicU64,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Watches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self.inner.lock().watchers.values().map(Vec::len).sum();
        f.debug_struct("Watches").field("watchers", &n).finish()
    }
}

/// What a notify achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyOutcome {
    /// Watchers that acknowledged in time.
    pub acked: u32,
    /// Watchers that did not (their watches were ended).
    pub timed_out: u32,
}

impl Watches {
    fn next(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Registers a watcher of `object` in `pg`; returns its id and the signal that
    /// ends its stream.
    pub fn register(&self, pg: PgId, object: &str, events: EventSender) -> (u64, Arc<Notify>) {
        let id = self.next();
        let kill = Arc::new(Notify::new());
        self.inner
            .lock()
            .watchers
            .entry((pg, object.to_string()))
            .or_default()
            .push(Watcher {
                id,
                events,
                kill: kill.clone(),
            });
        (id, kill)
    }

    /// Removes a watcher (its stream ended).
    pub fn unregister(&self, pg: PgId, object: &str, id: u64) {
        let mut inner = self.inner.lock();
        let key = (pg, object.to_string());
        if let Some(list) = inner.watchers.get_mut(&key) {
            list.retain(|w| w.id != id);
            if list.is_empty() {
                inner.watchers.remove(&key);
            }
        }
        inner.pending.retain(|(_, w), _| *w != id);
    }

    /// A watcher acknowledged notification `notify_id`.
    pub fn ack(&self, notify_id: u64, watcher: u64) {
        if let Some(tx) = self.inner.lock().pending.remove(&(notify_id, watcher)) {
            let _ = tx.send(());
        }
    }

    /// The number of watchers of `object` in `pg`.
    pub fn count(&self, pg: PgId, object: &str) -> usize {
        self.inner
            .lock()
            .watchers
            .get(&(pg, object.to_string()))
            .map_or(0, Vec::len)
    }

    /// Sends `payload` to every watcher of `object` and waits up to `wait` for their
    /// acknowledgements. Watchers that do not acknowledge have their watch ended.
    pub async fn notify(
        &self,
        pg: PgId,
        object: &str,
        payload: Bytes,
        wait: Duration,
    ) -> NotifyOutcome {
        let notify_id = self.next();
        let mut waiting = Vec::new();
        {
            let mut inner = self.inner.lock();
            let targets: Vec<(u64, EventSender, Arc<Notify>)> = inner
                .watchers
                .get(&(pg, object.to_string()))
                .map(|l| {
                    l.iter()
                        .map(|w| (w.id, w.events.clone(), w.kill.clone()))
                        .collect()
                })
                .unwrap_or_default();
            for (id, events, kill) in targets {
                let (tx, rx) = oneshot::channel();
                let event = pb::WatchEvent {
                    notify_id,
                    payload: payload.clone(),
                };
                // A full queue means the watcher is not keeping up: it has missed this
                // notification, so its watch ends (below) like a late acknowledgement.
                if events.try_send(Ok(event)).is_ok() {
                    inner.pending.insert((notify_id, id), tx);
                    waiting.push((id, kill, Some(rx)));
                } else {
                    waiting.push((id, kill, None));
                }
            }
        }
        let deadline = tokio::time::Instant::now() + wait.min(MAX_NOTIFY_WAIT);
        let mut outcome = NotifyOutcome {
            acked: 0,
            timed_out: 0,
        };
        for (id, kill, rx) in waiting {
            let acked = match rx {
                Some(rx) => matches!(tokio::time::timeout_at(deadline, rx).await, Ok(Ok(()))),
                None => false,
            };
            if acked {
                outcome.acked += 1;
            } else {
                outcome.timed_out += 1;
                self.inner.lock().pending.remove(&(notify_id, id));
                kill.notify_one();
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use cuttle_types::PoolId;

    fn pg() -> PgId {
        PgId::new(PoolId(1), 3)
    }

    #[tokio::test]
    async fn notify_reaches_every_watcher_and_counts_acknowledgements() {
        let w = Arc::new(Watches::default());
        let (tx1, mut rx1) = mpsc::channel(WATCH_QUEUE);
        let (tx2, mut rx2) = mpsc::channel(WATCH_QUEUE);
        let (id1, _) = w.register(pg(), "ctl", tx1);
        let (_id2, kill2) = w.register(pg(), "ctl", tx2);
        assert_eq!(w.count(pg(), "ctl"), 2);
        let acker = {
            let w = w.clone();
            tokio::spawn(async move {
                let ev = rx1.recv().await.unwrap().unwrap();
                assert_eq!(&ev.payload[..], b"user.alice");
                w.ack(ev.notify_id, id1);
            })
        };
        let killed = tokio::spawn(async move { kill2.notified().await });
        let out = w
            .notify(
                pg(),
                "ctl",
                Bytes::from_static(b"user.alice"),
                Duration::from_secs(3),
            )
            .await;
        acker.await.unwrap();
        assert_eq!(
            out,
            NotifyOutcome {
                acked: 1,
                timed_out: 1
            }
        );
        // The silent watcher received the event but its watch is told to end.
        assert!(rx2.recv().await.unwrap().is_ok());
        killed.await.unwrap();
    }

    #[tokio::test]
    async fn unregistered_and_other_objects_get_nothing() {
        let w = Watches::default();
        let (tx, mut rx) = mpsc::channel(WATCH_QUEUE);
        let (id, _) = w.register(pg(), "ctl", tx);
        let out = w
            .notify(pg(), "other", Bytes::new(), Duration::from_millis(10))
            .await;
        assert_eq!(
            out,
            NotifyOutcome {
                acked: 0,
                timed_out: 0
            }
        );
        w.unregister(pg(), "ctl", id);
        assert_eq!(w.count(pg(), "ctl"), 0);
        let out = w
            .notify(pg(), "ctl", Bytes::new(), Duration::from_millis(10))
            .await;
        assert_eq!(out.acked + out.timed_out, 0);
        assert!(rx.try_recv().is_err());
    }
}
