//! Straw2: pick one item of a bucket, with probability proportional to its weight.
//!
//! Every item draws a "straw" `ln(U) / weight` from its own hash `U` in `(0, 1]`, and
//! the longest straw (the highest draw) wins. `-ln(U)` is exponentially distributed,
//! so `-ln(U) / w` is exponential with rate `w` and the minimum of such variables is
//! attained by item `i` with probability `w_i / sum(w)`: exactly weight-proportional.
//!
//! Because each item's draw depends only on the item itself (its hash key and weight)
//! and the inputs, changing one item's weight, or adding or removing an item, can only
//! move choices *to* or *from* that item: the relative order of every other pair of
//! draws is unchanged. That is what keeps data movement minimal.
//!
//! Draws are compared exactly: item `a` beats `b` when `cost_a * w_b < cost_b * w_a` in
//! 128-bit integers ([`crate::ln`] gives the cost), so no rounding of a division can
//! create ties. Exact ties go to the earlier item; items with weight zero never win.
//!
//! Excluding items (weight zero for this one choice) is exact too: the winner among
//! the remaining items is distributed in proportion to their weights, and is the item
//! that ranked highest among them, so excluding an item that did not win changes
//! nothing.

use crate::hash::draw_hash;
use crate::ln::draw_cost;

/// One candidate in a straw2 selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The item's hash key: identifies it in draws, stable across map changes.
    pub(crate) key: u32,
    /// The item's weight (16.16 fixed point, summed for buckets). Zero never wins.
    pub(crate) weight: u64,
}

/// Index of the straw2 winner among `candidates` for PG input `x`, member `position`
/// and `attempt`.
///
/// `weight_of(index, candidate)` gives the weight each candidate competes with (usually
/// `candidate.weight`; less when part of its subtree is excluded). It is called once per
/// candidate, in index order. Returns `None` when every weight is zero.
#[inline]
pub(crate) fn choose(
    candidates: &[Candidate],
    x: u32,
    position: u32,
    attempt: u32,
    mut weight_of: impl FnMut(usize, &Candidate) -> u64,
) -> Option<usize> {
    let mut best: Option<(usize, u64, u64)> = None;
    for (index, candidate) in candidates.iter().enumerate() {
        let weight = weight_of(index, candidate);
        if weight == 0 {
            continue;
        }
        let cost = draw_cost(draw_hash(x, candidate.key, position, attempt));
        let better = match best {
            None => true,
            Some((_, best_cost, best_weight)) => {
                u128::from(cost) * u128::from(best_weight)
                    < u128::from(best_cost) * u128::from(weight)
            }
        };
        if better {
            best = Some((index, cost, weight));
        }
    }
    best.map(|(index, _, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(weights: &[u64]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Candidate {
                key: 1000 + i as u32,
                weight,
            })
            .collect()
    }

    fn wins(candidates: &[Candidate], draws: u32) -> Vec<u32> {
        let mut wins = vec![0u32; candidates.len()];
        for x in 0..draws {
            if let Some(i) = choose(candidates, x, 0, 0, |_, c| c.weight) {
                wins[i] += 1;
            }
        }
        wins
    }

    #[test]
    fn wins_are_proportional_to_weight() {
        let weights = [0x10000, 0x20000, 0x30000, 0x8000, 0x50000];
        let total: u64 = weights.iter().sum();
        let draws = 400_000;
        let wins = wins(&items(&weights), draws);
        for (i, &w) in weights.iter().enumerate() {
            let expected = f64::from(draws) * w as f64 / total as f64;
            let err = (f64::from(wins[i]) - expected).abs() / expected;
            // The smallest expectation is ~20,000 draws (sd ~0.7%): 3% is > 4 sd.
            assert!(
                err < 0.03,
                "item {i}: {} wins, expected {expected}",
                wins[i]
            );
        }
    }

    #[test]
    fn zero_weight_never_wins_and_empty_is_none() {
        let wins = wins(&items(&[0x10000, 0, 0x10000]), 10_000);
        assert_eq!(wins[1], 0);
        assert_eq!(choose(&items(&[0, 0]), 1, 0, 0, |_, c| c.weight), None);
        assert_eq!(choose(&[], 1, 0, 0, |_, c| c.weight), None);
    }

    #[test]
    fn zeroing_the_winner_promotes_the_runner_up_and_nothing_else_moves() {
        let candidates = items(&[0x10000; 8]);
        let all = |x| choose(&candidates, x, 3, 1, |_, c| c.weight);
        for x in 0..2_000 {
            let Some(winner) = all(x) else {
                panic!("no winner")
            };
            let weight_without =
                |skip: usize| move |i: usize, c: &Candidate| if i == skip { 0 } else { c.weight };
            let without = choose(&candidates, x, 3, 1, weight_without(winner));
            assert!(without.is_some_and(|w| w != winner));
            // Excluding a loser changes nothing.
            let loser = (winner + 1) % candidates.len();
            assert_eq!(
                choose(&candidates, x, 3, 1, weight_without(loser)),
                Some(winner)
            );
        }
    }

    #[test]
    fn raising_one_weight_only_moves_wins_to_it() {
        let before = items(&[0x10000; 6]);
        let mut after = before.clone();
        after[2].weight = 0x30000;
        for x in 0..20_000 {
            let a = choose(&before, x, 0, 0, |_, c| c.weight);
            let b = choose(&after, x, 0, 0, |_, c| c.weight);
            assert!(a == b || b == Some(2), "x {x}: {a:?} -> {b:?}");
        }
    }
}
