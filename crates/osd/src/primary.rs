//! Client operations on a PG's primary: ordered writes to every member (erasure-coded
//! or replicated), reads that reconstruct from parity when a data chunk is missing or
//! corrupt (and schedule its repair), stat, omap and listing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use cuttle_ec::{ChunkPiece, ErasureCode, StripeLayout};
use cuttle_proto as pb;
use cuttle_types::{OsdId, Redundancy, ShardId};
use futures::future::join_all;

use crate::error::{OsdError, OsdResult};
use crate::members::write_full;
use crate::meta::Version;
use crate::metrics::MutateStage;
use crate::osd::Osd;
use crate::pg::{Pg, PgState, shard_collection};
use crate::shard::ShardWrite;

/// A direct read (see [`Osd::read`]) only pays when the pieces the client fetches from
/// other OSDs are at least this big: below, relaying them costs less than the client's
/// second round trip.
pub const DIRECT_READ_MIN_REMOTE_BYTES: u64 = 256 * 1024;

/// What a primary answers a read with.
#[derive(Debug)]
pub enum ReadOutcome {
    /// The bytes.
    Data(Bytes),
    /// An EC read plan the client completes itself (`ReadRequest.direct_ok`).
    Direct(pb::DirectRead),
}

/// Client operations turned into what every member applies, plus the primary's
/// preconditions.
struct MemberOps {
    sub: Vec<pb::SubOp>,
    data: Option<Bytes>,
    remove: bool,
    exclusive: bool,
    compares: Vec<pb::OmapCmp>,
}

/// Converts client operations to member operations, checking them against the pool.
fn member_ops(st: &PgState, ops: &[pb::ObjectOp]) -> OsdResult<MemberOps> {
    let mut sub = Vec::new();
    let mut data = None;
    let mut remove = false;
    let mut exclusive = false;
    let mut compares = Vec::new();
    for op in ops {
        let o = match &op.op {
            Some(pb::object_op::Op::WriteFull(d)) => {
                data = Some(d.clone());
                remove = false;
                continue;
            }
            Some(pb::object_op::Op::Remove(_)) => {
                remove = true;
                data = None;
                sub.retain(|_| false);
                continue;
            }
            Some(pb::object_op::Op::CreateExclusive(_)) => {
                exclusive = true;
                continue;
            }
            Some(pb::object_op::Op::OmapCmp(c)) => {
                if st.is_ec() {
                    return Err(OsdError::NeedsReplicatedPool("omap"));
                }
                compares.push(c.clone());
                continue;
            }
            Some(pb::object_op::Op::SetXattr(kv)) => pb::sub_op::Op::SetXattr(kv.clone()),
            Some(pb::object_op::Op::RmXattr(k)) => pb::sub_op::Op::RmXattr(k.clone()),
            Some(pb::object_op::Op::OmapSet(s)) => {
                if st.is_ec() {
                    return Err(OsdError::NeedsReplicatedPool("omap"));
                }
                pb::sub_op::Op::OmapSet(s.clone())
            }
            Some(pb::object_op::Op::OmapRm(k)) => {
                if st.is_ec() {
                    return Err(OsdError::NeedsReplicatedPool("omap"));
                }
                pb::sub_op::Op::OmapRm(k.clone())
            }
            Some(pb::object_op::Op::OmapClear(_)) => {
                if st.is_ec() {
                    return Err(OsdError::NeedsReplicatedPool("omap"));
                }
                pb::sub_op::Op::OmapClear(pb::Empty {})
            }
            None => return Err(OsdError::BadRequest("empty operation".into())),
        };
        sub.push(pb::SubOp { op: Some(o) });
    }
    Ok(MemberOps {
        sub,
        data,
        remove,
        exclusive,
        compares,
    })
}

impl Osd {
    /// The primary's own knowledge of an object: (version, size), or `None`.
    async fn own_meta(
        &self,
        pg: &Pg,
        st: &PgState,
        object: &str,
    ) -> OsdResult<Option<(Version, u64, BTreeMap<String, Bytes>)>> {
        let pos = st.my_pos.ok_or(OsdError::NotActive(pg.id))?;
        match self
            .shards
            .object_meta(&shard_collection(pg.id, st, pos), object)
            .await
        {
            Ok(m) => Ok(Some(m)),
            Err(OsdError::NoSuchObject(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Checks `omap_cmp` preconditions against the primary's copy (the PG's state lock
    /// is held, so nothing changes between the check and the write).
    async fn check_omap_compares(
        &self,
        pg: &Pg,
        st: &PgState,
        object: &str,
        exists: bool,
        compares: &[pb::OmapCmp],
    ) -> OsdResult<()> {
        let have: BTreeMap<Bytes, Bytes> = if exists {
            let pos = st.my_pos.ok_or(OsdError::NotActive(pg.id))?;
            let keys: Vec<Bytes> = compares.iter().map(|c| c.key.clone()).collect();
            self.shards
                .store()
                .omap_get(&shard_collection(pg.id, st, pos), object, &keys)
                .await
                .map_err(OsdError::Store)?
                .into_iter()
                .collect()
        } else {
            BTreeMap::new()
        };
        for c in compares {
            let holds = match have.get(&c.key) {
                Some(v) => c.present && *v == c.value,
                None => !c.present,
            };
            if !holds {
                return Err(OsdError::CompareFailed {
                    object: object.to_string(),
                    key: String::from_utf8_lossy(&c.key).into_owned(),
                });
            }
        }
        Ok(())
    }

    /// Applies client operations to one object on every usable member.
    pub async fn mutate(
        &self,
        pg: &Arc<Pg>,
        object: &str,
        ops: &[pb::ObjectOp],
    ) -> OsdResult<Version> {
        if object.is_empty() {
            return Err(OsdError::BadRequest("empty object name".into()));
        }
        let waited = Instant::now();
        let mut st = pg.state.write().await;
        let erasure = matches!(st.pool.redundancy, Redundancy::Erasure(_));
        let locked = Instant::now();
        self.metrics
            .record_stage(MutateStage::PgWait, erasure, locked - waited);
        if !st.is_active() {
            return Err(OsdError::NotActive(pg.id));
        }
        let MemberOps {
            sub,
            data,
            remove,
            exclusive,
            compares,
        } = member_ops(&st, ops)?;
        // Deleting needs no room and is how room is made: members waiting to be
        // re-peered take a delete too (keeping their last_update until they are
        // recovered), so a PG with a full member can still free space.
        let members = if remove {
            st.up_members()
        } else {
            st.usable_members()
        };
        let min = st.pool.min_size as usize;
        if members.len() < min {
            // Members left out because their store refused a write for space will not
            // take this one either: say so now instead of letting clients retry until
            // their deadline.
            if let Some(&osd) = st.dirty.iter().find(|o| st.full.contains(o)) {
                return Err(OsdError::PeerFull {
                    osd,
                    message: format!("pg {} cannot take writes until {osd} has room again", pg.id),
                });
            }
            return Err(OsdError::PgInactive {
                pg: pg.id,
                up: members.len(),
                need: min,
            });
        }
        let current = self.own_meta(pg, &st, object).await?;
        if exclusive && current.is_some() {
            return Err(OsdError::Exists(object.to_string()));
        }
        if remove && current.is_none() {
            return Err(OsdError::NoSuchObject(object.to_string()));
        }
        if !compares.is_empty() {
            self.check_omap_compares(pg, &st, object, current.is_some(), &compares)
                .await?;
        }
        let object_size = match (&data, &current) {
            (Some(d), _) => d.len() as u64,
            (None, Some((_, size, _))) => *size,
            (None, None) => 0,
        };
        // Per-position data: EC chunks, or the whole object for replicas. An object
        // that only gets attributes set is created empty.
        let mut per_pos: Vec<Option<Bytes>> = vec![None; st.acting.len()];
        let data = match (data, &current, remove) {
            (Some(d), _, _) => Some(d),
            (None, None, false) => Some(Bytes::new()),
            _ => None,
        };
        if let Some(d) = data {
            match &st.pool.redundancy {
                Redundancy::Erasure(profile) => {
                    let enc = self.codec(profile)?.encode(d)?;
                    for c in enc.chunks {
                        if let Some(slot) = per_pos.get_mut(c.shard.0 as usize) {
                            *slot = Some(c.data);
                        }
                    }
                }
                Redundancy::Replicated { .. } => {
                    per_pos.iter_mut().for_each(|p| *p = Some(d.clone()))
                }
            }
        }
        let version = st.last_update.next(st.epoch);
        let writes = members.iter().map(|&(pos, osd)| {
            let mut ops = Vec::with_capacity(sub.len() + 1);
            if remove {
                ops.push(pb::SubOp {
                    op: Some(pb::sub_op::Op::Remove(pb::Empty {})),
                });
            } else if let Some(d) = &per_pos[pos] {
                ops.push(write_full(d.clone()));
            }
            ops.extend(sub.iter().cloned());
            let w = ShardWrite {
                object: object.to_string(),
                version,
                object_size,
                ops,
                keep_last_update: st.recovering.contains(&osd) || st.dirty.contains(&osd),
                ..ShardWrite::default()
            };
            let st = &*st;
            async move { (osd, self.sub_write(pg.id, st, pos, osd, w).await) }
        });
        let started = Instant::now();
        self.metrics
            .record_stage(MutateStage::Prepare, erasure, started - locked);
        let results = join_all(writes).await;
        self.metrics
            .record_stage(MutateStage::Members, erasure, started.elapsed());
        let mut ok = 0usize;
        let mut first_err: Option<OsdError> = None;
        let mut failed = Vec::new();
        let mut all_full = true;
        for (osd, r) in results {
            match r {
                Ok(()) => {
                    ok += 1;
                    // It took the change; after a delete it has room again, and its
                    // recovery (next peering) will tell.
                    st.full.remove(&osd);
                }
                Err(e) => {
                    tracing::warn!(pg = %pg.id, %osd, "sub-write failed: {e}");
                    failed.push(osd);
                    all_full &= e.is_no_space();
                    if e.is_no_space() {
                        st.full.insert(osd);
                    }
                    // A full store is the error to report: retrying cannot help, unlike
                    // a peer that failed for another reason.
                    match &first_err {
                        Some(f) if f.is_no_space() || !e.is_no_space() => {}
                        _ => first_err = Some(e),
                    }
                }
            }
        }
        if ok == 0 && all_full {
            // Every member refused the write for space and a full store changes
            // nothing: no member diverged, the PG stays as it was.
            return Err(first_err.unwrap_or(OsdError::PgInactive {
                pg: pg.id,
                up: 0,
                need: min,
            }));
        }
        st.last_update = version;
        if !failed.is_empty() {
            st.dirty.extend(failed);
            pg.publish(&st);
        }
        if ok < min {
            return Err(first_err.unwrap_or(OsdError::PgInactive {
                pg: pg.id,
                up: ok,
                need: min,
            }));
        }
        Ok(version)
    }

    /// Object size, version and user attributes.
    pub async fn stat(
        &self,
        pg: &Arc<Pg>,
        object: &str,
    ) -> OsdResult<(u64, Version, BTreeMap<String, Bytes>)> {
        let st = pg.state.read().await;
        match self.own_meta(pg, &st, object).await? {
            Some((v, size, xattrs)) => Ok((size, v, xattrs)),
            None => Err(OsdError::NoSuchObject(object.to_string())),
        }
    }

    /// Reads `[offset, offset+len)` of an object (`len` 0 = to the end).
    pub async fn read(
        &self,
        pg: &Arc<Pg>,
        object: &str,
        offset: u64,
        len: u64,
        direct_ok: bool,
    ) -> OsdResult<(ReadOutcome, u64, Version)> {
        let st = pg.state.read().await;
        let (version, size, _) = self
            .own_meta(pg, &st, object)
            .await?
            .ok_or_else(|| OsdError::NoSuchObject(object.to_string()))?;
        let start = offset.min(size);
        let end = if len == 0 {
            size
        } else {
            start.saturating_add(len).min(size)
        };
        if start == end {
            return Ok((ReadOutcome::Data(Bytes::new()), size, version));
        }
        let data = match &st.pool.redundancy {
            Redundancy::Replicated { .. } => {
                self.read_replicated(pg, &st, object, version, start, end)
                    .await?
            }
            Redundancy::Erasure(profile) => {
                let codec = self.codec(profile)?;
                let layout = codec.layout(size)?;
                if direct_ok
                    && let Some(plan) = self
                        .direct_plan(
                            pg,
                            &st,
                            codec.as_ref(),
                            object,
                            version,
                            &layout,
                            start,
                            end,
                        )
                        .await
                {
                    return Ok((ReadOutcome::Direct(plan), size, version));
                }
                self.read_ec(pg, &st, object, version, &layout, start, end)
                    .await?
            }
        };
        Ok((ReadOutcome::Data(data), size, version))
    }

    /// A plan for the client to fetch an EC read's chunk pieces from their OSDs itself
    /// (the pieces this OSD holds are read here and sent inline), or `None` when the
    /// primary had better relay the read: the pieces held elsewhere are small (the
    /// client's extra round trip would cost more than the relay), fewer than `k`
    /// members are complete, or the local piece is not at `version` or unreadable. The client checks every
    /// fetched piece's version and falls back to a relayed read on any mismatch, so a
    /// plan that went stale meanwhile (a write landed, a member went down) costs a
    /// retry, never a wrong answer.
    #[allow(clippy::too_many_arguments)]
    async fn direct_plan(
        &self,
        pg: &Arc<Pg>,
        st: &PgState,
        codec: &dyn ErasureCode,
        object: &str,
        version: Version,
        layout: &StripeLayout,
        start: u64,
        end: u64,
    ) -> Option<pb::DirectRead> {
        // Members that hold every object at its newest version (none awaiting
        // re-peering or recovery); the plan takes parity only if a data member is not.
        let members: BTreeMap<usize, OsdId> = st.complete_members().into_iter().collect();
        let available: Vec<ShardId> = members.keys().map(|&p| ShardId(p as u8)).collect();
        let plan = codec
            .read_plan(layout, start, end - start, &available)
            .ok()?;
        let remote: u64 = plan
            .iter()
            .filter(|r| members.get(&(r.shard.0 as usize)) != Some(&self.id))
            .map(|r| r.len)
            .sum();
        if remote < DIRECT_READ_MIN_REMOTE_BYTES {
            return None;
        }
        let mut pieces = Vec::with_capacity(plan.len());
        for r in &plan {
            let pos = r.shard.0 as usize;
            let osd = *members.get(&pos)?;
            let mut piece = pb::DirectPiece {
                shard: pos as u32,
                osd: osd.0,
                offset: r.offset,
                length: r.len,
                inline: false,
                data: Bytes::new(),
            };
            if osd == self.id {
                let got = self
                    .sub_read(pg.id, st, pos, osd, object, r.offset, r.len, None)
                    .await
                    .ok()?;
                if got.version != version || got.data.len() as u64 != r.len {
                    return None;
                }
                piece.inline = true;
                piece.data = got.data;
            }
            pieces.push(piece);
        }
        Some(pb::DirectRead { start, end, pieces })
    }

    async fn read_replicated(
        &self,
        pg: &Arc<Pg>,
        st: &PgState,
        object: &str,
        version: Version,
        start: u64,
        end: u64,
    ) -> OsdResult<Bytes> {
        let me = st.my_pos.ok_or(OsdError::NotActive(pg.id))?;
        let mut order = vec![(me, self.id)];
        // A member that missed writes (dirty) still serves the objects it holds at the
        // version asked for; a stale copy fails the version check below.
        order.extend(st.up_members().into_iter().filter(|(_, o)| *o != self.id));
        let mut bad = Vec::new();
        let mut last_err = None;
        for (pos, osd) in order {
            match self
                .sub_read(pg.id, st, pos, osd, object, start, end - start, None)
                .await
            {
                Ok(s) if s.version == version => {
                    if !bad.is_empty() {
                        self.schedule_repair(pg.clone(), object.to_string(), bad);
                    }
                    return Ok(s.data);
                }
                Ok(s) => {
                    last_err = Some(OsdError::Unrecoverable {
                        object: object.into(),
                        reason: format!("{osd} has version {} instead of {version}", s.version),
                    })
                }
                Err(e) => {
                    if matches!(
                        e,
                        OsdError::Store(cuttle_objectstore::StoreError::Checksum { .. })
                            | OsdError::Unrecoverable { .. }
                    ) {
                        bad.push((pos, osd));
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| OsdError::Unrecoverable {
            object: object.into(),
            reason: "no copy is reachable".into(),
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn read_ec(
        &self,
        pg: &Arc<Pg>,
        st: &PgState,
        object: &str,
        version: Version,
        layout: &StripeLayout,
        start: u64,
        end: u64,
    ) -> OsdResult<Bytes> {
        let Redundancy::Erasure(profile) = &st.pool.redundancy else {
            return Err(OsdError::BadRequest("not an EC pool".into()));
        };
        let codec = self.codec(profile)?;
        // Dirty members too: a chunk is used only at the object's version (below).
        let members: BTreeMap<usize, OsdId> = st.up_members().into_iter().collect();
        let mut available: Vec<ShardId> = members.keys().map(|&p| ShardId(p as u8)).collect();
        let mut corrupt = Vec::new();
        loop {
            if available.len() < layout.k() as usize {
                return Err(OsdError::Unrecoverable {
                    object: object.into(),
                    reason: format!(
                        "only {} of the {} chunks needed are readable",
                        available.len(),
                        layout.k()
                    ),
                });
            }
            let plan = codec.read_plan(layout, start, end - start, &available)?;
            let fetches = plan.iter().map(|r| {
                let pos = r.shard.0 as usize;
                let osd = members[&pos];
                async move {
                    let got = self
                        .sub_read(pg.id, st, pos, osd, object, r.offset, r.len, None)
                        .await;
                    (r, osd, got)
                }
            });
            // A failed shard changes the plan (reconstruction needs the lost columns from
            // every source), so each round reads every piece of its plan afresh.
            let mut used = Vec::with_capacity(plan.len());
            let mut failed = false;
            for (r, osd, got) in join_all(fetches).await {
                match got {
                    Ok(s) if s.version == version && s.data.len() as u64 == r.len => {
                        // The member's store checked every block's crc32c on read.
                        used.push(ChunkPiece {
                            shard: r.shard,
                            offset: r.offset,
                            data: s.data,
                            block_crcs: Vec::new(),
                        });
                    }
                    other => {
                        if let Err(e) = &other {
                            tracing::warn!(pg = %pg.id, %osd, object, "chunk read failed: {e}");
                            if matches!(
                                e,
                                OsdError::Store(cuttle_objectstore::StoreError::Checksum { .. })
                                    | OsdError::Unrecoverable { .. }
                            ) {
                                corrupt.push((r.shard.0 as usize, osd));
                            }
                        }
                        available.retain(|s| *s != r.shard);
                        failed = true;
                    }
                }
            }
            if failed {
                continue;
            }
            let data = codec.decode_range_unverified(layout, start, end - start, &used)?;
            if !corrupt.is_empty() {
                self.schedule_repair(pg.clone(), object.to_string(), corrupt);
            }
            return Ok(data);
        }
    }

    /// Omap entries (replicated pools): given keys, or by prefix after a cursor.
    pub async fn omap_get(
        &self,
        pg: &Arc<Pg>,
        req: &pb::OmapGetRequest,
    ) -> OsdResult<(Vec<(Bytes, Bytes)>, bool)> {
        let st = pg.state.read().await;
        if st.is_ec() {
            return Err(OsdError::NeedsReplicatedPool("omap"));
        }
        let pos = st.my_pos.ok_or(OsdError::NotActive(pg.id))?;
        let coll = shard_collection(pg.id, &st, pos);
        let store = self.shards.store();
        let map_err = |e: cuttle_objectstore::StoreError| match e {
            cuttle_objectstore::StoreError::NoSuchObject { .. }
            | cuttle_objectstore::StoreError::NoSuchCollection(_) => {
                OsdError::NoSuchObject(req.object.clone())
            }
            e => OsdError::Store(e),
        };
        if !req.keys.is_empty() {
            let got = store
                .omap_get(&coll, &req.object, &req.keys)
                .await
                .map_err(map_err)?;
            return Ok((got.into_iter().collect(), false));
        }
        let max = if req.max == 0 {
            1000
        } else {
            req.max.min(10_000)
        } as usize;
        let after = (!req.after.is_empty()).then_some(&req.after[..]);
        let end = (!req.end.is_empty()).then_some(&req.end[..]);
        let page = store
            .omap_list(&coll, &req.object, &req.prefix, after, end, max)
            .await
            .map_err(map_err)?;
        Ok((page.items, page.more))
    }

    /// Object names of the PG after `after`.
    pub async fn list(
        &self,
        pg: &Arc<Pg>,
        after: &str,
        max: u32,
    ) -> OsdResult<(Vec<String>, bool)> {
        let st = pg.state.read().await;
        let pos = st.my_pos.ok_or(OsdError::NotActive(pg.id))?;
        let max = if max == 0 { 1000 } else { max.min(10_000) } as usize;
        let after = (!after.is_empty()).then_some(after);
        self.shards
            .list(&shard_collection(pg.id, &st, pos), after, max)
            .await
    }
}
