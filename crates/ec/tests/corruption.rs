//! Conformance: corrupt and malformed chunks are reported by shard, never decoded into
//! wrong data.

mod common;

use bytes::Bytes;
use common::{cases, codec, config, erasure_patterns, object, profile, survivors};
use cuttle_ec::{Chunk, EcError, crc::CRC_BLOCK_SIZE};
use cuttle_types::{EcProfile, ShardId};
use proptest::prelude::*;

/// `chunk` with byte `at` flipped and its recorded crcs unchanged.
fn flip(chunk: &Chunk, at: usize) -> Chunk {
    let mut bytes = chunk.data.to_vec();
    bytes[at] ^= 0x01;
    Chunk {
        data: Bytes::from(bytes),
        ..chunk.clone()
    }
}

proptest! {
    #![proptest_config(config())]

    /// A flipped byte in any supplied chunk makes decode, reconstruct and range decode
    /// fail naming that shard and block; treating the chunk as missing, decode succeeds
    /// with up to `m - 1` further erasures.
    #[test]
    fn flipped_byte_names_the_corrupt_shard(
        case in cases().prop_filter("non-empty", |c| c.len > 0),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        others in any::<prop::sample::Index>(),
    ) {
        let p = case.profile;
        let code = codec(&p);
        let data = object(case.len, case.seed);
        let enc = code.encode(data.clone()).expect("encode");
        let width = enc.chunks.len();
        let bad = which.index(width);
        let at = at.index(enc.layout.chunk_len() as usize);
        let mut chunks = enc.chunks.clone();
        chunks[bad] = flip(&chunks[bad], at);
        let shard = ShardId(bad as u8);
        let block = (at / CRC_BLOCK_SIZE) as u64;
        let is_corrupt = |r: &EcError| matches!(r, EcError::CorruptBlock { shard: s, block: b, .. } if *s == shard && *b == block);

        let err = code.decode(&enc.layout, &chunks).expect_err("corrupt decode");
        prop_assert!(is_corrupt(&err), "{}", err);
        prop_assert_eq!(err.corrupt_shard(), Some(shard));

        // Rebuild one other shard from everything else, the corrupt chunk included.
        let target = (bad + 1) % width;
        let left = survivors(&chunks, &[target]);
        let err = code
            .reconstruct(&enc.layout, &left, &[ShardId(target as u8)])
            .expect_err("corrupt reconstruct");
        prop_assert!(is_corrupt(&err), "{}", err);

        let pieces: Vec<_> = chunks.iter().map(|c| c.piece(0..enc.layout.chunk_len())).collect();
        let err = code
            .decode_range(&enc.layout, 0, case.len as u64, &pieces)
            .expect_err("corrupt range");
        prop_assert!(is_corrupt(&err), "{}", err);

        // Without the corrupt chunk (plus up to m - 1 other losses) the data comes back.
        let patterns: Vec<Vec<usize>> = erasure_patterns(width, usize::from(p.m))
            .into_iter()
            .filter(|l| l.contains(&bad))
            .collect();
        let lost = others.get(&patterns);
        let decoded = code.decode(&enc.layout, &survivors(&chunks, lost)).expect("decode without it");
        prop_assert!(decoded == data);
    }
}

#[test]
fn deep_scrub_finds_a_wrong_chunk_with_a_matching_crc() {
    let p = EcProfile::new(4, 2);
    let code = codec(&p);
    let enc = code.encode(object(300_000, 9)).expect("encode");
    code.verify_parity(&enc.layout, &enc.chunks)
        .expect("intact");

    let mut chunks = enc.chunks.clone();
    let mut bytes = chunks[5].data.to_vec();
    bytes[70_000] ^= 0xff;
    chunks[5] = Chunk::new(ShardId(5), Bytes::from(bytes));
    assert_eq!(
        code.verify_parity(&enc.layout, &chunks),
        Err(EcError::ParityMismatch {
            shard: ShardId(5),
            block: 17
        })
    );
    assert_eq!(
        code.verify_parity(&enc.layout, &enc.chunks[..4]),
        Err(EcError::TooManyErasures {
            needed: 5,
            available: 4
        })
    );
}

#[test]
fn malformed_inputs_are_refused() {
    let p = profile(2, 1, 4096);
    let code = codec(&p);
    let enc = code.encode(object(10_000, 2)).expect("encode");
    let l = &enc.layout;
    let c = &enc.chunks;

    let short = Chunk::new(ShardId(0), c[0].data.slice(1..));
    assert_eq!(
        code.decode(l, &[short, c[1].clone()]),
        Err(EcError::WrongChunkLength {
            shard: ShardId(0),
            expected: l.chunk_len(),
            actual: l.chunk_len() - 1,
        })
    );
    let no_crcs = Chunk {
        block_crcs: vec![],
        ..c[0].clone()
    };
    assert!(matches!(
        code.decode(l, &[no_crcs, c[1].clone()]),
        Err(EcError::WrongCrcCount {
            shard: ShardId(0),
            actual: 0,
            ..
        })
    ));
    assert_eq!(
        code.decode(l, &[c[0].clone(), c[0].clone()]),
        Err(EcError::DuplicateShard { shard: ShardId(0) })
    );
    let stranger = Chunk {
        shard: ShardId(3),
        ..c[0].clone()
    };
    assert_eq!(
        code.decode(l, &[c[0].clone(), stranger]),
        Err(EcError::ShardOutOfRange {
            shard: ShardId(3),
            k: 2,
            m: 1
        })
    );
    assert_eq!(
        code.reconstruct(l, &c[..2], &[ShardId(1)]),
        Err(EcError::ShardNotMissing { shard: ShardId(1) })
    );
    assert_eq!(
        code.reconstruct(l, &c[..2], &[ShardId(2), ShardId(2)]),
        Err(EcError::DuplicateShard { shard: ShardId(2) })
    );
    assert_eq!(code.reconstruct(l, c, &[]), Ok(vec![]));
}
