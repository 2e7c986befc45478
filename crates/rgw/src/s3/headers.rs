//! The headers S3 stores with an object (`Content-Type`, `-Encoding`, `-Disposition`,
//! `-Language`, `Cache-Control`, `Expires`, `x-amz-meta-*`) and the checksum fields of
//! responses.

use std::collections::BTreeMap;

use s3s::dto::{Metadata, Timestamp, TimestampFormat};
use s3s::{S3Result, s3_error};

use crate::checksum::Alg;
use crate::records::{IndexEntry, StoredChecksum};

/// S3's limit on user metadata (keys plus values).
pub const MAX_USER_METADATA: usize = 2048;

/// Content-Type of objects stored without one.
pub const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// Headers to store with a new object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Other headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// User metadata.
    pub meta: BTreeMap<String, String>,
}

/// Header values of a request, as s3s parsed them.
#[derive(Debug, Default)]
pub struct Given {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires.
    pub expires: Option<Timestamp>,
    /// x-amz-meta-*.
    pub metadata: Option<Metadata>,
}

/// Refuses a storage class other than STANDARD, the only one Cuttle has (as S3
/// gateways without other placement targets answer: `InvalidStorageClass`).
pub fn check_storage_class(c: Option<&s3s::dto::StorageClass>) -> S3Result<()> {
    match c {
        Some(c) if c.as_str() != s3s::dto::StorageClass::STANDARD => Err(s3_error!(
            InvalidStorageClass,
            "The storage class you specified is not valid"
        )),
        _ => Ok(()),
    }
}

/// Formats a timestamp as an HTTP date.
pub fn http_date(t: &Timestamp) -> Option<String> {
    let mut v = Vec::new();
    t.format(TimestampFormat::HttpDate, &mut v).ok()?;
    String::from_utf8(v).ok()
}

impl Stored {
    /// What to store from a request's headers; refuses oversized metadata.
    pub fn from_given(g: Given) -> S3Result<Stored> {
        let mut headers = BTreeMap::new();
        if let Some(ce) = g.content_encoding {
            // aws-chunked only describes the upload's framing.
            let kept: Vec<&str> = ce
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("aws-chunked"))
                .collect();
            if !kept.is_empty() {
                headers.insert("content-encoding".into(), kept.join(","));
            }
        }
        for (name, v) in [
            ("content-disposition", g.content_disposition),
            ("content-language", g.content_language),
            ("cache-control", g.cache_control),
            ("expires", g.expires.as_ref().and_then(http_date)),
        ] {
            if let Some(v) = v {
                headers.insert(name.to_string(), v);
            }
        }
        let meta: BTreeMap<String, String> = g
            .metadata
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        let size: usize = meta.iter().map(|(k, v)| k.len() + v.len()).sum();
        if size > MAX_USER_METADATA {
            return Err(s3_error!(
                MetadataTooLarge,
                "Your metadata headers exceed the maximum allowed metadata size."
            ));
        }
        Ok(Stored {
            content_type: g.content_type.filter(|c| !c.is_empty()),
            headers,
            meta,
        })
    }
}

/// Response header values of a stored object.
#[derive(Debug, Default)]
pub struct Out {
    /// Content-Type.
    pub content_type: Option<String>,
    /// Content-Encoding.
    pub content_encoding: Option<String>,
    /// Content-Disposition.
    pub content_disposition: Option<String>,
    /// Content-Language.
    pub content_language: Option<String>,
    /// Cache-Control.
    pub cache_control: Option<String>,
    /// Expires.
    pub expires: Option<Timestamp>,
    /// User metadata.
    pub metadata: Option<Metadata>,
}

/// The stored headers of an entry for a response.
pub fn out(e: &IndexEntry) -> Out {
    let h = |n: &str| e.headers.get(n).cloned();
    Out {
        content_type: Some(
            e.content_type
                .clone()
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.to_string()),
        ),
        content_encoding: h("content-encoding"),
        content_disposition: h("content-disposition"),
        content_language: h("content-language"),
        cache_control: h("cache-control"),
        expires: h("expires").and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, &s).ok()),
        metadata: (!e.meta.is_empty()).then(|| e.meta.clone().into_iter().collect()),
    }
}

/// Checksum response fields (crc32, crc32c, crc64nvme, sha1, sha256, type).
#[derive(Debug, Default, Clone)]
pub struct CkFields {
    /// CRC32.
    pub crc32: Option<String>,
    /// CRC32C.
    pub crc32c: Option<String>,
    /// CRC64NVME.
    pub crc64nvme: Option<String>,
    /// SHA1.
    pub sha1: Option<String>,
    /// SHA256.
    pub sha256: Option<String>,
    /// FULL_OBJECT or COMPOSITE.
    pub kind: Option<s3s::dto::ChecksumType>,
}

/// The response fields for a stored checksum.
pub fn ck_fields(c: Option<&StoredChecksum>) -> CkFields {
    let Some(c) = c else {
        return CkFields::default();
    };
    let mut f = ck_value_fields(&c.alg, &c.value);
    if Alg::parse(&c.alg).is_some() {
        f.kind = Some(s3s::dto::ChecksumType::from(c.kind.clone()));
    }
    f
}

/// The one field of `alg` set to `value` (no type): a part's checksum, say. Nothing for
/// an unknown algorithm.
pub fn ck_value_fields(alg: &str, value: &str) -> CkFields {
    let mut f = CkFields::default();
    let v = Some(value.to_string());
    match Alg::parse(alg) {
        Some(Alg::Crc32) => f.crc32 = v,
        Some(Alg::Crc32c) => f.crc32c = v,
        Some(Alg::Crc64Nvme) => f.crc64nvme = v,
        Some(Alg::Sha1) => f.sha1 = v,
        Some(Alg::Sha256) => f.sha256 = v,
        None => {}
    }
    f
}
