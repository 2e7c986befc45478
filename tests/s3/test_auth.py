"""Authentication with boto3: SigV4 headers, presigned URLs (valid, expired, tampered),
clock skew, wrong secrets and unknown keys, anonymous requests, token mode (a token as
the access key with any secret; revocation), other users' buckets, SigV2 (boto3's
`s3` signature version), and requests signed for another region than the gateway's.
Status codes and error codes are Amazon S3's."""

import datetime
import time
import xml.etree.ElementTree as ET

import boto3
import botocore
import pytest
import urllib3
from botocore import UNSIGNED
from botocore.config import Config

from conftest import REGION, cuttle, endpoints, error_code, s3_client, unique

HTTP = urllib3.PoolManager(retries=False)


def fetch(method, url, body=None):
    r = HTTP.request(method, url, body=body)
    return r.status, r.data


def xml_error(data):
    root = ET.fromstring(data)
    return root.findtext("Code"), root.findtext("Message")


@pytest.fixture
def shifted_clock(monkeypatch):
    """shift(seconds): botocore signs as if its clock were that far ahead."""

    def shift(seconds):
        real = botocore.auth.get_current_datetime

        def fake():
            return real() + datetime.timedelta(seconds=seconds)

        monkeypatch.setattr(botocore.auth, "get_current_datetime", fake)

    return shift


@pytest.fixture
def obj(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"secret data")
    return bucket


def test_sigv4_header_auth(user, obj):
    c = user.client()
    seen = []
    c.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(request.headers))
    assert c.get_object(Bucket=obj, Key="o")["Body"].read() == b"secret data"
    auth = seen[-1]["Authorization"]
    auth = auth.decode() if isinstance(auth, bytes) else auth
    assert auth.startswith(f"AWS4-HMAC-SHA256 Credential={user.access_key}/")


def presign_get(client, bucket, expires, key="o"):
    return client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires
    )


def v4(user_or_key, secret=None):
    """A client that presigns with SigV4 (boto3 presigns with SigV2 unless told)."""
    if secret is None:
        return user_or_key.client(signature_version="s3v4")
    return s3_client(user_or_key, secret, signature_version="s3v4")


def test_presigned_get(user, obj):
    url = presign_get(v4(user), obj, 300)
    assert "X-Amz-Signature=" in url
    assert fetch("GET", url) == (200, b"secret data")


def test_presigned_put(user, s3, bucket):
    url = v4(user).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up"}, ExpiresIn=300
    )
    status, _ = fetch("PUT", url, body=b"uploaded")
    assert status == 200
    assert s3.get_object(Bucket=bucket, Key="up")["Body"].read() == b"uploaded"


def test_presigned_url_expired(user, obj, shifted_clock):
    shifted_clock(-3600)
    url = presign_get(v4(user), obj, 60)
    status, data = fetch("GET", url)
    assert status == 403
    assert xml_error(data) == ("AccessDenied", "Request has expired")


def test_presigned_url_expires_after_its_lifetime(user, obj, shifted_clock):
    # Signed 5 s ago with a 1 s lifetime: expired, without waiting for it.
    shifted_clock(-5)
    url = presign_get(v4(user), obj, 1)
    status, data = fetch("GET", url)
    assert status == 403
    assert xml_error(data) == ("AccessDenied", "Request has expired")


def test_presigned_url_tampered(user, obj):
    url = presign_get(v4(user), obj, 300)
    status, data = fetch("GET", url.replace("/o?", "/other?"))
    assert status == 403
    assert xml_error(data)[0] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("seconds", [20 * 60, -20 * 60])
def test_clock_skew(user, obj, shifted_clock, seconds):
    shifted_clock(seconds)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        user.client().get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("RequestTimeTooSkewed", 403)


def test_small_clock_skew_is_accepted(user, obj, shifted_clock):
    shifted_clock(5 * 60)
    assert user.client().get_object(Bucket=obj, Key="o")["Body"].read() == b"secret data"


def test_wrong_secret(user, obj):
    wrong = user.secret_key[:-1] + ("x" if user.secret_key[-1] != "x" else "y")
    c = s3_client(user.access_key, wrong)
    for call in [
        lambda: c.get_object(Bucket=obj, Key="o"),
        lambda: c.list_buckets(),
        lambda: c.put_object(Bucket=obj, Key="n", Body=b"x"),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == ("SignatureDoesNotMatch", 403)


def test_unknown_access_key(obj):
    c = s3_client("CKNOSUCHKEY000000000", "0123456789012345678901234567890123456789")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("InvalidAccessKeyId", 403)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.list_buckets()
    assert error_code(e) == ("InvalidAccessKeyId", 403)


def test_anonymous_requests_are_denied(obj):
    c = s3_client("unused", "unused", signature_version=UNSIGNED)
    for call in [
        lambda: c.get_object(Bucket=obj, Key="o"),
        lambda: c.put_object(Bucket=obj, Key="n", Body=b"x"),
        lambda: c.list_objects_v2(Bucket=obj),
        lambda: c.list_buckets(),
        lambda: c.create_bucket(Bucket=unique("anon")),
    ]:
        with pytest.raises(botocore.exceptions.ClientError) as e:
            call()
        assert error_code(e) == ("AccessDenied", 403)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.head_object(Bucket=obj, Key="o")
    assert error_code(e) == ("403", 403)


def test_other_users_bucket_is_denied(obj, make_user):
    other = make_user()
    for c in [other.client(), s3_client(other.token(), "whatever")]:
        for call in [
            lambda: c.get_object(Bucket=obj, Key="o"),
            lambda: c.put_object(Bucket=obj, Key="n", Body=b"x"),
            lambda: c.list_objects_v2(Bucket=obj),
            lambda: c.delete_object(Bucket=obj, Key="o"),
            lambda: c.create_multipart_upload(Bucket=obj, Key="m"),
        ]:
            with pytest.raises(botocore.exceptions.ClientError) as e:
                call()
            assert error_code(e) == ("AccessDenied", 403)


# --- token mode ---


def test_token_as_access_key(user):
    token = user.token()
    c = s3_client(token, "any secret at all")
    name = unique("tok")
    c.create_bucket(Bucket=name)
    c.put_object(Bucket=name, Key="k", Body=b"by token")
    assert c.get_object(Bucket=name, Key="k")["Body"].read() == b"by token"
    assert [o["Key"] for o in c.list_objects_v2(Bucket=name)["Contents"]] == ["k"]
    assert name in [b["Name"] for b in c.list_buckets()["Buckets"]]
    # The same bucket is the user's under its key pair too.
    assert user.client().get_object(Bucket=name, Key="k")["Body"].read() == b"by token"
    assert (
        s3_client(token, "another-secret").get_object(Bucket=name, Key="k")["Body"].read()
        == b"by token"
    )


def test_token_presigned_url(user, obj):
    c = v4(user.token(), "irrelevant")
    url = presign_get(c, obj, 300)
    assert fetch("GET", url) == (200, b"secret data")


def test_token_presigned_url_expired(user, obj, shifted_clock):
    c = v4(user.token(), "irrelevant")
    shifted_clock(-3600)
    url = presign_get(c, obj, 60)
    status, data = fetch("GET", url)
    assert status == 403
    assert xml_error(data) == ("AccessDenied", "Request has expired")


def test_token_clock_skew(user, obj, shifted_clock):
    c = s3_client(user.token(), "irrelevant")
    shifted_clock(20 * 60)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("RequestTimeTooSkewed", 403)


def test_unknown_token_is_refused(obj):
    fake = "ctk" + "A" * 61
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3_client(fake, "x").get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("InvalidAccessKeyId", 403)


def test_revoked_token_is_refused(user, obj):
    created = cuttle("user", "token", "create", "--uid", user.uid)
    c = s3_client(created["token"], "x")
    assert c.get_object(Bucket=obj, Key="o")["Body"].read() == b"secret data"
    cuttle("user", "token", "revoke", "--uid", user.uid, "--id", created["id"])
    # Every gateway drops cached credentials before the revocation returns.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3_client(created["token"], "x").get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("InvalidAccessKeyId", 403)
    # The user's other credentials still work.
    assert user.client().get_object(Bucket=obj, Key="o")["Body"].read() == b"secret data"


# --- SigV2 ---


def sigv2_client(user, secret=None):
    return s3_client(user.access_key, secret or user.secret_key, signature_version="s3")


def test_sigv2_requests(user, bucket):
    c = sigv2_client(user)
    seen = []
    c.meta.events.register("before-send.s3.*", lambda request, **_: seen.append(request.headers))
    c.put_object(Bucket=bucket, Key="v2 key/ü", Body=b"signed v2", ContentType="text/plain")
    auth = seen[-1]["Authorization"]
    auth = auth.decode() if isinstance(auth, bytes) else auth
    assert auth.startswith(f"AWS {user.access_key}:")
    got = c.get_object(Bucket=bucket, Key="v2 key/ü")
    assert got["Body"].read() == b"signed v2"
    assert got["ContentType"] == "text/plain"
    assert [o["Key"] for o in c.list_objects(Bucket=bucket)["Contents"]] == ["v2 key/ü"]
    c.delete_object(Bucket=bucket, Key="v2 key/ü")
    name = unique("v2")
    c.create_bucket(Bucket=name)
    c.delete_bucket(Bucket=name)


def test_sigv2_wrong_secret(user, obj):
    c = sigv2_client(user, secret="not-the-secret-at-all-0000000000000000000")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        c.get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("SignatureDoesNotMatch", 403)


def test_sigv2_clock_skew(user, obj, monkeypatch):
    from email.utils import formatdate

    monkeypatch.setattr(
        botocore.auth.HmacV1Auth,
        "_get_date",
        lambda self: formatdate(time.time() + 20 * 60, usegmt=True),
    )
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sigv2_client(user).get_object(Bucket=obj, Key="o")
    assert error_code(e) == ("RequestTimeTooSkewed", 403)


def test_sigv2_presigned(user, obj):
    c = sigv2_client(user)
    url = presign_get(c, obj, 300)
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    assert fetch("GET", url) == (200, b"secret data")
    expired = presign_get(c, obj, -60)
    status, data = fetch("GET", expired)
    assert status == 403
    assert xml_error(data) == ("AccessDenied", "Request has expired")


@pytest.mark.parametrize("token", [False, True])
def test_presigned_url_longer_than_a_week_is_refused(user, obj, token):
    c = v4(user.token(), "x") if token else v4(user)
    ok = presign_get(c, obj, 604800)
    assert fetch("GET", ok) == (200, b"secret data")
    url = presign_get(c, obj, 604801)
    status, data = fetch("GET", url)
    assert status == 400
    assert xml_error(data) == (
        "AuthorizationQueryParametersError",
        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
    )


def regional(user_or_key, region, secret=None, **config):
    """A client of `user_or_key` (a User, or an access key with `secret`) that signs
    for `region`, recording the error of every response it gets (`.errors`), also
    those boto3 recovers from by itself."""
    if secret is None:
        user_or_key, secret = user_or_key.access_key, user_or_key.secret_key
    c = boto3.client(
        "s3",
        endpoint_url=endpoints()[0],
        aws_access_key_id=user_or_key,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **config),
    )
    c.errors = []

    def record(response, **_):
        if response and response[1].get("Error"):
            c.errors.append(
                (response[1]["ResponseMetadata"]["HTTPStatusCode"], dict(response[1]["Error"]))
            )

    c.meta.events.register("needs-retry.s3", record)
    return c


def test_request_signed_for_another_region_is_refused(user, obj):
    c = regional(user, "eu-west-1")
    # S3 refuses the request and names the region to sign for; boto3, like with
    # Amazon, then signs again for that region, so the call itself succeeds.
    assert c.get_object(Bucket=obj, Key="o")["Body"].read() == b"secret data"
    status, err = c.errors[0]
    assert status == 400
    assert err["Code"] == "AuthorizationHeaderMalformed"
    assert err["Region"] == REGION
    assert err["Message"] == (
        "The authorization header is malformed; the region 'eu-west-1' is wrong; "
        f"expecting '{REGION}'"
    )
    # The same client with the right region is served at once.
    c = regional(user, REGION)
    assert c.get_object(Bucket=obj, Key="o")["Body"].read() == b"secret data"
    assert c.errors == []


def test_token_signed_for_another_region_is_refused(user, obj):
    c = regional(user.token(), "ap-south-1", secret="anything")
    assert c.list_objects_v2(Bucket=obj)["KeyCount"] == 1
    status, err = c.errors[0]
    assert (status, err["Code"], err["Region"]) == (400, "AuthorizationHeaderMalformed", REGION)


@pytest.mark.parametrize("token", [False, True])
def test_presigned_url_for_another_region_is_refused(user, obj, token):
    c = (
        regional(user.token(), "eu-west-1", secret="x", signature_version="s3v4")
        if token
        else regional(user, "eu-west-1", signature_version="s3v4")
    )
    url = presign_get(c, obj, 300)
    assert "%2Feu-west-1%2F" in url
    status, data = fetch("GET", url)
    assert status == 400, data
    root = ET.fromstring(data)
    assert root.findtext("Code") == "AuthorizationQueryParametersError"
    assert root.findtext("Message") == (
        "Error parsing the X-Amz-Credential parameter; the region 'eu-west-1' is wrong; "
        f"expecting '{REGION}'"
    )
    assert root.findtext("Region") == REGION
    ok = regional(user, REGION, signature_version="s3v4")
    assert fetch("GET", presign_get(ok, obj, 300)) == (200, b"secret data")
