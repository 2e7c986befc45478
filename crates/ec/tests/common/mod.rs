//! Helpers shared by the conformance suites: profiles, objects, erasure patterns and the
//! proptest strategy for `(profile, object length)` cases.
#![allow(dead_code)]

use std::sync::Arc;

use bytes::Bytes;
use cuttle_ec::{Chunk, ErasureCode, codec_for};
use cuttle_types::{EcCodec, EcProfile};
use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};

/// The `k + m` shapes every suite runs on.
pub const SHAPES: [(u8, u8); 3] = [(2, 1), (4, 2), (8, 3)];

/// Stripe units: two small ones so that small objects span several stripes, and the
/// default one, for which every object here is a single shortened stripe.
pub const STRIPE_UNITS: [u32; 3] = [4096, 3 * 4096, EcProfile::DEFAULT_STRIPE_UNIT];

/// Every codec a pool can name: each suite runs over all of them.
pub const CODECS: [EcCodec; 2] = [EcCodec::ReedSolomonCauchy, EcCodec::ReedSolomonVandermonde];

/// A profile of the default codec with the given stripe unit.
pub fn profile(k: u8, m: u8, stripe_unit: u32) -> EcProfile {
    EcProfile {
        stripe_unit,
        ..EcProfile::new(k, m)
    }
}

/// `profile` with another codec.
pub fn with_codec(profile: EcProfile, codec: EcCodec) -> EcProfile {
    EcProfile { codec, ..profile }
}

/// The codec every suite exercises for `profile` (each codec of [`codec_for`]).
pub fn codec(profile: &EcProfile) -> Arc<dyn ErasureCode> {
    codec_for(profile).expect("codec for a valid profile")
}

/// `len` pseudo-random bytes.
pub fn object(len: usize, seed: u64) -> Bytes {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    Bytes::from(v)
}

/// Every set of at most `max` shards out of `width`, as sorted index lists.
pub fn erasure_patterns(width: usize, max: usize) -> Vec<Vec<usize>> {
    (0u32..1 << width)
        .filter(|mask| mask.count_ones() as usize <= max)
        .map(|mask| (0..width).filter(|i| mask & (1 << i) != 0).collect())
        .collect()
}

/// The chunks left after losing `lost`.
pub fn survivors(chunks: &[Chunk], lost: &[usize]) -> Vec<Chunk> {
    chunks
        .iter()
        .enumerate()
        .filter(|(i, _)| !lost.contains(i))
        .map(|(_, c)| c.clone())
        .collect()
}

/// One generated case: a profile and an object length.
#[derive(Debug, Clone)]
pub struct Case {
    pub profile: EcProfile,
    pub len: usize,
    pub seed: u64,
}

/// Object lengths worth testing for `profile`: the block boundaries, lengths inside one
/// stripe, exact stripe multiples, and (for small stripe units) several stripes plus an
/// odd tail.
fn lengths(profile: &EcProfile) -> BoxedStrategy<usize> {
    let stripe = usize::from(profile.k) * profile.stripe_unit as usize;
    let special = prop_oneof![Just(0usize), Just(1), Just(4095), Just(4096), Just(4097)];
    if profile.stripe_unit == EcProfile::DEFAULT_STRIPE_UNIT {
        prop_oneof![special, 0usize..300_000].boxed()
    } else {
        prop_oneof![
            special,
            0..=stripe,
            (1usize..=3).prop_map(move |n| n * stripe),
            (1usize..=3, 1..stripe).prop_map(move |(n, tail)| n * stripe + tail),
        ]
        .boxed()
    }
}

/// A random codec, shape, stripe unit, object length and content seed.
pub fn cases() -> impl Strategy<Value = Case> {
    (0..SHAPES.len(), 0..STRIPE_UNITS.len(), 0..CODECS.len())
        .prop_flat_map(|(shape, su, codec)| {
            let (k, m) = SHAPES[shape];
            let p = with_codec(profile(k, m, STRIPE_UNITS[su]), CODECS[codec]);
            (Just(p), lengths(&p), any::<u64>())
        })
        .prop_map(|(profile, len, seed)| Case { profile, len, seed })
}

/// The proptest configuration of every suite: few cases, as each one tries every
/// erasure pattern.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}
