//! The cluster heals itself, with real processes: a lost OSD's chunks are rebuilt on
//! the others and a wiped disk rejoining as a new OSD is backfilled; an OSD that missed
//! writes and deletes while down catches up to exactly the right objects; corrupted
//! blocks are found by deep scrub, repaired, and a second deep scrub is clean.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use bytes::Bytes;
use cuttle_client::{Cluster, IoCtx};
use cuttle_proto as pb;
use cuttle_tests::{cluster, eventually, pattern, store_tool};
use cuttle_types::{OsdId, PgId, PoolId};

/// Object size for a seed: 64 KiB to ~1.1 MiB, not block aligned.
fn size_of(seed: u64) -> usize {
    (64 << 10) + (seed as usize * 37_813) % (1 << 20)
}

async fn write_objects(
    io: &IoCtx,
    prefix: &str,
    seeds: std::ops::Range<u64>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for seed in seeds {
        let name = format!("{prefix}-{seed}");
        io.write_full(&name, Bytes::from(pattern(seed, size_of(seed))))
            .await
            .unwrap();
        out.insert(name, seed);
    }
    out
}

async fn check_objects(io: &IoCtx, want: &BTreeMap<String, u64>) {
    for (name, seed) in want {
        let got = io.read(name, 0, 0).await.unwrap();
        assert!(
            got == pattern(*seed, size_of(*seed)),
            "{}/{name}: {} bytes read do not match what was written",
            io.pool_name(),
            got.len()
        );
    }
}

/// Waits until every PG of the newest map is reported `active+clean` on the members
/// that map places it on (so stats from before a map change do not count); returns
/// the stats.
async fn all_clean(c: &cuttle_cluster::TestCluster, secs: u64) -> pb::PgStatsReply {
    let client = c.client().unwrap();
    eventually(secs, "every PG active+clean on its current members", || {
        let client = client.clone();
        async move {
            let map = client.get_map().await.ok()?;
            let s = client.pg_stats().await.ok()?;
            let hier = cuttle_placement::Hierarchy::from_map(&map);
            let current = s.pgs.iter().all(|p| {
                let Some(pool) = map.pools.get(&PoolId(p.pool)) else {
                    return false;
                };
                let want: Vec<i64> = hier
                    .place(pool, PgId::new(pool.id, p.seed))
                    .members
                    .iter()
                    .map(|m| m.map_or(-1, |o| i64::from(o.0)))
                    .collect();
                want == p.acting
            });
            let clean = s.unreported.is_empty()
                && !s.pgs.is_empty()
                && current
                && s.pgs.iter().all(|p| p.state == "active+clean");
            clean.then_some(s)
        }
    })
    .await
}

fn collections(dir: &Path, pools: &[PoolId]) -> Vec<String> {
    store_tool(dir, &["ls"])
        .lines()
        .filter(|c| {
            pools
                .iter()
                .any(|p| c.split('.').next() == Some(p.0.to_string().as_str()))
        })
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_osd_is_rebuilt_elsewhere_and_a_wiped_disk_rejoins_by_backfill() {
    let mut c = cluster(4).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let mon = c.client().unwrap();
    let ec = client.pool("ec").await.unwrap();
    let rep = client.pool("rep").await.unwrap();
    let ec_objects = write_objects(&ec, "ec", 0..48).await;
    let rep_objects = write_objects(&rep, "rep", 100..116).await;

    // osd.1 dies for good and is marked out: its PGs remap to the other three OSDs,
    // which rebuild the lost chunks (EC: from the two survivors of each stripe).
    c.signal("osd.1", libc::SIGKILL).unwrap();
    mon.set_osd_state(OsdId(1), pb::OsdStateChange::Out)
        .await
        .unwrap();
    let stats = all_clean(&c, 180).await;
    for p in &stats.pgs {
        assert!(
            !p.acting.contains(&1),
            "pg {}.{:x} still maps to the out osd.1: {:?}",
            p.pool,
            p.seed,
            p.acting
        );
    }
    check_objects(&ec, &ec_objects).await;
    check_objects(&rep, &rep_objects).await;

    // Its disk is wiped and it comes back as a new OSD (the lowest free id again, as in
    // Ceph): PGs move back onto it and it is backfilled. Purging needs it down as well
    // as out; the operator says so (`cuttle osd down 1`) rather than waiting for the
    // monitors' heartbeat grace, which recovery may well outrun.
    mon.set_osd_state(OsdId(1), pb::OsdStateChange::Down)
        .await
        .unwrap();
    mon.purge_osd(OsdId(1)).await.unwrap();
    let name = c.add_osd(Some("host1"), None).await.unwrap();
    assert_eq!(name, "osd.1", "the purged id is reused");
    let stats = all_clean(&c, 180).await;
    let placed = stats.pgs.iter().filter(|p| p.acting.contains(&1)).count();
    assert!(placed > 0, "no PG maps to the new osd.1");
    // The new OSD holds real data: with another OSD gone, the PGs it shares with it
    // read from it.
    c.signal("osd.2", libc::SIGKILL).unwrap();
    check_objects(&ec, &ec_objects).await;
    check_objects(&rep, &rep_objects).await;
    c.start("osd.2").unwrap();
    all_clean(&c, 180).await;

    // The OSDs that held osd.1's PGs meanwhile delete those stray copies once the PGs
    // are clean on osd.1: every collection left on a disk is one its OSD serves.
    let map = client.map().unwrap();
    let hier = cuttle_placement::Hierarchy::from_map(&map);
    let pools = [ec.pool_id(), rep.pool_id()];
    for osd in [0u32, 2, 3] {
        let name = format!("osd.{osd}");
        let dir = c.dir().join(&name);
        let mut serves = BTreeSet::new();
        for pool in pools {
            let p = &map.pools[&pool];
            for seed in 0..p.pg_num {
                let pg = PgId::new(pool, seed);
                let members = hier.place(p, pg).members;
                for (pos, m) in members.iter().enumerate() {
                    if *m == Some(OsdId(osd)) {
                        serves.insert(if pool == ec.pool_id() {
                            format!("{}.{seed:x}s{pos}", pool.0)
                        } else {
                            format!("{}.{seed:x}", pool.0)
                        });
                    }
                }
            }
        }
        eventually(180, &format!("{name} has no stray PG shards"), || {
            let (c, dir, name, serves) = (&c, dir.clone(), name.clone(), serves.clone());
            async move {
                c.stop(&name).ok()?;
                let have = collections(&dir, &pools);
                c.start(&name).ok()?;
                let strays: Vec<&String> = have.iter().filter(|h| !serves.contains(*h)).collect();
                if strays.is_empty() {
                    Some(())
                } else {
                    // Let it run a few of its stray passes (every 10 s) before looking
                    // again: the store can only be inspected with the OSD stopped.
                    tokio::time::sleep(std::time::Duration::from_secs(25)).await;
                    None
                }
            }
        })
        .await;
        all_clean(&c, 120).await;
    }
    check_objects(&ec, &ec_objects).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_osd_that_missed_writes_and_deletes_ends_with_exactly_the_right_objects() {
    let c = cluster(3).await;
    let mon = c.client().unwrap();
    // EC 2+1 that keeps taking writes with one OSD down (min_size = k), so the down
    // OSD misses EC writes too; and the replicated pool (size 3, min_size 2).
    mon.create_pool(pb::CreatePoolRequest {
        name: "ecmin".into(),
        redundancy: Some(pb::create_pool_request::Redundancy::Erasure(
            pb::EcProfile {
                k: 2,
                m: 1,
                stripe_unit: 0,
                codec: String::new(),
            },
        )),
        pg_num: 8,
        failure_domain: "host".into(),
        min_size: 2,
    })
    .await
    .unwrap();
    all_clean(&c, 60).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for pool in ["ecmin", "rep"] {
        let io = client.pool(pool).await.unwrap();
        for (name, seed) in write_objects(&io, pool, 0..30).await {
            want.insert((pool.to_string(), name), seed);
        }
    }

    c.signal("osd.2", libc::SIGKILL).unwrap();
    let mut deleted = BTreeSet::new();
    for pool in ["ecmin", "rep"] {
        let io = client.pool(pool).await.unwrap();
        // Overwrite a third, delete a third, add new ones, while osd.2 is away.
        for i in 0..30u64 {
            let name = format!("{pool}-{i}");
            match i % 3 {
                0 => {
                    let seed = 1_000 + i;
                    io.write_full(&name, Bytes::from(pattern(seed, size_of(seed))))
                        .await
                        .unwrap();
                    want.insert((pool.to_string(), name), seed);
                }
                1 => {
                    io.remove(&name).await.unwrap();
                    want.remove(&(pool.to_string(), name.clone()));
                    deleted.insert((pool.to_string(), name));
                }
                _ => {}
            }
        }
        for (name, seed) in write_objects(&io, &format!("{pool}-new"), 2_000..2_010).await {
            want.insert((pool.to_string(), name), seed);
        }
    }

    c.start("osd.2").unwrap();
    all_clean(&c, 180).await;

    // Read everything with osd.0 gone, so osd.2's copies are needed.
    c.signal("osd.0", libc::SIGKILL).unwrap();
    for ((pool, name), seed) in &want {
        let io = client.pool(pool).await.unwrap();
        let got = io.read(name, 0, 0).await.unwrap();
        assert!(
            got == pattern(*seed, size_of(*seed)),
            "{pool}/{name} differs"
        );
    }
    for (pool, name) in &deleted {
        let io = client.pool(pool).await.unwrap();
        let e = io.stat(name).await.expect_err("a deleted object came back");
        assert_eq!(e.code(), "no_such_object", "{pool}/{name}: {e}");
    }
    c.start("osd.0").unwrap();
    all_clean(&c, 180).await;

    // On osd.2's own disk: exactly the objects that should exist, no more, no fewer
    // (every PG of a 3-wide pool on 3 OSDs has a shard there).
    c.stop("osd.2").unwrap();
    let dir = c.dir().join("osd.2");
    let map = client.map().unwrap();
    for pool in ["ecmin", "rep"] {
        let id = map.pool_by_name(pool).unwrap().id;
        let mut have = BTreeSet::new();
        for coll in collections(&dir, &[id]) {
            for line in store_tool(&dir, &["ls", &coll]).lines() {
                if let Some(name) = line.split_whitespace().next() {
                    have.insert(name.to_string());
                }
            }
        }
        let expected: BTreeSet<String> = want
            .keys()
            .filter(|(p, _)| p == pool)
            .map(|(_, n)| n.clone())
            .collect();
        assert_eq!(have, expected, "objects of {pool} on osd.2's disk");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deep_scrub_finds_exactly_the_corrupted_objects_and_repair_fixes_them() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let ec = client.pool("ec").await.unwrap();
    let objects = write_objects(&ec, "obj", 0..24).await;
    let map = client.map().unwrap();
    let pool = map.pools[&ec.pool_id()].clone();

    // Flip bytes in three objects' chunks on osd.0, with osd.0 stopped.
    let victim = OsdId(0);
    let dir = c.dir().join("osd.0");
    let mut corrupted = BTreeSet::new();
    c.stop("osd.0").unwrap();
    for name in objects.keys() {
        if corrupted.len() == 3 {
            break;
        }
        let (pg, members) = client.locate(ec.pool_id(), name).unwrap();
        let Some(pos) = members.iter().position(|m| *m == Some(victim)) else {
            continue;
        };
        let coll = format!("{}.{:x}s{pos}", pg.pool.0, pg.seed);
        let line = store_tool(&dir, &["map", &coll, name]);
        let device_off: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("block"))
            .unwrap();
        f.seek(SeekFrom::Start(device_off + 4096 + 17)).unwrap();
        f.write_all(b"BITROT").unwrap();
        f.sync_all().unwrap();
        corrupted.insert(name.clone());
    }
    assert_eq!(corrupted.len(), 3);
    c.start("osd.0").unwrap();
    all_clean(&c, 60).await;

    let scrub_all = |kind: pb::PgCommandKind| {
        let client = client.clone();
        async move {
            let mut findings = Vec::new();
            let mut repaired = 0;
            for seed in 0..pool.pg_num {
                let d = client
                    .pg_command(PgId::new(pool.id, seed), kind)
                    .await
                    .unwrap();
                repaired += d.repaired;
                findings.extend(d.inconsistencies);
            }
            (findings, repaired)
        }
    };
    // A light scrub compares metadata only: the sizes and versions agree.
    let (light, _) = scrub_all(pb::PgCommandKind::Scrub).await;
    assert!(light.is_empty(), "light scrub found {light:?}");
    let (deep, _) = scrub_all(pb::PgCommandKind::DeepScrub).await;
    let found: BTreeSet<String> = deep.iter().map(|f| f.object.clone()).collect();
    assert_eq!(found, corrupted, "deep scrub findings: {deep:?}");
    assert!(
        deep.iter()
            .all(|f| f.osd == victim.0 && f.problem == "checksum"),
        "{deep:?}"
    );
    // Primaries report the finding with their next heartbeat.
    let mon = c.client().unwrap();
    eventually(30, "PG_INCONSISTENT in health", || {
        let mon = mon.clone();
        async move {
            let st = mon.status().await.ok()?;
            st.checks
                .iter()
                .any(|k| k.code == "PG_INCONSISTENT")
                .then_some(())
        }
    })
    .await;

    let (_, repaired) = scrub_all(pb::PgCommandKind::Repair).await;
    assert_eq!(
        repaired, 3,
        "one damaged chunk per corrupted object is rewritten"
    );
    let (again, _) = scrub_all(pb::PgCommandKind::DeepScrub).await;
    assert!(again.is_empty(), "second deep scrub found {again:?}");
    all_clean(&c, 60).await;
    check_objects(&ec, &objects).await;
    // And the repaired chunks are on osd.0's disk: its store passes a deep fsck.
    c.stop("osd.0").unwrap();
    store_tool(&dir, &["fsck", "--deep"]);
}
