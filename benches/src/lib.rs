//! `cuttle-benches`: benchmark programs that measure whole components against external
//! references (fio; for `s3-bench`, `cuttle bench` and radosgw's figures) and print
//! readable tables plus JSON. Micro-benchmarks of pure libraries live next to them
//! (`crates/*/benches`).
//!
//! Shared helpers: latency recording and process memory.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latency summary in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Mean.
    pub avg: f64,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Records operation latencies (microsecond resolution).
#[derive(Debug)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder::new()
    }
}

impl LatencyRecorder {
    /// An empty recorder.
    pub fn new() -> LatencyRecorder {
        // 1 µs .. 10 min, 3 significant digits: constant, valid bounds.
        let hist = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        LatencyRecorder { hist }
    }

    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        let us = (d.as_micros() as u64).clamp(1, 600_000_000);
        let _ = self.hist.record(us);
    }

    /// Merges another recorder.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        let _ = self.hist.add(&other.hist);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The summary.
    pub fn summary(&self) -> Latency {
        let ms = |us: u64| us as f64 / 1000.0;
        Latency {
            avg: self.hist.mean() / 1000.0,
            p50: ms(self.hist.value_at_quantile(0.5)),
            p99: ms(self.hist.value_at_quantile(0.99)),
            max: ms(self.hist.max()),
        }
    }
}

/// Peak resident memory of this process in bytes (`VmHWM`), when known.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
