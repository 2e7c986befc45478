//! Pool and OSD commands on a real 3-monitor cluster that has no OSDs yet: refusals
//! carry the monitors' codes and explanations, listings are empty, and `pool rm`
//! without confirmation sends nothing.
//!
//! Needs the `cuttle-mon` binary in the same target directory: with a separate target
//! directory run `CARGO_TARGET_DIR=<dir> cargo build -p cuttle-mon` before
//! `cargo test -p cuttle-cli` (`cargo test --workspace` builds it on its own).
#![allow(clippy::unwrap_used)]

mod common;

use common::{conf, cuttle_c, status_with_leader, three_mons};

#[tokio::test]
async fn pool_creation_is_refused_with_the_monitors_codes() {
    let c = three_mons().await;
    status_with_leader(&conf(&c));

    let line = cuttle_c(&c, &["pool", "create", "ec", "--ec", "2+1"])
        .fails_with("not_enough_failure_domains");
    assert!(line.starts_with("error: creating pool \"ec\": "), "{line}");
    assert!(line.contains("needs 3 distinct hosts"), "{line}");
    assert!(line.contains("has 0 host(s)"), "{line}");

    let line = cuttle_c(
        &c,
        &[
            "pool",
            "create",
            "ec",
            "--ec",
            "2+1",
            "--failure-domain",
            "osd",
        ],
    )
    .fails_with("not_enough_failure_domains");
    assert!(line.contains("needs 3 distinct osds"), "{line}");

    let line = cuttle_c(&c, &["pool", "create", "rep", "--replicated", "2"])
        .fails_with("not_enough_failure_domains");
    assert!(line.contains("needs 2 distinct hosts"), "{line}");

    // Definitions that are wrong whatever the cluster looks like.
    let line =
        cuttle_c(&c, &["pool", "create", "bad/name", "--ec", "2+1"]).fails_with("invalid_pool");
    assert!(line.contains("invalid pool name \"bad/name\""), "{line}");
    let line =
        cuttle_c(&c, &["pool", "create", "--ec", "2+1", "--", "-x"]).fails_with("invalid_pool");
    assert!(line.contains("invalid pool name \"-x\""), "{line}");
    let line = cuttle_c(
        &c,
        &["pool", "create", "ec", "--ec", "2+1", "--pg-num", "0"],
    )
    .fails_with("invalid_pool");
    assert!(line.contains("invalid pg_num 0"), "{line}");
    let line =
        cuttle_c(&c, &["pool", "create", "rep", "--replicated", "0"]).fails_with("invalid_pool");
    assert!(line.contains("invalid replica count 0"), "{line}");
    let line = cuttle_c(
        &c,
        &["pool", "create", "ec", "--ec", "2+1", "--min-size", "1"],
    )
    .fails_with("invalid_pool");
    assert!(line.contains("invalid min_size 1"), "{line}");
    let line = cuttle_c(&c, &["pool", "create", "wide", "--ec", "30+3"]).fails_with("invalid_pool");
    assert!(line.contains("k + m must be at most 32"), "{line}");

    assert_eq!(
        cuttle_c(&c, &["pool", "ls", "--format", "json"]).json(),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn an_empty_cluster_lists_nothing_and_refuses_unknown_names() {
    let c = three_mons().await;
    let before = status_with_leader(&conf(&c));

    assert_eq!(
        cuttle_c(&c, &["pool", "ls", "--format", "json"]).json(),
        serde_json::json!([])
    );
    let table = cuttle_c(&c, &["pool", "ls"]).ok();
    assert_eq!(table, "ID  NAME  TYPE  PG_NUM  FAILURE_DOMAIN  MIN_SIZE\n");

    let line = cuttle_c(&c, &["pool", "get", "data"]).fails_with("no_such_pool");
    assert!(line.contains("pool \"data\" does not exist"), "{line}");

    let tree = cuttle_c(&c, &["osd", "tree", "--format", "json"]).json();
    assert_eq!(tree["hosts"], serde_json::json!([]), "{tree}");
    assert!(tree["epoch"].as_u64().is_some(), "{tree}");
    let table = cuttle_c(&c, &["osd", "tree"]).ok();
    assert!(table.contains("root default"), "{table}");
    assert!(!table.contains("host "), "{table}");

    for change in ["out", "in", "down"] {
        let line = cuttle_c(&c, &["osd", change, "0"]).fails_with("no_such_osd");
        assert!(
            line.starts_with(&format!(
                "error: marking osd.0 {change}: osd.0 does not exist"
            )),
            "{line}"
        );
    }

    // Refused locally: nothing reaches the monitors, so the map does not change.
    let line = cuttle_c(&c, &["pool", "rm", "data"]).fails_with("confirmation_required");
    assert!(line.contains("--yes-i-really-mean-it"), "{line}");
    let line =
        cuttle_c(&c, &["pool", "rm", "data", "--yes-i-really-mean-it"]).fails_with("no_such_pool");
    assert!(
        line.starts_with("error: removing pool \"data\": pool \"data\" does not exist"),
        "{line}"
    );
    let after = cuttle_c(&c, &["status", "--format", "json"]).json();
    assert_eq!(
        after["epoch"], before["epoch"],
        "refusals must not change the map"
    );
}
