//! Names of things inside one store: collections and objects.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};

/// Longest collection name, in bytes.
pub const MAX_COLLECTION_NAME: usize = 128;
/// Longest object name, in bytes.
pub const MAX_OBJECT_NAME: usize = 4096;

/// A collection: a named set of objects (the OSD keeps one per PG shard). Names use
/// `a-z A-Z 0-9 . _ -`, 1 to 128 bytes, so they embed in keys and paths unescaped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CollectionId(String);

impl CollectionId {
    /// Validates and wraps a collection name.
    pub fn new(name: impl Into<String>) -> StoreResult<CollectionId> {
        let name = name.into();
        let ok = !name.is_empty()
            && name.len() <= MAX_COLLECTION_NAME
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(CollectionId(name))
        } else {
            Err(StoreError::InvalidCollectionName(name))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CollectionId {
    type Error = StoreError;

    fn try_from(s: String) -> StoreResult<CollectionId> {
        CollectionId::new(s)
    }
}

impl From<CollectionId> for String {
    fn from(c: CollectionId) -> String {
        c.0
    }
}

/// Checks an object name: 1 to [`MAX_OBJECT_NAME`] bytes of UTF-8.
pub fn validate_object_name(name: &str) -> StoreResult<()> {
    if name.is_empty() || name.len() > MAX_OBJECT_NAME {
        return Err(StoreError::InvalidObjectName {
            len: name.len(),
            max: MAX_OBJECT_NAME,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names() {
        assert!(CollectionId::new("2.1f_s0").is_ok());
        assert!(CollectionId::new("").is_err());
        assert!(CollectionId::new("a/b").is_err());
        assert!(CollectionId::new("x".repeat(129)).is_err());
        assert!(validate_object_name("").is_err());
        assert!(validate_object_name("key with spaces/é").is_ok());
    }
}
