"""Replaced and deleted object data is removed later, not at once (readers that found
the old version may still be streaming it): it waits in the gateways' gc queue, which
`cuttle gc list|process` shows and drains, as `radosgw-admin gc` does."""

import json
import os
import subprocess

import pytest

from conftest import cuttle


def stripe_exists(name):
    out = subprocess.run(
        [os.environ["CUTTLE_BIN"], "--conf", os.environ["CUTTLE_CONF"], "object", "stat", ".rgw.data", name],
        capture_output=True,
        text=True,
    )
    return out.returncode == 0


def queued(bucket):
    return [e for e in cuttle("gc", "list") if e["bucket"] == bucket]


def test_replaced_data_waits_in_the_queue_then_is_removed(s3, bucket):
    # (`second` is over the gateway's inline limit, so it has a stripe of its own.)
    first, second = os.urandom(5 << 20), os.urandom(30_000)
    s3.put_object(Bucket=bucket, Key="k", Body=first)
    assert queued(bucket) == []
    s3.put_object(Bucket=bucket, Key="k", Body=second)
    [entry] = queued(bucket)
    assert entry["key"] == "k"
    assert sum(s["s"] for s in entry["segments"]) == len(first)
    assert len(entry["stripes"]) == 2, entry  # 5 MiB in 4 MiB stripes
    assert entry["due_ms"] > entry["queued_ms"]
    assert all(stripe_exists(n) for n in entry["stripes"])
    # Not due yet: a normal pass leaves it.
    cuttle("gc", "process")
    assert queued(bucket) == [entry]
    assert all(stripe_exists(n) for n in entry["stripes"])
    # Forced: the old data goes, the current object stays whole.
    done = cuttle("gc", "process", "--include-all")
    assert done["entries"] >= 1 and done["stripes"] >= 2
    assert queued(bucket) == []
    assert not any(stripe_exists(n) for n in entry["stripes"])
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == second
    # A delete queues the current data the same way.
    s3.delete_object(Bucket=bucket, Key="k")
    [gone] = queued(bucket)
    assert gone["key"] == "k" and sum(s["s"] for s in gone["segments"]) == len(second)
    cuttle("gc", "process", "--include-all")
    assert queued(bucket) == []
    assert not any(stripe_exists(n) for n in gone["stripes"])


@pytest.mark.skipif(
    int(os.environ.get("S3_INLINE_MAX", "0") or 0) < 3,
    reason="gateways run without inline objects",
)
def test_inline_objects_leave_nothing_to_collect(s3, bucket):
    # Bytes kept beside their index entry go in the same change as the entry: an
    # overwrite or a delete of a small object queues nothing.
    s3.put_object(Bucket=bucket, Key="small", Body=b"one")
    s3.put_object(Bucket=bucket, Key="small", Body=b"two")
    assert queued(bucket) == []
    assert s3.get_object(Bucket=bucket, Key="small")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="small")
    assert queued(bucket) == []


def test_gc_list_table_and_json_agree(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"x" * 9000)  # over the inline limit
    s3.delete_object(Bucket=bucket, Key="t")
    table = subprocess.run(
        [os.environ["CUTTLE_BIN"], "--conf", os.environ["CUTTLE_CONF"], "gc", "list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert bucket in table and "DUE" in table
    assert json.dumps(queued(bucket))  # parses and names the bucket
    cuttle("gc", "process", "--include-all")
