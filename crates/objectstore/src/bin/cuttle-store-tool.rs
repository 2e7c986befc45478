//! `cuttle-store-tool`: offline operations on one OSD's object store.
//!
//! - `mkfs`: format a data device (creating a file device of a given size);
//! - `fsck [--deep]`: check space invariants and, deep, every block's checksum;
//! - `ls [COLLECTION]`: list collections or a collection's objects;
//! - `torture`: run the deterministic crash-test workload until killed, printing one
//!   `ack PAIR VERSION` line per durable transaction (used by the crash test).
//!
//! The store must not be in use by an OSD while this runs.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use cuttle_objectstore::{
    CollectionId, DiskStore, MkfsOptions, ObjectStore, OpenOptions, StoreConfig, StoreError,
    Transaction, torture,
};
use uuid::Uuid;

#[derive(Parser, Debug)]
#[command(
    name = "cuttle-store-tool",
    about = "Offline tool for a Cuttle OSD object store"
)]
struct Cli {
    /// Data device: a block device or a file.
    #[arg(long, global = true, default_value = "block")]
    device: PathBuf,
    /// Metadata (RocksDB) directory.
    #[arg(long, global = true, default_value = "db")]
    meta: PathBuf,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Format a device.
    Mkfs {
        /// OSD id to record.
        #[arg(long, default_value_t = 0)]
        osd_id: u32,
        /// Cluster fsid to record (random when omitted).
        #[arg(long)]
        fsid: Option<Uuid>,
        /// Create the device as a file of this many bytes if it does not exist.
        #[arg(long)]
        size: Option<u64>,
        /// Overwrite an existing store.
        #[arg(long)]
        force: bool,
    },
    /// Check the store's consistency.
    Fsck {
        /// Also read every block and verify its checksum.
        #[arg(long)]
        deep: bool,
        /// Output format.
        #[arg(long, default_value = "table")]
        format: Format,
    },
    /// List collections, or the objects of one collection.
    Ls {
        /// Collection to list.
        collection: Option<String>,
    },
    /// An object's omap: `key (UTF-8, lossy)  value length  crc32c of the value (hex)`
    /// per line, in key order.
    Omap {
        /// Collection.
        collection: String,
        /// Object name.
        object: String,
    },
    /// Where an object's blocks are on the device: `logical device length` per line.
    Map {
        /// Collection.
        collection: String,
        /// Object name.
        object: String,
    },
    /// Run the crash-test workload until killed.
    Torture {
        /// Workload seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of object pairs.
        #[arg(long, default_value_t = 16)]
        pairs: u32,
        /// Concurrent writers.
        #[arg(long, default_value_t = 8)]
        writers: u32,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(cli))
}

async fn open(cli: &Cli) -> Result<DiskStore> {
    DiskStore::open(
        &cli.device,
        &cli.meta,
        &OpenOptions::default(),
        &StoreConfig::default(),
    )
    .await
    .with_context(|| format!("opening store on {}", cli.device.display()))
}

async fn run(cli: Cli) -> Result<()> {
    match &cli.cmd {
        Cmd::Mkfs {
            osd_id,
            fsid,
            size,
            force,
        } => {
            let opts = MkfsOptions {
                osd_id: *osd_id,
                fsid: fsid.unwrap_or_else(Uuid::new_v4),
                device_uuid: Uuid::new_v4(),
                create_size: *size,
                force: *force,
            };
            let store =
                DiskStore::mkfs(&cli.device, &cli.meta, &opts, &StoreConfig::default()).await?;
            let sb = *store.superblock();
            store.close().await;
            println!(
                "formatted {}: osd.{} of cluster {}, {} bytes",
                cli.device.display(),
                sb.osd_id,
                sb.fsid,
                sb.device_size
            );
        }
        Cmd::Fsck { deep, format } => {
            let store = open(&cli).await?;
            let report = store.fsck(*deep).await?;
            store.close().await;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
                Format::Table => {
                    println!(
                        "objects {}  logical {} B  referenced {} B  free {} B  deep {}",
                        report.objects,
                        report.logical_bytes,
                        report.referenced_bytes,
                        report.free_bytes,
                        report.deep
                    );
                    for issue in &report.issues {
                        println!("ISSUE {}", serde_json::to_string(issue)?);
                    }
                    println!(
                        "{}",
                        if report.is_clean() {
                            "clean"
                        } else {
                            "INCONSISTENT"
                        }
                    );
                }
            }
            if !report.is_clean() {
                std::process::exit(1);
            }
        }
        Cmd::Omap { collection, object } => {
            let store = open(&cli).await?;
            let c = CollectionId::new(collection.as_str())?;
            let mut after: Option<bytes::Bytes> = None;
            loop {
                let page = store
                    .omap_list(&c, object, b"", after.as_deref(), None, 1000)
                    .await?;
                for (k, v) in &page.items {
                    let key = String::from_utf8_lossy(k);
                    println!("{key}\t{}\t{:08x}", v.len(), crc32c::crc32c(v));
                }
                if !page.more {
                    break;
                }
                after = page.items.last().map(|(k, _)| k.clone());
            }
            store.close().await;
        }
        Cmd::Ls { collection } => {
            let store = open(&cli).await?;
            match collection {
                None => {
                    for c in store.list_collections().await? {
                        println!("{c}");
                    }
                }
                Some(c) => {
                    let c = CollectionId::new(c.as_str())?;
                    let mut after: Option<String> = None;
                    loop {
                        let page = store.list(&c, after.as_deref(), 1000).await?;
                        for name in &page.items {
                            let st = store.stat(&c, name).await?;
                            println!("{name}\t{}", st.size);
                        }
                        if !page.more {
                            break;
                        }
                        after = page.items.last().cloned();
                    }
                }
            }
            store.close().await;
        }
        Cmd::Map { collection, object } => {
            let store = open(&cli).await?;
            let c = CollectionId::new(collection.as_str())?;
            for (logical, device, len) in store.object_map(&c, object).await? {
                println!("{logical} {device} {len}");
            }
            store.close().await;
        }
        Cmd::Torture {
            seed,
            pairs,
            writers,
        } => torture_loop(&cli, *seed, *pairs, *writers).await?,
    }
    Ok(())
}

/// Current version and lengths of a pair, read back from the store.
async fn pair_state(store: &DiskStore, pair: u32) -> Result<(u64, [u64; 2])> {
    let c = torture::collection();
    let mut v = None;
    let mut lens = [0u64; 2];
    for (i, obj) in [2 * pair, 2 * pair + 1].into_iter().enumerate() {
        let name = torture::object_name(obj);
        match store.stat(&c, &name).await {
            Ok(st) => {
                lens[i] = st.size;
                let attrs = store.get_attrs(&c, &name).await?;
                let this = attrs
                    .get("v")
                    .and_then(|t| torture::decode_version(t))
                    .context("object without version tag")?;
                if v.is_some_and(|x| x != this) {
                    bail!("pair {pair} is torn: versions differ");
                }
                v = Some(this);
            }
            Err(StoreError::NoSuchObject { .. }) => {
                if v.is_some_and(|x| x != 0) {
                    bail!("pair {pair} is torn: one object missing");
                }
                v = Some(0);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((v.unwrap_or(0), lens))
}

async fn torture_loop(cli: &Cli, seed: u64, pairs: u32, writers: u32) -> Result<()> {
    let store = Arc::new(open(cli).await?);
    let c = torture::collection();
    if !store.collection_exists(&c).await? {
        let mut t = Transaction::new();
        t.create_collection(&c);
        store.queue_transaction(t).await?;
    }
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    {
        let mut o = out
            .lock()
            .map_err(|_| anyhow::anyhow!("stdout lock poisoned"))?;
        writeln!(o, "ready")?;
        o.flush()?;
    }
    let mut tasks = Vec::new();
    let writers = writers.max(1);
    for w in 0..writers {
        let mine: Vec<u32> = (0..pairs).filter(|p| p % writers == w).collect();
        tasks.push(tokio::spawn(writer(store.clone(), out.clone(), seed, mine)));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Advances each of `pairs` one version at a time, forever, reporting every ack.
async fn writer(
    store: Arc<DiskStore>,
    out: Arc<std::sync::Mutex<std::io::Stdout>>,
    seed: u64,
    pairs: Vec<u32>,
) -> Result<()> {
    let mut state = Vec::new();
    for &p in &pairs {
        state.push((p, pair_state(&store, p).await?));
    }
    if state.is_empty() {
        return Ok(());
    }
    loop {
        for (p, (v, lens)) in state.iter_mut() {
            let next = *v + 1;
            let t = torture::pair_transaction(seed, *p, next, *lens);
            store.queue_transaction(t).await?;
            *v = next;
            *lens = pair_state(&store, *p).await?.1;
            let mut o = out
                .lock()
                .map_err(|_| anyhow::anyhow!("stdout lock poisoned"))?;
            writeln!(o, "ack {p} {next}")?;
            o.flush()?;
        }
    }
}
