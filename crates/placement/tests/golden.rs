//! Determinism: golden placements for a small fixed map, and independence from
//! everything that must not matter (construction path, insertion order, up/down).
#![allow(clippy::unwrap_used)]

mod common;

use common::{Osd, cluster_map, ec, place_all, replicated, tree, uniform};
use cuttle_placement::{Hierarchy, object_to_pg};
use cuttle_types::{FailureDomain, OsdWeight, PgId, PoolId};

/// 4 hosts × 2 OSDs with mixed weights; osd.7 is out.
fn small_map() -> Vec<Osd> {
    let mut osds = uniform(4, 2);
    osds[1].weight = OsdWeight(0x18000);
    osds[4].weight = OsdWeight(0x20000);
    osds[7].is_in = false;
    osds
}

fn render(p: &cuttle_placement::Placement) -> String {
    let members: Vec<String> = p
        .members
        .iter()
        .map(|m| m.map_or("-".to_string(), |o| o.0.to_string()))
        .collect();
    members.join(",")
}

/// Any change to these strings changes where data lives in every existing cluster.
/// Update them only with a deliberate, documented placement-format change.
#[test]
fn golden_placements() {
    let t = tree(&small_map());
    let ec21 = ec(1, 2, 1, FailureDomain::Host, 8);
    let rep3 = replicated(2, 3, FailureDomain::Host, 8);
    let ec42_osd = ec(3, 4, 2, FailureDomain::Osd, 8);
    let got: Vec<String> = [&ec21, &rep3, &ec42_osd]
        .iter()
        .map(|pool| {
            place_all(&t, pool)
                .iter()
                .map(render)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    let want = [
        "5,1,2 6,2,4 3,0,6 6,3,5 6,4,1 0,3,4 3,6,4 4,2,0",
        "3,4,6 6,4,2 4,1,3 0,4,6 0,6,3 1,3,4 1,3,4 1,4,3",
        "5,2,1,6,4,3 3,4,0,5,1,2 4,6,1,0,2,5 0,5,4,3,6,2 1,2,3,5,0,4 2,1,5,4,0,6 2,3,1,0,6,4 4,5,1,3,2,0",
    ];
    assert_eq!(got, want);
}

#[test]
fn golden_object_to_pg() {
    let pool = ec(5, 4, 2, FailureDomain::Host, 1024);
    let got: Vec<u32> = [
        "",
        "a",
        "rbd_data.1",
        "bucket/photo.jpg",
        "x".repeat(100).as_str(),
    ]
    .iter()
    .map(|name| object_to_pg(&pool, name.as_bytes()).seed)
    .collect();
    assert_eq!(got, vec![897, 474, 306, 229, 64]);
    assert!(got.iter().all(|&s| s < 1024));
}

#[test]
fn repeated_placement_is_identical() {
    let t = tree(&small_map());
    let pool = ec(1, 2, 1, FailureDomain::Host, 256);
    assert_eq!(place_all(&t, &pool), place_all(&t, &pool));
    let t2 = tree(&small_map());
    assert_eq!(place_all(&t, &pool), place_all(&t2, &pool));
}

#[test]
fn from_map_equals_builder_and_ignores_up_down() {
    let osds = small_map();
    let from_builder = tree(&osds);
    let mut map = cluster_map(&osds);
    let from_map = Hierarchy::from_map(&map);
    // Flip every OSD's up/down flag: placement must not change.
    for info in map.osds.values_mut() {
        info.up = !info.up;
    }
    let flipped = Hierarchy::from_map(&map);
    for pool in [
        ec(1, 2, 1, FailureDomain::Host, 128),
        replicated(2, 3, FailureDomain::Osd, 128),
    ] {
        let want = place_all(&from_builder, &pool);
        assert_eq!(place_all(&from_map, &pool), want);
        assert_eq!(place_all(&flipped, &pool), want);
    }
}

#[test]
fn insertion_order_does_not_matter() {
    let osds = small_map();
    let mut reversed = osds.clone();
    reversed.reverse();
    let pool = ec(1, 2, 1, FailureDomain::Host, 256);
    assert_eq!(
        place_all(&tree(&osds), &pool),
        place_all(&tree(&reversed), &pool)
    );
}

#[test]
fn pools_with_the_same_seed_land_differently() {
    let t = tree(&uniform(10, 2));
    let a = ec(1, 2, 1, FailureDomain::Host, 64);
    let b = ec(2, 2, 1, FailureDomain::Host, 64);
    let same = (0..64)
        .filter(|&s| t.place(&a, PgId::new(PoolId(1), s)) == t.place(&b, PgId::new(PoolId(2), s)))
        .count();
    // Unrelated placements coincide with probability ~1/720 each.
    assert!(same <= 2, "{same} of 64 PGs identical across pools");
}
