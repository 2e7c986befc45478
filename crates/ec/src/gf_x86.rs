//! x86-64 AVX2 kernel for GF(2^8) dot products over byte columns: every output column
//! is `Σ_i c[o][i] · input_i`, the whole of Reed–Solomon coding.
//!
//! `reed-solomon-erasure` applies one coefficient at a time (`mul_slice_xor`): each of
//! the `outputs × inputs` terms reads an input, reads the output and writes it back.
//! Here the loop runs over 32-byte columns instead: each input column is loaded once,
//! split into nibbles once, multiplied by every output's coefficient with two `vpshufb`
//! table lookups (the classic split-table method: `c·x = T_lo[x & 15] ^ T_hi[x >> 4]`),
//! and the sums stay in registers until each output column is stored once. Memory
//! traffic drops from `3 · outputs · inputs` streams to `inputs + outputs`, and the
//! kernel runs at the shuffle units' speed.
//!
//! The tables are built with the crate's own `galois_8::mul`, so the field (polynomial
//! 0x11D) is the encoder's by construction; the tests compare every result with the
//! crate. The kernel is chosen at run time from the CPU's features; the build requires
//! nothing beyond x86-64.

use std::arch::x86_64::{
    __m256i, _mm256_and_si256, _mm256_loadu_si256, _mm256_set1_epi8, _mm256_setzero_si256,
    _mm256_shuffle_epi8, _mm256_srli_epi64, _mm256_storeu_si256, _mm256_xor_si256,
};

use std::mem::MaybeUninit;

use reed_solomon_erasure::galois_8;

/// Bytes of one column step: one 256-bit register.
const LANE: usize = 32;
/// Outputs summed in registers at once; more would spill the 16 `ymm` registers.
const GROUP: usize = 4;

/// The two 16-entry product tables of one coefficient, each repeated in both 128-bit
/// halves as `vpshufb` looks up within a half.
#[derive(Debug, Clone)]
#[repr(C, align(32))]
struct SplitTable {
    /// `c · x` for `x` in `0..16`.
    low: [u8; LANE],
    /// `c · (x << 4)` for `x` in `0..16`.
    high: [u8; LANE],
}

impl SplitTable {
    fn new(c: u8) -> SplitTable {
        let mut low = [0u8; LANE];
        let mut high = [0u8; LANE];
        for x in 0..LANE {
            let nibble = (x % 16) as u8;
            low[x] = galois_8::mul(c, nibble);
            high[x] = galois_8::mul(c, nibble << 4);
        }
        SplitTable { low, high }
    }
}

/// A coefficient matrix prepared for the AVX2 kernel.
#[derive(Debug, Clone)]
pub(crate) struct DotKernel {
    inputs: usize,
    /// Row-major: the table for output `o`, input `i` is at `o * inputs + i`.
    tables: Vec<SplitTable>,
    /// The coefficients themselves, for the columns past the last whole lane.
    coefficients: Vec<u8>,
}

impl DotKernel {
    /// The kernel for `rows` (each one output's coefficients over `inputs` inputs), or
    /// `None` when this CPU lacks AVX2.
    pub fn new<'a>(inputs: usize, rows: impl IntoIterator<Item = &'a [u8]>) -> Option<DotKernel> {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return None;
        }
        let coefficients: Vec<u8> = rows.into_iter().flatten().copied().collect();
        let tables = coefficients.iter().map(|&c| SplitTable::new(c)).collect();
        Some(DotKernel {
            inputs,
            tables,
            coefficients,
        })
    }

    /// Overwrites each output with its row's combination of `inputs`. Every slice must
    /// have the same length.
    pub fn apply(&self, inputs: &[&[u8]], outputs: &mut [&mut [u8]]) {
        let mut outs: Vec<&mut [MaybeUninit<u8>]> = outputs
            .iter_mut()
            // SAFETY: the kernel only ever writes initialized bytes through these.
            .map(|o| unsafe { &mut *(&mut **o as *mut [u8] as *mut [MaybeUninit<u8>]) })
            .collect();
        self.write(inputs, &mut outs);
    }

    /// Appends each output's columns to its vector without zero-filling them first.
    pub fn append(&self, inputs: &[&[u8]], outputs: &mut [&mut Vec<u8>]) {
        let len = inputs.first().map_or(0, |i| i.len());
        let mut outs: Vec<&mut [MaybeUninit<u8>]> = outputs
            .iter_mut()
            .map(|o| {
                o.reserve(len);
                &mut o.spare_capacity_mut()[..len]
            })
            .collect();
        self.write(inputs, &mut outs);
        for o in outputs.iter_mut() {
            let filled = o.len() + len;
            // SAFETY: `write` stored every one of the `len` bytes past the old length
            // (whole lanes, then the scalar tail), and `reserve` made room for them.
            unsafe { o.set_len(filled) };
        }
    }

    /// Writes every byte of each output: its row's combination of `inputs`.
    fn write(&self, inputs: &[&[u8]], outputs: &mut [&mut [MaybeUninit<u8>]]) {
        assert_eq!(
            inputs.len(),
            self.inputs,
            "one input per coefficient column"
        );
        assert_eq!(
            outputs.len() * self.inputs,
            self.coefficients.len(),
            "one output per coefficient row"
        );
        let Some(len) = outputs.first().map(|o| o.len()) else {
            return;
        };
        assert!(
            inputs.iter().all(|i| i.len() == len) && outputs.iter().all(|o| o.len() == len),
            "columns of equal length"
        );
        let whole = len / LANE * LANE;
        // Rows of all ones are a plain XOR; the others go through the tables, up to
        // GROUP outputs per pass over the inputs.
        let mut general: Vec<(&[SplitTable], &mut [MaybeUninit<u8>])> =
            Vec::with_capacity(outputs.len());
        for (o, out) in outputs.iter_mut().enumerate() {
            let row = o * self.inputs..(o + 1) * self.inputs;
            if self.coefficients[row.clone()].iter().all(|&c| c == 1) {
                // SAFETY: `new` checked that the CPU has AVX2.
                unsafe { xor_all(inputs, out, whole) };
            } else {
                general.push((&self.tables[row], &mut out[..]));
            }
        }
        while !general.is_empty() {
            let rest = general.split_off(general.len().min(GROUP));
            let (tables, outs): (Vec<&[SplitTable]>, Vec<&mut [MaybeUninit<u8>]>) =
                general.into_iter().unzip();
            // SAFETY: `new` checked that the CPU has AVX2.
            unsafe {
                match (<[_; 1]>::try_from(outs), self.inputs) {
                    (Ok([a]), 2) => dot_one::<2>(tables[0], inputs, a, whole),
                    (Ok([a]), 3) => dot_one::<3>(tables[0], inputs, a, whole),
                    (Ok([a]), 4) => dot_one::<4>(tables[0], inputs, a, whole),
                    (Ok(one), _) => dot::<1>(&tables, inputs, one, whole),
                    (Err(outs), _) => match outs.len() {
                        2 => dot::<2>(&tables, inputs, array(outs), whole),
                        3 => dot::<3>(&tables, inputs, array(outs), whole),
                        _ => dot::<4>(&tables, inputs, array(outs), whole),
                    },
                }
            }
            general = rest;
        }
        if whole < len {
            self.scalar_tail(inputs, outputs, whole);
        }
    }

    /// Columns `from..` one byte at a time (fewer than 32 of them).
    fn scalar_tail(&self, inputs: &[&[u8]], outputs: &mut [&mut [MaybeUninit<u8>]], from: usize) {
        for (o, out) in outputs.iter_mut().enumerate() {
            let row = &self.coefficients[o * self.inputs..(o + 1) * self.inputs];
            for (col, byte) in out.iter_mut().enumerate().skip(from) {
                *byte = MaybeUninit::new(
                    row.iter()
                        .zip(inputs)
                        .fold(0, |acc, (&c, input)| acc ^ galois_8::mul(c, input[col])),
                );
            }
        }
    }
}

/// `outs` as an array of its known length.
fn array<const N: usize>(outs: Vec<&mut [MaybeUninit<u8>]>) -> [&mut [MaybeUninit<u8>]; N] {
    outs.try_into()
        .unwrap_or_else(|v: Vec<_>| panic!("{} outputs where {N} were counted", v.len()))
}

/// Loads the 32 bytes of `bytes` at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn load(bytes: &[u8], at: usize) -> __m256i {
    let lane = &bytes[at..at + LANE];
    // SAFETY: `lane` is 32 readable bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(lane.as_ptr().cast()) }
}

/// The low and high nibbles of each byte of `x`, as `vpshufb` indices.
#[inline]
#[target_feature(enable = "avx2")]
fn nibbles(x: __m256i) -> (__m256i, __m256i) {
    let mask = _mm256_set1_epi8(0x0f);
    (
        _mm256_and_si256(x, mask),
        _mm256_and_si256(_mm256_srli_epi64::<4>(x), mask),
    )
}

/// `c · x` for the nibbles of `x`, with `c`'s tables `(low, high)`.
#[inline]
#[target_feature(enable = "avx2")]
fn product(table: (__m256i, __m256i), (low, high): (__m256i, __m256i)) -> __m256i {
    _mm256_xor_si256(
        _mm256_shuffle_epi8(table.0, low),
        _mm256_shuffle_epi8(table.1, high),
    )
}

#[inline]
#[target_feature(enable = "avx2")]
fn store(out: &mut [MaybeUninit<u8>], at: usize, value: __m256i) {
    let lane = &mut out[at..at + LANE];
    // SAFETY: `lane` is 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(lane.as_mut_ptr().cast(), value) };
}

#[inline]
#[target_feature(enable = "avx2")]
fn table(t: &SplitTable) -> (__m256i, __m256i) {
    (load(&t.low, 0), load(&t.high, 0))
}

/// One output from `W` inputs, the `2·W` tables held in registers: the parity of a
/// single-parity code and most single-chunk repairs. Columns `0..whole`, a multiple of
/// 32.
#[target_feature(enable = "avx2")]
fn dot_one<const W: usize>(
    tables: &[SplitTable],
    inputs: &[&[u8]],
    out: &mut [MaybeUninit<u8>],
    whole: usize,
) {
    let t: [(__m256i, __m256i); W] = std::array::from_fn(|i| table(&tables[i]));
    let inputs: &[&[u8]; W] = inputs.try_into().expect("W inputs");
    let mut col = 0;
    while col + 2 * LANE <= whole {
        let (mut sum0, mut sum1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for (input, table) in inputs.iter().zip(t) {
            sum0 = _mm256_xor_si256(sum0, product(table, nibbles(load(input, col))));
            sum1 = _mm256_xor_si256(sum1, product(table, nibbles(load(input, col + LANE))));
        }
        store(out, col, sum0);
        store(out, col + LANE, sum1);
        col += 2 * LANE;
    }
    if col < whole {
        let mut sum = _mm256_setzero_si256();
        for (input, table) in inputs.iter().zip(t) {
            sum = _mm256_xor_si256(sum, product(table, nibbles(load(input, col))));
        }
        store(out, col, sum);
    }
}

/// The XOR of all `inputs` (a row of ones), columns `0..whole` (a multiple of 32), two
/// lanes at a time.
#[target_feature(enable = "avx2")]
fn xor_all(inputs: &[&[u8]], out: &mut [MaybeUninit<u8>], whole: usize) {
    let mut col = 0;
    while col + 2 * LANE <= whole {
        let (mut sum0, mut sum1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        for input in inputs {
            sum0 = _mm256_xor_si256(sum0, load(input, col));
            sum1 = _mm256_xor_si256(sum1, load(input, col + LANE));
        }
        store(out, col, sum0);
        store(out, col + LANE, sum1);
        col += 2 * LANE;
    }
    if col < whole {
        let sum = inputs.iter().fold(_mm256_setzero_si256(), |acc, input| {
            _mm256_xor_si256(acc, load(input, col))
        });
        store(out, col, sum);
    }
}

/// Columns `0..whole` (a multiple of 32) of `N` outputs from any number of inputs, two
/// lanes at a time, sums kept in registers; tables are read from L1 per input.
#[target_feature(enable = "avx2")]
fn dot<const N: usize>(
    rows: &[&[SplitTable]],
    inputs: &[&[u8]],
    mut outputs: [&mut [MaybeUninit<u8>]; N],
    whole: usize,
) {
    let mut col = 0;
    while col + 2 * LANE <= whole {
        let mut sums = [[_mm256_setzero_si256(); 2]; N];
        for (i, input) in inputs.iter().enumerate() {
            let x0 = nibbles(load(input, col));
            let x1 = nibbles(load(input, col + LANE));
            for (sum, row) in sums.iter_mut().zip(rows) {
                let t = table(&row[i]);
                sum[0] = _mm256_xor_si256(sum[0], product(t, x0));
                sum[1] = _mm256_xor_si256(sum[1], product(t, x1));
            }
        }
        for (out, [sum0, sum1]) in outputs.iter_mut().zip(sums) {
            store(out, col, sum0);
            store(out, col + LANE, sum1);
        }
        col += 2 * LANE;
    }
    if col < whole {
        let mut sums = [_mm256_setzero_si256(); N];
        for (i, input) in inputs.iter().enumerate() {
            let x = nibbles(load(input, col));
            for (sum, row) in sums.iter_mut().zip(rows) {
                *sum = _mm256_xor_si256(*sum, product(table(&row[i]), x));
            }
        }
        for (out, sum) in outputs.iter_mut().zip(sums) {
            store(out, col, sum);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pseudo_random;

    /// What the crate computes, one coefficient at a time.
    fn reference(rows: &[Vec<u8>], inputs: &[&[u8]], len: usize) -> Vec<Vec<u8>> {
        rows.iter()
            .map(|row| {
                let mut out = vec![0u8; len];
                for (&c, input) in row.iter().zip(inputs) {
                    for (o, &x) in out.iter_mut().zip(input.iter()) {
                        *o ^= galois_8::mul(c, x);
                    }
                }
                out
            })
            .collect()
    }

    #[test]
    fn matches_the_crates_field_for_every_shape_and_tail() {
        let Some(_) = DotKernel::new(1, [&[1u8][..]]) else {
            return; // No AVX2: the crate's kernels are used instead.
        };
        for (outs, ins) in [
            (1, 1),
            (1, 2),
            (1, 4),
            (2, 4),
            (3, 8),
            (4, 10),
            (5, 3),
            (9, 2),
        ] {
            for len in [0, 1, 31, 32, 33, 95, 96, 4096, 4096 + 17] {
                let rows: Vec<Vec<u8>> = (0..outs)
                    .map(|o| {
                        if o == 0 && outs > 1 {
                            // A row of ones takes the XOR path.
                            return vec![1; ins];
                        }
                        pseudo_random(ins, (o * 31 + ins) as u32)
                            .into_iter()
                            // Include 0 and 1, the special cases of the field.
                            .enumerate()
                            .map(|(i, c)| match (o + i) % 5 {
                                0 => 0,
                                1 => 1,
                                _ => c,
                            })
                            .collect()
                    })
                    .collect();
                let data: Vec<Vec<u8>> = (0..ins)
                    .map(|i| pseudo_random(len, 1000 + i as u32))
                    .collect();
                let inputs: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
                let kernel =
                    DotKernel::new(ins, rows.iter().map(Vec::as_slice)).expect("avx2 present");
                let mut got = vec![vec![0xa5u8; len]; outs];
                let mut outputs: Vec<&mut [u8]> = got.iter_mut().map(Vec::as_mut_slice).collect();
                kernel.apply(&inputs, &mut outputs);
                let expected = reference(&rows, &inputs, len);
                assert_eq!(got, expected, "{outs}x{ins}, {len} bytes");
                // Appending after existing bytes, into uninitialized capacity.
                let mut grown: Vec<Vec<u8>> = (0..outs).map(|o| vec![o as u8; 7]).collect();
                let mut refs: Vec<&mut Vec<u8>> = grown.iter_mut().collect();
                kernel.append(&inputs, &mut refs);
                for (o, (g, e)) in grown.iter().zip(&expected).enumerate() {
                    assert_eq!(g[..7], [o as u8; 7]);
                    assert_eq!(&g[7..], &e[..], "append {outs}x{ins}, {len} bytes");
                }
            }
        }
    }
}
