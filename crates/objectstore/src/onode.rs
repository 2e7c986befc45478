//! The onode: one object's metadata record.
//!
//! Logical bytes `[0, size)` of an object map onto device blocks through a sorted list
//! of [`DataExtent`]s. Extents are block-aligned in both spaces and never overlap;
//! logical gaps are holes that read as zeros. Every block carries the crc32c of its
//! 4 KiB as written (including zero padding past `size`). Invariant: bytes past `size`
//! inside the last block are zero on disk, so growing an object never exposes old data.
//!
//! Encoding (version 1, see `codec.rs` for the primitives):
//!
//! ```text
//! u8 version=1 | u64 nid | u64 size | u8 flags (bit 0: has omap)
//! varint n_extents, each: u64 logical | u64 device | varint blocks | u32 crc x blocks
//! varint n_xattrs,  each: bytes name (UTF-8) | bytes value
//! ```

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::alloc::Extent;
use crate::codec::{DecodeError, Decoder, Encoder};
use crate::device::BLOCK_SIZE;

const VERSION: u8 = 1;
const FLAG_OMAP: u8 = 1;
const B: u64 = BLOCK_SIZE as u64;

/// A run of an object's blocks stored contiguously on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataExtent {
    /// First logical byte (block-aligned).
    pub logical: u64,
    /// First device byte (block-aligned).
    pub device: u64,
    /// crc32c of each 4 KiB block, in order; the extent is `crcs.len()` blocks long.
    pub crcs: Vec<u32>,
}

impl DataExtent {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.crcs.len() as u64 * B
    }

    /// Whether the extent has no blocks.
    pub fn is_empty(&self) -> bool {
        self.crcs.is_empty()
    }

    /// One past the last logical byte.
    pub fn logical_end(&self) -> u64 {
        self.logical + self.len()
    }

    /// The device bytes it occupies.
    pub fn device_extent(&self) -> Extent {
        Extent {
            offset: self.device,
            len: self.len(),
        }
    }
}

/// Metadata of one object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Onode {
    /// Numeric id, unique in the store; prefixes the object's omap keys.
    pub nid: u64,
    /// Logical size in bytes.
    pub size: u64,
    /// Data extents sorted by logical offset.
    pub extents: Vec<DataExtent>,
    /// Extended attributes.
    pub xattrs: BTreeMap<String, Bytes>,
    /// Whether omap entries may exist (a hint to skip omap range deletes).
    pub has_omap: bool,
}

impl Onode {
    /// An empty object with the given nid.
    pub fn new(nid: u64) -> Onode {
        Onode {
            nid,
            ..Onode::default()
        }
    }

    /// Removes the logical blocks `[start, end)` (block-aligned) from the extent map,
    /// splitting extents that straddle the edges. Returns the device extents freed.
    pub fn punch(&mut self, start: u64, end: u64) -> Vec<Extent> {
        debug_assert!(start.is_multiple_of(B) && end.is_multiple_of(B));
        let mut freed = Vec::new();
        if start >= end {
            return freed;
        }
        let mut kept = Vec::with_capacity(self.extents.len() + 1);
        for e in self.extents.drain(..) {
            if e.logical_end() <= start || e.logical >= end {
                kept.push(e);
                continue;
            }
            let cut_from = start.max(e.logical);
            let cut_to = end.min(e.logical_end());
            let first = ((cut_from - e.logical) / B) as usize;
            let last = ((cut_to - e.logical) / B) as usize;
            freed.push(Extent {
                offset: e.device + first as u64 * B,
                len: (last - first) as u64 * B,
            });
            if first > 0 {
                kept.push(DataExtent {
                    logical: e.logical,
                    device: e.device,
                    crcs: e.crcs[..first].to_vec(),
                });
            }
            if last < e.crcs.len() {
                kept.push(DataExtent {
                    logical: e.logical + last as u64 * B,
                    device: e.device + last as u64 * B,
                    crcs: e.crcs[last..].to_vec(),
                });
            }
        }
        self.extents = kept;
        freed
    }

    /// Adds an extent over a logical range that [`punch`](Self::punch) has cleared.
    pub fn insert(&mut self, ext: DataExtent) {
        let at = self.extents.partition_point(|e| e.logical < ext.logical);
        self.extents.insert(at, ext);
    }

    /// The device location and crc of the logical block starting at `lblock`, if stored.
    pub fn block(&self, lblock: u64) -> Option<(u64, u32)> {
        let i = self.extents.partition_point(|e| e.logical_end() <= lblock);
        let e = self.extents.get(i)?;
        if e.logical > lblock {
            return None;
        }
        let idx = ((lblock - e.logical) / B) as usize;
        Some((e.device + idx as u64 * B, e.crcs[idx]))
    }

    /// Every device extent the object uses.
    pub fn device_extents(&self) -> impl Iterator<Item = Extent> + '_ {
        self.extents.iter().map(DataExtent::device_extent)
    }

    /// Bytes of device space the object uses.
    pub fn allocated_bytes(&self) -> u64 {
        self.extents.iter().map(DataExtent::len).sum()
    }

    /// Approximate memory footprint, for cache accounting.
    pub fn approx_bytes(&self) -> usize {
        128 + self
            .extents
            .iter()
            .map(|e| 32 + 4 * e.crcs.len())
            .sum::<usize>()
            + self
                .xattrs
                .iter()
                .map(|(k, v)| 48 + k.len() + v.len())
                .sum::<usize>()
    }

    /// Serialises the record.
    pub fn encode(&self) -> Vec<u8> {
        let mut e = Encoder::new();
        e.u8(VERSION)
            .u64(self.nid)
            .u64(self.size)
            .u8(if self.has_omap { FLAG_OMAP } else { 0 });
        e.varint(self.extents.len() as u64);
        for x in &self.extents {
            e.u64(x.logical).u64(x.device).varint(x.crcs.len() as u64);
            for &c in &x.crcs {
                e.u32(c);
            }
        }
        e.varint(self.xattrs.len() as u64);
        for (k, v) in &self.xattrs {
            e.bytes(k.as_bytes()).bytes(v);
        }
        e.finish()
    }

    /// Parses a record, checking its structural invariants.
    pub fn decode(data: &[u8]) -> Result<Onode, DecodeError> {
        let mut d = Decoder::new(data);
        if d.u8()? != VERSION {
            return Err(DecodeError("unknown onode version"));
        }
        let nid = d.u64()?;
        let size = d.u64()?;
        let flags = d.u8()?;
        let n = d.len(17)?;
        let mut extents = Vec::with_capacity(n);
        let mut prev_end = 0u64;
        for _ in 0..n {
            let logical = d.u64()?;
            let device = d.u64()?;
            let blocks = d.len(4)?;
            if blocks == 0 || logical % B != 0 || device % B != 0 || logical < prev_end {
                return Err(DecodeError("malformed extent list"));
            }
            let mut crcs = Vec::with_capacity(blocks);
            for _ in 0..blocks {
                crcs.push(d.u32()?);
            }
            let ext = DataExtent {
                logical,
                device,
                crcs,
            };
            prev_end = ext.logical_end();
            extents.push(ext);
        }
        let nx = d.len(2)?;
        let mut xattrs = BTreeMap::new();
        for _ in 0..nx {
            let k = d.string()?;
            let v = Bytes::copy_from_slice(d.bytes()?);
            xattrs.insert(k, v);
        }
        if !d.is_empty() {
            return Err(DecodeError("trailing bytes after onode"));
        }
        Ok(Onode {
            nid,
            size,
            extents,
            xattrs,
            has_omap: flags & FLAG_OMAP != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(l: u64, d: u64, blocks: usize) -> DataExtent {
        DataExtent {
            logical: l * B,
            device: d * B,
            crcs: (0..blocks as u32).collect(),
        }
    }

    #[test]
    fn punch_splits_and_reports_freed_device_space() {
        let mut o = Onode::new(1);
        o.insert(ext(0, 100, 4));
        o.insert(ext(8, 200, 4));
        let freed = o.punch(2 * B, 9 * B);
        assert_eq!(
            freed,
            vec![
                Extent {
                    offset: 102 * B,
                    len: 2 * B
                },
                Extent {
                    offset: 200 * B,
                    len: B
                },
            ]
        );
        assert_eq!(
            o.extents,
            vec![
                DataExtent {
                    logical: 0,
                    device: 100 * B,
                    crcs: vec![0, 1]
                },
                DataExtent {
                    logical: 9 * B,
                    device: 201 * B,
                    crcs: vec![1, 2, 3]
                },
            ]
        );
        assert_eq!(o.block(9 * B), Some((201 * B, 1)));
        assert_eq!(o.block(4 * B), None);
    }

    #[test]
    fn encode_round_trip_and_rejects_garbage() {
        let mut o = Onode::new(42);
        o.size = 12345;
        o.insert(ext(0, 10, 3));
        o.xattrs.insert("_".into(), Bytes::from_static(b"v"));
        o.has_omap = true;
        let enc = o.encode();
        assert_eq!(Onode::decode(&enc), Ok(o));
        assert!(Onode::decode(&enc[..enc.len() - 1]).is_err());
        assert!(Onode::decode(&[9]).is_err());
    }
}
