"""SigV4 streaming uploads with signed chunks (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`,
AWS's "Signature Calculations for the Authorization Header: Transferring Payload in
Multiple Chunks"): every chunk carries a signature chained from the request's own, and
the gateway checks each one as the body is read. Such a body is taken in on a blocking
thread (its reading hashes), unlike plain bodies; both must store the same bytes.

The requests are built here by hand: the SDKs in the tests send signed payloads or
unsigned aws-chunked bodies, not signed chunks."""

import base64
import hashlib
import hmac
import socket
import threading
from urllib.parse import urlparse

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from conftest import REGION, endpoints
from test_bad_input import assert_s3_error, host_port, keys, parse_raw, still_serves
from test_payload_hash import send

MIB = 1 << 20
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, day):
    k = _hmac(("AWS4" + secret).encode(), day)
    for part in (REGION, "s3", "aws4_request"):
        k = _hmac(k, part)
    return k


def chunked_upload(user, path, body, chunk=64 * 1024, tamper_chunk=None, headers=None):
    """Headers and aws-chunked body of a signed-chunk PUT of `body` to `path`. With
    `tamper_chunk=i`, chunk `i`'s data is changed after it was signed."""
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] + [b""]
    encoded_len = sum(len(f"{len(p):x};chunk-signature=") + 64 + 2 + len(p) + 2 for p in pieces)
    h = dict(headers or {})
    h.update(
        {
            "x-amz-content-sha256": STREAMING,
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(body)),
            "Content-Length": str(encoded_len),
        }
    )
    h = signed(user, path, h)
    date = h["X-Amz-Date"]
    scope = f"{date[:8]}/{REGION}/s3/aws4_request"
    key = signing_key(user.secret_key, date[:8])
    previous = h["Authorization"].rsplit("Signature=", 1)[1]
    out = bytearray()
    for i, data in enumerate(pieces):
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                date,
                scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        previous = sig
        if i == tamper_chunk:
            data = data[:-1] + bytes([data[-1] ^ 0x01])
        out += f"{len(data):x};chunk-signature={sig}\r\n".encode() + data + b"\r\n"
    assert len(out) == encoded_len
    return h, bytes(out)


def signed(user, path, h):
    """SigV4 headers for a PUT with headers `h`; the request signs their
    x-amz-content-sha256 (the streaming marker) as its payload hash."""
    req = AWSRequest(method="PUT", url=endpoints()[0] + path, data=b"", headers=dict(h))
    creds = botocore.credentials.Credentials(user.access_key, user.secret_key)
    botocore.auth.SigV4Auth(creds, "s3", REGION).add_auth(req)
    out = dict(req.headers.items())
    out["Host"] = urlparse(endpoints()[0]).netloc
    return out


def put_answered_early(path, h, data):
    """Sends a PUT whose answer may come before its body is all sent (a refused
    chunk): the body goes out on another thread while this one reads the reply, so
    the reply is read even when the gateway closes without reading the rest."""
    host, port = host_port()
    sock = socket.create_connection((host, port), timeout=30)
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items())

    def push():
        try:
            sock.sendall(head.encode() + b"\r\n" + data)
        except OSError:
            pass  # the gateway stopped reading: its reply says why

    sender = threading.Thread(target=push)
    sender.start()
    got = b""
    try:
        while True:
            head_end = got.find(b"\r\n\r\n")
            if head_end >= 0:
                reply = parse_raw(got)
                length = int(reply.headers.get("content-length", "0"))
                if len(reply.body) >= length:
                    return reply
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            assert chunk, f"connection ended before a whole reply: {got!r}"
            got += chunk
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # ends a send still blocked
        except OSError:
            pass
        sender.join()
        sock.close()


def pattern(size):
    return (hashlib.sha256(b"chunks").digest() * (size // 32 + 1))[:size]


@pytest.mark.parametrize("size", [1000, 9 * MIB + 7], ids=["small", "striped"])
def test_signed_chunks_are_stored_byte_for_byte(user, s3, bucket, size):
    body = pattern(size)
    path = f"/{bucket}/chunked"
    h, encoded = chunked_upload(user, path, body)
    r = send("PUT", path, h, encoded)
    assert r.status == 200, r.body
    assert r.headers["etag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="chunked")
    assert got["ContentLength"] == size
    assert got["Body"].read() == body


def test_signed_chunks_with_a_sha256_checksum(user, s3, bucket):
    body = pattern(3 * MIB + 1)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    path = f"/{bucket}/chunked-sha"
    h, encoded = chunked_upload(user, path, body, headers={"x-amz-checksum-sha256": digest})
    r = send("PUT", path, h, encoded)
    assert r.status == 200, r.body
    assert r.headers["x-amz-checksum-sha256"] == digest
    got = s3.get_object(Bucket=bucket, Key="chunked-sha", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == digest
    assert got["Body"].read() == body


@pytest.mark.parametrize("tamper_chunk", [0, 40], ids=["first", "middle"])
def test_a_chunk_changed_after_signing_is_refused(user, s3, bucket, tamper_chunk):
    body = pattern(5 * MIB)
    path = f"/{bucket}/tampered"
    h, encoded = chunked_upload(user, path, body, tamper_chunk=tamper_chunk)
    assert_s3_error(put_answered_early(path, h, encoded), 403, "SignatureDoesNotMatch")
    assert keys(s3, bucket) == []
    still_serves(s3, bucket)
