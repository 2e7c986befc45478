//! Crash test: a child process (`cuttle-store-tool torture`) runs a random workload and
//! prints every acknowledged transaction; we SIGKILL it at a random moment, reopen the
//! store, and check that it is consistent (deep fsck), that every acknowledged write is
//! there byte for byte, and that nothing is torn: both objects of a pair (always
//! written in one transaction) are at the same version, which is the last acknowledged
//! one or the one in flight at the kill.
//!
//! 30 rounds by default on one store (each round continues from the recovered state);
//! set `CUTTLE_CRASH_ROUNDS` for more.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::TestDisk;
use cuttle_objectstore::device::DeviceBackend;
use cuttle_objectstore::{DiskStore, ObjectStore, StoreError, torture};
use rand::Rng;

const PAIRS: u32 = 12;
const SEED: u64 = 42;

/// Kills the child when dropped, so a failing test never leaves it running.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Expected content of every object at the version verified so far.
struct Model {
    version: Vec<u64>,
    content: Vec<Vec<u8>>,
}

impl Model {
    fn advance(&mut self, pair: u32, to: u64) {
        while self.version[pair as usize] < to {
            let v = self.version[pair as usize] + 1;
            for obj in [2 * pair, 2 * pair + 1] {
                let c = &mut self.content[obj as usize];
                let step = torture::step(SEED, obj, v, c.len() as u64);
                torture::apply(c, &step);
            }
            self.version[pair as usize] = v;
        }
    }
}

async fn verify(store: &DiskStore, model: &mut Model, acked: &HashMap<u32, u64>) {
    let report = store.fsck(true).await.unwrap();
    assert!(report.is_clean(), "fsck after crash: {report:?}");
    let c = torture::collection();
    for pair in 0..PAIRS {
        let mut versions = Vec::new();
        for obj in [2 * pair, 2 * pair + 1] {
            let name = torture::object_name(obj);
            let v = match store.get_attrs(&c, &name).await {
                Ok(attrs) => torture::decode_version(&attrs["v"]).unwrap(),
                Err(StoreError::NoSuchObject { .. }) => 0,
                Err(e) => panic!("{name}: {e}"),
            };
            if v > 0 {
                let omap = store
                    .omap_get(&c, &name, &[bytes::Bytes::from_static(b"v")])
                    .await
                    .unwrap();
                let ov = torture::decode_version(&omap[&bytes::Bytes::from_static(b"v")]);
                assert_eq!(ov, Some(v), "{name}: omap and xattr disagree");
                let kv = store.kv_get(torture::KV_NS, name.as_bytes()).await.unwrap();
                assert_eq!(
                    kv.as_deref().and_then(torture::decode_version),
                    Some(v),
                    "{name}: kv"
                );
            }
            versions.push(v);
        }
        assert_eq!(
            versions[0], versions[1],
            "pair {pair} is torn: {versions:?}"
        );
        let v = versions[0];
        let last_ack = acked
            .get(&pair)
            .copied()
            .unwrap_or(model.version[pair as usize]);
        assert!(
            v == last_ack || v == last_ack + 1,
            "pair {pair}: found version {v}, last acknowledged {last_ack}"
        );
        model.advance(pair, v);
        for obj in [2 * pair, 2 * pair + 1] {
            let name = torture::object_name(obj);
            let want = &model.content[obj as usize];
            let got = match store.read(&c, &name, 0, u64::MAX).await {
                Ok(b) => b.to_vec(),
                Err(StoreError::NoSuchObject { .. }) => Vec::new(),
                Err(e) => panic!("{name}: {e}"),
            };
            assert!(
                got == *want,
                "{name} at v{v}: {} bytes, want {}",
                got.len(),
                want.len()
            );
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let rounds: usize = std::env::var("CUTTLE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let disk = TestDisk::new(DeviceBackend::Auto);
    rt.block_on(async { disk.mkfs(256 << 20).await.close().await });
    let mut model = Model {
        version: vec![0; PAIRS as usize],
        content: vec![Vec::new(); 2 * PAIRS as usize],
    };
    let mut rng = rand::rng();
    let mut total_acks = 0usize;
    for round in 0..rounds {
        let child = Command::new(env!("CARGO_BIN_EXE_cuttle-store-tool"))
            .arg("--device")
            .arg(&disk.device)
            .arg("--meta")
            .arg(&disk.meta)
            .args([
                "torture",
                "--seed",
                &SEED.to_string(),
                "--pairs",
                &PAIRS.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut child = Child(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("worker did not start");
        assert_eq!(first, "ready");
        // Let it run a random while, then kill it without warning.
        std::thread::sleep(Duration::from_millis(rng.random_range(10..400)));
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.0.id() as i32, libc::SIGKILL) };
        let _ = child.0.wait();
        drop(child);
        let _ = reader.join();
        let mut acked: HashMap<u32, u64> = HashMap::new();
        for line in rx.try_iter() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if let ["ack", p, v] = parts.as_slice() {
                let (p, v): (u32, u64) = (p.parse().unwrap(), v.parse().unwrap());
                let e = acked.entry(p).or_insert(0);
                *e = (*e).max(v);
                total_acks += 1;
            }
        }
        rt.block_on(async {
            let store = disk.open().await;
            verify(&store, &mut model, &acked).await;
            store.close().await;
        });
        eprintln!(
            "round {round}: {} acks checked",
            acked.values().sum::<u64>()
        );
    }
    assert!(
        total_acks > rounds,
        "the workload made progress ({total_acks} acks)"
    );
}
