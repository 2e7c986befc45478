//! The `ObjectStore` trait: what an OSD needs from its local storage, implemented by
//! [`MemStore`](crate::MemStore) and [`DiskStore`](crate::DiskStore) and checked by one
//! conformance suite run on both.
//!
//! Reads see committed transactions only: once `queue_transaction` has returned `Ok`,
//! every later read observes it; a transaction still in flight is invisible.

use std::collections::BTreeMap;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Serialize;

use crate::error::StoreResult;
use crate::ids::CollectionId;
use crate::txn::Transaction;

/// Size and identity facts about an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ObjectStat {
    /// Logical size in bytes.
    pub size: u64,
    /// Device bytes allocated to it (0 for the memory store).
    pub allocated: u64,
}

/// One page of a listing. To continue, pass the last item's name or key as `after`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Page<T> {
    /// Entries in order.
    pub items: Vec<T>,
    /// Whether entries remain after this page.
    pub more: bool,
}

/// Space accounting of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatFs {
    /// Bytes available for data.
    pub total: u64,
    /// Bytes in use (or reserved by transactions in flight).
    pub used: u64,
    /// Bytes free.
    pub free: u64,
}

/// An OSD's local object store.
pub trait ObjectStore: Send + Sync + std::fmt::Debug {
    /// Applies a transaction atomically and durably. On `Err` nothing of it took effect.
    fn queue_transaction(&self, txn: Transaction) -> BoxFuture<'_, StoreResult<()>>;

    /// Reads up to `len` bytes at `offset` (fewer past the end of the object; `len`
    /// may be `u64::MAX` for "to the end"). Every block read is checked against its
    /// crc32c; a mismatch is an error, never wrong bytes.
    fn read<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        offset: u64,
        len: u64,
    ) -> BoxFuture<'a, StoreResult<Bytes>>;

    /// Size of an object.
    fn stat<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<ObjectStat>>;

    /// All extended attributes of an object.
    fn get_attrs<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
    ) -> BoxFuture<'a, StoreResult<BTreeMap<String, Bytes>>>;

    /// Object names of a collection in byte order, strictly after `after`.
    fn list<'a>(
        &'a self,
        coll: &'a CollectionId,
        after: Option<&'a str>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<String>>>;

    /// Omap values of the given keys (missing keys are left out).
    fn omap_get<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        keys: &'a [Bytes],
    ) -> BoxFuture<'a, StoreResult<BTreeMap<Bytes, Bytes>>>;

    /// Omap entries whose key starts with `prefix`, in key order, strictly after
    /// `after` and strictly before `end` when given.
    fn omap_list<'a>(
        &'a self,
        coll: &'a CollectionId,
        name: &'a str,
        prefix: &'a [u8],
        after: Option<&'a [u8]>,
        end: Option<&'a [u8]>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<(Bytes, Bytes)>>>;

    /// Every collection, in order.
    fn list_collections(&self) -> BoxFuture<'_, StoreResult<Vec<CollectionId>>>;

    /// Whether a collection exists.
    fn collection_exists<'a>(&'a self, coll: &'a CollectionId) -> BoxFuture<'a, StoreResult<bool>>;

    /// Value of a key in the store-wide key/value space.
    fn kv_get<'a>(
        &'a self,
        ns: &'a str,
        key: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<Option<Bytes>>>;

    /// Keys of a namespace in order, strictly after `after` when given.
    fn kv_list<'a>(
        &'a self,
        ns: &'a str,
        after: Option<&'a [u8]>,
        max: usize,
    ) -> BoxFuture<'a, StoreResult<Page<(Bytes, Bytes)>>>;

    /// Space accounting.
    fn statfs(&self) -> StatFs;
}
