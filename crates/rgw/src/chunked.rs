//! An `aws-chunked` body decoder for token-mode requests. Token requests skip s3s's
//! signature checks (the token alone authenticates), so s3s does not decode their
//! streaming bodies either; this decoder does, ignoring chunk signatures, and hands
//! the trailing headers (e.g. `x-amz-checksum-crc32`) over through [`Trailers`].
//!
//! ```text
//! <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;…]\r\n[<name>:<value>\r\n]*\r\n
//! ```

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use parking_lot::Mutex;

/// Longest chunk header or trailer line accepted.
const MAX_LINE: usize = 4096;

/// Trailing headers of a decoded body, available once the body is consumed.
#[derive(Debug, Clone, Default)]
pub struct Trailers(Arc<Mutex<Option<HeaderMap>>>);

impl Trailers {
    /// The trailers, once the body has been read to its end.
    pub fn get(&self) -> Option<HeaderMap> {
        self.0.lock().clone()
    }
}

/// A malformed chunked body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed aws-chunked body: {0}")]
pub struct ChunkedError(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Header,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

struct Decoder<S> {
    inner: S,
    buf: BytesMut,
    state: State,
    trailers: Trailers,
    collected: HeaderMap,
    eof: bool,
}

fn line(buf: &mut BytesMut) -> Result<Option<Bytes>, ChunkedError> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(at) => {
            let l = buf.split_to(at).freeze();
            buf.advance(2);
            Ok(Some(l))
        }
        None if buf.len() > MAX_LINE => Err(ChunkedError("line too long")),
        None => Ok(None),
    }
}

impl<S, E> Decoder<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    async fn more(&mut self) -> Result<(), ChunkedError> {
        match self.inner.next().await {
            Some(Ok(b)) => {
                self.buf.extend_from_slice(&b);
                Ok(())
            }
            Some(Err(_)) => Err(ChunkedError("the connection failed")),
            None => {
                self.eof = true;
                Ok(())
            }
        }
    }

    async fn next_data(&mut self) -> Result<Option<Bytes>, ChunkedError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Header => match line(&mut self.buf)? {
                    Some(l) => {
                        let text =
                            std::str::from_utf8(&l).map_err(|_| ChunkedError("chunk header"))?;
                        let size = text.split(';').next().unwrap_or_default().trim();
                        let n = u64::from_str_radix(size, 16)
                            .map_err(|_| ChunkedError("chunk size"))?;
                        self.state = if n == 0 {
                            State::Trailers
                        } else {
                            State::Data(n)
                        };
                    }
                    None if self.eof => {
                        return Err(ChunkedError("truncated before a chunk header"));
                    }
                    None => self.more().await?,
                },
                State::Data(rem) => {
                    if self.buf.is_empty() {
                        if self.eof {
                            return Err(ChunkedError("truncated inside a chunk"));
                        }
                        self.more().await?;
                        continue;
                    }
                    let n = usize::try_from(rem)
                        .unwrap_or(usize::MAX)
                        .min(self.buf.len());
                    let out = self.buf.split_to(n).freeze();
                    let left = rem - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data(left)
                    };
                    return Ok(Some(out));
                }
                State::DataEnd => {
                    if self.buf.len() >= 2 {
                        if &self.buf[..2] != b"\r\n" {
                            return Err(ChunkedError("chunk not followed by CRLF"));
                        }
                        self.buf.advance(2);
                        self.state = State::Header;
                    } else if self.eof {
                        return Err(ChunkedError("truncated after a chunk"));
                    } else {
                        self.more().await?;
                    }
                }
                State::Trailers => match line(&mut self.buf)? {
                    Some(l) if l.is_empty() => self.finish(),
                    Some(l) => {
                        let text = std::str::from_utf8(&l).map_err(|_| ChunkedError("trailer"))?;
                        let (k, v) = text.split_once(':').ok_or(ChunkedError("trailer"))?;
                        let k = HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes())
                            .map_err(|_| ChunkedError("trailer name"))?;
                        let v = HeaderValue::from_str(v.trim())
                            .map_err(|_| ChunkedError("trailer value"))?;
                        self.collected.insert(k, v);
                    }
                    // Some clients end without the final empty line.
                    None if self.eof && self.buf.is_empty() => self.finish(),
                    None if self.eof => return Err(ChunkedError("truncated trailer")),
                    None => self.more().await?,
                },
            }
        }
    }

    fn finish(&mut self) {
        *self.trailers.0.lock() = Some(std::mem::take(&mut self.collected));
        self.state = State::Done;
    }
}

/// Decodes an aws-chunked body; the trailers appear in the returned handle at its end.
pub fn decode<S, E>(
    body: S,
) -> (
    impl Stream<Item = Result<Bytes, ChunkedError>> + Send,
    Trailers,
)
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let trailers = Trailers::default();
    let d = Decoder {
        inner: body,
        buf: BytesMut::new(),
        state: State::Header,
        trailers: trailers.clone(),
        collected: HeaderMap::new(),
        eof: false,
    };
    let s = futures::stream::unfold(Some(d), |d| async move {
        let mut d = d?;
        match d.next_data().await {
            Ok(Some(b)) => Some((Ok(b), Some(d))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    (s, trailers)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(pieces: &[&'static [u8]]) -> (Result<Vec<u8>, ChunkedError>, Option<HeaderMap>) {
        let input = futures::stream::iter(
            pieces
                .iter()
                .map(|p| Ok::<_, std::convert::Infallible>(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        );
        let (s, t) = decode(input);
        let mut s = std::pin::pin!(s);
        let mut out = Vec::new();
        while let Some(c) = s.next().await {
            match c {
                Ok(b) => out.extend_from_slice(&b),
                Err(e) => return (Err(e), t.get()),
            }
        }
        (Ok(out), t.get())
    }

    #[tokio::test]
    async fn signed_and_unsigned_bodies_decode_with_trailers() {
        let (data, t) = run(&[
            b"5;chunk-signature=ab\r\nhel",
            b"lo\r\n6\r\n world\r\n0\r\n",
            b"x-amz-checksum-crc32:DUoRhQ==\r\n\r\n",
        ])
        .await;
        assert_eq!(data.as_deref().ok(), Some(&b"hello world"[..]));
        let t = t.unwrap_or_default();
        assert_eq!(
            t.get("x-amz-checksum-crc32").and_then(|v| v.to_str().ok()),
            Some("DUoRhQ==")
        );
        let (data, _) = run(&[b"0;chunk-signature=x\r\n\r\n"]).await;
        assert_eq!(data.ok(), Some(Vec::new()));
    }

    #[tokio::test]
    async fn truncated_or_malformed_bodies_fail() {
        assert!(run(&[b"5\r\nhel"]).await.0.is_err());
        assert!(run(&[b"zz\r\nhello\r\n"]).await.0.is_err());
        assert!(run(&[b"5\r\nhelloXX0\r\n\r\n"]).await.0.is_err());
        assert!(run(&[b"5\r\nhello\r\n"]).await.0.is_err());
    }
}
