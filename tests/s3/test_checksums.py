"""Checksums with boto3: the default CRC32 (in a header over HTTP, in an aws-chunked
trailer as boto3 sends it over HTTPS), explicit x-amz-checksum-crc32 / crc32c / sha1 /
sha256 values returned on GET and HEAD with ChecksumMode=ENABLED, wrong values refused
with BadDigest (no object created), composite checksums of multipart uploads, and S3's
default: a full-object CRC64NVME for every upload (PUT, copy, multipart) that carries
no checksum."""

import base64
import hashlib
import io
import os
import struct
import zlib

import botocore
import pytest

from conftest import error_code, force_trailer, s3_client

MIB = 1024 * 1024


def b64(b):
    return base64.b64encode(b).decode()


def crc32(data):
    return b64(struct.pack(">I", zlib.crc32(data) & 0xFFFFFFFF))


def _reflected_table(poly):
    """The byte table of a reflected CRC with polynomial `poly`."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


def _reflected_crc(data, table, ones):
    c = ones
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ ones


_CRC32C = _reflected_table(0x82F63B78)
_CRC64NVME = _reflected_table(0x9A6C9329AC4BC9B5)


def crc32c(data):
    return b64(struct.pack(">I", _reflected_crc(data, _CRC32C, 0xFFFFFFFF)))


def sha1(data):
    return b64(hashlib.sha1(data).digest())


def sha256(data):
    return b64(hashlib.sha256(data).digest())


def crc64nvme(data):
    return b64(struct.pack(">Q", _reflected_crc(data, _CRC64NVME, 0xFFFFFFFFFFFFFFFF)))


ALGS = {
    "CRC32": crc32,
    "CRC32C": crc32c,
    "CRC64NVME": crc64nvme,
    "SHA1": sha1,
    "SHA256": sha256,
}


def test_reference_checksums():
    # The check values of the CRC catalogue ("123456789").
    assert base64.b64decode(crc32(b"123456789")).hex() == "cbf43926"
    assert base64.b64decode(crc32c(b"123456789")).hex() == "e3069283"
    assert base64.b64decode(crc64nvme(b"123456789")).hex() == "ae8b14860a799888"


def sent_headers(client):
    """Records the headers of each request the client sends."""
    seen = []
    client.meta.events.register(
        "before-send.s3.*", lambda request, **_: seen.append(dict(request.headers))
    )
    return seen


def test_default_crc32_header(s3, bucket):
    body = os.urandom(100_000)
    r = s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert r["ChecksumCRC32"] == crc32(body)
    h = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == crc32(body)
    assert h["ChecksumType"] == "FULL_OBJECT"
    # The client's checksum is the object's; S3 adds its default only when none came.
    assert "ChecksumCRC64NVME" not in h


@pytest.mark.parametrize("size", [0, 1, 65_536, 3 * MIB + 7])
def test_default_crc32_trailer(user, bucket, size):
    c = force_trailer(user.client())
    seen = sent_headers(c)
    body = os.urandom(size)
    r = c.put_object(Bucket=bucket, Key="k", Body=body)
    put = seen[-1]
    assert put["X-Amz-Content-SHA256"] == b"STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert put["X-Amz-Trailer"] in (b"x-amz-checksum-crc32", "x-amz-checksum-crc32")
    assert r["ChecksumCRC32"] == crc32(body)
    got = c.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == crc32(body)
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'


@pytest.mark.parametrize("alg", ["CRC32", "SHA1", "SHA256"])
def test_trailer_with_other_algorithms(user, bucket, alg):
    c = force_trailer(user.client())
    body = os.urandom(200_000)
    r = c.put_object(Bucket=bucket, Key="k", Body=io.BytesIO(body), ChecksumAlgorithm=alg)
    assert r[f"Checksum{alg}"] == ALGS[alg](body)
    h = c.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert h[f"Checksum{alg}"] == ALGS[alg](body)


def test_trailer_with_token_credentials(user, bucket):
    c = force_trailer(s3_client(user.token(), "any-secret"))
    body = os.urandom(1 * MIB + 3)
    r = c.put_object(Bucket=bucket, Key="tok", Body=body)
    assert r["ChecksumCRC32"] == crc32(body)
    assert c.get_object(Bucket=bucket, Key="tok")["Body"].read() == body


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_explicit_checksum_is_stored_and_returned(s3, bucket, alg):
    body = os.urandom(12_345)
    value = ALGS[alg](body)
    r = s3.put_object(Bucket=bucket, Key="k", Body=body, **{f"Checksum{alg}": value})
    assert r[f"Checksum{alg}"] == value
    for call in [s3.get_object, s3.head_object]:
        got = call(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
        assert got[f"Checksum{alg}"] == value
        assert got["ChecksumType"] == "FULL_OBJECT"
        assert got["ResponseMetadata"]["HTTPHeaders"][f"x-amz-checksum-{alg.lower()}"] == value
    # Without ChecksumMode the checksum is not returned.
    h = s3.head_object(Bucket=bucket, Key="k")
    assert f"Checksum{alg}" not in h


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
def test_wrong_checksum_is_refused(s3, bucket, alg):
    body = b"the real body"
    wrong = ALGS[alg](b"something else")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=body, **{f"Checksum{alg}": wrong})
    assert error_code(e) == ("BadDigest", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_code(e) == ("404", 404)


def test_wrong_trailer_checksum_is_refused(user, bucket):
    c = force_trailer(user.client())

    def corrupt(request, **_):
        # boto3 computes the trailer while it streams; change one data byte after.
        body = request.body
        real_read = body.read
        done = []

        def read(*a):
            out = real_read(*a)
            if not done and b"abc" in out:
                done.append(True)
                out = out.replace(b"abc", b"Abc", 1)
            return out

        body.read = read

    c.meta.events.register("before-send.s3.PutObject", corrupt)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.put_object(Bucket=bucket, Key="k", Body=b"abc" * 1000)
    assert error_code(e) == ("BadDigest", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user.client().head_object(Bucket=bucket, Key="k")
    assert error_code(e) == ("404", 404)


@pytest.mark.parametrize("value", ["not base64!", "AAAAAAAA", ""])
def test_malformed_checksum_value(s3, bucket, value):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ChecksumCRC32=value)
    assert error_code(e) == ("InvalidRequest", 400)
    msg = e.value.response["Error"]["Message"]
    assert msg == "Value for x-amz-checksum-crc32 header is invalid."


def test_ranged_get_has_no_full_object_checksum(s3, bucket):
    body = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumSHA256=sha256(body))
    r = s3.get_object(Bucket=bucket, Key="k", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in r
    assert r["Body"].read() == body[:10]


def test_copy_keeps_checksum_algorithm(s3, bucket):
    body = os.urandom(4096)
    s3.put_object(Bucket=bucket, Key="src", Body=body, ChecksumSHA1=sha1(body))
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ChecksumSHA1"] == sha1(body)
    r = s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource={"Bucket": bucket, "Key": "src"},
        ChecksumAlgorithm="SHA256",
    )
    assert r["CopyObjectResult"]["ChecksumSHA256"] == sha256(body)
    h = s3.head_object(Bucket=bucket, Key="dst2", ChecksumMode="ENABLED")
    assert h["ChecksumSHA256"] == sha256(body)


@pytest.mark.parametrize("trailer", [False, True])
def test_multipart_composite_checksum(user, bucket, trailer):
    c = user.client()
    if trailer:
        force_trailer(c)
    parts = [os.urandom(5 * MIB), os.urandom(1000)]
    uid = c.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    done = []
    for n, p in enumerate(parts, 1):
        r = c.upload_part(
            Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=p, ChecksumAlgorithm="CRC32"
        )
        assert r["ChecksumCRC32"] == crc32(p)
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    listed = c.list_parts(Bucket=bucket, Key="mp", UploadId=uid)["Parts"]
    assert [p["ChecksumCRC32"] for p in listed] == [crc32(p) for p in parts]
    r = c.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done}
    )
    raw = b"".join(base64.b64decode(crc32(p)) for p in parts)
    composite = f"{crc32(raw)}-2"
    assert r["ChecksumCRC32"] == composite
    h = c.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert h["ChecksumCRC32"] == composite
    assert h["ChecksumType"] == "COMPOSITE"
    assert c.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"".join(parts)


def test_multipart_wrong_part_checksum_in_complete(s3, bucket):
    body = os.urandom(1000)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    r = s3.upload_part(
        Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=body, ChecksumAlgorithm="SHA256"
    )
    assert r["ChecksumSHA256"] == sha256(body)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": r["ETag"], "ChecksumSHA256": sha256(b"x")}]
            },
        )
    assert error_code(e) == ("InvalidPart", 400)


def test_wrong_part_checksum_is_refused(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")["UploadId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            PartNumber=1,
            Body=b"part",
            ChecksumCRC32=crc32(b"not the part"),
        )
    assert error_code(e) == ("BadDigest", 400)
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid).get("Parts", []) == []


@pytest.mark.parametrize("alg", ["CRC32", "CRC32C", "CRC64NVME"])
def test_multipart_full_object_checksum(s3, bucket, alg):
    parts = [os.urandom(5 * MIB + 3), os.urandom(4321)]
    whole = b"".join(parts)
    kw = {} if alg == "CRC64NVME" else {"ChecksumType": "FULL_OBJECT"}
    r = s3.create_multipart_upload(Bucket=bucket, Key="fo", ChecksumAlgorithm=alg, **kw)
    # CRC64NVME multipart checksums are full-object ones without being asked.
    assert r["ChecksumType"] == "FULL_OBJECT"
    uid = r["UploadId"]
    done = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(
            Bucket=bucket,
            Key="fo",
            UploadId=uid,
            PartNumber=n,
            Body=p,
            **{f"Checksum{alg}": ALGS[alg](p)},
        )
        done.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{alg}": ALGS[alg](p)})
    listed = s3.list_parts(Bucket=bucket, Key="fo", UploadId=uid)
    assert listed["ChecksumType"] == "FULL_OBJECT"
    r = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="fo",
        UploadId=uid,
        MultipartUpload={"Parts": done},
        **{f"Checksum{alg}": ALGS[alg](whole)},
    )
    assert r[f"Checksum{alg}"] == ALGS[alg](whole)
    assert r["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="fo", ChecksumMode="ENABLED")
    assert got[f"Checksum{alg}"] == ALGS[alg](whole)
    assert got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == whole


def test_multipart_full_object_checksum_mismatch(s3, bucket):
    uid = s3.create_multipart_upload(
        Bucket=bucket, Key="fo", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    r = s3.upload_part(
        Bucket=bucket,
        Key="fo",
        UploadId=uid,
        PartNumber=1,
        Body=b"abc",
        ChecksumCRC32=crc32(b"abc"),
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="fo",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
            ChecksumCRC32=crc32(b"abd"),
        )
    assert error_code(e) == ("BadDigest", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="fo")
    assert error_code(e) == ("404", 404)


def test_full_object_type_needs_a_crc(s3, bucket):
    for kw in [
        {"ChecksumAlgorithm": "SHA256", "ChecksumType": "FULL_OBJECT"},
        {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "COMPOSITE"},
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.create_multipart_upload(Bucket=bucket, Key="k", **kw)
        assert error_code(e) == ("InvalidRequest", 400), kw


def no_checksum_client(user):
    """boto3 sending checksums only where S3 requires one (never on these uploads)."""
    return user.client(request_checksum_calculation="when_required")


@pytest.mark.parametrize("size", [0, 9, 1_000_000])
def test_upload_without_checksum_gets_crc64nvme(user, bucket, size):
    c = no_checksum_client(user)
    seen = sent_headers(c)
    body = b"123456789" if size == 9 else os.urandom(size)
    r = c.put_object(Bucket=bucket, Key="k", Body=body)
    assert not [h for h in seen[-1] if h.lower().startswith("x-amz-checksum")], seen[-1]
    assert r["ChecksumCRC64NVME"] == crc64nvme(body)
    assert r["ChecksumType"] == "FULL_OBJECT"
    h = c.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert h["ChecksumCRC64NVME"] == crc64nvme(body)
    assert h["ChecksumType"] == "FULL_OBJECT"
    got = c.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == crc64nvme(body)
    assert got["Body"].read() == body
    # Only when asked for, as every checksum.
    assert "ChecksumCRC64NVME" not in c.head_object(Bucket=bucket, Key="k")
    if size == 9:
        assert base64.b64decode(h["ChecksumCRC64NVME"]).hex() == "ae8b14860a799888"


def test_raw_put_without_checksum_gets_crc64nvme(user, bucket):
    # No SDK in between: a plain signed PUT, then a HEAD asking for checksums.
    from test_bad_input import request

    body = os.urandom(70_000)
    r = request(user, "PUT", f"/{bucket}/raw", body=body)
    assert r.status == 200, r.body
    assert r.headers["x-amz-checksum-crc64nvme"] == crc64nvme(body)
    r = request(user, "HEAD", f"/{bucket}/raw", headers={"x-amz-checksum-mode": "ENABLED"})
    assert r.status == 200
    assert r.headers["x-amz-checksum-crc64nvme"] == crc64nvme(body)
    assert r.headers["x-amz-checksum-type"] == "FULL_OBJECT"
    assert not [k for k in r.headers if k.startswith("x-amz-checksum-") and k not in (
        "x-amz-checksum-crc64nvme", "x-amz-checksum-type")], r.headers


def test_copy_of_object_without_checksum_gets_crc64nvme(user, bucket):
    c = no_checksum_client(user)
    body = os.urandom(5000)
    c.put_object(Bucket=bucket, Key="src", Body=body)
    r = c.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert r["CopyObjectResult"]["ChecksumCRC64NVME"] == crc64nvme(body)
    h = c.head_object(Bucket=bucket, Key="dst", ChecksumMode="ENABLED")
    assert h["ChecksumCRC64NVME"] == crc64nvme(body)
    assert h["ChecksumType"] == "FULL_OBJECT"


def test_multipart_without_checksum_gets_full_object_crc64nvme(user, bucket):
    c = no_checksum_client(user)
    parts = [os.urandom(5 * MIB + 3), os.urandom(4321)]
    whole = b"".join(parts)
    r = c.create_multipart_upload(Bucket=bucket, Key="mp")
    assert "ChecksumAlgorithm" not in r
    uid = r["UploadId"]
    done = []
    for n, p in enumerate(parts[:1], 1):
        r = c.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=p)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    # A part copied in gets one as well.
    c.put_object(Bucket=bucket, Key="tail", Body=parts[1])
    r = c.upload_part_copy(
        Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "tail"},
    )
    done.append({"PartNumber": 2, "ETag": r["CopyPartResult"]["ETag"]})
    r = c.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done}
    )
    assert r["ChecksumCRC64NVME"] == crc64nvme(whole)
    assert r["ChecksumType"] == "FULL_OBJECT"
    h = c.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert h["ChecksumCRC64NVME"] == crc64nvme(whole)
    assert h["ChecksumType"] == "FULL_OBJECT"
    assert h["ETag"].endswith('-2"')
    assert c.get_object(Bucket=bucket, Key="mp")["Body"].read() == whole
