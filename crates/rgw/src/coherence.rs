//! Cache coherence between gateways (and `cuttle user`), as Ceph RGW does it: every
//! gateway watches the control object `notify.0` in `.rgw.meta`; every change to a
//! user, key, token or bucket record is followed by a notify on it, which returns once
//! every gateway has dropped its cached records (or has had its watch ended, which
//! has the same effect).
//!
//! [`Coherence`] is what the caches consult: an entry is served only while the watch
//! is established and no notification arrived since the entry's lookup *started*
//! (so a lookup racing with a change never caches the old record). Invalidation is
//! whole-cache: metadata changes are rare next to requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use cuttle_client::{IoCtx, WatchEvent, WatchHandle};

/// The control object, in the metadata pool.
pub const CONTROL_OBJECT: &str = "notify.0";

/// How long a change waits for every gateway to acknowledge it.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// The state the caches check.
#[derive(Debug, Default)]
pub struct Coherence {
    generation: AtomicU64,
    watching: AtomicBool,
}

/// A cache entry's stamp: the generation its lookup started in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(u64);

impl Coherence {
    /// A state that trusts no cache until [`Coherence::watch`] is established.
    pub fn new() -> Arc<Coherence> {
        Arc::new(Coherence::default())
    }

    /// Taken before a lookup whose result will be cached.
    pub fn stamp(&self) -> Stamp {
        Stamp(self.generation.load(Ordering::Acquire))
    }

    /// Whether an entry stamped `s` may still be served.
    pub fn is_fresh(&self, s: Stamp) -> bool {
        self.watching.load(Ordering::Acquire) && self.generation.load(Ordering::Acquire) == s.0
    }

    /// Drops every cached entry (logically).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn on_event(&self, e: WatchEvent) {
        match e {
            WatchEvent::Established => {
                self.invalidate();
                self.watching.store(true, Ordering::Release);
            }
            WatchEvent::Lost => {
                self.watching.store(false, Ordering::Release);
                self.invalidate();
            }
            WatchEvent::Notify(what) => {
                tracing::debug!(
                    "metadata changed elsewhere: {}",
                    String::from_utf8_lossy(&what)
                );
                self.invalidate();
            }
        }
    }

    /// Starts watching the control object; caching is on while the watch is
    /// established. Keep the handle for the gateway's lifetime.
    pub fn watch(self: &Arc<Self>, meta: &IoCtx) -> WatchHandle {
        let me = self.clone();
        meta.watch(CONTROL_OBJECT, move |e| me.on_event(e))
    }
}

/// Tells every gateway that `what` (e.g. `key.CK…`, `bucket.photos`) changed. Called
/// after the change is durable; a failure only delays the others' view until their
/// caches expire, so it is logged, not returned.
pub async fn announce(meta: &IoCtx, what: &str) {
    match meta
        .notify(
            CONTROL_OBJECT,
            Bytes::copy_from_slice(what.as_bytes()),
            NOTIFY_TIMEOUT,
        )
        .await
    {
        Ok(r) if r.timed_out > 0 => tracing::warn!(
            "change {what}: {} gateway(s) did not acknowledge; their watches were reset",
            r.timed_out
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("change {what}: could not notify the other gateways: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_fresh_only_while_watching_and_unchanged() {
        let c = Coherence::new();
        let s = c.stamp();
        assert!(!c.is_fresh(s), "nothing is trusted before the watch");
        c.on_event(WatchEvent::Established);
        assert!(!c.is_fresh(s), "establishing starts a new generation");
        let s = c.stamp();
        assert!(c.is_fresh(s));
        // A lookup that started before a notification is not served afterwards.
        c.on_event(WatchEvent::Notify(Bytes::from_static(b"key.CK1")));
        assert!(!c.is_fresh(s));
        let s = c.stamp();
        assert!(c.is_fresh(s));
        c.on_event(WatchEvent::Lost);
        assert!(!c.is_fresh(s));
        assert!(!c.is_fresh(c.stamp()), "no caching while the watch is lost");
    }
}
