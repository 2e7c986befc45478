//! `OnodeCache`: committed onodes kept in memory, bounded by an approximate byte budget
//! and evicted least-recently-used first.

use std::sync::Arc;

use lru::LruCache;

use crate::onode::Onode;

/// A byte-bounded LRU cache of committed onodes keyed by onode key.
#[derive(Debug)]
pub struct OnodeCache {
    lru: LruCache<Vec<u8>, Arc<Onode>>,
    bytes: usize,
    max_bytes: usize,
}

impl OnodeCache {
    /// An empty cache holding at most about `max_bytes` of onodes.
    pub fn new(max_bytes: usize) -> OnodeCache {
        OnodeCache {
            lru: LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    /// The cached onode, marking it recently used.
    pub fn get(&mut self, key: &[u8]) -> Option<Arc<Onode>> {
        self.lru.get(key).cloned()
    }

    /// Caches an onode, evicting old entries past the budget.
    pub fn put(&mut self, key: Vec<u8>, onode: Arc<Onode>) {
        let add = onode.approx_bytes() + key.len();
        if add > self.max_bytes {
            self.remove(&key);
            return;
        }
        if let Some(old) = self.lru.put(key.clone(), onode) {
            self.bytes -= old.approx_bytes() + key.len();
        }
        self.bytes += add;
        while self.bytes > self.max_bytes {
            match self.lru.pop_lru() {
                Some((k, v)) => self.bytes -= v.approx_bytes() + k.len(),
                None => break,
            }
        }
    }

    /// Drops an entry.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.lru.pop(key) {
            self.bytes -= old.approx_bytes() + key.len();
        }
    }

    /// Approximate bytes cached.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
