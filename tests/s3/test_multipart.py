"""Multipart uploads with boto3: CreateMultipartUpload, UploadPart, UploadPartCopy
(with a range), CompleteMultipartUpload (part order, ETags, minimum part size),
AbortMultipartUpload, ListMultipartUploads and ListParts, as Amazon S3 answers them."""

import hashlib
import os

import botocore
import pytest
from boto3.s3.transfer import TransferConfig

from conftest import error_code, force_trailer, s3_client

MIB = 1024 * 1024


def md5(b):
    return hashlib.md5(b).digest()


def multipart_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(md5(p) for p in parts)).hexdigest(), len(parts))


def upload(s3, bucket, key, parts, **create):
    """Uploads `parts` (bytes) and returns (upload id, [{PartNumber, ETag}])."""
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=p)
        assert r["ETag"] == f'"{md5(p).hex()}"'
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    return uid, done


def test_create_multipart_upload(s3, bucket):
    r = s3.create_multipart_upload(Bucket=bucket, Key="k", ContentType="text/csv")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Bucket"] == bucket
    assert r["Key"] == "k"
    assert r["UploadId"]


def test_complete_multipart_upload(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 17), os.urandom(1234)]
    uid = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="text/csv", Metadata={"m": "v"}
    )["UploadId"]
    done = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=p)
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done}
    )
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ETag"] == multipart_etag(parts)
    assert r["Bucket"] == bucket and r["Key"] == "mp"
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["ETag"] == multipart_etag(parts)
    assert got["ContentLength"] == sum(map(len, parts))
    assert got["ContentType"] == "text/csv"
    assert got["Metadata"] == {"m": "v"}
    assert got["Body"].read() == b"".join(parts)
    # PartNumber reads one part; the response tells how many there are.
    p2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert p2["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert p2["PartsCount"] == 3
    assert p2["ContentLength"] == len(parts[1])
    assert p2["Body"].read() == parts[1]
    h = s3.head_object(Bucket=bucket, Key="mp", PartNumber=1)
    assert h["PartsCount"] == 3 and h["ContentLength"] == len(parts[0])
    # The upload is gone once completed.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert error_code(e) == ("NoSuchUpload", 404)
    assert e.value.response["Error"]["UploadId"] == uid
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_complete_with_a_subset_of_parts(s3, bucket):
    parts = [os.urandom(5 * MIB), b"two", b"three"]
    uid, done = upload(s3, bucket, "sub", parts)
    chosen = [done[0], done[2]]
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="sub", UploadId=uid, MultipartUpload={"Parts": chosen}
    )
    assert r["ETag"] == multipart_etag([parts[0], parts[2]])
    assert s3.get_object(Bucket=bucket, Key="sub")["Body"].read() == parts[0] + parts[2]


def test_single_small_part_is_allowed(s3, bucket):
    uid, done = upload(s3, bucket, "one", [b"tiny"])
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="one", UploadId=uid, MultipartUpload={"Parts": done}
    )
    assert r["ETag"] == multipart_etag([b"tiny"])
    assert s3.get_object(Bucket=bucket, Key="one")["Body"].read() == b"tiny"


def test_reuploaded_part_replaces_the_earlier_one(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="re")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=b"old")
    r = s3.upload_part(Bucket=bucket, Key="re", UploadId=uid, PartNumber=1, Body=b"new!")
    parts = s3.list_parts(Bucket=bucket, Key="re", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in parts] == [(1, r["ETag"], 4)]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="re",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": r["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="re")["Body"].read() == b"new!"


def test_entity_too_small(s3, bucket):
    uid, done = upload(s3, bucket, "small", [b"a" * 1024, b"b" * 1024])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="small", UploadId=uid, MultipartUpload={"Parts": done}
        )
    assert error_code(e) == ("EntityTooSmall", 400)
    # The upload is still there and can be aborted.
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=uid)


def test_invalid_part_order(s3, bucket):
    uid, done = upload(s3, bucket, "order", [os.urandom(5 * MIB), b"b"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="order", UploadId=uid, MultipartUpload={"Parts": done[::-1]}
        )
    assert error_code(e) == ("InvalidPartOrder", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="order",
            UploadId=uid,
            MultipartUpload={"Parts": [done[0], done[0]]},
        )
    assert error_code(e) == ("InvalidPartOrder", 400)


def test_invalid_part(s3, bucket):
    uid, done = upload(s3, bucket, "inv", [os.urandom(5 * MIB), b"b"])
    wrong_etag = [done[0], {"PartNumber": 2, "ETag": '"0123456789abcdef0123456789abcdef"'}]
    missing = [done[0], {"PartNumber": 3, "ETag": done[1]["ETag"]}]
    for parts in [wrong_etag, missing]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="inv", UploadId=uid, MultipartUpload={"Parts": parts}
            )
        assert error_code(e) == ("InvalidPart", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="inv")
    assert error_code(e) == ("404", 404)


def test_complete_without_parts(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="none")["UploadId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="none", UploadId=uid, MultipartUpload={"Parts": []}
        )
    assert error_code(e) == ("MalformedXML", 400)


def test_upload_part_number_limits(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="n")["UploadId"]
    for n in [0, 10001]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.upload_part(Bucket=bucket, Key="n", UploadId=uid, PartNumber=n, Body=b"x")
        assert error_code(e) == ("InvalidArgument", 400)
    s3.upload_part(Bucket=bucket, Key="n", UploadId=uid, PartNumber=10000, Body=b"x")


def test_abort(s3, bucket):
    uid, _ = upload(s3, bucket, "ab", [b"part"])
    r = s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in [
        lambda: s3.list_parts(Bucket=bucket, Key="ab", UploadId=uid),
        lambda: s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=2, Body=b"x"),
        lambda: s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid),
        lambda: s3.complete_multipart_upload(
            Bucket=bucket,
            Key="ab",
            UploadId=uid,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
        ),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == ("NoSuchUpload", 404)


def test_unknown_upload_id(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="no-such-upload", PartNumber=1, Body=b"x")
    assert error_code(e) == ("NoSuchUpload", 404)
    # An upload id belongs to its key.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="other", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(e) == ("NoSuchUpload", 404)


def test_unfinished_upload_is_invisible(s3, bucket):
    uid, _ = upload(s3, bucket, "hidden", [b"data"])
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert "Contents" not in s3.list_objects(Bucket=bucket)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="hidden")
    assert error_code(e) == ("NoSuchKey", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="hidden")
    assert error_code(e) == ("404", 404)
    # An unfinished upload does not hide an existing object of the same key either.
    s3.put_object(Bucket=bucket, Key="hidden", Body=b"visible")
    assert s3.get_object(Bucket=bucket, Key="hidden")["Body"].read() == b"visible"
    s3.abort_multipart_upload(Bucket=bucket, Key="hidden", UploadId=uid)
    assert s3.get_object(Bucket=bucket, Key="hidden")["Body"].read() == b"visible"


def test_list_multipart_uploads(s3, bucket):
    ids = {}
    for k in ["b/2", "a", "b/1", "c"]:
        ids[k] = s3.create_multipart_upload(Bucket=bucket, Key=k)["UploadId"]
    second = s3.create_multipart_upload(Bucket=bucket, Key="a")["UploadId"]
    r = s3.list_multipart_uploads(Bucket=bucket)
    assert r["Bucket"] == bucket
    assert r["IsTruncated"] is False
    got = [(u["Key"], u["UploadId"]) for u in r["Uploads"]]
    assert [k for k, _ in got] == ["a", "a", "b/1", "b/2", "c"]
    assert {u for k, u in got if k == "a"} == {ids["a"], second}
    assert all(u["Initiated"] is not None and u["StorageClass"] == "STANDARD" for u in r["Uploads"])
    r = s3.list_multipart_uploads(Bucket=bucket, Prefix="b/")
    assert [u["Key"] for u in r["Uploads"]] == ["b/1", "b/2"]
    r = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in r["Uploads"]] == ["a", "a", "c"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["b/"]
    # Paging with max-uploads and the key / upload-id markers.
    seen = []
    kw = {}
    while True:
        r = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **kw)
        seen += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r["IsTruncated"]:
            break
        kw = {"KeyMarker": r["NextKeyMarker"], "UploadIdMarker": r["NextUploadIdMarker"]}
    assert seen == got
    for k, u in got:
        s3.abort_multipart_upload(Bucket=bucket, Key=k, UploadId=u)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_list_parts(s3, bucket, user):
    parts = [os.urandom(5 * MIB), b"second", b"third"]
    uid, done = upload(s3, bucket, "lp", parts)
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid)
    assert r["Bucket"] == bucket and r["Key"] == "lp" and r["UploadId"] == uid
    assert r["IsTruncated"] is False
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in r["Parts"]] == [
        (d["PartNumber"], d["ETag"], len(b)) for d, b in zip(done, parts)
    ]
    assert r["Owner"]["ID"] == user.uid
    assert r["StorageClass"] == "STANDARD"
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in r["Parts"]] == [1, 2]
    assert r["IsTruncated"] is True
    assert r["NextPartNumberMarker"] == 2
    r = s3.list_parts(Bucket=bucket, Key="lp", UploadId=uid, PartNumberMarker=2)
    assert [p["PartNumber"] for p in r["Parts"]] == [3]
    assert r["IsTruncated"] is False


def test_upload_part_copy_with_range(s3, bucket):
    src = os.urandom(7 * MIB)
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes=0-{5 * MIB - 1}",
    )
    first = src[: 5 * MIB]
    assert r1["CopyPartResult"]["ETag"] == f'"{md5(first).hex()}"'
    assert r1["CopyPartResult"]["LastModified"] is not None
    r2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange=f"bytes={MIB + 100}-{6 * MIB + 99}",
    )
    r3 = s3.upload_part(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=3, Body=b"tail")
    done = [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]},
        {"PartNumber": 3, "ETag": r3["ETag"]},
    ]
    r = s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": done}
    )
    want = [first, src[MIB + 100 : 6 * MIB + 100], b"tail"]
    assert r["ETag"] == multipart_etag(want)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"".join(want)


def test_upload_part_copy_whole_object_and_errors(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/src"
    )
    assert r["CopyPartResult"]["ETag"] == f'"{md5(b"0123456789").hex()}"'
    for extra, expected in [
        ({"CopySourceRange": "bytes=5-10"}, ("InvalidRange", 416)),
        ({"CopySourceRange": "5-6"}, ("InvalidArgument", 400)),
        ({"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'}, ("PreconditionFailed", 412)),
        ({"CopySource": f"{bucket}/nope"}, ("NoSuchKey", 404)),
    ]:
        args = dict(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2, CopySource=f"{bucket}/src")
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.upload_part_copy(**{**args, **extra})
        assert error_code(e) == expected, extra


@pytest.mark.slow
def test_boto3_managed_transfer(s3, bucket, tmp_path):
    """upload_file / download_file split into parts and run them in threads."""
    body = os.urandom(26 * MIB + 5)
    src = tmp_path / "src.bin"
    src.write_bytes(body)
    cfg = TransferConfig(
        multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB, max_concurrency=4
    )
    s3.upload_file(str(src), bucket, "managed", Config=cfg)
    h = s3.head_object(Bucket=bucket, Key="managed")
    assert h["ContentLength"] == len(body)
    chunks = [body[i : i + 8 * MIB] for i in range(0, len(body), 8 * MIB)]
    assert h["ETag"] == multipart_etag(chunks)
    dst = tmp_path / "dst.bin"
    s3.download_file(bucket, "managed", str(dst), Config=cfg)
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(body).digest()


@pytest.mark.parametrize("trailer", [False, True], ids=["signed", "trailer"])
def test_multipart_with_token_credentials(user, bucket, trailer):
    c = s3_client(user.token(), "whatever-secret")
    if trailer:
        force_trailer(c)
    parts = [os.urandom(5 * MIB), b"end"]
    uid, done = upload(c, bucket, "tok", parts)
    r = c.complete_multipart_upload(
        Bucket=bucket, Key="tok", UploadId=uid, MultipartUpload={"Parts": done}
    )
    assert r["ETag"] == multipart_etag(parts)
    assert c.get_object(Bucket=bucket, Key="tok")["Body"].read() == b"".join(parts)


def test_multipart_of_another_owner_is_denied(s3, bucket, make_user):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    other = make_user().client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")
    assert error_code(e) == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.list_multipart_uploads(Bucket=bucket)
    assert error_code(e) == ("AccessDenied", 403)


def test_ranges_across_part_boundaries(s3, bucket):
    parts = [os.urandom(5 * MIB + 1), os.urandom(5 * MIB + 2), os.urandom(777)]
    uid, done = upload(s3, bucket, "ranges", parts)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="ranges", UploadId=uid, MultipartUpload={"Parts": done}
    )
    whole = b"".join(parts)
    b1 = len(parts[0])
    b2 = b1 + len(parts[1])
    for first, last in [(b1 - 10, b1 + 10), (b1, b1), (b1 - 1, b2 + 5), (0, len(whole) - 1)]:
        r = s3.get_object(Bucket=bucket, Key="ranges", Range=f"bytes={first}-{last}")
        assert r["ContentRange"] == f"bytes {first}-{last}/{len(whole)}"
        assert r["Body"].read() == whole[first : last + 1]
    r = s3.get_object(Bucket=bucket, Key="ranges", Range="bytes=-100")
    assert r["Body"].read() == whole[-100:]


def test_upload_part_content_md5(s3, bucket):
    import base64

    uid = s3.create_multipart_upload(Bucket=bucket, Key="md5")["UploadId"]
    body = b"part body"
    good = base64.b64encode(md5(body)).decode()
    s3.upload_part(
        Bucket=bucket, Key="md5", UploadId=uid, PartNumber=1, Body=body, ContentMD5=good
    )
    wrong = base64.b64encode(md5(b"other")).decode()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.upload_part(
            Bucket=bucket, Key="md5", UploadId=uid, PartNumber=2, Body=body, ContentMD5=wrong
        )
    assert error_code(e) == ("BadDigest", 400)
    parts = s3.list_parts(Bucket=bucket, Key="md5", UploadId=uid)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]


def test_conditional_complete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="taken", Body=b"first")
    uid, done = upload(s3, bucket, "taken", [b"second"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="taken",
            UploadId=uid,
            MultipartUpload={"Parts": done},
            IfNoneMatch="*",
        )
    assert error_code(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"first"
    # The upload survives a failed condition.
    etag = s3.head_object(Bucket=bucket, Key="taken")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="taken", UploadId=uid, MultipartUpload={"Parts": done}, IfMatch=etag
    )
    assert s3.get_object(Bucket=bucket, Key="taken")["Body"].read() == b"second"
    uid, done = upload(s3, bucket, "fresh", [b"x"])
    s3.complete_multipart_upload(
        Bucket=bucket, Key="fresh", UploadId=uid, MultipartUpload={"Parts": done}, IfNoneMatch="*"
    )
    assert s3.get_object(Bucket=bucket, Key="fresh")["Body"].read() == b"x"
