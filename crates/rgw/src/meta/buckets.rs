//! `BucketStore`: bucket records in `.rgw.meta`. A name is claimed by an exclusive
//! create of `bucket.<name>`; the record carries a fresh id so that a deleted and
//! re-created bucket never sees its predecessor's index or data. The id is also kept
//! as the record object's omap entry `id`, which guards later changes of the record
//! (an ACL): they apply only to the incarnation they read, never to a successor and
//! never resurrect a deleted bucket.

use bytes::Bytes;
use cuttle_client::IoCtx;

use crate::acl::Acl;
use crate::coherence::announce;
use cuttle_proto as pb;

use super::users::UserStore;
use super::{read_record, remove_if_exists};
use crate::error::{RgwError, RgwResult, is_compare_failed, is_exists, omap_cmp};
use crate::names;
use crate::records::{self, BucketRecord, VERSION};

fn bucket_obj(name: &str) -> String {
    format!("bucket.{name}")
}

/// The omap entry of a bucket record object holding the incarnation's id.
const ID_ENTRY: &[u8] = b"id";

/// What creating a bucket did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateBucketOutcome {
    /// Created.
    Created(BucketRecord),
    /// The caller already owns it.
    AlreadyOwned(BucketRecord),
    /// Someone else owns it.
    Exists(BucketRecord),
}

/// Bucket records.
#[derive(Debug, Clone)]
pub struct BucketStore {
    meta: IoCtx,
    users: UserStore,
}

impl BucketStore {
    /// Over an open `.rgw.meta` pool.
    pub fn new(meta: IoCtx) -> BucketStore {
        BucketStore {
            users: UserStore::new(meta.clone()),
            meta,
        }
    }

    /// A bucket's record.
    pub async fn get(&self, name: &str) -> RgwResult<Option<BucketRecord>> {
        read_record(&self.meta, &bucket_obj(name)).await
    }

    /// Creates a bucket owned by `owner`.
    pub async fn create(
        &self,
        name: &str,
        owner: &str,
        location: &str,
        index_shards: u32,
        acl: Option<Acl>,
    ) -> RgwResult<CreateBucketOutcome> {
        let rec = BucketRecord {
            v: VERSION,
            name: name.to_string(),
            id: names::new_instance_id(),
            owner: owner.to_string(),
            created_ms: records::now_ms(),
            location: location.to_string(),
            index_shards: index_shards.max(1),
            acl,
        };
        let ops = vec![
            pb::ObjectOp {
                op: Some(pb::object_op::Op::CreateExclusive(pb::Empty {})),
            },
            pb::ObjectOp {
                op: Some(pb::object_op::Op::WriteFull(records::encode(&rec))),
            },
            pb::ObjectOp {
                op: Some(pb::object_op::Op::OmapSet(pb::OmapSet {
                    entries: vec![pb::KeyValue {
                        key: Bytes::from_static(ID_ENTRY),
                        value: Bytes::from(rec.id.clone()),
                    }],
                })),
            },
        ];
        match self.meta.mutate(&bucket_obj(name), ops).await {
            Ok(_) => {}
            Err(e) if is_exists(&e) => {
                let Some(existing) = self.get(name).await? else {
                    // Deleted between our attempt and the read: report it as taken;
                    // the client may retry.
                    return Ok(CreateBucketOutcome::Exists(rec));
                };
                return Ok(if existing.owner == owner {
                    CreateBucketOutcome::AlreadyOwned(existing)
                } else {
                    CreateBucketOutcome::Exists(existing)
                });
            }
            Err(e) => return Err(RgwError::Cluster(e)),
        }
        self.users.link_bucket(owner, name, rec.created_ms).await?;
        announce(&self.meta, &format!("bucket.{name}")).await;
        Ok(CreateBucketOutcome::Created(rec))
    }

    /// Replaces the ACL of the bucket incarnation `rec` and tells every gateway.
    /// `Ok(false)` when that incarnation is gone (deleted, perhaps re-created).
    pub async fn set_acl(&self, rec: &BucketRecord, acl: Acl) -> RgwResult<bool> {
        let new = BucketRecord {
            acl: Some(acl),
            ..rec.clone()
        };
        let ops = vec![
            omap_cmp(
                Bytes::from_static(ID_ENTRY),
                Some(Bytes::from(rec.id.clone())),
            ),
            pb::ObjectOp {
                op: Some(pb::object_op::Op::WriteFull(records::encode(&new))),
            },
        ];
        match self.meta.mutate(&bucket_obj(&rec.name), ops).await {
            Ok(_) => {}
            Err(e) if is_compare_failed(&e) => return Ok(false),
            Err(e) => return Err(RgwError::Cluster(e)),
        }
        announce(&self.meta, &bucket_obj(&rec.name)).await;
        Ok(true)
    }

    /// Deletes a bucket record (the caller has checked that it is empty).
    pub async fn delete(&self, rec: &BucketRecord) -> RgwResult<()> {
        self.users.unlink_bucket(&rec.owner, &rec.name).await?;
        remove_if_exists(&self.meta, &bucket_obj(&rec.name)).await?;
        announce(&self.meta, &format!("bucket.{}", rec.name)).await;
        Ok(())
    }
}
