"""The gateway driven by s3cmd, with SigV2 and SigV4 configurations (path-style, plain
HTTP), and in token mode (the token as the access key, an empty secret)."""

import hashlib
import os

import pytest

from conftest import s3cmd_runner, unique, write_s3cfg

MiB = 1024 * 1024


@pytest.fixture(params=["v2", "v4"])
def s3cmd(request, user):
    cfg = write_s3cfg(f"{request.param}-{user.uid}", user.access_key, user.secret_key, request.param == "v2")
    return s3cmd_runner(cfg)


def md5_file(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_bucket_and_object_cycle(s3cmd, tmp_path):
    b = unique("s3cmd")
    s3cmd("mb", f"s3://{b}")
    assert f"s3://{b}" in s3cmd("ls").stdout

    f = tmp_path / "hello world.txt"
    f.write_bytes(b"hello from s3cmd\n")
    s3cmd("put", str(f), f"s3://{b}/dir/hello world.txt")
    s3cmd("put", str(f), f"s3://{b}/plus+sign.txt")

    ls = s3cmd("ls", f"s3://{b}").stdout
    assert "DIR" in ls and f"s3://{b}/dir/" in ls and f"s3://{b}/plus+sign.txt" in ls
    la = s3cmd("la").stdout
    assert f"s3://{b}/dir/hello world.txt" not in la  # `la` lists the top level only
    assert f"s3://{b}/plus+sign.txt" in la
    rec = s3cmd("ls", "-r", f"s3://{b}").stdout
    assert f"s3://{b}/dir/hello world.txt" in rec

    info = s3cmd("info", f"s3://{b}/dir/hello world.txt").stdout
    assert "File size: 17" in info
    assert md5_file(f) in info
    binfo = s3cmd("info", f"s3://{b}").stdout
    assert f"s3://{b}/ (bucket)" in binfo

    back = tmp_path / "back.txt"
    s3cmd("get", f"s3://{b}/dir/hello world.txt", str(back))
    assert back.read_bytes() == f.read_bytes()
    back2 = tmp_path / "back2.txt"
    s3cmd("get", f"s3://{b}/plus+sign.txt", str(back2))
    assert back2.read_bytes() == f.read_bytes()

    missing = s3cmd("get", f"s3://{b}/nope", str(tmp_path / "x"), check=False)
    assert missing.returncode != 0 and "does not exist" in missing.stderr

    full = s3cmd("rb", f"s3://{b}", check=False)
    assert full.returncode != 0 and "BucketNotEmpty" in full.stderr

    s3cmd("del", f"s3://{b}/dir/hello world.txt")
    s3cmd("del", f"s3://{b}/plus+sign.txt")
    assert s3cmd("ls", "-r", f"s3://{b}").stdout.strip() == ""
    s3cmd("rb", f"s3://{b}")
    assert f"s3://{b}" not in s3cmd("ls").stdout


@pytest.mark.slow
def test_multipart_put(s3cmd, user, tmp_path):
    b = unique("s3cmdmp")
    s3cmd("mb", f"s3://{b}")
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(12 * MiB))
    s3cmd("put", "--multipart-chunk-size-mb=5", str(f), f"s3://{b}/big.bin")
    # 12 MiB in 5 MiB parts: a multipart ETag of 3 parts.
    head = user.client().head_object(Bucket=b, Key="big.bin")
    assert head["ETag"].strip('"').endswith("-3") and head["ContentLength"] == 12 * MiB
    info = s3cmd("info", f"s3://{b}/big.bin").stdout
    assert f"File size: {12 * MiB}" in info
    back = tmp_path / "back.bin"
    s3cmd("get", f"s3://{b}/big.bin", str(back))
    assert md5_file(back) == md5_file(f)
    s3cmd("rb", "--recursive", f"s3://{b}")


@pytest.mark.parametrize("v2", [True, False], ids=["v2", "v4"])
def test_token_mode(user, tmp_path, v2):
    token = user.token()
    run = s3cmd_runner(write_s3cfg(f"token-{'v2' if v2 else 'v4'}-{user.uid}", token, "", v2))
    b = unique("s3cmdtok")
    run("mb", f"s3://{b}")
    f = tmp_path / "t.txt"
    f.write_bytes(b"token upload")
    run("put", str(f), f"s3://{b}/t.txt")
    back = tmp_path / "t2.txt"
    run("get", f"s3://{b}/t.txt", str(back))
    assert back.read_bytes() == b"token upload"
    # The bucket belongs to the token's user: visible with the user's keys too.
    assert user.client().get_object(Bucket=b, Key="t.txt")["Body"].read() == b"token upload"
    run("del", f"s3://{b}/t.txt")
    run("rb", f"s3://{b}")

    bogus = s3cmd_runner(write_s3cfg(f"bogus-{user.uid}", "ctk" + "x" * 61, "", v2))
    out = bogus("ls", check=False)
    assert out.returncode != 0 and "InvalidAccessKeyId" in out.stderr


def test_wrong_secret_is_refused(user, tmp_path):
    for v2 in (True, False):
        run = s3cmd_runner(write_s3cfg(f"wrong-{v2}-{user.uid}", user.access_key, "x" * 40, v2))
        out = run("ls", check=False)
        assert out.returncode != 0 and "SignatureDoesNotMatch" in out.stderr, out.stderr


def test_sync_du_cp_mv_modify_signurl(s3cmd, tmp_path):
    import urllib.request

    b = unique("s3cmdsync")
    s3cmd("mb", f"s3://{b}")
    src = tmp_path / "d"
    (src / "e").mkdir(parents=True)
    (src / "a.txt").write_bytes(b"a\n")
    (src / "e" / "b c.txt").write_bytes(b"bb\n")
    s3cmd("sync", f"{src}/", f"s3://{b}/d/")
    again = s3cmd("sync", f"{src}/", f"s3://{b}/d/").stdout
    assert "upload:" not in again, again
    assert s3cmd("du", f"s3://{b}").stdout.split()[:3] == ["5", "2", "objects"]

    s3cmd("cp", f"s3://{b}/d/a.txt", f"s3://{b}/copy")
    s3cmd("mv", f"s3://{b}/copy", f"s3://{b}/moved")
    listed = s3cmd("ls", "-r", f"s3://{b}").stdout
    assert f"s3://{b}/moved" in listed and f"s3://{b}/copy" not in listed
    s3cmd("modify", "--add-header=x-amz-meta-colour:green", f"s3://{b}/moved")
    assert "x-amz-meta-colour: green" in s3cmd("info", f"s3://{b}/moved").stdout

    url = s3cmd("signurl", f"s3://{b}/moved", "+300").stdout.strip()
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.read() == b"a\n"

    dst = tmp_path / "down"
    s3cmd("sync", f"s3://{b}/d/", f"{dst}/")
    assert (dst / "e" / "b c.txt").read_bytes() == b"bb\n"
    s3cmd("rb", "--recursive", "--force", f"s3://{b}")
