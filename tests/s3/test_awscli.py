"""The gateway driven by the AWS CLI (`aws s3 ...` and `aws s3api ...`), configured the
way a user would: credentials in the environment, `--endpoint-url`, and config files
kept in the scratch directory."""

import hashlib
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest

from conftest import aws_env, endpoints, unique

MiB = 1024 * 1024


@pytest.fixture
def aws(user):
    """Runs `aws ...` as a fresh user; returns stdout (parsed when JSON is asked for)."""
    base_env = aws_env(user.access_key, user.secret_key)

    def run(*args, check=True, parse=False, env=None):
        out = subprocess.run(
            ["aws", "--endpoint-url", endpoints()[0], *args],
            env={**base_env, **(env or {})},
            capture_output=True,
            text=True,
        )
        if check:
            assert out.returncode == 0, f"aws {' '.join(args)} failed:\n{out.stderr}"
        if parse:
            return json.loads(out.stdout) if out.stdout.strip() else {}
        return out

    run.user = user
    return run


def write_random(path, size):
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


@pytest.mark.slow
def test_multipart_cp_round_trip(aws, tmp_path):
    b = unique("awsmp")
    aws("s3", "mb", f"s3://{b}")
    src = tmp_path / "big.bin"
    digest = write_random(src, 40 * MiB)
    aws("s3", "cp", str(src), f"s3://{b}/dir/big.bin")
    head = aws("s3api", "head-object", "--bucket", b, "--key", "dir/big.bin", parse=True)
    assert head["ContentLength"] == 40 * MiB
    # 40 MiB in the CLI's default 8 MiB parts: a multipart ETag with 5 parts.
    assert head["ETag"].strip('"').endswith("-5")
    dst = tmp_path / "back.bin"
    aws("s3", "cp", f"s3://{b}/dir/big.bin", str(dst))
    assert sha256_file(dst) == digest
    aws("s3", "rm", "--recursive", f"s3://{b}")
    aws("s3", "rb", f"s3://{b}")


def make_tree(root):
    files = {
        "top.txt": b"top level\n",
        "a/one.txt": b"one\n",
        "a/b/two words.txt": b"two\n" * 100,
        "a/b/c/deep file.bin": os.urandom(70_000),
        "with space/x y z.txt": b"spaces\n",
        "empty.txt": b"",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def uploaded(out):
    return sorted(line for line in out.stdout.splitlines() if line.startswith("upload:"))


def test_sync_up_modify_and_down(aws, tmp_path):
    b = unique("awssync")
    aws("s3", "mb", f"s3://{b}")
    src = tmp_path / "src"
    files = make_tree(src)
    first = aws("s3", "sync", str(src), f"s3://{b}/tree")
    assert len(uploaded(first)) == len(files)

    again = aws("s3", "sync", str(src), f"s3://{b}/tree")
    assert uploaded(again) == [], again.stdout

    changed = src / "a" / "b" / "two words.txt"
    changed.write_bytes(b"changed and longer\n" * 10)
    third = aws("s3", "sync", str(src), f"s3://{b}/tree")
    lines = uploaded(third)
    assert len(lines) == 1 and "two words.txt" in lines[0], third.stdout

    dst = tmp_path / "dst"
    aws("s3", "sync", f"s3://{b}/tree", str(dst))
    for rel in files:
        assert (dst / rel).read_bytes() == (src / rel).read_bytes(), rel

    ls = aws("s3", "ls", "--recursive", f"s3://{b}/tree/").stdout
    assert "a/b/c/deep file.bin" in ls and "with space/x y z.txt" in ls
    top = aws("s3", "ls", f"s3://{b}/tree/").stdout
    assert "PRE a/" in top and "PRE with space/" in top and "top.txt" in top

    aws("s3", "rm", "--recursive", f"s3://{b}/tree")
    listed = aws("s3api", "list-objects-v2", "--bucket", b, parse=True)
    assert listed.get("KeyCount", 0) == 0 and "Contents" not in listed
    aws("s3", "rb", f"s3://{b}")
    buckets = aws("s3", "ls").stdout
    assert b not in buckets


def test_s3api_json(aws, tmp_path):
    b = unique("awsapi")
    created = aws("s3api", "create-bucket", "--bucket", b, parse=True)
    assert created["Location"] in (f"/{b}", b)
    body = tmp_path / "body.txt"
    body.write_bytes(b"hello awscli")
    put = aws(
        "s3api", "put-object", "--bucket", b, "--key", "k/obj.txt", "--body", str(body),
        "--content-type", "text/plain", "--metadata", "color=blue",
        parse=True,
    )
    md5 = hashlib.md5(b"hello awscli").hexdigest()
    assert put["ETag"] == f'"{md5}"'

    head = aws("s3api", "head-object", "--bucket", b, "--key", "k/obj.txt", parse=True)
    assert head["ContentLength"] == 12
    assert head["ContentType"] == "text/plain"
    assert head["ETag"] == f'"{md5}"'
    assert head["Metadata"] == {"color": "blue"}
    assert "LastModified" in head

    for i in range(3):
        aws("s3api", "put-object", "--bucket", b, "--key", f"k/n{i}", "--body", str(body))
    listed = aws(
        "s3api", "list-objects-v2", "--bucket", b, "--prefix", "k/", "--max-items", "10",
        parse=True,
    )
    keys = [o["Key"] for o in listed["Contents"]]
    assert keys == ["k/n0", "k/n1", "k/n2", "k/obj.txt"]
    assert all(o["Size"] == 12 and o["ETag"] == f'"{md5}"' for o in listed["Contents"])

    delim = aws(
        "s3api", "list-objects-v2", "--bucket", b, "--delimiter", "/", parse=True,
    )
    assert [p["Prefix"] for p in delim["CommonPrefixes"]] == ["k/"]

    loc = aws("s3api", "get-bucket-location", "--bucket", b, parse=True)
    # us-east-1 is reported as a null LocationConstraint.
    assert loc.get("LocationConstraint") in (None, "")

    missing = aws("s3api", "head-object", "--bucket", b, "--key", "nope", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr
    nob = aws("s3api", "list-objects-v2", "--bucket", unique("nobkt"), check=False)
    assert nob.returncode != 0 and "NoSuchBucket" in nob.stderr

    aws("s3", "rm", "--recursive", f"s3://{b}")
    aws("s3api", "delete-bucket", "--bucket", b)


@pytest.mark.parametrize("sigv", ["s3", "s3v4"])
def test_presign_fetched_with_urllib(aws, tmp_path, sigv):
    b = unique("awspre")
    aws("s3", "mb", f"s3://{b}")
    f = tmp_path / "p.txt"
    f.write_bytes(b"presigned content")
    aws("s3", "cp", str(f), f"s3://{b}/p q.txt")
    # awscli 1.x presigns with SigV2 for a custom endpoint unless told otherwise.
    cfg = os.path.join(os.environ["S3_SCRATCH"], f"aws-config-{sigv}")
    with open(cfg, "w") as c:
        c.write(f"[default]\ns3 =\n    signature_version = {sigv}\n")
    url = aws(
        "s3", "presign", f"s3://{b}/p q.txt", "--expires-in", "300", env={"AWS_CONFIG_FILE": cfg}
    ).stdout.strip()
    sig = "X-Amz-Signature=" if sigv == "s3v4" else "Signature="
    assert sig in url
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200
        assert r.read() == b"presigned content"
    # A tampered signature (same length) is refused.
    i = url.index(sig) + len(sig)
    for bad in (
        url[:i] + ("0" if url[i] != "0" else "1") + url[i + 1 :],
        url[:i] + ("F" if url[i] != "F" else "G") + url[i + 1 :],  # not lower-case hex
    ):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(bad, timeout=30)
        assert e.value.code == 403
        assert b"<Code>SignatureDoesNotMatch</Code>" in e.value.read()
        assert e.value.headers["x-amz-request-id"]
    aws("s3", "rb", "--force", f"s3://{b}")
