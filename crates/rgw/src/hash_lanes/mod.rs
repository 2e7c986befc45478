//! Hashes of many uploads at once: one service thread per hash runs up to sixteen
//! uploads' hashes side by side, one stream per 32-bit lane of a vector register, the
//! way MinIO's `md5-simd` and Intel's multi-buffer hashing do. Used for the MD5 of
//! every upload (the ETag, [`md5`]) and the SHA-256 of a signed payload
//! (`x-amz-content-sha256`, [`sha256`]).
//!
//! MD5 and SHA-256 are each one long dependency chain per stream, and a gateway under
//! load hashes many streams at the same time: the service gives each stream with data
//! pending one lane and advances all of them by the same number of 64-byte blocks per
//! step, in a lockstep kernel chosen once for the CPU (see each hash's module). With
//! fewer busy lanes than the kernel needs to beat the one-stream code, the service
//! hashes them one after another with that code.
//!
//! [`LaneStream`] is what an upload holds: it hands the service whole-block runs of its
//! body (the gateway hands it each stripe as the stripe goes to be written) and waits
//! for the result only before a later hand-out or the digest. The service is lazy: a
//! digest is wanted only once the upload's data is written, so it steps only with every
//! lane busy (or every open stream in a lane) until a stream waits for its result, or
//! [`LAZY_MAX`] has passed. Under sixteen 4 MiB uploads its steps then run with about
//! eight busy lanes, where eager stepping ran one to three most of the time. Should the
//! service be gone, the stream hashes its data itself.

pub mod md5;
pub mod sha256;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use self::md5::Md5;
pub use self::sha256::Sha256;

/// The streaming MD5 of one upload.
pub type Md5Stream = LaneStream<Md5>;
/// The streaming SHA-256 of one upload.
pub type Sha256Stream = LaneStream<Sha256>;

/// Block size of both hashes.
const BLOCK: usize = 64;
/// Lanes of the widest kernel (32-bit words of a 512-bit register).
const MAX_LANES: usize = 16;
/// Lanes of a service without a lockstep kernel (hashed one after another).
const SCALAR_LANES: usize = 8;
/// Blocks per service step: new jobs join between steps.
const STEP_BLOCKS: usize = 1024;
/// Data a stream collects before handing it to the service.
const JOB_BYTES: usize = 256 << 10;
/// Data a stream collects at most while its previous hand-out is still being hashed;
/// beyond it, it waits. Two 4 MiB stripes: the gateway hands in a stripe at a time, and
/// the next one must not wait for the service's gathering.
const COLLECT_MAX: usize = 8 << 20;
/// Hand-outs shorter than this are hashed by the stream itself (a thread hop costs
/// more).
const INLINE_MAX: usize = 16 << 10;
/// How long the service waits at most for more lanes to fill before it steps with the
/// ones it has, when no stream waits for a result: a bound for the odd case of jobs
/// whose streams neither finish nor hand in more.
const LAZY_MAX: Duration = Duration::from_millis(20);

/// A lockstep kernel: hashes the blocks of its first `width` inputs, all of one length,
/// into their states.
#[derive(Clone, Copy)]
pub struct Kernel<S: 'static> {
    /// Lanes it runs.
    pub width: usize,
    /// Busy lanes from which it beats the one-stream code run lane by lane.
    pub min_busy: usize,
    /// The kernel (only handed out once the CPU's features are checked).
    pub compress: fn(&mut [S; MAX_LANES], &[&[u8]; MAX_LANES]),
}

impl<S> std::fmt::Debug for Kernel<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("width", &self.width)
            .field("min_busy", &self.min_busy)
            .finish_non_exhaustive()
    }
}

/// A Merkle–Damgård hash of 64-byte blocks and 32-bit words that the service can run.
pub trait LaneHash: Sized + 'static {
    /// The chaining state.
    type State: Copy + Send + std::fmt::Debug + PartialEq + 'static;
    /// The digest.
    type Digest;
    /// The state before the first block.
    const INITIAL: Self::State;
    /// The service thread's name.
    const THREAD: &'static str;
    /// Whether the hash is big-endian (SHA: the message length in the padding, the
    /// digest's words) or little-endian (MD5).
    const BIG_ENDIAN: bool;

    /// Hashes whole blocks into `state` with the one-stream code.
    fn compress(state: &mut Self::State, blocks: &[u8]);
    /// The digest of `state` after the final (padded) block.
    fn digest(state: &Self::State) -> Self::Digest;
    /// The fastest lockstep kernel the CPU has, decided once.
    fn kernel() -> Option<Kernel<Self::State>>;
    /// The hash's service and its count of open streams.
    fn shared() -> &'static Shared<Self>;
}

/// What one hash's streams share: the service queue and how many streams exist.
pub struct Shared<H: LaneHash> {
    /// Unbounded, so handing in never blocks: each stream has at most one job in the
    /// service, so what waits is bounded by the uploads in flight.
    service: OnceLock<Option<Sender<Msg<H::State>>>>,
    /// Streams that exist: whether more jobs may be on their way.
    open: AtomicUsize,
}

impl<H: LaneHash> Shared<H> {
    /// Nothing started yet.
    pub const fn new() -> Shared<H> {
        Shared {
            service: OnceLock::new(),
            open: AtomicUsize::new(0),
        }
    }
}

impl<H: LaneHash> std::fmt::Debug for Shared<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("hash", &H::THREAD)
            .field("open", &self.open)
            .finish_non_exhaustive()
    }
}

impl<H: LaneHash> Default for Shared<H> {
    fn default() -> Self {
        Shared::new()
    }
}

/// A state's words as a digest's bytes, each word in the hash's byte order.
fn state_bytes<const N: usize>(words: &[u32], big_endian: bool) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, w) in out.chunks_exact_mut(4).zip(words) {
        o.copy_from_slice(&if big_endian {
            w.to_be_bytes()
        } else {
            w.to_le_bytes()
        });
    }
    out
}

/// The padding that ends a message of `len` bytes whose last partial block is `tail`.
fn pad<H: LaneHash>(tail: &[u8], len: u64) -> Vec<u8> {
    let mut last = tail.to_vec();
    last.push(0x80);
    while last.len() % BLOCK != BLOCK - 8 {
        last.push(0);
    }
    let bits = len.wrapping_mul(8);
    if H::BIG_ENDIAN {
        last.extend_from_slice(&bits.to_be_bytes());
    } else {
        last.extend_from_slice(&bits.to_le_bytes());
    }
    last
}

/// Runs of whole blocks to hash, in order, from a state.
struct Job<S> {
    state: S,
    /// Each a whole number of blocks, none empty.
    runs: Vec<Bytes>,
    reply: SyncSender<S>,
    /// Set by the stream once it waits for the result.
    urgent: Arc<AtomicBool>,
}

/// What streams send the service.
enum Msg<S> {
    /// Data to hash.
    Job(Job<S>),
    /// A stream now waits for a job it handed in: stop gathering.
    Hurry,
}

/// A job in a lane: the run it is in and how far into it.
struct Active<S> {
    job: Job<S>,
    run: usize,
    at: usize,
}

impl<S> Active<S> {
    fn new(job: Job<S>) -> Active<S> {
        Active { job, run: 0, at: 0 }
    }

    /// The rest of the current run (empty once every run is hashed).
    fn current(&self) -> &[u8] {
        self.job.runs.get(self.run).map_or(&[], |r| &r[self.at..])
    }

    fn advance(&mut self, len: usize) {
        self.at += len;
        if self
            .job
            .runs
            .get(self.run)
            .is_some_and(|r| self.at == r.len())
        {
            self.run += 1;
            self.at = 0;
        }
    }

    fn done(&self) -> bool {
        self.run == self.job.runs.len()
    }

    fn urgent(&self) -> bool {
        self.job.urgent.load(Ordering::Acquire)
    }
}

/// The hash's service queue: one thread, started on first use.
fn service<H: LaneHash>() -> Option<&'static Sender<Msg<H::State>>> {
    H::shared()
        .service
        .get_or_init(|| {
            let (tx, rx) = channel();
            std::thread::Builder::new()
                .name(H::THREAD.into())
                .spawn(move || serve::<H>(&rx))
                .map_err(|e| tracing::warn!("no {} thread ({e}); uploads hash alone", H::THREAD))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Lanes the service runs: the lockstep kernel's, or [`SCALAR_LANES`] (hashed one by
/// one) without one.
fn lane_count<H: LaneHash>() -> usize {
    H::kernel().map_or(SCALAR_LANES, |k| k.width)
}

/// The service loop: fills free lanes from the queue, gathers more while no stream
/// waits, advances every busy lane by up to [`STEP_BLOCKS`] blocks, answers the jobs
/// that are done.
fn serve<H: LaneHash>(rx: &Receiver<Msg<H::State>>) {
    let mut lanes: Vec<Option<Active<H::State>>> = (0..lane_count::<H>()).map(|_| None).collect();
    loop {
        while lanes.iter().all(Option::is_none) {
            match rx.recv() {
                Ok(Msg::Job(job)) => lanes[0] = Some(Active::new(job)),
                Ok(Msg::Hurry) => {}
                Err(_) => return,
            }
        }
        fill(&mut lanes, rx);
        // Hashing a few lanes alone costs about what all of them side by side cost:
        // while no stream waits, give the other uploads time to hand in their data.
        let deadline = Instant::now() + LAZY_MAX;
        while H::kernel().is_some()
            && wants_company(&lanes, H::shared().open.load(Ordering::Relaxed))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Msg::Job(job)) => {
                    if let Some(free) = lanes.iter_mut().find(|l| l.is_none()) {
                        *free = Some(Active::new(job));
                    }
                    fill(&mut lanes, rx);
                }
                Ok(Msg::Hurry) => {}
                Err(_) => break,
            }
        }
        step::<H>(&mut lanes);
        for lane in lanes.iter_mut() {
            if lane.as_ref().is_some_and(Active::done)
                && let Some(a) = lane.take()
            {
                // The stream may have given up waiting; nothing to do then.
                let _ = a.job.reply.send(a.job.state);
            }
        }
    }
}

/// Moves queued jobs into free lanes (passing over hurries: the caller looks at the
/// lanes' urgency itself).
fn fill<S>(lanes: &mut [Option<Active<S>>], rx: &Receiver<Msg<S>>) {
    for lane in lanes.iter_mut().filter(|l| l.is_none()) {
        loop {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => {
                    *lane = Some(Active::new(job));
                    break;
                }
                Ok(Msg::Hurry) => {}
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }
}

/// Whether a lockstep service should wait for more jobs before a step: a lane is free
/// while more streams are `open` than lanes are busy, and no stream waits for a job in
/// a lane.
fn wants_company<S>(lanes: &[Option<Active<S>>], open: usize) -> bool {
    let busy = lanes.iter().flatten().count();
    busy < lanes.len().min(open) && !lanes.iter().flatten().any(Active::urgent)
}

/// Advances the busy lanes: all of them by the same number of blocks in a lockstep
/// step when enough are busy; otherwise one after another with the one-stream code,
/// and then, while any stream waits, only the lanes of waiting streams (the others
/// may still share a lockstep step with jobs to come, which costs them less).
fn step<H: LaneHash>(lanes: &mut [Option<Active<H::State>>]) {
    let busy = lanes.iter().flatten().count();
    if let Some(kernel) = H::kernel()
        && busy >= kernel.min_busy
    {
        let blocks = lanes
            .iter()
            .flatten()
            .map(|a| a.current().len() / BLOCK)
            .min()
            .unwrap_or(0)
            .min(STEP_BLOCKS);
        let len = blocks * BLOCK;
        let mut states = [H::INITIAL; MAX_LANES];
        let mut inputs: [&[u8]; MAX_LANES] = [&[]; MAX_LANES];
        let first = lanes.iter().flatten().next();
        for (i, lane) in lanes.iter().enumerate() {
            // Idle lanes repeat the first busy lane's input; their result is dropped.
            if let Some(a) = lane.as_ref().or(first) {
                states[i] = a.job.state;
                inputs[i] = &a.current()[..len];
            }
        }
        (kernel.compress)(&mut states, &inputs);
        for (lane, state) in lanes.iter_mut().zip(states) {
            if let Some(a) = lane {
                a.job.state = state;
                a.advance(len);
            }
        }
        return;
    }
    let any_urgent = lanes.iter().flatten().any(Active::urgent);
    for a in lanes
        .iter_mut()
        .flatten()
        .filter(|a| !any_urgent || a.urgent())
    {
        let len = (a.current().len() / BLOCK).min(STEP_BLOCKS) * BLOCK;
        let mut state = a.job.state;
        H::compress(&mut state, &a.current()[..len]);
        a.job.state = state;
        a.advance(len);
    }
}

/// Runs handed to the service: their data, the state they started from, and where
/// the result comes.
type Pending<S> = (Vec<Bytes>, S, Receiver<S>);

/// The streaming hash of one upload.
pub struct LaneStream<H: LaneHash> {
    state: H::State,
    /// Bytes after the last whole block.
    tail: Vec<u8>,
    len: u64,
    /// Whole-block runs not handed out yet, and their length.
    runs: Vec<Bytes>,
    runs_len: usize,
    /// Runs handed to the service: their data (to hash here if the service is gone),
    /// the state they started from, and where the result comes.
    pending: Option<Pending<H::State>>,
    /// Tells the service this stream waits for its pending job.
    urgent: Arc<AtomicBool>,
}

impl<H: LaneHash> std::fmt::Debug for LaneStream<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LaneStream")
            .field("hash", &H::THREAD)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<H: LaneHash> Drop for LaneStream<H> {
    fn drop(&mut self) {
        H::shared().open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl<H: LaneHash> Default for LaneStream<H> {
    fn default() -> Self {
        LaneStream::new()
    }
}

impl<H: LaneHash> LaneStream<H> {
    /// An empty message.
    pub fn new() -> LaneStream<H> {
        H::shared().open.fetch_add(1, Ordering::Relaxed);
        LaneStream {
            state: H::INITIAL,
            tail: Vec::with_capacity(BLOCK),
            len: 0,
            runs: Vec::new(),
            runs_len: 0,
            pending: None,
            urgent: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether the last hand-out is hashed (taking its result if so), without waiting.
    fn pending_done(&mut self) -> bool {
        let Some((_, _, rx)) = &self.pending else {
            return true;
        };
        match rx.try_recv() {
            Ok(state) => {
                self.state = state;
                self.pending = None;
                true
            }
            Err(TryRecvError::Empty) => false,
            Err(TryRecvError::Disconnected) => {
                self.settle();
                true
            }
        }
    }

    /// The state after every run handed out so far.
    fn settle(&mut self) {
        if let Some((runs, from, rx)) = self.pending.take() {
            if let Ok(state) = rx.try_recv() {
                self.state = state;
                return;
            }
            // Waiting from now on: the service must not hold the job back for company.
            self.urgent.store(true, Ordering::Release);
            if let Some(service) = service::<H>() {
                let _ = service.send(Msg::Hurry);
            }
            let result = rx.recv();
            self.urgent.store(false, Ordering::Release);
            self.state = result.unwrap_or_else(|_| {
                let mut s = from;
                runs.iter().for_each(|r| H::compress(&mut s, r));
                s
            });
        }
    }

    fn push_run(&mut self, run: Bytes) {
        self.runs_len += run.len();
        self.runs.push(run);
    }

    /// Hands the collected runs to the service (or hashes them here when they are few
    /// or there is no service), once the previous ones are done.
    fn hand_out(&mut self) {
        if self.runs.is_empty() {
            return;
        }
        let runs = std::mem::take(&mut self.runs);
        let len = std::mem::take(&mut self.runs_len);
        self.settle();
        let service = service::<H>().filter(|_| len >= INLINE_MAX);
        let Some(service) = service else {
            runs.iter().for_each(|r| H::compress(&mut self.state, r));
            return;
        };
        let (reply, rx) = sync_channel(1);
        let job = Job {
            state: self.state,
            runs: runs.clone(),
            reply,
            urgent: self.urgent.clone(),
        };
        match service.send(Msg::Job(job)) {
            Ok(()) => self.pending = Some((runs, self.state, rx)),
            Err(_) => runs.iter().for_each(|r| H::compress(&mut self.state, r)),
        }
    }

    /// Whether [`LaneStream::update`] with `extra` more bytes would wait for the
    /// service: the collected runs would reach [`COLLECT_MAX`] while the previous
    /// hand-out is still being hashed. (Handing in itself never blocks.) Async callers
    /// feed such data from a blocking thread.
    pub fn would_wait(&mut self, extra: usize) -> bool {
        let whole = (self.tail.len() + extra) / BLOCK * BLOCK;
        self.runs_len + whole >= COLLECT_MAX && !self.pending_done()
    }

    /// Appends `data` to the message. Whole blocks are collected and handed to the
    /// service [`JOB_BYTES`] at a time (more while the previous hand-out is still being
    /// hashed), so the uploads in flight keep its lanes busy while their bodies arrive;
    /// the caller waits only when [`COLLECT_MAX`] is collected and the previous
    /// hand-out of this stream is still being hashed.
    pub fn update(&mut self, mut data: Bytes) {
        self.len += data.len() as u64;
        if !self.tail.is_empty() {
            let take = (BLOCK - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data.split_to(take));
            if self.tail.len() < BLOCK {
                return;
            }
            let block = Bytes::copy_from_slice(&self.tail);
            self.tail.clear();
            self.push_run(block);
        }
        let whole = data.len() / BLOCK * BLOCK;
        let blocks = data.split_to(whole);
        self.tail.extend_from_slice(&data);
        if !blocks.is_empty() {
            self.push_run(blocks);
        }
        if self.runs_len >= COLLECT_MAX || (self.runs_len >= JOB_BYTES && self.pending_done()) {
            self.hand_out();
        }
    }

    /// Whether data handed to this stream is still held, collected or in the
    /// service: what [`LaneStream::settle_all`] would wait for.
    pub fn holds_data(&self) -> bool {
        !self.runs.is_empty() || self.pending.is_some()
    }

    /// Hashes every whole block handed in so far, waiting for the service, so the
    /// stream holds none of the data it was given (only the partial last block, a
    /// copy). Blocks its thread.
    pub fn settle_all(&mut self) {
        self.hand_out();
        self.settle();
    }

    /// The digest of the whole message.
    pub fn finish(mut self) -> H::Digest {
        self.hand_out();
        self.settle();
        let last = pad::<H>(&self.tail, self.len);
        H::compress(&mut self.state, &last);
        H::digest(&self.state)
    }
}

/// Lane-kernel building blocks shared by the hashes' kernels.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The 8×8 transpose of 32-bit words: row `i` of the result holds word `i` of
    /// every input row.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
        let t0 = _mm256_unpacklo_epi32(r[0], r[1]);
        let t1 = _mm256_unpackhi_epi32(r[0], r[1]);
        let t2 = _mm256_unpacklo_epi32(r[2], r[3]);
        let t3 = _mm256_unpackhi_epi32(r[2], r[3]);
        let t4 = _mm256_unpacklo_epi32(r[4], r[5]);
        let t5 = _mm256_unpackhi_epi32(r[4], r[5]);
        let t6 = _mm256_unpacklo_epi32(r[6], r[7]);
        let t7 = _mm256_unpackhi_epi32(r[6], r[7]);
        let u0 = _mm256_unpacklo_epi64(t0, t2);
        let u1 = _mm256_unpackhi_epi64(t0, t2);
        let u2 = _mm256_unpacklo_epi64(t1, t3);
        let u3 = _mm256_unpackhi_epi64(t1, t3);
        let u4 = _mm256_unpacklo_epi64(t4, t6);
        let u5 = _mm256_unpackhi_epi64(t4, t6);
        let u6 = _mm256_unpacklo_epi64(t5, t7);
        let u7 = _mm256_unpackhi_epi64(t5, t7);
        [
            _mm256_permute2x128_si256::<0x20>(u0, u4),
            _mm256_permute2x128_si256::<0x20>(u1, u5),
            _mm256_permute2x128_si256::<0x20>(u2, u6),
            _mm256_permute2x128_si256::<0x20>(u3, u7),
            _mm256_permute2x128_si256::<0x31>(u0, u4),
            _mm256_permute2x128_si256::<0x31>(u1, u5),
            _mm256_permute2x128_si256::<0x31>(u2, u6),
            _mm256_permute2x128_si256::<0x31>(u3, u7),
        ]
    }

    /// The sixteen message words of block `at` of sixteen inputs, word `j` of every
    /// lane in vector `j` (in memory order: a big-endian hash swaps the bytes itself).
    #[inline]
    #[target_feature(enable = "avx512f,avx2")]
    pub(super) fn message_wide(inputs: &[&[u8]; 16], at: usize) -> [__m512i; 16] {
        let mut m = [_mm512_setzero_si512(); 16];
        for half in 0..2 {
            // Words `8 half ..` of lanes 0-7 and of lanes 8-15, each an 8×8 transpose,
            // side by side.
            let rows = |first: usize| -> [__m256i; 8] {
                std::array::from_fn(|l| {
                    let bytes = &inputs[first + l][at + half * 32..at + half * 32 + 32];
                    // SAFETY: `bytes` is 32 readable bytes; the load is unaligned.
                    unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
                })
            };
            let (low, high) = (transpose(rows(0)), transpose(rows(8)));
            for j in 0..8 {
                m[half * 8 + j] = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low[j]), high[j]);
            }
        }
        m
    }

    /// Word `j` of every lane's state.
    pub(super) fn column<const W: usize, const N: usize>(
        states: &[[u32; W]; N],
        j: usize,
    ) -> [u32; N] {
        std::array::from_fn(|l| states[l][j])
    }

    /// Sets word `j` of every lane's state.
    pub(super) fn set_column<const W: usize, const N: usize>(
        states: &mut [[u32; W]; N],
        j: usize,
        words: [u32; N],
    ) {
        for (state, w) in states.iter_mut().zip(words) {
            state[j] = w;
        }
    }

    /// Word `j` of sixteen lanes' states in one vector.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn load_column<const W: usize>(states: &[[u32; W]; 16], j: usize) -> __m512i {
        let words = column(states, j);
        // SAFETY: `words` is 64 readable bytes; the load is unaligned.
        unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
    }

    /// Stores a vector as word `j` of sixteen lanes' states.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) fn store_column<const W: usize>(states: &mut [[u32; W]; 16], j: usize, v: __m512i) {
        let mut words = [0u32; 16];
        // SAFETY: `words` is 64 writable bytes; the store is unaligned.
        unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) };
        set_column(states, j, words);
    }

    /// Defines `$name(x) -> x`, opaque to the optimiser, for vectors of type `$ty` in
    /// registers of class `$class`: keeps LLVM from reassociating a round's additions
    /// so that a constant is added after the round function, one more add on the
    /// serial chain of every round.
    macro_rules! opaque_fn {
        ($name:ident, $ty:ty, $class:ident, $feature:literal) => {
            #[inline]
            #[target_feature(enable = $feature)]
            pub(super) fn $name(mut x: $ty) -> $ty {
                // SAFETY: the assembly is empty: it touches only `x`'s register, no
                // memory, stack or flags.
                unsafe {
                    std::arch::asm!(
                        "/* {0} */",
                        inout($class) x,
                        options(pure, nomem, nostack, preserves_flags)
                    );
                }
                x
            }
        };
    }
    opaque_fn!(opaque, __m256i, ymm_reg, "avx");
    opaque_fn!(opaque_wide, __m512i, zmm_reg, "avx512f");
}

#[cfg(test)]
pub(crate) mod tests {
    //! Checks every hash's stream, service and kernels against a reference.

    use super::*;

    pub(crate) fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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

    #[test]
    fn a_stream_would_wait_only_past_its_collect_limit_with_a_job_out() {
        let mut m = Md5Stream::new();
        assert!(!m.would_wait(2 * COLLECT_MAX), "nothing handed out yet");
        // A hand-out whose result has not come.
        let (_reply, result) = sync_channel(1);
        m.pending = Some((Vec::new(), m.state, result));
        m.runs_len = COLLECT_MAX - BLOCK;
        assert!(!m.would_wait(BLOCK - 1), "no whole block more");
        assert!(m.would_wait(BLOCK));
        m.tail = vec![0; BLOCK - 1];
        assert!(m.would_wait(1), "the tail completes a block");
    }

    #[test]
    fn a_settled_stream_holds_none_of_its_data_and_hashes_on() {
        let data = Bytes::from(pseudo_random(3 * JOB_BYTES + 100, 9));
        let mut m = Md5Stream::new();
        assert!(!m.holds_data());
        m.update(data.slice(..2 * JOB_BYTES));
        m.update(data.slice(2 * JOB_BYTES..3 * JOB_BYTES + 50));
        assert!(
            m.holds_data(),
            "whole blocks handed in are collected or in the service"
        );
        m.settle_all();
        assert!(
            !m.holds_data(),
            "settled: only the partial block's copy is kept"
        );
        m.update(data.slice(3 * JOB_BYTES + 50..));
        let mut reference = LaneStream::<Md5>::new();
        reference.update(data.clone());
        assert_eq!(m.finish(), reference.finish());
    }

    /// The hash of `s`, in one update.
    pub(crate) fn one<H: LaneHash>(s: &[u8]) -> H::Digest {
        let mut m = LaneStream::<H>::new();
        m.update(Bytes::copy_from_slice(s));
        m.finish()
    }

    /// Any split of any length gives the reference digest.
    pub(crate) fn check_splits<H: LaneHash>(reference: fn(&[u8]) -> H::Digest)
    where
        H::Digest: PartialEq + std::fmt::Debug,
    {
        for len in [
            0,
            1,
            55,
            56,
            63,
            64,
            65,
            127,
            128,
            16 << 10,
            (16 << 10) + 1,
            1 << 20,
            (3 << 20) + 17,
        ] {
            let data = pseudo_random(len, len as u64);
            for piece in [1usize, 63, 64, 1000, 16 << 10, 1 << 20, usize::MAX] {
                if piece == 1 && len > 4096 {
                    continue;
                }
                let mut m = LaneStream::<H>::new();
                let bytes = Bytes::from(data.clone());
                let mut at = 0;
                while at < len {
                    let n = piece.min(len - at);
                    m.update(bytes.slice(at..at + n));
                    at += n;
                }
                assert_eq!(
                    m.finish(),
                    reference(&data),
                    "{len} bytes in pieces of {piece}"
                );
            }
        }
    }

    /// Twelve threads (more than the lanes of the AVX2 kernel) of different lengths and
    /// piece sizes; the longer ones collect past `COLLECT_MAX` while a hand-out is
    /// being hashed.
    pub(crate) fn check_many_streams<H: LaneHash>(reference: fn(&[u8]) -> H::Digest)
    where
        H::Digest: PartialEq + std::fmt::Debug + Send,
    {
        let threads: Vec<_> = (0..12u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let len = (1 << 20) * (1 + t as usize % 5) + (t as usize) * 4099;
                    let data = Bytes::from(pseudo_random(len, 100 + t));
                    let piece = [64 << 10, 1 << 20, 200_000][t as usize % 3];
                    let mut m = LaneStream::<H>::new();
                    for start in (0..len).step_by(piece) {
                        m.update(data.slice(start..(start + piece).min(len)));
                    }
                    (m.finish(), reference(&data))
                })
            })
            .collect();
        for t in threads {
            let (got, want) = t.join().expect("hashing thread");
            assert_eq!(got, want);
        }
    }

    /// A kernel of `N` lanes.
    pub(crate) type RawKernel<S, const N: usize> = unsafe fn(&mut [S; N], &[&[u8]; N]);

    /// Checks `kernel` against the one-stream code for random inputs of several
    /// lengths, each lane from its own starting state (`tweak` makes them differ).
    pub(crate) fn check_lane_kernel<H: LaneHash, const N: usize>(
        kernel: RawKernel<H::State, N>,
        tweak: fn(&mut H::State, usize),
    ) {
        for blocks in [0, 1, 2, 7, 37, 1024] {
            let data: Vec<Vec<u8>> = (0..N)
                .map(|l| pseudo_random(BLOCK * blocks, (blocks * N + l) as u64))
                .collect();
            let inputs: [&[u8]; N] = std::array::from_fn(|l| data[l].as_slice());
            let mut states: [H::State; N] = std::array::from_fn(|l| {
                let mut s = H::INITIAL;
                tweak(&mut s, l);
                s
            });
            let mut expected = states;
            for (s, d) in expected.iter_mut().zip(&data) {
                H::compress(s, d);
            }
            // SAFETY: the callers check that the CPU has the kernel's features.
            unsafe { kernel(&mut states, &inputs) };
            assert_eq!(states, expected, "{blocks} blocks");
        }
    }

    /// Prints the throughput of a kernel, a 64 MiB stream per lane, in service-sized
    /// steps.
    pub(crate) fn kernel_throughput<H: LaneHash, const N: usize>(
        name: &str,
        kernel: RawKernel<H::State, N>,
    ) {
        const STREAM: usize = 64 << 20;
        let data: Vec<Vec<u8>> = (0..N)
            .map(|l| pseudo_random(STREAM, l as u64 + 1))
            .collect();
        let mut states = [H::INITIAL; N];
        let start = Instant::now();
        for at in (0..STREAM).step_by(STEP_BLOCKS * BLOCK) {
            let end = (at + STEP_BLOCKS * BLOCK).min(STREAM);
            let inputs: [&[u8]; N] = std::array::from_fn(|l| &data[l][at..end]);
            // SAFETY: the caller checks the CPU's features before each run.
            unsafe { kernel(&mut states, &inputs) };
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{name}: {:.2} GB/s ({N} streams)",
            (N * STREAM) as f64 / secs / 1e9
        );
        std::hint::black_box(states);
    }

    /// Prints the throughput of the one-stream code.
    pub(crate) fn scalar_throughput<H: LaneHash>(name: &str) {
        const STREAM: usize = 64 << 20;
        let data = pseudo_random(STREAM, 1);
        let mut state = H::INITIAL;
        let start = Instant::now();
        H::compress(&mut state, &data);
        std::hint::black_box(state);
        println!(
            "{name}: {:.2} GB/s (1 stream)",
            STREAM as f64 / start.elapsed().as_secs_f64() / 1e9
        );
    }

    #[cfg(target_arch = "x86_64")]
    pub(crate) fn has_avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }

    #[test]
    fn the_service_gathers_until_the_lanes_are_full_or_a_stream_waits() {
        const LANES: usize = 8;
        let (reply, _results) = sync_channel(LANES);
        let job = |urgent: bool| {
            Some(Active::new(Job {
                state: Md5::INITIAL,
                runs: vec![Bytes::from(vec![0u8; BLOCK])],
                reply: reply.clone(),
                urgent: Arc::new(AtomicBool::new(urgent)),
            }))
        };
        let mut lanes: Vec<Option<Active<_>>> = (0..LANES).map(|_| None).collect();
        lanes[0] = job(false);
        assert!(
            wants_company(&lanes, 16),
            "one lane of eight, more streams open"
        );
        assert!(!wants_company(&lanes, 1), "every open stream is in a lane");
        lanes[3] = job(true);
        assert!(!wants_company(&lanes, 16), "a stream waits for its result");
        lanes[3] = job(false);
        lanes.iter_mut().skip(1).for_each(|l| *l = job(false));
        assert!(!wants_company(&lanes, 16), "every lane is busy");
        lanes[5] = None;
        assert!(wants_company(&lanes, 16));
        // The flag is the stream's: it counts from the moment the stream sets it.
        let flag = Arc::new(AtomicBool::new(false));
        lanes[5] = Some(Active::new(Job {
            state: Md5::INITIAL,
            runs: vec![Bytes::from(vec![0u8; BLOCK])],
            reply: reply.clone(),
            urgent: flag.clone(),
        }));
        lanes[6] = None;
        assert!(wants_company(&lanes, 16));
        flag.store(true, Ordering::Release);
        assert!(!wants_company(&lanes, 16));
    }

    #[test]
    fn one_stream_steps_advance_only_waiting_streams_while_any_waits() {
        // Three busy lanes: fewer than the SHA-256 kernel needs (or no kernel at all),
        // so the service hashes them one by one.
        let (reply, _results) = sync_channel(4);
        let job = |urgent: bool| {
            Some(Active::new(Job {
                state: Sha256::INITIAL,
                runs: vec![Bytes::from(vec![7u8; 4 * BLOCK])],
                reply: reply.clone(),
                urgent: Arc::new(AtomicBool::new(urgent)),
            }))
        };
        let mut lanes = vec![job(false), job(true), None, job(false)];
        step::<Sha256>(&mut lanes);
        let hashed = |lanes: &[Option<Active<_>>]| -> Vec<bool> {
            lanes.iter().flatten().map(Active::done).collect()
        };
        assert_eq!(hashed(&lanes), [false, true, false]);
        let mut expected = Sha256::INITIAL;
        Sha256::compress(&mut expected, &[7u8; 4 * BLOCK]);
        assert_eq!(lanes[1].as_ref().map(|a| a.job.state), Some(expected));
        // With no stream waiting, every lane advances.
        lanes[1] = None;
        step::<Sha256>(&mut lanes);
        assert_eq!(hashed(&lanes), [true, true]);
    }

    #[test]
    fn padding_ends_with_the_length_in_the_hash_s_byte_order() {
        let md5 = pad::<Md5>(b"abc", 3);
        let sha = pad::<Sha256>(b"abc", 3);
        assert_eq!((md5.len(), sha.len()), (BLOCK, BLOCK));
        assert_eq!(&md5[..4], b"abc\x80");
        assert_eq!(md5[56..], 24u64.to_le_bytes());
        assert_eq!(sha[56..], 24u64.to_be_bytes());
        assert_eq!(pad::<Md5>(&[0; 56], 56).len(), 2 * BLOCK);
    }
}
