//! `objectstore-bench`: throughput and latency of one OSD's object store on a real file
//! device, next to `fio` on the same file with the same block size and queue depth.
//!
//! Workloads (each runs for `--seconds`):
//! - `write 4MiB qd1|qd16`: new 4 MiB objects (`write_full`), 1 or 16 transactions in
//!   flight; compared with fio sequential 4 MiB writes at the same depth;
//! - `read 4MiB qd1|qd16`: whole-object reads of those objects (checksums verified);
//!   compared with fio sequential 4 MiB reads;
//! - `create 4KiB qd1|qd32`: new 4 KiB objects, each a durable transaction; compared with
//!   fio 4 KiB random writes at depth 32 (fio does not sync; our creates are durable).
//!
//! Prints a table, then (with `--format json`) one JSON document.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::Parser;
use cuttle_benches::{Latency, LatencyRecorder, peak_rss_bytes};
use cuttle_objectstore::{
    CollectionId, DiskStore, MkfsOptions, ObjectStore, StoreConfig, Transaction,
};
use serde::Serialize;

/// The OSD's allocator (see `cuttle-osd`), so the store's buffers behave as they do in
/// the daemon.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Benchmark the Cuttle object store against fio on the same disk")]
struct Args {
    /// Directory for the device file, metadata and fio's file (default: a temporary
    /// directory under ~/.cache/cuttle).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Size of the device file in bytes.
    #[arg(long, default_value_t = 8 << 30)]
    device_size: u64,
    /// Seconds per workload.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Skip the fio comparison.
    #[arg(long)]
    no_fio: bool,
    /// Output format.
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(Debug, Clone, Serialize)]
struct Row {
    workload: String,
    ops: u64,
    mb_s: f64,
    iops: f64,
    latency_ms: Latency,
    fio_mb_s: Option<f64>,
    fio_iops: Option<f64>,
    /// Ours divided by fio (bandwidth for 4 MiB, IOPS for 4 KiB).
    ratio: Option<f64>,
    /// Writes only: fio with an fdatasync after every `depth` writes — the same
    /// durability our acknowledged transactions have (MB/s or IOPS as for `ratio`).
    fio_synced: Option<f64>,
    /// Ours divided by `fio_synced`.
    ratio_synced: Option<f64>,
    target: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    device_bytes: u64,
    backend: String,
    rows: Vec<Row>,
    peak_rss_bytes: Option<u64>,
}

struct Measured {
    ops: u64,
    bytes: u64,
    secs: f64,
    lat: LatencyRecorder,
}

/// Runs `depth` workers calling `op(i)` with increasing i until the time is up.
async fn drive<F, Fut>(depth: usize, secs: f64, limit: u64, op: F) -> Result<Measured>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..depth {
        let op = op.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = LatencyRecorder::new();
            let mut bytes = 0u64;
            let mut ops = 0u64;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let t = Instant::now();
                bytes += op(i).await?;
                lat.record(t.elapsed());
                ops += 1;
            }
            Ok::<_, anyhow::Error>((ops, bytes, lat))
        }));
    }
    let mut m = Measured {
        ops: 0,
        bytes: 0,
        secs: 0.0,
        lat: LatencyRecorder::new(),
    };
    for t in tasks {
        let (ops, bytes, lat) = t.await??;
        m.ops += ops;
        m.bytes += bytes;
        m.lat.merge(&lat);
    }
    m.secs = start.elapsed().as_secs_f64();
    Ok(m)
}

fn row(name: &str, m: &Measured) -> Row {
    Row {
        workload: name.to_string(),
        ops: m.ops,
        mb_s: m.bytes as f64 / m.secs / 1e6,
        iops: m.ops as f64 / m.secs,
        latency_ms: m.lat.summary(),
        fio_mb_s: None,
        fio_iops: None,
        ratio: None,
        fio_synced: None,
        ratio_synced: None,
        target: None,
    }
}

/// Runs fio and returns (MB/s, IOPS) of its one job.
fn fio(
    file: &std::path::Path,
    size: u64,
    rw: &str,
    bs: &str,
    depth: u32,
    secs: f64,
    sync_every: Option<u32>,
) -> Result<(f64, f64)> {
    let mut cmd = Command::new("fio");
    if let Some(n) = sync_every {
        cmd.arg(format!("--fdatasync={n}"));
    }
    let out = cmd
        .args([
            "--name=ref",
            &format!("--filename={}", file.display()),
            &format!("--size={size}"),
            &format!("--rw={rw}"),
            &format!("--bs={bs}"),
            &format!("--iodepth={depth}"),
            "--direct=1",
            "--ioengine=io_uring",
            "--time_based",
            &format!("--runtime={}", secs.ceil() as u64),
            "--output-format=json",
        ])
        .output()
        .context("running fio")?;
    anyhow::ensure!(
        out.status.success(),
        "fio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("parsing fio output")?;
    let job = &v["jobs"][0];
    let side = if rw.contains("read") {
        &job["read"]
    } else {
        &job["write"]
    };
    let bw_bytes = side["bw_bytes"].as_f64().unwrap_or(0.0);
    let iops = side["iops"].as_f64().unwrap_or(0.0);
    Ok((bw_bytes / 1e6, iops))
}

fn have_fio() -> bool {
    Command::new("fio")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn print_table(r: &Report) {
    println!(
        "\nobject store on a {:.1} GiB file device ({} backend)",
        r.device_bytes as f64 / (1u64 << 30) as f64,
        r.backend
    );
    println!(
        "{:<20} {:>8} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10} {:>7} {:>7} {:>10} {:>7}",
        "workload",
        "ops",
        "MB/s",
        "IOPS",
        "avg ms",
        "p50 ms",
        "p99 ms",
        "fio MB/s",
        "fio IOPS",
        "ratio",
        "target",
        "fio+sync",
        "ratio"
    );
    for x in &r.rows {
        let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
        println!(
            "{:<20} {:>8} {:>10.1} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>10} {:>10} {:>7} {:>7} {:>10} {:>7}",
            x.workload,
            x.ops,
            x.mb_s,
            x.iops,
            x.latency_ms.avg,
            x.latency_ms.p50,
            x.latency_ms.p99,
            opt(x.fio_mb_s, 1),
            opt(x.fio_iops, 0),
            opt(x.ratio, 2),
            opt(x.target, 2),
            opt(x.fio_synced, 1),
            opt(x.ratio_synced, 2),
        );
    }
    if let Some(rss) = r.peak_rss_bytes {
        println!(
            "peak RSS of the benchmark process: {:.1} MiB",
            rss as f64 / (1 << 20) as f64
        );
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    let base = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
            let root = PathBuf::from(home).join(".cache/cuttle/bench");
            std::fs::create_dir_all(&root)?;
            root
        }
    };
    let dir = tempfile::tempdir_in(&base).context("creating bench directory")?;
    let device = dir.path().join("block");
    let meta = dir.path().join("db");
    let config = StoreConfig::default();
    let store = Arc::new(
        DiskStore::mkfs(
            &device,
            &meta,
            &MkfsOptions {
                osd_id: 0,
                fsid: uuid::Uuid::new_v4(),
                device_uuid: uuid::Uuid::new_v4(),
                create_size: Some(args.device_size),
                force: false,
            },
            &config,
        )
        .await?,
    );
    let c = CollectionId::new("bench")?;
    let mut t = Transaction::new();
    t.create_collection(&c);
    store.queue_transaction(t).await?;

    let big = Bytes::from(vec![0x5au8; 4 << 20]);
    let small = Bytes::from(vec![0xa5u8; 4096]);
    // Keep the data set within the device: at most 60% of it in 4 MiB objects.
    let max_big = (args.device_size / 2 * 6 / 10) / (4 << 20);
    let mut rows = Vec::new();
    let progress = |name: &str| eprintln!("running {name} for {:.0} s ...", args.seconds);

    let mut written = 0u64;
    for (name, depth) in [("write 4MiB qd1", 1usize), ("write 4MiB qd16", 16)] {
        progress(name);
        let (s, c2, data, base_i) = (store.clone(), c.clone(), big.clone(), written);
        // Depth 1 may take a third of the objects that fit, depth 16 the rest (on a
        // fast disk, depth 1 alone could fill the budget within its time).
        let cap = if depth == 1 {
            max_big / 3
        } else {
            max_big - written
        };
        let m = drive(depth, args.seconds, cap, move |i| {
            let (s, c2, data) = (s.clone(), c2.clone(), data.clone());
            async move {
                let mut t = Transaction::new();
                t.write_full(&c2, &format!("big{:08}", base_i + i), data);
                s.queue_transaction(t).await?;
                Ok(4 << 20)
            }
        })
        .await?;
        written += m.ops;
        rows.push(row(name, &m));
        eprintln!("  commit pipeline so far: {:?}", store.commit_counters());
    }
    for (name, depth) in [("read 4MiB qd1", 1usize), ("read 4MiB qd16", 16)] {
        progress(name);
        let (s, c2, n) = (store.clone(), c.clone(), written.max(1));
        let m = drive(depth, args.seconds, u64::MAX, move |i| {
            let (s, c2) = (s.clone(), c2.clone());
            async move {
                let b = s
                    .read(&c2, &format!("big{:08}", i % n), 0, u64::MAX)
                    .await?;
                Ok(b.len() as u64)
            }
        })
        .await?;
        rows.push(row(name, &m));
    }
    let mut created = 0u64;
    for (name, depth) in [("create 4KiB qd1", 1usize), ("create 4KiB qd32", 32)] {
        progress(name);
        let (s, c2, data, base_i) = (store.clone(), c.clone(), small.clone(), created);
        let m = drive(depth, args.seconds, u64::MAX, move |i| {
            let (s, c2, data) = (s.clone(), c2.clone(), data.clone());
            async move {
                let mut t = Transaction::new();
                t.write_full(&c2, &format!("small{:010}", base_i + i), data);
                s.queue_transaction(t).await?;
                Ok(4096)
            }
        })
        .await?;
        created += m.ops;
        rows.push(row(name, &m));
        eprintln!("  commit pipeline so far: {:?}", store.commit_counters());
    }
    let backend = store.backend().to_string();
    if let Ok(s) = Arc::try_unwrap(store) {
        s.close().await;
    }

    if !args.no_fio && have_fio() {
        let fio_file = dir.path().join("fio.dat");
        let size = args.device_size / 2;
        let refs: [(usize, &str, &str, u32, bool, f64); 6] = [
            (0, "write", "4M", 1, true, 0.8),
            (1, "write", "4M", 16, true, 0.8),
            (2, "read", "4M", 1, true, 0.8),
            (3, "read", "4M", 16, true, 0.8),
            (4, "randwrite", "4k", 1, false, 0.2),
            (5, "randwrite", "4k", 32, false, 0.2),
        ];
        eprintln!("running fio on the same disk ...");
        for (i, rw, bs, depth, by_bw, target) in refs {
            let (mb, iops) = fio(&fio_file, size, rw, bs, depth, args.seconds, None)?;
            let synced = if rw.contains("write") {
                let (smb, siops) = fio(&fio_file, size, rw, bs, depth, args.seconds, Some(depth))?;
                Some(if by_bw { smb } else { siops })
            } else {
                None
            };
            let r = &mut rows[i];
            let ours = if by_bw { r.mb_s } else { r.iops };
            r.fio_mb_s = Some(mb);
            r.fio_iops = Some(iops);
            r.ratio = Some(ours / if by_bw { mb } else { iops });
            r.fio_synced = synced;
            r.ratio_synced = synced.map(|s| ours / s);
            if i == 1 || i == 3 || i == 5 {
                r.target = Some(target);
            }
        }
    } else {
        eprintln!("fio not installed or --no-fio: no reference figures");
    }
    let report = Report {
        device_bytes: args.device_size,
        backend,
        rows,
        peak_rss_bytes: peak_rss_bytes(),
    };
    print_table(&report);
    if args.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}
