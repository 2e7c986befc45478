//! crc32c per 4 KiB block: the one checksum definition every Cuttle crate shares.
//!
//! A buffer of `len` bytes is cut into blocks of [`CRC_BLOCK_SIZE`] bytes: block `i` is
//! bytes `[4096 * i, 4096 * (i + 1))`, and the last block is **shorter** when `len` is
//! not a multiple of 4096 (it is never padded). Each block's checksum is the plain
//! CRC-32C (Castagnoli polynomial, the one of iSCSI, ext4 and BlueStore: initial value
//! `!0`, final xor `!0`, no seed) of exactly its bytes. An empty buffer has no blocks.
//!
//! The object store keeps checksums at the same granularity, so the crcs computed here
//! while encoding are stored as they are, never recomputed.

use cuttle_types::ShardId;

use crate::error::EcError;

/// Bytes covered by one checksum.
pub const CRC_BLOCK_SIZE: usize = 4096;

/// Number of checksum blocks in a buffer of `len` bytes: `ceil(len / 4096)`.
pub fn block_count(len: u64) -> u64 {
    len.div_ceil(CRC_BLOCK_SIZE as u64)
}

/// The checksum of one block (any length up to [`CRC_BLOCK_SIZE`]).
pub fn block_crc(block: &[u8]) -> u32 {
    crc32c::crc32c(block)
}

/// The checksum of every block of `data`, in order.
pub fn block_crcs(data: &[u8]) -> Vec<u32> {
    let mut crcs = Vec::with_capacity(data.len().div_ceil(CRC_BLOCK_SIZE));
    extend_block_crcs(data, &mut crcs);
    crcs
}

/// Appends the checksums of the blocks of `data` to `out`. `data` must start on a block
/// boundary of the buffer the crcs describe, and end on one unless it is the buffer's tail.
pub fn extend_block_crcs(data: &[u8], out: &mut Vec<u32>) {
    let blocks: Vec<&[u8]> = data.chunks(CRC_BLOCK_SIZE).collect();
    let start = out.len();
    out.resize(start + blocks.len(), 0);
    crcs_of_blocks(&blocks, &mut out[start..]);
}

/// The checksum of each of several independent blocks (each at most 4096 bytes) into
/// `out`, which must be as long as `blocks`. Faster than one block at a time: on x86-64
/// the blocks are interleaved through the `crc32` instruction and carry-less
/// multiplication (chosen at run time; see `crc_x86.rs`).
pub fn crcs_of_blocks(blocks: &[&[u8]], out: &mut [u32]) {
    assert_eq!(blocks.len(), out.len(), "one crc per block");
    #[cfg(target_arch = "x86_64")]
    crate::crc_x86::crcs_into(blocks, out);
    #[cfg(not(target_arch = "x86_64"))]
    for (b, o) in blocks.iter().zip(out) {
        *o = block_crc(b);
    }
}

/// The first block of `data` whose checksum differs from `crcs`, as
/// `(block index, expected, actual)`. `crcs` must hold [`block_count`] entries.
pub fn find_mismatch(data: &[u8], crcs: &[u32]) -> Option<(u64, u32, u32)> {
    block_crcs(data)
        .into_iter()
        .zip(crcs)
        .enumerate()
        .find_map(|(i, (actual, &expected))| {
            (actual != expected).then_some((i as u64, expected, actual))
        })
}

/// Checks the blocks of `data` against `crcs`, naming `shard` and the block index within
/// its chunk (`first_block` is the chunk index of the first block of `data`).
pub(crate) fn check_blocks(
    shard: ShardId,
    first_block: u64,
    data: &[u8],
    crcs: &[u32],
) -> Result<(), EcError> {
    check_many(&[BlockCheck {
        shard,
        first_block,
        data,
        crcs,
    }])
}

/// The block crcs of the XOR of `terms` equal-length buffers of `len` bytes, from
/// the buffers' own block crcs (`crcs[t][b]`), without reading a byte.
///
/// CRC-32C is affine over GF(2): for a fixed length `n`, `crc(x) = L(x) ^ crc(0ⁿ)` with
/// `L` linear, so `crc(a ^ b ^ …) = crc(a) ^ crc(b) ^ … ^ crc(0ⁿ)` when the number of
/// terms is even, and without the last term when it is odd.
pub(crate) fn crcs_of_xor(crcs: &[&[u32]], len: u64) -> Vec<u32> {
    let blocks = block_count(len) as usize;
    let zeros = [0u8; CRC_BLOCK_SIZE];
    let full_zero_crc = block_crc(&zeros);
    let even = crcs.len().is_multiple_of(2);
    (0..blocks)
        .map(|b| {
            let folded = crcs.iter().fold(0, |acc, c| acc ^ c[b]);
            if !even {
                return folded;
            }
            let block_len = (len - b as u64 * CRC_BLOCK_SIZE as u64).min(CRC_BLOCK_SIZE as u64);
            let zero_crc = if block_len == CRC_BLOCK_SIZE as u64 {
                full_zero_crc
            } else {
                block_crc(&zeros[..block_len as usize])
            };
            folded ^ zero_crc
        })
        .collect()
}

/// Column slices of several chunks whose block crcs are computed together (so the
/// kernels always have independent blocks to interleave), each appended to its vector.
pub(crate) fn extend_many(parts: &mut [(&[u8], &mut Vec<u32>)]) {
    // Nothing to check, so nothing can fail.
    let _ = check_and_extend(&[], parts);
}

/// Blocks of one chunk to check: `data` starts at chunk block `first_block`, `crcs` are
/// the recorded crcs of its blocks.
pub(crate) struct BlockCheck<'a> {
    pub shard: ShardId,
    pub first_block: u64,
    pub data: &'a [u8],
    pub crcs: &'a [u32],
}

/// Checks several chunks' blocks together; the error names the first corrupt block in
/// the order given.
pub(crate) fn check_many(checks: &[BlockCheck<'_>]) -> Result<(), EcError> {
    check_and_extend(checks, &mut [])
}

/// [`check_many`] and [`extend_many`] in one pass of the crc kernels, so the blocks of
/// both sets are interleaved together. On a corrupt block nothing is appended.
pub(crate) fn check_and_extend(
    checks: &[BlockCheck<'_>],
    parts: &mut [(&[u8], &mut Vec<u32>)],
) -> Result<(), EcError> {
    let blocks: Vec<&[u8]> = checks
        .iter()
        .flat_map(|c| c.data.chunks(CRC_BLOCK_SIZE))
        .chain(
            parts
                .iter()
                .flat_map(|(data, _)| data.chunks(CRC_BLOCK_SIZE)),
        )
        .collect();
    let mut actual = vec![0u32; blocks.len()];
    crcs_of_blocks(&blocks, &mut actual);
    let mut actual = actual.into_iter();
    for c in checks {
        let n = c.data.len().div_ceil(CRC_BLOCK_SIZE);
        for (i, (got, &expected)) in actual.by_ref().take(n).zip(c.crcs).enumerate() {
            if got != expected {
                return Err(EcError::CorruptBlock {
                    shard: c.shard,
                    block: c.first_block + i as u64,
                    expected,
                    actual: got,
                });
            }
        }
    }
    for (data, out) in parts.iter_mut() {
        out.extend(actual.by_ref().take(data.len().div_ceil(CRC_BLOCK_SIZE)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crcs_of_a_xor_follow_from_the_terms_crcs() {
        let len = 3 * CRC_BLOCK_SIZE + 100;
        for n in 1..=5u32 {
            let terms: Vec<Vec<u8>> = (0..n).map(|t| crate::pseudo_random(len, t)).collect();
            let xor: Vec<u8> = (0..len)
                .map(|i| terms.iter().fold(0, |acc, t| acc ^ t[i]))
                .collect();
            let term_crcs: Vec<Vec<u32>> = terms.iter().map(|t| block_crcs(t)).collect();
            let refs: Vec<&[u32]> = term_crcs.iter().map(Vec::as_slice).collect();
            assert_eq!(
                crcs_of_xor(&refs, len as u64),
                block_crcs(&xor),
                "{n} terms"
            );
        }
    }

    #[test]
    fn blocks_are_4096_bytes_and_the_last_is_short() {
        assert_eq!(block_count(0), 0);
        assert_eq!(block_count(1), 1);
        assert_eq!(block_count(4096), 1);
        assert_eq!(block_count(4097), 2);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let crcs = block_crcs(&data);
        assert_eq!(crcs.len(), 3);
        assert_eq!(crcs[0], crc32c::crc32c(&data[..4096]));
        assert_eq!(crcs[2], crc32c::crc32c(&data[8192..]));
        assert!(block_crcs(&[]).is_empty());
    }

    #[test]
    fn known_vector() {
        // The CRC-32C check value from the standard catalogue.
        assert_eq!(block_crc(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn mismatch_names_the_block() {
        let mut data = vec![5u8; 9000];
        let crcs = block_crcs(&data);
        assert_eq!(find_mismatch(&data, &crcs), None);
        data[8500] ^= 1;
        let (block, expected, actual) = find_mismatch(&data, &crcs).expect("corrupt");
        assert_eq!(block, 2);
        assert_eq!(expected, crcs[2]);
        assert_ne!(actual, expected);
        assert!(matches!(
            check_blocks(ShardId(1), 10, &data, &crcs),
            Err(EcError::CorruptBlock {
                shard: ShardId(1),
                block: 12,
                ..
            })
        ));
    }
}
