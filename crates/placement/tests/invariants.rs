//! Invariants of every placement, as property tests over random clusters and pools,
//! plus deterministic checks of degraded placements.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use common::{Osd, all_in, cluster_map, ec, pool, replicated, set, tree, uniform, with_out};
use cuttle_placement::{Hierarchy, Placement};
use cuttle_types::{EcProfile, FailureDomain, OsdId, OsdWeight, PgId, Pool, Redundancy};
use proptest::prelude::*;

/// Random clusters: 1-8 hosts of 1-5 OSDs, weights including zero, ~80% in.
fn clusters() -> impl Strategy<Value = Vec<Osd>> {
    let weight = prop_oneof![
        1 => Just(0u32),
        2 => Just(0x8000),
        4 => Just(0x10000),
        2 => Just(0x18000),
        1 => Just(0x30000),
    ];
    let osd = (weight, prop::bool::weighted(0.8));
    prop::collection::vec(prop::collection::vec(osd, 1..=5), 1..=8).prop_map(|hosts| {
        let mut osds = Vec::new();
        for (h, host) in hosts.into_iter().enumerate() {
            for (weight, is_in) in host {
                osds.push(Osd {
                    host: format!("h{h}"),
                    // Sparse, unordered ids: placement must not assume 0..n.
                    id: OsdId((osds.len() as u32 * 7919) % 1000),
                    weight: OsdWeight(weight),
                    is_in,
                });
            }
        }
        osds
    })
}

fn pools() -> impl Strategy<Value = Pool> {
    let redundancy = prop_oneof![
        (1u32..=5).prop_map(|size| Redundancy::Replicated { size }),
        (1u8..=4, 1u8..=3).prop_map(|(k, m)| Redundancy::Erasure(EcProfile::new(k, m))),
    ];
    let fd = prop_oneof![Just(FailureDomain::Host), Just(FailureDomain::Osd)];
    (redundancy, fd, 1u32..50).prop_map(|(r, fd, id)| pool(id, r, fd, 64))
}

fn place_some(tree: &Hierarchy, pool: &Pool) -> Vec<Placement> {
    (0..32)
        .map(|s| tree.place(pool, PgId::new(pool.id, s)))
        .collect()
}

fn is_replicated(pool: &Pool) -> bool {
    matches!(pool.redundancy, Redundancy::Replicated { .. })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Every placement has the pool's width, no duplicate OSD, members only `in` and
    /// of positive weight, pairwise distinct failure domains, exactly
    /// `min(width, eligible domains)` members (degraded only when it must be), holes
    /// only at the end for replicated pools; and it is deterministic and independent
    /// of how the tree was built.
    #[test]
    fn every_placement_satisfies_the_invariants(osds in clusters(), pool in pools()) {
        let t = tree(&osds);
        let width = pool.redundancy.width() as usize;
        let eligible = t.eligible_domains(pool.failure_domain);
        let placements = place_some(&t, &pool);
        for p in &placements {
            prop_assert_eq!(p.width(), width);
            let members: Vec<OsdId> = p.osds().collect();
            let distinct: BTreeSet<OsdId> = members.iter().copied().collect();
            prop_assert_eq!(distinct.len(), members.len(), "duplicate in {:?}", p);
            for m in &members {
                let o = osds.iter().find(|o| o.id == *m).unwrap();
                prop_assert!(o.is_in && o.weight.0 > 0, "{:?} chose {:?}", p, o);
            }
            if pool.failure_domain == FailureDomain::Host {
                let hosts: BTreeSet<_> = members.iter().map(|&m| t.host_of(m)).collect();
                prop_assert_eq!(hosts.len(), members.len(), "host doubled up in {:?}", p);
            }
            prop_assert_eq!(members.len(), width.min(eligible), "{:?}", p);
            prop_assert_eq!(p.is_complete(), eligible >= width);
            if is_replicated(&pool) {
                prop_assert!(p.missing().all(|i| i >= members.len()), "hole inside {:?}", p);
            }
        }
        prop_assert_eq!(&place_some(&t, &pool), &placements);
        let mut reversed = osds.clone();
        reversed.reverse();
        prop_assert_eq!(&place_some(&tree(&reversed), &pool), &placements);
        let from_map = Hierarchy::from_map(&cluster_map(&osds));
        prop_assert_eq!(&place_some(&from_map, &pool), &placements);
    }

    /// Marking one more OSD out, whatever else is already out: a position changes only
    /// if it held that OSD or its base member (the member with every OSD in) was
    /// already out, i.e. it was itself a replacement. Positions whose base member is in
    /// always hold it. For replicated pools the same, as sets.
    #[test]
    fn marking_out_moves_only_its_positions_or_replacements(
        osds in clusters(),
        pool in pools(),
        pick in any::<prop::sample::Index>(),
    ) {
        let out = osds[pick.index(osds.len())].id;
        let was_out: BTreeSet<OsdId> = osds.iter().filter(|o| !o.is_in).map(|o| o.id).collect();
        let base = place_some(&tree(&all_in(&osds)), &pool);
        let before = place_some(&tree(&osds), &pool);
        let after = place_some(&tree(&with_out(&osds, out)), &pool);
        for ((base, b), a) in base.iter().zip(&before).zip(&after) {
            prop_assert!(a.position_of(out).is_none());
            if is_replicated(&pool) {
                let replacements: BTreeSet<OsdId> = set(b).difference(&set(base)).copied().collect();
                for gone in set(b).difference(&set(a)) {
                    prop_assert!(*gone == out || replacements.contains(gone), "{:?} -> {:?}", b, a);
                }
            } else {
                for pos in 0..b.width() {
                    let base_member = base.members[pos];
                    let base_in = base_member.is_some_and(|m| !was_out.contains(&m) && m != out);
                    if base_in {
                        prop_assert_eq!(a.members[pos], base_member);
                    }
                    if a.members[pos] != b.members[pos] {
                        let replaced = base_member.is_some_and(|m| was_out.contains(&m));
                        prop_assert!(b.members[pos] == Some(out) || replaced,
                            "position {} moved: {:?} -> {:?} (base {:?})", pos, b, a, base);
                    }
                }
            }
        }
    }

    /// Adding an `in` OSD of positive weight on a new host changes a PG only if the
    /// new OSD is a member of its new placement.
    #[test]
    fn adding_an_osd_changes_only_pgs_that_gain_it(
        osds in clusters(),
        pool in pools(),
        weight in 1u32..0x40000,
    ) {
        let new = OsdId(5000);
        let mut more = osds.clone();
        more.push(Osd { host: "new-host".into(), id: new, weight: OsdWeight(weight), is_in: true });
        let before = place_some(&tree(&osds), &pool);
        let after = place_some(&tree(&more), &pool);
        for (b, a) in before.iter().zip(&after) {
            prop_assert!(a == b || a.position_of(new).is_some(), "{:?} -> {:?}", b, a);
        }
    }
}

/// EC 4+2 over 4 hosts: every PG gets 4 members on 4 distinct hosts and 2 holes.
#[test]
fn fewer_hosts_than_width_is_degraded_not_doubled() {
    let t = tree(&uniform(4, 3));
    let pool = ec(1, 4, 2, FailureDomain::Host, 256);
    for seed in 0..256 {
        let p = t.place(&pool, PgId::new(pool.id, seed));
        assert_eq!(p.osds().count(), 4, "{p:?}");
        assert_eq!(p.missing().count(), 2, "{p:?}");
        let hosts: BTreeSet<_> = p.osds().map(|o| t.host_of(o)).collect();
        assert_eq!(hosts.len(), 4, "{p:?}");
    }
}

/// Replicated size 3 on 2 hosts: 2 members, primary first, the hole last.
#[test]
fn replicated_on_too_few_hosts_has_trailing_hole() {
    let t = tree(&uniform(2, 4));
    let pool = replicated(1, 3, FailureDomain::Host, 128);
    for seed in 0..128 {
        let p = t.place(&pool, PgId::new(pool.id, seed));
        assert!(p.members[0].is_some() && p.members[1].is_some() && p.members[2].is_none());
        assert_ne!(
            t.host_of(p.members[0].unwrap()),
            t.host_of(p.members[1].unwrap())
        );
    }
}

/// The default 3-host cluster with EC 2+1 when all OSDs of one host are out: each PG
/// keeps its two members on the live hosts at their positions and the position that
/// was on the dead host becomes a hole (there is no fourth host to move it to).
#[test]
fn a_whole_host_out_in_a_minimal_cluster_leaves_holes_in_place() {
    let osds = uniform(3, 2);
    let mut dead = osds.clone();
    for id in [4, 5] {
        dead = with_out(&dead, OsdId(id));
    }
    let pool = ec(1, 2, 1, FailureDomain::Host, 128);
    let (t0, t1) = (tree(&osds), tree(&dead));
    for seed in 0..128 {
        let pg = PgId::new(pool.id, seed);
        let (b, a) = (t0.place(&pool, pg), t1.place(&pool, pg));
        for pos in 0..3 {
            match b.members[pos] {
                Some(OsdId(4 | 5)) => assert_eq!(a.members[pos], None),
                other => assert_eq!(a.members[pos], other),
            }
        }
    }
}

/// OSD failure domain with fewer OSDs than the width; zero-weight and out OSDs never
/// count; an empty or weightless tree gives all holes.
#[test]
fn osd_domain_and_empty_trees() {
    let mut osds = uniform(1, 7);
    osds[0].weight = OsdWeight::ZERO;
    osds[1].is_in = false;
    let t = tree(&osds);
    let pool = ec(1, 4, 2, FailureDomain::Osd, 64);
    assert_eq!(t.eligible_domains(FailureDomain::Osd), 5);
    for seed in 0..64 {
        let p = t.place(&pool, PgId::new(pool.id, seed));
        assert_eq!(p.osds().count(), 5);
        assert!(p.position_of(OsdId(0)).is_none() && p.position_of(OsdId(1)).is_none());
    }
    let empty = Hierarchy::builder().build().unwrap();
    let none = empty.place(&pool, PgId::new(pool.id, 0));
    assert_eq!(none.members, vec![None; 6]);
    let mut weightless = uniform(3, 1);
    for o in &mut weightless {
        o.weight = OsdWeight::ZERO;
    }
    let p = tree(&weightless).place(&pool, PgId::new(pool.id, 0));
    assert_eq!(p.members, vec![None; 6]);
}
