//! PG → members: choosing `width` OSDs in distinct failure domains.
//!
//! # One descent
//! A *descent* for member position `p` and attempt `t` starts at the root and, at each
//! bucket, takes the straw2 winner among its children (draws keyed by the PG input
//! `x`, the child's key, `p` and `t`) until it reaches an OSD. The bucket passed at the
//! failure-domain level (or the OSD itself for `FailureDomain::Osd`) is the member's
//! *domain*. A descent may be told to avoid some domains: then each child competes
//! with its weight minus the weight of the avoided domains below it (zero for an
//! avoided domain itself). That is weighted sampling without replacement, exactly the
//! distribution Ceph gets by rejecting a colliding choice and retrying, but it needs no
//! retries and, by the straw2 property, leaves every other choice as it was.
//!
//! # Phase 1: the base placement (weights only, in/out ignored)
//! Positions are filled in order `0, 1, ..`; position `p` makes one descent (attempt
//! 0) avoiding the domains of positions `0..p`. A position is empty only when no domain
//! with positive weight is left. The base placement is what the map would give if
//! every OSD were `in`.
//!
//! # Phase 2: replacing `out` members (Ceph's `is_out` rejection)
//! A base member that is `out` is rejected and *its position alone* is re-chosen with
//! attempts `1, 2, ..` (new draws), avoiding the base domains of every other position
//! and the replacements already made for earlier positions; a descent that lands on
//! another `out` OSD is rejected and retried, up to [`CHOOSE_TRIES`] times, as in Ceph.
//! Weights are not changed by out-ness, so the out OSD's share spreads over the whole
//! cluster in proportion to weight, not onto its host siblings. If every attempt is
//! rejected, a last-resort descent over `in` weights only, avoiding just the domains the
//! other members now hold, fills the position if anything can.
//!
//! # What this guarantees (tested in `tests/`)
//! - Members are in pairwise distinct domains, never `out`, never of weight zero.
//! - A placement has exactly `min(width, eligible)` members, where `eligible` is
//!   [`crate::Hierarchy::eligible_domains`]: it is degraded only when the map really
//!   lacks domains, and it never doubles up.
//! - Every position whose base member is `in` holds that member. So marking one OSD
//!   out changes only the position that held it, plus positions that were themselves
//!   replacements for other `out` OSDs of the same PG (which needs two or more `out`
//!   members in one PG). Marking it back in restores the previous placement.
//! - Adding an OSD changes a PG only if the new OSD is in its new placement. Positions
//!   after the one that took it may shift into the domain it vacated (they ranked that
//!   domain higher than their own but had to avoid it); with one OSD per domain those
//!   shifts stay within the PG's old OSDs.
//!
//! # Erasure-coded versus replicated pools
//! Both use the algorithm above ("indep"-like: a lost position is refilled in place).
//! For erasure-coded pools the position is the shard id, so the result is positional
//! and may contain holes. For replicated pools the result is ordered like Ceph's
//! "firstn": the `in` base members in position order, then the replacements, then the
//! holes. So when the primary goes out, the next base member, which already has the
//! data, becomes primary, and the set changes exactly as for an erasure-coded pool.

use cuttle_types::{FailureDomain, Redundancy};

use crate::hierarchy::{Hierarchy, Level, NodeIndex, ROOT};
use crate::placement::Placement;
use crate::straw2;

/// Attempts at replacing an `out` member before the last-resort descent (Ceph's
/// `choose_total_tries` default).
pub const CHOOSE_TRIES: u32 = 50;

/// How a pool's result vector is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Position `i` is shard `i`; holes stay where they are (erasure-coded pools).
    Positional,
    /// Primary first, surviving base members before replacements, holes at the end
    /// (replicated pools).
    PrimaryFirst,
}

/// The result ordering used for a pool's redundancy scheme.
pub(crate) fn order_of(redundancy: &Redundancy) -> Order {
    match redundancy {
        Redundancy::Replicated { .. } => Order::PrimaryFirst,
        Redundancy::Erasure(_) => Order::Positional,
    }
}

/// The outcome of one successful descent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pick {
    /// The chosen OSD's node.
    leaf: NodeIndex,
    /// Its failure-domain node (the leaf itself for `FailureDomain::Osd`).
    domain: NodeIndex,
    /// The attempt number that produced it.
    attempt: u32,
}

/// Which weight a descent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weights {
    /// Every OSD's weight, in or out (normal descents: out is handled by rejection).
    All,
    /// Only `in` OSDs' weights (the last-resort fallback).
    InOnly,
}

/// The inputs shared by every descent of one PG.
#[derive(Debug)]
struct Chooser<'a> {
    tree: &'a Hierarchy,
    /// PG input hash.
    x: u32,
    /// Level whose nodes must be distinct.
    level: Level,
    /// Scratch: weight to subtract per child position of the bucket being descended.
    cuts: Vec<(usize, u64)>,
}

impl Chooser<'_> {
    fn weight(&self, index: NodeIndex, weights: Weights) -> u64 {
        let node = self.tree.node(index);
        match weights {
            Weights::All => node.weight,
            Weights::InOnly => node.in_weight,
        }
    }

    /// One descent from the root that never enters an `excluded` domain: at each bucket
    /// a child competes with its weight minus that of the excluded domains below it.
    /// `None` when no weight is left outside the excluded domains.
    fn descend(
        &mut self,
        position: u32,
        attempt: u32,
        excluded: &[NodeIndex],
        weights: Weights,
    ) -> Option<Pick> {
        let tree = self.tree;
        let mut index = ROOT;
        let mut domain = ROOT;
        loop {
            let node = tree.node(index);
            if node.level == self.level {
                domain = index;
            }
            if node.is_leaf() {
                return Some(Pick {
                    leaf: index,
                    domain,
                    attempt,
                });
            }
            // Weight cut from each child by the excluded domains under (or at) it.
            self.cuts.clear();
            for &e in excluded {
                let mut below = e;
                while below != ROOT && tree.node(below).parent != index {
                    below = tree.node(below).parent;
                }
                if below != ROOT {
                    let rank = tree.node(below).rank as usize;
                    self.cuts.push((rank, self.weight(e, weights)));
                }
            }
            self.cuts.sort_unstable();
            let cuts = &self.cuts;
            let mut next_cut = 0;
            let chosen = straw2::choose(&node.candidates, self.x, position, attempt, |i, c| {
                let mut w = match weights {
                    Weights::All => c.weight,
                    Weights::InOnly => tree.node(node.children[i]).in_weight,
                };
                while next_cut < cuts.len() && cuts[next_cut].0 == i {
                    w = w.saturating_sub(cuts[next_cut].1);
                    next_cut += 1;
                }
                w
            })?;
            index = node.children[chosen];
        }
    }

    fn is_in(&self, pick: Pick) -> bool {
        self.tree.node(pick.leaf).is_in
    }

    /// Phase 1 for position `p`: one descent avoiding the domains of positions `0..p`.
    fn choose_base(&mut self, p: u32, earlier: &[Option<Pick>]) -> Option<Pick> {
        let excluded: Vec<NodeIndex> = earlier.iter().flatten().map(|e| e.domain).collect();
        self.descend(p, 0, &excluded, Weights::All)
    }

    /// Phase 2 for position `p`, whose base member `own` is out.
    fn choose_replacement(
        &mut self,
        p: usize,
        own: Pick,
        base: &[Option<Pick>],
        members: &[Option<Pick>],
    ) -> Option<Pick> {
        // Every other position's base domain, and the earlier replacements.
        let mut excluded: Vec<NodeIndex> = base
            .iter()
            .enumerate()
            .filter(|&(q, _)| q != p)
            .filter_map(|(_, b)| b.map(|b| b.domain))
            .chain(members[..p].iter().flatten().map(|m| m.domain))
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        let first = own.attempt + 1;
        for attempt in first..first + CHOOSE_TRIES {
            let Some(pick) = self.descend(p as u32, attempt, &excluded, Weights::All) else {
                break;
            };
            if self.is_in(pick) {
                return Some(pick);
            }
        }
        // Last resort: any `in` OSD outside the domains the other members now hold.
        let held: Vec<NodeIndex> = members
            .iter()
            .enumerate()
            .filter(|&(q, _)| q != p)
            .filter_map(|(_, m)| m.map(|m| m.domain))
            .collect();
        self.descend(p as u32, first + CHOOSE_TRIES, &held, Weights::InOnly)
    }
}

/// Chooses `width` members for PG input `x`; see the module documentation.
pub(crate) fn place(
    tree: &Hierarchy,
    x: u32,
    width: usize,
    failure_domain: FailureDomain,
    order: Order,
) -> Placement {
    let mut chooser = Chooser {
        tree,
        x,
        level: Level::of(failure_domain),
        cuts: Vec::new(),
    };

    // Phase 1: the base placement, as if every OSD were in.
    let mut base: Vec<Option<Pick>> = Vec::with_capacity(width);
    for p in 0..width {
        let pick = chooser.choose_base(p as u32, &base);
        base.push(pick);
    }

    // Phase 2: re-choose the positions whose base member is out.
    let mut members: Vec<Option<Pick>> = base
        .iter()
        .map(|b| b.filter(|&b| chooser.is_in(b)))
        .collect();
    // (Replacements are made in position order; each sees the earlier ones.)
    let mut replaced = vec![false; width];
    for p in 0..width {
        if let Some(own) = base[p].filter(|&b| !chooser.is_in(b)) {
            members[p] = chooser.choose_replacement(p, own, &base, &members);
            replaced[p] = true;
        }
    }

    let osd = |pick: Option<Pick>| pick.and_then(|pick| tree.node(pick.leaf).osd);
    let members = match order {
        Order::Positional => members.into_iter().map(osd).collect(),
        Order::PrimaryFirst => {
            let kept = (0..width).filter(|&p| !replaced[p]);
            let replacements = (0..width).filter(|&p| replaced[p]);
            let mut ordered: Vec<_> = kept
                .chain(replacements)
                .filter_map(|p| osd(members[p]))
                .map(Some)
                .collect();
            ordered.resize(width, None);
            ordered
        }
    };
    Placement { members }
}
