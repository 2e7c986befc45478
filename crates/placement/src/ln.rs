//! Integer fixed-point logarithm for straw2 draws.
//!
//! Straw2 needs `ln(U)` of a uniform `U` in `(0, 1]`. Any constant multiple of `ln`
//! picks the same winners, so we use base 2 and work with its negation, the *cost*
//! `-log2(U)`, which is non-negative: a candidate's draw is `-cost / weight` and the
//! highest draw is the smallest `cost / weight`.
//!
//! `U = (u + 1) / 2^32` for a 32-bit hash `u`, and the cost is returned in Q44 fixed
//! point (44 fraction bits), so it lies in `0 ..= 32 << 44`.
//!
//! # Method
//! `log2(u + 1) = e + log2(1 + f)` where `e` is the position of the top set bit and
//! `f` in `[0, 1)` the remaining 32 bits of mantissa. `log2(1 + f)` is read from a
//! 1,025-entry table of `log2(1 + j/1024)` (8 KiB, so it stays in cache) with linear
//! interpolation on the low 22 bits. The table itself is computed at compile time by a
//! `const fn` using only integers (the classic "square and compare with 2" bit-by-bit
//! algorithm), so no floating point exists anywhere on the placement path and every
//! machine gets identical bits.
//!
//! Accuracy: interpolation error is below `1.8e-7` (in log2 units), far below anything
//! that could bias placement; the result is strictly monotonic in `u`, so ordering of
//! draws is exact. Both properties are unit-tested (the test compares against `f64`).

/// Fraction bits of the fixed-point cost.
pub(crate) const COST_FRAC_BITS: u32 = 44;
/// The largest cost, `32.0` in Q44 (that of `u == 0`, `U = 2^-32`).
#[cfg(test)]
pub(crate) const MAX_COST: u64 = 32 << COST_FRAC_BITS;

/// Table index bits: the table has `2^TABLE_BITS + 1` entries.
const TABLE_BITS: u32 = 10;
const TABLE_LEN: usize = (1 << TABLE_BITS) + 1;
/// Mantissa bits below the table index, interpolated linearly.
const INTERP_BITS: u32 = 32 - TABLE_BITS;

/// `LOG2_TABLE[j] = floor(log2(1 + j / 1024) * 2^44)` for `j` in `0..=1024`.
static LOG2_TABLE: [u64; TABLE_LEN] = build_log2_table();

/// `floor(log2(num / 2^TABLE_BITS) * 2^44)` for `num` in `[2^TABLE_BITS, 2^(TABLE_BITS+1))`,
/// computed with integers only.
///
/// With `z` in `[1, 2)`, squaring doubles its logarithm; if `z^2 >= 2`, the next bit of
/// `log2(z)` is 1 and we halve `z`. `z` is held in Q62 so `z^2` fits in a `u128`; the
/// truncation of each square affects only bits far below the 44 we keep.
const fn log2_q44(num: u64) -> u64 {
    const ONE: u128 = 1 << 62;
    let mut z: u128 = (num as u128) << (62 - TABLE_BITS);
    let mut bits: u64 = 0;
    let mut i = 0;
    while i < COST_FRAC_BITS {
        z = (z * z) >> 62;
        bits <<= 1;
        if z >= 2 * ONE {
            z >>= 1;
            bits |= 1;
        }
        i += 1;
    }
    bits
}

const fn build_log2_table() -> [u64; TABLE_LEN] {
    let mut table = [0u64; TABLE_LEN];
    let mut j = 0;
    while j < TABLE_LEN - 1 {
        table[j] = log2_q44((1 << TABLE_BITS) + j as u64);
        j += 1;
    }
    // log2(2) is exactly 1.
    table[TABLE_LEN - 1] = 1 << COST_FRAC_BITS;
    table
}

/// `log2(v)` in Q44 for `v` in `1 ..= 2^32`.
#[inline]
fn log2_fixed(v: u64) -> u64 {
    debug_assert!((1..=1 << 32).contains(&v));
    let exponent = 63 - v.leading_zeros();
    // Normalise so the top set bit is bit 32; the 32 bits below it are the mantissa.
    let mantissa = (v << (32 - exponent)) & 0xffff_ffff;
    let index = (mantissa >> INTERP_BITS) as usize;
    let rest = mantissa & ((1 << INTERP_BITS) - 1);
    let low = LOG2_TABLE[index];
    let high = LOG2_TABLE[index + 1];
    // (high - low) < 2^36 and rest < 2^22, so the product fits in 64 bits.
    let fraction = low + (((high - low) * rest) >> INTERP_BITS);
    (u64::from(exponent) << COST_FRAC_BITS) + fraction
}

/// The straw2 cost of hash value `u`: `-log2((u + 1) / 2^32)` in Q44.
///
/// Strictly decreasing in `u`: `u == u32::MAX` costs 0, `u == 0` costs `32 << 44`.
#[inline]
pub(crate) fn draw_cost(u: u32) -> u64 {
    (32 << COST_FRAC_BITS) - log2_fixed(u64::from(u) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALE: f64 = (1u64 << COST_FRAC_BITS) as f64;

    #[test]
    fn table_matches_float_log2() {
        for (j, &entry) in LOG2_TABLE.iter().enumerate() {
            let exact = (1.0 + j as f64 / 1024.0).log2() * SCALE;
            // floor() of the exact value, up to float rounding: within 2 units.
            assert!(
                (entry as f64 - exact).abs() <= 2.0,
                "entry {j}: {entry} vs {exact}"
            );
        }
        assert!(LOG2_TABLE.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn cost_is_close_to_float() {
        let mut worst = 0.0f64;
        let mut u: u32 = 0;
        loop {
            let exact = -(((u as f64) + 1.0) / 4_294_967_296.0).log2();
            let got = draw_cost(u) as f64 / SCALE;
            worst = worst.max((got - exact).abs());
            match u.checked_add(0x0001_0003) {
                Some(next) => u = next,
                None => break,
            }
        }
        assert!(worst < 1.8e-7, "worst error {worst}");
    }

    #[test]
    fn cost_bounds_and_golden_values() {
        assert_eq!(draw_cost(u32::MAX), 0);
        assert_eq!(draw_cost(0), MAX_COST);
        assert_eq!(draw_cost(0x7fff_ffff), 1 << COST_FRAC_BITS);
        assert_eq!(draw_cost(0x3fff_ffff), 2 << COST_FRAC_BITS);
        // Pinned so that a change to the table or the interpolation is noticed.
        assert_eq!(draw_cost(0x1234_5678), 67_092_748_938_162);
        assert_eq!(draw_cost(0xdead_beef), 3_539_201_868_077);
    }

    #[test]
    fn cost_is_strictly_decreasing() {
        // Dense near both ends and near every power of two, sparse elsewhere.
        let mut points: Vec<u32> = (0..70_000).collect();
        points.extend((u32::MAX - 70_000)..=u32::MAX);
        for shift in 1..32 {
            let p = 1u32 << shift;
            points.extend(p.saturating_sub(3000)..p.saturating_add(3000));
        }
        points.extend((0..2_000_000u32).map(|i| i.wrapping_mul(2_147)));
        points.sort_unstable();
        points.dedup();
        for w in points.windows(2) {
            assert!(
                draw_cost(w[0]) > draw_cost(w[1]),
                "cost({:#x}) <= cost({:#x})",
                w[0],
                w[1]
            );
        }
    }
}
