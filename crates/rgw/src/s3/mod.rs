//! The S3 operations, implemented over the stores: one file per family, as Garage
//! does (`bucket`, `object`, `list`, `multipart`, `copy`, `acl`), with the shared
//! pieces here ([`Gateway`], principal, bucket and object access checks) and in
//! `errors`, `headers`, `conditions`.
//!
//! Access follows S3's ACL rules (decisions in [`crate::acl`]): bucket READ lists,
//! bucket WRITE creates, overwrites and deletes objects, object READ reads an object
//! (bucket READ does not), READ_ACP / WRITE_ACP govern each ACL, and only the owner
//! deletes a bucket. Anonymous requests get what AllUsers was granted.

mod acl;
mod attributes;
mod bucket;
mod conditions;
mod copy;
mod errors;
mod headers;
mod list;
mod multipart;
mod object;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use lru::LruCache;
use parking_lot::Mutex;
use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result, s3_error};

use crate::acl::{Permission, Principal};
use crate::auth::Caller;
use crate::coherence::{Coherence, Stamp};
use crate::data::DataStore;
use crate::gc::GcQueue;
use crate::index::BucketIndex;
use crate::meta::{BucketStore, UserStore};
use crate::records::{BucketRecord, IndexEntry};

pub use acl::malformed_acl;
pub use errors::{internal, payload_mismatch};

/// A cached bucket lookup: when, in which coherence generation, and the answer.
type CachedBucket = (Instant, Stamp, Option<BucketRecord>);

/// The S3 service over a cluster.
pub struct Gateway {
    pub(crate) users: UserStore,
    pub(crate) buckets: BucketStore,
    pub(crate) index: BucketIndex,
    pub(crate) data: DataStore,
    pub(crate) gc: GcQueue,
    pub(crate) region: String,
    pub(crate) index_shards: u32,
    bucket_cache: Mutex<LruCache<String, CachedBucket>>,
    ttl: Duration,
    coherence: Arc<Coherence>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// What a [`Gateway`] is built from.
#[derive(Debug)]
pub struct GatewayParts {
    /// Users.
    pub users: UserStore,
    /// Bucket records.
    pub buckets: BucketStore,
    /// Bucket indexes.
    pub index: BucketIndex,
    /// Object data.
    pub data: DataStore,
    /// Deferred removal of replaced data.
    pub gc: GcQueue,
    /// Region name.
    pub region: String,
    /// Shards of new buckets' indexes.
    pub index_shards: u32,
    /// Bucket record cache lifetime.
    pub ttl: Duration,
    /// When cached records may be trusted (invalidated by other gateways' changes).
    pub coherence: Arc<Coherence>,
}

impl Gateway {
    /// Assembles the service.
    pub fn new(p: GatewayParts) -> Gateway {
        Gateway {
            users: p.users,
            buckets: p.buckets,
            index: p.index,
            data: p.data,
            gc: p.gc,
            region: p.region,
            index_shards: p.index_shards,
            bucket_cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(4096).unwrap_or(NonZeroUsize::MIN),
            )),
            ttl: p.ttl,
            coherence: p.coherence,
        }
    }

    /// The authenticated caller of a request (set by the access hook).
    pub(crate) fn caller<T>(req: &S3Request<T>) -> S3Result<Caller> {
        req.extensions.get::<Caller>().cloned().ok_or_else(denied)
    }

    /// A bucket's record (cached briefly).
    pub(crate) async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        let hit = {
            let mut c = self.bucket_cache.lock();
            match c.get(name) {
                Some((at, stamp, v))
                    if at.elapsed() < self.ttl && self.coherence.is_fresh(*stamp) =>
                {
                    Some(v.clone())
                }
                _ => None,
            }
        };
        let rec = match hit {
            Some(v) => v,
            None => {
                let stamp = self.coherence.stamp();
                let v = self.buckets.get(name).await.map_err(internal)?;
                self.bucket_cache
                    .lock()
                    .put(name.to_string(), (Instant::now(), stamp, v.clone()));
                v
            }
        };
        rec.ok_or_else(|| errors::no_such_bucket(name))
    }

    pub(crate) fn forget_bucket(&self, name: &str) {
        self.bucket_cache.lock().pop(name);
    }

    /// Who sent a request: its authenticated user, or anonymous.
    pub(crate) fn principal<T>(req: &S3Request<T>) -> Principal {
        match req.extensions.get::<Caller>() {
            Some(c) => Principal::User(c.uid.clone()),
            None => Principal::Anonymous,
        }
    }

    /// The bucket, if its owner is the caller (DeleteBucket).
    pub(crate) async fn owned_bucket<T>(
        &self,
        req: &S3Request<T>,
        name: &str,
    ) -> S3Result<(Caller, BucketRecord)> {
        let caller = Self::caller(req)?;
        let b = self.bucket(name).await?;
        if *b.owner != *caller.uid {
            return Err(denied());
        }
        Ok((caller, b))
    }

    /// The bucket, if the request's principal holds `need` on it.
    pub(crate) async fn bucket_with<T>(
        &self,
        req: &S3Request<T>,
        name: &str,
        need: Permission,
    ) -> S3Result<(Principal, BucketRecord)> {
        let who = Self::principal(req);
        let b = self.bucket(name).await?;
        if !b.acl().allows(&b.owner, &who, need) {
            return Err(denied());
        }
        Ok((who, b))
    }

    /// The entry of `key`, if `who` holds `need` on the object.
    pub(crate) async fn object_with(
        &self,
        b: &BucketRecord,
        key: &str,
        who: &Principal,
        need: Permission,
    ) -> S3Result<IndexEntry> {
        let e = self.index.get(b, key).await.map_err(internal)?;
        check_object(b, key, e.as_ref(), who, need)?;
        e.ok_or_else(denied)
    }
}

/// Whether `who` holds `need` on object `e` of bucket `b`. A missing object is
/// `NoSuchKey` only to those who may list the bucket (S3 answers `AccessDenied`
/// otherwise, so keys cannot be probed).
pub(crate) fn check_object(
    b: &BucketRecord,
    key: &str,
    e: Option<&IndexEntry>,
    who: &Principal,
    need: Permission,
) -> S3Result<()> {
    match e {
        Some(e) if e.acl().allows(&e.owner, who, need) => Ok(()),
        Some(_) => Err(denied()),
        None if b.acl().allows(&b.owner, who, Permission::Read) => Err(errors::no_such_key(key)),
        None => Err(denied()),
    }
}

/// The answer to a request its principal may not make.
pub(crate) fn denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// A unix-milliseconds time as an S3 timestamp.
pub(crate) fn ts(ms: u64) -> Timestamp {
    Timestamp::from(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
}

/// The owner element of listings.
pub(crate) fn owner(uid: &str) -> Owner {
    Owner {
        display_name: Some(uid.to_string()),
        id: Some(uid.to_string()),
    }
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.do_list_buckets(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.do_create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.do_head_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.do_delete_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.do_get_bucket_location(req).await
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        self.do_put_object(req).await
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        self.do_get_object(req).await
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        self.do_head_object(req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.do_get_object_attributes(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.do_delete_object(req).await
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        self.do_delete_objects(req).await
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        self.do_copy_object(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.do_list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.do_list_objects_v2(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.do_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.do_upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.do_upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.do_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.do_abort_multipart_upload(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.do_list_multipart_uploads(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.do_list_parts(req).await
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.do_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.do_put_bucket_acl(req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.do_get_object_acl(req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.do_put_object_acl(req).await
    }
}
