//! The [`ErasureCode`] trait, what [`encode`](ErasureCode::encode) returns, and the
//! [`codec_for`] factory.
//!
//! The trait plays the part of Ceph's `ErasureCodeInterface`: a systematic code cuts an
//! object into `k` data chunks (the object's bytes, see [`StripeLayout`]) and `m` parity
//! chunks, and any `k` of the `k + m` chunks give the object back. Every method verifies
//! the crcs of every chunk or piece it is given and names the corrupt shard instead of
//! returning data it cannot vouch for.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use cuttle_types::{EcCodec, EcProfile, ShardId};

use crate::chunk::{Chunk, ChunkPiece};
use crate::error::EcError;
use crate::layout::{ChunkRead, StripeLayout};
use crate::reed_solomon::ReedSolomon;

/// An encoded object: its layout (which records the logical size) and its `k + m`
/// chunks in shard order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// How the object was cut; keep [`StripeLayout::object_size`] with the chunks.
    pub layout: StripeLayout,
    /// Chunk `i` is shard `i`: data `0..k`, then parity `k..k+m`.
    pub chunks: Vec<Chunk>,
}

/// An erasure code: encodes objects into chunks and gets them back from any `k`.
///
/// Implementations are pure computation (no I/O, no locks held across calls) and are
/// shared between threads behind an `Arc`.
pub trait ErasureCode: Send + Sync + fmt::Debug {
    /// The profile the codec was built for.
    fn profile(&self) -> &EcProfile;

    /// The layout of an object of `object_size` bytes under this codec's profile.
    fn layout(&self, object_size: u64) -> Result<StripeLayout, EcError> {
        StripeLayout::new(self.profile(), object_size)
    }

    /// Cuts `data` into `k` data chunks and computes `m` parity chunks, each with its
    /// block crcs. Data chunks share `data`'s memory whenever the layout allows (objects
    /// of at most one stripe); parity is freshly allocated.
    fn encode(&self, data: Bytes) -> Result<Encoded, EcError>;

    /// The whole object from any `k` (or more) of its chunks. Every chunk given is
    /// verified; pass only the ones you want used.
    ///
    /// # Errors
    /// [`EcError::TooManyErasures`] with fewer than `k` chunks,
    /// [`EcError::CorruptBlock`] naming the first corrupt shard, length or crc-count
    /// errors for malformed chunks.
    fn decode(&self, layout: &StripeLayout, chunks: &[Chunk]) -> Result<Bytes, EcError>;

    /// Rebuilds the `missing` chunks (data or parity) from at least `k` `available` ones,
    /// as recovery does. The result is identical, bytes and crcs, to what `encode`
    /// produced, in the order of `missing`.
    fn reconstruct(
        &self,
        layout: &StripeLayout,
        available: &[Chunk],
        missing: &[ShardId],
    ) -> Result<Vec<Chunk>, EcError>;

    /// Which block-aligned chunk pieces to fetch to read object bytes
    /// `[offset, offset + len)` when only the `available` shards can be read: the data
    /// chunks holding the range, or, when one of them is unavailable, `k` chunks covering
    /// the lost columns. Sorted by shard.
    fn read_plan(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        available: &[ShardId],
    ) -> Result<Vec<ChunkRead>, EcError>;

    /// Object bytes `[offset, offset + len)` from chunk pieces (at most one per shard),
    /// typically those [`read_plan`](Self::read_plan) asked for. Every piece given is
    /// verified. Zero-copy when the range lies within one piece.
    fn decode_range(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Bytes, EcError> {
        let segments = self.decode_segments(layout, offset, len, pieces)?;
        Ok(crate::engine::join(segments, len))
    }

    /// Like [`decode_range`](Self::decode_range) but returns the range as consecutive
    /// buffers without joining them: every buffer shares a piece's memory (or a buffer
    /// decoded for a lost chunk), so no byte is copied.
    fn decode_segments(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Vec<Bytes>, EcError>;

    /// Like [`decode_range`](Self::decode_range) for pieces whose bytes the caller has
    /// already verified — typically read from a store that checks a crc32c on every
    /// 4 KiB block — so the codec does not checksum them a second time. The pieces'
    /// `block_crcs` may be empty.
    fn decode_range_unverified(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Bytes, EcError> {
        let segments = self.decode_segments_unverified(layout, offset, len, pieces)?;
        Ok(crate::engine::join(segments, len))
    }

    /// Like [`decode_range_unverified`](Self::decode_range_unverified) but returns the
    /// range as consecutive buffers without joining them (see
    /// [`decode_segments`](Self::decode_segments)): a reader that streams the bytes on
    /// saves copying them into one buffer.
    fn decode_segments_unverified(
        &self,
        layout: &StripeLayout,
        offset: u64,
        len: u64,
        pieces: &[ChunkPiece],
    ) -> Result<Vec<Bytes>, EcError>;

    /// Deep-scrub check: verifies the crcs of all `chunks` (at least `k + 1`), then
    /// recomputes every chunk beyond the first `k` from those `k` and compares.
    ///
    /// # Errors
    /// [`EcError::ParityMismatch`] naming the first recomputed shard that differs.
    fn verify_parity(&self, layout: &StripeLayout, chunks: &[Chunk]) -> Result<(), EcError>;
}

/// The codec for `profile`, chosen by its [`EcCodec`]. Validates the profile and the CPU
/// (see [`crate::check_cpu`]).
pub fn codec_for(profile: &EcProfile) -> Result<Arc<dyn ErasureCode>, EcError> {
    match profile.codec {
        EcCodec::ReedSolomonVandermonde | EcCodec::ReedSolomonCauchy => {
            Ok(Arc::new(ReedSolomon::new(profile)?))
        }
    }
}

/// The arithmetic of a linear code, column by column: what the generic algorithms in
/// [`crate::engine`] need from a codec.
pub(crate) trait ColumnCode {
    /// Computes some chunks' columns from exactly `k` others.
    type Kernel: ColumnKernel;

    /// The profile the code was built for.
    fn profile(&self) -> &EcProfile;

    /// The kernel computing the parity chunks from the data chunks `0..k`.
    fn encoder(&self) -> &Self::Kernel;

    /// The parity shard, if any, that is the XOR of all data shards: its crcs (or any
    /// one crc of the `k + 1` chunks it ties together) follow from the others'.
    fn xor_parity(&self) -> Option<ShardId>;

    /// A kernel computing the `wanted` chunks from the `sources` chunks: `k` distinct
    /// shards, none of them wanted.
    fn kernel(&self, sources: &[ShardId], wanted: &[ShardId]) -> Result<Self::Kernel, EcError>;
}

/// Computes output columns from input columns.
pub(crate) trait ColumnKernel {
    /// Overwrites each output with its code over the inputs. All slices have the same
    /// length; `inputs` are in the order of the kernel's sources, `outputs` in the order
    /// of its wanted shards.
    fn apply(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]);

    /// Like [`apply`](Self::apply), appending each output's columns to its vector. The
    /// default zero-fills the new bytes first; kernels that write every byte override it
    /// to skip that pass.
    fn append(&self, inputs: &[&[u8]], outputs: &mut [&mut Vec<u8>]) {
        append_zero_filled(inputs, outputs, |i, o| self.apply(i, o));
    }

    /// Like [`append`](Self::append), and appends one more output to `xor`: the XOR of
    /// the inputs and outputs that `terms` marks. The default computes it in a second
    /// pass over those columns; kernels that can sum it while they hold the inputs
    /// override it.
    fn append_with_xor(
        &self,
        inputs: &[&[u8]],
        outputs: &mut [&mut Vec<u8>],
        terms: &XorTerms,
        xor: &mut Vec<u8>,
    ) {
        self.append(inputs, outputs);
        append_xor(inputs, outputs, terms, xor);
    }
}

/// Which of a kernel's inputs and outputs a XOR output sums (see
/// [`ColumnKernel::append_with_xor`]): one mark per input, one per output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XorTerms {
    pub inputs: Vec<bool>,
    pub outputs: Vec<bool>,
}

/// Zero-fills room for the columns of `inputs` at the end of each output and lets
/// `apply` overwrite it.
pub(crate) fn append_zero_filled(
    inputs: &[&[u8]],
    outputs: &mut [&mut Vec<u8>],
    apply: impl FnOnce(&[&[u8]], &mut [&mut [u8]]),
) {
    let len = inputs.first().map_or(0, |i| i.len());
    let mut slices: Vec<&mut [u8]> = outputs
        .iter_mut()
        .map(|o| {
            let start = o.len();
            o.resize(start + len, 0);
            &mut o[start..]
        })
        .collect();
    apply(inputs, &mut slices);
}

/// Appends to `xor` the XOR of the inputs and of the last columns of the outputs that
/// `terms` marks (as many columns as each input has), one byte at a time.
pub(crate) fn append_xor(
    inputs: &[&[u8]],
    outputs: &[&mut Vec<u8>],
    terms: &XorTerms,
    xor: &mut Vec<u8>,
) {
    let len = inputs.first().map_or(0, |i| i.len());
    let start = xor.len();
    xor.resize(start + len, 0);
    let sum = &mut xor[start..];
    let marked_inputs = inputs
        .iter()
        .zip(&terms.inputs)
        .filter(|(_, t)| **t)
        .map(|(i, _)| *i);
    let marked_outputs = outputs
        .iter()
        .zip(&terms.outputs)
        .filter(|(_, t)| **t)
        .map(|(o, _)| &o[o.len() - len..]);
    for term in marked_inputs.chain(marked_outputs) {
        for (s, &b) in sum.iter_mut().zip(term) {
            *s ^= b;
        }
    }
}
