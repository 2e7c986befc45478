//! `cuttle cluster up --tls`: the real binary makes a throw-away CA in the cluster
//! directory, every command works through the `cuttle.toml` it writes, gateways serve
//! HTTPS, a client without the CA is turned away, and the choice survives `down` and a
//! later `up` without the flag. A guard stops whatever the directory describes when the
//! test ends, even when an assertion fails.
//!
//! Needs the daemon binaries in the same target directory (`cargo build -p cuttle-mon
//! -p cuttle-osd -p cuttle-rgw`).
#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{StopOnDrop, cuttle, require_mon_binary, status_with_leader};
use serde_json::Value;

fn https_endpoints(v: &Value) -> bool {
    let e = v["s3_endpoints"].as_array().unwrap();
    !e.is_empty()
        && e.iter()
            .all(|u| u.as_str().unwrap().starts_with("https://127.0.0.1:"))
}

#[test]
fn cluster_up_tls_encrypts_everything_and_survives_a_restart() {
    require_mon_binary();
    let tmp = tempfile::tempdir().unwrap();
    let dir: &Path = &tmp.path().join("cl");
    let _guard = StopOnDrop(dir.to_path_buf());
    let d = dir.to_str().unwrap();

    let up = cuttle(&[
        "cluster",
        "up",
        "--dir",
        d,
        "--tls",
        "--mons",
        "1",
        "--osd-size",
        "256M",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(up["health"], "HEALTH_OK", "{up}");
    assert!(https_endpoints(&up), "{up}");
    let ca = dir.join("tls/ca.pem");
    assert_eq!(up["tls_ca"], ca.to_str().unwrap(), "{up}");
    let key_mode = std::fs::metadata(dir.join("tls/server.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    let conf = dir.join("cuttle.toml");
    let conf_s = conf.to_str().unwrap();
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("[rpc_tls]"), "{text}");

    // Every command works through the written configuration.
    status_with_leader(conf_s);
    let payload = tmp.path().join("payload");
    std::fs::write(&payload, b"encrypted in flight").unwrap();
    cuttle(&[
        "-c",
        conf_s,
        "object",
        "put",
        "rep",
        "hello",
        payload.to_str().unwrap(),
    ])
    .ok();

    // Without the CA, the client speaks plaintext to TLS daemons: no answer.
    let plain = tmp.path().join("plain.toml");
    let c = cuttle_client::ClusterConf::load(&conf).unwrap();
    assert_eq!(c.rpc_tls.as_ref().map(|t| t.ca.clone()), Some(ca.clone()));
    let monitors: String = c
        .monitors
        .iter()
        .map(|(n, a)| format!("{n} = \"{a}\"\n"))
        .collect();
    std::fs::write(
        &plain,
        format!(
            "fsid = \"{}\"\nsecret = \"{}\"\n[monitors]\n{monitors}",
            c.fsid, c.secret
        ),
    )
    .unwrap();
    cuttle(&["-c", plain.to_str().unwrap(), "--timeout", "2", "status"]).fails_with("unreachable");

    // `down`, then `up` without --tls: still a TLS cluster, data intact.
    cuttle(&["cluster", "down", "--dir", d]).ok();
    let again = cuttle(&["cluster", "up", "--dir", d, "--format", "json"]).json();
    assert_eq!(again["health"], "HEALTH_OK", "{again}");
    assert!(https_endpoints(&again), "{again}");
    let st = cuttle(&["cluster", "status", "--dir", d, "--format", "json"]).json();
    assert!(https_endpoints(&st), "{st}");
    assert_eq!(st["tls_ca"], ca.to_str().unwrap(), "{st}");
    let got = cuttle(&["-c", conf_s, "object", "get", "rep", "hello"]).ok();
    assert_eq!(got, "encrypted in flight");
    let table = cuttle(&["cluster", "status", "--dir", d]).ok();
    assert!(table.contains("S3 endpoint: https://127.0.0.1:"), "{table}");
    assert!(
        table.contains(&format!("TLS CA: {}", ca.display())),
        "{table}"
    );
    cuttle(&["cluster", "down", "--dir", d]).ok();
}
