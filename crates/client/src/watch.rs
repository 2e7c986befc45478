//! `MapWatcher`: keeps the newest cluster map by subscribing to a monitor, applying
//! incrementals in order, and failing over to another monitor (resuming from the epoch
//! it has) when the stream breaks. A gap it cannot fill makes it ask for the full map.

use std::sync::Arc;
use std::time::Duration;

use cuttle_proto as pb;
use cuttle_types::{ClusterMap, MapIncremental};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::ClientError;
use crate::mon::MonClient;

/// A live view of the cluster map. Dropping it stops the subscription.
#[derive(Debug)]
pub struct MapWatcher {
    rx: watch::Receiver<Option<Arc<ClusterMap>>>,
    stop: CancellationToken,
}

impl Drop for MapWatcher {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl MapWatcher {
    /// Starts following the map through `client`'s monitors.
    pub fn start(client: MonClient) -> MapWatcher {
        let (tx, rx) = watch::channel(None);
        let stop = CancellationToken::new();
        tokio::spawn(follow(client, tx, stop.clone()));
        MapWatcher { rx, stop }
    }

    /// The newest map received, if any.
    pub fn current(&self) -> Option<Arc<ClusterMap>> {
        self.rx.borrow().clone()
    }

    /// A receiver that sees every new map.
    pub fn receiver(&self) -> watch::Receiver<Option<Arc<ClusterMap>>> {
        self.rx.clone()
    }

    /// Waits (up to `timeout`) for a map satisfying `pred`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&ClusterMap) -> bool,
    ) -> Result<Arc<ClusterMap>, ClientError> {
        let mut rx = self.rx.clone();
        let waited =
            tokio::time::timeout(timeout, rx.wait_for(|m| m.as_deref().is_some_and(&pred))).await;
        match waited {
            Ok(Ok(m)) => m
                .clone()
                .ok_or_else(|| ClientError::Protocol("map vanished".into())),
            Ok(Err(_)) => Err(ClientError::Protocol("map subscription ended".into())),
            Err(_) => Err(ClientError::Unreachable {
                secs: timeout.as_secs(),
                tried: "map subscription".into(),
                last: "the awaited map did not arrive".into(),
            }),
        }
    }
}

enum Next {
    Apply(MapIncremental),
    Replace(ClusterMap),
}

async fn follow(
    client: MonClient,
    tx: watch::Sender<Option<Arc<ClusterMap>>>,
    stop: CancellationToken,
) {
    let mut monitor = 0usize;
    loop {
        let have: Option<Arc<ClusterMap>> = tx.borrow().clone();
        let from = have.as_ref().map_or(0, |m| m.epoch.0);
        let mut c = client.raw(monitor);
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(Duration::from_secs(5), c.subscribe(pb::SubscribeRequest { from_epoch: from })) => r,
        };
        if let Ok(Ok(stream)) = opened {
            let mut stream = stream.into_inner();
            loop {
                let msg = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = stream.message() => m,
                };
                let Ok(Some(update)) = msg else { break };
                let next = match update.update {
                    Some(pb::map_update::Update::Full(m)) => match ClusterMap::try_from(&m) {
                        Ok(m) => Next::Replace(m),
                        Err(e) => {
                            tracing::warn!("bad map from monitor: {e}");
                            break;
                        }
                    },
                    Some(pb::map_update::Update::Incremental(i)) => {
                        match MapIncremental::try_from(&i) {
                            Ok(i) => Next::Apply(i),
                            Err(e) => {
                                tracing::warn!("bad map incremental from monitor: {e}");
                                break;
                            }
                        }
                    }
                    None => continue,
                };
                let current: Option<Arc<ClusterMap>> = tx.borrow().clone();
                let new = match (next, current) {
                    (Next::Replace(m), cur) => {
                        if cur.as_ref().is_some_and(|c| c.epoch > m.epoch) {
                            continue;
                        }
                        m
                    }
                    (Next::Apply(inc), Some(cur)) => {
                        if inc.epoch <= cur.epoch {
                            continue;
                        }
                        let mut m = (*cur).clone();
                        if m.apply(&inc).is_err() {
                            // A gap: start over with the full map.
                            tx.send_replace(None);
                            break;
                        }
                        m
                    }
                    (Next::Apply(_), None) => {
                        // An incremental without a base: ask for the full map.
                        break;
                    }
                };
                tx.send_replace(Some(Arc::new(new)));
            }
        }
        monitor += 1;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    }
}
