//! `FaultyDevice`: a device wrapper that fails reads, writes or flushes on demand, loses
//! writes (a write cache lost in a power cut), or holds flushes until released, for fault-injection and pipeline tests (feature
//! `fault-injection`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::Notify;

use futures::future::BoxFuture;

use super::{AlignedBuf, BlockDevice, DeviceBackend, DeviceError, DeviceResult};

/// Switches that decide which operations fail.
#[derive(Debug, Default)]
pub struct Faults {
    /// Fail every read with an injected error.
    pub fail_reads: AtomicBool,
    /// Fail every write with an injected error.
    pub fail_writes: AtomicBool,
    /// Fail every flush with an injected error.
    pub fail_flushes: AtomicBool,
    /// Acknowledge writes without passing them on: data that sat in a volatile write
    /// cache lost in a power cut.
    pub lose_writes: AtomicBool,
    /// Whether flushes wait for a release (see [`Faults::hold_flushes`]).
    holding: AtomicBool,
    /// Flushes waiting for the release.
    held: AtomicU64,
    released: Notify,
}

impl Faults {
    /// From now on, flushes wait until [`release_flushes`](Faults::release_flushes).
    pub fn hold_flushes(&self) {
        self.holding.store(true, Ordering::SeqCst);
    }

    /// Lets held flushes (and later ones) go through.
    pub fn release_flushes(&self) {
        self.holding.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    /// How many flushes are waiting for the release right now.
    pub fn held_flushes(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }

    async fn wait_for_release(&self) {
        self.held.fetch_add(1, Ordering::SeqCst);
        loop {
            let mut released = std::pin::pin!(self.released.notified());
            // Register before checking, so a release in between is not missed.
            released.as_mut().enable();
            if !self.holding.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
        self.held.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A device that forwards to another unless a fault is switched on.
#[derive(Debug)]
pub struct FaultyDevice {
    inner: Arc<dyn BlockDevice>,
    faults: Arc<Faults>,
}

impl FaultyDevice {
    /// Wraps `inner`; flip the returned switches to inject faults.
    pub fn new(inner: Arc<dyn BlockDevice>) -> (FaultyDevice, Arc<Faults>) {
        let faults = Arc::new(Faults::default());
        (
            FaultyDevice {
                inner,
                faults: faults.clone(),
            },
            faults,
        )
    }
}

impl BlockDevice for FaultyDevice {
    fn size(&self) -> u64 {
        self.inner.size()
    }

    fn backend(&self) -> DeviceBackend {
        self.inner.backend()
    }

    fn read(&self, offset: u64, buf: AlignedBuf) -> BoxFuture<'static, DeviceResult<AlignedBuf>> {
        if self.faults.fail_reads.load(Ordering::SeqCst) {
            return Box::pin(async { Err(DeviceError::Injected("read")) });
        }
        self.inner.read(offset, buf)
    }

    fn write(&self, offset: u64, buf: Arc<AlignedBuf>) -> BoxFuture<'static, DeviceResult<()>> {
        if self.faults.fail_writes.load(Ordering::SeqCst) {
            return Box::pin(async { Err(DeviceError::Injected("write")) });
        }
        if self.faults.lose_writes.load(Ordering::SeqCst) {
            return Box::pin(async { Ok(()) });
        }
        self.inner.write(offset, buf)
    }

    fn flush(&self) -> BoxFuture<'static, DeviceResult<()>> {
        if self.faults.fail_flushes.load(Ordering::SeqCst) {
            return Box::pin(async { Err(DeviceError::Injected("flush")) });
        }
        if self.faults.holding.load(Ordering::SeqCst) {
            let (faults, inner) = (self.faults.clone(), self.inner.clone());
            return Box::pin(async move {
                faults.wait_for_release().await;
                inner.flush().await
            });
        }
        self.inner.flush()
    }
}
