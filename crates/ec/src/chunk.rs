//! [`Chunk`] and [`ChunkPiece`]: coded bytes with their crc32c per 4 KiB block.
//!
//! A chunk is what one OSD stores for one object: its shard id, `chunk_len` bytes and
//! one crc per block (see [`crate::crc`]). A piece is a block-aligned part of a chunk, what
//! a range read fetches. Both are cheap to clone: the bytes are reference-counted.

use std::ops::Range;

use bytes::Bytes;
use cuttle_types::ShardId;

use crate::crc::{self, CRC_BLOCK_SIZE};
use crate::error::EcError;

/// One whole chunk of an encoded object.
///
/// Invariant when produced by a codec: `block_crcs == crc::block_crcs(&data)`. Chunks
/// read back from disk or the network may break it; [`Chunk::verify`] (and every decode)
/// finds out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Which chunk of the stripe this is: data `0..k`, parity `k..k+m`.
    pub shard: ShardId,
    /// The chunk's bytes, `layout.chunk_len()` long.
    pub data: Bytes,
    /// crc32c of each 4 KiB block of `data`, the last block possibly shorter.
    pub block_crcs: Vec<u32>,
}

impl Chunk {
    /// A chunk with freshly computed crcs.
    pub fn new(shard: ShardId, data: Bytes) -> Chunk {
        let block_crcs = crc::block_crcs(&data);
        Chunk {
            shard,
            data,
            block_crcs,
        }
    }

    /// Checks the crc count and every block's crc.
    pub fn verify(&self) -> Result<(), EcError> {
        self.as_piece_ref().verify()
    }

    /// The block-aligned part of the chunk covering `range` (widened to block boundaries
    /// and clamped to the chunk), sharing the bytes.
    pub fn piece(&self, range: Range<u64>) -> ChunkPiece {
        let len = self.data.len() as u64;
        let block = CRC_BLOCK_SIZE as u64;
        let start = (range.start.min(len) / block) * block;
        let end = range
            .end
            .min(len)
            .next_multiple_of(block)
            .min(len)
            .max(start);
        let blocks = (start / block) as usize..crc::block_count(end) as usize;
        ChunkPiece {
            shard: self.shard,
            offset: start,
            data: self.data.slice(start as usize..end as usize),
            block_crcs: self.block_crcs.get(blocks).unwrap_or_default().to_vec(),
        }
    }

    pub(crate) fn as_piece_ref(&self) -> PieceRef<'_> {
        PieceRef {
            shard: self.shard,
            offset: 0,
            data: &self.data,
            block_crcs: &self.block_crcs,
        }
    }
}

/// A block-aligned part of a chunk: bytes `[offset, offset + data.len())` of chunk
/// `shard`, with the crcs of exactly those blocks.
///
/// `offset` is a multiple of 4096; the piece ends on a block boundary or at the end of
/// the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPiece {
    /// Which chunk the piece belongs to.
    pub shard: ShardId,
    /// Offset of the piece within its chunk, a multiple of 4096.
    pub offset: u64,
    /// The bytes.
    pub data: Bytes,
    /// crc32c of each block of the piece: block `i` of the piece is block
    /// `offset / 4096 + i` of the chunk.
    pub block_crcs: Vec<u32>,
}

impl ChunkPiece {
    /// Checks the crc count and every block's crc. Alignment against the chunk length is
    /// checked by the codec, which knows the layout.
    pub fn verify(&self) -> Result<(), EcError> {
        self.as_piece_ref().verify()
    }

    /// The chunk byte range the piece covers.
    pub fn range(&self) -> Range<u64> {
        self.offset..self.offset + self.data.len() as u64
    }

    pub(crate) fn as_piece_ref(&self) -> PieceRef<'_> {
        PieceRef {
            shard: self.shard,
            offset: self.offset,
            data: &self.data,
            block_crcs: &self.block_crcs,
        }
    }
}

impl From<Chunk> for ChunkPiece {
    fn from(c: Chunk) -> ChunkPiece {
        ChunkPiece {
            shard: c.shard,
            offset: 0,
            data: c.data,
            block_crcs: c.block_crcs,
        }
    }
}

/// A borrowed view of a chunk or piece, so whole chunks and pieces share one code path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PieceRef<'a> {
    pub shard: ShardId,
    pub offset: u64,
    pub data: &'a Bytes,
    pub block_crcs: &'a [u32],
}

impl PieceRef<'_> {
    pub fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }

    pub fn first_block(&self) -> u64 {
        self.offset / CRC_BLOCK_SIZE as u64
    }

    /// True when the piece holds chunk bytes `[start, end)`.
    pub fn covers(&self, start: u64, end: u64) -> bool {
        self.offset <= start && end <= self.end()
    }

    /// The piece's bytes for chunk range `[start, end)`, which it must cover.
    pub fn columns(&self, start: u64, end: u64) -> &[u8] {
        &self.data[(start - self.offset) as usize..(end - self.offset) as usize]
    }

    pub fn check_crc_count(&self) -> Result<(), EcError> {
        let expected = crc::block_count(self.data.len() as u64);
        if self.block_crcs.len() as u64 != expected {
            return Err(EcError::WrongCrcCount {
                shard: self.shard,
                expected,
                actual: self.block_crcs.len() as u64,
            });
        }
        Ok(())
    }

    pub fn verify(&self) -> Result<(), EcError> {
        self.check_crc_count()?;
        crc::check_blocks(self.shard, self.first_block(), self.data, self.block_crcs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_names_shard_and_chunk_block() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let chunk = Chunk::new(ShardId(3), Bytes::from(data.clone()));
        assert_eq!(chunk.block_crcs.len(), 3);
        chunk.verify().expect("fresh chunk verifies");

        let piece = chunk.piece(5000..6000);
        assert_eq!(piece.offset, 4096);
        assert_eq!(piece.data.len(), 4096);
        assert_eq!(piece.block_crcs, vec![chunk.block_crcs[1]]);
        piece.verify().expect("piece verifies");

        let tail = chunk.piece(9000..20_000);
        assert_eq!(tail.range(), 8192..10_000);
        assert_eq!(tail.block_crcs.len(), 1);

        let mut bad = data;
        bad[9000] ^= 0x40;
        let bad = Chunk {
            data: Bytes::from(bad),
            ..chunk.clone()
        };
        assert!(matches!(
            bad.verify(),
            Err(EcError::CorruptBlock {
                shard: ShardId(3),
                block: 2,
                ..
            })
        ));
        let bad_piece = bad.piece(8192..10_000);
        assert!(matches!(
            bad_piece.verify(),
            Err(EcError::CorruptBlock {
                shard: ShardId(3),
                block: 2,
                ..
            })
        ));
        let short = Chunk {
            block_crcs: vec![0],
            ..chunk
        };
        assert!(matches!(
            short.verify(),
            Err(EcError::WrongCrcCount {
                expected: 3,
                actual: 1,
                ..
            })
        ));
    }
}
