//! The extent allocator: which device bytes are free.
//!
//! Free space is a set of disjoint, non-adjacent extents kept twice: by offset (to
//! merge neighbours on release) and by (length, offset) (for best-fit). Allocation takes
//! the smallest free extent that fits, or else the largest extents until the request is
//! met, so a request either succeeds completely or fails with nothing taken. The
//! allocator is purely in memory; its durable form is the freelist bitmap
//! (`freelist.rs`), changed in the same metadata commit as the objects using the space.

use std::collections::{BTreeMap, BTreeSet};

use crate::device::BLOCK_SIZE;

/// A run of device bytes, block-aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Extent {
    /// First byte.
    pub offset: u64,
    /// Length in bytes (a multiple of the block size).
    pub len: u64,
}

impl Extent {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// Allocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// Not enough free bytes in total.
    #[error("{requested} bytes requested, {free} free")]
    NoSpace {
        /// Bytes requested.
        requested: u64,
        /// Bytes free.
        free: u64,
    },
    /// An extent was released that is (partly) free already: a bookkeeping bug.
    #[error("extent {offset}+{len} released twice")]
    DoubleFree {
        /// First byte.
        offset: u64,
        /// Length.
        len: u64,
    },
}

/// Free-space map of one device.
#[derive(Debug, Default, Clone)]
pub struct Allocator {
    by_offset: BTreeMap<u64, u64>,
    by_size: BTreeSet<(u64, u64)>,
    free: u64,
}

impl Allocator {
    /// An allocator with no free space; add space with [`release`](Self::release).
    pub fn new() -> Allocator {
        Allocator::default()
    }

    /// Free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free
    }

    /// The free extents in offset order.
    pub fn free_extents(&self) -> impl Iterator<Item = Extent> + '_ {
        self.by_offset
            .iter()
            .map(|(&offset, &len)| Extent { offset, len })
    }

    /// Takes `len` bytes (rounded up to whole blocks) as one or more extents.
    pub fn allocate(&mut self, len: u64) -> Result<Vec<Extent>, AllocError> {
        let len = len.div_ceil(BLOCK_SIZE as u64) * BLOCK_SIZE as u64;
        if len == 0 {
            return Ok(Vec::new());
        }
        if len > self.free {
            return Err(AllocError::NoSpace {
                requested: len,
                free: self.free,
            });
        }
        if let Some(&(size, offset)) = self.by_size.range((len, 0)..).next() {
            self.take(offset, size, len);
            return Ok(vec![Extent { offset, len }]);
        }
        let mut out = Vec::new();
        let mut left = len;
        while left > 0 {
            let Some(&(size, offset)) = self.by_size.iter().next_back() else {
                break;
            };
            let take = size.min(left);
            self.take(offset, size, take);
            out.push(Extent { offset, len: take });
            left -= take;
        }
        out.sort();
        Ok(out)
    }

    /// Removes `take` bytes from the front of the free extent `offset`+`size`.
    fn take(&mut self, offset: u64, size: u64, take: u64) {
        self.by_offset.remove(&offset);
        self.by_size.remove(&(size, offset));
        if size > take {
            self.insert_raw(offset + take, size - take);
        }
        self.free -= take;
    }

    fn insert_raw(&mut self, offset: u64, len: u64) {
        self.by_offset.insert(offset, len);
        self.by_size.insert((len, offset));
    }

    fn remove_raw(&mut self, offset: u64, len: u64) {
        self.by_offset.remove(&offset);
        self.by_size.remove(&(len, offset));
    }

    /// Returns an extent to the free set, merging with free neighbours.
    pub fn release(&mut self, ext: Extent) -> Result<(), AllocError> {
        if ext.len == 0 {
            return Ok(());
        }
        let double = AllocError::DoubleFree {
            offset: ext.offset,
            len: ext.len,
        };
        let mut start = ext.offset;
        let mut end = ext.end();
        if let Some((&o, &l)) = self.by_offset.range(..end).next_back()
            && o + l > ext.offset
        {
            return Err(double);
        }
        if let Some((&o, &l)) = self.by_offset.range(..ext.offset).next_back()
            && o + l == ext.offset
        {
            self.remove_raw(o, l);
            start = o;
        }
        if let Some(&l) = self.by_offset.get(&end) {
            self.remove_raw(end, l);
            end += l;
        }
        self.insert_raw(start, end - start);
        self.free += ext.len;
        Ok(())
    }

    /// Marks an extent that is currently free as used (building the map at open).
    pub fn reserve(&mut self, ext: Extent) -> bool {
        let Some((&o, &l)) = self.by_offset.range(..=ext.offset).next_back() else {
            return false;
        };
        if o + l < ext.end() {
            return false;
        }
        self.remove_raw(o, l);
        if ext.offset > o {
            self.insert_raw(o, ext.offset - o);
        }
        if o + l > ext.end() {
            self.insert_raw(ext.end(), o + l - ext.end());
        }
        self.free -= ext.len;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const B: u64 = BLOCK_SIZE as u64;

    #[test]
    fn best_fit_then_split_then_merge() {
        let mut a = Allocator::new();
        a.release(Extent {
            offset: 0,
            len: 10 * B,
        })
        .expect("release");
        a.release(Extent {
            offset: 20 * B,
            len: 3 * B,
        })
        .expect("release");
        // Best fit picks the 3-block hole for 2 blocks.
        let first = a.allocate(2 * B).expect("fits");
        assert_eq!(
            first,
            vec![Extent {
                offset: 20 * B,
                len: 2 * B
            }]
        );
        // 11 blocks need two extents.
        let mut got = a.allocate(11 * B).expect("fits in total");
        assert_eq!(got.iter().map(|e| e.len).sum::<u64>(), 11 * B);
        assert_eq!(a.free_bytes(), 0);
        assert!(matches!(a.allocate(B), Err(AllocError::NoSpace { .. })));
        got.extend(first);
        for e in got {
            a.release(e).expect("release");
        }
        assert_eq!(a.free_extents().count(), 2, "neighbours merge");
        assert_eq!(a.free_bytes(), 13 * B);
        assert!(matches!(
            a.release(Extent { offset: B, len: B }),
            Err(AllocError::DoubleFree { .. })
        ));
    }

    #[test]
    fn failed_allocation_takes_nothing() {
        let mut a = Allocator::new();
        a.release(Extent {
            offset: 0,
            len: 4 * B,
        })
        .expect("release");
        assert!(a.allocate(5 * B).is_err());
        assert_eq!(a.free_bytes(), 4 * B);
    }

    proptest! {
        /// Random allocate/release sequences never hand out overlapping extents, and
        /// free + allocated always equals the total.
        #[test]
        fn never_overlaps(ops in prop::collection::vec((any::<bool>(), 1u64..40), 1..200)) {
            let total = 256 * B;
            let mut a = Allocator::new();
            a.release(Extent { offset: 0, len: total }).expect("release");
            let mut held: Vec<Extent> = Vec::new();
            for (alloc, n) in ops {
                if alloc || held.is_empty() {
                    if let Ok(exts) = a.allocate(n * B) {
                        prop_assert_eq!(exts.iter().map(|e| e.len).sum::<u64>(), n * B);
                        held.extend(exts);
                    }
                } else {
                    let e = held.swap_remove((n as usize) % held.len());
                    a.release(e).expect("release of held extent");
                }
                let mut all: Vec<Extent> = held.clone();
                all.extend(a.free_extents());
                all.sort();
                for w in all.windows(2) {
                    prop_assert!(w[0].end() <= w[1].offset, "overlap {:?} {:?}", w[0], w[1]);
                }
                prop_assert_eq!(all.iter().map(|e| e.len).sum::<u64>(), total);
                prop_assert_eq!(a.free_bytes(), a.free_extents().map(|e| e.len).sum::<u64>());
            }
        }
    }
}
