//! [`ReedSolomon`]: Reed–Solomon over GF(2^8) on the `reed-solomon-erasure` crate.
//!
//! The code is the crate's systematic Vandermonde-derived matrix (Backblaze/klauspost
//! construction): the generator's top `k` rows are the identity, its bottom `m` rows give
//! the parity. The generator is read out of the crate itself at construction (by encoding
//! the unit vectors), so chunks are bit-identical to the crate's own `encode_sep`.
//!
//! Coding goes through the crate's `galois_8::mul_slice` / `mul_slice_xor`, which are
//! AVX2 C kernels with the `simd-accel` feature and portable Rust without it. Decoding
//! does not use the crate's `reconstruct`, which needs mutable access to the surviving
//! shards: chunks are immutable `Bytes` shared with the network and the cache, so the
//! decoding matrix (the wanted generator rows times the inverse of the sources' rows) is
//! built here and applied to the survivors in place.

use bytes::Bytes;
use cuttle_types::{EcCodec, EcProfile, PoolError, ShardId};
use reed_solomon_erasure::galois_8;

use crate::chunk::{Chunk, ChunkPiece};
use crate::codec::{ColumnCode, ColumnKernel, Encoded, ErasureCode};
use crate::engine;
use crate::error::EcError;
use crate::layout::{ChunkRead, StripeLayout};
use crate::matrix::GfMatrix;

/// Reed–Solomon Vandermonde codec ([`EcCodec::ReedSolomonVandermonde`]).
#[derive(Debug)]
pub struct ReedSolomon {
    profile: EcProfile,
    /// `(k + m) × k`: row `s` computes shard `s` from the data shards.
    generator: GfMatrix,
    /// The parity rows, as a kernel over the data shards `0..k`.
    encoder: Coefficients,
}

impl ReedSolomon {
    /// The codec for `profile`, which must name [`EcCodec::ReedSolomonVandermonde`].
    ///
    /// # Errors
    /// [`EcError::InvalidProfile`], [`EcError::UnsupportedCodec`], or
    /// [`EcError::CpuLacksFeature`] when the build's SIMD kernels cannot run here.
    pub fn new(profile: &EcProfile) -> Result<ReedSolomon, EcError> {
        profile
            .validate()
            .map_err(|source| EcError::InvalidProfile {
                profile: *profile,
                source,
            })?;
        match profile.codec {
            EcCodec::ReedSolomonVandermonde => {}
        }
        crate::cpu::check_cpu()?;
        let k = usize::from(profile.k);
        let m = usize::from(profile.m);
        let rejected = |_| EcError::InvalidProfile {
            profile: *profile,
            source: PoolError::InvalidEcProfile {
                k: profile.k,
                m: profile.m,
                reason: "rejected by reed-solomon-erasure",
            },
        };
        let rs = galois_8::ReedSolomon::new(k, m).map_err(rejected)?;
        // Encoding data shard j = e_j (length k) yields parity[i][c] = G[k + i][c].
        let units: Vec<Vec<u8>> = (0..k)
            .map(|j| (0..k).map(|c| u8::from(c == j)).collect())
            .collect();
        let mut parity = vec![vec![0u8; k]; m];
        rs.encode_sep(&units, &mut parity).map_err(rejected)?;
        let rows = units.iter().chain(parity.iter()).map(Vec::as_slice);
        let generator = GfMatrix::from_rows(k, rows);
        let encoder = Coefficients(GfMatrix::from_rows(k, parity.iter().map(Vec::as_slice)));
        Ok(ReedSolomon {
            profile: *profile,
            generator,
            encoder,
        })
    }
}

impl ColumnCode for ReedSolomon {
    type Kernel = Coefficients;

    fn profile(&self) -> &EcProfile {
        &self.profile
    }

    fn encoder(&self) -> &Coefficients {
        &self.encoder
    }

    fn kernel(&self, sources: &[ShardId], wanted: &[ShardId]) -> Result<Coefficients, EcError> {
        let k = usize::from(self.profile.k);
        debug_assert_eq!(sources.len(), k);
        let wanted_rows = GfMatrix::from_rows(
            k,
            wanted.iter().map(|s| self.generator.row(usize::from(s.0))),
        );
        let identity = sources
            .iter()
            .enumerate()
            .all(|(i, s)| usize::from(s.0) == i);
        if identity {
            // The sources are the data chunks: the generator rows are the kernel.
            return Ok(Coefficients(wanted_rows));
        }
        let source_rows = GfMatrix::from_rows(
            k,
            sources.iter().map(|s| self.generator.row(usize::from(s.0))),
        );
        let inverse = source_rows
            .invert()
            .ok_or_else(|| EcError::SingularMatrix {
                sources: sources.to_vec(),
            })?;
        Ok(Coefficients(wanted_rows.multiply(&inverse)))
    }
}

impl ErasureCode for ReedSolomon {
    fn profile(&self) -> &EcProfile {
        &self.profile
    }

    fn encode(&self, data: Bytes) -> Result<Encoded, EcError> {
        engine::encode(self, data)
    }

    fn decode(&self, layout: &StripeLayout, chunks: &[Chunk]) -> Result<Bytes, EcError> {
        engine::decode(self, layout, chunks)
    }

    fn reconstruct(
        &self,
        layout: &StripeLayout,
        available: &[Chunk],
        missing: &[ShardId],
    ) -> Result<Vec<Chunk>, EcError> {
        engine::reconstruct(self, layout, available, missing)
    }

    fn read_plan(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        available: &[ShardId],
    ) -> Result<Vec<ChunkRead>, EcError> {
        engine::read_plan(self, layout, offset, len, available)
    }

    fn decode_range(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Bytes, EcError> {
        let segments = self.decode_segments(layout, offset, len, pieces)?;
        Ok(engine::join(segments, len))
    }

    fn decode_segments(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Vec<Bytes>, EcError> {
        let refs: Vec<_> = pieces.iter().map(ChunkPiece::as_piece_ref).collect();
        engine::decode_segments(self, layout, offset, len, &refs, true)
    }

    fn decode_range_unverified(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Bytes, EcError> {
        let refs: Vec<_> = pieces.iter().map(ChunkPiece::as_piece_ref).collect();
        let segments = engine::decode_segments(self, layout, offset, len, &refs, false)?;
        Ok(engine::join(segments, len))
    }

    fn verify_parity(&self, layout: &StripeLayout, chunks: &[Chunk]) -> Result<(), EcError> {
        engine::verify_parity(self, layout, chunks)
    }
}

/// A coefficient matrix applied column-wise: output `o` is `Σ_i rows[o][i] · input_i`.
#[derive(Debug, Clone)]
pub(crate) struct Coefficients(GfMatrix);

impl ColumnKernel for Coefficients {
    fn apply(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) {
        debug_assert_eq!(outputs.len(), self.0.rows());
        for (o, out) in outputs.iter_mut().enumerate() {
            if out.is_empty() {
                // The SIMD kernels index their first byte.
                continue;
            }
            let mut written = false;
            for (&c, input) in self.0.row(o).iter().zip(inputs) {
                if c == 0 {
                    continue;
                }
                if written {
                    galois_8::mul_slice_xor(c, input, out);
                } else {
                    galois_8::mul_slice(c, input, out);
                    written = true;
                }
            }
            if !written {
                out.fill(0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn parity_equals_the_crates_own_encoder() {
        for (k, m) in [(2u8, 1u8), (4, 2), (8, 3), (10, 4)] {
            let rs = ReedSolomon::new(&EcProfile::new(k, m)).expect("codec");
            let crate_rs =
                galois_8::ReedSolomon::new(usize::from(k), usize::from(m)).expect("crate codec");
            let data: Vec<Vec<u8>> = (0..k).map(|i| pseudo_random(1000, i.into())).collect();
            let mut expected = vec![vec![0u8; 1000]; usize::from(m)];
            crate_rs.encode_sep(&data, &mut expected).expect("encode");
            let mut ours = vec![vec![0u8; 1000]; usize::from(m)];
            let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            let mut outputs: Vec<&mut [u8]> = ours.iter_mut().map(Vec::as_mut_slice).collect();
            rs.encoder().apply(&inputs, &mut outputs);
            assert_eq!(ours, expected, "{k}+{m}");
        }
    }

    #[test]
    fn kernel_rebuilds_from_any_k() {
        let rs = ReedSolomon::new(&EcProfile::new(3, 2)).expect("codec");
        let data: Vec<Vec<u8>> = (0..3).map(|i| pseudo_random(77, i)).collect();
        let mut parity = vec![vec![0u8; 77]; 2];
        {
            let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
            let mut outputs: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
            rs.encoder().apply(&inputs, &mut outputs);
        }
        let all: Vec<&Vec<u8>> = data.iter().chain(parity.iter()).collect();
        // Lose shards 0 and 3, rebuild both from 1, 2, 4.
        let sources = [ShardId(1), ShardId(2), ShardId(4)];
        let wanted = [ShardId(0), ShardId(3)];
        let kernel = rs.kernel(&sources, &wanted).expect("kernel");
        let inputs: Vec<&[u8]> = sources
            .iter()
            .map(|s| all[usize::from(s.0)].as_slice())
            .collect();
        let mut rebuilt = vec![vec![0u8; 77]; 2];
        let mut outputs: Vec<&mut [u8]> = rebuilt.iter_mut().map(Vec::as_mut_slice).collect();
        kernel.apply(&inputs, &mut outputs);
        assert_eq!(&rebuilt[0], all[0]);
        assert_eq!(&rebuilt[1], all[3]);
    }

    #[test]
    fn rejects_invalid_profiles() {
        assert!(matches!(
            ReedSolomon::new(&EcProfile::new(0, 1)),
            Err(EcError::InvalidProfile { .. })
        ));
    }
}
