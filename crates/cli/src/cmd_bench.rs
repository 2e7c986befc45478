//! `cuttle bench POOL write|seq|rand|cleanup` (like `rados bench`) and `cuttle osd bench
//! N`.
//!
//! `write` keeps `--concurrency` object writes in flight for `--seconds`, each a new
//! object of `--object-size` bytes whose content is derived from its index, so `seq`
//! and `rand` (which read back the objects a `write --no-cleanup` left, recorded in the
//! object `bench_meta`) verify every byte and count mismatches as errors. A line per
//! second shows progress (stderr); the summary gives bandwidth, IOPS and latency from
//! an HDR histogram. A write that finds the pool's OSDs full (`no_space`) stops the run
//! early and says so (`pool_full`). JSON: `{mode, pool, seconds, ops, bytes,
//! bandwidth_mib_s, bandwidth_mb_s, iops, errors, pool_full, latency_ms: {avg, p50,
//! p99, max}}`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use cuttle_client::IoCtx;
use cuttle_proto as pb;
use cuttle_types::OsdId;
use hdrhistogram::Histogram;
use rand::Rng;
use serde::Serialize;

use crate::ctx::{Ctx, failed};
use crate::output::{self, Format, Report};

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Write new objects.
    Write,
    /// Read the objects of the last `write --no-cleanup` in order.
    Seq,
    /// Read them in random order.
    Rand,
    /// Remove the objects of the last `write --no-cleanup`.
    Cleanup,
}

/// Options of `cuttle bench`.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Pool name.
    pub pool: String,
    /// Mode.
    pub mode: Mode,
    /// Run time.
    pub seconds: u64,
    /// Operations in flight.
    pub concurrency: usize,
    /// Bytes per object (write).
    pub object_size: usize,
    /// Keep written objects for seq/rand.
    pub no_cleanup: bool,
}

const META: &str = "bench_meta";

/// Counters the workers update and the progress printer reads.
#[derive(Debug)]
struct Shared {
    /// Operations done.
    ops: AtomicU64,
    /// Bytes moved.
    bytes: AtomicU64,
    /// Failed operations or verification mismatches.
    errors: AtomicU64,
    /// A write found the pool's OSDs full: every worker stops.
    full: AtomicBool,
    /// Lowest index whose write failed (`u64::MAX`: none). The objects a
    /// `write --no-cleanup` leaves for `seq`/`rand` stop below it: a failed write leaves
    /// a gap that reads would count as errors.
    first_failed: AtomicU64,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            ops: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            full: AtomicBool::new(false),
            first_failed: AtomicU64::new(u64::MAX),
        }
    }
}

/// Benchmark object contents: one pseudo-random body per object size, with the
/// object's index stamped into its first 8 bytes, so every object differs, a misplaced
/// object is caught, and making or checking one costs a copy or a compare.
#[derive(Debug)]
struct Payload {
    body: Vec<u8>,
}

impl Payload {
    fn new(size: usize) -> Payload {
        let mut body = Vec::with_capacity(size + 8);
        let mut x: u64 = 0x5bd1_e995 ^ size as u64;
        while body.len() < size {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            body.extend_from_slice(&(z ^ (z >> 27)).to_le_bytes());
        }
        body.truncate(size);
        Payload { body }
    }

    fn stamp(index: u64) -> [u8; 8] {
        index.to_le_bytes()
    }

    /// The content of object `index`, written over `spare` (the buffer of an earlier
    /// write, once nothing else holds it) rather than into a fresh copy of the body:
    /// like `rados bench`, the client does not pay a 4 MiB copy and fresh pages per
    /// write (a twentieth of the machine at 250 writes/s).
    fn make(&self, index: u64, spare: Option<Bytes>) -> Bytes {
        let mut buf = spare
            .and_then(|b| b.try_into_mut().ok())
            .filter(|b| b.len() == self.body.len())
            .unwrap_or_else(|| BytesMut::from(&self.body[..]));
        let n = buf.len().min(8);
        buf[..n].copy_from_slice(&Self::stamp(index)[..n]);
        buf.freeze()
    }

    /// Whether `data` is exactly the content of object `index`.
    fn check(&self, index: u64, data: &[u8]) -> bool {
        let n = self.body.len().min(8);
        data.len() == self.body.len()
            && data[..n] == Self::stamp(index)[..n]
            && data[n..] == self.body[n..]
    }
}

fn object_name(index: u64) -> String {
    format!("bench_obj_{index:08}")
}

/// The summary of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Mode.
    pub mode: Mode,
    /// Pool.
    pub pool: String,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Operations completed.
    pub ops: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// MiB/s.
    pub bandwidth_mib_s: f64,
    /// MB/s (10^6 bytes).
    pub bandwidth_mb_s: f64,
    /// Operations per second.
    pub iops: f64,
    /// Failures and verification mismatches.
    pub errors: u64,
    /// The run stopped early because the pool's OSDs are full (`no_space`).
    pub pool_full: bool,
    /// Latency summary.
    pub latency_ms: Latency,
}

/// Latency summary, milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Mean.
    pub avg: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
}

impl Report for BenchReport {
    fn table(&self) -> String {
        format!(
            "Total time run:         {:.2} s\n\
             Total operations:       {}\n\
             Total bytes:            {}\n\
             Bandwidth (MiB/s):      {:.2}\n\
             Bandwidth (MB/s):       {:.2}\n\
             Average IOPS:           {:.1}\n\
             Errors:                 {}\n\
             Average latency (ms):   {:.2}\n\
             p50 latency (ms):       {:.2}\n\
             p99 latency (ms):       {:.2}\n\
             Max latency (ms):       {:.2}\n{}",
            self.seconds,
            self.ops,
            self.bytes,
            self.bandwidth_mib_s,
            self.bandwidth_mb_s,
            self.iops,
            self.errors,
            self.latency_ms.avg,
            self.latency_ms.p50,
            self.latency_ms.p99,
            self.latency_ms.max,
            if self.pool_full {
                "Stopped early:          the pool's OSDs are full (no_space); remove what \
                 `write --no-cleanup` left (`cuttle bench POOL cleanup`) or give OSDs more \
                 space (`cluster up --osd-size`)\n"
            } else {
                ""
            },
        )
    }
}

/// What `write --no-cleanup` records for the read modes.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
struct Meta {
    /// Objects `0..objects` were all written: the read modes use them.
    objects: u64,
    object_size: usize,
    /// Objects `0..attempted` may exist (writes above a failed one succeeded too):
    /// `cleanup` removes them all. Absent in metadata of older versions.
    #[serde(default)]
    attempted: u64,
}

fn new_hist() -> Histogram<u64> {
    // Constant, valid bounds: 1 µs to 10 min.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// Runs `cuttle bench`.
pub async fn bench(ctx: &Ctx, args: BenchArgs) -> Result<()> {
    if args.concurrency == 0 || args.seconds == 0 {
        bail!("--concurrency and --seconds must be at least 1 (bad_argument)");
    }
    let cluster = ctx.cluster().await?;
    let io = cluster
        .pool(&args.pool)
        .await
        .map_err(|e| failed(format_args!("opening pool {:?}", args.pool), &e))?;
    let (objects, size) = match args.mode {
        Mode::Cleanup => return remove_left_objects(ctx, &io).await,
        Mode::Write => (u64::MAX, args.object_size),
        Mode::Seq | Mode::Rand => {
            let raw = io.read(META, 0, 0).await.map_err(|e| {
                failed(
                    "reading the benchmark metadata (run `cuttle bench POOL write --no-cleanup` first)",
                    &e,
                )
            })?;
            let m: Meta = serde_json::from_slice(&raw).context("parsing the benchmark metadata")?;
            if m.objects == 0 {
                bail!("the last write benchmark left no objects (no_objects)");
            }
            (m.objects, m.object_size)
        }
    };
    let shared = Arc::new(Shared::default());
    let next = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (io, shared, next) = (io.clone(), shared.clone(), next.clone());
        workers.push(tokio::spawn(worker(
            io, args.mode, objects, size, deadline, next, shared,
        )));
    }
    let progress = {
        let shared = shared.clone();
        let quiet = ctx.format == Format::Json;
        tokio::spawn(async move {
            if !quiet {
                eprintln!(
                    "{:>5} {:>10} {:>10} {:>10} {:>10} {:>8}",
                    "sec", "ops", "cur MB/s", "avg MB/s", "IOPS", "errors"
                );
            }
            let mut last_bytes = 0u64;
            let mut last_ops = 0u64;
            let mut sec = 0u64;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                sec += 1;
                let ops = shared.ops.load(Ordering::Relaxed);
                let bytes = shared.bytes.load(Ordering::Relaxed);
                if !quiet {
                    eprintln!(
                        "{sec:>5} {ops:>10} {:>10.1} {:>10.1} {:>10} {:>8}",
                        (bytes - last_bytes) as f64 / 1e6,
                        bytes as f64 / 1e6 / start.elapsed().as_secs_f64(),
                        ops - last_ops,
                        shared.errors.load(Ordering::Relaxed)
                    );
                }
                last_bytes = bytes;
                last_ops = ops;
            }
        })
    };
    let mut hist = new_hist();
    let mut written = 0u64;
    for w in workers {
        let (h, max_index) = w.await.context("benchmark worker failed")?;
        hist.add(&h).ok();
        written = written.max(max_index);
    }
    progress.abort();
    let secs = start.elapsed().as_secs_f64();
    let ops = shared.ops.load(Ordering::Relaxed);
    let bytes = shared.bytes.load(Ordering::Relaxed);
    if args.mode == Mode::Write {
        let attempted = next.load(Ordering::Relaxed).min(written);
        if args.no_cleanup {
            let meta = serde_json::to_vec(&Meta {
                objects: attempted.min(shared.first_failed.load(Ordering::Relaxed)),
                object_size: size,
                attempted,
            })?;
            io.write_full(META, Bytes::from(meta))
                .await
                .map_err(|e| failed("recording the benchmark metadata", &e))?;
        } else {
            cleanup(&io, attempted, ctx.format == Format::Table).await?;
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let report = BenchReport {
        mode: args.mode,
        pool: args.pool,
        seconds: secs,
        ops,
        bytes,
        bandwidth_mib_s: bytes as f64 / secs / (1 << 20) as f64,
        bandwidth_mb_s: bytes as f64 / secs / 1e6,
        iops: ops as f64 / secs,
        errors: shared.errors.load(Ordering::Relaxed),
        pool_full: shared.full.load(Ordering::Relaxed),
        latency_ms: Latency {
            avg: if hist.is_empty() {
                0.0
            } else {
                hist.mean() / 1000.0
            },
            p50: ms(hist.value_at_quantile(0.5)),
            p99: ms(hist.value_at_quantile(0.99)),
            max: ms(hist.max()),
        },
    };
    output::emit(ctx.format, &report)
}

async fn worker(
    io: IoCtx,
    mode: Mode,
    objects: u64,
    size: usize,
    deadline: Instant,
    next: Arc<AtomicU64>,
    shared: Arc<Shared>,
) -> (Histogram<u64>, u64) {
    let mut hist = new_hist();
    let mut highest = 0u64;
    let payload = Payload::new(size);
    let mut spare: Option<Bytes> = None;
    while Instant::now() < deadline && !shared.full.load(Ordering::Relaxed) {
        let index = match mode {
            Mode::Write => next.fetch_add(1, Ordering::Relaxed),
            Mode::Seq => next.fetch_add(1, Ordering::Relaxed) % objects,
            Mode::Rand => rand::rng().random_range(0..objects),
            // `bench` removes them instead of running workers.
            Mode::Cleanup => break,
        };
        let name = object_name(index);
        let t = Instant::now();
        let ok = match mode {
            Mode::Write => {
                let data = payload.make(index, spare.take());
                let written = io.write_full(&name, data.clone()).await;
                spare = Some(data);
                match written {
                    Ok(_) => {
                        highest = highest.max(index + 1);
                        true
                    }
                    Err(e) => {
                        shared.first_failed.fetch_min(index, Ordering::Relaxed);
                        if e.code() == "no_space" {
                            shared.full.store(true, Ordering::Relaxed);
                        }
                        false
                    }
                }
            }
            Mode::Seq | Mode::Rand => match io.read(&name, 0, 0).await {
                Ok(d) => payload.check(index, &d),
                Err(_) => false,
            },
            Mode::Cleanup => break,
        };
        let us = t.elapsed().as_micros() as u64;
        if ok {
            let _ = hist.record(us.clamp(1, 600_000_000));
            shared.ops.fetch_add(1, Ordering::Relaxed);
            shared.bytes.fetch_add(size as u64, Ordering::Relaxed);
        } else {
            shared.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
    (hist, highest)
}

/// What `cleanup` removed.
#[derive(Debug, Clone, Serialize)]
pub struct CleanupReport {
    /// Pool.
    pub pool: String,
    /// Benchmark objects removed (those that existed among them).
    pub objects: u64,
}

impl Report for CleanupReport {
    fn table(&self) -> String {
        format!(
            "removed the {} objects of the last `write --no-cleanup` from pool {}\n",
            self.objects, self.pool
        )
    }
}

/// `cleanup`: removes what the last `write --no-cleanup` left, then its metadata.
async fn remove_left_objects(ctx: &Ctx, io: &IoCtx) -> Result<()> {
    let objects = match io.read(META, 0, 0).await {
        Ok(raw) => {
            let m: Meta = serde_json::from_slice(&raw).context("parsing the benchmark metadata")?;
            m.objects.max(m.attempted)
        }
        Err(e) if e.code() == "no_such_object" => 0,
        Err(e) => return Err(failed("reading the benchmark metadata", &e)),
    };
    cleanup(io, objects, ctx.format == Format::Table).await?;
    match io.remove(META).await {
        Ok(()) => {}
        Err(e) if e.code() == "no_such_object" => {}
        Err(e) => return Err(failed("removing the benchmark metadata", &e)),
    }
    output::emit(
        ctx.format,
        &CleanupReport {
            pool: io.pool_name().to_string(),
            objects,
        },
    )
}

async fn cleanup(io: &IoCtx, count: u64, show: bool) -> Result<()> {
    if show {
        eprintln!("removing {count} benchmark objects ...");
    }
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (io, next) = (io.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return;
                    }
                    let _ = io.remove(&object_name(i)).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.context("cleanup worker failed")?;
    }
    Ok(())
}

/// `osd bench`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct OsdBenchView {
    /// OSD id.
    pub osd: u32,
    /// Bytes written.
    pub bytes: u64,
    /// Seconds.
    pub seconds: f64,
    /// MB/s.
    pub mb_per_sec: f64,
    /// Writes per second.
    pub iops: f64,
}

impl Report for OsdBenchView {
    fn table(&self) -> String {
        format!(
            "osd.{}: wrote {} bytes in {:.2} s: {:.1} MB/s, {:.1} IOPS\n",
            self.osd, self.bytes, self.seconds, self.mb_per_sec, self.iops
        )
    }
}

/// Runs `cuttle osd bench N`: the OSD writes to its own store, without the network.
pub async fn osd_bench(
    ctx: &Ctx,
    osd: OsdId,
    total: u64,
    object_size: u64,
    concurrency: u32,
) -> Result<()> {
    let map = ctx.fresh_map().await?;
    let info = map
        .osds
        .get(&osd)
        .with_context(|| format!("{osd} is not in the cluster map (no_such_osd)"))?;
    if !info.up {
        bail!("{osd} is down (osd_down)");
    }
    let conf =
        cuttle_client::ClusterConf::load(&ctx.conf).context("reading the cluster configuration")?;
    let secret = conf.cluster_secret().context("the cluster secret")?;
    let channels = conf
        .channel_config()
        .context("the cluster configuration's [rpc_tls]")?;
    let ch = cuttle_rpc_channel(&info.addr, &channels)?;
    let mut client =
        pb::osd_client::OsdClient::with_interceptor(ch, cuttle_rpc::ClientAuth::new(secret));
    let r = client
        .bench(pb::OsdBenchRequest {
            total_bytes: total,
            object_size,
            concurrency,
        })
        .await
        .map_err(|s| {
            anyhow::anyhow!(
                "{osd} bench: {} ({})",
                s.message(),
                cuttle_rpc::error_code(&s).unwrap_or("failed")
            )
        })?
        .into_inner();
    let view = OsdBenchView {
        osd: osd.0,
        bytes: r.bytes,
        seconds: r.seconds,
        mb_per_sec: r.mb_per_sec,
        iops: r.iops,
    };
    output::emit(ctx.format, &view)
}

fn cuttle_rpc_channel(
    addr: &str,
    channels: &cuttle_rpc::ChannelConfig,
) -> Result<tonic::transport::Channel> {
    cuttle_rpc::channel::lazy_channel(addr, channels)
        .with_context(|| format!("OSD address {addr:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_differ_per_object_and_verify() {
        let p = Payload::new(10_000);
        let a = p.make(1, None);
        let b = p.make(2, None);
        assert_ne!(a, b);
        assert!(p.check(1, &a));
        assert!(!p.check(2, &a), "a misplaced object is caught");
        let mut c = a.to_vec();
        c[5000] ^= 1;
        assert!(!p.check(1, &c), "a flipped byte is caught");
        assert!(!p.check(1, &a[..9999]));
        let tiny = Payload::new(3);
        assert!(tiny.check(7, &tiny.make(7, None)));
        // A spare buffer nothing else holds is reused; one still shared is not touched.
        let ptr = b.as_ptr();
        let reused = p.make(3, Some(b));
        assert_eq!(reused.as_ptr(), ptr, "the spare buffer was reused");
        assert!(p.check(3, &reused));
        let held = reused.clone();
        let fresh = p.make(4, Some(reused));
        assert!(p.check(3, &held), "a buffer still in use keeps its content");
        assert!(p.check(4, &fresh));
    }
}
