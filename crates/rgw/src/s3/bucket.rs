//! Buckets: CreateBucket, HeadBucket, DeleteBucket, ListBuckets, GetBucketLocation.
//! ListBuckets shows the caller's own buckets only; shared buckets are reached by name.

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::acl::acl_input;
use super::{Gateway, internal, owner, ts};
use crate::acl::Permission;
use crate::error_body::about_bucket;
use crate::meta::CreateBucketOutcome;

/// Largest ListBuckets page (`max-buckets`).
const MAX_BUCKETS_PAGE: i32 = 10_000;

/// Prefixes S3 reserves for its own bucket names (s3s checks the other naming rules).
const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
/// Suffixes S3 reserves (access point aliases, Object Lambda, MRAP, directory and
/// table buckets).
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// Whether a new bucket name uses a prefix or suffix S3 reserves.
fn is_reserved_name(name: &str) -> bool {
    RESERVED_PREFIXES.iter().any(|p| name.starts_with(p))
        || RESERVED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The location recorded for a new bucket of a gateway in `region`, from the request's
/// `LocationConstraint`: S3's answers for a region-specific endpoint. The region's own
/// name is the one constraint accepted, except in `us-east-1`, where it is implied and
/// an explicit one is `InvalidLocationConstraint`; another region's is
/// `IllegalLocationConstraintException`. No constraint means the gateway's region
/// (S3 refuses that outside us-east-1; clients rarely send one, so it is accepted),
/// recorded as S3 reports it: empty for `us-east-1`.
fn bucket_location(constraint: Option<&str>, region: &str) -> S3Result<String> {
    const US_EAST_1: &str = "us-east-1";
    match constraint {
        None if region == US_EAST_1 => Ok(String::new()),
        None => Ok(region.to_string()),
        Some(c) if c == US_EAST_1 && region == US_EAST_1 => Err(s3_error!(
            InvalidLocationConstraint,
            "The specified location-constraint is not valid"
        )),
        Some(c) if c == region => Ok(c.to_string()),
        Some(c) => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("IllegalLocationConstraintException".into()),
                format!(
                    "The {c} location constraint is incompatible for the region specific endpoint this request was sent to."
                ),
            );
            e.set_status_code(http::StatusCode::BAD_REQUEST);
            Err(e)
        }
    }
}

impl Gateway {
    pub(super) async fn do_list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let caller = Self::caller(&req)?;
        let mut list = self.users.buckets(&caller.uid).await.map_err(internal)?;
        list.sort();
        let prefix = req.input.prefix.clone().unwrap_or_default();
        let max = match req.input.max_buckets {
            None => usize::MAX,
            Some(m) if (1..=MAX_BUCKETS_PAGE).contains(&m) => m as usize,
            Some(_) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets must be an integer between 1 and 10000"
                ));
            }
        };
        let after = match &req.input.continuation_token {
            Some(t) => Some(super::list::position_of(t)?),
            None => None,
        };
        let mut matching = list.into_iter().filter(|(n, _)| {
            n.starts_with(&prefix) && after.as_deref().is_none_or(|a| n.as_str() > a)
        });
        let page: Vec<(String, u64)> = matching.by_ref().take(max).collect();
        // As S3 does: a token only when more buckets follow.
        let next = match (page.last(), matching.next()) {
            (Some((last, _)), Some(_)) => Some(super::list::token_for(last)),
            _ => None,
        };
        let buckets = page
            .into_iter()
            .map(|(name, created)| Bucket {
                name: Some(name),
                creation_date: Some(ts(created)),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        // The owner's display name as `cuttle user create --display-name` set it.
        let mut who = owner(&caller.uid);
        if let Ok(Some(u)) = self.users.info(&caller.uid).await
            && !u.display_name.is_empty()
        {
            who.display_name = Some(u.display_name);
        }
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(who),
            prefix: req.input.prefix,
            continuation_token: next,
        }))
    }

    pub(super) async fn do_create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let caller = Self::caller(&req)?;
        let name = req.input.bucket.clone();
        if is_reserved_name(&name) {
            return Err(s3_error!(
                InvalidBucketName,
                "The specified bucket is not valid."
            ));
        }
        let constraint = req
            .input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            .map(|c| c.as_str().to_string())
            .filter(|c| !c.is_empty());
        let location = bucket_location(constraint.as_deref(), &self.region)?;
        let acl = {
            let i = &req.input;
            self.requested_acl(acl_input!(bucket: i), &caller.uid, None)
                .await?
        };
        let outcome = self
            .buckets
            .create(&name, &caller.uid, &location, self.index_shards, acl)
            .await
            .map_err(internal)?;
        self.forget_bucket(&name);
        match outcome {
            CreateBucketOutcome::Created(_) => Ok(S3Response::new(CreateBucketOutput {
                location: Some(format!("/{name}")),
            })),
            CreateBucketOutcome::AlreadyOwned(_) => Err(about_bucket(
                s3_error!(
                    BucketAlreadyOwnedByYou,
                    "Your previous request to create the named bucket succeeded and you already own it."
                ),
                &name,
            )),
            CreateBucketOutcome::Exists(_) => Err(about_bucket(
                s3_error!(
                    BucketAlreadyExists,
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
                ),
                &name,
            )),
        }
    }

    pub(super) async fn do_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let name = req.input.bucket.clone();
        self.bucket_with(&req, &name, Permission::Read).await?;
        let mut resp = S3Response::new(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..Default::default()
        });
        if let Ok(v) = http::HeaderValue::from_str(&self.region) {
            resp.headers.insert("x-amz-bucket-region", v);
        }
        Ok(resp)
    }

    pub(super) async fn do_get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let name = req.input.bucket.clone();
        // As Ceph RGW: whoever may list the bucket may ask where it is.
        let (_, b) = self.bucket_with(&req, &name, Permission::Read).await?;
        let loc = if b.location.is_empty() {
            None
        } else {
            Some(BucketLocationConstraint::from(b.location))
        };
        Ok(S3Response::new(GetBucketLocationOutput {
            location_constraint: loc,
        }))
    }

    pub(super) async fn do_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = req.input.bucket.clone();
        let (_, b) = self.owned_bucket(&req, &name).await?;
        if !self.index.is_empty(&b).await.map_err(internal)? {
            return Err(about_bucket(
                s3_error!(
                    BucketNotEmpty,
                    "The bucket you tried to delete is not empty"
                ),
                &name,
            ));
        }
        self.abort_all_uploads(&b).await?;
        self.buckets.delete(&b).await.map_err(internal)?;
        self.forget_bucket(&name);
        if let Err(e) = self.index.drop_shards(&b).await {
            tracing::warn!(bucket = %name, "removing index shards failed (left as garbage): {e}");
        }
        Ok(S3Response::new(DeleteBucketOutput {}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_constraints_are_those_of_the_gateways_region() {
        let code = |r: S3Result<String>| r.err().map(|e| e.code().as_str().to_string());
        assert_eq!(bucket_location(None, "us-east-1").ok(), Some(String::new()));
        assert_eq!(
            code(bucket_location(Some("us-east-1"), "us-east-1")).as_deref(),
            Some("InvalidLocationConstraint")
        );
        assert_eq!(
            code(bucket_location(Some("eu-west-1"), "us-east-1")).as_deref(),
            Some("IllegalLocationConstraintException")
        );
        assert_eq!(
            bucket_location(None, "eu-central-2").ok().as_deref(),
            Some("eu-central-2")
        );
        assert_eq!(
            bucket_location(Some("eu-central-2"), "eu-central-2")
                .ok()
                .as_deref(),
            Some("eu-central-2")
        );
        for other in ["us-east-1", "eu-west-1"] {
            assert_eq!(
                code(bucket_location(Some(other), "eu-central-2")).as_deref(),
                Some("IllegalLocationConstraintException"),
                "{other}"
            );
        }
    }

    #[test]
    fn reserved_names() {
        for n in [
            "sthree-x",
            "amzn-s3-demo-b",
            "a-s3alias",
            "a--ol-s3",
            "a.mrap",
            "a--x-s3",
        ] {
            assert!(is_reserved_name(n), "{n}");
        }
        for n in ["abc", "s3alias-a", "my.bucket", "x-s3-a"] {
            assert!(!is_reserved_name(n), "{n}");
        }
    }
}
