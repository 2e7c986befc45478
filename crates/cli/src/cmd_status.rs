//! `cuttle status`, `cuttle health [detail]` and `cuttle mon stat`: views of the
//! monitors' `Status` reply.
//!
//! JSON shapes (snake_case, stable for scripts):
//! - status: `{fsid, epoch, health, checks: [check], monitors: [monitor], quorum: [name],
//!   leader, term, osds, osds_up, osds_in, pools, bytes_total, bytes_used,
//!   pg_states: {state: count}, recovery: {objects_remaining, bytes_per_sec,
//!   objects_per_sec, eta_secs}, objects, stored_bytes, pool_usage: [{pool, name,
//!   objects, bytes, pgs_uncounted}], client_io: {read_bytes_per_sec,
//!   write_bytes_per_sec, read_ops_per_sec, write_ops_per_sec}, answered_by}`;
//! - health: `{health, checks: [check]}` with `check = {code, severity, summary,
//!   detail: [line], remedy}`;
//! - mon stat: `{leader, term, quorum: [name], monitors: [monitor], answered_by}` with
//!   `monitor = {name, raft_id, addr, leader, reachable, last_applied}`.

use std::collections::BTreeMap;

use anyhow::Result;
use cuttle_proto as pb;
use serde::Serialize;

use crate::cmd_pg::RecoveryView;
use crate::ctx::{Ctx, failed};
use crate::output::{self, Report, Table, yes_no};

/// One health check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    /// Stable identifier (`MON_DOWN`...).
    pub code: String,
    /// `HEALTH_WARN` or `HEALTH_ERR`.
    pub severity: String,
    /// One-line summary.
    pub summary: String,
    /// Detail lines.
    pub detail: Vec<String>,
    /// What the operator can do.
    pub remedy: String,
}

impl From<&pb::HealthCheck> for CheckView {
    fn from(c: &pb::HealthCheck) -> Self {
        CheckView {
            code: c.code.clone(),
            severity: c.severity.clone(),
            summary: c.summary.clone(),
            detail: c.detail.clone(),
            remedy: c.remedy.clone(),
        }
    }
}

impl CheckView {
    /// `[WRN] CODE: summary`, as Ceph prints it.
    fn line(&self) -> String {
        let tag = match self.severity.as_str() {
            "HEALTH_ERR" => "ERR",
            "HEALTH_WARN" => "WRN",
            _ => "INF",
        };
        format!("[{tag}] {}: {}", self.code, self.summary)
    }
}

/// One monitor as the answering monitor sees it.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorView {
    /// Name (`a`).
    pub name: String,
    /// Raft node id.
    pub raft_id: u64,
    /// Address.
    pub addr: String,
    /// Whether it leads.
    pub leader: bool,
    /// Whether the answering monitor reaches it.
    pub reachable: bool,
    /// Last applied log index (known for the answering monitor only; 0 otherwise).
    pub last_applied: u64,
}

impl From<&pb::MonitorStatus> for MonitorView {
    fn from(m: &pb::MonitorStatus) -> Self {
        MonitorView {
            name: m.name.clone(),
            raft_id: m.raft_id,
            addr: m.addr.clone(),
            leader: m.leader,
            reachable: m.reachable,
            last_applied: m.last_applied,
        }
    }
}

/// Monitors in quorum: the reachable ones, or none when the cluster reports no quorum.
fn quorum(reply: &pb::StatusReply) -> Vec<String> {
    if reply.leader.is_empty() || reply.checks.iter().any(|c| c.code == "MON_QUORUM") {
        return Vec::new();
    }
    reply
        .monitors
        .iter()
        .filter(|m| m.reachable)
        .map(|m| m.name.clone())
        .collect()
}

/// Objects and logical bytes of one pool, as the PGs' primaries last counted them.
#[derive(Debug, Clone, Serialize)]
pub struct PoolUsageView {
    /// Pool id.
    pub pool: u32,
    /// Pool name.
    pub name: String,
    /// Objects.
    pub objects: u64,
    /// Logical bytes stored (before replication or erasure coding).
    pub bytes: u64,
    /// PGs not counted yet (the figures are then lower bounds).
    pub pgs_uncounted: u32,
}

/// Client I/O across the cluster over the monitors' last sampling interval (5 s).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientIoView {
    /// Bytes read per second.
    pub read_bytes_per_sec: f64,
    /// Bytes written per second.
    pub write_bytes_per_sec: f64,
    /// Read operations per second.
    pub read_ops_per_sec: f64,
    /// Write operations per second.
    pub write_ops_per_sec: f64,
}

impl ClientIoView {
    /// `1.2 MiB/s rd, 30 MiB/s wr, 10 op/s rd, 40 op/s wr`, or `None` when idle.
    fn line(&self) -> Option<String> {
        let idle = [
            self.read_bytes_per_sec,
            self.write_bytes_per_sec,
            self.read_ops_per_sec,
            self.write_ops_per_sec,
        ]
        .iter()
        .all(|v| *v < 0.05);
        (!idle).then(|| {
            format!(
                "{}/s rd, {}/s wr, {:.0} op/s rd, {:.0} op/s wr",
                output::bytes(self.read_bytes_per_sec as u64),
                output::bytes(self.write_bytes_per_sec as u64),
                self.read_ops_per_sec,
                self.write_ops_per_sec
            )
        })
    }
}

/// `cuttle status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    /// Cluster identity.
    pub fsid: String,
    /// Map epoch.
    pub epoch: u64,
    /// `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR`.
    pub health: String,
    /// Health checks.
    pub checks: Vec<CheckView>,
    /// Every monitor.
    pub monitors: Vec<MonitorView>,
    /// Names of the monitors in quorum.
    pub quorum: Vec<String>,
    /// Leader's name (empty without one).
    pub leader: String,
    /// Raft term.
    pub term: u64,
    /// OSDs in the map.
    pub osds: u32,
    /// OSDs up.
    pub osds_up: u32,
    /// OSDs in.
    pub osds_in: u32,
    /// Pools.
    pub pools: u32,
    /// Raw capacity reported by OSDs.
    pub bytes_total: u64,
    /// Raw bytes used.
    pub bytes_used: u64,
    /// PG state → count.
    pub pg_states: BTreeMap<String, u32>,
    /// Recovery and backfill in progress.
    pub recovery: RecoveryView,
    /// Objects in all pools.
    pub objects: u64,
    /// Logical bytes in all pools.
    pub stored_bytes: u64,
    /// Per pool.
    pub pool_usage: Vec<PoolUsageView>,
    /// Client I/O rates.
    pub client_io: ClientIoView,
    /// Monitor that answered.
    pub answered_by: String,
}

impl From<&pb::StatusReply> for StatusView {
    fn from(r: &pb::StatusReply) -> Self {
        let mut pg_states = BTreeMap::new();
        for p in &r.pg_states {
            *pg_states.entry(p.state.clone()).or_insert(0) += p.count;
        }
        StatusView {
            fsid: r.fsid.clone(),
            epoch: r.epoch,
            health: r.health.clone(),
            checks: r.checks.iter().map(CheckView::from).collect(),
            monitors: r.monitors.iter().map(MonitorView::from).collect(),
            quorum: quorum(r),
            leader: r.leader.clone(),
            term: r.term,
            osds: r.osds,
            osds_up: r.osds_up,
            osds_in: r.osds_in,
            pools: r.pools,
            bytes_total: r.bytes_total,
            bytes_used: r.bytes_used,
            pg_states,
            recovery: RecoveryView::new(
                r.recovery_objects_remaining,
                r.recovery_bytes_per_sec,
                r.recovery_objects_per_sec,
            ),
            objects: r.pool_usage.iter().map(|p| p.objects).sum(),
            stored_bytes: r.pool_usage.iter().map(|p| p.bytes).sum(),
            pool_usage: r
                .pool_usage
                .iter()
                .map(|p| PoolUsageView {
                    pool: p.pool,
                    name: p.name.clone(),
                    objects: p.objects,
                    bytes: p.bytes,
                    pgs_uncounted: p.pgs_uncounted,
                })
                .collect(),
            client_io: r
                .client_io
                .as_ref()
                .map(|c| ClientIoView {
                    read_bytes_per_sec: c.read_bytes_per_sec,
                    write_bytes_per_sec: c.write_bytes_per_sec,
                    read_ops_per_sec: c.read_ops_per_sec,
                    write_ops_per_sec: c.write_ops_per_sec,
                })
                .unwrap_or_default(),
            answered_by: r.answered_by.clone(),
        }
    }
}

impl Report for StatusView {
    fn table(&self) -> String {
        let mut s = String::new();
        s.push_str("  cluster:\n");
        s.push_str(&format!("    id:     {}\n", self.fsid));
        s.push_str(&format!("    health: {}\n", self.health));
        for c in &self.checks {
            s.push_str(&format!("            {}\n", c.line()));
        }
        s.push_str("\n  services:\n");
        let quorum = if self.quorum.is_empty() {
            "NO QUORUM".to_string()
        } else {
            format!("quorum {}", self.quorum.join(","))
        };
        let leader = if self.leader.is_empty() {
            "no leader".to_string()
        } else {
            format!("leader {}", self.leader)
        };
        let down: Vec<&str> = self
            .monitors
            .iter()
            .filter(|m| !m.reachable)
            .map(|m| m.name.as_str())
            .collect();
        let down = if down.is_empty() {
            String::new()
        } else {
            format!("; down: {}", down.join(","))
        };
        s.push_str(&format!(
            "    mon: {} daemons, {quorum} ({leader}, term {}){down}\n",
            self.monitors.len(),
            self.term
        ));
        s.push_str(&format!(
            "    osd: {} osds: {} up, {} in\n",
            self.osds, self.osds_up, self.osds_in
        ));
        s.push_str("\n  data:\n");
        s.push_str(&format!(
            "    pools: {} pools, map epoch {}\n",
            self.pools, self.epoch
        ));
        let pgs = if self.pg_states.is_empty() {
            "none reported".to_string()
        } else {
            let total: u32 = self.pg_states.values().sum();
            let states: Vec<String> = self
                .pg_states
                .iter()
                .map(|(st, n)| format!("{n} {st}"))
                .collect();
            format!("{total} pgs: {}", states.join(", "))
        };
        s.push_str(&format!(
            "    objects: {} objects, {}{}\n",
            self.objects,
            output::bytes(self.stored_bytes),
            if self.pool_usage.iter().any(|p| p.pgs_uncounted > 0) {
                " (some PGs not counted yet)"
            } else {
                ""
            }
        ));
        s.push_str(&format!(
            "    usage: {} used, {} / {} avail\n",
            output::bytes(self.bytes_used),
            output::bytes(self.bytes_total.saturating_sub(self.bytes_used)),
            output::bytes(self.bytes_total)
        ));
        s.push_str(&format!("    pgs:   {pgs}\n"));
        if let Some(line) = self.recovery.line() {
            s.push_str(&format!("    recovery: {line}\n"));
        }
        if let Some(line) = self.client_io.line() {
            s.push_str(&format!("\n  io:\n    client: {line}\n"));
        }
        if !self.answered_by.is_empty() {
            s.push_str(&format!("\n  (answered by mon.{})\n", self.answered_by));
        }
        s
    }
}

/// `cuttle health [detail]`.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    /// Overall status.
    pub health: String,
    /// Every check, with its detail and remedy.
    pub checks: Vec<CheckView>,
    /// Whether the table shows detail lines and remedies.
    #[serde(skip)]
    pub detail: bool,
}

impl Report for HealthView {
    fn table(&self) -> String {
        let mut s = format!("{}\n", self.health);
        for c in &self.checks {
            s.push_str(&c.line());
            s.push('\n');
            if self.detail {
                for d in &c.detail {
                    s.push_str(&format!("    {d}\n"));
                }
                if !c.remedy.is_empty() {
                    s.push_str(&format!("    remedy: {}\n", c.remedy));
                }
            }
        }
        s
    }
}

/// `cuttle mon stat`.
#[derive(Debug, Clone, Serialize)]
pub struct MonStatView {
    /// Leader's name (empty without one).
    pub leader: String,
    /// Raft term.
    pub term: u64,
    /// Names of the monitors in quorum.
    pub quorum: Vec<String>,
    /// Every monitor.
    pub monitors: Vec<MonitorView>,
    /// Monitor that answered.
    pub answered_by: String,
}

impl Report for MonStatView {
    fn table(&self) -> String {
        let leader = if self.leader.is_empty() {
            "none"
        } else {
            &self.leader
        };
        let quorum = if self.quorum.is_empty() {
            "none".to_string()
        } else {
            self.quorum.join(",")
        };
        let mut s = format!(
            "{} monitors, leader {leader}, term {}, quorum {quorum} (answered by {})\n",
            self.monitors.len(),
            self.term,
            self.answered_by
        );
        let mut t = Table::new(&["NAME", "RAFT_ID", "ADDRESS", "LEADER", "REACHABLE"]).right(1);
        for m in &self.monitors {
            t.row(vec![
                m.name.clone(),
                m.raft_id.to_string(),
                m.addr.clone(),
                yes_no(m.leader),
                yes_no(m.reachable),
            ]);
        }
        s.push_str(&t.render());
        s
    }
}

async fn fetch(ctx: &Ctx) -> Result<pb::StatusReply> {
    ctx.client()?
        .status()
        .await
        .map_err(|e| failed("asking the monitors for status", &e))
}

/// Runs `cuttle status`.
pub async fn status(ctx: &Ctx) -> Result<()> {
    let r = fetch(ctx).await?;
    output::emit(ctx.format, &StatusView::from(&r))
}

/// Runs `cuttle health [detail]`.
pub async fn health(ctx: &Ctx, detail: bool) -> Result<()> {
    let r = fetch(ctx).await?;
    let view = HealthView {
        health: r.health.clone(),
        checks: r.checks.iter().map(CheckView::from).collect(),
        detail,
    };
    output::emit(ctx.format, &view)
}

/// Runs `cuttle mon stat`.
pub async fn mon_stat(ctx: &Ctx) -> Result<()> {
    let r = fetch(ctx).await?;
    let view = MonStatView {
        leader: r.leader.clone(),
        term: r.term,
        quorum: quorum(&r),
        monitors: r.monitors.iter().map(MonitorView::from).collect(),
        answered_by: r.answered_by.clone(),
    };
    output::emit(ctx.format, &view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> pb::StatusReply {
        let mon = |name: &str, id: u64, leader: bool, reachable: bool| pb::MonitorStatus {
            name: name.into(),
            raft_id: id,
            addr: format!("127.0.0.1:{}", 6788 + id),
            leader,
            reachable,
            last_applied: 0,
        };
        pb::StatusReply {
            fsid: "f".into(),
            epoch: 7,
            health: "HEALTH_WARN".into(),
            checks: vec![pb::HealthCheck {
                code: "MON_DOWN".into(),
                severity: "HEALTH_WARN".into(),
                summary: "1 of 3 monitors down".into(),
                detail: vec!["mon.c unreachable".into()],
                remedy: "start the monitor again".into(),
            }],
            monitors: vec![
                mon("a", 1, true, true),
                mon("b", 2, false, true),
                mon("c", 3, false, false),
            ],
            leader: "a".into(),
            term: 4,
            osds: 3,
            osds_up: 2,
            osds_in: 3,
            pools: 1,
            bytes_total: 3 << 30,
            bytes_used: 1 << 30,
            pg_states: vec![
                pb::PgStateCount {
                    state: "active+clean".into(),
                    count: 30,
                },
                pb::PgStateCount {
                    state: "active+degraded".into(),
                    count: 2,
                },
            ],
            answered_by: "b".into(),
            recovery_objects_remaining: 120,
            recovery_bytes_per_sec: 50.0 * 1024.0 * 1024.0,
            recovery_objects_per_sec: 12.0,
            pool_usage: vec![
                pb::PoolUsage {
                    pool: 1,
                    name: "data".into(),
                    objects: 10,
                    bytes: 3 << 20,
                    pgs_uncounted: 0,
                },
                pb::PoolUsage {
                    pool: 2,
                    name: "meta".into(),
                    objects: 5,
                    bytes: 1 << 20,
                    pgs_uncounted: 0,
                },
            ],
            client_io: Some(pb::IoRate {
                unix_ms: 1,
                read_bytes_per_sec: 2.0 * 1024.0 * 1024.0,
                write_bytes_per_sec: 8.0 * 1024.0 * 1024.0,
                read_ops_per_sec: 20.0,
                write_ops_per_sec: 4.0,
            }),
            ..pb::StatusReply::default()
        }
    }

    #[test]
    fn status_shows_quorum_down_monitors_and_usage() {
        let v = StatusView::from(&reply());
        assert_eq!(v.quorum, ["a", "b"]);
        let t = v.table();
        assert!(
            t.contains("health: HEALTH_WARN\n            [WRN] MON_DOWN: 1 of 3 monitors down"),
            "{t}"
        );
        assert!(
            t.contains("mon: 3 daemons, quorum a,b (leader a, term 4); down: c"),
            "{t}"
        );
        assert!(t.contains("osd: 3 osds: 2 up, 3 in"), "{t}");
        assert!(
            t.contains("pgs:   32 pgs: 30 active+clean, 2 active+degraded"),
            "{t}"
        );
        assert!(
            t.contains("usage: 1.0 GiB used, 2.0 GiB / 3.0 GiB avail"),
            "{t}"
        );
        assert!(
            t.contains("recovery: 50.0 MiB/s, 12.0 objects/s, 120 objects remaining, ETA 10s"),
            "{t}"
        );
        assert!(t.contains("objects: 15 objects, 4.0 MiB\n"), "{t}");
        assert!(
            t.contains("io:\n    client: 2.0 MiB/s rd, 8.0 MiB/s wr, 20 op/s rd, 4 op/s wr"),
            "{t}"
        );
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["recovery"]["eta_secs"], 10);
        assert_eq!(json["pool_usage"][1]["name"], "meta");
        assert_eq!(json["client_io"]["write_ops_per_sec"], 4.0);
        // An idle cluster prints no io section.
        let mut idle = reply();
        idle.client_io = None;
        assert!(!StatusView::from(&idle).table().contains("io:"));
    }

    #[test]
    fn no_quorum_means_an_empty_quorum() {
        let mut r = reply();
        r.checks[0].code = "MON_QUORUM".into();
        let v = StatusView::from(&r);
        assert!(v.quorum.is_empty());
        assert!(v.table().contains("NO QUORUM"));
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["quorum"], serde_json::json!([]));
        assert_eq!(json["pg_states"]["active+clean"], 30);
    }

    #[test]
    fn health_detail_adds_detail_lines_and_remedies() {
        let r = reply();
        let mut v = HealthView {
            health: r.health.clone(),
            checks: r.checks.iter().map(CheckView::from).collect(),
            detail: false,
        };
        assert_eq!(
            v.table(),
            "HEALTH_WARN\n[WRN] MON_DOWN: 1 of 3 monitors down\n"
        );
        v.detail = true;
        assert_eq!(
            v.table(),
            "HEALTH_WARN\n[WRN] MON_DOWN: 1 of 3 monitors down\n    mon.c unreachable\n    remedy: start the monitor again\n"
        );
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json.as_object().map(|o| o.len()), Some(2), "{json}");
    }
}
