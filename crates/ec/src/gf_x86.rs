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

use crate::codec::XorTerms;

/// Bytes of one column step: one 256-bit register.
const LANE: usize = 32;
/// Outputs summed in registers at once; more would spill the 16 `ymm` registers.
const GROUP: usize = 4;
/// Outputs of a pass that can also carry a fused XOR output (two more registers).
const FUSED_GROUP: usize = 3;

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

/// Up to [`GROUP`] outputs computed in one pass over the inputs.
#[derive(Debug, Clone)]
struct Pass {
    /// The kernel's outputs this pass computes, in order.
    outputs: Vec<usize>,
    /// Input-major, so one pass walks them in order: the table of input `i` for the
    /// pass's output `j` is at `i * outputs.len() + j`.
    tables: Vec<SplitTable>,
}

/// A coefficient matrix prepared for the AVX2 kernel.
#[derive(Debug, Clone)]
pub(crate) struct DotKernel {
    inputs: usize,
    /// Row-major: output `o`'s coefficient of input `i` is at `o * inputs + i`. For the
    /// columns past the last whole lane.
    coefficients: Vec<u8>,
    /// Outputs whose rows are all ones: a plain XOR of the inputs.
    xor_rows: Vec<usize>,
    /// The other outputs.
    passes: Vec<Pass>,
}

impl DotKernel {
    /// The kernel for `rows` (each one output's coefficients over `inputs` inputs), or
    /// `None` when this CPU lacks AVX2.
    pub fn new<'a>(inputs: usize, rows: impl IntoIterator<Item = &'a [u8]>) -> Option<DotKernel> {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return None;
        }
        let coefficients: Vec<u8> = rows.into_iter().flatten().copied().collect();
        let row = |o: usize| &coefficients[o * inputs..(o + 1) * inputs];
        let n_rows = coefficients.len().checked_div(inputs).unwrap_or(0);
        let (xor_rows, general): (Vec<usize>, Vec<usize>) =
            (0..n_rows).partition(|&o| row(o).iter().all(|&c| c == 1));
        let passes = general
            .chunks(GROUP)
            .map(|outputs| Pass {
                outputs: outputs.to_vec(),
                tables: (0..inputs)
                    .flat_map(|i| outputs.iter().map(move |&o| (o, i)))
                    .map(|(o, i)| SplitTable::new(row(o)[i]))
                    .collect(),
            })
            .collect();
        Some(DotKernel {
            inputs,
            coefficients,
            xor_rows,
            passes,
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
        self.write(inputs, &mut outs, None);
    }

    /// Appends each output's columns to its vector without zero-filling them first.
    pub fn append(&self, inputs: &[&[u8]], outputs: &mut [&mut Vec<u8>]) {
        self.append_to(inputs, outputs, None);
    }

    /// Like [`append`](Self::append), and appends to `xor` the XOR of the inputs and
    /// outputs `terms` marks, computed in the same pass over the inputs when it can be.
    pub fn append_with_xor(
        &self,
        inputs: &[&[u8]],
        outputs: &mut [&mut Vec<u8>],
        terms: &XorTerms,
        xor: &mut Vec<u8>,
    ) {
        self.append_to(inputs, outputs, Some((terms, xor)));
    }

    fn append_to(
        &self,
        inputs: &[&[u8]],
        outputs: &mut [&mut Vec<u8>],
        xor: Option<(&XorTerms, &mut Vec<u8>)>,
    ) {
        let len = inputs.first().map_or(0, |i| i.len());
        let (terms, mut xor) = xor.unzip();
        {
            let mut outs: Vec<&mut [MaybeUninit<u8>]> =
                outputs.iter_mut().map(|o| spare(o, len)).collect();
            let xor_out = xor.as_mut().map(|v| spare(v, len));
            self.write(inputs, &mut outs, terms.zip(xor_out));
        }
        for o in outputs.iter_mut().map(|o| &mut **o).chain(xor) {
            let filled = o.len() + len;
            // SAFETY: `write` stored every one of the `len` bytes past the old length
            // (whole lanes, then the scalar tail), and `spare` made room for them.
            unsafe { o.set_len(filled) };
        }
    }

    /// Writes every byte of each output: its row's combination of `inputs`; and, with
    /// `xor`, every byte of its output: the XOR of the inputs and outputs it marks.
    fn write(
        &self,
        inputs: &[&[u8]],
        outputs: &mut [&mut [MaybeUninit<u8>]],
        xor: Option<(&XorTerms, &mut [MaybeUninit<u8>])>,
    ) {
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
        let len = match (inputs.first(), outputs.first(), &xor) {
            (Some(i), _, _) => i.len(),
            (None, Some(o), _) => o.len(),
            (None, None, Some((_, x))) => x.len(),
            (None, None, None) => return,
        };
        assert!(
            inputs.iter().all(|i| i.len() == len)
                && outputs.iter().all(|o| o.len() == len)
                && xor.as_ref().is_none_or(|(t, x)| x.len() == len
                    && t.inputs.len() == inputs.len()
                    && t.outputs.len() == outputs.len()),
            "columns of equal length, one XOR mark per input and output"
        );
        let whole = len / LANE * LANE;
        for &o in &self.xor_rows {
            // SAFETY: `new` checked that the CPU has AVX2.
            unsafe { xor_all(inputs, &mut *outputs[o], whole) };
        }
        let fused = xor.as_ref().is_some_and(|(t, _)| self.can_fuse(t));
        let mut xor = xor;
        for (p, pass) in self.passes.iter().enumerate() {
            let fuse = match (&mut xor, fused && p == 0) {
                (Some((t, x)), true) => Some((&**t, &mut **x)),
                _ => None,
            };
            self.run_pass(pass, inputs, outputs, fuse, whole);
        }
        if whole < len {
            self.scalar_tail(inputs, outputs, whole);
        }
        if let Some((terms, out)) = xor {
            // SAFETY: every byte of every output was written above.
            let written: Vec<&[u8]> = outputs.iter().map(|o| unsafe { initialized(o) }).collect();
            let marked: Vec<&[u8]> = inputs
                .iter()
                .zip(&terms.inputs)
                .chain(written.iter().zip(&terms.outputs))
                .filter(|(_, t)| **t)
                .map(|(s, _)| *s)
                .collect();
            if !fused {
                // SAFETY: `new` checked that the CPU has AVX2.
                unsafe { xor_all(&marked, out, whole) };
            }
            for (col, byte) in out.iter_mut().enumerate().skip(whole) {
                *byte = MaybeUninit::new(marked.iter().fold(0, |acc, s| acc ^ s[col]));
            }
        }
    }

    /// Whether the XOR output of `terms` can be summed in the one pass that computes
    /// all its marked outputs (and has registers to spare for it).
    fn can_fuse(&self, terms: &XorTerms) -> bool {
        let [pass] = &self.passes[..] else {
            return false;
        };
        self.inputs <= 64
            && pass.outputs.len() <= FUSED_GROUP
            && terms
                .outputs
                .iter()
                .enumerate()
                .all(|(o, &t)| !t || pass.outputs.contains(&o))
    }

    /// Columns `0..whole` of the outputs of `pass`, and of the fused XOR output if any.
    fn run_pass(
        &self,
        pass: &Pass,
        inputs: &[&[u8]],
        outputs: &mut [&mut [MaybeUninit<u8>]],
        xor: Option<(&XorTerms, &mut [MaybeUninit<u8>])>,
        whole: usize,
    ) {
        let n = pass.outputs.len();
        let fused = xor.map(|(t, out)| {
            let mask = t
                .inputs
                .iter()
                .enumerate()
                .fold(0u64, |m, (i, &on)| m | (u64::from(on) << i));
            let outs: Vec<bool> = pass.outputs.iter().map(|&o| t.outputs[o]).collect();
            (out, mask, outs)
        });
        macro_rules! go {
            ($n:literal, $x:literal) => {{
                let idx: [usize; $n] = pass.outputs[..].try_into().expect("pass size");
                let outs = outputs
                    .get_disjoint_mut(idx)
                    .expect("distinct outputs")
                    .map(|o| &mut **o);
                let (tables, _) = pass.tables.as_chunks::<$n>();
                let xor = match fused {
                    Some((out, mask, marks)) => Fused {
                        out,
                        inputs: mask,
                        outputs: marks[..].try_into().expect("pass size"),
                    },
                    None => Fused::none(),
                };
                // SAFETY: `new` checked that the CPU has AVX2.
                unsafe { dot::<$n, $x>(tables, inputs, outs, xor, whole) }
            }};
        }
        match (n, fused.is_some()) {
            (1, false) if (2..=4).contains(&self.inputs) => {
                let [o] = pass.outputs[..] else { return };
                let out = &mut *outputs[o];
                // SAFETY: `new` checked that the CPU has AVX2.
                unsafe {
                    match self.inputs {
                        2 => dot_one::<2>(&pass.tables, inputs, out, whole),
                        3 => dot_one::<3>(&pass.tables, inputs, out, whole),
                        _ => dot_one::<4>(&pass.tables, inputs, out, whole),
                    }
                }
            }
            (1, false) => go!(1, false),
            (1, true) => go!(1, true),
            (2, false) => go!(2, false),
            (2, true) => go!(2, true),
            (3, false) => go!(3, false),
            (3, true) => go!(3, true),
            _ => go!(4, false),
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

/// Room for `len` more bytes at the end of `v`, uninitialized.
fn spare(v: &mut Vec<u8>, len: usize) -> &mut [MaybeUninit<u8>] {
    v.reserve(len);
    &mut v.spare_capacity_mut()[..len]
}

/// `bytes` as initialized bytes.
///
/// # Safety
/// Every byte of `bytes` must have been written.
unsafe fn initialized(bytes: &[MaybeUninit<u8>]) -> &[u8] {
    // SAFETY: `MaybeUninit<u8>` has the layout of `u8`, and the caller vouches that
    // every byte is initialized.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len()) }
}

/// The extra XOR output of a fused pass.
struct Fused<'a, const N: usize> {
    out: &'a mut [MaybeUninit<u8>],
    /// Bit `i` set: input `i` is a term.
    inputs: u64,
    /// Which of the pass's outputs are terms.
    outputs: [bool; N],
}

impl<const N: usize> Fused<'_, N> {
    fn none() -> Self {
        Fused {
            out: &mut [],
            inputs: 0,
            outputs: [false; N],
        }
    }
}

/// Loads 32 bytes from `ptr`.
///
/// # Safety
/// `ptr..ptr + 32` must be readable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn load_at(ptr: *const u8) -> __m256i {
    // SAFETY: the caller vouches for the 32 bytes; the load is unaligned.
    unsafe { _mm256_loadu_si256(ptr.cast()) }
}

/// Stores 32 bytes at `ptr`.
///
/// # Safety
/// `ptr..ptr + 32` must be writable.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store_at(ptr: *mut MaybeUninit<u8>, value: __m256i) {
    // SAFETY: the caller vouches for the 32 bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(ptr.cast(), value) };
}

/// Loads the 32 bytes of `bytes` at `at`.
#[inline]
#[target_feature(enable = "avx2")]
fn load(bytes: &[u8], at: usize) -> __m256i {
    let lane = &bytes[at..at + LANE];
    // SAFETY: `lane` is 32 readable bytes.
    unsafe { load_at(lane.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2")]
fn store(out: &mut [MaybeUninit<u8>], at: usize, value: __m256i) {
    let lane = &mut out[at..at + LANE];
    // SAFETY: `lane` is 32 writable bytes.
    unsafe { store_at(lane.as_mut_ptr(), value) };
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

/// The XOR of all `inputs` into `out`, columns `0..whole` (a multiple of 32).
#[target_feature(enable = "avx2")]
fn xor_all(inputs: &[&[u8]], out: &mut [MaybeUninit<u8>], whole: usize) {
    assert!(
        whole.is_multiple_of(LANE) && out.len() >= whole && inputs.iter().all(|i| i.len() >= whole),
        "whole lanes of every column"
    );
    let out = out.as_mut_ptr();
    let mut col = 0;
    while col + 4 * LANE <= whole {
        // SAFETY: `col + 128 <= whole`, which every input and `out` cover (asserted).
        unsafe { xor_lanes::<4>(inputs, out, col) };
        col += 4 * LANE;
    }
    while col < whole {
        // SAFETY: `col + 32 <= whole` (both are multiples of 32), covered as above.
        unsafe { xor_lanes::<1>(inputs, out, col) };
        col += LANE;
    }
}

/// `L` lanes of [`xor_all`] at `col`.
///
/// # Safety
/// Every input must be readable, and `out` writable, for `col + 32·L` bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn xor_lanes<const L: usize>(inputs: &[&[u8]], out: *mut MaybeUninit<u8>, col: usize) {
    let mut sums = [_mm256_setzero_si256(); L];
    for input in inputs {
        let p = input.as_ptr();
        for (l, sum) in sums.iter_mut().enumerate() {
            // SAFETY: within the caller's `col + 32·L` readable bytes.
            *sum = _mm256_xor_si256(*sum, unsafe { load_at(p.add(col + l * LANE)) });
        }
    }
    for (l, sum) in sums.into_iter().enumerate() {
        // SAFETY: within the caller's `col + 32·L` writable bytes.
        unsafe { store_at(out.add(col + l * LANE), sum) };
    }
}

/// Columns `0..whole` (a multiple of 32) of `N` outputs from any number of inputs, two
/// lanes at a time, sums kept in registers; `tables[i]` are input `i`'s, read from L1.
/// With `X`, also the XOR output `xor`, summed in two more registers.
#[target_feature(enable = "avx2")]
fn dot<const N: usize, const X: bool>(
    tables: &[[SplitTable; N]],
    inputs: &[&[u8]],
    outputs: [&mut [MaybeUninit<u8>]; N],
    xor: Fused<'_, N>,
    whole: usize,
) {
    assert!(
        whole.is_multiple_of(LANE)
            && tables.len() == inputs.len()
            && inputs.iter().all(|i| i.len() >= whole)
            && outputs.iter().all(|o| o.len() >= whole)
            && (!X || (xor.out.len() >= whole && inputs.len() <= 64)),
        "whole lanes of every column, one table row per input"
    );
    let outs = outputs.map(|o| o.as_mut_ptr());
    let xor = (xor.out.as_mut_ptr(), xor.inputs, xor.outputs);
    let mut col = 0;
    while col + 2 * LANE <= whole {
        // SAFETY: `col + 64 <= whole`, which every input and output covers (asserted).
        unsafe { dot_lanes::<N, X, 2>(tables, inputs, &outs, xor, col) };
        col += 2 * LANE;
    }
    if col < whole {
        // SAFETY: `col + 32 <= whole` (both are multiples of 32), covered as above.
        unsafe { dot_lanes::<N, X, 1>(tables, inputs, &outs, xor, col) };
    }
}

/// `L` lanes of [`dot`] at `col`.
///
/// # Safety
/// Every input must be readable, and every pointer of `outs` (and `xor.0` with `X`)
/// writable, for `col + 32·L` bytes; with `X`, at most 64 inputs.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn dot_lanes<const N: usize, const X: bool, const L: usize>(
    tables: &[[SplitTable; N]],
    inputs: &[&[u8]],
    outs: &[*mut MaybeUninit<u8>; N],
    xor: (*mut MaybeUninit<u8>, u64, [bool; N]),
    col: usize,
) {
    let mut sums = [[_mm256_setzero_si256(); L]; N];
    let mut acc = [_mm256_setzero_si256(); L];
    for (i, (input, row)) in inputs.iter().zip(tables).enumerate() {
        let p = input.as_ptr();
        let mut x = [(_mm256_setzero_si256(), _mm256_setzero_si256()); L];
        for (l, x) in x.iter_mut().enumerate() {
            // SAFETY: within the caller's `col + 32·L` readable bytes.
            let raw = unsafe { load_at(p.add(col + l * LANE)) };
            if X && (xor.1 >> i) & 1 != 0 {
                acc[l] = _mm256_xor_si256(acc[l], raw);
            }
            *x = nibbles(raw);
        }
        for (sum, t) in sums.iter_mut().zip(row) {
            let t = table(t);
            for (s, &x) in sum.iter_mut().zip(&x) {
                *s = _mm256_xor_si256(*s, product(t, x));
            }
        }
    }
    for (out, sum) in outs.iter().zip(&sums) {
        for (l, &s) in sum.iter().enumerate() {
            // SAFETY: within the caller's `col + 32·L` writable bytes.
            unsafe { store_at(out.add(col + l * LANE), s) };
        }
    }
    if X {
        for (sum, &term) in sums.iter().zip(&xor.2) {
            if term {
                for (a, &s) in acc.iter_mut().zip(sum) {
                    *a = _mm256_xor_si256(*a, s);
                }
            }
        }
        for (l, &a) in acc.iter().enumerate() {
            // SAFETY: within the caller's `col + 32·L` writable bytes.
            unsafe { store_at(xor.0.add(col + l * LANE), a) };
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
                // With a XOR output over marked inputs and outputs: fused into the one
                // pass when it can be (up to three general outputs), else summed after.
                for pattern in 0..3usize {
                    let terms = XorTerms {
                        inputs: (0..ins).map(|i| (i + pattern) % 3 != 0).collect(),
                        outputs: (0..outs).map(|o| (o + pattern) % 2 == 0).collect(),
                    };
                    let mut sum = vec![0u8; len];
                    let marked: Vec<&[u8]> = inputs
                        .iter()
                        .copied()
                        .zip(&terms.inputs)
                        .chain(expected.iter().map(Vec::as_slice).zip(&terms.outputs))
                        .filter(|(_, t)| **t)
                        .map(|(term, _)| term)
                        .collect();
                    for term in marked {
                        for (s, &b) in sum.iter_mut().zip(term.iter()) {
                            *s ^= b;
                        }
                    }
                    let mut grown: Vec<Vec<u8>> = (0..outs).map(|_| vec![9u8; 3]).collect();
                    let mut refs: Vec<&mut Vec<u8>> = grown.iter_mut().collect();
                    let mut xor = vec![5u8; 3];
                    kernel.append_with_xor(&inputs, &mut refs, &terms, &mut xor);
                    for (g, e) in grown.iter().zip(&expected) {
                        assert_eq!(&g[3..], &e[..], "xor pass {outs}x{ins}, {len} bytes");
                    }
                    assert_eq!(xor[..3], [5u8; 3]);
                    assert_eq!(&xor[3..], &sum[..], "xor {outs}x{ins}, {len} bytes");
                }
            }
        }
    }
}
