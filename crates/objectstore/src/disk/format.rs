//! Creating (`mkfs`) and opening a disk store: superblock checks, RocksDB setup, and
//! rebuilding the in-memory state (collections, nid counter, allocator) at open.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rocksdb::{BlockBasedOptions, Cache, DB, Options, WriteOptions};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

use super::cache::OnodeCache;
use super::gate::ReadGate;
use super::read::blocking;
use super::{Core, DiskStore, Shared, StoreConfig, commit, keys};
use crate::device::{AlignedBuf, BLOCK_SIZE, BlockDevice, DeviceOptions, open_device};
use crate::error::{StoreError, StoreResult};
use crate::freelist;
use crate::ids::CollectionId;
use crate::superblock::{DATA_START, FORMAT_VERSION, Superblock};

/// Smallest usable data area.
pub const MIN_DATA_BYTES: u64 = 16 << 20;

/// What `mkfs` writes into the superblock.
#[derive(Debug, Clone)]
pub struct MkfsOptions {
    /// OSD that will own the device.
    pub osd_id: u32,
    /// Cluster the device joins.
    pub fsid: Uuid,
    /// Identity of this device (the OSD's uuid).
    pub device_uuid: Uuid,
    /// Create the device as a file of this size when the path does not exist.
    pub create_size: Option<u64>,
    /// Format even if the device or metadata directory already holds a store.
    pub force: bool,
}

/// What `open` expects to find; `None` accepts any value.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Cluster the device must belong to.
    pub fsid: Option<Uuid>,
    /// OSD the device must belong to.
    pub osd_id: Option<u32>,
}

fn db_options(config: &StoreConfig, create: bool) -> Options {
    let mut opts = Options::default();
    opts.create_if_missing(create);
    opts.set_merge_operator_associative(freelist::MERGE_OPERATOR_NAME, freelist::xor_merge);
    opts.set_write_buffer_size(config.db_write_buffer_bytes);
    opts.set_max_write_buffer_number(2);
    opts.set_max_background_jobs(2);
    opts.set_keep_log_file_num(3);
    opts.set_max_log_file_size(8 << 20);
    opts.set_max_total_wal_size(4 * config.db_write_buffer_bytes as u64);
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&Cache::new_lru_cache(config.db_cache_bytes));
    table.set_bloom_filter(10.0, false);
    opts.set_block_based_table_factory(&table);
    opts
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn open_dev(
    path: &Path,
    config: &StoreConfig,
    create_size: Option<u64>,
) -> StoreResult<Arc<dyn BlockDevice>> {
    let opts = DeviceOptions {
        backend: config.backend,
        create_size,
        queue_depth: config.queue_depth,
    };
    let path = path.to_path_buf();
    blocking(move || Ok(open_device(&path, &opts)?)).await
}

async fn read_block0(dev: &Arc<dyn BlockDevice>) -> StoreResult<AlignedBuf> {
    Ok(dev.read(0, AlignedBuf::zeroed(BLOCK_SIZE)).await?)
}

fn meta_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::MetaDir {
        path: path.to_path_buf(),
        source,
    }
}

impl DiskStore {
    /// Formats a device (creating the file if asked) and its metadata directory, then
    /// opens the new, empty store. Refuses, unless `force` is set, a device or directory
    /// that already holds a store, and a device whose first block is not blank (another
    /// file system, a partition table: somebody's data).
    pub async fn mkfs(
        device: &Path,
        meta_dir: &Path,
        opts: &MkfsOptions,
        config: &StoreConfig,
    ) -> StoreResult<DiskStore> {
        let dev = open_dev(device, config, opts.create_size).await?;
        let block0 = read_block0(&dev).await?;
        if let Ok(old) = Superblock::decode(device, block0.as_slice())
            && !opts.force
        {
            return Err(StoreError::AlreadyFormatted {
                path: device.to_path_buf(),
                osd_id: old.osd_id,
                fsid: old.fsid,
            });
        }
        if !opts.force && block0.as_slice().iter().any(|&b| b != 0) {
            return Err(StoreError::ForeignData {
                path: device.to_path_buf(),
            });
        }
        if dev.size() < DATA_START + MIN_DATA_BYTES {
            return Err(StoreError::Device(crate::device::DeviceError::TooSmall {
                path: device.to_path_buf(),
                size: dev.size(),
                min: DATA_START + MIN_DATA_BYTES,
            }));
        }
        let meta = meta_dir.to_path_buf();
        let force = opts.force;
        blocking(move || {
            if meta.exists() {
                let non_empty = std::fs::read_dir(&meta)
                    .map_err(meta_err(&meta))?
                    .next()
                    .is_some();
                if non_empty && !force {
                    return Err(StoreError::MetaDir {
                        path: meta.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::AlreadyExists,
                            "metadata directory is not empty; refusing to format over it",
                        ),
                    });
                }
                std::fs::remove_dir_all(&meta).map_err(meta_err(&meta))?;
            }
            std::fs::create_dir_all(&meta).map_err(meta_err(&meta))
        })
        .await?;
        let sb = Superblock {
            version: FORMAT_VERSION,
            block_size: BLOCK_SIZE as u32,
            device_size: dev.size(),
            osd_id: opts.osd_id,
            device_uuid: opts.device_uuid,
            fsid: opts.fsid,
            data_start: DATA_START,
            created_unix: now_unix(),
        };
        dev.write(0, Arc::new(AlignedBuf::copy_from(&sb.encode())))
            .await?;
        dev.flush().await?;
        let db_opts = db_options(config, true);
        let meta = meta_dir.to_path_buf();
        blocking(move || {
            let db = DB::open(&db_opts, &meta).map_err(StoreError::db("create"))?;
            let mut wo = WriteOptions::default();
            wo.set_sync(true);
            let mut batch = rocksdb::WriteBatch::default();
            batch.put(keys::SUPERBLOCK, sb.encode());
            batch.put(keys::NEXT_NID, 1u64.to_le_bytes());
            db.write_opt(batch, &wo).map_err(StoreError::db("mkfs"))
        })
        .await?;
        drop(dev);
        DiskStore::open(
            device,
            meta_dir,
            &OpenOptions {
                fsid: Some(opts.fsid),
                osd_id: Some(opts.osd_id),
            },
            config,
        )
        .await
    }

    /// Opens an existing store, refusing a device that is unformatted, of another
    /// format version, cluster or OSD, or paired with the wrong metadata directory.
    pub async fn open(
        device: &Path,
        meta_dir: &Path,
        expect: &OpenOptions,
        config: &StoreConfig,
    ) -> StoreResult<DiskStore> {
        let dev = open_dev(device, config, None).await?;
        DiskStore::open_with(dev, device, meta_dir, expect, config).await
    }

    /// Opens a store on an already opened data device (`device` names it in errors);
    /// lets tests put a fault-injecting device underneath.
    pub async fn open_with(
        dev: Arc<dyn BlockDevice>,
        device: &Path,
        meta_dir: &Path,
        expect: &OpenOptions,
        config: &StoreConfig,
    ) -> StoreResult<DiskStore> {
        let block0 = read_block0(&dev).await?;
        let sb = Superblock::decode(device, block0.as_slice())?;
        if let Some(fsid) = expect.fsid
            && fsid != sb.fsid
        {
            return Err(StoreError::WrongCluster {
                path: device.to_path_buf(),
                expected: fsid,
                found: sb.fsid,
            });
        }
        if let Some(id) = expect.osd_id
            && id != sb.osd_id
        {
            return Err(StoreError::WrongOsd {
                path: device.to_path_buf(),
                expected: id,
                found: sb.osd_id,
            });
        }
        if dev.size() < sb.device_size {
            return Err(StoreError::BadSuperblock {
                path: device.to_path_buf(),
                reason: "the device is smaller than when it was formatted",
            });
        }
        if !meta_dir.is_dir() {
            return Err(StoreError::MetaDir {
                path: meta_dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "metadata directory is missing (format the device again with mkfs --force)",
                ),
            });
        }
        let db_opts = db_options(config, false);
        let meta: PathBuf = meta_dir.to_path_buf();
        let (db, loaded) = blocking(move || {
            let db = DB::open(&db_opts, &meta).map_err(StoreError::db("open"))?;
            let loaded = load_state(&db, &meta, &sb)?;
            Ok((Arc::new(db), loaded))
        })
        .await?;
        let replayed = commit::replay_deferred(&dev, &db).await?;
        if replayed > 0 {
            tracing::info!(
                device = %device.display(),
                "wrote {replayed} deferred writes again after an unclean stop"
            );
        }
        let data_end = sb.device_size - sb.device_size % BLOCK_SIZE as u64;
        let alloc = freelist::build_allocator(sb.data_start, data_end, loaded.regions);
        let (committed, _) = watch::channel(0u64);
        let core = Arc::new(Core {
            stats: Default::default(),
            dev,
            db,
            sb,
            data_end,
            shared: Mutex::new(Shared {
                alloc,
                overlay: HashMap::new(),
                coll_overlay: HashMap::new(),
                colls: loaded.colls,
                cache: OnodeCache::new(config.onode_cache_bytes),
                commit_gen: 0,
                pending_data: BTreeMap::new(),
                next_nid: loaded.next_nid,
                next_seq: 1,
                gate: ReadGate::default(),
            }),
            failed: Mutex::new(None),
            committed,
        });
        let (commit_tx, commit_rx) = mpsc::unbounded_channel();
        let committer = tokio::spawn(commit::run(core.clone(), commit_rx));
        tracing::info!(
            device = %device.display(),
            backend = %core.dev.backend(),
            osd = sb.osd_id,
            "object store opened"
        );
        Ok(DiskStore {
            core,
            prep: tokio::sync::Mutex::new(()),
            commit_tx,
            committer: Mutex::new(Some(committer)),
        })
    }
}

struct Loaded {
    colls: BTreeSet<CollectionId>,
    next_nid: u64,
    regions: Vec<(u64, Vec<u8>)>,
}

fn load_state(db: &DB, meta: &Path, sb: &Superblock) -> StoreResult<Loaded> {
    let stored = db
        .get(keys::SUPERBLOCK)
        .map_err(StoreError::db("superblock get"))?
        .ok_or_else(|| StoreError::CorruptRecord {
            key: keys::printable(keys::SUPERBLOCK),
            reason: "missing: the metadata was never initialised by mkfs",
        })?;
    let db_sb = Superblock::decode(meta, &stored)?;
    if db_sb.device_uuid != sb.device_uuid || db_sb.fsid != sb.fsid {
        return Err(StoreError::MetadataMismatch {
            db: meta.to_path_buf(),
            db_uuid: db_sb.device_uuid,
            dev_uuid: sb.device_uuid,
        });
    }
    let next_nid = match db.get(keys::NEXT_NID).map_err(StoreError::db("nid get"))? {
        Some(v) if v.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(&v);
            u64::from_le_bytes(a)
        }
        _ => {
            return Err(StoreError::CorruptRecord {
                key: keys::printable(keys::NEXT_NID),
                reason: "missing or malformed nid counter",
            });
        }
    };
    let mut colls = BTreeSet::new();
    let mut regions = Vec::new();
    let mut it = db.raw_iterator();
    it.seek(keys::coll_prefix_all());
    while let Some(k) = it.key() {
        let Some(c) = keys::parse_coll_key(k) else {
            break;
        };
        colls.insert(c);
        it.next();
    }
    it.seek([freelist::PREFIX]);
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        let Some(r) = freelist::parse_region_key(k) else {
            break;
        };
        regions.push((r, v.to_vec()));
        it.next();
    }
    it.status().map_err(StoreError::db("load"))?;
    Ok(Loaded {
        colls,
        next_nid,
        regions,
    })
}
