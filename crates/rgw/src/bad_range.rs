//! Unusable `Range` headers, answered as S3 does: a GET or HEAD whose `Range` cannot be
//! parsed (`bytes=9-2`, `bytes=abc`, another unit) is served as if it had none (200,
//! the whole object; RFC 9110 §14.2), where s3s would refuse it with `InvalidArgument`.
//!
//! The header is usually signed, so it cannot be dropped before s3s checks the
//! signature. Instead this s3s route claims such requests after the signature check,
//! establishes the [`Caller`] from the verified credentials, and hands the request,
//! without `Range` and without its credentials, back to the same service, which then
//! sees an already authenticated request (as for token requests, see
//! [`crate::front`]).

use std::sync::{Arc, OnceLock};

use http::{Extensions, HeaderMap, Method, Request, Uri};
use s3s::route::S3Route;
use s3s::service::S3Service;
use s3s::{Body, S3Request, S3Response, S3Result, s3_error};

use crate::auth::{AuthCache, Caller};

/// The route; `service` is filled in once the service that holds the route is built
/// (the resulting reference cycle lives as long as the process).
pub struct IgnoreBadRange {
    /// Credential lookups.
    pub cache: Arc<AuthCache>,
    /// The service to hand the request back to.
    pub service: Arc<OnceLock<S3Service>>,
}

impl std::fmt::Debug for IgnoreBadRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IgnoreBadRange").finish_non_exhaustive()
    }
}

/// Whether a request is a GET or HEAD with a `Range` header s3s cannot parse.
pub fn has_bad_range(method: &Method, headers: &HeaderMap) -> bool {
    if method != Method::GET && method != Method::HEAD {
        return false;
    }
    headers.get(http::header::RANGE).is_some_and(|v| {
        v.to_str()
            .map_or(true, |s| s3s::dto::Range::parse(s.trim()).is_err())
    })
}

#[async_trait::async_trait]
impl S3Route for IgnoreBadRange {
    fn is_match(&self, method: &Method, _: &Uri, headers: &HeaderMap, _: &mut Extensions) -> bool {
        has_bad_range(method, headers)
    }

    async fn check_access(&self, req: &mut S3Request<Body>) -> S3Result<()> {
        if req.extensions.get::<Caller>().is_some() {
            return Ok(());
        }
        let Some(cred) = &req.credentials else {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        };
        let uid = match self.cache.key(&cred.access_key).await {
            Ok(Some(r)) => r.uid,
            Ok(None) => return Err(s3_error!(InvalidAccessKeyId)),
            Err(e) => return Err(crate::auth::unavailable(&e)),
        };
        let caller = self.cache.active(&uid).await?;
        req.extensions.insert(caller);
        Ok(())
    }

    async fn call(&self, req: S3Request<Body>) -> S3Result<S3Response<Body>> {
        let service = self
            .service
            .get()
            .ok_or_else(|| s3_error!(ServiceUnavailable, "Please reduce your request rate."))?;
        let mut headers = req.headers;
        headers.remove(http::header::RANGE);
        headers.remove(http::header::AUTHORIZATION);
        let mut again = Request::new(Body::empty());
        *again.method_mut() = req.method;
        *again.uri_mut() = crate::front::strip_signing_params(&req.uri)?;
        *again.headers_mut() = headers;
        *again.extensions_mut() = req.extensions;
        let resp = service.call(again).await.map_err(|e| {
            tracing::error!("s3 service failed: {e:?}");
            s3_error!(InternalError)
        })?;
        let (parts, body) = resp.into_parts();
        let mut out = S3Response::with_status(body, parts.status);
        out.headers = parts.headers;
        out.extensions = parts.extensions;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_range(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::RANGE, v.parse().expect("header"));
        h
    }

    #[test]
    fn only_unparseable_ranges_of_reads_match() {
        for bad in ["bytes=9-2", "bytes=abc", "items=0-1", "bytes=0-1,4-5"] {
            assert!(has_bad_range(&Method::GET, &with_range(bad)), "{bad}");
            assert!(has_bad_range(&Method::HEAD, &with_range(bad)), "{bad}");
        }
        for good in ["bytes=0-1", "bytes=-5", "bytes=7-", "bytes=1000-2000"] {
            assert!(!has_bad_range(&Method::GET, &with_range(good)), "{good}");
        }
        assert!(!has_bad_range(&Method::PUT, &with_range("bytes=9-2")));
        assert!(!has_bad_range(&Method::GET, &HeaderMap::new()));
    }
}
