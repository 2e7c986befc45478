//! Helpers for driving the real `cuttle` binary against real monitor processes.
//!
//! The monitors are started from the `cuttle-mon` binary in the same target directory
//! as the test (see `cuttle_cluster::bin_dir`), like the OSDs and gateways; build them
//! first with `CARGO_TARGET_DIR=<same dir> cargo build --workspace --bins` (`./setup.sh
//! test` does; `cargo test` alone builds only the binaries of packages with integration
//! tests, so others could be stale).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cuttle_cluster::{LocalCluster, LocalSpec, MonTiming, TestCluster};
use serde_json::Value;

/// Fast elections; OSD timers long enough that nothing changes an OSD behind a test's
/// back.
pub fn timing() -> MonTiming {
    MonTiming {
        osd_heartbeat_grace_secs: 3600,
        osd_down_out_interval_secs: 3600,
        raft_heartbeat_ms: 100,
        election_timeout_min_ms: 400,
        election_timeout_max_ms: 800,
        ping_interval_ms: 250,
        write_timeout_secs: 3,
    }
}

/// Fails with instructions when the monitor binary has not been built.
pub fn require_mon_binary() {
    for bin in ["cuttle-mon", "cuttle-osd"] {
        let path = cuttle_cluster::bin_dir().join(bin);
        assert!(
            path.is_file(),
            "{} is missing: build it into the same target directory first \
             (`cargo build --workspace --bins` with the same CARGO_TARGET_DIR)",
            path.display()
        );
    }
}

/// A running 3-monitor cluster without OSDs in a temporary directory (killed on drop).
/// (These tests expect an empty map: no OSD daemons, no default pools.)
pub async fn three_mons() -> TestCluster {
    require_mon_binary();
    TestCluster::start(LocalSpec {
        mons: 3,
        osds: 0,
        default_pools: false,
        timing: timing(),
        ..LocalSpec::default()
    })
    .await
    .unwrap()
}

/// The outcome of one `cuttle` invocation.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "cuttle failed: {self:?}");
        assert!(self.stderr.is_empty(), "unexpected stderr: {self:?}");
        self.stdout
    }

    /// Asserts success and parses stdout as one JSON document.
    pub fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Asserts a runtime failure (exit 1) with one `error: ...` line naming `code`,
    /// nothing on stdout; returns the line.
    pub fn fails_with(self, code: &str) -> String {
        assert_eq!(self.code, 1, "expected exit code 1: {self:?}");
        assert!(self.stdout.is_empty(), "stdout on failure: {self:?}");
        let line = self.stderr.trim_end();
        assert!(!line.contains('\n'), "error is not one line: {self:?}");
        assert!(line.starts_with("error: "), "{self:?}");
        assert!(
            line.ends_with(&format!("({code})")),
            "expected code {code}: {self:?}"
        );
        line.to_string()
    }
}

/// Runs `cuttle args` with `CUTTLE_CONF` unset, in `dir` when given.
pub fn cuttle_in(dir: Option<&Path>, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cuttle"));
    cmd.args(args).env_remove("CUTTLE_CONF");
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cuttle args` with `CUTTLE_CONF` unset.
pub fn cuttle(args: &[&str]) -> Run {
    cuttle_in(None, &[], args)
}

/// Runs `cuttle -c <cluster's conf> args`.
pub fn cuttle_c(c: &TestCluster, args: &[&str]) -> Run {
    let conf = conf(c);
    let mut all = vec!["-c", conf.as_str()];
    all.extend_from_slice(args);
    cuttle(&all)
}

/// The cluster's `cuttle.toml`, as text.
pub fn conf(c: &TestCluster) -> String {
    c.conf_path().display().to_string()
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub fn eventually<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `status --format json` once it names a leader.
pub fn status_with_leader(conf: &str) -> Value {
    eventually(60, "a leader in `cuttle status`", || {
        let v = cuttle(&["-c", conf, "status", "--format", "json"]).json();
        (v["leader"].as_str().is_some_and(|l| !l.is_empty())).then_some(v)
    })
}

/// Stops every daemon of the cluster in its directory when dropped (a test that runs
/// `cuttle cluster up` itself holds one, so a failed assertion leaves nothing running).
pub struct StopOnDrop(pub PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(c) = LocalCluster::open(&self.0) {
            let _ = c.stop_all();
        }
    }
}
