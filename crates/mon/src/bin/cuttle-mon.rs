//! `cuttle-mon`: runs one monitor.
//!
//! `cuttle-mon --config mon.a.toml [--name a] [--data-dir DIR] [--listen HOST:PORT]`.
//! Flags override the file. Stops cleanly on SIGTERM or Ctrl-C.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use cuttle_mon::MonConfig;

/// mimalloc instead of glibc's malloc: under sustained 4 MiB traffic glibc's arenas kept
/// 265–325 MiB resident per OSD against 183–207 MiB with mimalloc, which was also faster
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "cuttle-mon", about = "Cuttle monitor daemon")]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short)]
    config: PathBuf,
    /// Override the monitor's name.
    #[arg(long)]
    name: Option<String>,
    /// Override the data directory.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Override the listen address.
    #[arg(long)]
    listen: Option<String>,
    /// Log filter (e.g. `info`, `cuttle_mon=debug`); `RUST_LOG` also works.
    #[arg(long, default_value = "info")]
    log: String,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

fn main() -> Result<()> {
    cuttle_metrics::memory::tune_allocator();
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log));
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let mut config = MonConfig::load(&args.config)?;
    if let Some(n) = args.name {
        config.name = n;
    }
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(l) = args.listen {
        config.listen = Some(l);
    }
    config.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Freed buffers go back to the OS, so the resident size falls after a burst.
        cuttle_metrics::memory::start_trimmer();
        let mon = cuttle_mon::start(config)
            .await
            .context("starting the monitor")?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: stopping"),
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
            _ = mon.stopped() => tracing::error!("monitor stopped on its own"),
        }
        mon.shutdown().await;
        Ok(())
    })
}
