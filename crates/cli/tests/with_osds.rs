//! Pool and OSD administration on a real 3-monitor cluster with three registered OSDs
//! on three hosts. No OSD daemon exists yet: the test registers OSDs over the real
//! `BootOsd` RPC (as an OSD would when it starts), and the monitors' OSD timers are
//! long, so only the commands under test change OSD states.
//!
//! Needs the `cuttle-mon` binary in the same target directory: with a separate target
//! directory run `CARGO_TARGET_DIR=<dir> cargo build -p cuttle-mon` before
//! `cargo test -p cuttle-cli` (`cargo test --workspace` builds it on its own).
#![allow(clippy::unwrap_used)]

mod common;

use common::{conf, cuttle_c, status_with_leader, three_mons};
use cuttle_proto as pb;
use serde_json::{Value, json};

fn osd(tree: &Value, id: u64) -> Value {
    tree["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["osds"].as_array().unwrap())
        .find(|o| o["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("osd.{id} not in {tree}"))
}

#[tokio::test]
async fn pools_and_osd_states_on_a_cluster_with_osds() {
    let c = three_mons().await;
    status_with_leader(&conf(&c));
    let client = c.client().unwrap();
    for (n, host) in [(1u128, "node1"), (2, "node2"), (3, "node3")] {
        client
            .boot_osd(pb::BootOsdRequest {
                uuid: uuid::Uuid::from_u128(n).to_string(),
                host: host.into(),
                addr: format!("127.0.0.1:{}", 6800 + n),
                weight: 0,
            })
            .await
            .unwrap();
    }

    // The tree: three hosts, one OSD each, weight 1.0, up and in.
    let tree = cuttle_c(&c, &["osd", "tree", "--format", "json"]).json();
    let hosts: Vec<&str> = tree["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["node1", "node2", "node3"], "{tree}");
    assert_eq!(
        osd(&tree, 0),
        json!({"id": 0, "weight": 1.0, "up": true, "in": true, "addr": "127.0.0.1:6801"})
    );
    let table = cuttle_c(&c, &["osd", "tree"]).ok();
    assert!(table.contains("3.00000  root default"), "{table}");
    assert!(table.contains("1.00000      host node2"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains("osd.1") && l.contains(" up ") && l.contains(" in ")),
        "{table}"
    );

    // An erasure-coded pool fits on three hosts.
    let created = cuttle_c(
        &c,
        &["pool", "create", "ec", "--ec", "2+1", "--format", "json"],
    )
    .json();
    assert_eq!(created["name"], "ec", "{created}");
    assert_eq!(created["type"], "erasure", "{created}");
    assert_eq!(created["ec"]["k"], 2, "{created}");
    assert_eq!(created["ec"]["m"], 1, "{created}");
    assert_eq!(
        (created["size"].as_u64(), created["min_size"].as_u64()),
        (Some(3), Some(3)),
        "{created}"
    );
    assert_eq!(
        (
            created["pg_num"].as_u64(),
            created["failure_domain"].as_str()
        ),
        (Some(32), Some("host"))
    );
    assert_eq!(created["warning"], "", "{created}");
    let created_epoch = created["epoch"].as_u64().unwrap();
    assert!(created_epoch > tree["epoch"].as_u64().unwrap(), "{created}");

    let line =
        cuttle_c(&c, &["pool", "create", "ec", "--replicated", "3"]).fails_with("pool_exists");
    assert!(line.contains("pool \"ec\" already exists"), "{line}");
    let line = cuttle_c(&c, &["pool", "create", "wide", "--ec", "4+2"])
        .fails_with("not_enough_failure_domains");
    assert!(
        line.contains("needs 6 distinct hosts") && line.contains("has 3 host(s)"),
        "{line}"
    );

    // With one OSD down, a new pool is created undersized and the warning is shown.
    let down = cuttle_c(&c, &["osd", "down", "0", "--format", "json"]).json();
    assert_eq!(
        (down["osd"].as_u64(), down["change"].as_str()),
        (Some(0), Some("down")),
        "{down}"
    );
    assert!(down["epoch"].as_u64().unwrap() > created_epoch, "{down}");
    let table = cuttle_c(
        &c,
        &[
            "pool",
            "create",
            "rep",
            "--replicated",
            "3",
            "--pg-num",
            "16",
            "--min-size",
            "2",
        ],
    )
    .ok();
    assert!(
        table.starts_with("created pool \"rep\" at map epoch "),
        "{table}"
    );
    assert!(table.contains("replicated 3"), "{table}");
    assert!(
        table.contains("warning: only 2 of the 3 hosts are up"),
        "{table}"
    );

    let get = cuttle_c(&c, &["pool", "get", "rep", "--format", "json"]).json();
    assert_eq!(
        get,
        json!({"id": get["id"], "name": "rep", "type": "replicated", "size": 3, "ec": null,
               "pg_num": 16, "failure_domain": "host", "min_size": 2})
    );
    let ls = cuttle_c(&c, &["pool", "ls", "--format", "json"]).json();
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ec", "rep"], "{ls}");
    let table = cuttle_c(&c, &["pool", "ls"]).ok();
    assert!(
        table
            .lines()
            .any(|l| l.contains(" ec ") && l.contains("erasure 2+1") && l.contains(" host ")),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3, "{table}");

    // Out and in.
    let out = cuttle_c(&c, &["osd", "out", "osd.2"]).ok();
    assert!(out.starts_with("marked osd.2 out; map epoch "), "{out}");
    let tree = cuttle_c(&c, &["osd", "tree", "--format", "json"]).json();
    assert_eq!(
        (osd(&tree, 2)["in"].as_bool(), osd(&tree, 0)["up"].as_bool()),
        (Some(false), Some(false))
    );
    let table = cuttle_c(&c, &["osd", "tree"]).ok();
    assert!(
        table
            .lines()
            .any(|l| l.contains("osd.2") && l.contains(" out ")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("osd.0") && l.contains(" down ")),
        "{table}"
    );
    cuttle_c(&c, &["osd", "in", "2"]).ok();
    let tree = cuttle_c(&c, &["osd", "tree", "--format", "json"]).json();
    assert_eq!(osd(&tree, 2)["in"], true, "{tree}");

    // Status counts what the map holds.
    let s = cuttle_c(&c, &["status", "--format", "json"]).json();
    assert_eq!(
        (
            s["osds"].as_u64(),
            s["osds_in"].as_u64(),
            s["pools"].as_u64()
        ),
        (Some(3), Some(3), Some(2)),
        "{s}"
    );

    // Removal needs the flag, then the pool is gone.
    cuttle_c(&c, &["pool", "rm", "ec"]).fails_with("confirmation_required");
    assert_eq!(
        cuttle_c(&c, &["pool", "get", "ec", "--format", "json"]).json()["name"],
        "ec"
    );
    let rm = cuttle_c(
        &c,
        &[
            "pool",
            "rm",
            "ec",
            "--yes-i-really-mean-it",
            "--format",
            "json",
        ],
    )
    .json();
    assert_eq!(rm["removed"], "ec", "{rm}");
    cuttle_c(&c, &["pool", "get", "ec"]).fails_with("no_such_pool");
    let ls = cuttle_c(&c, &["pool", "ls", "--format", "json"]).json();
    assert_eq!(ls.as_array().unwrap().len(), 1, "{ls}");
}
