//! [`StripeLayout`]: where each byte of an object lives among the `k` data chunks.
//!
//! The layout is a pure function of the pool's [`EcProfile`] and the object's logical
//! size, so the OSD records only the size next to the chunk and recomputes the layout on
//! every read. The formula is part of the stored format: changing it for an existing
//! profile would make stored chunks unreadable, so a new formula needs a new profile field
//! or codec.

use std::ops::Range;

use cuttle_types::{EcProfile, ShardId};

use crate::crc::{CRC_BLOCK_SIZE, block_count};
use crate::error::EcError;

/// The per-chunk unit of a shortened (last or only) stripe is rounded up to this many
/// bytes, so every chunk of an object has the same length and vector code never needs a
/// scalar tail for more than a cache line. Padding is therefore below `64 * k` bytes per
/// object.
pub const CHUNK_ALIGN: u64 = 64;

/// How an object of a given size is cut into `k` equal data chunks (plus `m` parity
/// chunks of the same length).
///
/// A **stripe** is `k * stripe_unit` consecutive object bytes; data chunk `i` receives
/// the `i`-th unit of every stripe, so the chunks are the columns of the stripes. The last
/// stripe is **shortened** rather than padded to a full stripe: its unit is the smallest
/// multiple of [`CHUNK_ALIGN`] that holds `ceil(tail / k)` bytes. An object no larger than
/// one stripe is a single shortened stripe, so each data chunk is one **contiguous slice**
/// of the object and encoding needs no copy.
///
/// ```text
///  k = 3, stripe unit su, stripe width S = 3·su, object size L
///
///  L <= S: one shortened stripe, unit u = round_up(ceil(L/3), 64) <= su
///
///    object  [0 ........ u)[u ....... 2u)[2u ...... L)·pad·
///                 |              |             |
///    chunk s0 = object[0, u)     |             |          zero-copy slices
///    chunk s1 = object[u, 2u) <--'             |          of the input
///    chunk s2 = object[2u, L) ++ zeros <-------'          (only this one is copied)
///    chunks s3, s4 = parity: byte j of each is RS(s0[j], s1[j], s2[j])
///
///  L > S: full stripes of su bytes per chunk, then a shortened tail stripe (unit t)
///
///    object  |s0|s1|s2|s0|s1|s2|s0 t|s1 t|s2 t..L|pad|
///            '-stripe 0-'-stripe 1-'----tail----'
///    chunk s1 = object[su, 2su) ++ object[S+su, S+2su) ++ object[2S+t, 2S+2t)
///
///  chunk_len = full_stripes · su + t      (t = 0 when L is a multiple of S)
/// ```
///
/// Reed–Solomon works column by column (byte `j` of every parity chunk depends only on
/// byte `j` of every data chunk), so coding whole chunks at once equals coding stripe by
/// stripe, and any column range of a lost chunk can be rebuilt from the same column range
/// of `k` others. Padding bytes are zeros, are part of the chunk and are covered by its
/// crcs; the logical size, never the zeros, says where the object ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StripeLayout {
    profile: EcProfile,
    object_size: u64,
    full_stripes: u64,
    tail_unit: u64,
}

/// One piece of a byte range: `len` object bytes starting at `object_offset` live in data
/// chunk `shard` starting at `chunk_offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkExtent {
    /// The data chunk holding the bytes.
    pub shard: ShardId,
    /// Offset of the first byte within the chunk.
    pub chunk_offset: u64,
    /// Offset of the first byte within the object.
    pub object_offset: u64,
    /// Number of bytes.
    pub len: u64,
}

/// A read the caller must issue for a range read: bytes `[offset, offset + len)` of the
/// chunk `shard`, with the crcs of the blocks they cover. Always block-aligned: `offset`
/// is a multiple of 4096 and the end is one too, or the end of the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChunkRead {
    /// The chunk to read.
    pub shard: ShardId,
    /// First byte within the chunk.
    pub offset: u64,
    /// Number of bytes.
    pub len: u64,
}

impl ChunkRead {
    /// The chunk byte range.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.len
    }

    /// The indices of the crc blocks the read covers.
    pub fn blocks(&self) -> Range<u64> {
        let first = self.offset / CRC_BLOCK_SIZE as u64;
        first..first + block_count(self.len)
    }
}

impl StripeLayout {
    /// The layout of an object of `object_size` bytes under `profile`.
    pub fn new(profile: &EcProfile, object_size: u64) -> Result<StripeLayout, EcError> {
        profile
            .validate()
            .map_err(|source| EcError::InvalidProfile {
                profile: *profile,
                source,
            })?;
        let k = u64::from(profile.k);
        let su = u64::from(profile.stripe_unit);
        let stripe = k * su;
        let full_stripes = object_size / stripe;
        let tail = object_size % stripe;
        let tail_unit = tail.div_ceil(k).next_multiple_of(CHUNK_ALIGN);
        let layout = StripeLayout {
            profile: *profile,
            object_size,
            full_stripes,
            tail_unit,
        };
        // Every chunk, and the sum of the data chunks, must be addressable in memory.
        let total = layout.chunk_len().checked_mul(u64::from(profile.width()));
        if total.is_none_or(|t| usize::try_from(t).is_err()) {
            return Err(EcError::ObjectTooLarge { object_size });
        }
        Ok(layout)
    }

    /// The profile the layout was computed for.
    pub fn profile(&self) -> &EcProfile {
        &self.profile
    }

    /// Logical size of the object in bytes.
    pub fn object_size(&self) -> u64 {
        self.object_size
    }

    /// Number of data chunks.
    pub fn k(&self) -> u8 {
        self.profile.k
    }

    /// Number of parity chunks.
    pub fn m(&self) -> u8 {
        self.profile.m
    }

    /// Total number of chunks, `k + m`.
    pub fn width(&self) -> usize {
        usize::from(self.profile.k) + usize::from(self.profile.m)
    }

    /// Length of every chunk (data and parity) in bytes.
    pub fn chunk_len(&self) -> u64 {
        self.full_stripes * u64::from(self.profile.stripe_unit) + self.tail_unit
    }

    /// Number of 4 KiB crc blocks in every chunk.
    pub fn chunk_blocks(&self) -> u64 {
        block_count(self.chunk_len())
    }

    /// Number of full stripes (each `k * stripe_unit` object bytes).
    pub fn full_stripes(&self) -> u64 {
        self.full_stripes
    }

    /// Per-chunk unit of the shortened last stripe; 0 when there is none.
    pub fn tail_unit(&self) -> u64 {
        self.tail_unit
    }

    /// Zero bytes appended to the data chunks: `k * chunk_len - object_size`.
    pub fn padding(&self) -> u64 {
        u64::from(self.profile.k) * self.chunk_len() - self.object_size
    }

    /// True when every data chunk is one contiguous range of the object followed by zero
    /// padding: the object is at most one stripe, or `k == 1`.
    pub fn is_contiguous(&self) -> bool {
        self.profile.k == 1
            || self.full_stripes == 0
            || (self.full_stripes == 1 && self.tail_unit == 0)
    }

    /// When [`is_contiguous`](Self::is_contiguous), the object bytes data chunk `shard`
    /// holds (possibly empty; the rest of the chunk is zeros). `None` for a striped layout
    /// or a parity shard.
    pub fn contiguous_range(&self, shard: ShardId) -> Option<Range<u64>> {
        if !self.is_contiguous() || shard.0 >= self.profile.k {
            return None;
        }
        let start = (u64::from(shard.0) * self.chunk_len()).min(self.object_size);
        let end = (start + self.chunk_len()).min(self.object_size);
        Some(start..end)
    }

    /// Where object byte `object_offset` (which must be below the object size) lives:
    /// `(shard, chunk offset, run)`, where `run` bytes from there are consecutive in both
    /// the object and the chunk (up to the end of the stripe unit, padding included).
    pub fn locate(&self, object_offset: u64) -> (ShardId, u64, u64) {
        let su = u64::from(self.profile.stripe_unit);
        let stripe = u64::from(self.profile.k) * su;
        let full_bytes = self.full_stripes * stripe;
        let (unit, base_obj, base_chunk) = if object_offset < full_bytes {
            let s = object_offset / stripe;
            (su, s * stripe, s * su)
        } else {
            (self.tail_unit, full_bytes, self.full_stripes * su)
        };
        let within = object_offset - base_obj;
        let shard = ShardId((within / unit) as u8);
        let in_unit = within % unit;
        (shard, base_chunk + in_unit, unit - in_unit)
    }

    /// The inverse of [`locate`](Self::locate): the object offset of byte `chunk_offset`
    /// of data chunk `shard`, and how many bytes from there are consecutive in both. The
    /// offset may be at or past the object size: those bytes are padding.
    pub fn object_offset(&self, shard: ShardId, chunk_offset: u64) -> (u64, u64) {
        let su = u64::from(self.profile.stripe_unit);
        let stripe = u64::from(self.profile.k) * su;
        let i = u64::from(shard.0);
        let full_chunk = self.full_stripes * su;
        if chunk_offset < full_chunk {
            let s = chunk_offset / su;
            let in_unit = chunk_offset % su;
            (s * stripe + i * su + in_unit, su - in_unit)
        } else {
            let in_unit = chunk_offset - full_chunk;
            let base = self.full_stripes * stripe + i * self.tail_unit;
            (base + in_unit, self.tail_unit - in_unit)
        }
    }

    /// Checks that `[offset, offset + len)` lies within the object.
    pub fn check_range(&self, offset: u64, len: u64) -> Result<(), EcError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.object_size => Ok(()),
            _ => Err(EcError::RangeOutOfBounds {
                offset,
                len,
                object_size: self.object_size,
            }),
        }
    }

    /// The data-chunk pieces holding object bytes `[offset, offset + len)`, in object
    /// order. Adjacent pieces of one stripe unit are never split.
    pub fn extents(&self, offset: u64, len: u64) -> Result<Vec<ChunkExtent>, EcError> {
        self.check_range(offset, len)?;
        let end = offset + len;
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < end {
            let (shard, chunk_offset, run) = self.locate(pos);
            let n = run.min(end - pos);
            out.push(ChunkExtent {
                shard,
                chunk_offset,
                object_offset: pos,
                len: n,
            });
            pos += n;
        }
        Ok(out)
    }

    /// Appends data chunk `shard`'s bytes `columns` to `out`, copying them from the whole
    /// object `object` and writing zeros for padding.
    pub(crate) fn gather_columns(
        &self,
        object: &[u8],
        shard: ShardId,
        columns: Range<usize>,
        out: &mut Vec<u8>,
    ) {
        let mut col = columns.start;
        while col < columns.end {
            let (obj, run) = self.object_offset(shard, col as u64);
            let n = (run as usize).min(columns.end - col);
            let obj = obj as usize;
            let have = object.len().saturating_sub(obj).min(n);
            if have > 0 {
                out.extend_from_slice(&object[obj..obj + have]);
            }
            out.resize(out.len() + (n - have), 0);
            col += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(k: u8, su: u32, size: u64) -> StripeLayout {
        let mut p = EcProfile::new(k, 1);
        p.stripe_unit = su;
        StripeLayout::new(&p, size).expect("valid")
    }

    #[test]
    fn small_objects_cost_little_padding() {
        let l = layout(8, 4096, 1);
        assert_eq!(l.chunk_len(), 64);
        assert_eq!(l.padding(), 8 * 64 - 1);
        assert!(l.is_contiguous());
        let l = layout(2, 4096, 0);
        assert_eq!(l.chunk_len(), 0);
        assert_eq!(l.chunk_blocks(), 0);
        assert_eq!(l.padding(), 0);
    }

    #[test]
    fn four_mib_objects_are_one_stripe_with_the_default_unit() {
        for k in [1u8, 2, 3, 4, 8] {
            let l = StripeLayout::new(&EcProfile::new(k, 1), 4 << 20).expect("valid");
            assert!(l.is_contiguous(), "k={k}");
            assert!(l.padding() < 64 * u64::from(k));
        }
        let l = StripeLayout::new(&EcProfile::new(4, 2), 4 << 20).expect("valid");
        assert_eq!(l.chunk_len(), 1 << 20);
        assert_eq!(l.padding(), 0);
        assert_eq!(l.contiguous_range(ShardId(3)), Some(3 << 20..4 << 20));
    }

    #[test]
    fn striped_objects_shorten_the_tail_stripe() {
        // k = 3, su = 4096: 2 full stripes (24576 bytes) and a tail of 100 bytes.
        let l = layout(3, 4096, 24676);
        assert_eq!(l.full_stripes(), 2);
        assert_eq!(l.tail_unit(), 64);
        assert_eq!(l.chunk_len(), 8192 + 64);
        assert!(!l.is_contiguous());
        assert_eq!(l.locate(0), (ShardId(0), 0, 4096));
        assert_eq!(l.locate(4096 + 5), (ShardId(1), 5, 4091));
        assert_eq!(l.locate(12288 + 4096), (ShardId(1), 4096, 4096));
        assert_eq!(l.locate(24576 + 70), (ShardId(1), 8192 + 6, 58));
        assert_eq!(l.object_offset(ShardId(1), 8192 + 6), (24576 + 70, 58));
        assert_eq!(
            l.object_offset(ShardId(2), 8192 + 63),
            (24576 + 128 + 63, 1)
        );
    }

    #[test]
    fn extents_cover_the_range_in_order() {
        let l = layout(2, 4096, 20000);
        let ext = l.extents(4000, 5000).expect("in range");
        assert_eq!(
            ext,
            vec![
                ChunkExtent {
                    shard: ShardId(0),
                    chunk_offset: 4000,
                    object_offset: 4000,
                    len: 96
                },
                ChunkExtent {
                    shard: ShardId(1),
                    chunk_offset: 0,
                    object_offset: 4096,
                    len: 4096
                },
                ChunkExtent {
                    shard: ShardId(0),
                    chunk_offset: 4096,
                    object_offset: 8192,
                    len: 808
                },
            ]
        );
        assert!(l.extents(20000, 0).expect("empty").is_empty());
        assert!(matches!(
            l.extents(19999, 2),
            Err(EcError::RangeOutOfBounds { .. })
        ));
        assert!(matches!(
            l.extents(u64::MAX, 2),
            Err(EcError::RangeOutOfBounds { .. })
        ));
    }

    #[test]
    fn gather_copies_and_pads() {
        let l = layout(2, 4096, 9000);
        let object: Vec<u8> = (0..9000u32).map(|i| i as u8).collect();
        let mut out = Vec::new();
        l.gather_columns(&object, ShardId(1), 0..l.chunk_len() as usize, &mut out);
        assert_eq!(out.len() as u64, l.chunk_len());
        assert_eq!(&out[..4096], &object[4096..8192]);
        let tail = l.tail_unit() as usize;
        assert_eq!(&out[4096..4096 + (808 - tail)], &object[8192 + tail..]);
        assert!(out[4096 + (808 - tail)..].iter().all(|&b| b == 0));
    }

    #[test]
    fn rejects_bad_profiles() {
        let mut p = EcProfile::new(2, 1);
        p.stripe_unit = 100;
        assert!(matches!(
            StripeLayout::new(&p, 10),
            Err(EcError::InvalidProfile { .. })
        ));
    }
}
