"""Objects with boto3: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects,
CopyObject; ranges, conditional requests, stored headers and metadata, ETags and
Content-MD5, zero-byte and large objects. Each expectation is what Amazon S3 answers."""

import base64
import datetime
import hashlib
import os

import botocore
import pytest
import urllib3

from conftest import error_code, force_trailer, s3_client, unique


def md5_hex(b):
    return hashlib.md5(b).hexdigest()


def headers(r):
    return r["ResponseMetadata"]["HTTPHeaders"]


def status(r):
    return r["ResponseMetadata"]["HTTPStatusCode"]


def test_put_get_head_delete_round_trip(s3, bucket):
    body = b"hello world"
    put = s3.put_object(Bucket=bucket, Key="a/b c.txt", Body=body, ContentType="text/plain")
    assert status(put) == 200
    assert put["ETag"] == '"5eb63bbbe01eeed093cb22bb8f5acdc3"'
    got = s3.get_object(Bucket=bucket, Key="a/b c.txt")
    assert status(got) == 200
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain"
    assert got["ContentLength"] == len(body)
    assert got["ETag"] == put["ETag"]
    assert got["AcceptRanges"] == "bytes"
    assert isinstance(got["LastModified"], datetime.datetime)
    head = s3.head_object(Bucket=bucket, Key="a/b c.txt")
    assert status(head) == 200
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == put["ETag"]
    assert head["LastModified"] == got["LastModified"]
    assert "x-amz-request-id" in headers(head)
    d = s3.delete_object(Bucket=bucket, Key="a/b c.txt")
    assert status(d) == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="a/b c.txt")
    assert error_code(e) == ("404", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="a/b c.txt")
    assert error_code(e) == ("NoSuchKey", 404)
    assert e.value.response["Error"]["Key"] == "a/b c.txt"


def test_missing_key_error_names_the_key(s3, bucket):
    # As S3: <Key> in the error body, escaped as XML, whatever the key holds.
    for key in ["plain", "dir/a b&<c>\"'é%2F+"]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.get_object(Bucket=bucket, Key=key)
        assert error_code(e) == ("NoSuchKey", 404)
        err = e.value.response["Error"]
        assert err["Key"] == key, err
        assert "BucketName" not in err, err
        assert e.value.response["ResponseMetadata"]["RequestId"]


def test_delete_is_idempotent(s3, bucket):
    assert status(s3.delete_object(Bucket=bucket, Key="never-existed")) == 204
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    assert status(s3.delete_object(Bucket=bucket, Key="k")) == 204
    assert status(s3.delete_object(Bucket=bucket, Key="k")) == 204


def test_object_in_missing_bucket(s3):
    name = unique("missing")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert error_code(e) == ("NoSuchBucket", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=name, Key="k")
    assert error_code(e) == ("NoSuchBucket", 404)
    assert e.value.response["Error"]["BucketName"] == name


def test_objects_of_another_owner_are_denied(s3, bucket, make_user):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    other = make_user().client()
    for call in [
        lambda: other.get_object(Bucket=bucket, Key="k"),
        lambda: other.put_object(Bucket=bucket, Key="k2", Body=b"y"),
        lambda: other.delete_object(Bucket=bucket, Key="k"),
        lambda: other.list_objects_v2(Bucket=bucket),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.head_object(Bucket=bucket, Key="k")
    assert error_code(e) == ("403", 403)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_overwrite_replaces_data_and_headers(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", ContentType="text/a", Metadata={"x": "1"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"second!")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second!"
    assert got["ContentType"] == "binary/octet-stream"
    assert got["Metadata"] == {}
    assert got["ETag"] == f'"{md5_hex(b"second!")}"'


def test_zero_byte_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="empty")["ContentLength"] == 0
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("empty", 0)]


def test_etag_is_md5_of_body(s3, bucket):
    for n in [1, 1000, 70_000, 4 * 1024 * 1024 + 3]:
        body = os.urandom(n)
        r = s3.put_object(Bucket=bucket, Key=f"k{n}", Body=body)
        assert r["ETag"] == f'"{md5_hex(body)}"'
        assert s3.head_object(Bucket=bucket, Key=f"k{n}")["ETag"] == r["ETag"]


def test_content_md5(s3, bucket):
    body = b"checked body"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="ok", Body=body, ContentMD5=good)
    assert s3.get_object(Bucket=bucket, Key="ok")["Body"].read() == body
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5=wrong)
    assert error_code(e) == ("BadDigest", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ContentMD5="not-base64-md5")
    assert error_code(e) == ("InvalidDigest", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="bad")
    assert error_code(e) == ("404", 404)


@pytest.mark.slow
@pytest.mark.parametrize("trailer", [False, True], ids=["signed", "trailer"])
def test_large_object_round_trip(user, bucket, trailer):
    s3 = force_trailer(user.client()) if trailer else user.client()
    body = os.urandom(21 * 1024 * 1024 + 12345)
    # put_object sends one request (no multipart): a signed payload with a CRC32
    # header, or (as over HTTPS) aws-chunked with the CRC32 in a trailer.
    r = s3.put_object(Bucket=bucket, Key="big", Body=body)
    assert r["ETag"] == f'"{md5_hex(body)}"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentLength"] == len(body)
    data = got["Body"].read()
    assert len(data) == len(body)
    assert hashlib.sha256(data).digest() == hashlib.sha256(body).digest()
    # A range across a stripe boundary (4 MiB).
    part = s3.get_object(Bucket=bucket, Key="big", Range="bytes=4194000-4195000")["Body"].read()
    assert part == body[4194000:4195001]


# --- stored headers and metadata ---


def test_user_metadata_and_standard_headers_are_stored(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket,
        Key="h",
        Body=b"<p>hi</p>",
        ContentType="text/html; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="hi.html"',
        ContentLanguage="en-GB",
        CacheControl="max-age=3600, public",
        Expires=expires,
        Metadata={"Color": "blue", "with-dash": "v a l", "empty": ""},
    )
    for r in [s3.get_object(Bucket=bucket, Key="h"), s3.head_object(Bucket=bucket, Key="h")]:
        h = headers(r)
        assert r["ContentType"] == "text/html; charset=utf-8"
        assert r["ContentEncoding"] == "identity"
        assert r["ContentDisposition"] == 'attachment; filename="hi.html"'
        assert r["ContentLanguage"] == "en-GB"
        assert r["CacheControl"] == "max-age=3600, public"
        assert h["expires"] == "Wed, 02 Jan 2030 03:04:05 GMT"
        # S3 returns metadata names in lower case.
        assert r["Metadata"] == {"color": "blue", "with-dash": "v a l", "empty": ""}
        assert h["x-amz-meta-color"] == "blue"


def test_default_content_type(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "binary/octet-stream"


def test_metadata_too_large(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"big": "v" * 2100})
    assert error_code(e) == ("MetadataTooLarge", 400)


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ContentType="text/plain")
    r = s3.get_object(
        Bucket=bucket,
        Key="k",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="no-cache",
        ResponseContentLanguage="fr",
        ResponseContentEncoding="gzip",
    )
    assert r["ContentType"] == "application/json"
    assert r["ContentDisposition"] == "inline"
    assert r["CacheControl"] == "no-cache"
    assert r["ContentLanguage"] == "fr"
    assert r["ContentEncoding"] == "gzip"


# --- ranges ---

BODY = bytes(range(256)) * 4  # 1024 bytes


@pytest.fixture
def ranged(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=BODY)
    return bucket


@pytest.mark.parametrize(
    "spec,first,last",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-10", 10, 10),
        ("bytes=1000-2000", 1000, 1023),  # last beyond the end is clamped
        ("bytes=-100", 924, 1023),  # suffix
        ("bytes=-5000", 0, 1023),  # suffix longer than the object
        ("bytes=1000-", 1000, 1023),  # open
        ("bytes=0-", 0, 1023),
    ],
)
def test_range_get(s3, ranged, spec, first, last):
    r = s3.get_object(Bucket=ranged, Key="r", Range=spec)
    assert status(r) == 206
    assert r["ContentRange"] == f"bytes {first}-{last}/1024"
    assert r["ContentLength"] == last - first + 1
    assert r["Body"].read() == BODY[first : last + 1]


def test_range_head(s3, ranged):
    r = s3.head_object(Bucket=ranged, Key="r", Range="bytes=0-9")
    assert status(r) == 206
    assert r["ContentRange"] == "bytes 0-9/1024"
    assert r["ContentLength"] == 10


@pytest.mark.parametrize("spec", ["bytes=1024-", "bytes=5000-6000", "bytes=1024-1030"])
def test_range_not_satisfiable(s3, ranged, spec):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=ranged, Key="r", Range=spec)
    assert error_code(e) == ("InvalidRange", 416)
    assert headers(e.value.response)["content-range"] == "bytes */1024"


def test_range_on_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="e", Body=b"")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="e", Range="bytes=0-1")
    assert error_code(e) == ("InvalidRange", 416)


def test_invalid_range_syntax_is_ignored(s3, ranged):
    # S3 ignores a Range header it cannot use (RFC 9110) and returns the whole object.
    for spec in ["bytes=9-2", "bytes=abc", "items=0-1"]:
        r = s3.get_object(Bucket=ranged, Key="r", Range=spec)
        assert status(r) == 200, spec
        assert "ContentRange" not in r
        assert r["Body"].read() == BODY
        h = s3.head_object(Bucket=ranged, Key="r", Range=spec)
        assert status(h) == 200 and h["ContentLength"] == len(BODY)


def test_invalid_range_with_token_and_presigned_url(user, ranged):
    c = s3_client(user.token(), "any", signature_version="s3v4")
    assert c.get_object(Bucket=ranged, Key="r", Range="bytes=9-2")["Body"].read() == BODY
    url = user.client(signature_version="s3v4").generate_presigned_url(
        "get_object", Params={"Bucket": ranged, "Key": "r"}, ExpiresIn=60
    )
    r = urllib3.PoolManager(retries=False).request("GET", url, headers={"Range": "bytes=9-2"})
    assert (r.status, r.data) == (200, BODY)




# --- conditional requests ---


@pytest.fixture
def cond(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")
    head = s3.head_object(Bucket=bucket, Key="c")
    return bucket, put["ETag"], head["LastModified"]


DAY = datetime.timedelta(days=1)


@pytest.mark.parametrize("op", ["get_object", "head_object"])
def test_conditions_that_hold(s3, cond, op):
    bucket, etag, mtime = cond
    call = getattr(s3, op)
    for kw in [
        {"IfMatch": etag},
        {"IfMatch": "*"},
        {"IfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
        {"IfModifiedSince": mtime - DAY},
        {"IfUnmodifiedSince": mtime},
        {"IfUnmodifiedSince": mtime + DAY},
        # If-Match true wins over If-Unmodified-Since false.
        {"IfMatch": etag, "IfUnmodifiedSince": mtime - DAY},
    ]:
        assert status(call(Bucket=bucket, Key="c", **kw)) == 200, kw


@pytest.mark.parametrize("op", ["get_object", "head_object"])
def test_conditions_not_modified(s3, cond, op):
    bucket, etag, mtime = cond
    call = getattr(s3, op)
    for kw in [
        {"IfNoneMatch": etag},
        {"IfNoneMatch": "*"},
        {"IfModifiedSince": mtime},
        # If-None-Match false wins over If-Modified-Since true.
        {"IfNoneMatch": etag, "IfModifiedSince": mtime - DAY},
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(Bucket=bucket, Key="c", **kw)
        assert error_code(e) == ("304", 304), kw
        assert headers(e.value.response)["etag"] == etag
        assert headers(e.value.response)["last-modified"] == mtime.strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        )


@pytest.mark.parametrize("op", ["get_object", "head_object"])
def test_conditions_precondition_failed(s3, cond, op):
    bucket, etag, mtime = cond
    call = getattr(s3, op)
    for kw in [
        {"IfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"IfUnmodifiedSince": mtime - DAY},
        # If-Match false fails even when If-None-Match would hold.
        {"IfMatch": '"0123456789abcdef0123456789abcdef"', "IfNoneMatch": '"x"'},
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call(Bucket=bucket, Key="c", **kw)
        want = ("PreconditionFailed", 412) if op == "get_object" else ("412", 412)
        assert error_code(e) == want, kw


def test_put_if_none_match_star(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert error_code(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_put_if_match(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="v", Body=b"1")
    second = s3.put_object(Bucket=bucket, Key="v", Body=b"2", IfMatch=first["ETag"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="v", Body=b"3", IfMatch=first["ETag"])
    assert error_code(e) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="v")["ETag"] == second["ETag"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=first["ETag"])
    assert error_code(e) == ("NoSuchKey", 404)


# --- DeleteObjects ---


def test_delete_objects(s3, bucket):
    keys = [f"d/{i}" for i in range(5)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in keys[:3] + ["d/missing"]]},
    )
    assert status(r) == 200
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys[:3] + ["d/missing"])
    assert "Errors" not in r or r["Errors"] == []
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == keys[3:]


def test_delete_objects_quiet(s3, bucket):
    for k in ["a", "b"]:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": True}
    )
    assert status(r) == 200
    assert "Deleted" not in r
    assert "Errors" not in r
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_delete_objects_in_missing_bucket(s3):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_objects(Bucket=unique("missing"), Delete={"Objects": [{"Key": "a"}]})
    assert error_code(e) == ("NoSuchBucket", 404)


# --- CopyObject ---


def test_copy_object_same_bucket_copies_metadata(s3, bucket):
    body = os.urandom(5000)
    s3.put_object(
        Bucket=bucket, Key="src", Body=body, ContentType="image/png", Metadata={"a": "1"}
    )
    r = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert status(r) == 200
    assert r["CopyObjectResult"]["ETag"] == f'"{md5_hex(body)}"'
    assert isinstance(r["CopyObjectResult"]["LastModified"], datetime.datetime)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == body
    assert got["ContentType"] == "image/png"
    assert got["Metadata"] == {"a": "1"}
    # The copy is independent of the source.
    s3.delete_object(Bucket=bucket, Key="src")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == body


def test_copy_object_cross_bucket(s3, bucket):
    other = unique("bkt")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=bucket, Key="a b/ü", Body=b"payload")
    s3.copy_object(Bucket=other, Key="copy", CopySource={"Bucket": bucket, "Key": "a b/ü"})
    assert s3.get_object(Bucket=other, Key="copy")["Body"].read() == b"payload"
    # A string copy source (boto3 URL-encodes it) works as well.
    s3.copy_object(Bucket=other, Key="copy2", CopySource=f"{bucket}/a b/ü")
    assert s3.get_object(Bucket=other, Key="copy2")["Body"].read() == b"payload"


def test_copy_object_replace_metadata(s3, bucket):
    s3.put_object(
        Bucket=bucket,
        Key="src",
        Body=b"x",
        ContentType="text/plain",
        CacheControl="no-store",
        Metadata={"old": "1"},
    )
    s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE",
        ContentType="application/xml",
        Metadata={"new": "2"},
    )
    h = s3.head_object(Bucket=bucket, Key="dst")
    assert h["ContentType"] == "application/xml"
    assert h["Metadata"] == {"new": "2"}
    assert "CacheControl" not in h
    # COPY ignores the request's metadata.
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="COPY",
        Metadata={"ignored": "x"},
    )
    h = s3.head_object(Bucket=bucket, Key="dst2")
    assert h["Metadata"] == {"old": "1"}
    assert h["CacheControl"] == "no-store"


def test_copy_object_onto_itself(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"v": "1"})
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="k", CopySource={"Bucket": bucket, "Key": "k"})
    assert error_code(e) == ("InvalidRequest", 400)
    s3.copy_object(
        Bucket=bucket,
        Key="k",
        CopySource={"Bucket": bucket, "Key": "k"},
        MetadataDirective="REPLACE",
        Metadata={"v": "2"},
    )
    h = s3.head_object(Bucket=bucket, Key="k")
    assert h["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_copy_object_missing_source(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "nope"})
    assert error_code(e) == ("NoSuchKey", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(
            Bucket=bucket, Key="dst", CopySource={"Bucket": unique("missing"), "Key": "k"}
        )
    assert error_code(e) == ("NoSuchBucket", 404)


def test_copy_object_from_another_owner_is_denied(s3, bucket, make_user):
    other = make_user().client()
    theirs = unique("bkt")
    other.create_bucket(Bucket=theirs)
    other.put_object(Bucket=theirs, Key="secret", Body=b"s")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="stolen", CopySource={"Bucket": theirs, "Key": "secret"})
    assert error_code(e) == ("AccessDenied", 403)


def test_copy_source_conditions(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    etag = put["ETag"]
    mtime = s3.head_object(Bucket=bucket, Key="src")["LastModified"]
    src = {"Bucket": bucket, "Key": "src"}
    for kw in [
        {"CopySourceIfMatch": etag},
        {"CopySourceIfNoneMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfModifiedSince": mtime - DAY},
        {"CopySourceIfUnmodifiedSince": mtime},
    ]:
        assert status(s3.copy_object(Bucket=bucket, Key="dst", CopySource=src, **kw)) == 200, kw
    for kw in [
        {"CopySourceIfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"CopySourceIfNoneMatch": etag},
        {"CopySourceIfModifiedSince": mtime},
        {"CopySourceIfUnmodifiedSince": mtime - DAY},
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            s3.copy_object(Bucket=bucket, Key="dst-no", CopySource=src, **kw)
        assert error_code(e) == ("PreconditionFailed", 412), kw
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_object(Bucket=bucket, Key="dst-no")
    assert error_code(e) == ("404", 404)


def test_key_length_limit(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="k" * 1024)["Body"].read() == b"x"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert error_code(e) == ("KeyTooLongError", 400)


def test_delete_objects_over_1000_keys_is_refused(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]}
        )
    assert error_code(e) == ("MalformedXML", 400)


def test_storage_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="std", Body=b"x", StorageClass="STANDARD")
    assert s3.list_objects_v2(Bucket=bucket)["Contents"][0]["StorageClass"] == "STANDARD"
    # Cuttle has one storage class; others are refused as S3 refuses unknown ones.
    for call in [
        lambda: s3.put_object(Bucket=bucket, Key="ia", Body=b"x", StorageClass="STANDARD_IA"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="ia", StorageClass="GLACIER"),
        lambda: s3.copy_object(
            Bucket=bucket,
            Key="ia",
            CopySource={"Bucket": bucket, "Key": "std"},
            StorageClass="ONEZONE_IA",
        ),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == ("InvalidStorageClass", 400)


def test_part_number_of_single_part_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"0123456789")
    r = s3.get_object(Bucket=bucket, Key="k", PartNumber=1)
    assert status(r) == 206
    assert r["ContentRange"] == "bytes 0-9/10"
    assert "PartsCount" not in r
    assert r["Body"].read() == b"0123456789"
    h = s3.head_object(Bucket=bucket, Key="k", PartNumber=1)
    assert status(h) == 206 and h["ContentLength"] == 10
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=2)
    assert error_code(e) == ("InvalidPartNumber", 416)


def test_concurrent_overwrites_acl_changes_and_deletes_leave_one_whole_object(user, bucket):
    """Writers, ACL changes and deletes of one key race; every acknowledged state is
    whole: afterwards the key holds exactly one writer's bytes (or nothing after the
    last delete), never data another writer's replace removed."""
    import concurrent.futures

    bodies = {i: os.urandom(1000 + i) for i in range(24)}

    def put(i):
        c = user.client()
        c.put_object(Bucket=bucket, Key="hot", Body=bodies[i])
        c.put_object_acl(Bucket=bucket, Key="hot", ACL="public-read" if i % 2 else "private")
        got = c.get_object(Bucket=bucket, Key="hot")["Body"].read()
        assert got in bodies.values()

    def put_tolerating_races(i):
        try:
            put(i)
        except botocore.exceptions.ClientError as e:
            # Another writer may delete between our PUT and our ACL change or GET.
            assert error_code_of(e) == ("NoSuchKey", 404), e.response

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put_tolerating_races, range(24)))
        list(pool.map(lambda i: user.client().delete_object(Bucket=bucket, Key="hot") if i % 6 == 0 else put_tolerating_races(i), range(24)))
    s3 = user.client()
    s3.put_object(Bucket=bucket, Key="hot", Body=bodies[0])
    assert s3.get_object(Bucket=bucket, Key="hot")["Body"].read() == bodies[0]
    s3.delete_object(Bucket=bucket, Key="hot")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])] == []


def error_code_of(e):
    r = e.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]
