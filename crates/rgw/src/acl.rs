//! S3 access control lists: the stored form ([`Acl`]), the access decision
//! ([`Acl::allows`]) and the three ways a request states one — a canned ACL
//! (`x-amz-acl`), grant headers (`x-amz-grant-*`) or an `AccessControlPolicy` body —
//! parsed into [`Requested`] grants whose grantees the gateway then resolves (ids must
//! name users; an e-mail grant becomes its user's uid, as S3 turns it into a canonical
//! user grant).
//!
//! Decisions follow S3's ACL rules: a grant to a user, to AuthenticatedUsers (any
//! signed request) or to AllUsers (everyone, anonymous included) gives its permission;
//! FULL_CONTROL gives all four; the resource's owner always holds READ_ACP and
//! WRITE_ACP, whatever the grants say.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The AllUsers group.
pub const ALL_USERS_URI: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
/// The AuthenticatedUsers group.
pub const AUTHENTICATED_USERS_URI: &str =
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
/// The LogDelivery group (accepted and stored; it never signs requests here).
pub const LOG_DELIVERY_URI: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
/// Most grants one ACL may hold (S3's limit).
pub const MAX_GRANTS: usize = 100;
/// The owner recorded for objects written by anonymous requests (a reserved uid).
pub const ANONYMOUS_OWNER: &str = "anonymous";

/// A permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Permission {
    /// List a bucket; read an object.
    Read,
    /// Create, overwrite and delete objects in a bucket.
    Write,
    /// Read the ACL.
    ReadAcp,
    /// Replace the ACL.
    WriteAcp,
    /// All of the above.
    FullControl,
}

impl Permission {
    /// The S3 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "READ",
            Permission::Write => "WRITE",
            Permission::ReadAcp => "READ_ACP",
            Permission::WriteAcp => "WRITE_ACP",
            Permission::FullControl => "FULL_CONTROL",
        }
    }

    /// From the S3 name.
    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "READ" => Permission::Read,
            "WRITE" => Permission::Write,
            "READ_ACP" => Permission::ReadAcp,
            "WRITE_ACP" => Permission::WriteAcp,
            "FULL_CONTROL" => Permission::FullControl,
            _ => return None,
        })
    }

    fn covers(self, need: Permission) -> bool {
        self == need || self == Permission::FullControl
    }
}

/// Who a stored grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grantee {
    /// A user (canonical id = uid).
    User(String),
    /// Everyone, anonymous requests included.
    AllUsers,
    /// Every authenticated request.
    AuthenticatedUsers,
    /// S3's log delivery group.
    LogDelivery,
}

impl Grantee {
    /// The group's URI, for groups.
    pub fn uri(&self) -> Option<&'static str> {
        match self {
            Grantee::User(_) => None,
            Grantee::AllUsers => Some(ALL_USERS_URI),
            Grantee::AuthenticatedUsers => Some(AUTHENTICATED_USERS_URI),
            Grantee::LogDelivery => Some(LOG_DELIVERY_URI),
        }
    }

    /// The group a URI names.
    pub fn group(uri: &str) -> Option<Grantee> {
        match uri.trim() {
            ALL_USERS_URI => Some(Grantee::AllUsers),
            AUTHENTICATED_USERS_URI => Some(Grantee::AuthenticatedUsers),
            LOG_DELIVERY_URI => Some(Grantee::LogDelivery),
            _ => None,
        }
    }

    fn matches(&self, who: &Principal) -> bool {
        match (self, who) {
            (Grantee::AllUsers, _) => true,
            (Grantee::AuthenticatedUsers, Principal::User(_)) => true,
            (Grantee::User(uid), Principal::User(u)) => **u == **uid,
            _ => false,
        }
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// Grantee.
    pub grantee: Grantee,
    /// Permission.
    pub permission: Permission,
}

/// An ACL as stored with a bucket or object (the owner is stored beside it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Acl {
    /// Grants, in the order they were given.
    pub grants: Vec<Grant>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An unsigned request.
    Anonymous,
    /// An authenticated user.
    User(Arc<str>),
}

impl Principal {
    /// The uid, for users.
    pub fn uid(&self) -> Option<&str> {
        match self {
            Principal::Anonymous => None,
            Principal::User(u) => Some(u),
        }
    }

    /// The uid recorded as the owner of what this principal writes.
    pub fn owner_uid(&self) -> &str {
        self.uid().unwrap_or(ANONYMOUS_OWNER)
    }

    /// Whether this is the user `owner`.
    pub fn is(&self, owner: &str) -> bool {
        self.uid() == Some(owner)
    }
}

impl Acl {
    /// The default ACL: the owner has FULL_CONTROL.
    pub fn private(owner: &str) -> Acl {
        Acl {
            grants: vec![Grant {
                grantee: Grantee::User(owner.to_string()),
                permission: Permission::FullControl,
            }],
        }
    }

    /// Whether `who` holds `need` on a resource owned by `owner` with this ACL.
    pub fn allows(&self, owner: &str, who: &Principal, need: Permission) -> bool {
        if matches!(need, Permission::ReadAcp | Permission::WriteAcp) && who.is(owner) {
            return true;
        }
        self.grants
            .iter()
            .any(|g| g.permission.covers(need) && g.grantee.matches(who))
    }

    /// A canned ACL for a resource owned by `owner`. `bucket_owner` is the owner of the
    /// bucket an object is in (`None` for buckets, where `bucket-owner-*` are plain
    /// private, as S3 treats them).
    pub fn canned(name: &str, owner: &str, bucket_owner: Option<&str>) -> Result<Acl, AclError> {
        let mut acl = Acl::private(owner);
        let mut add = |grantee: Grantee, permission: Permission| {
            acl.grants.push(Grant {
                grantee,
                permission,
            })
        };
        match name {
            "private" => {}
            "public-read" => add(Grantee::AllUsers, Permission::Read),
            "public-read-write" => {
                add(Grantee::AllUsers, Permission::Read);
                add(Grantee::AllUsers, Permission::Write);
            }
            "authenticated-read" => add(Grantee::AuthenticatedUsers, Permission::Read),
            "log-delivery-write" => {
                add(Grantee::LogDelivery, Permission::Write);
                add(Grantee::LogDelivery, Permission::ReadAcp);
            }
            "bucket-owner-read" | "bucket-owner-full-control" => {
                if let Some(bo) = bucket_owner.filter(|bo| *bo != owner) {
                    let p = if name == "bucket-owner-read" {
                        Permission::Read
                    } else {
                        Permission::FullControl
                    };
                    add(Grantee::User(bo.to_string()), p);
                }
            }
            // `aws-exec-read` names an EC2 service that does not exist here.
            other => return Err(AclError::UnknownCanned(other.to_string())),
        }
        Ok(acl)
    }
}

/// A grantee as a request names it, before it is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named {
    /// `id=` / CanonicalUser.
    Id(String),
    /// `emailAddress=` / AmazonCustomerByEmail.
    Email(String),
    /// `uri=` / Group.
    Group(Grantee),
}

/// Grants a request asked for, before resolution.
pub type Requested = Vec<(Named, Permission)>;

/// A malformed or unacceptable ACL in a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// Unknown canned ACL name.
    #[error("the canned ACL {0:?} is not valid")]
    UnknownCanned(String),
    /// A grant header that does not parse.
    #[error("the grant header value {0:?} is not valid")]
    BadGrantHeader(String),
    /// A canned ACL and grant headers together.
    #[error("Specifying both Canned ACLs and Header Grants is not allowed")]
    CannedAndGrants,
    /// A group URI that is not one of S3's groups.
    #[error("Invalid group uri")]
    UnknownGroup(String),
    /// A policy body that is not a valid ACL.
    #[error(
        "The XML you provided was not well-formed or did not validate against our published schema"
    )]
    Malformed(String),
    /// More grants than S3 allows.
    #[error("too many grants (at most {MAX_GRANTS})")]
    TooMany,
}

/// Parses one `x-amz-grant-*` header: `id="uid", emailAddress="a@b", uri="…"`
/// (quotes optional, as awscli sends `id=bob`).
pub fn parse_grant_header(value: &str, permission: Permission) -> Result<Requested, AclError> {
    let bad = || AclError::BadGrantHeader(value.to_string());
    let mut out = Vec::new();
    for item in value.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (kind, v) = item.split_once('=').ok_or_else(bad)?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
            .trim();
        if v.is_empty() {
            return Err(bad());
        }
        let named = match kind.trim().to_ascii_lowercase().as_str() {
            "id" => Named::Id(v.to_string()),
            "emailaddress" => Named::Email(v.to_string()),
            "uri" => Named::Group(Grantee::group(v).ok_or(AclError::UnknownGroup(v.to_string()))?),
            _ => return Err(bad()),
        };
        out.push((named, permission));
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// The `x-amz-grant-*` headers of a request (`None` where absent).
#[derive(Debug, Default, Clone, Copy)]
pub struct GrantHeaders<'a> {
    /// `x-amz-grant-read`.
    pub read: Option<&'a str>,
    /// `x-amz-grant-write` (buckets only).
    pub write: Option<&'a str>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<&'a str>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<&'a str>,
    /// `x-amz-grant-full-control`.
    pub full_control: Option<&'a str>,
}

impl GrantHeaders<'_> {
    /// Whether any header is present.
    pub fn any(&self) -> bool {
        self.read.is_some()
            || self.write.is_some()
            || self.read_acp.is_some()
            || self.write_acp.is_some()
            || self.full_control.is_some()
    }

    /// Every grant the headers name, in header order.
    pub fn parse(&self) -> Result<Requested, AclError> {
        let mut out = Vec::new();
        for (v, p) in [
            (self.read, Permission::Read),
            (self.write, Permission::Write),
            (self.read_acp, Permission::ReadAcp),
            (self.write_acp, Permission::WriteAcp),
            (self.full_control, Permission::FullControl),
        ] {
            if let Some(v) = v {
                out.extend(parse_grant_header(v, p)?);
            }
        }
        if out.len() > MAX_GRANTS {
            return Err(AclError::TooMany);
        }
        Ok(out)
    }
}

/// The grants of an `AccessControlPolicy` body, and the owner id it states.
pub fn from_policy(
    p: &s3s::dto::AccessControlPolicy,
) -> Result<(Option<String>, Requested), AclError> {
    let owner = p.owner.as_ref().and_then(|o| o.id.clone());
    let mut out = Vec::new();
    for g in p.grants.iter().flatten() {
        let malformed = |why: &str| AclError::Malformed(why.to_string());
        let perm = g
            .permission
            .as_ref()
            .and_then(|p| Permission::parse(p.as_str()))
            .ok_or_else(|| malformed("a grant without a valid Permission"))?;
        let who = g
            .grantee
            .as_ref()
            .ok_or_else(|| malformed("a grant without a Grantee"))?;
        let named = match who.type_.as_str() {
            "CanonicalUser" => Named::Id(
                who.id
                    .clone()
                    .filter(|i| !i.is_empty())
                    .ok_or_else(|| malformed("a CanonicalUser grantee without an ID"))?,
            ),
            "AmazonCustomerByEmail" => Named::Email(
                who.email_address
                    .clone()
                    .filter(|e| !e.is_empty())
                    .ok_or_else(|| {
                        malformed("an AmazonCustomerByEmail grantee without an EmailAddress")
                    })?,
            ),
            "Group" => {
                let uri = who
                    .uri
                    .as_deref()
                    .ok_or_else(|| malformed("a Group grantee without a URI"))?;
                Named::Group(Grantee::group(uri).ok_or(AclError::UnknownGroup(uri.to_string()))?)
            }
            _ => return Err(malformed("an unknown grantee type")),
        };
        out.push((named, perm));
    }
    if out.len() > MAX_GRANTS {
        return Err(AclError::TooMany);
    }
    Ok((owner, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(u: &str) -> Principal {
        Principal::User(u.into())
    }

    #[test]
    fn private_acl_lets_only_the_owner_in() {
        let acl = Acl::private("alice");
        for p in [
            Permission::Read,
            Permission::Write,
            Permission::ReadAcp,
            Permission::WriteAcp,
        ] {
            assert!(acl.allows("alice", &user("alice"), p));
            assert!(!acl.allows("alice", &user("bob"), p));
            assert!(!acl.allows("alice", &Principal::Anonymous, p));
        }
    }

    #[test]
    fn owner_keeps_acp_without_a_grant() {
        let acl = Acl {
            grants: vec![Grant {
                grantee: Grantee::User("bob".into()),
                permission: Permission::Read,
            }],
        };
        assert!(acl.allows("alice", &user("alice"), Permission::ReadAcp));
        assert!(acl.allows("alice", &user("alice"), Permission::WriteAcp));
        assert!(!acl.allows("alice", &user("alice"), Permission::Read));
        assert!(acl.allows("alice", &user("bob"), Permission::Read));
        assert!(!acl.allows("alice", &user("bob"), Permission::Write));
    }

    #[test]
    fn groups_match_the_right_principals() {
        let public = Acl::canned("public-read", "alice", None).unwrap_or_default();
        assert!(public.allows("alice", &Principal::Anonymous, Permission::Read));
        assert!(!public.allows("alice", &Principal::Anonymous, Permission::Write));
        let auth = Acl::canned("authenticated-read", "alice", None).unwrap_or_default();
        assert!(auth.allows("alice", &user("bob"), Permission::Read));
        assert!(!auth.allows("alice", &Principal::Anonymous, Permission::Read));
        let rw = Acl::canned("public-read-write", "alice", None).unwrap_or_default();
        assert!(rw.allows("alice", &Principal::Anonymous, Permission::Write));
    }

    #[test]
    fn bucket_owner_canned_acls() {
        let r = Acl::canned("bucket-owner-read", "bob", Some("alice")).unwrap_or_default();
        assert_eq!(r.grants.len(), 2);
        assert!(r.allows("bob", &user("alice"), Permission::Read));
        assert!(!r.allows("bob", &user("alice"), Permission::WriteAcp));
        let f = Acl::canned("bucket-owner-full-control", "bob", Some("alice")).unwrap_or_default();
        assert!(f.allows("bob", &user("alice"), Permission::WriteAcp));
        // The bucket owner writing their own object: nothing to add.
        let own = Acl::canned("bucket-owner-read", "alice", Some("alice")).unwrap_or_default();
        assert_eq!(own, Acl::private("alice"));
        assert_eq!(
            Acl::canned("nope", "a", None),
            Err(AclError::UnknownCanned("nope".into()))
        );
    }

    #[test]
    fn grant_headers_parse_as_clients_send_them() {
        let g = parse_grant_header(
            r#"id="bob_chem", emailAddress="c@uni.edu",uri="http://acs.amazonaws.com/groups/global/AllUsers""#,
            Permission::Read,
        );
        assert_eq!(
            g,
            Ok(vec![
                (Named::Id("bob_chem".into()), Permission::Read),
                (Named::Email("c@uni.edu".into()), Permission::Read),
                (Named::Group(Grantee::AllUsers), Permission::Read),
            ])
        );
        // awscli passes the value through unquoted.
        assert_eq!(
            parse_grant_header("id=bob", Permission::Write),
            Ok(vec![(Named::Id("bob".into()), Permission::Write)])
        );
        for bad in ["", "bob", "id=", "name=x", "id=\"\""] {
            assert!(parse_grant_header(bad, Permission::Read).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_grant_header("uri=http://example.com/x", Permission::Read),
            Err(AclError::UnknownGroup(_))
        ));
    }

    #[test]
    fn stored_form_is_stable_json() {
        let acl = Acl::canned("public-read", "alice", None).unwrap_or_default();
        let j = serde_json::to_string(&acl).unwrap_or_default();
        assert_eq!(
            j,
            r#"{"grants":[{"grantee":{"user":"alice"},"permission":"FULL_CONTROL"},{"grantee":"all_users","permission":"READ"}]}"#
        );
        let back: Acl = serde_json::from_str(&j).unwrap_or_default();
        assert_eq!(back, acl);
    }
}
