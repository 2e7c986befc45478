//! Background work of an OSD: following the map (and peering PGs it is primary of),
//! heartbeats to the monitors, retrying peering of PGs with failed members, scheduled
//! scrubs, counting the objects and bytes of PGs it is primary of, and deleting stray
//! shards.

use std::sync::Arc;
use std::time::Duration;

use cuttle_objectstore::ObjectStore;
use cuttle_proto as pb;

use crate::osd::Osd;

/// Applies every new map and starts the peerings it calls for.
pub async fn follow_map(osd: Arc<Osd>) {
    let mut rx = osd.map.clone();
    loop {
        let map = rx.borrow_and_update().clone();
        if let Some(map) = map {
            for pg in osd.apply_map(&map).await {
                osd.spawn_peering(pg);
            }
        }
        tokio::select! {
            _ = osd.stop.cancelled() => return,
            r = rx.changed() => if r.is_err() { return },
        }
    }
}

/// Sends heartbeats (usage and PG states) to the monitors.
pub async fn heartbeat(osd: Arc<Osd>, every: Duration) {
    loop {
        let fs = osd.disk.statfs();
        let pg_states = osd
            .pg_state_counts()
            .into_iter()
            .map(|(state, count)| pb::PgStateCount { state, count })
            .collect();
        let pgs = osd.pg_stats();
        let req = pb::HeartbeatRequest {
            osd_id: osd.id.0,
            uuid: osd.uuid.to_string(),
            epoch: osd.current_map().map_or(0, |m| m.epoch.0),
            bytes_total: fs.total,
            bytes_used: fs.used,
            pg_states,
            pgs,
            client_io: Some(osd.metrics.client_io()),
        };
        if let Err(e) = osd.mon.heartbeat(req).await {
            tracing::warn!("heartbeat to the monitors failed: {e}");
        }
        tokio::select! {
            _ = osd.stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Counts the objects and bytes of the PGs this OSD is primary of, every `every`, for
/// the pool usage the monitors report. Only PGs written since their last count are
/// listed again, so an idle OSD does no work here.
pub async fn count_pg_usage(osd: Arc<Osd>, every: Duration) {
    loop {
        tokio::select! {
            _ = osd.stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let pgs: Vec<_> = osd.pgs.lock().values().cloned().collect();
        for pg in pgs {
            if osd.stop.is_cancelled() {
                return;
            }
            if let Err(e) = osd.count_usage(&pg).await {
                tracing::debug!(pg = %pg.id, "counting PG usage failed: {e}");
            }
        }
    }
}

/// Re-peers PGs this OSD is primary of that are inactive or have failed members, and
/// starts scrubs that are due.
pub async fn maintain(osd: Arc<Osd>) {
    loop {
        tokio::select! {
            _ = osd.stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let pgs: Vec<_> = osd.pgs.lock().values().cloned().collect();
        for pg in pgs {
            let (needs, scrub_due) = match pg.state.try_read() {
                Ok(st) => {
                    let primary = st.primary == Some(osd.id);
                    let now = crate::osd::unix_now();
                    let (light, deep) = osd.scrub_intervals;
                    let idle = st.is_active() && st.recovering.is_empty() && st.dirty.is_empty();
                    let due = if deep > 0 && now.saturating_sub(st.last_deep_scrub) >= deep {
                        Some(true)
                    } else if light > 0 && now.saturating_sub(st.last_scrub) >= light {
                        Some(false)
                    } else {
                        None
                    };
                    (
                        primary && (!st.is_active() || !st.dirty.is_empty()),
                        due.filter(|_| primary && idle),
                    )
                }
                Err(_) => (false, None),
            };
            if needs {
                osd.spawn_peering(pg);
            } else if let Some(deep) = scrub_due {
                let o = osd.clone();
                osd.tasks.spawn(async move {
                    if let Err(e) = o.scrub(&pg, deep).await {
                        tracing::warn!(pg = %pg.id, "scheduled scrub failed: {e}");
                    }
                });
            }
        }
    }
}

/// Deletes shards of PGs that moved away once they are clean elsewhere, every `every`.
pub async fn remove_strays(osd: Arc<Osd>, every: Duration) {
    loop {
        tokio::select! {
            _ = osd.stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(e) = osd.remove_strays().await {
            tracing::warn!("removing stray PG shards failed: {e}");
        }
    }
}
