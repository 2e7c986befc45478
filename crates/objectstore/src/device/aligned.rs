//! `AlignedBuf`: an owned, zero-initialised byte buffer aligned for `O_DIRECT` I/O.
//!
//! Direct I/O needs the buffer address, the length and the device offset aligned to the
//! logical block size. Every buffer here is aligned to [`BLOCK_SIZE`] (4 KiB) and its
//! capacity is a multiple of it. A buffer is moved into an I/O request and handed back
//! when the request completes, so the kernel never sees memory that Rust could free or
//! reuse while the I/O is in flight.

use std::alloc::{self, Layout};
use std::fmt;
use std::ptr::NonNull;

/// Alignment and granularity of all device I/O, in bytes.
pub const BLOCK_SIZE: usize = 4096;

/// An owned buffer whose address and capacity are multiples of [`BLOCK_SIZE`].
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    /// Bytes that are in use; always `<= cap`.
    len: usize,
    /// Allocated bytes; a multiple of `BLOCK_SIZE`, at least `BLOCK_SIZE`.
    cap: usize,
}

// SAFETY: the buffer uniquely owns its allocation, like a `Vec<u8>`.
unsafe impl Send for AlignedBuf {}
// SAFETY: shared access only hands out `&[u8]`.
unsafe impl Sync for AlignedBuf {}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (capacity rounded up to whole blocks).
    pub fn zeroed(len: usize) -> AlignedBuf {
        let cap = round_up(len.max(1), BLOCK_SIZE);
        let layout = Self::layout(cap);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        AlignedBuf { ptr, len, cap }
    }

    /// A buffer holding a copy of `data`, zero-padded to whole blocks.
    pub fn copy_from(data: &[u8]) -> AlignedBuf {
        AlignedBuf::with_data(data.len(), 0, data)
    }

    /// A buffer of `len` bytes holding `data` at `at` and zeros everywhere else (the
    /// padding to whole blocks included). Writes each byte once: no zeroing pass under
    /// the data, which matters for multi-megabyte writes.
    pub fn with_data(len: usize, at: usize, data: &[u8]) -> AlignedBuf {
        assert!(
            at + data.len() <= len,
            "AlignedBuf::with_data out of bounds"
        );
        let cap = round_up(len.max(1), BLOCK_SIZE);
        let layout = Self::layout(cap);
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc::alloc(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        let end = at + data.len();
        // SAFETY: every byte of the `cap`-byte allocation is written exactly once below
        // (zeros before `at`, the data, zeros after it) before any slice is formed.
        unsafe {
            std::ptr::write_bytes(ptr.as_ptr(), 0, at);
            std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr().add(at), data.len());
            std::ptr::write_bytes(ptr.as_ptr().add(end), 0, cap - end);
        }
        AlignedBuf { ptr, len, cap }
    }

    fn layout(cap: usize) -> Layout {
        match Layout::from_size_align(cap, BLOCK_SIZE) {
            Ok(layout) => layout,
            // Only reachable for capacities near usize::MAX, which no caller can allocate.
            Err(_) => alloc::handle_alloc_error(Layout::new::<[u8; BLOCK_SIZE]>()),
        }
    }

    /// Bytes in use.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are in use.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Allocated bytes (a multiple of [`BLOCK_SIZE`]).
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Changes the length in use; the new length must not exceed the capacity. Bytes
    /// beyond the old length keep whatever they held (zero for a fresh buffer).
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.cap, "AlignedBuf::set_len beyond capacity");
        self.len = len;
    }

    /// The bytes in use.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is valid for `cap >= len` initialised bytes.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The bytes in use, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is valid for `cap >= len` initialised bytes and uniquely owned.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Raw pointer for the kernel; valid until the buffer is dropped.
    pub(crate) fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with exactly this layout.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.cap)) }
    }
}

impl AsRef<[u8]> for AlignedBuf {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

/// `x` rounded up to a multiple of `to` (a power of two or any positive value).
pub fn round_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_data_zeroes_around_the_data() {
        let buf = AlignedBuf::with_data(10_000, 4090, b"abcdefghij");
        assert_eq!(buf.len(), 10_000);
        assert_eq!(buf.capacity(), 3 * BLOCK_SIZE);
        assert!(buf.as_slice()[..4090].iter().all(|&b| b == 0));
        assert_eq!(&buf.as_slice()[4090..4100], b"abcdefghij");
        assert!(buf.as_slice()[4100..].iter().all(|&b| b == 0));
    }

    #[test]
    fn alignment_and_padding() {
        let buf = AlignedBuf::copy_from(b"hello");
        assert_eq!(buf.as_slice(), b"hello");
        assert_eq!(buf.capacity(), BLOCK_SIZE);
        assert_eq!(buf.ptr.as_ptr() as usize % BLOCK_SIZE, 0);
        let big = AlignedBuf::zeroed(3 * BLOCK_SIZE + 1);
        assert_eq!(big.capacity(), 4 * BLOCK_SIZE);
        assert!(big.as_slice().iter().all(|&b| b == 0));
    }
}
