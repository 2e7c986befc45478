//! The metadata key space in RocksDB (one column family, one leading byte per kind).
//!
//! ```text
//! S "superblock"                     -> superblock copy (pairs the DB with its device)
//! S "next_nid"                       -> u64 LE: next object numeric id
//! C <coll>                           -> collection record (u8 version = 1)
//! O <u8 len(coll)> <coll> <name>     -> onode (see onode.rs)
//! M <u64 BE nid> <key>               -> omap value of object `nid`
//! B <u64 BE region>                  -> freelist bitmap region (see freelist.rs)
//! K <u8 len(ns)> <ns> <key>          -> store-wide key/value space
//! D <u64 BE seq> <u64 BE offset>     -> deferred write: a copy of data written at
//!                                       `offset` by transaction `seq`, not yet
//!                                       flushed on the device (see commit.rs)
//! ```
//!
//! Objects of a collection are contiguous and sorted by name bytes, omap entries of an
//! object are contiguous and sorted by key, so listings are single range scans.

use crate::ids::CollectionId;

pub const SUPERBLOCK: &[u8] = b"Ssuperblock";
pub const NEXT_NID: &[u8] = b"Snext_nid";
const COLL: u8 = b'C';
const ONODE: u8 = b'O';
const OMAP: u8 = b'M';
const KV: u8 = b'K';
const DEFERRED: u8 = b'D';

/// Longest key/value namespace name.
pub const MAX_NS_LEN: usize = 64;

pub fn coll_key(c: &CollectionId) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + c.as_str().len());
    k.push(COLL);
    k.extend_from_slice(c.as_str().as_bytes());
    k
}

pub fn coll_prefix_all() -> Vec<u8> {
    vec![COLL]
}

pub fn parse_coll_key(k: &[u8]) -> Option<CollectionId> {
    let rest = k.strip_prefix(&[COLL])?;
    CollectionId::new(std::str::from_utf8(rest).ok()?).ok()
}

/// Prefix of every onode key of a collection.
pub fn onode_prefix(c: &CollectionId) -> Vec<u8> {
    let name = c.as_str().as_bytes();
    let mut k = Vec::with_capacity(2 + name.len());
    k.push(ONODE);
    // Collection names are at most 128 bytes, so the length fits in a byte.
    k.push(name.len() as u8);
    k.extend_from_slice(name);
    k
}

pub fn onode_prefix_all() -> Vec<u8> {
    vec![ONODE]
}

pub fn onode_key(c: &CollectionId, name: &str) -> Vec<u8> {
    let mut k = onode_prefix(c);
    k.extend_from_slice(name.as_bytes());
    k
}

/// The collection and object name of an onode key.
pub fn parse_onode_key(k: &[u8]) -> Option<(CollectionId, String)> {
    let rest = k.strip_prefix(&[ONODE])?;
    let (&n, rest) = rest.split_first()?;
    let n = n as usize;
    if rest.len() < n {
        return None;
    }
    let coll = CollectionId::new(std::str::from_utf8(&rest[..n]).ok()?).ok()?;
    let name = std::str::from_utf8(&rest[n..]).ok()?.to_string();
    Some((coll, name))
}

pub fn omap_prefix(nid: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(9);
    k.push(OMAP);
    k.extend_from_slice(&nid.to_be_bytes());
    k
}

pub fn omap_key(nid: u64, key: &[u8]) -> Vec<u8> {
    let mut k = omap_prefix(nid);
    k.extend_from_slice(key);
    k
}

pub fn kv_prefix(ns: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(2 + ns.len());
    k.push(KV);
    k.push(ns.len() as u8);
    k.extend_from_slice(ns.as_bytes());
    k
}

pub fn kv_key(ns: &str, key: &[u8]) -> Vec<u8> {
    let mut k = kv_prefix(ns);
    k.extend_from_slice(key);
    k
}

/// The key of a deferred write's record.
pub fn deferred_key(seq: u64, offset: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(DEFERRED);
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

/// Prefix of every deferred record, and the key just past them.
pub fn deferred_range() -> (Vec<u8>, Vec<u8>) {
    (vec![DEFERRED], vec![DEFERRED + 1])
}

/// The device offset of a deferred record's key.
pub fn parse_deferred_key(k: &[u8]) -> Option<u64> {
    let rest = k.strip_prefix(&[DEFERRED])?;
    let offset: [u8; 8] = rest.get(8..16)?.try_into().ok()?;
    (rest.len() == 16).then(|| u64::from_be_bytes(offset))
}

/// A printable rendering of a key for error messages.
pub fn printable(k: &[u8]) -> String {
    k.iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn onode_keys_round_trip_and_sort_by_collection_then_name() {
        let c = CollectionId::new("1.a_s0").expect("valid");
        let k = onode_key(&c, "obj/é");
        assert_eq!(parse_onode_key(&k), Some((c.clone(), "obj/é".to_string())));
        assert!(onode_key(&c, "a") < onode_key(&c, "b"));
        assert!(k.starts_with(&onode_prefix(&c)));
        let c2 = CollectionId::new("1.a_s01").expect("valid");
        assert!(!onode_key(&c2, "x").starts_with(&onode_prefix(&c)));
    }

    #[test]
    fn deferred_keys_round_trip_and_sort_by_sequence() {
        let k = deferred_key(7, 1 << 40);
        assert_eq!(parse_deferred_key(&k), Some(1 << 40));
        assert!(deferred_key(7, 9) < deferred_key(8, 0));
        let (lo, hi) = deferred_range();
        assert!(k.as_slice() > lo.as_slice() && k.as_slice() < hi.as_slice());
        assert_eq!(parse_deferred_key(&k[..16]), None);
        assert_eq!(
            parse_deferred_key(&onode_key(&CollectionId::new("c").expect("valid"), "x")),
            None
        );
    }
}
