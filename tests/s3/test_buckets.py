"""Buckets with boto3: CreateBucket (name rules, location constraints, name
collisions), HeadBucket, DeleteBucket, ListBuckets and GetBucketLocation, each checked
against the status and error code Amazon S3 answers with (us-east-1, path style)."""

import botocore
import pytest

from conftest import error_code, unique


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # shorter than 3
        "a" * 64,  # longer than 63
        "Upper-case",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        "double..dots",
        "192.168.5.4",  # formatted as an IP address
        "xn--punycode-prefix",
        "suffix-s3alias",
        "sthree-prefix",
        "name.mrap",
    ],
)
def test_create_bucket_refuses_invalid_names(s3, name):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=name)
    assert error_code(e) == ("InvalidBucketName", 400)


def test_create_bucket_accepts_edge_names(s3):
    for name in [unique("a")[:3] + "1", "a" * 63, unique("dots.in.name"), unique("9digit")]:
        name = name[:63]
        s3.create_bucket(Bucket=name)
        assert s3.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        s3.delete_bucket(Bucket=name)


def test_create_bucket_returns_location_header(s3):
    name = unique("bkt")
    r = s3.create_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["Location"] == f"/{name}"


def test_location_constraint_us_east_1_is_refused(s3):
    # S3's us-east-1 endpoint rejects an explicit us-east-1 constraint.
    name = unique("bkt")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert error_code(e) == ("InvalidLocationConstraint", 400)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=name)
    assert error_code(e) == ("404", 404)


def test_location_constraint_of_another_region_is_refused(s3):
    # As a region-specific S3 endpoint answers for another region's constraint.
    name = unique("bkt")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert error_code(e) == ("IllegalLocationConstraintException", 400)


def test_get_bucket_location_of_us_east_1_bucket_is_empty(s3, bucket):
    r = s3.get_bucket_location(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["LocationConstraint"] is None


def test_get_bucket_location_errors(s3, make_user):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_location(Bucket=unique("missing"))
    assert error_code(e) == ("NoSuchBucket", 404)
    other = make_user().client()
    name = unique("bkt")
    other.create_bucket(Bucket=name)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_bucket_location(Bucket=name)
    assert error_code(e) == ("AccessDenied", 403)


def test_head_bucket(s3, bucket, make_user):
    r = s3.head_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    assert r["BucketRegion"] == "us-east-1"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=unique("missing"))
    assert error_code(e) == ("404", 404)
    other = make_user().client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.head_bucket(Bucket=bucket)
    assert error_code(e) == ("403", 403)


def test_create_existing_bucket_owned_by_you(s3, bucket):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.create_bucket(Bucket=bucket)
    assert error_code(e) == ("BucketAlreadyOwnedByYou", 409)
    assert e.value.response["Error"]["BucketName"] == bucket


def test_create_existing_bucket_of_another_owner(s3, bucket, make_user):
    other = make_user().client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.create_bucket(Bucket=bucket)
    assert error_code(e) == ("BucketAlreadyExists", 409)
    assert e.value.response["Error"]["BucketName"] == bucket
    # The bucket is still the first owner's.
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_delete_bucket(s3, bucket):
    r = s3.delete_bucket(Bucket=bucket)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.head_bucket(Bucket=bucket)
    assert error_code(e) == ("404", 404)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == ("NoSuchBucket", 404)
    assert e.value.response["Error"]["BucketName"] == bucket


def test_delete_non_empty_bucket_is_refused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.delete_bucket(Bucket=bucket)
    assert error_code(e) == ("BucketNotEmpty", 409)
    assert e.value.response["Error"]["BucketName"] == bucket
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


def test_delete_bucket_with_unfinished_upload(s3, bucket):
    # An unfinished multipart upload does not keep a bucket from being deleted.
    s3.create_multipart_upload(Bucket=bucket, Key="pending")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_bucket_of_another_owner_is_denied(s3, bucket, make_user):
    other = make_user().client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        other.delete_bucket(Bucket=bucket)
    assert error_code(e) == ("AccessDenied", 403)


def test_bucket_name_is_reusable_after_delete(s3, make_user):
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    other = make_user().client()
    other.create_bucket(Bucket=name)
    assert other.head_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_list_buckets_shows_only_the_callers(make_user):
    a, b = make_user(), make_user()
    ca, cb = a.client(), b.client()
    assert ca.list_buckets()["Buckets"] == []
    mine = sorted(unique("mine") for _ in range(3))
    for n in mine:
        ca.create_bucket(Bucket=n)
    theirs = unique("theirs")
    cb.create_bucket(Bucket=theirs)
    r = ca.list_buckets()
    assert [x["Name"] for x in r["Buckets"]] == mine
    assert all(x["CreationDate"] is not None for x in r["Buckets"])
    assert r["Owner"]["ID"] == a.uid
    assert [x["Name"] for x in cb.list_buckets()["Buckets"]] == [theirs]
    ca.delete_bucket(Bucket=mine[0])
    assert [x["Name"] for x in ca.list_buckets()["Buckets"]] == mine[1:]


def test_list_buckets_pages_and_prefix(make_user):
    c = make_user().client()
    names = sorted(unique(p) for p in ["pa", "pa", "pb", "pc", "qz"])
    for n in names:
        c.create_bucket(Bucket=n)
    r = c.list_buckets()
    assert [b["Name"] for b in r["Buckets"]] == names
    assert "ContinuationToken" not in r
    assert all(b["BucketRegion"] == "us-east-1" for b in r["Buckets"])
    seen, kw = [], {}
    while True:
        r = c.list_buckets(MaxBuckets=2, **kw)
        seen += [b["Name"] for b in r["Buckets"]]
        if "ContinuationToken" not in r:
            break
        assert len(r["Buckets"]) == 2
        kw = {"ContinuationToken": r["ContinuationToken"]}
    assert seen == names
    r = c.list_buckets(Prefix="p")
    assert [b["Name"] for b in r["Buckets"]] == [n for n in names if n.startswith("p")]
    assert r["Prefix"] == "p"
    paged = []
    for page in c.get_paginator("list_buckets").paginate(PaginationConfig={"PageSize": 3}):
        paged += [b["Name"] for b in page["Buckets"]]
    assert paged == names
