"""Helpers shared by the ACL test files (`test_acl*.py`): principals (anonymous and
token clients), ACL builders and normalisers, denial checks, unsigned plain-HTTP
fetches and raw SigV4-signed requests (for bodies boto3 will not send)."""

import hashlib
import base64
import uuid
from urllib.parse import quote

import botocore
import pytest
import urllib3
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import REGION, User, cuttle, endpoints, error_code, s3_client

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
PERMISSIONS = ["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"]

HTTP = urllib3.PoolManager(retries=False)


# --- principals ---


def anon_client(endpoint=None):
    """A boto3 client that sends unsigned (anonymous) requests."""
    return s3_client("unused", "unused", endpoint, signature_version=UNSIGNED)


def token_client(user, endpoint=None, secret="any secret at all"):
    """A boto3 client using a fresh token of `user` as its access key."""
    return s3_client(user.token(), secret, endpoint)


def make_email_user(uid=None, email=None):
    """A user created with an e-mail address (for emailAddress grants)."""
    uid = uid or f"u{uuid.uuid4().hex[:10]}_mail"
    email = email or f"{uid}@example.org"
    u = cuttle("user", "create", "--uid", uid, "--email", email)
    user = User(u["uid"], u["access_key"], u["secret_key"])
    user.email = email
    return user


def named_uid(name, org):
    """A unique uid in the `name_org` style, e.g. `alice3f9a1c_physics`."""
    return f"{name}{uuid.uuid4().hex[:6]}_{org}"


# --- outcomes ---


def denied(fn):
    """Runs fn, which must fail with a ClientError; returns (code, status)."""
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return error_code(e)


def assert_denied(fn, head=False):
    """fn must be refused with 403 AccessDenied (HEAD: 403 without a body)."""
    want = ("403", 403) if head else ("AccessDenied", 403)
    got = denied(fn)
    assert got == want, f"refused with {got}, expected {want}"


def run_concurrently(cases, workers=8):
    """Runs independent labelled checks [(label, fn)] on a thread pool and returns
    every failure as "label: error" (an empty list when all passed)."""
    import traceback
    from concurrent.futures import ThreadPoolExecutor

    def one(case):
        label, fn = case
        try:
            fn()
        except (Exception, pytest.fail.Exception) as e:  # noqa: BLE001 - collected
            tb = traceback.extract_tb(e.__traceback__)
            where = next((f"{f.name}:{f.lineno}" for f in reversed(tb) if "test_acl" in f.filename), "")
            return f"{label} [{where}]: {type(e).__name__}: {e}"
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [r for r in pool.map(one, cases) if r]


# --- ACLs ---


def grant_id(uid, perm):
    return {"Grantee": {"Type": "CanonicalUser", "ID": uid}, "Permission": perm}


def grant_uri(uri, perm):
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": perm}


def grant_email(email, perm):
    return {"Grantee": {"Type": "AmazonCustomerByEmail", "EmailAddress": email}, "Permission": perm}


def policy(owner_uid, *grants):
    """An AccessControlPolicy for boto3's put_*_acl."""
    return {"Owner": {"ID": owner_uid}, "Grants": list(grants)}


def grants_of(acl):
    """A Get*Acl answer's grants as [(type, id-or-uri, permission)], in order."""
    out = []
    for g in acl.get("Grants", []):
        ge = g["Grantee"]
        if ge["Type"] == "CanonicalUser":
            out.append(("CanonicalUser", ge.get("ID"), g["Permission"]))
        elif ge["Type"] == "Group":
            out.append(("Group", ge.get("URI"), g["Permission"]))
        else:
            out.append((ge["Type"], ge.get("EmailAddress") or ge.get("ID"), g["Permission"]))
    return out


def cu(uid, perm):
    return ("CanonicalUser", uid, perm)


def grp(uri, perm):
    return ("Group", uri, perm)


def canned_grants(canned, owner, bucket_owner=None):
    """The grants S3 gives for a canned ACL: the owner's FULL_CONTROL first."""
    extra = {
        "private": [],
        "public-read": [grp(ALL_USERS, "READ")],
        "public-read-write": [grp(ALL_USERS, "READ"), grp(ALL_USERS, "WRITE")],
        "authenticated-read": [grp(AUTH_USERS, "READ")],
        "bucket-owner-read": [cu(bucket_owner, "READ")],
        "bucket-owner-full-control": [cu(bucket_owner, "FULL_CONTROL")],
    }[canned]
    return [cu(owner, "FULL_CONTROL")] + extra


def bucket_acl(client, bucket):
    return grants_of(client.get_bucket_acl(Bucket=bucket))


def object_acl(client, bucket, key):
    return grants_of(client.get_object_acl(Bucket=bucket, Key=key))


# --- plain HTTP ---


def url_of(bucket, key=None, endpoint=None):
    ep = (endpoint or endpoints()[0]).rstrip("/")
    if key is None:
        return f"{ep}/{bucket}"
    return f"{ep}/{bucket}/{quote(key, safe='/')}"


def http(method, url, body=None, headers=None):
    """An unsigned request with urllib3: (status, body bytes)."""
    r = HTTP.request(method, url, body=body, headers=headers or {})
    return r.status, r.data


def signed(user_or_keys, method, bucket, key=None, query="", body=b"", headers=None, endpoint=None):
    """A SigV4-signed request built by hand (any body, any headers): (status, body)."""
    if isinstance(user_or_keys, tuple):
        ak, sk = user_or_keys
    else:
        ak, sk = user_or_keys.access_key, user_or_keys.secret_key
    url = url_of(bucket, key, endpoint) + (f"?{query}" if query else "")
    hdrs = dict(headers or {})
    if body:
        hdrs.setdefault("Content-MD5", base64.b64encode(hashlib.md5(body).digest()).decode())
    req = AWSRequest(method=method, url=url, data=body, headers=hdrs)
    S3SigV4Auth(Credentials(ak, sk), "s3", REGION).add_auth(req)
    p = req.prepare()
    r = HTTP.request(p.method, p.url, body=p.body, headers=dict(p.headers))
    return r.status, r.data


def xml_code(data):
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    return root.findtext("Code")


def sha256(data):
    return hashlib.sha256(data).hexdigest()
