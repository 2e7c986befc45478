"""Sharing with real clients: s3cmd (`setacl`, `info`), the AWS CLI (`s3api
put-bucket-acl`, `put-object-acl`, `get-*-acl`) and boto3, each with key pairs and in
token mode (a token as the access key, any secret).

The flow, the same for every client: alice in physics owns a bucket and shares it
(READ) with her second identity, alice in chemistry; chemistry lists it but cannot read
the objects until an object is shared too; revoking makes both 403 again at once.
"""

import json
import subprocess

import pytest

from acl_util import (
    AUTH_USERS,
    assert_denied,
    bucket_acl,
    canned_grants,
    cu,
    grp,
    http,
    named_uid,
    object_acl,
    url_of,
)
from conftest import aws_env, endpoints, s3_client, s3cmd_runner, unique, write_s3cfg

pytestmark = pytest.mark.acl

DENIED_EXIT = 77  # s3cmd's EX_ACCESSDENIED (HTTP 403)


class Identity:
    """A user and the credentials a client uses for it (key pair or token)."""

    def __init__(self, user, mode, empty_secret_ok):
        self.user = user
        self.uid = user.uid
        if mode == "token":
            self.access_key = user.token()
            self.secret_key = "" if empty_secret_ok else "token-mode-ignores-this"
        else:
            self.access_key, self.secret_key = user.access_key, user.secret_key


@pytest.fixture
def alices(make_user):
    """(physics, chemistry): two identities of one person."""
    return make_user(named_uid("alice", "physics")), make_user(named_uid("alice", "chem"))


# --- s3cmd ---


def s3cmd_as(ident, v2, tag):
    return s3cmd_runner(write_s3cfg(f"acl-{tag}-{ident.uid}", ident.access_key, ident.secret_key, v2))


def s3cmd_denied(out):
    assert out.returncode == DENIED_EXIT, f"expected a 403 refusal:\n{out.stdout}\n{out.stderr}"


@pytest.mark.parametrize(
    "mode,sig", [("keys", "v4"), ("token", "v4"), ("keys", "v2")], ids=["keys-v4", "token-v4", "keys-v2"]
)
def test_s3cmd_sharing(alices, tmp_path, mode, sig):
    phys_u, chem_u = alices
    phys = Identity(phys_u, mode, empty_secret_ok=True)
    chem = Identity(chem_u, mode, empty_secret_ok=True)
    p = s3cmd_as(phys, sig == "v2", f"{mode}-{sig}")
    c = s3cmd_as(chem, sig == "v2", f"{mode}-{sig}")
    b = unique("s3cmdacl")
    p("mb", f"s3://{b}")
    f = tmp_path / "paper.txt"
    f.write_bytes(b"the physics paper\n")
    p("put", str(f), f"s3://{b}/paper.txt")
    got = tmp_path / "got.txt"

    # Not shared yet.
    s3cmd_denied(c("ls", f"s3://{b}", check=False))
    s3cmd_denied(c("get", "--force", f"s3://{b}/paper.txt", str(got), check=False))

    # Share the bucket (READ): chemistry lists, but cannot read the object.
    p("setacl", f"s3://{b}", f"--acl-grant=read:{chem.uid}")
    info = p("info", f"s3://{b}").stdout
    assert f"ACL:       {chem.uid}: READ" in info, info
    assert f"ACL:       {phys.uid}: FULL_CONTROL" in info, info
    assert sorted(bucket_acl(phys_u.client(), b)) == sorted(
        [cu(phys.uid, "FULL_CONTROL"), cu(chem.uid, "READ")]
    )
    assert f"s3://{b}/paper.txt" in c("ls", f"s3://{b}").stdout
    s3cmd_denied(c("get", "--force", f"s3://{b}/paper.txt", str(got), check=False))
    f2 = tmp_path / "chem.txt"
    f2.write_bytes(b"chemistry was here")
    s3cmd_denied(c("put", str(f2), f"s3://{b}/chem.txt", check=False))

    # Share the object: chemistry downloads it.
    p("setacl", f"s3://{b}/paper.txt", f"--acl-grant=read:{chem.uid}")
    oinfo = p("info", f"s3://{b}/paper.txt").stdout
    assert f"ACL:       {chem.uid}: READ" in oinfo, oinfo
    c("get", "--force", f"s3://{b}/paper.txt", str(got))
    assert got.read_bytes() == b"the physics paper\n"

    # Revoke the bucket grant: listing is refused at once; the object grant remains.
    p("setacl", f"s3://{b}", f"--acl-revoke=read:{chem.uid}")
    assert bucket_acl(phys_u.client(), b) == [cu(phys.uid, "FULL_CONTROL")]
    s3cmd_denied(c("ls", f"s3://{b}", check=False))
    c("get", "--force", f"s3://{b}/paper.txt", str(got))
    # Revoke the object grant.
    p("setacl", f"s3://{b}/paper.txt", f"--acl-revoke=read:{chem.uid}")
    s3cmd_denied(c("get", "--force", f"s3://{b}/paper.txt", str(got), check=False))
    assert object_acl(phys_u.client(), b, "paper.txt") == [cu(phys.uid, "FULL_CONTROL")]
    if (mode, sig) != ("keys", "v4"):
        return  # the rest is about s3cmd's options, not credentials: once is enough

    # Public and private again, checked with an unsigned plain HTTP GET.
    assert http("GET", url_of(b, "paper.txt"))[0] == 403
    p("setacl", "--acl-public", f"s3://{b}/paper.txt")
    oinfo = p("info", f"s3://{b}/paper.txt").stdout
    assert "ACL:       *anon*: READ" in oinfo and "URL:" in oinfo, oinfo
    assert http("GET", url_of(b, "paper.txt")) == (200, b"the physics paper\n")
    p("setacl", "--acl-private", f"s3://{b}/paper.txt")
    assert http("GET", url_of(b, "paper.txt"))[0] == 403
    # `put --acl-public` sends the public-read canned ACL.
    p("put", "--acl-public", str(f2), f"s3://{b}/public.txt")
    assert http("GET", url_of(b, "public.txt")) == (200, b"chemistry was here")
    assert object_acl(phys_u.client(), b, "public.txt") == canned_grants("public-read", phys.uid)
    # A public bucket lists anonymously.
    p("setacl", "--acl-public", f"s3://{b}")
    status, data = http("GET", url_of(b))
    assert status == 200 and b"<Key>public.txt</Key>" in data
    p("setacl", "--acl-private", f"s3://{b}")
    assert http("GET", url_of(b))[0] == 403
    # Chemistry, not the owner, cannot change the ACL.
    s3cmd_denied(c("setacl", "--acl-public", f"s3://{b}/paper.txt", check=False))
    p("rb", "--recursive", "--force", f"s3://{b}")


# --- AWS CLI ---


def aws_runner(ident):
    env = aws_env(ident.access_key, ident.secret_key, "aws-acl")

    def run(*args, check=True, parse=False):
        out = subprocess.run(
            ["aws", "--endpoint-url", endpoints()[0], *args], env=env, capture_output=True, text=True, timeout=120
        )
        if check:
            assert out.returncode == 0, f"aws {' '.join(args)} failed:\n{out.stderr}"
        if parse:
            return json.loads(out.stdout) if out.stdout.strip() else {}
        return out

    return run


def aws_denied(out):
    """The CLI call failed with S3's AccessDenied (a 403)."""
    assert out.returncode != 0 and "(AccessDenied)" in out.stderr, out.stderr


def cli_grants(acl):
    out = []
    for g in acl.get("Grants", []):
        ge = g["Grantee"]
        out.append((ge["Type"], ge.get("ID") or ge.get("URI"), g["Permission"]))
    return sorted(out)


@pytest.mark.parametrize("mode", ["keys", "token"])
def test_awscli_sharing(alices, tmp_path, mode):
    phys_u, chem_u = alices
    phys = Identity(phys_u, mode, empty_secret_ok=False)
    chem = Identity(chem_u, mode, empty_secret_ok=False)
    p, c = aws_runner(phys), aws_runner(chem)
    b = unique("awsacl")
    p("s3api", "create-bucket", "--bucket", b)
    f = tmp_path / "paper.txt"
    f.write_bytes(b"the physics paper\n")
    p("s3api", "put-object", "--bucket", b, "--key", "paper.txt", "--body", str(f))
    got = tmp_path / "got.txt"

    aws_denied(c("s3api", "list-objects-v2", "--bucket", b, check=False))
    aws_denied(c("s3api", "get-object", "--bucket", b, "--key", "paper.txt", str(got), check=False))

    # Share the bucket (READ); the owner keeps FULL_CONTROL by listing itself.
    p(
        "s3api", "put-bucket-acl", "--bucket", b,
        "--grant-full-control", f"id={phys.uid}", "--grant-read", f"id={chem.uid}",
    )
    acl = p("s3api", "get-bucket-acl", "--bucket", b, parse=True)
    assert acl["Owner"]["ID"] == phys.uid
    assert cli_grants(acl) == sorted(
        [("CanonicalUser", phys.uid, "FULL_CONTROL"), ("CanonicalUser", chem.uid, "READ")]
    )
    listed = c("s3api", "list-objects-v2", "--bucket", b, parse=True)
    assert [o["Key"] for o in listed["Contents"]] == ["paper.txt"]
    aws_denied(c("s3api", "get-object", "--bucket", b, "--key", "paper.txt", str(got), check=False))
    aws_denied(c("s3api", "put-object", "--bucket", b, "--key", "x", "--body", str(f), check=False))

    # Share the object.
    p(
        "s3api", "put-object-acl", "--bucket", b, "--key", "paper.txt",
        "--grant-full-control", f"id={phys.uid}", "--grant-read", f"id={chem.uid}",
    )
    oacl = p("s3api", "get-object-acl", "--bucket", b, "--key", "paper.txt", parse=True)
    assert oacl["Owner"]["ID"] == phys.uid
    assert cli_grants(oacl) == sorted(
        [("CanonicalUser", phys.uid, "FULL_CONTROL"), ("CanonicalUser", chem.uid, "READ")]
    )
    c("s3api", "get-object", "--bucket", b, "--key", "paper.txt", str(got))
    assert got.read_bytes() == b"the physics paper\n"

    # Revoke both: refused at once.
    p("s3api", "put-bucket-acl", "--bucket", b, "--acl", "private")
    aws_denied(c("s3api", "list-objects-v2", "--bucket", b, check=False))
    c("s3api", "get-object", "--bucket", b, "--key", "paper.txt", str(got))  # object grant stays
    p("s3api", "put-object-acl", "--bucket", b, "--key", "paper.txt", "--acl", "private")
    aws_denied(c("s3api", "get-object", "--bucket", b, "--key", "paper.txt", str(got), check=False))
    oacl = p("s3api", "get-object-acl", "--bucket", b, "--key", "paper.txt", parse=True)
    assert cli_grants(oacl) == [("CanonicalUser", phys.uid, "FULL_CONTROL")]
    if mode != "keys":
        return  # the rest is about the CLI's options, not credentials: once is enough

    # Group grants and canned ACLs from the CLI.
    p("s3api", "put-bucket-acl", "--bucket", b, "--grant-full-control", f"id={phys.uid}", "--grant-read", f"uri={AUTH_USERS}")
    assert "paper.txt" in c("s3", "ls", f"s3://{b}").stdout
    p("s3api", "put-object-acl", "--bucket", b, "--key", "paper.txt", "--grant-read", f"uri={AUTH_USERS}")
    c("s3", "cp", f"s3://{b}/paper.txt", str(tmp_path / "cp.txt"))
    assert (tmp_path / "cp.txt").read_bytes() == b"the physics paper\n"
    aws_denied(c("s3api", "get-object-acl", "--bucket", b, "--key", "paper.txt", check=False))
    assert http("GET", url_of(b))[0] == 403
    p("s3", "cp", str(f), f"s3://{b}/public.txt", "--acl", "public-read")
    assert http("GET", url_of(b, "public.txt")) == (200, b"the physics paper\n")
    assert cli_grants(p("s3api", "get-object-acl", "--bucket", b, "--key", "public.txt", parse=True)) == sorted(
        canned_grants("public-read", phys.uid)
    )
    aws_denied(c("s3api", "put-object-acl", "--bucket", b, "--key", "paper.txt", "--acl", "public-read", check=False))
    p("s3", "rb", "--force", f"s3://{b}")


# --- boto3 ---


@pytest.mark.parametrize("mode", ["keys", "token"])
def test_boto3_sharing(alices, mode):
    phys_u, chem_u = alices
    phys = Identity(phys_u, mode, empty_secret_ok=True)
    chem = Identity(chem_u, mode, empty_secret_ok=True)
    p = s3_client(phys.access_key, phys.secret_key)
    c = s3_client(chem.access_key, chem.secret_key)
    b = unique("botoacl")
    p.create_bucket(Bucket=b)
    p.put_object(Bucket=b, Key="paper.txt", Body=b"the physics paper\n")
    assert_denied(lambda: c.list_objects_v2(Bucket=b))
    assert_denied(lambda: c.head_bucket(Bucket=b), head=True)

    p.put_bucket_acl(Bucket=b, GrantFullControl=f"id={phys.uid}", GrantRead=f"id={chem.uid}")
    acl = p.get_bucket_acl(Bucket=b)
    assert acl["Owner"]["ID"] == phys.uid
    assert sorted(bucket_acl(p, b)) == sorted([cu(phys.uid, "FULL_CONTROL"), cu(chem.uid, "READ")])
    c.head_bucket(Bucket=b)
    assert [o["Key"] for o in c.list_objects_v2(Bucket=b)["Contents"]] == ["paper.txt"]
    assert b not in [x["Name"] for x in c.list_buckets()["Buckets"]]
    assert_denied(lambda: c.get_object(Bucket=b, Key="paper.txt"))
    assert_denied(lambda: c.head_object(Bucket=b, Key="paper.txt"), head=True)

    p.put_object_acl(Bucket=b, Key="paper.txt", GrantFullControl=f"id={phys.uid}", GrantRead=f"id={chem.uid}")
    assert c.get_object(Bucket=b, Key="paper.txt")["Body"].read() == b"the physics paper\n"
    assert c.head_object(Bucket=b, Key="paper.txt")["ContentLength"] == 18

    p.put_bucket_acl(Bucket=b, ACL="private")
    assert_denied(lambda: c.list_objects_v2(Bucket=b))
    assert_denied(lambda: c.head_bucket(Bucket=b), head=True)
    assert c.get_object(Bucket=b, Key="paper.txt")["Body"].read() == b"the physics paper\n"
    p.put_object_acl(Bucket=b, Key="paper.txt", ACL="private")
    assert_denied(lambda: c.get_object(Bucket=b, Key="paper.txt"))

    # Authenticated-read for everyone signed in, chemistry included, but not anonymous.
    p.put_bucket_acl(Bucket=b, ACL="authenticated-read")
    assert bucket_acl(p, b) == [cu(phys.uid, "FULL_CONTROL"), grp(AUTH_USERS, "READ")]
    assert [o["Key"] for o in c.list_objects_v2(Bucket=b)["Contents"]] == ["paper.txt"]
    assert http("GET", url_of(b))[0] == 403
    p.delete_object(Bucket=b, Key="paper.txt")
    p.delete_bucket(Bucket=b)
