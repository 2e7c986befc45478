//! [`ReedSolomon`]: Reed–Solomon over GF(2^8), the field of the `reed-solomon-erasure`
//! crate, with one of two systematic generators (the pool's [`EcCodec`]): the generator's
//! top `k` rows are the identity, its bottom `m` rows give the parity.
//!
//! - [`EcCodec::ReedSolomonVandermonde`]: the crate's Vandermonde-derived matrix
//!   (Backblaze/klauspost construction), read out of the crate itself at construction
//!   (by encoding the unit vectors), so chunks are bit-identical to its `encode_sep`.
//! - [`EcCodec::ReedSolomonCauchy`] (the default): a Cauchy matrix `1 / (x_i + y_j)`
//!   with its columns scaled so the first parity row is all ones and its other rows
//!   scaled so they start with a one. Every square submatrix of a Cauchy matrix is
//!   invertible and scaling rows or columns keeps it so, which is exactly the condition
//!   for `[I; A]` to be MDS (any `k` rows invertible). The all-ones row makes the first
//!   parity chunk the XOR of the data chunks: a XOR to compute, and crcs that follow from
//!   the data's (see [`crate::engine`]).
//!
//! Coding runs our AVX2 kernel (`gf_x86`) when the CPU has AVX2, else the crate's
//! `galois_8::mul_slice` / `mul_slice_xor` (AVX2 C kernels with the `simd-accel` feature,
//! portable Rust without it). Decoding
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
    /// The parity shard that is the XOR of the data shards, if one is.
    xor_parity: Option<ShardId>,
}

impl ReedSolomon {
    /// The codec for `profile` (either Reed–Solomon [`EcCodec`]).
    ///
    /// # Errors
    /// [`EcError::InvalidProfile`], or [`EcError::CpuLacksFeature`] when the build's
    /// SIMD kernels cannot run here.
    pub fn new(profile: &EcProfile) -> Result<ReedSolomon, EcError> {
        profile
            .validate()
            .map_err(|source| EcError::InvalidProfile {
                profile: *profile,
                source,
            })?;
        crate::cpu::check_cpu()?;
        let k = usize::from(profile.k);
        let parity = match profile.codec {
            EcCodec::ReedSolomonVandermonde => vandermonde_parity(profile)?,
            EcCodec::ReedSolomonCauchy => cauchy_parity(k, usize::from(profile.m)),
        };
        let units: Vec<Vec<u8>> = (0..k)
            .map(|j| (0..k).map(|c| u8::from(c == j)).collect())
            .collect();
        let rows = units.iter().chain(parity.iter()).map(Vec::as_slice);
        let generator = GfMatrix::from_rows(k, rows);
        let encoder = Coefficients::new(GfMatrix::from_rows(k, parity.iter().map(Vec::as_slice)));
        let xor_parity = parity
            .iter()
            .position(|row| row.iter().all(|&c| c == 1))
            .map(|r| ShardId((k + r) as u8));
        Ok(ReedSolomon {
            profile: *profile,
            generator,
            encoder,
            xor_parity,
        })
    }
}

/// The parity rows of the crate's Vandermonde-derived generator.
fn vandermonde_parity(profile: &EcProfile) -> Result<Vec<Vec<u8>>, EcError> {
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
    Ok(parity)
}

/// The `m × k` normalized Cauchy parity rows: `a[i][j] = 1 / (i + (m + j))` (field
/// addition is XOR, and `k + m ≤ 32` keeps every `x_i = i` and `y_j = m + j` distinct),
/// then each column divided by its first entry (row 0 becomes all ones) and each later
/// row by its first entry.
fn cauchy_parity(k: usize, m: usize) -> Vec<Vec<u8>> {
    let mut rows: Vec<Vec<u8>> = (0..m)
        .map(|i| {
            (0..k)
                .map(|j| galois_8::div(1, (i ^ (m + j)) as u8))
                .collect()
        })
        .collect();
    for j in 0..k {
        let scale = rows[0][j];
        for row in &mut rows {
            row[j] = galois_8::div(row[j], scale);
        }
    }
    for row in rows.iter_mut().skip(1) {
        let scale = row[0];
        for c in row.iter_mut() {
            *c = galois_8::div(*c, scale);
        }
    }
    rows
}

impl ColumnCode for ReedSolomon {
    type Kernel = Coefficients;

    fn profile(&self) -> &EcProfile {
        &self.profile
    }

    fn encoder(&self) -> &Coefficients {
        &self.encoder
    }

    fn xor_parity(&self) -> Option<ShardId> {
        self.xor_parity
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
            return Ok(Coefficients::new(wanted_rows));
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
        Ok(Coefficients::new(wanted_rows.multiply(&inverse)))
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

    fn decode_segments_unverified(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Vec<Bytes>, EcError> {
        let refs: Vec<_> = pieces.iter().map(ChunkPiece::as_piece_ref).collect();
        engine::decode_segments(self, layout, offset, len, &refs, false)
    }

    fn verify_parity(&self, layout: &StripeLayout, chunks: &[Chunk]) -> Result<(), EcError> {
        engine::verify_parity(self, layout, chunks)
    }
}

/// A coefficient matrix applied column-wise: output `o` is `Σ_i rows[o][i] · input_i`.
///
/// On x86-64 with AVX2 it runs our [`DotKernel`](crate::gf_x86::DotKernel) (all outputs
/// of a column at once); elsewhere the crate's one-coefficient-at-a-time slices.
#[derive(Debug, Clone)]
pub(crate) struct Coefficients {
    matrix: GfMatrix,
    #[cfg(target_arch = "x86_64")]
    dot: Option<crate::gf_x86::DotKernel>,
}

impl Coefficients {
    fn new(matrix: GfMatrix) -> Coefficients {
        Coefficients {
            #[cfg(target_arch = "x86_64")]
            dot: crate::gf_x86::DotKernel::new(
                matrix.cols(),
                (0..matrix.rows()).map(|r| matrix.row(r)),
            ),
            matrix,
        }
    }

    /// The crate's kernels, one coefficient at a time.
    fn apply_by_slices(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) {
        for (o, out) in outputs.iter_mut().enumerate() {
            if out.is_empty() {
                // The SIMD kernels index their first byte.
                continue;
            }
            let mut written = false;
            for (&c, input) in self.matrix.row(o).iter().zip(inputs) {
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

impl ColumnKernel for Coefficients {
    fn apply(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) {
        debug_assert_eq!(outputs.len(), self.matrix.rows());
        #[cfg(target_arch = "x86_64")]
        if let Some(dot) = &self.dot {
            dot.apply(inputs, outputs);
            return;
        }
        self.apply_by_slices(inputs, outputs);
    }

    fn append(&self, inputs: &[&[u8]], outputs: &mut [&mut Vec<u8>]) {
        debug_assert_eq!(outputs.len(), self.matrix.rows());
        #[cfg(target_arch = "x86_64")]
        if let Some(dot) = &self.dot {
            dot.append(inputs, outputs);
            return;
        }
        crate::codec::append_zero_filled(inputs, outputs, |i, o| self.apply_by_slices(i, o));
    }

    #[cfg(target_arch = "x86_64")]
    fn append_with_xor(
        &self,
        inputs: &[&[u8]],
        outputs: &mut [&mut Vec<u8>],
        terms: &crate::codec::XorTerms,
        xor: &mut Vec<u8>,
    ) {
        debug_assert_eq!(outputs.len(), self.matrix.rows());
        if let Some(dot) = &self.dot {
            dot.append_with_xor(inputs, outputs, terms, xor);
            return;
        }
        self.append(inputs, outputs);
        crate::codec::append_xor(inputs, outputs, terms, xor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pseudo_random;

    fn vandermonde(k: u8, m: u8) -> EcProfile {
        EcProfile {
            codec: EcCodec::ReedSolomonVandermonde,
            ..EcProfile::new(k, m)
        }
    }

    #[test]
    fn vandermonde_parity_equals_the_crates_own_encoder() {
        for (k, m) in [(2u8, 1u8), (4, 2), (8, 3), (10, 4)] {
            let rs = ReedSolomon::new(&vandermonde(k, m)).expect("codec");
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

    /// Every pattern of `m` lost chunks leaves `k` whose generator rows are invertible
    /// (the code is MDS), and the first parity row is the XOR of the data.
    #[test]
    fn cauchy_is_mds_with_a_xor_first_parity() {
        for (k, m) in [(2u8, 1u8), (3, 2), (4, 2), (8, 3), (10, 4), (12, 4), (6, 6)] {
            let rs = ReedSolomon::new(&EcProfile::new(k, m)).expect("codec");
            assert_eq!(rs.profile.codec, EcCodec::ReedSolomonCauchy);
            assert_eq!(rs.xor_parity(), Some(ShardId(k)), "{k}+{m}");
            let width = usize::from(k + m);
            // Subsets of `width` shards with exactly `k` members, as bit masks.
            for mask in 0u32..(1 << width) {
                if mask.count_ones() != u32::from(k) {
                    continue;
                }
                let sources: Vec<ShardId> = (0..width)
                    .filter(|s| mask & (1 << s) != 0)
                    .map(|s| ShardId(s as u8))
                    .collect();
                let wanted: Vec<ShardId> = (0..width)
                    .filter(|s| mask & (1 << s) == 0)
                    .map(|s| ShardId(s as u8))
                    .collect();
                assert!(
                    rs.kernel(&sources, &wanted).is_ok(),
                    "{k}+{m}: {sources:?} do not determine the rest"
                );
            }
        }
        // The crate's Vandermonde code has no XOR row for 2+1.
        let v = ReedSolomon::new(&vandermonde(2, 1)).expect("codec");
        assert_eq!(v.xor_parity(), None);
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
