//! What an OSD records about PGs and objects, and where.
//!
//! - A PG shard is a store collection named `{pool}.{seed:x}` (replicated) or
//!   `{pool}.{seed:x}s{shard}` (erasure-coded).
//! - Every object carries internal attributes: `_v` its [`Version`] (16 bytes,
//!   big-endian epoch then seq) and `_s` its logical size (8 bytes little-endian; an EC
//!   shard's data is shorter). User attributes are stored as `u.<name>`.
//! - The PG log lives in the store's key/value space, namespace `pglog`, key
//!   `{collection}\0{version}`, value a [`LogEntry`] (JSON); namespace `pginfo`, key
//!   `{collection}`, value the [`PgInfo`] (JSON). Both change in the same transaction
//!   as the object they describe.

use cuttle_objectstore::CollectionId;
use cuttle_proto as pb;
use cuttle_types::{PgId, ShardId};
use serde::{Deserialize, Serialize};

/// Internal attribute: object version.
pub const XATTR_VERSION: &str = "_v";
/// Internal attribute: logical object size.
pub const XATTR_SIZE: &str = "_s";
/// Prefix of user attributes.
pub const USER_XATTR: &str = "u.";
/// Key/value namespace of PG logs.
pub const NS_LOG: &str = "pglog";
/// Key/value namespace of PG infos.
pub const NS_INFO: &str = "pginfo";
/// Log entries kept per PG; older ones are trimmed (a member further behind is
/// backfilled instead).
pub const LOG_KEEP: u64 = 2000;

/// A position in a PG's history: the map epoch of the primary that assigned it, then a
/// sequence number within that epoch. Ordered lexicographically.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Version {
    /// Map epoch when assigned.
    pub epoch: u64,
    /// Sequence within the epoch.
    pub seq: u64,
}

impl Version {
    /// The zero version (nothing written).
    pub const ZERO: Version = Version { epoch: 0, seq: 0 };

    /// Big-endian bytes (sort like the version).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.epoch.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Parses [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Version> {
        if b.len() != 16 {
            return None;
        }
        let mut e = [0u8; 8];
        let mut s = [0u8; 8];
        e.copy_from_slice(&b[..8]);
        s.copy_from_slice(&b[8..]);
        Some(Version {
            epoch: u64::from_be_bytes(e),
            seq: u64::from_be_bytes(s),
        })
    }

    /// The next version a primary at map epoch `epoch` assigns after `self`.
    pub fn next(self, epoch: u64) -> Version {
        if epoch > self.epoch {
            Version { epoch, seq: 1 }
        } else {
            Version {
                epoch: self.epoch,
                seq: self.seq + 1,
            }
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}'{}", self.epoch, self.seq)
    }
}

impl From<Version> for pb::Version {
    fn from(v: Version) -> pb::Version {
        pb::Version {
            epoch: v.epoch,
            seq: v.seq,
        }
    }
}

impl From<&pb::Version> for Version {
    fn from(v: &pb::Version) -> Version {
        Version {
            epoch: v.epoch,
            seq: v.seq,
        }
    }
}

/// Reads an optional wire version.
pub fn version_of(v: Option<&pb::Version>) -> Version {
    v.map(Version::from).unwrap_or_default()
}

/// One PG log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Version of the change.
    pub version: Version,
    /// Object changed.
    pub object: String,
    /// Whether the change deleted the object.
    pub delete: bool,
}

impl From<&LogEntry> for pb::LogEntry {
    fn from(e: &LogEntry) -> pb::LogEntry {
        pb::LogEntry {
            version: Some(e.version.into()),
            object: e.object.clone(),
            delete: e.delete,
        }
    }
}

impl From<&pb::LogEntry> for LogEntry {
    fn from(e: &pb::LogEntry) -> LogEntry {
        LogEntry {
            version: version_of(e.version.as_ref()),
            object: e.object.clone(),
            delete: e.delete,
        }
    }
}

/// A PG shard's summary, stored next to its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PgInfo {
    /// Newest version applied.
    pub last_update: Version,
    /// Versions after this one are in the log.
    pub log_tail: Version,
    /// Entries in the log.
    pub log_len: u64,
}

/// Collection of a PG shard.
pub fn collection(pg: PgId, shard: Option<ShardId>) -> CollectionId {
    let name = match shard {
        Some(s) => format!("{}.{:x}s{}", pg.pool.0, pg.seed, s.0),
        None => format!("{}.{:x}", pg.pool.0, pg.seed),
    };
    // Digits, '.', hex and 's' only: always a valid collection name.
    CollectionId::new(name).unwrap_or_else(|e| unreachable!("{e}"))
}

/// Key of a log entry.
pub fn log_key(coll: &CollectionId, v: Version) -> Vec<u8> {
    let mut k = coll.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&v.to_bytes());
    k
}

/// Range of a collection's log keys after version `after` (exclusive) and up to the end.
pub fn log_prefix(coll: &CollectionId) -> Vec<u8> {
    let mut k = coll.as_str().as_bytes().to_vec();
    k.push(0);
    k
}

/// Encodes a size attribute.
pub fn size_bytes(size: u64) -> [u8; 8] {
    size.to_le_bytes()
}

/// Decodes a size attribute.
pub fn size_from(b: &[u8]) -> Option<u64> {
    let a: [u8; 8] = b.try_into().ok()?;
    Some(u64::from_le_bytes(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_types::PoolId;

    #[test]
    fn versions_order_and_advance() {
        let v = Version { epoch: 5, seq: 9 };
        assert_eq!(Version::from_bytes(&v.to_bytes()), Some(v));
        assert!(v.to_bytes() < Version { epoch: 6, seq: 0 }.to_bytes());
        assert_eq!(v.next(5), Version { epoch: 5, seq: 10 });
        assert_eq!(v.next(7), Version { epoch: 7, seq: 1 });
        assert!(v.next(7) > v);
    }

    #[test]
    fn collection_names() {
        let pg = PgId::new(PoolId(2), 0x1f);
        assert_eq!(collection(pg, None).as_str(), "2.1f");
        assert_eq!(collection(pg, Some(ShardId(1))).as_str(), "2.1fs1");
    }
}
