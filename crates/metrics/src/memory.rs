//! Giving freed heap memory back to the operating system, and reading the daemon's
//! resident size.
//!
//! glibc's allocator keeps what a burst of large buffers freed (stripe chunks, gRPC
//! messages, decoded replies: megabytes each, allocated on many threads and so in many
//! arenas) for reuse instead of returning it. After a benchmark an OSD's resident size
//! stayed at its peak (324 MiB) with nothing using it; one `malloc_trim` took it to
//! 46 MiB. [`spawn_trimmer`] makes that the steady state: every daemon trims every 30 s
//! on a blocking thread. A trim releases only free pages, so it never changes what the
//! program sees; what it costs is a walk over the arenas' free lists (under their locks)
//! and the page faults of reusing released pages later. Measured on a 3-OSD cluster
//! under 4 MiB writes: trimming every 5 s cost ~10% of the throughput, every 30 s
//! nothing measurable, and idle OSDs fell from 263–294 MiB to ~30 MiB either way.
//!
//! The daemons' Rust allocations have since moved to mimalloc (each binary's
//! `#[global_allocator]`), which returns freed memory by itself (idle OSDs ~40 MiB
//! 35 s after a benchmark with the trimmer off) and held the peak under load at
//! 183–210 MiB instead of 265–325. glibc's heap still serves the C++ side (RocksDB's
//! memtables, block cache and iterators), so the trimmer stays: cheap, and it keeps
//! that part from growing the same way.
//!
//! The environment variable `CUTTLE_MALLOC_TRIM_SECS` sets another interval (`0` turns
//! trimming off), like glibc's own `MALLOC_*` tunables. On other C libraries (no
//! `malloc_trim`) the trimmer does nothing.
//!
//! mimalloc itself is tuned once at start ([`tune_allocator`]): it keeps the pages it
//! freed for a minute before giving them back. With its default (1 s), under steady
//! 4 MiB traffic the daemons faulted and zeroed the same memory again at once: an OSD
//! took 4,000–6,000 page faults a second (`clear_page` ~13% of its cycles), the
//! gateway 4,000. With 60 s the faults fall to ~200 a second and `cuttle bench ec
//! write -b 4M` went from 1,028–1,097 to 1,170–1,234 MB/s on the same machine (10 s
//! still left 300–700 faults a second and 1,064–1,122 MB/s; never giving back was no
//! faster than 60 s). An idle daemon shrinks a minute or more after a burst instead
//! of at once. `MIMALLOC_PURGE_DELAY` in the environment (milliseconds) still
//! chooses otherwise.

use std::time::Duration;

use tokio::task::JoinHandle;

/// How often daemons trim unless told otherwise.
pub const DEFAULT_TRIM_INTERVAL: Duration = Duration::from_secs(30);
/// The environment variable that sets the interval, whole seconds (`0`: off).
pub const TRIM_INTERVAL_VAR: &str = "CUTTLE_MALLOC_TRIM_SECS";

/// The trim interval a value of [`TRIM_INTERVAL_VAR`] asks for (`None`: off), or an
/// error naming what is wrong with it.
pub fn parse_trim_interval(value: &str) -> Result<Option<Duration>, String> {
    match value.trim().parse::<u64>() {
        Ok(0) => Ok(None),
        Ok(secs) => Ok(Some(Duration::from_secs(secs))),
        Err(_) => Err(format!(
            "{TRIM_INTERVAL_VAR}={value:?} is not a whole number of seconds"
        )),
    }
}

/// Starts the trimmer at the interval the environment asks for (the default when
/// unset; a bad value is logged and the default used); `None` when turned off.
pub fn start_trimmer() -> Option<JoinHandle<()>> {
    let interval = match std::env::var(TRIM_INTERVAL_VAR) {
        Err(_) => Some(DEFAULT_TRIM_INTERVAL),
        Ok(v) => parse_trim_interval(&v).unwrap_or_else(|e| {
            tracing::warn!("{e}; trimming every {}s", DEFAULT_TRIM_INTERVAL.as_secs());
            Some(DEFAULT_TRIM_INTERVAL)
        }),
    };
    interval.map(spawn_trimmer)
}

/// mimalloc's `mi_option_purge_delay`: its place in `mi_option_e` (mimalloc 3's
/// `mimalloc.h`); the Rust bindings name no constant for it. A unit test checks it
/// against the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// How long freed allocator memory is kept for reuse before going back to the OS, in
/// milliseconds (see the module docs).
pub const PURGE_DELAY_MS: std::ffi::c_long = 60_000;
/// mimalloc's own variable for the delay; when set, it wins over [`PURGE_DELAY_MS`].
const PURGE_DELAY_VAR: &str = "MIMALLOC_PURGE_DELAY";

/// Tunes mimalloc for a long-running process (see the module docs). Call first thing
/// in `main`, before any thread starts: mimalloc's option setter is not thread-safe.
pub fn tune_allocator() {
    if std::env::var_os(PURGE_DELAY_VAR).is_some() {
        return;
    }
    // SAFETY: sets a plain integer option; called before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

/// The process's resident memory, bytes (from `/proc/self/statm`; `None` where that
/// cannot be read).
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).unwrap_or(4096)
}

/// Returns the allocator's free pages to the operating system now; whether any were.
pub fn trim_now() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only releases memory that is free; it takes the arenas'
        // locks itself.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

/// Trims every `interval` on the runtime's blocking pool, for as long as the runtime
/// runs. Logs (at debug) what each trim gave back.
pub fn spawn_trimmer(interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let trimmed = tokio::task::spawn_blocking(|| {
                let before = resident_bytes();
                let released = trim_now();
                (before, released, resident_bytes())
            })
            .await;
            if let Ok((Some(before), true, Some(after))) = trimmed
                && before > after
            {
                tracing::debug!(
                    released_mib = (before - after) >> 20,
                    resident_mib = after >> 20,
                    "returned freed heap memory to the OS"
                );
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_intervals_parse_from_whole_seconds() {
        assert_eq!(parse_trim_interval("0"), Ok(None));
        assert_eq!(
            parse_trim_interval(" 30 "),
            Ok(Some(Duration::from_secs(30)))
        );
        for bad in ["", "-1", "2.5", "5s"] {
            let e = parse_trim_interval(bad).err();
            assert!(e.is_some_and(|e| e.contains(TRIM_INTERVAL_VAR)), "{bad:?}");
        }
    }

    #[test]
    fn the_purge_delay_option_is_the_one_tuned() {
        if std::env::var_os(PURGE_DELAY_VAR).is_some() {
            return;
        }
        // SAFETY: reads an integer option.
        let get = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // mimalloc 3's documented default for purge_delay, which no neighbour shares.
        assert_eq!(get(), 1000);
        tune_allocator();
        assert_eq!(get(), PURGE_DELAY_MS);
    }

    #[test]
    fn resident_size_is_read() {
        let rss = resident_bytes().expect("/proc/self/statm");
        assert!(rss > 0 && rss < 1 << 40, "{rss}");
    }

    /// Memory freed on another thread (so in another arena), below the mmap threshold
    /// and pinned by a live block above it, is kept by the allocator until a trim.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_trim_returns_memory_freed_in_another_arena() {
        const BLOCK: usize = 64 << 10;
        const BLOCKS: usize = 1600; // 100 MiB
        let (freed_rss, pinned) = std::thread::spawn(|| {
            let mut blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|i| vec![i as u8 | 1; BLOCK]).collect();
            let pinned = blocks.pop();
            drop(blocks);
            (resident_bytes().expect("rss"), pinned)
        })
        .join()
        .expect("allocating thread");
        assert!(trim_now(), "a trim released nothing");
        let trimmed_rss = resident_bytes().expect("rss");
        assert!(
            freed_rss.saturating_sub(trimmed_rss) >= 50 << 20,
            "resident {} MiB before the trim, {} MiB after",
            freed_rss >> 20,
            trimmed_rss >> 20
        );
        drop(pinned);
    }
}
