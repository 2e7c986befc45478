"""Small objects stored inline (gateway setting `inline_max_bytes`): their bytes go
beside their bucket-index entry in the same cluster write (and come back with it in
the same read) instead of into a data stripe. To S3 clients nothing changes: every
operation on them answers as for any other object. These tests check both sides: no
stripe is written for them, and reads, ranges, copies, overwrites, ACL changes,
deletes and listings behave as S3's.

The suite's runner says in ``S3_INLINE_MAX`` what the gateways were configured with;
the tests need inlining on (the default; the two-gateway run turns it off, so the
suites also cover small objects in stripes)."""

import hashlib
import os

import pytest

from conftest import cuttle, error_code

INLINE_MAX = int(os.environ.get("S3_INLINE_MAX", "0") or 0)

pytestmark = pytest.mark.skipif(INLINE_MAX < 8192, reason="gateways run without inline objects")


def data_objects():
    return set(cuttle("object", "ls", ".rgw.data")["objects"])


def test_small_objects_write_no_stripe_and_read_back_whole(s3, bucket):
    before = data_objects()
    bodies = {f"small-{n}": os.urandom(n) for n in (1, 100, 4096, INLINE_MAX)}
    for key, body in bodies.items():
        put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert data_objects() - before == set()
    for key, body in bodies.items():
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentLength"] == len(body)
        assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentLength"] == len(body)
    # One byte over the limit, and an empty object, take the usual paths: the first
    # writes one stripe, the second none (it has no data at all).
    s3.put_object(Bucket=bucket, Key="striped", Body=os.urandom(INLINE_MAX + 1))
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert len(data_objects() - before) == 1
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_ranges_and_conditions_on_an_inline_object(s3, bucket):
    body = bytes(range(256)) * 16
    etag = s3.put_object(Bucket=bucket, Key="r", Body=body)["ETag"]
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes 10-19/{len(body)}"
    assert got["Body"].read() == body[10:20]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == body[-5:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=4000-")["Body"].read() == body[4000:]
    with pytest.raises(Exception) as e:
        s3.get_object(Bucket=bucket, Key="r", Range=f"bytes={len(body)}-")
    assert error_code(e) == ("InvalidRange", 416)
    with pytest.raises(Exception) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert error_code(e) == ("304", 304)
    with pytest.raises(Exception) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"0123"')
    assert error_code(e) == ("PreconditionFailed", 412)


def test_overwrites_between_inline_and_striped_keep_the_latest_bytes(s3, bucket):
    small, large, small2 = os.urandom(3000), os.urandom(70_000), os.urandom(5)
    for body in (small, large, small2, large, small):
        s3.put_object(Bucket=bucket, Key="k", Body=body)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("k", len(small))]


def test_copy_acl_change_and_delete_of_inline_objects(s3, user, bucket, make_user):
    body = os.urandom(2048)
    s3.put_object(Bucket=bucket, Key="src", Body=body, Metadata={"lab": "physics"})
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    dst = s3.get_object(Bucket=bucket, Key="dst")
    assert dst["Body"].read() == body and dst["Metadata"] == {"lab": "physics"}
    # A ranged part copy from an inline source into a multipart upload.
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=up,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=100-199",
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == body[100:200]
    # An ACL change rewrites the entry; the bytes beside it stay.
    reader = make_user()
    s3.put_object_acl(
        Bucket=bucket,
        Key="src",
        GrantRead=f"id={reader.uid}",
        GrantFullControl=f"id={user.uid}",
    )
    assert reader.client().get_object(Bucket=bucket, Key="src")["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == body
    s3.delete_object(Bucket=bucket, Key="src")
    with pytest.raises(Exception) as e:
        s3.get_object(Bucket=bucket, Key="src")
    assert error_code(e) == ("NoSuchKey", 404)
    # The deleted key's bytes went with it: the same key written again is new data.
    again = os.urandom(10)
    s3.put_object(Bucket=bucket, Key="src", Body=again)
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == again


def test_listings_of_inline_objects_show_exactly_the_objects(s3, bucket):
    keys = [f"d{i % 3}/obj-{i:03}" for i in range(60)] + ["\u00e9t\u00e9", "zz", "\U0001f600"]
    for i, k in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x" * (i + 1))
    sizes = {k: i + 1 for i, k in enumerate(keys)}
    seen = []
    token = None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=7, **kw)
        seen += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(sizes.items(), key=lambda kv: kv[0].encode())
    # After the last key there is nothing, not the stored bytes.
    tail = s3.list_objects_v2(Bucket=bucket, StartAfter="\U0001f600")
    assert tail["KeyCount"] == 0 and "Contents" not in tail
    rolled = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["d0/", "d1/", "d2/"]
    assert [o["Key"] for o in rolled["Contents"]] == ["zz", "\u00e9t\u00e9", "\U0001f600"]
    # A bucket whose objects are all deleted is empty, whatever was stored inline.
    for k in keys:
        s3.delete_object(Bucket=bucket, Key=k)
    s3.delete_bucket(Bucket=bucket)
