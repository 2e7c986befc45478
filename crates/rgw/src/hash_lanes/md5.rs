//! MD5, the ETag hash, for the lane service ([`super`]): the one-stream code (the
//! `md-5` crate's) and the lockstep kernels, sixteen lanes in 512-bit registers with
//! AVX-512, eight in 256-bit ones with AVX2.
//!
//! MD5 is one long dependency chain per stream (~750 MB/s on a core here). With
//! AVX-512, `vpternlogd` computes each round function in one instruction and `vprold`
//! each rotation, so a step's serial chain is four instructions, and a step of sixteen
//! lanes costs what one of eight does (~7.2 GB/s for sixteen streams here, ~3.9 GB/s
//! for eight with 256-bit registers, ~2.7 GB/s with the AVX2 kernel).

use super::{BLOCK, Kernel, LaneHash, Shared};

/// MD5 chaining state: `a, b, c, d`.
type State = [u32; 4];

/// Lanes of the AVX2 kernel (32-bit words of a 256-bit register).
#[cfg(target_arch = "x86_64")]
const LANES: usize = 8;

/// MD5 in the lane service.
#[derive(Debug)]
pub struct Md5;

static SHARED: Shared<Md5> = Shared::new();

impl LaneHash for Md5 {
    type State = State;
    type Digest = [u8; 16];
    const INITIAL: State = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    const THREAD: &'static str = "cuttle-md5";
    const BIG_ENDIAN: bool = false;

    /// The `md-5` crate's one-stream code.
    fn compress(state: &mut State, blocks: &[u8]) {
        let (blocks, rest) = blocks.as_chunks::<BLOCK>();
        debug_assert!(rest.is_empty(), "whole blocks");
        md5::block_api::compress(state, blocks);
    }

    fn digest(state: &State) -> [u8; 16] {
        super::state_bytes(state, Self::BIG_ENDIAN)
    }

    fn kernel() -> Option<Kernel<State>> {
        #[cfg(target_arch = "x86_64")]
        return x86::kernel();
        #[cfg(not(target_arch = "x86_64"))]
        None
    }

    fn shared() -> &'static Shared<Md5> {
        &SHARED
    }
}

/// Per-round additive constants: `floor(|sin(i + 1)| * 2^32)`.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Left-rotation of each round.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Message word of each round.
const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The lane kernels: eight lanes with AVX2, sixteen with AVX-512 on 512-bit
    //! registers, whose `vpternlogd` computes a round function in one instruction and
    //! whose `vprold` rotates in one, shortening the serial chain of every MD5 step.

    use std::arch::x86_64::*;

    use std::sync::OnceLock;

    use super::super::x86::{
        column, load_column, message_wide, opaque, opaque_wide, set_column, store_column, transpose,
    };
    use super::super::{BLOCK, Kernel, MAX_LANES};
    use super::{K, LANES, S, State, word};

    /// The fastest kernel the CPU has (sixteen lanes with AVX-512F and -VL, else
    /// eight with AVX2), decided once; `None` without AVX2.
    pub(super) fn kernel() -> Option<Kernel<State>> {
        static CHOICE: OnceLock<Option<Kernel<State>>> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                // One lane of a step runs at ~60% of the one-stream code: two gain.
                Some(Kernel {
                    width: WIDE,
                    min_busy: 2,
                    compress: wide_checked,
                })
            } else if is_x86_feature_detected!("avx2") {
                // ~45% of the one-stream code per lane.
                Some(Kernel {
                    width: LANES,
                    min_busy: 3,
                    compress: narrow_checked,
                })
            } else {
                None
            }
        })
    }

    /// [`compress_lanes_wide`], handed out by [`kernel`] only on a CPU with its
    /// features.
    fn wide_checked(states: &mut [State; MAX_LANES], inputs: &[&[u8]; MAX_LANES]) {
        // SAFETY: `kernel` hands this out only with AVX-512F and -VL present.
        unsafe { compress_lanes_wide(states, inputs) }
    }

    /// [`compress_lanes`] on the first eight lanes, handed out by [`kernel`] only on a
    /// CPU with AVX2.
    fn narrow_checked(states: &mut [State; MAX_LANES], inputs: &[&[u8]; MAX_LANES]) {
        let (Some((states, _)), Some((inputs, _))) = (
            states.split_first_chunk_mut::<LANES>(),
            inputs.split_first_chunk::<LANES>(),
        ) else {
            unreachable!("MAX_LANES >= LANES");
        };
        // SAFETY: `kernel` hands this out only with AVX2 present.
        unsafe { compress_lanes(states, inputs) }
    }

    /// `vpternlogd` truth tables of the round functions, operands `(b, c, d)`: bit
    /// `4b + 2c + d` of the constant is the function's value there.
    pub(super) const TERN_F: i32 = 0xCA; // (b & c) | (!b & d)
    pub(super) const TERN_G: i32 = 0xE4; // (b & d) | (c & !d)
    pub(super) const TERN_H: i32 = 0x96; // b ^ c ^ d
    pub(super) const TERN_I: i32 = 0x39; // c ^ (b | !d)

    /// Left-rotation by shift, shift, or (AVX2).
    macro_rules! rotate_shifts {
        ($x:expr, $s:expr) => {
            _mm256_or_si256(
                _mm256_slli_epi32::<{ $s as i32 }>($x),
                _mm256_srli_epi32::<{ 32 - $s as i32 }>($x),
            )
        };
    }

    /// Left-rotation in one `vprold` (AVX-512F, 512-bit registers).
    macro_rules! rotate_vprold {
        ($x:expr, $s:expr) => {
            _mm512_rol_epi32::<{ $s as i32 }>($x)
        };
    }

    /// MD5 rounds `$r…` on the lane vectors `(a, b, c, d)` with message words `m`, round
    /// function `f`, the vector width's `add`, `splat` and `opaque` functions and
    /// rotation macro `rotate`: unrolled so every rotation is an immediate.
    macro_rules! rounds {
        (($add:ident, $splat:ident, $opaque:ident, $rotate:ident),
         ($a:ident, $b:ident, $c:ident, $d:ident), $m:ident, $f:expr; $($r:literal)*) => {$(
            // `a + K + m` does not wait for the previous round: only the round
            // function and what follows it are on the serial chain.
            let early = $opaque($add($a, $add($splat(K[$r] as i32), $m[word($r)])));
            let sum = $add($f($b, $c, $d), early);
            let rotated = $rotate!(sum, S[$r]);
            ($a, $d, $c) = ($d, $c, $b);
            $b = $add($b, rotated);
        )*};
    }

    /// One block into the lane vectors `(a, b, c, d)`: the sixty-four [`rounds`] with
    /// `ops` and the round functions `(f, g, h, i)`, then the block's starting state
    /// added back.
    macro_rules! block {
        (($add:ident, $splat:ident, $opaque:ident, $rotate:ident),
         ($a:ident, $b:ident, $c:ident, $d:ident), $m:ident,
         ($f:expr, $g:expr, $h:expr, $i:expr)) => {
            let start = ($a, $b, $c, $d);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $f;
                0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $g;
                16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $h;
                32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $i;
                48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
            $a = $add($a, start.0);
            $b = $add($b, start.1);
            $c = $add($c, start.2);
            $d = $add($d, start.3);
        };
    }

    /// The body of a lane kernel: its round functions `(f, g, h, i)` and its rotation.
    macro_rules! lanes_body {
        ($states:ident, $inputs:ident, ($f:expr, $g:expr, $h:expr, $i:expr), $rotate:ident) => {{
            let len = $inputs[0].len();
            assert!(
                len.is_multiple_of(BLOCK) && $inputs.iter().all(|i| i.len() == len),
                "whole blocks, the same number in every lane"
            );
            let load = |j: usize| {
                let words = column($states, j);
                // SAFETY: `words` is 32 readable bytes; the load is unaligned.
                unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
            };
            let (mut a, mut b, mut c, mut d) = (load(0), load(1), load(2), load(3));
            for at in (0..len).step_by(BLOCK) {
                let mut m = [_mm256_setzero_si256(); 16];
                for half in 0..2 {
                    let rows: [__m256i; 8] = std::array::from_fn(|l| {
                        let bytes = &$inputs[l][at + half * 32..at + half * 32 + 32];
                        // SAFETY: `bytes` is 32 readable bytes; the load is unaligned.
                        unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
                    });
                    m[half * 8..half * 8 + 8].copy_from_slice(&transpose(rows));
                }
                block!(
                    (_mm256_add_epi32, _mm256_set1_epi32, opaque, $rotate),
                    (a, b, c, d),
                    m,
                    ($f, $g, $h, $i)
                );
            }
            for (j, v) in [a, b, c, d].into_iter().enumerate() {
                let mut words = [0u32; LANES];
                // SAFETY: `words` is 32 writable bytes; the store is unaligned.
                unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), v) };
                set_column($states, j, words);
            }
        }};
    }

    /// Hashes the blocks of eight equal-length inputs into their eight states (AVX2).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress_lanes(states: &mut [State; LANES], inputs: &[&[u8]; LANES]) {
        let ones = _mm256_set1_epi32(-1);
        let f = |b, c, d| _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)));
        let g = |b, c, d| _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)));
        let h = |b, c, d| _mm256_xor_si256(_mm256_xor_si256(b, c), d);
        let i = |b, c, d| _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)));
        lanes_body!(states, inputs, (f, g, h, i), rotate_shifts);
    }

    /// Lanes of the AVX-512 kernel (32-bit words of a 512-bit register).
    pub(super) const WIDE: usize = MAX_LANES;

    /// Hashes the blocks of sixteen equal-length inputs into their sixteen states
    /// (AVX-512F on 512-bit registers).
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512VL.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub(super) unsafe fn compress_lanes_wide(states: &mut [State; WIDE], inputs: &[&[u8]; WIDE]) {
        let len = inputs[0].len();
        assert!(
            len.is_multiple_of(BLOCK) && inputs.iter().all(|i| i.len() == len),
            "whole blocks, the same number in every lane"
        );
        let f = |b, c, d| _mm512_ternarylogic_epi32::<TERN_F>(b, c, d);
        let g = |b, c, d| _mm512_ternarylogic_epi32::<TERN_G>(b, c, d);
        let h = |b, c, d| _mm512_ternarylogic_epi32::<TERN_H>(b, c, d);
        let i = |b, c, d| _mm512_ternarylogic_epi32::<TERN_I>(b, c, d);
        let load = |j| load_column(states, j);
        let (mut a, mut b, mut c, mut d) = (load(0), load(1), load(2), load(3));
        for at in (0..len).step_by(BLOCK) {
            let m = message_wide(inputs, at);
            block!(
                (
                    _mm512_add_epi32,
                    _mm512_set1_epi32,
                    opaque_wide,
                    rotate_vprold
                ),
                (a, b, c, d),
                m,
                (f, g, h, i)
            );
        }
        for (j, v) in [a, b, c, d].into_iter().enumerate() {
            store_column(states, j, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_many_streams, check_splits, one};
    use super::*;
    use s3s::crypto::{Checksum as _, Md5 as Reference};

    fn reference(data: &[u8]) -> [u8; 16] {
        Reference::checksum(data)
    }

    #[test]
    fn known_digests() {
        let hex = |d: [u8; 16]| hex::encode(d);
        assert_eq!(hex(one::<Md5>(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(one::<Md5>(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(one::<Md5>(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn any_split_of_any_length_matches_the_reference() {
        check_splits::<Md5>(reference);
    }

    #[test]
    fn many_streams_at_once_share_the_lanes_and_stay_exact() {
        check_many_streams::<Md5>(reference);
    }

    #[cfg(target_arch = "x86_64")]
    fn tweak(s: &mut State, l: usize) {
        s[l % 4] ^= (l * 0x0101_0101) as u32;
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_lane_kernel_matches_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        super::super::tests::check_lane_kernel::<Md5, 8>(x86::compress_lanes, tweak);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_lane_kernel_matches_the_scalar_one() {
        if !super::super::tests::has_avx512() {
            return;
        }
        super::super::tests::check_lane_kernel::<Md5, 16>(x86::compress_lanes_wide, tweak);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_ternary_logic_constants_are_the_round_functions() {
        let table = |f: fn(bool, bool, bool) -> bool| {
            (0..8).fold(0, |t, bit| {
                let (b, c, d) = (bit & 4 != 0, bit & 2 != 0, bit & 1 != 0);
                t | (i32::from(f(b, c, d)) << bit)
            })
        };
        assert_eq!(x86::TERN_F, table(|b, c, d| (b & c) | (!b & d)));
        assert_eq!(x86::TERN_G, table(|b, c, d| (b & d) | (c & !d)));
        assert_eq!(x86::TERN_H, table(|b, c, d| b ^ c ^ d));
        assert_eq!(x86::TERN_I, table(|b, c, d| c ^ (b | !d)));
    }

    /// Throughput of the lane kernels. By hand: `cargo test --release -p cuttle-rgw
    /// --lib hash_lanes -- --ignored --nocapture`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[ignore = "a measurement, run by hand in release mode"]
    fn lane_kernel_throughput() {
        use super::super::tests::{kernel_throughput, scalar_throughput};
        scalar_throughput::<Md5>("md5 scalar");
        for _ in 0..3 {
            if std::arch::is_x86_feature_detected!("avx2") {
                kernel_throughput::<Md5, 8>("md5 avx2", x86::compress_lanes);
            }
            if super::super::tests::has_avx512() {
                kernel_throughput::<Md5, 16>("md5 avx512", x86::compress_lanes_wide);
            }
        }
    }
}
