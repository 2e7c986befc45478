//! [`EcError`]: every way encoding, decoding or planning a read can fail.
//!
//! Each variant carries the data an operator or the OSD needs to act (which shard, which
//! block, how many chunks were there) and has a stable [`EcError::code`]. No variant ever
//! stands for "the data might be wrong": when the codec cannot prove the bytes it returns,
//! it returns one of these instead.

use cuttle_types::{EcCodec, EcProfile, PoolError, ShardId};

/// Why an erasure-code operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcError {
    /// The profile breaks one of its invariants (see [`EcProfile::validate`]).
    #[error("invalid erasure-code profile {profile}: {source}")]
    InvalidProfile {
        /// The rejected profile.
        profile: EcProfile,
        /// What is wrong with it.
        source: PoolError,
    },
    /// This build has no implementation of the profile's codec.
    #[error("erasure-code codec {codec} is not supported by this build")]
    UnsupportedCodec {
        /// The codec asked for.
        codec: EcCodec,
    },
    /// A layout built for one profile was handed to a codec built for another.
    #[error("layout was computed for profile {layout}, but this codec is {codec}")]
    ProfileMismatch {
        /// Profile of the codec doing the work.
        codec: EcProfile,
        /// Profile recorded in the layout.
        layout: EcProfile,
    },
    /// Fewer than `k` usable chunks (or chunk pieces covering the needed columns): more
    /// than `m` are lost, so the data cannot be recovered.
    #[error("too many erasures: need {needed} chunks, have {available}")]
    TooManyErasures {
        /// Chunks needed (`k`).
        needed: u8,
        /// Usable chunks supplied.
        available: u8,
    },
    /// A block of a supplied chunk does not match its crc32c.
    #[error(
        "shard {shard} is corrupt: block {block} has crc32c {actual:#010x}, expected {expected:#010x}"
    )]
    CorruptBlock {
        /// The corrupt shard.
        shard: ShardId,
        /// Index of the 4 KiB block within the chunk (not within the piece).
        block: u64,
        /// The crc recorded with the chunk.
        expected: u32,
        /// The crc of the bytes supplied.
        actual: u32,
    },
    /// The chunks are consistent with their crcs but the parity does not match the data:
    /// something wrote a wrong chunk together with a matching crc (found by deep scrub).
    #[error("parity shard {shard} does not match the data chunks at block {block}")]
    ParityMismatch {
        /// The parity shard whose bytes differ from the recomputed parity.
        shard: ShardId,
        /// First differing 4 KiB block.
        block: u64,
    },
    /// A chunk (or piece) is not as long as the layout says.
    #[error("shard {shard} has length {actual}, expected {expected}")]
    WrongChunkLength {
        /// The offending shard.
        shard: ShardId,
        /// Length the layout requires.
        expected: u64,
        /// Length supplied.
        actual: u64,
    },
    /// A chunk (or piece) carries the wrong number of block crcs.
    #[error("shard {shard} carries {actual} block crcs, expected {expected}")]
    WrongCrcCount {
        /// The offending shard.
        shard: ShardId,
        /// Number of 4 KiB blocks in the data.
        expected: u64,
        /// Number of crcs supplied.
        actual: u64,
    },
    /// A piece does not start on a 4 KiB block boundary of its chunk, or does not end on
    /// one before the end of the chunk, so its crcs cannot be checked.
    #[error("piece of shard {shard} at chunk offset {offset} length {len} is not block-aligned")]
    MisalignedPiece {
        /// The offending shard.
        shard: ShardId,
        /// Offset of the piece within the chunk.
        offset: u64,
        /// Length of the piece.
        len: u64,
    },
    /// A shard id is outside `0..k+m`.
    #[error("shard {shard} is out of range for a {k}+{m} code")]
    ShardOutOfRange {
        /// The offending shard.
        shard: ShardId,
        /// Data chunks.
        k: u8,
        /// Parity chunks.
        m: u8,
    },
    /// The same shard was supplied (or asked for) twice.
    #[error("shard {shard} appears twice")]
    DuplicateShard {
        /// The repeated shard.
        shard: ShardId,
    },
    /// `reconstruct` was asked to rebuild a shard that was also supplied.
    #[error("shard {shard} was asked for but is already available")]
    ShardNotMissing {
        /// The shard in both lists.
        shard: ShardId,
    },
    /// A byte range reaches past the end of the object.
    #[error("range {offset}+{len} is outside the object of {object_size} bytes")]
    RangeOutOfBounds {
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        len: u64,
        /// Logical object size.
        object_size: u64,
    },
    /// The object is too large to be addressed in memory on this machine.
    #[error("object of {object_size} bytes is too large to encode in memory")]
    ObjectTooLarge {
        /// Logical object size.
        object_size: u64,
    },
    /// The chosen `k` chunks gave a singular decoding matrix. Cannot happen for an MDS
    /// code such as Reed–Solomon; reported rather than returning wrong data.
    #[error("decoding matrix for shards {sources:?} is singular")]
    SingularMatrix {
        /// The shards that were chosen as sources.
        sources: Vec<ShardId>,
    },
    /// The build requires a CPU feature this machine lacks (see [`crate::check_cpu`]).
    #[error(
        "this CPU lacks {feature}, which cuttle-ec was built to require (feature `simd-accel` \
         compiles the Reed-Solomon kernels for x86-64 AVX2); rebuild with \
         `--no-default-features` for the portable path"
    )]
    CpuLacksFeature {
        /// The missing feature, as `is_x86_feature_detected!` names it (`"avx2"`...).
        feature: &'static str,
    },
}

impl EcError {
    /// A stable, machine-readable code for the variant, for logs, metrics and the wire.
    pub fn code(&self) -> &'static str {
        match self {
            EcError::InvalidProfile { .. } => "EC_INVALID_PROFILE",
            EcError::UnsupportedCodec { .. } => "EC_UNSUPPORTED_CODEC",
            EcError::ProfileMismatch { .. } => "EC_PROFILE_MISMATCH",
            EcError::TooManyErasures { .. } => "EC_TOO_MANY_ERASURES",
            EcError::CorruptBlock { .. } => "EC_CORRUPT_BLOCK",
            EcError::ParityMismatch { .. } => "EC_PARITY_MISMATCH",
            EcError::WrongChunkLength { .. } => "EC_WRONG_CHUNK_LENGTH",
            EcError::WrongCrcCount { .. } => "EC_WRONG_CRC_COUNT",
            EcError::MisalignedPiece { .. } => "EC_MISALIGNED_PIECE",
            EcError::ShardOutOfRange { .. } => "EC_SHARD_OUT_OF_RANGE",
            EcError::DuplicateShard { .. } => "EC_DUPLICATE_SHARD",
            EcError::ShardNotMissing { .. } => "EC_SHARD_NOT_MISSING",
            EcError::RangeOutOfBounds { .. } => "EC_RANGE_OUT_OF_BOUNDS",
            EcError::ObjectTooLarge { .. } => "EC_OBJECT_TOO_LARGE",
            EcError::SingularMatrix { .. } => "EC_SINGULAR_MATRIX",
            EcError::CpuLacksFeature { .. } => "EC_CPU_LACKS_FEATURE",
        }
    }

    /// The shard a corruption error names, if this is one: the OSD marks that shard bad
    /// and retries the read without it.
    pub fn corrupt_shard(&self) -> Option<ShardId> {
        match self {
            EcError::CorruptBlock { shard, .. } | EcError::ParityMismatch { shard, .. } => {
                Some(*shard)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_shard_and_codes_are_stable() {
        let e = EcError::CorruptBlock {
            shard: ShardId(2),
            block: 7,
            expected: 1,
            actual: 2,
        };
        assert_eq!(
            e.to_string(),
            "shard s2 is corrupt: block 7 has crc32c 0x00000002, expected 0x00000001"
        );
        assert_eq!(e.code(), "EC_CORRUPT_BLOCK");
        assert_eq!(e.corrupt_shard(), Some(ShardId(2)));
        let e = EcError::TooManyErasures {
            needed: 4,
            available: 3,
        };
        assert_eq!(e.to_string(), "too many erasures: need 4 chunks, have 3");
        assert_eq!(e.corrupt_shard(), None);
    }
}
