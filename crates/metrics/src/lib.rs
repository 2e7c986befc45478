//! `cuttle-metrics`: what every Cuttle daemon needs to expose Prometheus metrics.
//!
//! Owns:
//! - [`Exporter`]: a `prometheus-client` [`Registry`] plus hooks run at every scrape
//!   (to copy slowly changing state — Raft, PG states, device usage — into gauges);
//! - [`MetricsServer`]: the `GET /metrics` HTTP/1.1 endpoint (Prometheus text format
//!   0.0.4), bound on the daemon's `metrics_addr` and stopped by its cancellation token,
//!   plus any read-only [`Pages`] the daemon adds on the same port (the monitor's
//!   dashboard);
//! - [`LatencyHistogram`]: a lock-free histogram (atomics only on the hot path;
//!   `prometheus-client`'s own histogram takes a mutex per observation), with the one
//!   bucket layout every `*_duration_seconds` series shares ([`LATENCY_BUCKETS`]).
//!
//! - [`memory`]: the allocator trimmer every daemon runs (freed heap memory goes back to
//!   the OS, so resident sizes fall back after a burst) and the resident-size reading.
//!
//! Metric names and meanings are listed in `docs/metrics.md`. Rules: `cuttle_` prefix,
//! base units (`_seconds`, `_bytes`), `_total` for counters. A metrics failure (a bind
//! error at start aside, which the daemon reports) never stops a daemon: encoding errors
//! answer 500 and are logged.
//!
//! Must not depend on any Cuttle crate: daemons depend on it, not the reverse.

pub mod memory;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
pub use prometheus_client;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The `Content-Type` of the answer (Prometheus text exposition format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of every latency histogram: 100 µs to ~26 s, doubling.
pub const LATENCY_BUCKETS: [f64; 19] = [
    0.0001, 0.0002, 0.0004, 0.0008, 0.0016, 0.0032, 0.0064, 0.0128, 0.0256, 0.0512, 0.1024, 0.2048,
    0.4096, 0.8192, 1.6384, 3.2768, 6.5536, 13.1072, 26.2144,
];

/// Why the metrics endpoint could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The listen address does not resolve.
    #[error("metrics address {addr:?} does not resolve to a socket address")]
    Resolve {
        /// The configured address.
        addr: String,
    },
    /// Binding the listen address failed.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// Encoding the registry failed (a metric's encoder returned an error).
    #[error("encoding metrics failed")]
    Encode(#[from] std::fmt::Error),
}

/// A latency histogram updated with atomics only (one add to a bucket, one to the sum).
/// Cloning gives another handle on the same series.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram {
    inner: Arc<HistogramInner>,
}

#[derive(Debug, Default)]
struct HistogramInner {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of observations, nanoseconds.
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.inner.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Number of observations so far.
    pub fn count(&self) -> u64 {
        self.inner
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .sum()
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        // Per-bucket (not cumulative) counts, the last bound infinite: the encoder
        // accumulates them and writes `le="+Inf"` itself.
        let mut count = 0u64;
        let mut buckets = Vec::with_capacity(LATENCY_BUCKETS.len() + 1);
        for (i, b) in self.inner.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            count += n;
            let bound = LATENCY_BUCKETS.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, n));
        }
        let sum = self.inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A hook run before every scrape.
type ScrapeHook = Box<dyn Fn() + Send + Sync>;

/// A registry and the hooks that refresh its gauges at scrape time.
pub struct Exporter {
    registry: Registry,
    hooks: Vec<ScrapeHook>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

impl Exporter {
    /// An exporter of `registry`.
    pub fn new(registry: Registry) -> Exporter {
        Exporter {
            registry,
            hooks: Vec::new(),
        }
    }

    /// Runs `hook` before every scrape (it must be quick: it runs on a blocking thread
    /// while the scraper waits).
    pub fn on_scrape(&mut self, hook: impl Fn() + Send + Sync + 'static) {
        self.hooks.push(Box::new(hook));
    }

    /// Runs the hooks and encodes every metric in the Prometheus text format.
    pub fn render(&self) -> Result<String, MetricsError> {
        for hook in &self.hooks {
            hook();
        }
        let mut out = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// One answer of a [`Pages`] handler.
#[derive(Debug, Clone)]
pub struct Page {
    /// HTTP status.
    pub status: StatusCode,
    /// `Content-Type` header value.
    pub content_type: &'static str,
    /// The body.
    pub body: Bytes,
}

impl Page {
    /// A 200 answer.
    pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Page {
        Page {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
        }
    }
}

/// A boxed future of a [`Pages`] answer.
pub type PageFuture<'a> = Pin<Box<dyn Future<Output = Option<Page>> + Send + 'a>>;

/// Read-only pages a daemon serves beside `/metrics` on the same port (GET and HEAD
/// only). Every answer carries `Cache-Control: no-store` and a same-origin-only
/// `Content-Security-Policy`, so pages may load scripts and data from this port but
/// nothing from elsewhere.
pub trait Pages: Send + Sync + 'static {
    /// The answer for `path` (never `/metrics`); `None` gives 404.
    fn get(&self, path: &str) -> PageFuture<'_>;
}

/// The `/metrics` endpoint, bound and not yet serving.
#[derive(Debug)]
pub struct MetricsServer {
    listener: TcpListener,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds `addr` (`host:port`; port 0 picks a free one).
    pub async fn bind(addr: &str) -> Result<MetricsServer, MetricsError> {
        let resolved = tokio::net::lookup_host(addr)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| MetricsError::Resolve {
                addr: addr.to_string(),
            })?;
        let bind_err = |source| MetricsError::Bind {
            addr: addr.to_string(),
            source,
        };
        let listener = TcpListener::bind(resolved).await.map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        Ok(MetricsServer { listener, addr })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `GET /metrics`, and `pages` if given, until `stop` is cancelled. Other
    /// paths get 404, other methods 405. Never returns an error: failures are logged.
    pub async fn serve(
        self,
        exporter: Arc<Exporter>,
        pages: Option<Arc<dyn Pages>>,
        stop: CancellationToken,
    ) {
        tracing::info!(addr = %self.addr, "serving metrics on http://{}/metrics", self.addr);
        loop {
            let (stream, _peer) = tokio::select! {
                _ = stop.cancelled() => return,
                r = self.listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!("metrics accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let exporter = exporter.clone();
            let pages = pages.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| answer(req, exporter.clone(), pages.clone()));
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), svc);
                let mut conn = std::pin::pin!(conn);
                tokio::select! {
                    r = conn.as_mut() => if let Err(e) = r {
                        tracing::debug!("metrics connection ended: {e}");
                    },
                    _ = stop.cancelled() => {
                        conn.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
                    }
                }
            });
        }
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r
}

/// `pages`' answer for `path` with the headers every page gets.
async fn page(pages: &dyn Pages, path: &str) -> Response<Full<Bytes>> {
    let Some(p) = pages.get(path).await else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let mut r = Response::new(Full::new(p.body));
    *r.status_mut() = p.status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(p.content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        http::HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'"),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

async fn answer<B>(
    req: Request<B>,
    exporter: Arc<Exporter>,
    pages: Option<Arc<dyn Pages>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "use GET\n"));
    }
    if req.uri().path() != "/metrics" {
        return Ok(match pages {
            Some(p) => page(p.as_ref(), req.uri().path()).await,
            None => plain(StatusCode::NOT_FOUND, "not found; try /metrics\n"),
        });
    }
    // Hooks may read RocksDB properties or take short locks: off the reactor.
    let rendered = tokio::task::spawn_blocking(move || exporter.render()).await;
    Ok(match rendered {
        Ok(Ok(text)) => {
            let mut r = Response::new(Full::new(Bytes::from(text)));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(CONTENT_TYPE),
            );
            r
        }
        Ok(Err(e)) => {
            tracing::warn!("rendering metrics failed: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
        }
        Err(e) => {
            tracing::warn!("rendering metrics panicked or was cancelled: {e}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
        }
    })
}

/// Binds `addr` and serves `exporter` on it until `stop`, on `tasks`; returns the bound
/// address. The one call each daemon makes.
pub async fn spawn(
    addr: &str,
    exporter: Exporter,
    stop: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<SocketAddr, MetricsError> {
    spawn_with_pages(addr, exporter, None, stop, tasks).await
}

/// [`spawn`], also serving `pages` on the same port.
pub async fn spawn_with_pages(
    addr: &str,
    exporter: Exporter,
    pages: Option<Arc<dyn Pages>>,
    stop: CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> Result<SocketAddr, MetricsError> {
    let server = MetricsServer::bind(addr).await?;
    let bound = server.local_addr();
    tasks.spawn(server.serve(Arc::new(exporter), pages, stop));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    #[test]
    fn histogram_buckets_are_cumulative_and_sum_in_seconds() {
        let mut reg = Registry::default();
        let h = LatencyHistogram::default();
        reg.register("cuttle_test_duration_seconds", "test", h.clone());
        h.observe(Duration::from_micros(50));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(100));
        assert_eq!(h.count(), 3);
        let text = Exporter::new(reg).render().expect("render");
        assert!(
            text.contains("cuttle_test_duration_seconds_bucket{le=\"0.0001\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("cuttle_test_duration_seconds_bucket{le=\"0.0032\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("cuttle_test_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("cuttle_test_duration_seconds_count 3\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE cuttle_test_duration_seconds histogram"),
            "{text}"
        );
    }

    #[test]
    fn hooks_run_before_encoding() {
        let mut reg = Registry::default();
        let g: Gauge = Gauge::default();
        let c: Counter = Counter::default();
        reg.register("cuttle_test_value", "test gauge", g.clone());
        reg.register("cuttle_test_things", "test counter", c.clone());
        c.inc();
        let mut ex = Exporter::new(reg);
        ex.on_scrape(move || {
            g.set(42);
        });
        let text = ex.render().expect("render");
        assert!(text.contains("cuttle_test_value 42\n"), "{text}");
        assert!(text.contains("cuttle_test_things_total 1\n"), "{text}");
    }

    struct Hello;

    impl Pages for Hello {
        fn get(&self, path: &str) -> PageFuture<'_> {
            let found = (path == "/hello").then(|| Page::ok("text/plain", "hi"));
            Box::pin(async move { found })
        }
    }

    #[tokio::test]
    async fn serves_pages_beside_metrics() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let stop = CancellationToken::new();
        let tasks = tokio_util::task::TaskTracker::new();
        let pages: Arc<dyn Pages> = Arc::new(Hello);
        let ex = Exporter::new(Registry::default());
        let addr = spawn_with_pages("127.0.0.1:0", ex, Some(pages), stop.clone(), &tasks)
            .await
            .expect("bind");
        for (method, path, want) in [
            ("GET", "/hello", "200 OK"),
            ("GET", "/metrics", "200 OK"),
            ("GET", "/other", "404"),
            ("POST", "/hello", "405"),
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            assert!(
                out.starts_with(&format!("HTTP/1.1 {want}")),
                "{path}: {out}"
            );
            if path == "/hello" && method == "GET" {
                assert!(out.ends_with("\r\n\r\nhi"), "{out}");
                let lower = out.to_ascii_lowercase();
                assert!(
                    lower.contains("content-security-policy: default-src 'self'"),
                    "{out}"
                );
                assert!(lower.contains("cache-control: no-store"), "{out}");
            }
        }
        stop.cancel();
        tasks.close();
        tasks.wait().await;
    }

    #[tokio::test]
    async fn serves_metrics_over_http() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut reg = Registry::default();
        let c: Counter = Counter::default();
        reg.register("cuttle_test_requests", "test", c.clone());
        c.inc_by(7);
        let stop = CancellationToken::new();
        let tasks = tokio_util::task::TaskTracker::new();
        let addr = spawn("127.0.0.1:0", Exporter::new(reg), stop.clone(), &tasks)
            .await
            .expect("bind");
        for (path, want) in [("/metrics", "200 OK"), ("/nope", "404")] {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("write");
            let mut out = String::new();
            s.read_to_string(&mut out).await.expect("read");
            assert!(out.starts_with(&format!("HTTP/1.1 {want}")), "{out}");
            if path == "/metrics" {
                assert!(out.contains("cuttle_test_requests_total 7"), "{out}");
                assert!(out.contains(CONTENT_TYPE), "{out}");
            }
        }
        stop.cancel();
        tasks.close();
        tasks.wait().await;
    }
}
