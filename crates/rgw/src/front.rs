//! The layer in front of s3s, applied to every HTTP request:
//!
//! - a request id (`x-amz-request-id`, `x-amz-id-2`) on every response;
//! - S3's header-section limit (`RequestHeaderSectionTooLarge`);
//! - token mode: a request whose access key is a token authenticates by the token
//!   alone. s3s's auth hook can only supply a secret to verify a signature with, so
//!   token requests are recognised here, their signature material is removed (the
//!   header or the presigned query parameters, after checking the presigned expiry or
//!   the clock skew), an aws-chunked body is decoded here ([`crate::chunked`]), and
//!   the [`Caller`] is attached for the access hook. s3s then sees an already
//!   authenticated request without credentials, and never sees the token (so it cannot
//!   log it);
//! - SigV2 clock skew, which s3s does not check (`RequestTimeTooSkewed`);
//! - SigV2 signatures, verified here ([`crate::sigv2`]) in constant time and with the
//!   canonical forms clients actually sign; the request then goes on to s3s as an
//!   already authenticated one, like a token request;
//! - SigV4 header signatures over a signed payload hash (`x-amz-content-sha256` of 64
//!   hex digits), verified here ([`crate::sigv4`]) so that the body's SHA-256 is
//!   checked by [`crate::payload_hash`] (in the upload path's lane service) rather
//!   than by s3s on a reactor thread; what this cannot verify goes to s3s unchanged.
//!   A body that fails the check is answered `XAmzContentSHA256Mismatch`;
//! - the SigV4 signing region: a credential scope naming another region than the
//!   gateway's is refused as S3 refuses it (`AuthorizationHeaderMalformed`, or
//!   `AuthorizationQueryParametersError` for a presigned URL, with `<Region>`), before
//!   anything else about the credential is looked at (keys, tokens, signatures);
//! - error bodies completed with their context elements and request id
//!   ([`crate::error_body`]).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Request, Response, Uri};
use s3s::dto::{Timestamp, TimestampFormat};
use s3s::service::S3Service;
use s3s::{Body, S3Error, S3ErrorCode, s3_error};

use crate::auth::{AuthCache, Caller};
use crate::chunked;
use crate::payload_hash::PayloadCheck;

/// Largest request header section S3 accepts (names, values and separators).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Longest lifetime of a SigV4 presigned URL (a week), as S3 allows.
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// Query parameters that carry a presigned signature.
const SIGNING_PARAMS: [&str; 10] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// The request id of a request (in its extensions, for handlers that want it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The front layer.
pub struct Front {
    /// s3s's service (routing, signatures, XML).
    pub s3: S3Service,
    /// Credential lookups.
    pub cache: Arc<AuthCache>,
    /// Token mode on.
    pub tokens: bool,
    /// Largest clock skew, seconds.
    pub max_skew_secs: u32,
    /// Keypair (access key + secret) mode on.
    pub keypair: bool,
    /// The region SigV4 requests must be signed for.
    pub region: String,
    /// Virtual-hosted-style suffix (for SigV2's canonical resource).
    pub dns: Option<crate::host::DnsSuffix>,
}

impl std::fmt::Debug for Front {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Front")
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// Where a request's access key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signed {
    V4Header {
        key: String,
        /// The credential scope's region, when the scope has one.
        region: Option<String>,
    },
    V2Header {
        key: String,
    },
    V4Query {
        key: String,
        region: Option<String>,
        date: String,
        expires: String,
    },
    V2Query {
        key: String,
        expires: String,
    },
    None,
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    let dec = |s: &str| {
                        crate::error_body::percent_decode(s).unwrap_or_else(|| s.to_string())
                    };
                    (dec(k), dec(v))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Percent-decoding (`+` stays `+`, as S3 signs it).
/// Whether the query string has the parameter `key` (`?acl`, `?acl=`).
fn has_query_key(uri: &Uri, key: &str) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == key)
    })
}

fn signed<B>(req: &Request<B>) -> Signed {
    if let Some(a) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(rest) = a.strip_prefix("AWS4-HMAC-SHA256") {
            let cred = rest
                .split([',', ' '])
                .find_map(|p| p.trim().strip_prefix("Credential="))
                .unwrap_or_default();
            return Signed::V4Header {
                key: cred.split('/').next().unwrap_or_default().to_string(),
                region: scope_region(cred),
            };
        }
        if let Some(rest) = a.strip_prefix("AWS ") {
            let key = rest.rsplit_once(':').map(|(k, _)| k).unwrap_or_default();
            return Signed::V2Header {
                key: key.trim().to_string(),
            };
        }
        return Signed::None;
    }
    let q = query_pairs(req.uri());
    let get = |n: &str| q.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    if let (Some(cred), Some(_)) = (get("X-Amz-Credential"), get("X-Amz-Signature")) {
        return Signed::V4Query {
            key: cred.split('/').next().unwrap_or_default().to_string(),
            region: scope_region(&cred),
            date: get("X-Amz-Date").unwrap_or_default(),
            expires: get("X-Amz-Expires").unwrap_or_default(),
        };
    }
    if let (Some(key), Some(_)) = (get("AWSAccessKeyId"), get("Signature")) {
        return Signed::V2Query {
            key,
            expires: get("Expires").unwrap_or_default(),
        };
    }
    Signed::None
}

/// The region of a SigV4 credential (`KEY/DATE/REGION/SERVICE/aws4_request`), when
/// it has the five parts (a malformed one is s3s's to refuse).
fn scope_region(cred: &str) -> Option<String> {
    let parts: Vec<&str> = cred.split('/').collect();
    (parts.len() == 5).then(|| parts[2].to_string())
}

/// S3's answer to a request signed for `given` instead of `expected`.
fn wrong_region(given: &str, expected: &str, presigned: bool) -> S3Error {
    let (code, message) = if presigned {
        (
            "AuthorizationQueryParametersError",
            format!(
                "Error parsing the X-Amz-Credential parameter; the region '{given}' is wrong; expecting '{expected}'"
            ),
        )
    } else {
        (
            "AuthorizationHeaderMalformed",
            format!(
                "The authorization header is malformed; the region '{given}' is wrong; expecting '{expected}'"
            ),
        )
    };
    let mut e = S3Error::with_message(S3ErrorCode::Custom(code.into()), message);
    e.set_status_code(http::StatusCode::BAD_REQUEST);
    crate::error_body::with_element(e, crate::error_body::Element::Region, expected)
}

fn unix(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn parse_amz_date(s: &str) -> Option<i64> {
    // 20130524T000000Z
    let t = Timestamp::parse(
        TimestampFormat::DateTime,
        &format!(
            "{}-{}-{}T{}:{}:{}Z",
            s.get(0..4)?,
            s.get(4..6)?,
            s.get(6..8)?,
            s.get(9..11)?,
            s.get(11..13)?,
            s.get(13..15)?
        ),
    )
    .ok()?;
    Some(time::OffsetDateTime::from(t).unix_timestamp())
}

fn parse_http_date(s: &str) -> Option<i64> {
    crate::sigv2::parse_http_date(s)
}

/// The request's own date (`x-amz-date`, else `Date`), unix seconds.
fn request_date<B>(req: &Request<B>) -> Option<i64> {
    let h = req.headers();
    if let Some(v) = h.get("x-amz-date").and_then(|v| v.to_str().ok()) {
        return parse_amz_date(v).or_else(|| parse_http_date(v));
    }
    h.get(http::header::DATE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date)
}

fn expired() -> S3Error {
    s3_error!(AccessDenied, "Request has expired")
}

fn skewed() -> S3Error {
    s3_error!(
        RequestTimeTooSkewed,
        "The difference between the request time and the current time is too large."
    )
}

/// Removes the quotes around the `<ETag>` value of an XML response body (kept in
/// memory by s3s), fixing its Content-Length.
fn unquote_etag(resp: &mut Response<Body>) {
    let Some(body) = resp.body().bytes() else {
        return;
    };
    let (open, close) = (&b"<ETag>\""[..], &b"\"</ETag>"[..]);
    let Some(start) = body.windows(open.len()).position(|w| w == open) else {
        return;
    };
    let Some(end) = body[start..]
        .windows(close.len())
        .position(|w| w == close)
        .map(|p| start + p)
    else {
        return;
    };
    let mut new = Vec::with_capacity(body.len());
    new.extend_from_slice(&body[..start + open.len() - 1]);
    new.extend_from_slice(&body[start + open.len()..end]);
    new.extend_from_slice(&body[end + 1..]);
    if let Ok(v) = HeaderValue::from_str(&new.len().to_string()) {
        resp.headers_mut().insert(http::header::CONTENT_LENGTH, v);
    }
    *resp.body_mut() = Body::from(bytes::Bytes::from(new));
}

impl Front {
    /// Serves one request.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: Into<Body>,
    {
        let id = crate::names::new_request_id();
        let method = req.method().clone();
        let path = req.uri().path().to_string();
        let acl_put = method == http::Method::PUT && has_query_key(req.uri(), "acl");
        let attributes_get = method == http::Method::GET && has_query_key(req.uri(), "attributes");
        let start = std::time::Instant::now();
        let mut payload_check = None;
        let mut resp = match self.prepare(req, &id).await {
            Ok(req) => {
                payload_check = req.extensions().get::<Arc<PayloadCheck>>().cloned();
                match self.s3.call(req).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(request = %id, "s3 service failed: {e:?}");
                        error_response(s3_error!(InternalError))
                    }
                }
            }
            Err(e) => error_response(e),
        };
        if resp.status() == http::StatusCode::INTERNAL_SERVER_ERROR
            && payload_check.is_some_and(|c| c.body_mismatched())
        {
            resp = error_response(crate::s3::payload_mismatch());
        }
        // s3s calls an unparsable body MalformedXML; for an ACL S3 says MalformedACLError.
        if acl_put
            && resp.status() == http::StatusCode::BAD_REQUEST
            && resp
                .body()
                .bytes()
                .is_some_and(|b| b.windows(25).any(|w| w == b"<Code>MalformedXML</Code>"))
        {
            resp = error_response(crate::s3::malformed_acl());
        }
        // S3 writes GetObjectAttributes' ETag without quotes (s3s quotes every ETag).
        if attributes_get && resp.status() == http::StatusCode::OK {
            unquote_etag(&mut resp);
        }
        // s3s answers every HeadObject with 200; S3 answers a ranged one with 206.
        if method == http::Method::HEAD
            && resp.status() == http::StatusCode::OK
            && resp.headers().contains_key(http::header::CONTENT_RANGE)
        {
            *resp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
        }
        crate::error_body::finish(&mut resp, &id, method == http::Method::HEAD);
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert("x-amz-request-id", v.clone());
            resp.headers_mut().insert("x-amz-id-2", v);
        }
        resp.headers_mut()
            .insert(http::header::SERVER, HeaderValue::from_static("Cuttle"));
        tracing::debug!(
            request = %id, %method, %path, status = resp.status().as_u16(),
            ms = start.elapsed().as_millis() as u64, "s3 request"
        );
        resp
    }

    async fn prepare<B>(&self, req: Request<B>, id: &str) -> Result<Request<Body>, S3Error>
    where
        B: Into<Body>,
    {
        let header_bytes: usize = req
            .headers()
            .iter()
            .map(|(k, v)| k.as_str().len() + v.len() + 4)
            .sum();
        if header_bytes > MAX_HEADER_BYTES {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("RequestHeaderSectionTooLarge".into()),
                "Your request header section exceeds the maximum allowed size.",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(e);
        }
        let signed = signed(&req);
        if signed == Signed::None && req.headers().contains_key(http::header::AUTHORIZATION) {
            // As S3 does; and s3s would otherwise go on to a presigned query beside it.
            return Err(s3_error!(InvalidArgument, "Unsupported Authorization Type"));
        }
        match &signed {
            Signed::V4Header {
                region: Some(r), ..
            } if *r != self.region => return Err(wrong_region(r, &self.region, false)),
            Signed::V4Query {
                region: Some(r), ..
            } if *r != self.region => return Err(wrong_region(r, &self.region, true)),
            _ => {}
        }
        let now = unix(SystemTime::now());
        let skew = i64::from(self.max_skew_secs);
        let key = match &signed {
            Signed::V4Header { key, .. }
            | Signed::V2Header { key }
            | Signed::V4Query { key, .. }
            | Signed::V2Query { key, .. } => key.clone(),
            Signed::None => String::new(),
        };
        let is_token = self.tokens && crate::names::is_token_shaped(&key);
        let is_v2 = matches!(signed, Signed::V2Header { .. } | Signed::V2Query { .. });
        if matches!(signed, Signed::V2Header { .. })
            || (is_token && matches!(signed, Signed::V4Header { .. }))
        {
            match request_date(&req) {
                Some(t) if (now - t).abs() > skew => return Err(skewed()),
                Some(_) => {}
                None => {
                    return Err(s3_error!(
                        AccessDenied,
                        "AWS authentication requires a valid Date or x-amz-date header"
                    ));
                }
            }
        }
        if let Signed::V4Query { expires, .. } = &signed
            && expires
                .parse::<i64>()
                .is_ok_and(|e| e > MAX_PRESIGNED_EXPIRES_SECS)
        {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("AuthorizationQueryParametersError".into()),
                "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            return Err(e);
        }
        let (mut parts, body) = req.map(Into::into).into_parts();
        parts.extensions.insert(RequestId(id.to_string()));
        if !is_token && !is_v2 {
            if !v4_signature_well_formed(&parts) {
                // s3s refuses these as malformed (400); S3 just finds they do not match.
                return Err(signature_mismatch());
            }
            if matches!(signed, Signed::V4Header { .. }) {
                if let Some((caller, check)) = self.verify_v4_header(&parts, now).await {
                    parts.extensions.insert(caller);
                    parts.headers.remove(http::header::AUTHORIZATION);
                    let body =
                        crate::payload_hash::checked(Some(check), &mut parts.extensions, body);
                    return Ok(Request::from_parts(parts, body));
                }
                tracing::debug!(request = %id, "SigV4 signature left to s3s's check");
            }
            return Ok(Request::from_parts(parts, body));
        }
        match &signed {
            Signed::V4Query { date, expires, .. } => {
                let t = parse_amz_date(date)
                    .ok_or_else(|| s3_error!(AccessDenied, "invalid X-Amz-Date"))?;
                let e: i64 = expires
                    .parse()
                    .map_err(|_| s3_error!(AccessDenied, "invalid X-Amz-Expires"))?;
                if t - now > skew {
                    return Err(skewed());
                }
                if now > t + e {
                    return Err(expired());
                }
            }
            Signed::V2Query { expires, .. } => {
                let e: i64 = expires
                    .parse()
                    .map_err(|_| s3_error!(AccessDenied, "invalid Expires"))?;
                if now > e {
                    return Err(expired());
                }
            }
            _ => {}
        }
        if !is_token {
            let caller = self.verify_v2(&parts, &signed, &key).await?;
            parts.extensions.insert(caller);
            parts.headers.remove(http::header::AUTHORIZATION);
            if matches!(signed, Signed::V2Query { .. }) {
                parts.uri = strip_signing_params(&parts.uri)?;
            }
            return Ok(Request::from_parts(parts, body));
        }
        let rec = match self.cache.token(&key).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                ));
            }
            Err(e) => return Err(crate::auth::unavailable(&e)),
        };
        let caller: Caller = self.cache.active(&rec.uid).await?;
        parts.extensions.insert(caller);
        parts.headers.remove(http::header::AUTHORIZATION);
        if matches!(signed, Signed::V4Query { .. } | Signed::V2Query { .. }) {
            parts.uri = strip_signing_params(&parts.uri)?;
        }
        let streaming = parts
            .headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("STREAMING-"));
        if !streaming {
            let check = PayloadCheck::of(&parts.headers);
            let body = crate::payload_hash::checked(check, &mut parts.extensions, body);
            return Ok(Request::from_parts(parts, body));
        }
        let decoded = parts
            .headers
            .get("x-amz-decoded-content-length")
            .cloned()
            .ok_or_else(|| {
                s3_error!(
                    MissingContentLength,
                    "missing header: x-amz-decoded-content-length"
                )
            })?;
        parts.headers.insert(http::header::CONTENT_LENGTH, decoded);
        parts.headers.remove("x-amz-content-sha256");
        let (stream, trailers) = chunked::decode(body);
        parts.extensions.insert(trailers);
        let dynamic: s3s::stream::DynByteStream = Box::pin(SizedStream::new(stream));
        Ok(Request::from_parts(parts, Body::from(dynamic)))
    }
}

impl Front {
    /// Verifies a keypair SigV2 request (header or presigned) and returns its caller.
    async fn verify_v2(
        &self,
        parts: &http::request::Parts,
        signed: &Signed,
        key: &str,
    ) -> Result<Caller, S3Error> {
        let unknown = || {
            s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        };
        if !self.keypair {
            return Err(unknown());
        }
        let query = query_pairs(&parts.uri);
        let (mode, given) = match signed {
            Signed::V2Header { .. } => {
                let sig = parts
                    .headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|a| a.rsplit_once(':'))
                    .map(|(_, s)| s.trim().to_string())
                    .unwrap_or_default();
                (crate::sigv2::Mode::Header, sig)
            }
            _ => {
                let sig = query
                    .iter()
                    .find(|(k, _)| k == "Signature")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                (crate::sigv2::Mode::Query, sig)
            }
        };
        let rec = match self.cache.key(key).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err(unknown()),
            Err(e) => return Err(crate::auth::unavailable(&e)),
        };
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or_default();
        let vh = self.dns.as_ref().and_then(|d| d.bucket_of(host));
        let raw = parts.uri.path();
        let decoded = crate::error_body::percent_decode(raw);
        let mut ok = false;
        for resource in crate::sigv2::resources(raw, decoded.as_deref(), vh) {
            let sts = crate::sigv2::string_to_sign(&crate::sigv2::Request {
                method: parts.method.as_str(),
                resource: &resource,
                query: &query,
                headers: &parts.headers,
                mode,
            });
            // Every candidate is compared (no early exit), each in constant time.
            ok |=
                crate::sigv2::signatures_match(&given, &crate::sigv2::sign(&rec.secret_key, &sts));
        }
        if !ok {
            return Err(signature_mismatch());
        }
        self.cache.active(&rec.uid).await
    }

    /// Verifies a keypair SigV4 header signature over a signed payload hash (64 hex
    /// digits in `x-amz-content-sha256`), as s3s would, and returns the caller and the
    /// body's check; `None` for anything else, which then goes to s3s unchanged (see
    /// [`crate::sigv4`]).
    async fn verify_v4_header(
        &self,
        parts: &http::request::Parts,
        now: i64,
    ) -> Option<(Caller, Arc<PayloadCheck>)> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let payload_hash = header("x-amz-content-sha256")?;
        let check = PayloadCheck::from_header(payload_hash)?;
        if !self.keypair || parts.headers.contains_key(http::header::TRANSFER_ENCODING) {
            return None;
        }
        let auth = crate::sigv4::Authorization::parse(header("authorization")?)?;
        let amz_date = header("x-amz-date")?;
        let signed_at = parse_amz_date(amz_date)?;
        if auth.service != "s3"
            || auth.region != self.region
            || amz_date.get(..8) != Some(auth.date)
            || (now - signed_at).abs() > i64::from(self.max_skew_secs)
        {
            return None;
        }
        let request = crate::sigv4::Request {
            method: parts.method.as_str(),
            raw_path: parts.uri.path(),
            raw_query: parts.uri.query(),
            headers: &parts.headers,
            payload_hash,
        };
        let canonical = crate::sigv4::canonical_request(&request, auth.signed_headers)?;
        let rec = self.cache.key(auth.access_key).await.ok()??;
        let expected = crate::sigv4::sign(&rec.secret_key, &auth, amz_date, &canonical);
        if !crate::sigv4::signatures_match(auth.signature, &expected) {
            return None;
        }
        let caller = self.cache.active(&rec.uid).await.ok()?;
        Some((caller, check))
    }
}

fn signature_mismatch() -> S3Error {
    s3_error!(
        SignatureDoesNotMatch,
        "The request signature we calculated does not match the signature you provided."
    )
}

/// Whether a SigV4 signature, if the request has one, is 64 lower-case hex digits.
fn v4_signature_well_formed(parts: &http::request::Parts) -> bool {
    let hex64 =
        |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if let Some(a) = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|a| a.strip_prefix("AWS4-HMAC-SHA256"))
    {
        return a
            .split([',', ' '])
            .find_map(|p| p.trim().strip_prefix("Signature="))
            .is_none_or(hex64);
    }
    query_pairs(&parts.uri)
        .iter()
        .find(|(k, _)| k == "X-Amz-Signature")
        .is_none_or(|(_, v)| hex64(v))
}

fn error_response(e: S3Error) -> Response<Body> {
    e.to_http_response().unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

pub(crate) fn strip_signing_params(uri: &Uri) -> Result<Uri, S3Error> {
    let kept: Vec<&str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            !p.is_empty() && !SIGNING_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(k))
        })
        .collect();
    let pq = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut b = Uri::builder().path_and_query(pq);
    if let Some(s) = uri.scheme() {
        b = b.scheme(s.clone());
    }
    if let Some(a) = uri.authority() {
        b = b.authority(a.clone());
    }
    b.build().map_err(|_| s3_error!(InvalidURI))
}

/// A decoded body as s3s's byte stream (length unknown; Content-Length tells it).
struct SizedStream<S> {
    inner: std::pin::Pin<Box<sync_wrapper::SyncStream<S>>>,
}

impl<S: futures::Stream> SizedStream<S> {
    fn new(s: S) -> Self {
        SizedStream {
            inner: Box::pin(sync_wrapper::SyncStream::new(s)),
        }
    }
}

impl<S> futures::Stream for SizedStream<S>
where
    S: futures::Stream<Item = Result<bytes::Bytes, chunked::ChunkedError>>,
{
    type Item = Result<bytes::Bytes, s3s::StdError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.inner
            .as_mut()
            .poll_next(cx)
            .map(|o| o.map(|r| r.map_err(|e| Box::new(e) as s3s::StdError)))
    }
}

impl<S> s3s::stream::ByteStream for SizedStream<S> where
    S: futures::Stream<Item = Result<bytes::Bytes, chunked::ChunkedError>>
{
}

/// The skew allowed, as a duration (for tests and docs).
pub fn max_skew(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_etag_loses_its_quotes_and_nothing_else_changes() {
        let xml = r#"<GetObjectAttributesResponse><ETag>"abc-2"</ETag><ObjectSize>5</ObjectSize></GetObjectAttributesResponse>"#;
        let mut resp = Response::new(Body::from(xml.to_string()));
        unquote_etag(&mut resp);
        let body = resp.body().bytes().expect("in memory");
        assert_eq!(
            &body[..],
            br#"<GetObjectAttributesResponse><ETag>abc-2</ETag><ObjectSize>5</ObjectSize></GetObjectAttributesResponse>"#
        );
        assert_eq!(
            resp.headers()[http::header::CONTENT_LENGTH],
            body.len().to_string()
        );
        let plain = r#"<GetObjectAttributesResponse><ObjectSize>5</ObjectSize></GetObjectAttributesResponse>"#;
        let mut resp = Response::new(Body::from(plain.to_string()));
        unquote_etag(&mut resp);
        assert_eq!(
            &resp.body().bytes().expect("in memory")[..],
            plain.as_bytes()
        );
    }

    fn req(uri: &str, auth: Option<&str>) -> Request<()> {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        b.body(()).expect("request")
    }

    #[test]
    fn access_keys_are_found_in_every_signing_form() {
        let r = req(
            "/b/k",
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab",
            ),
        );
        assert_eq!(
            signed(&r),
            Signed::V4Header {
                key: "AKID".into(),
                region: Some("us-east-1".into())
            }
        );
        let r = req("/b/k", Some("AWS AKID:c2ln"));
        assert_eq!(signed(&r), Signed::V2Header { key: "AKID".into() });
        let r = req(
            "/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=ab",
            None,
        );
        assert!(
            matches!(signed(&r), Signed::V4Query { key, region, .. } if key == "AKID" && region.as_deref() == Some("us-east-1"))
        );
        let r = req("/b/k?AWSAccessKeyId=AKID&Expires=1&Signature=x%2B", None);
        assert!(matches!(signed(&r), Signed::V2Query { key, .. } if key == "AKID"));
        assert_eq!(signed(&req("/b/k", None)), Signed::None);
    }

    #[test]
    fn signing_parameters_are_stripped_and_others_kept() {
        let u: Uri = "/b/k?uploadId=7&X-Amz-Signature=ab&X-Amz-Credential=x&partNumber=2"
            .parse()
            .expect("uri");
        let s = strip_signing_params(&u).expect("strips");
        assert_eq!(s.to_string(), "/b/k?uploadId=7&partNumber=2");
        let u: Uri = "/b/k?Signature=x&AWSAccessKeyId=y&Expires=3"
            .parse()
            .expect("uri");
        assert_eq!(
            strip_signing_params(&u).expect("strips").to_string(),
            "/b/k"
        );
    }

    #[test]
    fn the_signing_region_is_read_and_a_wrong_one_refused_as_s3_does() {
        assert_eq!(
            scope_region("AK/20240101/eu-west-1/s3/aws4_request").as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(scope_region("AK/20240101/s3"), None);
        for (presigned, code, start) in [
            (
                false,
                "AuthorizationHeaderMalformed",
                "The authorization header is malformed;",
            ),
            (
                true,
                "AuthorizationQueryParametersError",
                "Error parsing the X-Amz-Credential parameter;",
            ),
        ] {
            let e = wrong_region("eu-west-1", "us-east-1", presigned);
            assert_eq!(e.code().as_str(), code);
            assert_eq!(e.status_code(), Some(http::StatusCode::BAD_REQUEST));
            let msg = e.message().unwrap_or_default().to_string();
            assert!(msg.starts_with(start), "{msg}");
            assert!(
                msg.ends_with("the region 'eu-west-1' is wrong; expecting 'us-east-1'"),
                "{msg}"
            );
            let mut r = error_response(e);
            crate::error_body::finish(&mut r, "ID", false);
            let body = r.body().bytes().map(|b| b.to_vec()).unwrap_or_default();
            let body = String::from_utf8_lossy(&body);
            assert!(
                body.contains("<Region>us-east-1</Region><RequestId>"),
                "{body}"
            );
        }
    }

    #[test]
    fn dates_parse_in_both_forms() {
        assert_eq!(parse_amz_date("20240101T000000Z"), Some(1_704_067_200));
        assert_eq!(
            parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT"),
            Some(1_704_067_200)
        );
        assert_eq!(parse_amz_date("nope"), None);
    }
}
