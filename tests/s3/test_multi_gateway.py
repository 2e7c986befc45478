"""Several gateways over one cluster: what one gateway (or `cuttle user`) changes is
seen and enforced by every other at once, with no waiting for caches to expire.

Run by `s3_suite_on_two_gateways` (marker `multi_gateway`). Each check first makes
the second gateway cache the state it is about to lose (a successful request), then
changes it elsewhere and expects the very next request to see the change.
"""

import botocore
import pytest

from conftest import cuttle, endpoints, error_code, s3_client, unique

pytestmark = pytest.mark.multi_gateway


@pytest.fixture
def two():
    eps = endpoints()
    assert len(eps) >= 2, "needs two gateways"
    return eps[0], eps[1]


def denied(fn):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return error_code(e)


def test_objects_written_through_one_are_read_through_the_other(make_user, two):
    a, b = two
    u = make_user()
    ca, cb = u.client(a), u.client(b)
    name = unique("bkt")
    ca.create_bucket(Bucket=name)
    ca.put_object(Bucket=name, Key="k", Body=b"from a")
    assert cb.get_object(Bucket=name, Key="k")["Body"].read() == b"from a"
    cb.put_object(Bucket=name, Key="k", Body=b"from b")
    assert ca.get_object(Bucket=name, Key="k")["Body"].read() == b"from b"
    assert [o["Key"] for o in cb.list_objects_v2(Bucket=name)["Contents"]] == ["k"]


def test_bucket_deleted_through_one_is_gone_on_the_other(make_user, two):
    a, b = two
    u = make_user()
    ca, cb = u.client(a), u.client(b)
    name = unique("bkt")
    ca.create_bucket(Bucket=name)
    cb.head_bucket(Bucket=name)  # b caches the bucket record
    ca.delete_bucket(Bucket=name)
    assert denied(lambda: cb.head_bucket(Bucket=name)) == ("404", 404)
    assert denied(lambda: cb.put_object(Bucket=name, Key="k", Body=b"x")) == (
        "NoSuchBucket",
        404,
    )
    # And a name b had seen missing can be created through a at once.
    other = unique("bkt")
    assert denied(lambda: cb.head_bucket(Bucket=other)) == ("404", 404)
    ca.create_bucket(Bucket=other)
    cb.head_bucket(Bucket=other)


def test_revoked_token_is_refused_by_every_gateway_at_once(make_user, two):
    a, b = two
    u = make_user()
    name = unique("bkt")
    u.client(a).create_bucket(Bucket=name)
    token = cuttle("user", "token", "create", "--uid", u.uid)
    tb = s3_client(token["token"], "ignored", b)
    tb.head_bucket(Bucket=name)  # b caches the token
    cuttle("user", "token", "revoke", "--uid", u.uid, "--id", token["id"])
    code, status = denied(lambda: tb.head_bucket(Bucket=name))
    assert status == 403, code
    assert denied(lambda: tb.list_objects_v2(Bucket=name)) == ("InvalidAccessKeyId", 403)


def test_removed_key_and_suspended_user_are_refused_at_once(make_user, two):
    a, b = two
    u = make_user()
    cb = u.client(b)
    name = unique("bkt")
    cb.create_bucket(Bucket=name)
    extra = cuttle("user", "key", "add", "--uid", u.uid)
    xb = s3_client(extra["access_key"], extra["secret_key"], b)
    xb.list_objects_v2(Bucket=name)  # b caches the second key
    cuttle("user", "key", "rm", "--uid", u.uid, "--access-key", extra["access_key"])
    assert denied(lambda: xb.list_objects_v2(Bucket=name)) == ("InvalidAccessKeyId", 403)
    cb.list_objects_v2(Bucket=name)  # the first key still works, and b caches the user
    cuttle("user", "suspend", "--uid", u.uid)
    code, status = denied(lambda: cb.list_objects_v2(Bucket=name))
    assert status == 403, code
    cuttle("user", "enable", "--uid", u.uid)
    cb.list_objects_v2(Bucket=name)


def test_user_created_through_one_gateway_is_known_to_the_other(two):
    a, b = two
    # An unknown key is refused (and that answer may be cached by b)...
    uid = f"u{unique('x')[2:12]}_test".replace("-", "")
    key = "CKMULTIGW" + unique("k")[4:15].upper().replace("-", "")
    secret = "s3cr3t-" + unique("s")
    probe = s3_client(key, secret, b)
    assert denied(lambda: probe.list_buckets()) == ("InvalidAccessKeyId", 403)
    # ...until the user is created; then b accepts the key at once.
    cuttle("user", "create", "--uid", uid, "--access-key", key, "--secret-key", secret)
    assert probe.list_buckets()["Buckets"] == []
