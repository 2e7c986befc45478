//! The monitor's dashboard: every monitor serves the same `/api/status` (a follower's
//! comes from the leader), object writes show up as pool usage and client throughput,
//! and the page itself renders in headless Chromium — its DOM lists the OSD tree and
//! pools, and a screenshot shows the health banner in the health's colour.
//!
//! Needs Debian's `chromium` (installed by `./setup.sh test`); `CUTTLE_CHROMIUM` names
//! another browser binary. Nothing waits on a timer: the page is rendered with a
//! virtual-time budget, and the usage figures are polled until they appear.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use cuttle_client::Cluster;
use cuttle_cluster::TestCluster;
use cuttle_tests::{eventually, pattern, spec};
use serde_json::Value;

const OBJECTS: u64 = 12;
const OBJECT_SIZE: usize = 96 << 10;

/// One HTTP/1.1 GET over a fresh connection: (status, headers in lower case, body).
async fn get(addr: &str, path: &str) -> (u16, String, String) {
    let a = cuttle_tests::http(addr, "GET", path).await;
    (a.status, a.head, a.body)
}

async fn api_status(addr: &str) -> Value {
    let (status, _, body) = get(addr, "/api/status").await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Each monitor's dashboard address (`host:port`), by name.
fn dashboards(c: &TestCluster) -> BTreeMap<String, String> {
    c.states()
        .unwrap()
        .into_iter()
        .filter(|s| s.name.starts_with("mon."))
        .map(|s| {
            let url = s
                .metrics
                .unwrap_or_else(|| panic!("{} serves no HTTP", s.name));
            let addr = url
                .trim_start_matches("http://")
                .trim_end_matches("/metrics");
            (s.name, addr.to_string())
        })
        .collect()
}

fn pool<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["pools"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no pool {name} in {doc}"))
}

fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CUTTLE_CHROMIUM") {
        return PathBuf::from(p);
    }
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("headless Chromium not found (install Debian's `chromium`: ./setup.sh test does)");
}

/// Runs headless Chromium on `url` with `extra` arguments, letting the page's scripts
/// run for 6 s of virtual time (network waits do not use it up).
fn browse(profile: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--virtual-time-budget=6000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("running chromium: {e}"));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The screenshot's size and how many of its pixels have each of `colours` (RGB, a
/// small tolerance for anti-aliasing), plus the number of distinct colours.
fn pixels(png_path: &Path, colours: &[[u8; 3]]) -> ((u32, u32), Vec<usize>, usize) {
    let file = std::fs::File::open(png_path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    let mut counts = vec![0; colours.len()];
    let mut distinct = std::collections::HashSet::new();
    for px in buf[..info.buffer_size()].chunks_exact(step) {
        distinct.insert([px[0], px[1], px[2]]);
        for (i, c) in colours.iter().enumerate() {
            if (0..3).all(|k| px[k].abs_diff(c[k]) <= 6) {
                counts[i] += 1;
            }
        }
    }
    ((info.width, info.height), counts, distinct.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_dashboard_shows_the_cluster() {
    // Fail before starting a cluster if there is no browser.
    chromium();
    let c = TestCluster::start(spec(3, 3, 8))
        .await
        .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    assert_eq!(c.report.health, "HEALTH_OK", "{:?}", c.report.checks);
    let mons = dashboards(&c);
    assert_eq!(mons.len(), 3, "{mons:?}");

    // Traffic: a known number of objects and bytes in `rep`, each read back.
    let client = Cluster::connect(&c.conf()).await.unwrap();
    let io = client.pool("rep").await.unwrap();
    for i in 0..OBJECTS {
        let data = pattern(i, OBJECT_SIZE);
        io.write_full(&format!("dash-{i}"), Bytes::from(data))
            .await
            .unwrap();
        assert_eq!(
            io.read(&format!("dash-{i}"), 0, 0).await.unwrap().len(),
            OBJECT_SIZE
        );
    }

    // The primaries count the PGs, the leader sums them, and the sampler turns the
    // OSDs' counters into a rate: all visible through any monitor.
    let first = mons.values().next().unwrap().clone();
    let doc = eventually(60, "pool usage and client I/O on the dashboard", || {
        let addr = first.clone();
        async move {
            let doc = api_status(&addr).await;
            let rep = pool(&doc, "rep");
            let counted = rep["pgs_uncounted"] == 0
                && rep["objects"] == OBJECTS
                && rep["bytes"] == OBJECTS * OBJECT_SIZE as u64;
            let wrote = doc["io_history"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|s| s["write_bytes_per_sec"].as_f64() > Some(0.0))
            });
            (counted && wrote).then_some(doc)
        }
    })
    .await;
    let hosts = doc["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3, "one OSD per simulated host: {doc}");
    for h in hosts {
        for o in h["osds"].as_array().unwrap() {
            assert_eq!(o["up"], true, "{o}");
            assert_eq!(o["in"], true, "{o}");
            assert!(
                o["bytes_total"].as_u64() > Some(0),
                "device usage reported: {o}"
            );
        }
    }
    assert_eq!(doc["osds"]["up"], 3);
    assert_eq!(pool(&doc, "ec")["objects"], 0);
    assert_eq!(pool(&doc, "ec")["redundancy"], "EC 2+1");
    // The CLI's status carries the same figures.
    let st = c.client().unwrap().status().await.unwrap();
    let rep = st.pool_usage.iter().find(|p| p.name == "rep").unwrap();
    assert_eq!(
        (rep.objects, rep.bytes),
        (OBJECTS, OBJECTS * OBJECT_SIZE as u64)
    );

    // Every monitor answers with the leader's view.
    for (name, addr) in &mons {
        let d = api_status(addr).await;
        assert_eq!(d["fsid"], doc["fsid"], "{name}");
        assert!(
            !d["leader"].as_str().unwrap_or("").is_empty(),
            "{name}: {d}"
        );
        assert_eq!(pool(&d, "rep")["objects"], OBJECTS, "{name}: {d}");
        let (status, head, body) = get(addr, "/").await;
        assert_eq!(status, 200, "{name}");
        assert!(head.contains("content-type: text/html"), "{head}");
        assert!(
            head.contains("content-security-policy: default-src 'self'"),
            "{head}"
        );
        assert!(body.contains("<script src=\"/dashboard.js\""), "{body}");
        assert_eq!(get(addr, "/nothing-here").await.0, 404);
    }

    // The page in a real browser: the scripts fetch the status and build the tables.
    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{first}/");
    let dom = String::from_utf8(browse(profile.path(), &url, &["--dump-dom"]).stdout).unwrap();
    assert!(
        dom.contains("data-loaded=\"true\""),
        "the script rendered: {dom}"
    );
    let health = doc["health"].as_str().unwrap().to_string();
    assert!(health.starts_with("HEALTH_"), "{health}");
    for want in [
        "data-osd=\"0\"".to_string(),
        "data-osd=\"1\"".to_string(),
        "data-osd=\"2\"".to_string(),
        ">osd.2<".to_string(),
        "data-pool=\"rep\"".to_string(),
        "data-pool=\"ec\"".to_string(),
        ">EC 2+1<".to_string(),
        format!(">{OBJECTS}<"),
        "<polyline class=\"write\" points=\"".to_string(),
        "<circle class=\"write-dot\"".to_string(),
        "active+clean".to_string(),
    ] {
        assert!(
            dom.contains(&want),
            "{want} missing from the rendered page:\n{dom}"
        );
    }
    assert!(
        dom.contains("data-health=\"HEALTH_"),
        "the banner shows a health, not an error: {dom}"
    );

    // The screenshot: the style sheet applied — the banner in the health's colour as a
    // band across the window, the up/in badges in theirs (the graph's dots and line are
    // too small to count reliably; the DOM check above covers them).
    let shot = profile.path().join("dashboard.png");
    browse(
        profile.path(),
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
        ],
    );
    let banner = match health.as_str() {
        "HEALTH_OK" => [0x2e, 0x7d, 0x32],
        "HEALTH_WARN" => [0xe0, 0xa0, 0x00],
        _ => [0xc6, 0x28, 0x28],
    };
    let up_badge = [0x1a, 0x7f, 0x37];
    let ((w, h), counts, distinct) = pixels(&shot, &[banner, up_badge]);
    assert_eq!((w, h), (1280, 900), "screenshot size");
    assert!(
        counts[0] > 1280 * 40,
        "the {health} banner fills a band of the page: {} pixels",
        counts[0]
    );
    assert!(counts[1] > 0, "up/in badges drawn");
    assert!(
        distinct > 50,
        "a rendered page, not a blank one: {distinct} colours"
    );
}
