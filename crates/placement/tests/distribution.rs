//! Shares follow weights. Every test is deterministic (fixed names, fixed PG ranges),
//! and each tolerance is several standard deviations of the sampling noise so that a
//! pass is meaningful and not luck; the comments give the numbers.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{Osd, ec, place_all, replicated, slots_per_osd, tree, uniform};
use cuttle_placement::{Hierarchy, Placement, object_to_pg};
use cuttle_types::{FailureDomain, OsdId, OsdWeight, PgId, Pool, PoolId};

/// Placements of PGs `0..count` of pools `first_pool..` (each pool contributes up to
/// 65,536 PG inputs), to get many more PG inputs than one pool allows.
fn many_pgs(tree: &Hierarchy, template: &Pool, count: u32) -> Vec<Placement> {
    (0..count)
        .map(|i| {
            let pool = Pool {
                id: PoolId(template.id.0 + i / 65_536),
                ..template.clone()
            };
            tree.place(&pool, PgId::new(pool.id, i % 65_536))
        })
        .collect()
}

/// Relative deviation of each OSD's slot share from its weight share.
fn deviations(osds: &[Osd], counts: &BTreeMap<OsdId, u64>) -> Vec<(OsdId, f64)> {
    let total_weight: u64 = osds.iter().map(|o| u64::from(o.weight.0)).sum();
    let total_slots: u64 = counts.values().sum();
    osds.iter()
        .map(|o| {
            let want = total_slots as f64 * o.weight.0 as f64 / total_weight as f64;
            let got = counts.get(&o.id).copied().unwrap_or(0) as f64;
            (o.id, (got - want) / want)
        })
        .collect()
}

/// Probability that each item is among `picks` items drawn one after another without
/// replacement, each draw proportional to weight among the items not yet drawn: the
/// exact distribution straw2 with collision rejection implements. (Floating point is
/// fine here: this is the test's model, not a placement decision.)
fn inclusion_model(weights: &[f64], picks: usize) -> Vec<f64> {
    fn walk(weights: &[f64], taken: &mut Vec<usize>, p: f64, left: usize, out: &mut [f64]) {
        if left == 0 {
            return;
        }
        let free: f64 = (0..weights.len())
            .filter(|i| !taken.contains(i))
            .map(|i| weights[i])
            .sum();
        for i in 0..weights.len() {
            if taken.contains(&i) || weights[i] == 0.0 {
                continue;
            }
            let q = p * weights[i] / free;
            out[i] += q;
            taken.push(i);
            walk(weights, taken, q, left - 1, out);
            taken.pop();
        }
    }
    let mut out = vec![0.0; weights.len()];
    walk(weights, &mut Vec::new(), 1.0, picks, &mut out);
    out
}

/// 100,000 objects in a pool of 1,024 PGs (EC 4+2, host failure domain) on 8 hosts of
/// one OSD each: every OSD should store 1/8 of the object shards, within ±10%.
///
/// Why this cluster: the noise in an OSD's share comes from how many of the 1,024 PGs
/// it is a member of (objects only add ~100 per PG). With 6 of 8 hosts per PG each OSD
/// is in ~768 PGs, binomial sd = sqrt(1024 · 0.75 · 0.25) = 13.9, i.e. 1.8%; ±10% is
/// 5.5 sd. A cluster with many more OSDs would need far more than 1,024 PGs for ±10%
/// to mean anything (see `pg_shares_follow_weights` for unequal weights).
#[test]
fn object_shares_100k_objects_1024_pgs() {
    let osds = uniform(8, 1);
    let t = tree(&osds);
    let pool = ec(1, 4, 2, FailureDomain::Host, 1024);
    let placements = place_all(&t, &pool);
    let mut counts: BTreeMap<OsdId, u64> = BTreeMap::new();
    let mut per_pg = vec![0u32; 1024];
    for i in 0..100_000u32 {
        let pg = object_to_pg(&pool, format!("object-{i}").as_bytes());
        per_pg[pg.seed as usize] += 1;
        for osd in placements[pg.seed as usize].osds() {
            *counts.entry(osd).or_insert(0) += 1;
        }
    }
    // Object → PG is uniform too: each PG expects 97.7 objects (sd 9.9).
    assert!(
        per_pg.iter().all(|&n| (50..=150).contains(&n)),
        "{per_pg:?}"
    );
    for (osd, dev) in deviations(&osds, &counts) {
        eprintln!("{osd}: {:+.2}%", dev * 100.0);
        assert!(
            dev.abs() < 0.10,
            "{osd} off its share by {:+.1}%",
            dev * 100.0
        );
    }
}

/// 10 hosts × 4 OSDs of weights 1, 2, 3, 4 TiB, with three hosts scaled ×1.5, and a
/// replicated size-3 pool with host failure domain over 262,144 PG inputs: every OSD's
/// slot share is within ±10% of its weight share.
///
/// Noise: the lightest OSD (1 TiB of 115) expects ~6,800 slots, sd ~1.2%. The
/// systematic error of choosing 3 *distinct* hosts (heavier hosts cannot appear twice
/// in a PG, so they fall slightly short of their weight share) is a few percent here
/// because no host has more than 13% of the weight.
#[test]
fn pg_shares_follow_weights() {
    let mut osds = uniform(10, 4);
    for o in &mut osds {
        let tib = 1 + o.id.0 % 4;
        let scale = if o.id.0 / 4 < 3 { 3 } else { 2 }; // ×1.5 for hosts 0-2
        o.weight = OsdWeight(0x8000 * tib * scale);
    }
    let t = tree(&osds);
    let pool = replicated(1, 3, FailureDomain::Host, 65_536);
    let counts = slots_per_osd(&many_pgs(&t, &pool, 262_144));
    let mut worst = 0.0f64;
    for (osd, dev) in deviations(&osds, &counts) {
        worst = worst.max(dev.abs());
        assert!(
            dev.abs() < 0.10,
            "{osd} off its share by {:+.1}%",
            dev * 100.0
        );
    }
    eprintln!("worst deviation from weight share {:.2}%", worst * 100.0);

    // Tighter: hosts are drawn exactly as weighted sampling without replacement, and an
    // OSD within its host in proportion to its weight. Within ±3% of that model.
    let host_weight = |h: u32| -> f64 {
        osds[h as usize * 4..][..4]
            .iter()
            .map(|o| o.weight.as_f64())
            .sum()
    };
    let host_weights: Vec<f64> = (0..10).map(host_weight).collect();
    let model = inclusion_model(&host_weights, 3);
    for o in &osds {
        let h = o.id.0 / 4;
        let want = 262_144.0 * model[h as usize] * o.weight.as_f64() / host_weights[h as usize];
        let dev = (counts[&o.id] as f64 - want) / want;
        assert!(
            dev.abs() < 0.03,
            "{} off the model by {:+.1}%",
            o.id,
            dev * 100.0
        );
    }
}

/// Doubling one OSD's weight (2 → 4 TiB in a 10 × 4 cluster of 100 TiB) doubles its
/// share up to the dilution by the grown total (2 · 100/102 = 1.96) and the
/// distinct-host constraint (its host's share grows less than linearly). Asserted
/// within [1.80, 2.05], and within 0.03 of the sampling model's exact ratio.
///
/// Noise: the OSD expects ~15,700 slots before and the extra slots are a binomial on
/// top, so the ratio's sd is below 0.015; the window is over 5 sd on each side.
#[test]
fn doubling_a_weight_doubles_the_share() {
    let mut osds = uniform(10, 4);
    for o in &mut osds {
        o.weight = OsdWeight(0x10000 * (1 + o.id.0 % 4));
    }
    let target = OsdId(5); // weight 2 on host-01
    let pool = replicated(1, 3, FailureDomain::Host, 65_536);
    let before = slots_per_osd(&many_pgs(&tree(&osds), &pool, 262_144));
    for o in &mut osds {
        if o.id == target {
            o.weight = OsdWeight(o.weight.0 * 2);
        }
    }
    let after = slots_per_osd(&many_pgs(&tree(&osds), &pool, 262_144));
    let ratio = after[&target] as f64 / before[&target] as f64;
    assert!((1.80..=2.05).contains(&ratio), "share ratio {ratio:.3}");

    // And it matches the sampling model's ratio to within 0.03.
    let host_weights = |osds: &[Osd]| -> Vec<f64> {
        (0..10)
            .map(|h| osds[h * 4..][..4].iter().map(|o| o.weight.as_f64()).sum())
            .collect()
    };
    let hw_after = host_weights(&osds);
    let mut hw_before = hw_after.clone();
    hw_before[1] -= 2.0;
    let share = |hw: &[f64], w: f64| inclusion_model(hw, 3)[1] * w / hw[1];
    let expected = share(&hw_after, 4.0) / share(&hw_before, 2.0);
    eprintln!("share ratio {ratio:.3}, model {expected:.3}");
    assert!(
        (ratio - expected).abs() < 0.03,
        "ratio {ratio:.3} vs model {expected:.3}"
    );
}

/// OSD failure domain on one host (Cuttle's single-host test cluster): 8 OSDs of
/// weights 1..=4, EC 2+1, 131,072 PG inputs. With 3 of only 8 OSDs per PG the heavy
/// OSDs cannot reach their weight share (a 4 TiB OSD would need to be in 60% of PGs
/// while the distinct-member rule caps how often it can be drawn), so shares are checked
/// against the exact model of weighted sampling without replacement
/// ([`inclusion_model`]), within ±3%. Noise: the lightest OSD expects ~24,000 slots,
/// sd 0.65%, so ±3% is over 4 sd.
#[test]
fn single_host_osd_domain_matches_sampling_model() {
    let osds: Vec<Osd> = (0..8)
        .map(|i| Osd {
            host: "only".into(),
            id: OsdId(i),
            weight: OsdWeight(0x10000 * (1 + i % 4)),
            is_in: true,
        })
        .collect();
    let t = tree(&osds);
    let pool = ec(1, 2, 1, FailureDomain::Osd, 65_536);
    let pgs = 131_072;
    let counts = slots_per_osd(&many_pgs(&t, &pool, pgs));
    let weights: Vec<f64> = osds.iter().map(|o| o.weight.as_f64()).collect();
    let model = inclusion_model(&weights, 3);
    for (o, p) in osds.iter().zip(model) {
        let want = p * f64::from(pgs);
        let dev = (counts[&o.id] as f64 - want) / want;
        eprintln!("{}: {:+.2}% vs model", o.id, dev * 100.0);
        assert!(
            dev.abs() < 0.03,
            "{} off the model by {:+.1}%",
            o.id,
            dev * 100.0
        );
    }
}
