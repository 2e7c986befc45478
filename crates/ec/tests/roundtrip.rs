//! Conformance: encode, decode from any `k` chunks, and reconstruct lost chunks.

mod common;

use common::{
    CODECS, SHAPES, cases, codec, config, erasure_patterns, object, profile, survivors, with_codec,
};
use cuttle_ec::{EcError, StripeLayout, crc};
use cuttle_types::{EcProfile, ShardId};
use proptest::prelude::*;

/// The invariants of a fresh encoding: `k + m` chunks in shard order, equal lengths as
/// the layout says, crcs that match, little padding, data chunks sharing the input's
/// memory when the layout is contiguous.
fn check_encoding(p: &EcProfile, data: &bytes::Bytes) -> cuttle_ec::Encoded {
    let enc = codec(p).encode(data.clone()).expect("encode");
    let layout = &enc.layout;
    assert_eq!(layout.object_size(), data.len() as u64);
    assert_eq!(enc.chunks.len(), usize::from(p.k) + usize::from(p.m));
    assert!(
        layout.padding() < 64 * u64::from(p.k),
        "padding {}",
        layout.padding()
    );
    for (i, c) in enc.chunks.iter().enumerate() {
        assert_eq!(c.shard, ShardId(i as u8));
        assert_eq!(c.data.len() as u64, layout.chunk_len());
        assert_eq!(c.block_crcs, crc::block_crcs(&c.data));
        if let Some(r) = layout.contiguous_range(c.shard)
            && r.end - r.start == layout.chunk_len()
            && !c.data.is_empty()
        {
            assert_eq!(
                c.data.as_ptr(),
                data[r.start as usize..].as_ptr(),
                "shard {i} copied"
            );
        }
    }
    enc
}

/// Decodes after every erasure pattern of at most `m` chunks.
fn check_all_patterns(p: &EcProfile, len: usize, seed: u64) {
    let data = object(len, seed);
    let enc = check_encoding(p, &data);
    let code = codec(p);
    let width = enc.chunks.len();
    for lost in erasure_patterns(width, usize::from(p.m)) {
        let decoded = code
            .decode(&enc.layout, &survivors(&enc.chunks, &lost))
            .unwrap_or_else(|e| panic!("{p} len {len} lost {lost:?}: {e}"));
        assert!(decoded == data, "{p} len {len} lost {lost:?}: wrong bytes");
    }
}

#[test]
fn boundary_lengths_survive_every_erasure_pattern() {
    for (k, m) in SHAPES {
        for (su, codec) in [4096u32, 8192].into_iter().zip(CODECS) {
            let p = with_codec(profile(k, m, su), codec);
            let stripe = usize::from(k) * su as usize;
            let lens = [
                0,
                1,
                4095,
                4096,
                4097,
                stripe - 1,
                stripe,
                stripe + 1,
                2 * stripe + 4097,
            ];
            for len in lens {
                check_all_patterns(&p, len, len as u64);
            }
        }
    }
}

#[test]
fn four_mib_objects_are_zero_copy_and_round_trip() {
    for (k, m) in SHAPES {
        let p = EcProfile::new(k, m);
        let data = object(4 << 20, 7);
        let enc = check_encoding(&p, &data);
        assert!(enc.layout.is_contiguous());
        let code = codec(&p);
        let lost: Vec<usize> = (0..usize::from(m)).collect();
        let decoded = code
            .decode(&enc.layout, &survivors(&enc.chunks, &lost))
            .expect("decode");
        assert!(decoded == data);
    }
}

#[test]
fn one_byte_object_costs_one_small_chunk_each() {
    let p = EcProfile::new(8, 3);
    let enc = codec(&p).encode(object(1, 1)).expect("encode");
    assert_eq!(enc.layout.chunk_len(), 64);
    assert!(
        enc.chunks
            .iter()
            .all(|c| c.data.len() == 64 && c.block_crcs.len() == 1)
    );
}

#[test]
fn empty_object_still_needs_k_chunks() {
    let p = EcProfile::new(4, 2);
    let code = codec(&p);
    let enc = code.encode(bytes::Bytes::new()).expect("encode");
    assert_eq!(enc.layout.chunk_len(), 0);
    assert!(
        code.decode(&enc.layout, &enc.chunks[2..])
            .expect("decode")
            .is_empty()
    );
    assert_eq!(
        code.decode(&enc.layout, &enc.chunks[3..]),
        Err(EcError::TooManyErasures {
            needed: 4,
            available: 3
        })
    );
}

#[test]
fn layout_of_another_profile_is_refused() {
    let code = codec(&EcProfile::new(2, 1));
    let enc = code.encode(object(100, 1)).expect("encode");
    let other = StripeLayout::new(&EcProfile::new(4, 2), 100).expect("layout");
    assert!(matches!(
        code.decode(&other, &enc.chunks),
        Err(EcError::ProfileMismatch { .. })
    ));
}

proptest! {
    #![proptest_config(config())]

    /// Decode returns the original bytes after every erasure pattern of at most `m`.
    #[test]
    fn decode_survives_every_erasure_pattern(case in cases()) {
        check_all_patterns(&case.profile, case.len, case.seed);
    }

    /// Reconstruct rebuilds every lost set of at most `m` chunks identically, bytes and
    /// crcs, from the survivors.
    #[test]
    fn reconstruct_rebuilds_identical_chunks(case in cases()) {
        let p = case.profile;
        let code = codec(&p);
        let enc = code.encode(object(case.len, case.seed)).expect("encode");
        let width = enc.chunks.len();
        for lost in erasure_patterns(width, usize::from(p.m)) {
            let missing: Vec<ShardId> = lost.iter().map(|&i| ShardId(i as u8)).collect();
            let rebuilt = code
                .reconstruct(&enc.layout, &survivors(&enc.chunks, &lost), &missing)
                .expect("reconstruct");
            prop_assert_eq!(rebuilt.len(), lost.len());
            for (chunk, &i) in rebuilt.iter().zip(&lost) {
                prop_assert!(chunk == &enc.chunks[i], "{} len {} lost {:?}: shard {} differs", p, case.len, lost, i);
            }
        }
    }

    /// Losing more than `m` chunks is an error naming the counts, never data.
    #[test]
    fn more_than_m_erasures_is_an_error(case in cases(), pick in any::<prop::sample::Index>()) {
        let p = case.profile;
        let code = codec(&p);
        let enc = code.encode(object(case.len, case.seed)).expect("encode");
        let width = enc.chunks.len();
        let too_many: Vec<Vec<usize>> = erasure_patterns(width, width)
            .into_iter()
            .filter(|l| l.len() > usize::from(p.m))
            .collect();
        let lost = pick.get(&too_many);
        let left = survivors(&enc.chunks, lost);
        let expected = EcError::TooManyErasures { needed: p.k, available: left.len() as u8 };
        prop_assert_eq!(code.decode(&enc.layout, &left), Err(expected.clone()));
        let missing: Vec<ShardId> = lost.iter().map(|&i| ShardId(i as u8)).collect();
        prop_assert_eq!(code.reconstruct(&enc.layout, &left, &missing), Err(expected));
    }
}
