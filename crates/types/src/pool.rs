//! Pools: a named set of placement groups with one redundancy scheme.
//!
//! A pool is either **replicated** (`size` full copies) or **erasure-coded** (`k` data
//! chunks plus `m` parity chunks, described by an [`EcProfile`]). Its members are spread
//! over distinct failure domains (hosts by default).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::PoolId;

/// Longest accepted pool name, in bytes.
pub const MAX_POOL_NAME_LEN: usize = 64;
/// Largest accepted `pg_num` for one pool.
pub const MAX_PG_NUM: u32 = 65536;
/// Largest total number of chunks (`k + m`) or replicas in one pool.
pub const MAX_POOL_WIDTH: u32 = 32;

/// The unit over which a pool's members must be distinct.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureDomain {
    /// No two members of a PG on the same host (the default).
    Host,
    /// No two members on the same OSD; for single-host test clusters.
    Osd,
}

impl fmt::Display for FailureDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureDomain::Host => "host",
            FailureDomain::Osd => "osd",
        })
    }
}

impl std::str::FromStr for FailureDomain {
    type Err = PoolError;

    fn from_str(s: &str) -> Result<Self, PoolError> {
        match s {
            "host" => Ok(FailureDomain::Host),
            "osd" => Ok(FailureDomain::Osd),
            other => Err(PoolError::UnknownFailureDomain(other.to_string())),
        }
    }
}

/// The erasure-code implementation that produced a pool's chunks. Recorded in the pool
/// so that stored chunks stay decodable when other codecs are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EcCodec {
    /// Reed–Solomon over GF(2^8) with a Vandermonde-derived systematic matrix, as
    /// implemented by the `reed-solomon-erasure` crate (galois_8). The first codec;
    /// pools created with it keep it.
    ReedSolomonVandermonde,
    /// Reed–Solomon over the same field with a normalized Cauchy matrix: the first parity
    /// chunk is the XOR of the data chunks (RAID-5's parity, so a 2+1 pool's parity costs
    /// a XOR and its crcs follow from the data's), the others are MDS as before. The
    /// default for new pools.
    ReedSolomonCauchy,
}

impl EcCodec {
    /// The codec new pools get when none is named.
    pub const DEFAULT: EcCodec = EcCodec::ReedSolomonCauchy;
}

impl fmt::Display for EcCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EcCodec::ReedSolomonVandermonde => "rs_vandermonde",
            EcCodec::ReedSolomonCauchy => "rs_cauchy",
        })
    }
}

/// An erasure-code profile: how an object is cut into `k` data chunks and `m` parity
/// chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EcProfile {
    /// Number of data chunks.
    pub k: u8,
    /// Number of parity chunks: any `m` chunks may be lost.
    pub m: u8,
    /// Bytes of an object that go to one data chunk before moving to the next; a
    /// stripe is `k * stripe_unit` bytes. A multiple of 4096.
    pub stripe_unit: u32,
    /// The codec that computes parity.
    pub codec: EcCodec,
}

impl EcProfile {
    /// Default stripe unit: 4 MiB per data chunk per stripe. A stripe (`k` units) then
    /// holds a whole 4 MiB object (the gateway's tail piece) for every `k`, so each data
    /// chunk is one contiguous slice of the object and encoding copies nothing; smaller
    /// objects use a shortened stripe, so they are not padded to it (see `cuttle-ec`).
    pub const DEFAULT_STRIPE_UNIT: u32 = 4 * 1024 * 1024;

    /// A profile with the default stripe unit and codec ([`EcCodec::DEFAULT`]).
    pub fn new(k: u8, m: u8) -> EcProfile {
        EcProfile {
            k,
            m,
            stripe_unit: Self::DEFAULT_STRIPE_UNIT,
            codec: EcCodec::DEFAULT,
        }
    }

    /// Total number of chunks, `k + m`.
    pub fn width(&self) -> u32 {
        self.k as u32 + self.m as u32
    }

    /// Checks the profile's invariants.
    pub fn validate(&self) -> Result<(), PoolError> {
        if self.k == 0 || self.m == 0 {
            return Err(PoolError::InvalidEcProfile {
                k: self.k,
                m: self.m,
                reason: "k and m must both be at least 1",
            });
        }
        if self.width() > MAX_POOL_WIDTH {
            return Err(PoolError::InvalidEcProfile {
                k: self.k,
                m: self.m,
                reason: "k + m must be at most 32",
            });
        }
        if self.stripe_unit == 0 || !self.stripe_unit.is_multiple_of(4096) {
            return Err(PoolError::InvalidEcProfile {
                k: self.k,
                m: self.m,
                reason: "stripe_unit must be a positive multiple of 4096",
            });
        }
        Ok(())
    }
}

impl fmt::Display for EcProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{} ({}, stripe unit {})",
            self.k, self.m, self.codec, self.stripe_unit
        )
    }
}

/// How a pool keeps its data redundant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Redundancy {
    /// `size` full copies on distinct failure domains.
    Replicated {
        /// Number of copies.
        size: u32,
    },
    /// Erasure-coded chunks, one per failure domain.
    Erasure(EcProfile),
}

impl Redundancy {
    /// Number of OSDs a PG of this pool wants: `size` or `k + m`.
    pub fn width(&self) -> u32 {
        match self {
            Redundancy::Replicated { size } => *size,
            Redundancy::Erasure(p) => p.width(),
        }
    }

    /// The default `min_size`: `size - size/2` for replicated pools (2 of 3), `k + 1`
    /// for erasure-coded ones (capped at `k + m`), as Ceph does.
    pub fn default_min_size(&self) -> u32 {
        match self {
            Redundancy::Replicated { size } => size - size / 2,
            Redundancy::Erasure(p) => (p.k as u32 + 1).min(p.width()),
        }
    }

    /// The smallest `min_size` that can still serve reads: 1 copy or `k` chunks.
    pub fn min_readable(&self) -> u32 {
        match self {
            Redundancy::Replicated { .. } => 1,
            Redundancy::Erasure(p) => p.k as u32,
        }
    }
}

/// A pool as recorded in the cluster map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Pool id, unique and never reused.
    pub id: PoolId,
    /// Pool name, unique in the cluster (see [`validate_pool_name`]).
    pub name: String,
    /// Replication or erasure coding.
    pub redundancy: Redundancy,
    /// Number of placement groups.
    pub pg_num: u32,
    /// Distinctness constraint on a PG's members.
    pub failure_domain: FailureDomain,
    /// Members that must have made a write durable before it is acknowledged when the
    /// PG is degraded; also the fewest members with which the PG accepts writes.
    pub min_size: u32,
}

impl Pool {
    /// Checks every invariant of the pool definition.
    pub fn validate(&self) -> Result<(), PoolError> {
        validate_pool_name(&self.name)?;
        if self.pg_num == 0 || self.pg_num > MAX_PG_NUM {
            return Err(PoolError::InvalidPgNum(self.pg_num));
        }
        match &self.redundancy {
            Redundancy::Replicated { size } => {
                if *size == 0 || *size > MAX_POOL_WIDTH {
                    return Err(PoolError::InvalidSize(*size));
                }
            }
            Redundancy::Erasure(p) => p.validate()?,
        }
        let width = self.redundancy.width();
        let floor = self.redundancy.min_readable();
        if self.min_size < floor || self.min_size > width {
            return Err(PoolError::InvalidMinSize {
                min_size: self.min_size,
                low: floor,
                high: width,
            });
        }
        Ok(())
    }
}

/// Checks a pool name: 1 to 64 bytes of `a-z A-Z 0-9 . _ -`, not starting with `-`.
pub fn validate_pool_name(name: &str) -> Result<(), PoolError> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if name.is_empty() || name.len() > MAX_POOL_NAME_LEN || !ok_chars || name.starts_with('-') {
        return Err(PoolError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Why a pool definition is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The name breaks the naming rule.
    #[error(
        "invalid pool name {0:?}: use 1 to 64 characters from a-z, A-Z, 0-9, '.', '_', '-', not starting with '-'"
    )]
    InvalidName(String),
    /// `pg_num` is 0 or too large.
    #[error("invalid pg_num {0}: must be between 1 and 65536")]
    InvalidPgNum(u32),
    /// Replicated `size` is 0 or too large.
    #[error("invalid replica count {0}: must be between 1 and 32")]
    InvalidSize(u32),
    /// The erasure-code profile is unusable.
    #[error("invalid erasure-code profile {k}+{m}: {reason}")]
    InvalidEcProfile {
        /// Data chunks.
        k: u8,
        /// Parity chunks.
        m: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// `min_size` outside the allowed range.
    #[error("invalid min_size {min_size}: must be between {low} and {high}")]
    InvalidMinSize {
        /// Requested min_size.
        min_size: u32,
        /// Lowest allowed value.
        low: u32,
        /// Highest allowed value.
        high: u32,
    },
    /// Unknown failure-domain name.
    #[error("unknown failure domain {0:?}: expected host or osd")]
    UnknownFailureDomain(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(redundancy: Redundancy) -> Pool {
        Pool {
            id: PoolId(1),
            name: "ec".into(),
            redundancy,
            pg_num: 32,
            failure_domain: FailureDomain::Host,
            min_size: redundancy.default_min_size(),
        }
    }

    #[test]
    fn default_min_sizes_follow_ceph() {
        assert_eq!(Redundancy::Replicated { size: 3 }.default_min_size(), 2);
        assert_eq!(Redundancy::Replicated { size: 1 }.default_min_size(), 1);
        assert_eq!(
            Redundancy::Erasure(EcProfile::new(2, 1)).default_min_size(),
            3
        );
        assert_eq!(
            Redundancy::Erasure(EcProfile::new(4, 2)).default_min_size(),
            5
        );
    }

    #[test]
    fn validation_rejects_bad_pools() {
        assert!(
            pool(Redundancy::Erasure(EcProfile::new(2, 1)))
                .validate()
                .is_ok()
        );
        assert!(pool(Redundancy::Replicated { size: 3 }).validate().is_ok());
        assert_eq!(
            pool(Redundancy::Replicated { size: 0 }).validate(),
            Err(PoolError::InvalidSize(0))
        );
        assert!(matches!(
            pool(Redundancy::Erasure(EcProfile::new(0, 1))).validate(),
            Err(PoolError::InvalidEcProfile { .. })
        ));
        let mut p = pool(Redundancy::Replicated { size: 3 });
        p.pg_num = 0;
        assert_eq!(p.validate(), Err(PoolError::InvalidPgNum(0)));
        let mut p = pool(Redundancy::Erasure(EcProfile::new(2, 1)));
        p.min_size = 1;
        assert!(matches!(
            p.validate(),
            Err(PoolError::InvalidMinSize { .. })
        ));
    }

    #[test]
    fn pool_names() {
        for good in ["ec", "rep", ".rgw.meta", "a_b-c.9"] {
            assert!(validate_pool_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "pool/1", &"x".repeat(65)] {
            assert!(validate_pool_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_shape_is_stable() {
        let r = Redundancy::Erasure(EcProfile::new(2, 1));
        let json = serde_json::to_string(&r).expect("serialise");
        assert_eq!(
            json,
            r#"{"erasure":{"k":2,"m":1,"stripe_unit":4194304,"codec":"reed_solomon_cauchy"}}"#
        );
        // Pools recorded with the first codec keep it.
        let old: Redundancy = serde_json::from_str(
            r#"{"erasure":{"k":2,"m":1,"stripe_unit":4194304,"codec":"reed_solomon_vandermonde"}}"#,
        )
        .expect("parse");
        assert_eq!(
            old,
            Redundancy::Erasure(EcProfile {
                codec: EcCodec::ReedSolomonVandermonde,
                ..EcProfile::new(2, 1)
            })
        );
    }
}
