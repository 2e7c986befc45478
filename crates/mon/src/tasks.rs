//! Background work of a monitor: pinging peers, sampling client I/O rates, and — on
//! the leader — detecting failed OSDs (no heartbeat within the grace period → down;
//! down longer than the down-out interval → out).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cuttle_proto as pb;
use cuttle_types::OsdId;
use tokio_util::sync::CancellationToken;

use crate::health::OsdUsage;
use crate::node::{MonNode, OsdReport};
use crate::state::MonCommand;

/// Snapshots the client I/O totals every [`crate::client_io::SAMPLE_EVERY`].
/// The first snapshot is taken at once, so I/O reported before the first interval ends
/// shows in the first rate instead of vanishing into the baseline.
pub async fn sample_client_io(node: Arc<MonNode>, stop: CancellationToken) {
    loop {
        node.client_io
            .sample(Instant::now(), MonNode::now_unix().saturating_mul(1000));
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(crate::client_io::SAMPLE_EVERY) => {}
        }
    }
}

/// Pings every peer monitor periodically and records who answers.
pub async fn pinger(node: Arc<MonNode>, stop: CancellationToken) {
    let every = Duration::from_millis(node.config.timing.ping_interval_ms);
    let peers: Vec<u64> = node
        .members
        .keys()
        .copied()
        .filter(|&id| id != node.raft_id)
        .collect();
    loop {
        for &id in &peers {
            let Ok(mut client) = node.client(id) else {
                continue;
            };
            let from = node.name().to_string();
            let node = node.clone();
            tokio::spawn(async move {
                let ping = client.ping(pb::PingRequest { from });
                if let Ok(Ok(_)) = tokio::time::timeout(every, ping).await {
                    node.last_pong.lock().insert(id, Instant::now());
                }
            });
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// On the leader: marks OSDs down and out on time.
pub async fn failure_detector(node: Arc<MonNode>, stop: CancellationToken) {
    let grace = Duration::from_secs(node.config.timing.osd_heartbeat_grace_secs);
    let down_out = node.config.timing.osd_down_out_interval_secs;
    let tick = (grace / 4).clamp(Duration::from_millis(200), Duration::from_secs(1));
    let mut was_leader = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        if !node.is_leader() {
            was_leader = false;
            continue;
        }
        let map = node.sm.current().map.clone();
        if !was_leader {
            // A new leader has no heartbeat history: every up OSD starts a fresh grace.
            let mut reports = node.osd_reports.lock();
            for o in map.osds.values().filter(|o| o.up) {
                reports.insert(
                    o.id,
                    OsdReport {
                        at: Instant::now(),
                        usage: OsdUsage::default(),
                        pg_states: Default::default(),
                        pgs: Vec::new(),
                    },
                );
            }
            was_leader = true;
            continue;
        }
        let last_seen: HashMap<OsdId, Instant> = node
            .osd_reports
            .lock()
            .iter()
            .map(|(id, r)| (*id, r.at))
            .collect();
        let silent: Vec<OsdId> = map
            .osds
            .values()
            .filter(|o| o.up)
            .filter(|o| last_seen.get(&o.id).is_none_or(|t| t.elapsed() > grace))
            .map(|o| o.id)
            .collect();
        if !silent.is_empty() {
            tracing::warn!(?silent, "marking OSDs down: no heartbeat within {grace:?}");
            if let Err(e) = node
                .propose(MonCommand::MarkDown {
                    osds: silent,
                    at: MonNode::now_unix(),
                })
                .await
            {
                tracing::warn!("could not mark OSDs down: {}", e.message());
            }
        }
        let now = MonNode::now_unix();
        let expired: Vec<OsdId> = map
            .osds
            .values()
            .filter(|o| !o.up && o.in_cluster)
            .filter(|o| {
                o.down_since
                    .is_some_and(|t| now.saturating_sub(t) >= down_out)
            })
            .map(|o| o.id)
            .collect();
        if !expired.is_empty() {
            tracing::warn!(?expired, "marking OSDs out: down for {down_out}s or more");
            if let Err(e) = node.propose(MonCommand::MarkOut { osds: expired }).await {
                tracing::warn!("could not mark OSDs out: {}", e.message());
            }
        }
    }
}
