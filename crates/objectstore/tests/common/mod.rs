//! Fixtures shared by the object-store tests: disk stores in temporary directories.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use cuttle_objectstore::device::faulty::{Faults, FaultyDevice};
use cuttle_objectstore::device::{DeviceBackend, DeviceOptions, open_device};
use cuttle_objectstore::{DiskStore, MkfsOptions, OpenOptions, StoreConfig};
use tempfile::TempDir;
use uuid::Uuid;

/// A disk store on a file device in a temporary directory (removed on drop).
#[derive(Debug)]
pub struct TestDisk {
    pub dir: TempDir,
    pub device: PathBuf,
    pub meta: PathBuf,
    pub fsid: Uuid,
    pub config: StoreConfig,
}

impl TestDisk {
    /// A fresh, unformatted location.
    pub fn new(backend: DeviceBackend) -> TestDisk {
        let dir = tempfile::tempdir().expect("tempdir");
        TestDisk {
            device: dir.path().join("block"),
            meta: dir.path().join("db"),
            dir,
            fsid: Uuid::new_v4(),
            config: StoreConfig {
                backend,
                ..StoreConfig::default()
            },
        }
    }

    /// Formats a device of `size` bytes and opens it.
    pub async fn mkfs(&self, size: u64) -> DiskStore {
        DiskStore::mkfs(
            &self.device,
            &self.meta,
            &MkfsOptions {
                osd_id: 3,
                fsid: self.fsid,
                device_uuid: Uuid::new_v4(),
                create_size: Some(size),
                force: false,
            },
            &self.config,
        )
        .await
        .expect("mkfs")
    }

    /// Reopens the formatted store.
    pub async fn open(&self) -> DiskStore {
        DiskStore::open(
            &self.device,
            &self.meta,
            &OpenOptions {
                fsid: Some(self.fsid),
                osd_id: Some(3),
            },
            &self.config,
        )
        .await
        .expect("open")
    }
}

impl TestDisk {
    /// Reopens the formatted store on a fault-injecting wrapper of its device; the
    /// switches come back with it.
    pub async fn open_faulty(&self) -> (DiskStore, Arc<Faults>) {
        let dev = open_device(&self.device, &DeviceOptions::default()).expect("device");
        let (faulty, faults) = FaultyDevice::new(dev);
        let store = DiskStore::open_with(
            Arc::new(faulty),
            &self.device,
            &self.meta,
            &OpenOptions::default(),
            &self.config,
        )
        .await
        .expect("open on a faulty device");
        (store, faults)
    }
}

/// Deterministic pseudo-random bytes.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
