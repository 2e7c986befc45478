//! The gateway process: connects to the cluster, opens (waits for) its pools, makes
//! sure the bootstrap user exists, then serves HTTP/1.1 with keep-alive, over TLS
//! (rustls) when a certificate is configured. Shutdown (one [`CancellationToken`])
//! stops accepting, asks every connection to finish its request in flight, and waits
//! for them with a deadline.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cuttle_client::Cluster;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::service::S3ServiceBuilder;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{AuthCache, Gatekeeper, KeypairAuth};
use crate::bare_errors::S3ErrorIo;
use crate::coherence::Coherence;
use crate::config::{RgwConfig, TlsConfig};
use crate::data::{DataStore, DataTuning};
use crate::error::{RgwError, RgwResult};
use crate::front::Front;
use crate::gc::GcQueue;
use crate::index::BucketIndex;
use crate::meta::{BucketStore, NewCredential, UserStore};
use crate::metrics::RgwMetrics;
use crate::pools::Pools;
use crate::s3::{Gateway, GatewayParts};

/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// hyper's read buffer limit: the largest request head it buffers (heads over 8 KiB get
/// S3's `RequestHeaderSectionTooLarge` from [`Front`]; bigger ones from hyper, made
/// S3-shaped by [`S3ErrorIo`]), and the largest body chunk it hands on. Every chunk
/// wakes the thread that takes in an upload: with 64 KiB, a 4 MiB PUT woke it 64 times
/// and the gateway spent a fifth of its cycles switching threads; 256 KiB chunks took
/// 5-10% more 4 MiB PUTs per second on the same cores (1 MiB no more than that, with
/// more memory held by idle connections).
pub const MAX_HEAD_BYTES: usize = 256 * 1024;

/// A gateway ready to serve.
pub struct Server {
    front: Arc<Front>,
    listener: TcpListener,
    metrics: Arc<RgwMetrics>,
    /// The `/metrics` endpoint, bound when `metrics_addr` is set.
    metrics_server: Option<cuttle_metrics::MetricsServer>,
    tls: Option<TlsAcceptor>,
    /// Removal of replaced data, and how often it runs.
    gc: (GcQueue, Duration),
    /// The control-object watch (cache coherence); ends when the server is dropped.
    _watch: cuttle_client::WatchHandle,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.listener.local_addr().ok())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

fn tls_acceptor(t: &TlsConfig) -> RgwResult<TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| RgwError::Config(format!("tls {what}: {e}"));
    let certs = CertificateDer::pem_file_iter(&t.cert)
        .map_err(|e| bad(&t.cert.display().to_string(), &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&t.cert.display().to_string(), &e))?;
    if certs.is_empty() {
        return Err(RgwError::Config(format!(
            "tls: no certificate in {}",
            t.cert.display()
        )));
    }
    let key =
        PrivateKeyDer::from_pem_file(&t.key).map_err(|e| bad(&t.key.display().to_string(), &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate/key", &e))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

async fn open_pools(
    cluster: &Cluster,
    config: &RgwConfig,
    stop: &CancellationToken,
) -> RgwResult<Pools> {
    let mut warned = false;
    loop {
        match Pools::open(cluster, &config.pools).await {
            Ok(p) => return Ok(p),
            Err(RgwError::NoPool(name)) => {
                if !warned {
                    tracing::warn!(
                        "pool {name} does not exist yet; waiting for it (cuttle cluster up creates the gateway pools)"
                    );
                    warned = true;
                }
            }
            Err(e) => return Err(e),
        }
        tokio::select! {
            _ = stop.cancelled() => return Err(RgwError::Config("stopped while waiting for pools".into())),
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn bootstrap(users: &UserStore, config: &RgwConfig) -> RgwResult<()> {
    let Some(b) = &config.bootstrap_admin else {
        return Ok(());
    };
    if let Some(k) = users.lookup_key(&b.access_key).await? {
        if k.uid != b.uid {
            return Err(RgwError::Config(format!(
                "bootstrap access key belongs to {:?}, not {:?}",
                k.uid, b.uid
            )));
        }
        return Ok(());
    }
    let cred = NewCredential {
        access_key: Some(b.access_key.clone()),
        secret_key: Some(b.secret_key.clone()),
    };
    match users
        .create(&b.uid, "Administrator", "", cred.clone())
        .await
    {
        Ok(_) => {
            tracing::info!(uid = %b.uid, "created the bootstrap user");
            Ok(())
        }
        Err(RgwError::UserExists(_)) | Err(RgwError::KeyExists(_)) => {
            match users.add_key(&b.uid, cred).await {
                Ok(_) | Err(RgwError::KeyExists(_)) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

impl Server {
    /// Connects, prepares and binds.
    pub async fn build(config: &RgwConfig, stop: &CancellationToken) -> RgwResult<Server> {
        config.validate()?;
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let cluster = Cluster::connect(&config.cluster_conf()).await?;
        let pools = open_pools(&cluster, config, stop).await?;
        let users = UserStore::new(pools.meta.clone());
        bootstrap(&users, config).await?;
        let ttl = Duration::from_millis(config.cache_ttl_ms);
        // Watch the control object so other gateways' changes reach our caches.
        let coherence = Coherence::new();
        let watch = coherence.watch(&pools.meta);
        let cache = Arc::new(AuthCache::new(users.clone(), ttl, coherence.clone()));
        let data = DataStore::new(
            pools.data.clone(),
            DataTuning {
                stripe: config.stripe_size,
                put_parallel: config.put_parallel,
                get_prefetch: config.get_prefetch,
                budget_bytes: config.buffer_budget_mib << 20,
                inline_max: config.inline_max_bytes,
            },
        );
        let gc = GcQueue::new(
            pools.index.clone(),
            pools.data.clone(),
            Duration::from_secs(config.gc_delay_secs),
        );
        let gateway = Gateway::new(GatewayParts {
            users: users.clone(),
            buckets: BucketStore::new(pools.meta.clone()),
            index: BucketIndex::new(pools.index.clone()),
            data,
            gc: gc.clone(),
            region: config.region.clone(),
            index_shards: config.index_shards,
            ttl,
            coherence,
        });
        let mut b = S3ServiceBuilder::new(gateway);
        b.set_auth(KeypairAuth {
            cache: cache.clone(),
            enabled: config.auth.keypair,
        });
        b.set_access(Gatekeeper {
            cache: cache.clone(),
        });
        if let Some(s) = &config.dns_suffix {
            b.set_host(crate::host::DnsSuffix::new(s));
        }
        let again = Arc::new(std::sync::OnceLock::new());
        b.set_route(crate::bad_range::IgnoreBadRange {
            cache: cache.clone(),
            service: again.clone(),
        });
        let mut s3cfg = s3s::config::S3Config::default();
        s3cfg.presigned_url_max_skew_time_secs = config.auth.max_skew_secs;
        b.set_config(Arc::new(s3s::config::StaticConfigProvider::new(Arc::new(
            s3cfg,
        ))));
        let s3 = b.build();
        let _ = again.set(s3.clone());
        let front = Arc::new(Front {
            s3,
            cache,
            tokens: config.auth.tokens,
            max_skew_secs: config.auth.max_skew_secs,
            keypair: config.auth.keypair,
            region: config.region.clone(),
            dns: config
                .dns_suffix
                .as_deref()
                .map(crate::host::DnsSuffix::new),
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| RgwError::Config(format!("listening on {}: {e}", config.listen)))?;
        let metrics_server = match config.metrics_addr {
            Some(a) => match cuttle_metrics::MetricsServer::bind(&a.to_string()).await {
                Ok(m) => Some(m),
                Err(e) => {
                    // Metrics never stop a gateway: it serves S3 without them.
                    tracing::error!("metrics disabled: {e}");
                    None
                }
            },
            None => None,
        };
        Ok(Server {
            front,
            listener,
            metrics: Arc::new(RgwMetrics::default()),
            metrics_server,
            tls,
            gc: (gc, Duration::from_secs(config.gc_interval_secs.max(1))),
            _watch: watch,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server
            .as_ref()
            .map(cuttle_metrics::MetricsServer::local_addr)
    }

    /// Serves until `stop`, then drains connections (up to [`SHUTDOWN_GRACE`]).
    pub async fn run(mut self, stop: CancellationToken) {
        let tracker = TaskTracker::new();
        if let Some(m) = self.metrics_server.take() {
            tracker.spawn(m.serve(Arc::new(self.metrics.exporter()), None, stop.clone()));
        }
        tracker.spawn(self.gc.0.clone().run(self.gc.1, stop.clone()));
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        if let Some(a) = self.local_addr() {
            tracing::info!("serving S3 on {scheme}://{a}");
        }
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => break,
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let front = self.front.clone();
            let metrics = self.metrics.clone();
            let stop = stop.clone();
            let tls = self.tls.clone();
            tracker.spawn(async move {
                match tls {
                    Some(acceptor) => match acceptor.accept(stream).await {
                        Ok(s) => serve(s, front, metrics, stop).await,
                        Err(e) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    },
                    None => serve(stream, front, metrics, stop).await,
                }
            });
        }
        tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still open after {SHUTDOWN_GRACE:?}; closing them");
        }
    }
}

/// A body length from a `Content-Length` header (0 when absent or unparsable).
fn content_length(headers: &http::HeaderMap) -> u64 {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn serve<I>(io: I, front: Arc<Front>, metrics: Arc<RgwMetrics>, stop: CancellationToken)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
        let front = front.clone();
        let metrics = metrics.clone();
        async move {
            let started = std::time::Instant::now();
            let in_host = front.dns.as_ref().is_some_and(|d| {
                req.headers()
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| d.bucket_of(h))
                    .is_some()
            });
            let op = crate::metrics::classify(req.method(), req.uri(), req.headers(), in_host);
            let received = content_length(req.headers());
            let head = req.method() == http::Method::HEAD;
            // A body held back for `100 Continue` and never read must not leave the
            // connection open (see `unread_body`).
            let (req, read) = crate::unread_body::track(req);
            let mut resp = front.handle(req).await;
            crate::unread_body::finish(&mut resp, read.as_ref());
            let sent = if head {
                0
            } else {
                match resp.headers().get(http::header::CONTENT_LENGTH) {
                    Some(_) => content_length(resp.headers()),
                    None => http_body::Body::size_hint(resp.body()).exact().unwrap_or(0),
                }
            };
            metrics.record(op, resp.status().as_u16(), started, received, sent);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BYTES)
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(60))
        .serve_connection(TokioIo::new(S3ErrorIo::new(io)), svc);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!("connection ended: {e}");
            }
        }
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
