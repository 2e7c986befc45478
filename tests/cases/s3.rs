//! The S3 gateway driven by real S3 clients: a local cluster with gateways, then the
//! pytest suite in `tests/s3/` (boto3, awscli, s3cmd, rclone and raw HTTP), run with
//! the Python environment that `./setup.sh` installs. Each Rust test here is one
//! cluster; the suite's files choose what they test through pytest markers.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cuttle_cluster::{LocalSpec, RgwOptions, TestCluster};
use cuttle_tests::{require_binaries, spec};

/// The Python interpreter with the S3 clients: `CUTTLE_PYTHON`, else the setup
/// script's virtual environment.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("CUTTLE_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let venv = home.join(".cache/cuttle/venv/bin/python");
    assert!(
        venv.is_file(),
        "the S3 client tests need the Python clients that `./setup.sh test` installs in {} (or set CUTTLE_PYTHON)",
        venv.display()
    );
    venv
}

/// Starts a cluster with `rgws` gateways, runs pytest on `tests/s3` with `args`, and
/// asserts that every test passed. The cluster is killed when this returns or panics.
async fn run_suite(rgws: usize, args: &[&str]) {
    run_suite_with(rgws, &RgwOptions::default(), &[], args).await;
}

/// [`run_suite`] with gateway options and extra environment for pytest.
async fn run_suite_with(rgws: usize, opts: &RgwOptions, env: &[(&str, &Path)], args: &[&str]) {
    require_binaries(&["cuttle-mon", "cuttle-osd", "cuttle-rgw", "cuttle"]);
    let python = python();
    let c = TestCluster::start_with_rgws(
        LocalSpec {
            osd_size: 1 << 30,
            ..spec(3, 3, 16)
        },
        rgws,
        opts,
    )
    .await
    .unwrap_or_else(|e| panic!("cluster did not start: {e}"));
    assert_eq!(c.report.health, "HEALTH_OK", "{:?}", c.report.checks);
    let admin = c.s3_admin().unwrap();
    let endpoints = c.s3_endpoints();
    assert_eq!(endpoints.len(), rgws);
    // Cargo sets CARGO_MANIFEST_DIR when it runs a test; the compile-time value is only
    // a fallback (a binary built from a clone at another path may be reused here).
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let suite = manifest_dir.join("s3");
    let venv_bin = python.parent().map(Path::to_path_buf).unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(venv_bin).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE"])
        .args(args)
        .arg(&suite)
        .current_dir(&suite)
        .env("PATH", path)
        .env("CUTTLE_CONF", c.conf_path())
        .env("CUTTLE_BIN", cuttle_cluster::bin_dir().join("cuttle"))
        .env("S3_ENDPOINTS", endpoints.join(","))
        .env("S3_ADMIN_ACCESS_KEY", &admin.access_key)
        .env("S3_ADMIN_SECRET_KEY", &admin.secret_key)
        .env("S3_SCRATCH", scratch.path())
        .env("HOME", scratch.path())
        .env(
            "S3_INLINE_MAX",
            opts.inline_max_bytes
                .unwrap_or(cuttle_rgw::config::INLINE_MAX_DEFAULT)
                .to_string(),
        )
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    if !out.status.success() {
        for name in c.rgw_names() {
            println!("--- {name} log tail ---\n{}", c.log_tail(&name, 40));
        }
    }
    assert!(
        out.status.success(),
        "pytest failed ({}): see the output above",
        out.status
    );
}

/// The whole S3 suite against one gateway (small objects stored inline, the default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_suite_on_one_gateway() {
    run_suite(1, &["-m", "not multi_gateway and not tls"]).await;
}

/// What one of two gateways changes, the other sees at once (`-m multi_gateway`).
/// These gateways store no object inline, so small objects also take the stripe path
/// in the suites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_suite_on_two_gateways() {
    let opts = RgwOptions {
        inline_max_bytes: Some(0),
        ..RgwOptions::default()
    };
    run_suite_with(2, &opts, &[], &["-m", "multi_gateway"]).await;
}

/// Runs `openssl` with `args` in `dir`, asserting that it succeeded.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running openssl (needed for the TLS test): {e}"));
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a test CA (`ca.pem`) and a certificate it signs for `127.0.0.1` and
/// `localhost` (`server.pem`, key `server.key`) in `dir`.
fn make_test_ca(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Cuttle test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}

/// The gateway over HTTPS with a certificate from a test CA (`-m tls`): boto3 and the
/// AWS CLI trust it through `S3_CA_BUNDLE`; clients without the CA are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_suite_over_tls() {
    let pki = tempfile::tempdir().unwrap();
    make_test_ca(pki.path());
    let opts = RgwOptions {
        tls: Some((pki.path().join("server.pem"), pki.path().join("server.key"))),
        ..RgwOptions::default()
    };
    let ca = pki.path().join("ca.pem");
    run_suite_with(1, &opts, &[("S3_CA_BUNDLE", &ca)], &["-m", "tls"]).await;
}
