"""ACLs across two gateways: a grant or revocation made through one gateway (or with
`cuttle user token revoke`) is enforced by the other on its very next request; and a
bounded mixed load of owners, grantees and outsiders over both gateways.

Run by `s3_suite_on_two_gateways` (marker `multi_gateway`). Each check first makes the
second gateway cache the state about to change (a request through it), then changes it
through the first gateway and expects the very next request to see the change.
"""

import random
import threading
import uuid

import botocore
import pytest

from acl_util import (
    assert_denied,
    bucket_acl,
    cu,
    denied,
    grant_id,
    http,
    object_acl,
    policy,
    sha256,
    url_of,
)
from conftest import cuttle, endpoints, s3_client, unique

pytestmark = [pytest.mark.multi_gateway, pytest.mark.acl]


@pytest.fixture
def two():
    eps = endpoints()
    assert len(eps) >= 2, "needs two gateways"
    return eps[0], eps[1]


def test_grant_through_one_gateway_read_through_the_other(make_user, two):
    a, b = two
    owner, grantee = make_user(), make_user()
    oa = owner.client(a)
    gb = grantee.client(b)
    name = unique("mga")
    oa.create_bucket(Bucket=name)
    oa.put_object(Bucket=name, Key="doc", Body=b"shared across gateways")
    # b learns the bucket (private) and the object (private).
    assert_denied(lambda: gb.list_objects_v2(Bucket=name))
    assert_denied(lambda: gb.get_object(Bucket=name, Key="doc"))

    oa.put_bucket_acl(Bucket=name, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'id="{grantee.uid}"')
    assert [o["Key"] for o in gb.list_objects_v2(Bucket=name)["Contents"]] == ["doc"]
    assert_denied(lambda: gb.get_object(Bucket=name, Key="doc"))
    oa.put_object_acl(Bucket=name, Key="doc", GrantFullControl=f'id="{owner.uid}"', GrantRead=f'id="{grantee.uid}"')
    assert gb.get_object(Bucket=name, Key="doc")["Body"].read() == b"shared across gateways"
    # The ACLs read back the same through b.
    ob = owner.client(b)
    assert sorted(bucket_acl(ob, name)) == sorted([cu(owner.uid, "FULL_CONTROL"), cu(grantee.uid, "READ")])
    assert sorted(object_acl(ob, name, "doc")) == sorted([cu(owner.uid, "FULL_CONTROL"), cu(grantee.uid, "READ")])

    # Revoke the bucket grant through a: b refuses the next listing.
    oa.put_bucket_acl(Bucket=name, ACL="private")
    assert_denied(lambda: gb.list_objects_v2(Bucket=name))
    assert_denied(lambda: gb.head_bucket(Bucket=name), head=True)
    assert gb.get_object(Bucket=name, Key="doc")["Body"].read() == b"shared across gateways"
    # Revoke the object grant through a: b refuses the next read.
    oa.put_object_acl(Bucket=name, Key="doc", ACL="private")
    assert_denied(lambda: gb.get_object(Bucket=name, Key="doc"))
    assert_denied(lambda: gb.head_object(Bucket=name, Key="doc"), head=True)
    # And granting again through b is seen through a.
    ob.put_bucket_acl(Bucket=name, GrantFullControl=f'id="{owner.uid}"', GrantWrite=f'id="{grantee.uid}"')
    ga = grantee.client(a)
    ga.put_object(Bucket=name, Key="from-grantee", Body=b"g")
    assert sorted(o["Key"] for o in oa.list_objects_v2(Bucket=name)["Contents"]) == ["doc", "from-grantee"]
    assert_denied(lambda: ga.list_objects_v2(Bucket=name))


def test_public_acl_through_one_gateway_anonymous_through_the_other(make_user, two):
    a, b = two
    owner = make_user()
    oa = owner.client(a)
    name = unique("mgp")
    oa.create_bucket(Bucket=name)
    oa.put_object(Bucket=name, Key="o", Body=b"public soon")
    assert http("GET", url_of(name, "o", b))[0] == 403
    assert http("GET", url_of(name, None, b))[0] == 403
    oa.put_object_acl(Bucket=name, Key="o", ACL="public-read")
    oa.put_bucket_acl(Bucket=name, ACL="public-read")
    assert http("GET", url_of(name, "o", b)) == (200, b"public soon")
    status, data = http("GET", url_of(name, None, b))
    assert status == 200 and b"<Key>o</Key>" in data
    oa.put_object_acl(Bucket=name, Key="o", ACL="private")
    assert http("GET", url_of(name, "o", b))[0] == 403
    oa.put_bucket_acl(Bucket=name, ACL="private")
    assert http("GET", url_of(name, None, b))[0] == 403


def test_overwrite_through_one_gateway_changes_the_owner_seen_by_the_other(make_user, two):
    a, b = two
    owner, writer = make_user(), make_user()
    oa, ob, wa = owner.client(a), owner.client(b), writer.client(a)
    name = unique("mgo")
    oa.create_bucket(Bucket=name)
    oa.put_bucket_acl(
        Bucket=name,
        AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_id(writer.uid, "WRITE")),
    )
    oa.put_object(Bucket=name, Key="k", Body=b"owner's")
    assert ob.get_object(Bucket=name, Key="k")["Body"].read() == b"owner's"  # b caches the entry
    wa.put_object(Bucket=name, Key="k", Body=b"writer's")
    assert_denied(lambda: ob.get_object(Bucket=name, Key="k"))
    assert writer.client(b).get_object_acl(Bucket=name, Key="k")["Owner"]["ID"] == writer.uid


def test_revoked_token_of_a_grantee_is_refused_by_the_other_gateway(make_user, two):
    a, b = two
    owner, grantee = make_user(), make_user()
    oa = owner.client(a)
    name = unique("mgt")
    oa.create_bucket(Bucket=name)
    oa.put_object(Bucket=name, Key="doc", Body=b"token-shared", GrantRead=f'id="{grantee.uid}"')
    oa.put_bucket_acl(Bucket=name, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'id="{grantee.uid}"')
    token = cuttle("user", "token", "create", "--uid", grantee.uid)
    tb = s3_client(token["token"], "ignored", b)
    assert tb.get_object(Bucket=name, Key="doc")["Body"].read() == b"token-shared"  # b caches the token
    assert [o["Key"] for o in tb.list_objects_v2(Bucket=name)["Contents"]] == ["doc"]
    cuttle("user", "token", "revoke", "--uid", grantee.uid, "--id", token["id"])
    code, status = denied(lambda: tb.get_object(Bucket=name, Key="doc"))
    assert status == 403, code
    assert denied(lambda: tb.list_objects_v2(Bucket=name)) == ("InvalidAccessKeyId", 403)
    # The grant itself still holds for the grantee's other credentials.
    assert grantee.client(b).get_object(Bucket=name, Key="doc")["Body"].read() == b"token-shared"


# ---------------------------------------------------------------------------
# Bounded mixed load over both gateways
# ---------------------------------------------------------------------------

OPS_PER_WORKER = 40
WORKERS = 8


class Worker:
    """One thread: a principal on one gateway doing a fixed, seeded sequence of ops.

    Keys it writes are its own (prefix `w<i>/`), so it knows their content exactly;
    `live` maps each acknowledged key to the sha256 of its last acknowledged body
    (None once deleted). Keys whose fate is unknown (a failed write) go in `unknown`.
    """

    def __init__(self, idx, role, user, client, bucket, pinned, forbidden, rng_seed):
        self.idx, self.role, self.user, self.c, self.bucket = idx, role, user, client, bucket
        self.pinned = pinned  # [(bucket, key, sha)] this worker may read
        self.forbidden = forbidden  # [(bucket, key)] this worker must be refused
        self.rng = random.Random(rng_seed)
        self.live = {}
        self.unknown = set()
        self.errors = []
        self.denials = 0

    def err(self, what, e):
        self.errors.append(f"worker {self.idx} ({self.role} {self.user.uid}): {what}: {e!r}")

    def expect_denied(self, what, fn, head=False):
        try:
            fn()
        except botocore.exceptions.ClientError as e:
            r = e.response
            got = (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"])
            if got != (("403", 403) if head else ("AccessDenied", 403)):
                self.err(f"{what}: wrong refusal", got)
            else:
                self.denials += 1
        except Exception as e:  # noqa: BLE001 - every surprise is collected
            self.err(what, e)
        else:
            self.err(what, "allowed, but must be refused")

    def run(self):
        for i in range(OPS_PER_WORKER):
            try:
                if self.role == "outsider":
                    self.outsider_op(i)
                else:
                    self.member_op(i)
            except Exception as e:  # noqa: BLE001
                self.err(f"op {i}", e)

    def member_op(self, i):
        """Owners and grantees (READ+WRITE on the bucket): own keys, plus reads of
        pinned objects they were granted and refusals on those they were not."""
        c, b = self.c, self.bucket
        mine = [k for k, v in self.live.items() if v is not None]
        op = self.rng.choice(["put", "put", "get", "list", "delete", "acl", "pinned", "forbidden", "overwrite"])
        if op in ("put", "overwrite") or not mine:
            key = self.rng.choice(mine) if op == "overwrite" and mine else f"w{self.idx}/k{i}-{uuid.uuid4().hex[:6]}"
            body = f"{self.user.uid} {key} op {i} ".encode() + self.rng.randbytes(self.rng.randint(0, 3000))
            extra = {"ACL": "bucket-owner-full-control"} if self.role == "grantee" else {}
            try:
                c.put_object(Bucket=b, Key=key, Body=body, **extra)
            except Exception as e:  # noqa: BLE001
                self.unknown.add(key)
                self.live.pop(key, None)
                self.err(f"put {key}", e)
                return
            self.live[key] = sha256(body)
        elif op == "get":
            key = self.rng.choice(mine)
            data = c.get_object(Bucket=b, Key=key)["Body"].read()
            if sha256(data) != self.live[key]:
                self.err(f"get {key}", "content differs from the last acknowledged write")
        elif op == "list":
            prefix = f"w{self.idx}/"
            got = set()
            for page in c.get_paginator("list_objects_v2").paginate(Bucket=b, Prefix=prefix):
                got.update(o["Key"] for o in page.get("Contents", []))
            want = {k for k, v in self.live.items() if v is not None}
            if got - self.unknown != want:
                self.err("list", f"listed {sorted(got)} but live {sorted(want)}")
        elif op == "delete":
            key = self.rng.choice(mine)
            c.delete_object(Bucket=b, Key=key)
            self.live[key] = None
        elif op == "acl":
            key = self.rng.choice(mine)
            owner = c.get_object_acl(Bucket=b, Key=key)["Owner"]["ID"]
            if owner != self.user.uid:
                self.err(f"get-acl {key}", f"owner {owner}, expected {self.user.uid}")
        elif op == "pinned":
            pb, pk, psha = self.rng.choice(self.pinned)
            data = c.get_object(Bucket=pb, Key=pk)["Body"].read()
            if sha256(data) != psha:
                self.err(f"get pinned {pk}", "content differs")
        elif op == "forbidden":
            fb, fk = self.rng.choice(self.forbidden)
            self.expect_denied(f"get forbidden {fb}/{fk}", lambda: c.get_object(Bucket=fb, Key=fk))
            self.expect_denied(f"put-acl {fb}", lambda: c.put_bucket_acl(Bucket=fb, ACL="public-read"))

    def outsider_op(self, i):
        """A signed-in user with no grant: everything on the shared buckets refused."""
        c = self.c
        fb, fk = self.rng.choice(self.forbidden)
        op = self.rng.choice(["list", "get", "head", "put", "delete", "acl", "bucket-acl"])
        if op == "list":
            self.expect_denied(f"list {fb}", lambda: c.list_objects_v2(Bucket=fb))
        elif op == "get":
            self.expect_denied(f"get {fk}", lambda: c.get_object(Bucket=fb, Key=fk))
        elif op == "head":
            self.expect_denied(f"head {fk}", lambda: c.head_object(Bucket=fb, Key=fk), head=True)
        elif op == "put":
            self.expect_denied(f"put {fb}", lambda: c.put_object(Bucket=fb, Key=f"intruder-{i}", Body=b"x"))
        elif op == "delete":
            self.expect_denied(f"delete {fk}", lambda: c.delete_object(Bucket=fb, Key=fk))
        elif op == "acl":
            self.expect_denied(f"get-acl {fk}", lambda: c.get_object_acl(Bucket=fb, Key=fk))
        else:
            self.expect_denied(f"put-bucket-acl {fb}", lambda: c.put_bucket_acl(Bucket=fb, ACL="public-read-write"))


def test_bounded_mixed_load_over_both_gateways(make_user, two):
    a, b = two
    o1, o2, g1, g2, x = (make_user() for _ in range(5))
    b1, b2 = unique("load1"), unique("load2")
    # Setup through a: each bucket has an owner and a grantee with READ+WRITE.
    for owner, grantee, bk in ((o1, g1, b1), (o2, g2, b2)):
        oc = owner.client(a)
        oc.create_bucket(Bucket=bk)
        oc.put_bucket_acl(
            Bucket=bk,
            AccessControlPolicy=policy(
                owner.uid,
                grant_id(owner.uid, "FULL_CONTROL"),
                grant_id(grantee.uid, "READ"),
                grant_id(grantee.uid, "WRITE"),
            ),
        )
    pinned = {}  # (bucket, key) -> (sha, body)

    def pin(user, bk, key, **extra):
        body = f"pinned {bk}/{key} ".encode() + random.Random(key).randbytes(2000)
        user.client(a).put_object(Bucket=bk, Key=key, Body=body, **extra)
        pinned[(bk, key)] = (sha256(body), user)
        return bk, key, sha256(body)

    p_o1_shared = pin(o1, b1, "pinned/o1-shared", GrantFullControl=f'id="{o1.uid}"', GrantRead=f'id="{g1.uid}"')
    p_o1_secret = pin(o1, b1, "pinned/o1-secret")
    p_g1 = pin(g1, b1, "pinned/g1", ACL="bucket-owner-full-control")
    p_o2_shared = pin(o2, b2, "pinned/o2-shared", GrantFullControl=f'id="{o2.uid}"', GrantRead=f'id="{g2.uid}"')
    p_o2_secret = pin(o2, b2, "pinned/o2-secret")
    p_g2 = pin(g2, b2, "pinned/g2", ACL="bucket-owner-full-control")
    secret = [(p_o1_secret[0], p_o1_secret[1]), (p_o2_secret[0], p_o2_secret[1])]
    everything = [(bk, k) for (bk, k) in pinned]

    # Eight workers over both gateways (clients made here: boto3 session creation is
    # not thread-safe). Roles: two owners per bucket side, grantees (key pair and token),
    # and outsiders (key pair and token).
    specs = [
        ("owner", o1, o1.client(a), b1, [p_o1_shared, p_g1], [(b2, "pinned/o2-shared")]),
        ("owner", o2, o2.client(b), b2, [p_o2_shared, p_g2], [(b1, "pinned/o1-shared")]),
        ("owner", o1, o1.client(b), b1, [p_o1_secret, p_g1], [(b2, "pinned/g2")]),
        ("grantee", g1, g1.client(b), b1, [p_o1_shared, p_g1], [secret[0], (b2, "pinned/o2-shared")]),
        ("grantee", g2, g2.client(a), b2, [p_o2_shared, p_g2], [secret[1], (b1, "pinned/g1")]),
        ("grantee", g1, s3_client(g1.token(), "tok", a), b1, [p_o1_shared], [secret[0], (b2, "pinned/g2")]),
        ("outsider", x, x.client(a), None, [], everything),
        ("outsider", x, s3_client(x.token(), "tok", b), None, [], everything),
    ]
    assert len(specs) == WORKERS
    workers = [Worker(i, *spec, rng_seed=1000 + i) for i, spec in enumerate(specs)]
    threads = [threading.Thread(target=w.run, name=f"acl-load-{w.idx}") for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    errors = [e for w in workers for e in w.errors]
    assert errors == [], "\n".join(errors)
    # The outsiders and the forbidden probes were really exercised.
    assert sum(w.denials for w in workers if w.role == "outsider") == 2 * OPS_PER_WORKER

    # Every acknowledged, not deleted object reads back byte-identical, through the
    # gateway its writer did not use; deleted ones are gone; listings agree.
    checked = 0
    for w in workers:
        other_gw = b if w.c.meta.endpoint_url.rstrip("/") == a.rstrip("/") else a
        reader = w.user.client(other_gw)
        owner_of_bucket = o1 if w.bucket == b1 else o2
        bucket_owner_reader = owner_of_bucket.client(other_gw)
        listed = {
            o["Key"]
            for page in bucket_owner_reader.get_paginator("list_objects_v2").paginate(Bucket=w.bucket, Prefix=f"w{w.idx}/")
            for o in page.get("Contents", [])
        } if w.bucket else set()
        for key, digest in w.live.items():
            if key in w.unknown:
                continue
            if digest is None:
                assert key not in listed, key
                assert denied(lambda: reader.get_object(Bucket=w.bucket, Key=key))[1] == 404
                continue
            assert key in listed, key
            assert sha256(reader.get_object(Bucket=w.bucket, Key=key)["Body"].read()) == digest, key
            if w.role == "grantee":  # written with bucket-owner-full-control
                data = bucket_owner_reader.get_object(Bucket=w.bucket, Key=key)["Body"].read()
                assert sha256(data) == digest, key
            checked += 1
        assert listed - w.unknown == {k for k, v in w.live.items() if v is not None}
    assert checked > 0
    # The pinned objects survived the outsiders' attempts, unchanged.
    for (bk, key), (digest, user) in pinned.items():
        assert sha256(user.client(b).get_object(Bucket=bk, Key=key)["Body"].read()) == digest
    # Nothing the outsiders tried to write exists.
    for bk in (b1, b2):
        keys = [o["Key"] for o in (o1 if bk == b1 else o2).client(b).list_objects_v2(Bucket=bk, Prefix="intruder").get("Contents", [])]
        assert keys == []
