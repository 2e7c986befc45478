//! The payload hash a SigV4 request signs (`x-amz-content-sha256`), checked for the
//! requests the front layer authenticates itself ([`crate::front`]): S3 refuses a body
//! whose SHA-256 is not the signed one (`XAmzContentSHA256Mismatch`), and nothing of it
//! may become visible.
//!
//! Every such body is wrapped in a [`CheckedBody`], which hashes what passes through
//! it with the one-stream code and fails the stream at its end on a mismatch, the way
//! s3s checks the bodies it authenticates. The upload path (PutObject, UploadPart)
//! takes the check over before it reads a byte ([`PayloadCheck::claim`]): it hashes
//! each stripe in the SHA-256 lane service ([`crate::hash_lanes`]) beside the MD5, off
//! the reactor threads, and compares before the object is committed.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use sha2::Digest as _;

/// No one has hashed a byte yet.
const FRESH: u8 = 0;
/// The body stream hashes.
const INLINE: u8 = 1;
/// The upload path hashes.
const CLAIMED: u8 = 2;

/// The signed SHA-256 of a request's body and who checks it.
#[derive(Debug)]
pub struct PayloadCheck {
    expected: [u8; 32],
    owner: AtomicU8,
    /// The body stream found a mismatch (whatever error its reader made of it).
    mismatched: AtomicBool,
}

/// The body's SHA-256 is not the signed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Sha256Mismatch: the body's SHA-256 is not the x-amz-content-sha256 signed")]
pub struct Sha256Mismatch;

impl PayloadCheck {
    /// A check for `expected`, the 64 hex digits of `x-amz-content-sha256`; `None` for
    /// anything else (the unsigned and streaming forms).
    pub fn from_header(value: &str) -> Option<Arc<PayloadCheck>> {
        let mut expected = [0u8; 32];
        hex::decode_to_slice(value, &mut expected).ok()?;
        Some(Arc::new(PayloadCheck {
            expected,
            owner: AtomicU8::new(FRESH),
            mismatched: AtomicBool::new(false),
        }))
    }

    /// The check a request's headers ask for: its signed `x-amz-content-sha256`, when
    /// that is 64 hex digits.
    pub fn of(headers: &http::HeaderMap) -> Option<Arc<PayloadCheck>> {
        headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .and_then(PayloadCheck::from_header)
    }

    /// Takes the check over from the body stream: the caller hashes the whole body
    /// and compares with [`PayloadCheck::verify`]. `None` once the stream has started
    /// hashing (the check then stays the stream's).
    pub fn claim(self: &Arc<Self>) -> Option<Claimed> {
        self.owner
            .compare_exchange(FRESH, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            .then(|| Claimed(self.clone()))
    }

    /// Whether the body stream failed the check. s3s reports a failed body of an
    /// operation it reads whole (an XML body) as `InternalError`; the front layer
    /// answers `XAmzContentSHA256Mismatch` instead, as S3 does.
    pub fn body_mismatched(&self) -> bool {
        self.mismatched.load(Ordering::Acquire)
    }

    /// Whether the stream hashes: it does unless the check was claimed first.
    fn stream_hashes(&self) -> bool {
        match self
            .owner
            .compare_exchange(FRESH, INLINE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(owner) => owner == INLINE,
        }
    }
}

/// A check the upload path took over.
#[derive(Debug, Clone)]
pub struct Claimed(Arc<PayloadCheck>);

impl Claimed {
    /// Compares the body's digest with the signed one.
    pub fn verify(&self, digest: &[u8; 32]) -> Result<(), Sha256Mismatch> {
        if *digest == self.0.expected {
            Ok(())
        } else {
            Err(Sha256Mismatch)
        }
    }
}

/// A request body whose SHA-256 is checked as it passes (unless the check is claimed).
pub struct CheckedBody<S> {
    inner: S,
    check: Arc<PayloadCheck>,
    /// `None` until the first poll decides who hashes, then while the stream does.
    hasher: Option<sha2::Sha256>,
    decided: bool,
    finished: bool,
}

impl<S> std::fmt::Debug for CheckedBody<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedBody")
            .field("check", &self.check)
            .field("hashing", &self.hasher.is_some())
            .finish_non_exhaustive()
    }
}

impl<S> CheckedBody<S> {
    /// `inner`, checked against `check`.
    pub fn new(inner: S, check: Arc<PayloadCheck>) -> CheckedBody<S> {
        CheckedBody {
            inner,
            check,
            hasher: None,
            decided: false,
            finished: false,
        }
    }
}

impl<S, E> Stream for CheckedBody<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: From<Sha256Mismatch>,
{
    type Item = Result<Bytes, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Ready(None);
        }
        if !this.decided {
            this.decided = true;
            if this.check.stream_hashes() {
                this.hasher = Some(sha2::Sha256::new());
            }
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(data))) => {
                if let Some(h) = &mut this.hasher {
                    h.update(&data);
                }
                Poll::Ready(Some(Ok(data)))
            }
            Poll::Ready(None) => {
                this.finished = true;
                let digest = this.hasher.take().map(|h| <[u8; 32]>::from(h.finalize()));
                if digest.is_some_and(|d| d != this.check.expected) {
                    this.check.mismatched.store(true, Ordering::Release);
                    return Poll::Ready(Some(Err(E::from(Sha256Mismatch))));
                }
                Poll::Ready(None)
            }
            other => other,
        }
    }
}

impl<S> s3s::stream::ByteStream for CheckedBody<S>
where
    S: s3s::stream::ByteStream<Item = Result<Bytes, s3s::StdError>> + Unpin,
{
    fn remaining_length(&self) -> s3s::stream::RemainingLength {
        self.inner.remaining_length()
    }
}

/// `body`, checked by `check` (the request's [`PayloadCheck::of`]), with the check put
/// in `extensions` for the upload path to claim; `body` itself without a check.
pub fn checked(
    check: Option<Arc<PayloadCheck>>,
    extensions: &mut http::Extensions,
    body: s3s::Body,
) -> s3s::Body {
    let Some(check) = check else {
        return body;
    };
    extensions.insert(check.clone());
    let stream: s3s::stream::DynByteStream = Box::pin(CheckedBody::new(body, check));
    s3s::Body::from(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[derive(Debug, PartialEq)]
    enum TestError {
        Mismatch,
    }

    impl From<Sha256Mismatch> for TestError {
        fn from(_: Sha256Mismatch) -> Self {
            TestError::Mismatch
        }
    }

    fn body(parts: &[&'static [u8]]) -> impl Stream<Item = Result<Bytes, TestError>> + Unpin {
        futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    const HELLO_WORLD: &str = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

    async fn collect<S: Stream<Item = Result<Bytes, TestError>> + Unpin>(
        s: S,
    ) -> Vec<Result<Bytes, TestError>> {
        s.collect().await
    }

    #[tokio::test]
    async fn a_body_with_the_signed_hash_passes_unchanged() {
        let check = PayloadCheck::from_header(HELLO_WORLD).expect("hex");
        let out = collect(CheckedBody::new(body(&[b"hello ", b"world"]), check)).await;
        assert_eq!(
            out,
            vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world"))
            ]
        );
    }

    #[tokio::test]
    async fn a_body_with_another_hash_fails_at_its_end() {
        let check = PayloadCheck::from_header(HELLO_WORLD).expect("hex");
        let out = collect(CheckedBody::new(
            body(&[b"hello ", b"World"]),
            check.clone(),
        ))
        .await;
        assert_eq!(out.len(), 3);
        assert_eq!(out[2], Err(TestError::Mismatch));
        assert!(check.body_mismatched());
    }

    #[tokio::test]
    async fn a_claimed_check_is_left_to_the_claimer() {
        let check = PayloadCheck::from_header(HELLO_WORLD).expect("hex");
        let claimed = check.claim().expect("fresh");
        let out = collect(CheckedBody::new(body(&[b"tampered"]), check.clone())).await;
        assert_eq!(out, vec![Ok(Bytes::from_static(b"tampered"))]);
        let digest: [u8; 32] = sha2::Sha256::digest(b"tampered").into();
        assert_eq!(claimed.verify(&digest), Err(Sha256Mismatch));
        let digest: [u8; 32] = sha2::Sha256::digest(b"hello world").into();
        assert_eq!(claimed.verify(&digest), Ok(()));
    }

    #[tokio::test]
    async fn a_check_cannot_be_claimed_once_the_stream_hashes() {
        let check = PayloadCheck::from_header(HELLO_WORLD).expect("hex");
        let mut s = CheckedBody::new(body(&[b"hello ", b"world"]), check.clone());
        assert!(s.next().await.is_some());
        assert!(check.claim().is_none());
        assert_eq!(s.next().await, Some(Ok(Bytes::from_static(b"world"))));
        assert_eq!(s.next().await, None);
    }

    #[test]
    fn only_sixty_four_hex_digits_make_a_check() {
        assert!(PayloadCheck::from_header("UNSIGNED-PAYLOAD").is_none());
        assert!(PayloadCheck::from_header("STREAMING-UNSIGNED-PAYLOAD-TRAILER").is_none());
        assert!(PayloadCheck::from_header(&HELLO_WORLD[..62]).is_none());
        assert!(PayloadCheck::from_header(HELLO_WORLD).is_some());
    }
}
