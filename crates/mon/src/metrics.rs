//! The monitor's Prometheus metrics (`docs/metrics.md`): Raft position, the cluster
//! map's epoch and OSD counts, and — on the leader only, the one monitor that has the
//! OSDs' reports — the cluster's health. Everything is read at scrape time from the
//! Raft metrics channel and the applied state; nothing is added to request paths.

use std::sync::Arc;

use cuttle_metrics::Exporter;
use cuttle_metrics::prometheus_client::collector::Collector;
use cuttle_metrics::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use cuttle_metrics::prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use cuttle_metrics::prometheus_client::registry::Registry;

use crate::node::MonNode;

/// Health as a number: 0 `HEALTH_OK`, 1 `HEALTH_WARN`, 2 `HEALTH_ERR`.
pub fn health_value(health: &str) -> i64 {
    match health {
        "HEALTH_OK" => 0,
        "HEALTH_WARN" => 1,
        _ => 2,
    }
}

/// `cuttle_mon_health_status`, encoded only by the leader (a follower has no OSD
/// reports to judge PGs and usage by).
#[derive(Debug)]
struct HealthCollector {
    node: Arc<MonNode>,
}

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if !self.node.is_leader() {
            return Ok(());
        }
        let gauge = ConstGauge::new(health_value(
            &self.node.status(self.node.quorum_acked()).health,
        ));
        let m = encoder.encode_descriptor(
            "cuttle_mon_health_status",
            "Cluster health as the leader computes it: 0 HEALTH_OK, 1 HEALTH_WARN, 2 HEALTH_ERR (exported by the leader only)",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(m)
    }
}

/// The monitor's exporter.
pub fn exporter(node: Arc<MonNode>) -> Exporter {
    let mut reg = Registry::default();
    let gauge = |reg: &mut Registry, name: &str, help: &str| {
        let g: Gauge = Gauge::default();
        reg.register(name, help, g.clone());
        g
    };
    let term = gauge(&mut reg, "cuttle_mon_raft_term", "Current Raft term");
    let leader = gauge(
        &mut reg,
        "cuttle_mon_raft_leader_id",
        "Raft id of the leader this monitor knows (1-based position in name order; 0: none)",
    );
    let is_leader = gauge(
        &mut reg,
        "cuttle_mon_raft_is_leader",
        "1 if this monitor is the Raft leader, else 0",
    );
    let last_log = gauge(
        &mut reg,
        "cuttle_mon_raft_last_log_index",
        "Index of the last entry in this monitor's Raft log",
    );
    let applied = gauge(
        &mut reg,
        "cuttle_mon_raft_last_applied_index",
        "Index of the last Raft entry applied to this monitor's state machine (committed entries only)",
    );
    let epoch = gauge(
        &mut reg,
        "cuttle_mon_map_epoch",
        "Epoch of the cluster map this monitor has applied",
    );
    let osds = gauge(&mut reg, "cuttle_mon_osds", "OSDs in the cluster map");
    let osds_up = gauge(&mut reg, "cuttle_mon_osds_up", "OSDs marked up");
    let osds_in = gauge(&mut reg, "cuttle_mon_osds_in", "OSDs marked in");
    let pools = gauge(&mut reg, "cuttle_mon_pools", "Pools in the cluster map");
    reg.register_collector(Box::new(HealthCollector { node: node.clone() }));
    let mut ex = Exporter::new(reg);
    ex.on_scrape(move || {
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        {
            let m = node.raft.metrics().borrow().clone();
            term.set(as_i64(m.current_term));
            leader.set(as_i64(m.current_leader.unwrap_or(0)));
            is_leader.set(i64::from(m.current_leader == Some(node.raft_id)));
            last_log.set(as_i64(m.last_log_index.unwrap_or(0)));
        }
        applied.set(as_i64(node.sm.last_applied_index()));
        let state = node.sm.current();
        let map = &state.map;
        epoch.set(as_i64(map.epoch.0));
        osds.set(map.osds.len() as i64);
        osds_up.set(map.osds.values().filter(|o| o.up).count() as i64);
        osds_in.set(map.osds.values().filter(|o| o.in_cluster).count() as i64);
        pools.set(map.pools.len() as i64);
    });
    ex
}

#[cfg(test)]
mod tests {
    use super::health_value;

    #[test]
    fn health_maps_to_numbers() {
        assert_eq!(health_value("HEALTH_OK"), 0);
        assert_eq!(health_value("HEALTH_WARN"), 1);
        assert_eq!(health_value("HEALTH_ERR"), 2);
    }
}
