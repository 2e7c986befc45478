"""S3 ACLs and sharing with boto3 (and plain HTTP for anonymous access), on one gateway.

Classic S3 ACL semantics: bucket READ lists, bucket WRITE creates/overwrites/deletes
any object, READ_ACP/WRITE_ACP read/replace an ACL, FULL_CONTROL is all four; an
object's ACL (not its bucket's) decides who reads it, and an object belongs to whoever
wrote it. Denials are 403 AccessDenied (HEAD: a bare 403). Anonymous requests get what
AllUsers was granted. Every change is enforced on the very next request.
"""

import functools
import urllib.error
import urllib.request
import uuid

import botocore
import pytest

from acl_util import (
    ALL_USERS,
    AUTH_USERS,
    PERMISSIONS,
    anon_client,
    assert_denied,
    bucket_acl,
    canned_grants,
    cu,
    denied,
    grant_email,
    grant_id,
    grant_uri,
    grants_of,
    grp,
    http,
    make_email_user,
    named_uid,
    object_acl,
    policy,
    run_concurrently,
    signed,
    url_of,
    xml_code,
)
from conftest import endpoints, s3_client, unique

pytestmark = pytest.mark.acl


def keys_of(client, bucket, prefix=""):
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def expect(fn, allowed, head=False):
    """fn succeeds when allowed, else is refused with AccessDenied 403."""
    if allowed:
        return fn()
    assert_denied(fn, head=head)
    return None


# ---------------------------------------------------------------------------
# The permission matrix: operation x principal x (grant on bucket | grant on object)
# ---------------------------------------------------------------------------

# operation -> (level of the ACL it checks, permission it needs)
NEEDS = {
    "list_objects": ("bucket", "READ"),
    "head_bucket": ("bucket", "READ"),
    "put_object": ("bucket", "WRITE"),
    "delete_object": ("bucket", "WRITE"),
    "get_bucket_acl": ("bucket", "READ_ACP"),
    "put_bucket_acl": ("bucket", "WRITE_ACP"),
    "get_object": ("object", "READ"),
    "head_object": ("object", "READ"),
    "get_object_acl": ("object", "READ_ACP"),
    "put_object_acl": ("object", "WRITE_ACP"),
}
PRINCIPALS = ["owner", *PERMISSIONS, "other", "anonymous"]
STATIC_BODY = b"static object for the matrix"


def allowed(op, principal, resource):
    """Whether `principal` may do `op` when the grantees' grants are on `resource`
    ("bucket": the bucket ACL grants them, objects are private; "object": the bucket
    is private, the objects' ACLs grant them)."""
    if principal == "owner":
        return True
    if principal in ("other", "anonymous"):
        return False
    level, perm = NEEDS[op]
    return level == resource and principal in (perm, "FULL_CONTROL")


class World:
    """Users and buckets shared by the matrix cases (built once per module)."""

    def __init__(self, make_user, group=None, group_perm=None):
        self.owner = make_user()
        self.other = make_user()
        self.clients = {"owner": self.owner.client(), "other": self.other.client(), "anonymous": anon_client()}
        self.oc = self.clients["owner"]
        # "bucket": the bucket ACL grants each grantee its permission; objects private.
        # "object": the bucket is private; each object's ACL grants the grantees.
        # The grantees are one user per permission, or (group given) that group.
        self.grants = [grant_id(self.owner.uid, "FULL_CONTROL")]
        if group is None:
            self.grantees = {p: make_user() for p in PERMISSIONS}
            for p, u in self.grantees.items():
                self.clients[p] = u.client()
            self.grants += [grant_id(u.uid, p) for p, u in self.grantees.items()]
        else:
            self.grants.append(grant_uri(group, group_perm))
        self.bucket = {"bucket": unique("mxb"), "object": unique("mxo")}
        for b in self.bucket.values():
            self.oc.create_bucket(Bucket=b)
        self.oc.put_bucket_acl(Bucket=self.bucket["bucket"], AccessControlPolicy=self.bucket_policy("bucket"))
        for res in ("bucket", "object"):
            self.fresh_object(res, key="static", body=STATIC_BODY)

    def bucket_policy(self, resource):
        if resource == "bucket":
            return policy(self.owner.uid, *self.grants)
        return policy(self.owner.uid, grant_id(self.owner.uid, "FULL_CONTROL"))

    def fresh_object(self, resource, key=None, body=b"fresh"):
        """An object written by the owner, with the grantees' grants if resource is
        "object" (else the default ACL)."""
        key = key or f"fresh-{uuid.uuid4().hex[:10]}"
        b = self.bucket[resource]
        self.oc.put_object(Bucket=b, Key=key, Body=body)
        if resource == "object":
            self.oc.put_object_acl(Bucket=b, Key=key, AccessControlPolicy=policy(self.owner.uid, *self.grants))
        return key

    def fresh_bucket(self, resource):
        """A bucket with the same ACL as self.bucket[resource]."""
        b = unique("mxf")
        self.oc.create_bucket(Bucket=b)
        self.oc.put_bucket_acl(Bucket=b, AccessControlPolicy=self.bucket_policy(resource))
        return b


@pytest.fixture(scope="module")
def world(make_user_module):
    return World(make_user_module)


def op_list_objects(w, c, resource, ok):
    b = w.bucket[resource]
    got = expect(lambda: c.list_objects_v2(Bucket=b), ok)
    if ok:
        assert "static" in [o["Key"] for o in got.get("Contents", [])]


def op_head_bucket(w, c, resource, ok):
    expect(lambda: c.head_bucket(Bucket=w.bucket[resource]), ok, head=True)


def op_put_object(w, c, resource, ok):
    b = w.bucket[resource]
    key = f"put-{uuid.uuid4().hex[:10]}"
    expect(lambda: c.put_object(Bucket=b, Key=key, Body=b"written"), ok)
    assert keys_of(w.oc, b, key) == ([key] if ok else [])


def op_delete_object(w, c, resource, ok):
    b = w.bucket[resource]
    key = w.fresh_object(resource)
    expect(lambda: c.delete_object(Bucket=b, Key=key), ok)
    assert keys_of(w.oc, b, key) == ([] if ok else [key])


def op_get_bucket_acl(w, c, resource, ok):
    got = expect(lambda: c.get_bucket_acl(Bucket=w.bucket[resource]), ok)
    if ok:
        assert got["Owner"]["ID"] == w.owner.uid
        assert grants_of(got) == grants_of(w.bucket_policy(resource))


def op_put_bucket_acl(w, c, resource, ok):
    b = w.fresh_bucket(resource)
    expect(lambda: c.put_bucket_acl(Bucket=b, ACL="public-read"), ok)
    want = canned_grants("public-read", w.owner.uid) if ok else grants_of(w.bucket_policy(resource))
    assert bucket_acl(w.oc, b) == want
    if ok:
        status, data = http("GET", url_of(b))
        assert status == 200, data


def op_get_object(w, c, resource, ok):
    got = expect(lambda: c.get_object(Bucket=w.bucket[resource], Key="static"), ok)
    if ok:
        assert got["Body"].read() == STATIC_BODY


def op_head_object(w, c, resource, ok):
    got = expect(lambda: c.head_object(Bucket=w.bucket[resource], Key="static"), ok, head=True)
    if ok:
        assert got["ContentLength"] == len(STATIC_BODY)


def op_get_object_acl(w, c, resource, ok):
    got = expect(lambda: c.get_object_acl(Bucket=w.bucket[resource], Key="static"), ok)
    if ok:
        assert got["Owner"]["ID"] == w.owner.uid
        want = w.grants if resource == "object" else [grant_id(w.owner.uid, "FULL_CONTROL")]
        assert grants_of(got) == grants_of({"Grants": want})


def op_put_object_acl(w, c, resource, ok):
    b = w.bucket[resource]
    key = w.fresh_object(resource, body=b"to be published")
    expect(lambda: c.put_object_acl(Bucket=b, Key=key, ACL="public-read"), ok)
    if ok:
        assert http("GET", url_of(b, key)) == (200, b"to be published")
        assert object_acl(w.oc, b, key) == canned_grants("public-read", w.owner.uid)
    else:
        want = w.grants if resource == "object" else [grant_id(w.owner.uid, "FULL_CONTROL")]
        assert object_acl(w.oc, b, key) == grants_of({"Grants": want})


OPS = {name: globals()[f"op_{name}"] for name in NEEDS}


@pytest.mark.parametrize("resource", ["bucket", "object"], ids=["grant_on_bucket", "grant_on_object"])
@pytest.mark.parametrize("principal", PRINCIPALS)
@pytest.mark.parametrize("op", list(OPS))
def test_permission_matrix(world, op, principal, resource):
    OPS[op](world, world.clients[principal], resource, allowed(op, principal, resource))


GROUPS = {"AllUsers": ALL_USERS, "AuthenticatedUsers": AUTH_USERS}


@pytest.mark.parametrize("perm", PERMISSIONS)
@pytest.mark.parametrize("group", list(GROUPS))
def test_group_grant_matrix(make_user, group, perm):
    """The same operations when a group holds the permission: AuthenticatedUsers
    covers every signed-in user (not anonymous), AllUsers covers anonymous too."""
    w = World(make_user, GROUPS[group], perm)
    cases = []
    for resource in ("bucket", "object"):
        for principal in ("owner", "other", "anonymous"):
            covered = principal == "other" or (principal == "anonymous" and group == "AllUsers")
            for op, fn in OPS.items():
                level, need = NEEDS[op]
                ok = principal == "owner" or (covered and level == resource and perm in (need, "FULL_CONTROL"))
                label = f"{op} by {principal}, grant on {resource}, expected {'allow' if ok else 'deny'}"
                cases.append((label, functools.partial(fn, w, w.clients[principal], resource, ok)))
    # The checks are independent (mutations act on fresh keys and buckets): run them
    # concurrently, and report every failure.
    failures = run_concurrently(cases)
    assert failures == [], "\n".join(failures)


def test_matrix_fixture_is_as_intended(world):
    """The matrix's premises: the bucket ACL and object ACLs are what it assumes."""
    w = world
    assert bucket_acl(w.oc, w.bucket["bucket"]) == grants_of(w.bucket_policy("bucket"))
    assert bucket_acl(w.oc, w.bucket["object"]) == [cu(w.owner.uid, "FULL_CONTROL")]
    assert object_acl(w.oc, w.bucket["bucket"], "static") == [cu(w.owner.uid, "FULL_CONTROL")]
    assert object_acl(w.oc, w.bucket["object"], "static") == grants_of({"Grants": w.grants})


# ---------------------------------------------------------------------------
# Other bucket-level operations
# ---------------------------------------------------------------------------


@pytest.fixture
def shared(make_user):
    """owner's bucket `b` (with object `o`): reader has READ, writer has WRITE."""
    owner, reader, writer, other = make_user(), make_user(), make_user(), make_user()
    oc = owner.client()
    b = unique("shr")
    oc.create_bucket(Bucket=b)
    oc.put_object(Bucket=b, Key="o", Body=b"owner's object")
    oc.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(
            owner.uid,
            grant_id(owner.uid, "FULL_CONTROL"),
            grant_id(reader.uid, "READ"),
            grant_id(writer.uid, "WRITE"),
        ),
    )

    class S:
        pass

    s = S()
    s.owner, s.reader, s.writer, s.other, s.b, s.oc = owner, reader, writer, other, b, oc
    return s


def test_list_objects_v1_and_multipart_uploads_need_read(shared):
    s = shared
    up = s.oc.create_multipart_upload(Bucket=s.b, Key="mp")["UploadId"]
    rc = s.reader.client()
    assert [o["Key"] for o in rc.list_objects(Bucket=s.b)["Contents"]] == ["o"]
    assert [u["UploadId"] for u in rc.list_multipart_uploads(Bucket=s.b).get("Uploads", [])] == [up]
    for u in (s.writer, s.other):
        c = u.client()
        assert_denied(lambda: c.list_objects(Bucket=s.b))
        assert_denied(lambda: c.list_multipart_uploads(Bucket=s.b))
    a = anon_client()
    assert_denied(lambda: a.list_objects(Bucket=s.b))
    assert_denied(lambda: a.list_multipart_uploads(Bucket=s.b))


def test_write_lets_a_grantee_create_overwrite_and_delete_any_object(shared):
    s = shared
    wc = s.writer.client()
    wc.put_object(Bucket=s.b, Key="w", Body=b"by writer")
    wc.put_object(Bucket=s.b, Key="o", Body=b"overwritten by writer")  # the owner's object
    wc.delete_object(Bucket=s.b, Key="w")
    assert keys_of(s.oc, s.b) == ["o"]
    # The overwrite now belongs to the writer: the bucket owner cannot read it.
    assert_denied(lambda: s.oc.get_object(Bucket=s.b, Key="o"))
    assert wc.get_object(Bucket=s.b, Key="o")["Body"].read() == b"overwritten by writer"
    assert s.oc.list_objects_v2(Bucket=s.b)["Contents"][0]["Size"] == len(b"overwritten by writer")
    # But WRITE does not let the writer list or read others' objects.
    assert_denied(lambda: wc.list_objects_v2(Bucket=s.b))
    s.oc.put_object(Bucket=s.b, Key="mine", Body=b"owner")
    assert_denied(lambda: wc.get_object(Bucket=s.b, Key="mine"))
    # Deleting someone else's object needs only bucket WRITE.
    wc.delete_object(Bucket=s.b, Key="mine")
    assert keys_of(s.oc, s.b) == ["o"]


def test_delete_objects_needs_write(shared):
    s = shared
    for k in ("d1", "d2"):
        s.oc.put_object(Bucket=s.b, Key=k, Body=b"x")
    batch = {"Objects": [{"Key": "d1"}, {"Key": "d2"}]}
    for u in (s.reader, s.other):
        c = u.client()
        try:
            r = c.delete_objects(Bucket=s.b, Delete=batch)
        except botocore.exceptions.ClientError as e:
            r = e.response
            assert (r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
        else:
            # Per-key refusals are also S3's way: every key must be refused.
            assert r.get("Deleted", []) == [], r
            assert sorted((x["Key"], x["Code"]) for x in r["Errors"]) == [
                ("d1", "AccessDenied"),
                ("d2", "AccessDenied"),
            ]
    assert sorted(keys_of(s.oc, s.b, "d")) == ["d1", "d2"]
    r = s.writer.client().delete_objects(Bucket=s.b, Delete=batch)
    assert sorted(d["Key"] for d in r["Deleted"]) == ["d1", "d2"] and not r.get("Errors")
    assert keys_of(s.oc, s.b, "d") == []


def test_multipart_needs_bucket_write(shared):
    s = shared
    wc, rc = s.writer.client(), s.reader.client()
    part = b"p" * 1024
    # A grantee with WRITE runs a whole upload; the object is theirs.
    up = wc.create_multipart_upload(Bucket=s.b, Key="mpw")["UploadId"]
    etag = wc.upload_part(Bucket=s.b, Key="mpw", UploadId=up, PartNumber=1, Body=part)["ETag"]
    wc.complete_multipart_upload(
        Bucket=s.b, Key="mpw", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert wc.get_object(Bucket=s.b, Key="mpw")["Body"].read() == part
    assert wc.get_object_acl(Bucket=s.b, Key="mpw")["Owner"]["ID"] == s.writer.uid
    assert_denied(lambda: s.oc.get_object(Bucket=s.b, Key="mpw"))
    # Without WRITE: no create, no part, no complete, no abort on the owner's upload.
    up2 = s.oc.create_multipart_upload(Bucket=s.b, Key="mpo")["UploadId"]
    etag2 = s.oc.upload_part(Bucket=s.b, Key="mpo", UploadId=up2, PartNumber=1, Body=part)["ETag"]
    for c in (rc, s.other.client(), anon_client()):
        assert_denied(lambda: c.create_multipart_upload(Bucket=s.b, Key="mpx"))
        assert_denied(lambda: c.upload_part(Bucket=s.b, Key="mpo", UploadId=up2, PartNumber=2, Body=part))
        assert_denied(
            lambda: c.complete_multipart_upload(
                Bucket=s.b, Key="mpo", UploadId=up2, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag2}]}
            )
        )
        assert_denied(lambda: c.abort_multipart_upload(Bucket=s.b, Key="mpo", UploadId=up2))
    # WRITE also lets the grantee abort the owner's upload.
    wc.abort_multipart_upload(Bucket=s.b, Key="mpo", UploadId=up2)
    assert s.oc.list_multipart_uploads(Bucket=s.b).get("Uploads", []) == []


def test_delete_bucket_is_owner_only(make_user):
    owner, fc = make_user(), make_user()
    oc = owner.client()
    b = unique("delb")
    oc.create_bucket(Bucket=b)
    oc.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(
            owner.uid,
            grant_id(owner.uid, "FULL_CONTROL"),
            grant_id(fc.uid, "FULL_CONTROL"),
            grant_uri(ALL_USERS, "FULL_CONTROL"),
        ),
    )
    assert_denied(lambda: fc.client().delete_bucket(Bucket=b))
    assert_denied(lambda: anon_client().delete_bucket(Bucket=b))
    oc.head_bucket(Bucket=b)
    oc.delete_bucket(Bucket=b)
    assert denied(lambda: oc.head_bucket(Bucket=b)) == ("404", 404)


def test_bucket_owner_keeps_acp_rights_without_a_grant(make_user):
    owner, reader = make_user(), make_user()
    oc = owner.client()
    b = unique("own")
    oc.create_bucket(Bucket=b)
    # Grant headers: the ACL is exactly the listed grants, the owner's grant is gone.
    oc.put_bucket_acl(Bucket=b, GrantRead=f'id="{reader.uid}"')
    got = oc.get_bucket_acl(Bucket=b)
    assert got["Owner"]["ID"] == owner.uid
    assert grants_of(got) == [cu(reader.uid, "READ")]
    # The owner may still replace the ACL, and gets its rights back.
    oc.put_bucket_acl(Bucket=b, ACL="private")
    assert bucket_acl(oc, b) == [cu(owner.uid, "FULL_CONTROL")]
    oc.put_object(Bucket=b, Key="k", Body=b"x")
    assert keys_of(oc, b) == ["k"]
    assert_denied(lambda: reader.client().list_objects_v2(Bucket=b))


def test_object_owner_keeps_acp_rights_without_a_grant(user, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.put_object_acl(Bucket=bucket, Key="k", AccessControlPolicy=policy(user.uid))
    got = s3.get_object_acl(Bucket=bucket, Key="k")
    assert got["Owner"]["ID"] == user.uid and grants_of(got) == []
    assert_denied(lambda: s3.get_object(Bucket=bucket, Key="k"))
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"


def test_default_acls(user, s3):
    b = unique("dflt")
    s3.create_bucket(Bucket=b)
    got = s3.get_bucket_acl(Bucket=b)
    assert got["Owner"]["ID"] == user.uid
    assert grants_of(got) == [cu(user.uid, "FULL_CONTROL")]
    s3.put_object(Bucket=b, Key="k", Body=b"x")
    got = s3.get_object_acl(Bucket=b, Key="k")
    assert got["Owner"]["ID"] == user.uid
    assert grants_of(got) == [cu(user.uid, "FULL_CONTROL")]


def test_acl_of_missing_object_and_bucket(s3, bucket):
    assert denied(lambda: s3.get_object_acl(Bucket=bucket, Key="nope")) == ("NoSuchKey", 404)
    assert denied(lambda: s3.put_object_acl(Bucket=bucket, Key="nope", ACL="public-read")) == ("NoSuchKey", 404)
    nob = unique("nob")
    assert denied(lambda: s3.get_bucket_acl(Bucket=nob)) == ("NoSuchBucket", 404)
    assert denied(lambda: s3.put_bucket_acl(Bucket=nob, ACL="private")) == ("NoSuchBucket", 404)


# ---------------------------------------------------------------------------
# Canned ACLs
# ---------------------------------------------------------------------------

BUCKET_CANNED = ["private", "public-read", "public-read-write", "authenticated-read"]
OBJECT_CANNED = BUCKET_CANNED + ["bucket-owner-read", "bucket-owner-full-control"]


def check_bucket_access(b, canned, owner_client, other):
    """The effective access a bucket ACL of `canned` gives (object `o` is private)."""
    anon_read = canned in ("public-read", "public-read-write")
    auth_read = anon_read or canned == "authenticated-read"
    anon_write = canned == "public-read-write"
    # Anonymous listing, with plain HTTP.
    status, data = http("GET", url_of(b))
    assert status == (200 if anon_read else 403), data
    if anon_read:
        assert b"<Key>o</Key>" in data
    else:
        assert xml_code(data) == "AccessDenied"
    a = anon_client()
    expect(lambda: a.head_bucket(Bucket=b), anon_read, head=True)
    oc = other.client()
    got = expect(lambda: oc.list_objects_v2(Bucket=b), auth_read)
    if auth_read:
        assert [o["Key"] for o in got["Contents"]] == ["o"]
    # Bucket READ never reads the (private) objects.
    assert_denied(lambda: oc.get_object(Bucket=b, Key="o"))
    status, data = http("GET", url_of(b, "o"))
    assert status == 403 and xml_code(data) == "AccessDenied"
    # Writes.
    status, _ = http("PUT", url_of(b, "anon-put"), body=b"anonymous")
    assert status == (200 if anon_write else 403)
    expect(lambda: oc.put_object(Bucket=b, Key="other-put", Body=b"other"), anon_write)
    assert sorted(keys_of(owner_client, b)) == sorted(["o"] + (["anon-put", "other-put"] if anon_write else []))
    expect(lambda: oc.delete_object(Bucket=b, Key="o"), anon_write)
    # The ACL itself stays the owner's business.
    assert_denied(lambda: oc.get_bucket_acl(Bucket=b))
    assert_denied(lambda: oc.put_bucket_acl(Bucket=b, ACL="private"))


@pytest.mark.parametrize("canned", BUCKET_CANNED)
def test_canned_acl_on_create_bucket(make_user, canned):
    owner, other = make_user(), make_user()
    c = owner.client()
    b = unique("cnb")
    c.create_bucket(Bucket=b, ACL=canned)
    got = c.get_bucket_acl(Bucket=b)
    assert got["Owner"]["ID"] == owner.uid
    assert grants_of(got) == canned_grants(canned, owner.uid)
    c.put_object(Bucket=b, Key="o", Body=b"private object")
    check_bucket_access(b, canned, c, other)


@pytest.mark.parametrize("canned", BUCKET_CANNED)
def test_canned_acl_on_put_bucket_acl(make_user, canned):
    owner, other = make_user(), make_user()
    c = owner.client()
    b = unique("cnp")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="o", Body=b"private object")
    # Start wide open; the canned ACL replaces everything.
    c.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(
            owner.uid,
            grant_id(owner.uid, "FULL_CONTROL"),
            grant_uri(ALL_USERS, "READ"),
            grant_uri(ALL_USERS, "WRITE"),
            grant_uri(AUTH_USERS, "READ"),
            grant_id(other.uid, "FULL_CONTROL"),
        ),
    )
    c.put_bucket_acl(Bucket=b, ACL=canned)
    assert bucket_acl(c, b) == canned_grants(canned, owner.uid)
    check_bucket_access(b, canned, c, other)


def test_unknown_canned_acl_is_refused(user, s3, bucket):
    code, status = denied(lambda: s3.put_bucket_acl(Bucket=bucket, ACL="no-such-acl"))
    assert status == 400, code
    assert bucket_acl(s3, bucket) == [cu(user.uid, "FULL_CONTROL")]


@pytest.fixture(scope="module")
def writable(make_user_module):
    """A bucket of `owner` in which `writer` has WRITE (and nothing else)."""
    owner, writer, other = make_user_module(), make_user_module(), make_user_module()
    oc = owner.client()
    b = unique("wrt")
    oc.create_bucket(Bucket=b)
    oc.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_id(writer.uid, "WRITE")),
    )
    return owner, writer, other, b


def write_with_canned(how, c, b, key, body, canned):
    if how == "put_object":
        c.put_object(Bucket=b, Key=key, Body=body, ACL=canned)
    elif how == "copy_object":
        c.put_object(Bucket=b, Key=key + ".src", Body=body)
        c.copy_object(Bucket=b, Key=key, CopySource={"Bucket": b, "Key": key + ".src"}, ACL=canned)
        # The source keeps its own (private) ACL.
        status, _ = http("GET", url_of(b, key + ".src"))
        assert status == 403
    elif how == "multipart":
        up = c.create_multipart_upload(Bucket=b, Key=key, ACL=canned)["UploadId"]
        etag = c.upload_part(Bucket=b, Key=key, UploadId=up, PartNumber=1, Body=body)["ETag"]
        c.complete_multipart_upload(
            Bucket=b, Key=key, UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
        )
    elif how == "put_object_acl":
        c.put_object(Bucket=b, Key=key, Body=body, ACL="public-read-write" if canned == "private" else "private")
        c.put_object_acl(Bucket=b, Key=key, ACL=canned)
    else:
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["put_object", "copy_object", "multipart", "put_object_acl"])
def test_canned_object_acl(writable, how):
    """A grantee with bucket WRITE writes into the owner's bucket with each canned ACL
    (independent keys, checked concurrently): the object is the writer's, and the
    canned ACL decides who else reads it."""
    owner, writer, other, b = writable
    wc, oc, xc = writer.client(), owner.client(), other.client()
    cases = [
        (canned, functools.partial(check_canned_object, wc, oc, xc, owner, writer, b, how, canned))
        for canned in OBJECT_CANNED
    ]
    failures = run_concurrently(cases)
    assert failures == [], "\n".join(failures)


def check_canned_object(wc, oc, xc, owner, writer, b, how, canned):
    key = f"{how}-{canned}-{uuid.uuid4().hex[:6]}"
    body = f"written with {canned} via {how}".encode()
    write_with_canned(how, wc, b, key, body, canned)

    got = wc.get_object_acl(Bucket=b, Key=key)
    assert got["Owner"]["ID"] == writer.uid
    assert grants_of(got) == canned_grants(canned, writer.uid, bucket_owner=owner.uid)
    assert wc.get_object(Bucket=b, Key=key)["Body"].read() == body

    anon = canned in ("public-read", "public-read-write")
    auth = anon or canned == "authenticated-read"
    bucket_owner_reads = auth or canned in ("bucket-owner-read", "bucket-owner-full-control")
    # Anonymous: plain urllib3, no signature.
    status, data = http("GET", url_of(b, key))
    assert status == (200 if anon else 403)
    assert (data == body) if anon else (xml_code(data) == "AccessDenied")
    status, data = http("HEAD", url_of(b, key))
    assert status == (200 if anon else 403) and data == b""
    # Another signed-in user.
    got = expect(lambda: xc.get_object(Bucket=b, Key=key), auth)
    if auth:
        assert got["Body"].read() == body
    # The bucket owner.
    got = expect(lambda: oc.get_object(Bucket=b, Key=key), bucket_owner_reads)
    if bucket_owner_reads:
        assert got["Body"].read() == body
    full = canned == "bucket-owner-full-control"
    got = expect(lambda: oc.get_object_acl(Bucket=b, Key=key), full)
    if full:
        assert got["Owner"]["ID"] == writer.uid
    # Nobody but the object owner (and FULL_CONTROL holders) may change the ACL.
    assert_denied(lambda: xc.put_object_acl(Bucket=b, Key=key, ACL="public-read"))
    expect(lambda: oc.put_object_acl(Bucket=b, Key=key, ACL="bucket-owner-full-control"), full)


def test_canned_acls_by_the_bucket_owner_on_own_objects(user, s3, bucket, make_user):
    other = make_user()
    s3.put_object(Bucket=bucket, Key="pub", Body=b"public", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="auth", Body=b"authenticated", ACL="authenticated-read")
    s3.put_object(Bucket=bucket, Key="priv", Body=b"private")
    assert object_acl(s3, bucket, "pub") == canned_grants("public-read", user.uid)
    assert http("GET", url_of(bucket, "pub")) == (200, b"public")
    with urllib.request.urlopen(url_of(bucket, "pub"), timeout=30) as r:  # no auth at all
        assert (r.status, r.read()) == (200, b"public")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url_of(bucket, "priv"), timeout=30)
    assert e.value.code == 403 and xml_code(e.value.read()) == "AccessDenied"
    assert anon_client().get_object(Bucket=bucket, Key="pub")["Body"].read() == b"public"
    assert anon_client().head_object(Bucket=bucket, Key="pub")["ContentLength"] == 6
    assert http("GET", url_of(bucket, "auth"))[0] == 403
    assert other.client().get_object(Bucket=bucket, Key="auth")["Body"].read() == b"authenticated"
    assert http("GET", url_of(bucket, "priv"))[0] == 403
    assert_denied(lambda: other.client().get_object(Bucket=bucket, Key="priv"))
    # The objects are public, the bucket is not.
    assert http("GET", url_of(bucket))[0] == 403
    assert_denied(lambda: other.client().list_objects_v2(Bucket=bucket))
    # Making the object private again is enforced at once.
    s3.put_object_acl(Bucket=bucket, Key="pub", ACL="private")
    assert http("GET", url_of(bucket, "pub"))[0] == 403
    # An overwrite without an ACL gets the default ACL (private), not the old one.
    s3.put_object(Bucket=bucket, Key="auth", Body=b"new")
    assert object_acl(s3, bucket, "auth") == [cu(user.uid, "FULL_CONTROL")]
    assert_denied(lambda: other.client().get_object(Bucket=bucket, Key="auth"))


def test_copy_object_permissions_and_ownership(make_user):
    owner, copier, other = make_user(), make_user(), make_user()
    oc, cc = owner.client(), copier.client()
    src, dst = unique("cps"), unique("cpd")
    oc.create_bucket(Bucket=src)
    oc.create_bucket(Bucket=dst)
    oc.put_object(Bucket=src, Key="readable", Body=b"copy me", GrantRead=f'id="{copier.uid}"')
    oc.put_object(Bucket=src, Key="secret", Body=b"not for you")
    # Without WRITE on the destination: refused.
    assert_denied(lambda: cc.copy_object(Bucket=dst, Key="c", CopySource={"Bucket": src, "Key": "readable"}))
    oc.put_bucket_acl(
        Bucket=dst,
        AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_id(copier.uid, "WRITE")),
    )
    # Without READ on the source object: refused (bucket READ would not help either).
    assert_denied(lambda: cc.copy_object(Bucket=dst, Key="c", CopySource={"Bucket": src, "Key": "secret"}))
    # With both: the copy belongs to the copier, with the default ACL.
    cc.copy_object(Bucket=dst, Key="c", CopySource={"Bucket": src, "Key": "readable"})
    assert cc.get_object(Bucket=dst, Key="c")["Body"].read() == b"copy me"
    got = cc.get_object_acl(Bucket=dst, Key="c")
    assert got["Owner"]["ID"] == copier.uid
    assert grants_of(got) == [cu(copier.uid, "FULL_CONTROL")]
    assert_denied(lambda: oc.get_object(Bucket=dst, Key="c"))
    assert keys_of(oc, dst) == ["c"]
    # Someone else can neither copy out nor in.
    xc = other.client()
    assert_denied(lambda: xc.copy_object(Bucket=dst, Key="x", CopySource={"Bucket": src, "Key": "readable"}))
    # The bucket owner cannot copy out an object it may not read.
    assert_denied(lambda: oc.copy_object(Bucket=src, Key="stolen", CopySource={"Bucket": dst, "Key": "c"}))
    # The copier's copy with a grant header for the bucket owner.
    cc.copy_object(
        Bucket=dst,
        Key="c2",
        CopySource={"Bucket": src, "Key": "readable"},
        GrantRead=f'id="{owner.uid}"',
        GrantFullControl=f'id="{copier.uid}"',
    )
    assert oc.get_object(Bucket=dst, Key="c2")["Body"].read() == b"copy me"
    assert sorted(object_acl(cc, dst, "c2")) == sorted([cu(owner.uid, "READ"), cu(copier.uid, "FULL_CONTROL")])


# ---------------------------------------------------------------------------
# Grant headers
# ---------------------------------------------------------------------------


def test_grant_headers_on_put_bucket_acl(make_user):
    owner, r, w, ra, wa = (make_user() for _ in range(5))
    c = owner.client()
    b = unique("gh")
    c.create_bucket(Bucket=b)
    c.put_bucket_acl(
        Bucket=b,
        GrantFullControl=f'id="{owner.uid}"',
        GrantRead=f'id="{r.uid}"',
        GrantWrite=f"id={w.uid}",  # quotes are optional
        GrantReadACP=f'id="{ra.uid}"',
        GrantWriteACP=f'id="{wa.uid}"',
    )
    assert sorted(bucket_acl(c, b)) == sorted(
        [
            cu(owner.uid, "FULL_CONTROL"),
            cu(r.uid, "READ"),
            cu(w.uid, "WRITE"),
            cu(ra.uid, "READ_ACP"),
            cu(wa.uid, "WRITE_ACP"),
        ]
    )
    r.client().list_objects_v2(Bucket=b)
    w.client().put_object(Bucket=b, Key="k", Body=b"x")
    assert ra.client().get_bucket_acl(Bucket=b)["Owner"]["ID"] == owner.uid
    wa.client().put_bucket_acl(Bucket=b, ACL="private")
    assert bucket_acl(c, b) == [cu(owner.uid, "FULL_CONTROL")]
    assert_denied(lambda: r.client().list_objects_v2(Bucket=b))


def test_grant_header_with_several_grantees_and_groups(make_user):
    owner, a, b_user, other = make_user(), make_user(), make_user(), make_user()
    c = owner.client()
    b = unique("ghm")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="o", Body=b"x")
    c.put_bucket_acl(
        Bucket=b,
        GrantFullControl=f'id="{owner.uid}"',
        GrantRead=f'id="{a.uid}", id={b_user.uid},uri="{AUTH_USERS}"',
    )
    assert sorted(bucket_acl(c, b)) == sorted(
        [cu(owner.uid, "FULL_CONTROL"), cu(a.uid, "READ"), cu(b_user.uid, "READ"), grp(AUTH_USERS, "READ")]
    )
    for u in (a, b_user, other):
        assert keys_of(u.client(), b) == ["o"]
    assert http("GET", url_of(b))[0] == 403
    c.put_bucket_acl(Bucket=b, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'uri="{ALL_USERS}"')
    assert sorted(bucket_acl(c, b)) == sorted([cu(owner.uid, "FULL_CONTROL"), grp(ALL_USERS, "READ")])
    status, data = http("GET", url_of(b))
    assert status == 200 and b"<Key>o</Key>" in data
    # AllUsers WRITE: anonymous uploads.
    c.put_bucket_acl(Bucket=b, GrantFullControl=f'id="{owner.uid}"', GrantWrite=f'uri="{ALL_USERS}"')
    assert http("PUT", url_of(b, "anon"), body=b"a")[0] == 200
    assert http("GET", url_of(b))[0] == 403  # WRITE alone does not list
    assert sorted(keys_of(c, b)) == ["anon", "o"]


def test_grant_by_email(make_user):
    owner = make_user()
    mailed = make_email_user()
    c = owner.client()
    b = unique("ghe")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="o", Body=b"for mail", GrantRead=f'emailAddress="{mailed.email}"')
    c.put_bucket_acl(
        Bucket=b, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'emailAddress="{mailed.email}"'
    )
    # Stored and returned as the user's canonical id.
    assert sorted(bucket_acl(c, b)) == sorted([cu(owner.uid, "FULL_CONTROL"), cu(mailed.uid, "READ")])
    assert object_acl(c, b, "o") == [cu(mailed.uid, "READ")]
    mc = mailed.client()
    assert keys_of(mc, b) == ["o"]
    assert mc.get_object(Bucket=b, Key="o")["Body"].read() == b"for mail"
    # And in an AccessControlPolicy body.
    c.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(
            owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_email(mailed.email, "WRITE")
        ),
    )
    assert bucket_acl(c, b) == [cu(owner.uid, "FULL_CONTROL"), cu(mailed.uid, "WRITE")]
    assert_denied(lambda: mc.list_objects_v2(Bucket=b))
    mc.put_object(Bucket=b, Key="from-mail", Body=b"y")


def test_grant_headers_on_put_object_and_create_bucket(make_user):
    owner, r, ra, wa, fc, other = (make_user() for _ in range(6))
    c = owner.client()
    b = unique("gho")
    c.create_bucket(Bucket=b, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'uri="{AUTH_USERS}"')
    assert sorted(bucket_acl(c, b)) == sorted([cu(owner.uid, "FULL_CONTROL"), grp(AUTH_USERS, "READ")])
    c.put_object(
        Bucket=b,
        Key="o",
        Body=b"granted",
        GrantRead=f'id="{r.uid}"',
        GrantReadACP=f'id="{ra.uid}"',
        GrantWriteACP=f'id="{wa.uid}"',
        GrantFullControl=f'id="{fc.uid}"',
    )
    want = [cu(r.uid, "READ"), cu(ra.uid, "READ_ACP"), cu(wa.uid, "WRITE_ACP"), cu(fc.uid, "FULL_CONTROL")]
    got = c.get_object_acl(Bucket=b, Key="o")  # the object owner keeps READ_ACP
    assert got["Owner"]["ID"] == owner.uid
    assert sorted(grants_of(got)) == sorted(want)
    # No owner grant was listed: the owner itself may not read the data.
    assert_denied(lambda: c.get_object(Bucket=b, Key="o"))
    assert r.client().get_object(Bucket=b, Key="o")["Body"].read() == b"granted"
    assert fc.client().get_object(Bucket=b, Key="o")["Body"].read() == b"granted"
    assert_denied(lambda: ra.client().get_object(Bucket=b, Key="o"))
    assert sorted(object_acl(ra.client(), b, "o")) == sorted(want)
    assert_denied(lambda: r.client().get_object_acl(Bucket=b, Key="o"))
    assert_denied(lambda: other.client().get_object(Bucket=b, Key="o"))
    assert keys_of(other.client(), b) == ["o"]  # bucket READ for AuthenticatedUsers
    wa.client().put_object_acl(Bucket=b, Key="o", GrantRead=f'id="{other.uid}"')
    assert object_acl(c, b, "o") == [cu(other.uid, "READ")]
    assert other.client().get_object(Bucket=b, Key="o")["Body"].read() == b"granted"
    assert_denied(lambda: r.client().get_object(Bucket=b, Key="o"))


def test_canned_acl_and_grant_headers_together_are_refused(user, s3, bucket, make_user):
    g = make_user()
    grant = f'id="{g.uid}"'
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    both = unique("both")
    for call in [
        lambda: s3.create_bucket(Bucket=both, ACL="public-read", GrantRead=grant),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="public-read", GrantRead=grant),
        lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"y", ACL="public-read", GrantRead=grant),
        lambda: s3.put_object_acl(Bucket=bucket, Key="o", ACL="public-read", GrantRead=grant),
    ]:
        assert denied(call) == ("InvalidRequest", 400)
    assert denied(lambda: s3.head_bucket(Bucket=both)) == ("404", 404)  # not created
    assert bucket_acl(s3, bucket) == [cu(user.uid, "FULL_CONTROL")]
    assert object_acl(s3, bucket, "o") == [cu(user.uid, "FULL_CONTROL")]
    assert keys_of(s3, bucket) == ["o"]


def test_grant_to_unknown_id_or_email_is_refused(user, s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    ghost = f"ghost{uuid.uuid4().hex[:8]}_nowhere"
    mail = f"{ghost}@example.org"
    for call in [
        lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead=f'id="{ghost}"'),
        lambda: s3.put_object_acl(Bucket=bucket, Key="o", GrantRead=f'id="{ghost}"'),
        lambda: s3.put_object(Bucket=bucket, Key="n", Body=b"y", GrantRead=f'id="{ghost}"'),
        lambda: s3.put_bucket_acl(
            Bucket=bucket,
            AccessControlPolicy=policy(user.uid, grant_id(user.uid, "FULL_CONTROL"), grant_id(ghost, "READ")),
        ),
    ]:
        assert denied(call) == ("InvalidArgument", 400)
    for call in [
        lambda: s3.put_bucket_acl(Bucket=bucket, GrantRead=f'emailAddress="{mail}"'),
        lambda: s3.put_object_acl(Bucket=bucket, Key="o", GrantRead=f'emailAddress="{mail}"'),
        lambda: s3.put_bucket_acl(
            Bucket=bucket,
            AccessControlPolicy=policy(user.uid, grant_id(user.uid, "FULL_CONTROL"), grant_email(mail, "READ")),
        ),
    ]:
        assert denied(call) == ("UnresolvableGrantByEmailAddress", 400)
    assert bucket_acl(s3, bucket) == [cu(user.uid, "FULL_CONTROL")]
    assert object_acl(s3, bucket, "o") == [cu(user.uid, "FULL_CONTROL")]
    assert keys_of(s3, bucket) == ["o"]


# ---------------------------------------------------------------------------
# AccessControlPolicy bodies
# ---------------------------------------------------------------------------


def test_access_control_policy_replaces_the_acl(make_user):
    owner, a, b_user = make_user(), make_user(), make_user()
    c = owner.client()
    b = unique("acp")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="o", Body=b"x")
    c.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(
            owner.uid,
            grant_id(owner.uid, "FULL_CONTROL"),
            grant_id(a.uid, "READ"),
            grant_id(a.uid, "READ_ACP"),
            grant_uri(ALL_USERS, "READ"),
        ),
    )
    got = c.get_bucket_acl(Bucket=b)
    assert got["Owner"]["ID"] == owner.uid
    assert sorted(grants_of(got)) == sorted(
        [cu(owner.uid, "FULL_CONTROL"), cu(a.uid, "READ"), cu(a.uid, "READ_ACP"), grp(ALL_USERS, "READ")]
    )
    assert keys_of(a.client(), b) == ["o"]
    assert sorted(bucket_acl(a.client(), b)) == sorted(grants_of(got))
    assert http("GET", url_of(b))[0] == 200
    # Replacing drops everything not listed.
    c.put_bucket_acl(
        Bucket=b, AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_id(b_user.uid, "READ"))
    )
    assert bucket_acl(c, b) == [cu(owner.uid, "FULL_CONTROL"), cu(b_user.uid, "READ")]
    assert_denied(lambda: a.client().list_objects_v2(Bucket=b))
    assert http("GET", url_of(b))[0] == 403
    assert keys_of(b_user.client(), b) == ["o"]
    # The same on an object.
    c.put_object_acl(
        Bucket=b, Key="o", AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_uri(AUTH_USERS, "READ"))
    )
    assert object_acl(c, b, "o") == [cu(owner.uid, "FULL_CONTROL"), grp(AUTH_USERS, "READ")]
    assert a.client().get_object(Bucket=b, Key="o")["Body"].read() == b"x"
    assert http("GET", url_of(b, "o"))[0] == 403


def test_access_control_policy_with_another_owner_is_refused(make_user):
    owner, grantee = make_user(), make_user()
    c = owner.client()
    b = unique("acpo")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="o", Body=b"x")
    full = grant_id(owner.uid, "FULL_CONTROL")
    c.put_bucket_acl(Bucket=b, AccessControlPolicy=policy(owner.uid, full, grant_id(grantee.uid, "WRITE_ACP")))
    c.put_object_acl(Bucket=b, Key="o", AccessControlPolicy=policy(owner.uid, full, grant_id(grantee.uid, "WRITE_ACP")))
    bucket_before, object_before = bucket_acl(c, b), object_acl(c, b, "o")
    gc = grantee.client()
    for cl, who in ((c, grantee.uid), (gc, grantee.uid)):
        takeover = policy(who, grant_id(grantee.uid, "FULL_CONTROL"))
        assert_denied(lambda: cl.put_bucket_acl(Bucket=b, AccessControlPolicy=takeover))
        assert_denied(lambda: cl.put_object_acl(Bucket=b, Key="o", AccessControlPolicy=takeover))
    assert bucket_acl(c, b) == bucket_before
    assert object_acl(c, b, "o") == object_before
    assert c.get_bucket_acl(Bucket=b)["Owner"]["ID"] == owner.uid
    # With the right owner the WRITE_ACP grantee may replace the ACL.
    gc.put_bucket_acl(Bucket=b, AccessControlPolicy=policy(owner.uid, full, grant_id(grantee.uid, "READ")))
    assert bucket_acl(c, b) == [cu(owner.uid, "FULL_CONTROL"), cu(grantee.uid, "READ")]
    assert keys_of(gc, b) == ["o"]


MALFORMED = {
    "truncated": b"<AccessControlPolicy><Owner><ID>x</ID></Owner><AccessControlList><Grant>",
    "not_xml": b"this is not an access control policy",
    "bad_grantee_type": (
        b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>OWNER</ID></Owner>'
        b'<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:type="Martian"><ID>OWNER</ID></Grantee><Permission>READ</Permission></Grant>'
        b"</AccessControlList></AccessControlPolicy>"
    ),
    "bad_permission": (
        b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>OWNER</ID></Owner>'
        b'<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:type="CanonicalUser"><ID>OWNER</ID></Grantee><Permission>EVERYTHING</Permission></Grant>'
        b"</AccessControlList></AccessControlPolicy>"
    ),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_malformed_access_control_policy(user, s3, bucket, kind):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x")
    body = MALFORMED[kind].replace(b"OWNER", user.uid.encode())
    for key in (None, "o"):
        status, data = signed(user, "PUT", bucket, key, query="acl", body=body)
        assert (status, xml_code(data)) == (400, "MalformedACLError"), data
    assert bucket_acl(s3, bucket) == [cu(user.uid, "FULL_CONTROL")]
    assert object_acl(s3, bucket, "o") == [cu(user.uid, "FULL_CONTROL")]


def test_well_formed_raw_policy_is_accepted(user, s3, bucket, make_user):
    """The raw-request helper itself works (so the malformed cases test the XML)."""
    g = make_user()
    body = (
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Owner><ID>{user.uid}</ID></Owner><AccessControlList>"
        '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        f"<ID>{user.uid}</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>"
        '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        f"<ID>{g.uid}</ID></Grantee><Permission>READ</Permission></Grant>"
        "</AccessControlList></AccessControlPolicy>"
    ).encode()
    status, data = signed(user, "PUT", bucket, query="acl", body=body)
    assert status == 200, data
    assert bucket_acl(s3, bucket) == [cu(user.uid, "FULL_CONTROL"), cu(g.uid, "READ")]


# ---------------------------------------------------------------------------
# Ownership, ListBuckets, identities, tokens
# ---------------------------------------------------------------------------


def test_list_buckets_shows_only_own_buckets(make_user):
    owner, grantee = make_user(), make_user()
    oc, gc = owner.client(), grantee.client()
    shared_b, public_b, own_b = unique("lbs"), unique("lbp"), unique("lbo")
    oc.create_bucket(Bucket=shared_b)
    oc.create_bucket(Bucket=public_b, ACL="public-read-write")
    gc.create_bucket(Bucket=own_b)
    oc.put_bucket_acl(
        Bucket=shared_b,
        AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_id(grantee.uid, "FULL_CONTROL")),
    )
    assert [b["Name"] for b in gc.list_buckets()["Buckets"]] == [own_b]
    assert sorted(b["Name"] for b in oc.list_buckets()["Buckets"]) == sorted([shared_b, public_b])
    # The grantee reaches the shared buckets by name.
    gc.put_object(Bucket=shared_b, Key="k", Body=b"x")
    assert keys_of(gc, shared_b) == ["k"]
    assert keys_of(gc, public_b) == []
    assert_denied(lambda: anon_client().list_buckets())
    assert_denied(lambda: anon_client().create_bucket(Bucket=unique("anon")))
    assert http("GET", endpoints()[0].rstrip("/") + "/")[0] == 403


def test_objects_belong_to_their_writer(make_user):
    owner, writer = make_user(), make_user()
    oc, wc = owner.client(), writer.client()
    b = unique("own")
    oc.create_bucket(Bucket=b)
    oc.put_bucket_acl(
        Bucket=b,
        AccessControlPolicy=policy(owner.uid, grant_id(owner.uid, "FULL_CONTROL"), grant_id(writer.uid, "FULL_CONTROL")),
    )
    wc.put_object(Bucket=b, Key="w", Body=b"writer's")
    listed = oc.list_objects_v2(Bucket=b, FetchOwner=True)["Contents"]
    assert [(o["Key"], o["Owner"]["ID"]) for o in listed] == [("w", writer.uid)]
    got = wc.get_object_acl(Bucket=b, Key="w")
    assert got["Owner"]["ID"] == writer.uid
    assert grants_of(got) == [cu(writer.uid, "FULL_CONTROL")]
    # The bucket owner lists it, but may not read it or its ACL...
    assert keys_of(oc, b) == ["w"]
    assert_denied(lambda: oc.get_object(Bucket=b, Key="w"))
    assert_denied(lambda: oc.head_object(Bucket=b, Key="w"), head=True)
    assert_denied(lambda: oc.get_object_acl(Bucket=b, Key="w"))
    assert_denied(lambda: oc.put_object_acl(Bucket=b, Key="w", ACL="bucket-owner-full-control"))
    # ...until the writer grants it.
    wc.put_object_acl(Bucket=b, Key="w", GrantRead=f'id="{owner.uid}"', GrantFullControl=f'id="{writer.uid}"')
    assert oc.get_object(Bucket=b, Key="w")["Body"].read() == b"writer's"
    assert_denied(lambda: oc.get_object_acl(Bucket=b, Key="w"))
    # The bucket owner may always delete (bucket WRITE), and overwrite: then it is theirs.
    oc.put_object(Bucket=b, Key="w", Body=b"owner's now")
    assert oc.get_object_acl(Bucket=b, Key="w")["Owner"]["ID"] == owner.uid
    assert_denied(lambda: wc.get_object(Bucket=b, Key="w"))
    wc.put_object(Bucket=b, Key="w2", Body=b"z")
    oc.delete_object(Bucket=b, Key="w2")
    assert keys_of(oc, b) == ["w"]


def test_one_person_with_two_identities(make_user):
    """alice in physics and alice in chemistry are separate users: separate
    credentials and buckets, no access to each other's unless granted."""
    phys = make_user(named_uid("alice", "physics"))
    chem = make_user(named_uid("alice", "chem"))
    pc, cc = phys.client(), chem.client()
    pb, cb = unique("phys"), unique("chem")
    pc.create_bucket(Bucket=pb)
    cc.create_bucket(Bucket=cb)
    pc.put_object(Bucket=pb, Key="paper.tex", Body=b"E = mc^2")
    pc.put_object(Bucket=pb, Key="private.txt", Body=b"draft")
    cc.put_object(Bucket=cb, Key="notes", Body=b"H2O")
    assert [b["Name"] for b in pc.list_buckets()["Buckets"]] == [pb]
    assert [b["Name"] for b in cc.list_buckets()["Buckets"]] == [cb]
    for c, b, k in ((cc, pb, "paper.tex"), (pc, cb, "notes")):
        assert_denied(lambda: c.list_objects_v2(Bucket=b))
        assert_denied(lambda: c.get_object(Bucket=b, Key=k))
        assert_denied(lambda: c.put_object(Bucket=b, Key="x", Body=b"x"))
    # physics shares its bucket (READ) and one paper with chemistry.
    pc.put_bucket_acl(Bucket=pb, GrantFullControl=f'id="{phys.uid}"', GrantRead=f'id="{chem.uid}"')
    pc.put_object_acl(Bucket=pb, Key="paper.tex", GrantFullControl=f'id="{phys.uid}"', GrantRead=f'id="{chem.uid}"')
    assert sorted(keys_of(cc, pb)) == ["paper.tex", "private.txt"]
    assert cc.get_object(Bucket=pb, Key="paper.tex")["Body"].read() == b"E = mc^2"
    assert_denied(lambda: cc.get_object(Bucket=pb, Key="private.txt"))
    assert_denied(lambda: cc.put_object(Bucket=pb, Key="x", Body=b"x"))
    assert [b["Name"] for b in cc.list_buckets()["Buckets"]] == [cb]
    # Still nothing the other way round.
    assert_denied(lambda: pc.list_objects_v2(Bucket=cb))
    # Revoked: refused on the very next request.
    pc.put_bucket_acl(Bucket=pb, ACL="private")
    assert_denied(lambda: cc.list_objects_v2(Bucket=pb))
    assert cc.get_object(Bucket=pb, Key="paper.tex")["Body"].read() == b"E = mc^2"  # object grant stays
    pc.put_object_acl(Bucket=pb, Key="paper.tex", ACL="private")
    assert_denied(lambda: cc.get_object(Bucket=pb, Key="paper.tex"))


def test_token_mode_acl_decisions_match_the_key_pair(make_user):
    owner, grantee, other = make_user(), make_user(), make_user()
    ot = s3_client(owner.token(), "")  # token as the access key, empty secret
    gt = s3_client(grantee.token(), "whatever")
    xt = s3_client(other.token(), "x")
    b = unique("tok")
    ot.create_bucket(Bucket=b)
    ot.put_object(Bucket=b, Key="o", Body=b"token data")
    # Made through a token, owned by the user: the key pair sees the same owner.
    got = owner.client().get_object_acl(Bucket=b, Key="o")
    assert got["Owner"]["ID"] == owner.uid
    assert ot.get_bucket_acl(Bucket=b)["Owner"]["ID"] == owner.uid
    for c in (gt, xt, grantee.client()):
        assert_denied(lambda: c.list_objects_v2(Bucket=b))
        assert_denied(lambda: c.get_object(Bucket=b, Key="o"))
    # A grant to the uid applies to the user's token as to its key pair.
    ot.put_bucket_acl(Bucket=b, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'id="{grantee.uid}"', GrantWrite=f'id="{grantee.uid}"')
    for c in (gt, grantee.client()):
        assert keys_of(c, b) == ["o"]
        assert_denied(lambda: c.get_object(Bucket=b, Key="o"))
        assert_denied(lambda: c.get_bucket_acl(Bucket=b))
    assert_denied(lambda: xt.list_objects_v2(Bucket=b))
    ot.put_object_acl(Bucket=b, Key="o", ACL="authenticated-read")
    for c in (gt, grantee.client(), xt, other.client()):
        assert c.get_object(Bucket=b, Key="o")["Body"].read() == b"token data"
    # What the grantee writes with its token is the grantee's, for both credentials.
    gt.put_object(Bucket=b, Key="g", Body=b"by grantee token")
    assert grantee.client().get_object_acl(Bucket=b, Key="g")["Owner"]["ID"] == grantee.uid
    assert grantee.client().get_object(Bucket=b, Key="g")["Body"].read() == b"by grantee token"
    assert_denied(lambda: ot.get_object(Bucket=b, Key="g"))
    # Revoking the grant applies to the token at once.
    owner.client().put_bucket_acl(Bucket=b, ACL="private")
    assert_denied(lambda: gt.list_objects_v2(Bucket=b))
    assert_denied(lambda: gt.put_object(Bucket=b, Key="g2", Body=b"x"))
    assert [x["Name"] for x in gt.list_buckets()["Buckets"]] == []


def test_missing_key_is_404_only_with_bucket_read(make_user):
    """Without READ on the bucket a missing key is refused like an existing one
    (403), so outsiders cannot probe for names; with READ it is 404."""
    owner, reader, other = make_user(), make_user(), make_user()
    c = owner.client()
    b = unique("miss")
    c.create_bucket(Bucket=b)
    c.put_bucket_acl(Bucket=b, GrantFullControl=f'id="{owner.uid}"', GrantRead=f'id="{reader.uid}"')
    for cl in (other.client(), anon_client()):
        assert_denied(lambda: cl.get_object(Bucket=b, Key="missing"))
        assert_denied(lambda: cl.head_object(Bucket=b, Key="missing"), head=True)
        assert_denied(lambda: cl.get_object_acl(Bucket=b, Key="missing"))
    rc = reader.client()
    assert denied(lambda: rc.get_object(Bucket=b, Key="missing")) == ("NoSuchKey", 404)
    assert denied(lambda: rc.head_object(Bucket=b, Key="missing")) == ("404", 404)


@pytest.mark.parametrize("mode", ["keys", "token"])
def test_presigned_url_carries_the_signers_permissions(make_user, mode):
    owner, reader, other = make_user(), make_user(), make_user()
    c = owner.client()
    b = unique("psg")
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="k", Body=b"presigned data", GrantRead=f'id="{reader.uid}"')

    def presigner(u):
        if mode == "token":
            return s3_client(u.token(), "ignored", signature_version="s3v4")
        return u.client(signature_version="s3v4")

    url = presigner(reader).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=300)
    assert http("GET", url) == (200, b"presigned data")
    url = presigner(other).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=300)
    status, data = http("GET", url)
    assert (status, xml_code(data)) == (403, "AccessDenied")
    # Revoking the grant invalidates the reader's URL on its next use.
    url = presigner(reader).generate_presigned_url("get_object", Params={"Bucket": b, "Key": "k"}, ExpiresIn=300)
    c.put_object_acl(Bucket=b, Key="k", ACL="private")
    assert http("GET", url)[0] == 403


def test_grant_headers_on_multipart_and_default_acl_of_a_copy(make_user):
    owner, reader = make_user(), make_user()
    c = owner.client()
    b = unique("mpg")
    c.create_bucket(Bucket=b)
    up = c.create_multipart_upload(
        Bucket=b, Key="mp", GrantRead=f'id="{reader.uid}"', GrantFullControl=f'id="{owner.uid}"'
    )["UploadId"]
    etag = c.upload_part(Bucket=b, Key="mp", UploadId=up, PartNumber=1, Body=b"part")["ETag"]
    # The upload's ACL applies only once it is complete.
    assert_denied(lambda: reader.client().get_object(Bucket=b, Key="mp"))
    c.complete_multipart_upload(
        Bucket=b, Key="mp", UploadId=up, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}
    )
    assert sorted(object_acl(c, b, "mp")) == sorted([cu(reader.uid, "READ"), cu(owner.uid, "FULL_CONTROL")])
    assert reader.client().get_object(Bucket=b, Key="mp")["Body"].read() == b"part"
    # A copy without an ACL gets the default ACL, not the source's.
    c.put_object(Bucket=b, Key="src", Body=b"s", ACL="public-read")
    c.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src"})
    assert object_acl(c, b, "dst") == [cu(owner.uid, "FULL_CONTROL")]
    assert http("GET", url_of(b, "dst"))[0] == 403
