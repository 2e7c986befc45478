//! `cuttle-rgw`: runs one S3 gateway.
//!
//! `cuttle-rgw --config rgw.0.toml [--listen HOST:PORT]`; flags override the file.
//! Stops cleanly on SIGTERM or Ctrl-C (requests in flight finish first).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use cuttle_rgw::{RgwConfig, Server};
use tokio_util::sync::CancellationToken;

/// mimalloc instead of glibc's malloc: under sustained 4 MiB traffic glibc's arenas kept
/// 265–325 MiB resident per OSD against 183–207 MiB with mimalloc, which was also faster
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "cuttle-rgw", about = "Cuttle S3 gateway")]
struct Args {
    /// Configuration file (TOML).
    #[arg(long, short)]
    config: PathBuf,
    /// Override the listen address.
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    /// Log filter (`RUST_LOG` also works). s3s's own logging is off by default: it
    /// logs every client error at ERROR level.
    #[arg(long, default_value = "info,s3s=off")]
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
    let mut config = RgwConfig::load(&args.config)?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        // Freed buffers go back to the OS, so the resident size falls after a burst.
        cuttle_metrics::memory::start_trimmer();
        let stop = CancellationToken::new();
        let signals = {
            let stop = stop.clone();
            async move {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM: stopping"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
                }
                stop.cancel();
                Ok::<_, std::io::Error>(())
            }
        };
        let signals = tokio::spawn(signals);
        let server = Server::build(&config, &stop)
            .await
            .context("starting the gateway")?;
        server.run(stop).await;
        signals.abort();
        tracing::info!("stopped");
        Ok(())
    })
}
