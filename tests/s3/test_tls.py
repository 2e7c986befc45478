"""The gateway over HTTPS (`s3_suite_over_tls`): its certificate comes from a test CA
(``S3_CA_BUNDLE``) and names 127.0.0.1 and localhost. Clients that trust the CA work
as over HTTP; clients that do not are refused, and plain HTTP to the port is never
served."""

import hashlib
import os
import socket
import subprocess
import urllib.parse

import botocore.exceptions
import pytest

from conftest import REGION, aws_env, endpoints, unique

pytestmark = pytest.mark.tls

MiB = 1024 * 1024


def ca_bundle():
    return os.environ["S3_CA_BUNDLE"]


def endpoint():
    e = endpoints()[0]
    assert e.startswith("https://"), f"the TLS run needs an https endpoint, got {e}"
    return e


def test_endpoint_is_https():
    endpoint()


def test_boto3_round_trip_with_ca(user):
    s3 = _with_ca(user)
    b = unique("tls")
    s3.create_bucket(Bucket=b)
    body = os.urandom(100_000)
    s3.put_object(Bucket=b, Key="dir/a.bin", Body=body)
    s3.put_object(Bucket=b, Key="dir/b.txt", Body=b"hello over tls")
    got = s3.get_object(Bucket=b, Key="dir/a.bin")
    assert got["Body"].read() == body
    assert got["ContentLength"] == len(body)
    listed = s3.list_objects_v2(Bucket=b, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a.bin", "dir/b.txt"]
    assert [x["Name"] for x in s3.list_buckets()["Buckets"]].count(b) == 1


def test_boto3_multipart_with_ca(user):
    s3 = _with_ca(user)
    b = unique("tlsmp")
    s3.create_bucket(Bucket=b)
    parts_data = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(123_457)]
    up = s3.create_multipart_upload(Bucket=b, Key="big")
    parts = []
    for i, data in enumerate(parts_data, start=1):
        r = s3.upload_part(Bucket=b, Key="big", UploadId=up["UploadId"], PartNumber=i, Body=data)
        parts.append({"PartNumber": i, "ETag": r["ETag"]})
    s3.complete_multipart_upload(
        Bucket=b, Key="big", UploadId=up["UploadId"], MultipartUpload={"Parts": parts}
    )
    whole = b"".join(parts_data)
    got = s3.get_object(Bucket=b, Key="big")
    assert got["ContentLength"] == len(whole)
    assert hashlib.sha256(got["Body"].read()).digest() == hashlib.sha256(whole).digest()


def _with_ca(user):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint(),
        aws_access_key_id=user.access_key,
        aws_secret_access_key=user.secret_key,
        region_name=REGION,
        verify=ca_bundle(),
        config=Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )


def test_client_without_ca_is_refused(user, monkeypatch):
    # Only the system trust store: the test CA is not in it.
    for var in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    s3 = user.client(endpoint())
    with pytest.raises(botocore.exceptions.SSLError) as e:
        s3.list_buckets()
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) or "certificate" in str(e.value).lower()


def test_plain_http_is_not_served():
    u = urllib.parse.urlsplit(endpoint())
    with socket.create_connection((u.hostname, u.port), timeout=10) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {u.netloc}\r\nConnection: close\r\n\r\n".encode())
        got = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    # The TLS handshake fails: the connection is closed (at most a TLS alert, or a
    # plain 400 from a server that detects HTTP), never an S3 response.
    assert not got.startswith(b"HTTP/1.1 2"), got[:200]
    assert not got.startswith(b"HTTP/1.1 403"), got[:200]
    assert b"ListAllMyBucketsResult" not in got and b"<Error>" not in got, got[:200]
    assert got == b"" or got.startswith(b"HTTP/1.1 400") or got[:1] == b"\x15", got[:200]


def test_boto3_http_url_to_https_port_fails(user):
    u = urllib.parse.urlsplit(endpoint())
    s3 = user.client(f"http://{u.netloc}")
    with pytest.raises((botocore.exceptions.HTTPClientError, botocore.exceptions.ClientError)) as e:
        s3.list_buckets()
    if isinstance(e.value, botocore.exceptions.ClientError):
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_awscli_cp_round_trip(user, tmp_path):
    env = aws_env(user.access_key, user.secret_key)
    env.pop("AWS_CA_BUNDLE", None)

    def aws(*args, ca=True):
        extra = ["--ca-bundle", ca_bundle()] if ca else []
        return subprocess.run(
            ["aws", "--endpoint-url", endpoint(), *extra, *args],
            env=env,
            capture_output=True,
            text=True,
        )

    b = unique("tlscli")
    out = aws("s3", "mb", f"s3://{b}")
    assert out.returncode == 0, out.stderr
    src = tmp_path / "src.bin"
    data = os.urandom(3 * MiB + 17)
    src.write_bytes(data)
    out = aws("s3", "cp", str(src), f"s3://{b}/f.bin")
    assert out.returncode == 0, out.stderr
    dst = tmp_path / "dst.bin"
    out = aws("s3", "cp", f"s3://{b}/f.bin", str(dst))
    assert out.returncode == 0, out.stderr
    assert dst.read_bytes() == data
    # Without the CA the CLI refuses the gateway's certificate.
    out = aws("s3", "ls", f"s3://{b}", ca=False)
    assert out.returncode != 0
    assert "SSL" in out.stderr or "certificate" in out.stderr.lower(), out.stderr
