//! `BucketIndex`: a bucket's object index, sharded over `index_shards` omap objects in
//! `.rgw.index` (shard = crc32c(key) mod n, so one bucket's keys spread over many PGs),
//! and the ordered listing that merges the shards.
//!
//! A listing page asks each shard only for the keys after the page's start (in small
//! batches that grow when a shard turns out to hold most of the page), so its cost
//! depends on the page size and the shard count, never on the bucket's size. Common
//! prefixes are skipped in every shard with one seek past `prefix + 0xFF` (a byte that
//! never occurs in UTF-8 keys) instead of reading the keys under them.
//!
//! The bytes of inline objects live in the same shard object under `0xFF + key`
//! ([`inline_key`]): written in the same omap operation as their entry, read in the
//! same omap read, and never seen by listings (which end every shard before `0xFF`).

use std::collections::VecDeque;

use bytes::Bytes;
use cuttle_client::IoCtx;
use futures::future::try_join_all;

use cuttle_proto as pb;

use crate::error::{RgwError, RgwResult, is_compare_failed, is_not_found, omap_cmp};
use crate::records::{self, BucketRecord, IndexEntry};

/// One listed item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::large_enum_variant,
    reason = "listing pages are short-lived and mostly objects; boxing each entry costs more"
)]
pub enum Listed {
    /// An object.
    Object(String, IndexEntry),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

impl Listed {
    /// The key or prefix.
    pub fn name(&self) -> &str {
        match self {
            Listed::Object(k, _) | Listed::Prefix(k) => k,
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListParams {
    /// Only keys starting with this.
    pub prefix: String,
    /// Roll keys up to the first delimiter after the prefix.
    pub delimiter: Option<String>,
    /// Start strictly after this key (or common prefix).
    pub start_after: Option<String>,
    /// Most items (objects plus prefixes) to return.
    pub max: usize,
}

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// Items in key order.
    pub items: Vec<Listed>,
    /// More items follow the last one.
    pub truncated: bool,
}

/// The common prefix `key` rolls up to, if any.
pub fn common_prefix<'a>(key: &'a str, prefix: &str, delimiter: Option<&str>) -> Option<&'a str> {
    let d = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.get(prefix.len()..)?;
    let at = rest.find(d)?;
    key.get(..prefix.len() + at + d.len())
}

/// Bytes that sort after every key starting with `p`.
fn past(p: &str) -> Vec<u8> {
    let mut v = p.as_bytes().to_vec();
    v.push(0xFF);
    v
}

/// First byte of the omap keys that hold inline data (never the first byte of UTF-8).
const INLINE_MARK: u8 = 0xFF;

/// Where the bytes of the inline object `key` are kept in its shard object.
pub fn inline_key(key: &str) -> Bytes {
    let mut v = Vec::with_capacity(1 + key.len());
    v.push(INLINE_MARK);
    v.extend_from_slice(key.as_bytes());
    Bytes::from(v)
}

/// Whether an omap key of a shard object is an object key (not inline data).
fn is_entry_key(k: &[u8]) -> bool {
    k.first() != Some(&INLINE_MARK)
}

/// Whether the stored entry `raw` says its data is inline (an unreadable entry counts as
/// inline, so whatever replaces it also removes any bytes beside it).
fn stored_inline(key: &str, raw: &Bytes) -> bool {
    records::decode::<IndexEntry>(key, raw).map_or(true, |e| e.inline)
}

#[derive(Debug)]
struct Cursor {
    object: String,
    buf: VecDeque<(Bytes, Bytes)>,
    after: Vec<u8>,
    exhausted: bool,
    batch: u32,
}

/// A bucket's index.
#[derive(Debug, Clone)]
pub struct BucketIndex {
    io: IoCtx,
}

impl BucketIndex {
    /// Over an open `.rgw.index` pool.
    pub fn new(io: IoCtx) -> BucketIndex {
        BucketIndex { io }
    }

    /// The pool handle (multipart state lives in the same pool).
    pub fn io(&self) -> &IoCtx {
        &self.io
    }

    fn shard_object(b: &BucketRecord, key: &str) -> String {
        let shard = crc32c::crc32c(key.as_bytes()) % b.index_shards.max(1);
        format!("{}.{shard}", b.id)
    }

    fn shard_objects(b: &BucketRecord) -> Vec<String> {
        (0..b.index_shards.max(1))
            .map(|s| format!("{}.{s}", b.id))
            .collect()
    }

    /// The entry of `key`.
    pub async fn get(&self, b: &BucketRecord, key: &str) -> RgwResult<Option<IndexEntry>> {
        Ok(self.get_versioned(b, key).await?.map(|(e, _)| e))
    }

    /// The entry of `key` with its stored bytes (the version [`BucketIndex::swap`]
    /// compares against).
    pub async fn get_versioned(
        &self,
        b: &BucketRecord,
        key: &str,
    ) -> RgwResult<Option<(IndexEntry, Bytes)>> {
        let k = Bytes::copy_from_slice(key.as_bytes());
        let data_key = inline_key(key);
        let got = match self
            .io
            .omap_get(
                &Self::shard_object(b, key),
                vec![k.clone(), data_key.clone()],
            )
            .await
        {
            Ok(m) => m,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(raw) = got.get(&k) else {
            return Ok(None);
        };
        let mut entry: IndexEntry = records::decode(key, raw)?;
        if entry.inline {
            entry.body = got.get(&data_key).cloned();
        }
        Ok(Some((entry, raw.clone())))
    }

    /// Replaces the entry of `key` — or removes it, when `new` is `None` — only if it
    /// still is `expected` (its stored bytes; `None`: no entry). `Ok(false)` when
    /// another change came first; nothing was changed then.
    ///
    /// Inline bytes go with their entry in the same operation: a new inline entry that
    /// carries its `body` writes it; one without (an ACL change of an inline object)
    /// keeps the bytes stored; an entry that is not inline, or no entry, removes the
    /// bytes the replaced entry had.
    pub async fn swap(
        &self,
        b: &BucketRecord,
        key: &str,
        expected: Option<Bytes>,
        new: Option<&IndexEntry>,
    ) -> RgwResult<bool> {
        let k = Bytes::copy_from_slice(key.as_bytes());
        let mut set = Vec::new();
        let mut rm = Vec::new();
        match new {
            Some(e) => {
                set.push(pb::KeyValue {
                    key: k.clone(),
                    value: e.encode(),
                });
                if let (true, Some(body)) = (e.inline, &e.body) {
                    set.push(pb::KeyValue {
                        key: inline_key(key),
                        value: body.clone(),
                    });
                }
            }
            None => rm.push(k.clone()),
        }
        let drops_inline = !new.is_some_and(|e| e.inline);
        if drops_inline && expected.as_ref().is_some_and(|raw| stored_inline(key, raw)) {
            rm.push(inline_key(key));
        }
        let mut ops = vec![omap_cmp(k, expected)];
        if !set.is_empty() {
            ops.push(pb::ObjectOp {
                op: Some(pb::object_op::Op::OmapSet(pb::OmapSet { entries: set })),
            });
        }
        if !rm.is_empty() {
            ops.push(pb::ObjectOp {
                op: Some(pb::object_op::Op::OmapRm(pb::OmapKeys { keys: rm })),
            });
        }
        match self.io.mutate(&Self::shard_object(b, key), ops).await {
            Ok(_) => Ok(true),
            Err(e) if is_compare_failed(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets many entries with one omap write per shard, unguarded (unlike
    /// [`BucketIndex::swap`]), for bulk loads (benchmark fills, imports). It does not
    /// replace data: the caller owns whatever entries it overwrites.
    pub async fn put_many(
        &self,
        b: &BucketRecord,
        entries: &[(String, IndexEntry)],
    ) -> RgwResult<()> {
        let mut by_shard: std::collections::BTreeMap<String, Vec<(Bytes, Bytes)>> =
            std::collections::BTreeMap::new();
        for (key, e) in entries {
            by_shard
                .entry(Self::shard_object(b, key))
                .or_default()
                .push((Bytes::copy_from_slice(key.as_bytes()), e.encode()));
        }
        try_join_all(
            by_shard
                .into_iter()
                .map(|(object, kv)| async move { self.io.omap_set(&object, kv).await }),
        )
        .await?;
        Ok(())
    }

    /// Whether the bucket has no objects.
    pub async fn is_empty(&self, b: &BucketRecord) -> RgwResult<bool> {
        let checks = Self::shard_objects(b).into_iter().map(|o| async move {
            match self
                .io
                .omap_list_before(&o, b"", b"", &[INLINE_MARK], 1)
                .await
            {
                Ok((entries, _)) => Ok(!entries.iter().any(|(k, _)| is_entry_key(k))),
                Err(e) if is_not_found(&e) => Ok(true),
                Err(e) => Err(RgwError::Cluster(e)),
            }
        });
        Ok(try_join_all(checks).await?.into_iter().all(|e| e))
    }

    /// Removes the (empty) shard objects of a deleted bucket.
    pub async fn drop_shards(&self, b: &BucketRecord) -> RgwResult<()> {
        for o in Self::shard_objects(b) {
            crate::meta::remove_if_exists(&self.io, &o).await?;
        }
        Ok(())
    }

    async fn fill(&self, c: &mut Cursor, prefix: &str) -> RgwResult<()> {
        if !c.buf.is_empty() || c.exhausted {
            return Ok(());
        }
        let (mut entries, mut more) = match self
            .io
            .omap_list_before(
                &c.object,
                prefix.as_bytes(),
                &c.after,
                &[INLINE_MARK],
                c.batch,
            )
            .await
        {
            Ok(r) => r,
            Err(e) if is_not_found(&e) => (Vec::new(), false),
            Err(e) => return Err(e.into()),
        };
        // Inline data ends the shard's entries (an OSD from before the end bound
        // returns it anyway).
        if let Some(at) = entries.iter().position(|(k, _)| !is_entry_key(k)) {
            entries.truncate(at);
            more = false;
        }
        if let Some((k, _)) = entries.last() {
            c.after = k.to_vec();
        }
        c.exhausted = !more || entries.is_empty();
        c.buf.extend(entries);
        c.batch = (c.batch * 2).min(1001);
        Ok(())
    }

    /// One page of the bucket's listing.
    pub async fn list(&self, b: &BucketRecord, p: &ListParams) -> RgwResult<ListPage> {
        if p.max == 0 {
            return Ok(ListPage::default());
        }
        let delim = p.delimiter.as_deref().filter(|d| !d.is_empty());
        // Where every shard starts: after the start key, and past the whole common
        // prefix the start key belongs to (that prefix was returned already).
        let mut after: Vec<u8> = p.start_after.clone().unwrap_or_default().into_bytes();
        let mut last_prefix: Option<String> = None;
        if let Some(s) = &p.start_after
            && let Some(cp) = common_prefix(s, &p.prefix, delim)
        {
            let skip = past(cp);
            if skip > after {
                after = skip;
            }
            last_prefix = Some(cp.to_string());
        }
        let shards = b.index_shards.max(1) as usize;
        let first_batch = ((2 * p.max / shards) + 16).min(p.max + 1) as u32;
        let mut cursors: Vec<Cursor> = Self::shard_objects(b)
            .into_iter()
            .map(|object| Cursor {
                object,
                buf: VecDeque::new(),
                after: after.clone(),
                exhausted: false,
                batch: first_batch,
            })
            .collect();
        let mut page = ListPage::default();
        loop {
            try_join_all(cursors.iter_mut().map(|c| self.fill(c, &p.prefix))).await?;
            let Some(min) = cursors
                .iter()
                .enumerate()
                .filter_map(|(i, c)| c.buf.front().map(|(k, _)| (i, k)))
                .min_by(|a, b| a.1.cmp(b.1))
                .map(|(i, _)| i)
            else {
                return Ok(page);
            };
            if page.items.len() >= p.max {
                page.truncated = true;
                return Ok(page);
            }
            let Some((k, v)) = cursors[min].buf.pop_front() else {
                continue;
            };
            let key = String::from_utf8_lossy(&k).into_owned();
            if let Some(cp) = common_prefix(&key, &p.prefix, delim) {
                let cp = cp.to_string();
                let skip = past(&cp);
                for c in cursors.iter_mut() {
                    while c
                        .buf
                        .front()
                        .is_some_and(|(k, _)| k.starts_with(cp.as_bytes()))
                    {
                        c.buf.pop_front();
                    }
                    if c.buf.is_empty() && c.after < skip {
                        c.after = skip.clone();
                    }
                }
                if last_prefix.as_deref() != Some(cp.as_str()) {
                    page.items.push(Listed::Prefix(cp.clone()));
                    last_prefix = Some(cp);
                }
            } else {
                let entry = records::decode(&key, &v)?;
                page.items.push(Listed::Object(key, entry));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes_roll_up_at_the_first_delimiter() {
        assert_eq!(common_prefix("a/b/c", "", Some("/")), Some("a/"));
        assert_eq!(common_prefix("a/b/c", "a/", Some("/")), Some("a/b/"));
        assert_eq!(common_prefix("a/b", "a/b", Some("/")), None);
        assert_eq!(common_prefix("abc", "", None), None);
        assert_eq!(common_prefix("abc", "", Some("")), None);
        assert_eq!(common_prefix("x--y--z", "x", Some("--")), Some("x--"));
        assert_eq!(common_prefix("dir//a", "dir/", Some("/")), Some("dir//"));
    }

    #[test]
    fn inline_keys_sort_after_every_object_key_and_are_told_apart() {
        for key in ["", "a", "\u{10FFFF}\u{10FFFF}", "zzz/\u{FFFF}"] {
            let k = inline_key(key);
            assert!(!is_entry_key(&k), "{key:?}");
            assert!(is_entry_key(key.as_bytes()), "{key:?}");
            assert!(k.as_ref() > past("\u{10FFFF}").as_slice());
            assert!(k.as_ref() > "\u{10FFFF}\u{10FFFF}\u{10FFFF}".as_bytes());
        }
        assert_eq!(inline_key("ab").as_ref(), b"\xFFab");
    }

    #[test]
    fn past_sorts_after_every_extension() {
        let p = past("dir/");
        assert!(p.as_slice() > "dir/zzzz\u{10FFFF}".as_bytes());
        assert!(p.as_slice() < "dir0".as_bytes());
    }
}
