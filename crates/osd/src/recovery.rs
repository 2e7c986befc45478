//! Peering and recovery, run by a PG's primary.
//!
//! Peering, for each new interval (members or their up state changed) and whenever a
//! member failed an operation:
//! 1. query every up member for its PG info and log;
//! 2. take the member with the newest `last_update` as authoritative (the primary on a
//!    tie) — its log says what happened;
//! 3. for every member behind it: if its `last_update` is still covered by the
//!    authoritative log, the objects to fix are those the log changed since (latest
//!    change per object, deletes included); otherwise backfill: compare full object
//!    lists with versions;
//! 4. recover those objects on the member — copy from an up-to-date replica, or for
//!    erasure-coded pools rebuild the member's chunk from `k` chunks of the newest
//!    version that at least `k` members hold (a write that reached fewer than `k`
//!    members could never have been acknowledged, so it is rolled back) — then give
//!    the member the log and the new `last_update`;
//! 5. activate: client operations, which waited, proceed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cuttle_ec::Chunk;
use cuttle_proto as pb;
use cuttle_types::{OsdId, Redundancy, ShardId};
use futures::future::join_all;

use crate::error::{OsdError, OsdResult};
use crate::members::{log_only, write_full};
use crate::meta::{LogEntry, Version, version_of};
use crate::osd::Osd;
use crate::pg::{Pg, PgState, PgStatus, shard_collection};
use crate::shard::ShardWrite;

/// What a member must end up with for one object: a version, or deleted.
type Target = Option<Version>;

impl Osd {
    /// Starts peering `pg` in the background.
    pub fn spawn_peering(self: &Arc<Self>, pg: Arc<Pg>) {
        let osd = self.clone();
        self.tasks.spawn(async move {
            if let Err(e) = osd.peer(&pg).await {
                tracing::warn!(pg = %pg.id, "peering failed: {e}");
            }
        });
    }

    /// Peers `pg` if this OSD is its primary and it needs it.
    pub async fn peer(&self, pg: &Arc<Pg>) -> OsdResult<()> {
        let mut st = pg.state.write().await;
        if st.primary != Some(self.id) || (st.is_active() && st.dirty.is_empty()) {
            return Ok(());
        }
        let interval = st.interval;
        let members = st.up_members();
        let queries = members.iter().map(|&(pos, osd)| {
            let st = &*st;
            async move { (pos, osd, self.pg_query(pg.id, st, pos, osd, false).await) }
        });
        let mut infos: Vec<(usize, OsdId, pb::PgQueryReply)> = Vec::new();
        let mut unreachable = BTreeSet::new();
        for (pos, osd, r) in join_all(queries).await {
            match r {
                Ok(rep) => infos.push((pos, osd, rep)),
                Err(e) => {
                    tracing::warn!(pg = %pg.id, %osd, "pg query failed: {e}");
                    unreachable.insert(osd);
                }
            }
        }
        let need = st.pool.redundancy.min_readable() as usize;
        if infos.len() < need || !infos.iter().any(|(_, o, _)| *o == self.id) {
            st.status = PgStatus::Incomplete;
            st.dirty = unreachable;
            pg.publish(&st);
            return Err(OsdError::PgInactive {
                pg: pg.id,
                up: infos.len(),
                need,
            });
        }
        let last = |r: &pb::PgQueryReply| version_of(r.last_update.as_ref());
        let Some((auth_pos, auth_osd, auth)) = infos
            .iter()
            .max_by_key(|(_, o, r)| (last(r), *o == self.id))
            .cloned()
        else {
            return Ok(());
        };
        let auth_last = last(&auth);
        let auth_tail = version_of(auth.log_tail.as_ref());
        let auth_log: Vec<LogEntry> = auth.log.iter().map(LogEntry::from).collect();
        let mut unfound = 0usize;
        // Recover the primary itself first, then the others.
        infos.sort_by_key(|(_, o, _)| *o != self.id);
        for (pos, osd, rep) in &infos {
            let lu = last(rep);
            if lu >= auth_last && rep.exists {
                continue;
            }
            let backfill = !rep.exists || lu < auth_tail;
            let targets: BTreeMap<String, Target> = if backfill {
                let theirs = self.pg_query(pg.id, &st, *pos, *osd, true).await?;
                let ours = self.pg_query(pg.id, &st, auth_pos, auth_osd, true).await?;
                let mine: BTreeMap<&str, Version> = theirs
                    .objects
                    .iter()
                    .map(|o| (o.object.as_str(), version_of(o.version.as_ref())))
                    .collect();
                let mut t: BTreeMap<String, Target> = BTreeMap::new();
                let mut present = BTreeSet::new();
                for o in &ours.objects {
                    let v = version_of(o.version.as_ref());
                    present.insert(o.object.as_str());
                    if mine.get(o.object.as_str()) != Some(&v) {
                        t.insert(o.object.clone(), Some(v));
                    }
                }
                for name in mine.keys().filter(|n| !present.contains(*n)) {
                    t.insert(name.to_string(), None);
                }
                t
            } else {
                latest_per_object(&auth_log, lu)
            };
            tracing::info!(pg = %pg.id, %osd, objects = targets.len(), backfill, "recovering member");
            for (object, target) in &targets {
                match self
                    .recover_object(pg, &st, *pos, *osd, object, *target, &infos)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => unfound += 1,
                    Err(e) => {
                        tracing::warn!(pg = %pg.id, %osd, object, "recovery failed: {e}");
                        unreachable.insert(*osd);
                    }
                }
            }
            if unreachable.contains(osd) {
                continue;
            }
            let log: Vec<LogEntry> = auth_log
                .iter()
                .filter(|e| backfill || e.version > lu)
                .cloned()
                .collect();
            if let Err(e) = self
                .sub_write(pg.id, &st, *pos, *osd, log_only(log, auth_last))
                .await
            {
                tracing::warn!(pg = %pg.id, %osd, "updating member log failed: {e}");
                unreachable.insert(*osd);
            }
        }
        st.last_update = auth_last;
        st.dirty = unreachable;
        st.unfound = unfound;
        st.active_interval = Some(interval);
        let complete =
            st.acting.iter().all(Option::is_some) && st.usable_members().len() == st.acting.len();
        st.status = if complete && unfound == 0 {
            PgStatus::Clean
        } else {
            PgStatus::Degraded
        };
        pg.publish(&st);
        pg.activated.send_replace(Some(interval));
        tracing::debug!(pg = %pg.id, status = %st.status, last_update = %auth_last, "pg active");
        Ok(())
    }

    /// Brings `object` on the member at `pos` to `target`. Returns `false` when no
    /// intact source exists (the object is unfound).
    #[allow(clippy::too_many_arguments)]
    async fn recover_object(
        &self,
        pg: &Pg,
        st: &PgState,
        pos: usize,
        osd: OsdId,
        object: &str,
        target: Target,
        sources: &[(usize, OsdId, pb::PgQueryReply)],
    ) -> OsdResult<bool> {
        let Some(version) = target else {
            let w = ShardWrite {
                object: object.to_string(),
                ops: vec![pb::SubOp {
                    op: Some(pb::sub_op::Op::Remove(pb::Empty {})),
                }],
                no_log: true,
                ..ShardWrite::default()
            };
            self.sub_write(pg.id, st, pos, osd, w).await?;
            return Ok(true);
        };
        let others: Vec<(usize, OsdId)> = sources
            .iter()
            .map(|(p, o, _)| (*p, *o))
            .filter(|(p, _)| *p != pos)
            .collect();
        let reads = others.iter().map(|&(p, o)| async move {
            (p, self.sub_read(pg.id, st, p, o, object, 0, 0, true).await)
        });
        let states: Vec<(usize, crate::shard::ShardState)> = join_all(reads)
            .await
            .into_iter()
            .filter_map(|(p, r)| r.ok().map(|s| (p, s)))
            .collect();
        let push = |data,
                    object_size,
                    version: Version,
                    xattrs: &BTreeMap<String, bytes::Bytes>,
                    omap: &[(bytes::Bytes, bytes::Bytes)]| {
            let mut ops = vec![write_full(data)];
            for (k, v) in xattrs {
                ops.push(pb::SubOp {
                    op: Some(pb::sub_op::Op::SetXattr(pb::KeyValue {
                        key: bytes::Bytes::copy_from_slice(k.as_bytes()),
                        value: v.clone(),
                    })),
                });
            }
            if !omap.is_empty() {
                ops.push(pb::SubOp {
                    op: Some(pb::sub_op::Op::OmapSet(pb::OmapSet {
                        entries: omap
                            .iter()
                            .map(|(k, v)| pb::KeyValue {
                                key: k.clone(),
                                value: v.clone(),
                            })
                            .collect(),
                    })),
                });
            }
            ShardWrite {
                object: object.to_string(),
                version,
                object_size,
                ops,
                full_state: true,
                no_log: true,
                ..ShardWrite::default()
            }
        };
        match &st.pool.redundancy {
            Redundancy::Replicated { .. } => {
                let Some((_, src)) = states
                    .iter()
                    .filter(|(_, s)| s.version >= version)
                    .max_by_key(|(_, s)| s.version)
                else {
                    return Ok(false);
                };
                let w = push(
                    src.data.clone(),
                    src.object_size,
                    src.version,
                    &src.xattrs,
                    &src.omap,
                );
                self.sub_write(pg.id, st, pos, osd, w).await?;
                Ok(true)
            }
            Redundancy::Erasure(profile) => {
                let codec = self.codec(profile)?;
                let k = profile.k as usize;
                let mut by_version: BTreeMap<Version, Vec<&(usize, crate::shard::ShardState)>> =
                    BTreeMap::new();
                for s in &states {
                    by_version.entry(s.1.version).or_default().push(s);
                }
                // The newest version held by at least k members.
                let Some((best, holders)) = by_version.iter().rev().find(|(_, h)| h.len() >= k)
                else {
                    tracing::error!(pg = %pg.id, object, "unfound: fewer than {k} chunks of any version");
                    return Ok(false);
                };
                let size = holders[0].1.object_size;
                let layout = codec.layout(size)?;
                let chunks: Vec<Chunk> = holders
                    .iter()
                    .take(k)
                    .map(|(p, s)| Chunk::new(ShardId(*p as u8), s.data.clone()))
                    .collect();
                let rebuilt = codec.reconstruct(&layout, &chunks, &[ShardId(pos as u8)])?;
                let Some(chunk) = rebuilt.into_iter().next() else {
                    return Ok(false);
                };
                let w = push(chunk.data, size, *best, &holders[0].1.xattrs, &[]);
                self.sub_write(pg.id, st, pos, osd, w).await?;
                Ok(true)
            }
        }
    }

    /// Rewrites damaged copies of `object` on the given members, in the background.
    pub fn schedule_repair(&self, pg: Arc<Pg>, object: String, bad: Vec<(usize, OsdId)>) {
        let Some(osd) = self.me() else { return };
        self.tasks.spawn(async move {
            let st = pg.state.write().await;
            let pos = st.my_pos;
            let coll = pos.map(|p| shard_collection(pg.id, &st, p));
            let version = match &coll {
                Some(c) => osd.shards.object_meta(c, &object).await.map(|(v, _, _)| v),
                None => return,
            };
            let Ok(version) = version else { return };
            let sources: Vec<(usize, OsdId, pb::PgQueryReply)> = st
                .usable_members()
                .into_iter()
                .filter(|m| !bad.contains(m))
                .map(|(p, o)| (p, o, pb::PgQueryReply::default()))
                .collect();
            for (p, o) in bad {
                match osd
                    .recover_object(&pg, &st, p, o, &object, Some(version), &sources)
                    .await
                {
                    Ok(true) => {
                        tracing::info!(pg = %pg.id, osd = %o, object, "repaired damaged copy")
                    }
                    Ok(false) => {
                        tracing::error!(pg = %pg.id, object, "cannot repair: no intact source")
                    }
                    Err(e) => tracing::warn!(pg = %pg.id, object, "repair failed: {e}"),
                }
            }
        });
    }
}

/// Log entries by object, latest change winning (exposed for tests of the planner).
pub fn latest_per_object(log: &[LogEntry], after: Version) -> BTreeMap<String, Target> {
    let mut t = BTreeMap::new();
    for e in log.iter().filter(|e| e.version > after) {
        t.insert(e.object.clone(), (!e.delete).then_some(e.version));
    }
    t
}
