//! `cuttle-ec`: erasure coding for Cuttle's erasure-coded pools.
//!
//! The OSD primary hands an object (a [`bytes::Bytes`]) to an [`ErasureCode`] and gets
//! `k` data and `m` parity [`Chunk`]s, one per OSD of the acting set; any `k` of them give
//! the object back, and recovery rebuilds lost chunks from `k` survivors. Every chunk
//! carries a crc32c per 4 KiB block, computed while encoding and checked by every decode,
//! so a corrupt chunk is reported by shard ([`EcError::CorruptBlock`]), never returned as
//! data.
//!
//! # Key types
//! - [`ErasureCode`]: the codec trait (encode, decode, reconstruct, range reads, parity
//!   check), built by [`codec_for`] from a pool's [`cuttle_types::EcProfile`].
//! - [`ReedSolomon`]: Reed–Solomon over GF(2^8) (the `reed-solomon-erasure` crate's
//!   field), with the pool's generator: a normalized Cauchy matrix whose first parity is
//!   the XOR of the data (default) or the crate's Vandermonde matrix (first pools).
//! - [`StripeLayout`]: where each object byte lives; a pure function of the profile and
//!   the object's logical size, the only thing the OSD records besides the chunks.
//! - [`Chunk`], [`ChunkPiece`], [`ChunkRead`]: coded bytes with their block crcs, a
//!   block-aligned part of one, and a read to issue for a range.
//! - [`crc`]: the per-4 KiB-block crc32c definition shared with the object store.
//! - [`EcError`]: every failure, with the shard, block or counts involved.
//!
//! # Example
//! ```
//! use bytes::Bytes;
//! use cuttle_ec::{EcError, codec_for};
//! use cuttle_types::{EcProfile, ShardId};
//!
//! let code = codec_for(&EcProfile::new(4, 2))?;
//! let object = Bytes::from(vec![7u8; 10_000]);
//! let enc = code.encode(object.clone())?;
//! // Keep `enc.layout.object_size()` with the chunks; lose any two of the six.
//! let survivors = &enc.chunks[2..];
//! assert_eq!(code.decode(&enc.layout, survivors)?, object);
//! let rebuilt = code.reconstruct(&enc.layout, survivors, &[ShardId(0), ShardId(1)])?;
//! assert_eq!(rebuilt[..], enc.chunks[..2]);
//! // A third loss is an error, never wrong data.
//! assert!(matches!(
//!     code.decode(&enc.layout, &enc.chunks[3..]),
//!     Err(EcError::TooManyErasures { needed: 4, available: 3 })
//! ));
//! # Ok::<(), EcError>(())
//! ```
//!
//! # Layout
//! An object of at most one stripe (`k × stripe_unit`, 16 MiB for 4+2 with the default
//! 4 MiB stripe unit) is cut into `k` contiguous slices of `ceil(size / k)` bytes rounded
//! up to 64: data chunks share the input's memory and only the last, padded one is
//! copied. Larger objects are striped Ceph-style with a shortened last stripe. See
//! [`StripeLayout`] for the diagram.
//!
//! # Invariants
//! - All `k + m` chunks of an object have the same length, [`StripeLayout::chunk_len`].
//! - The logical size, never the zero padding, says where the object ends.
//! - Chunks produced by [`ErasureCode::encode`] and [`ErasureCode::reconstruct`] are
//!   identical, bytes and crcs, for the same object.
//! - More than `m` lost (or corrupt) chunks is [`EcError::TooManyErasures`], never data.
//!
//! # Rules
//! This crate is pure computation: it must not depend on I/O, async runtimes, the
//! network or the object store. It does no logging and holds no global state.
//!
//! # Features
//! On x86-64 with AVX2 (checked at run time) coding runs this crate's own kernel
//! (`gf_x86`), whatever the features. `simd-accel` (default) makes the fallback
//! `reed-solomon-erasure`'s AVX2 C kernels, compiled for
//! x86-64 Haswell **without a runtime check**: daemons must call [`check_cpu`] at start-up
//! (and [`codec_for`] does) so a CPU without AVX2 is refused with
//! [`EcError::CpuLacksFeature`] instead of dying of `SIGILL`. Build with
//! `--no-default-features` for the portable (slower) Rust kernels.

pub mod chunk;
pub mod codec;
pub mod cpu;
pub mod crc;
#[cfg(target_arch = "x86_64")]
mod crc_x86;
mod engine;
pub mod error;
#[cfg(target_arch = "x86_64")]
mod gf_x86;
pub mod layout;
mod matrix;
pub mod reed_solomon;

/// Deterministic bytes for the unit tests of every module.
#[cfg(test)]
pub(crate) fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

pub use chunk::{Chunk, ChunkPiece};
pub use codec::{Encoded, ErasureCode, codec_for};
pub use cpu::{check_cpu, simd_enabled};
pub use engine::join as join_segments;
pub use error::EcError;
pub use layout::{ChunkExtent, ChunkRead, StripeLayout};
pub use reed_solomon::ReedSolomon;
