//! Watch/notify on objects (Ceph's): [`IoCtx::watch`] keeps a watch registered on an
//! object's primary for as long as its [`WatchHandle`] lives, following the primary
//! across map changes, and calls a handler for each notification before acknowledging
//! it; [`IoCtx::notify`] delivers a payload to every watcher and waits for them.
//!
//! The handler also hears when the watch is lost and established again: between the
//! two, notifications may have been missed, so a cache must stop trusting itself on
//! [`WatchEvent::Lost`] and start afresh on [`WatchEvent::Established`].

use std::time::Duration;

use bytes::Bytes;
use cuttle_placement::object_to_pg;
use cuttle_proto as pb;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::error::ClientError;
use crate::objects::IoCtx;

/// What a watch handler is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// The watch is registered (first time, or again after [`WatchEvent::Lost`]).
    Established,
    /// The watch ended (primary change, OSD failure, missed acknowledgement); it is
    /// being registered again. Notifications sent until `Established` are missed.
    Lost,
    /// A notification's payload. It is acknowledged when the handler returns.
    Notify(Bytes),
}

/// A running watch; dropping it ends the watch.
#[derive(Debug)]
pub struct WatchHandle {
    task: JoinHandle<()>,
    established: watch::Receiver<bool>,
}

impl WatchHandle {
    /// Whether the watch is registered right now.
    pub fn is_established(&self) -> bool {
        *self.established.borrow()
    }

    /// Waits until the watch is registered, up to `timeout`; returns whether it is.
    pub async fn wait_established(&mut self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.established.wait_for(|e| *e))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a notify achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyResult {
    /// Watchers that handled the notification.
    pub acked: u32,
    /// Watchers that did not in time (their watches were ended, so they will treat
    /// their state as stale).
    pub timed_out: u32,
}

impl IoCtx {
    /// Watches `object` until the returned handle is dropped; `handler` runs for every
    /// event, on the watch's task (keep it short and non-blocking).
    pub fn watch<F>(&self, object: &str, handler: F) -> WatchHandle
    where
        F: Fn(WatchEvent) + Send + Sync + 'static,
    {
        let (tx, established) = watch::channel(false);
        let io = self.clone();
        let object = object.to_string();
        let task = tokio::spawn(async move {
            let mut pause = Duration::from_millis(50);
            loop {
                match io.watch_once(&object, &handler, &tx).await {
                    Ok(()) => pause = Duration::from_millis(50),
                    Err(e) => {
                        tracing::debug!("watch on {object}: {e}");
                    }
                }
                if tx.send_replace(false) {
                    handler(WatchEvent::Lost);
                }
                // Wait for a newer map (the usual cause) or a moment.
                if let Ok(map) = io.cluster().map() {
                    let _ = io.cluster().wait_for_epoch(map.epoch.0 + 1, pause).await;
                } else {
                    tokio::time::sleep(pause).await;
                }
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        });
        WatchHandle { task, established }
    }

    /// One registration: returns when the watch ends.
    async fn watch_once<F>(
        &self,
        object: &str,
        handler: &F,
        established: &watch::Sender<bool>,
    ) -> Result<(), ClientError>
    where
        F: Fn(WatchEvent) + Send + Sync + 'static,
    {
        let map = self.cluster().map()?;
        let pool = map
            .pools
            .get(&self.pool_id())
            .ok_or_else(|| ClientError::Protocol(format!("pool {} is gone", self.pool_id())))?;
        let pg = object_to_pg(pool, object.as_bytes());
        let (osd, addr) = self.cluster().primary(&map, pg).ok_or_else(|| {
            ClientError::Protocol(format!("no member of pg {pg} is up at epoch {}", map.epoch))
        })?;
        let mut client = self.cluster().osd(osd, &addr)?;
        let (out, rx) = mpsc::channel(16);
        let start = pb::WatchMessage {
            msg: Some(pb::watch_message::Msg::Start(pb::WatchStart {
                epoch: map.epoch.0,
                pg: Some(pb::PgRef {
                    pool: pg.pool.0,
                    seed: pg.seed,
                }),
                object: object.to_string(),
            })),
        };
        out.send(start)
            .await
            .map_err(|_| ClientError::Protocol("watch stream closed".into()))?;
        let mut events = client
            .watch(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .map_err(|s| ClientError::from_status(&s))?
            .into_inner();
        match events.message().await {
            Ok(Some(first)) if first.notify_id == 0 => {}
            Ok(_) => return Err(ClientError::Protocol("watch not confirmed".into())),
            Err(s) => return Err(ClientError::from_status(&s)),
        }
        established.send_replace(true);
        handler(WatchEvent::Established);
        loop {
            match events.message().await {
                Ok(Some(ev)) => {
                    handler(WatchEvent::Notify(ev.payload));
                    let ack = pb::WatchMessage {
                        msg: Some(pb::watch_message::Msg::Ack(ev.notify_id)),
                    };
                    if out.send(ack).await.is_err() {
                        return Ok(());
                    }
                }
                Ok(None) => return Ok(()),
                Err(s) => return Err(ClientError::from_status(&s)),
            }
        }
    }

    /// Sends `payload` to every watcher of `object`; waits up to `timeout` for each to
    /// handle it.
    pub async fn notify(
        &self,
        object: &str,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<NotifyResult, ClientError> {
        let timeout_ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        let r = self
            .on_object_primary(object, |mut c, epoch, pg| {
                let req = pb::NotifyRequest {
                    epoch,
                    pg: Some(pg),
                    object: object.to_string(),
                    payload: payload.clone(),
                    timeout_ms,
                };
                async move { c.notify(req).await }
            })
            .await?;
        Ok(NotifyResult {
            acked: r.acked,
            timed_out: r.timed_out,
        })
    }
}
