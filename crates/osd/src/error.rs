//! `OsdError`: why an OSD operation failed, with a stable code and the gRPC status a
//! client sees.

use cuttle_objectstore::StoreError;
use cuttle_rpc::status;
use cuttle_types::{OsdId, PgId};
use tonic::{Code, Status};

/// Why an OSD operation failed.
#[derive(Debug, thiserror::Error)]
pub enum OsdError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// This OSD is not the PG's primary in the caller's map (or its own).
    #[error("osd is not the primary of pg {pg} at epoch {epoch}; the primary is {primary}")]
    WrongPrimary {
        /// The PG.
        pg: PgId,
        /// Epoch this OSD judged by.
        epoch: u64,
        /// Who is ("none" if no member is up).
        primary: String,
    },
    /// Too few members are up to serve the PG.
    #[error("pg {pg} is inactive: {up} of its members are up, it needs {need}")]
    PgInactive {
        /// The PG.
        pg: PgId,
        /// Members up.
        up: usize,
        /// Members needed (min_size, or k for reads).
        need: usize,
    },
    /// The object does not exist.
    #[error("object {0:?} does not exist")]
    NoSuchObject(String),
    /// Exclusive create of an existing object.
    #[error("object {0:?} already exists")]
    Exists(String),
    /// An `omap_cmp` precondition did not hold; nothing was applied.
    #[error("object {object:?}: omap entry {key:?} did not compare equal; nothing was applied")]
    CompareFailed {
        /// The object.
        object: String,
        /// The entry compared.
        key: String,
    },
    /// The operation needs a replicated pool.
    #[error("{0} is only supported on replicated pools")]
    NeedsReplicatedPool(&'static str),
    /// The request is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Erasure coding failed (corruption beyond repair, too few chunks).
    #[error("erasure code: {0}")]
    Ec(#[from] cuttle_ec::EcError),
    /// A peer OSD failed a sub-operation.
    #[error("{osd} failed: {message}")]
    Peer {
        /// The peer.
        osd: OsdId,
        /// Its error.
        message: String,
    },
    /// A peer OSD's store is full: the sub-write changed nothing there.
    #[error("{osd} is full: {message}")]
    PeerFull {
        /// The peer.
        osd: OsdId,
        /// Its error.
        message: String,
    },
    /// The object cannot be read: too few intact shards or copies.
    #[error("object {object:?} is unreadable: {reason}")]
    Unrecoverable {
        /// The object.
        object: String,
        /// Why.
        reason: String,
    },
    /// The OSD's map is older than the caller's and did not catch up in time.
    #[error("osd map at epoch {have} is behind the caller's {want}; retry")]
    MapBehind {
        /// OSD's epoch.
        have: u64,
        /// Caller's epoch.
        want: u64,
    },
    /// The PG is still peering or recovering past the wait limit.
    #[error("pg {0} is not active yet (peering); retry")]
    NotActive(PgId),
    /// Writes kept landing while a shard of the object was read, so no read saw one
    /// version whole.
    #[error("object {0:?} changed while it was read; retry")]
    Changing(String),
}

impl OsdError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            OsdError::Store(e) => match e {
                StoreError::NoSpace { .. } => "no_space",
                StoreError::Checksum { .. } => "checksum_mismatch",
                _ => "store_error",
            },
            OsdError::WrongPrimary { .. } => "wrong_primary",
            OsdError::PgInactive { .. } => "pg_inactive",
            OsdError::NoSuchObject(_) => "no_such_object",
            OsdError::Exists(_) => "exists",
            OsdError::CompareFailed { .. } => "compare_failed",
            OsdError::NeedsReplicatedPool(_) => "needs_replicated_pool",
            OsdError::BadRequest(_) => "bad_request",
            OsdError::Ec(_) => "ec_error",
            OsdError::Peer { .. } => "peer_failed",
            OsdError::PeerFull { .. } => "no_space",
            OsdError::Unrecoverable { .. } => "unrecoverable",
            OsdError::MapBehind { .. } => "map_behind",
            OsdError::NotActive(_) => "pg_peering",
            OsdError::Changing(_) => "object_changing",
        }
    }

    /// The gRPC status for this error.
    pub fn to_status(&self) -> Status {
        let code = match self {
            OsdError::Store(StoreError::NoSpace { .. }) | OsdError::PeerFull { .. } => {
                Code::ResourceExhausted
            }
            OsdError::Store(StoreError::NoSuchObject { .. }) | OsdError::NoSuchObject(_) => {
                Code::NotFound
            }
            OsdError::Store(_) => Code::Internal,
            OsdError::WrongPrimary { .. } => Code::Aborted,
            OsdError::PgInactive { .. }
            | OsdError::MapBehind { .. }
            | OsdError::NotActive(_)
            | OsdError::Changing(_)
            | OsdError::Peer { .. } => Code::Unavailable,
            OsdError::Exists(_) => Code::AlreadyExists,
            OsdError::NeedsReplicatedPool(_) | OsdError::CompareFailed { .. } => {
                Code::FailedPrecondition
            }
            OsdError::BadRequest(_) => Code::InvalidArgument,
            OsdError::Ec(_) | OsdError::Unrecoverable { .. } => Code::DataLoss,
        };
        status(code, self.code(), self.to_string())
    }
}

impl OsdError {
    /// Whether a store ran out of space (this OSD's or a peer's): retrying does not
    /// help until space is freed.
    pub fn is_no_space(&self) -> bool {
        matches!(
            self,
            OsdError::Store(StoreError::NoSpace { .. }) | OsdError::PeerFull { .. }
        )
    }
}

impl From<OsdError> for Status {
    fn from(e: OsdError) -> Status {
        e.to_status()
    }
}

/// Result of OSD operations.
pub type OsdResult<T> = Result<T, OsdError>;
