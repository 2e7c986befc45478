//! `Cluster` and `IoCtx`: object I/O, the way librados does it.
//!
//! The client keeps the newest map (a [`MapWatcher`]), computes an object's PG and the
//! PG's members with the placement library — exactly as OSDs do — and sends each
//! operation to the primary (the first up member). When the primary answers that it is
//! not the primary, is still peering, or cannot be reached, the client waits for a newer
//! map (or a short back-off) and tries again, until the operation's deadline.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cuttle_ec::{ChunkPiece, ErasureCode};
use cuttle_placement::{Hierarchy, object_to_pg};
use cuttle_proto as pb;
use cuttle_proto::osd_client::OsdClient;
use cuttle_rpc::{ChannelConfig, ClientAuth, ClusterSecret};
use cuttle_types::{ClusterMap, EcProfile, OsdId, PgId, PoolId, Redundancy, ShardId};
use parking_lot::Mutex;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::conf::ClusterConf;
use crate::error::ClientError;
use crate::mon::MonClient;
use crate::watch::MapWatcher;

type Osd = OsdClient<InterceptedService<Channel, ClientAuth>>;

/// A connection to one OSD: its generated client and, over the same channel, the
/// signed service that calls built by hand (`cuttle_proto::payload`) go through.
#[derive(Debug, Clone)]
struct OsdLink {
    client: Osd,
    raw: InterceptedService<Channel, ClientAuth>,
}

/// Default deadline of one object operation, retries included.
pub const OP_DEADLINE: Duration = Duration::from_secs(60);

/// How long a direct read waits for one chunk piece before falling back to a read
/// relayed by the primary.
const DIRECT_PIECE_TIMEOUT: Duration = Duration::from_secs(10);

/// Size, version and user attributes of an object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectInfo {
    /// Bytes.
    pub size: u64,
    /// (epoch, seq) of the last change.
    pub version: (u64, u64),
    /// User attributes.
    pub xattrs: BTreeMap<String, Bytes>,
}

/// Where a listing continues: the PG and the last name returned in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListCursor {
    /// PG seed to continue in.
    pub seed: u32,
    /// Last name returned from that PG (empty: from its start).
    pub after: String,
}

#[derive(Debug)]
struct Inner {
    mon: MonClient,
    watcher: MapWatcher,
    secret: ClusterSecret,
    channels: ChannelConfig,
    osds: Mutex<HashMap<OsdId, (String, OsdLink)>>,
    hierarchy: Mutex<Option<(u64, Arc<Hierarchy>)>>,
    /// Erasure codecs by profile, for direct reads.
    codecs: Mutex<HashMap<EcProfile, Arc<dyn ErasureCode>>>,
    deadline: Duration,
}

/// A connection to a cluster. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

/// Object operations on one pool.
#[derive(Debug, Clone)]
pub struct IoCtx {
    cluster: Cluster,
    pool: PoolId,
    name: String,
}

fn retryable(s: &Status) -> bool {
    matches!(
        cuttle_rpc::error_code(s),
        Some("wrong_primary" | "map_behind" | "pg_peering" | "pg_inactive" | "peer_failed")
    ) || (cuttle_rpc::error_code(s).is_none()
        && matches!(
            s.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::DeadlineExceeded
        ))
}

impl Cluster {
    /// Connects and waits for the first map. One monitor call comes first, so that a
    /// cluster that cannot be reached (or refuses our TLS) is reported as such rather
    /// than as a map that never arrived.
    pub async fn connect(conf: &ClusterConf) -> Result<Cluster, ClientError> {
        let secret = conf
            .cluster_secret()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let channels = conf
            .channel_config()
            .map_err(|e| ClientError::Config(format!("[rpc_tls]: {e}")))?;
        let mon = MonClient::new(conf.monitor_addrs(), secret.clone(), &channels)?;
        mon.get_map().await?;
        let watcher = MapWatcher::start(mon.clone());
        watcher.wait_for(Duration::from_secs(30), |_| true).await?;
        Ok(Cluster {
            inner: Arc::new(Inner {
                mon,
                watcher,
                secret,
                channels,
                osds: Mutex::new(HashMap::new()),
                hierarchy: Mutex::new(None),
                codecs: Mutex::new(HashMap::new()),
                deadline: OP_DEADLINE,
            }),
        })
    }

    /// The monitors.
    pub fn mon(&self) -> &MonClient {
        &self.inner.mon
    }

    /// The newest map.
    pub fn map(&self) -> Result<Arc<ClusterMap>, ClientError> {
        self.inner
            .watcher
            .current()
            .ok_or_else(|| ClientError::Protocol("no cluster map yet".into()))
    }

    /// Waits until the map reaches `epoch`.
    pub async fn wait_for_epoch(
        &self,
        epoch: u64,
        timeout: Duration,
    ) -> Result<Arc<ClusterMap>, ClientError> {
        self.inner
            .watcher
            .wait_for(timeout, |m| m.epoch.0 >= epoch)
            .await
    }

    /// Operations on the pool called `name`.
    pub async fn pool(&self, name: &str) -> Result<IoCtx, ClientError> {
        let find = |m: &ClusterMap| m.pool_by_name(name).map(|p| p.id);
        let id = match self.map().ok().as_deref().and_then(find) {
            Some(id) => id,
            None => {
                // The pool may be newer than our map: ask the monitors.
                let m = self.inner.mon.get_map().await?;
                let id = find(&m).ok_or_else(|| ClientError::Refused {
                    grpc: Code::NotFound,
                    code: "no_such_pool".into(),
                    message: format!("pool {name:?} does not exist"),
                })?;
                self.wait_for_epoch(m.epoch.0, Duration::from_secs(10))
                    .await?;
                id
            }
        };
        Ok(IoCtx {
            cluster: self.clone(),
            pool: id,
            name: name.to_string(),
        })
    }

    fn hierarchy(&self, map: &ClusterMap) -> Arc<Hierarchy> {
        let mut h = self.inner.hierarchy.lock();
        match &*h {
            Some((e, hier)) if *e == map.epoch.0 => hier.clone(),
            _ => {
                let hier = Arc::new(Hierarchy::from_map(map));
                *h = Some((map.epoch.0, hier.clone()));
                hier
            }
        }
    }

    pub(crate) fn osd(&self, id: OsdId, addr: &str) -> Result<Osd, ClientError> {
        self.link(id, addr).map(|l| l.client)
    }

    /// The connection to OSD `id` at `addr` (made once, lazily connecting).
    fn link(&self, id: OsdId, addr: &str) -> Result<OsdLink, ClientError> {
        let mut osds = self.inner.osds.lock();
        if let Some((a, l)) = osds.get(&id)
            && a == addr
        {
            return Ok(l.clone());
        }
        let ch = cuttle_rpc::channel::lazy_channel(addr, &self.inner.channels)
            .map_err(|e| ClientError::Config(format!("{id} address {addr:?}: {e}")))?;
        let raw = InterceptedService::new(ch, ClientAuth::new(self.inner.secret.clone()));
        let client = OsdClient::new(raw.clone())
            .max_decoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(cuttle_rpc::channel::MAX_MESSAGE_BYTES);
        let link = OsdLink { client, raw };
        osds.insert(id, (addr.to_string(), link.clone()));
        Ok(link)
    }

    /// The erasure codec of a profile (built once per profile).
    fn codec(&self, profile: &EcProfile) -> Result<Arc<dyn ErasureCode>, String> {
        let mut codecs = self.inner.codecs.lock();
        if let Some(c) = codecs.get(profile) {
            return Ok(c.clone());
        }
        let c = cuttle_ec::codec_for(profile).map_err(|e| e.to_string())?;
        codecs.insert(*profile, c.clone());
        Ok(c)
    }

    /// Where an object lives in the current map: its PG and the PG's members by
    /// position (shard id for erasure-coded pools).
    pub fn locate(
        &self,
        pool: PoolId,
        object: &str,
    ) -> Result<(PgId, Vec<Option<OsdId>>), ClientError> {
        let map = self.map()?;
        let p = map
            .pools
            .get(&pool)
            .ok_or_else(|| ClientError::Protocol(format!("pool {pool} is not in the map")))?;
        let pg = object_to_pg(p, object.as_bytes());
        Ok((pg, self.hierarchy(&map).place(p, pg).members))
    }

    /// Runs an operator command (query, scrub, deep-scrub, repair) on a PG's primary.
    /// Scrubs and repairs read the whole PG: give the client a long deadline.
    pub async fn pg_command(
        &self,
        pg: PgId,
        command: pb::PgCommandKind,
    ) -> Result<pb::PgDetail, ClientError> {
        self.on_primary(
            pg.pool,
            move |_| pg,
            |mut c, epoch, pg_ref| {
                let req = pb::PgCommandRequest {
                    epoch,
                    pg: Some(pg_ref),
                    command: command as i32,
                };
                async move { c.pg_command(req).await }
            },
        )
        .await
    }

    /// The primary of a PG in `map`, if any member is up.
    pub fn primary(&self, map: &ClusterMap, pg: PgId) -> Option<(OsdId, String)> {
        let pool = map.pools.get(&pg.pool)?;
        let placement = self.hierarchy(map).place(pool, pg);
        placement
            .members
            .iter()
            .flatten()
            .find(|o| map.is_up(**o))
            .and_then(|o| map.osds.get(o).map(|i| (*o, i.addr.clone())))
    }

    /// Runs `f` against the primary of the PG chosen by `route`, retrying on map
    /// changes and primary failures until the deadline.
    async fn on_primary<T, R, F, Fut>(&self, pool: PoolId, route: R, f: F) -> Result<T, ClientError>
    where
        R: Fn(&cuttle_types::Pool) -> PgId,
        F: Fn(Osd, u64, pb::PgRef) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.on_primary_link(pool, route, |link, epoch, pg| f(link.client, epoch, pg))
            .await
    }

    /// [`Cluster::on_primary`] with the whole connection, for calls built by hand.
    async fn on_primary_link<T, R, F, Fut>(
        &self,
        pool: PoolId,
        route: R,
        f: F,
    ) -> Result<T, ClientError>
    where
        R: Fn(&cuttle_types::Pool) -> PgId,
        F: Fn(OsdLink, u64, pb::PgRef) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let start = Instant::now();
        let mut last = String::from("no attempt");
        let mut pause = Duration::from_millis(50);
        while start.elapsed() < self.inner.deadline {
            let map = self.map()?;
            let Some(p) = map.pools.get(&pool) else {
                return Err(ClientError::Refused {
                    grpc: Code::NotFound,
                    code: "no_such_pool".into(),
                    message: format!("pool {pool} does not exist"),
                });
            };
            let pg = route(p);
            let target = self.primary(&map, pg);
            if let Some((osd, addr)) = target {
                let client = self.link(osd, &addr)?;
                let pg_ref = pb::PgRef {
                    pool: pg.pool.0,
                    seed: pg.seed,
                };
                match f(client, map.epoch.0, pg_ref).await {
                    Ok(r) => return Ok(r.into_inner()),
                    Err(s) if retryable(&s) => {
                        if let Some(reason) = cuttle_rpc::tls::tls_failure(&s) {
                            return Err(ClientError::Tls {
                                tried: format!("{osd} at {addr}"),
                                reason,
                            });
                        }
                        last = format!("{osd} (pg {pg}, epoch {}): {}", map.epoch, s.message());
                    }
                    Err(s) => return Err(ClientError::from_status(&s)),
                }
            } else {
                last = format!("no member of pg {pg} is up at epoch {}", map.epoch);
            }
            // Wait for a newer map, or a moment, before trying again.
            let epoch = map.epoch.0;
            let _ = self.wait_for_epoch(epoch + 1, pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
        Err(ClientError::Unreachable {
            secs: self.inner.deadline.as_secs(),
            tried: "the PG primary".into(),
            last,
        })
    }
}

fn op(o: pb::object_op::Op) -> pb::ObjectOp {
    pb::ObjectOp { op: Some(o) }
}

impl IoCtx {
    /// The pool's name.
    pub fn pool_name(&self) -> &str {
        &self.name
    }

    /// The pool's id.
    pub fn pool_id(&self) -> PoolId {
        self.pool
    }

    fn route(object: &str) -> impl Fn(&cuttle_types::Pool) -> PgId + '_ {
        move |p| object_to_pg(p, object.as_bytes())
    }

    /// The cluster this pool belongs to.
    pub(crate) fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Runs `f` against the primary of `object`'s PG (see [`Cluster::on_primary`]).
    pub(crate) async fn on_object_primary<T, F, Fut>(
        &self,
        object: &str,
        f: F,
    ) -> Result<T, ClientError>
    where
        F: Fn(Osd, u64, pb::PgRef) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.cluster
            .on_primary(self.pool, Self::route(object), f)
            .await
    }

    /// Applies operations atomically to one object; returns its new version.
    pub async fn mutate(
        &self,
        object: &str,
        ops: Vec<pb::ObjectOp>,
    ) -> Result<(u64, u64), ClientError> {
        let r = self
            .cluster
            .on_primary(self.pool, Self::route(object), |mut c, epoch, pg| {
                let req = pb::MutateRequest {
                    epoch,
                    pg: Some(pg),
                    object: object.to_string(),
                    ops: ops.clone(),
                };
                async move { c.mutate(req).await }
            })
            .await?;
        let v = r.version.unwrap_or_default();
        Ok((v.epoch, v.seq))
    }

    /// Replaces the object's data. The data is sent as it is, not copied into an
    /// encoded message (`cuttle_proto::payload`).
    pub async fn write_full(&self, object: &str, data: Bytes) -> Result<(u64, u64), ClientError> {
        let r = self
            .cluster
            .on_primary_link(self.pool, Self::route(object), |mut link, epoch, pg| {
                let head = pb::MutateRequest {
                    epoch,
                    pg: Some(pg),
                    object: object.to_string(),
                    ops: Vec::new(),
                };
                let data = data.clone();
                async move {
                    cuttle_proto::payload::mutate_write_full(
                        &mut link.raw,
                        &head,
                        data,
                        cuttle_rpc::channel::MAX_MESSAGE_BYTES,
                    )
                    .await
                }
            })
            .await?;
        let v = r.version.unwrap_or_default();
        Ok((v.epoch, v.seq))
    }

    /// Deletes the object.
    pub async fn remove(&self, object: &str) -> Result<(), ClientError> {
        self.mutate(object, vec![op(pb::object_op::Op::Remove(pb::Empty {}))])
            .await
            .map(|_| ())
    }

    /// Sets a user attribute.
    pub async fn set_xattr(
        &self,
        object: &str,
        key: &str,
        value: Bytes,
    ) -> Result<(), ClientError> {
        let kv = pb::KeyValue {
            key: Bytes::copy_from_slice(key.as_bytes()),
            value,
        };
        self.mutate(object, vec![op(pb::object_op::Op::SetXattr(kv))])
            .await
            .map(|_| ())
    }

    /// Reads `len` bytes at `offset` (0 = to the end).
    pub async fn read(&self, object: &str, offset: u64, len: u64) -> Result<Bytes, ClientError> {
        let segments = self.read_segments(object, offset, len).await?;
        let total: usize = segments.iter().map(Bytes::len).sum();
        Ok(cuttle_ec::join_segments(segments, total as u64))
    }

    /// Like [`read`](Self::read), as consecutive buffers that together are the bytes
    /// read: a large EC read decoded here comes back as its chunks' pieces, not copied
    /// into one buffer, for readers that pass the bytes on (the gateway streams them).
    pub async fn read_segments(
        &self,
        object: &str,
        offset: u64,
        len: u64,
    ) -> Result<Vec<Bytes>, ClientError> {
        let r = self.read_from_primary(object, offset, len, true).await?;
        let Some(plan) = r.direct else {
            return Ok(vec![r.data]);
        };
        let version = r.version.unwrap_or_default();
        match self.direct_read(object, r.size, version, plan).await {
            Ok(segments) => Ok(segments),
            Err(reason) => {
                tracing::debug!(object, "direct read falls back to the primary: {reason}");
                Ok(vec![
                    self.read_from_primary(object, offset, len, false)
                        .await?
                        .data,
                ])
            }
        }
    }

    async fn read_from_primary(
        &self,
        object: &str,
        offset: u64,
        len: u64,
        direct_ok: bool,
    ) -> Result<pb::ReadReply, ClientError> {
        self.cluster
            .on_primary(self.pool, Self::route(object), |mut c, epoch, pg| {
                let req = pb::ReadRequest {
                    epoch,
                    pg: Some(pg),
                    object: object.to_string(),
                    offset,
                    length: len,
                    direct_ok,
                };
                async move { c.read(req).await }
            })
            .await
    }

    /// Completes an EC read the primary planned (`ReadReply.direct`): fetches the
    /// pieces it did not send from their OSDs, in parallel, each at exactly `version`,
    /// and decodes. The data then crosses the network once instead of twice (member to
    /// primary, primary to client). Any failure (a piece of another version — a write
    /// landed meanwhile —, missing, corrupt, or its OSD unreachable) is returned as a
    /// reason, and the caller reads through the primary instead, which reconstructs and
    /// repairs as usual.
    async fn direct_read(
        &self,
        object: &str,
        size: u64,
        version: pb::Version,
        plan: pb::DirectRead,
    ) -> Result<Vec<Bytes>, String> {
        let map = self.cluster.map().map_err(|e| e.to_string())?;
        let pool = map.pools.get(&self.pool).ok_or("the pool left the map")?;
        let Redundancy::Erasure(profile) = &pool.redundancy else {
            return Err("a direct plan for a replicated pool".into());
        };
        let codec = self.cluster.codec(profile)?;
        let layout = codec.layout(size).map_err(|e| e.to_string())?;
        if plan.start > plan.end || plan.end > size {
            return Err(format!(
                "plan range {}..{} outside the object's {size} bytes",
                plan.start, plan.end
            ));
        }
        let pg = object_to_pg(pool, object.as_bytes());
        let pg_ref = pb::PgRef {
            pool: pg.pool.0,
            seed: pg.seed,
        };
        let fetches = plan.pieces.into_iter().map(|piece| {
            let map = &map;
            async move {
                let shard = u8::try_from(piece.shard)
                    .map(ShardId)
                    .map_err(|_| format!("shard {} out of range", piece.shard))?;
                let data = if piece.inline {
                    piece.data
                } else {
                    let osd = OsdId(piece.osd);
                    let addr = map
                        .osds
                        .get(&osd)
                        .filter(|_| map.is_up(osd))
                        .map(|i| i.addr.clone())
                        .ok_or_else(|| format!("{osd} is not up"))?;
                    let mut c = self.cluster.osd(osd, &addr).map_err(|e| e.to_string())?;
                    let req = pb::SubReadRequest {
                        epoch: map.epoch.0,
                        pg: Some(pg_ref),
                        shard: piece.shard,
                        object: object.to_string(),
                        offset: piece.offset,
                        length: piece.length,
                        ..Default::default()
                    };
                    let r = tokio::time::timeout(DIRECT_PIECE_TIMEOUT, c.sub_read(req))
                        .await
                        .map_err(|_| format!("{osd} did not answer in time"))?
                        .map_err(|s| format!("{osd}: {}", s.message()))?
                        .into_inner();
                    if r.corrupt {
                        return Err(format!("{osd}'s chunk fails its checksum"));
                    }
                    if r.version.as_ref() != Some(&version) {
                        return Err(format!("{osd} holds another version"));
                    }
                    r.data
                };
                if data.len() as u64 != piece.length {
                    return Err(format!(
                        "chunk {} piece of {} bytes, {} expected",
                        piece.shard,
                        data.len(),
                        piece.length
                    ));
                }
                Ok(ChunkPiece {
                    shard,
                    offset: piece.offset,
                    data,
                    block_crcs: Vec::new(),
                })
            }
        });
        let pieces = futures::future::try_join_all(fetches).await?;
        codec
            .decode_segments_unverified(&layout, plan.start, plan.end - plan.start, &pieces)
            .map_err(|e| e.to_string())
    }

    /// Size, version and attributes.
    pub async fn stat(&self, object: &str) -> Result<ObjectInfo, ClientError> {
        let r = self
            .cluster
            .on_primary(self.pool, Self::route(object), |mut c, epoch, pg| {
                let req = pb::StatRequest {
                    epoch,
                    pg: Some(pg),
                    object: object.to_string(),
                };
                async move { c.stat(req).await }
            })
            .await?;
        let v = r.version.unwrap_or_default();
        Ok(ObjectInfo {
            size: r.size,
            version: (v.epoch, v.seq),
            xattrs: r
                .xattrs
                .into_iter()
                .filter_map(|kv| {
                    String::from_utf8(kv.key.to_vec())
                        .ok()
                        .map(|k| (k, kv.value))
                })
                .collect(),
        })
    }

    /// Sets omap entries (replicated pools).
    pub async fn omap_set(
        &self,
        object: &str,
        entries: Vec<(Bytes, Bytes)>,
    ) -> Result<(), ClientError> {
        let entries = entries
            .into_iter()
            .map(|(key, value)| pb::KeyValue { key, value })
            .collect();
        self.mutate(
            object,
            vec![op(pb::object_op::Op::OmapSet(pb::OmapSet { entries }))],
        )
        .await
        .map(|_| ())
    }

    /// Removes omap keys (replicated pools).
    pub async fn omap_rm(&self, object: &str, keys: Vec<Bytes>) -> Result<(), ClientError> {
        self.mutate(
            object,
            vec![op(pb::object_op::Op::OmapRm(pb::OmapKeys { keys }))],
        )
        .await
        .map(|_| ())
    }

    async fn omap_call(
        &self,
        object: &str,
        keys: Vec<Bytes>,
        prefix: &[u8],
        after: &[u8],
        end: &[u8],
        max: u32,
    ) -> Result<pb::OmapGetReply, ClientError> {
        self.cluster
            .on_primary(self.pool, Self::route(object), |mut c, epoch, pg| {
                let req = pb::OmapGetRequest {
                    epoch,
                    pg: Some(pg),
                    object: object.to_string(),
                    keys: keys.clone(),
                    prefix: Bytes::copy_from_slice(prefix),
                    after: Bytes::copy_from_slice(after),
                    end: Bytes::copy_from_slice(end),
                    max,
                };
                async move { c.omap_get(req).await }
            })
            .await
    }

    /// Omap values of the given keys (missing keys are left out).
    pub async fn omap_get(
        &self,
        object: &str,
        keys: Vec<Bytes>,
    ) -> Result<BTreeMap<Bytes, Bytes>, ClientError> {
        if keys.is_empty() {
            return Ok(BTreeMap::new());
        }
        let r = self.omap_call(object, keys, b"", b"", b"", 0).await?;
        Ok(r.entries.into_iter().map(|kv| (kv.key, kv.value)).collect())
    }

    /// Omap entries with `prefix` after `after`, up to `max`; and whether more remain.
    pub async fn omap_list(
        &self,
        object: &str,
        prefix: &[u8],
        after: &[u8],
        max: u32,
    ) -> Result<(Vec<(Bytes, Bytes)>, bool), ClientError> {
        self.omap_list_before(object, prefix, after, b"", max).await
    }

    /// As [`IoCtx::omap_list`], but only keys strictly before `end` (empty: no bound).
    /// OSDs from before this bound ignore it, so callers that rely on it also stop at
    /// the first key at or past `end` themselves.
    pub async fn omap_list_before(
        &self,
        object: &str,
        prefix: &[u8],
        after: &[u8],
        end: &[u8],
        max: u32,
    ) -> Result<(Vec<(Bytes, Bytes)>, bool), ClientError> {
        let r = self
            .omap_call(object, Vec::new(), prefix, after, end, max.max(1))
            .await?;
        Ok((
            r.entries.into_iter().map(|kv| (kv.key, kv.value)).collect(),
            r.more,
        ))
    }

    /// Up to `max` object names from `cursor` (start with the default cursor); returns
    /// the names and the cursor to continue from, `None` at the end.
    pub async fn list(
        &self,
        cursor: &ListCursor,
        max: u32,
    ) -> Result<(Vec<String>, Option<ListCursor>), ClientError> {
        let pg_num = self
            .cluster
            .map()?
            .pools
            .get(&self.pool)
            .map(|p| p.pg_num)
            .ok_or_else(|| ClientError::Protocol(format!("pool {} vanished", self.name)))?;
        let mut cur = cursor.clone();
        let mut out = Vec::new();
        let max = max.max(1);
        while cur.seed < pg_num && out.len() < max as usize {
            let seed = cur.seed;
            let after = cur.after.clone();
            let want = max - out.len() as u32;
            let r = self
                .cluster
                .on_primary(
                    self.pool,
                    move |p| PgId::new(p.id, seed),
                    |mut c, epoch, pg| {
                        let req = pb::ListRequest {
                            epoch,
                            pg: Some(pg),
                            after: after.clone(),
                            max: want,
                        };
                        async move { c.list(req).await }
                    },
                )
                .await?;
            if let Some(last) = r.names.last() {
                cur.after = last.clone();
            }
            out.extend(r.names);
            if !r.more {
                cur = ListCursor {
                    seed: seed + 1,
                    after: String::new(),
                };
            }
        }
        let next = (cur.seed < pg_num).then_some(cur);
        Ok((out, next))
    }
}
