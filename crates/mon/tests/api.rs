//! The monitor API with real processes: authentication, pool validation, map
//! subscriptions, the OSD lifecycle (boot, heartbeats, automatic down and out), and
//! health.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{boot, eventually, raw, three_mons};
use cuttle_client::MapWatcher;
use cuttle_proto as pb;
use cuttle_proto::monitor_client::MonitorClient;
use cuttle_rpc::ClusterSecret;
use cuttle_types::{EcProfile, OsdId};

fn ec(name: &str, k: u32, m: u32, fd: &str) -> pb::CreatePoolRequest {
    pb::CreatePoolRequest {
        name: name.into(),
        redundancy: Some(pb::create_pool_request::Redundancy::Erasure(
            pb::EcProfile {
                k,
                m,
                stripe_unit: 0,
                codec: String::new(),
            },
        )),
        pg_num: 16,
        failure_domain: fd.into(),
        min_size: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_the_cluster_secret_are_refused() {
    let c = three_mons().await;
    let addr = c.layout().monitors["a"].clone();
    let ch =
        cuttle_rpc::channel::lazy_channel(&addr, &cuttle_rpc::ChannelConfig::plaintext()).unwrap();
    let mut anonymous = MonitorClient::new(ch);
    let err = anonymous.get_map(pb::GetMapRequest {}).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(cuttle_rpc::error_code(&err), Some("unauthenticated"));
    let mut wrong = raw(&addr, &ClusterSecret::generate().to_hex());
    let err = wrong
        .status(pb::StatusRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert!(
        err.message().contains("wrong cluster secret"),
        "{}",
        err.message()
    );
    // Raft traffic is guarded the same way.
    let err = wrong
        .raft(pb::RaftRequest {
            kind: 1,
            payload: Default::default(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    let mut right = raw(&addr, &c.layout().secret);
    assert!(right.get_map(pb::GetMapRequest {}).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_are_validated() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    boot(&client, 1, "h1").await;
    boot(&client, 2, "h2").await;
    let err = client
        .create_pool(ec("ec", 2, 1, "host"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_enough_failure_domains");
    assert!(err.to_string().contains("needs 3 distinct hosts"), "{err}");
    // Two OSDs on two hosts do satisfy an osd failure domain of width 2.
    let ok = client.create_pool(ec("small", 1, 1, "osd")).await.unwrap();
    assert_eq!(ok.pool.unwrap().min_size, 2);
    boot(&client, 3, "h3").await;
    let created = client.create_pool(ec("ec", 2, 1, "host")).await.unwrap();
    let pool = created.pool.unwrap();
    assert_eq!(pool.min_size, 3, "EC default min_size is k+1");
    assert_eq!(pool.pg_num, 16);
    for (req, code) in [
        (ec("ec", 2, 1, "host"), "pool_exists"),
        (ec("bad name", 2, 1, "host"), "invalid_pool"),
        (ec("-x", 2, 1, "host"), "invalid_pool"),
        (ec("zero", 0, 1, "host"), "invalid_pool"),
        (ec("rack", 2, 1, "rack"), "invalid_pool"),
        (
            pb::CreatePoolRequest {
                pg_num: 0,
                ..ec("nopgs", 2, 1, "host")
            },
            "invalid_pool",
        ),
        (
            pb::CreatePoolRequest {
                redundancy: None,
                ..ec("none", 2, 1, "host")
            },
            "invalid_pool",
        ),
    ] {
        let err = client.create_pool(req).await.unwrap_err();
        assert_eq!(err.code(), code, "{err}");
    }
    let err = client.remove_pool("ec", "wrong").await.unwrap_err();
    assert_eq!(err.code(), "confirmation_required");
    let err = client.remove_pool("nope", "nope").await.unwrap_err();
    assert_eq!(err.code(), "no_such_pool");
    client.remove_pool("ec", "ec").await.unwrap();
    let map = client.get_map().await.unwrap();
    assert!(map.pool_by_name("ec").is_none());
    assert!(map.pool_by_name("small").is_some());
    let _ = EcProfile::new(2, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_sees_every_epoch_in_order() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    let mut sub = raw(&c.layout().monitors["b"], &c.layout().secret)
        .subscribe(pb::SubscribeRequest { from_epoch: 0 })
        .await
        .unwrap()
        .into_inner();
    let first = sub.message().await.unwrap().unwrap();
    let Some(pb::map_update::Update::Full(full)) = first.update else {
        panic!("a new subscriber gets the full map first")
    };
    let mut epoch = full.epoch;
    for n in 1..=8 {
        boot(&client, n, &format!("h{n}")).await;
    }
    let last = client.get_map().await.unwrap().epoch.0;
    while epoch < last {
        let u = tokio::time::timeout(Duration::from_secs(20), sub.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        match u.update {
            Some(pb::map_update::Update::Incremental(i)) => {
                assert_eq!(
                    i.epoch,
                    epoch + 1,
                    "incrementals arrive in order, none skipped"
                );
                epoch = i.epoch;
            }
            other => panic!("expected an incremental, got {other:?}"),
        }
    }
    // A late subscriber resuming from an old epoch gets the missing incrementals.
    let mut late = raw(&c.layout().monitors["c"], &c.layout().secret)
        .subscribe(pb::SubscribeRequest { from_epoch: 3 })
        .await
        .unwrap()
        .into_inner();
    let u = late.message().await.unwrap().unwrap();
    assert!(
        matches!(u.update, Some(pb::map_update::Update::Incremental(ref i)) if i.epoch == 4),
        "{u:?}"
    );
    // The client library's watcher converges on the newest map.
    let watcher = MapWatcher::start(client.clone());
    let m = watcher
        .wait_for(Duration::from_secs(20), |m| m.epoch.0 >= last)
        .await
        .unwrap();
    assert_eq!(m.osds.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_osds_go_down_then_out_and_heartbeats_keep_them_up() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    let quiet = OsdId(boot(&client, 1, "h1").await);
    let chatty = OsdId(boot(&client, 2, "h2").await);
    let beat = {
        let client = client.clone();
        tokio::spawn(async move {
            loop {
                let _ = client
                    .heartbeat(pb::HeartbeatRequest {
                        osd_id: chatty.0,
                        uuid: uuid::Uuid::from_u128(2).to_string(),
                        epoch: 0,
                        bytes_total: 100,
                        bytes_used: 90,
                        pg_states: vec![pb::PgStateCount {
                            state: "active+clean".into(),
                            count: 8,
                        }],
                        pgs: vec![pb::PgStat {
                            pool: 7,
                            seed: 3,
                            state: "active+recovering+degraded".into(),
                            acting: vec![1, -1, 2],
                            primary: chatty.0,
                            recovery_objects_remaining: 12,
                            ..pb::PgStat::default()
                        }],
                        client_io: None,
                    })
                    .await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        })
    };
    let map = eventually(30, "the silent OSD is marked down", || {
        let client = client.clone();
        async move {
            let m = client.get_map().await.ok()?;
            (!m.osds[&quiet].up).then_some(m)
        }
    })
    .await;
    assert!(map.osds[&chatty].up, "heartbeats keep an OSD up");
    assert!(map.osds[&quiet].down_since.is_some());
    let st = client.status().await.unwrap();
    assert!(
        st.checks
            .iter()
            .any(|c| c.code == "OSD_DOWN" && c.detail.iter().any(|d| d.contains("osd.0"))),
        "{:?}",
        st.checks
    );
    assert!(
        st.checks.iter().any(|c| c.code == "OSD_NEARFULL"),
        "usage from heartbeats feeds health: {:?}",
        st.checks
    );
    assert_eq!(st.pg_states.iter().map(|p| p.count).sum::<u32>(), 8);
    // Per-PG stats from heartbeats (pool 7 is not in the map, so it is not listed).
    let stats = client.pg_stats().await.unwrap();
    assert!(stats.pgs.is_empty(), "{:?}", stats.pgs);
    let err = client.purge_osd(chatty).await.unwrap_err();
    assert_eq!(err.code(), "osd_still_active", "an up OSD cannot be purged");
    eventually(30, "the down OSD is marked out", || {
        let client = client.clone();
        async move {
            let m = client.get_map().await.ok()?;
            (!m.osds[&quiet].in_cluster).then_some(())
        }
    })
    .await;
    // Booting again brings it back up (but it stays out until marked in).
    boot(&client, 1, "h1").await;
    let m = client.get_map().await.unwrap();
    assert!(m.osds[&quiet].up && !m.osds[&quiet].in_cluster);
    client
        .set_osd_state(quiet, pb::OsdStateChange::In)
        .await
        .unwrap();
    assert!(client.get_map().await.unwrap().osds[&quiet].in_cluster);
    let err = client
        .set_osd_state(OsdId(42), pb::OsdStateChange::Out)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_such_osd");
    // A down and out OSD can be purged; its id is free again.
    for change in [pb::OsdStateChange::Out, pb::OsdStateChange::Down] {
        client.set_osd_state(quiet, change).await.unwrap();
    }
    client.purge_osd(quiet).await.unwrap();
    assert!(!client.get_map().await.unwrap().osds.contains_key(&quiet));
    beat.abort();
}
