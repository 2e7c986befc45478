//! The gateway's Prometheus metrics (`docs/metrics.md`): S3 requests by operation and
//! status class, latency by operation, and body bytes in and out.
//!
//! The front layer classifies each request into an [`S3Op`] from its method, path and
//! query alone — before authentication, so refused and malformed requests are counted
//! too — and records it when the response head is ready. Every (operation, class)
//! series is created at start and kept in arrays: recording is a few atomic adds.

use std::time::Instant;

use cuttle_metrics::prometheus_client::metrics::counter::Counter;
use cuttle_metrics::prometheus_client::metrics::family::Family;
use cuttle_metrics::prometheus_client::registry::Registry;
use cuttle_metrics::{Exporter, LatencyHistogram};
use http::{Method, Uri};

macro_rules! s3_ops {
    ($($op:ident),* $(,)?) => {
        /// An S3 operation as the metrics name it (S3 API action names).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum S3Op {
            $(
                #[doc = concat!("`", stringify!($op), "`")]
                $op,
            )*
        }

        impl S3Op {
            /// Every operation, in index order.
            pub const ALL: &'static [S3Op] = &[$(S3Op::$op),*];

            /// The `op` label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(S3Op::$op => stringify!($op),)*
                }
            }
        }
    };
}

s3_ops!(
    ListBuckets,
    CreateBucket,
    DeleteBucket,
    HeadBucket,
    ListObjects,
    ListObjectsV2,
    GetBucketLocation,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketVersioning,
    ListMultipartUploads,
    DeleteObjects,
    GetObject,
    HeadObject,
    PutObject,
    CopyObject,
    DeleteObject,
    GetObjectAcl,
    PutObjectAcl,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    Other,
);

/// Status classes, in index order. A gateway never answers a request with a final 1xx
/// (hyper sends `100 Continue` itself), so there is no `1xx` series.
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

fn class_index(status: u16) -> usize {
    usize::from(status / 100).clamp(2, 5) - 2
}

fn has_query_key(uri: &Uri, key: &str) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == key)
    })
}

/// Classifies a request. `bucket_in_host` says the bucket came from the Host header
/// (virtual-hosted style), so the whole path is the key.
pub fn classify(
    method: &Method,
    uri: &Uri,
    headers: &http::HeaderMap,
    bucket_in_host: bool,
) -> S3Op {
    let path = uri.path().trim_start_matches('/');
    let (has_bucket, has_key) = if bucket_in_host {
        (true, !path.is_empty())
    } else {
        match path.split_once('/') {
            None => (!path.is_empty(), false),
            Some((_, key)) => (true, !key.is_empty()),
        }
    };
    let q = |k: &str| has_query_key(uri, k);
    let copy = headers.contains_key("x-amz-copy-source");
    match (has_bucket, has_key) {
        (false, _) if *method == Method::GET => S3Op::ListBuckets,
        (false, _) => S3Op::Other,
        (true, false) => match *method {
            Method::GET if q("acl") => S3Op::GetBucketAcl,
            Method::GET if q("location") => S3Op::GetBucketLocation,
            Method::GET if q("versioning") => S3Op::GetBucketVersioning,
            Method::GET if q("uploads") => S3Op::ListMultipartUploads,
            Method::GET if uri.query().is_some_and(|x| x.contains("list-type=2")) => {
                S3Op::ListObjectsV2
            }
            Method::GET => S3Op::ListObjects,
            Method::PUT if q("acl") => S3Op::PutBucketAcl,
            Method::PUT => S3Op::CreateBucket,
            Method::DELETE => S3Op::DeleteBucket,
            Method::HEAD => S3Op::HeadBucket,
            Method::POST if q("delete") => S3Op::DeleteObjects,
            _ => S3Op::Other,
        },
        (true, true) => match *method {
            Method::GET if q("acl") => S3Op::GetObjectAcl,
            Method::GET if q("uploadId") => S3Op::ListParts,
            Method::GET => S3Op::GetObject,
            Method::HEAD => S3Op::HeadObject,
            Method::PUT if q("acl") => S3Op::PutObjectAcl,
            Method::PUT if q("uploadId") && copy => S3Op::UploadPartCopy,
            Method::PUT if q("uploadId") => S3Op::UploadPart,
            Method::PUT if copy => S3Op::CopyObject,
            Method::PUT => S3Op::PutObject,
            Method::DELETE if q("uploadId") => S3Op::AbortMultipartUpload,
            Method::DELETE => S3Op::DeleteObject,
            Method::POST if q("uploads") => S3Op::CreateMultipartUpload,
            Method::POST if q("uploadId") => S3Op::CompleteMultipartUpload,
            _ => S3Op::Other,
        },
    }
}

type OpLabels = [(&'static str, &'static str); 2];
type OpLabel = [(&'static str, &'static str); 1];

/// The gateway's request metrics.
#[derive(Debug)]
pub struct RgwMetrics {
    requests_family: Family<OpLabels, Counter>,
    latency_family: Family<OpLabel, LatencyHistogram>,
    /// Indexed by `op * CLASSES.len() + class`.
    requests: Vec<Counter>,
    latency: Vec<LatencyHistogram>,
    received: Counter,
    sent: Counter,
}

impl Default for RgwMetrics {
    fn default() -> Self {
        let requests_family = Family::<OpLabels, Counter>::default();
        let latency_family = Family::<OpLabel, LatencyHistogram>::default();
        let mut requests = Vec::with_capacity(S3Op::ALL.len() * CLASSES.len());
        for op in S3Op::ALL {
            for class in CLASSES {
                requests.push(
                    requests_family.get_or_create_owned(&[("op", op.as_str()), ("status", class)]),
                );
            }
        }
        let latency = S3Op::ALL
            .iter()
            .map(|op| latency_family.get_or_create_owned(&[("op", op.as_str())]))
            .collect();
        RgwMetrics {
            requests_family,
            latency_family,
            requests,
            latency,
            received: Counter::default(),
            sent: Counter::default(),
        }
    }
}

impl RgwMetrics {
    /// Records one answered request: its operation, status, when it started, and the
    /// body bytes received and (to be) sent.
    pub fn record(&self, op: S3Op, status: u16, started: Instant, received: u64, sent: u64) {
        let i = op as usize;
        if let Some(c) = self.requests.get(i * CLASSES.len() + class_index(status)) {
            c.inc();
        }
        if let Some(h) = self.latency.get(i) {
            h.observe(started.elapsed());
        }
        self.received.inc_by(received);
        self.sent.inc_by(sent);
    }

    /// An exporter of these metrics.
    pub fn exporter(&self) -> Exporter {
        let mut reg = Registry::default();
        reg.register(
            "cuttle_rgw_requests",
            "S3 requests answered, by operation and status class",
            self.requests_family.clone(),
        );
        reg.register(
            "cuttle_rgw_request_duration_seconds",
            "Time from request head received to response head ready, by operation",
            self.latency_family.clone(),
        );
        reg.register(
            "cuttle_rgw_received_bytes",
            "Request body bytes received (as declared by Content-Length)",
            self.received.clone(),
        );
        reg.register(
            "cuttle_rgw_sent_bytes",
            "Response body bytes sent (Content-Length of the responses; HEAD excluded)",
            self.sent.clone(),
        );
        Exporter::new(reg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, uri: &str, copy: bool, vhost: bool) -> S3Op {
        let uri: Uri = uri.parse().expect("uri");
        let mut h = http::HeaderMap::new();
        if copy {
            h.insert("x-amz-copy-source", http::HeaderValue::from_static("b/k"));
        }
        classify(&method, &uri, &h, vhost)
    }

    #[test]
    fn requests_are_classified() {
        assert_eq!(op(Method::GET, "/", false, false), S3Op::ListBuckets);
        assert_eq!(op(Method::PUT, "/b", false, false), S3Op::CreateBucket);
        assert_eq!(op(Method::PUT, "/b/", false, false), S3Op::CreateBucket);
        assert_eq!(
            op(Method::GET, "/b?list-type=2&prefix=a", false, false),
            S3Op::ListObjectsV2
        );
        assert_eq!(op(Method::GET, "/b?acl", false, false), S3Op::GetBucketAcl);
        assert_eq!(op(Method::GET, "/b/k/x", false, false), S3Op::GetObject);
        assert_eq!(op(Method::PUT, "/b/k", true, false), S3Op::CopyObject);
        assert_eq!(
            op(Method::PUT, "/b/k?partNumber=1&uploadId=u", false, false),
            S3Op::UploadPart
        );
        assert_eq!(
            op(Method::POST, "/b/k?uploads", false, false),
            S3Op::CreateMultipartUpload
        );
        assert_eq!(
            op(Method::POST, "/b?delete", false, false),
            S3Op::DeleteObjects
        );
        assert_eq!(op(Method::GET, "/k", false, true), S3Op::GetObject);
        assert_eq!(op(Method::GET, "/", false, true), S3Op::ListObjects);
        assert_eq!(op(Method::PATCH, "/b/k", false, false), S3Op::Other);
    }

    #[test]
    fn records_land_in_their_series() {
        let m = RgwMetrics::default();
        m.record(S3Op::GetObject, 403, Instant::now(), 0, 120);
        m.record(S3Op::GetObject, 200, Instant::now(), 0, 5);
        m.record(S3Op::PutObject, 200, Instant::now(), 10, 0);
        let text = m.exporter().render().expect("render");
        for want in [
            "cuttle_rgw_requests_total{op=\"GetObject\",status=\"4xx\"} 1\n",
            "cuttle_rgw_requests_total{op=\"GetObject\",status=\"2xx\"} 1\n",
            "cuttle_rgw_request_duration_seconds_count{op=\"GetObject\"} 2\n",
            "cuttle_rgw_received_bytes_total 10\n",
            "cuttle_rgw_sent_bytes_total 125\n",
        ] {
            assert!(text.contains(want), "{want} not in {text}");
        }
    }
}
