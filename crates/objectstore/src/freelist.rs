//! The durable form of the allocator: a bitmap of used blocks in RocksDB.
//!
//! The device is cut into regions of [`REGION_BLOCKS`] blocks (4 MiB). Region `r` is the
//! key `B` + `r` (u64 big-endian) whose value is a [`REGION_BYTES`]-byte bitmap, bit `i`
//! (byte `i / 8`, bit `i % 8`) set when block `r * REGION_BLOCKS + i` is in use. A
//! region with no key is entirely free. Changes are written as RocksDB *merge*
//! operands that XOR a mask into the region (as Ceph's BlueStore does), so allocating
//! and freeing both toggle bits, need no read, and commit in the same batch as the
//! objects whose extents they describe.

use crate::alloc::{Allocator, Extent};
use crate::device::BLOCK_SIZE;

/// Blocks per bitmap region.
pub const REGION_BLOCKS: u64 = 1024;
/// Bytes of one region's bitmap.
pub const REGION_BYTES: usize = (REGION_BLOCKS / 8) as usize;
/// Key prefix of bitmap regions.
pub const PREFIX: u8 = b'B';

/// Name of the merge operator; must never change for existing databases.
pub const MERGE_OPERATOR_NAME: &str = "cuttle.xor.v1";

/// The key of region `r`.
pub fn region_key(r: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = PREFIX;
    k[1..].copy_from_slice(&r.to_be_bytes());
    k
}

/// The region number in a bitmap key, if it is one.
pub fn parse_region_key(k: &[u8]) -> Option<u64> {
    if k.len() != 9 || k[0] != PREFIX {
        return None;
    }
    let mut a = [0u8; 8];
    a.copy_from_slice(&k[1..]);
    Some(u64::from_be_bytes(a))
}

/// XOR masks, per region, that toggle every block of the given extents.
#[derive(Debug, Default)]
pub struct Toggles {
    regions: std::collections::BTreeMap<u64, [u8; REGION_BYTES]>,
}

impl Toggles {
    /// No toggles.
    pub fn new() -> Toggles {
        Toggles::default()
    }

    /// Toggles every block of `ext`.
    pub fn toggle(&mut self, ext: Extent) {
        let b = BLOCK_SIZE as u64;
        for block in ext.offset / b..ext.end() / b {
            let region = block / REGION_BLOCKS;
            let bit = (block % REGION_BLOCKS) as usize;
            let mask = self.regions.entry(region).or_insert([0u8; REGION_BYTES]);
            mask[bit / 8] ^= 1 << (bit % 8);
        }
    }

    /// The (key, mask) merge operands, skipping regions whose toggles cancelled out.
    pub fn operands(&self) -> impl Iterator<Item = ([u8; 9], &[u8; REGION_BYTES])> {
        self.regions
            .iter()
            .filter(|(_, m)| m.iter().any(|&x| x != 0))
            .map(|(&r, m)| (region_key(r), m))
    }
}

/// The merge function: XOR of the existing value and every operand.
pub fn xor_merge(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let mut out = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for op in operands {
        if out.len() < op.len() {
            out.resize(op.len(), 0);
        }
        for (o, x) in out.iter_mut().zip(op) {
            *o ^= x;
        }
    }
    Some(out)
}

/// Whether block `i` of a region bitmap is marked used.
pub fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// Builds the allocator for the data area `[data_start, end)` from the stored regions
/// (in key order): every block whose bit is clear is free.
pub fn build_allocator(
    data_start: u64,
    end: u64,
    regions: impl IntoIterator<Item = (u64, Vec<u8>)>,
) -> Allocator {
    let b = BLOCK_SIZE as u64;
    let mut alloc = Allocator::new();
    let first_block = data_start / b;
    let end_block = end / b;
    let mut next = first_block; // first block not yet classified
    let mut free_run: Option<u64> = None;
    let flush = |alloc: &mut Allocator, run: &mut Option<u64>, upto: u64| {
        if let Some(start) = run.take()
            && upto > start
        {
            // Fresh ranges never overlap, so release cannot fail here.
            let _ = alloc.release(Extent {
                offset: start * b,
                len: (upto - start) * b,
            });
        }
    };
    for (region, bitmap) in regions {
        let rstart = (region * REGION_BLOCKS).max(first_block);
        let rend = ((region + 1) * REGION_BLOCKS).min(end_block);
        if rstart >= rend {
            continue;
        }
        // Blocks between the last region seen and this one are free.
        if next < rstart {
            free_run.get_or_insert(next);
        }
        for block in rstart..rend {
            let used = bit(&bitmap, (block % REGION_BLOCKS) as usize);
            if used {
                flush(&mut alloc, &mut free_run, block);
            } else {
                free_run.get_or_insert(block);
            }
        }
        next = rend;
    }
    if next < end_block {
        free_run.get_or_insert(next);
    }
    flush(&mut alloc, &mut free_run, end_block);
    alloc
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: u64 = BLOCK_SIZE as u64;

    #[test]
    fn toggles_cancel_and_build() {
        let mut t = Toggles::new();
        let a = Extent {
            offset: 300 * B,
            len: 10 * B,
        };
        let c = Extent {
            offset: 1020 * B,
            len: 8 * B,
        }; // crosses a region boundary
        t.toggle(a);
        t.toggle(c);
        let ops: Vec<_> = t
            .operands()
            .map(|(k, m)| (parse_region_key(&k), m.to_vec()))
            .collect();
        assert_eq!(ops.len(), 2);
        let regions: Vec<(u64, Vec<u8>)> = ops
            .iter()
            .map(|(r, m)| (r.expect("key"), m.clone()))
            .collect();
        let alloc = build_allocator(256 * B, 4096 * B, regions);
        let free: Vec<Extent> = alloc.free_extents().collect();
        assert_eq!(
            free,
            vec![
                Extent {
                    offset: 256 * B,
                    len: 44 * B
                },
                Extent {
                    offset: 310 * B,
                    len: 710 * B
                },
                Extent {
                    offset: 1028 * B,
                    len: (4096 - 1028) * B
                },
            ]
        );
        let mut t2 = Toggles::new();
        t2.toggle(a);
        t2.toggle(a);
        assert_eq!(t2.operands().count(), 0, "toggling twice cancels");
    }
}
