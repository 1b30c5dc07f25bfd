//! The cache tiers a mount asks for, with defaults sized from this machine.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use datenlord_store::StorageUrl;
use datenlord_store::cache::CacheConfig;

use crate::cli::CacheArgs;
use crate::home::{self, parse_size};

/// The disk cache takes at most this share of the free space it finds at mount time...
const DISK_SHARE_OF_FREE: f64 = 0.5;
/// ...and at most this much.
const DISK_DEFAULT_MAX: u64 = 100 << 30;
/// The memory cache takes at most this share of the available memory...
const MEMORY_SHARE: u64 = 8;
/// ...and at most this much.
const MEMORY_DEFAULT_MAX: u64 = 2 << 30;

/// Caches and read-ahead of a mount of a volume (`uuid`) on `storage`.
#[derive(Debug)]
pub struct CacheOptions {
    pub config: CacheConfig,
    pub readahead: u64,
}

/// Bytes of memory the kernel could give without swapping (`MemAvailable`).
fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib << 10)
}

/// Free bytes of the filesystem that holds `dir` (or would, once it is made).
fn free_space(dir: &Path) -> Option<u64> {
    let existing = dir.ancestors().find(|d| d.exists())?;
    let stat = nix::sys::statvfs::statvfs(existing).ok()?;
    Some(stat.blocks_available() * stat.fragment_size())
}

fn size_or(arg: Option<&str>, what: &str, default: impl FnOnce() -> u64) -> Result<u64> {
    match arg {
        Some(text) => parse_size(text).map_err(|e| anyhow::anyhow!("--{what}: {e:#}")),
        None => Ok(default()),
    }
}

impl CacheOptions {
    /// Sizes not given default to a memory tier of an eighth of the available memory (at
    /// most 2 GiB) and a disk tier of half the cache directory's free space (at most 100
    /// GiB) — except for a mount of a local-disk store (`local_mount`), where they are 0:
    /// the page cache already is its cache.
    pub fn from_args(
        args: &CacheArgs,
        readahead: &str,
        storage: &StorageUrl,
        uuid: &str,
        local_mount: bool,
    ) -> Result<Self> {
        let remote = !(local_mount && matches!(storage, StorageUrl::File(_)));
        if !(0.0..1.0).contains(&args.cache_free_ratio) {
            bail!("--cache-free-ratio must be at least 0 and below 1");
        }
        let dirs: Vec<PathBuf> = if args.cache_dirs.is_empty() {
            vec![home::home().join("cache")]
        } else {
            args.cache_dirs.clone()
        };
        let disk_size = size_or(args.cache_size.as_deref(), "cache-size", || {
            if !remote {
                return 0;
            }
            let free: u64 = dirs.iter().filter_map(|d| free_space(d)).sum();
            ((free as f64 * DISK_SHARE_OF_FREE) as u64).min(DISK_DEFAULT_MAX)
        })?;
        let memory_size = size_or(
            args.memory_cache_size.as_deref(),
            "memory-cache-size",
            || {
                if !remote {
                    return 0;
                }
                available_memory().map_or(256 << 20, |m| (m / MEMORY_SHARE).min(MEMORY_DEFAULT_MAX))
            },
        )?;
        let readahead = parse_size(readahead)
            .map_err(|e| anyhow::anyhow!("--readahead: {e:#}"))?
            // A window larger than a fifth of memory would evict itself (scans get a fifth).
            .min(memory_size / 5);
        Ok(Self {
            config: CacheConfig {
                memory_size,
                disk_dirs: dirs.iter().map(|d| d.join(uuid)).collect(),
                disk_size,
                min_free_ratio: args.cache_free_ratio,
                policy: args.cache_policy,
            },
            readahead,
        })
    }
}
