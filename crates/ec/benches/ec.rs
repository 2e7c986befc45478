//! Throughput of encode, reconstruct and decode on 4 MiB objects (the gateway's tail
//! piece), in bytes of object data per second (decimal GB/s, the unit of the targets),
//! crc32c work included.
//!
//! Run: `cargo bench -p cuttle-ec --bench ec -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use cuttle_ec::{Chunk, codec_for};
use cuttle_types::{EcCodec, EcProfile, ShardId};
use rand::{Rng, SeedableRng, rngs::StdRng};

const OBJECT: usize = 4 << 20;
const SHAPES: [(u8, u8); 3] = [(2, 1), (4, 2), (8, 3)];

fn object() -> Bytes {
    let mut v = vec![0u8; OBJECT];
    StdRng::seed_from_u64(42).fill(&mut v[..]);
    Bytes::from(v)
}

fn bench(c: &mut Criterion) {
    let data = object();
    let mut group = c.benchmark_group("ec_4MiB");
    group.throughput(Throughput::BytesDecimal(OBJECT as u64));
    for (k, m) in SHAPES {
        let profile = EcProfile::new(k, m);
        let code = codec_for(&profile).expect("codec");
        let shape = format!("{k}+{m}");
        let enc = code.encode(data.clone()).expect("encode");

        group.bench_function(BenchmarkId::new("encode", &shape), |b| {
            b.iter(|| code.encode(black_box(data.clone())).expect("encode"))
        });
        // The first codec, kept for pools created with it (no XOR parity row).
        let vandermonde = codec_for(&EcProfile {
            codec: EcCodec::ReedSolomonVandermonde,
            ..profile
        })
        .expect("codec");
        group.bench_function(BenchmarkId::new("encode_vandermonde", &shape), |b| {
            b.iter(|| vandermonde.encode(black_box(data.clone())).expect("encode"))
        });

        // Recovery of the m first data chunks (the costliest: every output needs the
        // inverted matrix) from the k survivors.
        let lost: Vec<ShardId> = (0..m).map(ShardId).collect();
        let survivors: Vec<Chunk> = enc.chunks[usize::from(m)..].to_vec();
        let sources = &survivors[..usize::from(k)];
        group.bench_function(BenchmarkId::new("reconstruct_m_lost", &shape), |b| {
            b.iter(|| {
                code.reconstruct(&enc.layout, black_box(sources), &lost)
                    .expect("reconstruct")
            })
        });

        let data_chunks = &enc.chunks[..usize::from(k)];
        group.bench_function(BenchmarkId::new("decode_no_loss", &shape), |b| {
            b.iter(|| {
                code.decode(&enc.layout, black_box(data_chunks))
                    .expect("decode")
            })
        });

        group.bench_function(BenchmarkId::new("decode_m_lost", &shape), |b| {
            b.iter(|| {
                code.decode(&enc.layout, black_box(sources))
                    .expect("decode")
            })
        });
    }
    group.finish();
}

/// The parts the codec is made of, measured alone on the same 4 MiB, to show where the
/// time goes: crc32c per 4 KiB block, the crate's parity computation, a plain copy.
fn components(c: &mut Criterion) {
    let data = object();
    let mut group = c.benchmark_group("parts_4MiB");
    group.throughput(Throughput::BytesDecimal(OBJECT as u64));
    group.bench_function("crc32c_4KiB_blocks", |b| {
        b.iter(|| cuttle_ec::crc::block_crcs(black_box(&data)))
    });
    group.bench_function("crc32c_crate_4KiB_blocks", |b| {
        b.iter(|| {
            let crcs: Vec<u32> = black_box(&data).chunks(4096).map(crc32c::crc32c).collect();
            crcs
        })
    });
    group.bench_function("memcpy", |b| {
        let mut dst = vec![0u8; OBJECT];
        b.iter(|| dst.copy_from_slice(black_box(&data)))
    });
    for (k, m) in SHAPES {
        let rs =
            reed_solomon_erasure::galois_8::ReedSolomon::new(k.into(), m.into()).expect("codec");
        let len = OBJECT / usize::from(k);
        let shards: Vec<&[u8]> = data.chunks(len).collect();
        let mut parity = vec![vec![0u8; len]; usize::from(m)];
        group.bench_function(BenchmarkId::new("rs_encode_sep", format!("{k}+{m}")), |b| {
            b.iter(|| {
                rs.encode_sep(black_box(&shards), &mut parity)
                    .expect("encode")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, components, bench);
criterion_main!(benches);
