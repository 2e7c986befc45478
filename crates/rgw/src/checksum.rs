//! Checksums of uploaded data: the ETag's MD5 (always), `Content-MD5`, and the
//! flexible checksums `x-amz-checksum-{crc32,crc32c,crc64nvme,sha1,sha256}` given in a
//! header or in an aws-chunked trailer (named by `x-amz-trailer`), or merely asked for
//! with `x-amz-sdk-checksum-algorithm`. All of them are computed as each piece of the
//! body is taken in (`data::ingest`, [`Hashers`]), the MD5 by the shared multi-lane
//! service (`hash_lanes`) beside it, and with it the SHA-256 of a signed payload when
//! the upload path checks that ([`crate::payload_hash`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http::HeaderMap;
use s3s::crypto::{Checksum as _, Crc32, Crc32c, Crc64Nvme, Md5, Sha1, Sha256};

use crate::hash_lanes::{Md5Stream, Sha256Stream};

/// A flexible checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// CRC-32 (IEEE).
    Crc32,
    /// CRC-32C (Castagnoli).
    Crc32c,
    /// CRC-64/NVME.
    Crc64Nvme,
    /// SHA-1.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl Alg {
    /// Every algorithm.
    pub const ALL: [Alg; 5] = [
        Alg::Crc32,
        Alg::Crc32c,
        Alg::Crc64Nvme,
        Alg::Sha1,
        Alg::Sha256,
    ];

    /// S3's name (`CRC32`...).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Crc32 => "CRC32",
            Alg::Crc32c => "CRC32C",
            Alg::Crc64Nvme => "CRC64NVME",
            Alg::Sha1 => "SHA1",
            Alg::Sha256 => "SHA256",
        }
    }

    /// The header carrying it (`x-amz-checksum-crc32`...).
    pub fn header(self) -> &'static str {
        match self {
            Alg::Crc32 => "x-amz-checksum-crc32",
            Alg::Crc32c => "x-amz-checksum-crc32c",
            Alg::Crc64Nvme => "x-amz-checksum-crc64nvme",
            Alg::Sha1 => "x-amz-checksum-sha1",
            Alg::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Parses S3's name, case-insensitively.
    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s.trim()))
    }

    /// Raw digest length.
    pub fn digest_len(self) -> usize {
        match self {
            Alg::Crc32 | Alg::Crc32c => 4,
            Alg::Crc64Nvme => 8,
            Alg::Sha1 => 20,
            Alg::Sha256 => 32,
        }
    }

    /// One-shot digest.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }

    /// The reflected polynomial and width (bits) of a CRC algorithm.
    fn crc_params(self) -> Option<(u64, u32)> {
        match self {
            Alg::Crc32 => Some((0xEDB8_8320, 32)),
            Alg::Crc32c => Some((0x82F6_3B78, 32)),
            Alg::Crc64Nvme => Some((0x9A6C_9329_AC4B_C9B5, 64)),
            Alg::Sha1 | Alg::Sha256 => None,
        }
    }

    /// Whether a whole-object checksum can be derived from part checksums (CRCs
    /// can; S3 offers `FULL_OBJECT` multipart checksums only for them).
    pub fn combinable(self) -> bool {
        self.crc_params().is_some()
    }

    /// The CRC of `A || B` from the raw big-endian CRCs of `A` and `B` and the length of
    /// `B` (`None` for non-CRC algorithms or wrong digest lengths).
    pub fn crc_combine(self, a: &[u8], b: &[u8], len_b: u64) -> Option<Vec<u8>> {
        let (poly, width) = self.crc_params()?;
        let n = (width / 8) as usize;
        if a.len() != n || b.len() != n {
            return None;
        }
        let read = |x: &[u8]| x.iter().fold(0u64, |acc, &v| (acc << 8) | u64::from(v));
        let out = crc_shift(read(a), len_b, poly, width) ^ read(b);
        Some(out.to_be_bytes()[8 - n..].to_vec())
    }
}

/// `a(x) * b(x) mod p(x)` for reflected CRC polynomials of `width` bits (zlib's
/// `multmodp`).
fn mult_mod_p(a: u64, mut b: u64, poly: u64, width: u32) -> u64 {
    let mut m = 1u64 << (width - 1);
    let mut p = 0;
    while m != 0 {
        if a & m != 0 {
            p ^= b;
            if a & (m - 1) == 0 {
                break;
            }
        }
        m >>= 1;
        b = if b & 1 != 0 { (b >> 1) ^ poly } else { b >> 1 };
    }
    p
}

/// A CRC (with all-ones init and final xor) advanced over `len` more bytes as if
/// they were zeros, before the second CRC is xored in: `x^(8 len) * crc mod p`.
fn crc_shift(crc: u64, len: u64, poly: u64, width: u32) -> u64 {
    // x^1, squared once per bit of 8 * len.
    let mut square = 1u64 << (width - 2);
    let mut factor = 1u64 << (width - 1); // x^0
    let mut bits = len;
    for _ in 0..3 {
        square = mult_mod_p(square, square, poly, width);
    }
    while bits != 0 {
        if bits & 1 != 0 {
            factor = mult_mod_p(square, factor, poly, width);
        }
        bits >>= 1;
        square = mult_mod_p(square, square, poly, width);
    }
    mult_mod_p(factor, crc, poly, width)
}

/// One running flexible checksum.
pub enum Hasher {
    /// CRC-32.
    Crc32(Crc32),
    /// CRC-32C.
    Crc32c(Crc32c),
    /// CRC-64/NVME.
    Crc64Nvme(Crc64Nvme),
    /// SHA-1.
    Sha1(Sha1),
    /// SHA-256.
    Sha256(Sha256),
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new(alg: Alg) -> Hasher {
        match alg {
            Alg::Crc32 => Hasher::Crc32(Crc32::new()),
            Alg::Crc32c => Hasher::Crc32c(Crc32c::new()),
            Alg::Crc64Nvme => Hasher::Crc64Nvme(Crc64Nvme::new()),
            Alg::Sha1 => Hasher::Sha1(Sha1::new()),
            Alg::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }

    /// Adds data.
    pub fn update(&mut self, d: &[u8]) {
        match self {
            Hasher::Crc32(h) => h.update(d),
            Hasher::Crc32c(h) => h.update(d),
            Hasher::Crc64Nvme(h) => h.update(d),
            Hasher::Sha1(h) => h.update(d),
            Hasher::Sha256(h) => h.update(d),
        }
    }

    /// The raw digest.
    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc32(h) => h.finalize().as_ref().to_vec(),
            Hasher::Crc32c(h) => h.finalize().as_ref().to_vec(),
            Hasher::Crc64Nvme(h) => h.finalize().as_ref().to_vec(),
            Hasher::Sha1(h) => h.finalize().as_ref().to_vec(),
            Hasher::Sha256(h) => h.finalize().as_ref().to_vec(),
        }
    }
}

/// What the client asked us to check or compute, read from the request headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// `Content-MD5`, decoded.
    pub content_md5: Option<Vec<u8>>,
    /// The flexible checksum algorithm to compute, if any.
    pub alg: Option<Alg>,
    /// Its expected value from a header (base64), when given up front.
    pub expected: Option<String>,
    /// The value comes in the aws-chunked trailer.
    pub in_trailer: bool,
}

/// Why the checksum headers are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WantedError {
    /// `Content-MD5` is not base64 of 16 bytes.
    #[error("the Content-MD5 you specified is not valid")]
    InvalidDigest,
    /// A checksum header is malformed or several are given.
    #[error("{0}")]
    InvalidRequest(String),
}

impl Wanted {
    /// Reads the checksum-related headers of a request.
    pub fn from_headers(h: &HeaderMap) -> Result<Wanted, WantedError> {
        let mut w = Wanted::default();
        if let Some(v) = h.get("content-md5") {
            let raw = v
                .to_str()
                .ok()
                .and_then(|s| B64.decode(s.trim()).ok())
                .filter(|d| d.len() == 16)
                .ok_or(WantedError::InvalidDigest)?;
            w.content_md5 = Some(raw);
        }
        for alg in Alg::ALL {
            if let Some(v) = h.get(alg.header()) {
                if w.alg.is_some() {
                    return Err(WantedError::InvalidRequest(
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.".into(),
                    ));
                }
                let s = v.to_str().unwrap_or_default().trim().to_string();
                let ok = B64.decode(&s).is_ok_and(|d| d.len() == alg.digest_len());
                if !ok {
                    return Err(WantedError::InvalidRequest(format!(
                        "Value for {} header is invalid.",
                        alg.header()
                    )));
                }
                w.alg = Some(alg);
                w.expected = Some(s);
            }
        }
        if w.alg.is_none()
            && let Some(t) = h.get("x-amz-trailer").and_then(|v| v.to_str().ok())
        {
            let t = t.trim().to_ascii_lowercase();
            if let Some(alg) = Alg::ALL.into_iter().find(|a| a.header() == t) {
                w.alg = Some(alg);
                w.in_trailer = true;
            }
        }
        if w.alg.is_none()
            && let Some(a) = h
                .get("x-amz-sdk-checksum-algorithm")
                .or_else(|| h.get("x-amz-checksum-algorithm"))
                .and_then(|v| v.to_str().ok())
        {
            w.alg = Some(Alg::parse(a).ok_or_else(|| {
                WantedError::InvalidRequest(format!("Checksum algorithm {a:?} is not supported."))
            })?);
        }
        Ok(w)
    }
}

/// What an upload's one pass hashes besides the MD5.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hashes {
    /// The flexible checksum.
    pub checksum: Option<Alg>,
    /// The payload's SHA-256 (to check against a signed `x-amz-content-sha256`).
    pub payload_sha256: bool,
    /// The body stream hashes what it yields as it is read (s3s checking the
    /// signatures of signed `aws-chunked` chunks, or a payload hash checked inline).
    pub body_hashes_itself: bool,
}

impl Hashes {
    /// The flexible checksum `alg` alone.
    pub fn checksum(alg: Option<Alg>) -> Hashes {
        Hashes {
            checksum: alg,
            ..Hashes::default()
        }
    }

    /// Whether reading the body costs about what copying it does: no SHA in the
    /// stream itself nor in the flexible checksum (the CRCs run at tens of GB/s per
    /// core; the MD5 and the payload's SHA-256 go to the lane services).
    pub fn light(&self) -> bool {
        !self.body_hashes_itself && !matches!(self.checksum, Some(Alg::Sha1 | Alg::Sha256))
    }
}

/// The hashers of one upload: MD5 for the ETag plus the wanted flexible checksum (and
/// the payload's SHA-256 when asked).
pub struct Hashers {
    md5: Md5Stream,
    flex: Option<(Alg, Hasher)>,
    payload: Option<Sha256Stream>,
}

/// Finished digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// MD5, raw.
    pub md5: [u8; 16],
    /// Flexible checksum (algorithm, raw digest).
    pub flex: Option<(Alg, Vec<u8>)>,
    /// The payload's SHA-256, raw, when asked.
    pub payload_sha256: Option<[u8; 32]>,
}

impl Digests {
    /// The MD5 as a hex ETag (without quotes).
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }

    /// The flexible checksum in base64.
    pub fn flex_b64(&self) -> Option<(Alg, String)> {
        self.flex.as_ref().map(|(a, d)| (*a, B64.encode(d)))
    }
}

impl std::fmt::Debug for Hashers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hashers")
            .field("flex", &self.flex)
            .finish_non_exhaustive()
    }
}

impl Hashers {
    /// MD5 plus `hashes`.
    pub fn new(hashes: Hashes) -> Hashers {
        Hashers {
            md5: Md5Stream::new(),
            flex: hashes.checksum.map(|a| (a, Hasher::new(a))),
            payload: hashes.payload_sha256.then(Sha256Stream::new),
        }
    }

    /// MD5 of a buffer.
    pub fn md5_of(d: &[u8]) -> [u8; 16] {
        Md5::checksum(d)
    }

    /// Adds the next bytes of the body to the flexible checksum (here, at once).
    pub fn update_checksum(&mut self, d: &[u8]) {
        if let Some((_, h)) = &mut self.flex {
            h.update(d);
        }
    }

    /// Whether [`Hashers::update_lanes`] with `len` more bytes would block its thread
    /// until a lane service catches up (see `hash_lanes`).
    pub fn lanes_would_wait(&mut self, len: usize) -> bool {
        self.md5.would_wait(len) || self.payload.as_mut().is_some_and(|p| p.would_wait(len))
    }

    /// Adds the next bytes of the body to the MD5 (and the payload's SHA-256), through
    /// the shared lane services (`hash_lanes`), which hash them while the upload goes
    /// on. These and the flexible checksum each see the body in order, at their own
    /// pace. May block (see [`Hashers::lanes_would_wait`]).
    pub fn update_lanes(&mut self, d: Bytes) {
        if let Some(p) = &mut self.payload {
            p.update(d.clone());
        }
        self.md5.update(d);
    }

    /// Whether the lane services still hold some of the data handed to
    /// [`Hashers::update_lanes`] (see [`Hashers::settle_lanes`]).
    pub fn lanes_hold_data(&self) -> bool {
        self.md5.holds_data() || self.payload.as_ref().is_some_and(|p| p.holds_data())
    }

    /// Waits until the lane services have hashed everything handed in, so none of
    /// that data stays referenced. Blocks its thread.
    pub fn settle_lanes(&mut self) {
        if let Some(p) = &mut self.payload {
            p.settle_all();
        }
        self.md5.settle_all();
    }

    /// The digests.
    pub fn finish(self) -> Digests {
        Digests {
            payload_sha256: self.payload.map(Sha256Stream::finish),
            md5: self.md5.finish(),
            flex: self.flex.map(|(a, h)| (a, h.finish())),
        }
    }
}

/// Base64 helpers shared by the S3 layer.
pub fn b64(d: &[u8]) -> String {
    B64.encode(d)
}

/// Decodes base64.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodies_without_sha_work_are_light() {
        for alg in [
            None,
            Some(Alg::Crc32),
            Some(Alg::Crc32c),
            Some(Alg::Crc64Nvme),
        ] {
            assert!(Hashes::checksum(alg).light(), "{alg:?}");
            // The payload's SHA-256 goes to the lane service, not the reader.
            let signed = Hashes {
                payload_sha256: true,
                ..Hashes::checksum(alg)
            };
            assert!(signed.light(), "{alg:?}");
            let self_hashing = Hashes {
                body_hashes_itself: true,
                ..Hashes::checksum(alg)
            };
            assert!(!self_hashing.light(), "{alg:?}");
        }
        for alg in [Alg::Sha1, Alg::Sha256] {
            assert!(!Hashes::checksum(Some(alg)).light(), "{alg:?}");
        }
    }

    #[test]
    fn crcs_combine_like_the_concatenation() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for alg in [Alg::Crc32, Alg::Crc32c, Alg::Crc64Nvme] {
            for cut in [0, 1, 7, 4096, 9_999, 10_000] {
                let (a, b) = data.split_at(cut);
                let combined = alg
                    .crc_combine(&alg.digest(a), &alg.digest(b), b.len() as u64)
                    .expect("a CRC");
                assert_eq!(combined, alg.digest(&data), "{alg:?} at {cut}");
            }
        }
        assert!(Alg::Sha256.crc_combine(&[0; 32], &[0; 32], 1).is_none());
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn known_digests() {
        // "hello world"
        assert_eq!(b64(&Alg::Crc32.digest(b"hello world")), "DUoRhQ==");
        assert_eq!(b64(&Alg::Crc32c.digest(b"hello world")), "yZRlqg==");
        assert_eq!(
            b64(&Alg::Sha256.digest(b"hello world")),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        // The two see the same bytes, cut differently.
        let mut h = Hashers::new(Hashes {
            checksum: Some(Alg::Sha1),
            payload_sha256: true,
            ..Hashes::default()
        });
        h.update_checksum(b"hello ");
        h.update_lanes(Bytes::from_static(b"hel"));
        h.update_checksum(b"world");
        h.update_lanes(Bytes::from_static(b"lo world"));
        let d = h.finish();
        assert_eq!(d.etag(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(
            d.payload_sha256.map(hex::encode).as_deref(),
            Some("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        );
        assert_eq!(
            d.flex_b64().map(|x| x.1),
            Some("Kq5sNclPz7QV2+lfQIuc6R7oRu0=".into())
        );
    }

    #[test]
    fn wanted_reads_headers_trailers_and_algorithms() {
        let w = Wanted::from_headers(&headers(&[("x-amz-checksum-crc32", "DUoRhQ==")]));
        assert_eq!(w.as_ref().ok().and_then(|w| w.alg), Some(Alg::Crc32));
        let w = Wanted::from_headers(&headers(&[("x-amz-trailer", "x-amz-checksum-crc32c")]));
        assert!(
            w.as_ref()
                .is_ok_and(|w| w.in_trailer && w.alg == Some(Alg::Crc32c))
        );
        let w = Wanted::from_headers(&headers(&[("x-amz-sdk-checksum-algorithm", "sha256")]));
        assert_eq!(w.ok().and_then(|w| w.alg), Some(Alg::Sha256));
        assert_eq!(
            Wanted::from_headers(&headers(&[("content-md5", "nope")])),
            Err(WantedError::InvalidDigest)
        );
        assert!(Wanted::from_headers(&headers(&[("x-amz-checksum-crc32", "AAAA")])).is_err());
        assert!(
            Wanted::from_headers(&headers(&[
                ("x-amz-checksum-crc32", "DUoRhQ=="),
                ("x-amz-checksum-crc32c", "yZRlqg==")
            ]))
            .is_err()
        );
    }
}
