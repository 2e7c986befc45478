//! Internal gRPC over TLS (`LocalSpec::tls`, what `cuttle cluster up --tls` makes): the
//! cluster works through clients that trust its CA (library and CLI, objects and
//! status, a gateway that dials it and serves HTTPS), monitors and OSDs refuse
//! plaintext, a client trusting another CA is refused at once with a TLS error, and a
//! daemon whose TLS files are missing refuses to start.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cuttle_client::{ClientError, Cluster, ClusterConf, MonClient};
use cuttle_cluster::{LocalSpec, RgwOptions, TestCluster};
use cuttle_proto as pb;
use cuttle_rpc::{ChannelConfig, ClientAuth, ClientTlsFiles, ClusterSecret};
use cuttle_tests::{pattern, require_binaries, spec};

/// A signed `Stat` of `object` on `osd_addr`, dialled with `channels`.
async fn stat_on(
    osd_addr: &str,
    secret: &ClusterSecret,
    channels: &ChannelConfig,
    req: pb::StatRequest,
) -> Result<pb::StatReply, tonic::Status> {
    let ch = cuttle_rpc::channel::lazy_channel(osd_addr, channels).unwrap();
    let mut c = pb::osd_client::OsdClient::with_interceptor(ch, ClientAuth::new(secret.clone()));
    tokio::time::timeout(Duration::from_secs(10), c.stat(req))
        .await
        .expect("a call over the wrong transport must fail, not hang")
        .map(tonic::Response::into_inner)
}

/// Runs the `cuttle` CLI against `conf`; returns (success, stdout, stderr).
fn cli(conf: &Path, args: &[&str]) -> (bool, String, String) {
    let bin = cuttle_cluster::bin_dir().join("cuttle");
    assert!(
        bin.is_file(),
        "{} is not built: run `cargo build -p cuttle-cli`",
        bin.display()
    );
    let out = Command::new(&bin)
        .arg("-c")
        .arg(conf)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_serves_only_tls_to_clients_of_its_ca() {
    require_binaries(&["cuttle-mon", "cuttle-osd", "cuttle-rgw", "cuttle"]);
    let c = TestCluster::start_with_rgws(
        LocalSpec {
            tls: true,
            ..spec(1, 3, 8)
        },
        1,
        &RgwOptions::default(),
    )
    .await
    .unwrap_or_else(|e| panic!("TLS cluster did not start: {e}"));
    assert_eq!(c.report.health, "HEALTH_OK", "{:?}", c.report.checks);

    // The client configuration names the CA; every daemon configuration has [rpc_tls].
    let conf = c.conf();
    let ca = conf
        .rpc_tls
        .as_ref()
        .expect("cuttle.toml has [rpc_tls]")
        .ca
        .clone();
    assert!(ca.is_file(), "{}", ca.display());
    let reloaded = ClusterConf::load(&c.conf_path()).unwrap();
    assert_eq!(reloaded.rpc_tls, conf.rpc_tls);
    for name in c.daemon_names() {
        let text = std::fs::read_to_string(c.dir().join(format!("{name}.toml"))).unwrap();
        assert!(text.contains("[rpc_tls]"), "{name}.toml:\n{text}");
    }
    // The gateway dialled the cluster with TLS (it binds only after connecting) and
    // serves S3 over HTTPS with the cluster certificate.
    let endpoints = c.s3_endpoints();
    assert_eq!(endpoints.len(), 1);
    assert!(
        endpoints[0].starts_with("https://127.0.0.1:"),
        "{endpoints:?}"
    );

    // Objects round-trip through the library over TLS, in both pools.
    let client = Cluster::connect(&conf).await.unwrap();
    for pool in ["ec", "rep"] {
        let io = client.pool(pool).await.unwrap();
        for (i, len) in [0usize, 5000, (4 << 20) + 3].into_iter().enumerate() {
            let name = format!("tls-{len}");
            let data = pattern(i as u64 + 11, len);
            io.write_full(&name, Bytes::from(data.clone()))
                .await
                .unwrap();
            let got = io.read(&name, 0, 0).await.unwrap();
            assert!(got == data, "{pool}/{name}: {} bytes back", got.len());
        }
    }
    let status = c.client().unwrap().status().await.unwrap();
    assert_eq!(status.health, "HEALTH_OK", "{:?}", status.checks);

    // The CLI: `status`, and an object written and read back.
    let conf_path = c.conf_path();
    let (ok, out, err) = cli(&conf_path, &["status"]);
    assert!(ok, "cuttle status failed: {err}");
    assert!(out.contains("HEALTH_OK"), "{out}");
    let scratch = tempfile::tempdir().unwrap();
    let src = scratch.path().join("in");
    let dst = scratch.path().join("out");
    std::fs::write(&src, pattern(3, 70_000)).unwrap();
    let (ok, _, err) = cli(
        &conf_path,
        &["object", "put", "rep", "cli-obj", src.to_str().unwrap()],
    );
    assert!(ok, "cuttle object put failed: {err}");
    let (ok, _, err) = cli(
        &conf_path,
        &["object", "get", "rep", "cli-obj", dst.to_str().unwrap()],
    );
    assert!(ok, "cuttle object get failed: {err}");
    assert!(std::fs::read(&dst).unwrap() == pattern(3, 70_000));
    let (ok, out, err) = cli(
        &conf_path,
        &["cluster", "status", "--dir", c.dir().to_str().unwrap()],
    );
    assert!(ok, "cuttle cluster status failed: {err}");
    assert!(out.contains("S3 endpoint: https://127.0.0.1:"), "{out}");

    // The same signed call to an OSD: answered over TLS, refused over plaintext (h2c).
    let secret = conf.cluster_secret().unwrap();
    let tls = conf.channel_config().unwrap();
    let io = client.pool("rep").await.unwrap();
    let (pg, _) = client.locate(io.pool_id(), "tls-5000").unwrap();
    let map = client.map().unwrap();
    let (_, osd_addr) = client.primary(&map, pg).unwrap();
    let req = pb::StatRequest {
        epoch: map.epoch.0,
        pg: Some(pb::PgRef {
            pool: pg.pool.0,
            seed: pg.seed,
        }),
        object: "tls-5000".into(),
    };
    let st = stat_on(&osd_addr, &secret, &tls, req.clone())
        .await
        .unwrap_or_else(|s| panic!("stat over TLS: {s:?}"));
    assert_eq!(st.size, 5000);
    let plain = ChannelConfig::plaintext();
    let s = stat_on(&osd_addr, &secret, &plain, req)
        .await
        .expect_err("an OSD answered a plaintext call");
    assert!(
        cuttle_rpc::error_code(&s).is_none() && s.code() != tonic::Code::Unauthenticated,
        "plaintext call to an OSD: {s:?}"
    );

    // A monitor: status over plaintext fails within its deadline.
    let mon_addrs = conf.monitor_addrs();
    let plain_mon = MonClient::new(mon_addrs.clone(), secret.clone(), &plain)
        .unwrap()
        .with_deadline(Duration::from_secs(3));
    let t = Instant::now();
    let e = plain_mon
        .status()
        .await
        .expect_err("a monitor answered a plaintext call");
    assert!(
        matches!(e, ClientError::Unreachable { .. }),
        "plaintext call to a monitor: {e:?}"
    );
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());

    // A client trusting another CA: refused at once, saying why.
    let other = tempfile::tempdir().unwrap();
    let other_ca = cuttle_cluster::pki::generate(other.path()).unwrap().ca;
    let stranger = ClusterConf {
        rpc_tls: Some(ClientTlsFiles { ca: other_ca }),
        ..conf.clone()
    };
    let t = Instant::now();
    let e = MonClient::from_conf(&stranger)
        .unwrap()
        .status()
        .await
        .expect_err("a monitor was trusted through another CA");
    assert!(
        matches!(&e, ClientError::Tls { reason, .. } if reason.contains("UnknownIssuer")),
        "{e:?}"
    );
    assert_eq!(e.code(), "tls");
    let e = Cluster::connect(&stranger)
        .await
        .expect_err("connected through another CA");
    assert_eq!(e.code(), "tls", "{e}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "refusal took {:?}",
        t.elapsed()
    );
    let stranger_path = other.path().join("cuttle.toml");
    std::fs::write(
        &stranger_path,
        std::fs::read_to_string(&conf_path).unwrap().replace(
            &ca.display().to_string(),
            &other.path().join("tls/ca.pem").display().to_string(),
        ),
    )
    .unwrap();
    let (ok, _, err) = cli(&stranger_path, &["status"]);
    assert!(!ok, "cuttle status succeeded through another CA");
    assert!(
        err.contains("TLS handshake") && err.contains("(tls)"),
        "{err}"
    );

    // A monitor whose key file is missing refuses to start, naming the file.
    let mon_conf = std::fs::read_to_string(c.dir().join("mon.a.toml")).unwrap();
    let key = c.dir().join("tls/server.key").display().to_string();
    let missing = other.path().join("nowhere.key").display().to_string();
    let bad = other.path().join("mon.bad.toml");
    std::fs::write(&bad, mon_conf.replace(&key, &missing)).unwrap();
    let out = Command::new(cuttle_cluster::bin_dir().join("cuttle-mon"))
        .arg("--config")
        .arg(&bad)
        .arg("--data-dir")
        .arg(other.path().join("mon-data"))
        .arg("--listen")
        .arg("127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "cuttle-mon started: {stderr}");
    assert!(
        stderr.contains("[rpc_tls]") && stderr.contains(&missing),
        "{stderr}"
    );
}
