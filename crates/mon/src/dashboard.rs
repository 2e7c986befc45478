//! The monitor's read-only web dashboard, served on its `metrics_addr` beside
//! `/metrics`: `/` is a page (HTML, a script and a style sheet compiled into the binary,
//! nothing loaded from elsewhere) that polls `/api/status` every two seconds and shows
//! cluster health with each warning's remedy, the monitors, the OSD tree by host with
//! up/in and device usage, pools with their objects and bytes, PG states, recovery
//! progress and a ten-minute client throughput graph.
//!
//! `/api/status` is the same answer on every monitor: the status comes through the
//! monitor service (so a follower forwards it to the leader, which has the OSD
//! reports), and the OSD tree and pools come from the applied map. It never changes
//! anything; there is no way to act on the cluster from the page.

use std::collections::BTreeMap;
use std::sync::Arc;

use cuttle_metrics::{Page, PageFuture, Pages};
use cuttle_proto as pb;
use cuttle_proto::monitor_server::Monitor;
use cuttle_types::{ClusterMap, Redundancy};
use serde_json::{Value, json};

use crate::node::MonNode;
use crate::service::MonService;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// The dashboard of one monitor.
pub struct Dashboard {
    node: Arc<MonNode>,
    service: MonService,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard")
            .field("monitor", &self.node.name())
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// The dashboard of `node`.
    pub fn new(node: Arc<MonNode>) -> Dashboard {
        Dashboard {
            service: MonService::new(node.clone()),
            node,
        }
    }

    /// The `/api/status` document.
    async fn status_json(&self) -> Value {
        let req = tonic::Request::new(pb::StatusRequest { io_history: true });
        let status = match self.service.status(req).await {
            Ok(r) => r.into_inner(),
            Err(e) => {
                return json!({ "error": format!("status unavailable: {}", e.message()) });
            }
        };
        document(&status, &self.node.sm.current().map)
    }
}

impl Pages for Dashboard {
    fn get(&self, path: &str) -> PageFuture<'_> {
        let path = path.to_string();
        Box::pin(async move {
            match path.as_str() {
                "/" | "/index.html" => Some(Page::ok("text/html; charset=utf-8", INDEX_HTML)),
                "/dashboard.js" => Some(Page::ok("text/javascript; charset=utf-8", SCRIPT)),
                "/dashboard.css" => Some(Page::ok("text/css; charset=utf-8", STYLE)),
                "/api/status" => {
                    let doc = self.status_json().await;
                    Some(Page::ok("application/json", doc.to_string()))
                }
                _ => None,
            }
        })
    }
}

/// "EC 2+1" or "replicated ×3".
fn redundancy(r: &Redundancy) -> String {
    match r {
        Redundancy::Replicated { size } => format!("replicated ×{size}"),
        Redundancy::Erasure(p) => format!("EC {}+{}", p.k, p.m),
    }
}

fn rate(r: &pb::IoRate) -> Value {
    json!({
        "unix_ms": r.unix_ms,
        "read_bytes_per_sec": r.read_bytes_per_sec,
        "write_bytes_per_sec": r.write_bytes_per_sec,
        "read_ops_per_sec": r.read_ops_per_sec,
        "write_ops_per_sec": r.write_ops_per_sec,
    })
}

/// The JSON the page renders, from a status answer and the map.
pub fn document(st: &pb::StatusReply, map: &ClusterMap) -> Value {
    let usage: BTreeMap<u32, &pb::OsdUsage> = st.osd_usage.iter().map(|u| (u.osd_id, u)).collect();
    let mut hosts: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for o in map.osds.values() {
        let u = usage.get(&o.id.0);
        hosts.entry(o.host.as_str()).or_default().push(json!({
            "id": o.id.0,
            "name": o.id.to_string(),
            "up": o.up,
            "in": o.in_cluster,
            "addr": o.addr,
            "weight": o.weight.as_f64(),
            "bytes_total": u.map(|u| u.bytes_total),
            "bytes_used": u.map(|u| u.bytes_used),
        }));
    }
    let pool_usage: BTreeMap<u32, &pb::PoolUsage> =
        st.pool_usage.iter().map(|p| (p.pool, p)).collect();
    let pools: Vec<Value> = map
        .pools
        .values()
        .map(|p| {
            let u = pool_usage.get(&p.id.0);
            json!({
                "id": p.id.0,
                "name": p.name,
                "redundancy": redundancy(&p.redundancy),
                "pg_num": p.pg_num,
                "min_size": p.min_size,
                "objects": u.map_or(0, |u| u.objects),
                "bytes": u.map_or(0, |u| u.bytes),
                "pgs_uncounted": u.map_or(p.pg_num, |u| u.pgs_uncounted),
            })
        })
        .collect();
    json!({
        "fsid": st.fsid,
        "epoch": st.epoch,
        "health": st.health,
        "checks": st.checks.iter().map(|c| json!({
            "code": c.code,
            "severity": c.severity,
            "summary": c.summary,
            "detail": c.detail,
            "remedy": c.remedy,
        })).collect::<Vec<_>>(),
        "leader": st.leader,
        "term": st.term,
        "answered_by": st.answered_by,
        "monitors": st.monitors.iter().map(|m| json!({
            "name": m.name,
            "addr": m.addr,
            "leader": m.leader,
            "reachable": m.reachable,
        })).collect::<Vec<_>>(),
        "osds": { "total": st.osds, "up": st.osds_up, "in": st.osds_in },
        "hosts": hosts.into_iter().map(|(name, osds)| json!({ "name": name, "osds": osds }))
            .collect::<Vec<_>>(),
        "pools": pools,
        "usage": { "bytes_total": st.bytes_total, "bytes_used": st.bytes_used },
        "pgs_total": map.pools.values().map(|p| u64::from(p.pg_num)).sum::<u64>(),
        "pg_states": st.pg_states.iter().map(|p| json!({ "state": p.state, "count": p.count }))
            .collect::<Vec<_>>(),
        "recovery": {
            "objects_remaining": st.recovery_objects_remaining,
            "bytes_per_sec": st.recovery_bytes_per_sec,
            "objects_per_sec": st.recovery_objects_per_sec,
        },
        "client_io": rate(&st.client_io.unwrap_or_default()),
        "io_history": st.io_history.iter().map(rate).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cuttle_types::{
        EcCodec, EcProfile, FailureDomain, OsdId, OsdInfo, OsdWeight, Pool, PoolId,
    };

    #[test]
    fn document_groups_osds_by_host_and_joins_usage() {
        let mut map = ClusterMap::new(uuid::Uuid::from_u128(1));
        for (id, host, up) in [(0, "b", true), (1, "a", false), (2, "a", true)] {
            map.osds.insert(
                OsdId(id),
                OsdInfo {
                    id: OsdId(id),
                    uuid: uuid::Uuid::from_u128(u128::from(id) + 10),
                    host: host.into(),
                    addr: format!("127.0.0.1:{}", 7000 + id),
                    weight: OsdWeight::ONE,
                    up,
                    in_cluster: true,
                    down_since: None,
                },
            );
        }
        map.pools.insert(
            PoolId(1),
            Pool {
                id: PoolId(1),
                name: "data".into(),
                redundancy: Redundancy::Erasure(EcProfile {
                    k: 2,
                    m: 1,
                    stripe_unit: 4096,
                    codec: EcCodec::ReedSolomonVandermonde,
                }),
                pg_num: 8,
                failure_domain: FailureDomain::Host,
                min_size: 3,
            },
        );
        let st = pb::StatusReply {
            health: "HEALTH_WARN".into(),
            osd_usage: vec![pb::OsdUsage {
                osd_id: 2,
                bytes_total: 100,
                bytes_used: 40,
            }],
            pool_usage: vec![pb::PoolUsage {
                pool: 1,
                name: "data".into(),
                objects: 5,
                bytes: 5000,
                pgs_uncounted: 2,
            }],
            io_history: vec![pb::IoRate {
                unix_ms: 9,
                write_bytes_per_sec: 1.5,
                ..pb::IoRate::default()
            }],
            ..pb::StatusReply::default()
        };
        let doc = document(&st, &map);
        let hosts = doc["hosts"].as_array().expect("hosts");
        assert_eq!(hosts.len(), 2);
        assert_eq!(hosts[0]["name"], "a");
        assert_eq!(hosts[0]["osds"][0]["name"], "osd.1");
        assert_eq!(hosts[0]["osds"][0]["up"], false);
        assert_eq!(hosts[0]["osds"][1]["bytes_used"], 40);
        assert_eq!(hosts[0]["osds"][0]["bytes_used"], Value::Null);
        assert_eq!(doc["pools"][0]["redundancy"], "EC 2+1");
        assert_eq!(doc["pools"][0]["objects"], 5);
        assert_eq!(doc["pools"][0]["pgs_uncounted"], 2);
        assert_eq!(doc["pgs_total"], 8);
        assert_eq!(doc["io_history"][0]["write_bytes_per_sec"], 1.5);
        assert_eq!(doc["client_io"]["read_bytes_per_sec"], 0.0);
    }
}
