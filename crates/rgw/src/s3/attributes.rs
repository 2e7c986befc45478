//! GetObjectAttributes: an object's ETag, checksum, parts, storage class and size, only
//! those named in `x-amz-object-attributes`, as S3 answers it:
//!
//! - the ETag comes **without** quotes inside this response's XML (unlike every other
//!   response; s3s quotes it, `front` strips them);
//! - `ObjectParts` only for multipart objects: `PartsCount` always, and the `Part`
//!   elements (number, size, checksum) only when the object has a checksum that every
//!   part carries, paginated by `x-amz-max-parts` / `x-amz-part-number-marker`;
//! - Last-Modified as a header; read permission on the object, as GetObject.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::headers::{ck_fields, ck_value_fields};
use super::{Gateway, ts};
use crate::acl::Permission;
use crate::records::IndexEntry;

/// Parts listed per response when the request does not say.
const DEFAULT_MAX_PARTS: usize = 1000;

impl Gateway {
    pub(super) async fn do_get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let i = &req.input;
        // Clients send one comma-separated header (boto3: "ETag,Checksum,…"), which s3s
        // may hand over as one element: split and trim here.
        let asked: Vec<&str> = i
            .object_attributes
            .iter()
            .flat_map(|a| a.as_str().split(','))
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let known = [
            ObjectAttributes::CHECKSUM,
            ObjectAttributes::ETAG,
            ObjectAttributes::OBJECT_PARTS,
            ObjectAttributes::OBJECT_SIZE,
            ObjectAttributes::STORAGE_CLASS,
        ];
        if asked.is_empty() || asked.iter().any(|a| !known.contains(a)) {
            return Err(s3_error!(
                InvalidArgument,
                "Invalid attribute name specified."
            ));
        }
        let max_parts = match i.max_parts {
            None => DEFAULT_MAX_PARTS,
            Some(n) if n >= 0 => (n as usize).min(DEFAULT_MAX_PARTS),
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-parts must be a non-negative integer."
                ));
            }
        };
        let marker = match i.part_number_marker {
            None => 0,
            Some(n) if n >= 0 => n as usize,
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "part-number-marker must be a non-negative integer."
                ));
            }
        };
        let who = Self::principal(&req);
        let b = self.bucket(&i.bucket).await?;
        let e = self.object_with(&b, &i.key, &who, Permission::Read).await?;
        let wants = |a: &str| asked.contains(&a);
        let mut out = GetObjectAttributesOutput {
            last_modified: Some(ts(e.mtime_ms)),
            ..Default::default()
        };
        if wants(ObjectAttributes::ETAG) {
            out.e_tag = Some(ETag::Strong(e.etag.clone()));
        }
        if wants(ObjectAttributes::OBJECT_SIZE) {
            out.object_size = Some(e.size as i64);
        }
        if wants(ObjectAttributes::STORAGE_CLASS) {
            out.storage_class = Some(StorageClass::from_static(StorageClass::STANDARD));
        }
        if wants(ObjectAttributes::CHECKSUM) && e.checksum.is_some() {
            let f = ck_fields(e.checksum.as_ref());
            out.checksum = Some(Checksum {
                checksum_crc32: f.crc32,
                checksum_crc32c: f.crc32c,
                checksum_crc64nvme: f.crc64nvme,
                checksum_sha1: f.sha1,
                checksum_sha256: f.sha256,
                checksum_type: f.kind,
            });
        }
        if wants(ObjectAttributes::OBJECT_PARTS) && !e.parts.is_empty() {
            out.object_parts = Some(object_parts(&e, max_parts, marker));
        }
        Ok(S3Response::new(out))
    }
}

/// The `ObjectParts` of a multipart object: parts after `marker`, at most `max`.
fn object_parts(e: &IndexEntry, max: usize, marker: usize) -> GetObjectAttributesParts {
    let count = e.parts.len();
    let mut parts = GetObjectAttributesParts {
        total_parts_count: Some(count as i32),
        ..Default::default()
    };
    // Without a checksum carried by every part, S3 lists no Part elements.
    let Some(alg) = e
        .checksum
        .as_ref()
        .filter(|_| e.part_checksums.len() == count)
        .map(|c| c.alg.clone())
    else {
        return parts;
    };
    let listed: Vec<ObjectPart> = e
        .parts
        .iter()
        .zip(&e.part_checksums)
        .enumerate()
        .skip(marker)
        .take(max)
        .map(|(n, (&size, checksum))| {
            let f = ck_value_fields(&alg, checksum);
            ObjectPart {
                part_number: Some(n as i32 + 1),
                size: Some(size as i64),
                checksum_crc32: f.crc32,
                checksum_crc32c: f.crc32c,
                checksum_crc64nvme: f.crc64nvme,
                checksum_sha1: f.sha1,
                checksum_sha256: f.sha256,
            }
        })
        .collect();
    let last = marker + listed.len();
    parts.is_truncated = Some(last < count);
    parts.max_parts = Some(max as i32);
    parts.part_number_marker = Some(marker as i32);
    if last < count {
        parts.next_part_number_marker = Some(last as i32);
    }
    parts.parts = Some(listed);
    parts
}
