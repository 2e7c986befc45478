"""`docs/users.md` is run: every example block the user guide marks is taken from the
file, its placeholders are replaced with this cluster's endpoint and freshly created
users' keys and tokens, and it is run as a reader would run it — shell blocks with
`bash -euo pipefail` in a temporary HOME (the clients of the suite's Python environment
and `cuttle` on PATH), Python blocks with this interpreter, configuration blocks
(`file=~/...`) written into that HOME — and its effects are checked.

A block is marked by an HTML comment right before its fence:

    <!-- example: NAME [file=~/PATH] [as=bob] [fails=REGEX] -->

`file=` makes it a configuration file to write, `as=bob` runs it with Bob's HOME
(and Bob's client configurations), `fails=` means the block must exit non-zero with
output matching REGEX. Every ``sh``, ``python``, ``ini`` and ``xml`` block of the page
must be marked, every marked block must belong to a test here (`GROUPS`), and every test
must run each of its blocks: an example cannot be skipped silently.
"""

import json
import os
import plistlib
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import cuttle, endpoints, error_code, s3_client, unique

DOC = Path(__file__).resolve().parents[2] / "docs" / "users.md"

# Placeholders of the page (its table of placeholders lists them for readers).
P_ENDPOINT = "https://s3.research.example.edu"
P_HOST = "s3.research.example.edu"
P_ALICE_KEY = "CKALICEEXAMPLEKEY001"
P_ALICE_SECRET = "aliceExampleSecretKey0000000000000000000"
P_BOB_KEY = "CKBOBEXAMPLEKEY00002"
P_BOB_SECRET = "bobExampleSecretKey000000000000000000000"
P_TOKEN = "ctkAliceExampleToken00000000000000000000000000000000000000000000"
P_OLD_KEY = "CKALICEOLDKEY0000003"
P_TOKEN_ID = "7hq2example0"
P_ALICE = "alice_physics"
P_BOB = "bob_chem"
P_ALICE_EMAIL = "alice@physics.example.edu"
P_BOB_EMAIL = "bob@chem.example.edu"
P_BUCKET = "alice-results"

# What must not survive substitution (a placeholder the test does not know about).
LEFTOVER = re.compile(r"example\.edu|EXAMPLE|Example|alice_physics|bob_chem|alice-results")

RUNNABLE = {"sh", "bash", "python", "ini", "xml", "console", "shell"}

# Each test and the marked examples it runs (in this order, unless it says otherwise).
GROUPS = {
    "people": ["operator-create-users"],
    "operator": ["operator-keys", "operator-tokens"],
    "boto3_keys": ["boto3-keys"],
    "boto3_token": ["boto3-token"],
    "awscli": ["awscli-config", "awscli-credentials", "awscli-use", "awscli-endpoint-flag", "boto3-profile"],
    "awscli_token": ["awscli-config", "awscli-token-credentials", "awscli-token-use"],
    "s3cmd": ["s3cmd-config", "s3cmd-use"],
    "s3cmd_token": ["s3cmd-token-config", "s3cmd-token-use"],
    "rclone": ["rclone-config", "rclone-use"],
    "rclone_token": ["rclone-token-config", "rclone-token-use"],
    "cyberduck": ["cyberduck-profile"],
    "share_s3cmd": ["share-s3cmd-grant", "share-s3cmd-bob", "share-s3cmd-revoke", "share-s3cmd-bob-denied"],
    "share_awscli": ["share-awscli-grant", "share-awscli-bob", "share-awscli-revoke", "share-awscli-bob-denied"],
    "share_write": ["share-write-grant", "share-write-bob", "share-write-alice"],
    "share_boto3": ["share-boto3"],
    "public": ["public-grant", "public-revoke", "public-denied"],
}

# The client configurations each identity's HOME gets in the sharing tests.
SHARING_CONFIGS = ["s3cmd-config", "awscli-config", "awscli-credentials"]

RUN1 = b"t,energy\n0,1.5\n1,1.7\n"
NOTES = b"Public notes of run 1\n"
DATA = {"a.csv": b"x,y\n1,2\n", "b.csv": b"x,y\n3,4\n" * 100, "sub/c.txt": b"deeper\n"}
BOB_ANALYSIS = b"bob's analysis of run 1\n"


# --- the page ---


class Example:
    def __init__(self, name, lang, body, attrs, line):
        self.name, self.lang, self.body, self.attrs, self.line = name, lang, body, attrs, line

    def __repr__(self):
        return f"example {self.name!r} (docs/users.md line {self.line})"


def parse_doc(text):
    """(examples by name, problems): the marked blocks, and what is wrong with the
    page's marking (unmarked runnable blocks, markers without a block, duplicates)."""
    problems = []
    examples = {}
    fence = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.S | re.M)
    marker = re.compile(r"<!--\s*example:\s*([^>]*?)\s*-->\s*\Z")
    used_markers = 0
    last_end = 0
    for m in fence.finditer(text):
        lang, body = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        before = text[last_end : m.start()]
        last_end = m.end()
        mk = marker.search(before)
        if not mk:
            if lang in RUNNABLE:
                problems.append(f"unmarked {lang} block at line {line}")
            continue
        used_markers += 1
        words = mk.group(1).split()
        if not words:
            problems.append(f"marker without a name at line {line}")
            continue
        name, attrs = words[0], {}
        for w in words[1:]:
            k, sep, v = w.partition("=")
            if not sep:
                problems.append(f"bad marker attribute {w!r} at line {line}")
            attrs[k] = v
        if name in examples:
            problems.append(f"example {name!r} marked twice (line {line})")
        examples[name] = Example(name, lang, body, attrs, line)
    all_markers = len(re.findall(r"<!--\s*example:", text))
    if all_markers != used_markers:
        problems.append(f"{all_markers - used_markers} example marker(s) not right before a fenced block")
    return examples, problems


EXAMPLES, PROBLEMS = parse_doc(DOC.read_text())


# --- substitution and running ---


class Person:
    def __init__(self, uid, email, access_key, secret_key):
        self.uid, self.email, self.access_key, self.secret_key = uid, email, access_key, secret_key

    def client(self):
        return s3_client(self.access_key, self.secret_key)


def base_values(alice, bob):
    endpoint = endpoints()[0]
    values = {
        P_ENDPOINT: endpoint,
        P_HOST: urlparse(endpoint).netloc,
        P_ALICE: alice.uid,
        P_BOB: bob.uid,
        P_ALICE_EMAIL: alice.email,
        P_BOB_EMAIL: bob.email,
    }
    if endpoint.startswith("http://"):
        values["use_https = True"] = "use_https = False"
    return values


def substitute(text, values):
    """Replaces every placeholder (longest first, in one pass) and checks none is left."""
    keys = sorted(values, key=len, reverse=True)
    out = re.sub("|".join(re.escape(k) for k in keys), lambda m: values[m.group(0)], text)
    left = LEFTOVER.search(out)
    assert not left, f"placeholder {left.group(0)!r} left after substitution in:\n{out}"
    return out


class Home:
    """A temporary HOME (and working directory `HOME/work`) for one identity."""

    def __init__(self, root, files=None):
        self.home = root
        self.work = root / "work"
        self.work.mkdir(parents=True)
        for rel, data in (files or {}).items():
            p = self.work / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)

    def env(self):
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "RCLONE_", "BOTO_")) and k not in ("XDG_CONFIG_HOME", "S3CMD_CONFIG")
        }
        env["HOME"] = str(self.home)
        extra = [os.path.dirname(sys.executable), os.path.dirname(os.environ["CUTTLE_BIN"])]
        env["PATH"] = os.pathsep.join(extra + [env.get("PATH", "")])
        return env


class Runner:
    """Runs the examples of one group and remembers which ran."""

    def __init__(self, group, values):
        self.group = group
        self.names = GROUPS[group]
        self.values = values
        self.ran = []
        missing = [n for n in self.names if n not in EXAMPLES]
        assert not missing, f"docs/users.md has no example(s) {missing}"

    def text(self, name, values=None):
        return substitute(EXAMPLES[name].body + "\n", values or self.values)

    def write_config(self, name, home, values=None):
        """Writes configuration example `name` (file=~/...) into `home`."""
        ex = EXAMPLES[name]
        path = ex.attrs.get("file", "")
        assert path.startswith("~/"), f"{ex}: a configuration block needs file=~/..."
        dest = home.home / path[2:]
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(self.text(name, values))
        dest.chmod(0o600)
        return dest

    def run(self, name, home, values=None):
        """Runs example `name` of this group (as its marker says) and returns the
        CompletedProcess (None for configuration files)."""
        assert name in self.names, f"{name} is not an example of group {self.group}"
        ex = EXAMPLES[name]
        self.ran.append(name)
        if "file" in ex.attrs:
            self.write_config(name, home, values)
            return None
        body = self.text(name, values)
        if ex.lang in ("sh", "bash"):
            script = home.work / f".example-{name}.sh"
            cmd = ["bash", "-euo", "pipefail", str(script)]
        elif ex.lang == "python":
            script = home.work / f".example-{name}.py"
            cmd = [sys.executable, str(script)]
        else:
            raise AssertionError(f"{ex}: cannot run a {ex.lang!r} block")
        script.write_text(body)
        out = subprocess.run(cmd, cwd=home.work, env=home.env(), capture_output=True, text=True, timeout=300)
        script.unlink()
        log = f"{ex} exited {out.returncode}\n--- script ---\n{body}--- stdout ---\n{out.stdout}\n--- stderr ---\n{out.stderr}"
        fails = ex.attrs.get("fails")
        if fails:
            assert out.returncode != 0, f"{ex} should have failed:\n{log}"
            assert re.search(fails, out.stdout + out.stderr), f"{ex} failed without /{fails}/:\n{log}"
        else:
            assert out.returncode == 0, log
        return out

    def done(self):
        missed = [n for n in self.names if n not in self.ran]
        assert not missed, f"group {self.group}: examples not run: {missed} (ran {self.ran})"


# --- helpers ---


def s3_keys(client, bucket):
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def body_of(client, bucket, key):
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


def grants(acl):
    return sorted((g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"])


def refused(fn):
    import botocore

    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn()
    return error_code(e)


def http_get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def obj_url(bucket, key):
    return f"{endpoints()[0]}/{bucket}/{key}"


def fresh_token(person):
    return cuttle("user", "token", "create", "--uid", person.uid)["token"]


# --- the page itself ---


def test_every_runnable_block_is_marked_and_claimed():
    assert not PROBLEMS, "\n".join(PROBLEMS)
    claimed = {n for names in GROUPS.values() for n in names}
    assert set(EXAMPLES) - claimed == set(), f"examples no test runs: {sorted(set(EXAMPLES) - claimed)}"
    assert claimed - set(EXAMPLES) == set(), f"examples the page lacks: {sorted(claimed - set(EXAMPLES))}"
    for ex in EXAMPLES.values():
        if "file" in ex.attrs:
            assert ex.lang == "ini", f"{ex}: configuration files are ini blocks"
        assert set(ex.attrs) <= {"file", "as", "fails"}, f"{ex}: unknown attributes {ex.attrs}"
        assert ex.attrs.get("as", "bob") == "bob", f"{ex}: as= must be bob"


def test_clients_are_configured_for_path_style():
    """The suite's endpoint is an IP address, for which the clients use path style
    anyway: so check here that each client's example asks for it, as it must for the
    service's host name."""
    assert 'Config(s3={"addressing_style": "path"})' in EXAMPLES["boto3-keys"].body
    assert 'Config(s3={"addressing_style": "path"})' in EXAMPLES["boto3-token"].body
    assert 'Config(s3={"addressing_style": "path"})' in EXAMPLES["share-boto3"].body
    assert re.search(r"^s3 =\n\s+addressing_style = path$", EXAMPLES["awscli-config"].body, re.M)
    for name in ("s3cmd-config", "s3cmd-token-config"):
        body = EXAMPLES[name].body
        assert f"host_bucket = {P_HOST}\n" in body and "%(bucket)s" not in body, name
        assert "bucket_location = us-east-1" in body, name
    for name in ("rclone-config", "rclone-token-config"):
        body = EXAMPLES[name].body
        assert "\nforce_path_style = true\n" in body and "\nprovider = Other\n" in body, name
        assert f"\nendpoint = {P_ENDPOINT}\n" in body, name


# --- users, made as the page says ---


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """Alice and Bob, created by running the operator's example (with unique uids),
    then their key pairs read back with `cuttle user info`."""
    tag = uuid.uuid4().hex[:6]
    alice_uid, bob_uid = f"alice{tag}_physics", f"bob{tag}_chem"
    alice_email, bob_email = f"alice{tag}@physics.test", f"bob{tag}@chem.test"
    stub = Person(alice_uid, alice_email, "", ""), Person(bob_uid, bob_email, "", "")
    r = Runner("people", base_values(*stub))
    out = r.run("operator-create-users", Home(tmp_path_factory.mktemp("operator")))
    r.done()
    assert alice_uid in out.stdout and "access_key" in out.stdout, out.stdout
    made = []
    for uid, email, display in ((alice_uid, alice_email, "Alice (Physics)"), (bob_uid, bob_email, "Bob (Chemistry)")):
        info = cuttle("user", "info", "--uid", uid)
        assert info["display_name"] == display and info["email"] == email, info
        assert len(info["keys"]) == 1, info
        k = info["keys"][0]
        made.append(Person(uid, email, k["access_key"], k["secret_key"]))
    return tuple(made)


def values_for(alice, bob, bucket=None, token=None, **extra):
    v = base_values(alice, bob)
    v.update(
        {
            P_ALICE_KEY: alice.access_key,
            P_ALICE_SECRET: alice.secret_key,
            P_BOB_KEY: bob.access_key,
            P_BOB_SECRET: bob.secret_key,
        }
    )
    if bucket:
        v[P_BUCKET] = bucket
    if token:
        v[P_TOKEN] = token
    v.update(extra)
    return v


def as_bob(values, alice, bob):
    """The same values, but the configuration blocks (written with Alice's key
    placeholders) get Bob's keys."""
    v = dict(values)
    v[P_ALICE_KEY], v[P_ALICE_SECRET] = bob.access_key, bob.secret_key
    return v


# --- operators ---


def test_operator_keys_and_tokens(people, tmp_path):
    alice, bob = people
    old = cuttle("user", "key", "add", "--uid", alice.uid)["access_key"]
    tok = cuttle("user", "token", "create", "--uid", alice.uid)
    assert s3_client(tok["token"], "").list_buckets() is not None
    r = Runner("operator", values_for(alice, bob, **{P_OLD_KEY: old, P_TOKEN_ID: tok["id"]}))
    home = Home(tmp_path)

    out = r.run("operator-keys", home)
    keys = [k["access_key"] for k in cuttle("user", "info", "--uid", alice.uid)["keys"]]
    assert old not in keys and alice.access_key in keys and len(keys) == 2, keys
    assert f"removed {old}" in out.stdout, out.stdout
    assert alice.client().list_buckets() is not None  # her first key still works

    out = r.run("operator-tokens", home)
    ids = [t["id"] for t in cuttle("user", "token", "ls", "--uid", alice.uid)]
    assert tok["id"] not in ids and len(ids) >= 1, ids  # revoked; the one `create` made stays
    assert refused(lambda: s3_client(tok["token"], "").list_buckets()) == ("InvalidAccessKeyId", 403)
    r.done()


# --- clients ---


def test_boto3_with_keys(people, tmp_path):
    alice, bob = people
    b = unique("udboto")
    r = Runner("boto3_keys", values_for(alice, bob, bucket=b))
    home = Home(tmp_path, {"run1.csv": RUN1})
    out = r.run("boto3-keys", home)
    r.done()
    c = alice.client()
    assert s3_keys(c, b) == ["notes/readme.txt", "run1.csv"]
    assert body_of(c, b, "run1.csv") == RUN1
    assert (home.work / "run1-copy.csv").read_bytes() == RUN1
    lines = out.stdout.splitlines()
    assert f"run1.csv {len(RUN1)}" in lines and "notes/readme.txt 17" in lines, out.stdout
    assert http_get(lines[-1]) == (200, RUN1)  # the presigned URL, without credentials
    assert http_get(obj_url(b, "run1.csv"))[0] == 403  # the object itself stays private


def test_boto3_with_token(people, tmp_path):
    alice, bob = people
    b = unique("udbototok")
    r = Runner("boto3_token", values_for(alice, bob, bucket=b, token=fresh_token(alice)))
    out = r.run("boto3-token", Home(tmp_path))
    r.done()
    assert b in out.stdout
    assert b in [x["Name"] for x in alice.client().list_buckets()["Buckets"]]  # Alice's bucket


def test_awscli(people, tmp_path):
    alice, bob = people
    b = unique("udaws")
    r = Runner("awscli", values_for(alice, bob, bucket=b))
    home = Home(tmp_path, {"run1.csv": RUN1, **{f"data/{k}": v for k, v in DATA.items()}})
    r.run("awscli-config", home)
    r.run("awscli-credentials", home)
    out = r.run("awscli-use", home)
    c = alice.client()
    assert s3_keys(c, b) == sorted(["run1.csv"] + [f"data/{k}" for k in DATA])
    for k, v in DATA.items():
        assert body_of(c, b, f"data/{k}") == v
    assert (home.work / "run1-copy.csv").read_bytes() == RUN1
    assert f'"ContentLength": {len(RUN1)}' in out.stdout, out.stdout
    presigned = out.stdout.strip().splitlines()[-1]
    assert presigned.startswith(endpoints()[0]), presigned
    assert http_get(presigned) == (200, RUN1)
    out = r.run("awscli-endpoint-flag", home)
    assert "run1.csv" in out.stdout and "data/" in out.stdout, out.stdout
    out = r.run("boto3-profile", home)
    assert b in out.stdout, out.stdout
    r.done()


def test_awscli_with_token(people, tmp_path):
    alice, bob = people
    b = unique("udawstok")
    r = Runner("awscli_token", values_for(alice, bob, bucket=b, token=fresh_token(alice)))
    home = Home(tmp_path)
    r.run("awscli-config", home)
    r.run("awscli-token-credentials", home)
    assert "aws_secret_access_key =\n" in (home.home / ".aws/credentials").read_text()
    out = r.run("awscli-token-use", home)
    r.done()
    assert b in out.stdout
    assert b in [x["Name"] for x in alice.client().list_buckets()["Buckets"]]


@pytest.mark.parametrize("sig", ["v4", "v2"])
def test_s3cmd(people, tmp_path, sig):
    """As written (SigV4), and with `signature_v2 = True`, which the page says works too."""
    alice, bob = people
    b = unique("uds3cmd")
    extra = {"signature_v2 = False": "signature_v2 = True"} if sig == "v2" else {}
    r = Runner("s3cmd", values_for(alice, bob, bucket=b, **extra))
    home = Home(tmp_path, {"run1.csv": RUN1, **{f"data/{k}": v for k, v in DATA.items()}})
    r.run("s3cmd-config", home)
    out = r.run("s3cmd-use", home)
    r.done()
    c = alice.client()
    assert s3_keys(c, b) == sorted(["run1.csv"] + [f"data/{k}" for k in DATA])
    assert body_of(c, b, "data/sub/c.txt") == DATA["sub/c.txt"]
    assert (home.work / "run1-copy.csv").read_bytes() == RUN1
    assert f"File size: {len(RUN1)}" in out.stdout and f"s3://{b}/data/sub/c.txt" in out.stdout, out.stdout


def test_s3cmd_with_token(people, tmp_path):
    alice, bob = people
    b = unique("uds3cmdtok")
    r = Runner("s3cmd_token", values_for(alice, bob, bucket=b, token=fresh_token(alice)))
    home = Home(tmp_path)
    r.run("s3cmd-token-config", home)
    assert "\nsecret_key =\n" in (home.home / ".s3cfg").read_text()
    out = r.run("s3cmd-token-use", home)
    r.done()
    assert f"s3://{b}" in out.stdout
    assert b in [x["Name"] for x in alice.client().list_buckets()["Buckets"]]


def test_rclone(people, tmp_path):
    alice, bob = people
    b = unique("udrclone")
    r = Runner("rclone", values_for(alice, bob, bucket=b))
    home = Home(tmp_path, {f"data/{k}": v for k, v in DATA.items()})
    r.run("rclone-config", home)
    out = r.run("rclone-use", home)
    r.done()
    c = alice.client()
    assert s3_keys(c, b) == sorted(f"data/{k}" for k in DATA)
    assert (home.work / "a-copy.csv").read_bytes() == DATA["a.csv"]
    assert "data/sub/c.txt" in out.stdout, out.stdout


def test_rclone_with_token(people, tmp_path):
    alice, bob = people
    b = unique("udrclonetok")
    r = Runner("rclone_token", values_for(alice, bob, bucket=b, token=fresh_token(alice)))
    home = Home(tmp_path)
    r.run("rclone-token-config", home)
    out = r.run("rclone-token-use", home)
    r.done()
    assert b in out.stdout
    assert b in [x["Name"] for x in alice.client().list_buckets()["Buckets"]]


def test_cyberduck_profile():
    """Cyberduck cannot run here: the profile must at least be a valid property list
    with the keys Cyberduck's S3 profiles use, path style on, and the page's host."""
    r = Runner("cyberduck", {})
    ex = EXAMPLES["cyberduck-profile"]
    r.ran.append(ex.name)
    assert ex.lang == "xml"
    profile = plistlib.loads(ex.body.encode())
    r.done()
    known = {
        "Protocol", "Vendor", "Description", "Scheme", "Default Hostname", "Default Port",
        "Hostname Configurable", "Port Configurable", "Username Placeholder",
        "Password Placeholder", "Properties", "Region", "Context", "Default Nickname",
    }
    assert set(profile) <= known, set(profile) - known
    assert profile["Protocol"] == "s3" and profile["Scheme"] == "https"
    assert profile["Vendor"] and profile["Description"]
    assert profile["Default Hostname"] == P_HOST and profile["Default Port"] == "443"
    assert "s3.bucket.virtualhost.disable=true" in profile["Properties"]
    assert isinstance(profile["Hostname Configurable"], bool)


# --- sharing ---


@pytest.fixture
def shared(people, tmp_path):
    """Alice's bucket holding run1.csv, and Alice's and Bob's HOMEs with their s3cmd
    and AWS CLI configurations written from the page's blocks."""
    alice, bob = people
    b = unique("udshare")
    c = alice.client()
    c.create_bucket(Bucket=b)
    c.put_object(Bucket=b, Key="run1.csv", Body=RUN1)
    values = values_for(alice, bob, bucket=b)
    homes = {
        "alice": Home(tmp_path / "alice", {"notes.txt": NOTES}),
        "bob": Home(tmp_path / "bob", {"bob-analysis.csv": BOB_ANALYSIS}),
    }
    cfg = Runner("people", values)  # only for writing configuration blocks
    for name in SHARING_CONFIGS:
        cfg.write_config(name, homes["alice"], values)
        cfg.write_config(name, homes["bob"], as_bob(values, alice, bob))
    return b, values, homes


def run_as(r, name, homes, values, people):
    ex = EXAMPLES[name]
    who = ex.attrs.get("as", "alice")
    v = as_bob(values, *people) if who == "bob" else values
    return r.run(name, homes[who], v)


def check_private(people, b, key="run1.csv"):
    alice, bob = people
    c, d = alice.client(), bob.client()
    assert grants(c.get_bucket_acl(Bucket=b)) == [(alice.uid, "FULL_CONTROL")]
    assert grants(c.get_object_acl(Bucket=b, Key=key)) == [(alice.uid, "FULL_CONTROL")]
    assert refused(lambda: d.list_objects_v2(Bucket=b)) == ("AccessDenied", 403)
    assert refused(lambda: d.get_object(Bucket=b, Key=key)) == ("AccessDenied", 403)


def test_share_with_s3cmd(people, shared):
    alice, bob = people
    b, values, homes = shared
    r = Runner("share_s3cmd", values)
    check_private(people, b)
    out = run_as(r, "share-s3cmd-grant", homes, values, people)
    assert "ACL:       Bob (Chemistry): READ" in out.stdout, out.stdout  # s3cmd shows display names
    c = alice.client()
    want = sorted([(alice.uid, "FULL_CONTROL"), (bob.uid, "READ")])
    assert grants(c.get_bucket_acl(Bucket=b)) == want
    assert grants(c.get_object_acl(Bucket=b, Key="run1.csv")) == want
    out = run_as(r, "share-s3cmd-bob", homes, values, people)
    assert f"s3://{b}/run1.csv" in out.stdout
    assert (homes["bob"].work / "run1.csv").read_bytes() == RUN1
    run_as(r, "share-s3cmd-revoke", homes, values, people)
    check_private(people, b)
    run_as(r, "share-s3cmd-bob-denied", homes, values, people)
    r.done()


def test_share_with_awscli(people, shared):
    alice, bob = people
    b, values, homes = shared
    r = Runner("share_awscli", values)
    out = run_as(r, "share-awscli-grant", homes, values, people)
    acl = json.loads(out.stdout)
    assert acl["Owner"]["ID"] == alice.uid
    want = sorted([(alice.uid, "FULL_CONTROL"), (bob.uid, "READ")])
    assert grants(acl) == want  # the e-mail grant is stored as Bob's id
    assert grants(alice.client().get_bucket_acl(Bucket=b)) == want
    out = run_as(r, "share-awscli-bob", homes, values, people)
    assert "run1.csv" in out.stdout
    assert (homes["bob"].work / "run1.csv").read_bytes() == RUN1
    # Bucket READ is not object READ: the grant on the object is what lets Bob read.
    run_as(r, "share-awscli-revoke", homes, values, people)
    check_private(people, b)
    run_as(r, "share-awscli-bob-denied", homes, values, people)
    r.done()


def test_share_write(people, shared):
    alice, bob = people
    b, values, homes = shared
    r = Runner("share_write", values)
    d = bob.client()
    assert refused(lambda: d.put_object(Bucket=b, Key="x", Body=b"x")) == ("AccessDenied", 403)
    run_as(r, "share-write-grant", homes, values, people)
    assert grants(alice.client().get_bucket_acl(Bucket=b)) == sorted(
        [(alice.uid, "FULL_CONTROL"), (bob.uid, "READ"), (bob.uid, "WRITE")]
    )
    # Bucket READ (and WRITE) is not object READ: run1.csv is still Alice's alone.
    assert s3_keys(d, b) == ["run1.csv"]
    assert refused(lambda: d.get_object(Bucket=b, Key="run1.csv")) == ("AccessDenied", 403)
    run_as(r, "share-write-bob", homes, values, people)
    acl = alice.client().get_object_acl(Bucket=b, Key="bob-analysis.csv")
    assert acl["Owner"]["ID"] == bob.uid  # Bob's object, Alice has full control of it
    assert grants(acl) == sorted([(bob.uid, "FULL_CONTROL"), (alice.uid, "FULL_CONTROL")])
    run_as(r, "share-write-alice", homes, values, people)
    assert (homes["alice"].work / "bob-analysis.csv").read_bytes() == BOB_ANALYSIS
    r.done()


def test_share_with_boto3(people, shared):
    alice, bob = people
    b, values, homes = shared
    r = Runner("share_boto3", values)
    out = run_as(r, "share-boto3", homes, values, people)
    r.done()
    lines = out.stdout.splitlines()
    assert f"grant: {bob.uid} READ" in lines and f"grant: {alice.uid} FULL_CONTROL" in lines, out.stdout
    assert "bob lists: ['run1.csv']" in lines, out.stdout
    assert f"bob reads: {RUN1!r}" in lines, out.stdout
    assert "bob after revoke: AccessDenied" in lines, out.stdout
    check_private(people, b)


def test_public_objects(people, shared):
    alice, bob = people
    b, values, homes = shared
    r = Runner("public", values)
    assert http_get(obj_url(b, "run1.csv"))[0] == 403
    out = run_as(r, "public-grant", homes, values, people)
    assert RUN1.decode() in out.stdout and NOTES.decode() in out.stdout, out.stdout
    assert http_get(obj_url(b, "run1.csv")) == (200, RUN1)
    assert http_get(obj_url(b, "notes.txt")) == (200, NOTES)
    assert http_get(f"{endpoints()[0]}/{b}")[0] == 403  # the bucket stays private
    run_as(r, "public-revoke", homes, values, people)
    assert http_get(obj_url(b, "run1.csv"))[0] == 403
    assert http_get(obj_url(b, "notes.txt"))[0] == 403
    run_as(r, "public-denied", homes, values, people)
    r.done()
