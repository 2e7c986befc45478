//! Connections stay in step when a request body is answered without being read.
//!
//! A client that sends `Expect: 100-continue` holds the body back until it sees
//! `100 Continue` (hyper sends that when the body is first read). When the final
//! response comes first, as it does for every request refused before its body is
//! needed (a bad part number, a denied request, a missing bucket), the client may
//! never send the body (botocore does not) and may reuse the connection for its next
//! request. hyper writes such a response with no `Connection` header and only
//! afterwards, once the unread body is dropped, decides between draining the body
//! and closing. If the client's next request has already arrived by then, hyper
//! takes its first `Content-Length` bytes for the old body and parses the rest
//! (`UT /bucket/key?partNumber=…`) as the next request, which then fails
//! (`SignatureDoesNotMatch`, or any other error). The window is a scheduling
//! delay, so this shows only under load.
//!
//! RFC 9110 §10.1.1: a server that sends a final status before reading the whole
//! request content SHOULD indicate whether it will close the connection or keep
//! reading. [`track`] notes whether the body of such a request was read to its end;
//! if it was not, [`finish`] adds `Connection: close` to the response, so hyper
//! closes the connection right after it and the client does not reuse it. Requests
//! without the expectation always send their body before reading the response, so
//! hyper's own bounded drain keeps them in step; they are left alone.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body::{Frame, SizeHint};
use s3s::Body;

/// Whether a tracked request body has been read to its end.
#[derive(Debug, Clone)]
pub struct BodyRead(Arc<AtomicBool>);

impl BodyRead {
    /// True once every byte of the body has been read.
    pub fn complete(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Whether a request carries `Expect: 100-continue`.
pub fn expects_continue(headers: &HeaderMap) -> bool {
    headers.get_all(header::EXPECT).iter().any(|v| {
        v.to_str()
            .is_ok_and(|s| s.trim().eq_ignore_ascii_case("100-continue"))
    })
}

/// A body that records when it has been read to its end.
struct Tracked<B> {
    inner: B,
    read: Arc<AtomicBool>,
}

impl<B> http_body::Body for Tracked<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let ended = match &polled {
            Poll::Ready(None) => true,
            // A reader that stops after the declared length never sees `None`.
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            Poll::Ready(Some(Err(_))) | Poll::Pending => false,
        };
        if ended {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Prepares a request for the service: a non-empty body of a request that expects
/// `100 Continue` is tracked (the handle tells [`finish`] whether it was read);
/// any other request passes through unchanged.
pub fn track<B>(req: Request<B>) -> (Request<Body>, Option<BodyRead>)
where
    B: http_body::Body<Data = Bytes> + Into<Body> + Unpin + Send + Sync + 'static,
    s3s::StdError: From<B::Error>,
{
    if !expects_continue(req.headers()) || req.body().is_end_stream() {
        return (req.map(Into::into), None);
    }
    let read = Arc::new(AtomicBool::new(false));
    let handle = BodyRead(read.clone());
    let req = req.map(|inner| Body::http_body(Tracked { inner, read }));
    (req, Some(handle))
}

/// Marks a response `Connection: close` when it answers a tracked request whose body
/// was not read to its end (see the module documentation).
pub fn finish(resp: &mut Response<Body>, read: Option<&BodyRead>) {
    if read.is_some_and(|r| !r.complete()) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::convert::Infallible;

    use http_body_util::BodyExt;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    #[test]
    fn the_expectation_is_recognised_in_any_case() {
        let mut h = HeaderMap::new();
        assert!(!expects_continue(&h));
        h.insert(header::EXPECT, HeaderValue::from_static(" 100-Continue "));
        assert!(expects_continue(&h));
        h.insert(header::EXPECT, HeaderValue::from_static("something-else"));
        assert!(!expects_continue(&h));
    }

    fn request(expect: bool, body: &'static [u8]) -> Request<Body> {
        let mut b = Request::builder().method("PUT").uri("/b/k");
        if expect {
            b = b.header(header::EXPECT, "100-continue");
        }
        b.body(Body::from(Bytes::from_static(body)))
            .expect("request")
    }

    #[tokio::test]
    async fn only_unread_bodies_of_expecting_requests_close() {
        // Read to its end: the connection may stay open.
        let (req, read) = track(request(true, b"xyz"));
        let read = read.expect("tracked");
        assert!(!read.complete());
        let got = req.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&got[..], b"xyz");
        assert!(read.complete());
        let mut resp = Response::new(Body::empty());
        finish(&mut resp, Some(&read));
        assert!(resp.headers().get(header::CONNECTION).is_none());

        // Never read: closed.
        let (_req, read) = track(request(true, b"xyz"));
        let mut resp = Response::new(Body::empty());
        finish(&mut resp, read.as_ref());
        assert_eq!(
            resp.headers().get(header::CONNECTION),
            Some(&HeaderValue::from_static("close"))
        );

        // No expectation, or nothing to read: untouched.
        assert!(track(request(false, b"xyz")).1.is_none());
        assert!(track(request(true, b"")).1.is_none());
    }

    /// Serves one HTTP/1.1 connection with hyper as the gateway does. The service
    /// answers `400` to a `PUT /early` without reading its body, and hands that body
    /// to the test, which decides when it is dropped: when the connection task gets
    /// to run after the response is what decides between draining and closing, and
    /// the test holds the body to play the slow case deterministically. Any other
    /// request has its body read and is answered with its method and length.
    fn serve(
        io: DuplexStream,
    ) -> (
        tokio::task::JoinHandle<()>,
        tokio::sync::mpsc::UnboundedReceiver<Body>,
    ) {
        let (unread_tx, unread_rx) = tokio::sync::mpsc::unbounded_channel();
        let svc = service_fn(move |req: Request<Incoming>| {
            let unread_tx = unread_tx.clone();
            async move {
                let (req, read) = track(req);
                let mut resp = if req.uri().path() == "/early" {
                    let _ = unread_tx.send(req.into_body());
                    let mut r = Response::new(Body::from(Bytes::from_static(b"no")));
                    *r.status_mut() = http::StatusCode::BAD_REQUEST;
                    r
                } else {
                    let method = req.method().clone();
                    let n = match req.into_body().collect().await {
                        Ok(b) => b.to_bytes().len(),
                        Err(_) => usize::MAX,
                    };
                    Response::new(Body::from(format!("{method} read {n}")))
                };
                finish(&mut resp, read.as_ref());
                Ok::<_, Infallible>(resp)
            }
        });
        let task = tokio::spawn(async move {
            let _ = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(io), svc)
                .await;
        });
        (task, unread_rx)
    }

    /// Reads one response (head and a `content-length` body), or `None` at EOF.
    async fn response(io: &mut DuplexStream, buf: &mut Vec<u8>) -> Option<String> {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    let all = String::from_utf8_lossy(&buf[..end + 4 + len]).to_ascii_lowercase();
                    buf.drain(..end + 4 + len);
                    return Some(all);
                }
            }
            let mut chunk = [0u8; 4096];
            let n = io.read(&mut chunk).await.expect("read");
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    #[tokio::test]
    async fn an_early_answer_to_an_expecting_request_closes_the_connection() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let (task, mut unread) = serve(server);
        let mut buf = Vec::new();
        // The body is held back, as a client waiting for `100 Continue` does.
        client
            .write_all(
                b"PUT /early HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 1\r\n\r\n",
            )
            .await
            .expect("write");
        let first = response(&mut client, &mut buf).await.expect("a response");
        assert!(first.starts_with("http/1.1 400"), "{first}");
        assert!(first.contains("\r\nconnection: close\r\n"), "{first}");
        // A client that reused the connection anyway (as botocore does when the
        // response does not say `close`) sends its next request without the body;
        // only then does the server get round to dropping the unread body. Without
        // `close`, hyper takes the `P` for the missing body and serves `UT /late`.
        let _ = client
            .write_all(b"PUT /late HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nx")
            .await;
        drop(unread.recv().await);
        assert_eq!(response(&mut client, &mut buf).await, None);
        task.await.expect("server task");
    }

    #[tokio::test]
    async fn read_bodies_keep_the_connection() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let (task, mut unread) = serve(server);
        let mut buf = Vec::new();
        client
            .write_all(
                b"PUT /read HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 3\r\n\r\n",
            )
            .await
            .expect("write");
        let cont = response(&mut client, &mut buf).await.expect("100");
        assert!(cont.starts_with("http/1.1 100"), "{cont}");
        client.write_all(b"abc").await.expect("write");
        let first = response(&mut client, &mut buf).await.expect("a response");
        assert!(first.starts_with("http/1.1 200"), "{first}");
        assert!(first.ends_with("put read 3"), "{first}");
        assert!(!first.contains("connection: close"), "{first}");
        // An early answer without the expectation: the body was sent with the
        // request, hyper drains it, and the connection stays in step.
        client
            .write_all(b"PUT /early HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\nx")
            .await
            .expect("write");
        let second = response(&mut client, &mut buf).await.expect("a response");
        assert!(second.starts_with("http/1.1 400"), "{second}");
        assert!(!second.contains("connection: close"), "{second}");
        drop(unread.recv().await);
        client
            .write_all(b"PUT /read HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\nhi")
            .await
            .expect("write");
        let third = response(&mut client, &mut buf).await.expect("a response");
        assert!(third.ends_with("put read 2"), "{third}");
        drop(client);
        task.await.expect("server task");
    }
}
