//! Placement throughput: PGs placed per second on a 1,000-OSD, 100-host map, and
//! object-name hashing rate.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cuttle_placement::{Hierarchy, object_to_pg};
use cuttle_types::{EcProfile, FailureDomain, OsdId, OsdWeight, PgId, Pool, PoolId, Redundancy};

/// 100 hosts of 10 OSDs each, weights 1.0 to 2.0 TiB so straw2 is really weighted.
fn big_map() -> Hierarchy {
    let mut b = Hierarchy::builder();
    for host in 0..100u32 {
        for slot in 0..10u32 {
            let id = host * 10 + slot;
            let weight = OsdWeight(0x10000 + (id % 5) * 0x4000);
            b.osd(&format!("host-{host:03}"), OsdId(id), weight);
        }
    }
    match b.build() {
        Ok(h) => h,
        Err(e) => panic!("benchmark map is valid: {e}"),
    }
}

fn pool(id: u32, redundancy: Redundancy) -> Pool {
    Pool {
        id: PoolId(id),
        name: format!("bench-{id}"),
        redundancy,
        pg_num: 4096,
        failure_domain: FailureDomain::Host,
        min_size: redundancy.default_min_size(),
    }
}

fn placement(c: &mut Criterion) {
    let tree = big_map();
    let pools = [
        ("ec_4+2", pool(1, Redundancy::Erasure(EcProfile::new(4, 2)))),
        ("replicated_3", pool(2, Redundancy::Replicated { size: 3 })),
    ];
    let mut group = c.benchmark_group("place_1000_osds_100_hosts");
    group.throughput(Throughput::Elements(1));
    for (name, pool) in &pools {
        let mut seed = 0u32;
        group.bench_function(*name, |b| {
            b.iter(|| {
                seed = (seed + 1) % pool.pg_num;
                black_box(tree.place(pool, PgId::new(pool.id, black_box(seed))))
            })
        });
    }
    group.finish();

    // Same map with 1% of OSDs out: every PG touching one pays for re-choosing.
    let mut b = Hierarchy::builder();
    for host in 0..100u32 {
        for slot in 0..10u32 {
            let id = host * 10 + slot;
            let weight = OsdWeight(0x10000 + (id % 5) * 0x4000);
            let name = format!("host-{host:03}");
            if id % 100 == 7 {
                b.out_osd(&name, OsdId(id), weight);
            } else {
                b.osd(&name, OsdId(id), weight);
            }
        }
    }
    if let Ok(tree_out) = b.build() {
        let pool = &pools[0].1;
        let mut group = c.benchmark_group("place_1000_osds_100_hosts_1pct_out");
        group.throughput(Throughput::Elements(1));
        let mut seed = 0u32;
        group.bench_function("ec_4+2", |b| {
            b.iter(|| {
                seed = (seed + 1) % pool.pg_num;
                black_box(tree_out.place(pool, PgId::new(pool.id, black_box(seed))))
            })
        });
        group.finish();
    }
}

fn hashing(c: &mut Criterion) {
    let pool = pool(3, Redundancy::Erasure(EcProfile::new(4, 2)));
    let names: Vec<String> = (0..1024)
        .map(|i| format!("rgw-data/bucket-{}/object-{i:08}.bin", i % 7))
        .collect();
    let mut group = c.benchmark_group("object_to_pg");
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("40_byte_names_x1024", |b| {
        b.iter(|| {
            for name in &names {
                black_box(object_to_pg(&pool, black_box(name.as_bytes())));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, placement, hashing);
criterion_main!(benches);
