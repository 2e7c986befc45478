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
//! 4. recover the primary itself first, under the PG lock (reads are answered from its
//!    metadata), then activate: client I/O proceeds, degraded, while the other members
//!    are recovered in the background — throttled by a per-OSD limit of objects in
//!    flight and an optional bandwidth cap — each then gets the log and the new
//!    `last_update`.
//!
//! Recovering an object copies it from an up-to-date replica, or for erasure-coded
//! pools rebuilds the member's chunk from `k` chunks of the newest version that at
//! least `k` members hold: a write that reached fewer than `k` members cannot have been
//! acknowledged, so it is rolled back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cuttle_ec::Chunk;
use cuttle_proto as pb;
use cuttle_types::{OsdId, Redundancy, ShardId};
use futures::future::join_all;

use crate::error::{OsdError, OsdResult};
use crate::members::{log_only, write_full};
use crate::meta::{LogEntry, Version, version_of};
use crate::osd::Osd;
use crate::pg::{Pg, PgState, PgStatus};
use crate::shard::{OmapWindow, ShardState, ShardWrite};

/// What a member must end up with for one object: a version, or deleted.
pub type Target = Option<Version>;

/// The work of recovering one member.
#[derive(Debug, Clone)]
struct MemberPlan {
    pos: usize,
    osd: OsdId,
    /// The member's `last_update` at peering.
    from: Version,
    backfill: bool,
    targets: BTreeMap<String, Target>,
}

/// Outcome of recovering one object.
/// Omap bytes a recovery push carries at most (about: at least one entry): an object
/// with a larger omap (a big bucket index shard) is pushed in pages, so neither side
/// holds it whole and no message nears the gRPC limit.
pub const RECOVERY_OMAP_PAGE_BYTES: u64 = 8 << 20;

enum Recovered {
    /// The member now holds it (this many bytes moved).
    Done(u64),
    /// No intact source: the object is unfound.
    Unfound,
}

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
    pub async fn peer(self: &Arc<Self>, pg: &Arc<Pg>) -> OsdResult<()> {
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

        let mut plans = Vec::new();
        for (pos, osd, rep) in &infos {
            let lu = last(rep);
            if lu >= auth_last && rep.exists {
                continue;
            }
            let backfill = !rep.exists || lu < auth_tail;
            let targets = if backfill {
                let theirs = self.pg_query(pg.id, &st, *pos, *osd, true).await?;
                let ours = self.pg_query(pg.id, &st, auth_pos, auth_osd, true).await?;
                backfill_targets(&ours.objects, &theirs.objects)
            } else {
                latest_per_object(&auth_log, lu)
            };
            plans.push(MemberPlan {
                pos: *pos,
                osd: *osd,
                from: lu,
                backfill,
                targets,
            });
        }
        let sources: Vec<(usize, OsdId)> = infos.iter().map(|(p, o, _)| (*p, *o)).collect();
        let mut unfound = 0usize;
        // The primary answers reads from its own metadata: it must be whole before the
        // PG activates.
        if let Some(i) = plans.iter().position(|p| p.osd == self.id) {
            let mine = plans.remove(i);
            tracing::info!(pg = %pg.id, objects = mine.targets.len(), "recovering the primary before activation");
            for (object, target) in &mine.targets {
                match self
                    .recover_object(pg, &st, mine.pos, self.id, object, *target, &sources)
                    .await?
                {
                    Recovered::Done(_) => {}
                    Recovered::Unfound => unfound += 1,
                }
            }
            let log = entries_after(&auth_log, mine.from, mine.backfill);
            self.sub_write(pg.id, &st, mine.pos, self.id, log_only(log, auth_last))
                .await?;
        }
        st.last_update = auth_last;
        st.dirty = unreachable;
        st.unfound = unfound;
        st.status = PgStatus::Active;
        st.active_interval = Some(interval);
        st.recovering = plans.iter().map(|p| p.osd).collect();
        st.backfilling = plans.iter().any(|p| p.backfill);
        pg.progress.objects_remaining.store(
            plans.iter().map(|p| p.targets.len() as u64).sum(),
            Ordering::Relaxed,
        );
        pg.publish(&st);
        pg.activated.send_replace(Some(interval));
        tracing::debug!(pg = %pg.id, state = %st.state_string(), last_update = %auth_last, "pg active");
        drop(st);
        if !plans.is_empty() {
            let (osd, pg) = (self.clone(), pg.clone());
            self.tasks.spawn(async move {
                osd.recover_members(&pg, interval, plans, auth_log, sources)
                    .await;
            });
        }
        Ok(())
    }

    /// Recovers members in the background while the PG serves I/O.
    async fn recover_members(
        self: &Arc<Self>,
        pg: &Arc<Pg>,
        interval: u64,
        plans: Vec<MemberPlan>,
        auth_log: Vec<LogEntry>,
        sources: Vec<(usize, OsdId)>,
    ) {
        for plan in plans {
            let mut failed = false;
            let mut out_of_space = false;
            let mut unfound = 0usize;
            tracing::info!(pg = %pg.id, osd = %plan.osd, objects = plan.targets.len(), backfill = plan.backfill, "recovering member");
            for (object, target) in &plan.targets {
                let Ok(_permit) = self.recovery_slots.acquire().await else {
                    return;
                };
                let st = pg.state.read().await;
                if st.interval != interval || self.stop.is_cancelled() {
                    return;
                }
                let others: Vec<(usize, OsdId)> = sources
                    .iter()
                    .copied()
                    .filter(|(p, _)| *p != plan.pos)
                    .collect();
                let started = Instant::now();
                match self
                    .recover_object(pg, &st, plan.pos, plan.osd, object, *target, &others)
                    .await
                {
                    Ok(Recovered::Done(bytes)) => {
                        pg.progress.bytes_done.fetch_add(bytes, Ordering::Relaxed);
                        pg.progress.objects_done.fetch_add(1, Ordering::Relaxed);
                        self.metrics.recovered_bytes.inc_by(bytes);
                        self.metrics.recovered_objects.inc();
                        drop(st);
                        self.throttle(bytes, started).await;
                    }
                    Ok(Recovered::Unfound) => unfound += 1,
                    Err(e) => {
                        tracing::warn!(pg = %pg.id, osd = %plan.osd, object, "recovery failed: {e}");
                        failed = true;
                        out_of_space = e.is_no_space();
                    }
                }
                pg.progress
                    .objects_remaining
                    .fetch_sub(1, Ordering::Relaxed);
                if failed {
                    break;
                }
            }
            let mut st = pg.state.write().await;
            if st.interval != interval {
                return;
            }
            if !failed {
                let log = entries_after(&auth_log, plan.from, plan.backfill);
                let done = log_only(log, st.last_update);
                if let Err(e) = self.sub_write(pg.id, &st, plan.pos, plan.osd, done).await {
                    tracing::warn!(pg = %pg.id, osd = %plan.osd, "finishing recovery failed: {e}");
                    failed = true;
                    out_of_space = e.is_no_space();
                }
            }
            st.recovering.remove(&plan.osd);
            if failed {
                st.dirty.insert(plan.osd);
            }
            if out_of_space {
                st.full.insert(plan.osd);
            } else if !failed {
                st.full.remove(&plan.osd);
            }
            st.unfound += unfound;
            if st.recovering.is_empty() {
                st.backfilling = false;
                pg.progress.objects_remaining.store(0, Ordering::Relaxed);
            }
            pg.publish(&st);
            tracing::info!(pg = %pg.id, osd = %plan.osd, ok = !failed, state = %st.state_string(), "member recovery finished");
        }
    }

    /// Sleeps as needed to keep recovery under its bandwidth cap.
    async fn throttle(&self, bytes: u64, started: Instant) {
        let cap = self.recovery_bytes_per_sec;
        if cap == 0 {
            return;
        }
        let want = Duration::from_secs_f64(bytes as f64 / cap as f64);
        if let Some(rest) = want.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }

    /// Brings `object` on the member at `pos` to `target`, copying from `sources`.
    #[allow(clippy::too_many_arguments)]
    async fn recover_object(
        &self,
        pg: &Pg,
        st: &PgState,
        pos: usize,
        osd: OsdId,
        object: &str,
        target: Target,
        sources: &[(usize, OsdId)],
    ) -> OsdResult<Recovered> {
        let remove = || ShardWrite {
            object: object.to_string(),
            ops: vec![pb::SubOp {
                op: Some(pb::sub_op::Op::Remove(pb::Empty {})),
            }],
            no_log: true,
            ..ShardWrite::default()
        };
        if target.is_none() {
            self.sub_write(pg.id, st, pos, osd, remove()).await?;
            return Ok(Recovered::Done(0));
        }
        let others: Vec<(usize, OsdId)> =
            sources.iter().copied().filter(|(p, _)| *p != pos).collect();
        let first_page = OmapWindow {
            after: None,
            max_bytes: RECOVERY_OMAP_PAGE_BYTES,
        };
        let first_page = &first_page;
        let reads = others.iter().map(|&(p, o)| async move {
            (
                p,
                self.sub_read(pg.id, st, p, o, object, 0, 0, Some(first_page))
                    .await,
            )
        });
        let mut states: Vec<(usize, ShardState)> = Vec::new();
        let mut absent = 0usize;
        for (p, r) in join_all(reads).await {
            match r {
                Ok(s) => states.push((p, s)),
                Err(OsdError::NoSuchObject(_)) => absent += 1,
                Err(_) => {}
            }
        }
        if states.is_empty() && absent == others.len() && absent > 0 {
            // Deleted since peering: every source agrees it is gone.
            self.sub_write(pg.id, st, pos, osd, remove()).await?;
            return Ok(Recovered::Done(0));
        }
        let w = match &st.pool.redundancy {
            Redundancy::Replicated { .. } => {
                let Some((src_pos, src)) = states.iter().max_by_key(|(_, s)| s.version) else {
                    tracing::error!(pg = %pg.id, object, "unfound: no replica is readable");
                    return Ok(Recovered::Unfound);
                };
                if src.omap_more {
                    let source = others
                        .iter()
                        .copied()
                        .find(|(p, _)| p == src_pos)
                        .ok_or_else(|| OsdError::NoSuchObject(object.to_string()))?;
                    return self
                        .push_in_pages(pg, st, (pos, osd), object, source, src)
                        .await;
                }
                push(
                    object,
                    src.data.clone(),
                    src.object_size,
                    src.version,
                    &src.xattrs,
                    &src.omap,
                )
            }
            Redundancy::Erasure(profile) => {
                let codec = self.codec(profile)?;
                let k = profile.k as usize;
                let mut by_version: BTreeMap<Version, Vec<&(usize, ShardState)>> = BTreeMap::new();
                for s in &states {
                    by_version.entry(s.1.version).or_default().push(s);
                }
                // The newest version held by at least k members.
                let Some((best, holders)) = by_version.iter().rev().find(|(_, h)| h.len() >= k)
                else {
                    tracing::error!(pg = %pg.id, object, "unfound: fewer than {k} chunks of any version");
                    return Ok(Recovered::Unfound);
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
                    return Ok(Recovered::Unfound);
                };
                push(object, chunk.data, size, *best, &holders[0].1.xattrs, &[])
            }
        };
        let bytes = w
            .ops
            .iter()
            .map(|o| match &o.op {
                Some(pb::sub_op::Op::WriteFull(d)) => d.len() as u64,
                _ => 0,
            })
            .sum();
        self.sub_write(pg.id, st, pos, osd, w).await?;
        Ok(Recovered::Done(bytes))
    }

    /// Pushes a replicated object whose omap is larger than a page to the member
    /// `target` from the member `source`, `first` being the source's state with the
    /// first page. The first push replaces the member's copy but records it at version
    /// zero; the next pages add their entries; the last one records the real version.
    /// The PG's read lock, which the caller holds, keeps client writes out meanwhile;
    /// if the member already held a newer version (the first page is then dropped as
    /// stale), the later pages are dropped too, since they apply only over version
    /// zero.
    /// If recovery stops half-way, the member is left with a version-zero copy, which
    /// peering, backfill and scrub all see as out of date, so it is pushed again from
    /// the start.
    async fn push_in_pages(
        &self,
        pg: &Pg,
        st: &PgState,
        (pos, osd): (usize, OsdId),
        object: &str,
        (src_pos, src_osd): (usize, OsdId),
        first: &ShardState,
    ) -> OsdResult<Recovered> {
        let mut w = push(
            object,
            first.data.clone(),
            first.object_size,
            first.version,
            &first.xattrs,
            &first.omap,
        );
        w.incomplete = true;
        self.sub_write(pg.id, st, pos, osd, w).await?;
        let mut moved = first.data.len() as u64 + omap_bytes(&first.omap);
        let mut after = first.omap.last().map(|(k, _)| k.clone());
        loop {
            let window = OmapWindow {
                after: after.clone(),
                max_bytes: RECOVERY_OMAP_PAGE_BYTES,
            };
            // One byte of data: only the omap page is wanted.
            let page = self
                .sub_read(pg.id, st, src_pos, src_osd, object, 0, 1, Some(&window))
                .await?;
            if page.version != first.version || (page.omap.is_empty() && page.omap_more) {
                return Err(OsdError::Unrecoverable {
                    object: object.to_string(),
                    reason: format!("{src_osd}'s copy changed while it was being copied"),
                });
            }
            let last = !page.omap_more;
            moved += omap_bytes(&page.omap);
            after = page.omap.last().map(|(k, _)| k.clone());
            let w = ShardWrite {
                object: object.to_string(),
                version: first.version,
                object_size: first.object_size,
                ops: vec![omap_set(&page.omap)],
                no_log: true,
                incomplete: !last,
                continues: true,
                ..ShardWrite::default()
            };
            self.sub_write(pg.id, st, pos, osd, w).await?;
            if last {
                tracing::info!(pg = %pg.id, object, omap_bytes = moved, "pushed a large omap in pages");
                return Ok(Recovered::Done(moved));
            }
        }
    }

    /// Rewrites damaged copies of `object` on the given members, in the background.
    pub fn schedule_repair(&self, pg: Arc<Pg>, object: String, bad: Vec<(usize, OsdId)>) {
        let Some(osd) = self.me() else { return };
        self.tasks.spawn(async move {
            let st = pg.state.read().await;
            match osd.repair_object(&pg, &st, &object, &bad).await {
                Ok(n) => {
                    tracing::info!(pg = %pg.id, object, repaired = n, "repaired damaged copies")
                }
                Err(e) => tracing::warn!(pg = %pg.id, object, "repair failed: {e}"),
            }
        });
    }

    /// Rewrites `object` on the `bad` members from the good ones; returns how many
    /// copies were rewritten.
    pub async fn repair_object(
        &self,
        pg: &Pg,
        st: &PgState,
        object: &str,
        bad: &[(usize, OsdId)],
    ) -> OsdResult<usize> {
        let good: Vec<(usize, OsdId)> = st
            .usable_members()
            .into_iter()
            .filter(|m| !bad.contains(m))
            .collect();
        let mut repaired = 0;
        for &(p, o) in bad {
            // The newest intact version among the good members is the target.
            if let Recovered::Done(_) = self
                .recover_object(pg, st, p, o, object, Some(Version::ZERO), &good)
                .await?
            {
                repaired += 1;
                self.metrics.repaired_objects.inc();
            }
        }
        Ok(repaired)
    }
}

/// A recovery push of an object's whole state.
fn push(
    object: &str,
    data: Bytes,
    object_size: u64,
    version: Version,
    xattrs: &BTreeMap<String, Bytes>,
    omap: &[(Bytes, Bytes)],
) -> ShardWrite {
    let mut ops = vec![write_full(data)];
    for (k, v) in xattrs {
        ops.push(pb::SubOp {
            op: Some(pb::sub_op::Op::SetXattr(pb::KeyValue {
                key: Bytes::copy_from_slice(k.as_bytes()),
                value: v.clone(),
            })),
        });
    }
    if !omap.is_empty() {
        ops.push(omap_set(omap));
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
}

/// A sub-operation setting `omap`'s entries.
fn omap_set(omap: &[(Bytes, Bytes)]) -> pb::SubOp {
    pb::SubOp {
        op: Some(pb::sub_op::Op::OmapSet(pb::OmapSet {
            entries: omap
                .iter()
                .map(|(k, v)| pb::KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
        })),
    }
}

/// Bytes of keys and values in `omap`.
fn omap_bytes(omap: &[(Bytes, Bytes)]) -> u64 {
    omap.iter().map(|(k, v)| (k.len() + v.len()) as u64).sum()
}

/// Log entries a member lacks: all of them after a backfill, else those after `from`.
fn entries_after(log: &[LogEntry], from: Version, backfill: bool) -> Vec<LogEntry> {
    log.iter()
        .filter(|e| backfill || e.version > from)
        .cloned()
        .collect()
}

/// What a backfill must do: objects the authority has that the member lacks or holds
/// at another version, and objects the member has that the authority does not.
fn backfill_targets(
    authority: &[pb::ObjectVersion],
    member: &[pb::ObjectVersion],
) -> BTreeMap<String, Target> {
    let mine: BTreeMap<&str, Version> = member
        .iter()
        .map(|o| (o.object.as_str(), version_of(o.version.as_ref())))
        .collect();
    let mut t = BTreeMap::new();
    let mut present = BTreeSet::new();
    for o in authority {
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
}

/// Log entries by object after `after`, the latest change winning.
pub fn latest_per_object(log: &[LogEntry], after: Version) -> BTreeMap<String, Target> {
    let mut t = BTreeMap::new();
    for e in log.iter().filter(|e| e.version > after) {
        t.insert(e.object.clone(), (!e.delete).then_some(e.version));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(seq: u64) -> Version {
        Version { epoch: 1, seq }
    }

    fn ov(name: &str, seq: u64) -> pb::ObjectVersion {
        pb::ObjectVersion {
            object: name.into(),
            version: Some(v(seq).into()),
            size: 0,
        }
    }

    #[test]
    fn the_log_planner_keeps_the_latest_change_per_object() {
        let e = |seq, object: &str, delete| LogEntry {
            version: v(seq),
            object: object.into(),
            delete,
        };
        let log = vec![
            e(1, "a", false),
            e(2, "b", false),
            e(3, "a", true),
            e(4, "c", false),
        ];
        let t = latest_per_object(&log, v(1));
        assert_eq!(t.len(), 3);
        assert_eq!(t["a"], None, "deleted after being written: delete it");
        assert_eq!(t["b"], Some(v(2)));
        assert_eq!(t["c"], Some(v(4)));
        assert!(latest_per_object(&log, v(4)).is_empty());
        assert_eq!(entries_after(&log, v(2), false).len(), 2);
        assert_eq!(entries_after(&log, v(9), true).len(), 4);
    }

    #[test]
    fn backfill_fixes_missing_stale_and_extra_objects() {
        let auth = vec![ov("a", 1), ov("b", 5), ov("c", 2)];
        let member = vec![ov("a", 1), ov("b", 3), ov("z", 9)];
        let t = backfill_targets(&auth, &member);
        assert_eq!(t.len(), 3);
        assert_eq!(t["b"], Some(v(5)));
        assert_eq!(t["c"], Some(v(2)));
        assert_eq!(t["z"], None, "an object the authority deleted goes away");
    }
}
