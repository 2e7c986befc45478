//! Raft quorum behaviour with real monitor processes: election, leader failover, a
//! restarted monitor catching up (also from an old backup of its data directory, or
//! from none at all), and refusing map changes without a majority.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{boot, eventually, only, raw, three_mons};
use cuttle_proto as pb;

/// The map epoch a monitor has applied itself (a subscription is served from the
/// monitor's own state; map reads would be forwarded to the leader).
async fn applied_epoch(addr: &str, secret: &str) -> Option<u64> {
    let mut stream = raw(addr, secret)
        .subscribe(pb::SubscribeRequest { from_epoch: 0 })
        .await
        .ok()?
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(2), stream.message())
        .await
        .ok()?
        .ok()??;
    match first.update? {
        pb::map_update::Update::Full(m) => Some(m.epoch),
        pb::map_update::Update::Incremental(i) => Some(i.epoch),
    }
}

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
    let victim = a_follower(&c, &leader);
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

/// The name of a monitor that is not `leader`.
fn a_follower(c: &cuttle_cluster::TestCluster, leader: &str) -> String {
    c.layout()
        .monitors
        .keys()
        .find(|n| n.as_str() != leader)
        .unwrap()
        .clone()
}

/// Starts a daemon that was just killed: the kernel may hold its listening port for a
/// moment after the process is gone, so a busy port is retried (bounded).
async fn restart(c: &cuttle_cluster::TestCluster, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.start(name) {
            Ok(_) => return,
            Err(cuttle_cluster::ClusterError::PortBusy { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("starting {name}: {e}"),
        }
    }
}

/// Copies the directory tree `from` to `to` (which must not exist).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The procedure of `docs/operations.md` ("Backing up the monitors"): a copy of a
/// stopped monitor's data directory is a backup; a monitor restored from an old one,
/// or started on an empty directory after losing its disk, catches up from the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_restored_from_an_old_backup_or_an_empty_dir_catches_up() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    let leader = client.status().await.unwrap().leader;
    let victim = a_follower(&c, &leader);
    let name = format!("mon.{victim}");
    let data = c.dir().join(&name);
    assert!(data.is_dir(), "{}", data.display());
    boot(&client, 1, "h1").await;
    // Back up: stop, copy, start again.
    c.stop(&name).unwrap();
    let backup = tempfile::tempdir().unwrap();
    let saved = backup.path().join("store");
    copy_tree(&data, &saved);
    c.start(&name).unwrap();
    // The cluster moves on past the backup.
    for n in 2..=4 {
        boot(&client, n, &format!("h{n}")).await;
    }
    let latest = client.get_map().await.unwrap();
    assert_eq!(latest.osds.len(), 4);
    let addr = c.layout().monitors[&victim].clone();
    let secret = c.layout().secret.clone();
    let catches_up = |what: &'static str| {
        let (addr, secret) = (addr.clone(), secret.clone());
        let want = latest.epoch;
        async move {
            eventually(30, what, || {
                let (addr, secret) = (addr.clone(), secret.clone());
                async move {
                    let e = applied_epoch(&addr, &secret).await?;
                    (e >= want.0).then_some(())
                }
            })
            .await;
        }
    };
    // Restore the old backup in place of its store.
    c.signal(&name, libc::SIGKILL).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    copy_tree(&saved, &data);
    restart(&c, &name).await;
    catches_up("the monitor restored from an old backup catches up").await;
    // Lose the store altogether.
    c.signal(&name, libc::SIGKILL).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    restart(&c, &name).await;
    catches_up("the monitor on an empty directory catches up").await;
    // It holds every committed change again: with the leader gone, it and the third
    // monitor elect a leader that has them all, and changes commit.
    c.signal(&format!("mon.{leader}"), libc::SIGKILL).unwrap();
    assert_eq!(boot(&client, 5, "h5").await, 4);
    let map = client.get_map().await.unwrap();
    assert_eq!(map.osds.len(), 5, "nothing committed was lost");
    restart(&c, &format!("mon.{leader}")).await;

    // Losing every monitor: archives of all three taken while they were stopped bring
    // the map back to that moment.
    let names: Vec<String> = c
        .layout()
        .monitors
        .keys()
        .map(|n| format!("mon.{n}"))
        .collect();
    for n in &names {
        c.stop(n).unwrap();
        copy_tree(&c.dir().join(n), &backup.path().join(n));
    }
    for n in &names {
        c.start(n).unwrap();
    }
    assert_eq!(boot(&client, 6, "h6").await, 5, "a change after the backup");
    for n in &names {
        c.stop(n).unwrap();
        std::fs::remove_dir_all(c.dir().join(n)).unwrap();
        copy_tree(&backup.path().join(n), &c.dir().join(n));
    }
    for n in &names {
        c.start(n).unwrap();
    }
    let restored = eventually(30, "the restored monitors serve the map", || {
        let client = client.clone();
        async move { client.get_map().await.ok() }
    })
    .await;
    assert_eq!(
        restored.epoch, map.epoch,
        "the map is as it was at the backup"
    );
    assert_eq!(restored.osds, map.osds);
    assert_eq!(boot(&client, 7, "h7").await, 5, "and takes changes again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_no_change_commits_and_the_error_says_so() {
    let c = three_mons().await;
    let client = c.client().unwrap();
    boot(&client, 1, "h1").await;
    let before = client.get_map().await.unwrap();
    let names: Vec<String> = c.layout().monitors.keys().cloned().collect();
    // The survivor-to-be has applied that change (a majority acknowledged it, which
    // need not include this monitor yet).
    let (addr, secret) = (
        c.layout().monitors[&names[2]].clone(),
        c.layout().secret.clone(),
    );
    eventually(30, "the third monitor applied the boot", || {
        let (addr, secret) = (addr.clone(), secret.clone());
        async move {
            let e = applied_epoch(&addr, &secret).await?;
            (e >= before.epoch.0).then_some(())
        }
    })
    .await;
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
