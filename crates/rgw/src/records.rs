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
//!                                  0xFF object key -> the bytes of an inline object
//!                                  (0xFF never starts a UTF-8 key, so these sort after
//!                                  every entry and listings stop before them)
//!   <bucket id>.mpu          omap  key \0 upload id -> UploadRecord
//!   <bucket id>.mpu.<upload> omap  part number (5 digits) -> PartRecord
//!   gc.<shard>               omap  <due ms>.<instance> -> GcRecord  (crate::gc)
//! .rgw.data (erasure-coded)
//!   <instance>.<stripe>      data  stripe `stripe` of an object or part instance
//! ```
//!
//! Small objects (up to the gateway's `inline_max_bytes`) are *inline*: their bytes are
//! written beside their index entry in the same omap write and read with it in the same
//! omap read, so a small PUT or GET is one cluster operation instead of two. Such an
//! entry says `inline` and has format version 2, so a gateway from before inline
//! objects refuses it instead of serving an empty body.
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

/// Format of an index entry whose data is inline ([`IndexEntry::inline`]).
pub const INLINE_ENTRY_VERSION: u32 = 2;

/// The omap object of a bucket's unfinished multipart uploads.
pub fn uploads_object(bucket_id: &str) -> String {
    format!("{bucket_id}.mpu")
}

/// The omap object of one multipart upload's parts.
pub fn parts_object(bucket_id: &str, upload: &str) -> String {
    format!("{bucket_id}.mpu.{upload}")
}

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
    if !(VERSION..=T::NEWEST).contains(&r.version()) {
        return Err(RgwError::Corrupt {
            what: what.to_string(),
            reason: format!(
                "format version {} is not known (this gateway reads {VERSION}..={})",
                r.version(),
                T::NEWEST
            ),
        });
    }
    Ok(r)
}

/// A record with a format version.
pub trait Versioned {
    /// The newest format of this record this gateway reads.
    const NEWEST: u32 = VERSION;

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
    /// The data's bytes are kept in the index shard beside this entry (see the module
    /// doc); `data` then holds one segment of stripe size 0, which names no stripes
    /// but keeps the instance id that tells one write from another.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub inline: bool,
    /// The inline bytes: read together with the entry, written together with it when
    /// set, and never part of the entry's own record.
    #[serde(skip)]
    pub body: Option<bytes::Bytes>,
}

impl IndexEntry {
    /// The object's ACL.
    pub fn acl(&self) -> Acl {
        self.acl
            .clone()
            .unwrap_or_else(|| Acl::private(&self.owner))
    }

    /// The entry as stored: in the format its content needs (version 2 only when its
    /// data is inline, so other entries stay readable by older gateways).
    pub fn encode(&self) -> bytes::Bytes {
        let v = if self.inline {
            INLINE_ENTRY_VERSION
        } else {
            VERSION
        };
        if self.v == v {
            encode(self)
        } else {
            encode(&IndexEntry { v, ..self.clone() })
        }
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
    UploadRecord,
    PartRecord
);

impl Versioned for IndexEntry {
    const NEWEST: u32 = INLINE_ENTRY_VERSION;

    fn version(&self) -> u32 {
        self.v
    }
}

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
    fn inline_entries_are_version_2_and_never_carry_their_bytes_in_the_record() {
        let plain = IndexEntry {
            v: VERSION,
            size: 3,
            etag: "e".into(),
            mtime_ms: 1,
            owner: "alice_physics".into(),
            content_type: None,
            headers: BTreeMap::new(),
            meta: BTreeMap::new(),
            checksum: None,
            data: vec![Segment {
                i: "b.i".into(),
                s: 3,
                ss: 4 << 20,
            }],
            parts: Vec::new(),
            part_checksums: Vec::new(),
            acl: None,
            inline: false,
            body: None,
        };
        let raw = plain.encode();
        assert!(!String::from_utf8_lossy(&raw).contains("inline"));
        assert_eq!(decode::<IndexEntry>("k", &raw).ok(), Some(plain.clone()));

        let inline = IndexEntry {
            inline: true,
            body: Some(bytes::Bytes::from_static(b"abc")),
            data: vec![Segment {
                ss: 0,
                ..plain.data[0].clone()
            }],
            ..plain
        };
        let raw = inline.encode();
        let text = String::from_utf8_lossy(&raw).into_owned();
        assert!(
            text.contains(r#""v":2"#) && text.contains(r#""inline":true"#),
            "{text}"
        );
        assert!(!text.contains("abc"), "{text}");
        let back = decode::<IndexEntry>("k", &raw).ok();
        assert_eq!(
            back.as_ref().map(|e| (e.v, e.inline, e.body.is_none())),
            Some((2, true, true))
        );
        // Other records stay at version 1 only.
        assert!(decode::<KeyRecord>("key.x", br#"{"v":2,"uid":"a","secret_key":"s"}"#).is_err());
        assert!(
            decode::<IndexEntry>("k", text.replace(r#""v":2"#, r#""v":3"#).as_bytes()).is_err()
        );
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
