//! Conversions between wire messages and `cuttle-types`. Decoding checks every field
//! (ids, uuids, enums) and fails with a [`ProtoError`] naming it; it never panics.

use cuttle_types as t;
use uuid::Uuid;

use crate::generated as pb;

/// A wire message that does not describe a valid value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// A required field is absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// A uuid field does not parse.
    #[error("field {field} is not a uuid: {value:?}")]
    BadUuid {
        /// Field name.
        field: &'static str,
        /// Received text.
        value: String,
    },
    /// A field has a value outside its range or vocabulary.
    #[error("field {field} has an invalid value: {value}")]
    BadValue {
        /// Field name.
        field: &'static str,
        /// Received value, rendered.
        value: String,
    },
}

fn uuid(field: &'static str, s: &str) -> Result<Uuid, ProtoError> {
    Uuid::parse_str(s).map_err(|_| ProtoError::BadUuid {
        field,
        value: s.to_string(),
    })
}

fn small(field: &'static str, v: u32) -> Result<u8, ProtoError> {
    u8::try_from(v).map_err(|_| ProtoError::BadValue {
        field,
        value: v.to_string(),
    })
}

impl From<&t::OsdInfo> for pb::OsdInfo {
    fn from(o: &t::OsdInfo) -> Self {
        pb::OsdInfo {
            id: o.id.0,
            uuid: o.uuid.to_string(),
            host: o.host.clone(),
            addr: o.addr.clone(),
            weight: o.weight.0,
            up: o.up,
            r#in: o.in_cluster,
            down_since: o.down_since.unwrap_or(0),
        }
    }
}

impl TryFrom<&pb::OsdInfo> for t::OsdInfo {
    type Error = ProtoError;

    fn try_from(o: &pb::OsdInfo) -> Result<Self, ProtoError> {
        Ok(t::OsdInfo {
            id: t::OsdId(o.id),
            uuid: uuid("osd.uuid", &o.uuid)?,
            host: o.host.clone(),
            addr: o.addr.clone(),
            weight: t::OsdWeight(o.weight),
            up: o.up,
            in_cluster: o.r#in,
            down_since: (o.down_since != 0).then_some(o.down_since),
        })
    }
}

impl From<&t::EcProfile> for pb::EcProfile {
    fn from(p: &t::EcProfile) -> Self {
        pb::EcProfile {
            k: p.k as u32,
            m: p.m as u32,
            stripe_unit: p.stripe_unit,
            codec: p.codec.to_string(),
        }
    }
}

impl TryFrom<&pb::EcProfile> for t::EcProfile {
    type Error = ProtoError;

    fn try_from(p: &pb::EcProfile) -> Result<Self, ProtoError> {
        let codec = match p.codec.as_str() {
            // Empty: a create request leaving the choice to the monitor.
            "" => t::EcCodec::DEFAULT,
            "rs_vandermonde" | "reed_solomon_vandermonde" => t::EcCodec::ReedSolomonVandermonde,
            "rs_cauchy" | "reed_solomon_cauchy" => t::EcCodec::ReedSolomonCauchy,
            other => {
                return Err(ProtoError::BadValue {
                    field: "ec.codec",
                    value: other.to_string(),
                });
            }
        };
        Ok(t::EcProfile {
            k: small("ec.k", p.k)?,
            m: small("ec.m", p.m)?,
            stripe_unit: if p.stripe_unit == 0 {
                t::EcProfile::DEFAULT_STRIPE_UNIT
            } else {
                p.stripe_unit
            },
            codec,
        })
    }
}

impl From<&t::Redundancy> for pb::pool::Redundancy {
    fn from(r: &t::Redundancy) -> Self {
        match r {
            t::Redundancy::Replicated { size } => pb::pool::Redundancy::ReplicatedSize(*size),
            t::Redundancy::Erasure(p) => pb::pool::Redundancy::Erasure(p.into()),
        }
    }
}

fn redundancy_from(r: Option<&pb::pool::Redundancy>) -> Result<t::Redundancy, ProtoError> {
    match r {
        Some(pb::pool::Redundancy::ReplicatedSize(size)) => {
            Ok(t::Redundancy::Replicated { size: *size })
        }
        Some(pb::pool::Redundancy::Erasure(p)) => Ok(t::Redundancy::Erasure(p.try_into()?)),
        None => Err(ProtoError::Missing("pool.redundancy")),
    }
}

/// Parses a failure-domain name; empty means the default (`host`).
pub fn failure_domain(s: &str) -> Result<t::FailureDomain, ProtoError> {
    if s.is_empty() {
        return Ok(t::FailureDomain::Host);
    }
    s.parse().map_err(|_| ProtoError::BadValue {
        field: "failure_domain",
        value: s.to_string(),
    })
}

impl From<&t::Pool> for pb::Pool {
    fn from(p: &t::Pool) -> Self {
        pb::Pool {
            id: p.id.0,
            name: p.name.clone(),
            redundancy: Some((&p.redundancy).into()),
            pg_num: p.pg_num,
            failure_domain: p.failure_domain.to_string(),
            min_size: p.min_size,
        }
    }
}

impl TryFrom<&pb::Pool> for t::Pool {
    type Error = ProtoError;

    fn try_from(p: &pb::Pool) -> Result<Self, ProtoError> {
        Ok(t::Pool {
            id: t::PoolId(p.id),
            name: p.name.clone(),
            redundancy: redundancy_from(p.redundancy.as_ref())?,
            pg_num: p.pg_num,
            failure_domain: failure_domain(&p.failure_domain)?,
            min_size: p.min_size,
        })
    }
}

impl From<&t::ClusterMap> for pb::ClusterMap {
    fn from(m: &t::ClusterMap) -> Self {
        pb::ClusterMap {
            fsid: m.fsid.to_string(),
            epoch: m.epoch.0,
            osds: m.osds.values().map(Into::into).collect(),
            pools: m.pools.values().map(Into::into).collect(),
        }
    }
}

impl TryFrom<&pb::ClusterMap> for t::ClusterMap {
    type Error = ProtoError;

    fn try_from(m: &pb::ClusterMap) -> Result<Self, ProtoError> {
        let mut map = t::ClusterMap::new(uuid("map.fsid", &m.fsid)?);
        map.epoch = t::Epoch(m.epoch);
        for o in &m.osds {
            let o = t::OsdInfo::try_from(o)?;
            map.osds.insert(o.id, o);
        }
        for p in &m.pools {
            let p = t::Pool::try_from(p)?;
            map.pools.insert(p.id, p);
        }
        Ok(map)
    }
}

impl From<&t::MapIncremental> for pb::MapIncremental {
    fn from(i: &t::MapIncremental) -> Self {
        pb::MapIncremental {
            epoch: i.epoch.0,
            osds_upserted: i.osds_upserted.iter().map(Into::into).collect(),
            osds_removed: i.osds_removed.iter().map(|id| id.0).collect(),
            pools_upserted: i.pools_upserted.iter().map(Into::into).collect(),
            pools_removed: i.pools_removed.iter().map(|id| id.0).collect(),
        }
    }
}

impl TryFrom<&pb::MapIncremental> for t::MapIncremental {
    type Error = ProtoError;

    fn try_from(i: &pb::MapIncremental) -> Result<Self, ProtoError> {
        Ok(t::MapIncremental {
            epoch: t::Epoch(i.epoch),
            osds_upserted: i
                .osds_upserted
                .iter()
                .map(t::OsdInfo::try_from)
                .collect::<Result<_, _>>()?,
            osds_removed: i.osds_removed.iter().map(|&id| t::OsdId(id)).collect(),
            pools_upserted: i
                .pools_upserted
                .iter()
                .map(t::Pool::try_from)
                .collect::<Result<_, _>>()?,
            pools_removed: i.pools_removed.iter().map(|&id| t::PoolId(id)).collect(),
        })
    }
}

/// The redundancy of a pool-creation request.
pub fn create_pool_redundancy(
    r: Option<&pb::create_pool_request::Redundancy>,
) -> Result<t::Redundancy, ProtoError> {
    match r {
        Some(pb::create_pool_request::Redundancy::ReplicatedSize(size)) => {
            Ok(t::Redundancy::Replicated { size: *size })
        }
        Some(pb::create_pool_request::Redundancy::Erasure(p)) => {
            Ok(t::Redundancy::Erasure(p.try_into()?))
        }
        None => Err(ProtoError::Missing("redundancy")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trips_and_bad_fields_are_named() {
        let mut m = t::ClusterMap::new(Uuid::from_u128(7));
        m.epoch = t::Epoch(9);
        m.osds.insert(
            t::OsdId(2),
            t::OsdInfo {
                id: t::OsdId(2),
                uuid: Uuid::from_u128(3),
                host: "h1".into(),
                addr: "127.0.0.1:1".into(),
                weight: t::OsdWeight::ONE,
                up: false,
                in_cluster: true,
                down_since: Some(1234),
            },
        );
        m.pools.insert(
            t::PoolId(1),
            t::Pool {
                id: t::PoolId(1),
                name: "ec".into(),
                redundancy: t::Redundancy::Erasure(t::EcProfile::new(2, 1)),
                pg_num: 32,
                failure_domain: t::FailureDomain::Osd,
                min_size: 3,
            },
        );
        let wire = pb::ClusterMap::from(&m);
        assert_eq!(t::ClusterMap::try_from(&wire), Ok(m));
        let mut bad = wire.clone();
        bad.osds[0].uuid = "nope".into();
        assert!(matches!(
            t::ClusterMap::try_from(&bad),
            Err(ProtoError::BadUuid {
                field: "osd.uuid",
                ..
            })
        ));
        let mut bad = wire;
        bad.pools[0].redundancy = None;
        assert_eq!(
            t::ClusterMap::try_from(&bad),
            Err(ProtoError::Missing("pool.redundancy"))
        );
    }
}
