//! `s3-bench`: throughput and latency of an S3 endpoint (the Cuttle gateway, or any
//! other S3 service) through a real S3 client, `aws-sdk-s3`.
//!
//! Modes:
//! - `put-get`: PUTs objects of `--size` bytes into a fresh bucket with `--concurrency`
//!   requests in flight (`--count` objects, or for `--seconds`), GETs them back (bodies
//!   fully read, lengths checked), then deletes them and the bucket; `--runs` repeats
//!   on a fresh bucket and reports the median run of each phase;
//! - `list`: time of one ListObjectsV2 page (`--max-keys`, 1000) at random start-after
//!   points in a bucket filled by `fill-index` (median of `--pages`);
//! - `fill-index`: creates a bucket through S3, then inserts index entries of zero-byte
//!   objects (`<prefix><9 digits>`) straight through the gateway library's bucket index
//!   (`BucketIndex::put_many`, grouped by shard), because a million PUTs take hours on a
//!   small machine. The entries are what a zero-byte PUT writes, minus the (empty) data.
//!
//! The endpoint and credential come from flags or from `--from FILE`, the JSON that
//! `cuttle cluster up --format json` prints (first S3 endpoint, admin credential).
//! Progress (ops and MB/s of the last second) goes to stderr; results as a table, or one
//! JSON document with `--format json`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use cuttle_benches::{Latency, LatencyRecorder};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(about = "Benchmark an S3 endpoint (PUT/GET/DELETE throughput, listing latency)")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// PUT then GET then DELETE objects of one size.
    PutGet(PutGetArgs),
    /// Latency of one listing page at random points of a filled bucket.
    List(ListArgs),
    /// Fill a bucket's index with zero-byte objects through the gateway library.
    FillIndex(FillArgs),
}

#[derive(Args, Debug, Clone)]
struct Conn {
    /// S3 endpoint, e.g. http://127.0.0.1:7480.
    #[arg(long)]
    endpoint: Option<String>,
    /// Access key.
    #[arg(long)]
    access_key: Option<String>,
    /// Secret key.
    #[arg(long)]
    secret_key: Option<String>,
    /// `cuttle cluster up --format json` output: endpoint and admin credential (flags
    /// override it).
    #[arg(long)]
    from: Option<PathBuf>,
    /// Region to sign for.
    #[arg(long, default_value = "us-east-1")]
    region: String,
}

#[derive(Args, Debug)]
struct PutGetArgs {
    #[command(flatten)]
    conn: Conn,
    /// Object size in bytes (suffixes K, M, G: binary).
    #[arg(long, default_value = "4M", value_parser = parse_size)]
    size: u64,
    /// Objects to PUT (each GET once).
    #[arg(long, default_value_t = 200, conflicts_with = "seconds")]
    count: u64,
    /// PUT for this long instead of a count, then GET (cycling over them) as long.
    #[arg(long)]
    seconds: Option<f64>,
    /// Requests in flight.
    #[arg(long, short = 't', default_value_t = 16)]
    concurrency: usize,
    /// Repeat on a fresh bucket; the median run of each phase is reported.
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Bucket name prefix (a random suffix is added per run).
    #[arg(long, default_value = "s3-bench")]
    bucket: String,
    /// Leave objects and bucket in place.
    #[arg(long)]
    keep: bool,
    /// Sign PUTs with `UNSIGNED-PAYLOAD` (no SHA-256 of the body on either side), to
    /// see what SigV4 payload hashing costs; the default signs the payload, as boto3
    /// and the SDKs do over plain HTTP.
    #[arg(long)]
    unsigned_payload: bool,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    conn: Conn,
    /// The bucket (filled with `fill-index`).
    #[arg(long)]
    bucket: String,
    /// Keys in the bucket (`<prefix>000000000` .. `<prefix>{keys-1}`).
    #[arg(long)]
    keys: u64,
    /// Key prefix used by `fill-index`.
    #[arg(long, default_value = "obj-")]
    key_prefix: String,
    /// Pages to time (after one untimed warm-up page).
    #[arg(long, default_value_t = 9)]
    pages: usize,
    /// Keys per page.
    #[arg(long, default_value_t = 1000)]
    max_keys: i32,
    /// Output format: table or json.
    #[arg(long, default_value = "table")]
    format: String,
}

#[derive(Args, Debug)]
struct FillArgs {
    #[command(flatten)]
    conn: Conn,
    /// Cluster configuration (`cuttle.toml`).
    #[arg(long, short = 'c')]
    conf: PathBuf,
    /// Bucket to create (if missing) and fill.
    #[arg(long)]
    bucket: String,
    /// Keys to insert.
    #[arg(long)]
    keys: u64,
    /// Key prefix.
    #[arg(long, default_value = "obj-")]
    key_prefix: String,
    /// Entries per bulk insert (split over the bucket's index shards).
    #[arg(long, default_value_t = 8000)]
    batch: usize,
    /// Bulk inserts in flight.
    #[arg(long, default_value_t = 4)]
    parallel: usize,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1u64 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .map(|n| n * mul)
        .map_err(|e| format!("size {s:?}: {e}"))
}

/// A small deterministic generator (xorshift64*): test data and random start points.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(t | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Endpoint, access key, secret key from the flags and `--from`.
fn resolve(conn: &Conn) -> Result<(String, String, String)> {
    let from: Option<serde_json::Value> = match &conn.from {
        Some(p) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("parsing {}", p.display()))?,
        ),
        None => None,
    };
    let pick = |flag: &Option<String>, path: &[&str], what: &str| -> Result<String> {
        if let Some(v) = flag {
            return Ok(v.clone());
        }
        let mut v = from.as_ref();
        for p in path {
            v = v.and_then(|v| match p.parse::<usize>() {
                Ok(i) => v.get(i),
                Err(_) => v.get(*p),
            });
        }
        v.and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no {what}: pass --{what} or --from <cluster up JSON>"))
    };
    Ok((
        pick(&conn.endpoint, &["s3_endpoints", "0"], "endpoint")?,
        pick(&conn.access_key, &["s3_admin", "access_key"], "access-key")?,
        pick(&conn.secret_key, &["s3_admin", "secret_key"], "secret-key")?,
    ))
}

/// An S3 client: path-style, no retries (errors surface), no optional checksums (the
/// client shares the CPU with the server; SigV4 still hashes every payload).
fn client(conn: &Conn) -> Result<Client> {
    use aws_smithy_http_client::tls;
    let (endpoint, ak, sk) = resolve(conn)?;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(conn.region.clone()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(ak, sk, None, None, "s3-bench"))
        .force_path_style(true)
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    Ok(Client::from_conf(config))
}

fn sdk<E: std::error::Error + 'static>(what: &str, e: E) -> anyhow::Error {
    anyhow!("{what}: {}", DisplayErrorContext(e))
}

/// Counters the progress line reads.
#[derive(Default)]
struct Live {
    ops: AtomicU64,
    bytes: AtomicU64,
    done: AtomicBool,
}

/// Prints ops and MB/s of the last second on stderr until `live.done`.
fn progress(phase: &'static str, live: Arc<Live>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let tty = std::io::stderr().is_terminal();
        let start = Instant::now();
        let (mut ops0, mut bytes0) = (0u64, 0u64);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        loop {
            tick.tick().await;
            if live.done.load(Ordering::Relaxed) {
                break;
            }
            let (ops, bytes) = (
                live.ops.load(Ordering::Relaxed),
                live.bytes.load(Ordering::Relaxed),
            );
            let line = format!(
                "{phase:<6} {:>4.0} s {ops:>8} ops {:>8.0} ops/s {:>8.1} MB/s",
                start.elapsed().as_secs_f64(),
                (ops - ops0) as f64,
                (bytes - bytes0) as f64 / 1e6
            );
            if tty {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
            (ops0, bytes0) = (ops, bytes);
        }
        if tty {
            eprintln!();
        }
    })
}

/// One measured phase.
#[derive(Debug, Clone, Serialize)]
struct Phase {
    phase: String,
    ops: u64,
    bytes: u64,
    secs: f64,
    mb_s: f64,
    ops_s: f64,
    latency_ms: Latency,
}

/// Runs `concurrency` workers calling `op(i)` for i = 0, 1, … until `limit` ops or
/// the deadline; `op` returns the bytes moved.
async fn drive<F, Fut>(
    phase: &'static str,
    concurrency: usize,
    limit: u64,
    deadline: Option<Duration>,
    op: F,
) -> Result<Phase>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<u64>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let live = Arc::new(Live::default());
    let ticker = progress(phase, live.clone());
    let start = Instant::now();
    let end = deadline.map(|d| start + d);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (op, next, live) = (op.clone(), next.clone(), live.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = LatencyRecorder::new();
            while end.is_none_or(|e| Instant::now() < e) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit {
                    break;
                }
                let t = Instant::now();
                let n = op(i).await?;
                lat.record(t.elapsed());
                live.ops.fetch_add(1, Ordering::Relaxed);
                live.bytes.fetch_add(n, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = LatencyRecorder::new();
    let mut failure = None;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => lat.merge(&l),
            Ok(Err(e)) => {
                failure.get_or_insert(e);
            }
            Err(e) => {
                failure.get_or_insert(anyhow!("worker panicked: {e}"));
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    live.done.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    if let Some(e) = failure {
        return Err(e.context(format!("{phase} phase")));
    }
    let (ops, bytes) = (lat.count(), live.bytes.load(Ordering::Relaxed));
    Ok(Phase {
        phase: phase.to_string(),
        ops,
        bytes,
        secs,
        mb_s: bytes as f64 / secs / 1e6,
        ops_s: ops as f64 / secs,
        latency_ms: lat.summary(),
    })
}

fn key(i: u64) -> String {
    format!("obj-{i:09}")
}

/// One PUT/GET/DELETE run on a fresh bucket.
async fn put_get_run(c: &Client, a: &PutGetArgs, data: Bytes, run: usize) -> Result<Vec<Phase>> {
    let bucket = format!("{}-{:08x}", a.bucket, Rng::seeded().next_u64() as u32);
    c.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .map_err(|e| sdk("creating the bucket", e))?;
    eprintln!(
        "run {}/{}: bucket {bucket}, {} B objects, {} in flight",
        run + 1,
        a.runs,
        a.size,
        a.concurrency
    );
    let deadline = a.seconds.map(Duration::from_secs_f64);
    let limit = if deadline.is_some() {
        u64::MAX
    } else {
        a.count
    };
    let (size, unsigned) = (a.size, a.unsigned_payload);
    let (cc, b) = (c.clone(), bucket.clone());
    let put = drive("PUT", a.concurrency, limit, deadline, move |i| {
        let (c, b, data) = (cc.clone(), b.clone(), data.clone());
        async move {
            let req = c
                .put_object()
                .bucket(b)
                .key(key(i))
                .content_length(size as i64)
                .body(ByteStream::from(data));
            let sent = if unsigned {
                req.customize().disable_payload_signing().send().await
            } else {
                req.send().await
            };
            sent.map_err(|e| sdk("PutObject", e))?;
            Ok(size)
        }
    })
    .await?;
    let written = put.ops;
    let (cc, b) = (c.clone(), bucket.clone());
    let get_limit = if deadline.is_some() {
        u64::MAX
    } else {
        written
    };
    let get = drive("GET", a.concurrency, get_limit, deadline, move |i| {
        let (c, b) = (cc.clone(), b.clone());
        async move {
            let k = key(i % written.max(1));
            let out = c
                .get_object()
                .bucket(b)
                .key(&k)
                .send()
                .await
                .map_err(|e| sdk("GetObject", e))?;
            let mut body = out.body;
            let mut n = 0u64;
            while let Some(chunk) = body.try_next().await.map_err(|e| sdk("GET body", e))? {
                n += chunk.len() as u64;
            }
            if n != size {
                bail!("GET {k}: {n} bytes, expected {size}");
            }
            Ok(n)
        }
    })
    .await?;
    let mut phases = vec![put, get];
    if !a.keep {
        let (cc, b) = (c.clone(), bucket.clone());
        let del = drive("DELETE", a.concurrency, written, None, move |i| {
            let (c, b) = (cc.clone(), b.clone());
            async move {
                c.delete_object()
                    .bucket(b)
                    .key(key(i))
                    .send()
                    .await
                    .map_err(|e| sdk("DeleteObject", e))?;
                Ok(0)
            }
        })
        .await?;
        phases.push(del);
        c.delete_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| sdk("deleting the bucket", e))?;
    }
    Ok(phases)
}

#[derive(Debug, Serialize)]
struct PutGetReport {
    endpoint: String,
    size: u64,
    concurrency: usize,
    /// Median run of each phase (by ops/s, which orders MB/s the same way).
    median: Vec<Phase>,
    runs: Vec<Vec<Phase>>,
}

async fn put_get(a: PutGetArgs) -> Result<()> {
    let c = client(&a.conn)?;
    let mut rng = Rng::seeded();
    let mut v = Vec::with_capacity(a.size as usize);
    while (v.len() as u64) < a.size {
        v.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    v.truncate(a.size as usize);
    let data = Bytes::from(v);
    let mut runs = Vec::new();
    for run in 0..a.runs.max(1) {
        runs.push(put_get_run(&c, &a, data.clone(), run).await?);
    }
    let phases = runs[0].len();
    let median = (0..phases)
        .map(|p| {
            let mut xs: Vec<&Phase> = runs.iter().map(|r| &r[p]).collect();
            xs.sort_by(|x, y| x.ops_s.total_cmp(&y.ops_s));
            xs[xs.len() / 2].clone()
        })
        .collect();
    let report = PutGetReport {
        endpoint: resolve(&a.conn)?.0,
        size: a.size,
        concurrency: a.concurrency,
        median,
        runs,
    };
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "\n{} — {} B objects, {} in flight, median of {} run(s)",
        report.endpoint,
        report.size,
        report.concurrency,
        report.runs.len()
    );
    println!(
        "{:<7} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "phase", "ops", "MB/s", "ops/s", "avg ms", "p50 ms", "p99 ms", "max ms"
    );
    for p in &report.median {
        println!(
            "{:<7} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            p.phase,
            p.ops,
            p.mb_s,
            p.ops_s,
            p.latency_ms.avg,
            p.latency_ms.p50,
            p.latency_ms.p99,
            p.latency_ms.max
        );
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct ListReport {
    bucket: String,
    keys: u64,
    max_keys: i32,
    /// Milliseconds per page, in the order timed.
    pages_ms: Vec<f64>,
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

async fn list(a: ListArgs) -> Result<()> {
    let c = client(&a.conn)?;
    let mut rng = Rng::seeded();
    let span = a.keys.saturating_sub(a.max_keys as u64).max(1);
    let page = |start: Option<String>| {
        let c = c.clone();
        let (bucket, max) = (a.bucket.clone(), a.max_keys);
        async move {
            let t = Instant::now();
            let out = c
                .list_objects_v2()
                .bucket(bucket)
                .max_keys(max)
                .set_start_after(start)
                .send()
                .await
                .map_err(|e| sdk("ListObjectsV2", e))?;
            Ok::<_, anyhow::Error>((t.elapsed(), out.contents().len()))
        }
    };
    page(None).await?;
    let mut pages_ms = Vec::new();
    for _ in 0..a.pages.max(1) {
        let at = format!("{}{:09}", a.key_prefix, rng.next_u64() % span);
        let (d, n) = page(Some(at.clone())).await?;
        if n != a.max_keys as usize {
            bail!(
                "page after {at} has {n} keys, expected {}: is the bucket filled?",
                a.max_keys
            );
        }
        eprintln!(
            "page after {at}: {n} keys in {:.1} ms",
            d.as_secs_f64() * 1e3
        );
        pages_ms.push(d.as_secs_f64() * 1e3);
    }
    let mut sorted = pages_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let report = ListReport {
        bucket: a.bucket,
        keys: a.keys,
        max_keys: a.max_keys,
        median_ms: sorted[sorted.len() / 2],
        min_ms: sorted[0],
        max_ms: sorted[sorted.len() - 1],
        pages_ms,
    };
    if a.format == "json" {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: {} keys, ListObjectsV2 of {} keys: median {:.1} ms (min {:.1}, max {:.1}, {} pages)",
            report.bucket,
            report.keys,
            report.max_keys,
            report.median_ms,
            report.min_ms,
            report.max_ms,
            report.pages_ms.len()
        );
    }
    Ok(())
}

async fn fill_index(a: FillArgs) -> Result<()> {
    use cuttle_rgw::index::BucketIndex;
    use cuttle_rgw::records::{IndexEntry, Segment, VERSION, now_ms};
    use cuttle_rgw::{BucketStore, PoolNames, Pools};

    let c = client(&a.conn)?;
    if let Err(e) = c.create_bucket().bucket(&a.bucket).send().await {
        let owned = e
            .as_service_error()
            .is_some_and(|s| s.is_bucket_already_owned_by_you());
        if !owned {
            return Err(sdk("creating the bucket", e));
        }
    }
    let conf = cuttle_client::ClusterConf::load(&a.conf)
        .map_err(|e| anyhow!("{}: {e}", a.conf.display()))?;
    let cluster = cuttle_client::Cluster::connect(&conf)
        .await
        .map_err(|e| anyhow!("connecting to the cluster: {e}"))?;
    let pools = Pools::open(&cluster, &PoolNames::default()).await?;
    let b = BucketStore::new(pools.meta.clone())
        .get(&a.bucket)
        .await?
        .ok_or_else(|| anyhow!("bucket {} has no record", a.bucket))?;
    let index = BucketIndex::new(pools.index.clone());
    eprintln!(
        "filling {} (id {}, {} index shards) with {} zero-byte entries",
        b.name, b.id, b.index_shards, a.keys
    );
    let entry = |_: u64| IndexEntry {
        v: VERSION,
        size: 0,
        etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
        mtime_ms: now_ms(),
        owner: b.owner.clone(),
        content_type: Some("binary/octet-stream".into()),
        headers: Default::default(),
        meta: Default::default(),
        checksum: None,
        data: vec![Segment {
            i: format!("{}.{}", b.id, cuttle_rgw::names::new_instance_id()),
            s: 0,
            ss: 4 << 20,
        }],
        parts: Vec::new(),
        part_checksums: Vec::new(),
        acl: None,
        inline: false,
        body: None,
    };
    let batch = a.batch.max(1) as u64;
    let batches = a.keys.div_ceil(batch);
    let start = Instant::now();
    let done = AtomicU64::new(0);
    let (index, b, done) = (&index, &b, &done);
    futures::stream::iter(0..batches)
        .map(|n| {
            let lo = n * batch;
            let hi = (lo + batch).min(a.keys);
            let entries: Vec<(String, IndexEntry)> = (lo..hi)
                .map(|i| (format!("{}{i:09}", a.key_prefix), entry(i)))
                .collect();
            async move {
                index.put_many(b, &entries).await?;
                let d =
                    done.fetch_add(entries.len() as u64, Ordering::Relaxed) + entries.len() as u64;
                if n % 10 == 9 || hi == a.keys {
                    eprintln!(
                        "{d:>10} entries, {:.0} entries/s",
                        d as f64 / start.elapsed().as_secs_f64()
                    );
                }
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(a.parallel.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    println!(
        "filled {} with {} entries in {:.1} s",
        a.bucket,
        a.keys,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.mode {
            Mode::PutGet(a) => put_get(a).await,
            Mode::List(a) => list(a).await,
            Mode::FillIndex(a) => fill_index(a).await,
        }
    })
}
