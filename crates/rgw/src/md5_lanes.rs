//! MD5 of many uploads at once: the ETag hash, computed by one service thread that
//! runs up to sixteen uploads' MD5s side by side in the lanes of 512-bit registers
//! (eight in 256-bit ones without AVX-512).
//!
//! MD5 is one long dependency chain per stream (~750 MB/s on a core here), and a
//! gateway under load hashes many streams at the same time: the service gives each
//! stream with data pending one 32-bit lane and advances all of them one 64-byte
//! block per step, the way MinIO's `md5-simd` does. The lockstep kernel is AVX-512
//! where the CPU has it (detected once, else AVX2): `vpternlogd` computes each
//! round function in one instruction and `vprold` each rotation, so a step's serial
//! chain is four instructions, and a step of sixteen lanes costs what one of eight
//! does (~7.2 GB/s for sixteen streams here, ~3.9 GB/s for eight with 256-bit
//! registers, ~2.7 GB/s with the AVX2 kernel). A lone stream (or a CPU without AVX2)
//! is hashed by the scalar code on the same thread.
//!
//! [`Md5Stream`] is what an upload holds: it hands the service whole-block runs of its
//! body (the gateway hands it each stripe as the stripe goes to be written) and waits
//! for the result only before a later hand-out or the digest. The service is lazy: a
//! digest is wanted only once the upload's data is written, so it steps only with every
//! lane busy (or every open stream in a lane) until a stream waits for its result, or
//! [`LAZY_MAX`] has passed. Under sixteen 4 MiB uploads its steps then run with about
//! eight busy lanes, where eager stepping ran one to three most of the time. Should the
//! service be gone, the stream hashes its data itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

/// MD5 chaining state: `a, b, c, d`.
type State = [u32; 4];

const INITIAL: State = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
const BLOCK: usize = 64;
/// Lanes of the AVX2 kernel (32-bit words of a 256-bit register).
const LANES: usize = 8;
/// Lanes of the widest kernel (AVX-512: 32-bit words of a 512-bit register).
const MAX_LANES: usize = 16;
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
/// Streams that exist: whether more jobs may be on their way.
static OPEN_STREAMS: AtomicUsize = AtomicUsize::new(0);
/// Jobs queued for the service beyond the lanes.
const QUEUE: usize = 64;

/// Per-round additive constants: `floor(|sin(i + 1)| * 2^32)`.
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// Left-rotation of each round.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Message word of each round.
const fn word(i: usize) -> usize {
    match i / 16 {
        0 => i,
        1 => (5 * i + 1) % 16,
        2 => (3 * i + 5) % 16,
        _ => (7 * i) % 16,
    }
}

/// Hashes whole 64-byte blocks into `state`, one at a time (the `md-5` crate's
/// one-stream code).
fn compress(state: &mut State, blocks: &[u8]) {
    let (blocks, rest) = blocks.as_chunks::<BLOCK>();
    debug_assert!(rest.is_empty(), "whole blocks");
    md5::block_api::compress(state, blocks);
}

/// The digest of `state` after the final (padded) block.
fn digest(state: &State) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, s) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&s.to_le_bytes());
    }
    out
}

/// The padding that ends a message of `len` bytes whose last partial block is `tail`.
fn pad(tail: &[u8], len: u64) -> Vec<u8> {
    let mut last = tail.to_vec();
    last.push(0x80);
    while last.len() % BLOCK != BLOCK - 8 {
        last.push(0);
    }
    last.extend_from_slice(&len.wrapping_mul(8).to_le_bytes());
    last
}

/// Runs of whole blocks to hash, in order, from a state.
struct Job {
    state: State,
    /// Each a whole number of blocks, none empty.
    runs: Vec<Bytes>,
    reply: SyncSender<State>,
    /// Set by the stream once it waits for the result.
    urgent: Arc<AtomicBool>,
}

/// What streams send the service.
enum Msg {
    /// Data to hash.
    Job(Job),
    /// A stream now waits for a job it handed in: stop gathering.
    Hurry,
}

/// A job in a lane: the run it is in and how far into it.
struct Active {
    job: Job,
    run: usize,
    at: usize,
}

impl Active {
    fn new(job: Job) -> Active {
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

/// The service's queue: one thread, started on first use.
fn service() -> Option<&'static SyncSender<Msg>> {
    static SERVICE: OnceLock<Option<SyncSender<Msg>>> = OnceLock::new();
    SERVICE
        .get_or_init(|| {
            let (tx, rx) = sync_channel(QUEUE);
            std::thread::Builder::new()
                .name("cuttle-md5".into())
                .spawn(move || serve(&rx))
                .map_err(|e| tracing::warn!("no MD5 service thread ({e}); uploads hash alone"))
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// The service loop: fills free lanes from the queue, gathers more while no stream
/// waits, advances every busy lane by up to [`STEP_BLOCKS`] blocks, answers the jobs
/// that are done.
fn serve(rx: &Receiver<Msg>) {
    let mut lanes: Vec<Option<Active>> = (0..lane_count()).map(|_| None).collect();
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
        while lockstep_min_busy().is_some()
            && wants_company(&lanes, OPEN_STREAMS.load(Ordering::Relaxed))
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
        step(&mut lanes);
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
fn fill(lanes: &mut [Option<Active>], rx: &Receiver<Msg>) {
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
fn wants_company(lanes: &[Option<Active>], open: usize) -> bool {
    let busy = lanes.iter().flatten().count();
    busy < lanes.len().min(open) && !lanes.iter().flatten().any(Active::urgent)
}

/// Lanes the service runs: the lockstep kernel's, or eight (hashed one by one) without
/// one.
fn lane_count() -> usize {
    #[cfg(target_arch = "x86_64")]
    if let Some(kernel) = x86::Lanes::get() {
        return kernel.width();
    }
    LANES
}

/// Busy lanes from which a lockstep step beats hashing them one after another, or
/// `None` without a lane kernel. One lane of a lockstep step runs at ~60% of the
/// one-stream code with AVX-512 (so two lanes already gain), ~45% with AVX2.
fn lockstep_min_busy() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(kernel) = x86::Lanes::get() {
        return Some(kernel.min_busy());
    }
    None
}

/// Advances the busy lanes by the same number of blocks.
fn step(lanes: &mut [Option<Active>]) {
    let blocks = lanes
        .iter()
        .flatten()
        .map(|a| a.current().len() / BLOCK)
        .min()
        .unwrap_or(0)
        .min(STEP_BLOCKS);
    if blocks == 0 {
        return;
    }
    let len = blocks * BLOCK;
    #[cfg(target_arch = "x86_64")]
    if let Some(kernel) = x86::Lanes::get()
        && lanes.iter().flatten().count() >= kernel.min_busy()
    {
        let mut states = [INITIAL; MAX_LANES];
        let mut inputs: [&[u8]; MAX_LANES] = [&[]; MAX_LANES];
        let first = lanes.iter().flatten().next();
        for (i, lane) in lanes.iter().enumerate() {
            // Idle lanes repeat the first busy lane's input; their result is dropped.
            if let Some(a) = lane.as_ref().or(first) {
                states[i] = a.job.state;
                inputs[i] = &a.current()[..len];
            }
        }
        kernel.compress(&mut states, &inputs);
        for (lane, state) in lanes.iter_mut().zip(states) {
            if let Some(a) = lane {
                a.job.state = state;
                a.advance(len);
            }
        }
        return;
    }
    for a in lanes.iter_mut().flatten() {
        let mut state = a.job.state;
        compress(&mut state, &a.current()[..len]);
        a.job.state = state;
        a.advance(len);
    }
}

/// The streaming MD5 of one upload.
#[derive(Debug)]
pub struct Md5Stream {
    state: State,
    /// Bytes after the last whole block.
    tail: Vec<u8>,
    len: u64,
    /// Whole-block runs not handed out yet, and their length.
    runs: Vec<Bytes>,
    runs_len: usize,
    /// Runs handed to the service: their data (to hash here if the service is gone),
    /// the state they started from, and where the result comes.
    pending: Option<(Vec<Bytes>, State, Receiver<State>)>,
    /// Tells the service this stream waits for its pending job.
    urgent: Arc<AtomicBool>,
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        OPEN_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Md5Stream {
    fn default() -> Self {
        Md5Stream::new()
    }
}

impl Md5Stream {
    /// An empty message.
    pub fn new() -> Md5Stream {
        OPEN_STREAMS.fetch_add(1, Ordering::Relaxed);
        Md5Stream {
            state: INITIAL,
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
            if let Some(service) = service() {
                // A full queue wakes the service anyway.
                let _ = service.try_send(Msg::Hurry);
            }
            let result = rx.recv();
            self.urgent.store(false, Ordering::Release);
            self.state = result.unwrap_or_else(|_| {
                let mut s = from;
                runs.iter().for_each(|r| compress(&mut s, r));
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
        let service = service().filter(|_| len >= INLINE_MAX);
        let Some(service) = service else {
            runs.iter().for_each(|r| compress(&mut self.state, r));
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
            Err(_) => runs.iter().for_each(|r| compress(&mut self.state, r)),
        }
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

    /// The digest of the whole message.
    pub fn finish(mut self) -> [u8; 16] {
        self.hand_out();
        self.settle();
        let last = pad(&self.tail, self.len);
        compress(&mut self.state, &last);
        digest(&self.state)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The lane kernels: eight lanes with AVX2, sixteen with AVX-512 on 512-bit
    //! registers, whose `vpternlogd` computes a round function in one instruction and
    //! whose `vprold` rotates in one, shortening the serial chain of every MD5 step.

    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::{BLOCK, K, LANES, MAX_LANES, S, State, word};

    /// A lane kernel this CPU can run: only [`Lanes::get`] makes one.
    #[derive(Clone, Copy, Debug)]
    pub(super) struct Lanes(Isa);

    #[derive(Clone, Copy, Debug)]
    enum Isa {
        Avx2,
        Avx512,
    }

    impl Lanes {
        /// The fastest kernel the CPU has (AVX-512VL, else AVX2), decided once; `None`
        /// without AVX2.
        pub(super) fn get() -> Option<Lanes> {
            static CHOICE: OnceLock<Option<Lanes>> = OnceLock::new();
            *CHOICE.get_or_init(|| {
                if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512vl") {
                    Some(Lanes(Isa::Avx512))
                } else if is_x86_feature_detected!("avx2") {
                    Some(Lanes(Isa::Avx2))
                } else {
                    None
                }
            })
        }

        /// Busy lanes from which this kernel beats the scalar code run lane by lane.
        pub(super) fn min_busy(self) -> usize {
            match self.0 {
                Isa::Avx512 => 2,
                Isa::Avx2 => 3,
            }
        }

        /// Lanes of this kernel.
        pub(super) fn width(self) -> usize {
            match self.0 {
                Isa::Avx512 => WIDE,
                Isa::Avx2 => LANES,
            }
        }

        /// Hashes the blocks of the first [`Lanes::width`] inputs, all of one length,
        /// into their states.
        pub(super) fn compress(self, states: &mut [State; MAX_LANES], inputs: &[&[u8]; MAX_LANES]) {
            match self.0 {
                // SAFETY: `Lanes::get` chose `Avx512` only with AVX-512F and -VL present.
                Isa::Avx512 => unsafe { compress_lanes_wide(states, inputs) },
                Isa::Avx2 => {
                    let (Some((states, _)), Some((inputs, _))) = (
                        states.split_first_chunk_mut::<LANES>(),
                        inputs.split_first_chunk::<LANES>(),
                    ) else {
                        unreachable!("MAX_LANES >= LANES");
                    };
                    // SAFETY: `Lanes::get` chose `Avx2` only with AVX2 present.
                    unsafe { compress_lanes(states, inputs) }
                }
            }
        }
    }

    /// The 8×8 transpose of 32-bit words: row `i` of the result holds word `i` of
    /// every input row.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn transpose(r: [__m256i; 8]) -> [__m256i; 8] {
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

    /// Word `j` of every lane's state.
    fn column<const N: usize>(states: &[State; N], j: usize) -> [u32; N] {
        std::array::from_fn(|l| states[l][j])
    }

    /// Sets word `j` of every lane's state.
    fn set_column<const N: usize>(states: &mut [State; N], j: usize, words: [u32; N]) {
        for (state, w) in states.iter_mut().zip(words) {
            state[j] = w;
        }
    }

    /// `vpternlogd` truth tables of the round functions, operands `(b, c, d)`: bit
    /// `4b + 2c + d` of the constant is the function's value there.
    pub(super) const TERN_F: i32 = 0xCA; // (b & c) | (!b & d)
    pub(super) const TERN_G: i32 = 0xE4; // (b & d) | (c & !d)
    pub(super) const TERN_H: i32 = 0x96; // b ^ c ^ d
    pub(super) const TERN_I: i32 = 0x39; // c ^ (b | !d)

    /// Left-rotation by shift, shift, or (AVX2).
    macro_rules! rotate_shifts {
        ($x:expr, $s:expr) => {
            _mm256_or_si256(
                _mm256_slli_epi32::<{ $s as i32 }>($x),
                _mm256_srli_epi32::<{ 32 - $s as i32 }>($x),
            )
        };
    }

    /// Left-rotation in one `vprold` (AVX-512F, 512-bit registers).
    macro_rules! rotate_vprold {
        ($x:expr, $s:expr) => {
            _mm512_rol_epi32::<{ $s as i32 }>($x)
        };
    }

    /// Defines `$name(x) -> x`, opaque to the optimiser, for vectors of type `$ty` in
    /// registers of class `$class`. LLVM otherwise reassociates `f + (a + K + m)` to
    /// add the constant `K` after the round function `f`, one more add on the serial
    /// chain of every step (the AVX-512 kernel then ran ~20% slower).
    macro_rules! opaque_fn {
        ($name:ident, $ty:ty, $class:ident, $feature:literal) => {
            #[inline]
            #[target_feature(enable = $feature)]
            fn $name(mut x: $ty) -> $ty {
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

    /// MD5 rounds `$r…` on the lane vectors `(a, b, c, d)` with message words `m`, round
    /// function `f`, the vector width's `add`, `splat` and `opaque` functions and
    /// rotation macro `rotate`: unrolled so every rotation is an immediate.
    macro_rules! rounds {
        (($add:ident, $splat:ident, $opaque:ident, $rotate:ident),
         ($a:ident, $b:ident, $c:ident, $d:ident), $m:ident, $f:expr; $($r:literal)*) => {$(
            // `a + K + m` does not wait for the previous round: only the round
            // function and what follows it are on the serial chain.
            let early = $opaque($add($a, $add($splat(K[$r] as i32), $m[word($r)])));
            let sum = $add($f($b, $c, $d), early);
            let rotated = $rotate!(sum, S[$r]);
            ($a, $d, $c) = ($d, $c, $b);
            $b = $add($b, rotated);
        )*};
    }

    /// One block into the lane vectors `(a, b, c, d)`: the sixty-four [`rounds`] with
    /// `ops` and the round functions `(f, g, h, i)`, then the block's starting state
    /// added back.
    macro_rules! block {
        (($add:ident, $splat:ident, $opaque:ident, $rotate:ident),
         ($a:ident, $b:ident, $c:ident, $d:ident), $m:ident,
         ($f:expr, $g:expr, $h:expr, $i:expr)) => {
            let start = ($a, $b, $c, $d);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $f;
                0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $g;
                16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $h;
                32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47);
            rounds!(($add, $splat, $opaque, $rotate), ($a, $b, $c, $d), $m, $i;
                48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);
            $a = $add($a, start.0);
            $b = $add($b, start.1);
            $c = $add($c, start.2);
            $d = $add($d, start.3);
        };
    }

    /// The body of a lane kernel: its round functions `(f, g, h, i)` and its rotation.
    macro_rules! lanes_body {
        ($states:ident, $inputs:ident, ($f:expr, $g:expr, $h:expr, $i:expr), $rotate:ident) => {{
            let len = $inputs[0].len();
            assert!(
                len.is_multiple_of(BLOCK) && $inputs.iter().all(|i| i.len() == len),
                "whole blocks, the same number in every lane"
            );
            let load = |j: usize| {
                let words = column($states, j);
                // SAFETY: `words` is 32 readable bytes; the load is unaligned.
                unsafe { _mm256_loadu_si256(words.as_ptr().cast()) }
            };
            let (mut a, mut b, mut c, mut d) = (load(0), load(1), load(2), load(3));
            for at in (0..len).step_by(BLOCK) {
                let mut m = [_mm256_setzero_si256(); 16];
                for half in 0..2 {
                    let rows: [__m256i; 8] = std::array::from_fn(|l| {
                        let bytes = &$inputs[l][at + half * 32..at + half * 32 + 32];
                        // SAFETY: `bytes` is 32 readable bytes; the load is unaligned.
                        unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
                    });
                    m[half * 8..half * 8 + 8].copy_from_slice(&transpose(rows));
                }
                block!(
                    (_mm256_add_epi32, _mm256_set1_epi32, opaque, $rotate),
                    (a, b, c, d),
                    m,
                    ($f, $g, $h, $i)
                );
            }
            for (j, v) in [a, b, c, d].into_iter().enumerate() {
                let mut words = [0u32; LANES];
                // SAFETY: `words` is 32 writable bytes; the store is unaligned.
                unsafe { _mm256_storeu_si256(words.as_mut_ptr().cast(), v) };
                set_column($states, j, words);
            }
        }};
    }

    /// Hashes the blocks of eight equal-length inputs into their eight states (AVX2).
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn compress_lanes(states: &mut [State; LANES], inputs: &[&[u8]; LANES]) {
        let ones = _mm256_set1_epi32(-1);
        let f = |b, c, d| _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)));
        let g = |b, c, d| _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)));
        let h = |b, c, d| _mm256_xor_si256(_mm256_xor_si256(b, c), d);
        let i = |b, c, d| _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones)));
        lanes_body!(states, inputs, (f, g, h, i), rotate_shifts);
    }

    /// Lanes of the AVX-512 kernel (32-bit words of a 512-bit register).
    pub(super) const WIDE: usize = MAX_LANES;

    /// Hashes the blocks of sixteen equal-length inputs into their sixteen states
    /// (AVX-512F on 512-bit registers).
    ///
    /// # Safety
    /// The CPU must have AVX-512F and AVX-512VL.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub(super) unsafe fn compress_lanes_wide(states: &mut [State; WIDE], inputs: &[&[u8]; WIDE]) {
        let len = inputs[0].len();
        assert!(
            len.is_multiple_of(BLOCK) && inputs.iter().all(|i| i.len() == len),
            "whole blocks, the same number in every lane"
        );
        let load = |j: usize| {
            let words = column(states, j);
            // SAFETY: `words` is 64 readable bytes; the load is unaligned.
            unsafe { _mm512_loadu_si512(words.as_ptr().cast()) }
        };
        let f = |b, c, d| _mm512_ternarylogic_epi32::<TERN_F>(b, c, d);
        let g = |b, c, d| _mm512_ternarylogic_epi32::<TERN_G>(b, c, d);
        let h = |b, c, d| _mm512_ternarylogic_epi32::<TERN_H>(b, c, d);
        let i = |b, c, d| _mm512_ternarylogic_epi32::<TERN_I>(b, c, d);
        let (mut a, mut b, mut c, mut d) = (load(0), load(1), load(2), load(3));
        for at in (0..len).step_by(BLOCK) {
            let mut m = [_mm512_setzero_si512(); 16];
            for half in 0..2 {
                // Words `8 half ..` of lanes 0-7 and of lanes 8-15, each an 8×8
                // transpose, side by side.
                let rows = |first: usize| -> [__m256i; 8] {
                    std::array::from_fn(|l| {
                        let bytes = &inputs[first + l][at + half * 32..at + half * 32 + 32];
                        // SAFETY: `bytes` is 32 readable bytes; the load is unaligned.
                        unsafe { _mm256_loadu_si256(bytes.as_ptr().cast()) }
                    })
                };
                let (low, high) = (transpose(rows(0)), transpose(rows(8)));
                for j in 0..8 {
                    m[half * 8 + j] =
                        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(low[j]), high[j]);
                }
            }
            block!(
                (
                    _mm512_add_epi32,
                    _mm512_set1_epi32,
                    opaque_wide,
                    rotate_vprold
                ),
                (a, b, c, d),
                m,
                (f, g, h, i)
            );
        }
        for (j, v) in [a, b, c, d].into_iter().enumerate() {
            let mut words = [0u32; WIDE];
            // SAFETY: `words` is 64 writable bytes; the store is unaligned.
            unsafe { _mm512_storeu_si512(words.as_mut_ptr().cast(), v) };
            set_column(states, j, words);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3s::crypto::{Checksum as _, Md5};

    fn reference(data: &[u8]) -> [u8; 16] {
        Md5::checksum(data)
    }

    fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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
    fn known_digests() {
        let hex = |d: [u8; 16]| d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let one = |s: &[u8]| {
            let mut m = Md5Stream::new();
            m.update(Bytes::copy_from_slice(s));
            hex(m.finish())
        };
        assert_eq!(one(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(one(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            one(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            ),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn any_split_of_any_length_matches_the_reference() {
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
                let mut m = Md5Stream::new();
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

    #[test]
    fn many_streams_at_once_share_the_lanes_and_stay_exact() {
        // Twelve threads (more than the lanes) of different lengths and piece sizes; the
        // longer ones collect past `COLLECT_MAX` while a hand-out is being hashed.
        let threads: Vec<_> = (0..12u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let len = (1 << 20) * (1 + t as usize % 5) + (t as usize) * 4099;
                    let data = Bytes::from(pseudo_random(len, 100 + t));
                    let piece = [64 << 10, 1 << 20, 200_000][t as usize % 3];
                    let mut m = Md5Stream::new();
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

    #[test]
    fn the_service_gathers_until_the_lanes_are_full_or_a_stream_waits() {
        let (reply, _results) = sync_channel(LANES);
        let job = |urgent: bool| {
            Some(Active::new(Job {
                state: INITIAL,
                runs: vec![Bytes::from(vec![0u8; BLOCK])],
                reply: reply.clone(),
                urgent: Arc::new(AtomicBool::new(urgent)),
            }))
        };
        let mut lanes: Vec<Option<Active>> = (0..LANES).map(|_| None).collect();
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
            state: INITIAL,
            runs: vec![Bytes::from(vec![0u8; BLOCK])],
            reply: reply.clone(),
            urgent: flag.clone(),
        }));
        lanes[6] = None;
        assert!(wants_company(&lanes, 16));
        flag.store(true, Ordering::Release);
        assert!(!wants_company(&lanes, 16));
    }

    /// A kernel of `N` lanes.
    #[cfg(target_arch = "x86_64")]
    type LaneKernel<const N: usize> = unsafe fn(&mut [State; N], &[&[u8]; N]);

    /// Checks `kernel` against the scalar code for random inputs of several lengths.
    #[cfg(target_arch = "x86_64")]
    fn check_lane_kernel<const N: usize>(kernel: LaneKernel<N>) {
        for blocks in [0, 1, 2, 7, 37, 1024] {
            let data: Vec<Vec<u8>> = (0..N)
                .map(|l| pseudo_random(BLOCK * blocks, (blocks * N + l) as u64))
                .collect();
            let inputs: [&[u8]; N] = std::array::from_fn(|l| data[l].as_slice());
            let mut states: [State; N] = std::array::from_fn(|l| {
                let mut s = INITIAL;
                s[l % 4] ^= (l * 0x0101_0101) as u32;
                s
            });
            let mut expected = states;
            for (s, d) in expected.iter_mut().zip(&data) {
                compress(s, d);
            }
            // SAFETY: the callers check that the CPU has the kernel's features.
            unsafe { kernel(&mut states, &inputs) };
            assert_eq!(states, expected, "{blocks} blocks");
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn has_avx512() -> bool {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_lane_kernel_matches_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        check_lane_kernel(x86::compress_lanes);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_lane_kernel_matches_the_scalar_one() {
        if !has_avx512() {
            return;
        }
        check_lane_kernel(x86::compress_lanes_wide);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_ternary_logic_constants_are_the_round_functions() {
        let table = |f: fn(bool, bool, bool) -> bool| {
            (0..8).fold(0, |t, bit| {
                let (b, c, d) = (bit & 4 != 0, bit & 2 != 0, bit & 1 != 0);
                t | (i32::from(f(b, c, d)) << bit)
            })
        };
        assert_eq!(x86::TERN_F, table(|b, c, d| (b & c) | (!b & d)));
        assert_eq!(x86::TERN_G, table(|b, c, d| (b & d) | (c & !d)));
        assert_eq!(x86::TERN_H, table(|b, c, d| b ^ c ^ d));
        assert_eq!(x86::TERN_I, table(|b, c, d| c ^ (b | !d)));
    }

    /// Throughput of the lane kernels, a 64 MiB stream per lane, in service-sized steps.
    /// By hand: `cargo test --release -p cuttle-rgw --lib md5_lanes -- --ignored
    /// --nocapture`.
    #[cfg(target_arch = "x86_64")]
    #[test]
    #[ignore = "a measurement, run by hand in release mode"]
    fn lane_kernel_throughput() {
        const STREAM: usize = 64 << 20;
        let data: Vec<Vec<u8>> = (0..MAX_LANES)
            .map(|l| pseudo_random(STREAM, l as u64 + 1))
            .collect();
        fn run<const N: usize>(name: &str, kernel: LaneKernel<N>, data: &[Vec<u8>]) {
            let mut states = [INITIAL; N];
            let start = std::time::Instant::now();
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
        let start = std::time::Instant::now();
        let mut state = INITIAL;
        compress(&mut state, &data[0]);
        std::hint::black_box(state);
        println!(
            "scalar: {:.2} GB/s (1 stream)",
            STREAM as f64 / start.elapsed().as_secs_f64() / 1e9
        );
        for _ in 0..3 {
            if std::arch::is_x86_feature_detected!("avx2") {
                run("avx2", x86::compress_lanes, &data);
            }
            if has_avx512() {
                run("avx512", x86::compress_lanes_wide, &data);
            }
        }
    }
}
