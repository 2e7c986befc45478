//! `StoreError`: everything that can go wrong in the object store, with the data an
//! operator needs to act on it. Each variant has a stable [`code`](StoreError::code).

use std::path::PathBuf;
use std::sync::Arc;

use uuid::Uuid;

use crate::device::DeviceError;
use crate::ids::CollectionId;

/// Result type of the object store.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why an object-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data device failed.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// RocksDB failed.
    #[error("metadata database {op} failed: {source}")]
    Db {
        /// What the store was doing.
        op: &'static str,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A metadata record cannot be decoded.
    #[error("corrupt metadata record {key}: {reason}")]
    CorruptRecord {
        /// Printable form of the record's key.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A data block does not match its stored crc32c: the bytes are not returned.
    #[error(
        "checksum mismatch in {coll}/{name} at byte {offset}: stored crc32c {expected:#010x}, data has {actual:#010x}"
    )]
    Checksum {
        /// Collection of the object.
        coll: CollectionId,
        /// Object name.
        name: String,
        /// Logical offset of the bad block within the object.
        offset: u64,
        /// Stored checksum.
        expected: u32,
        /// Checksum of the bytes read.
        actual: u32,
    },
    /// Not enough free space for the transaction; nothing was changed.
    #[error("no space left on the data device: {requested} bytes needed, {free} free")]
    NoSpace {
        /// Bytes the transaction needed.
        requested: u64,
        /// Bytes free when it was prepared.
        free: u64,
    },
    /// The collection does not exist.
    #[error("collection {0} does not exist")]
    NoSuchCollection(CollectionId),
    /// The collection already exists.
    #[error("collection {0} already exists")]
    CollectionExists(CollectionId),
    /// A collection that still holds objects cannot be removed.
    #[error("collection {0} is not empty")]
    CollectionNotEmpty(CollectionId),
    /// The object does not exist.
    #[error("object {coll}/{name} does not exist")]
    NoSuchObject {
        /// Collection searched.
        coll: CollectionId,
        /// Object name.
        name: String,
    },
    /// A collection name breaks the naming rule.
    #[error(
        "invalid collection name {0:?}: use 1 to 128 characters from a-z, A-Z, 0-9, '.', '_', '-'"
    )]
    InvalidCollectionName(String),
    /// An object name is empty or too long.
    #[error("invalid object name of {len} bytes: must be 1 to {max} bytes")]
    InvalidObjectName {
        /// Length of the rejected name.
        len: usize,
        /// Longest allowed name.
        max: usize,
    },
    /// A write would make an object larger than allowed.
    #[error("object would grow to {size} bytes; the limit is {max}")]
    ObjectTooLarge {
        /// Resulting size.
        size: u64,
        /// Largest allowed size.
        max: u64,
    },
    /// The device has no Cuttle superblock.
    #[error("{path} is not a Cuttle data device (no superblock); run mkfs first")]
    NotFormatted {
        /// Device path.
        path: PathBuf,
    },
    /// The device was formatted by an incompatible version.
    #[error("{path} uses on-disk format version {found}; this build supports version {supported}")]
    UnsupportedFormat {
        /// Device path.
        path: PathBuf,
        /// Version found on the device.
        found: u32,
        /// Version this build writes and reads.
        supported: u32,
    },
    /// The superblock is damaged.
    #[error("{path} has a damaged superblock: {reason}")]
    BadSuperblock {
        /// Device path.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The device belongs to another cluster.
    #[error("{path} belongs to cluster {found}, not to this cluster ({expected})")]
    WrongCluster {
        /// Device path.
        path: PathBuf,
        /// Cluster this OSD belongs to.
        expected: Uuid,
        /// Cluster recorded on the device.
        found: Uuid,
    },
    /// The device belongs to another OSD.
    #[error("{path} belongs to osd.{found}, not to osd.{expected}")]
    WrongOsd {
        /// Device path.
        path: PathBuf,
        /// OSD id expected.
        expected: u32,
        /// OSD id recorded on the device.
        found: u32,
    },
    /// mkfs refuses to overwrite a formatted device without `force`.
    #[error(
        "{path} already holds Cuttle data (osd.{osd_id} of cluster {fsid}); refusing to format it again"
    )]
    AlreadyFormatted {
        /// Device path.
        path: PathBuf,
        /// OSD recorded on the device.
        osd_id: u32,
        /// Cluster recorded on the device.
        fsid: Uuid,
    },
    /// mkfs refuses a device whose first block holds something other than a Cuttle
    /// superblock (a partition table, another file system) without `force`.
    #[error(
        "{path} holds data that is not a Cuttle store (a partition table or another file system?); refusing to format it. If it is really unused, zero its first MiB (dd if=/dev/zero of={path} bs=1M count=1 oflag=direct) or format with --force"
    )]
    ForeignData {
        /// Device path.
        path: PathBuf,
    },
    /// The metadata database and the data device do not belong together.
    #[error("metadata in {db} belongs to device {db_uuid}, but the data device is {dev_uuid}")]
    MetadataMismatch {
        /// Metadata directory.
        db: PathBuf,
        /// Device uuid recorded in the database.
        db_uuid: Uuid,
        /// Device uuid in the superblock.
        dev_uuid: Uuid,
    },
    /// Creating or reading the metadata directory failed.
    #[error("metadata directory {path}: {source}")]
    MetaDir {
        /// Directory path.
        path: PathBuf,
        /// OS error.
        source: std::io::Error,
    },
    /// An earlier write failed after it was ordered; the store refuses further writes
    /// (like a Ceph OSD that hits EIO) until it is reopened.
    #[error("the object store stopped accepting writes after a failure: {0}")]
    Failed(Arc<StoreError>),
    /// The store has been shut down.
    #[error("the object store is closed")]
    Closed,
}

impl StoreError {
    /// A stable, machine-readable code for the error.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::Device(_) => "device_error",
            StoreError::Db { .. } => "db_error",
            StoreError::CorruptRecord { .. } => "corrupt_record",
            StoreError::Checksum { .. } => "checksum_mismatch",
            StoreError::NoSpace { .. } => "no_space",
            StoreError::NoSuchCollection(_) => "no_such_collection",
            StoreError::CollectionExists(_) => "collection_exists",
            StoreError::CollectionNotEmpty(_) => "collection_not_empty",
            StoreError::NoSuchObject { .. } => "no_such_object",
            StoreError::InvalidCollectionName(_) => "invalid_collection_name",
            StoreError::InvalidObjectName { .. } => "invalid_object_name",
            StoreError::ObjectTooLarge { .. } => "object_too_large",
            StoreError::NotFormatted { .. } => "not_formatted",
            StoreError::UnsupportedFormat { .. } => "unsupported_format",
            StoreError::BadSuperblock { .. } => "bad_superblock",
            StoreError::WrongCluster { .. } => "wrong_cluster",
            StoreError::WrongOsd { .. } => "wrong_osd",
            StoreError::AlreadyFormatted { .. } => "already_formatted",
            StoreError::ForeignData { .. } => "foreign_data",
            StoreError::MetadataMismatch { .. } => "metadata_mismatch",
            StoreError::MetaDir { .. } => "metadata_dir_error",
            StoreError::Failed(_) => "store_failed",
            StoreError::Closed => "closed",
        }
    }

    pub(crate) fn db(op: &'static str) -> impl FnOnce(rocksdb::Error) -> StoreError {
        move |source| StoreError::Db { op, source }
    }
}
