"""`cuttle user ...`: users, access keys and tokens as an operator manages them, and
their effect on S3 requests. Gateways cache credentials briefly, so effects on
requests are awaited (a few seconds at most)."""

import json
import os
import subprocess
import uuid

import botocore
import pytest

from conftest import cuttle, error_code, s3_client, unique


def cuttle_fails(*args):
    """Runs a cuttle command expected to fail; returns its stderr."""
    out = subprocess.run(
        [os.environ["CUTTLE_BIN"], "--conf", os.environ["CUTTLE_CONF"], *args, "--format", "json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0, f"cuttle {' '.join(args)} succeeded:\n{out.stdout}"
    assert out.stderr.strip(), "a failure must say why"
    return out.stderr


def new_uid():
    return f"u{uuid.uuid4().hex[:10]}_cli"


def s3_error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return error_code(e)


def test_create_with_given_keys_and_use_them():
    uid = new_uid()
    ak = "GIVEN" + uuid.uuid4().hex[:15].upper()
    sk = "given-secret-" + uuid.uuid4().hex
    u = cuttle(
        "user", "create", "--uid", uid, "--display-name", "Given Keys", "--email", f"{uid}@example.org",
        "--access-key", ak, "--secret-key", sk,
    )
    assert u == {
        "uid": uid,
        "display_name": "Given Keys",
        "email": f"{uid}@example.org",
        "access_key": ak,
        "secret_key": sk,
    }
    s3 = s3_client(ak, sk)
    b = unique("given")
    s3.create_bucket(Bucket=b)
    owner = s3.list_buckets()["Owner"]
    assert owner["ID"] == uid and owner["DisplayName"] == "Given Keys"

    info = cuttle("user", "info", "--uid", uid)
    assert info["uid"] == uid and info["email"] == f"{uid}@example.org"
    assert info["suspended"] is False
    assert {"access_key": ak, "secret_key": sk} in info["keys"]
    assert info["buckets"] == [b]

    # Same uid or same access key again: refused.
    assert "user_exists" in cuttle_fails("user", "create", "--uid", uid)
    assert "key_exists" in cuttle_fails(
        "user", "create", "--uid", new_uid(), "--access-key", ak, "--secret-key", "another-secret-1"
    )
    # A given key needs its secret.
    assert "--secret-key" in cuttle_fails("user", "create", "--uid", new_uid(), "--access-key", "LONE" + ak)
    s3.delete_bucket(Bucket=b)
    cuttle("user", "rm", "--uid", uid)


def test_generated_keys_and_display_name_default():
    uid = new_uid()
    u = cuttle("user", "create", "--uid", uid)
    assert u["uid"] == uid and u["display_name"] == uid
    assert len(u["access_key"]) == 20 and len(u["secret_key"]) == 40
    s3_client(u["access_key"], u["secret_key"]).list_buckets()
    rows = cuttle("user", "ls")
    assert {"uid": uid, "display_name": uid, "email": "", "suspended": False} in rows
    assert all(set(r) == {"uid", "display_name", "email", "suspended"} for r in rows)
    cuttle("user", "rm", "--uid", uid)
    assert uid not in [r["uid"] for r in cuttle("user", "ls")]


@pytest.mark.parametrize(
    "uid",
    ["Alice_physics", "has space_org", "ab", "1starts_digit", "bad/slash", "dot.name", "a" * 65, ""],
)
def test_invalid_uids_are_refused(uid):
    err = cuttle_fails("user", "create", "--uid", uid)
    assert "invalid_uid" in err or "uid" in err.lower(), err


@pytest.mark.parametrize("key", ["ab", "has space", "ctk" + "A" * 61, "x" * 129])
def test_invalid_given_access_keys_are_refused(key):
    cuttle_fails("user", "create", "--uid", new_uid(), "--access-key", key, "--secret-key", "s" * 40)


def test_short_given_secret_is_refused():
    cuttle_fails("user", "create", "--uid", new_uid(), "--access-key", "OKKEY" + uuid.uuid4().hex[:8], "--secret-key", "short")


def test_unknown_users_are_reported():
    uid = new_uid()
    for args in (["info"], ["rm"], ["suspend"], ["enable"], ["token", "ls"], ["token", "create"]):
        err = cuttle_fails("user", *args, "--uid", uid)
        assert "no_such_user" in err, (args, err)


def test_suspend_and_enable(make_user):
    u = make_user()
    s3 = u.client()
    b = unique("susp")
    s3.create_bucket(Bucket=b)
    token = u.token()
    tok = s3_client(token, "any-secret")
    assert cuttle("user", "suspend", "--uid", u.uid) == {"uid": u.uid, "suspended": True}
    assert cuttle("user", "info", "--uid", u.uid)["suspended"] is True

    # As Ceph RGW answers a suspended user: 403 UserSuspended (keys and tokens alike).
    assert s3_error_of(lambda: s3.list_objects_v2(Bucket=b)) == ("UserSuspended", 403)
    assert s3_error_of(lambda: s3.put_object(Bucket=b, Key="k", Body=b"x")) == ("UserSuspended", 403)
    assert s3_error_of(lambda: tok.list_buckets()) == ("UserSuspended", 403)

    assert cuttle("user", "enable", "--uid", u.uid) == {"uid": u.uid, "suspended": False}
    s3.put_object(Bucket=b, Key="k", Body=b"x")
    tok.head_object(Bucket=b, Key="k")
    s3.delete_object(Bucket=b, Key="k")
    s3.delete_bucket(Bucket=b)


def test_key_add_and_rm(make_user):
    u = make_user()
    added = cuttle("user", "key", "add", "--uid", u.uid)
    assert added["uid"] == u.uid and added["access_key"] != u.access_key
    s3b = s3_client(added["access_key"], added["secret_key"])
    b = unique("keys")
    s3b.create_bucket(Bucket=b)
    # Both keys act as the same user.
    assert [x["Name"] for x in u.client().list_buckets()["Buckets"]] == [b]
    keys = [k["access_key"] for k in cuttle("user", "info", "--uid", u.uid)["keys"]]
    assert sorted(keys) == sorted([u.access_key, added["access_key"]])

    assert cuttle("user", "key", "rm", "--uid", u.uid, "--access-key", u.access_key) == {"removed": u.access_key}
    old = u.client()
    assert s3_error_of(lambda: old.list_buckets()) == ("InvalidAccessKeyId", 403)
    s3b.list_buckets()
    # A key of someone else, or one that does not exist, cannot be removed.
    other = make_user()
    cuttle_fails("user", "key", "rm", "--uid", u.uid, "--access-key", other.access_key)
    cuttle_fails("user", "key", "rm", "--uid", u.uid, "--access-key", "NOSUCHKEY0000000000")
    other.client().list_buckets()
    s3b.delete_bucket(Bucket=b)


def test_tokens_create_ls_revoke(make_user):
    u = make_user()
    created = cuttle("user", "token", "create", "--uid", u.uid)
    assert set(created) == {"uid", "id", "token"} and created["uid"] == u.uid
    token = created["token"]
    assert token.startswith("ctk") and len(token) == 64
    tok = s3_client(token, "")
    b = unique("tok")
    tok.create_bucket(Bucket=b)
    tok.put_object(Bucket=b, Key="k", Body=b"v")
    assert u.client().get_object(Bucket=b, Key="k")["Body"].read() == b"v"

    listed = cuttle("user", "token", "ls", "--uid", u.uid)
    assert [t["id"] for t in listed] == [created["id"]]
    assert token not in json.dumps(listed)
    assert token not in json.dumps(cuttle("user", "info", "--uid", u.uid))
    table = subprocess.run(
        [os.environ["CUTTLE_BIN"], "--conf", os.environ["CUTTLE_CONF"], "user", "info", "--uid", u.uid],
        capture_output=True, text=True, check=True,
    ).stdout
    assert token not in table and created["id"] in table

    assert cuttle("user", "token", "revoke", "--uid", u.uid, "--id", created["id"]) == {"removed": created["id"]}
    assert cuttle("user", "token", "ls", "--uid", u.uid) == []
    assert s3_error_of(lambda: tok.list_buckets()) == ("InvalidAccessKeyId", 403)
    cuttle_fails("user", "token", "revoke", "--uid", u.uid, "--id", created["id"])
    s3 = u.client()
    s3.delete_object(Bucket=b, Key="k")
    s3.delete_bucket(Bucket=b)


def test_rm_needs_no_buckets_and_removes_keys(make_user):
    u = make_user()
    s3 = u.client()
    b = unique("rm")
    s3.create_bucket(Bucket=b)
    token = u.token()
    assert "user_has_buckets" in cuttle_fails("user", "rm", "--uid", u.uid)
    s3.delete_bucket(Bucket=b)
    assert cuttle("user", "rm", "--uid", u.uid) == {"removed": u.uid}
    assert s3_error_of(lambda: s3.list_buckets()) == ("InvalidAccessKeyId", 403)
    assert s3_error_of(lambda: s3_client(token, "x").list_buckets()) == ("InvalidAccessKeyId", 403)
    # The uid and its key are free again.
    again = cuttle("user", "create", "--uid", u.uid, "--access-key", u.access_key, "--secret-key", u.secret_key)
    assert again["access_key"] == u.access_key
    s3.list_buckets()
    cuttle("user", "rm", "--uid", u.uid)


def test_cluster_status_lists_endpoints():
    st = cuttle("cluster", "status", "--dir", os.path.dirname(os.environ["CUTTLE_CONF"]))
    assert st["s3_endpoints"] and all(e.startswith("http") for e in st["s3_endpoints"])
    assert set(os.environ["S3_ENDPOINTS"].split(",")) <= set(st["s3_endpoints"])


def test_email_addresses_are_unique_and_freed_with_their_user():
    first, second = new_uid(), new_uid()
    email = f"{first}@Example.ORG"
    made = cuttle("user", "create", "--uid", first, "--email", email)
    # Stored and matched case-insensitively, as e-mail grants resolve them.
    assert made["email"] == email.lower()
    assert "email_exists" in cuttle_fails("user", "create", "--uid", second, "--email", email.upper())
    # The refused user was not created.
    assert "no_such_user" in cuttle_fails("user", "info", "--uid", second)
    assert "invalid_email" in cuttle_fails("user", "create", "--uid", second, "--email", "not-an-address")
    cuttle("user", "rm", "--uid", first)
    again = cuttle("user", "create", "--uid", second, "--email", email)
    assert again["email"] == email.lower()
    cuttle("user", "rm", "--uid", second)
