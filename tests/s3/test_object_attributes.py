"""GetObjectAttributes with boto3, as Amazon S3 answers it: only the attributes asked
for, the ETag without quotes, the stored checksum, ObjectParts only for multipart
objects (Part elements when every part carries a checksum, paginated), read
permission as GetObject, and errors for unknown attributes and missing keys."""

import base64
import hashlib
import os
import zlib

import botocore
import pytest

from conftest import error_code

MIB = 1024 * 1024
ALL = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]


def crc32(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()


def test_single_put_object_attributes(s3, bucket):
    body = os.urandom(10_000)
    s3.put_object(Bucket=bucket, Key="k", Body=body, ChecksumAlgorithm="CRC32")
    r = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=ALL)
    # Unlike every other response, the XML carries the ETag without quotes.
    assert r["ETag"] == hashlib.md5(body).hexdigest()
    assert r["ObjectSize"] == len(body)
    assert r["StorageClass"] == "STANDARD"
    assert r["Checksum"]["ChecksumCRC32"] == crc32(body)
    assert r["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    assert "LastModified" in r
    # A single PUT has no parts.
    assert "ObjectParts" not in r


def test_only_the_attributes_asked_for(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    r = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert r["ObjectSize"] == 3
    for absent in ["ETag", "Checksum", "StorageClass", "ObjectParts"]:
        assert absent not in r


def test_multipart_parts_with_checksums_are_listed_and_paginated(s3, bucket):
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    done = []
    for n, p in enumerate(parts, 1):
        r = s3.upload_part(
            Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=p, ChecksumAlgorithm="CRC32"
        )
        done.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="mp", UploadId=uid, MultipartUpload={"Parts": done}
    )
    r = s3.get_object_attributes(Bucket=bucket, Key="mp", ObjectAttributes=ALL)
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    assert r["ETag"] == "%s-3" % hashlib.md5(md5s).hexdigest()
    assert r["ObjectSize"] == sum(len(p) for p in parts)
    op = r["ObjectParts"]
    assert op["TotalPartsCount"] == 3
    assert op["IsTruncated"] is False
    assert [(p["PartNumber"], p["Size"], p["ChecksumCRC32"]) for p in op["Parts"]] == [
        (n, len(p), crc32(p)) for n, p in enumerate(parts, 1)
    ]

    first = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], MaxParts=2
    )["ObjectParts"]
    assert first["IsTruncated"] is True
    assert first["MaxParts"] == 2
    assert first["NextPartNumberMarker"] == 2
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    rest = s3.get_object_attributes(
        Bucket=bucket,
        Key="mp",
        ObjectAttributes=["ObjectParts"],
        MaxParts=2,
        PartNumberMarker=first["NextPartNumberMarker"],
    )["ObjectParts"]
    assert rest["IsTruncated"] is False
    assert [p["PartNumber"] for p in rest["Parts"]] == [3]


def test_missing_key_unknown_attribute_and_other_users(s3, bucket, make_user):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert error_code(e) == ("NoSuchKey", 404)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Colour"])
    assert error_code(e) == ("InvalidArgument", 400)
    other = make_user()
    oc = other.client()
    with pytest.raises(botocore.exceptions.ClientError) as e:
        oc.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    assert error_code(e) == ("AccessDenied", 403)
    # Read on the object lets the other user see its attributes.
    s3.put_object_acl(Bucket=bucket, Key="k", GrantRead=f'id="{other.uid}"')
    r = oc.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert r["ObjectSize"] == 1
