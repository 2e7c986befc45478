"""Listing with boto3: ListObjects (v1) and ListObjectsV2 with prefix, delimiter and
CommonPrefixes, max-keys, marker / continuation-token / start-after, encoding-type=url
and fetch-owner; truncation across thousands of keys, checked page by page."""

import concurrent.futures
import urllib.parse

import botocore
import pytest

from conftest import error_code, s3_client, unique

TREE = [
    "a.txt",
    "dir/1",
    "dir/2",
    "dir/sub/3",
    "dir/sub/4",
    "dir2/x",
    "z",
]


@pytest.fixture
def tree(s3, bucket):
    for k in TREE:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    return bucket


def keys(r):
    return [o["Key"] for o in r.get("Contents", [])]


def prefixes(r):
    return [p["Prefix"] for p in r.get("CommonPrefixes", [])]


def test_empty_bucket(s3, bucket):
    r = s3.list_objects_v2(Bucket=bucket)
    assert r["KeyCount"] == 0
    assert r["IsTruncated"] is False
    assert "Contents" not in r
    assert r["Name"] == bucket
    assert r["MaxKeys"] == 1000
    r = s3.list_objects(Bucket=bucket)
    assert "Contents" not in r
    assert r["IsTruncated"] is False


def test_v2_lists_all_in_order_with_fields(s3, tree):
    r = s3.list_objects_v2(Bucket=tree)
    assert keys(r) == TREE
    assert r["KeyCount"] == len(TREE)
    assert r["IsTruncated"] is False
    assert "NextContinuationToken" not in r
    o = r["Contents"][0]
    assert o["Size"] == len(b"a.txt")
    assert o["ETag"].startswith('"') and len(o["ETag"]) == 34
    assert o["StorageClass"] == "STANDARD"
    assert "Owner" not in o


def test_v2_fetch_owner(s3, user, tree):
    r = s3.list_objects_v2(Bucket=tree, FetchOwner=True)
    assert all(o["Owner"]["ID"] == user.uid for o in r["Contents"])


def test_v1_has_owner(s3, user, tree):
    r = s3.list_objects(Bucket=tree)
    assert keys(r) == TREE
    assert all(o["Owner"]["ID"] == user.uid for o in r["Contents"])


@pytest.mark.parametrize("op", ["list_objects", "list_objects_v2"])
def test_prefix_and_delimiter(s3, tree, op):
    call = getattr(s3, op)
    r = call(Bucket=tree, Delimiter="/")
    assert keys(r) == ["a.txt", "z"]
    assert prefixes(r) == ["dir/", "dir2/"]
    assert r["Delimiter"] == "/"
    r = call(Bucket=tree, Prefix="dir/", Delimiter="/")
    assert keys(r) == ["dir/1", "dir/2"]
    assert prefixes(r) == ["dir/sub/"]
    assert r["Prefix"] == "dir/"
    r = call(Bucket=tree, Prefix="dir")
    assert keys(r) == ["dir/1", "dir/2", "dir/sub/3", "dir/sub/4", "dir2/x"]
    r = call(Bucket=tree, Prefix="nothing/")
    assert keys(r) == [] and prefixes(r) == []
    # A delimiter other than "/".
    r = call(Bucket=tree, Delimiter="i")
    assert keys(r) == ["a.txt", "z"]
    assert prefixes(r) == ["di"]


def test_v2_max_keys_and_continuation(s3, tree):
    seen = []
    token = None
    pages = 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=tree, MaxKeys=3, **kw)
        pages += 1
        assert r["MaxKeys"] == 3
        assert r["KeyCount"] == len(keys(r))
        seen += keys(r)
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        assert r["KeyCount"] == 3
        token = r["NextContinuationToken"]
        if pages > 1:
            assert r["ContinuationToken"]
    assert seen == TREE
    assert pages == 3


def test_v2_counts_common_prefixes_towards_max_keys(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert keys(r) + prefixes(r) == ["a.txt", "dir/"]
    assert r["KeyCount"] == 2
    assert r["IsTruncated"] is True
    r = s3.list_objects_v2(
        Bucket=tree, Delimiter="/", MaxKeys=2, ContinuationToken=r["NextContinuationToken"]
    )
    assert prefixes(r) == ["dir2/"] and keys(r) == ["z"]
    assert r["IsTruncated"] is False


def test_v2_start_after(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, StartAfter="dir/sub/3")
    assert keys(r) == ["dir/sub/4", "dir2/x", "z"]
    assert r["StartAfter"] == "dir/sub/3"
    # StartAfter need not be an existing key.
    assert keys(s3.list_objects_v2(Bucket=tree, StartAfter="dir/zzz")) == ["dir2/x", "z"]
    assert keys(s3.list_objects_v2(Bucket=tree, StartAfter="zz")) == []


def test_v2_max_keys_zero(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, MaxKeys=0)
    assert r["KeyCount"] == 0
    assert "Contents" not in r
    assert r["IsTruncated"] is False


def test_max_keys_is_capped_at_1000(s3, tree):
    assert s3.list_objects_v2(Bucket=tree, MaxKeys=5000)["MaxKeys"] == 1000


def test_v1_marker(s3, tree):
    r = s3.list_objects(Bucket=tree, MaxKeys=2)
    assert keys(r) == TREE[:2]
    assert r["IsTruncated"] is True
    # Without a delimiter S3 sends no NextMarker: the client continues after the last key.
    assert "NextMarker" not in r
    r = s3.list_objects(Bucket=tree, Marker=TREE[1], MaxKeys=100)
    assert keys(r) == TREE[2:]
    assert r["Marker"] == TREE[1]
    assert r["IsTruncated"] is False


def test_v1_next_marker_with_delimiter(s3, tree):
    r = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2)
    assert keys(r) + prefixes(r) == ["a.txt", "dir/"]
    assert r["IsTruncated"] is True
    assert r["NextMarker"] == "dir/"
    r = s3.list_objects(Bucket=tree, Delimiter="/", Marker=r["NextMarker"])
    assert prefixes(r) == ["dir2/"] and keys(r) == ["z"]


def test_invalid_continuation_token(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!not-a-token!!")
    assert error_code(e) == ("InvalidArgument", 400)


def test_list_missing_bucket(s3):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket=unique("missing"))
    assert error_code(e) == ("NoSuchBucket", 404)


ODD_KEYS = [
    "plain",
    "with space",
    "ünïcødé/файл",
    "emoji-🐙",
    "a//b",
    "a//b//c",
    "a///d",
    "plus+and&amp=?#",
    "percent%20literal",
    "tab\tnewline",
]


@pytest.fixture
def odd(s3, bucket):
    for k in ODD_KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    return bucket


def test_odd_keys_round_trip(s3, odd):
    # boto3 asks for encoding-type=url and decodes the answer itself.
    assert keys(s3.list_objects_v2(Bucket=odd)) == sorted(ODD_KEYS, key=lambda k: k.encode())
    assert keys(s3.list_objects(Bucket=odd)) == sorted(ODD_KEYS, key=lambda k: k.encode())
    for k in ODD_KEYS:
        assert s3.get_object(Bucket=odd, Key=k)["Body"].read() == b"x"


@pytest.mark.parametrize("op", ["list_objects", "list_objects_v2"])
def test_encoding_type_url(s3, odd, op):
    # Asked for explicitly, boto3 leaves the encoded answer as it is.
    r = getattr(s3, op)(Bucket=odd, EncodingType="url")
    assert r["EncodingType"] == "url"
    want = sorted(ODD_KEYS, key=lambda k: k.encode())
    got = keys(r)
    assert [urllib.parse.unquote(k) for k in got] == want
    assert "with%20space" in got
    assert "%C3%BCn%C3%AFc%C3%B8d%C3%A9/%D1%84%D0%B0%D0%B9%D0%BB" in got
    assert "tab%09newline" in got
    assert all(" " not in k and "\t" not in k for k in got)


def test_double_slash_prefixes(s3, odd):
    r = s3.list_objects_v2(Bucket=odd, Prefix="a/", Delimiter="/")
    assert prefixes(r) == ["a//"]
    r = s3.list_objects_v2(Bucket=odd, Prefix="a//", Delimiter="/")
    assert keys(r) == ["a//b"]
    assert prefixes(r) == ["a///", "a//b/"]
    r = s3.list_objects_v2(Bucket=odd, Prefix="a//", Delimiter="/", EncodingType="url")
    assert r["Prefix"] == "a//"
    assert r["Delimiter"] == "/"


def test_encoding_type_url_encodes_prefixes(s3, odd):
    r = s3.list_objects_v2(Bucket=odd, Prefix="ü", Delimiter="/", EncodingType="url")
    assert prefixes(r) == ["%C3%BCn%C3%AFc%C3%B8d%C3%A9/"]
    assert r["Prefix"] == "%C3%BC"


def test_invalid_encoding_type(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, EncodingType="base64")
    assert error_code(e) == ("InvalidArgument", 400)


N_MANY = 2500


@pytest.fixture(scope="module")
def many(make_user_module):
    """A bucket with N_MANY keys under a few prefixes (built once for the module)."""
    u = make_user_module()
    c = u.client(max_pool_connections=32)
    name = unique("many")
    c.create_bucket(Bucket=name)
    names = [f"p{i % 3}/k{i:05d}" for i in range(N_MANY)]

    def put(k):
        c.put_object(Bucket=name, Key=k, Body=b"")

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        list(pool.map(put, names))
    return c, name, sorted(names)


@pytest.mark.slow
def test_v2_truncation_across_thousands_of_keys(many):
    c, name, want = many
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = c.list_objects_v2(Bucket=name, **kw)
        pages += 1
        seen += keys(r)
        if r["IsTruncated"]:
            assert r["KeyCount"] == 1000
            assert r.get("NextContinuationToken"), "a truncated page carries a token"
            token = r["NextContinuationToken"]
        else:
            assert "NextContinuationToken" not in r
            break
    assert pages == 3
    assert seen == want


@pytest.mark.slow
def test_v2_truncation_with_small_pages_and_prefix(many):
    c, name, want = many
    seen = []
    for page in c.get_paginator("list_objects_v2").paginate(
        Bucket=name, Prefix="p1/", PaginationConfig={"PageSize": 333}
    ):
        if page["IsTruncated"]:
            assert page["KeyCount"] == 333
            assert page["NextContinuationToken"]
        seen += keys(page)
    assert seen == [k for k in want if k.startswith("p1/")]


@pytest.mark.slow
def test_v1_truncation_across_thousands_of_keys(many):
    c, name, want = many
    seen, marker = [], ""
    while True:
        r = c.list_objects(Bucket=name, Marker=marker)
        seen += keys(r)
        if not r["IsTruncated"]:
            break
        assert len(keys(r)) == 1000
        marker = keys(r)[-1]
    assert seen == want
    # The v1 paginator (which follows NextMarker or the last key) agrees.
    paged = []
    for page in c.get_paginator("list_objects").paginate(Bucket=name):
        paged += keys(page)
    assert paged == want


@pytest.mark.slow
def test_delimiter_over_thousands_of_keys(many):
    c, name, _ = many
    r = c.list_objects_v2(Bucket=name, Delimiter="/")
    assert prefixes(r) == ["p0/", "p1/", "p2/"]
    assert keys(r) == []
    assert r["IsTruncated"] is False
    r = c.list_objects_v2(Bucket=name, Delimiter="/", MaxKeys=2)
    assert prefixes(r) == ["p0/", "p1/"]
    assert r["IsTruncated"] is True
    r = c.list_objects_v2(
        Bucket=name, Delimiter="/", MaxKeys=2, ContinuationToken=r["NextContinuationToken"]
    )
    assert prefixes(r) == ["p2/"]
    assert r["IsTruncated"] is False


def test_listing_with_token_credentials(user, tree):
    c = s3_client(user.token(), "any-secret")
    assert keys(c.list_objects_v2(Bucket=tree)) == TREE


def test_v2_continuation_token_wins_over_start_after(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, MaxKeys=2)
    token = r["NextContinuationToken"]
    r = s3.list_objects_v2(Bucket=tree, ContinuationToken=token, StartAfter="dir2/x")
    assert keys(r) == TREE[2:]
    assert r["StartAfter"] == "dir2/x"
    assert r["ContinuationToken"] == token


def test_v2_prefix_with_start_after(s3, tree):
    r = s3.list_objects_v2(Bucket=tree, Prefix="dir/", StartAfter="dir/2")
    assert keys(r) == ["dir/sub/3", "dir/sub/4"]
    r = s3.list_objects_v2(Bucket=tree, Prefix="dir/", StartAfter="a", Delimiter="/")
    assert keys(r) == ["dir/1", "dir/2"] and prefixes(r) == ["dir/sub/"]
