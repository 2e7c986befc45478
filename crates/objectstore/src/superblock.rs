//! The superblock: the first block of every Cuttle data device, identifying it.
//!
//! On-disk layout (format version 1), all integers little-endian, in block 0:
//!
//! ```text
//! offset  size  field
//!      0     8  magic "CUTTLEDV"
//!      8     4  format version (1)
//!     12     4  block size (4096)
//!     16     8  device size in bytes at mkfs
//!     24     4  OSD id
//!     28    16  device uuid (the OSD's identity)
//!     44    16  cluster fsid
//!     60     8  first byte of the data area (1 MiB; the rest of the first MiB is reserved)
//!     68     8  mkfs time, seconds since the Unix epoch
//!     76     4  crc32c of bytes 0..76
//! ```
//!
//! The same record is stored in the metadata database, so a database paired with the
//! wrong device is refused.

use std::path::Path;

use uuid::Uuid;

use crate::device::BLOCK_SIZE;
use crate::error::{StoreError, StoreResult};

/// Magic bytes at offset 0.
pub const MAGIC: &[u8; 8] = b"CUTTLEDV";
/// On-disk format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Start of the data area: the first MiB is reserved for the superblock.
pub const DATA_START: u64 = 1 << 20;
const ENCODED_LEN: usize = 80;

/// Identity and geometry of a data device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Format version.
    pub version: u32,
    /// Block size (4096).
    pub block_size: u32,
    /// Device size at mkfs.
    pub device_size: u64,
    /// OSD that owns the device.
    pub osd_id: u32,
    /// The device's own uuid.
    pub device_uuid: Uuid,
    /// Cluster the device belongs to.
    pub fsid: Uuid,
    /// First byte of the data area.
    pub data_start: u64,
    /// mkfs time (Unix seconds).
    pub created_unix: u64,
}

impl Superblock {
    /// Serialises into one block-sized buffer (zero-padded).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; BLOCK_SIZE];
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.block_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.device_size.to_le_bytes());
        b[24..28].copy_from_slice(&self.osd_id.to_le_bytes());
        b[28..44].copy_from_slice(self.device_uuid.as_bytes());
        b[44..60].copy_from_slice(self.fsid.as_bytes());
        b[60..68].copy_from_slice(&self.data_start.to_le_bytes());
        b[68..76].copy_from_slice(&self.created_unix.to_le_bytes());
        let crc = crc32c::crc32c(&b[0..76]);
        b[76..80].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Parses block 0 of the device at `path`.
    pub fn decode(path: &Path, b: &[u8]) -> StoreResult<Superblock> {
        let bad = |reason| StoreError::BadSuperblock {
            path: path.to_path_buf(),
            reason,
        };
        if b.len() < ENCODED_LEN || &b[0..8] != MAGIC {
            return Err(StoreError::NotFormatted {
                path: path.to_path_buf(),
            });
        }
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(StoreError::UnsupportedFormat {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if crc32c::crc32c(&b[0..76]) != u32_at(76) {
            return Err(bad("checksum mismatch"));
        }
        let uuid_at = |o: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[o..o + 16]);
            Uuid::from_bytes(a)
        };
        let sb = Superblock {
            version,
            block_size: u32_at(12),
            device_size: u64_at(16),
            osd_id: u32_at(24),
            device_uuid: uuid_at(28),
            fsid: uuid_at(44),
            data_start: u64_at(60),
            created_unix: u64_at(68),
        };
        if sb.block_size as usize != BLOCK_SIZE {
            return Err(bad("unsupported block size"));
        }
        if sb.data_start != DATA_START || sb.device_size <= sb.data_start {
            return Err(bad("inconsistent geometry"));
        }
        Ok(sb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            version: FORMAT_VERSION,
            block_size: BLOCK_SIZE as u32,
            device_size: 1 << 30,
            osd_id: 7,
            device_uuid: Uuid::from_u128(1),
            fsid: Uuid::from_u128(2),
            data_start: DATA_START,
            created_unix: 1_700_000_000,
        }
    }

    #[test]
    fn round_trip() {
        let sb = sample();
        assert_eq!(
            Superblock::decode(Path::new("x"), &sb.encode()).ok(),
            Some(sb)
        );
    }

    #[test]
    fn rejects_foreign_damaged_and_future_blocks() {
        let p = Path::new("dev");
        assert!(matches!(
            Superblock::decode(p, &[0u8; 4096]),
            Err(StoreError::NotFormatted { .. })
        ));
        let mut b = sample().encode();
        b[30] ^= 1;
        assert!(matches!(
            Superblock::decode(p, &b),
            Err(StoreError::BadSuperblock { .. })
        ));
        let mut future = sample();
        future.version = 2;
        assert!(matches!(
            Superblock::decode(p, &future.encode()),
            Err(StoreError::UnsupportedFormat { found: 2, .. })
        ));
    }
}
