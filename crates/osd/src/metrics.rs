//! The OSD's Prometheus metrics (`docs/metrics.md`).
//!
//! Request counters and latency histograms are updated on the request path with
//! atomics only: every per-operation series is created once, here, and its handle kept
//! in an array indexed by [`OpKind`]. PG states, recovery backlog, device usage, the
//! io_uring queue depth and RocksDB statistics are read at scrape time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use cuttle_metrics::prometheus_client::metrics::counter::Counter;
use cuttle_metrics::prometheus_client::metrics::family::Family;
use cuttle_metrics::prometheus_client::metrics::gauge::Gauge;
use cuttle_metrics::prometheus_client::registry::Registry;
use cuttle_metrics::{Exporter, LatencyHistogram};

use crate::osd::Osd;

/// The operations the OSD counts, by the gRPC call that carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// Client write (`Mutate`: write_full, remove, xattrs, omap...).
    Mutate,
    /// Client read.
    Read,
    /// Client stat.
    Stat,
    /// Client omap read.
    OmapGet,
    /// Client object listing of a PG.
    List,
    /// Client notify.
    Notify,
    /// A primary's sub-write to this member.
    SubWrite,
    /// A primary's sub-read from this member.
    SubRead,
}

impl OpKind {
    /// Every kind, in index order.
    pub const ALL: [OpKind; 8] = [
        OpKind::Mutate,
        OpKind::Read,
        OpKind::Stat,
        OpKind::OmapGet,
        OpKind::List,
        OpKind::Notify,
        OpKind::SubWrite,
        OpKind::SubRead,
    ];

    /// The `op` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Mutate => "mutate",
            OpKind::Read => "read",
            OpKind::Stat => "stat",
            OpKind::OmapGet => "omap_get",
            OpKind::List => "list",
            OpKind::Notify => "notify",
            OpKind::SubWrite => "sub_write",
            OpKind::SubRead => "sub_read",
        }
    }
}

type OpLabel = [(&'static str, &'static str); 1];

/// The stages of a client write (`mutate`) on its primary, timed separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutateStage {
    /// Waiting for the PG: writes to one PG run one at a time.
    PgWait,
    /// Reading what the write depends on (the object's version, compared values) and
    /// erasure-coding its data.
    Prepare,
    /// The sub-writes to every member, each committed durably, in parallel.
    Members,
}

impl MutateStage {
    /// Every stage, in index order.
    pub const ALL: [MutateStage; 3] = [
        MutateStage::PgWait,
        MutateStage::Prepare,
        MutateStage::Members,
    ];

    /// The `stage` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            MutateStage::PgWait => "pg_wait",
            MutateStage::Prepare => "prepare",
            MutateStage::Members => "members",
        }
    }
}

/// The `pool` label of a stage: how the PG's pool keeps its copies.
const POOL_KINDS: [&str; 2] = ["replicated", "erasure"];

type StageLabel = [(&'static str, &'static str); 2];

/// Counters and histograms the OSD updates as it works.
#[derive(Debug)]
pub struct OsdMetrics {
    ops_family: Family<OpLabel, Counter>,
    errors_family: Family<OpLabel, Counter>,
    latency_family: Family<OpLabel, LatencyHistogram>,
    ops: [Counter; OpKind::ALL.len()],
    errors: [Counter; OpKind::ALL.len()],
    latency: [LatencyHistogram; OpKind::ALL.len()],
    stage_family: Family<StageLabel, LatencyHistogram>,
    /// By stage, then pool kind (replicated, erasure).
    stages: [[LatencyHistogram; POOL_KINDS.len()]; MutateStage::ALL.len()],
    /// Client data bytes written (`write_full` payloads of successful mutates).
    pub bytes_written: Counter,
    /// Client data bytes returned by reads.
    pub bytes_read: Counter,
    /// EC reads answered with a plan the client completed from the members itself.
    pub direct_reads: Counter,
    /// Objects recovered or backfilled by PGs this OSD is primary of.
    pub recovered_objects: Counter,
    /// Damaged copies (a chunk or replica that failed its checksum, found by a read or
    /// a scrub) rewritten by PGs this OSD is primary of.
    pub repaired_objects: Counter,
    /// Bytes recovered or backfilled by PGs this OSD is primary of.
    pub recovered_bytes: Counter,
}

impl Default for OsdMetrics {
    fn default() -> Self {
        let ops_family = Family::<OpLabel, Counter>::default();
        let errors_family = Family::<OpLabel, Counter>::default();
        let latency_family = Family::<OpLabel, LatencyHistogram>::default();
        let label = |k: OpKind| [("op", k.as_str())];
        let stage_family = Family::<StageLabel, LatencyHistogram>::default();
        let stages = MutateStage::ALL.map(|st| {
            POOL_KINDS.map(|pool| {
                stage_family.get_or_create_owned(&[("stage", st.as_str()), ("pool", pool)])
            })
        });
        OsdMetrics {
            stage_family,
            stages,
            ops: OpKind::ALL.map(|k| ops_family.get_or_create_owned(&label(k))),
            errors: OpKind::ALL.map(|k| errors_family.get_or_create_owned(&label(k))),
            latency: OpKind::ALL.map(|k| latency_family.get_or_create_owned(&label(k))),
            ops_family,
            errors_family,
            latency_family,
            bytes_written: Counter::default(),
            bytes_read: Counter::default(),
            direct_reads: Counter::default(),
            recovered_objects: Counter::default(),
            repaired_objects: Counter::default(),
            recovered_bytes: Counter::default(),
        }
    }
}

impl OsdMetrics {
    /// Records one finished operation started at `started`.
    pub fn record(&self, op: OpKind, started: Instant, ok: bool) {
        let i = op as usize;
        self.ops[i].inc();
        self.latency[i].observe(started.elapsed());
        if !ok {
            self.errors[i].inc();
        }
    }

    /// Records how long a stage of a client write took, in a PG of an erasure-coded
    /// pool or not.
    pub fn record_stage(&self, stage: MutateStage, erasure: bool, took: std::time::Duration) {
        self.stages[stage as usize][usize::from(erasure)].observe(took);
    }

    /// Client I/O since start, for the monitors' cluster-wide rates.
    pub fn client_io(&self) -> cuttle_proto::ClientIoCounters {
        cuttle_proto::ClientIoCounters {
            read_bytes: self.bytes_read.get(),
            written_bytes: self.bytes_written.get(),
            read_ops: self.ops[OpKind::Read as usize].get(),
            write_ops: self.ops[OpKind::Mutate as usize].get(),
        }
    }

    fn register(&self, reg: &mut Registry) {
        reg.register(
            "cuttle_osd_ops",
            "Operations served, by gRPC operation (client ops and sub-ops from primaries)",
            self.ops_family.clone(),
        );
        reg.register(
            "cuttle_osd_op_errors",
            "Operations that returned an error, by operation",
            self.errors_family.clone(),
        );
        reg.register(
            "cuttle_osd_op_duration_seconds",
            "Latency of operations from request decoded to reply, by operation",
            self.latency_family.clone(),
        );
        reg.register(
            "cuttle_osd_mutate_stage_seconds",
            "Stages of client writes on their primary: waiting for the PG (writes to one PG \
             run one at a time), reading what the write depends on and erasure-coding it, \
             then the durable sub-writes to every member; by pool kind",
            self.stage_family.clone(),
        );
        reg.register(
            "cuttle_osd_client_written_bytes",
            "Object data bytes written by clients (before erasure coding or replication)",
            self.bytes_written.clone(),
        );
        reg.register(
            "cuttle_osd_client_read_bytes",
            "Object data bytes returned to clients by reads",
            self.bytes_read.clone(),
        );
        reg.register(
            "cuttle_osd_direct_reads",
            "Erasure-coded reads answered with a read plan: the client fetched the chunks \
             from their OSDs itself instead of this primary relaying them",
            self.direct_reads.clone(),
        );
        reg.register(
            "cuttle_osd_recovered_objects",
            "Objects recovered or backfilled in PGs this OSD is primary of",
            self.recovered_objects.clone(),
        );
        reg.register(
            "cuttle_osd_repaired_objects",
            "Damaged copies (found by a read or a scrub) rewritten in PGs this OSD is primary of",
            self.repaired_objects.clone(),
        );
        reg.register(
            "cuttle_osd_recovered_bytes",
            "Bytes recovered or backfilled in PGs this OSD is primary of",
            self.recovered_bytes.clone(),
        );
    }
}

/// RocksDB properties exported as gauges: (property, metric name, help).
const DB_PROPERTIES: [(&str, &str, &str); 4] = [
    (
        "rocksdb.estimate-live-data-size",
        "cuttle_osd_db_live_data_bytes",
        "RocksDB estimate of live data in the metadata database",
    ),
    (
        "rocksdb.cur-size-all-mem-tables",
        "cuttle_osd_db_memtable_bytes",
        "RocksDB memtable size (active and unflushed immutable)",
    ),
    (
        "rocksdb.total-sst-files-size",
        "cuttle_osd_db_sst_files_bytes",
        "Size of all RocksDB SST files",
    ),
    (
        "rocksdb.estimate-num-keys",
        "cuttle_osd_db_keys",
        "RocksDB estimate of the number of keys",
    ),
];

/// The OSD's exporter: the counters of [`OsdMetrics`] plus gauges read at scrape time.
pub fn exporter(osd: Arc<Osd>) -> Exporter {
    let mut reg = Registry::default();
    osd.metrics.register(&mut reg);
    let gauge = |reg: &mut Registry, name: &str, help: &str| {
        let g: Gauge = Gauge::default();
        reg.register(name, help, g.clone());
        g
    };
    let pgs = Family::<[(&'static str, String); 1], Gauge>::default();
    reg.register(
        "cuttle_osd_pgs",
        "PGs this OSD is primary of, by state (active+clean, active+recovering...)",
        pgs.clone(),
    );
    let remaining = gauge(
        &mut reg,
        "cuttle_osd_recovery_objects_remaining",
        "Objects still to recover or backfill in PGs this OSD is primary of",
    );
    let size = gauge(
        &mut reg,
        "cuttle_osd_device_size_bytes",
        "Data capacity of the OSD's device",
    );
    let used = gauge(
        &mut reg,
        "cuttle_osd_device_used_bytes",
        "Bytes allocated on the OSD's device",
    );
    let free = gauge(
        &mut reg,
        "cuttle_osd_device_free_bytes",
        "Bytes free on the OSD's device",
    );
    let in_flight = gauge(
        &mut reg,
        "cuttle_osd_device_inflight_requests",
        "Device requests submitted to io_uring and not yet completed (0 with the pread/pwrite backend)",
    );
    let db: Vec<(&'static str, Gauge)> = DB_PROPERTIES
        .iter()
        .map(|(prop, name, help)| (*prop, gauge(&mut reg, name, help)))
        .collect();
    let mut ex = Exporter::new(reg);
    ex.on_scrape(move || {
        use cuttle_objectstore::ObjectStore;
        let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let counts: HashMap<String, u32> = osd.pg_state_counts();
        pgs.clear();
        for (state, n) in counts {
            pgs.get_or_create(&[("state", state)]).set(i64::from(n));
        }
        remaining.set(as_i64(
            osd.pg_stats()
                .iter()
                .map(|p| p.recovery_objects_remaining)
                .sum(),
        ));
        let fs = osd.disk.statfs();
        size.set(as_i64(fs.total));
        used.set(as_i64(fs.used));
        free.set(as_i64(fs.free));
        in_flight.set(as_i64(osd.disk.device_in_flight()));
        for (prop, g) in &db {
            if let Some(v) = osd.disk.db_property(prop) {
                g.set(as_i64(v));
            }
        }
    });
    ex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_their_own_series() {
        for (i, k) in OpKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        let m = OsdMetrics::default();
        m.record(OpKind::Read, Instant::now(), true);
        m.record(OpKind::Read, Instant::now(), false);
        let mut reg = Registry::default();
        m.register(&mut reg);
        let text = Exporter::new(reg).render().expect("render");
        assert!(
            text.contains("cuttle_osd_ops_total{op=\"read\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("cuttle_osd_op_errors_total{op=\"read\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("cuttle_osd_op_duration_seconds_count{op=\"read\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("cuttle_osd_ops_total{op=\"mutate\"} 0\n"),
            "{text}"
        );
    }

    #[test]
    fn write_stages_are_counted_by_stage_and_pool_kind() {
        for (i, st) in MutateStage::ALL.iter().enumerate() {
            assert_eq!(*st as usize, i);
        }
        let m = OsdMetrics::default();
        let ms = std::time::Duration::from_millis;
        m.record_stage(MutateStage::PgWait, true, ms(1));
        m.record_stage(MutateStage::Prepare, false, ms(1));
        m.record_stage(MutateStage::Members, true, ms(20));
        m.record_stage(MutateStage::Members, false, ms(5));
        m.record_stage(MutateStage::Members, false, ms(7));
        let mut reg = Registry::default();
        m.register(&mut reg);
        let text = Exporter::new(reg).render().expect("render");
        let count = |stage: &str, pool: &str| {
            format!("cuttle_osd_mutate_stage_seconds_count{{stage=\"{stage}\",pool=\"{pool}\"}}")
        };
        for (series, n) in [
            (count("pg_wait", "erasure"), 1),
            (count("members", "erasure"), 1),
            (count("members", "replicated"), 2),
            (count("pg_wait", "replicated"), 0),
            (count("prepare", "replicated"), 1),
        ] {
            assert!(
                text.contains(&format!("{series} {n}\n")),
                "{series}: {text}"
            );
        }
    }
}
