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

use std::collections::{BTreeMap, VecDeque};

use crate::alloc::Extent;

/// Generation bookkeeping of readers and parked extents.
#[derive(Debug, Default)]
pub struct ReadGate {
    generation: u64,
    readers: BTreeMap<u64, usize>,
    parked: VecDeque<(u64, Vec<Extent>)>,
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

    /// A commit freed `extents`; returns extents now reusable (maybe these at once).
    pub fn park(&mut self, extents: Vec<Extent>) -> Vec<Extent> {
        if !extents.is_empty() {
            self.generation += 1;
            self.parked.push_back((self.generation, extents));
        }
        self.drain()
    }

    /// Bytes waiting for readers to leave.
    pub fn parked_bytes(&self) -> u64 {
        self.parked
            .iter()
            .flat_map(|(_, exts)| exts.iter())
            .map(|e| e.len)
            .sum()
    }

    fn drain(&mut self) -> Vec<Extent> {
        let oldest_reader = self.readers.keys().next().copied().unwrap_or(u64::MAX);
        let mut out = Vec::new();
        while let Some((generation, _)) = self.parked.front() {
            if *generation > oldest_reader {
                break;
            }
            if let Some((_, exts)) = self.parked.pop_front() {
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
            g.park(vec![e]).is_empty(),
            "held while an older reader is active"
        );
        let late = g.enter();
        assert_eq!(g.exit(r), vec![e], "released when the older reader leaves");
        assert!(g.exit(late).is_empty());
        assert_eq!(g.park(vec![e]), vec![e], "no reader: released at once");
    }
}
