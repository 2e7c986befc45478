//! Raft quorum behaviour with real monitor processes: election, leader failover, a
//! restarted monitor catching up, and refusing map changes without a majority.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{boot, eventually, only, three_mons};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_monitors_elect_a_leader() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    let st = client.status().await.unwrap();
    assert!(
        ["a", "b", "c"].contains(&st.leader.as_str()),
        "leader {:?}",
        st.leader
    );
    assert_eq!(st.monitors.len(), 3);
    let st = eventually(20, "all monitors reachable", || {
        let client = client.clone();
        async move {
            let st = client.status().await.ok()?;
            st.monitors.iter().all(|m| m.reachable).then_some(st)
        }
    })
    .await;
    assert_eq!(st.health, "HEALTH_OK", "{:?}", st.checks);
    assert_eq!(st.monitors.iter().filter(|m| m.leader).count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_another_and_changes_keep_committing() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    assert_eq!(boot(&client, 1, "h1").await, 0);
    let old = client.status().await.unwrap().leader;
    c.signal(&format!("mon.{old}"), libc::SIGKILL).unwrap();
    // A map change succeeds through the survivors.
    assert_eq!(boot(&client, 2, "h2").await, 1);
    let st = client.status().await.unwrap();
    assert_ne!(st.leader, old, "a new leader took over");
    assert!(!st.leader.is_empty());
    let map = client.get_map().await.unwrap();
    assert_eq!(map.osds.len(), 2);
    assert!(
        st.checks.iter().any(|c| c.code == "MON_DOWN"),
        "health reports the dead monitor: {:?}",
        st.checks
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_monitor_catches_up_from_its_data_dir() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    let leader = client.status().await.unwrap().leader;
    let victim = c
        .layout()
        .monitors
        .keys()
        .find(|n| **n != leader)
        .unwrap()
        .clone();
    boot(&client, 1, "h1").await;
    c.signal(&format!("mon.{victim}"), libc::SIGKILL).unwrap();
    for n in 2..=6 {
        boot(&client, n, &format!("h{n}")).await;
    }
    let latest = client.get_map().await.unwrap();
    assert_eq!(latest.osds.len(), 6);
    c.start(&format!("mon.{victim}")).unwrap();
    let direct = only(&c.layout().monitors[&victim], &c.layout().secret);
    let caught_up = eventually(30, "restarted monitor catches up", || {
        let direct = direct.clone();
        let want = latest.epoch;
        async move {
            let m = direct.get_map().await.ok()?;
            (m.epoch >= want).then_some(m)
        }
    })
    .await;
    assert_eq!(caught_up.osds, latest.osds);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_no_change_commits_and_the_error_says_so() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    boot(&client, 1, "h1").await;
    let before = client.get_map().await.unwrap();
    let names: Vec<String> = c.layout().monitors.keys().cloned().collect();
    c.signal(&format!("mon.{}", names[0]), libc::SIGKILL)
        .unwrap();
    c.signal(&format!("mon.{}", names[1]), libc::SIGKILL)
        .unwrap();
    let survivor = only(&c.layout().monitors[&names[2]], &c.layout().secret)
        .with_deadline(Duration::from_secs(12));
    let started = Instant::now();
    let err = survivor
        .boot_osd(cuttle_proto::BootOsdRequest {
            uuid: uuid::Uuid::from_u128(99).to_string(),
            host: "h9".into(),
            addr: "127.0.0.1:1".into(),
            weight: 0,
        })
        .await
        .expect_err("no quorum, no commit");
    assert_eq!(err.code(), "no_quorum", "{err}");
    assert!(err.to_string().contains("no monitor quorum"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the call returned instead of hanging"
    );
    // Status still answers, and says why nothing works.
    let st = survivor.status().await.unwrap();
    assert_eq!(st.health, "HEALTH_ERR");
    assert_eq!(st.checks[0].code, "MON_QUORUM", "{:?}", st.checks);
    // Nothing committed: the survivor's applied map is unchanged.
    let map = survivor.get_map().await.unwrap();
    assert_eq!(map.epoch, before.epoch);
    assert!(
        map.osds
            .values()
            .all(|o| o.uuid != uuid::Uuid::from_u128(99))
    );
    // With a majority back, changes commit again.
    c.start(&format!("mon.{}", names[0])).unwrap();
    c.wait_for_quorum(Duration::from_secs(30)).await.unwrap();
    let id = boot(&c.client().unwrap(), 3, "h3").await;
    let map = c.client().unwrap().get_map().await.unwrap();
    assert_eq!(map.osds[&cuttle_types::OsdId(id)].host, "h3");
}
