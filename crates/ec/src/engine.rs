//! The codec-independent algorithms behind [`crate::ErasureCode`]: validation, source
//! selection, range planning, and the column loop that fuses coding with crc32c.
//!
//! Speed comes from touching each byte as few times as possible: data chunks are slices
//! of the input, and coding walks the chunks in column steps small enough to stay in
//! the L2 cache, so the crcs of a step's inputs and outputs are computed (or checked)
//! while those bytes are still hot instead of in a second pass over memory.

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use cuttle_types::ShardId;

use crate::chunk::{Chunk, PieceRef};
use crate::codec::{ColumnCode, ColumnKernel, Encoded, XorTerms};
use crate::crc::{self, BlockCheck, CRC_BLOCK_SIZE};
use crate::error::EcError;
use crate::layout::{ChunkRead, StripeLayout};

/// Bytes of all chunks together one column step should touch: half of a 512 KiB L2.
const STEP_BUDGET: usize = 256 * 1024;
/// Bounds of a column step; always whole crc blocks.
const MIN_STEP: usize = CRC_BLOCK_SIZE;
const MAX_STEP: usize = 64 * 1024;

/// Columns per step for `width` chunks (inputs plus outputs), a multiple of 4096.
fn column_step(width: usize) -> usize {
    let per_chunk = STEP_BUDGET / width.max(1);
    (per_chunk / CRC_BLOCK_SIZE * CRC_BLOCK_SIZE).clamp(MIN_STEP, MAX_STEP)
}

const BLOCK: u64 = CRC_BLOCK_SIZE as u64;

fn check_layout<C: ColumnCode>(code: &C, layout: &StripeLayout) -> Result<(), EcError> {
    if layout.profile() != code.profile() {
        return Err(EcError::ProfileMismatch {
            codec: *code.profile(),
            layout: *layout.profile(),
        });
    }
    Ok(())
}

fn shard_index(layout: &StripeLayout, shard: ShardId) -> Result<usize, EcError> {
    let i = usize::from(shard.0);
    if i >= layout.width() {
        return Err(EcError::ShardOutOfRange {
            shard,
            k: layout.k(),
            m: layout.m(),
        });
    }
    Ok(i)
}

/// Whole chunks as pieces, checking that each is exactly `chunk_len` long.
fn chunk_refs<'a>(
    layout: &StripeLayout,
    chunks: &'a [Chunk],
) -> Result<Vec<PieceRef<'a>>, EcError> {
    chunks
        .iter()
        .map(|c| {
            let actual = c.data.len() as u64;
            if actual != layout.chunk_len() {
                return Err(EcError::WrongChunkLength {
                    shard: c.shard,
                    expected: layout.chunk_len(),
                    actual,
                });
            }
            Ok(c.as_piece_ref())
        })
        .collect()
}

/// Pieces indexed by shard, after checking range, duplicates, bounds, block alignment
/// and crc counts (not the crcs themselves).
fn index_pieces<'a>(
    layout: &StripeLayout,
    pieces: &[PieceRef<'a>],
    with_crcs: bool,
) -> Result<Vec<Option<PieceRef<'a>>>, EcError> {
    let mut by_shard = vec![None; layout.width()];
    let chunk_len = layout.chunk_len();
    for p in pieces {
        let i = shard_index(layout, p.shard)?;
        if by_shard[i].is_some() {
            return Err(EcError::DuplicateShard { shard: p.shard });
        }
        if p.end() > chunk_len {
            return Err(EcError::WrongChunkLength {
                shard: p.shard,
                expected: chunk_len,
                actual: p.end(),
            });
        }
        if p.offset % BLOCK != 0 || (p.end() % BLOCK != 0 && p.end() != chunk_len) {
            return Err(EcError::MisalignedPiece {
                shard: p.shard,
                offset: p.offset,
                len: p.data.len() as u64,
            });
        }
        if with_crcs {
            p.check_crc_count()?;
        }
        by_shard[i] = Some(*p);
    }
    Ok(by_shard)
}

/// The first `k` pieces (in shard order, so data before parity) accepted by `usable`.
fn pick_sources<'a>(
    layout: &StripeLayout,
    by_shard: &[Option<PieceRef<'a>>],
    usable: impl Fn(&PieceRef<'a>) -> bool,
) -> Result<Vec<PieceRef<'a>>, EcError> {
    let k = usize::from(layout.k());
    let candidates: Vec<PieceRef<'a>> = by_shard.iter().flatten().copied().filter(usable).collect();
    if candidates.len() < k {
        return Err(EcError::TooManyErasures {
            needed: layout.k(),
            available: candidates.len() as u8,
        });
    }
    Ok(candidates[..k].to_vec())
}

/// What [`run_columns`] computed: one buffer per wanted chunk, and its block crcs when
/// asked for.
struct Columns {
    data: Vec<Vec<u8>>,
    crcs: Vec<Vec<u32>>,
}

/// Whether [`run_columns`] computes its outputs' block crcs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputCrcs {
    /// No (the outputs are returned as data, not stored).
    Skip,
    /// Yes, for every output of the kernel (not for its XOR output).
    Compute,
}

/// Runs `kernel` over chunk columns `span` of `sources` (which must cover it), one
/// cache-sized step at a time. With `verify_sources`, each step's source blocks are
/// checked against their crcs (in the same crc batch as the outputs'; a mismatch fails
/// the call); with `crc_outputs`, the outputs' block crcs are computed while hot. Either
/// option needs `span` to start on a block boundary and to end on one or at the end of
/// the chunk. With `xor`, one more output, the XOR of the sources and outputs it marks,
/// is appended last to [`Columns::data`], without crcs (they follow from the terms', see
/// [`crc::crcs_of_xor`]).
fn run_columns<K: ColumnKernel>(
    kernel: &K,
    sources: &[PieceRef<'_>],
    span: Range<u64>,
    n_out: usize,
    verify_sources: bool,
    crc_outputs: OutputCrcs,
    xor: Option<&XorTerms>,
) -> Result<Columns, EcError> {
    let len = (span.end - span.start) as usize;
    let mut outputs: Vec<Vec<u8>> = (0..n_out).map(|_| Vec::with_capacity(len)).collect();
    let mut xor_data = Vec::with_capacity(if xor.is_some() { len } else { 0 });
    let crc_capacity = match crc_outputs {
        OutputCrcs::Compute => len.div_ceil(CRC_BLOCK_SIZE),
        OutputCrcs::Skip => 0,
    };
    let mut crcs: Vec<Vec<u32>> = (0..n_out)
        .map(|_| Vec::with_capacity(crc_capacity))
        .collect();
    let step = column_step(sources.len() + n_out);
    let mut col = 0;
    while col < len {
        let end = (col + step).min(len);
        let (a, b) = (span.start + col as u64, span.start + end as u64);
        let inputs: Vec<&[u8]> = sources.iter().map(|s| s.columns(a, b)).collect();
        let mut outs: Vec<&mut Vec<u8>> = outputs.iter_mut().collect();
        match xor {
            Some(terms) => kernel.append_with_xor(&inputs, &mut outs, terms, &mut xor_data),
            None => kernel.append(&inputs, &mut outs),
        }
        let outs: Vec<&[u8]> = outputs.iter().map(|o| &o[col..end]).collect();
        // The sources' blocks are checked after coding them, together with the outputs'
        // crcs (one batch for the crc kernels); a corrupt source fails the whole call, so
        // nothing computed from it is returned.
        let checks: Vec<BlockCheck<'_>> = if verify_sources {
            let first = a / BLOCK;
            sources
                .iter()
                .zip(&inputs)
                .map(|(s, input)| {
                    let rel = (first - s.first_block()) as usize;
                    let n = input.len().div_ceil(CRC_BLOCK_SIZE);
                    BlockCheck {
                        shard: s.shard,
                        first_block: first,
                        data: input,
                        crcs: &s.block_crcs[rel..rel + n],
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut parts: Vec<(&[u8], &mut Vec<u32>)> = match crc_outputs {
            OutputCrcs::Compute => outs.iter().copied().zip(crcs.iter_mut()).collect(),
            OutputCrcs::Skip => Vec::new(),
        };
        crc::check_and_extend(&checks, &mut parts)?;
        col = end;
    }
    if xor.is_some() {
        outputs.push(xor_data);
    }
    Ok(Columns {
        data: outputs,
        crcs,
    })
}

/// A data chunk being produced by `encode`: a slice of the input, or gathered from it.
enum Source {
    Shared(Bytes),
    Gathered(Vec<u8>),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Source::Shared(b) => b,
            Source::Gathered(v) => v,
        }
    }
}

pub(crate) fn encode<C: ColumnCode>(code: &C, data: Bytes) -> Result<Encoded, EcError> {
    let layout = StripeLayout::new(code.profile(), data.len() as u64)?;
    let k = usize::from(layout.k());
    let m = usize::from(layout.m());
    let chunk_len = layout.chunk_len() as usize;
    let blocks = layout.chunk_blocks() as usize;

    let mut sources: Vec<Source> = (0..k)
        .map(|i| match layout.contiguous_range(ShardId(i as u8)) {
            Some(r) if (r.end - r.start) as usize == chunk_len => {
                Source::Shared(data.slice(r.start as usize..r.end as usize))
            }
            _ => Source::Gathered(Vec::with_capacity(chunk_len)),
        })
        .collect();
    let mut parity: Vec<Vec<u8>> = (0..m).map(|_| Vec::with_capacity(chunk_len)).collect();
    let mut crcs: Vec<Vec<u32>> = (0..k + m).map(|_| Vec::with_capacity(blocks)).collect();
    let kernel = code.encoder();
    let step = column_step(k + m);
    // The XOR parity's crcs follow from the data chunks' (see `crc::crcs_of_xor`).
    let xor_parity = code.xor_parity().map(|s| usize::from(s.0));

    let mut col = 0;
    while col < chunk_len {
        let end = (col + step).min(chunk_len);
        for (i, s) in sources.iter_mut().enumerate() {
            if let Source::Gathered(v) = s {
                layout.gather_columns(&data, ShardId(i as u8), col..end, v);
            }
        }
        let inputs: Vec<&[u8]> = sources.iter().map(|s| &s.bytes()[col..end]).collect();
        let mut outputs: Vec<&mut Vec<u8>> = parity.iter_mut().collect();
        kernel.append(&inputs, &mut outputs);
        let columns = inputs
            .iter()
            .copied()
            .chain(parity.iter().map(|p| &p[col..end]));
        let mut parts: Vec<(&[u8], &mut Vec<u32>)> = columns
            .zip(crcs.iter_mut())
            .enumerate()
            .filter(|(i, _)| Some(*i) != xor_parity)
            .map(|(_, part)| part)
            .collect();
        crc::extend_many(&mut parts);
        col = end;
    }
    if let Some(x) = xor_parity {
        let data_crcs: Vec<&[u32]> = crcs[..k].iter().map(Vec::as_slice).collect();
        crcs[x] = crc::crcs_of_xor(&data_crcs, chunk_len as u64);
    }

    let bytes = sources
        .into_iter()
        .map(|s| match s {
            Source::Shared(b) => b,
            Source::Gathered(v) => Bytes::from(v),
        })
        .chain(parity.into_iter().map(Bytes::from));
    let chunks = bytes
        .zip(crcs)
        .enumerate()
        .map(|(i, (data, block_crcs))| Chunk {
            shard: ShardId(i as u8),
            data,
            block_crcs,
        })
        .collect();
    Ok(Encoded { layout, chunks })
}

pub(crate) fn reconstruct<C: ColumnCode>(
    code: &C,
    layout: &StripeLayout,
    available: &[Chunk],
    missing: &[ShardId],
) -> Result<Vec<Chunk>, EcError> {
    check_layout(code, layout)?;
    let refs = chunk_refs(layout, available)?;
    let by_shard = index_pieces(layout, &refs, true)?;
    let mut asked = vec![false; layout.width()];
    for &shard in missing {
        let i = shard_index(layout, shard)?;
        if by_shard[i].is_some() {
            return Err(EcError::ShardNotMissing { shard });
        }
        if std::mem::replace(&mut asked[i], true) {
            return Err(EcError::DuplicateShard { shard });
        }
    }
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let sources = pick_sources(layout, &by_shard, |_| true)?;
    verify_unused(&by_shard, &sources)?;
    let ids: Vec<ShardId> = sources.iter().map(|s| s.shard).collect();
    // One rebuilt chunk of those a XOR parity ties together is the XOR of the others
    // (bytes and crcs), summed by the kernel from its inputs and outputs while it
    // computes the rest.
    let derived = derivable_by_xor(code, layout, &ids, missing);
    let wanted: Vec<ShardId> = missing
        .iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != derived)
        .map(|(_, &s)| s)
        .collect();
    let kernel = code.kernel(&ids, &wanted)?;
    // The XOR's terms: the tied chunks other than the derived one (which is neither a
    // source nor wanted), each a source or rebuilt.
    let k = usize::from(layout.k());
    let tied = |s: &ShardId| usize::from(s.0) < k || Some(*s) == code.xor_parity();
    let terms = derived.map(|_| XorTerms {
        inputs: ids.iter().map(tied).collect(),
        outputs: wanted.iter().map(tied).collect(),
    });
    let rebuilt = run_columns(
        &kernel,
        &sources,
        0..layout.chunk_len(),
        wanted.len(),
        true,
        OutputCrcs::Compute,
        terms.as_ref(),
    )?;
    let Columns { data, crcs } = rebuilt;
    let derived_crcs = derived.zip(terms).map(|(d, t)| {
        let term_crcs: Vec<&[u32]> = sources
            .iter()
            .map(|s| s.block_crcs)
            .zip(&t.inputs)
            .chain(crcs.iter().map(Vec::as_slice).zip(&t.outputs))
            .filter(|(_, on)| **on)
            .map(|(c, _)| c)
            .collect();
        (d, crc::crcs_of_xor(&term_crcs, layout.chunk_len()))
    });
    let mut data = data.into_iter();
    let mut chunks: Vec<(Vec<u8>, Vec<u32>)> = data.by_ref().take(wanted.len()).zip(crcs).collect();
    if let (Some((d, block_crcs)), Some(bytes)) = (derived_crcs, data.next()) {
        chunks.insert(d, (bytes, block_crcs));
    }
    Ok(missing
        .iter()
        .zip(chunks)
        .map(|(&shard, (data, block_crcs))| Chunk {
            shard,
            data: Bytes::from(data),
            block_crcs,
        })
        .collect())
}

/// Which of the `missing` chunks (by index) is the XOR of others: one of the `k + 1`
/// chunks a XOR parity ties together (`d_0 ^ … ^ d_{k-1} ^ p = 0`), when every other one
/// of them is either one of the `sources` or being rebuilt.
fn derivable_by_xor<C: ColumnCode>(
    code: &C,
    layout: &StripeLayout,
    sources: &[ShardId],
    missing: &[ShardId],
) -> Option<usize> {
    let xor = code.xor_parity()?;
    let k = layout.k();
    let mut tied = (0..k).map(ShardId).chain(std::iter::once(xor));
    if !tied.all(|s| sources.contains(&s) || missing.contains(&s)) {
        return None;
    }
    missing.iter().position(|m| m.0 < k || *m == xor)
}

/// Verifies every supplied piece that is not one of `sources` (those are verified by the
/// column loop as it reads them).
fn verify_unused(
    by_shard: &[Option<PieceRef<'_>>],
    sources: &[PieceRef<'_>],
) -> Result<(), EcError> {
    let unused: Vec<PieceRef<'_>> = by_shard
        .iter()
        .flatten()
        .filter(|p| !sources.iter().any(|s| s.shard == p.shard))
        .copied()
        .collect();
    verify_all(&unused)
}

/// Verifies the crcs of pieces whose crc counts were already checked, all blocks in one
/// batch; the error names the first corrupt block in shard order.
fn verify_all(pieces: &[PieceRef<'_>]) -> Result<(), EcError> {
    let checks: Vec<BlockCheck<'_>> = pieces
        .iter()
        .map(|p| BlockCheck {
            shard: p.shard,
            first_block: p.first_block(),
            data: p.data,
            crcs: p.block_crcs,
        })
        .collect();
    crc::check_many(&checks)
}

pub(crate) fn decode<C: ColumnCode>(
    code: &C,
    layout: &StripeLayout,
    chunks: &[Chunk],
) -> Result<Bytes, EcError> {
    check_layout(code, layout)?;
    let refs = chunk_refs(layout, chunks)?;
    if refs.len() < usize::from(layout.k()) {
        // Checked up front so that an empty object, which needs no bytes, still obeys
        // "fewer than k chunks is an error".
        index_pieces(layout, &refs, true)?;
        return Err(EcError::TooManyErasures {
            needed: layout.k(),
            available: refs.len() as u8,
        });
    }
    let segments = decode_segments(code, layout, 0, layout.object_size(), &refs, true)?;
    Ok(join(segments, layout.object_size()))
}

pub(crate) fn decode_segments<C: ColumnCode>(
    code: &C,
    layout: &StripeLayout,
    offset: u64,
    len: u64,
    pieces: &[PieceRef<'_>],
    verify: bool,
) -> Result<Vec<Bytes>, EcError> {
    check_layout(code, layout)?;
    layout.check_range(offset, len)?;
    let by_shard = index_pieces(layout, pieces, verify)?;
    if verify {
        let all: Vec<PieceRef<'_>> = by_shard.iter().flatten().copied().collect();
        verify_all(&all)?;
    }
    let extents = layout.extents(offset, len)?;

    // Data shards that cannot serve one of their extents, and the columns to rebuild.
    let mut lost: Vec<ShardId> = Vec::new();
    let mut span: Option<(u64, u64)> = None;
    for e in &extents {
        let end = e.chunk_offset + e.len;
        let served =
            by_shard[usize::from(e.shard.0)].is_some_and(|p| p.covers(e.chunk_offset, end));
        if !served {
            if !lost.contains(&e.shard) {
                lost.push(e.shard);
            }
            span = Some(span.map_or((e.chunk_offset, end), |(a, b)| {
                (a.min(e.chunk_offset), b.max(end))
            }));
        }
    }
    let mut rebuilt: Vec<Option<Bytes>> = vec![None; usize::from(layout.k())];
    let mut rebuilt_from = 0;
    if let Some((a, b)) = span {
        lost.sort_unstable();
        let sources = pick_sources(layout, &by_shard, |p| {
            !lost.contains(&p.shard) && p.covers(a, b)
        })?;
        let ids: Vec<ShardId> = sources.iter().map(|s| s.shard).collect();
        let kernel = code.kernel(&ids, &lost)?;
        // The sources were verified above; the rebuilt columns are returned, not stored.
        let columns = run_columns(
            &kernel,
            &sources,
            a..b,
            lost.len(),
            false,
            OutputCrcs::Skip,
            None,
        )?;
        for (shard, out) in lost.iter().zip(columns.data) {
            rebuilt[usize::from(shard.0)] = Some(Bytes::from(out));
        }
        rebuilt_from = a;
    }

    let mut segments = Vec::with_capacity(extents.len());
    for e in &extents {
        let i = usize::from(e.shard.0);
        let segment = match (&rebuilt[i], by_shard[i]) {
            (Some(buf), _) => {
                let start = (e.chunk_offset - rebuilt_from) as usize;
                buf.slice(start..start + e.len as usize)
            }
            (None, Some(p)) => {
                let start = (e.chunk_offset - p.offset) as usize;
                p.data.slice(start..start + e.len as usize)
            }
            // Every extent was either served by its piece or rebuilt.
            (None, None) => Bytes::new(),
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// Joins consecutive segments (`len` bytes in all) into one buffer; zero-copy when
/// there is only one.
pub fn join(mut segments: Vec<Bytes>, len: u64) -> Bytes {
    match segments.len() {
        0 => Bytes::new(),
        1 => segments.pop().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(len as usize);
            for s in &segments {
                out.extend_from_slice(s);
            }
            out.freeze()
        }
    }
}

pub(crate) fn read_plan<C: ColumnCode>(
    code: &C,
    layout: &StripeLayout,
    offset: u64,
    len: u64,
    available: &[ShardId],
) -> Result<Vec<ChunkRead>, EcError> {
    check_layout(code, layout)?;
    layout.check_range(offset, len)?;
    let width = layout.width();
    let mut present = vec![false; width];
    for &shard in available {
        let i = shard_index(layout, shard)?;
        if std::mem::replace(&mut present[i], true) {
            return Err(EcError::DuplicateShard { shard });
        }
    }
    let widen = |span: Option<(u64, u64)>, a: u64, b: u64| {
        Some(span.map_or((a, b), |(x, y): (u64, u64)| (x.min(a), y.max(b))))
    };
    let mut reads: Vec<Option<(u64, u64)>> = vec![None; width];
    let mut lost: Option<(u64, u64)> = None;
    for e in layout.extents(offset, len)? {
        let i = usize::from(e.shard.0);
        let end = e.chunk_offset + e.len;
        if present[i] {
            reads[i] = widen(reads[i], e.chunk_offset, end);
        } else {
            lost = widen(lost, e.chunk_offset, end);
        }
    }
    if let Some((a, b)) = lost {
        // Every available data shard comes first in shard order, so the ones already
        // being read are among the k sources.
        let k = usize::from(layout.k());
        let sources: Vec<usize> = (0..width).filter(|&i| present[i]).take(k).collect();
        if sources.len() < k {
            return Err(EcError::TooManyErasures {
                needed: layout.k(),
                available: sources.len() as u8,
            });
        }
        for i in sources {
            reads[i] = widen(reads[i], a, b);
        }
    }
    let chunk_len = layout.chunk_len();
    Ok(reads
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let (a, b) = (*r)?;
            let start = a / BLOCK * BLOCK;
            let end = b.next_multiple_of(BLOCK).min(chunk_len);
            Some(ChunkRead {
                shard: ShardId(i as u8),
                offset: start,
                len: end - start,
            })
        })
        .collect())
}

pub(crate) fn verify_parity<C: ColumnCode>(
    code: &C,
    layout: &StripeLayout,
    chunks: &[Chunk],
) -> Result<(), EcError> {
    check_layout(code, layout)?;
    let refs = chunk_refs(layout, chunks)?;
    let by_shard = index_pieces(layout, &refs, true)?;
    let k = usize::from(layout.k());
    if refs.len() <= k {
        return Err(EcError::TooManyErasures {
            needed: layout.k() + 1,
            available: refs.len() as u8,
        });
    }
    let sources = pick_sources(layout, &by_shard, |_| true)?;
    verify_unused(&by_shard, &sources)?;
    let others: Vec<PieceRef<'_>> = by_shard.iter().flatten().skip(k).copied().collect();
    let ids: Vec<ShardId> = sources.iter().map(|s| s.shard).collect();
    let wanted: Vec<ShardId> = others.iter().map(|s| s.shard).collect();
    let kernel = code.kernel(&ids, &wanted)?;
    let recomputed = run_columns(
        &kernel,
        &sources,
        0..layout.chunk_len(),
        others.len(),
        true,
        OutputCrcs::Skip,
        None,
    )?;
    for (stored, recomputed) in others.iter().zip(&recomputed.data) {
        let differing = stored
            .data
            .chunks(CRC_BLOCK_SIZE)
            .zip(recomputed.chunks(CRC_BLOCK_SIZE))
            .position(|(x, y)| x != y);
        if let Some(block) = differing {
            return Err(EcError::ParityMismatch {
                shard: stored.shard,
                block: block as u64,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_whole_blocks_within_bounds() {
        for width in 1..=32 {
            let step = column_step(width);
            assert_eq!(step % CRC_BLOCK_SIZE, 0);
            assert!((MIN_STEP..=MAX_STEP).contains(&step));
        }
        assert_eq!(column_step(3), 64 * 1024);
        assert_eq!(column_step(11), 20 * 1024);
    }
}
