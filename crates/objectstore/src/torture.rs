//! A deterministic torture workload for crash testing.
//!
//! Objects come in pairs `(2p, 2p+1)` that are always changed together in one
//! transaction. Version `v` of a pair applies, to each object, one step computed from
//! `(seed, object, v)` and the object's current length: a full rewrite, a partial
//! overwrite at an unaligned offset, a truncate, or a tiny write; and records `v` in
//! the object's xattr `v`, its omap key `v` and the key/value space. So after a crash a
//! checker can recompute exactly what every object must hold at the version it finds,
//! and prove both objects of a pair moved together (atomicity) and that nothing is
//! torn. Used by `cuttle-store-tool torture` and the crash test.

use bytes::Bytes;

use crate::ids::CollectionId;
use crate::txn::Transaction;

/// Collection the workload uses.
pub const COLLECTION: &str = "torture";
/// Key/value namespace the workload uses.
pub const KV_NS: &str = "torture";
/// Largest object the workload creates.
const MAX_LEN: u64 = 320 * 1024;

/// One change to one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Replace the whole content.
    WriteFull(Vec<u8>),
    /// Overwrite at an offset (possibly growing the object).
    Write(u64, Vec<u8>),
    /// Cut or zero-extend.
    Truncate(u64),
}

/// SplitMix64: a tiny, well-mixed deterministic generator.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn bytes(seed: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len as usize);
    let mut s = seed;
    while (out.len() as u64) < len {
        s = mix(s);
        out.extend_from_slice(&s.to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// The step of `obj` at version `v`, given its current length.
pub fn step(seed: u64, obj: u32, v: u64, cur_len: u64) -> Step {
    let r = mix(seed ^ mix((obj as u64) << 32 ^ v));
    let a = mix(r);
    let b = mix(a);
    match r % 8 {
        0 | 1 => Step::WriteFull(bytes(b, a % MAX_LEN)),
        2..=4 => {
            let off = a % (cur_len + 8192);
            let len = 1 + b % (64 * 1024);
            let len = len.min(MAX_LEN.saturating_sub(off)).max(1);
            Step::Write(off, bytes(mix(b), len))
        }
        5 => Step::Truncate(a % (cur_len + 16 * 1024).min(MAX_LEN)),
        _ => Step::Write(a % (cur_len + 1), bytes(b, 1 + b % 7)),
    }
}

/// Applies a step to an in-memory copy of the object.
pub fn apply(content: &mut Vec<u8>, step: &Step) {
    match step {
        Step::WriteFull(d) => *content = d.clone(),
        Step::Write(off, d) => {
            let end = *off as usize + d.len();
            if content.len() < end {
                content.resize(end, 0);
            }
            content[*off as usize..end].copy_from_slice(d);
        }
        Step::Truncate(n) => content.resize(*n as usize, 0),
    }
}

/// Name of object `obj`.
pub fn object_name(obj: u32) -> String {
    format!("obj{obj:04}")
}

/// The workload's collection.
pub fn collection() -> CollectionId {
    // A fixed, valid name.
    CollectionId::new(COLLECTION).unwrap_or_else(|_| unreachable!("valid collection name"))
}

/// The transaction that moves pair `pair` to version `v`, given each object's current
/// length.
pub fn pair_transaction(seed: u64, pair: u32, v: u64, lens: [u64; 2]) -> Transaction {
    let c = collection();
    let mut t = Transaction::new();
    for (i, obj) in [2 * pair, 2 * pair + 1].into_iter().enumerate() {
        let name = object_name(obj);
        match step(seed, obj, v, lens[i]) {
            Step::WriteFull(d) => t.write_full(&c, &name, Bytes::from(d)),
            Step::Write(off, d) => t.write(&c, &name, off, Bytes::from(d)),
            Step::Truncate(n) => t.truncate(&c, &name, n),
        };
        let tag = Bytes::copy_from_slice(&v.to_le_bytes());
        t.set_attr(&c, &name, "v", tag.clone());
        t.omap_set(&c, &name, vec![(Bytes::from_static(b"v"), tag.clone())]);
        t.kv_set(KV_NS, Bytes::from(name.into_bytes()), tag);
    }
    t
}

/// Decodes a version tag written by [`pair_transaction`].
pub fn decode_version(tag: &[u8]) -> Option<u64> {
    let a: [u8; 8] = tag.try_into().ok()?;
    Some(u64::from_le_bytes(a))
}
