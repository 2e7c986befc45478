//! Deferred data not yet written to its blocks, and the reads that must see it.
//!
//! A deferred transaction (`commit.rs`) is durable through its RocksDB record; its data
//! is written onto its new blocks later, for many transactions at once, just before
//! the device flush that lets their records go (as BlueStore applies its deferred
//! writes in batches). Until then the blocks hold stale bytes and the data lives here,
//! by device offset. Every read of committed data goes through [`Core::read_device`],
//! which takes what is here over what the device returns.
//!
//! Invariant that makes this safe: blocks of a deferred write are never reallocated
//! while its record is outstanding (the read gate parks space freed behind it), so an
//! offset here always names the one live owner of those blocks, and an entry is only
//! removed after its device write has completed.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Core;
use crate::device::{AlignedBuf, DeviceResult};

/// Largest single device write made by merging adjacent deferred blocks.
const APPLY_MERGE_MAX: u64 = 1 << 20;

/// Deferred data waiting to be written, by device offset.
#[derive(Debug, Default)]
pub(super) struct Unapplied {
    by_offset: BTreeMap<u64, Arc<AlignedBuf>>,
    /// Length of the longest buffer ever inserted: bounds the backwards search.
    longest: u64,
}

impl Unapplied {
    pub(super) fn insert(&mut self, offset: u64, buf: Arc<AlignedBuf>) {
        self.longest = self.longest.max(buf.len() as u64);
        self.by_offset.insert(offset, buf);
    }

    /// The buffers that intersect `[offset, offset + len)`.
    fn overlapping(&self, offset: u64, len: u64) -> Vec<(u64, Arc<AlignedBuf>)> {
        if self.by_offset.is_empty() {
            return Vec::new();
        }
        let end = offset + len;
        self.by_offset
            .range(offset.saturating_sub(self.longest.saturating_sub(1))..end)
            .filter(|(start, buf)| **start + buf.len() as u64 > offset)
            .map(|(start, buf)| (*start, buf.clone()))
            .collect()
    }

    /// Forgets the given buffers (their device writes completed); an offset that now
    /// holds another buffer is left alone.
    fn remove_written(&mut self, written: &[(u64, Arc<AlignedBuf>)]) {
        for (offset, buf) in written {
            if self
                .by_offset
                .get(offset)
                .is_some_and(|b| Arc::ptr_eq(b, buf))
            {
                self.by_offset.remove(offset);
            }
        }
    }
}

/// Copies the parts of `sources` that fall inside `dst` (which starts at device offset
/// `at`) into it; returns how many bytes were covered.
fn overlay(at: u64, dst: &mut [u8], sources: &[(u64, Arc<AlignedBuf>)]) -> u64 {
    let end = at + dst.len() as u64;
    let mut covered = 0;
    for (start, buf) in sources {
        let from = (*start).max(at);
        let to = (*start + buf.len() as u64).min(end);
        if from < to {
            dst[(from - at) as usize..(to - at) as usize]
                .copy_from_slice(&buf.as_slice()[(from - start) as usize..(to - start) as usize]);
            covered += to - from;
        }
    }
    covered
}

impl Core {
    /// Reads `len` bytes of the device at `offset` as readers must see them: deferred
    /// data not written yet comes from memory. The snapshot is taken before the device
    /// read, so data that leaves memory meanwhile was on the device before the read.
    pub(super) async fn read_device(&self, offset: u64, len: usize) -> DeviceResult<AlignedBuf> {
        let pending = self.shared.lock().unapplied.overlapping(offset, len as u64);
        if !pending.is_empty() {
            let mut buf = AlignedBuf::zeroed(len);
            // Buffers never overlap each other (distinct blocks), so full coverage
            // means the device has nothing to add.
            if overlay(offset, buf.as_mut_slice(), &pending) == len as u64 {
                return Ok(buf);
            }
        }
        let mut buf = self.dev.read(offset, AlignedBuf::zeroed(len)).await?;
        overlay(offset, buf.as_mut_slice(), &pending);
        Ok(buf)
    }

    /// Writes deferred data onto its blocks, adjacent pieces merged into one write, and
    /// then lets readers go to the device for it. Does not flush.
    pub(super) async fn apply_deferred(
        &self,
        mut pieces: Vec<(u64, Arc<AlignedBuf>)>,
    ) -> DeviceResult<()> {
        if pieces.is_empty() {
            return Ok(());
        }
        pieces.sort_by_key(|(offset, _)| *offset);
        let mut writes: Vec<(u64, Arc<AlignedBuf>)> = Vec::new();
        let mut i = 0;
        while i < pieces.len() {
            let start = pieces[i].0;
            let mut end = start + pieces[i].1.len() as u64;
            let mut j = i + 1;
            while let Some((next, buf)) = pieces.get(j)
                && *next == end
                && end + buf.len() as u64 - start <= APPLY_MERGE_MAX
            {
                end += buf.len() as u64;
                j += 1;
            }
            if j == i + 1 {
                writes.push((start, pieces[i].1.clone()));
            } else {
                let mut merged = AlignedBuf::zeroed((end - start) as usize);
                overlay(start, merged.as_mut_slice(), &pieces[i..j]);
                writes.push((start, Arc::new(merged)));
            }
            i = j;
        }
        let all = writes
            .into_iter()
            .map(|(off, buf)| self.dev.write(off, buf));
        futures::future::try_join_all(all).await?;
        self.shared.lock().unapplied.remove_written(&pieces);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buf(byte: u8, blocks: usize) -> Arc<AlignedBuf> {
        Arc::new(AlignedBuf::copy_from(&vec![byte; blocks * 4096]))
    }

    #[test]
    fn overlapping_finds_exactly_the_intersecting_buffers() {
        let mut u = Unapplied::default();
        u.insert(0, buf(1, 1));
        u.insert(8192, buf(2, 4));
        u.insert(65536, buf(3, 1));
        let starts = |o: u64, l: u64| -> Vec<u64> {
            u.overlapping(o, l).into_iter().map(|(s, _)| s).collect()
        };
        assert_eq!(starts(0, 4096), vec![0]);
        assert_eq!(starts(4096, 4096), Vec::<u64>::new());
        // Inside the long buffer, far from its start.
        assert_eq!(starts(20480, 4096), vec![8192]);
        assert_eq!(starts(0, 1 << 20), vec![0, 8192, 65536]);
        assert_eq!(starts(24576, 4096), Vec::<u64>::new());
    }

    #[test]
    fn overlay_copies_only_the_intersection() {
        let sources = vec![(4096u64, buf(7, 1)), (12288, buf(9, 1))];
        let mut dst = vec![0u8; 3 * 4096];
        // dst covers [8192, 20480): only the second source intersects.
        assert_eq!(overlay(8192, &mut dst, &sources), 4096);
        assert!(dst[..4096].iter().all(|&b| b == 0));
        assert!(dst[4096..8192].iter().all(|&b| b == 9));
        assert!(dst[8192..].iter().all(|&b| b == 0));
    }

    #[test]
    fn removal_spares_a_newer_buffer_at_the_same_offset() {
        let mut u = Unapplied::default();
        let old = buf(1, 1);
        u.insert(0, old.clone());
        let new = buf(2, 1);
        u.insert(0, new.clone());
        u.remove_written(&[(0, old)]);
        assert_eq!(u.overlapping(0, 4096).len(), 1);
        u.remove_written(&[(0, new)]);
        assert!(u.overlapping(0, 4096).is_empty());
    }
}
