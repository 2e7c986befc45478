//! x86-64 kernels computing the crc32c of many 4 KiB blocks at once.
//!
//! The `crc32c` crate computes one buffer at a time and must split a 4 KiB block into
//! three lanes and recombine them, which costs a quarter of its speed at this size. Here
//! the blocks are **independent**, so each gets its own dependency chain:
//!
//! - three blocks go through the `crc32` instruction (latency 3, one per cycle: three
//!   chains keep it busy), and
//! - three more, in the same loop, are folded with 256-bit carry-less multiplications
//!   (`vpclmulqdq`), which run on another execution unit.
//!
//! Folding works on the CRC polynomial P = CRC-32C in the bit-reflected domain: a 128-bit
//! lane X holding message bytes is carried `D` bits forward as
//! `clmul(X.lo, x^(D+63) mod P) ^ clmul(X.hi, x^(D-1) mod P)` (the reflected product
//! carries one extra factor `x`), which is congruent to `X · x^D` modulo P. The last
//! 128 bits are reduced with two `crc32` instructions. Every kernel is checked against
//! the `crc32c` crate by the tests.
//!
//! Everything here is chosen at run time from the CPU's features, so the build itself
//! requires nothing beyond x86-64.

use std::arch::x86_64::{
    __m128i, __m256i, _mm_clmulepi64_si128, _mm_crc32_u64, _mm_cvtsi128_si64, _mm_extract_epi64,
    _mm_set_epi64x, _mm_xor_si128, _mm256_castsi256_si128, _mm256_clmulepi64_epi128,
    _mm256_extracti128_si256, _mm256_loadu_si256, _mm256_set_epi64x, _mm256_xor_si256,
};
use std::sync::OnceLock;

const BLOCK: usize = crate::crc::CRC_BLOCK_SIZE;
type Block = [u8; BLOCK];

/// Which kernels this CPU can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Neither: use the `crc32c` crate.
    Portable,
    /// `crc32` instruction (SSE 4.2): three interleaved chains.
    Sse42,
    /// Plus 256-bit `vpclmulqdq` (AVX2): three chains and three folds.
    Vpclmul,
}

fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        let sse42 = std::arch::is_x86_feature_detected!("sse4.2");
        let vpclmul = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("vpclmulqdq");
        match (sse42, vpclmul) {
            (true, true) => Level::Vpclmul,
            (true, false) => Level::Sse42,
            _ => Level::Portable,
        }
    })
}

/// `x^n mod P` for CRC-32C, as a bit-reflected 64-bit multiplier: the coefficient of
/// `x^d` is bit `63 - d`.
const fn xpow_reflected(n: u32) -> u64 {
    const P: u64 = 0x1_1EDC_6F41;
    let mut r: u64 = 1;
    let mut i = 0;
    while i < n {
        r <<= 1;
        if r & (1 << 32) != 0 {
            r ^= P;
        }
        i += 1;
    }
    let mut out = 0u64;
    let mut d = 0;
    while d < 32 {
        if r & (1 << d) != 0 {
            out |= 1 << (63 - d);
        }
        d += 1;
    }
    out
}

/// Multipliers carrying a 128-bit lane forward by `bits`: (for the low half, for the
/// high half).
const fn fold_constants(bits: u32) -> (i64, i64) {
    (
        xpow_reflected(bits + 63) as i64,
        xpow_reflected(bits - 1) as i64,
    )
}

/// Four 256-bit accumulators cover 128 bytes: each lane folds 1024 bits forward.
const FOLD_1024: (i64, i64) = fold_constants(1024);
/// Reducing the eight lanes in order folds 128 bits at a time.
const FOLD_128: (i64, i64) = fold_constants(128);

/// The crc32c of each block in `blocks` (each at most 4096 bytes) into `out`.
pub(crate) fn crcs_into(blocks: &[&[u8]], out: &mut [u32]) {
    let level = level();
    let mut full: Vec<(&Block, usize)> = Vec::with_capacity(blocks.len());
    for (i, b) in blocks.iter().enumerate() {
        match <&Block>::try_from(*b) {
            Ok(block) if level != Level::Portable => full.push((block, i)),
            _ => out[i] = crc32c::crc32c(b),
        }
    }
    let mut rest = &full[..];
    if level == Level::Vpclmul {
        while let Some((six, tail)) = rest.split_first_chunk::<6>() {
            let blocks = six.map(|(b, _)| b);
            // SAFETY: `level()` checked avx2, pclmulqdq, vpclmulqdq and sse4.2.
            let crcs = unsafe { chains_and_folds(blocks) };
            for ((_, i), crc) in six.iter().zip(crcs) {
                out[*i] = crc;
            }
            rest = tail;
        }
    }
    while let Some((three, tail)) = rest.split_first_chunk::<3>() {
        // SAFETY: `level()` checked sse4.2 (every level past Portable has it).
        let crcs = unsafe { chains3(three.map(|(b, _)| b)) };
        for ((_, i), crc) in three.iter().zip(crcs) {
            out[*i] = crc;
        }
        rest = tail;
    }
    for (b, i) in rest {
        out[*i] = crc32c::crc32c(&b[..]);
    }
}

/// Reads the 8 bytes of `block` at `offset` (which must be at most 4088).
#[inline(always)]
fn word(block: &Block, offset: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&block[offset..offset + 8]);
    u64::from_le_bytes(w)
}

/// Word `i` (of 16) of a 128-byte window.
#[inline(always)]
fn word128(w: &[u8; 128], i: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&w[i * 8..i * 8 + 8]);
    u64::from_le_bytes(v)
}

/// Three blocks through three `crc32` chains.
#[target_feature(enable = "sse4.2")]
fn chains3(b: [&Block; 3]) -> [u32; 3] {
    let (mut x, mut y, mut z) = (0xffff_ffff_u64, 0xffff_ffff_u64, 0xffff_ffff_u64);
    let mut o = 0;
    while o < BLOCK {
        x = _mm_crc32_u64(x, word(b[0], o));
        y = _mm_crc32_u64(y, word(b[1], o));
        z = _mm_crc32_u64(z, word(b[2], o));
        o += 8;
    }
    [!(x as u32), !(y as u32), !(z as u32)]
}

/// Loads 32 bytes of `block` at `offset` (which must be at most 4064).
#[inline]
#[target_feature(enable = "avx2")]
fn load(block: &Block, offset: usize) -> __m256i {
    let bytes = &block[offset..offset + 32];
    // SAFETY: `bytes` is 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
}

/// Blocks 0..3 through `crc32` chains and blocks 3..6 through `vpclmulqdq` folding,
/// interleaved so both execution units work at once.
#[target_feature(enable = "avx2,pclmulqdq,vpclmulqdq,sse4.2")]
fn chains_and_folds(b: [&Block; 6]) -> [u32; 6] {
    let folded = [b[3], b[4], b[5]];
    // The initial crc register (!0) is the same as xoring !0 into the first 4 bytes.
    let init = _mm256_set_epi64x(0, 0, 0, 0xffff_ffff);
    let mut acc = folded.map(|blk| {
        [
            _mm256_xor_si256(load(blk, 0), init),
            load(blk, 32),
            load(blk, 64),
            load(blk, 96),
        ]
    });
    let k = _mm256_set_epi64x(FOLD_1024.1, FOLD_1024.0, FOLD_1024.1, FOLD_1024.0);
    let (mut x, mut y, mut z) = (0xffff_ffff_u64, 0xffff_ffff_u64, 0xffff_ffff_u64);
    // Each step folds the next 128 bytes of the folded blocks and runs the chains over
    // the next 128 bytes of theirs (16 words each), keeping both units busy; the chains
    // start one window earlier, as the folds begin by loading their first window.
    let [wa, wb, wc] = [b[0], b[1], b[2]].map(|blk| blk.as_chunks::<128>().0);
    for (step, ((wa, wb), wc)) in wa.iter().zip(wb).zip(wc).enumerate() {
        if step > 0 {
            let o = step * 128;
            for (a, blk) in acc.iter_mut().zip(folded) {
                for (lane, v) in a.iter_mut().enumerate() {
                    let lo = _mm256_clmulepi64_epi128(*v, k, 0x00);
                    let hi = _mm256_clmulepi64_epi128(*v, k, 0x11);
                    *v = _mm256_xor_si256(_mm256_xor_si256(lo, hi), load(blk, o + 32 * lane));
                }
            }
        }
        for i in 0..16 {
            x = _mm_crc32_u64(x, word128(wa, i));
            y = _mm_crc32_u64(y, word128(wb, i));
            z = _mm_crc32_u64(z, word128(wc, i));
        }
    }
    let [f0, f1, f2] = acc.map(|a| finish_fold(a));
    [!(x as u32), !(y as u32), !(z as u32), f0, f1, f2]
}

/// Folds the eight 128-bit lanes of a block's accumulators into one and reduces it.
#[target_feature(enable = "avx2,pclmulqdq,sse4.2")]
fn finish_fold(acc: [__m256i; 4]) -> u32 {
    let k = _mm_set_epi64x(FOLD_128.1, FOLD_128.0);
    let lanes: [__m128i; 8] = [
        _mm256_castsi256_si128(acc[0]),
        _mm256_extracti128_si256::<1>(acc[0]),
        _mm256_castsi256_si128(acc[1]),
        _mm256_extracti128_si256::<1>(acc[1]),
        _mm256_castsi256_si128(acc[2]),
        _mm256_extracti128_si256::<1>(acc[2]),
        _mm256_castsi256_si128(acc[3]),
        _mm256_extracti128_si256::<1>(acc[3]),
    ];
    let mut x = lanes[0];
    for &lane in &lanes[1..] {
        let lo = _mm_clmulepi64_si128(x, k, 0x00);
        let hi = _mm_clmulepi64_si128(x, k, 0x11);
        x = _mm_xor_si128(_mm_xor_si128(lo, hi), lane);
    }
    // The remaining 16 bytes, as message bytes, through the crc32 instruction.
    let lo = _mm_cvtsi128_si64(x) as u64;
    let hi = _mm_extract_epi64::<1>(x) as u64;
    !(_mm_crc32_u64(_mm_crc32_u64(0, lo), hi) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n * BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn every_kernel_matches_the_crc32c_crate() {
        let data = blocks(20, 3);
        let mut slices: Vec<&[u8]> = data.chunks(BLOCK).collect();
        // Short blocks in between must not disturb the grouping.
        slices.insert(4, &data[..100]);
        slices.insert(9, &data[..0]);
        let mut out = vec![0u32; slices.len()];
        crcs_into(&slices, &mut out);
        for (s, crc) in slices.iter().zip(&out) {
            assert_eq!(*crc, crc32c::crc32c(s));
        }
        let b: Vec<&Block> = data
            .chunks(BLOCK)
            .map(|c| c.try_into().expect("block"))
            .collect();
        if level() != Level::Portable {
            // SAFETY: sse4.2 present.
            let three = unsafe { chains3([b[0], b[1], b[2]]) };
            assert_eq!(three[2], crc32c::crc32c(b[2]));
        }
        if level() == Level::Vpclmul {
            // SAFETY: all features present.
            let six = unsafe { chains_and_folds([b[0], b[1], b[2], b[3], b[4], b[5]]) };
            for i in 0..6 {
                assert_eq!(six[i], crc32c::crc32c(b[i]), "block {i}");
            }
        }
    }

    #[test]
    fn special_blocks() {
        let zeros = [0u8; BLOCK];
        let ones = [0xffu8; BLOCK];
        let slices: Vec<&[u8]> = vec![&zeros, &ones, &zeros, &ones, &ones, &zeros, &zeros];
        let mut out = vec![0u32; slices.len()];
        crcs_into(&slices, &mut out);
        for (s, crc) in slices.iter().zip(&out) {
            assert_eq!(*crc, crc32c::crc32c(s));
        }
    }
}
