//! Conformance: range reads — the plan of chunk pieces to fetch, and decoding a range
//! from those pieces with and without lost chunks.

mod common;

use bytes::Bytes;
use common::{cases, codec, config, erasure_patterns, object, profile};
use cuttle_ec::{ChunkPiece, ChunkRead, EcError, crc::CRC_BLOCK_SIZE};
use cuttle_types::{EcProfile, ShardId};
use proptest::prelude::*;

/// Fetches exactly what `plan` asks for from `chunks`.
fn fetch(chunks: &[cuttle_ec::Chunk], plan: &[ChunkRead]) -> Vec<ChunkPiece> {
    plan.iter()
        .map(|r| {
            let piece = chunks[usize::from(r.shard.0)].piece(r.range());
            assert_eq!(piece.range(), r.range(), "plan is block-aligned");
            piece
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// For a random range and every erasure pattern of at most `m` chunks, the plan reads
    /// only available shards, block-aligned, only data shards when none of the needed
    /// ones is lost, and the range decoded from the fetched pieces equals the slice of
    /// the original.
    #[test]
    fn range_decode_equals_the_slice(
        case in cases(),
        a in any::<prop::sample::Index>(),
        b in any::<prop::sample::Index>(),
    ) {
        let p = case.profile;
        let code = codec(&p);
        let data = object(case.len, case.seed);
        let enc = code.encode(data.clone()).expect("encode");
        let (x, y) = (a.index(case.len + 1), b.index(case.len + 1));
        let (offset, end) = (x.min(y), x.max(y));
        let len = (end - offset) as u64;
        let width = enc.chunks.len();
        let needed: Vec<ShardId> = enc
            .layout
            .extents(offset as u64, len)
            .expect("extents")
            .iter()
            .map(|e| e.shard)
            .collect();
        for lost in erasure_patterns(width, usize::from(p.m)) {
            let available: Vec<ShardId> =
                (0..width).filter(|i| !lost.contains(i)).map(|i| ShardId(i as u8)).collect();
            let plan = code
                .read_plan(&enc.layout, offset as u64, len, &available)
                .expect("plan");
            for r in &plan {
                prop_assert!(available.contains(&r.shard));
                prop_assert_eq!(r.offset % CRC_BLOCK_SIZE as u64, 0);
                prop_assert!(r.offset + r.len <= enc.layout.chunk_len());
            }
            if needed.iter().all(|s| available.contains(s)) {
                prop_assert!(plan.iter().all(|r| needed.contains(&r.shard)));
            }
            let pieces = fetch(&enc.chunks, &plan);
            let got = code
                .decode_range(&enc.layout, offset as u64, len, &pieces)
                .expect("decode_range");
            prop_assert!(got == data.slice(offset..end), "{} len {} range {}..{} lost {:?}", p, case.len, offset, end, lost);
            // Pieces the caller already verified decode the same without their crcs.
            let bare: Vec<ChunkPiece> = pieces
                .iter()
                .map(|p| ChunkPiece { block_crcs: Vec::new(), ..p.clone() })
                .collect();
            let unverified = code
                .decode_range_unverified(&enc.layout, offset as u64, len, &bare)
                .expect("decode_range_unverified");
            prop_assert!(unverified == got);
            // Unjoined, the same bytes in order, and no empty buffer.
            let segments = code
                .decode_segments_unverified(&enc.layout, offset as u64, len, &bare)
                .expect("decode_segments_unverified");
            prop_assert!(segments.iter().all(|s| !s.is_empty()));
            prop_assert!(segments.concat() == got);
        }
    }

    /// Range decoding also works from whole chunks, with lost ones.
    #[test]
    fn range_decode_from_whole_chunks(case in cases(), a in any::<prop::sample::Index>(), lost in any::<prop::sample::Index>()) {
        let p = case.profile;
        let code = codec(&p);
        let data = object(case.len, case.seed);
        let enc = code.encode(data.clone()).expect("encode");
        let patterns = erasure_patterns(enc.chunks.len(), usize::from(p.m));
        let lost = lost.get(&patterns);
        let offset = a.index(case.len + 1);
        let len = (case.len - offset).min(70_000);
        let pieces: Vec<ChunkPiece> = enc
            .chunks
            .iter()
            .enumerate()
            .filter(|(i, _)| !lost.contains(i))
            .map(|(_, c)| ChunkPiece::from(c.clone()))
            .collect();
        let got = code
            .decode_range(&enc.layout, offset as u64, len as u64, &pieces)
            .expect("decode_range");
        prop_assert!(got == data.slice(offset..offset + len));
    }
}

#[test]
fn ranges_within_one_chunk_are_zero_copy() {
    let p = EcProfile::new(4, 2);
    let code = codec(&p);
    let enc = code.encode(object(4 << 20, 3)).expect("encode");
    // Bytes [1 MiB + 10, 1 MiB + 5000) all live in data chunk 1.
    let plan = code
        .read_plan(
            &enc.layout,
            (1 << 20) + 10,
            4990,
            &[ShardId(0), ShardId(1), ShardId(2)],
        )
        .expect("plan");
    assert_eq!(
        plan,
        vec![ChunkRead {
            shard: ShardId(1),
            offset: 0,
            len: 8192
        }]
    );
    let pieces = fetch(&enc.chunks, &plan);
    let got = code
        .decode_range(&enc.layout, (1 << 20) + 10, 4990, &pieces)
        .expect("decode_range");
    assert_eq!(got.as_ptr(), pieces[0].data[10..].as_ptr());

    let segments = code
        .decode_segments(
            &enc.layout,
            0,
            4 << 20,
            &enc.chunks
                .iter()
                .cloned()
                .map(ChunkPiece::from)
                .collect::<Vec<_>>(),
        )
        .expect("segments");
    assert_eq!(segments.len(), 4);
    for (s, c) in segments.iter().zip(&enc.chunks) {
        assert_eq!(s.as_ptr(), c.data.as_ptr());
    }
}

#[test]
fn plan_for_a_lost_shard_reads_k_others_over_the_same_columns() {
    let p = profile(2, 1, 4096);
    let code = codec(&p);
    let enc = code.encode(object(3 * 8192, 4)).expect("encode");
    // Object bytes [4096, 8192) are chunk s1 bytes [0, 4096); s1 is lost.
    let plan = code
        .read_plan(&enc.layout, 4096, 4096, &[ShardId(0), ShardId(2)])
        .expect("plan");
    assert_eq!(
        plan,
        vec![
            ChunkRead {
                shard: ShardId(0),
                offset: 0,
                len: 4096
            },
            ChunkRead {
                shard: ShardId(2),
                offset: 0,
                len: 4096
            },
        ]
    );
    let got = code
        .decode_range(&enc.layout, 4096, 4096, &fetch(&enc.chunks, &plan))
        .expect("decode");
    assert_eq!(got, object(3 * 8192, 4).slice(4096..8192));
    assert_eq!(
        code.read_plan(&enc.layout, 4096, 4096, &[ShardId(2)]),
        Err(EcError::TooManyErasures {
            needed: 2,
            available: 1
        })
    );
}

#[test]
fn bad_ranges_and_pieces_are_refused() {
    let p = profile(2, 1, 4096);
    let code = codec(&p);
    let enc = code.encode(object(10_000, 5)).expect("encode");
    assert_eq!(
        code.read_plan(&enc.layout, 9_000, 1_001, &[ShardId(0)]),
        Err(EcError::RangeOutOfBounds {
            offset: 9_000,
            len: 1_001,
            object_size: 10_000
        })
    );
    assert!(
        code.decode_range(&enc.layout, 10_000, 0, &[])
            .expect("empty")
            .is_empty()
    );
    let misaligned = ChunkPiece {
        shard: ShardId(0),
        offset: 100,
        data: Bytes::from_static(&[0; 10]),
        block_crcs: vec![0],
    };
    assert_eq!(
        code.decode_range(&enc.layout, 0, 1, &[misaligned]),
        Err(EcError::MisalignedPiece {
            shard: ShardId(0),
            offset: 100,
            len: 10
        })
    );
    // A piece for the range is missing and the others cannot cover the columns.
    let only = enc.chunks[0].piece(0..4096);
    assert_eq!(
        code.decode_range(&enc.layout, 4096, 10, &[only]),
        Err(EcError::TooManyErasures {
            needed: 2,
            available: 1
        })
    );
}
