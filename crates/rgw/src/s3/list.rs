//! Listing: ListObjects (v1) and ListObjectsV2 over the sharded index, with prefix,
//! delimiter, max-keys, marker / continuation-token / start-after, `encoding-type=url`
//! and fetch-owner. A truncated page always carries where to continue.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as TOKEN_B64;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{Gateway, internal, owner, ts};
use crate::acl::Permission;
use crate::index::{ListPage, ListParams, Listed};

/// S3's largest page.
pub const MAX_KEYS: i32 = 1000;

/// Percent-encodes like S3's `encoding-type=url` (keeps unreserved characters and `/`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn encoder(e: Option<&EncodingType>) -> S3Result<fn(&str) -> String> {
    match e.map(|e| e.as_str()) {
        None => Ok(|s| s.to_string()),
        Some(v) if v.eq_ignore_ascii_case("url") => Ok(url_encode),
        Some(_) => Err(s3_error!(
            InvalidArgument,
            "Invalid Encoding Method specified in Request"
        )),
    }
}

fn max_keys(m: Option<i32>) -> S3Result<usize> {
    match m {
        None => Ok(MAX_KEYS as usize),
        Some(m) if m < 0 => Err(s3_error!(InvalidArgument, "max-keys cannot be negative")),
        Some(m) => Ok(m.min(MAX_KEYS) as usize),
    }
}

/// The opaque continuation token for a listing position.
pub fn token_for(last: &str) -> String {
    TOKEN_B64.encode(last.as_bytes())
}

/// The listing position of a continuation token.
pub(super) fn position_of(token: &str) -> S3Result<String> {
    TOKEN_B64
        .decode(token.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

struct Rendered {
    contents: Vec<Object>,
    prefixes: Vec<CommonPrefix>,
    last: Option<String>,
}

fn render(page: ListPage, enc: fn(&str) -> String, with_owner: bool) -> Rendered {
    let last = page.items.last().map(|i| i.name().to_string());
    let mut contents = Vec::new();
    let mut prefixes = Vec::new();
    for item in page.items {
        match item {
            Listed::Prefix(p) => prefixes.push(CommonPrefix {
                prefix: Some(enc(&p)),
            }),
            Listed::Object(k, e) => contents.push(Object {
                key: Some(enc(&k)),
                last_modified: Some(ts(e.mtime_ms)),
                e_tag: Some(ETag::Strong(e.etag.clone())),
                size: Some(e.size as i64),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                owner: with_owner.then(|| owner(&e.owner)),
                checksum_algorithm: e
                    .checksum
                    .as_ref()
                    .map(|c| vec![ChecksumAlgorithm::from(c.alg.clone())]),
                checksum_type: e
                    .checksum
                    .as_ref()
                    .map(|c| ChecksumType::from(c.kind.clone())),
                restore_status: None,
            }),
        }
    }
    Rendered {
        contents,
        prefixes,
        last,
    }
}

impl Gateway {
    pub(super) async fn do_list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let i = &req.input;
        let (_, b) = self.bucket_with(&req, &i.bucket, Permission::Read).await?;
        let enc = encoder(i.encoding_type.as_ref())?;
        let max = max_keys(i.max_keys)?;
        let start = match &i.continuation_token {
            Some(t) => Some(position_of(t)?),
            None => i.start_after.clone().filter(|s| !s.is_empty()),
        };
        let prefix = i.prefix.clone().unwrap_or_default();
        let delimiter = i.delimiter.clone().filter(|d| !d.is_empty());
        let page = self
            .index
            .list(
                &b,
                &ListParams {
                    prefix: prefix.clone(),
                    delimiter: delimiter.clone(),
                    start_after: start,
                    max,
                },
            )
            .await
            .map_err(internal)?;
        let truncated = page.truncated;
        let count = page.items.len();
        let r = render(page, enc, i.fetch_owner.unwrap_or(false));
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(i.bucket.clone()),
            prefix: Some(enc(&prefix)),
            max_keys: Some(max as i32),
            key_count: Some(count as i32),
            continuation_token: i.continuation_token.clone(),
            is_truncated: Some(truncated),
            next_continuation_token: if truncated {
                r.last.as_deref().map(token_for)
            } else {
                None
            },
            contents: (!r.contents.is_empty()).then_some(r.contents),
            common_prefixes: (!r.prefixes.is_empty()).then_some(r.prefixes),
            delimiter: delimiter.as_deref().map(enc),
            encoding_type: i.encoding_type.clone(),
            start_after: i.start_after.as_deref().map(enc),
            request_charged: None,
        }))
    }

    pub(super) async fn do_list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let i = &req.input;
        let (_, b) = self.bucket_with(&req, &i.bucket, Permission::Read).await?;
        let enc = encoder(i.encoding_type.as_ref())?;
        let max = max_keys(i.max_keys)?;
        let prefix = i.prefix.clone().unwrap_or_default();
        let delimiter = i.delimiter.clone().filter(|d| !d.is_empty());
        let page = self
            .index
            .list(
                &b,
                &ListParams {
                    prefix: prefix.clone(),
                    delimiter: delimiter.clone(),
                    start_after: i.marker.clone().filter(|m| !m.is_empty()),
                    max,
                },
            )
            .await
            .map_err(internal)?;
        let truncated = page.truncated;
        let r = render(page, enc, true);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(i.bucket.clone()),
            prefix: Some(enc(&prefix)),
            marker: Some(i.marker.as_deref().map(enc).unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(truncated),
            next_marker: if truncated && delimiter.is_some() {
                r.last.as_deref().map(enc)
            } else {
                None
            },
            contents: (!r.contents.is_empty()).then_some(r.contents),
            common_prefixes: (!r.prefixes.is_empty()).then_some(r.prefixes),
            delimiter: delimiter.as_deref().map(enc),
            encoding_type: i.encoding_type.clone(),
            request_charged: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        assert_eq!(url_encode("a b/c+d%é"), "a%20b/c%2Bd%25%C3%A9");
        assert_eq!(url_encode("plain-key_1.txt~"), "plain-key_1.txt~");
    }

    #[test]
    fn tokens_round_trip() {
        for k in ["a", "dir/", "ünï cödé/with spaces", ""] {
            assert_eq!(position_of(&token_for(k)).ok().as_deref(), Some(k));
        }
        assert!(position_of("!!!").is_err());
    }
}
