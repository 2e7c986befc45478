//! Prometheus metrics of every daemon: a cluster with one gateway serves `/metrics` on
//! each monitor, OSD and gateway; the key series are there, and object I/O, S3 requests
//! and a map change move them. Only counters and values read at scrape time are
//! compared (never periodically refreshed ones), so nothing waits on timers.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use bytes::Bytes;
use cuttle_client::Cluster;
use cuttle_cluster::{RgwOptions, TestCluster};
use cuttle_proto as pb;
use cuttle_tests::{eventually, pattern, require_binaries, spec};

/// One HTTP/1.1 request over a fresh connection: (status, body).
async fn http(addr: &str, method: &str, path: &str) -> (u16, String) {
    let a = cuttle_tests::http(addr, method, path).await;
    (a.status, a.body)
}

/// A scrape: series (`name{labels}`) → value, plus the raw text for messages.
#[derive(Debug)]
struct Scrape {
    series: BTreeMap<String, f64>,
    text: String,
}

impl Scrape {
    fn get(&self, series: &str) -> f64 {
        *self
            .series
            .get(series)
            .unwrap_or_else(|| panic!("series {series} missing from:\n{}", self.text))
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.series.keys().any(|k| k.starts_with(prefix))
    }
}

async fn scrape(url: &str) -> Scrape {
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let (status, text) = http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200, "scraping {url}: {text}");
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse::<f64>().unwrap())
        })
        .collect();
    Scrape { series, text }
}

/// Every daemon's metrics URL, by daemon name.
fn endpoints(c: &TestCluster) -> BTreeMap<String, String> {
    c.states()
        .unwrap()
        .into_iter()
        .map(|s| {
            let url = s
                .metrics
                .unwrap_or_else(|| panic!("{} has no metrics endpoint", s.name));
            (s.name, url)
        })
        .collect()
}

async fn scrape_all(eps: &BTreeMap<String, String>, kind: &str) -> BTreeMap<String, Scrape> {
    let mut out = BTreeMap::new();
    for (name, url) in eps.iter().filter(|(n, _)| n.starts_with(kind)) {
        out.insert(name.clone(), scrape(url).await);
    }
    out
}

fn sum(scrapes: &BTreeMap<String, Scrape>, series: &str) -> f64 {
    scrapes.values().map(|s| s.get(series)).sum()
}

fn max(scrapes: &BTreeMap<String, Scrape>, series: &str) -> f64 {
    scrapes.values().map(|s| s.get(series)).fold(0.0, f64::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_daemon_serves_metrics_that_move_with_traffic() {
    require_binaries(&["cuttle-mon", "cuttle-osd", "cuttle-rgw"]);
    let c = TestCluster::start_with_rgws(spec(3, 3, 16), 1, &RgwOptions::default())
        .await
        .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    assert_eq!(c.report.health, "HEALTH_OK", "{:?}", c.report.checks);
    let eps = endpoints(&c);
    assert_eq!(eps.len(), 7, "3 monitors, 3 OSDs, 1 gateway: {eps:?}");

    // The key series exist.
    let mons = scrape_all(&eps, "mon.").await;
    let osds = scrape_all(&eps, "osd.").await;
    let rgws = scrape_all(&eps, "rgw.").await;
    for (name, s) in &mons {
        for series in [
            "cuttle_mon_raft_term",
            "cuttle_mon_raft_leader_id",
            "cuttle_mon_raft_is_leader",
            "cuttle_mon_raft_last_log_index",
            "cuttle_mon_raft_last_applied_index",
            "cuttle_mon_map_epoch",
            "cuttle_mon_osds_up",
            "cuttle_mon_osds_in",
        ] {
            s.get(series);
        }
        assert!(s.get("cuttle_mon_raft_term") >= 1.0, "{name}");
        assert!(s.get("cuttle_mon_raft_leader_id") >= 1.0, "{name}");
    }
    // The leader, polled for in case an election runs at this moment.
    let leader = eventually(15, "a monitor that says it leads", || async {
        let now = scrape_all(&eps, "mon.").await;
        now.into_values()
            .filter(|s| s.get("cuttle_mon_raft_is_leader") == 1.0)
            .max_by_key(|s| s.get("cuttle_mon_raft_term") as u64)
    })
    .await;
    assert_eq!(leader.get("cuttle_mon_osds_up"), 3.0);
    assert_eq!(leader.get("cuttle_mon_osds_in"), 3.0);
    let health = leader.get("cuttle_mon_health_status");
    for (name, s) in &mons {
        if s.get("cuttle_mon_raft_is_leader") == 0.0 {
            assert!(
                !s.has_prefix("cuttle_mon_health_status"),
                "{name} is a follower and exports no health"
            );
        }
    }
    assert!((0.0..=2.0).contains(&health), "{health}");
    for (name, s) in &osds {
        for series in [
            "cuttle_osd_ops_total{op=\"mutate\"}",
            "cuttle_osd_ops_total{op=\"sub_write\"}",
            "cuttle_osd_op_duration_seconds_count{op=\"read\"}",
            "cuttle_osd_client_written_bytes_total",
            "cuttle_osd_client_read_bytes_total",
            "cuttle_osd_recovered_objects_total",
            "cuttle_osd_recovered_bytes_total",
            "cuttle_osd_recovery_objects_remaining",
            "cuttle_osd_device_used_bytes",
            "cuttle_osd_device_free_bytes",
            "cuttle_osd_device_inflight_requests",
            "cuttle_osd_db_live_data_bytes",
            "cuttle_osd_db_memtable_bytes",
        ] {
            s.get(series);
        }
        assert!(s.get("cuttle_osd_device_size_bytes") > 0.0, "{name}");
        assert!(
            s.text
                .contains("# TYPE cuttle_osd_op_duration_seconds histogram"),
            "{name}"
        );
    }
    assert!(
        osds.values().any(|s| s.has_prefix("cuttle_osd_pgs{state=")),
        "some OSD is primary of PGs"
    );
    for s in rgws.values() {
        s.get("cuttle_rgw_requests_total{op=\"GetObject\",status=\"4xx\"}");
        s.get("cuttle_rgw_request_duration_seconds_count{op=\"PutObject\"}");
        s.get("cuttle_rgw_received_bytes_total");
        s.get("cuttle_rgw_sent_bytes_total");
    }

    // Object writes and reads move the OSD counters.
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("rep").await.unwrap();
    let len = 256 << 10;
    for i in 0..3u64 {
        let name = format!("metrics-{i}");
        let data = pattern(i, len);
        io.write_full(&name, Bytes::from(data.clone()))
            .await
            .unwrap();
        assert_eq!(io.read(&name, 0, 0).await.unwrap().len(), len);
    }
    let osds2 = scrape_all(&eps, "osd.").await;
    for series in [
        "cuttle_osd_ops_total{op=\"mutate\"}",
        "cuttle_osd_ops_total{op=\"read\"}",
        "cuttle_osd_ops_total{op=\"sub_write\"}",
        "cuttle_osd_op_duration_seconds_count{op=\"mutate\"}",
    ] {
        let (a, b) = (sum(&osds, series), sum(&osds2, series));
        assert!(b > a, "{series}: {a} -> {b}");
    }
    for series in [
        "cuttle_osd_client_written_bytes_total",
        "cuttle_osd_client_read_bytes_total",
    ] {
        let (a, b) = (sum(&osds, series), sum(&osds2, series));
        assert!(b >= a + (3 * len) as f64, "{series}: {a} -> {b}");
    }

    // Erasure-coded reads: a small one is relayed by the primary; a large one is
    // answered with a read plan that the client completes from the members itself.
    let ec = client.pool("ec").await.unwrap();
    let small = pattern(7, 4096);
    let large = pattern(8, 1 << 20);
    ec.write_full("metrics-ec-small", Bytes::from(small.clone()))
        .await
        .unwrap();
    ec.write_full("metrics-ec-large", Bytes::from(large.clone()))
        .await
        .unwrap();
    let before = scrape_all(&eps, "osd.").await;
    assert!(ec.read("metrics-ec-small", 0, 0).await.unwrap() == small);
    let mid = scrape_all(&eps, "osd.").await;
    assert!(ec.read("metrics-ec-large", 0, 0).await.unwrap() == large);
    let after = scrape_all(&eps, "osd.").await;
    let direct = "cuttle_osd_direct_reads_total";
    assert_eq!(sum(&mid, direct), sum(&before, direct), "4 KiB: relayed");
    assert_eq!(
        sum(&after, direct),
        sum(&mid, direct) + 1.0,
        "1 MiB: direct"
    );

    // Anonymous S3 requests are refused, and counted.
    let s3 = c.states().unwrap();
    let gw = s3.iter().find(|s| s.name == "rgw.0").unwrap();
    let (st, body) = http(&gw.addr, "GET", "/metrics-test-bucket/some-key").await;
    assert!((400..500).contains(&st), "{st} {body}");
    let (st, body) = http(&gw.addr, "PUT", "/metrics-test-bucket").await;
    assert!((400..500).contains(&st), "{st} {body}");
    let rgws2 = scrape_all(&eps, "rgw.").await;
    for series in [
        "cuttle_rgw_requests_total{op=\"GetObject\",status=\"4xx\"}",
        "cuttle_rgw_requests_total{op=\"CreateBucket\",status=\"4xx\"}",
        "cuttle_rgw_request_duration_seconds_count{op=\"GetObject\"}",
        "cuttle_rgw_sent_bytes_total",
    ] {
        let (a, b) = (sum(&rgws, series), sum(&rgws2, series));
        assert!(b > a, "{series}: {a} -> {b}");
    }

    // A map change moves the monitors' epoch and Raft log (the monitor that committed
    // it applied it before answering).
    let mon = c.client().unwrap();
    mon.create_pool(pb::CreatePoolRequest {
        name: "metrics-test".into(),
        redundancy: Some(pb::create_pool_request::Redundancy::ReplicatedSize(3)),
        pg_num: 8,
        failure_domain: "host".into(),
        min_size: 0,
    })
    .await
    .unwrap();
    let mons2 = scrape_all(&eps, "mon.").await;
    for series in [
        "cuttle_mon_map_epoch",
        "cuttle_mon_raft_last_applied_index",
        "cuttle_mon_raft_last_log_index",
    ] {
        let (a, b) = (max(&mons, series), max(&mons2, series));
        assert!(b > a, "{series}: {a} -> {b}");
    }
    let pools = max(&mons2, "cuttle_mon_pools");
    assert!(
        pools >= 6.0,
        "ec, rep, 3 gateway pools and metrics-test: {pools}"
    );

    // Anything but GET /metrics is refused without harm.
    let any = eps.values().next().unwrap();
    let addr = any
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    assert_eq!(http(addr, "GET", "/other").await.0, 404);
    assert_eq!(http(addr, "POST", "/metrics").await.0, 405);
}
