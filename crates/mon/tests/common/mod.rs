//! Helpers for monitor tests with real `cuttle-mon` processes.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cuttle_client::MonClient;
use cuttle_cluster::{LocalSpec, MonTiming, TestCluster};
use cuttle_proto as pb;
use cuttle_proto::monitor_client::MonitorClient;
use cuttle_rpc::{ChannelConfig, ClientAuth, ClusterSecret};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Fast timers so failure handling is quick to observe.
pub fn fast_timing() -> MonTiming {
    MonTiming {
        osd_heartbeat_grace_secs: 2,
        osd_down_out_interval_secs: 3,
        raft_heartbeat_ms: 100,
        election_timeout_min_ms: 400,
        election_timeout_max_ms: 800,
        ping_interval_ms: 250,
        write_timeout_secs: 3,
    }
}

/// A running 3-monitor cluster with fast timers.
pub async fn three_mons() -> TestCluster {
    assert!(
        cuttle_cluster::bin_dir().join("cuttle-mon").is_file(),
        "cuttle-mon binary missing: {}",
        env!("CARGO_BIN_EXE_cuttle-mon")
    );
    TestCluster::start(LocalSpec {
        mons: 3,
        osds: 0,
        timing: fast_timing(),
        ..LocalSpec::default()
    })
    .await
    .unwrap()
}

/// Polls `f` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A raw, signed client to one monitor.
pub fn raw(addr: &str, secret: &str) -> MonitorClient<InterceptedService<Channel, ClientAuth>> {
    let ch = cuttle_rpc::channel::lazy_channel(addr, &ChannelConfig::plaintext()).unwrap();
    MonitorClient::with_interceptor(
        ch,
        ClientAuth::new(ClusterSecret::from_hex(secret).unwrap()),
    )
}

/// A client that talks to one monitor only.
pub fn only(addr: &str, secret: &str) -> MonClient {
    MonClient::new(
        vec![addr.to_string()],
        ClusterSecret::from_hex(secret).unwrap(),
        &ChannelConfig::plaintext(),
    )
    .unwrap()
    .with_deadline(Duration::from_secs(3))
}

/// Registers a pretend OSD (the test plays the OSD daemon over the real RPC).
pub async fn boot(client: &MonClient, n: u128, host: &str) -> u32 {
    client
        .boot_osd(pb::BootOsdRequest {
            uuid: uuid::Uuid::from_u128(n).to_string(),
            host: host.into(),
            addr: format!("127.0.0.1:{}", 9000 + n),
            weight: 0,
        })
        .await
        .unwrap()
        .osd_id
}
