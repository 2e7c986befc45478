//! `UringDevice`: data I/O through io_uring from one dedicated thread per device.
//!
//! ```text
//!  async callers ──Request──> bounded channel ──> ring thread ──SQE──> kernel
//!        ^                                             │
//!        └──────────── oneshot (buffer, result) <──CQE─┘
//! ```
//!
//! The ring thread owns the ring and the device fd (registered as fixed file 0). Each
//! request owns its [`AlignedBuf`] while the kernel uses it; the buffer travels back on
//! the request's oneshot. When requests are in flight the thread sleeps in
//! `io_uring_enter` waiting for a completion; an `eventfd` read kept armed on the ring
//! lets a new request wake it, so a new request never waits behind a slow one. Short
//! transfers are resubmitted for the remainder. Dropping the device closes the channel;
//! the thread finishes what is in flight and exits.
//!
//! Before starting, [`UringDevice::new`] asks the kernel (`IORING_REGISTER_PROBE`)
//! whether it supports every opcode the thread submits ([`OPCODES`]); a kernel that
//! can create a ring but lacks one of them (older than 5.6, or restricted) is refused
//! with [`DeviceError::UringMissingOpcodes`], so `open_device` falls back to
//! `pread`/`pwrite` instead of failing on the first I/O.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::thread::JoinHandle;

use futures::future::BoxFuture;
use io_uring::{IoUring, Probe, opcode, squeue, types};
use tokio::sync::{mpsc, oneshot};

use super::{AlignedBuf, BlockDevice, DeviceBackend, DeviceError, DeviceResult, OpenedFile};

/// Largest single kernel request; bigger buffers are transferred in several steps.
const MAX_IO: usize = 8 << 20;
/// `user_data` of the eventfd wake-up read.
const WAKE_TOKEN: u64 = u64::MAX;

type BufReply = oneshot::Sender<DeviceResult<AlignedBuf>>;

/// The io_uring opcodes the ring thread submits, with their kernel names.
pub const OPCODES: [(u8, &str); 3] = [
    (opcode::Read::CODE, "IORING_OP_READ"),
    (opcode::Write::CODE, "IORING_OP_WRITE"),
    (opcode::Fsync::CODE, "IORING_OP_FSYNC"),
];

/// The names of the [`OPCODES`] that `supported` says are missing.
pub(crate) fn missing_opcodes(supported: impl Fn(u8) -> bool) -> Vec<&'static str> {
    OPCODES
        .iter()
        .filter(|(code, _)| !supported(*code))
        .map(|&(_, name)| name)
        .collect()
}

/// Asks the kernel, through `ring`, whether it supports every opcode the backend uses.
fn probe_ring(ring: &IoUring, path: &std::path::Path) -> DeviceResult<()> {
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|source| DeviceError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let missing = missing_opcodes(|code| probe.is_supported(code));
    if missing.is_empty() {
        Ok(())
    } else {
        Err(DeviceError::UringMissingOpcodes {
            path: path.to_path_buf(),
            missing,
        })
    }
}

/// Whether this process can use the io_uring backend: creates a small ring and probes
/// it for the [`OPCODES`]. What `open_device` with [`DeviceBackend::Auto`] decides by.
pub fn uring_support() -> DeviceResult<()> {
    let path = std::path::Path::new("io_uring");
    let ring = IoUring::new(4).map_err(|source| DeviceError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    probe_ring(&ring, path)
}

enum Request {
    Read {
        offset: u64,
        buf: AlignedBuf,
        reply: BufReply,
    },
    Write {
        offset: u64,
        buf: Arc<AlignedBuf>,
        reply: oneshot::Sender<DeviceResult<()>>,
    },
    Flush {
        reply: oneshot::Sender<DeviceResult<()>>,
    },
}

/// Wakes the ring thread when it sleeps waiting for completions.
#[derive(Debug)]
struct Wakeup {
    eventfd: OwnedFd,
    sleeping: AtomicBool,
}

impl Wakeup {
    fn wake_if_sleeping(&self) {
        fence(Ordering::SeqCst);
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake();
        }
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own. A failure can
        // only be EAGAIN (counter saturated), which still leaves the fd readable.
        unsafe {
            libc::write(
                self.eventfd.as_raw_fd(),
                &one as *const u64 as *const libc::c_void,
                8,
            );
        }
    }
}

/// A data device driven by io_uring.
#[derive(Debug)]
pub struct UringDevice {
    tx: Option<mpsc::Sender<Request>>,
    wakeup: Arc<Wakeup>,
    size: u64,
    in_flight: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl UringDevice {
    /// Starts the ring thread for an opened device. Fails when io_uring is unavailable:
    /// no ring can be created (old kernel, seccomp, `io_uring_disabled`), or the kernel
    /// lacks one of the [`OPCODES`].
    pub fn new(opened: OpenedFile, queue_depth: u32) -> DeviceResult<UringDevice> {
        let path = opened.path.clone();
        let open_err = |source: io::Error| DeviceError::Open {
            path: path.clone(),
            source,
        };
        let depth = queue_depth.clamp(4, 1024);
        let ring = IoUring::new(depth.next_power_of_two()).map_err(open_err)?;
        probe_ring(&ring, &path)?;
        ring.submitter()
            .register_files(&[opened.file.as_raw_fd()])
            .map_err(open_err)?;
        // SAFETY: plain syscall; the returned fd is owned below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(open_err(io::Error::last_os_error()));
        }
        // SAFETY: `efd` is a fresh fd owned by nobody else.
        let eventfd = unsafe { OwnedFd::from_raw_fd(efd) };
        let wakeup = Arc::new(Wakeup {
            eventfd,
            sleeping: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel(depth as usize * 2);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let mut worker = RingThread {
            ring,
            file: opened.file,
            rx,
            wakeup: wakeup.clone(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            max_in_flight: depth as usize - 2,
            in_flight: in_flight.clone(),
            wake_armed: false,
            wake_buf: Box::leak(Box::new(0u64)),
        };
        let thread = std::thread::Builder::new()
            .name("cuttle-uring".into())
            .spawn(move || worker.run())
            .map_err(open_err)?;
        Ok(UringDevice {
            tx: Some(tx),
            wakeup,
            size: opened.size,
            in_flight,
            thread: Some(thread),
        })
    }

    /// Requests currently submitted to the kernel (the queue depth in use).
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn submit(&self, req: Request) -> BoxFuture<'static, Result<(), DeviceError>> {
        let tx = self.tx.clone();
        let wakeup = self.wakeup.clone();
        Box::pin(async move {
            let tx = tx.ok_or(DeviceError::Closed)?;
            tx.send(req).await.map_err(|_| DeviceError::Closed)?;
            wakeup.wake_if_sleeping();
            Ok(())
        })
    }
}

impl Drop for UringDevice {
    fn drop(&mut self) {
        self.tx = None;
        self.wakeup.wake();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl BlockDevice for UringDevice {
    fn size(&self) -> u64 {
        self.size
    }

    fn backend(&self) -> DeviceBackend {
        DeviceBackend::Uring
    }

    fn in_flight(&self) -> u64 {
        UringDevice::in_flight(self) as u64
    }

    fn read(&self, offset: u64, buf: AlignedBuf) -> BoxFuture<'static, DeviceResult<AlignedBuf>> {
        let checked = super::check_range(offset, buf.len(), self.size);
        let (reply, rx) = oneshot::channel();
        let send = self.submit(Request::Read { offset, buf, reply });
        Box::pin(async move {
            checked?;
            send.await?;
            rx.await.map_err(|_| DeviceError::Closed)?
        })
    }

    fn write(&self, offset: u64, buf: Arc<AlignedBuf>) -> BoxFuture<'static, DeviceResult<()>> {
        let checked = super::check_range(offset, buf.len(), self.size);
        let (reply, rx) = oneshot::channel();
        let send = self.submit(Request::Write { offset, buf, reply });
        Box::pin(async move {
            checked?;
            send.await?;
            rx.await.map_err(|_| DeviceError::Closed)?
        })
    }

    fn flush(&self) -> BoxFuture<'static, DeviceResult<()>> {
        let (reply, rx) = oneshot::channel();
        let send = self.submit(Request::Flush { reply });
        Box::pin(async move {
            send.await?;
            rx.await.map_err(|_| DeviceError::Closed)?
        })
    }
}

/// Direction of a data transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Read,
    Write,
}

impl Dir {
    fn name(self) -> &'static str {
        match self {
            Dir::Read => "read",
            Dir::Write => "write",
        }
    }
}

/// The buffer of a transfer and where its result goes.
enum Transfer {
    /// A read fills an owned buffer and hands it back.
    Read(AlignedBuf, BufReply),
    /// A write reads a shared buffer.
    Write(Arc<AlignedBuf>, oneshot::Sender<DeviceResult<()>>),
}

impl Transfer {
    fn dir(&self) -> Dir {
        match self {
            Transfer::Read(..) => Dir::Read,
            Transfer::Write(..) => Dir::Write,
        }
    }

    fn len(&self) -> usize {
        match self {
            Transfer::Read(b, _) => b.len(),
            Transfer::Write(b, _) => b.len(),
        }
    }

    fn fail(self, err: DeviceError) {
        match self {
            Transfer::Read(_, reply) => {
                let _ = reply.send(Err(err));
            }
            Transfer::Write(_, reply) => {
                let _ = reply.send(Err(err));
            }
        }
    }

    fn succeed(self) {
        match self {
            Transfer::Read(buf, reply) => {
                let _ = reply.send(Ok(buf));
            }
            Transfer::Write(_, reply) => {
                let _ = reply.send(Ok(()));
            }
        }
    }
}

/// One request the kernel is working on.
enum InFlight {
    Transfer {
        offset: u64,
        io: Transfer,
        /// Bytes already transferred by earlier (short) completions.
        done: usize,
    },
    Flush {
        reply: oneshot::Sender<DeviceResult<()>>,
    },
}

struct RingThread {
    ring: IoUring,
    /// Keeps the registered fd open for the ring's lifetime.
    file: File,
    rx: mpsc::Receiver<Request>,
    wakeup: Arc<Wakeup>,
    slots: Vec<Option<InFlight>>,
    free_slots: Vec<usize>,
    max_in_flight: usize,
    in_flight: Arc<AtomicUsize>,
    wake_armed: bool,
    /// Target of the eventfd read. Leaked (8 bytes per device) so that a read the
    /// kernel still holds when the ring is torn down can never touch freed memory.
    wake_buf: &'static mut u64,
}

impl RingThread {
    fn run(&mut self) {
        let mut closed = false;
        loop {
            // Take new requests while there is room in the ring.
            while !closed && self.count() < self.max_in_flight {
                match self.rx.try_recv() {
                    Ok(req) => self.start(req),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => closed = true,
                }
            }
            if self.count() == 0 {
                if closed {
                    break;
                }
                if let Err(e) = self.ring.submit() {
                    tracing::error!("io_uring submit failed: {e}");
                }
                // Nothing in flight: sleep on the channel itself.
                match self.rx.blocking_recv() {
                    Some(req) => self.start(req),
                    None => closed = true,
                }
                continue;
            }
            if !closed && !self.wake_armed {
                self.arm_wakeup();
            }
            self.wakeup.sleeping.store(true, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let wait = if self.rx.is_empty() || closed { 1 } else { 0 };
            let submitted = self.ring.submit_and_wait(wait);
            self.wakeup.sleeping.store(false, Ordering::SeqCst);
            if let Err(e) = submitted
                && e.raw_os_error() != Some(libc::EINTR)
                && e.raw_os_error() != Some(libc::EBUSY)
            {
                tracing::error!("io_uring_enter failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            self.reap();
        }
        // Leave nothing armed that points at our memory: the ring is dropped with us.
    }

    fn count(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    fn alloc_slot(&mut self, op: InFlight) -> usize {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = self.free_slots.pop() {
            self.slots[i] = Some(op);
            i
        } else {
            self.slots.push(Some(op));
            self.slots.len() - 1
        }
    }

    fn take_slot(&mut self, i: usize) -> Option<InFlight> {
        let op = self.slots.get_mut(i)?.take()?;
        self.free_slots.push(i);
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        Some(op)
    }

    fn start(&mut self, req: Request) {
        let op = match req {
            Request::Read { offset, buf, reply } => InFlight::Transfer {
                offset,
                io: Transfer::Read(buf, reply),
                done: 0,
            },
            Request::Write { offset, buf, reply } => InFlight::Transfer {
                offset,
                io: Transfer::Write(buf, reply),
                done: 0,
            },
            Request::Flush { reply } => InFlight::Flush { reply },
        };
        let slot = self.alloc_slot(op);
        self.push_sqe(slot);
    }

    /// Queues the SQE for the (remaining part of the) request in `slot`.
    fn push_sqe(&mut self, slot: usize) {
        let fd = types::Fixed(0);
        let entry = match self.slots.get_mut(slot).and_then(Option::as_mut) {
            Some(InFlight::Transfer { offset, io, done }) => {
                let len = (io.len() - *done).min(MAX_IO) as u32;
                let pos = *offset + *done as u64;
                match io {
                    Transfer::Read(buf, _) => {
                        // SAFETY: `done < len`, so the pointer stays inside the buffer.
                        let ptr = unsafe { buf.as_mut_ptr().add(*done) };
                        opcode::Read::new(fd, ptr, len).offset(pos).build()
                    }
                    Transfer::Write(buf, _) => {
                        let ptr = buf.as_slice()[*done..].as_ptr();
                        opcode::Write::new(fd, ptr, len).offset(pos).build()
                    }
                }
            }
            Some(InFlight::Flush { .. }) => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
            None => return,
        };
        self.push(entry.user_data(slot as u64));
    }

    fn arm_wakeup(&mut self) {
        let ptr = &mut *self.wake_buf as *mut u64 as *mut u8;
        let entry = opcode::Read::new(types::Fd(self.wakeup.eventfd.as_raw_fd() as RawFd), ptr, 8)
            .build()
            .user_data(WAKE_TOKEN);
        self.push(entry);
        self.wake_armed = true;
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every buffer referenced by an entry is owned by `self.slots` (or
            // `wake_buf`) until its completion is reaped, and the ring outlives them.
            let pushed = unsafe { self.ring.submission().push(&entry) };
            if pushed.is_ok() {
                return;
            }
            // Submission queue full: hand what we have to the kernel and retry.
            if let Err(e) = self.ring.submit() {
                tracing::error!("io_uring submit failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    }

    fn reap(&mut self) {
        let done: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|cqe| (cqe.user_data(), cqe.result()))
            .collect();
        for (token, result) in done {
            if token == WAKE_TOKEN {
                self.wake_armed = false;
                continue;
            }
            self.complete(token as usize, result);
        }
    }

    fn complete(&mut self, slot: usize, result: i32) {
        let Some(op) = self.take_slot(slot) else {
            tracing::error!(slot, "io_uring completion for an unknown request");
            return;
        };
        match op {
            InFlight::Flush { reply } => {
                let r = if result < 0 {
                    Err(DeviceError::Io {
                        op: "flush",
                        offset: 0,
                        len: 0,
                        source: io::Error::from_raw_os_error(-result),
                    })
                } else {
                    Ok(())
                };
                let _ = reply.send(r);
            }
            InFlight::Transfer { offset, io, done } => {
                let len = io.len();
                if result < 0 || (result == 0 && done < len) {
                    let source = if result < 0 {
                        io::Error::from_raw_os_error(-result)
                    } else {
                        io::Error::new(io::ErrorKind::UnexpectedEof, "device returned no bytes")
                    };
                    let op = io.dir().name();
                    io.fail(DeviceError::Io {
                        op,
                        offset,
                        len,
                        source,
                    });
                    return;
                }
                let done = done + result as usize;
                if done >= len {
                    io.succeed();
                } else {
                    // Short transfer: continue with the rest.
                    let slot = self.alloc_slot(InFlight::Transfer { offset, io, done });
                    self.push_sqe(slot);
                }
            }
        }
    }
}

impl Drop for RingThread {
    fn drop(&mut self) {
        // Wait for the kernel to finish with every buffer before they are freed.
        while self.count() > 0 {
            if self.ring.submit_and_wait(1).is_err() {
                break;
            }
            self.reap();
        }
        let _ = &self.file;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_opcodes_are_named() {
        assert!(missing_opcodes(|_| true).is_empty());
        assert_eq!(
            missing_opcodes(|code| code != opcode::Fsync::CODE),
            vec!["IORING_OP_FSYNC"]
        );
        assert_eq!(missing_opcodes(|_| false).len(), OPCODES.len());
    }
}
