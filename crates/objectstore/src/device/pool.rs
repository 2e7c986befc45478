//! The recycling pool behind large [`AlignedBuf`](super::AlignedBuf)s.
//!
//! Every 4 MiB object write copies its data into a fresh aligned buffer and every read
//! gets one from the device. Handing such a buffer back to the allocator and asking for
//! a new one costs far more than the copy: the allocator returns big blocks to the
//! kernel, and the next one is faulted in page by page and cleared by the kernel
//! (measured with glibc's malloc: 25–30% of the object store's CPU on 4 MiB writes
//! went to page faults, and durable 4 MiB writes at depth 16 ran at 0.38–0.49 of fio).
//! This pool keeps freed buffers of [`MIN_POOLED`] bytes and more, grouped by size
//! class, up to [`POOL_LIMIT`] bytes in all, and hands them out again.
//!
//! Size classes: a capacity of at least `MIN_POOLED` is rounded up to a multiple of an
//! eighth of the largest power of two not above it (at most 12.5% more), so buffers for nearly equal
//! sizes are interchangeable. A recycled buffer still holds the bytes of its last use;
//! its owner overwrites or zeroes what it hands out (`AlignedBuf` does).
//!
//! This module owns only allocation; it knows nothing of devices or objects.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use parking_lot::Mutex;

use super::aligned::BLOCK_SIZE;

/// Smallest capacity that is pooled; smaller buffers come from the allocator's own
/// caches, which serve them without faults.
pub(crate) const MIN_POOLED: usize = 64 * 1024;

/// Bytes of free buffers the pool keeps at most (per process). Sixteen 2 MiB EC chunks
/// or eight 4 MiB objects: what one OSD frees and allocates again within one round of
/// sixteen requests in flight.
pub(crate) const POOL_LIMIT: usize = 32 << 20;

/// An allocation owned by the pool: a pointer and its size class.
struct Free {
    ptr: NonNull<u8>,
    class: usize,
}

// SAFETY: a pooled allocation is owned by nobody but the pool (like a `Vec<u8>` that
// moved into it), so it may be handed to any thread.
unsafe impl Send for Free {}

struct Pool {
    /// Free buffers, most recently returned last.
    free: Vec<Free>,
    /// Sum of the classes in `free`.
    bytes: usize,
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    free: Vec::new(),
    bytes: 0,
});

/// The capacity actually allocated for a request of `cap` bytes (a multiple of
/// [`BLOCK_SIZE`]).
pub(crate) fn class_of(cap: usize) -> usize {
    if cap < MIN_POOLED {
        return cap;
    }
    // An eighth of the largest power of two not above `cap`.
    let step = ((1usize << cap.ilog2()) / 8).max(BLOCK_SIZE);
    cap.div_ceil(step) * step
}

/// Layout of an allocation of `class` bytes.
pub(crate) fn layout(class: usize) -> Layout {
    match Layout::from_size_align(class, BLOCK_SIZE) {
        Ok(layout) => layout,
        // Only reachable for capacities near usize::MAX, which no caller can allocate.
        Err(_) => alloc::handle_alloc_error(Layout::new::<[u8; BLOCK_SIZE]>()),
    }
}

/// An allocation of exactly `class` bytes (a value from [`class_of`]) whose every byte
/// is initialised: a recycled buffer (holding its last contents) or a fresh zeroed one.
/// The flag says whether it is fresh (known to be all zeros).
pub(crate) fn take(class: usize) -> (NonNull<u8>, bool) {
    if class >= MIN_POOLED {
        let mut pool = POOL.lock();
        if let Some(i) = pool.free.iter().rposition(|f| f.class == class) {
            let f = pool.free.swap_remove(i);
            pool.bytes -= f.class;
            return (f.ptr, false);
        }
    }
    let layout = layout(class);
    // SAFETY: the layout has a non-zero size. Zeroed, so every byte is initialised
    // (fresh memory from the kernel costs nothing to zero in the allocators we use).
    let raw = unsafe { alloc::alloc_zeroed(layout) };
    match NonNull::new(raw) {
        Some(ptr) => (ptr, true),
        None => alloc::handle_alloc_error(layout),
    }
}

/// Gives back an allocation made by [`take`] for `class` bytes: kept for reuse if the
/// pool has room (making room by dropping buffers of other classes first), else freed.
///
/// # Safety
/// `ptr` must come from `take(class)` and not be used again by the caller.
pub(crate) unsafe fn give(ptr: NonNull<u8>, class: usize) {
    if (MIN_POOLED..=POOL_LIMIT).contains(&class) {
        let mut evicted = Vec::new();
        {
            let mut pool = POOL.lock();
            // Make room from other classes first, oldest first: the pool follows the
            // sizes in use now rather than keeping the first sizes it ever saw.
            let mut i = 0;
            while pool.bytes + class > POOL_LIMIT && i < pool.free.len() {
                if pool.free[i].class != class {
                    let f = pool.free.remove(i);
                    pool.bytes -= f.class;
                    evicted.push(f);
                } else {
                    i += 1;
                }
            }
            if pool.bytes + class <= POOL_LIMIT {
                pool.bytes += class;
                pool.free.push(Free { ptr, class });
                drop(pool);
                release(evicted);
                return;
            }
        }
        release(evicted);
    }
    // SAFETY: allocated by `take` with this layout, per the caller's contract.
    unsafe { alloc::dealloc(ptr.as_ptr(), layout(class)) }
}

/// Frees evicted buffers (outside the pool's lock).
fn release(evicted: Vec<Free>) {
    for f in evicted {
        // SAFETY: every pooled allocation was made by `take` with its class's layout.
        unsafe { alloc::dealloc(f.ptr.as_ptr(), layout(f.class)) }
    }
}

/// Bytes of free buffers held by the pool now.
#[cfg(test)]
pub(crate) fn pooled_bytes() -> usize {
    POOL.lock().bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_up_by_at_most_an_eighth() {
        assert_eq!(class_of(BLOCK_SIZE), BLOCK_SIZE);
        assert_eq!(class_of(MIN_POOLED - BLOCK_SIZE), MIN_POOLED - BLOCK_SIZE);
        assert_eq!(class_of(4 << 20), 4 << 20);
        assert_eq!(class_of(2 << 20), 2 << 20);
        assert_eq!(class_of((2 << 20) + BLOCK_SIZE), (2 << 20) + (256 << 10));
        for cap in (MIN_POOLED..(9 << 20)).step_by(37 * BLOCK_SIZE) {
            let class = class_of(cap);
            assert!(class >= cap && class - cap <= cap / 8, "{cap} -> {class}");
            assert_eq!(class % BLOCK_SIZE, 0);
            assert_eq!(class_of(class), class, "classes are fixed points");
        }
    }

    #[test]
    fn a_returned_buffer_is_handed_out_again_and_the_pool_stays_bounded() {
        // A class no other test uses, so parallel tests cannot take it.
        let class = class_of(3 * MIN_POOLED + 5 * BLOCK_SIZE);
        let (a, fresh) = take(class);
        assert!(fresh);
        // SAFETY: `a` came from `take(class)` and is not used again.
        unsafe { give(a, class) };
        let (b, fresh) = take(class);
        assert!(!fresh, "the returned buffer is reused");
        assert_eq!(a, b);
        // SAFETY: as above.
        unsafe { give(b, class) };
        // Returning far more than the limit keeps at most the limit.
        let many: Vec<_> = (0..(POOL_LIMIT / class + 8))
            .map(|_| take(class).0)
            .collect();
        for p in many {
            // SAFETY: each came from `take(class)`.
            unsafe { give(p, class) };
        }
        assert!(pooled_bytes() <= POOL_LIMIT);
    }
}
