//! `cuttle status`, `health` and `mon stat` against a real 3-monitor cluster, healthy
//! and with monitors stopped.
//!
//! Needs the `cuttle-mon` binary in the same target directory: with a separate target
//! directory run `CARGO_TARGET_DIR=<dir> cargo build -p cuttle-mon` before
//! `cargo test -p cuttle-cli` (`cargo test --workspace` builds it on its own).
#![allow(clippy::unwrap_used)]

mod common;

use common::{conf, cuttle, cuttle_c, cuttle_in, eventually, status_with_leader, three_mons};
use serde_json::Value;

const HEALTHS: [&str; 3] = ["HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"];

#[tokio::test]
async fn status_reports_health_monitors_and_a_leader() {
    let c = three_mons().await;
    let conf = conf(&c);
    let v = status_with_leader(&conf);
    let obj = v.as_object().unwrap();
    for key in [
        "fsid",
        "epoch",
        "health",
        "checks",
        "monitors",
        "leader",
        "term",
        "osds",
        "osds_up",
        "osds_in",
        "pools",
        "bytes_total",
        "bytes_used",
        "pg_states",
        "answered_by",
    ] {
        assert!(obj.contains_key(key), "status JSON lacks {key}: {v}");
    }
    assert!(HEALTHS.contains(&v["health"].as_str().unwrap()), "{v}");
    assert_eq!(v["fsid"], c.layout().fsid.to_string());
    let mons = v["monitors"].as_array().unwrap();
    let names: Vec<&str> = mons.iter().map(|m| m["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert!(
        mons.iter()
            .any(|m| m["leader"] == true && m["name"] == v["leader"]),
        "{v}"
    );
    assert!(v["term"].as_u64().unwrap() >= 1, "{v}");
    assert_eq!(
        (v["osds"].as_u64(), v["pools"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );

    let table = cuttle_c(&c, &["status"]).ok();
    assert!(
        table.contains(&format!("id:     {}", c.layout().fsid)),
        "{table}"
    );
    assert!(table.contains("health: HEALTH_"), "{table}");
    assert!(table.contains("mon: 3 daemons"), "{table}");
    assert!(table.contains("osd: 0 osds: 0 up, 0 in"), "{table}");

    // CUTTLE_CONF is used when -c is absent.
    let dir = tempfile::tempdir().unwrap();
    let via_env = cuttle_in(
        Some(dir.path()),
        &[("CUTTLE_CONF", &conf)],
        &["status", "--format", "json"],
    )
    .json();
    assert_eq!(via_env["fsid"], v["fsid"]);
}

#[tokio::test]
async fn health_and_mon_stat_describe_the_same_cluster() {
    let c = three_mons().await;
    let conf = conf(&c);
    let status = status_with_leader(&conf);

    let h = cuttle_c(&c, &["health", "--format", "json"]).json();
    let mut keys: Vec<&String> = h.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["checks", "health"], "{h}");
    assert!(HEALTHS.contains(&h["health"].as_str().unwrap()), "{h}");
    let table = cuttle_c(&c, &["health"]).ok();
    let first = table.lines().next().unwrap();
    assert!(HEALTHS.contains(&first), "{table}");

    let m = eventually(60, "mon stat with a leader", || {
        let m = cuttle_c(&c, &["mon", "stat", "--format", "json"]).json();
        (m["leader"].as_str().is_some_and(|l| !l.is_empty())).then_some(m)
    });
    let mons = m["monitors"].as_array().unwrap();
    assert_eq!(mons.len(), 3, "{m}");
    let leaders: Vec<&Value> = mons.iter().filter(|x| x["leader"] == true).collect();
    assert_eq!(leaders.len(), 1, "{m}");
    assert_eq!(leaders[0]["name"], m["leader"], "{m}");
    for mon in mons {
        let name = mon["name"].as_str().unwrap();
        assert_eq!(mon["addr"], c.layout().monitors[name], "{m}");
        assert!(mon["raft_id"].as_u64().is_some(), "{m}");
    }
    assert!(
        m["term"].as_u64().unwrap() >= status["term"].as_u64().unwrap(),
        "terms never go back: {m}"
    );

    let table = cuttle_c(&c, &["mon", "stat"]).ok();
    assert!(table.contains("NAME  RAFT_ID  ADDRESS"), "{table}");
    for (name, addr) in &c.layout().monitors {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(name.as_str()) && l.contains(addr.as_str())),
            "{table}"
        );
    }
}

#[tokio::test]
async fn a_stopped_monitor_shows_in_health_detail_and_writes_need_a_quorum() {
    let c = three_mons().await;
    let conf = conf(&c);
    status_with_leader(&conf);
    c.stop("mon.c").unwrap();

    // A leadership change may briefly show no quorum instead: poll until it settles.
    let h = eventually(60, "MON_DOWN in `cuttle health`", || {
        let h = cuttle(&["-c", &conf, "health", "--format", "json"]).json();
        let down = h["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == "MON_DOWN");
        down.then_some(h)
    });
    assert_eq!(
        h["health"], "HEALTH_WARN",
        "MON_DOWN is the only check: {h}"
    );
    let detail = eventually(60, "MON_DOWN in `cuttle health detail`", || {
        let d = cuttle(&["-c", &conf, "health", "detail"]).ok();
        d.contains("[WRN] MON_DOWN: 1 of 3 monitors down")
            .then_some(d)
    });
    assert!(detail.starts_with("HEALTH_WARN\n"), "{detail}");
    assert!(detail.contains("\n    mon.c unreachable\n"), "{detail}");
    assert!(detail.contains("\n    remedy: "), "{detail}");
    let brief = eventually(60, "MON_DOWN in `cuttle health`", || {
        let b = cuttle(&["-c", &conf, "health"]).ok();
        b.contains("MON_DOWN").then_some(b)
    });
    assert!(
        !brief.contains("remedy"),
        "plain health shows no remedies: {brief}"
    );
    assert!(
        !brief.contains("mon.c unreachable"),
        "plain health shows no detail: {brief}"
    );

    eventually(60, "mon.c listed as down in `cuttle status`", || {
        let t = cuttle(&["-c", &conf, "status"]).ok();
        (t.contains("; down: c") && t.contains("health: HEALTH_WARN")).then_some(t)
    });

    // With two of three monitors gone no change can commit.
    c.stop("mon.b").unwrap();
    let line = cuttle(&[
        "-c",
        &conf,
        "--timeout",
        "10",
        "pool",
        "create",
        "p",
        "--replicated",
        "1",
    ])
    .fails_with("no_quorum");
    assert!(
        line.starts_with("error: creating pool \"p\": no monitor quorum"),
        "{line}"
    );
    let s = eventually(60, "MON_QUORUM in `cuttle status`", || {
        let s = cuttle(&["-c", &conf, "status", "--format", "json"]).json();
        s["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["code"] == "MON_QUORUM")
            .then_some(s)
    });
    assert_eq!(s["health"], "HEALTH_ERR", "{s}");
    assert_eq!(s["quorum"], serde_json::json!([]), "{s}");
}
