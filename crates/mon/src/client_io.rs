//! Cluster-wide client I/O rates for `cuttle status` and the dashboard (leader-local
//! soft state, like the OSD reports it is computed from).
//!
//! Every OSD heartbeat carries the OSD's cumulative client counters (bytes and
//! operations read and written since the OSD started). [`ClientIo::record`] turns them
//! into cluster totals that only grow: the first report of an OSD sets its baseline
//! (I/O from before this monitor led is not new I/O), and a counter that went backwards
//! means the OSD restarted, so its whole new value is new I/O. A sampler
//! ([`crate::tasks::sample_client_io`]) snapshots the totals every [`SAMPLE_EVERY`];
//! each pair of consecutive snapshots gives one rate, and the last [`HISTORY`] rates
//! (ten minutes) are kept for the dashboard's graph.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use cuttle_proto as pb;
use cuttle_types::OsdId;
use parking_lot::Mutex;

/// How often the totals are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// Rates kept (120 × 5 s = ten minutes).
pub const HISTORY: usize = 120;

/// Client I/O counters (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counters {
    read_bytes: u64,
    written_bytes: u64,
    read_ops: u64,
    write_ops: u64,
}

impl Counters {
    fn from_pb(c: &pb::ClientIoCounters) -> Counters {
        Counters {
            read_bytes: c.read_bytes,
            written_bytes: c.written_bytes,
            read_ops: c.read_ops,
            write_ops: c.write_ops,
        }
    }

    /// What `now` added to `before`; a counter below its old value restarted from 0.
    fn growth(before: Counters, now: Counters) -> Counters {
        let grew = |old: u64, new: u64| if new >= old { new - old } else { new };
        Counters {
            read_bytes: grew(before.read_bytes, now.read_bytes),
            written_bytes: grew(before.written_bytes, now.written_bytes),
            read_ops: grew(before.read_ops, now.read_ops),
            write_ops: grew(before.write_ops, now.write_ops),
        }
    }

    fn add(&mut self, d: Counters) {
        self.read_bytes = self.read_bytes.saturating_add(d.read_bytes);
        self.written_bytes = self.written_bytes.saturating_add(d.written_bytes);
        self.read_ops = self.read_ops.saturating_add(d.read_ops);
        self.write_ops = self.write_ops.saturating_add(d.write_ops);
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Each OSD's last reported counters.
    last: HashMap<OsdId, Counters>,
    /// Cluster totals since this monitor started tracking.
    totals: Counters,
    /// The previous snapshot of the totals.
    snapshot: Option<(Instant, Counters)>,
    /// Rates between consecutive snapshots, oldest first.
    rates: VecDeque<pb::IoRate>,
}

/// The tracker (one per monitor; only the leader receives heartbeats).
#[derive(Debug, Default)]
pub struct ClientIo {
    inner: Mutex<Inner>,
}

impl ClientIo {
    /// Adds what an OSD's heartbeat says it served since its previous one.
    pub fn record(&self, osd: OsdId, counters: &pb::ClientIoCounters) {
        let now = Counters::from_pb(counters);
        let mut inner = self.inner.lock();
        if let Some(before) = inner.last.insert(osd, now) {
            inner.totals.add(Counters::growth(before, now));
        }
    }

    /// Snapshots the totals at `at` (unix milliseconds `unix_ms`) and records the rate
    /// since the previous snapshot.
    pub fn sample(&self, at: Instant, unix_ms: u64) {
        let mut inner = self.inner.lock();
        let totals = inner.totals;
        if let Some((t, before)) = inner.snapshot {
            let secs = at.saturating_duration_since(t).as_secs_f64();
            if secs <= 0.0 {
                return;
            }
            let d = Counters::growth(before, totals);
            inner.rates.push_back(pb::IoRate {
                unix_ms,
                read_bytes_per_sec: d.read_bytes as f64 / secs,
                write_bytes_per_sec: d.written_bytes as f64 / secs,
                read_ops_per_sec: d.read_ops as f64 / secs,
                write_ops_per_sec: d.write_ops as f64 / secs,
            });
            while inner.rates.len() > HISTORY {
                inner.rates.pop_front();
            }
        }
        inner.snapshot = Some((at, totals));
    }

    /// The latest rate (zero before two snapshots exist).
    pub fn current(&self) -> pb::IoRate {
        self.inner.lock().rates.back().cloned().unwrap_or_default()
    }

    /// The kept rates, oldest first.
    pub fn history(&self) -> Vec<pb::IoRate> {
        self.inner.lock().rates.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(read_bytes: u64, written_bytes: u64, ops: u64) -> pb::ClientIoCounters {
        pb::ClientIoCounters {
            read_bytes,
            written_bytes,
            read_ops: ops,
            write_ops: ops,
        }
    }

    #[test]
    fn first_report_is_a_baseline_and_growth_becomes_a_rate() {
        let io = ClientIo::default();
        let t0 = Instant::now();
        io.record(OsdId(0), &counters(1_000_000, 5_000_000, 100));
        io.sample(t0, 1_000);
        assert_eq!(
            io.current(),
            pb::IoRate::default(),
            "one snapshot: no rate yet"
        );
        io.record(OsdId(0), &counters(2_000_000, 5_000_000, 110));
        io.record(OsdId(1), &counters(7, 7, 7));
        io.sample(t0 + Duration::from_secs(2), 3_000);
        let r = io.current();
        assert_eq!(r.unix_ms, 3_000);
        assert_eq!(r.read_bytes_per_sec, 500_000.0);
        assert_eq!(r.write_bytes_per_sec, 0.0);
        assert_eq!(r.read_ops_per_sec, 5.0);
        assert_eq!(io.history().len(), 1);
    }

    #[test]
    fn a_restarted_osd_counts_its_new_value() {
        let io = ClientIo::default();
        let t0 = Instant::now();
        io.record(OsdId(3), &counters(0, 900, 9));
        io.sample(t0, 0);
        // Restarted: its counters start again below the old ones.
        io.record(OsdId(3), &counters(0, 100, 1));
        io.sample(t0 + Duration::from_secs(1), 1_000);
        assert_eq!(io.current().write_bytes_per_sec, 100.0);
        assert_eq!(io.current().write_ops_per_sec, 1.0);
    }

    #[test]
    fn history_keeps_the_last_ten_minutes() {
        let io = ClientIo::default();
        let t0 = Instant::now();
        for i in 0..(HISTORY as u64 + 10) {
            io.record(OsdId(0), &counters(0, i * 10, i));
            io.sample(t0 + Duration::from_secs(i), i * 1000);
        }
        let h = io.history();
        assert_eq!(h.len(), HISTORY);
        assert_eq!(
            h.last().map(|r| r.unix_ms),
            Some((HISTORY as u64 + 9) * 1000)
        );
        assert!(h.windows(2).all(|w| w[0].unix_ms < w[1].unix_ms));
    }
}
