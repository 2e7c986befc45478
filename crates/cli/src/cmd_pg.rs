//! `cuttle pg ls [--state S] [--pool P]` (every PG as its primary last reported it to
//! the monitors) and `cuttle pg query|scrub|deep-scrub|repair PGID` (asked of the PG's
//! primary directly; scrubs and repairs run to completion before the command returns).
//!
//! JSON shapes: ls `{pgs: [{pgid, state, acting, primary, recovery_objects_remaining,
//! recovery_bytes_done, last_scrub, last_deep_scrub, inconsistent_objects, unfound}],
//! recovery: {objects_remaining, bytes_per_sec, objects_per_sec, eta_secs}}` (PGs no
//! primary reported appear with state `unknown`; times are Unix seconds, 0 = never;
//! `acting` holds -1 where no OSD is placed); a PG command `{pgid, state, epoch, acting,
//! up, primary, last_update, objects, bytes, unfound, recovery_objects_remaining,
//! last_scrub, last_deep_scrub, inconsistencies: [{object, osd, problem}], repaired}`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use cuttle_proto as pb;
use cuttle_types::PgId;
use serde::Serialize;

use crate::ctx::{Ctx, failed};
use crate::output::{self, Report, Table};

/// State text of a PG nobody reported.
const UNKNOWN: &str = "unknown";

/// One PG in `pg ls`.
#[derive(Debug, Clone, Serialize)]
pub struct PgRow {
    /// `POOL.SEEDHEX`.
    pub pgid: String,
    /// Ceph-style state, e.g. `active+clean`, `active+undersized+degraded`.
    pub state: String,
    /// Members by position (EC shard); -1 where none is placed.
    pub acting: Vec<i64>,
    /// Primary OSD (absent when unknown).
    pub primary: Option<u32>,
    /// Objects still to recover.
    pub recovery_objects_remaining: u64,
    /// Bytes recovered by the current primary.
    pub recovery_bytes_done: u64,
    /// Unix seconds of the last light scrub (0: never).
    pub last_scrub: u64,
    /// Unix seconds of the last deep scrub (0: never).
    pub last_deep_scrub: u64,
    /// Objects the last scrub found inconsistent.
    pub inconsistent_objects: u32,
    /// Objects with no intact copy.
    pub unfound: u64,
}

/// Recovery across the cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecoveryView {
    /// Objects still to recover.
    pub objects_remaining: u64,
    /// Recovery rate over the last seconds.
    pub bytes_per_sec: f64,
    /// Recovery rate over the last seconds.
    pub objects_per_sec: f64,
    /// Estimated seconds to finish (absent while idle or without a rate).
    pub eta_secs: Option<u64>,
}

impl RecoveryView {
    /// From the monitors' totals; the ETA follows the objects rate.
    pub fn new(objects_remaining: u64, bytes_per_sec: f64, objects_per_sec: f64) -> RecoveryView {
        let eta_secs = (objects_remaining > 0 && objects_per_sec > 0.0)
            .then(|| (objects_remaining as f64 / objects_per_sec).ceil() as u64);
        RecoveryView {
            objects_remaining,
            bytes_per_sec,
            objects_per_sec,
            eta_secs,
        }
    }

    /// One line for tables, or `None` when nothing is left to recover.
    pub fn line(&self) -> Option<String> {
        if self.objects_remaining == 0 {
            return None;
        }
        let eta = self.eta_secs.map_or_else(
            || "ETA unknown".to_string(),
            |s| format!("ETA {}", duration(s)),
        );
        Some(format!(
            "{}/s, {:.1} objects/s, {} objects remaining, {eta}",
            output::bytes(self.bytes_per_sec as u64),
            self.objects_per_sec,
            self.objects_remaining
        ))
    }
}

/// `cuttle pg ls`.
#[derive(Debug, Clone, Serialize)]
pub struct PgLsView {
    /// PGs by id.
    pub pgs: Vec<PgRow>,
    /// Recovery totals.
    pub recovery: RecoveryView,
}

/// Whether `state` carries every `+`-separated flag of `wanted` (`pg ls --state
/// degraded` matches `active+undersized+degraded`).
pub fn state_matches(state: &str, wanted: &str) -> bool {
    let have: Vec<&str> = state.split('+').collect();
    wanted
        .split('+')
        .filter(|w| !w.is_empty())
        .all(|w| have.contains(&w))
}

impl PgLsView {
    /// Builds the listing from the monitors' reply, keeping PGs of `pool` (if given)
    /// whose state matches `state` (if given), ordered by PG id.
    pub fn new(r: &pb::PgStatsReply, pool: Option<u32>, state: Option<&str>) -> PgLsView {
        let mut rows: Vec<(PgId, PgRow)> = r
            .pgs
            .iter()
            .map(|p| {
                let id = PgId::new(cuttle_types::PoolId(p.pool), p.seed);
                let row = PgRow {
                    pgid: id.to_string(),
                    state: p.state.clone(),
                    acting: p.acting.clone(),
                    primary: Some(p.primary),
                    recovery_objects_remaining: p.recovery_objects_remaining,
                    recovery_bytes_done: p.recovery_bytes_done,
                    last_scrub: p.last_scrub,
                    last_deep_scrub: p.last_deep_scrub,
                    inconsistent_objects: p.inconsistent_objects,
                    unfound: p.unfound,
                };
                (id, row)
            })
            .collect();
        for text in &r.unreported {
            if let Ok(id) = text.parse::<PgId>() {
                rows.push((
                    id,
                    PgRow {
                        pgid: id.to_string(),
                        state: UNKNOWN.into(),
                        acting: Vec::new(),
                        primary: None,
                        recovery_objects_remaining: 0,
                        recovery_bytes_done: 0,
                        last_scrub: 0,
                        last_deep_scrub: 0,
                        inconsistent_objects: 0,
                        unfound: 0,
                    },
                ));
            }
        }
        rows.retain(|(id, row)| {
            pool.is_none_or(|p| id.pool.0 == p)
                && state.is_none_or(|s| state_matches(&row.state, s))
        });
        rows.sort_by_key(|(id, _)| (id.pool.0, id.seed));
        PgLsView {
            pgs: rows.into_iter().map(|(_, r)| r).collect(),
            recovery: RecoveryView::new(
                r.recovery_objects_remaining,
                r.recovery_bytes_per_sec,
                r.recovery_objects_per_sec,
            ),
        }
    }
}

/// Members as `[0,2,1]`, `NONE` where no OSD is placed.
fn acting_text(acting: &[i64]) -> String {
    let ids: Vec<String> = acting
        .iter()
        .map(|a| {
            if *a < 0 {
                "NONE".to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    format!("[{}]", ids.join(","))
}

/// A past Unix time as an age (`12s ago`, `3h ago`), or `never`.
fn ago(unix: u64) -> String {
    if unix == 0 {
        return "never".into();
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{} ago", duration(now.saturating_sub(unix)))
}

/// Seconds as the largest sensible unit: `45s`, `12m`, `3h`, `2d`.
fn duration(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

impl Report for PgLsView {
    fn table(&self) -> String {
        let mut t = Table::new(&[
            "PG",
            "STATE",
            "ACTING",
            "PRIMARY",
            "RECOVERING",
            "INCONSISTENT",
            "SCRUBBED",
            "DEEP SCRUBBED",
        ])
        .right(3)
        .right(4)
        .right(5);
        for p in &self.pgs {
            t.row(vec![
                p.pgid.clone(),
                p.state.clone(),
                acting_text(&p.acting),
                p.primary.map_or_else(|| "-".to_string(), |o| o.to_string()),
                p.recovery_objects_remaining.to_string(),
                p.inconsistent_objects.to_string(),
                ago(p.last_scrub),
                ago(p.last_deep_scrub),
            ]);
        }
        let mut s = t.render();
        s.push_str(&format!("{} pgs\n", self.pgs.len()));
        if let Some(line) = self.recovery.line() {
            s.push_str(&format!("recovery: {line}\n"));
        }
        s
    }
}

/// One damaged copy a scrub found.
#[derive(Debug, Clone, Serialize)]
pub struct FindingView {
    /// Object name.
    pub object: String,
    /// OSD holding the bad copy or shard.
    pub osd: u32,
    /// What is wrong.
    pub problem: String,
}

/// A PG as its primary sees it (`pg query`, and the result of scrub and repair).
#[derive(Debug, Clone, Serialize)]
pub struct PgDetailView {
    /// `POOL.SEEDHEX`.
    pub pgid: String,
    /// Ceph-style state.
    pub state: String,
    /// Map epoch of the primary's view.
    pub epoch: u64,
    /// Members by position; -1 where none is placed.
    pub acting: Vec<i64>,
    /// Whether each member is up.
    pub up: Vec<bool>,
    /// Primary OSD.
    pub primary: u32,
    /// Newest version in the PG log, `epoch'seq`.
    pub last_update: String,
    /// Objects in the PG.
    pub objects: u64,
    /// Logical bytes in the PG.
    pub bytes: u64,
    /// Objects with no intact copy.
    pub unfound: u64,
    /// Objects still to recover.
    pub recovery_objects_remaining: u64,
    /// Unix seconds of the last light scrub (0: never).
    pub last_scrub: u64,
    /// Unix seconds of the last deep scrub (0: never).
    pub last_deep_scrub: u64,
    /// What the last scrub found.
    pub inconsistencies: Vec<FindingView>,
    /// Copies this command repaired (repair only).
    pub repaired: u64,
    /// Which command produced this view (for the table's heading).
    #[serde(skip)]
    command: &'static str,
}

impl PgDetailView {
    /// From the primary's reply to `command`.
    pub fn new(d: &pb::PgDetail, command: &'static str) -> PgDetailView {
        let pgid = d.pg.as_ref().map_or_else(String::new, |p| {
            PgId::new(cuttle_types::PoolId(p.pool), p.seed).to_string()
        });
        let last_update = d
            .last_update
            .as_ref()
            .map_or_else(|| "0'0".to_string(), |v| format!("{}'{}", v.epoch, v.seq));
        PgDetailView {
            pgid,
            state: d.state.clone(),
            epoch: d.epoch,
            acting: d.acting.clone(),
            up: d.up.clone(),
            primary: d.primary,
            last_update,
            objects: d.objects,
            bytes: d.bytes,
            unfound: d.unfound,
            recovery_objects_remaining: d.recovery_objects_remaining,
            last_scrub: d.last_scrub,
            last_deep_scrub: d.last_deep_scrub,
            inconsistencies: d
                .inconsistencies
                .iter()
                .map(|f| FindingView {
                    object: f.object.clone(),
                    osd: f.osd,
                    problem: f.problem.clone(),
                })
                .collect(),
            repaired: d.repaired,
            command,
        }
    }
}

impl Report for PgDetailView {
    fn table(&self) -> String {
        let mut s = String::new();
        let members: Vec<String> = self
            .acting
            .iter()
            .zip(self.up.iter().chain(std::iter::repeat(&false)))
            .map(|(a, up)| match (*a, up) {
                (a, _) if a < 0 => "NONE".to_string(),
                (a, true) => a.to_string(),
                (a, false) => format!("{a}(down)"),
            })
            .collect();
        s.push_str(&format!("pg {}  {}\n", self.pgid, self.state));
        s.push_str(&format!(
            "  acting [{}], primary osd.{}, map epoch {}\n",
            members.join(","),
            self.primary,
            self.epoch
        ));
        s.push_str(&format!(
            "  {} objects, {}, last update {}\n",
            self.objects,
            output::bytes(self.bytes),
            self.last_update
        ));
        if self.recovery_objects_remaining > 0 {
            s.push_str(&format!(
                "  recovering: {} objects remaining\n",
                self.recovery_objects_remaining
            ));
        }
        if self.unfound > 0 {
            s.push_str(&format!("  unfound: {} objects\n", self.unfound));
        }
        s.push_str(&format!(
            "  scrubbed {}, deep scrubbed {}\n",
            ago(self.last_scrub),
            ago(self.last_deep_scrub)
        ));
        if self.command == "repair" {
            s.push_str(&format!("  repaired {} copies\n", self.repaired));
        }
        if self.inconsistencies.is_empty() {
            if self.command != "query" {
                s.push_str("  no inconsistencies\n");
            }
        } else {
            let mut t = Table::new(&["OBJECT", "OSD", "PROBLEM"]);
            for f in &self.inconsistencies {
                t.row(vec![
                    f.object.clone(),
                    format!("osd.{}", f.osd),
                    f.problem.clone(),
                ]);
            }
            s.push_str(&format!(
                "  {} inconsistencies:\n",
                self.inconsistencies.len()
            ));
            for line in t.render().lines() {
                s.push_str(&format!("    {line}\n"));
            }
        }
        s
    }
}

/// Runs `cuttle pg ls`.
pub async fn ls(ctx: &Ctx, pool: Option<&str>, state: Option<&str>) -> Result<()> {
    let pool_id = match pool {
        None => None,
        Some(name) => {
            let map = ctx.fresh_map().await?;
            let found = map.pools.values().find(|p| p.name == name).map(|p| p.id.0);
            Some(found.ok_or_else(|| {
                anyhow::anyhow!("listing PGs: pool {name:?} does not exist (no_such_pool)")
            })?)
        }
    };
    let reply = ctx
        .client()?
        .pg_stats()
        .await
        .map_err(|e| failed("reading PG stats", &e))?;
    output::emit(ctx.format, &PgLsView::new(&reply, pool_id, state))
}

/// An operator command on one PG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgAction {
    /// Show the primary's view.
    Query,
    /// Compare object lists, sizes and versions across members.
    Scrub,
    /// Also read every block, check checksums and EC parity.
    DeepScrub,
    /// Deep scrub and rewrite damaged copies from good ones.
    Repair,
}

impl PgAction {
    fn word(self) -> &'static str {
        match self {
            PgAction::Query => "query",
            PgAction::Scrub => "scrub",
            PgAction::DeepScrub => "deep-scrub",
            PgAction::Repair => "repair",
        }
    }

    fn kind(self) -> pb::PgCommandKind {
        match self {
            PgAction::Query => pb::PgCommandKind::Query,
            PgAction::Scrub => pb::PgCommandKind::Scrub,
            PgAction::DeepScrub => pb::PgCommandKind::DeepScrub,
            PgAction::Repair => pb::PgCommandKind::Repair,
        }
    }
}

/// Runs `cuttle pg query|scrub|deep-scrub|repair PGID`.
pub async fn command(ctx: &Ctx, pg: PgId, action: PgAction) -> Result<()> {
    let map = ctx.fresh_map().await?;
    match map.pools.get(&pg.pool) {
        None => anyhow::bail!("pg {pg}: pool {} does not exist (no_such_pool)", pg.pool.0),
        Some(p) if pg.seed >= p.pg_num => anyhow::bail!(
            "pg {pg}: pool {:?} has {} PGs, seeds 0..{:x} (no_such_pg)",
            p.name,
            p.pg_num,
            p.pg_num.saturating_sub(1)
        ),
        Some(_) => {}
    }
    let cluster = ctx.cluster().await?;
    let detail = cluster
        .pg_command(pg, action.kind())
        .await
        .map_err(|e| failed(format_args!("pg {} {pg}", action.word()), &e))?;
    output::emit(ctx.format, &PgDetailView::new(&detail, action.word()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pool: u32, seed: u32, state: &str) -> pb::PgStat {
        pb::PgStat {
            pool,
            seed,
            state: state.into(),
            acting: vec![0, -1, 2],
            primary: 0,
            ..pb::PgStat::default()
        }
    }

    #[test]
    fn state_filters_match_flags_in_any_order() {
        assert!(state_matches("active+undersized+degraded", "degraded"));
        assert!(state_matches(
            "active+undersized+degraded",
            "degraded+active"
        ));
        assert!(!state_matches("active+clean", "degraded"));
        assert!(!state_matches("active+clean", "clea"));
        assert!(state_matches("active+clean", "active+clean"));
    }

    #[test]
    fn ls_sorts_filters_and_lists_unreported_pgs_as_unknown() {
        let r = pb::PgStatsReply {
            pgs: vec![
                stat(2, 0x1f, "active+clean"),
                stat(2, 3, "active+undersized+degraded"),
                stat(1, 0, "active+clean"),
            ],
            unreported: vec!["2.a".into()],
            recovery_objects_remaining: 40,
            recovery_bytes_per_sec: 8.0 * 1024.0 * 1024.0,
            recovery_objects_per_sec: 4.0,
        };
        let all = PgLsView::new(&r, None, None);
        let ids: Vec<&str> = all.pgs.iter().map(|p| p.pgid.as_str()).collect();
        assert_eq!(ids, ["1.0", "2.3", "2.a", "2.1f"]);
        assert_eq!(all.pgs[2].state, "unknown");
        assert_eq!(all.recovery.eta_secs, Some(10));
        let t = all.table();
        assert!(
            t.contains("2.3   active+undersized+degraded  [0,NONE,2]"),
            "{t}"
        );
        assert!(t.contains("4 pgs\n"), "{t}");
        assert!(
            t.contains("recovery: 8.0 MiB/s, 4.0 objects/s, 40 objects remaining, ETA 10s"),
            "{t}"
        );
        let degraded = PgLsView::new(&r, Some(2), Some("degraded"));
        assert_eq!(degraded.pgs.len(), 1);
        assert_eq!(degraded.pgs[0].pgid, "2.3");
        let json = serde_json::to_value(&degraded).unwrap_or_default();
        assert_eq!(json["pgs"][0]["acting"], serde_json::json!([0, -1, 2]));
        assert_eq!(json["recovery"]["objects_remaining"], 40);
    }

    #[test]
    fn an_idle_cluster_has_no_recovery_line_or_eta() {
        let v = RecoveryView::new(0, 0.0, 0.0);
        assert_eq!(v.line(), None);
        assert_eq!(v.eta_secs, None);
        let stalled = RecoveryView::new(5, 0.0, 0.0);
        assert_eq!(
            stalled.line().as_deref(),
            Some("0 B/s, 0.0 objects/s, 5 objects remaining, ETA unknown")
        );
    }

    #[test]
    fn scrub_results_list_each_finding() {
        let d = pb::PgDetail {
            pg: Some(pb::PgRef { pool: 2, seed: 5 }),
            state: "active+clean+inconsistent".into(),
            epoch: 9,
            acting: vec![1, 0, 3],
            up: vec![true, true, false],
            primary: 1,
            last_update: Some(pb::Version { epoch: 9, seq: 12 }),
            objects: 3,
            bytes: 3 << 20,
            inconsistencies: vec![pb::ScrubFinding {
                object: "obj-7".into(),
                osd: 3,
                problem: "checksum".into(),
            }],
            ..pb::PgDetail::default()
        };
        let v = PgDetailView::new(&d, "deep-scrub");
        let t = v.table();
        assert!(t.starts_with("pg 2.5  active+clean+inconsistent\n"), "{t}");
        assert!(
            t.contains("acting [1,0,3(down)], primary osd.1, map epoch 9"),
            "{t}"
        );
        assert!(t.contains("last update 9'12"), "{t}");
        assert!(t.contains("1 inconsistencies:"), "{t}");
        assert!(t.contains("obj-7   osd.3  checksum"), "{t}");
        let json = serde_json::to_value(&v).unwrap_or_default();
        assert_eq!(json["inconsistencies"][0]["problem"], "checksum");
        assert_eq!(json["pgid"], "2.5");
    }
}
