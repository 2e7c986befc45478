//! `cuttle cluster up|down|status`: a local cluster of real daemon processes in one
//! directory (default `./cluster`), run through `cuttle-cluster`'s [`LocalCluster`].
//!
//! `up` creates the directory's cluster on first use and afterwards restarts whatever
//! is not running with the same identity and data; daemons outlive the command (they
//! run in their own sessions) and `down` stops them.
//!
//! With `up --tls` (a new cluster only) the directory also gets a throw-away CA and
//! server certificate (`DIR/tls/`): every daemon serves gRPC with TLS, the gateways
//! serve HTTPS, and `cuttle.toml` names the CA; later `up`s keep it that way.
//!
//! JSON shapes: a daemon is `{name, pid, running, addr, log}` (`up` adds `started`);
//! up `{dir, conf, fsid, daemons, pools_created, health, checks, s3_endpoints, s3_admin:
//! {uid, access_key, secret_key} | null, tls_ca?}`; down `{dir, stopped: [name],
//! daemons}`; status `{dir, conf, fsid, daemons, s3_endpoints, tls_ca?}` (`tls_ca`: the
//! CA certificate of a TLS cluster).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use cuttle_cluster::{DaemonState, LocalCluster, LocalSpec, RgwOptions, S3Admin};
use serde::Serialize;

use crate::ctx::{CONF_ENV, Ctx, cluster_failed};
use crate::output::{self, Report, Table, yes_no};

/// Default cluster directory.
pub const DEFAULT_DIR: &str = "cluster";
/// How long `up` waits for the monitor quorum, then for OSDs and `HEALTH_OK`.
pub const UP_WAIT: Duration = Duration::from_secs(60);

/// A daemon row; `started` only in `up`'s output.
#[derive(Debug, Clone, Serialize)]
pub struct DaemonRow {
    /// Name, pid, liveness, address and log.
    #[serde(flatten)]
    pub state: DaemonState,
    /// Whether this command started it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<bool>,
}

/// The monitors' dashboard (`http://ADDR/` of the first monitor serving metrics).
fn dashboard(rows: &[DaemonRow]) -> Option<String> {
    rows.iter()
        .filter(|r| r.state.name.starts_with("mon."))
        .find_map(|r| r.state.metrics.as_deref())
        .map(|m| m.trim_end_matches("metrics").to_string())
}

fn daemon_table(rows: &[DaemonRow]) -> String {
    let mut t = Table::new(&["NAME", "PID", "RUNNING", "ADDRESS", "METRICS", "LOG"]).right(1);
    for r in rows {
        let s = &r.state;
        let running = match (s.running, r.started) {
            (true, Some(true)) => "yes (started)".to_string(),
            (running, _) => yes_no(running),
        };
        t.row(vec![
            s.name.clone(),
            s.pid.map_or("-".to_string(), |p| p.to_string()),
            running,
            s.addr.clone(),
            s.metrics.clone().unwrap_or_else(|| "-".to_string()),
            s.log.display().to_string(),
        ]);
    }
    t.render()
}

fn rows(states: Vec<DaemonState>, started: Option<&[String]>) -> Vec<DaemonRow> {
    states
        .into_iter()
        .map(|state| DaemonRow {
            started: started.map(|names| names.contains(&state.name)),
            state,
        })
        .collect()
}

/// The directory as an absolute path (daemon configurations record paths inside it, so
/// they must not depend on the current directory).
pub fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir)
        .with_context(|| format!("resolving the cluster directory {}", dir.display()))
}

/// `cluster up`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct UpView {
    /// Cluster directory.
    pub dir: PathBuf,
    /// Its client configuration (`cuttle.toml`).
    pub conf: PathBuf,
    /// Cluster identity.
    pub fsid: String,
    /// Every daemon.
    pub daemons: Vec<DaemonRow>,
    /// Pools this call created (the local cluster's default pools, once it has OSDs).
    pub pools_created: Vec<String>,
    /// Health when `up` returned.
    pub health: String,
    /// Health checks still open (`CODE: summary`), empty when healthy.
    pub checks: Vec<String>,
    /// S3 endpoint URLs of the gateways.
    pub s3_endpoints: Vec<String>,
    /// The S3 administrator's credential (`uid`, `access_key`, `secret_key`).
    pub s3_admin: Option<S3Admin>,
    /// The CA certificate of a TLS cluster (trust it for S3 over HTTPS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// The monitors' web dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    /// Set when the directory already held a cluster of another size.
    #[serde(skip)]
    pub note: Option<String>,
}

impl Report for UpView {
    fn table(&self) -> String {
        let started: Vec<&str> = self
            .daemons
            .iter()
            .filter(|d| d.started == Some(true))
            .map(|d| d.state.name.as_str())
            .collect();
        let mut s = String::new();
        if let Some(n) = &self.note {
            s.push_str(&format!("note: {n}\n"));
        }
        if started.is_empty() {
            s.push_str(&format!("cluster {} was already running\n", self.fsid));
        } else {
            s.push_str(&format!(
                "cluster {}: started {}\n",
                self.fsid,
                started.join(", ")
            ));
        }
        s.push_str(&daemon_table(&self.daemons));
        if !self.pools_created.is_empty() {
            s.push_str(&format!(
                "created pools {}\n",
                self.pools_created.join(", ")
            ));
        }
        s.push_str(&format!("health: {}\n", self.health));
        for c in &self.checks {
            s.push_str(&format!("        {c}\n"));
        }
        for e in &self.s3_endpoints {
            s.push_str(&format!("S3 endpoint: {e}\n"));
        }
        if let Some(a) = &self.s3_admin {
            s.push_str(&format!(
                "S3 admin ({}): access key {}  secret key {}\n",
                a.uid, a.access_key, a.secret_key
            ));
        }
        if let Some(ca) = &self.tls_ca {
            s.push_str(&format!("TLS CA: {}\n", ca.display()));
        }
        if let Some(d) = &self.dashboard {
            s.push_str(&format!("dashboard: {d}\n"));
        }
        s.push_str(&format!("config: {}\n", self.conf.display()));
        s.push_str(&format!("export {CONF_ENV}={}\n", self.conf.display()));
        s
    }
}

/// What `cluster up` creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpSizes {
    /// Monitors (a new cluster only).
    pub mons: usize,
    /// OSDs (a new cluster only).
    pub osds: usize,
    /// OSD device size (a new cluster only).
    pub osd_size: u64,
    /// S3 gateways (added when the cluster has fewer).
    pub rgws: usize,
    /// TLS for gRPC and the gateways' S3 (a new cluster only).
    pub tls: bool,
    /// `inline_max_bytes` of the gateways added.
    pub rgw_inline_max: Option<u64>,
}

/// Runs `cuttle cluster up`.
pub async fn up(ctx: &Ctx, dir: &Path, sizes: UpSizes) -> Result<()> {
    let UpSizes {
        mons,
        osds,
        osd_size,
        rgws,
        tls,
        rgw_inline_max,
    } = sizes;
    let dir = absolute(dir)?;
    let spec = LocalSpec {
        mons,
        osds,
        osd_size,
        default_pools: true,
        tls,
        ..LocalSpec::default()
    };
    let cluster = LocalCluster::create(&dir, &spec).map_err(|e| {
        cluster_failed(
            format_args!("creating the cluster in {}", dir.display()),
            &e,
        )
    })?;
    cluster
        .ensure_rgws(
            rgws,
            &RgwOptions {
                inline_max_bytes: rgw_inline_max,
                ..RgwOptions::default()
            },
        )
        .map_err(|e| cluster_failed("adding S3 gateways", &e))?;
    let have = cluster.layout().monitors.len();
    let mut notes = Vec::new();
    if have != mons {
        notes.push(format!(
            "{} already holds a cluster with {have} monitors; --mons {mons} is ignored",
            dir.display()
        ));
    }
    if tls && !cluster.layout().local.tls {
        notes.push(format!(
            "{} already holds a cluster made without --tls; --tls is ignored (TLS is chosen when a cluster is created)",
            dir.display()
        ));
    }
    let note = (!notes.is_empty()).then(|| notes.join("\nnote: "));
    let report = cluster.up(UP_WAIT).await.map_err(|e| {
        cluster_failed(
            format_args!(
                "bringing up the cluster in {} (see the *.log files there; stop what runs \
                 with `cuttle cluster down --dir {}`)",
                dir.display(),
                dir.display()
            ),
            &e,
        )
    })?;
    let states = cluster
        .states()
        .map_err(|e| cluster_failed("reading daemon states", &e))?;
    let daemons = rows(states, Some(&report.started));
    let view = UpView {
        conf: cluster.conf_path(),
        fsid: cluster.layout().fsid.to_string(),
        dashboard: dashboard(&daemons),
        daemons,
        pools_created: report.pools_created,
        health: report.health,
        checks: report.checks,
        s3_endpoints: cluster.s3_endpoints(),
        s3_admin: cluster.s3_admin(),
        tls_ca: tls_ca(&cluster),
        note,
        dir,
    };
    output::emit(ctx.format, &view)
}

/// `cluster down`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct DownView {
    /// Cluster directory.
    pub dir: PathBuf,
    /// Daemons that were running and are now stopped.
    pub stopped: Vec<String>,
    /// Every daemon, after stopping.
    pub daemons: Vec<DaemonRow>,
}

impl Report for DownView {
    fn table(&self) -> String {
        let mut s = if self.stopped.is_empty() {
            format!("nothing was running in {}\n", self.dir.display())
        } else {
            format!("stopped {}\n", self.stopped.join(", "))
        };
        s.push_str(&daemon_table(&self.daemons));
        s
    }
}

/// Runs `cuttle cluster down`: returns once every daemon has exited.
pub async fn down(ctx: &Ctx, dir: &Path) -> Result<()> {
    let dir = absolute(dir)?;
    let cluster =
        LocalCluster::open(&dir).map_err(|e| cluster_failed("stopping the cluster", &e))?;
    let before = cluster
        .states()
        .map_err(|e| cluster_failed("reading daemon states", &e))?;
    cluster
        .stop_all()
        .map_err(|e| cluster_failed("stopping the cluster", &e))?;
    let after = cluster
        .states()
        .map_err(|e| cluster_failed("reading daemon states", &e))?;
    let still: Vec<String> = after
        .iter()
        .filter(|s| s.running)
        .map(|s| format!("{} (pid {})", s.name, s.pid.unwrap_or_default()))
        .collect();
    if !still.is_empty() {
        bail!(
            "stopping the cluster in {}: still running after SIGTERM and SIGKILL: {} (stuck)",
            dir.display(),
            still.join(", ")
        );
    }
    let view = DownView {
        stopped: before
            .iter()
            .filter(|s| s.running)
            .map(|s| s.name.clone())
            .collect(),
        daemons: rows(after, None),
        dir,
    };
    output::emit(ctx.format, &view)
}

/// `cluster status`'s result.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterStatusView {
    /// Cluster directory.
    pub dir: PathBuf,
    /// Its client configuration.
    pub conf: PathBuf,
    /// Cluster identity.
    pub fsid: String,
    /// Every daemon.
    pub daemons: Vec<DaemonRow>,
    /// S3 endpoint URLs of the gateways.
    pub s3_endpoints: Vec<String>,
    /// The CA certificate of a TLS cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<PathBuf>,
    /// The monitors' web dashboard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
}

impl Report for ClusterStatusView {
    fn table(&self) -> String {
        let running = self.daemons.iter().filter(|d| d.state.running).count();
        let mut s = format!(
            "cluster {} in {}: {running} of {} daemons running\n",
            self.fsid,
            self.dir.display(),
            self.daemons.len()
        );
        s.push_str(&daemon_table(&self.daemons));
        for e in &self.s3_endpoints {
            s.push_str(&format!("S3 endpoint: {e}\n"));
        }
        if let Some(ca) = &self.tls_ca {
            s.push_str(&format!("TLS CA: {}\n", ca.display()));
        }
        if let Some(d) = &self.dashboard {
            s.push_str(&format!("dashboard: {d}\n"));
        }
        s
    }
}

/// The CA certificate clients trust, for a TLS cluster.
fn tls_ca(cluster: &LocalCluster) -> Option<PathBuf> {
    cluster.layout().rpc_tls.as_ref().map(|t| t.ca.clone())
}

/// Runs `cuttle cluster status`.
pub async fn status(ctx: &Ctx, dir: &Path) -> Result<()> {
    let dir = absolute(dir)?;
    let cluster =
        LocalCluster::open(&dir).map_err(|e| cluster_failed("reading the cluster", &e))?;
    let states = cluster
        .states()
        .map_err(|e| cluster_failed("reading daemon states", &e))?;
    let daemons = rows(states, None);
    let view = ClusterStatusView {
        conf: cluster.conf_path(),
        fsid: cluster.layout().fsid.to_string(),
        dashboard: dashboard(&daemons),
        daemons,
        s3_endpoints: cluster.s3_endpoints(),
        tls_ca: tls_ca(&cluster),
        dir,
    };
    output::emit(ctx.format, &view)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn state(name: &str, pid: Option<i32>, running: bool) -> DaemonState {
        DaemonState {
            name: name.into(),
            pid,
            running,
            addr: "127.0.0.1:7000".into(),
            metrics: None,
            log: PathBuf::from(format!("/c/{name}.log")),
        }
    }

    #[test]
    fn daemon_tables_mark_what_was_started() {
        let started = vec!["mon.b".to_string()];
        let mut with_metrics = state("mon.b", Some(200), true);
        with_metrics.metrics = Some("http://127.0.0.1:7001/metrics".into());
        let r = rows(
            vec![
                state("mon.a", Some(10), true),
                with_metrics,
                state("mon.c", None, false),
            ],
            Some(&started),
        );
        assert_eq!(
            dashboard(&r).as_deref(),
            Some("http://127.0.0.1:7001/"),
            "the first monitor that serves HTTP"
        );
        assert_eq!(
            daemon_table(&r),
            "NAME   PID  RUNNING        ADDRESS         METRICS                        LOG\n\
             mon.a   10  yes            127.0.0.1:7000  -                              /c/mon.a.log\n\
             mon.b  200  yes (started)  127.0.0.1:7000  http://127.0.0.1:7001/metrics  /c/mon.b.log\n\
             mon.c    -  no             127.0.0.1:7000  -                              /c/mon.c.log\n"
        );
        let json = serde_json::to_value(&r[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "mon.b", "pid": 200, "running": true,
                               "addr": "127.0.0.1:7000",
                               "metrics": "http://127.0.0.1:7001/metrics",
                               "log": "/c/mon.b.log", "started": true})
        );
        let plain =
            serde_json::to_value(&rows(vec![state("mon.a", None, false)], None)[0]).unwrap();
        assert!(plain.get("started").is_none(), "{plain}");
    }

    #[test]
    fn up_prints_the_export_line() {
        let v = UpView {
            dir: "/c".into(),
            conf: "/c/cuttle.toml".into(),
            fsid: "f".into(),
            daemons: Vec::new(),
            pools_created: Vec::new(),
            health: "HEALTH_OK".into(),
            checks: Vec::new(),
            s3_endpoints: Vec::new(),
            s3_admin: None,
            tls_ca: None,
            dashboard: Some("http://127.0.0.1:7001/".into()),
            note: None,
        };
        let t = v.table();
        assert!(
            t.ends_with(
                "dashboard: http://127.0.0.1:7001/\nconfig: /c/cuttle.toml\nexport CUTTLE_CONF=/c/cuttle.toml\n"
            ),
            "{t}"
        );
        assert!(t.starts_with("cluster f was already running\n"), "{t}");
        let v = UpView {
            pools_created: vec!["ec".into(), "rep".into()],
            health: "HEALTH_WARN".into(),
            checks: vec!["PG_DEGRADED: 3 pgs degraded".into()],
            ..v
        };
        let t = v.table();
        assert!(
            t.contains(
                "created pools ec, rep\nhealth: HEALTH_WARN\n        PG_DEGRADED: 3 pgs degraded\n"
            ),
            "{t}"
        );
    }
}
