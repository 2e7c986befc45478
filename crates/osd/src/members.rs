//! Talking to a PG's members: the same three calls (sub-write, sub-read, query) served
//! locally when the member is this OSD and over gRPC otherwise.

use std::time::Duration;

use bytes::Bytes;
use cuttle_proto as pb;
use cuttle_types::{OsdId, PgId};

use crate::error::{OsdError, OsdResult};
use crate::meta::{LogEntry, Version, version_of};
use crate::osd::Osd;
use crate::pg::{PgState, shard_collection};
use crate::shard::{OmapWindow, ShardState, ShardWrite};

/// Deadline of one sub-operation.
pub const SUB_OP_TIMEOUT: Duration = Duration::from_secs(30);

fn pg_ref(id: PgId) -> pb::PgRef {
    pb::PgRef {
        pool: id.pool.0,
        seed: id.seed,
    }
}

fn peer_err(osd: OsdId) -> impl Fn(tonic::Status) -> OsdError {
    move |s| {
        let message = format!("{} ({:?})", s.message(), s.code());
        if cuttle_rpc::error_code(&s) == Some("no_space") {
            OsdError::PeerFull { osd, message }
        } else {
            OsdError::Peer { osd, message }
        }
    }
}

fn to_request(id: PgId, st: &PgState, pos: usize, w: &ShardWrite) -> pb::SubWriteRequest {
    pb::SubWriteRequest {
        epoch: st.epoch,
        pg: Some(pg_ref(id)),
        shard: st.shard_at(pos).map_or(0, |s| s.0 as u32),
        object: w.object.clone(),
        version: Some(w.version.into()),
        object_size: w.object_size,
        ops: w.ops.clone(),
        full_state: w.full_state,
        no_log: w.no_log,
        log: w.log.iter().map(Into::into).collect(),
        last_update: Some(w.last_update.into()),
        keep_last_update: w.keep_last_update,
        incomplete: w.incomplete,
        continues: w.continues,
    }
}

/// Converts a received sub-write.
pub fn from_request(r: pb::SubWriteRequest) -> ShardWrite {
    ShardWrite {
        object: r.object,
        version: version_of(r.version.as_ref()),
        object_size: r.object_size,
        ops: r.ops,
        full_state: r.full_state,
        no_log: r.no_log,
        log: r.log.iter().map(LogEntry::from).collect(),
        last_update: version_of(r.last_update.as_ref()),
        keep_last_update: r.keep_last_update,
        incomplete: r.incomplete,
        continues: r.continues,
    }
}

impl Osd {
    /// Applies a write on the member at `pos`.
    pub async fn sub_write(
        &self,
        id: PgId,
        st: &PgState,
        pos: usize,
        osd: OsdId,
        w: ShardWrite,
    ) -> OsdResult<()> {
        if osd == self.id {
            return self.shards.apply(&shard_collection(id, st, pos), w).await;
        }
        let addr = st.addrs.get(&osd).cloned().unwrap_or_default();
        let mut c = self.peers.get(osd, &addr)?;
        let req = to_request(id, st, pos, &w);
        match tokio::time::timeout(SUB_OP_TIMEOUT, c.sub_write(req)).await {
            Ok(r) => r.map(|_| ()).map_err(peer_err(osd)),
            Err(_) => Err(OsdError::Peer {
                osd,
                message: "sub-write timed out".into(),
            }),
        }
    }

    /// Reads a shard of an object from the member at `pos`.
    #[allow(clippy::too_many_arguments)]
    pub async fn sub_read(
        &self,
        id: PgId,
        st: &PgState,
        pos: usize,
        osd: OsdId,
        object: &str,
        offset: u64,
        len: u64,
        full: Option<&OmapWindow>,
    ) -> OsdResult<ShardState> {
        if osd == self.id {
            return self
                .shards
                .read(&shard_collection(id, st, pos), object, offset, len, full)
                .await;
        }
        let addr = st.addrs.get(&osd).cloned().unwrap_or_default();
        let mut c = self.peers.get(osd, &addr)?;
        let req = pb::SubReadRequest {
            epoch: st.epoch,
            pg: Some(pg_ref(id)),
            shard: st.shard_at(pos).map_or(0, |s| s.0 as u32),
            object: object.to_string(),
            offset,
            length: len,
            full_state: full.is_some(),
            omap_after: full.and_then(|w| w.after.clone()).unwrap_or_default(),
            omap_max_bytes: full.map_or(0, |w| w.max_bytes),
        };
        let r = match tokio::time::timeout(SUB_OP_TIMEOUT, c.sub_read(req)).await {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(s)) if s.code() == tonic::Code::NotFound => {
                return Err(OsdError::NoSuchObject(object.to_string()));
            }
            Ok(Err(s)) => return Err(peer_err(osd)(s)),
            Err(_) => {
                return Err(OsdError::Peer {
                    osd,
                    message: "sub-read timed out".into(),
                });
            }
        };
        if r.corrupt {
            return Err(OsdError::Unrecoverable {
                object: object.to_string(),
                reason: format!("{osd}'s copy fails its checksum"),
            });
        }
        Ok(ShardState {
            data: r.data,
            object_size: r.object_size,
            version: version_of(r.version.as_ref()),
            xattrs: r
                .xattrs
                .into_iter()
                .filter_map(|kv| {
                    String::from_utf8(kv.key.to_vec())
                        .ok()
                        .map(|k| (k, kv.value))
                })
                .collect(),
            omap: r.omap.into_iter().map(|kv| (kv.key, kv.value)).collect(),
            omap_more: r.omap_more,
        })
    }

    /// Asks the member at `pos` for its PG state.
    pub async fn pg_query(
        &self,
        id: PgId,
        st: &PgState,
        pos: usize,
        osd: OsdId,
        with_objects: bool,
    ) -> OsdResult<pb::PgQueryReply> {
        if osd == self.id {
            return self
                .local_query(&shard_collection(id, st, pos), with_objects)
                .await;
        }
        let addr = st.addrs.get(&osd).cloned().unwrap_or_default();
        let mut c = self.peers.get(osd, &addr)?;
        let req = pb::PgQueryRequest {
            epoch: st.epoch,
            pg: Some(pg_ref(id)),
            shard: st.shard_at(pos).map_or(0, |s| s.0 as u32),
            with_objects,
        };
        match tokio::time::timeout(SUB_OP_TIMEOUT, c.pg_query(req)).await {
            Ok(r) => r.map(|r| r.into_inner()).map_err(peer_err(osd)),
            Err(_) => Err(OsdError::Peer {
                osd,
                message: "pg query timed out".into(),
            }),
        }
    }

    /// Answers a PG query about a local shard.
    pub async fn local_query(
        &self,
        coll: &cuttle_objectstore::CollectionId,
        with_objects: bool,
    ) -> OsdResult<pb::PgQueryReply> {
        let exists = self.shards.store().collection_exists(coll).await?;
        if !exists {
            return Ok(pb::PgQueryReply::default());
        }
        let info = self.shards.info(coll).await?;
        let log = self.shards.log_since(coll, info.log_tail).await?;
        let objects = if with_objects {
            self.shards
                .versions(coll)
                .await?
                .into_iter()
                .map(|(object, (v, size))| pb::ObjectVersion {
                    object,
                    version: Some(v.into()),
                    size,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(pb::PgQueryReply {
            exists: true,
            last_update: Some(info.last_update.into()),
            log_tail: Some(info.log_tail.into()),
            log: log.iter().map(Into::into).collect(),
            objects,
        })
    }
}

/// A sub-write carrying only PG log entries and a new last_update.
pub fn log_only(log: Vec<LogEntry>, last_update: Version) -> ShardWrite {
    ShardWrite {
        log,
        last_update,
        no_log: true,
        ..ShardWrite::default()
    }
}

/// The bytes of a `write_full` sub-op.
pub fn write_full(data: Bytes) -> pb::SubOp {
    pb::SubOp {
        op: Some(pb::sub_op::Op::WriteFull(data)),
    }
}
