//! Stored records of the gateway and where they live. Every record is JSON with a
//! format version `v` (currently 1); readers refuse versions they do not know.
//!
//! ```text
//! .rgw.meta (replicated)
//!   users                    omap  uid -> ""                        (user listing)
//!   emails                   omap  e-mail (lower case) -> uid       (e-mail grants)
//!   user.<uid>               omap  "info" -> UserInfo
//!                                  "key.<access key>" -> KeyInfo
//!                                  "token.<token id>" -> TokenInfo
//!                                  "bucket.<name>" -> created (unix ms)  (ListBuckets)
//!   key.<access key>         data  KeyRecord   (access key -> uid + secret)
//!   token.<sha256 hex>       data  TokenRecord (token hash -> uid)
//!   bucket.<name>            data  BucketRecord (claimed with an exclusive create;
//!                                  carries the bucket's ACL)
//!                            omap  "id" -> bucket id (guards ACL changes: omap_cmp)
//! .rgw.index (replicated)
//!   <bucket id>.<shard>      omap  object key -> IndexEntry     (shard = crc32c(key) % n)
//!   <bucket id>.mpu          omap  key \0 upload id -> UploadRecord
//!   <bucket id>.mpu.<upload> omap  part number (5 digits) -> PartRecord
//!   gc.<shard>               omap  <due ms>.<instance> -> GcRecord  (crate::gc)
//! .rgw.data (erasure-coded)
//!   <instance>.<stripe>      data  stripe `stripe` of an object or part instance
//! ```
//!
//! An object's data never changes once written: a new PUT writes a new instance, then
//! swaps the index entry, then queues the old instance's stripes for removal after the
//! GC delay (readers may still be streaming them). An object exists for
//! readers exactly when its index entry does. Index entries (which carry the object's
//! owner and ACL) are only ever replaced or removed with an `omap_cmp` guard on the
//! entry read before, so concurrent writers of one key each remove exactly the data
//! they replaced, and an ACL change never resurrects an overwritten entry.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::acl::Acl;
use crate::error::{RgwError, RgwResult};

/// Current record format.
pub const VERSION: u32 = 1;

/// Encodes a record.
pub fn encode<T: Serialize>(r: &T) -> bytes::Bytes {
    // Serialising plain structs of strings and numbers cannot fail.
    bytes::Bytes::from(serde_json::to_vec(r).unwrap_or_default())
}

/// Decodes a record, naming it in errors.
pub fn decode<T: DeserializeOwned + Versioned>(what: &str, data: &[u8]) -> RgwResult<T> {
    let r: T = serde_json::from_slice(data).map_err(|e| RgwError::Corrupt {
        what: what.to_string(),
        reason: e.to_string(),
    })?;
    if r.version() != VERSION {
        return Err(RgwError::Corrupt {
            what: what.to_string(),
            reason: format!(
                "format version {} is not known (this gateway reads {VERSION})",
                r.version()
            ),
        });
    }
    Ok(r)
}

/// A record with a format version.
pub trait Versioned {
    /// The record's format version.
    fn version(&self) -> u32;
}

macro_rules! versioned {
    ($($t:ty),*) => {$(
        impl Versioned for $t {
            fn version(&self) -> u32 {
                self.v
            }
        }
    )*};
}

fn v1() -> u32 {
    VERSION
}

/// A user's identity and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// User id (`alice_physics`).
    pub uid: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// E-mail address.
    #[serde(default)]
    pub email: String,
    /// Suspended users cannot authenticate.
    #[serde(default)]
    pub suspended: bool,
    /// Creation time, unix milliseconds.
    pub created_ms: u64,
}

/// An access key as listed in its user's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Access key.
    pub access_key: String,
    /// Creation time, unix milliseconds.
    pub created_ms: u64,
}

/// Access key → user and secret (what the gateway reads to verify a signature).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Owner.
    pub uid: String,
    /// Secret key (needed in clear to verify HMAC signatures, as in S3 and Ceph).
    pub secret_key: String,
}

/// A token as listed in its user's record (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Public id.
    pub id: String,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Creation time, unix milliseconds.
    pub created_ms: u64,
}

/// Token hash → user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Owner.
    pub uid: String,
    /// Public id.
    pub id: String,
    /// SHA-256 of the token, hex (compared in constant time on use).
    pub hash: String,
}

/// A bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Bucket name.
    pub name: String,
    /// Unique id of this incarnation of the name (prefix of its index and data).
    pub id: String,
    /// Owner uid.
    pub owner: String,
    /// Creation time, unix milliseconds.
    pub created_ms: u64,
    /// `LocationConstraint` given at creation ("" for us-east-1).
    #[serde(default)]
    pub location: String,
    /// Number of index shards.
    pub index_shards: u32,
    /// The bucket's ACL (absent: the owner has FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
}

impl BucketRecord {
    /// The bucket's ACL.
    pub fn acl(&self) -> Acl {
        self.acl
            .clone()
            .unwrap_or_else(|| Acl::private(&self.owner))
    }
}

/// One stretch of an object's data: `size` bytes in stripes `<instance>.0`,
/// `<instance>.1`, … of `stripe` bytes (the last one shorter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Instance id (data object name prefix).
    pub i: String,
    /// Bytes.
    pub s: u64,
    /// Stripe size.
    pub ss: u64,
}

impl Segment {
    /// Number of stripes.
    pub fn stripes(&self) -> u64 {
        if self.ss == 0 {
            0
        } else {
            self.s.div_ceil(self.ss)
        }
    }

    /// Name of stripe `n`.
    pub fn stripe_name(&self, n: u64) -> String {
        format!("{}.{n}", self.i)
    }

    /// Names of every stripe, in order.
    pub fn stripe_names(&self) -> impl Iterator<Item = String> + '_ {
        (0..self.stripes()).map(|n| self.stripe_name(n))
    }
}

/// A checksum the client asked for, as S3 returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredChecksum {
    /// `CRC32`, `CRC32C`, `SHA1`, `SHA256`, `CRC64NVME`.
    pub alg: String,
    /// Base64 value (`…-N` for composite multipart checksums).
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
}

/// An object as its bucket index records it: listing facts, headers and the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Size, bytes.
    pub size: u64,
    /// ETag without quotes (`hex` or `hex-N`).
    pub etag: String,
    /// Last modified, unix milliseconds.
    pub mtime_ms: u64,
    /// Owner uid.
    pub owner: String,
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Other stored headers (content-encoding, -disposition, -language, cache-control,
    /// expires), lower-case names.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// User metadata (`x-amz-meta-*` without the prefix).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Checksum the client asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
    /// Data, in order (one segment, or one per multipart part).
    pub data: Vec<Segment>,
    /// Part sizes for multipart objects (empty for single PUTs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// Each part's checksum (base64, the object checksum's algorithm) when every part
    /// carried one; otherwise empty (as for objects completed before it was recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub part_checksums: Vec<String>,
    /// The object's ACL (absent: the owner has FULL_CONTROL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
}

impl IndexEntry {
    /// The object's ACL.
    pub fn acl(&self) -> Acl {
        self.acl
            .clone()
            .unwrap_or_else(|| Acl::private(&self.owner))
    }
}

/// An unfinished multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadRecord {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Object key.
    pub key: String,
    /// Upload id.
    pub upload_id: String,
    /// Initiator and future owner.
    pub owner: String,
    /// Initiation time, unix milliseconds.
    pub initiated_ms: u64,
    /// Content-Type for the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Other headers for the object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// User metadata for the object.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Checksum algorithm asked for at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_alg: Option<String>,
    /// `FULL_OBJECT` or `COMPOSITE` (absent: composite, as before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    /// ACL the object gets (asked for at creation; absent: private).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    /// Format version.
    #[serde(default = "v1")]
    pub v: u32,
    /// Part number (1–10000).
    pub number: u32,
    /// MD5 of the part, hex.
    pub etag: String,
    /// Upload time, unix milliseconds.
    pub mtime_ms: u64,
    /// Data.
    pub data: Segment,
    /// Checksum of the part (when the upload asked for one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<StoredChecksum>,
}

versioned!(
    UserInfo,
    KeyInfo,
    KeyRecord,
    TokenInfo,
    TokenRecord,
    BucketRecord,
    IndexEntry,
    UploadRecord,
    PartRecord
);

/// Now, unix milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_versions_are_checked() {
        let b = BucketRecord {
            v: VERSION,
            name: "photos".into(),
            id: "abc".into(),
            owner: "alice_physics".into(),
            created_ms: 1,
            location: String::new(),
            index_shards: 16,
            acl: None,
        };
        let data = encode(&b);
        assert_eq!(decode::<BucketRecord>("bucket.photos", &data).ok(), Some(b));
        let future = br#"{"v":7,"uid":"a","secret_key":"s"}"#;
        let e = decode::<KeyRecord>("key.x", future)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("format version 7")));
        assert!(decode::<KeyRecord>("key.x", b"{").is_err());
    }

    #[test]
    fn segments_name_their_stripes() {
        let s = Segment {
            i: "b.i".into(),
            s: 10 << 20,
            ss: 4 << 20,
        };
        assert_eq!(s.stripes(), 3);
        assert_eq!(s.stripe_name(2), "b.i.2");
        let empty = Segment { s: 0, ..s };
        assert_eq!(empty.stripes(), 0);
    }
}
