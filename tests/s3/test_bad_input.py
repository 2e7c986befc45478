"""Malformed and hostile requests, sent raw (http.client and sockets), signed with
SigV4 where it matters. After each one the gateway must still serve a normal request,
nothing half-written may be visible, and every error response is S3's XML
(`<Error><Code>…`) with an `x-amz-request-id` header."""

import hashlib
import http.client
import socket
import time
import xml.etree.ElementTree as ET
from urllib.parse import quote, urlparse

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from conftest import REGION, endpoints, unique


def host_port():
    u = urlparse(endpoints()[0])
    return u.hostname, u.port


def signed_headers(user, method, path, body=b"", headers=None, query="", region=REGION):
    """SigV4 headers for a request (payload hash in x-amz-content-sha256, Host)."""
    url = endpoints()[0] + path + (f"?{query}" if query else "")
    h = dict(headers or {})
    h["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    req = AWSRequest(method=method, url=url, data=body, headers=h)
    creds = botocore.credentials.Credentials(user.access_key, user.secret_key)
    botocore.auth.SigV4Auth(creds, "s3", region).add_auth(req)
    out = dict(req.headers.items())
    out["Host"] = urlparse(endpoints()[0]).netloc
    return out


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def code(self):
        text = self.body.decode(errors="replace")
        if "<Code>" not in text:
            return None
        return text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def request(user, method, path, body=b"", headers=None, query="", sign=True, region=REGION):
    host, port = host_port()
    conn = http.client.HTTPConnection(host, port, timeout=30)
    h = (
        signed_headers(user, method, path, body, headers, query, region)
        if sign
        else dict(headers or {})
    )
    conn.request(method, path + (f"?{query}" if query else ""), body=body, headers=h)
    r = conn.getresponse()
    reply = Reply(r.status, r.getheaders(), r.read())
    conn.close()
    return reply


def assert_s3_error(reply, status, code):
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers.get("x-amz-request-id"), reply.headers
    assert b"<Error>" in reply.body and reply.code() == code, reply.body


def raw(data, read_timeout=10):
    """Sends raw bytes on a fresh connection, returns what came back until close."""
    host, port = host_port()
    s = socket.create_connection((host, port), timeout=read_timeout)
    try:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def parse_raw(resp):
    head, _, body = resp.partition(b"\r\n\r\n")
    lines = head.decode(errors="replace").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.split(":", 1)) for x in lines[1:] if ":" in x]
    return Reply(status, [(k.strip(), v.strip()) for k, v in headers], body)


def still_serves(s3, bucket):
    key = unique("alive")
    s3.put_object(Bucket=bucket, Key=key, Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"ok"
    s3.delete_object(Bucket=bucket, Key=key)


def keys(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_malformed_complete_multipart_xml(user, s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=up, PartNumber=1, Body=b"x" * 100)
    for body in [b"<CompleteMultipartUpload><Part>", b"not xml at all", b"<a></b>"]:
        r = request(user, "POST", f"/{bucket}/mp", body=body, query=f"uploadId={quote(up)}")
        assert_s3_error(r, 400, "MalformedXML")
    assert keys(s3, bucket) == []
    # The upload is still there and can be completed properly.
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=up)["Parts"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": parts[0]["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"x" * 100


def test_malformed_delete_objects_xml(user, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"1")
    for body in [b"<Delete><Object><Key>keep</Key>", b"garbage", b"<Delete><Object><Key>keep</Key></Nope></Delete>"]:
        md5 = __import__("base64").b64encode(hashlib.md5(body).digest()).decode()
        r = request(user, "POST", f"/{bucket}", body=body, query="delete=", headers={"Content-MD5": md5})
        assert_s3_error(r, 400, "MalformedXML")
    assert keys(s3, bucket) == ["keep"]
    still_serves(s3, bucket)


def test_huge_header_is_refused(user, s3, bucket):
    for size in (16 * 1024, 64 * 1024, 256 * 1024):
        r = request(user, "GET", f"/{bucket}", headers={"x-amz-meta-big": "v" * size}, sign=False)
        assert r.status == 400, (size, r.status, r.body)
        assert r.headers.get("x-amz-request-id")
        assert r.code() == "RequestHeaderSectionTooLarge", r.body
    still_serves(s3, bucket)


@pytest.mark.parametrize(
    "name",
    ["ab", "a" * 64, "UpperCase", "under_score", "-leading", "trailing-", "192.168.1.1",
     "dot..dot", "xn--punycode", "bad!char"],
)
def test_invalid_bucket_names(user, s3, name):
    r = request(user, "PUT", f"/{quote(name)}")
    assert_s3_error(r, 400, "InvalidBucketName")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_key_too_long(user, s3, bucket):
    key = "k" * 1025
    r = request(user, "PUT", f"/{bucket}/{key}", body=b"data")
    assert_s3_error(r, 400, "KeyTooLongError")
    # 1024 bytes (the limit) is fine, counted in UTF-8 bytes.
    ok = "é" * 512
    s3.put_object(Bucket=bucket, Key=ok, Body=b"data")
    r = request(user, "PUT", f"/{bucket}/{quote(ok + 'x')}", body=b"data")
    assert_s3_error(r, 400, "KeyTooLongError")
    assert keys(s3, bucket) == [ok]


def test_truncated_body_is_not_stored(user, s3, bucket):
    body = b"z" * 100_000
    path = f"/{bucket}/truncated"
    h = signed_headers(user, "PUT", path, body)
    h["Content-Length"] = str(len(body))
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    hp = host_port()
    s = socket.create_connection(hp, timeout=10)
    s.sendall(head.encode() + body[:40_000])
    s.close()
    time.sleep(1)
    assert keys(s3, bucket) == []
    still_serves(s3, bucket)
    assert keys(s3, bucket) == []


def test_body_longer_than_content_length(user, s3, bucket):
    # The declared length wins; the extra bytes are a second (garbage) request.
    body = b"hello"
    path = f"/{bucket}/short"
    h = signed_headers(user, "PUT", path, body)
    h["Content-Length"] = str(len(body))
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    resp = raw(head.encode() + body + b"EXTRA GARBAGE\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200"), resp[:200]
    assert s3.get_object(Bucket=bucket, Key="short")["Body"].read() == b"hello"


def test_content_length_shorter_than_signed_body(user, s3, bucket):
    # Signed for 10 bytes, declares and sends 5: the payload hash cannot match.
    signed_body = b"0123456789"
    path = f"/{bucket}/mismatch"
    h = signed_headers(user, "PUT", path, signed_body)
    h["Content-Length"] = "5"
    host, port = host_port()
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("PUT", path, body=signed_body[:5], headers=h)
    r = conn.getresponse()
    reply = Reply(r.status, r.getheaders(), r.read())
    conn.close()
    assert reply.status == 400, reply.body
    assert reply.headers.get("x-amz-request-id")
    assert reply.code() in ("XAmzContentSHA256Mismatch", "BadDigest"), reply.body
    assert keys(s3, bucket) == []
    still_serves(s3, bucket)


@pytest.mark.parametrize("value", ["abc", "-1", "12abc", "1e3"])
def test_non_numeric_content_length(user, s3, bucket, value):
    path = f"/{bucket}/badlen"
    h = signed_headers(user, "PUT", path, b"abc")
    h["Content-Length"] = value
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    r = parse_raw(raw(head.encode() + b"abc"))
    assert r.status == 400, (r.status, r.body)
    assert r.headers.get("x-amz-request-id") and r.code(), (r.headers, r.body)
    assert keys(s3, bucket) == []
    still_serves(s3, bucket)


def test_unknown_method(user, s3, bucket):
    for method in ("FROB", "PATCH", "TRACE"):
        r = request(user, method, f"/{bucket}/k")
        assert r.status in (400, 405, 501), (method, r.status)
        assert r.headers.get("x-amz-request-id"), method
        assert r.code() in ("MethodNotAllowed", "NotImplemented", "InvalidRequest"), r.body
    still_serves(s3, bucket)


@pytest.mark.parametrize(
    "data",
    [b"THIS IS NOT HTTP\r\n\r\n", b"GET /\x00\x01 HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n"],
)
def test_garbage_request(s3, bucket, data):
    r = parse_raw(raw(data))
    assert r.status == 400
    assert r.headers.get("x-amz-request-id") and r.code() == "BadRequest", r.body
    still_serves(s3, bucket)


def test_unsigned_and_wrongly_signed_requests(user, s3, bucket):
    r = request(user, "GET", f"/{bucket}", sign=False)
    assert_s3_error(r, 403, "AccessDenied")
    h = signed_headers(user, "GET", f"/{bucket}")
    h["Authorization"] = h["Authorization"][:-4] + "0000"
    r = request(user, "GET", f"/{bucket}", headers=h, sign=False)
    assert_s3_error(r, 403, "SignatureDoesNotMatch")
    for bad in ("ABCD", "zz", "A" * 64):
        h = signed_headers(user, "GET", f"/{bucket}")
        h["Authorization"] = h["Authorization"].rsplit("Signature=", 1)[0] + "Signature=" + bad
        r = request(user, "GET", f"/{bucket}", headers=h, sign=False)
        assert_s3_error(r, 403, "SignatureDoesNotMatch")
    r = request(user, "GET", f"/{bucket}", headers={"Authorization": "AWS4-HMAC-SHA256 nonsense"}, sign=False)
    assert r.status in (400, 403) and r.headers.get("x-amz-request-id") and r.code(), r.body
    r = request(user, "GET", f"/{bucket}", headers={"Authorization": "Bearer abc"}, sign=False)
    assert_s3_error(r, 400, "InvalidArgument")
    r = request(user, "GET", f"/{bucket}", headers={"Authorization": "AWS nocolon"}, sign=False)
    assert r.status in (400, 403) and r.headers.get("x-amz-request-id") and r.code(), r.body
    still_serves(s3, bucket)


def error_fields(reply):
    """The child elements of an error body, by name (S3's order kept in `order`)."""
    root = ET.fromstring(reply.body)
    assert root.tag == "Error", reply.body
    fields = {c.tag: c.text or "" for c in root}
    fields["order"] = [c.tag for c in root]
    return fields


def assert_error_elements(reply, status, code, **elements):
    """An S3 error whose body names what it is about (`elements`) and carries the
    request id of the response's `x-amz-request-id` as RequestId and HostId."""
    assert_s3_error(reply, status, code)
    f = error_fields(reply)
    for name, value in elements.items():
        assert f.get(name) == value, (name, reply.body)
    assert f["RequestId"] == reply.headers["x-amz-request-id"], reply.body
    assert f["HostId"] == reply.headers["x-amz-id-2"], reply.body
    # Code, Message, the context elements, then RequestId and HostId, as S3 writes them.
    assert f["order"] == ["Code", "Message", *elements, "RequestId", "HostId"], reply.body
    assert not any(k.startswith("x-cuttle") for k in reply.headers), reply.headers


def test_error_bodies_name_what_they_are_about(user, make_user, s3, bucket):
    missing = unique("nobkt")
    r = request(user, "GET", f"/{missing}/k", sign=False)
    assert_error_elements(r, 404, "NoSuchBucket", BucketName=missing)
    r = request(user, "GET", f"/{missing}/k")
    assert_error_elements(r, 404, "NoSuchBucket", BucketName=missing)
    # (Keys that need escaping: tests/s3/test_objects.py, with boto3.)
    r = request(user, "GET", f"/{bucket}/dir/missing.txt")
    assert_error_elements(r, 404, "NoSuchKey", Key="dir/missing.txt")
    r = request(user, "GET", f"/{bucket}/k", query="uploadId=no-such-upload")
    assert_error_elements(r, 404, "NoSuchUpload", UploadId="no-such-upload")
    r = request(user, "PUT", f"/{bucket}")
    assert_error_elements(r, 409, "BucketAlreadyOwnedByYou", BucketName=bucket)
    r = request(make_user(), "PUT", f"/{bucket}")
    assert_error_elements(r, 409, "BucketAlreadyExists", BucketName=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = request(user, "DELETE", f"/{bucket}")
    assert_error_elements(r, 409, "BucketNotEmpty", BucketName=bucket)
    # Every error carries the request id, with or without context elements.
    r = request(user, "GET", f"/{bucket}", sign=False)
    assert_error_elements(r, 403, "AccessDenied")
    # A HEAD answer has no body, and no internal header either.
    r = request(user, "HEAD", f"/{bucket}/nope")
    assert r.status == 404 and r.body == b"", r.body
    assert not any(k.startswith("x-cuttle") for k in r.headers), r.headers
    still_serves(s3, bucket)


def test_request_signed_for_another_region_is_refused(user, s3, bucket):
    r = request(user, "GET", f"/{bucket}", region="eu-west-1")
    assert_error_elements(r, 400, "AuthorizationHeaderMalformed", Region=REGION)
    assert error_fields(r)["Message"] == (
        "The authorization header is malformed; the region 'eu-west-1' is wrong; "
        f"expecting '{REGION}'"
    )
    # Refused before the body is looked at: nothing is stored.
    r = request(user, "PUT", f"/{bucket}/k", body=b"data", region="us-west-2")
    assert_error_elements(r, 400, "AuthorizationHeaderMalformed", Region=REGION)
    assert keys(s3, bucket) == []
    # The right region is served.
    assert request(user, "GET", f"/{bucket}").status == 200
    still_serves(s3, bucket)
