"""The gateway driven by rclone, through an S3 remote (provider Other, path-style) in a
config file kept in the scratch directory."""

import os
import subprocess

import pytest

from conftest import endpoints, unique


@pytest.fixture
def rclone(user):
    cfg = os.path.join(os.environ["S3_SCRATCH"], f"rclone-{user.uid}.conf")
    with open(cfg, "w") as f:
        f.write(
            "[cuttle]\n"
            "type = s3\n"
            "provider = Other\n"
            "env_auth = false\n"
            f"access_key_id = {user.access_key}\n"
            f"secret_access_key = {user.secret_key}\n"
            f"endpoint = {endpoints()[0]}\n"
            "region = us-east-1\n"
            "force_path_style = true\n"
        )

    # The AWS SDK inside rclone reads AWS_* variables (a CA bundle, say) even with
    # env_auth off; the remote is configured by its file alone.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}

    def run(*args, check=True):
        out = subprocess.run(
            ["rclone", "--config", cfg, "--retries", "1", "--low-level-retries", "1", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert out.returncode == 0, f"rclone {' '.join(args)} failed:\n{out.stderr}"
        return out

    return run


def make_tree(root):
    files = {
        "a.txt": b"alpha\n",
        "sub/b.txt": b"beta\n" * 1000,
        "sub/deeper/c d.bin": os.urandom(300_000),
        "sp ace/e.txt": b"e\n",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def test_copy_check_lsf_cat_delete_sync(rclone, tmp_path):
    b = unique("rclone")
    rclone("mkdir", f"cuttle:{b}")
    assert f"{b}/" in rclone("lsf", "cuttle:").stdout.splitlines()

    src = tmp_path / "src"
    files = make_tree(src)
    rclone("copy", str(src), f"cuttle:{b}/data")
    rclone("check", str(src), f"cuttle:{b}/data")

    listed = sorted(rclone("lsf", "-R", "--files-only", f"cuttle:{b}/data").stdout.splitlines())
    assert listed == sorted(files)
    top = sorted(rclone("lsf", f"cuttle:{b}/data").stdout.splitlines())
    assert top == ["a.txt", "sp ace/", "sub/"]
    assert rclone("cat", f"cuttle:{b}/data/sub/b.txt").stdout == "beta\n" * 1000
    size = rclone("size", "--json", f"cuttle:{b}/data").stdout
    assert f'"count":{len(files)}' in size.replace(" ", "")

    rclone("deletefile", f"cuttle:{b}/data/a.txt")
    assert "a.txt" not in rclone("lsf", f"cuttle:{b}/data").stdout.splitlines()
    mismatch = rclone("check", str(src), f"cuttle:{b}/data", check=False)
    assert mismatch.returncode != 0

    # sync makes the remote match again: re-uploads a.txt, removes an extra file,
    # replaces a changed one.
    rclone("copyto", str(src / "a.txt"), f"cuttle:{b}/data/extra.txt")
    (src / "sub" / "b.txt").write_bytes(b"changed\n")
    rclone("sync", str(src), f"cuttle:{b}/data")
    rclone("check", str(src), f"cuttle:{b}/data")
    assert "extra.txt" not in rclone("lsf", f"cuttle:{b}/data").stdout.splitlines()
    assert rclone("cat", f"cuttle:{b}/data/sub/b.txt").stdout == "changed\n"

    # And back down.
    dst = tmp_path / "dst"
    rclone("sync", f"cuttle:{b}/data", str(dst))
    for rel in files:
        assert (dst / rel).read_bytes() == (src / rel).read_bytes(), rel

    rclone("purge", f"cuttle:{b}")
    assert f"{b}/" not in rclone("lsf", "cuttle:").stdout.splitlines()


@pytest.mark.slow
def test_multipart_copy(rclone, tmp_path):
    b = unique("rclonemp")
    rclone("mkdir", f"cuttle:{b}")
    src = tmp_path / "big"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(24 * 1024 * 1024))
    rclone("copy", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(src), f"cuttle:{b}")
    rclone("check", str(src), f"cuttle:{b}")
    rclone("check", "--download", str(src), f"cuttle:{b}")
    rclone("purge", f"cuttle:{b}")
