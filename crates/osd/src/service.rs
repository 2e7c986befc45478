//! The OSD's gRPC service: client operations (checked against the PG primary) and
//! sub-operations from primaries.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use cuttle_objectstore::{CollectionId, StoreError, Transaction};
use cuttle_proto as pb;
use cuttle_proto::osd_server::Osd as OsdRpc;
use cuttle_types::{PgId, PoolId, ShardId};
use tonic::{Request, Response, Status};

use crate::error::OsdError;
use crate::members::from_request;
use crate::meta;
use crate::metrics::OpKind;
use crate::osd::Osd;
use crate::pg::{Pg, RETIRED};
use crate::primary::ReadOutcome;
use crate::shard::OmapWindow;
use crate::watch::{EventSender, WATCH_QUEUE, Watches};

/// The OSD service.
#[derive(Debug, Clone)]
pub struct OsdService {
    osd: Arc<Osd>,
    watches: Arc<Watches>,
}

impl OsdService {
    /// A service for `osd`.
    pub fn new(osd: Arc<Osd>) -> OsdService {
        OsdService {
            osd,
            watches: Arc::new(Watches::default()),
        }
    }

    /// Runs one operation, counting it and timing it.
    async fn timed<T>(
        &self,
        op: OpKind,
        f: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<T, Status> {
        let started = Instant::now();
        let r = f.await;
        self.osd.metrics.record(op, started, r.is_ok());
        r
    }

    /// Serves one watch until the watcher goes away, the PG's interval changes (the
    /// primary may have moved) or a notification goes unacknowledged.
    async fn serve_watch(
        &self,
        pg: Arc<Pg>,
        object: String,
        mut incoming: tonic::Streaming<pb::WatchMessage>,
        events: EventSender,
    ) {
        let mut interval = pg.subscribe_interval();
        let registered_in = *interval.borrow_and_update();
        let (id, kill) = self.watches.register(pg.id, &object, events.clone());
        let confirm = pb::WatchEvent {
            notify_id: 0,
            payload: Bytes::new(),
        };
        let mut end: Option<Status> = None;
        if events.send(Ok(confirm)).await.is_ok() && registered_in != RETIRED {
            end = loop {
                tokio::select! {
                    msg = incoming.message() => match msg {
                        Ok(Some(pb::WatchMessage { msg: Some(pb::watch_message::Msg::Ack(n)) })) => {
                            self.watches.ack(n, id);
                        }
                        Ok(Some(_)) => {
                            break Some(OsdError::BadRequest("a watch sends only acks after start".into()).into());
                        }
                        Ok(None) | Err(_) => break None,
                    },
                    _ = interval.changed() => {
                        let primary = pg.summary().primary.map_or("unknown".into(), |p| p.to_string());
                        break Some(OsdError::WrongPrimary {
                            pg: pg.id,
                            epoch: self.osd.current_map().map_or(0, |m| m.epoch.0),
                            primary,
                        }.into());
                    }
                    _ = kill.notified() => {
                        break Some(Status::aborted(
                            "the watch missed a notification (not acknowledged in time); watch again",
                        ));
                    }
                    _ = events.closed() => break None,
                }
            };
        }
        self.watches.unregister(pg.id, &object, id);
        if let Some(status) = end {
            let _ = events.send(Err(status)).await;
        }
    }

    fn pg_id(pg: Option<&pb::PgRef>) -> Result<PgId, Status> {
        let pg = pg.ok_or_else(|| OsdError::BadRequest("missing pg".into()).to_status())?;
        Ok(PgId::new(PoolId(pg.pool), pg.seed))
    }

    async fn primary(
        &self,
        pg: Option<&pb::PgRef>,
        epoch: u64,
        object: Option<&str>,
    ) -> Result<Arc<Pg>, Status> {
        let id = Self::pg_id(pg)?;
        let p = self.osd.primary_pg(id, epoch).await?;
        if let (Some(object), Some(map)) = (object, self.osd.current_map())
            && Osd::pg_of(&map, id.pool, object) != Some(id)
        {
            return Err(
                OsdError::BadRequest(format!("object {object:?} does not map to pg {id}")).into(),
            );
        }
        Ok(p)
    }

    fn member_collection(
        &self,
        pg: Option<&pb::PgRef>,
        shard: u32,
    ) -> Result<CollectionId, Status> {
        let id = Self::pg_id(pg)?;
        let map = self
            .osd
            .current_map()
            .ok_or_else(|| Status::unavailable("no map yet"))?;
        let pool = map.pools.get(&id.pool).ok_or_else(|| {
            OsdError::BadRequest(format!("pool {} does not exist", id.pool)).to_status()
        })?;
        let shard = match pool.redundancy {
            cuttle_types::Redundancy::Erasure(_) => {
                let s = u8::try_from(shard)
                    .map_err(|_| OsdError::BadRequest("bad shard".into()).to_status())?;
                Some(ShardId(s))
            }
            cuttle_types::Redundancy::Replicated { .. } => None,
        };
        Ok(meta::collection(id, shard))
    }
}

fn kv(pairs: impl IntoIterator<Item = (Bytes, Bytes)>) -> Vec<pb::KeyValue> {
    pairs
        .into_iter()
        .map(|(key, value)| pb::KeyValue { key, value })
        .collect()
}

#[tonic::async_trait]
impl OsdRpc for OsdService {
    async fn mutate(
        &self,
        req: Request<pb::MutateRequest>,
    ) -> Result<Response<pb::MutateReply>, Status> {
        self.timed(OpKind::Mutate, async move {
            let r = req.into_inner();
            let pg = self
                .primary(r.pg.as_ref(), r.epoch, Some(&r.object))
                .await?;
            let v = self.osd.mutate(&pg, &r.object, &r.ops).await?;
            let written: usize = r
                .ops
                .iter()
                .map(|op| match &op.op {
                    Some(pb::object_op::Op::WriteFull(data)) => data.len(),
                    _ => 0,
                })
                .sum();
            self.osd.metrics.bytes_written.inc_by(written as u64);
            Ok(Response::new(pb::MutateReply {
                version: Some(v.into()),
            }))
        })
        .await
    }

    async fn read(&self, req: Request<pb::ReadRequest>) -> Result<Response<pb::ReadReply>, Status> {
        self.timed(OpKind::Read, async move {
            let r = req.into_inner();
            let pg = self
                .primary(r.pg.as_ref(), r.epoch, Some(&r.object))
                .await?;
            let (outcome, size, v) = self
                .osd
                .read(&pg, &r.object, r.offset, r.length, r.direct_ok)
                .await?;
            let (data, direct) = match outcome {
                ReadOutcome::Data(data) => (data, None),
                ReadOutcome::Direct(plan) => {
                    self.osd.metrics.direct_reads.inc();
                    (Bytes::new(), Some(plan))
                }
            };
            let served = match &direct {
                Some(plan) => plan.pieces.iter().map(|p| p.data.len()).sum(),
                None => data.len(),
            };
            self.osd.metrics.bytes_read.inc_by(served as u64);
            Ok(Response::new(pb::ReadReply {
                data,
                size,
                version: Some(v.into()),
                direct,
            }))
        })
        .await
    }

    async fn stat(&self, req: Request<pb::StatRequest>) -> Result<Response<pb::StatReply>, Status> {
        self.timed(OpKind::Stat, async move {
            let r = req.into_inner();
            let pg = self
                .primary(r.pg.as_ref(), r.epoch, Some(&r.object))
                .await?;
            let (size, v, xattrs) = self.osd.stat(&pg, &r.object).await?;
            Ok(Response::new(pb::StatReply {
                size,
                version: Some(v.into()),
                xattrs: kv(xattrs
                    .into_iter()
                    .map(|(k, v)| (Bytes::from(k.into_bytes()), v))),
            }))
        })
        .await
    }

    async fn omap_get(
        &self,
        req: Request<pb::OmapGetRequest>,
    ) -> Result<Response<pb::OmapGetReply>, Status> {
        self.timed(OpKind::OmapGet, async move {
            let r = req.into_inner();
            let pg = self
                .primary(r.pg.as_ref(), r.epoch, Some(&r.object))
                .await?;
            let (entries, more) = self.osd.omap_get(&pg, &r).await?;
            Ok(Response::new(pb::OmapGetReply {
                entries: kv(entries),
                more,
            }))
        })
        .await
    }

    async fn list(&self, req: Request<pb::ListRequest>) -> Result<Response<pb::ListReply>, Status> {
        self.timed(OpKind::List, async move {
            let r = req.into_inner();
            let pg = self.primary(r.pg.as_ref(), r.epoch, None).await?;
            let (names, more) = self.osd.list(&pg, &r.after, r.max).await?;
            Ok(Response::new(pb::ListReply { names, more }))
        })
        .await
    }

    async fn sub_write(
        &self,
        req: Request<pb::SubWriteRequest>,
    ) -> Result<Response<pb::SubWriteReply>, Status> {
        self.timed(OpKind::SubWrite, async move {
            let r = req.into_inner();
            let coll = self.member_collection(r.pg.as_ref(), r.shard)?;
            self.osd.shards.apply(&coll, from_request(r)).await?;
            Ok(Response::new(pb::SubWriteReply {}))
        })
        .await
    }

    async fn sub_read(
        &self,
        req: Request<pb::SubReadRequest>,
    ) -> Result<Response<pb::SubReadReply>, Status> {
        self.timed(OpKind::SubRead, async move {
            let r = req.into_inner();
            let coll = self.member_collection(r.pg.as_ref(), r.shard)?;
            let window = r.full_state.then(|| OmapWindow {
                after: (!r.omap_after.is_empty()).then(|| r.omap_after.clone()),
                max_bytes: r.omap_max_bytes,
            });
            match self
                .osd
                .shards
                .read(&coll, &r.object, r.offset, r.length, window.as_ref())
                .await
            {
                Ok(s) => Ok(Response::new(pb::SubReadReply {
                    data: s.data,
                    object_size: s.object_size,
                    version: Some(s.version.into()),
                    xattrs: kv(s
                        .xattrs
                        .into_iter()
                        .map(|(k, v)| (Bytes::from(k.into_bytes()), v))),
                    omap: kv(s.omap),
                    corrupt: false,
                    omap_more: s.omap_more,
                })),
                Err(OsdError::Store(StoreError::Checksum { .. })) => {
                    Ok(Response::new(pb::SubReadReply {
                        corrupt: true,
                        ..Default::default()
                    }))
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn pg_query(
        &self,
        req: Request<pb::PgQueryRequest>,
    ) -> Result<Response<pb::PgQueryReply>, Status> {
        let r = req.into_inner();
        let coll = self.member_collection(r.pg.as_ref(), r.shard)?;
        Ok(Response::new(
            self.osd.local_query(&coll, r.with_objects).await?,
        ))
    }

    async fn pg_command(
        &self,
        req: Request<pb::PgCommandRequest>,
    ) -> Result<Response<pb::PgDetail>, Status> {
        let r = req.into_inner();
        let pg = self.primary(r.pg.as_ref(), r.epoch, None).await?;
        let mut repaired = 0usize;
        match pb::PgCommandKind::try_from(r.command) {
            Ok(pb::PgCommandKind::Query) => {}
            Ok(pb::PgCommandKind::Scrub) => {
                self.osd.scrub(&pg, false).await?;
            }
            Ok(pb::PgCommandKind::DeepScrub) => {
                self.osd.scrub(&pg, true).await?;
            }
            Ok(pb::PgCommandKind::Repair) => {
                repaired = self.osd.repair(&pg).await?.0;
            }
            _ => {
                return Err(OsdError::BadRequest(
                    "command must be query, scrub, deep-scrub or repair".into(),
                )
                .into());
            }
        }
        let mut detail = self.osd.pg_detail(&pg).await?;
        detail.repaired = repaired as u64;
        Ok(Response::new(detail))
    }

    type WatchStream = tokio_stream::wrappers::ReceiverStream<Result<pb::WatchEvent, Status>>;

    async fn watch(
        &self,
        req: Request<tonic::Streaming<pb::WatchMessage>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let mut incoming = req.into_inner();
        let start = match incoming.message().await? {
            Some(pb::WatchMessage {
                msg: Some(pb::watch_message::Msg::Start(s)),
            }) => s,
            _ => {
                return Err(OsdError::BadRequest("a watch starts with `start`".into()).into());
            }
        };
        let pg = self
            .primary(start.pg.as_ref(), start.epoch, Some(&start.object))
            .await?;
        let (events, rx) = tokio::sync::mpsc::channel(WATCH_QUEUE);
        let this = self.clone();
        tokio::spawn(async move {
            this.serve_watch(pg, start.object, incoming, events).await;
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn notify(
        &self,
        req: Request<pb::NotifyRequest>,
    ) -> Result<Response<pb::NotifyReply>, Status> {
        self.timed(OpKind::Notify, async move {
            let r = req.into_inner();
            let pg = self
                .primary(r.pg.as_ref(), r.epoch, Some(&r.object))
                .await?;
            let wait = std::time::Duration::from_millis(u64::from(r.timeout_ms.max(1)));
            let out = self.watches.notify(pg.id, &r.object, r.payload, wait).await;
            Ok(Response::new(pb::NotifyReply {
                acked: out.acked,
                timed_out: out.timed_out,
            }))
        })
        .await
    }

    async fn bench(
        &self,
        req: Request<pb::OsdBenchRequest>,
    ) -> Result<Response<pb::OsdBenchReply>, Status> {
        let r = req.into_inner();
        let object_size = if r.object_size == 0 {
            4 << 20
        } else {
            r.object_size.min(64 << 20)
        };
        let total = if r.total_bytes == 0 {
            1 << 30
        } else {
            r.total_bytes.min(64 << 30)
        };
        let depth = r.concurrency.clamp(1, 64) as usize;
        let count = total.div_ceil(object_size);
        let coll = CollectionId::new("bench").map_err(|e| Status::internal(e.to_string()))?;
        let store = self.osd.shards.store().clone();
        if !store
            .collection_exists(&coll)
            .await
            .map_err(OsdError::from)?
        {
            let mut t = Transaction::new();
            t.create_collection(&coll);
            store.queue_transaction(t).await.map_err(OsdError::from)?;
        }
        let data = Bytes::from(vec![0xabu8; object_size as usize]);
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let start = Instant::now();
        let workers = (0..depth).map(|_| {
            let (store, coll, data, next) =
                (store.clone(), coll.clone(), data.clone(), next.clone());
            async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= count {
                        return Ok::<(), StoreError>(());
                    }
                    let mut t = Transaction::new();
                    t.write_full(&coll, &format!("bench_{i}"), data.clone());
                    store.queue_transaction(t).await?;
                }
            }
        });
        let results = futures::future::join_all(workers).await;
        let secs = start.elapsed().as_secs_f64();
        let mut t = Transaction::new();
        for i in 0..count {
            t.remove(&coll, &format!("bench_{i}"));
        }
        t.remove_collection(&coll);
        let cleanup = store.queue_transaction(t).await;
        for r in results {
            r.map_err(OsdError::from)?;
        }
        cleanup.map_err(OsdError::from)?;
        let bytes = count * object_size;
        Ok(Response::new(pb::OsdBenchReply {
            bytes,
            seconds: secs,
            mb_per_sec: bytes as f64 / secs / 1e6,
            iops: count as f64 / secs,
        }))
    }
}
