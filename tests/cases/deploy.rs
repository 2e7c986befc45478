//! Keeps `deploy/` true to the code.
//!
//! - Every example configuration (`deploy/**/*.toml`) loads with its daemon's own loader
//!   (`MonConfig::load`, `OsdConfig::load`, `RgwConfig::load`; `ClusterConf::load` for
//!   the CLI's `cuttle.toml`). The daemons' configuration types refuse unknown keys, so
//!   a renamed or removed key fails here. Directories with a `render.sh` (the
//!   multi-campus templates) are rendered by that script first, as an operator would.
//! - The files of one cluster agree: one fsid, one monitor map, each daemon's data in
//!   `/var/lib/cuttle/<daemon>` (the systemd units' `StateDirectory=cuttle/%i`),
//!   distinct addresses, the same pools and auth on every gateway.
//! - The systemd units and the compose file start binaries that exist with flags they
//!   accept, and every `cuttle …` command shown in deploy/'s scripts and READMEs and in
//!   docs/operations.md names subcommands and flags that exist. Both are checked
//!   against `--help` of the binaries in `cuttle_cluster::bin_dir()` (build them first:
//!   `cargo build -p cuttle-mon -p cuttle-osd -p cuttle-rgw -p cuttle-cli`; a
//!   workspace test run does).
//! - docs/configuration.md names every key of each daemon's configuration type and of
//!   `cuttle.toml` (serialized from the examples with every optional key filled in).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use cuttle_client::ClusterConf;
use cuttle_mon::MonConfig;
use cuttle_osd::OsdConfig;
use cuttle_rgw::RgwConfig;

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn deploy() -> PathBuf {
    root().join("deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Files under `dir` (recursively) whose names end with `suffix`, sorted.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// One loaded example configuration.
#[derive(Debug)]
enum Loaded {
    Mon(Box<MonConfig>),
    Osd(Box<OsdConfig>),
    Rgw(Box<RgwConfig>),
    Client(ClusterConf),
}

impl Loaded {
    fn fsid(&self) -> uuid::Uuid {
        match self {
            Loaded::Mon(c) => c.fsid,
            Loaded::Osd(c) => c.fsid,
            Loaded::Rgw(c) => c.fsid,
            Loaded::Client(c) => c.fsid,
        }
    }

    fn monitors(&self) -> &BTreeMap<String, String> {
        match self {
            Loaded::Mon(c) => &c.monitors,
            Loaded::Osd(c) => &c.monitors,
            Loaded::Rgw(c) => &c.monitors,
            Loaded::Client(c) => &c.monitors,
        }
    }
}

/// Loads `path` with the loader of the daemon its name says (`mon.*`, `osd.*`, `rgw.*`,
/// `cuttle.toml`), exactly as the daemon would.
fn load(path: &Path) -> Loaded {
    let name = file_name(path);
    let fail = |e: &dyn std::fmt::Display| -> ! { panic!("{name}: {e}") };
    if name.starts_with("mon.") {
        Loaded::Mon(Box::new(MonConfig::load(path).unwrap_or_else(|e| fail(&e))))
    } else if name.starts_with("osd.") {
        Loaded::Osd(Box::new(OsdConfig::load(path).unwrap_or_else(|e| fail(&e))))
    } else if name.starts_with("rgw.") {
        let c = RgwConfig::load(path).unwrap_or_else(|e| fail(&e));
        // RgwConfig::validate does not look at the secret; the cluster connection does.
        c.cluster_conf()
            .cluster_secret()
            .unwrap_or_else(|e| fail(&format!("secret: {e}")));
        if let Some(b) = &c.bootstrap_admin {
            cuttle_rgw::names::validate_access_key(&b.access_key).unwrap_or_else(|e| fail(&e));
            cuttle_rgw::names::validate_secret_key(&b.secret_key).unwrap_or_else(|e| fail(&e));
        }
        Loaded::Rgw(Box::new(c))
    } else if name == "cuttle.toml" {
        // The client configuration ignores unknown keys (a local cluster's cuttle.toml
        // carries a [local] table), so look at the keys here.
        let table: toml::Table = toml::from_str(&read(path)).unwrap_or_else(|e| fail(&e));
        let keys: BTreeSet<&str> = table.keys().map(String::as_str).collect();
        let known = BTreeSet::from(["fsid", "secret", "monitors", "rpc_tls"]);
        assert!(
            keys.is_subset(&known),
            "{name}: keys {keys:?}, the client reads only {known:?}"
        );
        Loaded::Client(ClusterConf::load(path).unwrap_or_else(|e| fail(&e)))
    } else {
        panic!(
            "{}: no daemon reads a file of that name; teach tests/cases/deploy.rs",
            path.display()
        )
    }
}

/// The example configurations of one directory, made loadable: rendered by the
/// directory's `render.sh` when it has one, the path `/etc/cuttle/secret` pointed at a
/// real secret file. Returns (file name, loaded) pairs.
fn load_dir(dir: &Path, tmp: &Path) -> Vec<(String, Loaded)> {
    let templates = files(dir, ".toml")
        .into_iter()
        .filter(|p| p.parent() == Some(dir))
        .collect::<Vec<_>>();
    let rendered = tmp.join("rendered");
    let source = if dir.join("render.sh").is_file() {
        let out = Command::new("sh")
            .arg(dir.join("render.sh"))
            .arg(&rendered)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "render.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        rendered.clone()
    } else {
        std::fs::create_dir_all(&rendered).unwrap();
        std::fs::write(rendered.join("secret"), format!("{}\n", "ab".repeat(32))).unwrap();
        dir.to_path_buf()
    };
    let secret_file = rendered.join("secret").display().to_string();
    let loadable = tmp.join("loadable");
    std::fs::create_dir_all(&loadable).unwrap();
    let mut out = Vec::new();
    for t in &templates {
        let name = file_name(t);
        let text = read(&source.join(&name));
        assert!(
            !text.contains("@CLUSTER_SECRET@"),
            "{name}: a placeholder is left after rendering"
        );
        let path = loadable.join(&name);
        std::fs::write(&path, text.replace("/etc/cuttle/secret", &secret_file)).unwrap();
        out.push((name, load(&path)));
    }
    out
}

/// Directories holding example configurations.
fn config_dirs() -> Vec<PathBuf> {
    let dirs: BTreeSet<PathBuf> = files(&deploy(), ".toml")
        .iter()
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    assert!(
        dirs.contains(&deploy().join("multi-campus"))
            && dirs.contains(&deploy().join("compose").join("config")),
        "example configurations missing: {dirs:?}"
    );
    dirs.into_iter().collect()
}

fn port_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or("", |(_, p)| p)
}

fn host_of(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

/// Every file of one cluster agrees with the others.
fn check_cluster(dir: &Path, loaded: &[(String, Loaded)]) {
    let where_ = dir.strip_prefix(root()).unwrap().display().to_string();
    let (first_name, first) = &loaded[0];
    let mut mons = 0;
    let mut listen = BTreeSet::new();
    let mut osd_hosts: BTreeMap<String, String> = BTreeMap::new();
    let mut rgw_shared = BTreeSet::new();
    for (name, c) in loaded {
        assert_eq!(
            c.fsid(),
            first.fsid(),
            "{where_}: {name} and {first_name} name different clusters"
        );
        assert_eq!(
            c.monitors(),
            first.monitors(),
            "{where_}: {name} and {first_name} list different monitors"
        );
        let stem = name.trim_end_matches(".toml");
        let state_dir = Path::new("/var/lib/cuttle").join(stem);
        match c {
            Loaded::Mon(m) => {
                mons += 1;
                assert_eq!(
                    name,
                    &format!("mon.{}.toml", m.name),
                    "{where_}: file name and monitor name differ"
                );
                assert_eq!(m.data_dir, state_dir, "{where_}: {name}: data_dir");
                assert_eq!(
                    port_of(&m.listen_addr()),
                    port_of(&m.monitors[&m.name]),
                    "{where_}: {name} listens on another port than its `monitors` entry"
                );
            }
            Loaded::Osd(o) => {
                assert_eq!(o.data_dir, state_dir, "{where_}: {name}: data_dir");
                let public = o.public_addr.clone().unwrap_or_else(|| o.listen.clone());
                assert!(
                    !host_of(&public).starts_with("0.0.0.0") && port_of(&public) != "0",
                    "{where_}: {name}: others cannot dial {public}; set public_addr"
                );
                assert!(
                    listen.insert(public.clone()),
                    "{where_}: {name}: {public} used twice"
                );
                let h = osd_hosts
                    .entry(host_of(&public).to_string())
                    .or_insert_with(|| o.host.clone());
                assert_eq!(
                    h, &o.host,
                    "{where_}: {name}: two host names on one machine"
                );
            }
            Loaded::Rgw(r) => {
                // Gateways in containers may all bind 0.0.0.0:7480, each its own.
                if !r.listen.ip().is_unspecified() {
                    assert!(
                        listen.insert(r.listen.to_string()),
                        "{where_}: {name}: {} used twice",
                        r.listen
                    );
                }
                rgw_shared.insert(format!(
                    "{:?} {:?} {:?} {} {}",
                    r.pools, r.auth, r.dns_suffix, r.region, r.stripe_size
                ));
            }
            Loaded::Client(_) => {}
        }
    }
    assert_eq!(
        mons,
        first.monitors().len(),
        "{where_}: one file per monitor"
    );
    assert_eq!(mons % 2, 1, "{where_}: use an odd number of monitors");
    assert!(
        osd_hosts.len() >= 3,
        "{where_}: at least 3 OSD hosts (the EC 2+1 and 3-copy pools)"
    );
    assert_eq!(
        rgw_shared.len(),
        1,
        "{where_}: gateways differ in pools, auth, dns_suffix, region or stripe size"
    );
}

#[test]
fn example_configs_load_with_the_daemons_loaders_and_agree() {
    for dir in config_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let loaded = load_dir(&dir, tmp.path());
        check_cluster(&dir, &loaded);
    }
}

#[test]
fn multi_campus_daemons_use_tls_and_osds_use_raw_disks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = deploy().join("multi-campus");
    for (name, c) in load_dir(&dir, tmp.path()) {
        // Traffic crosses campus links: every process speaks gRPC over TLS.
        match c {
            Loaded::Rgw(r) => {
                assert!(r.tls.is_some(), "{name}: no [tls]");
                assert!(r.rpc_tls.is_some(), "{name}: no [rpc_tls]");
            }
            Loaded::Osd(o) => {
                let dev = o.device_path();
                assert!(
                    dev.starts_with("/dev/disk/by-id") && o.device_size.is_none(),
                    "{name}: device {} is not a stable raw-disk path",
                    dev.display()
                );
                assert!(o.rpc_tls.is_some(), "{name}: no [rpc_tls]");
            }
            Loaded::Mon(m) => {
                assert!(m.secret_file.is_some(), "{name}: inline secret");
                assert!(m.rpc_tls.is_some(), "{name}: no [rpc_tls]");
            }
            Loaded::Client(c) => assert!(c.rpc_tls.is_some(), "{name}: no [rpc_tls]"),
        }
    }
}

/// `--help` output of the built binaries, by argument list.
#[derive(Default)]
struct Helps(HashMap<Vec<String>, Option<String>>);

impl Helps {
    /// `program args... --help`'s output, or `None` when it fails.
    fn get(&mut self, program: &str, args: &[String]) -> Option<String> {
        let mut key = vec![program.to_string()];
        key.extend(args.iter().cloned());
        self.0
            .entry(key)
            .or_insert_with(|| {
                cuttle_tests::require_binaries(&[program]);
                let bin = cuttle_cluster::bin_dir().join(program);
                let out = Command::new(&bin)
                    .args(args)
                    .arg("--help")
                    .output()
                    .unwrap();
                out.status
                    .success()
                    .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
            })
            .clone()
    }

    /// Checks one command line (`program` then `args`): its leading words that are
    /// subcommands, then every `--flag`, against the binary's help.
    fn check(&mut self, program: &str, args: &[&str], context: &str) {
        let mut path: Vec<String> = Vec::new();
        let mut rest = args.iter().peekable();
        let mut flags = Vec::new();
        // A lower-case word after the subcommands: a positional value, or a misspelt
        // subcommand when the command takes one.
        let mut not_sub = None;
        // Global options before the subcommand (cuttle -c FILE ...).
        while let Some(a) = rest.peek() {
            if matches!(**a, "-c" | "--conf" | "--format" | "--timeout") {
                flags.push(a.to_string());
                rest.next();
                rest.next();
            } else {
                break;
            }
        }
        for a in rest.by_ref() {
            let word = !a.is_empty()
                && a.starts_with(|c: char| c.is_ascii_lowercase())
                && a.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            let mut longer = path.clone();
            longer.push(a.to_string());
            let is_sub = word
                && self.get(program, &longer).is_some_and(|h| {
                    let usage = format!("Usage: {program} {}", longer.join(" "));
                    h.lines()
                        .any(|l| l == usage || l.starts_with(&format!("{usage} ")))
                });
            if is_sub {
                path = longer;
            } else {
                if a.starts_with("--") {
                    flags.push(a.to_string());
                }
                if word {
                    not_sub = Some(a.to_string());
                }
                break;
            }
        }
        for a in rest {
            let a = a.trim_start_matches(['[', '(']);
            if a.starts_with("--") {
                flags.push(a.to_string());
            }
        }
        let help = self
            .get(program, &path)
            .unwrap_or_else(|| panic!("{context}: `{program} {} --help` fails", path.join(" ")));
        let wants_command = help
            .lines()
            .any(|l| l.starts_with("Usage: ") && l.ends_with("<COMMAND>"));
        if let Some(w) = not_sub {
            assert!(
                !wants_command,
                "{context}: `{program} {}` has no subcommand {w}",
                path.join(" ")
            );
        }
        for f in flags {
            let f = f
                .split('=')
                .next()
                .unwrap()
                .trim_end_matches([']', ')', '`', ',', ';']);
            let known = help.match_indices(f).any(|(i, _)| {
                !help[i + f.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            });
            assert!(
                known,
                "{context}: `{program} {}` has no flag {f}",
                path.join(" ")
            );
        }
    }
}

fn unit_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_units_run_existing_binaries_with_existing_flags() {
    let dir = deploy().join("systemd");
    assert!(
        dir.join("cuttle.target").is_file(),
        "deploy/systemd/cuttle.target is missing"
    );
    let units = files(&dir, "@.service");
    let names: Vec<String> = units.iter().map(|p| file_name(p)).collect();
    assert_eq!(
        names,
        [
            "cuttle-mon@.service",
            "cuttle-osd@.service",
            "cuttle-rgw@.service"
        ]
    );
    let mut helps = Helps::default();
    for unit in &units {
        let name = file_name(unit);
        let text = read(unit);
        let program = name.trim_end_matches("@.service");
        let exec = unit_values(&text, "ExecStart");
        assert_eq!(exec.len(), 1, "{name}: one ExecStart");
        let argv: Vec<&str> = exec[0].split_whitespace().collect();
        assert_eq!(
            argv[0],
            format!("/usr/local/bin/{program}"),
            "{name}: binary"
        );
        assert!(
            exec[0].contains("--config /etc/cuttle/%i.toml"),
            "{name}: the config is /etc/cuttle/<instance>.toml"
        );
        helps.check(program, &argv[1..], &name);
        for (key, want) in [
            ("User", "cuttle"),
            ("Group", "cuttle"),
            ("Restart", "on-failure"),
            ("WantedBy", "cuttle.target"),
            ("PartOf", "cuttle.target"),
        ] {
            assert_eq!(unit_values(&text, key), [want], "{name}: {key}=");
        }
        assert_eq!(
            unit_values(&text, "LimitNOFILE").len(),
            1,
            "{name}: LimitNOFILE="
        );
        if program != "cuttle-rgw" {
            assert_eq!(
                unit_values(&text, "StateDirectory"),
                ["cuttle/%i"],
                "{name}: data under /var/lib/cuttle/<instance>"
            );
        }
        if program == "cuttle-osd" {
            // The data disk must stay visible and io_uring allowed.
            for key in ["PrivateDevices", "DevicePolicy"] {
                assert!(
                    unit_values(&text, key).is_empty(),
                    "{name}: {key}= hides or denies the data disk"
                );
            }
            let filters = unit_values(&text, "SystemCallFilter").join(" ");
            assert!(
                filters.is_empty()
                    || filters.contains("io_uring_setup") && filters.contains("io_uring_enter"),
                "{name}: the system-call filter refuses io_uring"
            );
        }
    }
}

#[test]
fn compose_runs_existing_binaries_flags_and_configs() {
    let dir = deploy().join("compose");
    let text = read(&dir.join("compose.yaml"));
    assert!(
        dir.join("Dockerfile").is_file(),
        "deploy/compose/Dockerfile is missing"
    );
    let mut helps = Helps::default();
    let mut used = BTreeSet::new();
    let mut commands = 0;
    for line in text.lines() {
        let Some(list) = line.trim().strip_prefix("command: [") else {
            continue;
        };
        commands += 1;
        let argv: Vec<&str> = list
            .trim_end_matches(']')
            .split(',')
            .map(|a| a.trim().trim_matches('"'))
            .collect();
        for a in &argv {
            if let Some(file) = a.strip_prefix("/etc/cuttle/") {
                assert!(
                    dir.join("config").join(file).is_file(),
                    "compose.yaml: config/{file} is missing"
                );
                used.insert(file.to_string());
            }
        }
        if argv[0].starts_with("cuttle") {
            helps.check(argv[0], &argv[1..], "compose.yaml");
        }
    }
    assert!(
        commands >= 9,
        "compose.yaml: expected 3 mons, 3 OSDs, init, 2 gateways"
    );
    for toml in files(&dir.join("config"), ".toml") {
        let name = file_name(&toml);
        assert!(
            name == "cuttle.toml" || used.contains(&name),
            "compose.yaml runs nothing with config/{name}"
        );
    }
}

/// Shell tokens that end a command.
fn ends_command(token: &str) -> bool {
    matches!(token, "|" | "||" | "&&" | ";" | "&" | "#" | "do" | "then")
        || token.starts_with('>')
        || token.starts_with("2>")
        || token.starts_with('<')
}

/// The command lines of a file: every line of a script, the lines of fenced code
/// blocks of a Markdown page.
fn command_lines(path: &Path) -> Vec<String> {
    let text = read(path);
    if !path.to_string_lossy().ends_with(".md") {
        return text.lines().map(str::to_string).collect();
    }
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if fenced {
            out.push(line.to_string());
        }
    }
    out
}

#[test]
fn cuttle_commands_in_deploy_and_operations_docs_exist() {
    let mut sources = files(&deploy(), ".sh");
    sources.extend(files(&deploy(), ".md"));
    sources.push(root().join("docs").join("operations.md"));
    let programs = ["cuttle", "cuttle-mon", "cuttle-osd", "cuttle-rgw"];
    let mut helps = Helps::default();
    let mut checked = 0;
    for path in &sources {
        let shown = path.strip_prefix(root()).unwrap().display().to_string();
        for line in command_lines(path) {
            let tokens: Vec<&str> = line.split_whitespace().collect();
            for (i, t) in tokens.iter().enumerate() {
                let program = t.rsplit('/').next().unwrap_or(t);
                let starts = i == 0
                    || ends_command(tokens[i - 1])
                    || matches!(
                        tokens[i - 1],
                        "$" | "sudo" | "exec" | "until" | "if" | "while"
                    );
                if !programs.contains(&program) || !starts {
                    continue;
                }
                let args: Vec<&str> = tokens[i + 1..]
                    .iter()
                    .take_while(|a| !ends_command(a))
                    .map(|a| a.trim_end_matches(';'))
                    .collect();
                helps.check(program, &args, &format!("{shown}: {}", line.trim()));
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} command lines found; is the scan broken?"
    );
}

/// Every key of a serialized configuration, as `table.key` paths. Tables of monitor
/// name → address (`monitors`) count as one key: their entries are names, not keys.
fn config_keys(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if let toml::Value::Table(inner) = value
            && key != "monitors"
        {
            config_keys(inner, &path, out);
        }
        out.insert(path);
    }
}

/// The keys of a value serialized as TOML (`toml::to_string`, with the type's own
/// `Serialize` impl).
fn serialized_keys(what: &str, text: Result<String, toml::ser::Error>) -> BTreeSet<String> {
    let text = text.unwrap_or_else(|e| panic!("{what}: serializing: {e}"));
    let table: toml::Table = toml::from_str(&text).unwrap();
    let mut keys = BTreeSet::new();
    config_keys(&table, "", &mut keys);
    keys
}

/// docs/configuration.md names every key of every daemon's configuration (and of the
/// CLI's `cuttle.toml`) as `` `key` ``, and every nested table as `` `[table]` ``. The
/// values are the multi-campus examples with every optional key filled in; the
/// destructuring below lists each type's fields, so a new field does not compile until
/// it is filled in here (and then the doc must name it).
#[test]
fn configuration_doc_names_every_key() {
    let tmp = tempfile::tempdir().unwrap();
    let mut loaded: HashMap<String, Loaded> = load_dir(&deploy().join("multi-campus"), tmp.path())
        .into_iter()
        .collect();
    let mut take = |name: &str| {
        loaded
            .remove(name)
            .unwrap_or_else(|| panic!("deploy/multi-campus/{name} is missing"))
    };
    let (Loaded::Mon(mut mon), Loaded::Osd(mut osd), Loaded::Rgw(mut rgw), Loaded::Client(cli)) = (
        take("mon.a.toml"),
        take("osd.0.toml"),
        take("rgw.east.toml"),
        take("cuttle.toml"),
    ) else {
        panic!("multi-campus files loaded as the wrong daemons");
    };

    let MonConfig {
        name: _,
        data_dir: _,
        listen,
        monitors: _,
        fsid: _,
        secret,
        secret_file,
        timing: _,
        metrics_addr,
        rpc_tls,
    } = &mut *mon;
    let server_tls = || cuttle_rpc::ServerTlsFiles {
        ca: "/etc/cuttle/tls/ca.pem".into(),
        cert: "/etc/cuttle/tls/node.pem".into(),
        key: "/etc/cuttle/tls/node.key".into(),
    };
    let client_tls = || cuttle_rpc::ClientTlsFiles {
        ca: "/etc/cuttle/tls/ca.pem".into(),
    };
    rpc_tls.get_or_insert_with(server_tls);
    listen.get_or_insert_with(|| "0.0.0.0:6789".into());
    secret.get_or_insert_with(|| "ab".repeat(32));
    secret_file.get_or_insert_with(|| "/etc/cuttle/secret".into());
    metrics_addr.get_or_insert_with(|| "0.0.0.0:9410".into());

    let OsdConfig {
        data_dir: _,
        device,
        device_size,
        host: _,
        listen: _,
        public_addr,
        monitors: _,
        fsid: _,
        secret,
        secret_file,
        heartbeat_interval_ms: _,
        store: _,
        recovery_max_active: _,
        recovery_max_bytes_per_sec: _,
        scrub_interval_secs: _,
        deep_scrub_interval_secs: _,
        metrics_addr,
        rpc_tls,
    } = &mut *osd;
    rpc_tls.get_or_insert_with(server_tls);
    device.get_or_insert_with(|| "/dev/sdb".into());
    device_size.get_or_insert(1 << 30);
    public_addr.get_or_insert_with(|| "10.1.0.21:6800".into());
    secret.get_or_insert_with(|| "ab".repeat(32));
    secret_file.get_or_insert_with(|| "/etc/cuttle/secret".into());
    metrics_addr.get_or_insert_with(|| "10.1.0.21:9420".into());

    let RgwConfig {
        listen: _,
        fsid: _,
        secret: _,
        monitors: _,
        region: _,
        dns_suffix,
        tls,
        auth: _,
        pools: _,
        index_shards: _,
        stripe_size: _,
        put_parallel: _,
        get_prefetch: _,
        buffer_budget_mib: _,
        inline_max_bytes: _,
        cache_ttl_ms: _,
        bootstrap_admin,
        gc_delay_secs: _,
        gc_interval_secs: _,
        metrics_addr,
        rpc_tls,
    } = &mut *rgw;
    rpc_tls.get_or_insert_with(client_tls);
    dns_suffix.get_or_insert_with(|| "s3.example.org".into());
    tls.get_or_insert_with(|| cuttle_rgw::config::TlsConfig {
        cert: "/etc/cuttle/tls/s3.crt".into(),
        key: "/etc/cuttle/tls/s3.key".into(),
    });
    bootstrap_admin.get_or_insert_with(|| cuttle_rgw::config::BootstrapUser {
        uid: "admin".into(),
        access_key: "CKEXAMPLEADMINKEY0001".into(),
        secret_key: "x".repeat(40),
    });
    metrics_addr.get_or_insert_with(|| "10.3.0.31:9430".parse().unwrap());

    let mut cli = cli;
    let ClusterConf {
        fsid: _,
        secret: _,
        monitors: _,
        rpc_tls,
    } = &mut cli;
    rpc_tls.get_or_insert_with(client_tls);

    let doc_path = root().join("docs").join("configuration.md");
    let doc = read(&doc_path);
    let mut missing = Vec::new();
    let mut all = BTreeSet::new();
    for (what, keys) in [
        (
            "cuttle-mon",
            serialized_keys("MonConfig", toml::to_string(&*mon)),
        ),
        (
            "cuttle-osd",
            serialized_keys("OsdConfig", toml::to_string(&*osd)),
        ),
        (
            "cuttle-rgw",
            serialized_keys("RgwConfig", toml::to_string(&*rgw)),
        ),
        (
            "cuttle.toml",
            serialized_keys("ClusterConf", toml::to_string(&cli)),
        ),
    ] {
        for path in &keys {
            let (table, key) = path.rsplit_once('.').unwrap_or(("", path));
            if !doc.contains(&format!("`{key}`")) {
                missing.push(format!("{what}: key `{path}`"));
            }
            if !table.is_empty() && !doc.contains(&format!("`[{table}]`")) {
                missing.push(format!("{what}: table `[{table}]`"));
            }
        }
        all.extend(keys.into_iter().map(|k| format!("{what}: {k}")));
    }
    // The walk saw the nested tables of each daemon.
    for expected in [
        "cuttle-mon: timing.write_timeout_secs",
        "cuttle-osd: store.backend",
        "cuttle-rgw: tls.key",
        "cuttle-mon: rpc_tls.key",
        "cuttle-osd: rpc_tls.cert",
        "cuttle-rgw: rpc_tls.ca",
        "cuttle.toml: rpc_tls.ca",
        "cuttle-rgw: auth.max_skew_secs",
        "cuttle-rgw: pools.data",
        "cuttle-rgw: bootstrap_admin.secret_key",
        "cuttle.toml: monitors",
    ] {
        assert!(all.contains(expected), "{expected} not serialized: {all:?}");
    }
    missing.dedup();
    assert!(
        missing.is_empty(),
        "{} does not name these configuration keys (as `key`):\n{}",
        doc_path.display(),
        missing.join("\n")
    );
}
