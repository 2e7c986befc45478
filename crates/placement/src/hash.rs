//! The one integer hash every placement decision is built from.
//!
//! It is Bob Jenkins' 1996 public-domain hash ("lookup2", described at
//! burtleburtle.net/bob/hash/evahash.html): three 32-bit accumulators `a`, `b`, `c`
//! start at `a = b = 0x9e3779b9` (the golden ratio) and `c = seed`; the input is read
//! as little-endian 32-bit words, twelve bytes at a time, each block added into
//! `a`, `b`, `c` and then scrambled by `mix`. The byte length is added to `c`, the
//! last 0–11 bytes are added (into `a`, `b`, then the upper three bytes of `c`, whose
//! low byte is reserved for the length), one more `mix`, and `c` is the hash.
//!
//! With `seed == 0` this is exactly the string hash Ceph uses to map object names to
//! placement groups (`ceph_str_hash_rjenkins`), which gives us test vectors from
//! outside this code base.
//!
//! Only wrapping integer arithmetic is used, so every machine computes the same value.
//! `hash_words` is the same function over the little-endian bytes of a few `u32`s,
//! without building the byte string; a unit test proves the two agree.

/// Initial value of the `a` and `b` accumulators: the golden ratio in 32 bits.
const GOLDEN_RATIO: u32 = 0x9e37_79b9;

/// Domain-separation seed for [`crate::pg_input`]: the ASCII bytes `"cPGx"`.
pub(crate) const SEED_PG_INPUT: u32 = u32::from_be_bytes(*b"cPGx");
/// Domain-separation seed for straw2 draws: the ASCII bytes `"cDRW"`.
pub(crate) const SEED_DRAW: u32 = u32::from_be_bytes(*b"cDRW");
/// Domain-separation seed for the hash key of a named bucket (host): `"cBKT"`.
pub(crate) const SEED_BUCKET_KEY: u32 = u32::from_be_bytes(*b"cBKT");

/// Jenkins' reversible mixing step over three accumulators.
#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    // Each line subtracts the other two accumulators and xors in a shifted copy of
    // one of them; the shift amounts are Jenkins' published ones.
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 13);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 8);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 13);
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 12);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 16);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 5);
    *a = a.wrapping_sub(*b).wrapping_sub(*c) ^ (*c >> 3);
    *b = b.wrapping_sub(*c).wrapping_sub(*a) ^ (*a << 10);
    *c = c.wrapping_sub(*a).wrapping_sub(*b) ^ (*b >> 15);
}

/// Little-endian word made of up to four bytes (missing high bytes are zero).
#[inline(always)]
fn le_word(bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .enumerate()
        .fold(0u32, |acc, (i, &byte)| acc | (u32::from(byte) << (8 * i)))
}

/// Jenkins' lookup2 hash of `key` with the given `seed`.
///
/// `hash_bytes(name, 0)` equals Ceph's `ceph_str_hash_rjenkins(name)`.
pub fn hash_bytes(key: &[u8], seed: u32) -> u32 {
    let mut a = GOLDEN_RATIO;
    let mut b = GOLDEN_RATIO;
    let mut c = seed;

    let mut blocks = key.chunks_exact(12);
    for block in &mut blocks {
        a = a.wrapping_add(le_word(&block[0..4]));
        b = b.wrapping_add(le_word(&block[4..8]));
        c = c.wrapping_add(le_word(&block[8..12]));
        mix(&mut a, &mut b, &mut c);
    }

    // The length is defined modulo 2^32, like every other quantity here.
    c = c.wrapping_add(key.len() as u32);
    let tail = blocks.remainder();
    let (tail_a, rest) = tail.split_at(tail.len().min(4));
    let (tail_b, tail_c) = rest.split_at(rest.len().min(4));
    a = a.wrapping_add(le_word(tail_a));
    b = b.wrapping_add(le_word(tail_b));
    // The low byte of `c` holds the length, so the tail's bytes 8..11 land one byte up.
    c = c.wrapping_add(le_word(tail_c) << 8);
    mix(&mut a, &mut b, &mut c);
    c
}

/// [`hash_bytes`] of the little-endian encoding of `words`, computed word by word.
///
/// A whole number of words never leaves bytes for the `c` part of the tail, so reading
/// whole words gives exactly the byte-wise result.
#[inline]
pub(crate) fn hash_words(words: &[u32], seed: u32) -> u32 {
    let mut a = GOLDEN_RATIO;
    let mut b = GOLDEN_RATIO;
    let mut c = seed;

    let mut blocks = words.chunks_exact(3);
    for block in &mut blocks {
        a = a.wrapping_add(block[0]);
        b = b.wrapping_add(block[1]);
        c = c.wrapping_add(block[2]);
        mix(&mut a, &mut b, &mut c);
    }
    c = c.wrapping_add((words.len() as u32).wrapping_mul(4));
    match *blocks.remainder() {
        [w0, w1] => {
            a = a.wrapping_add(w0);
            b = b.wrapping_add(w1);
        }
        [w0] => a = a.wrapping_add(w0),
        _ => {}
    }
    mix(&mut a, &mut b, &mut c);
    c
}

/// The straw2 draw of one candidate: a uniform 32-bit value determined by the PG input
/// `x`, the candidate's `key`, the member `position` being filled and the `attempt`
/// number. The key is in the first block so it goes through both mixing rounds: draws
/// of sibling candidates (often consecutive ids) must be independent, and one round
/// alone leaves measurable correlation between them.
#[inline]
pub(crate) fn draw_hash(x: u32, key: u32, position: u32, attempt: u32) -> u32 {
    hash_words(&[x, key, position, attempt], SEED_DRAW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_as_bytes(words: &[u32]) -> Vec<u8> {
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// Ceph's documentation and real clusters print the raw hash of an object name in
    /// `ceph osd map` output (`pg POOL.HASH (POOL.PG)`); our seed-0 hash must agree.
    #[test]
    fn matches_ceph_string_hash() {
        assert_eq!(hash_bytes(b"test-object-1", 0), 0x74dc_35e2);
    }

    /// Golden values: any change to these changes every placement in every cluster.
    #[test]
    fn golden_values() {
        let cases: &[(&[u8], u32, u32)] = &[
            (b"", 0, 0xbd49_d10d),
            (b"a", 0, 0x29ee_c818),
            (b"abc", 0, 0x251e_4793),
            (b"hello world!", 0, 0x1ecc_b293),
            (b"Four score and seven years ago", 0, 0x50f2_424b),
            (b"rbd_data.1234", 7, 0xa6a9_c4e8),
        ];
        for &(key, seed, want) in cases {
            assert_eq!(
                hash_bytes(key, seed),
                want,
                "hash_bytes({:?}, {seed})",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn words_agree_with_bytes() {
        let words = [0xdead_beef, 1, 2, 3, 0x8000_0000, 7, 9];
        for n in 0..=words.len() {
            for seed in [0, 1, SEED_DRAW, u32::MAX] {
                assert_eq!(
                    hash_words(&words[..n], seed),
                    hash_bytes(&words_as_bytes(&words[..n]), seed),
                    "{n} words, seed {seed:#x}"
                );
            }
        }
    }

    #[test]
    fn every_tail_length_and_byte_matters() {
        // Flipping any single bit of any input length 0..40 changes the hash.
        let base: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..base.len() {
            let h = hash_bytes(&base[..len], 0);
            for i in 0..len {
                for bit in 0..8 {
                    let mut v = base[..len].to_vec();
                    v[i] ^= 1 << bit;
                    assert_ne!(hash_bytes(&v, 0), h, "len {len} byte {i} bit {bit}");
                }
            }
        }
    }
}
