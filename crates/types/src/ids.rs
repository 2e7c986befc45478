//! Identifiers and units shared by every crate.
//!
//! Each id is a newtype over an unsigned integer. Their `Display` forms are the ones
//! operators see in the CLI: `osd.3`, pool `2`, PG `2.1f` (pool, then the PG seed in
//! hex, as Ceph prints it), shard `s1`, epoch `e42`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Identifier of one OSD daemon (and its disk). Stable for the OSD's whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OsdId(pub u32);

impl fmt::Display for OsdId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "osd.{}", self.0)
    }
}

/// Identifier of a pool. Never reused after the pool is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PoolId(pub u32);

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Version of the cluster map. Every change to the map increments it by one.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl Epoch {
    /// The epoch that follows this one.
    pub fn next(self) -> Epoch {
        Epoch(self.0 + 1)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// Position of a chunk within an erasure-coded object: data chunks are `0..k`, parity
/// chunks `k..k+m`. Replicated pools have no shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ShardId(pub u8);

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// A placement group: the unit of placement, peering and recovery. `seed` is in
/// `0..pg_num` of its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PgId {
    /// Pool the PG belongs to.
    pub pool: PoolId,
    /// Index of the PG within its pool, `0..pg_num`.
    pub seed: u32,
}

impl PgId {
    /// The PG with the given pool and seed.
    pub fn new(pool: PoolId, seed: u32) -> PgId {
        PgId { pool, seed }
    }
}

impl fmt::Display for PgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:x}", self.pool.0, self.seed)
    }
}

/// Error parsing a PG id written as `POOL.SEEDHEX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid PG id {text:?}: expected POOL.SEED with SEED in hex, e.g. 2.1f")]
pub struct ParsePgIdError {
    /// The text that failed to parse.
    pub text: String,
}

impl FromStr for PgId {
    type Err = ParsePgIdError;

    fn from_str(s: &str) -> Result<PgId, ParsePgIdError> {
        let err = || ParsePgIdError {
            text: s.to_string(),
        };
        let (pool, seed) = s.split_once('.').ok_or_else(err)?;
        let pool = pool.parse::<u32>().map_err(|_| err())?;
        let seed = u32::from_str_radix(seed, 16).map_err(|_| err())?;
        Ok(PgId::new(PoolId(pool), seed))
    }
}

/// Placement weight of an OSD in 16.16 fixed point: `0x10000` is 1.0 (conventionally
/// one TiB of capacity). Integer so that every machine computes identical placements.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct OsdWeight(pub u32);

impl OsdWeight {
    /// Weight 1.0.
    pub const ONE: OsdWeight = OsdWeight(0x10000);
    /// Weight 0: receives no data.
    pub const ZERO: OsdWeight = OsdWeight(0);

    /// Weight from a floating-point value (e.g. a capacity in TiB), saturating.
    pub fn from_f64(w: f64) -> OsdWeight {
        let scaled = (w * 65536.0).round();
        if scaled.is_nan() || scaled <= 0.0 {
            OsdWeight::ZERO
        } else if scaled >= u32::MAX as f64 {
            OsdWeight(u32::MAX)
        } else {
            OsdWeight(scaled as u32)
        }
    }

    /// The weight as a floating-point value, for display.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 65536.0
    }
}

impl fmt::Display for OsdWeight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.5}", self.as_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_id_round_trips_through_text() {
        let pg = PgId::new(PoolId(2), 0x1f);
        assert_eq!(pg.to_string(), "2.1f");
        assert_eq!("2.1f".parse::<PgId>(), Ok(pg));
        assert!("2".parse::<PgId>().is_err());
        assert!("x.1".parse::<PgId>().is_err());
        assert!("1.zz".parse::<PgId>().is_err());
    }

    #[test]
    fn weight_fixed_point() {
        assert_eq!(OsdWeight::from_f64(1.0), OsdWeight::ONE);
        assert_eq!(OsdWeight::from_f64(-3.0), OsdWeight::ZERO);
        assert_eq!(OsdWeight::from_f64(f64::NAN), OsdWeight::ZERO);
        assert_eq!(OsdWeight::from_f64(0.5).0, 0x8000);
        assert_eq!(OsdWeight::ONE.to_string(), "1.00000");
    }
}
