//! `AlignedBuf`: an owned byte buffer aligned for `O_DIRECT` I/O.
//!
//! Direct I/O needs the buffer address, the length and the device offset aligned to the
//! logical block size. Every buffer here is aligned to [`BLOCK_SIZE`] (4 KiB) and its
//! capacity is a multiple of it. A buffer is moved into an I/O request and handed back
//! when the request completes, so the kernel never sees memory that Rust could free or
//! reuse while the I/O is in flight. Buffers of 64 KiB and more are recycled through
//! `pool` (allocating them afresh each time cost page faults on every big write).

use std::fmt;
use std::ptr::NonNull;

use super::pool;

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
    /// A zeroed buffer of `len` bytes (whole blocks: the padding is zero too).
    pub fn zeroed(len: usize) -> AlignedBuf {
        let (ptr, cap, fresh) = Self::allocate(len);
        if !fresh {
            // SAFETY: `ptr` is valid for `cap >= round_up(len)` bytes, uniquely owned.
            unsafe { std::ptr::write_bytes(ptr.as_ptr(), 0, Self::padded(len)) };
        }
        AlignedBuf { ptr, len, cap }
    }

    /// A buffer of `len` bytes for a device read to fill: its contents before the read
    /// are unspecified (a recycled buffer is not zeroed first, which would be a wasted
    /// pass over multi-megabyte reads).
    pub fn for_read(len: usize) -> AlignedBuf {
        let (ptr, cap, _) = Self::allocate(len);
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
        let (ptr, cap, fresh) = Self::allocate(len);
        let end = at + data.len();
        let padded = Self::padded(len);
        // SAFETY: `ptr` is valid for `cap >= padded >= end` bytes and uniquely owned.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), ptr.as_ptr().add(at), data.len());
            if !fresh {
                std::ptr::write_bytes(ptr.as_ptr(), 0, at);
                std::ptr::write_bytes(ptr.as_ptr().add(end), 0, padded - end);
            }
        }
        AlignedBuf { ptr, len, cap }
    }

    /// An allocation for `len` bytes from the pool: pointer, capacity (whole blocks, at
    /// least one), and whether it is fresh (all zeros). Every byte is initialised.
    fn allocate(len: usize) -> (NonNull<u8>, usize, bool) {
        let cap = pool::class_of(Self::padded(len));
        let (ptr, fresh) = pool::take(cap);
        (ptr, cap, fresh)
    }

    /// `len` rounded up to whole blocks, at least one block.
    fn padded(len: usize) -> usize {
        round_up(len.max(1), BLOCK_SIZE)
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
    /// beyond the old length keep whatever they held (zero for a fresh buffer, the last
    /// use's bytes for a recycled one).
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
        // SAFETY: `ptr` came from `pool::take(self.cap)` and is not used after this.
        unsafe { pool::give(self.ptr, self.cap) }
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
