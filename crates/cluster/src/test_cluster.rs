//! `TestCluster`: a local cluster in a temporary directory for tests. Dropping it
//! kills (SIGKILL) every daemon it describes and removes the directory, so a failing
//! test never leaves processes behind.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use tempfile::TempDir;

use crate::error::ClusterError;
use crate::layout::LocalSpec;
use crate::local::{LocalCluster, RgwOptions};

/// A throw-away local cluster.
#[derive(Debug)]
pub struct TestCluster {
    cluster: LocalCluster,
    /// What bringing it up did (health at the end included).
    pub report: crate::local::UpReport,
    _dir: TempDir,
}

impl TestCluster {
    /// Creates the cluster and brings it up (monitors, OSDs, default pools), waiting up to
    /// a minute for `HEALTH_OK`; `report.health` says whether it got there.
    pub async fn start(spec: LocalSpec) -> Result<TestCluster, ClusterError> {
        TestCluster::start_with_rgws(spec, 0, &RgwOptions::default()).await
    }

    /// Like [`TestCluster::start`], with `rgws` S3 gateways (started after the pools).
    pub async fn start_with_rgws(
        spec: LocalSpec,
        rgws: usize,
        opts: &RgwOptions,
    ) -> Result<TestCluster, ClusterError> {
        let dir = tempfile::Builder::new()
            .prefix("cuttle-test-")
            .tempdir()
            .map_err(|source| ClusterError::Io {
                what: "creating a temporary directory in",
                path: std::env::temp_dir(),
                source,
            })?;
        let cluster = LocalCluster::create(dir.path(), &spec)?;
        // Built before starting anything, so whatever starts is killed if `up` fails.
        let mut tc = TestCluster {
            cluster,
            report: crate::local::UpReport {
                started: Vec::new(),
                pools_created: Vec::new(),
                health: String::new(),
                checks: Vec::new(),
            },
            _dir: dir,
        };
        tc.cluster.ensure_rgws(rgws, opts)?;
        tc.report = tc.cluster.up(Duration::from_secs(60)).await?;
        Ok(tc)
    }

    /// The log of a daemon (for failure messages).
    pub fn log_tail(&self, name: &str, lines: usize) -> String {
        let path = self.cluster.dir().join(format!("{name}.log"));
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Deref for TestCluster {
    type Target = LocalCluster;

    fn deref(&self) -> &LocalCluster {
        &self.cluster
    }
}

impl DerefMut for TestCluster {
    fn deref_mut(&mut self) -> &mut LocalCluster {
        &mut self.cluster
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for name in self.cluster.daemon_names() {
            let _ = self.cluster.signal(&name, libc::SIGKILL);
            let _ = self.cluster.stop(&name);
        }
    }
}
