//! Opening a data device: a block device or a (created and preallocated) file, with
//! `O_DIRECT`, behind the io_uring backend or the fallback.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{BLOCK_SIZE, BlockDevice, DeviceError, DeviceResult, FileDevice, UringDevice};

/// Which I/O backend serves a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceBackend {
    /// io_uring when the kernel allows it (a ring can be created and its probe lists
    /// every opcode the backend submits), else the fallback (logged once).
    #[default]
    Auto,
    /// io_uring only; opening fails when it is unavailable.
    Uring,
    /// Positional read/write on a thread pool.
    File,
}

impl DeviceBackend {
    /// Human-readable name: `auto`, `io_uring` or `pread/pwrite`.
    pub fn name(self) -> &'static str {
        match self {
            DeviceBackend::Auto => "auto",
            DeviceBackend::Uring => "io_uring",
            DeviceBackend::File => "pread/pwrite",
        }
    }
}

impl fmt::Display for DeviceBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to open a data device.
#[derive(Debug, Clone)]
pub struct DeviceOptions {
    /// Backend selection.
    pub backend: DeviceBackend,
    /// When the path does not exist, create a file of this many bytes (preallocated
    /// with `fallocate`). `None` requires the path to exist.
    pub create_size: Option<u64>,
    /// Maximum io_uring requests in flight.
    pub queue_depth: u32,
}

impl Default for DeviceOptions {
    fn default() -> Self {
        DeviceOptions {
            backend: DeviceBackend::Auto,
            create_size: None,
            queue_depth: 128,
        }
    }
}

/// An opened device file, before a backend takes it.
#[derive(Debug)]
pub struct OpenedFile {
    /// The open file (block device or regular file).
    pub file: File,
    /// Usable size, rounded down to whole blocks.
    pub size: u64,
    /// Whether `O_DIRECT` is in effect (some filesystems, e.g. tmpfs, refuse it).
    pub direct: bool,
    /// The path it was opened from.
    pub path: PathBuf,
}

static WARNED_NO_DIRECT: AtomicBool = AtomicBool::new(false);
static WARNED_NO_URING: AtomicBool = AtomicBool::new(false);

/// Opens (creating if asked) a data device and starts its I/O backend.
pub fn open_device(path: &Path, opts: &DeviceOptions) -> DeviceResult<Arc<dyn BlockDevice>> {
    let opened = OpenedFile::open(path, opts.create_size)?;
    match opts.backend {
        DeviceBackend::File => Ok(Arc::new(FileDevice::new(opened))),
        DeviceBackend::Uring => Ok(Arc::new(UringDevice::new(opened, opts.queue_depth)?)),
        DeviceBackend::Auto => open_auto(opened, &WARNED_NO_URING, |f| {
            UringDevice::new(f, opts.queue_depth)
        }),
    }
}

/// The `Auto` choice: io_uring through `start_uring`, else the `pread`/`pwrite`
/// fallback, with one warning per `warned` flag (one per process in production).
fn open_auto(
    opened: OpenedFile,
    warned: &AtomicBool,
    start_uring: impl FnOnce(OpenedFile) -> DeviceResult<UringDevice>,
) -> DeviceResult<Arc<dyn BlockDevice>> {
    let file = opened
        .file
        .try_clone()
        .map_err(|source| DeviceError::Open {
            path: opened.path.clone(),
            source,
        })?;
    let fallback = OpenedFile {
        file,
        size: opened.size,
        direct: opened.direct,
        path: opened.path.clone(),
    };
    match start_uring(opened) {
        Ok(dev) => Ok(Arc::new(dev)),
        Err(err) => {
            if !warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    "io_uring is unavailable ({err}); data I/O uses the slower pread/pwrite fallback"
                );
            }
            Ok(Arc::new(FileDevice::new(fallback)))
        }
    }
}

impl OpenedFile {
    /// Opens `path` read-write with `O_DIRECT`; creates and preallocates a file of
    /// `create_size` bytes when the path does not exist and a size is given.
    pub fn open(path: &Path, create_size: Option<u64>) -> DeviceResult<OpenedFile> {
        let open_err = |source: io::Error| DeviceError::Open {
            path: path.to_path_buf(),
            source,
        };
        let exists = path.exists();
        if !exists {
            let Some(size) = create_size else {
                return Err(open_err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no such file or device",
                )));
            };
            create_preallocated(path, size).map_err(open_err)?;
        }
        let meta = std::fs::metadata(path).map_err(open_err)?;
        let ft = meta.file_type();
        if !ft.is_file() && !ft.is_block_device() {
            return Err(DeviceError::NotADevice {
                path: path.to_path_buf(),
            });
        }
        let (file, direct) = match open_rw(path, libc::O_DIRECT) {
            Ok(f) => (f, true),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                if !WARNED_NO_DIRECT.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        path = %path.display(),
                        "the filesystem refuses O_DIRECT; using buffered I/O with explicit syncs"
                    );
                }
                (open_rw(path, 0).map_err(open_err)?, false)
            }
            Err(e) => return Err(open_err(e)),
        };
        let raw_size = if ft.is_block_device() {
            block_device_size(&file).map_err(open_err)?
        } else {
            meta.len()
        };
        let size = raw_size - raw_size % BLOCK_SIZE as u64;
        Ok(OpenedFile {
            file,
            size,
            direct,
            path: path.to_path_buf(),
        })
    }
}

fn open_rw(path: &Path, flags: i32) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags | libc::O_CLOEXEC)
        .open(path)
}

/// Creates a file of `size` bytes with its blocks allocated up front: `O_DIRECT` writes
/// that must first grow or allocate a file are far slower than overwrites.
fn create_preallocated(path: &Path, size: u64) -> io::Result<()> {
    let size = size - size % BLOCK_SIZE as u64;
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    let len = libc::off_t::try_from(size)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "device size too large"))?;
    // SAFETY: plain syscall on an fd we own.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        // Filesystems without fallocate still work, only slower: size the file instead.
        if err.raw_os_error() != Some(libc::EOPNOTSUPP) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(err);
        }
        file.set_len(size)?;
    }
    file.sync_all()?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Size in bytes of a block device (`BLKGETSIZE64`).
fn block_device_size(file: &File) -> io::Result<u64> {
    const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
    let mut size: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), BLKGETSIZE64, &mut size as *mut u64) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Mutex;

    use tracing::Level;
    use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

    /// Counts WARN events.
    struct CountWarnings(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for CountWarnings {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            if *event.metadata().level() == Level::WARN {
                let mut text = String::new();
                event.record(&mut |f: &tracing::field::Field, v: &dyn std::fmt::Debug| {
                    text.push_str(&format!("{}={v:?} ", f.name()));
                });
                if let Ok(mut w) = self.0.lock() {
                    w.push(text);
                }
            }
        }
    }

    #[test]
    fn auto_falls_back_to_pread_when_uring_fails_and_warns_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("dev");
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(CountWarnings(warnings.clone()));
        let warned = AtomicBool::new(false);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..2 {
                let opened = OpenedFile::open(&path, Some(1 << 20)).expect("open");
                let dev = open_auto(opened, &warned, |f| {
                    Err(DeviceError::UringMissingOpcodes {
                        path: f.path,
                        missing: vec!["IORING_OP_READ"],
                    })
                })
                .expect("fallback opens");
                assert_eq!(dev.backend(), DeviceBackend::File);
            }
        });
        let warnings = warnings.lock().expect("lock");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("IORING_OP_READ"), "{warnings:?}");
    }
}
