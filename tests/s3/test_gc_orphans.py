"""Object data that nothing refers to (stripes left by a gateway killed between writing
them and writing the index entry) is found by `cuttle gc orphans` and removed with
`--remove`, as Ceph's `rgw-orphan-list` does; live objects, uploads in progress and
data waiting in the gc queue are never taken.

The orphans are forged with `cuttle object put .rgw.data`: one under a UUIDv7 id two
days old, one under a UUIDv4 id (age unknown), and one object not named like a stripe.
"""

import os
import subprocess
import time
import uuid

from conftest import cuttle, unique


def v7_id(ms):
    """A UUIDv7 as the gateway writes ids (32 lower-case hex digits) made at `ms`."""
    r = uuid.uuid4().hex
    return f"{ms:012x}7{r[:3]}8{r[4:19]}"


def cli(*args, check=True):
    return subprocess.run(
        [os.environ["CUTTLE_BIN"], "--conf", os.environ["CUTTLE_CONF"], *args],
        capture_output=True,
        text=True,
        check=check,
    )


def stripe_exists(name):
    return cli("object", "stat", ".rgw.data", name, check=False).returncode == 0


def put_raw(name, data):
    path = os.path.join(os.environ["S3_SCRATCH"], unique("raw"))
    with open(path, "wb") as f:
        f.write(data)
    cuttle("object", "put", ".rgw.data", name, path)


def mine(entries, bucket_id):
    return sorted((e for e in entries if e["bucket_id"] == bucket_id), key=lambda e: e["instance"])


def test_orphans_are_found_and_only_they_are_removed(s3, bucket):
    # Live data: a multi-stripe object, a small (inline) one, a replaced one (old data
    # queued; both versions over the inline limit, so they have stripes), and an
    # unfinished multipart upload with one part.
    big, small, first, second = (os.urandom(n) for n in (9 << 20, 1000, 20_000, 30_000))
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.put_object(Bucket=bucket, Key="small", Body=small)
    s3.put_object(Bucket=bucket, Key="replaced", Body=first)
    s3.put_object(Bucket=bucket, Key="replaced", Body=second)
    [queued] = [e for e in cuttle("gc", "list") if e["bucket"] == bucket]
    bucket_id, instance_id, _ = queued["stripes"][0].split(".")
    # Ids are UUIDv7 (version digit 7), so `--min-age 0` below judges live data by its
    # age and only references keep it.
    assert instance_id[12] == "7" and bucket_id[12] == "7"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    part = os.urandom(5 << 20)
    etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=part)["ETag"]

    # Forged leftovers.
    two_days_ago = int(time.time() * 1000) - 2 * 86_400_000
    old = f"{bucket_id}.{v7_id(two_days_ago)}"
    v4 = f"{bucket_id}.{uuid.uuid4().hex}"
    odd = f"{unique('odd')}.not-a-stripe"
    put_raw(f"{old}.0", os.urandom(1000))
    put_raw(f"{old}.1", os.urandom(500))
    put_raw(f"{v4}.0", os.urandom(10))
    put_raw(odd, b"?")
    try:
        found = cuttle("gc", "orphans", "--min-age", "3600")
        [orphan] = mine(found["orphans"], bucket_id)
        assert orphan["instance"] == old
        assert orphan["bucket"] == bucket
        assert orphan["stripes"] == [f"{old}.0", f"{old}.1"]
        assert orphan["bytes"] == 1500
        assert 2 * 86_400 - 60 <= orphan["age_s"] <= 2 * 86_400 + 600
        [unknown] = mine(found["unknown_age"], bucket_id)
        assert unknown["instance"] == v4 and unknown["age_s"] is None
        assert odd in found["unrecognized"]
        assert found["removed_stripes"] == 0
        assert found["scanned_objects"] >= 3 + 2 + 2 + 4  # big, replaced x2, part, forged
        assert all(stripe_exists(n) for n in orphan["stripes"])

        # With no minimum age every live instance would be an orphan unless referenced:
        # the index entries, the upload's part and the gc queue must all count.
        everything = cuttle("gc", "orphans", "--min-age", "0")
        assert [o["instance"] for o in mine(everything["orphans"], bucket_id)] == [old]
        assert everything["referenced_instances"] >= 5

        # Unknown-age data is an orphan only when asked for (not removed here).
        with_unknown = cuttle("gc", "orphans", "--min-age", "3600", "--include-unknown-age")
        assert [o["instance"] for o in mine(with_unknown["orphans"], bucket_id)] == sorted([old, v4])
        assert mine(with_unknown["unknown_age"], bucket_id) == []

        # The table names the orphan and sums up.
        table = cli("gc", "orphans", "--min-age", "3600").stdout
        assert "INSTANCE" in table and old in table and v4 in table and odd in table
        assert "nothing removed" in table

        removed = cuttle("gc", "orphans", "--min-age", "3600", "--remove")
        assert [o["instance"] for o in mine(removed["orphans"], bucket_id)] == [old]
        assert removed["removed_stripes"] == sum(len(o["stripes"]) for o in removed["orphans"])
        assert removed["failed_removals"] == []
        assert not any(stripe_exists(n) for n in orphan["stripes"])
        assert stripe_exists(f"{v4}.0") and stripe_exists(odd)
        assert all(stripe_exists(n) for n in queued["stripes"])

        # Every live object reads back whole; the upload completes from its part.
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == big
        assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == small
        assert s3.get_object(Bucket=bucket, Key="replaced")["Body"].read() == second
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mpu",
            UploadId=upload,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
        assert s3.get_object(Bucket=bucket, Key="mpu")["Body"].read() == part

        again = cuttle("gc", "orphans", "--min-age", "3600")
        assert again["orphans"] == []
        assert [o["instance"] for o in mine(again["unknown_age"], bucket_id)] == [v4]
    finally:
        for name in (f"{old}.0", f"{old}.1", f"{v4}.0", odd):
            cli("object", "rm", ".rgw.data", name, check=False)
        cuttle("gc", "process", "--include-all")
