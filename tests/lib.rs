//! `cuttle-tests`: cluster tests with real daemon processes (`cases/`), and the helpers
//! they share: starting a cluster with fast timers, waiting for conditions, patterns.

use std::time::{Duration, Instant};

use cuttle_cluster::{LocalSpec, MonTiming, TestCluster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Timers that make failures quick to observe in tests.
pub fn fast_timing() -> MonTiming {
    MonTiming {
        osd_heartbeat_grace_secs: 3,
        osd_down_out_interval_secs: 600,
        raft_heartbeat_ms: 100,
        election_timeout_min_ms: 400,
        election_timeout_max_ms: 800,
        ping_interval_ms: 250,
        write_timeout_secs: 3,
    }
}

/// Fails, naming the build command, when one of the `programs` (daemons, `cuttle`) is
/// not in the target directory the cluster tests start them from.
pub fn require_binaries(programs: &[&str]) {
    let bins = cuttle_cluster::bin_dir();
    for b in programs {
        assert!(
            bins.join(b).is_file(),
            "{b} is not built in {}: run `cargo build --workspace --bins` (`./setup.sh test` does it)",
            bins.display()
        );
    }
}

/// A test cluster's spec: `mons` monitors, `osds` OSDs of 512 MiB (one per simulated
/// host), the default pools with `pg_num` PGs each, fast timers, no TLS.
pub fn spec(mons: usize, osds: usize, pg_num: u32) -> LocalSpec {
    LocalSpec {
        mons,
        osds,
        osd_size: 512 << 20,
        default_pools: true,
        pg_num,
        timing: fast_timing(),
        osd_heartbeat_ms: 500,
        tls: false,
    }
}

/// A cluster of 3 monitors and `osds` OSDs (one per simulated host) with the default
/// pools, up and healthy.
pub async fn cluster(osds: usize) -> TestCluster {
    require_binaries(&["cuttle-mon", "cuttle-osd"]);
    let c = TestCluster::start(spec(3, osds, 16))
        .await
        .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    assert_eq!(
        c.report.health, "HEALTH_OK",
        "cluster not healthy: {:?}",
        c.report.checks
    );
    c
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `cuttle-store-tool` with `args` on the store of the OSD whose files are in
/// `osd_dir` (the OSD must be stopped) and returns its standard output.
pub fn store_tool(osd_dir: &std::path::Path, args: &[&str]) -> String {
    let tool = cuttle_cluster::bin_dir().join("cuttle-store-tool");
    let out = std::process::Command::new(&tool)
        .arg("--device")
        .arg(osd_dir.join("block"))
        .arg("--meta")
        .arg(osd_dir.join("db"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()));
    assert!(
        out.status.success(),
        "store tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic pseudo-random bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An HTTP/1.1 answer: status, the header block in lower case, body.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status code.
    pub status: u16,
    /// Status line and headers, lower-cased (for `contains` checks).
    pub head: String,
    /// Body, lossily decoded.
    pub body: String,
}

/// One plain HTTP/1.1 request without a body over a fresh connection. Panics when the
/// server cannot be reached or answers with no status line.
#[allow(clippy::unwrap_used)]
pub async fn http(addr: &str, method: &str, path: &str) -> HttpAnswer {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line from {addr}: {head:?}"));
    HttpAnswer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}
