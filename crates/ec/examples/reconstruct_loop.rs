//! Runs one 4 MiB reconstruct (or encode) many times, for profilers that count
//! instructions (`valgrind --tool=callgrind`) or sample (`perf record`), where
//! criterion's timing loop would get in the way.
//!
//! `cargo run --release -p cuttle-ec --example reconstruct_loop -- [K M [ITERATIONS [encode]]]`
//! (default: 8 3 20): rebuilds data shards `0..m` from the next `k` chunks, like the
//! `reconstruct_m_lost` benchmark, and checks the result against the encoded chunks.

use std::hint::black_box;

use bytes::Bytes;
use cuttle_ec::{Chunk, codec_for};
use cuttle_types::{EcProfile, ShardId};

const OBJECT: usize = 4 << 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: u32| -> Result<u32, Box<dyn std::error::Error>> {
        Ok(args
            .get(i)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (k, m, iterations) = (arg(0, 8)? as u8, arg(1, 3)? as u8, arg(2, 20)?);
    let encode_only = args.get(3).is_some_and(|a| a == "encode");
    let mut x = 0x9e37_79b9_u32;
    let data: Bytes = (0..OBJECT)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into();
    let code = codec_for(&EcProfile::new(k, m))?;
    let enc = code.encode(data.clone())?;
    if encode_only {
        for _ in 0..iterations {
            black_box(code.encode(black_box(data.clone()))?);
        }
        return Ok(());
    }
    let lost: Vec<ShardId> = (0..m).map(ShardId).collect();
    let sources: Vec<Chunk> = enc.chunks[usize::from(m)..usize::from(m + k)].to_vec();
    for _ in 0..iterations {
        let rebuilt = code.reconstruct(&enc.layout, black_box(&sources), &lost)?;
        if rebuilt[..] != enc.chunks[..usize::from(m)] {
            return Err("rebuilt chunks differ from the encoded ones".into());
        }
    }
    Ok(())
}
