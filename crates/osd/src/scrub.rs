//! Scrub, deep scrub and repair, run by a PG's primary.
//!
//! - **Scrub** compares every member's object list, versions and sizes with the
//!   primary's: an object missing on a member, held at another version or size, or
//!   present only on a member is an inconsistency.
//! - **Deep scrub** also reads every object on every member in full — each store
//!   verifies the crc32c of every block it reads — and, for erasure-coded pools, checks
//!   that the parity chunks match the data chunks; for replicated pools that the copies
//!   are identical.
//! - **Repair** deep-scrubs, rewrites every bad copy from good ones (or removes objects
//!   only a member has), then deep-scrubs again.
//!
//! Findings are kept in the PG state (`+inconsistent`) and reported in heartbeats, so
//! health shows `PG_INCONSISTENT` until a repair or a clean scrub clears them. Objects
//! are checked one at a time under the PG's read lock, so client I/O continues.

use std::collections::BTreeMap;
use std::sync::Arc;

use cuttle_ec::{Chunk, EcError};
use cuttle_types::{OsdId, Redundancy, ShardId};
use futures::future::join_all;

use crate::error::{OsdError, OsdResult};
use crate::meta::{Version, version_of};
use crate::osd::{Osd, unix_now};
use crate::pg::{Finding, Pg, PgState, shard_collection};

impl Osd {
    /// Scrubs `pg` (deeply when `deep`); records and returns the findings.
    pub async fn scrub(&self, pg: &Arc<Pg>, deep: bool) -> OsdResult<Vec<Finding>> {
        let listing = {
            let st = pg.state.read().await;
            self.check_primary(pg, &st)?;
            self.compare_lists(pg, &st).await?
        };
        let (mut findings, objects) = listing;
        if deep {
            for (object, version) in &objects {
                let st = pg.state.read().await;
                findings.extend(self.deep_check(pg, &st, object, *version).await?);
            }
        }
        findings.sort_by(|a, b| (&a.object, a.osd).cmp(&(&b.object, b.osd)));
        findings.dedup_by(|a, b| a.object == b.object && a.osd == b.osd);
        let mut st = pg.state.write().await;
        st.inconsistencies = findings.clone();
        st.last_scrub = unix_now();
        if deep {
            st.last_deep_scrub = st.last_scrub;
        }
        pg.publish(&st);
        if !findings.is_empty() {
            tracing::warn!(pg = %pg.id, deep, inconsistent = findings.len(), "scrub found inconsistencies");
        }
        Ok(findings)
    }

    /// Deep-scrubs, repairs what it found, and deep-scrubs again; returns the number of
    /// copies rewritten or removed and the findings left.
    pub async fn repair(&self, pg: &Arc<Pg>) -> OsdResult<(usize, Vec<Finding>)> {
        let found = self.scrub(pg, true).await?;
        let mut repaired = 0usize;
        let mut by_object: BTreeMap<String, Vec<&Finding>> = BTreeMap::new();
        for f in &found {
            by_object.entry(f.object.clone()).or_default().push(f);
        }
        for (object, list) in by_object {
            let st = pg.state.read().await;
            let pos_of = |osd: OsdId| st.acting.iter().position(|m| *m == Some(osd));
            let bad: Vec<(usize, OsdId)> = list
                .iter()
                .filter(|f| f.problem != "unexpected")
                .filter_map(|f| pos_of(f.osd).map(|p| (p, f.osd)))
                .collect();
            if !bad.is_empty() {
                repaired += self.repair_object(pg, &st, &object, &bad).await?;
            }
            for f in list.iter().filter(|f| f.problem == "unexpected") {
                if let Some(p) = pos_of(f.osd) {
                    let w = crate::shard::ShardWrite {
                        object: object.clone(),
                        ops: vec![cuttle_proto::SubOp {
                            op: Some(cuttle_proto::sub_op::Op::Remove(cuttle_proto::Empty {})),
                        }],
                        no_log: true,
                        ..Default::default()
                    };
                    self.sub_write(pg.id, &st, p, f.osd, w).await?;
                    repaired += 1;
                }
            }
        }
        let left = self.scrub(pg, true).await?;
        Ok((repaired, left))
    }

    fn check_primary(&self, pg: &Pg, st: &PgState) -> OsdResult<()> {
        if st.primary != Some(self.id) || !st.is_active() {
            return Err(OsdError::NotActive(pg.id));
        }
        Ok(())
    }

    /// Compares every usable member's object list with the primary's. Returns the
    /// findings and the primary's objects with their versions.
    async fn compare_lists(
        &self,
        pg: &Pg,
        st: &PgState,
    ) -> OsdResult<(Vec<Finding>, BTreeMap<String, Version>)> {
        let members = st.usable_members();
        let queries = members.iter().map(|&(pos, osd)| async move {
            (osd, self.pg_query(pg.id, st, pos, osd, true).await)
        });
        let mut lists: BTreeMap<OsdId, BTreeMap<String, (Version, u64)>> = BTreeMap::new();
        for (osd, r) in join_all(queries).await {
            let r = r?;
            lists.insert(
                osd,
                r.objects
                    .iter()
                    .map(|o| (o.object.clone(), (version_of(o.version.as_ref()), o.size)))
                    .collect(),
            );
        }
        let mine = lists.remove(&self.id).unwrap_or_default();
        let mut findings = Vec::new();
        for (osd, theirs) in &lists {
            for (object, (v, size)) in &mine {
                let problem = match theirs.get(object) {
                    None => Some("missing"),
                    Some((tv, _)) if tv != v => Some("stale_version"),
                    Some((_, ts)) if ts != size => Some("size_mismatch"),
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    findings.push(Finding {
                        object: object.clone(),
                        osd: *osd,
                        problem,
                    });
                }
            }
            for object in theirs.keys().filter(|o| !mine.contains_key(*o)) {
                findings.push(Finding {
                    object: object.clone(),
                    osd: *osd,
                    problem: "unexpected",
                });
            }
        }
        Ok((
            findings,
            mine.into_iter().map(|(o, (v, _))| (o, v)).collect(),
        ))
    }

    /// Reads one object in full on every usable member and checks it.
    async fn deep_check(
        &self,
        pg: &Pg,
        st: &PgState,
        object: &str,
        version: Version,
    ) -> OsdResult<Vec<Finding>> {
        let members = st.usable_members();
        let reads = members.iter().map(|&(pos, osd)| async move {
            (
                pos,
                osd,
                self.sub_read(pg.id, st, pos, osd, object, 0, 0, None).await,
            )
        });
        let mut findings = Vec::new();
        let mut good: Vec<(usize, OsdId, bytes::Bytes)> = Vec::new();
        for (pos, osd, r) in join_all(reads).await {
            match r {
                Ok(s) if s.version == version => good.push((pos, osd, s.data)),
                Ok(_) => findings.push(Finding {
                    object: object.to_string(),
                    osd,
                    problem: "stale_version",
                }),
                Err(OsdError::NoSuchObject(_)) => findings.push(Finding {
                    object: object.to_string(),
                    osd,
                    problem: "missing",
                }),
                Err(
                    OsdError::Unrecoverable { .. }
                    | OsdError::Store(cuttle_objectstore::StoreError::Checksum { .. }),
                ) => findings.push(Finding {
                    object: object.to_string(),
                    osd,
                    problem: "checksum",
                }),
                Err(e) => return Err(e),
            }
        }
        match &st.pool.redundancy {
            Redundancy::Erasure(profile) if good.len() == st.acting.len() => {
                let codec = self.codec(profile)?;
                let coll = st.my_pos.map(|p| shard_collection(pg.id, st, p));
                let size = match &coll {
                    Some(c) => self.shards.object_meta(c, object).await?.1,
                    None => return Ok(findings),
                };
                let layout = codec.layout(size)?;
                let chunks: Vec<Chunk> = good
                    .iter()
                    .map(|(p, _, d)| Chunk::new(ShardId(*p as u8), d.clone()))
                    .collect();
                if let Err(EcError::ParityMismatch { shard, .. }) =
                    codec.verify_parity(&layout, &chunks)
                    && let Some((_, osd, _)) = good.iter().find(|(p, _, _)| *p == shard.0 as usize)
                {
                    findings.push(Finding {
                        object: object.to_string(),
                        osd: *osd,
                        problem: "parity_mismatch",
                    });
                }
            }
            Redundancy::Replicated { .. } => {
                let reference = good
                    .iter()
                    .find(|(_, o, _)| *o == self.id)
                    .or(good.first())
                    .map(|(_, _, d)| crc32c::crc32c(d));
                for (_, osd, d) in &good {
                    if Some(crc32c::crc32c(d)) != reference {
                        findings.push(Finding {
                            object: object.to_string(),
                            osd: *osd,
                            problem: "data_mismatch",
                        });
                    }
                }
            }
            Redundancy::Erasure(_) => {}
        }
        Ok(findings)
    }
}
