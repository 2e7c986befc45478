//! The context elements of S3 error bodies.
//!
//! S3 names what an error is about in its XML: `NoSuchKey` carries `<Key>`,
//! `NoSuchBucket`, `BucketAlreadyExists`, `BucketAlreadyOwnedByYou` and
//! `BucketNotEmpty` carry `<BucketName>`, `NoSuchUpload` carries `<UploadId>`, a wrong
//! signing region carries `<Region>`, and every error carries `<RequestId>` and
//! `<HostId>`. s3s's `S3Error` serializes only `<Code>`, `<Message>` (and a request id
//! nobody sets), so:
//!
//! - whoever raises such an error attaches its elements with [`with_element`]; they
//!   travel through s3s as internal response headers (`x-cuttle-error-*`,
//!   percent-encoded), the one extra thing an `S3Error` carries into its response;
//! - the front layer calls [`finish`] on every response: it removes those headers and,
//!   for an error with an XML body, writes the elements and the request id into it
//!   (`Code`, `Message`, context elements, `RequestId`, `HostId`, in S3's order).
//!
//! No internal header ever reaches a client, whether or not the body is rewritten.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use s3s::{Body, S3Error};

/// A context element of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element {
    /// `<BucketName>`.
    BucketName,
    /// `<Key>`.
    Key,
    /// `<UploadId>`.
    UploadId,
    /// `<Region>` (the region the request should have been signed for).
    Region,
}

impl Element {
    /// Every element, in the order they are written.
    const ALL: [Element; 4] = [
        Element::BucketName,
        Element::Key,
        Element::UploadId,
        Element::Region,
    ];

    /// The XML element name.
    pub fn name(self) -> &'static str {
        match self {
            Element::BucketName => "BucketName",
            Element::Key => "Key",
            Element::UploadId => "UploadId",
            Element::Region => "Region",
        }
    }

    /// The internal header carrying it from the handler to the front layer.
    fn header(self) -> HeaderName {
        HeaderName::from_static(match self {
            Element::BucketName => "x-cuttle-error-bucketname",
            Element::Key => "x-cuttle-error-key",
            Element::UploadId => "x-cuttle-error-uploadid",
            Element::Region => "x-cuttle-error-region",
        })
    }
}

/// `e` with the context element `el` = `value` (replacing an earlier one).
pub fn with_element(mut e: S3Error, el: Element, value: &str) -> S3Error {
    let mut h = e.headers().cloned().unwrap_or_default();
    if let Ok(v) = HeaderValue::from_str(&percent_encode(value)) {
        h.insert(el.header(), v);
    }
    e.set_headers(h);
    e
}

/// `e` about bucket `name` (`<BucketName>`).
pub fn about_bucket(e: S3Error, name: &str) -> S3Error {
    with_element(e, Element::BucketName, name)
}

/// `e` about key `key` (`<Key>`).
pub fn about_key(e: S3Error, key: &str) -> S3Error {
    with_element(e, Element::Key, key)
}

/// Unreserved bytes stay, every other byte becomes `%XX` (any key fits a header).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (query parameters, the internal headers); `None` when an
/// escape is malformed or the result is not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// XML character data.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Removes the internal headers, returning the elements they carried.
fn take_elements(h: &mut HeaderMap) -> Vec<(Element, String)> {
    let mut found = Vec::new();
    for el in Element::ALL {
        if let Some(v) = h.remove(el.header())
            && let Some(v) = v.to_str().ok().and_then(percent_decode)
        {
            found.push((el, v));
        }
    }
    found
}

/// `body` (an `<Error>` document) with `elements` and the request id written before
/// `</Error>`; `None` when it is not one.
fn rewrite(body: &[u8], elements: &[(Element, String)], id: &str) -> Option<Vec<u8>> {
    const END: &[u8] = b"</Error>";
    if !body.windows(7).any(|w| w == b"<Error>") {
        return None;
    }
    let at = body.windows(END.len()).rposition(|w| w == END)?;
    let mut add = String::new();
    for (el, v) in elements {
        let open = format!("<{}>", el.name());
        if !body.windows(open.len()).any(|w| w == open.as_bytes()) {
            add.push_str(&format!("{open}{}</{}>", escape(v), el.name()));
        }
    }
    if !body.windows(11).any(|w| w == b"<RequestId>") {
        let id = escape(id);
        add.push_str(&format!("<RequestId>{id}</RequestId><HostId>{id}</HostId>"));
    }
    let mut out = Vec::with_capacity(body.len() + add.len());
    out.extend_from_slice(&body[..at]);
    out.extend_from_slice(add.as_bytes());
    out.extend_from_slice(&body[at..]);
    Some(out)
}

/// Finishes a response of request `id`: internal headers removed, and an error's XML
/// body completed with its context elements, `<RequestId>` and `<HostId>`.
pub fn finish(resp: &mut Response<Body>, id: &str, head: bool) {
    let elements = take_elements(resp.headers_mut());
    if !elements.is_empty() {
        // s3s replaces an error response's headers with the error's own (ours).
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
    }
    if resp.status() < StatusCode::BAD_REQUEST || head {
        return;
    }
    let Some(new) = resp.body().bytes().and_then(|b| rewrite(&b, &elements, id)) else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&new.len().to_string()) {
        resp.headers_mut().insert(http::header::CONTENT_LENGTH, v);
    }
    *resp.body_mut() = Body::from(Bytes::from(new));
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::s3_error;

    fn body(r: &Response<Body>) -> String {
        String::from_utf8(r.body().bytes().map(|b| b.to_vec()).unwrap_or_default())
            .unwrap_or_default()
    }

    #[test]
    fn elements_reach_the_body_in_s3s_order_and_headers_are_removed() {
        let e = about_key(
            about_bucket(
                s3_error!(NoSuchKey, "The specified key does not exist."),
                "b",
            ),
            "a<b>&c d/é%",
        );
        let mut r = e.to_http_response().expect("serializes");
        finish(&mut r, "REQ1", false);
        let b = body(&r);
        assert!(
            b.ends_with(
                "<Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>\
                 <BucketName>b</BucketName><Key>a&lt;b&gt;&amp;c d/é%</Key>\
                 <RequestId>REQ1</RequestId><HostId>REQ1</HostId></Error>"
            ),
            "{b}"
        );
        assert!(
            r.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("x-cuttle"))
        );
        assert_eq!(
            r.headers().get(http::header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/xml"))
        );
        assert_eq!(
            r.headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()),
            Some(b.len().to_string().as_str())
        );
    }

    #[test]
    fn every_error_gets_a_request_id_and_successes_are_untouched() {
        let mut r = s3_error!(AccessDenied)
            .to_http_response()
            .expect("serializes");
        finish(&mut r, "X", false);
        assert!(body(&r).ends_with("<RequestId>X</RequestId><HostId>X</HostId></Error>"));
        let mut ok = Response::new(Body::from(Bytes::from_static(b"<Error></Error>")));
        finish(&mut ok, "X", false);
        assert_eq!(body(&ok), "<Error></Error>");
    }

    #[test]
    fn head_responses_lose_the_headers_but_keep_their_body() {
        let mut r = about_bucket(s3_error!(NoSuchBucket), "b")
            .to_http_response()
            .expect("serializes");
        let before = body(&r);
        finish(&mut r, "X", true);
        assert_eq!(body(&r), before);
        assert!(r.headers().get("x-cuttle-error-bucketname").is_none());
    }

    #[test]
    fn percent_encoding_round_trips() {
        for s in ["", "plain", "a b\n\u{1}é%/+", "%zz"] {
            assert_eq!(percent_decode(&percent_encode(s)).as_deref(), Some(s));
        }
        assert_eq!(percent_decode("%zz"), None);
    }
}
