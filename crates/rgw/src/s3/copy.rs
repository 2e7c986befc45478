//! CopyObject (same or another bucket, `x-amz-metadata-directive`, copy-source
//! conditions) and UploadPartCopy (with `x-amz-copy-source-range`). Data is streamed
//! from the source's stripes into a new instance (re-hashed for the new ETag and its
//! checksum: the one asked for, else the source's algorithm, else S3's default
//! CRC64NVME), so the copy is independent of the source's later deletion.

use futures::StreamExt;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::acl::acl_input;
use super::conditions::{Conds, check_copy};
use super::errors::write_failed;
use super::headers::{Given, Stored, ck_fields};
use super::multipart::check_part_number;
use super::object::{Creation, MAX_PUT};
use super::{Gateway, ts};
use crate::acl::Permission;
use crate::checksum::{Alg, Hashes};
use crate::data::Written;
use crate::records::{self, BucketRecord, IndexEntry, PartRecord, StoredChecksum, VERSION};

impl Gateway {
    /// The source object of a copy, checked for access and conditions.
    async fn copy_source<T>(
        &self,
        req: &S3Request<T>,
        src: &CopySource,
        c: Conds<'_>,
    ) -> S3Result<IndexEntry> {
        let (bucket, key) = source_of(src)?;
        let b = self.bucket(&bucket).await?;
        let e = self
            .object_with(&b, &key, &Self::principal(req), Permission::Read)
            .await?;
        check_copy(&c, &e)?;
        Ok(e)
    }

    /// Streams `[start, end)` of `src` into a new instance of bucket `b`.
    async fn copy_data(
        &self,
        b: &BucketRecord,
        src: &IndexEntry,
        start: u64,
        end: u64,
        alg: Option<Alg>,
        may_inline: bool,
    ) -> S3Result<Written> {
        let stream = self
            .data
            .read_object(src, start, end)
            .map(|r| r.map_err(|e| Box::new(e) as s3s::StdError));
        let instance = format!("{}.{}", b.id, crate::names::new_instance_id());
        self.data
            .write_stream(
                instance,
                Box::pin(stream),
                Hashes::checksum(alg),
                Some(end - start),
                MAX_PUT,
                may_inline,
            )
            .await
            .map_err(write_failed)
    }

    pub(super) async fn do_copy_object(
        &self,
        mut req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        let (who, b) = self.bucket_with(&req, &bucket, Permission::Write).await?;
        super::headers::check_storage_class(req.input.storage_class.as_ref())?;
        // The copy is a new object of the copier's: its ACL is the one asked for here
        // (private by default), never the source's.
        let acl = self
            .new_object_acl(acl_input!(object: req.input), &who, &b)
            .await?;
        let src = {
            let i = &req.input;
            self.copy_source(
                &req,
                &i.copy_source,
                Conds {
                    if_match: i.copy_source_if_match.as_ref(),
                    if_none_match: i.copy_source_if_none_match.as_ref(),
                    if_modified_since: i.copy_source_if_modified_since.as_ref(),
                    if_unmodified_since: i.copy_source_if_unmodified_since.as_ref(),
                },
            )
            .await?
        };
        if src.size > MAX_PUT {
            return Err(s3_error!(
                InvalidRequest,
                "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"
            ));
        }
        let replace = match req
            .input
            .metadata_directive
            .as_ref()
            .map(|d| d.as_str().to_ascii_uppercase())
        {
            None => false,
            Some(d) if d == MetadataDirective::COPY => false,
            Some(d) if d == MetadataDirective::REPLACE => true,
            Some(_) => return Err(s3_error!(InvalidArgument, "Unknown metadata directive.")),
        };
        let (sb, sk) = source_of(&req.input.copy_source)?;
        if sb == bucket && sk == key && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let stored = if replace {
            let i = &mut req.input;
            Stored::from_given(Given {
                content_type: i.content_type.take(),
                content_encoding: i.content_encoding.take(),
                content_disposition: i.content_disposition.take(),
                content_language: i.content_language.take(),
                cache_control: i.cache_control.take(),
                expires: i.expires.take(),
                metadata: i.metadata.take(),
            })?
        } else {
            Stored {
                content_type: src.content_type.clone(),
                headers: src.headers.clone(),
                meta: src.meta.clone(),
            }
        };
        let alg =
            match &req.input.checksum_algorithm {
                Some(a) => Some(Alg::parse(a.as_str()).ok_or_else(|| {
                    s3_error!(InvalidRequest, "Checksum algorithm is not supported")
                })?),
                // The source's algorithm, else S3's default.
                None => Some(
                    src.checksum
                        .as_ref()
                        .and_then(|c| Alg::parse(&c.alg))
                        .unwrap_or(Alg::Crc64Nvme),
                ),
            };
        let w = self.copy_data(&b, &src, 0, src.size, alg, true).await?;
        let checksum = w.digests.flex_b64().map(|(a, v)| StoredChecksum {
            alg: a.name().to_string(),
            value: v,
            kind: "FULL_OBJECT".into(),
        });
        let entry = self
            .commit_written(&b, &key, Creation::new(&who, acl), &w, stored, checksum)
            .await?;
        let f = ck_fields(entry.checksum.as_ref());
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(entry.etag)),
                last_modified: Some(ts(entry.mtime_ms)),
                checksum_crc32: f.crc32,
                checksum_crc32c: f.crc32c,
                checksum_crc64nvme: f.crc64nvme,
                checksum_sha1: f.sha1,
                checksum_sha256: f.sha256,
                checksum_type: f.kind,
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let i = &req.input;
        let number = check_part_number(i.part_number)?;
        let (_, b) = self.bucket_with(&req, &i.bucket, Permission::Write).await?;
        let u = self.upload(&b, &i.key, &i.upload_id).await?;
        let src = self
            .copy_source(
                &req,
                &i.copy_source,
                Conds {
                    if_match: i.copy_source_if_match.as_ref(),
                    if_none_match: i.copy_source_if_none_match.as_ref(),
                    if_modified_since: i.copy_source_if_modified_since.as_ref(),
                    if_unmodified_since: i.copy_source_if_unmodified_since.as_ref(),
                },
            )
            .await?;
        let (start, end) = match &i.copy_source_range {
            None => (0, src.size),
            Some(r) => parse_copy_range(r, src.size)?,
        };
        if end - start > MAX_PUT {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size"
            ));
        }
        let alg = u
            .checksum_alg
            .as_deref()
            .and_then(Alg::parse)
            .or_else(|| super::multipart::default_part_alg(&u));
        let w = self.copy_data(&b, &src, start, end, alg, false).await?;
        let etag = w.digests.etag();
        let checksum = w.digests.flex_b64().map(|(a, v)| StoredChecksum {
            alg: a.name().to_string(),
            value: v,
            kind: "FULL_OBJECT".into(),
        });
        let mtime = records::now_ms();
        self.put_part(
            &b,
            &i.upload_id,
            PartRecord {
                v: VERSION,
                number,
                etag: etag.clone(),
                mtime_ms: mtime,
                data: w.segment,
                checksum: checksum.clone(),
            },
        )
        .await?;
        let f = ck_fields(checksum.as_ref());
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(ts(mtime)),
                checksum_crc32: f.crc32,
                checksum_crc32c: f.crc32c,
                checksum_crc64nvme: f.crc64nvme,
                checksum_sha1: f.sha1,
                checksum_sha256: f.sha256,
            }),
            ..Default::default()
        }))
    }
}

/// The bucket and key a copy reads.
fn source_of(src: &CopySource) -> S3Result<(String, String)> {
    match src {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3_error!(
            NotImplemented,
            "Only bucket copy sources are supported"
        )),
    }
}

/// `bytes=first-last` within an object of `size` bytes, as `[first, last + 1)`.
pub(crate) fn parse_copy_range(r: &str, size: u64) -> S3Result<(u64, u64)> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (a, b) = r
        .trim()
        .strip_prefix("bytes=")
        .and_then(|s| s.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = a.parse().map_err(|_| bad())?;
    let last: u64 = b.parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok((first, last + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_ranges() {
        assert_eq!(parse_copy_range("bytes=0-9", 100).ok(), Some((0, 10)));
        assert!(parse_copy_range("bytes=5-2", 100).is_err());
        assert!(parse_copy_range("bytes=0-100", 100).is_err());
        assert!(parse_copy_range("0-1", 100).is_err());
        assert!(parse_copy_range("bytes=-5", 100).is_err());
    }
}
