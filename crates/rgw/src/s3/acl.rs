//! ACL operations: GetBucketAcl, PutBucketAcl, GetObjectAcl, PutObjectAcl, and the
//! ACL a creating request (CreateBucket, PutObject, CopyObject,
//! CreateMultipartUpload) asks for with `x-amz-acl` or `x-amz-grant-*`.
//!
//! Grantees are resolved when the ACL is set: an id must name a user (`InvalidArgument`
//! otherwise, as S3 answers), an e-mail address becomes its user's uid
//! (`UnresolvableGrantByEmailAddress` when none has it).

use s3s::dto::{self, *};
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};

use super::errors::custom;
use super::{Gateway, check_object, denied, internal, owner};
use crate::acl::{
    self, Acl, AclError, Grant, GrantHeaders, Grantee, Named, Permission, Principal, Requested,
};
use crate::records::BucketRecord;

/// Attempts at replacing an object's ACL while other writers change the entry.
const ACL_SWAP_ATTEMPTS: usize = 8;

/// What a request says about the ACL it wants.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct AclInput<'a> {
    /// `x-amz-acl`.
    pub canned: Option<&'a str>,
    /// `x-amz-grant-*`.
    pub grants: GrantHeaders<'a>,
    /// An `AccessControlPolicy` body (Put*Acl).
    pub policy: Option<&'a AccessControlPolicy>,
}

impl<'a> AclInput<'a> {
    /// From a request's canned ACL and grant headers.
    pub fn headers(
        canned: Option<&'a str>,
        read: Option<&'a String>,
        write: Option<&'a String>,
        read_acp: Option<&'a String>,
        write_acp: Option<&'a String>,
        full_control: Option<&'a String>,
    ) -> AclInput<'a> {
        AclInput {
            canned,
            grants: GrantHeaders {
                read: read.map(String::as_str),
                write: write.map(String::as_str),
                read_acp: read_acp.map(String::as_str),
                write_acp: write_acp.map(String::as_str),
                full_control: full_control.map(String::as_str),
            },
            policy: None,
        }
    }
}

/// The [`AclInput`] of a request's canned ACL and grant headers: `acl_input!(object:
/// input)` for PutObject, CopyObject, CreateMultipartUpload and PutObjectAcl (no
/// `x-amz-grant-write`: WRITE means nothing on an object), `acl_input!(bucket: input)`
/// for CreateBucket and PutBucketAcl.
macro_rules! acl_input {
    (object: $i:expr) => {
        $crate::s3::acl::AclInput::headers(
            $i.acl.as_ref().map(s3s::dto::ObjectCannedACL::as_str),
            $i.grant_read.as_ref(),
            None,
            $i.grant_read_acp.as_ref(),
            $i.grant_write_acp.as_ref(),
            $i.grant_full_control.as_ref(),
        )
    };
    (bucket: $i:expr) => {
        $crate::s3::acl::AclInput::headers(
            $i.acl.as_ref().map(s3s::dto::BucketCannedACL::as_str),
            $i.grant_read.as_ref(),
            $i.grant_write.as_ref(),
            $i.grant_read_acp.as_ref(),
            $i.grant_write_acp.as_ref(),
            $i.grant_full_control.as_ref(),
        )
    };
}
pub(super) use acl_input;

/// The S3 error for an unacceptable ACL.
fn acl_error(e: AclError) -> S3Error {
    match e {
        AclError::UnknownCanned(_) | AclError::BadGrantHeader(_) | AclError::UnknownGroup(_) => {
            s3_error!(InvalidArgument, "{e}")
        }
        AclError::CannedAndGrants => s3_error!(InvalidRequest, "{e}"),
        AclError::Malformed(_) | AclError::TooMany => malformed_acl(),
    }
}

/// `MalformedACLError`, as S3 answers an ACL body it cannot use.
pub fn malformed_acl() -> S3Error {
    custom(
        "MalformedACLError",
        "The XML you provided was not well-formed or did not validate against our published schema",
        http::StatusCode::BAD_REQUEST,
    )
}

impl Gateway {
    /// The ACL a request asks for, for a resource owned by `owner` (in a bucket owned
    /// by `bucket_owner`, for objects); `None` when it asks for none (private).
    pub(super) async fn requested_acl(
        &self,
        input: AclInput<'_>,
        owner: &str,
        bucket_owner: Option<&str>,
    ) -> S3Result<Option<Acl>> {
        let has_grants = input.grants.any();
        if input.policy.is_some() && (input.canned.is_some() || has_grants) {
            return Err(custom(
                "UnexpectedContent",
                "This request does not support content",
                http::StatusCode::BAD_REQUEST,
            ));
        }
        if let Some(p) = input.policy {
            let (stated_owner, grants) = acl::from_policy(p).map_err(acl_error)?;
            if stated_owner.as_deref().is_some_and(|o| o != owner) {
                return Err(denied());
            }
            return self.resolve(grants).await.map(Some);
        }
        match (input.canned, has_grants) {
            (Some(_), true) => Err(acl_error(AclError::CannedAndGrants)),
            (Some(c), false) => Acl::canned(c, owner, bucket_owner)
                .map(Some)
                .map_err(acl_error),
            (None, true) => {
                let grants = input.grants.parse().map_err(acl_error)?;
                self.resolve(grants).await.map(Some)
            }
            (None, false) => Ok(None),
        }
    }

    /// The ACL a request creating an object in `b` as `who` asks for.
    pub(super) async fn new_object_acl(
        &self,
        input: AclInput<'_>,
        who: &Principal,
        b: &BucketRecord,
    ) -> S3Result<Option<Acl>> {
        self.requested_acl(input, who.owner_uid(), Some(&b.owner))
            .await
    }

    /// Turns requested grants into stored ones: ids must be users, e-mail addresses
    /// become their users' uids.
    async fn resolve(&self, grants: Requested) -> S3Result<Acl> {
        let mut out = Vec::with_capacity(grants.len());
        for (named, permission) in grants {
            let grantee = match named {
                Named::Group(g) => g,
                Named::Id(id) => match self.users.info(&id).await.map_err(internal)? {
                    Some(_) => Grantee::User(id),
                    None => return Err(s3_error!(InvalidArgument, "Invalid id")),
                },
                Named::Email(email) => match self.users.lookup_email(&email).await {
                    Ok(Some(uid)) => Grantee::User(uid),
                    Ok(None) => {
                        return Err(custom(
                            "UnresolvableGrantByEmailAddress",
                            "The e-mail address you provided does not match any account on record.",
                            http::StatusCode::BAD_REQUEST,
                        ));
                    }
                    Err(e) => return Err(internal(e)),
                },
            };
            out.push(Grant {
                grantee,
                permission,
            });
        }
        Ok(Acl { grants: out })
    }

    /// The owner and grants as Get*Acl answers them (display names looked up).
    async fn acl_output(&self, owner_uid: &str, acl: &Acl) -> (Owner, Grants) {
        let name_of = |uid: String| async move {
            match self.users.info(&uid).await {
                Ok(Some(u)) if !u.display_name.is_empty() => u.display_name,
                _ => uid,
            }
        };
        let mut who = owner(owner_uid);
        who.display_name = Some(name_of(owner_uid.to_string()).await);
        let mut grants = Vec::with_capacity(acl.grants.len());
        for g in &acl.grants {
            let grantee = match &g.grantee {
                Grantee::User(uid) => dto::Grantee {
                    display_name: Some(name_of(uid.clone()).await),
                    email_address: None,
                    id: Some(uid.clone()),
                    type_: Type::from_static(Type::CANONICAL_USER),
                    uri: None,
                },
                group => dto::Grantee {
                    display_name: None,
                    email_address: None,
                    id: None,
                    type_: Type::from_static(Type::GROUP),
                    uri: group.uri().map(str::to_string),
                },
            };
            grants.push(dto::Grant {
                grantee: Some(grantee),
                permission: Some(dto::Permission::from(g.permission.as_str().to_string())),
            });
        }
        (who, grants)
    }

    pub(super) async fn do_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let (_, b) = self
            .bucket_with(&req, &req.input.bucket, Permission::ReadAcp)
            .await?;
        let (owner, grants) = self.acl_output(&b.owner, &b.acl()).await;
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(grants),
            owner: Some(owner),
        }))
    }

    pub(super) async fn do_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let (_, b) = self
            .bucket_with(&req, &req.input.bucket, Permission::WriteAcp)
            .await?;
        let i = &req.input;
        let input = AclInput {
            policy: i.access_control_policy.as_ref(),
            ..acl_input!(bucket: i)
        };
        let Some(acl) = self.requested_acl(input, &b.owner, None).await? else {
            return Err(missing_acl());
        };
        let applied = self.buckets.set_acl(&b, acl).await.map_err(internal)?;
        self.forget_bucket(&b.name);
        if !applied {
            return Err(super::errors::no_such_bucket(&b.name));
        }
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub(super) async fn do_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let i = &req.input;
        no_versions(i.version_id.as_deref())?;
        let who = Self::principal(&req);
        let b = self.bucket(&i.bucket).await?;
        let e = self
            .object_with(&b, &i.key, &who, Permission::ReadAcp)
            .await?;
        let (owner, grants) = self.acl_output(&e.owner, &e.acl()).await;
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(grants),
            owner: Some(owner),
            request_charged: None,
        }))
    }

    pub(super) async fn do_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let i = &req.input;
        no_versions(i.version_id.as_deref())?;
        let who = Self::principal(&req);
        let b = self.bucket(&i.bucket).await?;
        for _ in 0..ACL_SWAP_ATTEMPTS {
            // Checked against the entry being replaced, so an ACL is only ever changed
            // by someone its current version lets change it.
            let got = self
                .index
                .get_versioned(&b, &i.key)
                .await
                .map_err(internal)?;
            check_object(
                &b,
                &i.key,
                got.as_ref().map(|(e, _)| e),
                &who,
                Permission::WriteAcp,
            )?;
            let Some((mut e, raw)) = got else {
                return Err(denied());
            };
            let mut input = AclInput {
                policy: i.access_control_policy.as_ref(),
                ..acl_input!(object: i)
            };
            // PutObjectAcl takes a WRITE grant too (it is stored; it allows nothing).
            input.grants.write = i.grant_write.as_deref();
            let Some(acl) = self.requested_acl(input, &e.owner, Some(&b.owner)).await? else {
                return Err(missing_acl());
            };
            e.acl = Some(acl);
            if self
                .index
                .swap(&b, &i.key, Some(raw), Some(&e))
                .await
                .map_err(internal)?
            {
                return Ok(S3Response::new(PutObjectAclOutput::default()));
            }
        }
        Err(s3_error!(SlowDown, "Please reduce your request rate."))
    }
}

/// Put*Acl without a canned ACL, grant headers or a body.
fn missing_acl() -> S3Error {
    custom(
        "MissingSecurityHeader",
        "Your request was missing a required header",
        http::StatusCode::BAD_REQUEST,
    )
}

/// Buckets are unversioned: only the `null` version exists.
fn no_versions(v: Option<&str>) -> S3Result<()> {
    match v {
        None | Some("null") => Ok(()),
        Some(_) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
    }
}
