"""Shared fixtures for the S3 client suite.

The suite runs against a live local cluster that `tests/cases/s3.rs` starts; it finds
the cluster through environment variables:

- ``S3_ENDPOINTS``: comma-separated gateway URLs (path-style, region us-east-1);
- ``S3_ADMIN_ACCESS_KEY`` / ``S3_ADMIN_SECRET_KEY``: the cluster's S3 administrator;
- ``CUTTLE_CONF`` and ``CUTTLE_BIN``: for ``cuttle user ...`` admin commands;
- ``S3_SCRATCH``: a temporary directory (also ``HOME``, so client configs stay here).

Each test makes its own users and buckets (unique names), so tests are independent
and may run in any order.
"""

import json
import os
import subprocess
import uuid
from urllib.parse import urlparse

import boto3
import pytest
from botocore.config import Config

REGION = "us-east-1"


def endpoints():
    return [e for e in os.environ["S3_ENDPOINTS"].split(",") if e]


def cuttle(*args):
    """Runs the cuttle CLI against the test cluster and returns its parsed JSON."""
    out = subprocess.run(
        [os.environ["CUTTLE_BIN"], "--conf", os.environ["CUTTLE_CONF"], *args, "--format", "json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout) if out.stdout.strip() else None


def unique(prefix):
    """A unique lower-case name (valid as a bucket name and a uid suffix)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class User:
    """An S3 identity made with `cuttle user create`."""

    def __init__(self, uid, access_key, secret_key):
        self.uid = uid
        self.access_key = access_key
        self.secret_key = secret_key

    def client(self, endpoint=None, **config):
        return s3_client(self.access_key, self.secret_key, endpoint, **config)

    def token(self):
        return cuttle("user", "token", "create", "--uid", self.uid)["token"]


def s3_client(access_key, secret_key, endpoint=None, **config):
    """A boto3 client with the library's default settings (so default checksums and
    trailers are exercised), path-style addressing and no retries."""
    cfg = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        **config,
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint or endpoints()[0],
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=REGION,
        config=cfg,
    )


def write_s3cfg(name, access_key, secret_key, v2):
    """An s3cmd configuration for the first endpoint (path-style, plain HTTP, SigV2 or
    SigV4) in the scratch directory; returns its path."""
    host = urlparse(endpoints()[0]).netloc
    path = os.path.join(os.environ["S3_SCRATCH"], f"s3cfg-{name}")
    with open(path, "w") as f:
        f.write(
            "[default]\n"
            f"access_key = {access_key}\n"
            f"secret_key = {secret_key}\n"
            f"host_base = {host}\n"
            f"host_bucket = {host}\n"
            "use_https = False\n"
            f"signature_v2 = {'True' if v2 else 'False'}\n"
            "bucket_location = us-east-1\n"
            "check_ssl_certificate = False\n"
            "guess_mime_type = False\n"
            "progress_meter = False\n"
        )
    return path


def s3cmd_runner(cfg):
    """run(*args, check=True): runs s3cmd with configuration `cfg`, asserting success
    unless `check` is false; returns the CompletedProcess."""

    def run(*args, check=True):
        out = subprocess.run(["s3cmd", "-c", cfg, *args], capture_output=True, text=True, timeout=300)
        if check:
            assert out.returncode == 0, f"s3cmd {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
        return out

    return run


def aws_env(access_key, secret_key, name="aws"):
    """The environment for running awscli as one identity: its own empty config and
    credentials files in the scratch directory, region us-east-1, no retries, no pager."""
    scratch = os.environ["S3_SCRATCH"]
    cfg = os.path.join(scratch, f"{name}-config")
    creds = os.path.join(scratch, f"{name}-credentials")
    for p in (cfg, creds):
        if not os.path.exists(p):
            with open(p, "w") as f:
                f.write("[default]\n")
    return dict(
        os.environ,
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=cfg,
        AWS_SHARED_CREDENTIALS_FILE=creds,
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
    )


def force_trailer(client):
    """Makes boto3 send its checksum as it does over HTTPS: an aws-chunked body with the
    checksum in a trailer (STREAMING-UNSIGNED-PAYLOAD-TRAILER). Over plain HTTP boto3
    otherwise signs the payload and sends the checksum as a header."""

    def to_trailer(params, **_):
        algo = params.get("context", {}).get("checksum", {}).get("request_algorithm")
        if isinstance(algo, dict) and algo.get("in") == "header":
            algo["in"] = "trailer"

    client.meta.events.register("before-call.s3.PutObject", to_trailer)
    client.meta.events.register("before-call.s3.UploadPart", to_trailer)
    return client


@pytest.fixture
def make_user():
    """Factory: make_user() -> User with a fresh uid like `u1a2b3c_test`."""

    def make(uid=None):
        uid = uid or f"u{uuid.uuid4().hex[:10]}_test"
        u = cuttle("user", "create", "--uid", uid)
        return User(u["uid"], u["access_key"], u["secret_key"])

    return make


@pytest.fixture(scope="module")
def make_user_module():
    """Like `make_user`, for module-scoped fixtures (data built once per file)."""

    def make(uid=None):
        uid = uid or f"u{uuid.uuid4().hex[:10]}_test"
        u = cuttle("user", "create", "--uid", uid)
        return User(u["uid"], u["access_key"], u["secret_key"])

    return make


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def s3(user):
    """A boto3 client of a fresh user."""
    return user.client()


@pytest.fixture
def bucket(s3):
    """A fresh, empty bucket owned by the `s3` fixture's user."""
    name = unique("bkt")
    s3.create_bucket(Bucket=name)
    return name


def error_code(excinfo):
    """The S3 error code and HTTP status of a botocore ClientError."""
    r = excinfo.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]
