//! Objects: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, and the
//! body path they share with UploadPart ([`Gateway::store_body`]): stream → stripes
//! with MD5 and the asked-for checksum in one pass, verification of `Content-MD5`
//! and `x-amz-checksum-*` (header or trailer), then the index entry. An upload that
//! names no checksum gets a CRC64NVME one, computed in the same pass, as S3 does.

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::acl::acl_input;
use super::conditions::{Conds, check_read};
use super::errors::{payload_mismatch, write_failed};
use super::headers::{Given, Stored, ck_fields, out};
use super::{Gateway, internal, ts};
use crate::acl::{Acl, Permission, Principal};
use crate::checksum::{Alg, Digests, Hashes, Wanted, WantedError};
use crate::chunked::Trailers;
use crate::data::Written;
use crate::names;
use crate::payload_hash::{PayloadCheck, Sha256Mismatch};
use crate::records::{self, BucketRecord, IndexEntry, StoredChecksum, VERSION};

/// S3's largest single PUT (and part).
pub const MAX_PUT: u64 = 5 << 30;
/// Most keys in one DeleteObjects request.
pub const MAX_DELETE_KEYS: usize = 1000;
/// Attempts at swapping an index entry while other writers change the same key.
const INDEX_SWAP_ATTEMPTS: usize = 8;

pub(super) fn wanted_err(e: WantedError) -> s3s::S3Error {
    match e {
        WantedError::InvalidDigest => {
            s3_error!(InvalidDigest, "The Content-MD5 you specified is not valid.")
        }
        WantedError::InvalidRequest(m) => s3_error!(InvalidRequest, "{m}"),
    }
}

/// The trailer value `name` of a consumed request body, from s3s's decoder or ours.
fn trailer<T>(req: &S3Request<T>, name: &str) -> Option<String> {
    if let Some(t) = &req.trailing_headers
        && let Some(v) = t
            .read(|h| {
                h.get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            })
            .flatten()
    {
        return Some(v);
    }
    req.extensions
        .get::<Trailers>()
        .and_then(Trailers::get)
        .and_then(|h| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
}

/// Checks the received data against what the client declared.
pub(super) fn verify<T>(
    req: &S3Request<T>,
    wanted: &Wanted,
    d: &Digests,
) -> S3Result<Option<StoredChecksum>> {
    if let Some(md5) = &wanted.content_md5
        && md5.as_slice() != d.md5
    {
        return Err(s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ));
    }
    let Some((alg, actual)) = d.flex_b64() else {
        return Ok(None);
    };
    let expected = wanted.expected.clone().or_else(|| {
        wanted
            .in_trailer
            .then(|| trailer(req, alg.header()))
            .flatten()
    });
    if let Some(exp) = expected
        && exp.trim() != actual
    {
        return Err(s3_error!(
            BadDigest,
            "The {} you specified did not match the calculated checksum.",
            alg.name()
        ));
    }
    Ok(Some(StoredChecksum {
        alg: alg.name().to_string(),
        value: actual,
        kind: "FULL_OBJECT".into(),
    }))
}

/// What a conditional write (`If-None-Match: *`, `If-Match`) requires of the entry
/// it replaces.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct WriteCondition<'a> {
    /// `If-None-Match: *`: only if there is no entry.
    pub if_none_match: bool,
    /// `If-Match`: only if the entry's ETag matches (S3 answers 404 without one).
    pub if_match: Option<&'a ETagCondition>,
}

impl WriteCondition<'_> {
    /// Whether the write may replace `current`.
    pub fn check(&self, key: &str, current: Option<&IndexEntry>) -> S3Result<()> {
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold"
            )
        };
        if self.if_none_match && current.is_some() {
            return Err(failed());
        }
        if let Some(m) = self.if_match {
            let Some(cur) = current else {
                return Err(super::errors::no_such_key(key));
            };
            if !super::conditions::etag_matches(m, &cur.etag) {
                return Err(failed());
            }
        }
        Ok(())
    }
}

/// How a new object comes to be: who it belongs to, the ACL it gets (`None`:
/// private) and what it may replace.
pub(super) struct Creation<'a> {
    owner: &'a str,
    acl: Option<Acl>,
    cond: WriteCondition<'a>,
}

impl<'a> Creation<'a> {
    /// Owned by whoever wrote it; replaces whatever is there.
    pub(super) fn new(writer: &'a Principal, acl: Option<Acl>) -> Creation<'a> {
        Creation {
            owner: writer.owner_uid(),
            acl,
            cond: WriteCondition::default(),
        }
    }

    /// Only if `cond` holds for the entry it replaces.
    pub(super) fn when(self, cond: WriteCondition<'a>) -> Creation<'a> {
        Creation { cond, ..self }
    }
}

/// Whether the body is `aws-chunked` with signed chunks, whose signatures s3s checks
/// (hashing each chunk) as the body is read.
fn signed_chunks(headers: &http::HeaderMap) -> bool {
    headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-") && !v.starts_with("STREAMING-UNSIGNED"))
}

fn content_length(l: Option<i64>) -> Option<u64> {
    l.and_then(|l| u64::try_from(l).ok())
}

impl Gateway {
    /// Streams a request body into a new instance of bucket `b`, verifying it. When the
    /// request names no checksum algorithm, `default` is computed (and stored) instead:
    /// S3 gives every upload without a checksum a CRC64NVME one. With `may_inline`, a
    /// small body is returned to be stored inline rather than written as a stripe.
    pub(super) async fn store_body<T>(
        &self,
        req: &S3Request<T>,
        b: &BucketRecord,
        body: Option<StreamingBlob>,
        len: Option<i64>,
        default: Option<Alg>,
        may_inline: bool,
    ) -> S3Result<(Written, Option<StoredChecksum>)> {
        let mut wanted = Wanted::from_headers(&req.headers).map_err(wanted_err)?;
        if wanted.alg.is_none() {
            wanted.alg = default;
        }
        let len = content_length(len);
        if len.is_some_and(|l| l > MAX_PUT) {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size"
            ));
        }
        let body = body.unwrap_or_else(|| {
            StreamingBlob::wrap(futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>())
        });
        // A signed payload the front layer authenticated: its SHA-256 is taken with the
        // MD5, in the lane service, and checked before anything becomes visible.
        let check = req.extensions.get::<Arc<PayloadCheck>>();
        let payload = check.and_then(PayloadCheck::claim);
        let hashes = Hashes {
            checksum: wanted.alg,
            payload_sha256: payload.is_some(),
            body_hashes_itself: (check.is_some() && payload.is_none())
                || signed_chunks(&req.headers),
        };
        let instance = format!("{}.{}", b.id, names::new_instance_id());
        let w = self
            .data
            .write_stream(instance, body, hashes, len, MAX_PUT, may_inline)
            .await
            .map_err(write_failed)?;
        let checked = match &payload {
            // Fails closed should the digest be missing.
            Some(claimed) => w
                .digests
                .payload_sha256
                .ok_or(Sha256Mismatch)
                .and_then(|d| claimed.verify(&d))
                .map_err(|_| payload_mismatch()),
            None => Ok(()),
        };
        match checked.and_then(|()| verify(req, &wanted, &w.digests)) {
            Ok(ck) => Ok((w, ck)),
            Err(e) => {
                self.data.delete(std::slice::from_ref(&w.segment)).await;
                Err(e)
            }
        }
    }

    /// Makes `entry` the object `key` of bucket `b` if `cond` holds, and removes the
    /// data it replaces. The swap is guarded by the entry it replaces, so concurrent
    /// writers of one key each remove exactly what they replaced (the last writer
    /// wins; nothing is left behind or removed under a live entry), and a conditional
    /// write is decided against the entry it actually replaces.
    pub(super) async fn commit(
        &self,
        b: &BucketRecord,
        key: &str,
        entry: &IndexEntry,
        cond: WriteCondition<'_>,
    ) -> S3Result<()> {
        // Most writes create a key: try that first (one cluster operation); read the
        // entry being replaced only when there is one.
        if cond.if_match.is_none()
            && self
                .index
                .swap(b, key, None, Some(entry))
                .await
                .map_err(internal)?
        {
            return Ok(());
        }
        for _ in 0..INDEX_SWAP_ATTEMPTS {
            let old = self.index.get_versioned(b, key).await.map_err(internal)?;
            if old.as_ref().is_some_and(|(cur, _)| cur.data == entry.data) {
                // A retried call that the cluster had applied already.
                return Ok(());
            }
            cond.check(key, old.as_ref().map(|(cur, _)| cur))?;
            let (old, raw) = old.unzip();
            if self
                .index
                .swap(b, key, raw, Some(entry))
                .await
                .map_err(internal)?
            {
                if let Some(old) = old {
                    self.retire_data(b, key, old.data).await;
                }
                return Ok(());
            }
        }
        Err(s3_error!(SlowDown, "Please reduce your request rate."))
    }

    /// Commits freshly written data `w` as the object `key` (one segment, no parts);
    /// if the commit fails the data is deleted, so nothing half-made stays behind.
    pub(super) async fn commit_written(
        &self,
        b: &BucketRecord,
        key: &str,
        how: Creation<'_>,
        w: &Written,
        stored: Stored,
        checksum: Option<StoredChecksum>,
    ) -> S3Result<IndexEntry> {
        let entry = IndexEntry {
            v: VERSION,
            size: w.segment.s,
            etag: w.digests.etag(),
            mtime_ms: records::now_ms(),
            owner: how.owner.to_string(),
            content_type: stored.content_type,
            headers: stored.headers,
            meta: stored.meta,
            checksum,
            data: vec![w.segment.clone()],
            parts: Vec::new(),
            part_checksums: Vec::new(),
            acl: how.acl,
            inline: w.inline.is_some(),
            body: w.inline.clone(),
        };
        if let Err(e) = self.commit(b, key, &entry, how.cond).await {
            self.data.delete(std::slice::from_ref(&w.segment)).await;
            return Err(e);
        }
        Ok(entry)
    }

    /// Fails early when a conditional write cannot succeed (the commit checks again).
    pub(super) async fn precheck(
        &self,
        b: &BucketRecord,
        key: &str,
        cond: WriteCondition<'_>,
    ) -> S3Result<()> {
        if !cond.if_none_match && cond.if_match.is_none() {
            return Ok(());
        }
        let current = self.index.get(b, key).await.map_err(internal)?;
        cond.check(key, current.as_ref())
    }

    /// Queues data that an index change just unlinked for removal after the GC delay
    /// (readers that found it before the change may still be streaming it). If the
    /// queue cannot be written the data stays as garbage; the change stands.
    pub(super) async fn retire_data(
        &self,
        b: &BucketRecord,
        key: &str,
        segments: Vec<records::Segment>,
    ) {
        if let Err(e) = self.gc.enqueue(&b.name, key, segments).await {
            tracing::warn!(bucket = %b.name, %key, "queueing replaced data for removal failed (left as garbage): {e}");
        }
    }

    /// Removes data in the background (its index entry is gone already, and no reader
    /// can have found it: unused multipart parts, aborted uploads).
    pub(super) fn drop_data(&self, segments: Vec<records::Segment>) {
        if segments.iter().all(|s| s.stripes() == 0) {
            return;
        }
        let data = self.data.clone();
        tokio::spawn(async move { data.delete(&segments).await });
    }

    pub(super) async fn do_put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = req.input.bucket.clone();
        let key = req.input.key.clone();
        let (who, b) = self.bucket_with(&req, &bucket, Permission::Write).await?;
        let acl = self
            .new_object_acl(acl_input!(object: req.input), &who, &b)
            .await?;
        let i = &mut req.input;
        super::headers::check_storage_class(i.storage_class.as_ref())?;
        let stored = Stored::from_given(Given {
            content_type: i.content_type.take(),
            content_encoding: i.content_encoding.take(),
            content_disposition: i.content_disposition.take(),
            content_language: i.content_language.take(),
            cache_control: i.cache_control.take(),
            expires: i.expires.take(),
            metadata: i.metadata.take(),
        })?;
        let if_none_match = req.input.if_none_match.take();
        let if_match = req.input.if_match.take();
        let cond = WriteCondition {
            if_none_match: if_none_match.is_some(),
            if_match: if_match.as_ref(),
        };
        // Checked before the body is stored (to fail fast) and again, atomically,
        // when the entry is swapped in.
        self.precheck(&b, &key, cond).await?;
        let body = req.input.body.take();
        let (w, ck) = self
            .store_body(
                &req,
                &b,
                body,
                req.input.content_length,
                Some(Alg::Crc64Nvme),
                true,
            )
            .await?;
        let entry = self
            .commit_written(
                &b,
                &key,
                Creation::new(&who, acl).when(cond),
                &w,
                stored,
                ck,
            )
            .await?;
        let f = ck_fields(entry.checksum.as_ref());
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(entry.etag)),
            checksum_crc32: f.crc32,
            checksum_crc32c: f.crc32c,
            checksum_crc64nvme: f.crc64nvme,
            checksum_sha1: f.sha1,
            checksum_sha256: f.sha256,
            checksum_type: f.kind,
            ..Default::default()
        }))
    }

    pub(super) async fn do_get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let i = &req.input;
        let who = Self::principal(&req);
        let b = self.bucket(&i.bucket).await?;
        let e = self.object_with(&b, &i.key, &who, Permission::Read).await?;
        let p = ReadPlan::new(
            &e,
            &Conds {
                if_match: i.if_match.as_ref(),
                if_none_match: i.if_none_match.as_ref(),
                if_modified_since: i.if_modified_since.as_ref(),
                if_unmodified_since: i.if_unmodified_since.as_ref(),
            },
            i.range.as_ref(),
            i.part_number,
            i.checksum_mode.as_ref(),
        )?;
        let stream = sync_wrapper::SyncStream::new(self.data.read_object(&e, p.start, p.end));
        let o = out(&e);
        let f = p.checksums;
        Ok(S3Response::new(GetObjectOutput {
            body: Some(StreamingBlob::wrap(stream)),
            accept_ranges: Some("bytes".into()),
            content_length: Some(p.length),
            content_range: p.content_range,
            e_tag: Some(ETag::Strong(e.etag.clone())),
            last_modified: Some(ts(e.mtime_ms)),
            content_type: o.content_type,
            content_encoding: o.content_encoding,
            content_disposition: o.content_disposition,
            content_language: o.content_language,
            cache_control: o.cache_control,
            expires: o.expires,
            metadata: o.metadata,
            parts_count: p.parts_count,
            checksum_crc32: f.crc32,
            checksum_crc32c: f.crc32c,
            checksum_crc64nvme: f.crc64nvme,
            checksum_sha1: f.sha1,
            checksum_sha256: f.sha256,
            checksum_type: f.kind,
            ..Default::default()
        }))
    }

    pub(super) async fn do_head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let i = &req.input;
        let who = Self::principal(&req);
        let b = self.bucket(&i.bucket).await?;
        let e = self.object_with(&b, &i.key, &who, Permission::Read).await?;
        let p = ReadPlan::new(
            &e,
            &Conds {
                if_match: i.if_match.as_ref(),
                if_none_match: i.if_none_match.as_ref(),
                if_modified_since: i.if_modified_since.as_ref(),
                if_unmodified_since: i.if_unmodified_since.as_ref(),
            },
            i.range.as_ref(),
            i.part_number,
            i.checksum_mode.as_ref(),
        )?;
        let o = out(&e);
        let f = p.checksums;
        let partial = p.content_range.is_some();
        let mut resp = S3Response::new(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(p.length),
            content_range: p.content_range,
            e_tag: Some(ETag::Strong(e.etag.clone())),
            last_modified: Some(ts(e.mtime_ms)),
            content_type: o.content_type,
            content_encoding: o.content_encoding,
            content_disposition: o.content_disposition,
            content_language: o.content_language,
            cache_control: o.cache_control,
            expires: o.expires,
            metadata: o.metadata,
            parts_count: p.parts_count,
            checksum_crc32: f.crc32,
            checksum_crc32c: f.crc32c,
            checksum_crc64nvme: f.crc64nvme,
            checksum_sha1: f.sha1,
            checksum_sha256: f.sha256,
            checksum_type: f.kind,
            ..Default::default()
        });
        if partial {
            resp.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(resp)
    }

    pub(super) async fn do_delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (_, b) = self
            .bucket_with(&req, &req.input.bucket, Permission::Write)
            .await?;
        self.delete_key(&b, &req.input.key).await?;
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    /// Removes `key` (nothing if absent) and then its data; guarded like
    /// [`Gateway::commit`], so a concurrent overwrite is either removed with its data
    /// or survives whole.
    async fn delete_key(&self, b: &BucketRecord, key: &str) -> S3Result<()> {
        for _ in 0..INDEX_SWAP_ATTEMPTS {
            let Some((e, raw)) = self.index.get_versioned(b, key).await.map_err(internal)? else {
                return Ok(());
            };
            if self
                .index
                .swap(b, key, Some(raw), None)
                .await
                .map_err(internal)?
            {
                self.retire_data(b, key, e.data).await;
                return Ok(());
            }
        }
        Err(s3_error!(SlowDown, "Please reduce your request rate."))
    }

    pub(super) async fn do_delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let (_, b) = self
            .bucket_with(&req, &req.input.bucket, Permission::Write)
            .await?;
        let objects = &req.input.delete.objects;
        if objects.len() > MAX_DELETE_KEYS {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let quiet = req.input.delete.quiet.unwrap_or(false);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        let results = futures::future::join_all(
            objects
                .iter()
                .map(|o| async { (o.key.clone(), self.delete_key(&b, &o.key).await) }),
        )
        .await;
        for (key, r) in results {
            match r {
                Ok(()) if !quiet => deleted.push(DeletedObject {
                    key: Some(key),
                    ..Default::default()
                }),
                Ok(()) => {}
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    key: Some(key),
                    message: e.message().map(str::to_string),
                    version_id: None,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            request_charged: None,
        }))
    }
}

fn checksum_mode(m: Option<&ChecksumMode>) -> bool {
    m.is_some_and(|m| m.as_str().eq_ignore_ascii_case(ChecksumMode::ENABLED))
}

/// What a GET or HEAD of an entry answers with: the byte span, the part count for
/// `partNumber` requests and the checksums to return (only for whole objects, when the
/// client asked for them). Building it checks the conditional headers.
struct ReadPlan {
    start: u64,
    end: u64,
    /// Content-Length of the answer.
    length: i64,
    /// `bytes S-E/SIZE` for a partial answer (206).
    content_range: Option<String>,
    parts_count: Option<i32>,
    checksums: super::headers::CkFields,
}

impl ReadPlan {
    fn new(
        e: &IndexEntry,
        conds: &Conds<'_>,
        range: Option<&Range>,
        part: Option<i32>,
        mode: Option<&ChecksumMode>,
    ) -> S3Result<ReadPlan> {
        check_read(conds, e)?;
        let (span, parts_count) = select(e, range, part)?;
        let (start, end) = span.unwrap_or((0, e.size));
        let checksums = if span.is_none() && checksum_mode(mode) {
            ck_fields(e.checksum.as_ref())
        } else {
            Default::default()
        };
        Ok(ReadPlan {
            start,
            end,
            length: (end - start) as i64,
            content_range: span.map(|(s, t)| format!("bytes {s}-{}/{}", t - 1, e.size)),
            parts_count,
            checksums,
        })
    }
}

/// A byte span (`None`: the whole object) and the part count for `partNumber` requests.
type Selection = (Option<(u64, u64)>, Option<i32>);

/// The byte span a GET or HEAD selects (`None`: the whole object) and the part count
/// to report for `partNumber` requests.
fn select(e: &IndexEntry, range: Option<&Range>, part: Option<i32>) -> S3Result<Selection> {
    if let Some(n) = part {
        if range.is_some() {
            return Err(s3_error!(
                InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter"
            ));
        }
        let sizes: Vec<u64> = if e.parts.is_empty() {
            vec![e.size]
        } else {
            e.parts.clone()
        };
        let idx = usize::try_from(n)
            .ok()
            .filter(|n| (1..=sizes.len()).contains(n));
        let Some(idx) = idx else {
            return Err(super::errors::custom(
                "InvalidPartNumber",
                "The requested partnumber is not satisfiable",
                http::StatusCode::RANGE_NOT_SATISFIABLE,
            ));
        };
        let start: u64 = sizes[..idx - 1].iter().sum();
        let count = if e.parts.is_empty() {
            None
        } else {
            Some(sizes.len() as i32)
        };
        if e.size == 0 {
            return Ok((None, count));
        }
        // A single-part object's part 1 is the whole object, still answered as a
        // range (206 with Content-Range), as S3 does.
        return Ok((Some((start, start + sizes[idx - 1])), count));
    }
    match range {
        None => Ok((None, None)),
        Some(r) => {
            let span = r.check(e.size).map_err(|_| {
                let mut err = s3_error!(InvalidRange, "The requested range is not satisfiable");
                // As S3 does: tell the client the object's size.
                let mut h = http::HeaderMap::new();
                if let Ok(v) = http::HeaderValue::from_str(&format!("bytes */{}", e.size)) {
                    h.insert(http::header::CONTENT_RANGE, v);
                }
                err.set_headers(h);
                err
            })?;
            Ok((Some((span.start, span.end)), None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_signed_chunk_streams_count_as_signed_chunks() {
        let with = |v: &'static str| {
            let mut h = http::HeaderMap::new();
            h.insert("x-amz-content-sha256", http::HeaderValue::from_static(v));
            signed_chunks(&h)
        };
        assert!(with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"));
        assert!(with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"));
        assert!(with("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"));
        assert!(!with("STREAMING-UNSIGNED-PAYLOAD-TRAILER"));
        assert!(!with("UNSIGNED-PAYLOAD"));
        assert!(!with(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        ));
        assert!(!signed_chunks(&http::HeaderMap::new()));
    }
}
