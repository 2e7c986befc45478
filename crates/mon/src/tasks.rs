//! Background work of a monitor: pinging peers, sampling client I/O rates, and — on
//! the leader — detecting failed OSDs (no heartbeat within the grace period → down;
//! down longer than the down-out interval → out).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cuttle_proto as pb;
use cuttle_types::OsdId;
use tokio_util::sync::CancellationToken;

use crate::node::MonNode;
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
    // When this monitor became leader: it has no heartbeat history from before, so no
    // OSD counts as silent until a whole grace has passed since then. The reports
    // themselves are left alone (wiping them made every PG "not reported" for a
    // heartbeat interval, and health flip to HEALTH_WARN, right after an election).
    let mut leader_since: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(tick) => {}
        }
        if !node.is_leader() {
            leader_since = None;
            continue;
        }
        let since = *leader_since.get_or_insert_with(Instant::now);
        let map = node.sm.current().map.clone();
        let last_heard: HashMap<OsdId, Instant> = node
            .osd_reports
            .lock()
            .iter()
            .map(|(id, r)| (*id, r.at))
            .collect();
        let silent = silent_osds(&map, &last_heard, since, grace);
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

/// The up OSDs of `map` not heard from within `grace`, counting from the later of their
/// last report and `leader_since` (a new leader gives every OSD a fresh grace).
fn silent_osds(
    map: &cuttle_types::ClusterMap,
    last_heard: &HashMap<OsdId, Instant>,
    leader_since: Instant,
    grace: Duration,
) -> Vec<OsdId> {
    map.osds
        .values()
        .filter(|o| o.up)
        .filter(|o| {
            let heard = last_heard
                .get(&o.id)
                .map_or(leader_since, |t| (*t).max(leader_since));
            heard.elapsed() > grace
        })
        .map(|o| o.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::tests::map;

    #[test]
    fn an_osd_is_silent_only_after_a_whole_grace_without_a_report() {
        let grace = Duration::from_secs(3);
        let now = Instant::now();
        let long_ago = now - Duration::from_secs(10);
        let all_up = map(3, 3);
        let heard = HashMap::from([(OsdId(0), now), (OsdId(1), long_ago)]);
        // Leader for long: osd.1 (stale report) and osd.2 (never heard) are silent.
        assert_eq!(
            silent_osds(&all_up, &heard, long_ago, grace),
            vec![OsdId(1), OsdId(2)]
        );
        // A new leader gives every OSD a fresh grace, whatever it heard before.
        assert!(silent_osds(&all_up, &heard, now, grace).is_empty());
        // Down OSDs are never reported silent again.
        assert!(silent_osds(&map(3, 1), &heard, long_ago, grace).is_empty());
    }
}
