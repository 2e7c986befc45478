//! Faults with real processes: an OSD killed with SIGKILL during writes, a corrupted
//! chunk on an OSD's disk (on the primary, and on a member a direct read fetches from),
//! a large read rebuilt by the client from parity while a member is down, a
//! replicated-pool primary killed under omap traffic, OSDs that run out of space, and
//! the monitor leader killed (no OSD may be marked down for it). Nothing acknowledged
//! may be lost.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use cuttle_client::{Cluster, IoCtx};
use cuttle_cluster::TestCluster;
use cuttle_tests::{cluster, eventually, pattern, store_tool};
use cuttle_types::OsdId;
use tokio::sync::Mutex;

async fn healthy(c: &cuttle_cluster::TestCluster, secs: u64) {
    let client = c.client().unwrap();
    eventually(secs, "HEALTH_OK", || {
        let client = client.clone();
        async move {
            let st = client.status().await.ok()?;
            (st.health == "HEALTH_OK").then_some(())
        }
    })
    .await;
}

async fn check_all(client: &Cluster, acked: &BTreeMap<(String, String), u64>) {
    for ((pool, name), seed) in acked {
        let io = client.pool(pool).await.unwrap();
        let got = io.read(name, 0, 0).await.unwrap();
        let want = pattern(*seed, 200_000 + (*seed as usize % 7) * 4096);
        assert!(
            got == want,
            "{pool}/{name}: {} bytes differ from what was acknowledged",
            got.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_an_osd_killed_mid_workload() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let acked: Arc<Mutex<BTreeMap<(String, String), u64>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let (client, acked) = (client.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            // Writers 0 and 1 use the EC pool, 2 and 3 the replicated one: EC 2+1 stops
            // taking writes with one of three OSDs gone (min_size k+1, as in Ceph), the
            // replicated pool (size 3, min_size 2) keeps going.
            let pool = if w < 2 { "ec" } else { "rep" };
            for i in 0u64.. {
                let seed = w * 1_000_000 + i;
                let name = format!("w{w}-{i}");
                let data = pattern(seed, 200_000 + (seed as usize % 7) * 4096);
                let io = client.pool(pool).await.unwrap();
                if io.write_full(&name, Bytes::from(data)).await.is_ok() {
                    acked.lock().await.insert((pool.to_string(), name), seed);
                }
            }
        }));
    }
    eventually(60, "some writes acknowledged", || {
        let acked = acked.clone();
        async move { (acked.lock().await.len() >= 40).then_some(()) }
    })
    .await;
    c.signal("osd.1", libc::SIGKILL).unwrap();
    // Let the replicated pool keep taking writes while osd.1 is gone.
    let before = acked.lock().await.len();
    eventually(60, "writes continue on the replicated pool", || {
        let acked = acked.clone();
        async move { (acked.lock().await.len() >= before + 10).then_some(()) }
    })
    .await;
    for w in writers {
        w.abort();
    }
    let acked = acked.lock().await.clone();
    // Degraded: everything acknowledged reads back from the survivors.
    check_all(&client, &acked).await;
    // osd.1 returns, catches up, and the cluster is clean again.
    c.start("osd.1").unwrap();
    healthy(&c, 120).await;
    // Prove osd.1 holds current data: take another OSD away and read everything.
    c.signal("osd.2", libc::SIGKILL).unwrap();
    check_all(&client, &acked).await;
}

/// Flips bytes inside chunk `pos` of `object` on its OSD's device (with that OSD
/// stopped, then started again); returns the OSD's name.
fn corrupt_chunk(
    c: &TestCluster,
    client: &Cluster,
    io: &IoCtx,
    object: &str,
    pos: usize,
) -> String {
    let (pg, members) = client.locate(io.pool_id(), object).unwrap();
    let OsdId(target) = members[pos].unwrap();
    let name = format!("osd.{target}");
    c.stop(&name).unwrap();
    let dir = c.dir().join(&name);
    let coll = format!("{}.{:x}s{pos}", pg.pool.0, pg.seed);
    let line = store_tool(&dir, &["map", &coll, object]);
    let device_off: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("block"))
            .unwrap();
        f.seek(SeekFrom::Start(device_off + 8192 + 5)).unwrap();
        f.write_all(b"CORRUPTION").unwrap();
        f.sync_all().unwrap();
    }
    c.start(&name).unwrap();
    name
}

/// Data chunk 0 (held by the primary, which then relays a reconstructed read) and data
/// chunk 1 (held by another member: the client's direct read of it finds the damage
/// and falls back to the primary) are damaged on disk; both objects read back exactly
/// and both chunks are repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupted_chunk_is_reconstructed_and_repaired() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("ec").await.unwrap();
    let data = pattern(42, 3 << 20);
    let tool = cuttle_cluster::bin_dir().join("cuttle-store-tool");
    for (object, pos) in [("victim", 0), ("victim-other-member", 1)] {
        io.write_full(object, Bytes::from(data.clone()))
            .await
            .unwrap();
        let name = corrupt_chunk(&c, &client, &io, object, pos);
        healthy(&c, 60).await;
        let repaired = eventually(30, "OSD metrics", || repaired_copies(&c)).await;
        // The read is still correct: rebuilt from parity by the primary.
        let got = io.read(object, 0, 0).await.unwrap();
        assert!(got == data, "{object}: reconstructed bytes differ");
        // The damaged chunk is repaired in the background (waited for without
        // stopping the OSD, which would cut the repair short); then the OSD's store is
        // clean under a deep fsck.
        eventually(60, "damaged chunk repaired", || async {
            repaired_copies(&c).await.filter(|&n| n > repaired)
        })
        .await;
        c.stop(&name).unwrap();
        let dir = c.dir().join(&name);
        let fsck = std::process::Command::new(&tool)
            .arg("--device")
            .arg(dir.join("block"))
            .arg("--meta")
            .arg(dir.join("db"))
            .args(["fsck", "--deep"])
            .output()
            .unwrap();
        assert!(
            fsck.status.success(),
            "{object} on {name}: {}{}",
            String::from_utf8_lossy(&fsck.stdout),
            String::from_utf8_lossy(&fsck.stderr)
        );
        c.start(&name).unwrap();
        healthy(&c, 60).await;
        assert!(io.read(object, 0, 0).await.unwrap() == data, "{object}");
    }
}

/// Damaged copies the OSDs have repaired so far (`cuttle_osd_repaired_objects_total`),
/// or `None` while an OSD's metrics endpoint is not up yet (just restarted).
async fn repaired_copies(c: &TestCluster) -> Option<u64> {
    let mut total = 0;
    for d in c.states().unwrap() {
        if d.name.starts_with("osd.") {
            total += osd_counter(c, &d.name, "cuttle_osd_repaired_objects_total").await?;
        }
    }
    Some(total)
}

/// One counter of one OSD (`series` as exported, labels included), or `None` while its
/// metrics endpoint does not answer.
async fn osd_counter(c: &TestCluster, osd: &str, series: &str) -> Option<u64> {
    let url = c
        .states()
        .unwrap()
        .into_iter()
        .find(|d| d.name == osd)?
        .metrics?;
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    tokio::net::TcpStream::connect(addr).await.ok()?;
    let page = cuttle_tests::http(addr, "GET", "/metrics").await;
    let value = page
        .body
        .lines()
        .filter_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.trim().parse::<f64>().unwrap() as u64)
        .sum();
    Some(value)
}

/// With a data member down, the primary plans a large read over its own chunk and the
/// parity chunk, and the client rebuilds the missing one itself: the bytes are exact,
/// and the primary served exactly one read (no fallback to a relayed read).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_degraded_large_read_is_rebuilt_by_the_client_from_parity() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("ec").await.unwrap();
    let data = pattern(7, 3 << 20);
    io.write_full("degraded", Bytes::from(data.clone()))
        .await
        .unwrap();
    let (_, members) = client.locate(io.pool_id(), "degraded").unwrap();
    let primary = format!("osd.{}", members[0].unwrap().0);
    let victim = format!("osd.{}", members[1].unwrap().0);
    c.signal(&victim, libc::SIGKILL).unwrap();
    // Wait until the monitors marked it down and every PG has peered without it.
    let mon = c.client().unwrap();
    eventually(
        60,
        "the member marked down and its PGs active again",
        || {
            let mon = mon.clone();
            async move {
                let st = mon.status().await.ok()?;
                let settled = st.osds_up == 2
                    && st
                        .pg_states
                        .iter()
                        .all(|p| p.state.starts_with("active") && !p.state.contains("peering"));
                settled.then_some(())
            }
        },
    )
    .await;
    // The client's map has caught up once a read goes through at all.
    eventually(30, "a read", || async {
        io.read("degraded", 0, 0).await.ok()
    })
    .await;
    let reads = "cuttle_osd_ops_total{op=\"read\"}";
    let direct = "cuttle_osd_direct_reads_total";
    let before = (
        osd_counter(&c, &primary, reads).await.unwrap(),
        osd_counter(&c, &primary, direct).await.unwrap(),
    );
    let got = io.read("degraded", 0, 0).await.unwrap();
    assert!(got == data, "rebuilt bytes differ");
    let after = (
        osd_counter(&c, &primary, reads).await.unwrap(),
        osd_counter(&c, &primary, direct).await.unwrap(),
    );
    assert_eq!(after.1, before.1 + 1, "the primary answered with a plan");
    assert_eq!(after.0, before.0 + 1, "and the client did not fall back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn omap_survives_a_primary_kill() {
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let rep = client.pool("rep").await.unwrap();
    let entries: Vec<(Bytes, Bytes)> = (0..50)
        .map(|i| {
            (
                Bytes::from(format!("key{i:03}")),
                Bytes::from(format!("value{i}")),
            )
        })
        .collect();
    rep.omap_set("bucket.index", entries.clone()).await.unwrap();
    let (_, members) = client.locate(rep.pool_id(), "bucket.index").unwrap();
    let primary = members.iter().flatten().next().copied().unwrap();
    c.signal(&format!("osd.{}", primary.0), libc::SIGKILL)
        .unwrap();
    let (got, more) = rep.omap_list("bucket.index", b"", b"", 100).await.unwrap();
    assert!(!more);
    assert_eq!(
        got, entries,
        "every acknowledged omap entry is served by the new primary"
    );
    rep.omap_set(
        "bucket.index",
        vec![(Bytes::from_static(b"after"), Bytes::from_static(b"kill"))],
    )
    .await
    .unwrap();
    let got = rep
        .omap_get("bucket.index", vec![Bytes::from_static(b"after")])
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
}

/// An OSD that missed every write of an object whose omap is larger than a recovery
/// page (a big bucket-index shard) gets all of it back, pushed in pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_omap_is_recovered_in_pages() {
    use cuttle_osd::recovery::RECOVERY_OMAP_PAGE_BYTES;
    let c = cluster(3).await;
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let mon = c.client().unwrap();
    let rep = client.pool("rep").await.unwrap();
    let object = "big.index";
    let (pg, members) = client.locate(rep.pool_id(), object).unwrap();
    let behind = members.iter().flatten().last().copied().unwrap();
    let name = format!("osd.{}", behind.0);
    c.signal(&name, libc::SIGKILL).unwrap();
    mon.set_osd_state(behind, cuttle_proto::OsdStateChange::Down)
        .await
        .unwrap();

    // ~2.5 pages of entries, written while that OSD is down.
    let value_len = 4096;
    let batches = (RECOVERY_OMAP_PAGE_BYTES as usize * 5 / 2).div_ceil(512 * value_len);
    let mut want = String::new();
    for b in 0..batches {
        let entries: Vec<(Bytes, Bytes)> = (0..512)
            .map(|i| {
                let value = pattern((b * 512 + i) as u64, value_len);
                (Bytes::from(format!("key{b:03}{i:04}")), Bytes::from(value))
            })
            .collect();
        for (k, v) in &entries {
            want.push_str(&format!(
                "{}\t{}\t{:08x}\n",
                String::from_utf8_lossy(k),
                v.len(),
                crc32c::crc32c(v)
            ));
        }
        rep.omap_set(object, entries).await.unwrap();
    }

    c.start(&name).unwrap();
    healthy(&c, 180).await;
    let primary = members.iter().flatten().next().copied().unwrap();
    let log = c.log_tail(&format!("osd.{}", primary.0), 5000);
    assert!(
        log.contains("pushed a large omap in pages"),
        "the primary did not page the push:\n{log}"
    );
    c.stop(&name).unwrap();
    // `key  value length  crc32c` per entry, in key order.
    let got = store_tool(
        &c.dir().join(&name),
        &["omap", &format!("{}.{:x}", pg.pool.0, pg.seed), object],
    );
    assert!(
        got == want,
        "{name} holds {} omap entries after recovery, {} were written",
        got.lines().count(),
        want.lines().count()
    );
    c.start(&name).unwrap();
}

/// A full cluster fails writes at once with `no_space` (not retried until the client's
/// deadline as a peer failure would be), keeps every acknowledged object intact, reports
/// `OSD_FULL`, and takes writes again once objects are deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_osds_fail_writes_cleanly_and_lose_nothing() {
    cuttle_tests::require_binaries(&["cuttle-mon", "cuttle-osd"]);
    // Four OSDs for a 3-wide pool: PGs span different OSDs, which fill at different
    // rates, so some writes are refused by one member and applied by the others.
    let c = cuttle_cluster::TestCluster::start(cuttle_cluster::LocalSpec {
        osd_size: 96 << 20,
        ..cuttle_tests::spec(3, 4, 8)
    })
    .await
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    let mon = c.client().unwrap();
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("ec").await.unwrap();
    // Each 4 MiB object puts a 2 MiB chunk on three of the four OSDs: well under 128
    // objects fit.
    let mut acked = Vec::new();
    let err = loop {
        let seed = acked.len() as u64;
        assert!(
            seed < 128,
            "96 MiB OSDs took {seed} objects of three 2 MiB chunks"
        );
        let name = format!("fill-{seed}");
        match io
            .write_full(&name, Bytes::from(pattern(seed, 4 << 20)))
            .await
        {
            Ok(_) => acked.push(name),
            Err(e) => break e,
        }
    };
    assert_eq!(err.code(), "no_space", "{err}");
    assert!(acked.len() >= 10, "only {} objects fit", acked.len());
    // Later writes fail the same way (or fit, on PGs of OSDs with room left): a PG
    // whose member refused a write for space says so at once rather than asking
    // clients to retry until their deadline.
    for i in 0..32u64 {
        let name = format!("more-{i}");
        if let Err(e) = io
            .write_full(&name, Bytes::from(pattern(500 + i, 4 << 20)))
            .await
        {
            assert_eq!(e.code(), "no_space", "{name}: {e}");
        }
    }
    for (seed, name) in acked.iter().enumerate() {
        let got = io.read(name, 0, 0).await.unwrap();
        assert!(
            got[..] == pattern(seed as u64, 4 << 20)[..],
            "{name} changed after the cluster filled up"
        );
    }
    eventually(60, "OSD_FULL or OSD_NEARFULL", || {
        let mon = mon.clone();
        async move {
            let st = mon.status().await.ok()?;
            st.checks
                .iter()
                .any(|c| c.code == "OSD_FULL" || c.code == "OSD_NEARFULL")
                .then_some(())
        }
    })
    .await;
    // Deleting frees space for new writes.
    for name in acked.iter().take(8) {
        io.remove(name).await.unwrap();
    }
    let data = pattern(1000, 4 << 20);
    io.write_full("after-delete", Bytes::from(data.clone()))
        .await
        .unwrap();
    assert!(io.read("after-delete", 0, 0).await.unwrap()[..] == data[..]);
}

/// A monitor leader killed under a running cluster: the new leader has never heard an
/// OSD's heartbeat, and must neither mark the OSDs down (each gets a fresh grace from
/// the election) nor lose sight of their PGs; the map does not change and health shows
/// only the dead monitor. Objects stay readable and writable throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_leader_change_marks_no_osd_down() {
    let c = cluster(3).await;
    let mon = c.client().unwrap();
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("ec").await.unwrap();
    let before = pattern(7, 300_000);
    io.write_full("before", Bytes::from(before.clone()))
        .await
        .unwrap();
    let st = mon.status().await.unwrap();
    let (old, epoch) = (st.leader.clone(), st.epoch);
    assert!(!old.is_empty());
    c.signal(&format!("mon.{old}"), libc::SIGKILL).unwrap();

    // The survivors elect a leader, which hears every OSD and every PG again.
    let only_mon_down = |st: &cuttle_proto::StatusReply| {
        st.leader != old
            && !st.leader.is_empty()
            && st.checks.len() == 1
            && st.checks[0].code == "MON_DOWN"
    };
    eventually(30, "a new leader that sees every PG", || {
        let mon = mon.clone();
        async move { mon.status().await.ok().filter(only_mon_down) }
    })
    .await;
    // Wait out more than a heartbeat grace (3 s here) after that leader's first look at
    // the OSDs: a detector that counted from a missing report would have marked every
    // OSD down by now.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let st = mon.status().await.unwrap();
    assert!(only_mon_down(&st), "{} {:?}", st.leader, st.checks);
    let map = mon.get_map().await.unwrap();
    assert_eq!(map.epoch.0, epoch, "the map changed: {:?}", map.osds);
    assert!(map.osds.values().all(|o| o.up && o.down_since.is_none()));

    assert!(io.read("before", 0, 0).await.unwrap()[..] == before[..]);
    let after = pattern(8, 300_000);
    io.write_full("after", Bytes::from(after.clone()))
        .await
        .unwrap();
    assert!(io.read("after", 0, 0).await.unwrap()[..] == after[..]);
}
