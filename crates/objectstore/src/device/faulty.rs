//! `FaultyDevice`: a device wrapper that fails reads, writes or flushes on demand, for
//! fault-injection tests (feature `fault-injection`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

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
        self.inner.write(offset, buf)
    }

    fn flush(&self) -> BoxFuture<'static, DeviceResult<()>> {
        if self.faults.fail_flushes.load(Ordering::SeqCst) {
            return Box::pin(async { Err(DeviceError::Injected("flush")) });
        }
        self.inner.flush()
    }
}
