//! Data devices: where object bytes live.
//!
//! A [`BlockDevice`] is a fixed-size byte range (a raw block device or a preallocated
//! file) read and written in [`BLOCK_SIZE`]-aligned pieces with owned [`AlignedBuf`]s.
//! Two backends implement it:
//! - [`UringDevice`]: `O_DIRECT` I/O through io_uring, driven by one thread per device
//!   that owns the ring (the production path);
//! - [`FileDevice`]: positional `pread`/`pwrite` on tokio's blocking pool, used when
//!   io_uring is unavailable (no ring: old kernel, seccomp; or a ring whose probe lacks
//!   an opcode the backend uses) — [`open_device`] then logs the fallback once per
//!   process — or when [`DeviceBackend::File`] forces it.
//!
//! With the `fault-injection` feature, `faulty::FaultyDevice` wraps either one and
//! fails I/O on demand for tests.
//!
//! This module knows nothing of objects, RocksDB or the network.

mod aligned;
#[cfg(feature = "fault-injection")]
pub mod faulty;
mod file;
mod open;
mod pool;
mod uring;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;

pub use aligned::{AlignedBuf, BLOCK_SIZE, round_up};
pub use file::FileDevice;
pub use open::{DeviceBackend, DeviceOptions, OpenedFile, open_device};
pub use uring::{OPCODES, UringDevice, uring_support};

/// Result of an I/O on a device.
pub type DeviceResult<T> = Result<T, DeviceError>;

/// A fixed-size, block-addressed data device.
///
/// Every offset and buffer length must be a multiple of [`BLOCK_SIZE`] and lie within
/// `0..size()`. Writes are durable only after a later [`flush`](BlockDevice::flush)
/// completes.
pub trait BlockDevice: Send + Sync + fmt::Debug {
    /// Usable size in bytes (a multiple of [`BLOCK_SIZE`]).
    fn size(&self) -> u64;

    /// Which backend serves the I/O, for logs and metrics.
    fn backend(&self) -> DeviceBackend;

    /// Fills `buf` (its whole length) from the device at `offset`.
    fn read(&self, offset: u64, buf: AlignedBuf) -> BoxFuture<'static, DeviceResult<AlignedBuf>>;

    /// Writes all of `buf` at `offset`. The buffer is shared: readers of data not yet
    /// committed may look at it while the write is in flight.
    fn write(&self, offset: u64, buf: Arc<AlignedBuf>) -> BoxFuture<'static, DeviceResult<()>>;

    /// Makes every completed write durable (fdatasync / device cache flush).
    fn flush(&self) -> BoxFuture<'static, DeviceResult<()>>;

    /// Requests submitted to the kernel and not yet completed (queue depth in use), for
    /// metrics; backends without a queue report 0.
    fn in_flight(&self) -> u64 {
        0
    }
}

/// Why a device operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The operating system reported an error.
    #[error("{op} of {len} bytes at offset {offset} on the data device failed: {source}")]
    Io {
        /// `read`, `write` or `flush`.
        op: &'static str,
        /// Device offset of the request.
        offset: u64,
        /// Length of the request.
        len: usize,
        /// The OS error.
        source: io::Error,
    },
    /// A request touched bytes beyond the end of the device.
    #[error("I/O of {len} bytes at offset {offset} is beyond the device end ({size} bytes)")]
    OutOfRange {
        /// Device offset of the request.
        offset: u64,
        /// Length of the request.
        len: usize,
        /// Device size.
        size: u64,
    },
    /// A request was not aligned to the block size.
    #[error("I/O of {len} bytes at offset {offset} is not aligned to {BLOCK_SIZE} bytes")]
    Misaligned {
        /// Device offset of the request.
        offset: u64,
        /// Length of the request.
        len: usize,
    },
    /// The device's I/O thread has stopped; the device is closed.
    #[error("the data device is closed")]
    Closed,
    /// Opening or preparing the device failed.
    #[error("cannot open data device {path}: {source}")]
    Open {
        /// Path of the device or file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The path names something that cannot hold data (directory, character device...).
    #[error("{path} is neither a regular file nor a block device")]
    NotADevice {
        /// Offending path.
        path: PathBuf,
    },
    /// The device is too small to be used.
    #[error("data device {path} has {size} bytes; at least {min} are needed")]
    TooSmall {
        /// Path of the device.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The minimum.
        min: u64,
    },
    /// The kernel can create an io_uring but lacks opcodes the backend submits.
    #[error("io_uring on {path} lacks opcodes {missing:?} (kernel older than 5.6 or restricted)")]
    UringMissingOpcodes {
        /// Path of the device.
        path: PathBuf,
        /// Kernel names of the missing opcodes.
        missing: Vec<&'static str>,
    },
    /// An injected fault (tests only).
    #[error("injected fault: {0}")]
    Injected(&'static str),
}

/// Checks that a request is aligned and inside a device of `size` bytes.
pub(crate) fn check_range(offset: u64, len: usize, size: u64) -> DeviceResult<()> {
    let block = BLOCK_SIZE as u64;
    if !offset.is_multiple_of(block) || !len.is_multiple_of(BLOCK_SIZE) {
        return Err(DeviceError::Misaligned { offset, len });
    }
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(DeviceError::OutOfRange { offset, len, size }),
    }
}
