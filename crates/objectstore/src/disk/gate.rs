//! `ReadGate`: keeps freed device space from being reused while a reader may still be
//! reading it.
//!
//! A reader looks up an onode, then reads its extents. If a transaction that frees
//! those extents commits in between, and another transaction reallocates and
//! overwrites them, the reader would see foreign bytes (caught by the checksum, but
//! still a spurious error). So every read enters the gate, getting the current
//! generation; each commit that frees space bumps the generation and parks the freed
//! extents under it; parked extents return to the allocator only once no reader from an
//! older generation remains.
//!
//! The gate also fences deferred writes (`commit.rs`): while the deferred record of
//! transaction `s` (a copy of its data in RocksDB, replayed onto the device after a
//! crash) is not durably deleted, space freed by a later transaction `t > s` stays
//! parked — it may be the very blocks `s` wrote, and reusing it before the record is
//! gone would let a replay overwrite its new owner's data.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::alloc::Extent;

/// Generation bookkeeping of readers and parked extents.
#[derive(Debug, Default)]
pub struct ReadGate {
    generation: u64,
    readers: BTreeMap<u64, usize>,
    /// (generation, sequence number of the freeing transaction, extents).
    parked: VecDeque<(u64, u64, Vec<Extent>)>,
    /// Transactions whose deferred records are not durably deleted yet.
    deferred: BTreeSet<u64>,
}

impl ReadGate {
    /// A reader starts: returns its generation.
    pub fn enter(&mut self) -> u64 {
        *self.readers.entry(self.generation).or_insert(0) += 1;
        self.generation
    }

    /// A reader of generation `generation` is done; returns extents now reusable.
    pub fn exit(&mut self, generation: u64) -> Vec<Extent> {
        if let Some(n) = self.readers.get_mut(&generation) {
            *n -= 1;
            if *n == 0 {
                self.readers.remove(&generation);
            }
        }
        self.drain()
    }

    /// Transaction `seq` committed with a deferred record: space freed after it stays
    /// parked until [`ReadGate::deferred_cleaned`] says the record is gone.
    pub fn defer(&mut self, seq: u64) {
        self.deferred.insert(seq);
    }

    /// The deferred records of `seqs` are durably deleted; returns extents now reusable.
    pub fn deferred_cleaned(&mut self, seqs: impl IntoIterator<Item = u64>) -> Vec<Extent> {
        for s in seqs {
            self.deferred.remove(&s);
        }
        self.drain()
    }

    /// Transaction `seq` committed and freed `extents`; returns extents now reusable
    /// (maybe these at once).
    pub fn park(&mut self, seq: u64, extents: Vec<Extent>) -> Vec<Extent> {
        if !extents.is_empty() {
            self.generation += 1;
            self.parked.push_back((self.generation, seq, extents));
        }
        self.drain()
    }

    /// Bytes waiting for readers to leave.
    pub fn parked_bytes(&self) -> u64 {
        self.parked_extents().map(|e| e.len).sum()
    }

    /// The extents waiting for readers to leave (in no particular order).
    pub fn parked_extents(&self) -> impl Iterator<Item = Extent> + '_ {
        self.parked
            .iter()
            .flat_map(|(_, _, exts)| exts.iter().copied())
    }

    /// Parked entries leave in order, each once no older reader remains and no
    /// earlier transaction's deferred record is outstanding.
    fn drain(&mut self) -> Vec<Extent> {
        let oldest_reader = self.readers.keys().next().copied().unwrap_or(u64::MAX);
        let oldest_deferred = self.deferred.first().copied().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        while let Some((generation, seq, _)) = self.parked.front() {
            if *generation > oldest_reader || *seq > oldest_deferred {
                break;
            }
            if let Some((_, _, exts)) = self.parked.pop_front() {
                out.extend(exts);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_until_older_readers_leave() {
        let e = Extent {
            offset: 0,
            len: 4096,
        };
        let mut g = ReadGate::default();
        let r = g.enter();
        assert!(
            g.park(1, vec![e]).is_empty(),
            "held while an older reader is active"
        );
        let late = g.enter();
        assert_eq!(g.exit(r), vec![e], "released when the older reader leaves");
        assert!(g.exit(late).is_empty());
        assert_eq!(g.park(2, vec![e]), vec![e], "no reader: released at once");
    }

    #[test]
    fn space_freed_after_a_deferred_write_waits_for_its_record_to_go() {
        let e = |offset| Extent { offset, len: 4096 };
        let mut g = ReadGate::default();
        g.defer(5);
        assert_eq!(
            g.park(5, vec![e(0)]),
            vec![e(0)],
            "freed by the deferred transaction itself: not its new blocks"
        );
        assert!(g.park(6, vec![e(4096)]).is_empty(), "freed later: held");
        g.defer(7);
        assert!(g.park(8, vec![e(8192)]).is_empty());
        assert_eq!(
            g.deferred_cleaned([5]),
            vec![e(4096)],
            "record 5 gone: what 6 freed; 8 still waits for 7"
        );
        assert_eq!(g.parked_bytes(), 4096);
        assert_eq!(g.deferred_cleaned([7]), vec![e(8192)]);
    }
}
