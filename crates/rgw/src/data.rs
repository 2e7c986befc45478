//! `DataStore`: object data in `.rgw.data` as immutable stripes `<instance>.<n>`.
//!
//! Writing: the request body is cut into stripes as it arrives, each byte hashed once
//! (the MD5 and a payload SHA-256 in the lane services of `hash_lanes`, a CRC where it
//! is read); up to `put_parallel` stripes of a request are written at once. A body
//! that only needs copying and CRCs is read in the request's own task; one whose
//! reading hashes (a SHA-1/SHA-256 checksum, s3s checking signed chunks) is read on a
//! blocking thread, so no SHA ever runs on the reactor threads.
//! Reading: stripes are fetched in order with `get_prefetch` reads ahead. Stripe
//! buffers in flight, in either direction, hold permits of one gateway-wide byte
//! budget, so memory stays bounded whatever the object sizes and the uploads in
//! flight. An upload's stripe holds its share from the moment it is filled until both
//! its write and the MD5 are done with its bytes (the share travels with them,
//! `Bytes::from_owner`); the write sends those bytes as they are
//! (`cuttle_proto::payload`), so there is no other copy to count. A download's stripe
//! holds its share while it is fetched; a fetched stripe the client has not read yet
//! is not counted (docs/benchmarks.md).
//!
//! A body whose declared length is at most the caller's inline limit is not written
//! here at all: it is hashed the same way and handed back ([`Written::inline`]) to be
//! stored beside its index entry (`crate::index`).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use cuttle_client::IoCtx;
use futures::future::Either;
use futures::{Stream, StreamExt, TryStreamExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError, mpsc};
use tokio::task::JoinSet;

use crate::checksum::{Digests, Hashers, Hashes};
use crate::error::RgwError;
use crate::records::{IndexEntry, Segment};

/// Budget unit: 1 KiB.
const UNIT: u64 = 1024;

/// Why storing a body failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The client's body broke off or failed its signature/payload checks.
    #[error("request body: {0}")]
    Body(String),
    /// The body is longer than allowed.
    #[error("body exceeds {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body's length differs from the declared one.
    #[error("body has {got} bytes, {expected} declared")]
    Length {
        /// Declared.
        expected: u64,
        /// Received.
        got: u64,
    },
    /// The cluster failed.
    #[error(transparent)]
    Store(#[from] RgwError),
}

/// A stored body.
#[derive(Debug, Clone)]
pub struct Written {
    /// Where it is (for an inline body: its instance and size, stripe size 0).
    pub segment: Segment,
    /// Its digests.
    pub digests: Digests,
    /// The bytes of a body small enough to be kept inline; nothing was written then.
    pub inline: Option<Bytes>,
}

/// Tuning of the data path.
#[derive(Debug, Clone, Copy)]
pub struct DataTuning {
    /// Stripe size, bytes.
    pub stripe: u64,
    /// Stripe writes in flight per upload.
    pub put_parallel: usize,
    /// Stripe reads ahead per download.
    pub get_prefetch: usize,
    /// Bytes of stripe buffers in flight, gateway-wide.
    pub budget_bytes: u64,
    /// Largest object body kept inline beside its index entry (0: none).
    pub inline_max: u64,
}

/// Object data.
#[derive(Debug, Clone)]
pub struct DataStore {
    io: IoCtx,
    tuning: DataTuning,
    budget: Arc<Semaphore>,
}

fn units(bytes: u64) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT).max(1)).unwrap_or(u32::MAX)
}

impl DataStore {
    /// Over an open `.rgw.data` pool.
    pub fn new(io: IoCtx, tuning: DataTuning) -> DataStore {
        let permits = usize::try_from(tuning.budget_bytes / UNIT).unwrap_or(usize::MAX);
        DataStore {
            io,
            tuning,
            budget: Arc::new(Semaphore::new(permits.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// The stripe size.
    pub fn stripe(&self) -> u64 {
        self.tuning.stripe
    }

    /// Bytes of the stripe budget not held by any stripe now.
    pub fn budget_free_bytes(&self) -> u64 {
        self.budget.available_permits() as u64 * UNIT
    }

    /// Stores a body as instance `instance`: hashes (MD5 plus `hashes`) in the same pass,
    /// writes stripes in parallel. On any failure the stripes written are removed.
    /// With `may_inline`, a body declared to be 1 to `inline_max` bytes long is only
    /// hashed and returned.
    pub async fn write_stream<S>(
        &self,
        instance: String,
        body: S,
        hashes: Hashes,
        expected_len: Option<u64>,
        limit: u64,
        may_inline: bool,
    ) -> Result<Written, WriteError>
    where
        S: Stream<Item = Result<Bytes, s3s::StdError>> + Send + Unpin + 'static,
    {
        let inline_max = if may_inline {
            self.tuning.inline_max
        } else {
            0
        };
        let inline = expected_len.filter(|&l| l > 0 && l <= inline_max);
        // An inline body is one "stripe" of its whole length, kept instead of written.
        let stripe = inline.unwrap_or(self.tuning.stripe);
        let (tx, mut rx) = mpsc::channel::<(u64, Bytes)>(1);
        let cutting = ingest(
            body,
            hashes,
            stripe,
            expected_len,
            self.budget.clone(),
            tx,
            limit,
        );
        // A body that only needs copying and CRCs is read in this task, which hyper
        // polls on the connection's own thread: no thread switch per received chunk.
        // One that hashes as it is read (SHA) is read on a blocking thread.
        let cutting = if hashes.light() {
            Either::Left(cutting)
        } else {
            let handle = tokio::runtime::Handle::current();
            Either::Right(async move {
                tokio::task::spawn_blocking(move || handle.block_on(cutting))
                    .await
                    .unwrap_or_else(|e| Err(WriteError::Body(format!("ingest thread: {e}"))))
            })
        };
        let writing = async {
            let mut writes: JoinSet<Result<(), RgwError>> = JoinSet::new();
            let mut sent = 0u64;
            let mut failure: Option<WriteError> = None;
            let mut kept: Option<Bytes> = None;
            while let Some((n, data)) = rx.recv().await {
                if inline.is_some() {
                    kept = Some(data);
                    continue;
                }
                sent = sent.max(n + 1);
                while writes.len() >= self.tuning.put_parallel.max(1) {
                    if let Some(Ok(Err(e))) = writes.join_next().await {
                        failure.get_or_insert(WriteError::Store(e));
                    }
                }
                if failure.is_some() {
                    break;
                }
                let io = self.io.clone();
                let name = format!("{instance}.{n}");
                writes.spawn(async move {
                    io.write_full(&name, data)
                        .await
                        .map(|_| ())
                        .map_err(RgwError::from)
                });
            }
            drop(rx);
            while let Some(r) = writes.join_next().await {
                if let Ok(Err(e)) = r {
                    failure.get_or_insert(WriteError::Store(e));
                }
            }
            (sent, failure, kept)
        };
        let (cut, (sent, failure, kept)) = futures::join!(cutting, writing);
        let result = match cut {
            Ok((hashers, size)) => match failure {
                // The digests only now that the data is written: the MD5 service steps
                // with more lanes the longer it may wait (see `hash_lanes`).
                None => match tokio::task::spawn_blocking(move || hashers.finish()).await {
                    Ok(digests) => Ok(Written {
                        segment: Segment {
                            i: instance.clone(),
                            s: size,
                            ss: if inline.is_some() { 0 } else { stripe },
                        },
                        digests,
                        inline: inline.map(|_| kept.unwrap_or_default()),
                    }),
                    Err(e) => Err(WriteError::Body(format!("hashing thread: {e}"))),
                },
                Some(f) => Err(f),
            },
            Err(e) => Err(failure.unwrap_or(e)),
        };
        if result.is_err() && inline.is_none() {
            let seg = Segment {
                i: instance,
                s: sent * stripe,
                ss: stripe,
            };
            self.delete(&[seg]).await;
        }
        result
    }

    /// Removes the stripes of segments (best effort: leftovers are only garbage).
    pub async fn delete(&self, segments: &[Segment]) {
        crate::gc::remove_stripes(&self.io, segments).await;
    }

    /// Bytes `[start, end)` of the data made of `segments`, as a stream.
    pub fn read_range(
        &self,
        segments: &[Segment],
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, RgwError>> + Send + 'static {
        let mut pieces = Vec::new();
        let mut base = 0u64;
        for seg in segments {
            let (s0, s1) = (base, base + seg.s);
            base = s1;
            if s1 <= start || s0 >= end || seg.ss == 0 {
                continue;
            }
            let from = start.max(s0) - s0;
            let to = end.min(s1) - s0;
            let mut n = from / seg.ss;
            while n * seg.ss < to {
                let o0 = n * seg.ss;
                let lo = from.max(o0) - o0;
                let hi = to.min(o0 + seg.ss) - o0;
                pieces.push((seg.stripe_name(n), lo, hi - lo));
                n += 1;
            }
        }
        let io = self.io.clone();
        let budget = self.budget.clone();
        let prefetch = self.tuning.get_prefetch.max(1);
        futures::stream::iter(pieces)
            .map(move |(name, off, len)| {
                let io = io.clone();
                let budget = budget.clone();
                async move {
                    let _permit = budget
                        .acquire_many_owned(units(len))
                        .await
                        .map_err(|_| RgwError::Config("data budget closed".into()))?;
                    // The stripe's bytes as the pieces they were decoded from: passed
                    // on to the response as they are, never joined into one buffer.
                    let data = io.read_segments(&name, off, len).await?;
                    let got: usize = data.iter().map(Bytes::len).sum();
                    if got as u64 != len {
                        return Err(RgwError::Corrupt {
                            what: name,
                            reason: format!("read {got} bytes at {off}, expected {len}"),
                        });
                    }
                    Ok(futures::stream::iter(
                        data.into_iter().filter(|b| !b.is_empty()).map(Ok),
                    ))
                }
            })
            .buffered(prefetch)
            .try_flatten()
    }

    /// Bytes `[start, end)` of object `e`, as a stream: from its stripes, or from the
    /// inline bytes read with the entry.
    pub fn read_object(
        &self,
        e: &IndexEntry,
        start: u64,
        end: u64,
    ) -> impl Stream<Item = Result<Bytes, RgwError>> + Send + 'static {
        if !e.inline {
            return Either::Left(self.read_range(&e.data, start, end));
        }
        let what = e.data.first().map_or("inline object", |s| s.i.as_str());
        let piece = match &e.body {
            Some(body) if end <= body.len() as u64 && start <= end => {
                Ok(body.slice(start as usize..end as usize))
            }
            Some(body) => Err(RgwError::Corrupt {
                what: what.to_string(),
                reason: format!("inline data has {} bytes, {end} needed", body.len()),
            }),
            None => Err(RgwError::Corrupt {
                what: what.to_string(),
                reason: "inline data missing beside its index entry".into(),
            }),
        };
        Either::Right(futures::stream::iter(
            (start < end || piece.is_err()).then_some(piece),
        ))
    }

    /// Reads `[start, end)` into one buffer (small copies only).
    pub async fn read_all(
        &self,
        segments: &[Segment],
        start: u64,
        end: u64,
    ) -> Result<Bytes, RgwError> {
        let mut out = BytesMut::with_capacity(usize::try_from(end - start).unwrap_or(0));
        let mut s = std::pin::pin!(self.read_range(segments, start, end));
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out.freeze())
    }
}

/// Takes in a body: pulls it, cuts stripes and hands each to its write, feeds the
/// hashers every byte once (their digests are taken once the stripes are written).
async fn ingest<S>(
    mut body: S,
    hashes: Hashes,
    stripe: u64,
    expected_len: Option<u64>,
    budget: Arc<Semaphore>,
    tx: mpsc::Sender<(u64, Bytes)>,
    limit: u64,
) -> Result<(Hashers, u64), WriteError>
where
    S: Stream<Item = Result<Bytes, s3s::StdError>> + Unpin,
{
    let mut hashers = Hashers::new(hashes);
    let mut total = 0u64;
    let mut index = 0u64;
    let mut buf = BytesMut::new();
    // The budget share of the stripe being filled.
    let mut permit: Option<OwnedSemaphorePermit> = None;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| WriteError::Body(e.to_string()))?;
        hashers.update_checksum(&chunk);
        total += chunk.len() as u64;
        if total > limit {
            return Err(WriteError::TooLarge { limit });
        }
        if let Some(exp) = expected_len
            && total > exp
        {
            return Err(WriteError::Length {
                expected: exp,
                got: total,
            });
        }
        let mut rest = &chunk[..];
        while !rest.is_empty() {
            if permit.is_none() {
                let remaining = expected_len.map_or(stripe, |e| e.saturating_sub(index * stripe));
                let cap = remaining.clamp(1, stripe);
                let (p, got) = take_budget(&budget, units(cap), hashers).await?;
                hashers = got;
                permit = Some(p);
                buf.reserve(usize::try_from(cap).unwrap_or(0));
            }
            let room = usize::try_from(stripe).unwrap_or(usize::MAX) - buf.len();
            let n = room.min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            if buf.len() as u64 == stripe {
                hashers = hand_over(index, &mut buf, &mut permit, hashers, &tx).await?;
                index += 1;
            }
        }
    }
    if !buf.is_empty() {
        hashers = hand_over(index, &mut buf, &mut permit, hashers, &tx).await?;
    }
    if let Some(exp) = expected_len
        && total != exp
    {
        return Err(WriteError::Length {
            expected: exp,
            got: total,
        });
    }
    Ok((hashers, total))
}

/// Budget for the next stripe, `units` of it. When the budget is spent, the upload
/// first waits until the lane services have hashed what it handed them (on a blocking
/// thread): a stripe's share is held until both its write and its hashing are done,
/// and a stripe collected by the MD5 stream but not handed to the service is hashed
/// only when this upload goes on, so an upload must never wait for budget while
/// holding such a stripe (uploads waiting on each other's stripes could hold the whole
/// budget).
async fn take_budget(
    budget: &Arc<Semaphore>,
    units: u32,
    mut hashers: Hashers,
) -> Result<(OwnedSemaphorePermit, Hashers), WriteError> {
    let closed = || WriteError::Body("data budget closed".into());
    match budget.clone().try_acquire_many_owned(units) {
        Ok(p) => return Ok((p, hashers)),
        Err(TryAcquireError::Closed) => return Err(closed()),
        Err(TryAcquireError::NoPermits) => {}
    }
    if hashers.lanes_hold_data() {
        hashers = tokio::task::spawn_blocking(move || {
            hashers.settle_lanes();
            hashers
        })
        .await
        .map_err(|e| WriteError::Body(format!("hashing thread: {e}")))?;
    }
    let p = budget
        .clone()
        .acquire_many_owned(units)
        .await
        .map_err(|_| closed())?;
    Ok((p, hashers))
}

/// A stripe's bytes with the budget share that counts them: the share is given back
/// when the last holder (its write, the MD5 service) lets go of the bytes.
struct Budgeted {
    data: Bytes,
    _share: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Budgeted {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

/// Sends a full stripe to its write, then to the MD5, which hashes it while it is
/// written. (The MD5 takes stripes, not the received chunks: a chunk it kept would pin
/// hyper's whole read buffer, and the stripe is in memory anyway.) The stripe's bytes
/// carry its budget share. When handing it to the MD5 would block until the lane
/// services catch up (a long upload's earlier stripes still being hashed), that is
/// done on a blocking thread: the intake may be running on a reactor thread.
async fn hand_over(
    index: u64,
    buf: &mut BytesMut,
    permit: &mut Option<OwnedSemaphorePermit>,
    mut hashers: Hashers,
    tx: &mpsc::Sender<(u64, Bytes)>,
) -> Result<Hashers, WriteError> {
    let Some(share) = permit.take() else {
        return Err(WriteError::Body("stripe without budget".into()));
    };
    let data = Bytes::from_owner(Budgeted {
        data: std::mem::take(buf).freeze(),
        _share: share,
    });
    tx.send((index, data.clone()))
        .await
        .map_err(|_| WriteError::Body("upload abandoned".into()))?;
    if !hashers.lanes_would_wait(data.len()) {
        hashers.update_lanes(data);
        return Ok(hashers);
    }
    tokio::task::spawn_blocking(move || {
        hashers.update_lanes(data);
        hashers
    })
    .await
    .map_err(|e| WriteError::Body(format!("hashing thread: {e}")))
}
