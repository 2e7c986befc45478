//! SHA-256, the hash of a signed payload (`x-amz-content-sha256`), for the lane service
//! ([`super`]): the one-stream code (the `sha2` crate's, with the SHA extensions where
//! the CPU has them, ~2 GB/s here) and a lockstep kernel of sixteen lanes in 512-bit
//! registers (AVX-512). A SHA-256 round is longer than an MD5 step, but its rotations
//! are one `vprord` each and its choice, majority and three-way xors one `vpternlogd`
//! each: sixteen streams side by side run at ~5.5 GB/s here, 2.9× what the SHA
//! extensions do for them one after another (`cargo test --release -p cuttle-rgw --lib
//! hash_lanes -- --ignored --nocapture` prints both). Without AVX-512 the service
//! hashes its lanes one by one with the one-stream code.

use super::{BLOCK, Kernel, LaneHash, Shared};

/// SHA-256 chaining state: `a … h`.
type State = [u32; 8];

/// Round constants: the first 32 bits of the fractional parts of the cube roots of
/// the first sixty-four primes.
#[cfg(target_arch = "x86_64")]
const K: [u32; 64] = [
    0x428a_2f98,
    0x7137_4491,
    0xb5c0_fbcf,
    0xe9b5_dba5,
    0x3956_c25b,
    0x59f1_11f1,
    0x923f_82a4,
    0xab1c_5ed5,
    0xd807_aa98,
    0x1283_5b01,
    0x2431_85be,
    0x550c_7dc3,
    0x72be_5d74,
    0x80de_b1fe,
    0x9bdc_06a7,
    0xc19b_f174,
    0xe49b_69c1,
    0xefbe_4786,
    0x0fc1_9dc6,
    0x240c_a1cc,
    0x2de9_2c6f,
    0x4a74_84aa,
    0x5cb0_a9dc,
    0x76f9_88da,
    0x983e_5152,
    0xa831_c66d,
    0xb003_27c8,
    0xbf59_7fc7,
    0xc6e0_0bf3,
    0xd5a7_9147,
    0x06ca_6351,
    0x1429_2967,
    0x27b7_0a85,
    0x2e1b_2138,
    0x4d2c_6dfc,
    0x5338_0d13,
    0x650a_7354,
    0x766a_0abb,
    0x81c2_c92e,
    0x9272_2c85,
    0xa2bf_e8a1,
    0xa81a_664b,
    0xc24b_8b70,
    0xc76c_51a3,
    0xd192_e819,
    0xd699_0624,
    0xf40e_3585,
    0x106a_a070,
    0x19a4_c116,
    0x1e37_6c08,
    0x2748_774c,
    0x34b0_bcb5,
    0x391c_0cb3,
    0x4ed8_aa4a,
    0x5b9c_ca4f,
    0x682e_6ff3,
    0x748f_82ee,
    0x78a5_636f,
    0x84c8_7814,
    0x8cc7_0208,
    0x90be_fffa,
    0xa450_6ceb,
    0xbef9_a3f7,
    0xc671_78f2,
];

/// SHA-256 in the lane service.
#[derive(Debug)]
pub struct Sha256;

static SHARED: Shared<Sha256> = Shared::new();

impl LaneHash for Sha256 {
    type State = State;
    type Digest = [u8; 32];
    const INITIAL: State = [
        0x6a09_e667,
        0xbb67_ae85,
        0x3c6e_f372,
        0xa54f_f53a,
        0x510e_527f,
        0x9b05_688c,
        0x1f83_d9ab,
        0x5be0_cd19,
    ];
    const THREAD: &'static str = "cuttle-sha256";
    const BIG_ENDIAN: bool = true;

    /// The `sha2` crate's one-stream code (SHA extensions where the CPU has them).
    fn compress(state: &mut State, blocks: &[u8]) {
        let (blocks, rest) = blocks.as_chunks::<BLOCK>();
        debug_assert!(rest.is_empty(), "whole blocks");
        for block in blocks {
            let block = sha2::digest::generic_array::GenericArray::from_slice(block);
            sha2::compress256(state, std::slice::from_ref(block));
        }
    }

    fn digest(state: &State) -> [u8; 32] {
        super::state_bytes(state, Self::BIG_ENDIAN)
    }

    fn kernel() -> Option<Kernel<State>> {
        #[cfg(target_arch = "x86_64")]
        return x86::kernel();
        #[cfg(not(target_arch = "x86_64"))]
        None
    }

    fn shared() -> &'static Shared<Sha256> {
        &SHARED
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The sixteen-lane AVX-512 kernel.

    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::super::x86::{load_column, message_wide, opaque_wide, store_column};
    use super::super::{BLOCK, Kernel, MAX_LANES};
    use super::{K, State};

    /// Busy lanes from which the kernel beats the SHA extensions run lane by lane:
    /// sixteen lanes run ~2.9× as fast as one stream with the extensions, so a step
    /// costs what the extensions take for ~5.6 lanes.
    const MIN_BUSY: usize = 6;

    /// The kernel when the CPU has AVX-512F, -VL and -BW, decided once.
    pub(super) fn kernel() -> Option<Kernel<State>> {
        static CHOICE: OnceLock<Option<Kernel<State>>> = OnceLock::new();
        *CHOICE.get_or_init(|| {
            (is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512bw"))
            .then_some(Kernel {
                width: MAX_LANES,
                min_busy: MIN_BUSY,
                compress: wide_checked,
            })
        })
    }

    /// [`compress_lanes_wide`], handed out by [`kernel`] only on a CPU with its
    /// features.
    fn wide_checked(states: &mut [State; MAX_LANES], inputs: &[&[u8]; MAX_LANES]) {
        // SAFETY: `kernel` hands this out only with AVX-512F, -VL and -BW present.
        unsafe { compress_lanes_wide(states, inputs) }
    }

    /// `vpternlogd` truth tables, operands `(x, y, z)`: bit `4x + 2y + z` of the
    /// constant is the function's value there.
    pub(super) const TERN_CH: i32 = 0xCA; // (x & y) ^ (!x & z)
    pub(super) const TERN_MAJ: i32 = 0xE8; // (x & y) ^ (x & z) ^ (y & z)
    pub(super) const TERN_XOR3: i32 = 0x96; // x ^ y ^ z

    /// `ror(x, a) ^ ror(x, b) ^ ror(x, c)`: the round's Σ functions.
    macro_rules! big_sigma {
        ($x:expr, $a:literal, $b:literal, $c:literal) => {
            _mm512_ternarylogic_epi32::<TERN_XOR3>(
                _mm512_ror_epi32::<$a>($x),
                _mm512_ror_epi32::<$b>($x),
                _mm512_ror_epi32::<$c>($x),
            )
        };
    }

    /// `ror(x, a) ^ ror(x, b) ^ (x >> c)`: the message schedule's σ functions.
    macro_rules! small_sigma {
        ($x:expr, $a:literal, $b:literal, $c:literal) => {
            _mm512_ternarylogic_epi32::<TERN_XOR3>(
                _mm512_ror_epi32::<$a>($x),
                _mm512_ror_epi32::<$b>($x),
                _mm512_srli_epi32::<$c>($x),
            )
        };
    }

    /// SHA-256 rounds `$t…` on the lane vectors `a … h` with the message schedule's
    /// last sixteen words `w` (a ring: word `t` in `w[t % 16]`); from round sixteen on,
    /// each round first computes its word from earlier ones.
    macro_rules! rounds {
        (($a:ident, $b:ident, $c:ident, $d:ident, $e:ident, $f:ident, $g:ident, $h:ident),
         $w:ident, $schedule:literal; $($t:literal)*) => {$(
            if $schedule {
                $w[$t % 16] = _mm512_add_epi32(
                    _mm512_add_epi32(small_sigma!($w[($t + 14) % 16], 17, 19, 10), $w[($t + 9) % 16]),
                    _mm512_add_epi32(small_sigma!($w[($t + 1) % 16], 7, 18, 3), $w[$t % 16]),
                );
            }
            // `h + K + w` does not wait for the previous round.
            let early = opaque_wide(_mm512_add_epi32(
                $h,
                _mm512_add_epi32(_mm512_set1_epi32(K[$t] as i32), $w[$t % 16]),
            ));
            let t1 = _mm512_add_epi32(
                _mm512_add_epi32(
                    big_sigma!($e, 6, 11, 25),
                    _mm512_ternarylogic_epi32::<TERN_CH>($e, $f, $g),
                ),
                early,
            );
            let t2 = _mm512_add_epi32(
                big_sigma!($a, 2, 13, 22),
                _mm512_ternarylogic_epi32::<TERN_MAJ>($a, $b, $c),
            );
            ($h, $g, $f) = ($g, $f, $e);
            $e = _mm512_add_epi32($d, t1);
            ($d, $c, $b) = ($c, $b, $a);
            $a = _mm512_add_epi32(t1, t2);
        )*};
    }

    /// Hashes the blocks of sixteen equal-length inputs into their sixteen states.
    ///
    /// # Safety
    /// The CPU must have AVX-512F, AVX-512VL and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx2")]
    pub(super) unsafe fn compress_lanes_wide(
        states: &mut [State; MAX_LANES],
        inputs: &[&[u8]; MAX_LANES],
    ) {
        let len = inputs[0].len();
        assert!(
            len.is_multiple_of(BLOCK) && inputs.iter().all(|i| i.len() == len),
            "whole blocks, the same number in every lane"
        );
        // Big-endian words: reverse the bytes of every 32-bit word.
        let swap = _mm512_broadcast_i32x4(_mm_setr_epi8(
            3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12,
        ));
        let mut v: [__m512i; 8] = std::array::from_fn(|j| load_column(states, j));
        for at in (0..len).step_by(BLOCK) {
            let m = message_wide(inputs, at);
            let mut w = m;
            for w in &mut w {
                *w = _mm512_shuffle_epi8(*w, swap);
            }
            let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = v;
            rounds!((a, b, c, d, e, f, g, h), w, false;
                0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            rounds!((a, b, c, d, e, f, g, h), w, true;
                16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
                32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47
                48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
            for (s, x) in v.iter_mut().zip([a, b, c, d, e, f, g, h]) {
                *s = _mm512_add_epi32(*s, x);
            }
        }
        for (j, s) in v.into_iter().enumerate() {
            store_column(states, j, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check_many_streams, check_splits, one};
    use super::*;
    use sha2::Digest as _;

    fn reference(data: &[u8]) -> [u8; 32] {
        sha2::Sha256::digest(data).into()
    }

    #[test]
    fn known_digests() {
        assert_eq!(
            hex::encode(one::<Sha256>(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(one::<Sha256>(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(one::<Sha256>(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }

    #[test]
    fn any_split_of_any_length_matches_the_reference() {
        check_splits::<Sha256>(reference);
    }

    #[test]
    fn many_streams_at_once_share_the_lanes_and_stay_exact() {
        check_many_streams::<Sha256>(reference);
    }

    #[cfg(target_arch = "x86_64")]
    fn has_kernel_features() -> bool {
        super::super::tests::has_avx512() && std::arch::is_x86_feature_detected!("avx512bw")
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_lane_kernel_matches_the_scalar_one() {
        if !has_kernel_features() {
            return;
        }
        super::super::tests::check_lane_kernel::<Sha256, 16>(x86::compress_lanes_wide, |s, l| {
            s[l % 8] ^= (l * 0x0101_0101) as u32;
        });
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_ternary_logic_constants_are_the_round_functions() {
        let table = |f: fn(bool, bool, bool) -> bool| {
            (0..8).fold(0, |t, bit| {
                let (x, y, z) = (bit & 4 != 0, bit & 2 != 0, bit & 1 != 0);
                t | (i32::from(f(x, y, z)) << bit)
            })
        };
        assert_eq!(x86::TERN_CH, table(|x, y, z| (x & y) ^ (!x & z)));
        assert_eq!(x86::TERN_MAJ, table(|x, y, z| (x & y) ^ (x & z) ^ (y & z)));
        assert_eq!(x86::TERN_XOR3, table(|x, y, z| x ^ y ^ z));
    }

    /// Throughput of the lane kernel against the one-stream code. By hand: `cargo test
    /// --release -p cuttle-rgw --lib hash_lanes -- --ignored --nocapture`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[ignore = "a measurement, run by hand in release mode"]
    fn lane_kernel_throughput() {
        use super::super::tests::{kernel_throughput, scalar_throughput};
        scalar_throughput::<Sha256>("sha256 scalar");
        for _ in 0..3 {
            if has_kernel_features() {
                kernel_throughput::<Sha256, 16>("sha256 avx512", x86::compress_lanes_wide);
            }
        }
    }
}
