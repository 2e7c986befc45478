//! `RgwError`: why a gateway operation failed below the S3 layer (cluster calls, stored
//! records, user administration). The S3 layer maps each variant to one S3 error code
//! in `s3::errors`; the CLI prints them with their stable [`RgwError::code`].

use bytes::Bytes;
use cuttle_client::ClientError;

/// Why a gateway storage or administration operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RgwError {
    /// A cluster call failed.
    #[error("cluster: {0}")]
    Cluster(#[from] ClientError),
    /// A gateway pool is missing (the cluster was not prepared for gateways).
    #[error(
        "pool {0:?} does not exist; gateways need the .rgw.meta, .rgw.index and .rgw.data pools (`cuttle cluster up` creates them)"
    )]
    NoPool(String),
    /// A stored record does not decode.
    #[error("stored record {what} is corrupt: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// Decoder message.
        reason: String,
    },
    /// A user id is not acceptable.
    #[error(
        "invalid uid {0:?}: use 3 to 64 characters from a-z 0-9 _ - starting with a letter, like alice_physics"
    )]
    InvalidUid(String),
    /// A user exists already.
    #[error("user {0:?} already exists")]
    UserExists(String),
    /// No such user.
    #[error("no user {0:?}")]
    NoSuchUser(String),
    /// An e-mail address belongs to another user already.
    #[error("e-mail address {0:?} is already used by another user")]
    EmailExists(String),
    /// An e-mail address is not acceptable.
    #[error("invalid e-mail address {0:?}")]
    InvalidEmail(String),
    /// An access key is taken.
    #[error("access key {0:?} is already in use")]
    KeyExists(String),
    /// An access key or secret is not acceptable.
    #[error("invalid {what}: {reason}")]
    InvalidCredential {
        /// `access key` or `secret key`.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// No such access key (for this user).
    #[error("no access key {0:?}")]
    NoSuchKey(String),
    /// No such token (for this user).
    #[error("no token {0:?}")]
    NoSuchToken(String),
    /// The user still owns buckets.
    #[error("user {uid:?} still owns {count} bucket(s) (first: {first:?}); delete them first")]
    UserHasBuckets {
        /// The user.
        uid: String,
        /// How many were seen (at least).
        count: usize,
        /// One of them.
        first: String,
    },
    /// The gateway configuration is unusable.
    #[error("gateway configuration: {0}")]
    Config(String),
}

impl RgwError {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            RgwError::Cluster(_) => "cluster",
            RgwError::NoPool(_) => "no_such_pool",
            RgwError::Corrupt { .. } => "corrupt",
            RgwError::InvalidUid(_) => "invalid_uid",
            RgwError::UserExists(_) => "user_exists",
            RgwError::NoSuchUser(_) => "no_such_user",
            RgwError::KeyExists(_) => "key_exists",
            RgwError::EmailExists(_) => "email_exists",
            RgwError::InvalidEmail(_) => "invalid_email",
            RgwError::InvalidCredential { .. } => "invalid_credential",
            RgwError::NoSuchKey(_) => "no_such_key",
            RgwError::NoSuchToken(_) => "no_such_token",
            RgwError::UserHasBuckets { .. } => "user_has_buckets",
            RgwError::Config(_) => "config",
        }
    }

    /// Whether the error is the cluster saying "no such object".
    pub fn is_not_found(&self) -> bool {
        matches!(self, RgwError::Cluster(e) if is_not_found(e))
    }

    /// Whether the error is the cluster refusing an exclusive create.
    pub fn is_exists(&self) -> bool {
        matches!(self, RgwError::Cluster(e) if is_exists(e))
    }
}

/// Whether a cluster error means the object does not exist.
pub fn is_not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused { grpc, .. } if *grpc == tonic::Code::NotFound)
}

/// Whether a cluster error means an exclusive create found the object.
pub fn is_exists(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused { code, .. } if code == "exists")
}

/// Whether a cluster error means an `omap_cmp` guard did not hold.
pub fn is_compare_failed(e: &ClientError) -> bool {
    matches!(e, ClientError::Refused { code, .. } if code == "compare_failed")
}

/// An `omap_cmp` guard: the entry `key` must hold `value` (or be absent).
pub fn omap_cmp(key: Bytes, value: Option<Bytes>) -> cuttle_proto::ObjectOp {
    cuttle_proto::ObjectOp {
        op: Some(cuttle_proto::object_op::Op::OmapCmp(
            cuttle_proto::OmapCmp {
                key,
                present: value.is_some(),
                value: value.unwrap_or_default(),
            },
        )),
    }
}

/// Result of gateway storage operations.
pub type RgwResult<T> = Result<T, RgwError>;
