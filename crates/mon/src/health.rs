//! Cluster health: `HEALTH_OK`, `HEALTH_WARN` or `HEALTH_ERR` with one check per
//! problem, each saying what is wrong, which things are affected, and what to do.
//!
//! Computed from the map, the monitors' view of each other, and what OSDs report in
//! heartbeats (usage and PG states). Pure: no I/O, unit-tested.

use std::collections::BTreeMap;
use std::fmt;

use cuttle_types::{ClusterMap, OsdId};
use serde::Serialize;

use crate::state::failure_domains;

/// Overall status, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum HealthStatus {
    /// Nothing to do.
    #[serde(rename = "HEALTH_OK")]
    Ok,
    /// Degraded but serving.
    #[serde(rename = "HEALTH_WARN")]
    Warn,
    /// Something is unavailable or at risk.
    #[serde(rename = "HEALTH_ERR")]
    Err,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Ok => "HEALTH_OK",
            HealthStatus::Warn => "HEALTH_WARN",
            HealthStatus::Err => "HEALTH_ERR",
        })
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// Stable identifier.
    pub code: &'static str,
    /// Warn or Err.
    pub severity: HealthStatus,
    /// One line.
    pub summary: String,
    /// One line per affected item.
    pub detail: Vec<String>,
    /// What an operator can do.
    pub remedy: String,
}

/// The health of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Worst severity of the checks (OK when there are none).
    pub status: HealthStatus,
    /// Problems, most severe first.
    pub checks: Vec<HealthCheck>,
}

/// A monitor as seen by the one answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorView {
    /// Monitor name.
    pub name: String,
    /// Whether it answered recently.
    pub reachable: bool,
}

/// Usage an OSD reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OsdUsage {
    /// Bytes of capacity.
    pub total: u64,
    /// Bytes used.
    pub used: u64,
}

/// Thresholds of the usage checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratios {
    /// Warn at this fraction used.
    pub nearfull: f64,
    /// Error at this fraction used.
    pub full: f64,
}

impl Default for Ratios {
    fn default() -> Self {
        Ratios {
            nearfull: 0.85,
            full: 0.95,
        }
    }
}

/// Everything health is computed from.
#[derive(Debug)]
pub struct HealthInput<'a> {
    /// The cluster map.
    pub map: &'a ClusterMap,
    /// Whether the answering monitor is part of a working quorum.
    pub quorum: bool,
    /// Every monitor, including the answering one.
    pub monitors: &'a [MonitorView],
    /// Latest usage report per OSD.
    pub usage: &'a BTreeMap<OsdId, OsdUsage>,
    /// PG state counts summed over the latest reports.
    pub pg_states: &'a BTreeMap<String, u32>,
    /// Usage thresholds.
    pub ratios: Ratios,
}

fn check(
    code: &'static str,
    severity: HealthStatus,
    summary: String,
    detail: Vec<String>,
    remedy: &str,
) -> HealthCheck {
    HealthCheck {
        code,
        severity,
        summary,
        detail,
        remedy: remedy.to_string(),
    }
}

/// Computes the cluster's health.
pub fn compute(input: &HealthInput<'_>) -> Health {
    let mut checks = Vec::new();
    let down_mons: Vec<&MonitorView> = input.monitors.iter().filter(|m| !m.reachable).collect();
    if !input.quorum {
        checks.push(check(
            "MON_QUORUM",
            HealthStatus::Err,
            format!(
                "no monitor quorum: {} of {} monitors reachable; map changes cannot commit",
                input.monitors.len() - down_mons.len(),
                input.monitors.len()
            ),
            down_mons
                .iter()
                .map(|m| format!("mon.{} unreachable", m.name))
                .collect(),
            "start the stopped monitors (`cuttle cluster up` restarts a local cluster's daemons)",
        ));
    } else if !down_mons.is_empty() {
        checks.push(check(
            "MON_DOWN",
            HealthStatus::Warn,
            format!(
                "{} of {} monitors down",
                down_mons.len(),
                input.monitors.len()
            ),
            down_mons
                .iter()
                .map(|m| format!("mon.{} unreachable", m.name))
                .collect(),
            "start the monitor again; the quorum survives while a majority is up",
        ));
    }

    let down: Vec<String> = input
        .map
        .osds
        .values()
        .filter(|o| !o.up && o.in_cluster)
        .map(|o| {
            let since = o
                .down_since
                .map_or(String::new(), |t| format!(" since unix time {t}"));
            format!("{} on host {} is down{since}", o.id, o.host)
        })
        .collect();
    if !down.is_empty() {
        checks.push(check(
            "OSD_DOWN",
            HealthStatus::Warn,
            format!("{} osd(s) down", down.len()),
            down,
            "start the OSD daemon again; if it stays down it is marked out and its data is rebuilt on other OSDs",
        ));
    }

    let mut full = Vec::new();
    let mut nearfull = Vec::new();
    for (id, u) in input.usage {
        if u.total == 0 {
            continue;
        }
        let ratio = u.used as f64 / u.total as f64;
        let line = format!("{id} is {:.1}% full", ratio * 100.0);
        if ratio >= input.ratios.full {
            full.push(line);
        } else if ratio >= input.ratios.nearfull {
            nearfull.push(line);
        }
    }
    if !full.is_empty() {
        checks.push(check(
            "OSD_FULL",
            HealthStatus::Err,
            format!("{} osd(s) full: writes to their PGs fail", full.len()),
            full,
            "add OSDs or delete data",
        ));
    }
    if !nearfull.is_empty() {
        checks.push(check(
            "OSD_NEARFULL",
            HealthStatus::Warn,
            format!("{} osd(s) nearly full", nearfull.len()),
            nearfull,
            "add OSDs or delete data before they fill up",
        ));
    }

    let undersized: Vec<String> = input
        .map
        .pools
        .values()
        .filter_map(|p| {
            let have = failure_domains(input.map, p.failure_domain);
            let width = p.redundancy.width();
            (have < width).then(|| {
                format!(
                    "pool {} wants {width} {}s per PG, {have} available",
                    p.name, p.failure_domain
                )
            })
        })
        .collect();
    if !undersized.is_empty() {
        checks.push(check(
            "POOL_UNDERSIZED",
            HealthStatus::Warn,
            format!(
                "{} pool(s) cannot place every chunk or copy",
                undersized.len()
            ),
            undersized,
            "bring OSDs back in or add hosts",
        ));
    }

    let count = |pred: &dyn Fn(&str) -> bool| -> u32 {
        input
            .pg_states
            .iter()
            .filter(|(s, _)| pred(s))
            .map(|(_, n)| *n)
            .sum()
    };
    let inconsistent = count(&|s| s.contains("inconsistent"));
    if inconsistent > 0 {
        checks.push(check(
            "PG_INCONSISTENT",
            HealthStatus::Err,
            format!("{inconsistent} pg(s) inconsistent: scrub found damaged copies"),
            Vec::new(),
            "run `cuttle pg repair PGID` for each inconsistent PG",
        ));
    }
    let unavailable = count(&|s| s.contains("incomplete") || s.contains("down"));
    if unavailable > 0 {
        checks.push(check(
            "PG_AVAILABILITY",
            HealthStatus::Err,
            format!("{unavailable} pg(s) unavailable: too few members to serve I/O"),
            Vec::new(),
            "start the down OSDs that hold these PGs",
        ));
    }
    let expected: u32 = input.map.pools.values().map(|p| p.pg_num).sum();
    let reported: u32 = input.pg_states.values().sum();
    let peering = count(&|s| s.contains("peering"));
    let unknown = expected.saturating_sub(reported);
    if unknown > 0 || peering > 0 {
        checks.push(check(
            "PG_NOT_ACTIVE",
            HealthStatus::Warn,
            format!(
                "{} pg(s) not active: {unknown} not reported by a primary yet, {peering} peering",
                unknown + peering
            ),
            Vec::new(),
            "wait for the OSDs to start and peer; if it persists, start the down OSDs",
        ));
    }
    let degraded = count(&|s| s.contains("degraded") || s.contains("undersized"));
    if degraded > 0 {
        checks.push(check(
            "PG_DEGRADED",
            HealthStatus::Warn,
            format!("{degraded} pg(s) degraded: fewer copies than wanted"),
            Vec::new(),
            "wait for recovery, or bring the missing OSDs back",
        ));
    }

    checks.sort_by_key(|c| std::cmp::Reverse(c.severity));
    let status = checks
        .iter()
        .map(|c| c.severity)
        .max()
        .unwrap_or(HealthStatus::Ok);
    Health { status, checks }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use cuttle_types::{EcProfile, FailureDomain, OsdInfo, OsdWeight, Pool, PoolId, Redundancy};
    use uuid::Uuid;

    /// A map of `n` OSDs, one per host, the first `up` of them up (the others down
    /// since unix time 5).
    pub(crate) fn map(n: u32, up: u32) -> ClusterMap {
        let mut m = ClusterMap::new(Uuid::from_u128(1));
        for i in 0..n {
            m.osds.insert(
                OsdId(i),
                OsdInfo {
                    id: OsdId(i),
                    uuid: Uuid::from_u128(i as u128),
                    host: format!("h{i}"),
                    addr: String::new(),
                    weight: OsdWeight::ONE,
                    up: i < up,
                    in_cluster: true,
                    down_since: (i >= up).then_some(5),
                },
            );
        }
        m
    }

    fn mons(up: usize) -> Vec<MonitorView> {
        (0..3)
            .map(|i| MonitorView {
                name: ["a", "b", "c"][i].into(),
                reachable: i < up,
            })
            .collect()
    }

    fn health(
        m: &ClusterMap,
        quorum: bool,
        ms: &[MonitorView],
        usage: &BTreeMap<OsdId, OsdUsage>,
        pgs: &BTreeMap<String, u32>,
    ) -> Health {
        compute(&HealthInput {
            map: m,
            quorum,
            monitors: ms,
            usage,
            pg_states: pgs,
            ratios: Ratios::default(),
        })
    }

    #[test]
    fn a_healthy_cluster_is_ok() {
        let h = health(
            &map(3, 3),
            true,
            &mons(3),
            &BTreeMap::new(),
            &BTreeMap::from([("active+clean".into(), 64)]),
        );
        assert_eq!(h.status, HealthStatus::Ok);
        assert!(h.checks.is_empty());
    }

    #[test]
    fn problems_raise_the_right_checks() {
        let mut m = map(3, 2);
        m.pools.insert(
            PoolId(1),
            Pool {
                id: PoolId(1),
                name: "ec".into(),
                redundancy: Redundancy::Erasure(EcProfile::new(2, 2)),
                pg_num: 8,
                failure_domain: FailureDomain::Host,
                min_size: 3,
            },
        );
        let usage = BTreeMap::from([
            (
                OsdId(0),
                OsdUsage {
                    total: 100,
                    used: 90,
                },
            ),
            (
                OsdId(1),
                OsdUsage {
                    total: 100,
                    used: 96,
                },
            ),
        ]);
        let pgs = BTreeMap::from([
            ("active+degraded".to_string(), 3),
            ("active+clean+inconsistent".to_string(), 1),
        ]);
        let h = health(&m, true, &mons(2), &usage, &pgs);
        assert_eq!(h.status, HealthStatus::Err);
        let codes: Vec<&str> = h.checks.iter().map(|c| c.code).collect();
        for want in [
            "MON_DOWN",
            "OSD_DOWN",
            "OSD_FULL",
            "OSD_NEARFULL",
            "POOL_UNDERSIZED",
            "PG_INCONSISTENT",
            "PG_DEGRADED",
            "PG_NOT_ACTIVE",
        ] {
            assert!(codes.contains(&want), "{want} missing from {codes:?}");
        }
        assert_eq!(h.checks[0].severity, HealthStatus::Err, "errors first");
        let osd_down = h
            .checks
            .iter()
            .find(|c| c.code == "OSD_DOWN")
            .expect("present");
        assert_eq!(
            osd_down.detail,
            vec!["osd.2 on host h2 is down since unix time 5".to_string()]
        );
    }

    #[test]
    fn lost_quorum_is_an_error() {
        let h = health(
            &map(3, 3),
            false,
            &mons(1),
            &BTreeMap::new(),
            &BTreeMap::new(),
        );
        assert_eq!(h.status, HealthStatus::Err);
        assert_eq!(h.checks[0].code, "MON_QUORUM");
        assert!(h.checks[0].summary.contains("1 of 3"));
    }
}
