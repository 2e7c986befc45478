//! S3-shaped answers to requests hyper cannot parse.
//!
//! hyper answers an unparseable request head (a non-numeric `Content-Length`, a
//! garbage request line, a head over the buffer limit) itself, before any service
//! runs, with a bare `400`/`414`/`431` and no body, then closes the connection. S3
//! clients expect every error as `<Error><Code>…` with an `x-amz-request-id`, so
//! [`S3ErrorIo`] wraps a connection and rewrites exactly those automatic responses:
//! a response head that starts the write, carries `connection: close` and
//! `content-length: 0` and no `x-amz-request-id` (every response of ours has one).
//! A head too large becomes S3's `400 RequestHeaderSectionTooLarge`; anything else
//! is `400 BadRequest`, as S3 answers requests it cannot parse.

use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose automatic hyper error responses are rewritten.
#[derive(Debug)]
pub struct S3ErrorIo<I> {
    inner: I,
    /// A rewritten response still being written, how much of it is written, and
    /// how many bytes of hyper's response it stands for.
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<I> S3ErrorIo<I> {
    /// Wraps a connection.
    pub fn new(inner: I) -> S3ErrorIo<I> {
        S3ErrorIo {
            inner,
            pending: None,
        }
    }
}

/// Longest head of hyper's automatic error responses looked at (theirs are ~100 bytes:
/// status line, `connection`, `content-length`, `date`).
const AUTOMATIC_HEAD_MAX: usize = 512;

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The S3 response to send instead of `buf`, if `buf` is one of hyper's automatic
/// error responses.
pub fn rewrite(buf: &[u8]) -> Option<Vec<u8>> {
    // Cheap checks first: every write of a response passes here, bodies of many MiB
    // included, and hyper's error heads are short and written whole.
    if buf.len() > AUTOMATIC_HEAD_MAX
        || !buf.starts_with(b"HTTP/1.1 4")
        || !buf.ends_with(b"\r\n\r\n")
    {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if end != buf.len() {
        return None;
    }
    let head = &buf[..end];
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    if !matches!(status, b"400" | b"414" | b"431")
        || !contains(head, b"\r\nconnection: close\r\n")
        || !contains(head, b"\r\ncontent-length: 0\r\n")
        || contains(head, b"x-amz-request-id")
    {
        return None;
    }
    let (code, message) = if status == b"431" {
        (
            "RequestHeaderSectionTooLarge",
            "Your request header section exceeds the maximum allowed size.",
        )
    } else {
        (
            "BadRequest",
            "An error occurred when parsing the HTTP request.",
        )
    };
    let id = crate::names::new_request_id();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <Error><Code>{code}</Code><Message>{message}</Message><RequestId>{id}</RequestId></Error>"
    );
    let date = std::str::from_utf8(head).ok()?.split("\r\n").find_map(|l| {
        l.split_once(':')
            .filter(|(k, _)| k.eq_ignore_ascii_case("date"))
            .map(|(_, v)| v.trim().to_string())
    });
    let mut out = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/xml\r\n\
         x-amz-request-id: {id}\r\nx-amz-id-2: {id}\r\nserver: Cuttle\r\n\
         connection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(d) = date {
        out.push_str(&format!("date: {d}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    tracing::debug!(request = %id, code, "unparseable request");
    Some(out.into_bytes())
}

impl<I: AsyncWrite + Unpin> S3ErrorIo<I> {
    /// Writes the pending rewritten response; `Ready(n)` once all of it is out,
    /// with `n` the length of the response it replaced.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        while let Some((bytes, written, replaced)) = &mut self.pending {
            if *written == bytes.len() {
                let n = *replaced;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for S3ErrorIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for S3ErrorIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.pending.is_none()
            && let Some(r) = rewrite(buf)
        {
            self.pending = Some((r, 0, buf.len()));
        }
        if self.pending.is_some() {
            return self.drain(cx);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.pending.is_none() {
            let live: Vec<&IoSlice<'_>> = bufs.iter().filter(|b| !b.is_empty()).collect();
            if let [only] = live.as_slice()
                && let Some(r) = rewrite(only)
            {
                self.pending = Some((r, 0, only.len()));
            }
        }
        if self.pending.is_some() {
            return self.drain(cx);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_400: &[u8] =
        b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: Wed, 25 Nov 2026 04:53:28 GMT\r\n\r\n";

    #[test]
    fn hyper_errors_become_s3_errors() {
        let out = String::from_utf8(rewrite(HYPER_400).expect("rewritten")).expect("utf8");
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(out.contains("\r\nx-amz-request-id: "));
        assert!(out.contains("date: Wed, 25 Nov 2026 04:53:28 GMT\r\n"));
        let (head, body) = out.split_once("\r\n\r\n").expect("head");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.contains("<Error><Code>BadRequest</Code>"));

        let big = b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let out = String::from_utf8(rewrite(big).expect("rewritten")).expect("utf8");
        assert!(out.starts_with("HTTP/1.1 400 "));
        assert!(out.contains("<Code>RequestHeaderSectionTooLarge</Code>"));
    }

    #[test]
    fn bodies_and_long_heads_pass_through() {
        let mut body = vec![b'x'; 4 << 20];
        body.extend_from_slice(HYPER_400);
        assert!(rewrite(&body).is_none(), "a body ending like an error head");
        assert!(rewrite(&HYPER_400[..HYPER_400.len() - 2]).is_none());
    }

    #[test]
    fn our_own_responses_pass_through() {
        let ours = b"HTTP/1.1 400 Bad Request\r\nx-amz-request-id: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(ours).is_none());
        let ok = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        assert!(rewrite(ok).is_none());
        let with_body = [HYPER_400, b"x"].concat();
        assert!(rewrite(&with_body).is_none());
    }

    #[tokio::test]
    async fn writes_replace_the_whole_response() {
        use tokio::io::AsyncWriteExt;
        let mut io = S3ErrorIo::new(Vec::new());
        io.write_all(HYPER_400).await.expect("write");
        io.write_all(b"more").await.expect("write");
        let out = String::from_utf8(io.inner).expect("utf8");
        assert!(out.contains("<Code>BadRequest</Code>"));
        assert!(out.ends_with("</Error>more"));
    }
}
