//! SigV4 header signatures (`Authorization: AWS4-HMAC-SHA256 …`), computed here for
//! the requests the front layer authenticates itself: those whose payload hash is
//! signed (`x-amz-content-sha256` of 64 hex digits), so that the upload path can check
//! that hash in its SHA-256 lane service instead of s3s hashing every body byte on a
//! reactor thread ([`crate::payload_hash`]).
//!
//! The forms are AWS's (canonical request, string to sign, signing key); the front
//! layer builds them only from what the request itself carries, compares in constant
//! time, and hands every request it cannot verify this way (another canonical form,
//! a malformed header, a stale date, an unknown key, a signature that does not match)
//! to s3s unchanged, so that s3s's own check decides and answers with its errors.

use http::HeaderMap;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq;

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization<'a> {
    /// The access key.
    pub access_key: &'a str,
    /// The credential scope's date, `YYYYMMDD`.
    pub date: &'a str,
    /// The credential scope's region.
    pub region: &'a str,
    /// The credential scope's service.
    pub service: &'a str,
    /// The signed header names, `;`-separated as the client listed them.
    pub signed_headers: &'a str,
    /// The signature, hex.
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Parses the header's value; `None` unless it is well formed, with each of
    /// `Credential`, `SignedHeaders` and `Signature` exactly once and a five-part
    /// credential ending in `aws4_request`.
    pub fn parse(value: &'a str) -> Option<Authorization<'a>> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, v) = part.trim().split_once('=')?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return None,
            };
            if slot.replace(v).is_some() {
                return None;
            }
        }
        let mut scope = credential?.split('/');
        let auth = Authorization {
            access_key: scope.next()?,
            date: scope.next()?,
            region: scope.next()?,
            service: scope.next()?,
            signed_headers: signed_headers?,
            signature: signature?,
        };
        (scope.next()? == "aws4_request" && scope.next().is_none()).then_some(auth)
    }

    /// The credential scope, `date/region/service/aws4_request`.
    fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// AWS's `UriEncode`: every byte but the unreserved characters `A-Z a-z 0-9 - . _ ~`
/// (and `/` unless `encode_slash`) as `%XY` in upper-case hex.
pub fn uri_encode(s: &str, encode_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            b'/' if !encode_slash => out.push('/'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

/// The canonical URI of a request path as it came on the wire: decoded once and
/// encoded again (S3 does not normalise `.` or `//`). `None` if it does not decode.
pub fn canonical_uri(raw_path: &str) -> Option<String> {
    if raw_path.is_empty() {
        return Some("/".into());
    }
    Some(uri_encode(
        &crate::error_body::percent_decode(raw_path)?,
        false,
    ))
}

/// The canonical query string of a raw query: each name and value decoded and encoded
/// again, sorted by name and then value, `name=` for a name without a value. A `+`
/// decodes to a space, as s3s reads the query (so what is verified is what the
/// operation sees; clients encode a plus as `%2B`). `None` if a part does not decode.
pub fn canonical_query(raw_query: Option<&str>) -> Option<String> {
    let decode = |s: &str| crate::error_body::percent_decode(&s.replace('+', " "));
    let mut pairs = Vec::new();
    for part in raw_query.unwrap_or_default().split('&') {
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        pairs.push((uri_encode(&decode(k)?, true), uri_encode(&decode(v)?, true)));
    }
    pairs.sort();
    Some(
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&"),
    )
}

/// The canonical headers and signed headers lines: each signed header `name:value`
/// with its values trimmed, inner runs of spaces made one, and repeated headers
/// joined with `,`. `None` if a signed header is missing or not visible ASCII.
pub fn canonical_headers(headers: &HeaderMap, signed_headers: &str) -> Option<String> {
    let mut out = String::new();
    for name in signed_headers.split(';') {
        let mut values = Vec::new();
        for v in headers.get_all(name) {
            let v = v.to_str().ok()?;
            values.push(v.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if values.is_empty() {
            return None;
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Some(out)
}

/// The parts of a request that its canonical request is made of.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as it came on the wire.
    pub raw_path: &'a str,
    /// The query as it came on the wire.
    pub raw_query: Option<&'a str>,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// `x-amz-content-sha256`.
    pub payload_hash: &'a str,
}

/// The canonical request, or `None` when the request has no such form (see the parts'
/// functions).
pub fn canonical_request(r: &Request<'_>, signed_headers: &str) -> Option<String> {
    Some(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method,
        canonical_uri(r.raw_path)?,
        canonical_query(r.raw_query)?,
        canonical_headers(r.headers, signed_headers)?,
        signed_headers,
        r.payload_hash
    ))
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let inner = Sha256::new()
        .chain_update(k.map(|b| b ^ 0x36))
        .chain_update(data)
        .finalize();
    Sha256::new()
        .chain_update(k.map(|b| b ^ 0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The signature (hex) of `canonical_request`, made at `amz_date` (`x-amz-date`) with
/// `secret` for `auth`'s credential scope.
pub fn sign(
    secret: &str,
    auth: &Authorization<'_>,
    amz_date: &str,
    canonical_request: &str,
) -> String {
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{}\n{}",
        auth.scope(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let mut key = hmac_sha256(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [auth.region, auth.service, "aws4_request"] {
        key = hmac_sha256(&key, part.as_bytes());
    }
    hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
}

/// Whether two signatures are equal, in time independent of where they differ.
pub fn signatures_match(given: &str, expected: &str) -> bool {
    bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().expect("header value"));
        }
        h
    }

    /// Signs a request as a client would, with AWS's example key.
    fn signature_of(r: &Request<'_>, signed_headers: &str, amz_date: &str) -> Option<String> {
        let auth = Authorization {
            access_key: "AKIAIOSFODNN7EXAMPLE",
            date: &amz_date[..8],
            region: "us-east-1",
            service: "s3",
            signed_headers,
            signature: "",
        };
        Some(sign(
            SECRET,
            &auth,
            amz_date,
            &canonical_request(r, signed_headers)?,
        ))
    }

    #[test]
    fn hmac_sha256_matches_rfc_4231() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than a block is hashed first (test case 6).
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn aws_example_get_object_signs_as_documented() {
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let r = Request {
            method: "GET",
            raw_path: "/test.txt",
            raw_query: None,
            headers: &h,
            payload_hash: EMPTY,
        };
        assert_eq!(
            signature_of(
                &r,
                "host;range;x-amz-content-sha256;x-amz-date",
                "20130524T000000Z"
            )
            .as_deref(),
            Some("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        );
    }

    #[test]
    fn aws_example_put_object_signs_as_documented() {
        let body_hash = hex::encode(Sha256::digest(b"Welcome to Amazon S3."));
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", &body_hash),
        ]);
        let r = Request {
            method: "PUT",
            raw_path: "/test%24file.text",
            raw_query: None,
            headers: &h,
            payload_hash: &body_hash,
        };
        assert_eq!(
            signature_of(
                &r,
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "20130524T000000Z"
            )
            .as_deref(),
            Some("98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
        );
    }

    #[test]
    fn aws_example_list_objects_signs_its_sorted_query() {
        let h = headers(&[
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", EMPTY),
            ("x-amz-date", "20130524T000000Z"),
        ]);
        let r = Request {
            method: "GET",
            raw_path: "/",
            raw_query: Some("prefix=J&max-keys=2"),
            headers: &h,
            payload_hash: EMPTY,
        };
        assert_eq!(
            canonical_query(r.raw_query).as_deref(),
            Some("max-keys=2&prefix=J")
        );
        assert_eq!(
            signature_of(
                &r,
                "host;x-amz-content-sha256;x-amz-date",
                "20130524T000000Z"
            )
            .as_deref(),
            Some("34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
        );
    }

    #[test]
    fn canonical_forms_follow_aws_encoding() {
        assert_eq!(uri_encode("a b/c~d+e=f", false), "a%20b/c~d%2Be%3Df");
        assert_eq!(uri_encode("a/b", true), "a%2Fb");
        assert_eq!(uri_encode("é", false), "%C3%A9");
        assert_eq!(canonical_uri("").as_deref(), Some("/"));
        assert_eq!(canonical_uri("/b/k%2a%20x").as_deref(), Some("/b/k%2A%20x"));
        assert_eq!(canonical_uri("/b/%zz"), None);
        assert_eq!(
            canonical_query(Some("uploads&acl=&b=2&a=1")).as_deref(),
            Some("a=1&acl=&b=2&uploads=")
        );
        // A plus is a space to s3s's query parser, so it is one here too.
        assert_eq!(
            canonical_query(Some("prefix=a+b&x=c%2Bd")).as_deref(),
            Some("prefix=a%20b&x=c%2Bd")
        );
        let h = headers(&[("x-a", "  one   two "), ("x-b", "x"), ("x-b", "y")]);
        assert_eq!(
            canonical_headers(&h, "x-a;x-b").as_deref(),
            Some("x-a:one two\nx-b:x,y\n")
        );
        assert_eq!(canonical_headers(&h, "x-a;x-missing"), None);
    }

    #[test]
    fn authorization_headers_parse_only_when_well_formed() {
        let ok = "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, \
                  SignedHeaders=host;x-amz-date,Signature=abc";
        let a = Authorization::parse(ok).expect("well formed");
        assert_eq!(
            (a.access_key, a.date, a.region, a.service),
            ("AK", "20130524", "us-east-1", "s3")
        );
        assert_eq!((a.signed_headers, a.signature), ("host;x-amz-date", "abc"));
        for bad in [
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, SignedHeaders=host, Signature=a",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request/x, SignedHeaders=host, Signature=a",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=a, Signature=b",
            "AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Extra=1, SignedHeaders=host, Signature=a",
            "AWS AK:sig",
        ] {
            assert_eq!(Authorization::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn signatures_compare_exactly() {
        assert!(signatures_match("abc", "abc"));
        assert!(!signatures_match("abc", "abd"));
        assert!(!signatures_match("abc", "abcd"));
    }
}
