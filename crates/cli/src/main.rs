//! `cuttle`: the operator's command line for a Cuttle cluster.
//!
//! ```text
//! cuttle [-c FILE] [--format table|json] [--timeout SECS] <command>
//!   status | health [detail] | mon stat
//!   osd tree | osd out N | osd in N | osd down N | osd add [--host H] [--size S]
//!   osd purge N --yes-i-really-mean-it
//!   pg ls [--state S] [--pool P] | pg query|scrub|deep-scrub|repair PGID
//!   pool create NAME (--ec K+M | --replicated N) [--pg-num N] [--failure-domain host|osd] [--min-size N]
//!   pool ls | pool get NAME | pool rm NAME --yes-i-really-mean-it
//!   cluster up [--dir DIR] [--mons N] [--rgws N] | cluster down [--dir DIR] | cluster status [--dir DIR]
//!   user create --uid U [--display-name N] [--email E] [--access-key A --secret-key S]
//!   user ls | user info|rm|suspend|enable --uid U
//!   user key add --uid U [--access-key A --secret-key S] | user key rm --uid U --access-key A
//!   user token create|ls --uid U | user token revoke --uid U --id ID
//!   gc list [--max N] | gc process [--include-all]
//!   gc orphans [--min-age SECS] [--include-unknown-age] [--remove]
//! ```
//!
//! Layout: this file parses arguments and dispatches; [`ctx`] resolves the
//! configuration and phrases errors; [`output`] renders tables and JSON; one `cmd_*`
//! module per command family. Results go to stdout (a table, or one JSON document with
//! `--format json`); failures print one `error: <what>: <why> (<code>)` line on stderr
//! and exit with 1 (usage errors exit with 2, as clap does).
//!
//! It talks to the cluster through the client library (and `cuttle-rgw`'s stores for
//! `user` and `gc`, `cuttle-cluster` for local clusters); it must not depend on the
//! OSD or monitor daemon crates or the object store: everything it does goes over the
//! same RPCs as any client.

mod cmd_bench;
mod cmd_cluster;
mod cmd_gc;
mod cmd_object;
mod cmd_osd;
mod cmd_pg;
mod cmd_pool;
mod cmd_status;
mod cmd_user;
mod ctx;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{ArgGroup, Args, Parser, Subcommand};
use cuttle_proto as pb;
use cuttle_types::OsdId;

use crate::cmd_pool::{CreateSpec, EcSpec, FailureDomainArg};
use crate::ctx::Ctx;

/// mimalloc instead of glibc's malloc: under sustained 4 MiB traffic glibc's arenas kept
/// 265–325 MiB resident per OSD against 183–207 MiB with mimalloc, which was also faster
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::output::Format;

#[derive(Debug, Parser)]
#[command(
    name = "cuttle",
    version,
    about = "Operate a Cuttle cluster",
    arg_required_else_help = true
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
struct Global {
    /// Cluster configuration file [default: $CUTTLE_CONF, else ./cluster/cuttle.toml]
    #[arg(
        short = 'c',
        long = "conf",
        value_name = "FILE",
        global = true,
        help_heading = "Global options"
    )]
    conf: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Table, global = true, help_heading = "Global options")]
    format: Format,
    /// Deadline of each cluster call, in seconds (retries across monitors included)
    #[arg(long, value_name = "SECS", default_value_t = 15, global = true, help_heading = "Global options",
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout: u64,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Health, monitors, OSDs, pools, placement groups and usage
    Status,
    /// Health status and one line per check
    Health {
        #[command(subcommand)]
        detail: Option<HealthCommand>,
    },
    /// Monitors
    #[command(subcommand, arg_required_else_help = true)]
    Mon(MonCommand),
    /// OSDs
    #[command(subcommand, arg_required_else_help = true)]
    Osd(OsdCommand),
    /// Pools
    #[command(subcommand, arg_required_else_help = true)]
    Pool(PoolCommand),
    /// Placement groups: states, recovery, scrub and repair
    #[command(subcommand, arg_required_else_help = true)]
    Pg(PgCommand),
    /// A local cluster of daemon processes in one directory
    #[command(subcommand, arg_required_else_help = true)]
    Cluster(ClusterCommand),
    /// S3 users, their access keys and tokens
    #[command(subcommand, arg_required_else_help = true)]
    User(UserCommand),
    /// Single objects of a pool (put, get, stat, ls, rm)
    #[command(subcommand, arg_required_else_help = true)]
    Object(ObjectCommand),
    /// S3 gateways' queue of replaced object data awaiting removal
    #[command(subcommand, arg_required_else_help = true)]
    Gc(GcCommand),
    /// Throughput benchmark of a pool, like `rados bench`
    Bench {
        /// Pool to benchmark
        pool: String,
        /// write: new objects; seq/rand: read back the last `write --no-cleanup`;
        /// cleanup: remove what it left
        #[arg(value_enum)]
        mode: cmd_bench::Mode,
        /// Run time in seconds
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Operations in flight
        #[arg(long, short = 't', default_value_t = 16)]
        concurrency: usize,
        /// Object size (write), bytes or with K/M/G suffix
        #[arg(long, short = 'b', default_value = "4M", value_parser = parse_size)]
        object_size: u64,
        /// Keep the written objects (for seq and rand)
        #[arg(long)]
        no_cleanup: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ObjectCommand {
    /// Store a file (or `-` for stdin) as an object
    Put {
        /// Pool
        pool: String,
        /// Object name
        name: String,
        /// File to read, `-` for stdin
        file: PathBuf,
    },
    /// Write an object to a file (or stdout)
    Get {
        /// Pool
        pool: String,
        /// Object name
        name: String,
        /// File to write, `-` (default) for stdout
        #[arg(default_value = "-")]
        file: PathBuf,
    },
    /// Size, version and attributes of an object
    Stat {
        /// Pool
        pool: String,
        /// Object name
        name: String,
    },
    /// Every object of a pool
    Ls {
        /// Pool
        pool: String,
    },
    /// Delete an object
    Rm {
        /// Pool
        pool: String,
        /// Object name
        name: String,
    },
}

/// Parses a byte count with an optional binary suffix (K, M, G, T).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M, G or T)")),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 4096, 4M, 2G)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[derive(Debug, Subcommand)]
enum HealthCommand {
    /// Also show each check's detail lines and remedy
    Detail,
}

#[derive(Debug, Subcommand)]
enum MonCommand {
    /// Each monitor's raft id, address, leadership and reachability; term and leader
    Stat,
}

#[derive(Debug, Subcommand)]
enum OsdCommand {
    /// Hosts and their OSDs with weight, up/down, in/out and address
    Tree,
    /// Mark an OSD out: its placement groups move elsewhere
    Out(OsdArg),
    /// Mark an OSD in again
    In(OsdArg),
    /// Mark an OSD down (it marks itself up again when it next boots)
    Down(OsdArg),
    /// Add an OSD to the local cluster (own simulated host and device) and start it
    Add {
        /// Cluster directory
        #[arg(long, value_name = "DIR", default_value = cmd_cluster::DEFAULT_DIR)]
        dir: PathBuf,
        /// Simulated host [default: hostN for osd.N]
        #[arg(long)]
        host: Option<String>,
        /// Device size [default: that of the existing OSDs]
        #[arg(long, value_name = "BYTES", value_parser = parse_size)]
        size: Option<u64>,
    },
    /// Remove a down, out OSD from the map for good
    Purge {
        /// OSD id (3 or osd.3)
        #[arg(value_name = "ID", value_parser = cmd_osd::parse_osd_id)]
        id: OsdId,
        /// Confirm that the OSD and whatever it still holds are to be forgotten
        #[arg(long = "yes-i-really-mean-it")]
        yes: bool,
    },
    /// Write to one OSD's own store (no network) and report its throughput
    Bench {
        /// OSD id (3 or osd.3)
        #[arg(value_name = "ID", value_parser = cmd_osd::parse_osd_id)]
        id: OsdId,
        /// Total bytes to write
        #[arg(long, default_value = "1G", value_parser = parse_size)]
        total: u64,
        /// Bytes per object
        #[arg(long, default_value = "4M", value_parser = parse_size)]
        object_size: u64,
        /// Writes in flight
        #[arg(long, default_value_t = 16)]
        concurrency: u32,
    },
}

#[derive(Debug, Subcommand)]
enum PgCommand {
    /// Every PG with its state, members, recovery and scrub times
    Ls {
        /// Only PGs whose state has these flags, e.g. degraded or active+clean
        #[arg(long, value_name = "STATE")]
        state: Option<String>,
        /// Only PGs of this pool
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
    },
    /// The primary's view of one PG
    Query(PgArg),
    /// Compare object lists, sizes and versions across the PG's members now
    Scrub(PgArg),
    /// Read every block of the PG, checking checksums and EC parity, now
    DeepScrub(PgArg),
    /// Deep scrub and rewrite damaged copies from good ones
    Repair(PgArg),
}

#[derive(Debug, Args)]
struct PgArg {
    /// PG id as POOL.SEEDHEX, e.g. 2.1f
    #[arg(value_name = "PGID")]
    pg: cuttle_types::PgId,
}

#[derive(Debug, Args)]
struct OsdArg {
    /// OSD id (3 or osd.3)
    #[arg(value_name = "ID", value_parser = cmd_osd::parse_osd_id)]
    id: OsdId,
}

#[derive(Debug, Subcommand)]
enum PoolCommand {
    /// Create a pool (exactly one of --ec or --replicated)
    Create(CreateArgs),
    /// List pools
    Ls,
    /// Show one pool
    Get {
        /// Pool name
        name: String,
    },
    /// Remove a pool and all of its data
    Rm {
        /// Pool name
        name: String,
        /// Confirm that the pool's data is to be destroyed
        #[arg(long = "yes-i-really-mean-it")]
        yes: bool,
    },
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("redundancy").required(true).args(["ec", "replicated"])))]
struct CreateArgs {
    /// Pool name (1 to 64 characters from a-z A-Z 0-9 . _ -)
    name: String,
    /// Erasure-coded: K data chunks plus M parity chunks, e.g. 2+1
    #[arg(long, value_name = "K+M")]
    ec: Option<EcSpec>,
    /// Replicated: N full copies
    #[arg(long, value_name = "N")]
    replicated: Option<u32>,
    /// Number of placement groups
    #[arg(long, value_name = "N", default_value_t = 32)]
    pg_num: u32,
    /// Unit over which a placement group's members must be distinct
    #[arg(long, value_enum, default_value_t = FailureDomainArg::Host)]
    failure_domain: FailureDomainArg,
    /// Fewest members that accept writes [default: the monitor's: k+1, or size-size/2]
    #[arg(long, value_name = "N")]
    min_size: Option<u32>,
}

#[derive(Debug, Subcommand)]
enum GcCommand {
    /// Queued data: when it is due, which bucket and key it belonged to, its size
    List {
        /// Most entries shown per queue shard
        #[arg(long, default_value_t = 1000)]
        max: u32,
    },
    /// Remove the data of due entries now
    Process {
        /// Also entries not yet due (reads of the replaced data may then fail)
        #[arg(long)]
        include_all: bool,
    },
    /// Find object data nothing refers to (left by gateways that died mid-upload)
    Orphans {
        /// Only data at least this old, in seconds; younger data may belong to an
        /// upload in progress
        #[arg(long, value_name = "SECS", default_value_t = 86_400)]
        min_age: u64,
        /// Remove the orphans' stripes (only those listed as orphans)
        #[arg(long)]
        remove: bool,
        /// Also count data whose id tells no age (written before ids carried a time)
        #[arg(long)]
        include_unknown_age: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user with one access key (printed, with its secret)
    Create {
        #[command(flatten)]
        uid: UidArg,
        /// Display name [default: the uid]
        #[arg(long, default_value = "")]
        display_name: String,
        /// E-mail address
        #[arg(long, default_value = "")]
        email: String,
        #[command(flatten)]
        cred: CredArgs,
    },
    /// List users
    Ls,
    /// A user with its keys, token ids and buckets
    Info(UidArg),
    /// Remove a user (it must own no buckets), its keys and tokens
    Rm(UidArg),
    /// Refuse the user's requests until `enable`
    Suspend(UidArg),
    /// Accept a suspended user's requests again
    Enable(UidArg),
    /// Access keys
    #[command(subcommand, arg_required_else_help = true)]
    Key(UserKeyCommand),
    /// Tokens (used as the access key with any secret, where the gateway allows it)
    #[command(subcommand, arg_required_else_help = true)]
    Token(UserTokenCommand),
}

#[derive(Debug, Args)]
struct UidArg {
    /// User id, lower-case `name_org` style (e.g. alice_physics)
    #[arg(long, value_name = "UID")]
    uid: String,
}

#[derive(Debug, Args)]
struct CredArgs {
    /// Use this access key instead of a generated one
    #[arg(long, value_name = "KEY", requires = "secret_key")]
    access_key: Option<String>,
    /// Use this secret key instead of a generated one
    #[arg(long, value_name = "SECRET", requires = "access_key")]
    secret_key: Option<String>,
}

impl From<CredArgs> for cuttle_rgw::NewCredential {
    fn from(c: CredArgs) -> Self {
        cuttle_rgw::NewCredential {
            access_key: c.access_key,
            secret_key: c.secret_key,
        }
    }
}

#[derive(Debug, Subcommand)]
enum UserKeyCommand {
    /// Add an access key (printed, with its secret)
    Add {
        #[command(flatten)]
        uid: UidArg,
        #[command(flatten)]
        cred: CredArgs,
    },
    /// Remove an access key
    Rm {
        #[command(flatten)]
        uid: UidArg,
        /// The access key
        #[arg(long, value_name = "KEY")]
        access_key: String,
    },
}

#[derive(Debug, Subcommand)]
enum UserTokenCommand {
    /// Issue a token (printed once; stored hashed)
    Create(UidArg),
    /// List a user's token ids
    Ls(UidArg),
    /// Revoke a token by id
    Revoke {
        #[command(flatten)]
        uid: UidArg,
        /// Token id (from `token ls`)
        #[arg(long, value_name = "ID")]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Create (first time) or restart the local cluster and wait for its quorum
    Up {
        /// Cluster directory
        #[arg(long, value_name = "DIR", default_value = cmd_cluster::DEFAULT_DIR)]
        dir: PathBuf,
        /// Monitors to create (a new cluster only)
        #[arg(long, value_name = "N", default_value_t = 3,
              value_parser = clap::value_parser!(u16).range(1..=7))]
        mons: u16,
        /// OSDs to create, each on its own simulated host (a new cluster only)
        #[arg(long, value_name = "N", default_value_t = 3,
              value_parser = clap::value_parser!(u16).range(0..=64))]
        osds: u16,
        /// Size of each OSD's file-backed device (a new cluster only)
        #[arg(long, value_name = "BYTES", default_value = "4G", value_parser = parse_size)]
        osd_size: u64,
        /// S3 gateways to run (more are added when the cluster has fewer)
        #[arg(long, value_name = "N", default_value_t = 1,
              value_parser = clap::value_parser!(u16).range(0..=16))]
        rgws: u16,
        /// Encrypt the cluster's gRPC and serve S3 over HTTPS, with a throw-away CA
        /// made in DIR/tls (a new cluster only; kept across restarts)
        #[arg(long)]
        tls: bool,
        /// Gateways this command adds store objects up to this size inline beside
        /// their index entry (`cuttle-rgw`'s `inline_max_bytes`; default 8K, 0: off)
        #[arg(long, value_name = "BYTES", value_parser = parse_size)]
        rgw_inline_max: Option<u64>,
    },
    /// Stop every daemon of the local cluster
    Down {
        /// Cluster directory [default: the directory of the cluster configuration
        /// (`--conf`, `$CUTTLE_CONF`), else ./cluster]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Which daemons of the local cluster run
    Status {
        /// Cluster directory [default: the directory of the cluster configuration
        /// (`--conf`, `$CUTTLE_CONF`), else ./cluster]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The local cluster directory: `--dir`, else the one holding the configuration file.
fn cluster_dir(dir: Option<PathBuf>, conf: &std::path::Path) -> PathBuf {
    dir.unwrap_or_else(|| match conf.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    })
}

async fn run(cli: Cli) -> Result<()> {
    let ctx = Ctx {
        conf: ctx::resolve_conf(cli.global.conf.as_deref(), std::env::var_os(ctx::CONF_ENV)),
        format: cli.global.format,
        timeout: Duration::from_secs(cli.global.timeout),
    };
    match cli.command {
        Command::Status => cmd_status::status(&ctx).await,
        Command::Health { detail } => cmd_status::health(&ctx, detail.is_some()).await,
        Command::Mon(MonCommand::Stat) => cmd_status::mon_stat(&ctx).await,
        Command::Osd(cmd) => match cmd {
            OsdCommand::Tree => cmd_osd::tree(&ctx).await,
            OsdCommand::Out(a) => cmd_osd::set_state(&ctx, a.id, pb::OsdStateChange::Out).await,
            OsdCommand::In(a) => cmd_osd::set_state(&ctx, a.id, pb::OsdStateChange::In).await,
            OsdCommand::Down(a) => cmd_osd::set_state(&ctx, a.id, pb::OsdStateChange::Down).await,
            OsdCommand::Purge { id, yes } => cmd_osd::purge(&ctx, id, yes).await,
            OsdCommand::Add { dir, host, size } => {
                cmd_osd::add(&ctx, &dir, host.as_deref(), size).await
            }
            OsdCommand::Bench {
                id,
                total,
                object_size,
                concurrency,
            } => cmd_bench::osd_bench(&ctx, id, total, object_size, concurrency).await,
        },
        Command::Pool(cmd) => match cmd {
            PoolCommand::Create(a) => {
                let spec = CreateSpec {
                    name: a.name,
                    ec: a.ec,
                    replicated: a.replicated,
                    pg_num: a.pg_num,
                    failure_domain: a.failure_domain,
                    min_size: a.min_size,
                };
                cmd_pool::create(&ctx, &spec).await
            }
            PoolCommand::Ls => cmd_pool::ls(&ctx).await,
            PoolCommand::Get { name } => cmd_pool::get(&ctx, &name).await,
            PoolCommand::Rm { name, yes } => cmd_pool::rm(&ctx, &name, yes).await,
        },
        Command::Pg(cmd) => {
            use cmd_pg::PgAction;
            match cmd {
                PgCommand::Ls { state, pool } => {
                    cmd_pg::ls(&ctx, pool.as_deref(), state.as_deref()).await
                }
                PgCommand::Query(a) => cmd_pg::command(&ctx, a.pg, PgAction::Query).await,
                PgCommand::Scrub(a) => cmd_pg::command(&ctx, a.pg, PgAction::Scrub).await,
                PgCommand::DeepScrub(a) => cmd_pg::command(&ctx, a.pg, PgAction::DeepScrub).await,
                PgCommand::Repair(a) => cmd_pg::command(&ctx, a.pg, PgAction::Repair).await,
            }
        }
        Command::Cluster(cmd) => match cmd {
            ClusterCommand::Up {
                dir,
                mons,
                osds,
                osd_size,
                rgws,
                tls,
                rgw_inline_max,
            } => {
                let sizes = cmd_cluster::UpSizes {
                    mons: usize::from(mons),
                    osds: usize::from(osds),
                    osd_size,
                    rgws: usize::from(rgws),
                    tls,
                    rgw_inline_max,
                };
                cmd_cluster::up(&ctx, &dir, sizes).await
            }
            ClusterCommand::Down { dir } => {
                cmd_cluster::down(&ctx, &cluster_dir(dir, &ctx.conf)).await
            }
            ClusterCommand::Status { dir } => {
                cmd_cluster::status(&ctx, &cluster_dir(dir, &ctx.conf)).await
            }
        },
        Command::User(cmd) => match cmd {
            UserCommand::Create {
                uid,
                display_name,
                email,
                cred,
            } => cmd_user::create(&ctx, &uid.uid, &display_name, &email, cred.into()).await,
            UserCommand::Ls => cmd_user::ls(&ctx).await,
            UserCommand::Info(u) => cmd_user::info(&ctx, &u.uid).await,
            UserCommand::Rm(u) => cmd_user::rm(&ctx, &u.uid).await,
            UserCommand::Suspend(u) => cmd_user::suspend(&ctx, &u.uid, true).await,
            UserCommand::Enable(u) => cmd_user::suspend(&ctx, &u.uid, false).await,
            UserCommand::Key(UserKeyCommand::Add { uid, cred }) => {
                cmd_user::key_add(&ctx, &uid.uid, cred.into()).await
            }
            UserCommand::Key(UserKeyCommand::Rm { uid, access_key }) => {
                cmd_user::key_rm(&ctx, &uid.uid, &access_key).await
            }
            UserCommand::Token(UserTokenCommand::Create(u)) => {
                cmd_user::token_create(&ctx, &u.uid).await
            }
            UserCommand::Token(UserTokenCommand::Ls(u)) => cmd_user::token_ls(&ctx, &u.uid).await,
            UserCommand::Token(UserTokenCommand::Revoke { uid, id }) => {
                cmd_user::token_revoke(&ctx, &uid.uid, &id).await
            }
        },
        Command::Gc(GcCommand::List { max }) => cmd_gc::list(&ctx, max).await,
        Command::Gc(GcCommand::Process { include_all }) => cmd_gc::process(&ctx, include_all).await,
        Command::Gc(GcCommand::Orphans {
            min_age,
            remove,
            include_unknown_age,
        }) => {
            let opts = cuttle_rgw::orphans::ScanOptions {
                min_age: Duration::from_secs(min_age),
                include_unknown_age,
            };
            cmd_gc::orphans(&ctx, &opts, remove).await
        }
        Command::Object(cmd) => match cmd {
            ObjectCommand::Put { pool, name, file } => {
                cmd_object::put(&ctx, &pool, &name, &file).await
            }
            ObjectCommand::Get { pool, name, file } => {
                cmd_object::get(&ctx, &pool, &name, &file).await
            }
            ObjectCommand::Stat { pool, name } => cmd_object::stat(&ctx, &pool, &name).await,
            ObjectCommand::Ls { pool } => cmd_object::ls(&ctx, &pool).await,
            ObjectCommand::Rm { pool, name } => cmd_object::rm(&ctx, &pool, &name).await,
        },
        Command::Bench {
            pool,
            mode,
            seconds,
            concurrency,
            object_size,
            no_cleanup,
        } => {
            let args = cmd_bench::BenchArgs {
                pool,
                mode,
                seconds,
                concurrency,
                object_size: usize::try_from(object_size)
                    .unwrap_or(usize::MAX)
                    .min(256 << 20),
                no_cleanup,
            };
            cmd_bench::bench(&ctx, args).await
        }
    }
}

/// Joins a multi-line message into one line, so every failure is a single `error:` line.
fn one_line(msg: &str) -> String {
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() -> ExitCode {
    cuttle_metrics::memory::tune_allocator();
    // Exits with 2 on usage errors, 0 for --help and --version.
    let cli = Cli::parse();
    // `cuttle bench` drives many operations at once and checks every byte it reads:
    // on one thread the client itself became the limit (like `rados bench`, it gets a
    // thread per core). Everything else is a handful of calls.
    let mut builder = if matches!(cli.command, Command::Bench { .. }) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let result = builder
        .enable_all()
        .build()
        .context("starting the async runtime")
        .and_then(|rt| rt.block_on(run(cli)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("cuttle").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cluster_down_and_status_default_to_the_configured_cluster() {
        let conf = std::path::Path::new("/srv/campus/cuttle.toml");
        assert_eq!(cluster_dir(None, conf), PathBuf::from("/srv/campus"));
        assert_eq!(
            cluster_dir(None, std::path::Path::new(ctx::DEFAULT_CONF)),
            PathBuf::from(cmd_cluster::DEFAULT_DIR)
        );
        assert_eq!(
            cluster_dir(Some(PathBuf::from("other")), conf),
            PathBuf::from("other")
        );
        assert_eq!(
            cluster_dir(None, std::path::Path::new("cuttle.toml")),
            PathBuf::from(".")
        );
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = parse(&[
            "pool",
            "ls",
            "-c",
            "/x.toml",
            "--format",
            "json",
            "--timeout",
            "3",
        ])
        .unwrap();
        assert_eq!(cli.global.conf, Some(PathBuf::from("/x.toml")));
        assert_eq!(cli.global.format, Format::Json);
        assert_eq!(cli.global.timeout, 3);
        let cli = parse(&["--format=json", "status"]).unwrap();
        assert_eq!(cli.global.format, Format::Json);
        assert_eq!(cli.global.timeout, 15);
        assert!(cli.global.conf.is_none());
        assert_eq!(
            parse(&["status", "--timeout", "0"]).unwrap_err().kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(
            parse(&["status", "--format", "yaml"]).unwrap_err().kind(),
            ErrorKind::InvalidValue
        );
    }

    #[test]
    fn pool_create_needs_exactly_one_redundancy() {
        let e = parse(&["pool", "create", "p"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        let e = parse(&["pool", "create", "p", "--ec", "2+1", "--replicated", "3"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
        let e = parse(&["pool", "create", "p", "--ec", "2+"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValueValidation);
        let e = parse(&[
            "pool",
            "create",
            "p",
            "--ec",
            "2+1",
            "--failure-domain",
            "rack",
        ])
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        let Command::Pool(PoolCommand::Create(a)) = parse(&["pool", "create", "p", "--ec", "4+2"])
            .unwrap()
            .command
        else {
            panic!("not pool create");
        };
        assert_eq!(a.ec, Some(EcSpec { k: 4, m: 2 }));
        assert_eq!(
            (a.pg_num, a.failure_domain, a.min_size),
            (32, FailureDomainArg::Host, None)
        );
    }

    #[test]
    fn subcommands_parse() {
        assert!(matches!(
            parse(&["health"]).unwrap().command,
            Command::Health { detail: None }
        ));
        assert!(matches!(
            parse(&["health", "detail"]).unwrap().command,
            Command::Health {
                detail: Some(HealthCommand::Detail)
            }
        ));
        assert!(matches!(
            parse(&["osd", "out", "osd.4"]).unwrap().command,
            Command::Osd(OsdCommand::Out(OsdArg { id: OsdId(4) }))
        ));
        assert_eq!(
            parse(&["osd", "in", "x"]).unwrap_err().kind(),
            ErrorKind::ValueValidation
        );
        assert!(matches!(
            parse(&["pool", "rm", "p"]).unwrap().command,
            Command::Pool(PoolCommand::Rm { yes: false, .. })
        ));
        let Command::Cluster(ClusterCommand::Up {
            dir,
            mons,
            osds,
            osd_size,
            rgws,
            tls,
            rgw_inline_max,
        }) = parse(&["cluster", "up"]).unwrap().command
        else {
            panic!("not cluster up");
        };
        assert_eq!(
            (dir, mons, osds, osd_size, rgws, tls, rgw_inline_max),
            (PathBuf::from("cluster"), 3, 3, 4 << 30, 1, false, None)
        );
        assert!(matches!(
            parse(&["cluster", "up", "--rgw-inline-max", "8K"])
                .unwrap()
                .command,
            Command::Cluster(ClusterCommand::Up {
                rgw_inline_max: Some(8192),
                ..
            })
        ));
        assert!(matches!(
            parse(&["cluster", "up", "--tls"]).unwrap().command,
            Command::Cluster(ClusterCommand::Up { tls: true, .. })
        ));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("4X").is_err());
        assert!(parse_size("lots").is_err());
        assert_eq!(
            parse(&["cluster", "up", "--mons", "0"]).unwrap_err().kind(),
            ErrorKind::ValueValidation
        );
    }
}
