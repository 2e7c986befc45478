//! Object → PG: the object hash and Ceph's `stable_mod`.
//!
//! An object's PG seed is `stable_mod(object_hash(pool, name), pg_num, pg_num_mask)`.
//! `stable_mod` folds hashes above `pg_num` onto the lower half of the mask, so when
//! `pg_num` grows from `n` to `n + 1`, only objects of one PG (seed
//! `n & (mask >> 1)`, the *parent* of the new PG `n`) move, and only into PG `n`.
//! With a power-of-two `pg_num` every PG receives the same share of hashes; otherwise
//! the folded PGs receive twice the share of the others (as in Ceph), so pools should
//! use powers of two.

use cuttle_types::{PgId, Pool, PoolId};

use crate::hash::{SEED_PG_INPUT, hash_bytes, hash_words};

/// The 32-bit hash of object `name` in `pool`: Jenkins' lookup2 hash of the name
/// bytes, seeded with the pool id (see [`crate::hash`]).
///
/// For pool 0 this equals Ceph's `ceph_str_hash_rjenkins(name)`.
pub fn object_hash(pool: PoolId, name: &[u8]) -> u32 {
    hash_bytes(name, pool.0)
}

/// The smallest all-ones mask covering `0..pg_num`: `2^ceil(log2(pg_num)) - 1`
/// (0 for `pg_num <= 1`).
pub fn pg_num_mask(pg_num: u32) -> u32 {
    if pg_num <= 1 {
        0
    } else {
        u32::MAX >> (pg_num - 1).leading_zeros()
    }
}

/// Ceph's stable modulo: `x` reduced into `0..b` with `bmask = pg_num_mask(b)`.
///
/// `x & bmask` if that is below `b`, else `x & (bmask >> 1)`. Returns 0 when `b` is 0.
pub fn stable_mod(x: u32, b: u32, bmask: u32) -> u32 {
    if x & bmask < b {
        x & bmask
    } else {
        x & (bmask >> 1)
    }
}

/// The PG of object `name` in `pool`.
pub fn object_to_pg(pool: &Pool, name: &[u8]) -> PgId {
    let hash = object_hash(pool.id, name);
    PgId::new(
        pool.id,
        stable_mod(hash, pool.pg_num, pg_num_mask(pool.pg_num)),
    )
}

/// The placement input of a PG: the hash every straw2 draw for it starts from.
///
/// It mixes the pool id in, so PG `n` of different pools lands on unrelated OSDs.
pub fn pg_input(pg: PgId) -> u32 {
    hash_words(&[pg.seed, pg.pool.0], SEED_PG_INPUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        let cases = [
            (0, 0),
            (1, 0),
            (2, 1),
            (3, 3),
            (4, 3),
            (5, 7),
            (8, 7),
            (9, 15),
        ];
        for (n, mask) in cases {
            assert_eq!(pg_num_mask(n), mask, "pg_num {n}");
        }
        assert_eq!(pg_num_mask(65536), 65535);
        assert_eq!(pg_num_mask(u32::MAX), u32::MAX);
    }

    #[test]
    fn stable_mod_stays_in_range() {
        for b in 1..300u32 {
            let mask = pg_num_mask(b);
            for x in (0..5000u32).map(|i| i.wrapping_mul(0x9e37_79b9)) {
                assert!(stable_mod(x, b, mask) < b);
            }
        }
        assert_eq!(stable_mod(12345, 0, pg_num_mask(0)), 0);
    }

    #[test]
    fn power_of_two_is_plain_mask() {
        for x in [0u32, 1, 77, 0xffff_ffff, 0x1234_5678] {
            assert_eq!(stable_mod(x, 64, 63), x & 63);
        }
    }

    /// Ceph prints `test-object-1` in a pool with `pg_num` 128 as PG `.62`.
    #[test]
    fn ceph_example_pg() {
        let hash = object_hash(PoolId(0), b"test-object-1");
        assert_eq!(stable_mod(hash, 128, pg_num_mask(128)), 0x62);
    }

    #[test]
    fn golden_pg_inputs() {
        let cases = [
            (PgId::new(PoolId(1), 0), 0x9643_e623u32),
            (PgId::new(PoolId(1), 1), 0x608a_1237),
            (PgId::new(PoolId(2), 0), 0xccb4_6bfc),
            (PgId::new(PoolId(7), 0x1f), 0x714f_ad48),
        ];
        for (pg, want) in cases {
            assert_eq!(pg_input(pg), want, "pg_input({pg})");
        }
    }
}
