//! AWS Signature Version 2 (header `Authorization: AWS key:sig` and presigned
//! `?AWSAccessKeyId=&Expires=&Signature=`), verified here rather than by s3s:
//!
//! - the comparison is constant-time (s3s 0.14's SigV2 check compares with `!=`);
//! - the canonical resource of a bucket-only request is accepted with or without the
//!   trailing slash (boto3 and s3cmd sign `/bucket/` while sending `/bucket`, which
//!   AWS accepts), and with the path as sent or percent-decoded;
//! - dates in RFC 2822 form with a numeric zone (`+0000`, as s3cmd sends) are read.
//!
//! The string to sign (AWS's "Signing and authenticating REST requests"):
//!
//! ```text
//! VERB \n Content-MD5 \n Content-Type \n Date-or-Expires \n
//! CanonicalizedAmzHeaders CanonicalizedResource
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use s3s::crypto::{Checksum, Sha1};
use subtle::ConstantTimeEq;

/// Sub-resources that are part of the canonicalized resource (sorted).
const SUB_RESOURCES: [&str; 35] = [
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "defaultObjectAcl",
    "delete",
    "inventory",
    "lifecycle",
    "location",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "partNumber",
    "policy",
    "replication",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "select",
    "select-type",
    "storageClass",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// HMAC-SHA1 (RFC 2104).
fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..20].copy_from_slice(&Sha1::checksum(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(&k.map(|b| b ^ 0x36));
    inner.update(data);
    let inner = inner.finalize();
    let mut outer = Sha1::new();
    outer.update(&k.map(|b| b ^ 0x5c));
    outer.update(&inner);
    outer.finalize()
}

/// The signature of a string to sign.
pub fn sign(secret: &str, string_to_sign: &str) -> String {
    STANDARD.encode(hmac_sha1(secret.as_bytes(), string_to_sign.as_bytes()))
}

/// Whether two signatures are equal, in time independent of where they differ.
pub fn signatures_match(given: &str, expected: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// Which form of SigV2 a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Authorization` header: the Date line is `Date` (empty with `x-amz-date`).
    Header,
    /// Presigned query: the Date line is the `Expires` parameter.
    Query,
}

/// What a SigV2 string to sign is made of.
#[derive(Debug)]
pub struct Request<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Canonicalized resource path (`/bucket/key` as signed).
    pub resource: &'a str,
    /// Query parameters, decoded.
    pub query: &'a [(String, String)],
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Header or presigned.
    pub mode: Mode,
}

fn header<'h>(h: &'h HeaderMap, name: &str) -> &'h str {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The string to sign of a request.
pub fn string_to_sign(r: &Request<'_>) -> String {
    let mut s = String::with_capacity(256);
    s.push_str(r.method);
    s.push('\n');
    s.push_str(header(r.headers, "content-md5"));
    s.push('\n');
    s.push_str(header(r.headers, "content-type"));
    s.push('\n');
    match r.mode {
        Mode::Header => {
            if !r.headers.contains_key("x-amz-date") {
                s.push_str(header(r.headers, "date"));
            }
        }
        Mode::Query => {
            if let Some((_, v)) = r.query.iter().find(|(k, _)| k == "Expires") {
                s.push_str(v);
            }
        }
    }
    s.push('\n');
    let mut names: Vec<&str> = r
        .headers
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("x-amz-"))
        .collect();
    names.sort_unstable();
    names.dedup();
    for n in names {
        let values: Vec<&str> = r
            .headers
            .get_all(n)
            .iter()
            .map(|v| v.to_str().map(str::trim).unwrap_or_default())
            .collect();
        s.push_str(n);
        s.push(':');
        s.push_str(&values.join(","));
        s.push('\n');
    }
    s.push_str(r.resource);
    let mut sub: Vec<&(String, String)> = r
        .query
        .iter()
        .filter(|(k, _)| SUB_RESOURCES.contains(&k.as_str()))
        .collect();
    sub.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (k, v)) in sub.into_iter().enumerate() {
        s.push(if i == 0 { '?' } else { '&' });
        s.push_str(k);
        if !v.is_empty() {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

/// The canonicalized resources a request may have been signed with: its path as
/// sent and percent-decoded, each also with a trailing slash when it names a bucket
/// only, all prefixed with `/bucket` for virtual-hosted-style requests.
pub fn resources(
    raw_path: &str,
    decoded_path: Option<&str>,
    vh_bucket: Option<&str>,
) -> Vec<String> {
    let mut paths = vec![raw_path.to_string()];
    if let Some(d) = decoded_path
        && d != raw_path
    {
        paths.push(d.to_string());
    }
    let mut out = Vec::new();
    for p in paths {
        let full = match vh_bucket {
            Some(b) => format!("/{b}{p}"),
            None => p,
        };
        let bucket_only = full.len() > 1 && !full[1..].contains('/');
        if bucket_only {
            out.push(format!("{full}/"));
        }
        out.push(full);
    }
    out
}

/// Unix seconds of an HTTP date: RFC 7231 (`Sun, 06 Nov 1994 08:49:37 GMT`) and
/// RFC 2822 with a numeric or named zone (`+0000`, `UTC`, `Z`).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    let s = s.split_once(',').map_or(s, |(_, rest)| rest).trim();
    let mut it = s.split_ascii_whitespace();
    let day: u8 = it.next()?.parse().ok()?;
    let month = match it.next()?.to_ascii_lowercase().as_str() {
        "jan" => time::Month::January,
        "feb" => time::Month::February,
        "mar" => time::Month::March,
        "apr" => time::Month::April,
        "may" => time::Month::May,
        "jun" => time::Month::June,
        "jul" => time::Month::July,
        "aug" => time::Month::August,
        "sep" => time::Month::September,
        "oct" => time::Month::October,
        "nov" => time::Month::November,
        "dec" => time::Month::December,
        _ => return None,
    };
    let year: i32 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u8 = hms.next()?.parse().ok()?;
    let m: u8 = hms.next()?.parse().ok()?;
    let sec: u8 = hms.next()?.parse().ok()?;
    if hms.next().is_some() {
        return None;
    }
    let offset = match it.next()? {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        z if z.len() == 5 && (z.starts_with('+') || z.starts_with('-')) => {
            let hh: i64 = z.get(1..3)?.parse().ok()?;
            let mm: i64 = z.get(3..5)?.parse().ok()?;
            let v = hh * 3600 + mm * 60;
            if z.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    if it.next().is_some() {
        return None;
    }
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let t = time::Time::from_hms(h, m, sec).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp()
            - offset,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    #[test]
    fn aws_documented_example_verifies() {
        // "Object GET" from AWS's SigV2 documentation.
        let mut h = HeaderMap::new();
        h.insert(
            "date",
            "Tue, 27 Mar 2007 19:36:42 +0000".parse().expect("hv"),
        );
        let r = Request {
            method: "GET",
            resource: "/awsexamplebucket1/photos/puppy.jpg",
            query: &[],
            headers: &h,
            mode: Mode::Header,
        };
        let sts = string_to_sign(&r);
        assert_eq!(
            sts,
            "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg"
        );
        let sig = sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts);
        assert!(signatures_match(&sig, "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="));
        assert!(!signatures_match(&sig, "qgk2+6Sv9/oM7G3qLEjTH1a1l1h="));
    }

    #[test]
    fn amz_headers_and_sub_resources_are_canonical() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-amz-date",
            "Tue, 27 Mar 2007 21:20:26 +0000".parse().expect("hv"),
        );
        h.insert("date", "ignored".parse().expect("hv"));
        h.append("x-amz-meta-b", " two ".parse().expect("hv"));
        h.append("x-amz-meta-b", "three".parse().expect("hv"));
        h.insert("content-type", "text/plain".parse().expect("hv"));
        let q = vec![
            ("uploadId".to_string(), "7".to_string()),
            ("max-keys".to_string(), "3".to_string()),
            ("acl".to_string(), String::new()),
        ];
        let r = Request {
            method: "PUT",
            resource: "/b/k",
            query: &q,
            headers: &h,
            mode: Mode::Header,
        };
        assert_eq!(
            string_to_sign(&r),
            "PUT\n\ntext/plain\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\nx-amz-meta-b:two,three\n/b/k?acl&uploadId=7"
        );
    }

    #[test]
    fn bucket_resources_are_tried_with_and_without_slash() {
        assert_eq!(resources("/bkt", None, None), vec!["/bkt/", "/bkt"]);
        assert_eq!(resources("/", None, Some("bkt")), vec!["/bkt/"]);
        assert_eq!(
            resources("/b/a%20b", Some("/b/a b"), None),
            vec!["/b/a%20b", "/b/a b"]
        );
        assert_eq!(resources("/", None, None), vec!["/"]);
    }

    #[test]
    fn http_dates_parse_with_named_and_numeric_zones() {
        assert_eq!(
            parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT"),
            Some(1_704_067_200)
        );
        assert_eq!(
            parse_http_date("Mon, 01 Jan 2024 00:00:00 +0000"),
            Some(1_704_067_200)
        );
        assert_eq!(
            parse_http_date("Mon, 01 Jan 2024 01:00:00 +0100"),
            Some(1_704_067_200)
        );
        assert_eq!(
            parse_http_date("1 Jan 2024 00:00:00 UTC"),
            Some(1_704_067_200)
        );
        assert_eq!(parse_http_date("Mon, 01 Foo 2024 00:00:00 GMT"), None);
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
