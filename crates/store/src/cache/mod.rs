//! The local cache tiers of a block store: memory, then one or more disk directories.
//!
//! Blocks are immutable, so a cached block is never stale: nothing is ever invalidated, only
//! evicted (or dropped when its object is deleted). See `policy` for what is evicted first.

mod disk;
mod memory;
mod policy;
mod stats;

use std::path::PathBuf;

use bytes::Bytes;

pub use disk::{DiskTier, DiskTierConfig};
pub use memory::MemoryTier;
pub use policy::{Access, Evictor, Policy, scan_resistance};
pub use stats::{TierCounters, TierStats};

/// Block `index` of object `object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockKey {
    /// The object's id (as the metadata's slices name it).
    pub object: u64,
    /// The block's position in the object, counted in blocks from 0.
    pub index: u64,
}

impl std::fmt::Display for BlockKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.object, self.index)
    }
}

/// The part of a block a read wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitRange {
    /// The whole block, however long it is.
    Whole,
    /// `len` bytes from `offset`, both in bytes from the block's start.
    Part {
        /// Where the range starts in the block.
        offset: u64,
        /// How many bytes it spans.
        len: u64,
    },
}

impl HitRange {
    /// The range's bytes of `block`; `None` when the block is too short for it.
    pub fn of(&self, block: &Bytes) -> Option<Bytes> {
        match *self {
            Self::Whole => Some(block.clone()),
            Self::Part { offset, len } => {
                let end = offset.checked_add(len)?;
                (end <= block.len() as u64).then(|| block.slice(offset as usize..end as usize))
            }
        }
    }
}

/// Sizes and places of the local tiers.
#[derive(Debug, Clone, Default)]
pub struct CacheConfig {
    /// Bytes of blocks kept in memory; 0: no memory tier.
    pub memory_size: u64,
    /// Directories of the disk tier (each gets an equal share of `disk_size`).
    pub disk_dirs: Vec<PathBuf>,
    /// Bytes of blocks kept on disk, over all directories; 0: no disk tier.
    pub disk_size: u64,
    /// A disk directory gives back space when its filesystem has less than this share free.
    pub min_free_ratio: f64,
    /// The order every tier evicts in.
    pub policy: Policy,
}

impl CacheConfig {
    /// Whether there is any tier: a memory size, or a disk size with a directory for it.
    pub fn is_enabled(&self) -> bool {
        self.memory_size > 0 || (self.disk_size > 0 && !self.disk_dirs.is_empty())
    }
}

/// Which tier holds a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The memory tier.
    Memory,
    /// A directory of the disk tier.
    Disk,
}

/// The counters of every tier.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheCounters {
    /// The memory tier, if there is one.
    pub memory: Option<TierCounters>,
    /// The disk tier's directories together, if there are any.
    pub disk: Option<TierCounters>,
    /// Blocks fetched from the object store ("hits" are fetches).
    pub remote: TierCounters,
    /// Blocks asked of the cache group: served ("hits"), or left to the object store.
    pub group: Option<TierCounters>,
}

/// Memory and disk tiers together.
#[derive(Debug)]
pub struct BlockCache {
    memory: Option<MemoryTier>,
    disks: Vec<DiskTier>,
    pub(crate) remote: TierStats,
}

impl BlockCache {
    /// Opens the tiers; disk directories are made if missing and indexed.
    pub fn open(config: &CacheConfig) -> std::io::Result<Self> {
        let memory =
            (config.memory_size > 0).then(|| MemoryTier::new(config.memory_size, config.policy));
        let mut disks = Vec::new();
        if config.disk_size > 0 && !config.disk_dirs.is_empty() {
            let share = config.disk_size / config.disk_dirs.len() as u64;
            for dir in &config.disk_dirs {
                let tier = DiskTier::open(DiskTierConfig {
                    root: dir.clone(),
                    capacity: share,
                    min_free_ratio: config.min_free_ratio,
                    policy: config.policy,
                })
                .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
                disks.push(tier);
            }
        }
        Ok(Self {
            memory,
            disks,
            remote: TierStats::default(),
        })
    }

    /// Whether there is a memory tier.
    pub fn has_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The directory a block lives in: the same for a key on every run with the same
    /// directories, so a restart finds what it cached.
    fn disk(&self, key: BlockKey) -> Option<&DiskTier> {
        match self.disks.len() {
            0 => None,
            1 => self.disks.first(),
            n => {
                // Stable across runs, unlike std's hasher: object and index mixed by FNV-1a.
                let mut hash = 0xcbf2_9ce4_8422_2325_u64;
                for byte in key
                    .object
                    .to_le_bytes()
                    .into_iter()
                    .chain(key.index.to_le_bytes())
                {
                    hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
                }
                self.disks.get((hash % n as u64) as usize)
            }
        }
    }

    /// `range` of block `key` from the nearest tier holding it. A sequential reader's disk
    /// hit brings the whole block into memory, where the rest of its reads will find it.
    pub fn get(&self, key: BlockKey, range: HitRange, access: Access) -> Option<Bytes> {
        if let Some(memory) = &self.memory
            && let Some(bytes) = memory.get(key, range, access)
        {
            return Some(bytes);
        }
        let disk = self.disk(key)?;
        match (&self.memory, access) {
            (Some(memory), Access::Sequential) => {
                let block = disk.get(key, HitRange::Whole, access)?;
                memory.put(key, block.clone(), access);
                range.of(&block)
            }
            _ => disk.get(key, range, access),
        }
    }

    /// The tier nearest to a reader that holds `key`.
    pub fn holder(&self, key: BlockKey) -> Option<Tier> {
        if self.memory.as_ref().is_some_and(|m| m.contains(key)) {
            return Some(Tier::Memory);
        }
        self.disk(key)
            .is_some_and(|d| d.contains(key))
            .then_some(Tier::Disk)
    }

    /// Keeps `block` in the memory tier, if there is one.
    pub fn put_memory(&self, key: BlockKey, block: Bytes, access: Access) {
        if let Some(memory) = &self.memory {
            memory.put(key, block, access);
        }
    }

    /// Writes `block` to its disk directory (blocking: file I/O).
    pub fn put_disk(&self, key: BlockKey, block: &[u8], access: Access) {
        if let Some(disk) = self.disk(key) {
            disk.put(key, block, access);
        }
    }

    /// Whether there is a disk tier.
    pub fn has_disk(&self) -> bool {
        !self.disks.is_empty()
    }

    /// Drops `key` from every tier.
    pub fn remove(&self, key: BlockKey) {
        if let Some(memory) = &self.memory {
            memory.remove(key);
        }
        if let Some(disk) = self.disk(key) {
            disk.remove(key);
        }
    }

    /// Every tier's counters now, with what each holds; `group` is left for the store to
    /// fill in.
    pub fn counters(&self) -> CacheCounters {
        let memory = self.memory.as_ref().map(|m| {
            let (used, capacity) = m.usage();
            TierCounters {
                used,
                capacity,
                ..m.stats.snapshot()
            }
        });
        let disk = (!self.disks.is_empty()).then(|| {
            self.disks.iter().fold(TierCounters::default(), |sum, d| {
                let (used, capacity) = d.usage();
                let c = d.stats.snapshot();
                TierCounters {
                    hits: sum.hits + c.hits,
                    misses: sum.misses + c.misses,
                    hit_bytes: sum.hit_bytes + c.hit_bytes,
                    hit_nanos: sum.hit_nanos + c.hit_nanos,
                    inserted: sum.inserted + c.inserted,
                    inserted_bytes: sum.inserted_bytes + c.inserted_bytes,
                    evictions: sum.evictions + c.evictions,
                    corrupt: sum.corrupt + c.corrupt,
                    write_failures: sum.write_failures + c.write_failures,
                    used: sum.used + used,
                    capacity: sum.capacity + capacity,
                }
            })
        });
        CacheCounters {
            memory,
            disk,
            remote: self.remote.snapshot(),
            group: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sequential_disk_hit_fills_memory_and_ranges_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::open(&CacheConfig {
            memory_size: 1 << 20,
            disk_dirs: vec![dir.path().join("a"), dir.path().join("b")],
            disk_size: 1 << 30,
            min_free_ratio: 0.0,
            policy: Policy::Auto,
        })
        .unwrap();
        let key = BlockKey {
            object: 9,
            index: 0,
        };
        let block = Bytes::from(vec![5u8; 100_000]);
        cache.put_disk(key, &block, Access::Random);
        assert_eq!(cache.holder(key), Some(Tier::Disk));
        let part = HitRange::Part {
            offset: 10,
            len: 20,
        };
        assert_eq!(cache.get(key, part, Access::Random).unwrap(), block[10..30]);
        assert_eq!(cache.holder(key), Some(Tier::Disk));
        assert_eq!(
            cache.get(key, part, Access::Sequential).unwrap(),
            block[10..30]
        );
        assert_eq!(cache.holder(key), Some(Tier::Memory));
        let beyond = HitRange::Part {
            offset: 99_990,
            len: 20,
        };
        assert!(cache.get(key, beyond, Access::Random).is_none());
        let counters = cache.counters();
        assert_eq!(counters.memory.unwrap().hits, 0);
        assert_eq!(counters.disk.unwrap().hits, 2);
        cache.remove(key);
        assert_eq!(cache.holder(key), None);
    }
}
