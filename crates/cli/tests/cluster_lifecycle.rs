//! `cuttle cluster up|status|down` on a temporary directory: the real binary starts
//! real monitors and OSDs with the default pools, stops exactly them, and `up` on the
//! same directory restarts the same cluster with its data. A guard stops whatever the
//! directory describes when the test ends, even when an assertion fails.
//!
//! Needs the `cuttle-mon` and `cuttle-osd` binaries in the same target directory: run
//! `cargo build -p cuttle-mon -p cuttle-osd` before `cargo test -p cuttle-cli`
//! (`cargo test --workspace` builds them on its own).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{StopOnDrop, cuttle, cuttle_in, require_mon_binary, status_with_leader};
use cuttle_cluster::Layout;
use serde_json::Value;

fn names(daemons: &Value) -> Vec<String> {
    daemons
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect()
}

fn all(daemons: &Value, key: &str, want: bool) -> bool {
    daemons.as_array().unwrap().iter().all(|d| d[key] == want)
}

fn pid_alive(pid: u64) -> bool {
    // A zombie (exited, not yet reaped by its new parent) counts as gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
        .unwrap_or(false)
}

#[test]
fn cluster_up_status_down_and_up_again() {
    require_mon_binary();
    let tmp = tempfile::tempdir().unwrap();
    let dir: &Path = &tmp.path().join("cl");
    let _guard = StopOnDrop(dir.to_path_buf());
    let d = dir.to_str().unwrap();

    // First `up`, with a relative --dir: paths in the output are absolute.
    let up = cuttle_in(
        Some(tmp.path()),
        &[],
        &[
            "cluster",
            "up",
            "--dir",
            "cl",
            "--osd-size",
            "256M",
            "--format",
            "json",
        ],
    )
    .json();
    let conf = dir.join("cuttle.toml");
    assert_eq!(up["dir"], d, "{up}");
    assert_eq!(up["conf"], conf.to_str().unwrap(), "{up}");
    let everyone = [
        "mon.a", "mon.b", "mon.c", "osd.0", "osd.1", "osd.2", "rgw.0",
    ];
    assert_eq!(names(&up["daemons"]), everyone, "{up}");
    assert!(
        all(&up["daemons"], "running", true) && all(&up["daemons"], "started", true),
        "{up}"
    );
    assert_eq!(up["health"], "HEALTH_OK", "{up}");
    assert_eq!(up["checks"], serde_json::json!([]), "{up}");
    assert_eq!(
        up["pools_created"],
        serde_json::json!(["ec", "rep", ".rgw.meta", ".rgw.index", ".rgw.data"]),
        "the default pools and the gateway's: {up}"
    );
    let endpoints = up["s3_endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "one gateway by default: {up}");
    assert!(
        endpoints[0]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{up}"
    );
    assert_eq!(up["s3_admin"]["uid"], "admin", "{up}");
    let fsid = Layout::load(dir).unwrap().fsid;
    assert_eq!(up["fsid"], fsid.to_string());
    let pids: Vec<u64> = up["daemons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["pid"].as_u64().unwrap())
        .collect();
    assert!(pids.iter().all(|&p| pid_alive(p)), "{up}");

    // The daemons outlived `cluster up`, and the printed configuration reaches them.
    let conf_s = conf.to_str().unwrap();
    let status = status_with_leader(conf_s);
    // Store an object; it must survive `down` and `up`.
    let payload = tmp.path().join("payload");
    std::fs::write(&payload, b"persistent bytes").unwrap();
    cuttle(&[
        "-c",
        conf_s,
        "object",
        "put",
        "ec",
        "hello",
        payload.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(status["fsid"], fsid.to_string());
    let epoch_before = status["epoch"].as_u64().unwrap();
    // `cuttle bench`: write, then read back (verified) what it wrote, then clean up.
    // Small objects and two in flight: a second of writes must not fill the 256 MiB
    // OSDs however fast the machine is.
    let bench = |mode: &str| {
        cuttle(&[
            "-c",
            conf_s,
            "--format",
            "json",
            "bench",
            "ec",
            mode,
            "--seconds",
            "1",
            "--concurrency",
            "2",
            "--object-size",
            "16384",
            "--no-cleanup",
        ])
        .json()
    };
    let written = bench("write");
    assert!(written["ops"].as_u64().unwrap() > 0, "{written}");
    for mode in ["write", "seq", "rand"] {
        let r = if mode == "write" {
            written.clone()
        } else {
            bench(mode)
        };
        assert_eq!(r["errors"], 0, "{mode}: {r}");
        assert_eq!(r["pool_full"], false, "{mode}: {r}");
        assert!(r["bandwidth_mib_s"].as_f64().unwrap() > 0.0, "{mode}: {r}");
        for k in ["avg", "p50", "p99", "max"] {
            assert!(
                r["latency_ms"][k].as_f64().unwrap() > 0.0,
                "{mode} {k}: {r}"
            );
        }
    }
    let cleaned = cuttle(&["-c", conf_s, "--format", "json", "bench", "ec", "cleanup"]).json();
    assert_eq!(
        cleaned["objects"], written["ops"],
        "{cleaned} after {written}"
    );

    // `up` again while running starts nothing and prints the export line.
    let again = cuttle(&["cluster", "up", "--dir", d]).ok();
    assert!(again.contains("was already running"), "{again}");
    assert!(
        again.ends_with(&format!("export CUTTLE_CONF={conf_s}\n")),
        "{again}"
    );

    let st = cuttle(&["cluster", "status", "--dir", d, "--format", "json"]).json();
    assert_eq!(names(&st["daemons"]), everyone, "{st}");
    assert!(all(&st["daemons"], "running", true), "{st}");
    assert!(st["daemons"][0].get("started").is_none(), "{st}");
    let metrics_urls = st["daemons"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .filter(|d| {
                    d["metrics"]
                        .as_str()
                        .is_some_and(|u| u.ends_with("/metrics"))
                })
                .count()
        })
        .unwrap_or(0);
    assert_eq!(
        metrics_urls,
        everyone.len(),
        "every daemon serves metrics: {st}"
    );
    let table = cuttle(&["cluster", "status", "--dir", d]).ok();
    assert!(table.contains("7 of 7 daemons running"), "{table}");
    let header: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "PID", "RUNNING", "ADDRESS", "METRICS", "LOG"],
        "{table}"
    );
    assert!(
        table.contains(&dir.join("mon.a.log").display().to_string()),
        "{table}"
    );

    // `down` returns once every daemon has exited.
    let down = cuttle(&["cluster", "down", "--dir", d, "--format", "json"]).json();
    let stopped: Vec<&str> = down["stopped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(stopped, everyone, "{down}");
    assert!(all(&down["daemons"], "running", false), "{down}");
    assert!(
        pids.iter().all(|&p| !pid_alive(p)),
        "daemons still alive after down: {pids:?}"
    );
    let st = cuttle(&["cluster", "status", "--dir", d, "--format", "json"]).json();
    assert!(all(&st["daemons"], "running", false), "{st}");
    let table = cuttle(&["cluster", "down", "--dir", d]).ok();
    assert!(table.starts_with("nothing was running"), "{table}");
    cuttle(&["-c", conf_s, "--timeout", "1", "status"]).fails_with("unreachable");

    // `up` on the same directory restarts the same cluster with its data.
    let table = cuttle(&["cluster", "up", "--dir", d, "--mons", "5"]).ok();
    assert!(
        table.contains("started mon.a, mon.b, mon.c, osd.0, osd.1, osd.2, rgw.0"),
        "{table}"
    );
    assert!(table.contains("health: HEALTH_OK"), "{table}");
    assert!(table.contains("--mons 5 is ignored"), "{table}");
    assert!(table.contains(&format!("config: {conf_s}\n")), "{table}");
    assert_eq!(
        Layout::load(dir).unwrap().fsid,
        fsid,
        "cuttle.toml was rewritten"
    );
    let status = status_with_leader(conf_s);
    assert_eq!(status["fsid"], fsid.to_string());
    assert!(
        status["epoch"].as_u64().unwrap() >= epoch_before,
        "the map went back: {status}"
    );

    let got = cuttle(&["-c", conf_s, "object", "get", "ec", "hello"]).ok();
    assert_eq!(
        got, "persistent bytes",
        "data written before `down` is read back after `up`"
    );
    let down = cuttle(&["cluster", "down", "--dir", d, "--format", "json"]).json();
    assert_eq!(down["stopped"].as_array().unwrap().len(), 7, "{down}");
}
