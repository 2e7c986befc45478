//! Daemon processes: finding binaries, starting them detached (own session, output to
//! a log file, pid in a pid file), checking liveness, and stopping them.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::ClusterError;

/// Directory holding the daemon binaries: `CUTTLE_BIN_DIR`, else the directory of the
/// running executable (its parent when that is cargo's `deps` directory).
pub fn bin_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CUTTLE_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

/// Path of a daemon binary, checked to exist.
pub fn binary(dir: &Path, name: &str) -> Result<PathBuf, ClusterError> {
    let p = dir.join(name);
    if p.is_file() {
        Ok(p)
    } else {
        Err(ClusterError::MissingBinary { path: p })
    }
}

/// Starts `program args` detached from our session, appending output to `log`, and
/// records its pid in `pidfile`.
pub fn spawn(
    program: &Path,
    args: &[String],
    log: &Path,
    pidfile: &Path,
) -> Result<Child, ClusterError> {
    let io = |what, path: &Path| {
        let path = path.to_path_buf();
        move |source| ClusterError::Io { what, path, source }
    };
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io("opening log", log))?;
    let err = out.try_clone().map_err(io("opening log", log))?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    // SAFETY: setsid is async-signal-safe; it detaches the daemon from our terminal so
    // it survives the CLI and ignores the CLI's Ctrl-C.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(io("starting", program))?;
    std::fs::write(pidfile, format!("{}\n", child.id())).map_err(io("writing", pidfile))?;
    Ok(child)
}

/// The pid in a pid file, if the file exists and parses.
pub fn read_pid(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) process running `binary_name`.
pub fn alive(pid: i32, binary_name: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z') | Some('X') | None) {
        return false;
    }
    // An empty command line is a process that is exiting: its memory is gone but its
    // files — listening sockets included — may still be open (the kernel releases the
    // address space before the files), so it still counts as alive.
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| {
            let argv0 = c.split(|&b| b == 0).next().unwrap_or_default();
            c.is_empty() || String::from_utf8_lossy(argv0).ends_with(binary_name)
        })
        .unwrap_or(false)
}

/// Sends `signal` to `pid`.
pub fn signal(pid: i32, signal: i32) {
    // SAFETY: plain syscall.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Stops a daemon: SIGTERM, then SIGKILL after `grace`. Returns once it is gone.
pub fn stop(pid: i32, binary_name: &str, grace: Duration) {
    if !alive(pid, binary_name) {
        return;
    }
    signal(pid, libc::SIGTERM);
    let start = Instant::now();
    while alive(pid, binary_name) {
        if start.elapsed() > grace {
            signal(pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
        if start.elapsed() > grace + Duration::from_secs(10) {
            break;
        }
    }
}

/// A free TCP port on 127.0.0.1 for a daemon to listen on later.
///
/// Chosen below the kernel's ephemeral range (`ip_local_port_range`) when possible:
/// a port-0 probe hands out an ephemeral port, which any outgoing connection (our own
/// daemons make many) may take before the daemon binds it. Ports handed out by this
/// process are never handed out twice.
pub fn free_port() -> Result<u16, ClusterError> {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    const LOWEST: u16 = 10_000;
    if ephemeral_low > LOWEST + 1000 {
        let span = u64::from(ephemeral_low - LOWEST);
        // Start at a pseudo-random point (uuid randomness) so that concurrent test
        // processes rarely probe the same ports.
        let mut seed = uuid::Uuid::new_v4().as_u128() as u64;
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..256 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let port = LOWEST + ((seed >> 33) % span) as u16;
            if handed.contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                handed.push(port);
                return Ok(port);
            }
        }
    }
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| ClusterError::Io {
        what: "probing a free port on",
        path: PathBuf::from("127.0.0.1"),
        source,
    })?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|source| ClusterError::Io {
            what: "probing a free port on",
            path: PathBuf::from("127.0.0.1"),
            source,
        })
}

/// Whether something listens on `127.0.0.1:port`.
pub fn port_in_use(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}
