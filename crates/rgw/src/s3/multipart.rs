//! Multipart uploads: Create, UploadPart, Complete, Abort, ListMultipartUploads,
//! ListParts (UploadPartCopy is in `copy`). Parts are stored as they arrive, each as
//! its own instance of stripes; Complete checks the part list and writes one index
//! entry whose manifest lists the parts' segments in order, so no data moves.
//! Until then an upload is invisible to object listings and reads. An upload created
//! without a checksum algorithm gets S3's default: every part without a checksum gets
//! a CRC64NVME, and the object their combination, a full-object CRC64NVME.

use bytes::Bytes;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::acl::acl_input;
use super::headers::{Given, Stored, ck_fields};
use super::object::WriteCondition;
use super::{Gateway, internal, owner, ts};
use crate::acl::Permission;
use crate::checksum::{Alg, b64, unb64};
use crate::meta::omap_all;
use crate::records::{
    self, BucketRecord, IndexEntry, PartRecord, StoredChecksum, UploadRecord, VERSION,
};

/// Smallest part except the last (S3's rule).
pub const MIN_PART: u64 = 5 << 20;
/// Highest part number.
pub const MAX_PART_NUMBER: i32 = 10_000;

fn uploads_obj(b: &BucketRecord) -> String {
    records::uploads_object(&b.id)
}

fn parts_obj(b: &BucketRecord, upload: &str) -> String {
    records::parts_object(&b.id, upload)
}

fn upload_key(key: &str, upload: &str) -> Bytes {
    let mut v = key.as_bytes().to_vec();
    v.push(0);
    v.extend_from_slice(upload.as_bytes());
    Bytes::from(v)
}

fn part_key(n: u32) -> Bytes {
    Bytes::from(format!("{n:05}"))
}

fn no_such_upload(upload: &str) -> s3s::S3Error {
    crate::error_body::with_element(
        s3_error!(
            NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
        ),
        crate::error_body::Element::UploadId,
        upload,
    )
}

pub(super) fn check_part_number(n: i32) -> S3Result<u32> {
    if (1..=MAX_PART_NUMBER).contains(&n) {
        Ok(n as u32)
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

impl Gateway {
    /// The upload record of `upload` for `key`.
    pub(super) async fn upload(
        &self,
        b: &BucketRecord,
        key: &str,
        upload: &str,
    ) -> S3Result<UploadRecord> {
        let k = upload_key(key, upload);
        let got = match self
            .index
            .io()
            .omap_get(&uploads_obj(b), vec![k.clone()])
            .await
        {
            Ok(m) => m,
            Err(e) if crate::error::is_not_found(&e) => return Err(no_such_upload(upload)),
            Err(e) => return Err(internal(e.into())),
        };
        let v = got.get(&k).ok_or_else(|| no_such_upload(upload))?;
        records::decode(upload, v).map_err(internal)
    }

    async fn parts(&self, b: &BucketRecord, upload: &str) -> S3Result<Vec<PartRecord>> {
        omap_all(self.index.io(), &parts_obj(b, upload), b"")
            .await
            .map_err(internal)?
            .into_iter()
            .map(|(k, v)| records::decode(&String::from_utf8_lossy(&k), &v).map_err(internal))
            .collect()
    }

    /// Records a stored part (replacing an earlier upload of the same number).
    pub(super) async fn put_part(
        &self,
        b: &BucketRecord,
        upload: &str,
        rec: PartRecord,
    ) -> S3Result<()> {
        let obj = parts_obj(b, upload);
        let k = part_key(rec.number);
        let old = match self.index.io().omap_get(&obj, vec![k.clone()]).await {
            Ok(m) => m
                .get(&k)
                .and_then(|v| records::decode::<PartRecord>("part", v).ok()),
            Err(e) if crate::error::is_not_found(&e) => None,
            Err(e) => return Err(internal(e.into())),
        };
        if let Err(e) = self
            .index
            .io()
            .omap_set(&obj, vec![(k, records::encode(&rec))])
            .await
        {
            self.data.delete(std::slice::from_ref(&rec.data)).await;
            return Err(internal(e.into()));
        }
        if let Some(old) = old {
            self.drop_data(vec![old.data]);
        }
        Ok(())
    }

    async fn forget_upload(&self, b: &BucketRecord, key: &str, upload: &str) -> S3Result<()> {
        crate::meta::remove_if_exists(self.index.io(), &parts_obj(b, upload))
            .await
            .map_err(internal)?;
        self.index
            .io()
            .omap_rm(&uploads_obj(b), vec![upload_key(key, upload)])
            .await
            .map_err(|e| internal(e.into()))
    }

    /// Aborts every unfinished upload of a bucket (before deleting it).
    pub(super) async fn abort_all_uploads(&self, b: &BucketRecord) -> S3Result<()> {
        let all = omap_all(self.index.io(), &uploads_obj(b), b"")
            .await
            .map_err(internal)?;
        for (_, v) in all {
            let u: UploadRecord = records::decode("upload", &v).map_err(internal)?;
            let parts = self.parts(b, &u.upload_id).await?;
            self.data
                .delete(&parts.into_iter().map(|p| p.data).collect::<Vec<_>>())
                .await;
            crate::meta::remove_if_exists(self.index.io(), &parts_obj(b, &u.upload_id))
                .await
                .map_err(internal)?;
        }
        crate::meta::remove_if_exists(self.index.io(), &uploads_obj(b))
            .await
            .map_err(internal)
    }

    pub(super) async fn do_create_multipart_upload(
        &self,
        mut req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let bucket = req.input.bucket.clone();
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
        let alg =
            match &i.checksum_algorithm {
                Some(a) => Some(Alg::parse(a.as_str()).ok_or_else(|| {
                    s3_error!(InvalidRequest, "Checksum algorithm is not supported")
                })?),
                None => None,
            };
        let full_object = full_object_type(alg, i.checksum_type.as_ref())?;
        let upload_id = crate::names::new_instance_id();
        let rec = UploadRecord {
            v: VERSION,
            key: i.key.clone(),
            upload_id: upload_id.clone(),
            owner: who.owner_uid().to_string(),
            initiated_ms: records::now_ms(),
            content_type: stored.content_type,
            headers: stored.headers,
            meta: stored.meta,
            checksum_alg: alg.map(|a| a.name().to_string()),
            checksum_type: full_object.then(|| ChecksumType::FULL_OBJECT.to_string()),
            acl,
        };
        self.index
            .io()
            .omap_set(
                &uploads_obj(&b),
                vec![(upload_key(&i.key, &upload_id), records::encode(&rec))],
            )
            .await
            .map_err(|e| internal(e.into()))?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(bucket),
            key: Some(i.key.clone()),
            upload_id: Some(upload_id),
            checksum_algorithm: i.checksum_algorithm.clone(),
            checksum_type: alg.map(|_| {
                ChecksumType::from_static(if full_object {
                    ChecksumType::FULL_OBJECT
                } else {
                    ChecksumType::COMPOSITE
                })
            }),
            ..Default::default()
        }))
    }

    pub(super) async fn do_upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let i = &req.input;
        let (bucket, key, upload) = (i.bucket.clone(), i.key.clone(), i.upload_id.clone());
        let number = check_part_number(i.part_number)?;
        let (_, b) = self.bucket_with(&req, &bucket, Permission::Write).await?;
        let u = self.upload(&b, &key, &upload).await?;
        let body = req.input.body.take();
        let (w, ck) = self
            .store_body(
                &req,
                &b,
                body,
                req.input.content_length,
                default_part_alg(&u),
                false,
            )
            .await?;
        let etag = w.digests.etag();
        self.put_part(
            &b,
            &upload,
            PartRecord {
                v: VERSION,
                number,
                etag: etag.clone(),
                mtime_ms: records::now_ms(),
                data: w.segment,
                checksum: ck.clone(),
            },
        )
        .await?;
        let f = ck_fields(ck.as_ref());
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: f.crc32,
            checksum_crc32c: f.crc32c,
            checksum_crc64nvme: f.crc64nvme,
            checksum_sha1: f.sha1,
            checksum_sha256: f.sha256,
            ..Default::default()
        }))
    }

    pub(super) async fn do_complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let i = &req.input;
        let (_, b) = self.bucket_with(&req, &i.bucket, Permission::Write).await?;
        let u = self.upload(&b, &i.key, &i.upload_id).await?;
        let asked = i
            .multipart_upload
            .as_ref()
            .and_then(|m| m.parts.clone())
            .unwrap_or_default();
        if asked.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let cond = WriteCondition {
            if_none_match: i.if_none_match.is_some(),
            if_match: i.if_match.as_ref(),
        };
        self.precheck(&b, &i.key, cond).await?;
        let stored = self.parts(&b, &i.upload_id).await?;
        let invalid = || {
            s3_error!(
                InvalidPart,
                "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not have matched the part's entity tag."
            )
        };
        let mut chosen: Vec<&PartRecord> = Vec::with_capacity(asked.len());
        let mut last = 0u32;
        for p in &asked {
            let n = check_part_number(p.part_number.unwrap_or(0))?;
            if n <= last {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            last = n;
            let rec = stored.iter().find(|r| r.number == n).ok_or_else(invalid)?;
            let etag_ok = p
                .e_tag
                .as_ref()
                .is_some_and(|e| e.value().trim_matches('"') == rec.etag);
            if !etag_ok {
                return Err(invalid());
            }
            let given = [
                (Alg::Crc32, &p.checksum_crc32),
                (Alg::Crc32c, &p.checksum_crc32c),
                (Alg::Crc64Nvme, &p.checksum_crc64nvme),
                (Alg::Sha1, &p.checksum_sha1),
                (Alg::Sha256, &p.checksum_sha256),
            ];
            for (alg, v) in given {
                if let (Some(v), Some(c)) = (v, &rec.checksum)
                    && c.alg == alg.name()
                    && v.trim() != c.value
                {
                    return Err(invalid());
                }
            }
            chosen.push(rec);
        }
        for rec in &chosen[..chosen.len() - 1] {
            if rec.data.s < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size."
                ));
            }
        }
        let mut md5s = Vec::with_capacity(chosen.len() * 16);
        for rec in &chosen {
            md5s.extend(hex::decode(&rec.etag).map_err(|e| {
                internal(crate::error::RgwError::Corrupt {
                    what: format!("part {}", rec.number),
                    reason: e.to_string(),
                })
            })?);
        }
        let n = chosen.len();
        let etag = format!(
            "{}-{n}",
            hex::encode(crate::checksum::Hashers::md5_of(&md5s))
        );
        let checksum = if u.checksum_type.as_deref() == Some(ChecksumType::FULL_OBJECT) {
            let c = full_object_checksum(u.checksum_alg.as_deref(), &chosen);
            check_full_object_checksum(i, c.as_ref())?;
            c
        } else if u.checksum_alg.is_none() {
            // No algorithm asked for: S3's default, a full-object CRC64NVME (from the
            // parts' CRC64NVMEs, computed for them when they came without a checksum);
            // parts that all carry another algorithm keep their composite checksum.
            full_object_checksum(Some(Alg::Crc64Nvme.name()), &chosen)
                .or_else(|| composite_checksum(None, &chosen))
        } else {
            composite_checksum(u.checksum_alg.as_deref(), &chosen)
        };
        let entry = IndexEntry {
            v: VERSION,
            size: chosen.iter().map(|r| r.data.s).sum(),
            etag: etag.clone(),
            mtime_ms: records::now_ms(),
            owner: u.owner.clone(),
            content_type: u.content_type.clone(),
            headers: u.headers.clone(),
            meta: u.meta.clone(),
            checksum: checksum.clone(),
            data: chosen.iter().map(|r| r.data.clone()).collect(),
            parts: chosen.iter().map(|r| r.data.s).collect(),
            part_checksums: part_checksums(checksum.as_ref(), &chosen),
            acl: u.acl.clone(),
            inline: false,
            body: None,
        };
        self.commit(&b, &i.key, &entry, cond).await?;
        let unused: Vec<_> = stored
            .iter()
            .filter(|s| !chosen.iter().any(|c| c.number == s.number))
            .map(|s| s.data.clone())
            .collect();
        self.drop_data(unused);
        self.forget_upload(&b, &i.key, &i.upload_id).await?;
        let f = ck_fields(checksum.as_ref());
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            location: Some(format!("/{}/{}", i.bucket, i.key)),
            e_tag: Some(ETag::Strong(etag)),
            checksum_crc32: f.crc32,
            checksum_crc32c: f.crc32c,
            checksum_crc64nvme: f.crc64nvme,
            checksum_sha1: f.sha1,
            checksum_sha256: f.sha256,
            checksum_type: f.kind,
            ..Default::default()
        }))
    }

    pub(super) async fn do_abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let i = &req.input;
        let (_, b) = self.bucket_with(&req, &i.bucket, Permission::Write).await?;
        self.upload(&b, &i.key, &i.upload_id).await?;
        let parts = self.parts(&b, &i.upload_id).await?;
        self.forget_upload(&b, &i.key, &i.upload_id).await?;
        self.drop_data(parts.into_iter().map(|p| p.data).collect());
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub(super) async fn do_list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let i = &req.input;
        let (_, b) = self.bucket_with(&req, &i.bucket, Permission::Read).await?;
        let max = match i.max_uploads {
            Some(m) if m < 0 => {
                return Err(s3_error!(InvalidArgument, "max-uploads cannot be negative"));
            }
            Some(m) => m.min(1000) as usize,
            None => 1000,
        };
        let prefix = i.prefix.clone().unwrap_or_default();
        let delim = i.delimiter.clone().filter(|d| !d.is_empty());
        let mut after: Vec<u8> = match (&i.key_marker, &i.upload_id_marker) {
            (Some(k), Some(u)) if !k.is_empty() => upload_key(k, u).to_vec(),
            (Some(k), _) if !k.is_empty() => {
                let mut v = upload_key(k, "").to_vec();
                v.push(0xFF);
                v
            }
            _ => Vec::new(),
        };
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next: Option<(String, String)> = None;
        'pages: loop {
            let (page, more) = match self
                .index
                .io()
                .omap_list(&uploads_obj(&b), prefix.as_bytes(), &after, 1000)
                .await
            {
                Ok(r) => r,
                Err(e) if crate::error::is_not_found(&e) => (Vec::new(), false),
                Err(e) => return Err(internal(e.into())),
            };
            if let Some((k, _)) = page.last() {
                after = k.to_vec();
            }
            for (k, v) in &page {
                let u: UploadRecord = records::decode("upload", v).map_err(internal)?;
                let cp = crate::index::common_prefix(&u.key, &prefix, delim.as_deref())
                    .map(str::to_string);
                if let Some(cp) = &cp
                    && prefixes.last() == Some(cp)
                {
                    continue;
                }
                if uploads.len() + prefixes.len() >= max {
                    truncated = true;
                    break 'pages;
                }
                let _ = k;
                match cp {
                    Some(cp) => {
                        next = Some((cp.clone(), String::new()));
                        prefixes.push(cp);
                    }
                    None => {
                        next = Some((u.key.clone(), u.upload_id.clone()));
                        uploads.push(MultipartUpload {
                            key: Some(u.key.clone()),
                            upload_id: Some(u.upload_id.clone()),
                            initiated: Some(ts(u.initiated_ms)),
                            initiator: Some(Initiator {
                                display_name: Some(u.owner.clone()),
                                id: Some(u.owner.clone()),
                            }),
                            owner: Some(owner(&u.owner)),
                            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                            checksum_algorithm: u.checksum_alg.clone().map(ChecksumAlgorithm::from),
                            checksum_type: upload_checksum_type(&u),
                        });
                    }
                }
            }
            if !more || page.is_empty() {
                break;
            }
        }
        let (nk, nu) = if truncated {
            next.unzip()
        } else {
            (None, None)
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(i.bucket.clone()),
            key_marker: Some(i.key_marker.clone().unwrap_or_default()),
            upload_id_marker: Some(i.upload_id_marker.clone().unwrap_or_default()),
            next_key_marker: nk,
            next_upload_id_marker: nu.filter(|u| !u.is_empty()),
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(uploads),
            common_prefixes: (!prefixes.is_empty()).then(|| {
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect()
            }),
            prefix: i.prefix.clone(),
            delimiter: i.delimiter.clone(),
            encoding_type: i.encoding_type.clone(),
            ..Default::default()
        }))
    }

    pub(super) async fn do_list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let i = &req.input;
        // The initiator, and whoever may list the bucket's uploads.
        let who = Self::principal(&req);
        let b = self.bucket(&i.bucket).await?;
        let u = self.upload(&b, &i.key, &i.upload_id).await?;
        if !(who.is(&u.owner) || b.acl().allows(&b.owner, &who, Permission::Read)) {
            return Err(super::denied());
        }
        let max = match i.max_parts {
            Some(m) if m < 0 => {
                return Err(s3_error!(InvalidArgument, "max-parts cannot be negative"));
            }
            Some(m) => m.min(1000) as usize,
            None => 1000,
        };
        let marker = i.part_number_marker.unwrap_or(0).max(0) as u32;
        let all = self.parts(&b, &i.upload_id).await?;
        let after: Vec<&PartRecord> = all.iter().filter(|p| p.number > marker).collect();
        let truncated = after.len() > max;
        let page: Vec<&PartRecord> = after.into_iter().take(max).collect();
        let next = if truncated {
            page.last().map(|p| p.number as i32)
        } else {
            None
        };
        let parts = page
            .iter()
            .map(|p| {
                let f = ck_fields(p.checksum.as_ref());
                Part {
                    part_number: Some(p.number as i32),
                    e_tag: Some(ETag::Strong(p.etag.clone())),
                    size: Some(p.data.s as i64),
                    last_modified: Some(ts(p.mtime_ms)),
                    checksum_crc32: f.crc32,
                    checksum_crc32c: f.crc32c,
                    checksum_crc64nvme: f.crc64nvme,
                    checksum_sha1: f.sha1,
                    checksum_sha256: f.sha256,
                }
            })
            .collect();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(i.bucket.clone()),
            key: Some(i.key.clone()),
            upload_id: Some(i.upload_id.clone()),
            part_number_marker: i.part_number_marker,
            next_part_number_marker: next,
            max_parts: Some(max as i32),
            is_truncated: Some(truncated),
            parts: Some(parts),
            initiator: Some(Initiator {
                display_name: Some(u.owner.clone()),
                id: Some(u.owner.clone()),
            }),
            owner: Some(owner(&u.owner)),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            checksum_algorithm: u.checksum_alg.clone().map(ChecksumAlgorithm::from),
            checksum_type: upload_checksum_type(&u),
            ..Default::default()
        }))
    }
}

/// The checksum computed for a part sent without one: CRC64NVME when the upload names
/// no algorithm (so the object gets S3's default full-object CRC64NVME), none
/// otherwise (the client owes the upload's algorithm).
pub(super) fn default_part_alg(u: &UploadRecord) -> Option<Alg> {
    match u.checksum_alg {
        None => Some(Alg::Crc64Nvme),
        Some(_) => None,
    }
}

/// The checksum type of an upload with a checksum algorithm.
fn upload_checksum_type(u: &UploadRecord) -> Option<ChecksumType> {
    u.checksum_alg.as_ref()?;
    Some(ChecksumType::from(
        u.checksum_type
            .clone()
            .unwrap_or_else(|| ChecksumType::COMPOSITE.to_string()),
    ))
}

/// Whether a new upload asks for a `FULL_OBJECT` checksum: explicitly (CRCs only), or
/// implicitly for CRC64NVME, which S3 offers only as a full-object checksum.
fn full_object_type(alg: Option<Alg>, kind: Option<&ChecksumType>) -> S3Result<bool> {
    let kind = kind.map(|k| k.as_str().to_ascii_uppercase());
    match (alg, kind.as_deref()) {
        (None, None) => Ok(false),
        (None, Some(_)) => Err(s3_error!(
            InvalidRequest,
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header."
        )),
        (Some(a), None) => Ok(a == Alg::Crc64Nvme),
        (Some(a), Some(ChecksumType::FULL_OBJECT)) if a.combinable() => Ok(true),
        (Some(a), Some(ChecksumType::COMPOSITE)) if a != Alg::Crc64Nvme => Ok(false),
        (Some(a), Some(k)) => Err(s3_error!(
            InvalidRequest,
            "The {k} checksum type cannot be used with the {} checksum algorithm.",
            a.name().to_ascii_lowercase()
        )),
    }
}

/// The whole object's CRC from its parts' CRCs (S3's `FULL_OBJECT` type). Only when
/// every part carries one of the upload's algorithm.
/// The parts' checksums in the completed object's algorithm, when every part has one
/// (GetObjectAttributes lists them); empty otherwise.
fn part_checksums(object: Option<&StoredChecksum>, parts: &[&PartRecord]) -> Vec<String> {
    let Some(alg) = object.map(|c| c.alg.as_str()) else {
        return Vec::new();
    };
    parts
        .iter()
        .map(|p| {
            p.checksum
                .as_ref()
                .filter(|c| c.alg == alg)
                .map(|c| c.value.clone())
        })
        .collect::<Option<Vec<String>>>()
        .unwrap_or_default()
}

fn full_object_checksum(asked: Option<&str>, parts: &[&PartRecord]) -> Option<StoredChecksum> {
    let alg = Alg::parse(asked?)?;
    let mut acc: Option<Vec<u8>> = None;
    for p in parts {
        let c = p.checksum.as_ref()?;
        if c.alg != alg.name() {
            return None;
        }
        let raw = unb64(&c.value)?;
        acc = Some(match acc {
            None => raw,
            Some(a) => alg.crc_combine(&a, &raw, p.data.s)?,
        });
    }
    Some(StoredChecksum {
        alg: alg.name().to_string(),
        value: b64(&acc?),
        kind: ChecksumType::FULL_OBJECT.into(),
    })
}

/// Checks a full-object checksum sent with CompleteMultipartUpload.
fn check_full_object_checksum(
    i: &CompleteMultipartUploadInput,
    have: Option<&StoredChecksum>,
) -> S3Result<()> {
    let given = [
        (Alg::Crc32, &i.checksum_crc32),
        (Alg::Crc32c, &i.checksum_crc32c),
        (Alg::Crc64Nvme, &i.checksum_crc64nvme),
        (Alg::Sha1, &i.checksum_sha1),
        (Alg::Sha256, &i.checksum_sha256),
    ];
    for (alg, v) in given {
        let Some(v) = v else { continue };
        let matches = have.is_some_and(|h| h.alg == alg.name() && h.value == v.trim());
        if !matches {
            return Err(s3_error!(
                BadDigest,
                "The {} you specified did not match the calculated checksum.",
                alg.name()
            ));
        }
    }
    Ok(())
}

/// S3's composite checksum of a multipart object: the checksum of the concatenated
/// part checksums, `-N`. Only when every part carries one of the same algorithm.
fn composite_checksum(asked: Option<&str>, parts: &[&PartRecord]) -> Option<StoredChecksum> {
    let alg_name = match asked {
        Some(a) => a.to_string(),
        None => parts.first()?.checksum.as_ref()?.alg.clone(),
    };
    let alg = Alg::parse(&alg_name)?;
    let mut raw = Vec::new();
    for p in parts {
        let c = p.checksum.as_ref()?;
        if c.alg != alg.name() {
            return None;
        }
        raw.extend(unb64(&c.value)?);
    }
    Some(StoredChecksum {
        alg: alg.name().to_string(),
        value: format!("{}-{}", b64(&alg.digest(&raw)), parts.len()),
        kind: "COMPOSITE".into(),
    })
}
