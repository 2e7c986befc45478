//! The `cuttle` binary without a running cluster: usage errors, configuration
//! resolution and its failures, refusals that must happen before anything is sent,
//! and unreachable monitors.
//!
//! Run `CARGO_TARGET_DIR=<dir> cargo build -p cuttle-mon` first when using a separate
//! target directory: the other test files of this crate start real monitors from it
//! (`cargo test --workspace` builds it on its own).
#![allow(clippy::unwrap_used)]

mod common;

use common::{cuttle, cuttle_in};

#[test]
fn usage_errors_exit_with_2_and_name_the_problem() {
    let r = cuttle(&["pool", "create", "p"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("--ec <K+M>") && r.stderr.contains("--replicated <N>"),
        "{r:?}"
    );

    let r = cuttle(&["pool", "create", "p", "--ec", "2+1", "--replicated", "3"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("cannot be used with"), "{r:?}");

    for bad in ["2+", "+1", "2+1+1", "two+one", "0+1"] {
        let r = cuttle(&["pool", "create", "p", "--ec", bad]);
        assert_eq!(r.code, 2, "--ec {bad}: {r:?}");
        assert!(r.stderr.contains("--ec"), "{r:?}");
    }

    let r = cuttle(&[
        "pool",
        "create",
        "p",
        "--replicated",
        "3",
        "--failure-domain",
        "rack",
    ]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = cuttle(&["osd", "out", "seven"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("not an OSD id"), "{r:?}");
    let r = cuttle(&["status", "--format", "xml"]);
    assert_eq!(r.code, 2, "{r:?}");
    let r = cuttle(&["frobnicate"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.is_empty(), "{r:?}");

    let help = cuttle(&["--help"]).ok();
    for cmd in ["status", "health", "mon", "osd", "pool", "cluster"] {
        assert!(help.contains(cmd), "{cmd} missing from --help:\n{help}");
    }
}

#[test]
fn pool_rm_without_confirmation_refuses_before_reading_the_configuration() {
    // The configuration does not exist: had the command tried to reach a cluster, it
    // would have failed on that instead.
    let r = cuttle(&["-c", "/nonexistent/cuttle.toml", "pool", "rm", "data"]);
    let line = r.fails_with("confirmation_required");
    assert!(line.contains("refusing to remove pool \"data\""), "{line}");
    assert!(line.contains("--yes-i-really-mean-it"), "{line}");
    assert!(!line.contains("nonexistent"), "{line}");
}

#[test]
fn the_configuration_comes_from_the_flag_then_the_environment_then_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let d = Some(dir.path());
    let env = [("CUTTLE_CONF", "/from/env/cuttle.toml")];

    let line = cuttle_in(d, &env, &["-c", "/from/flag/cuttle.toml", "status"]).fails_with("config");
    assert!(line.contains("/from/flag/cuttle.toml"), "{line}");

    let line = cuttle_in(d, &env, &["status"]).fails_with("config");
    assert!(line.contains("/from/env/cuttle.toml"), "{line}");

    let line = cuttle_in(d, &[], &["status"]).fails_with("config");
    assert!(
        line.contains("cannot read cluster configuration cluster/cuttle.toml"),
        "{line}"
    );
    assert!(
        line.contains("cuttle cluster up"),
        "the hint is missing: {line}"
    );
}

#[test]
fn a_malformed_configuration_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("cuttle.toml");
    std::fs::write(&conf, "fsid = \"not a uuid\"\n").unwrap();
    let line = cuttle(&["-c", conf.to_str().unwrap(), "osd", "tree"]).fails_with("config");
    assert!(line.contains(conf.to_str().unwrap()), "{line}");
}

#[test]
fn unreachable_monitors_fail_within_the_timeout_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    // A port nobody listens on: bind it, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("cuttle.toml");
    std::fs::write(
        &conf,
        format!(
            "fsid = \"{}\"\nsecret = \"{}\"\n[monitors]\na = \"127.0.0.1:{port}\"\n",
            uuid::Uuid::new_v4(),
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let conf = conf.to_str().unwrap();
    let line = cuttle(&["-c", conf, "--timeout", "1", "status"]).fails_with("unreachable");
    assert!(
        line.starts_with("error: asking the monitors for status: no monitor reachable within 1s"),
        "{line}"
    );
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    let line = cuttle(&[
        "-c",
        conf,
        "--timeout",
        "1",
        "pool",
        "create",
        "p",
        "--ec",
        "2+1",
    ])
    .fails_with("unreachable");
    assert!(line.starts_with("error: creating pool \"p\": "), "{line}");
}

#[test]
fn cluster_commands_on_a_directory_without_a_cluster_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for cmd in ["status", "down"] {
        let line = cuttle(&["cluster", cmd, "--dir", d]).fails_with("no_cluster");
        assert!(line.contains("holds no Cuttle cluster"), "{line}");
        assert!(
            line.contains(&format!("cuttle cluster up --dir {d}")),
            "{line}"
        );
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing may be created"
    );
}
