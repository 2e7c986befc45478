//! A `Mutate` call whose one `write_full` op is sent as the caller's buffer, never
//! copied into an encoded message.
//!
//! tonic encodes a request into one buffer: a 4 MiB object's data is copied once more
//! than it is sent (6–8% of a gateway's cycles under 4 MiB PUTs, and a second 4 MiB
//! held while the write is in flight). Here the gRPC frame is built by hand: a small
//! prefix (the frame header, the request's other fields and the op's field headers,
//! encoded by prost) and the data as it is, each one HTTP/2 body frame that h2 writes
//! from the buffer itself. The bytes on the wire are a plain `MutateRequest` — fields
//! may come in any order in protobuf, and the data is its last — so the server's side
//! is the generated one. The reply is decoded as tonic's generated client does,
//! through [`tonic::codec::Streaming`], so errors (a trailers-only status, the
//! status in the trailers, the HTTP status) come out as the same [`Status`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use prost::Message;
use prost::bytes::{BufMut, Bytes, BytesMut};
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::codec::{BufferSettings, Streaming};
use tonic::codegen::http;
use tonic::{Code, Status};
use tonic_prost::ProstDecoder;

use crate::{MutateReply, MutateRequest};

/// The method's path.
const MUTATE_PATH: &str = "/cuttle.v1.Osd/Mutate";
/// `MutateRequest.ops`.
const OPS_FIELD: u32 = 4;
/// `ObjectOp.write_full`.
const WRITE_FULL_FIELD: u32 = 1;
/// Length of a gRPC frame header: the compression flag and the message length.
const FRAME_HEADER: usize = 5;

/// The encoded gRPC frame of `head` with one more op, `write_full` of `data`, as the
/// bytes before the data and the data. `head`'s own ops come first. `None` when the
/// message would be longer than `max_message` bytes.
pub fn write_full_frame(
    head: &MutateRequest,
    data: Bytes,
    max_message: usize,
) -> Option<[Bytes; 2]> {
    let data_len = data.len() as u64;
    let op_len = key_len(WRITE_FULL_FIELD) + encoded_len_varint(data_len) + data.len();
    let message =
        head.encoded_len() + key_len(OPS_FIELD) + encoded_len_varint(op_len as u64) + op_len;
    if message > max_message {
        return None;
    }
    let mut prefix = BytesMut::with_capacity(FRAME_HEADER + message - data.len());
    prefix.put_u8(0);
    prefix.put_u32(u32::try_from(message).ok()?);
    head.encode_raw(&mut prefix);
    encode_key(OPS_FIELD, WireType::LengthDelimited, &mut prefix);
    encode_varint(op_len as u64, &mut prefix);
    encode_key(WRITE_FULL_FIELD, WireType::LengthDelimited, &mut prefix);
    encode_varint(data_len, &mut prefix);
    Some([prefix.freeze(), data])
}

/// Calls `Osd/Mutate` on `service` with `head` plus a `write_full` of `data`, sending
/// `data` without copying it. Replies of at most `max_message` bytes are decoded.
pub async fn mutate_write_full<S>(
    service: &mut S,
    head: &MutateRequest,
    data: Bytes,
    max_message: usize,
) -> Result<tonic::Response<MutateReply>, Status>
where
    S: GrpcService<Body>,
    S::ResponseBody: http_body::Body<Data = Bytes> + Send + 'static,
    <S::ResponseBody as http_body::Body>::Error: Into<tonic::codegen::StdError>,
{
    let frames = write_full_frame(head, data, max_message).ok_or_else(|| {
        Status::out_of_range(format!(
            "the request is longer than the largest message ({max_message} bytes)"
        ))
    })?;
    let request = http::Request::builder()
        .method(http::Method::POST)
        .uri(MUTATE_PATH)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header(http::header::TE, "trailers")
        .body(Body::new(Frames(frames.into_iter().collect())))
        .map_err(|e| Status::internal(format!("building the request: {e}")))?;
    std::future::poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(|e| Status::from_error(e.into()))?;
    let response = service
        .call(request)
        .await
        .map_err(|e| Status::from_error(e.into()))?;
    let (parts, body) = response.into_parts();
    // A trailers-only reply carries its status in the headers.
    let trailers_only = Status::from_header_map(&parts.headers);
    if let Some(status) = &trailers_only
        && status.code() != Code::Ok
    {
        return Err(status.clone());
    }
    let mut reply = Streaming::new_response(
        ProstDecoder::<MutateReply>::new(BufferSettings::default()),
        body,
        parts.status,
        None,
        Some(max_message),
    );
    let message = reply
        .message()
        .await?
        .ok_or_else(|| Status::internal("Missing response message."))?;
    reply.trailers().await?;
    Ok(tonic::Response::new(message))
}

/// A request body of whole frames, sent as they are.
struct Frames(VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{ObjectOp, PgRef, object_op};

    fn head(ops: Vec<ObjectOp>) -> MutateRequest {
        MutateRequest {
            epoch: 300,
            pg: Some(PgRef { pool: 5, seed: 17 }),
            object: "inst.0".into(),
            ops,
        }
    }

    /// The hand-built frame decodes as the request prost would have encoded, data last
    /// (after any ops of the head), for empty, small and multi-byte-length data.
    #[test]
    fn the_frame_is_the_encoded_request() {
        let xattr = ObjectOp {
            op: Some(object_op::Op::RmXattr(Bytes::from_static(b"k"))),
        };
        for (ops, len) in [
            (vec![], 0),
            (vec![], 5),
            (vec![xattr], 300),
            (vec![], 1 << 20),
        ] {
            let data = Bytes::from((0..len).map(|i| (i * 7) as u8).collect::<Vec<u8>>());
            let h = head(ops);
            let [prefix, sent] = write_full_frame(&h, data.clone(), usize::MAX).unwrap();
            assert_eq!(sent.as_ptr(), data.as_ptr(), "the data is sent as given");
            let mut frame = prefix.to_vec();
            frame.extend_from_slice(&sent);
            assert_eq!(frame[0], 0, "uncompressed");
            let message = &frame[FRAME_HEADER..];
            let declared = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]);
            assert_eq!(declared as usize, message.len());
            let mut want = h.clone();
            want.ops.push(ObjectOp {
                op: Some(object_op::Op::WriteFull(data)),
            });
            assert_eq!(MutateRequest::decode(message).unwrap(), want);
            assert_eq!(message, want.encode_to_vec().as_slice(), "{len} bytes");
        }
    }

    #[test]
    fn a_frame_longer_than_the_message_limit_is_refused() {
        let data = Bytes::from(vec![1u8; 1000]);
        assert!(write_full_frame(&head(vec![]), data.clone(), 1000).is_none());
        let [prefix, _] = write_full_frame(&head(vec![]), data, 1100).unwrap();
        assert!(prefix.len() < 100);
    }
}
