//! `Transaction`: a list of changes applied atomically and in order.
//!
//! Either every operation of a transaction takes effect, durably, or none does (an
//! error reports which and why). Transactions queued one after another on one store
//! take effect in that order. Semantics of each operation:
//!
//! - object operations need their collection to exist (created earlier in the same
//!   transaction counts);
//! - `write`, `write_full`, `truncate`, `touch`, `set_attr`, `omap_set` create the object
//!   when it does not exist; `remove` of a missing object does nothing;
//! - `rm_attr`, `omap_remove*` on a missing object create it too (they leave it without
//!   that attribute/key, which is what was asked);
//! - `clone` needs its source to exist and replaces the destination entirely;
//! - `kv_*` change the store-wide key/value space (PG logs and other daemon state).

use bytes::Bytes;

use crate::ids::CollectionId;

/// One change inside a transaction.
#[derive(Debug, Clone)]
pub enum Op {
    /// Create an empty collection; fails if it exists.
    CreateCollection(CollectionId),
    /// Remove an empty collection; fails if it holds objects or does not exist.
    RemoveCollection(CollectionId),
    /// Create the object if missing.
    Touch { coll: CollectionId, name: String },
    /// Write bytes at an offset, growing the object as needed.
    Write {
        coll: CollectionId,
        name: String,
        offset: u64,
        data: Bytes,
    },
    /// Replace the object's data (size becomes `data.len()`); attributes and omap stay.
    WriteFull {
        coll: CollectionId,
        name: String,
        data: Bytes,
    },
    /// Set the object's size, cutting or zero-extending.
    Truncate {
        coll: CollectionId,
        name: String,
        size: u64,
    },
    /// Delete the object with its attributes and omap.
    Remove { coll: CollectionId, name: String },
    /// Make `dst` a copy of `src` (data, attributes, omap).
    Clone {
        coll: CollectionId,
        src: String,
        dst: String,
    },
    /// Set an extended attribute.
    SetAttr {
        coll: CollectionId,
        name: String,
        key: String,
        value: Bytes,
    },
    /// Remove an extended attribute.
    RmAttr {
        coll: CollectionId,
        name: String,
        key: String,
    },
    /// Set omap entries.
    OmapSet {
        coll: CollectionId,
        name: String,
        entries: Vec<(Bytes, Bytes)>,
    },
    /// Remove omap keys.
    OmapRemove {
        coll: CollectionId,
        name: String,
        keys: Vec<Bytes>,
    },
    /// Remove omap keys in `[start, end)`.
    OmapRemoveRange {
        coll: CollectionId,
        name: String,
        start: Bytes,
        end: Bytes,
    },
    /// Remove every omap key of the object.
    OmapClear { coll: CollectionId, name: String },
    /// Set a key in a namespace of the store-wide key/value space.
    KvSet {
        ns: String,
        key: Bytes,
        value: Bytes,
    },
    /// Remove a key from the key/value space.
    KvRemove { ns: String, key: Bytes },
    /// Remove keys in `[start, end)` of a namespace.
    KvRemoveRange {
        ns: String,
        start: Bytes,
        end: Bytes,
    },
}

/// An ordered list of [`Op`]s applied atomically.
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    /// The operations, applied in order.
    pub ops: Vec<Op>,
}

impl Transaction {
    /// An empty transaction.
    pub fn new() -> Transaction {
        Transaction::default()
    }

    /// Whether the transaction does nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Appends an operation.
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    /// See [`Op::CreateCollection`].
    pub fn create_collection(&mut self, c: &CollectionId) -> &mut Self {
        self.push(Op::CreateCollection(c.clone()))
    }

    /// See [`Op::RemoveCollection`].
    pub fn remove_collection(&mut self, c: &CollectionId) -> &mut Self {
        self.push(Op::RemoveCollection(c.clone()))
    }

    /// See [`Op::Touch`].
    pub fn touch(&mut self, c: &CollectionId, name: &str) -> &mut Self {
        self.push(Op::Touch {
            coll: c.clone(),
            name: name.into(),
        })
    }

    /// See [`Op::Write`].
    pub fn write(&mut self, c: &CollectionId, name: &str, offset: u64, data: Bytes) -> &mut Self {
        self.push(Op::Write {
            coll: c.clone(),
            name: name.into(),
            offset,
            data,
        })
    }

    /// See [`Op::WriteFull`].
    pub fn write_full(&mut self, c: &CollectionId, name: &str, data: Bytes) -> &mut Self {
        self.push(Op::WriteFull {
            coll: c.clone(),
            name: name.into(),
            data,
        })
    }

    /// See [`Op::Truncate`].
    pub fn truncate(&mut self, c: &CollectionId, name: &str, size: u64) -> &mut Self {
        self.push(Op::Truncate {
            coll: c.clone(),
            name: name.into(),
            size,
        })
    }

    /// See [`Op::Remove`].
    pub fn remove(&mut self, c: &CollectionId, name: &str) -> &mut Self {
        self.push(Op::Remove {
            coll: c.clone(),
            name: name.into(),
        })
    }

    /// See [`Op::Clone`].
    pub fn clone_object(&mut self, c: &CollectionId, src: &str, dst: &str) -> &mut Self {
        self.push(Op::Clone {
            coll: c.clone(),
            src: src.into(),
            dst: dst.into(),
        })
    }

    /// See [`Op::SetAttr`].
    pub fn set_attr(&mut self, c: &CollectionId, name: &str, key: &str, value: Bytes) -> &mut Self {
        self.push(Op::SetAttr {
            coll: c.clone(),
            name: name.into(),
            key: key.into(),
            value,
        })
    }

    /// See [`Op::RmAttr`].
    pub fn rm_attr(&mut self, c: &CollectionId, name: &str, key: &str) -> &mut Self {
        self.push(Op::RmAttr {
            coll: c.clone(),
            name: name.into(),
            key: key.into(),
        })
    }

    /// See [`Op::OmapSet`].
    pub fn omap_set(
        &mut self,
        c: &CollectionId,
        name: &str,
        entries: Vec<(Bytes, Bytes)>,
    ) -> &mut Self {
        self.push(Op::OmapSet {
            coll: c.clone(),
            name: name.into(),
            entries,
        })
    }

    /// See [`Op::OmapRemove`].
    pub fn omap_remove(&mut self, c: &CollectionId, name: &str, keys: Vec<Bytes>) -> &mut Self {
        self.push(Op::OmapRemove {
            coll: c.clone(),
            name: name.into(),
            keys,
        })
    }

    /// See [`Op::OmapRemoveRange`].
    pub fn omap_remove_range(
        &mut self,
        c: &CollectionId,
        name: &str,
        start: Bytes,
        end: Bytes,
    ) -> &mut Self {
        self.push(Op::OmapRemoveRange {
            coll: c.clone(),
            name: name.into(),
            start,
            end,
        })
    }

    /// See [`Op::OmapClear`].
    pub fn omap_clear(&mut self, c: &CollectionId, name: &str) -> &mut Self {
        self.push(Op::OmapClear {
            coll: c.clone(),
            name: name.into(),
        })
    }

    /// See [`Op::KvSet`].
    pub fn kv_set(&mut self, ns: &str, key: Bytes, value: Bytes) -> &mut Self {
        self.push(Op::KvSet {
            ns: ns.into(),
            key,
            value,
        })
    }

    /// See [`Op::KvRemove`].
    pub fn kv_remove(&mut self, ns: &str, key: Bytes) -> &mut Self {
        self.push(Op::KvRemove { ns: ns.into(), key })
    }

    /// See [`Op::KvRemoveRange`].
    pub fn kv_remove_range(&mut self, ns: &str, start: Bytes, end: Bytes) -> &mut Self {
        self.push(Op::KvRemoveRange {
            ns: ns.into(),
            start,
            end,
        })
    }
}
