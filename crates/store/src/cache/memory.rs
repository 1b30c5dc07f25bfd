//! The memory tier: whole blocks as shared buffers.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;

use super::policy::{Access, Evictor, Policy};
use super::stats::TierStats;
use super::{BlockKey, HitRange};

#[derive(Debug)]
struct Blocks {
    data: HashMap<BlockKey, Bytes>,
    evictor: Evictor<BlockKey>,
}

/// Blocks in memory, up to a byte limit.
#[derive(Debug)]
pub struct MemoryTier {
    blocks: Mutex<Blocks>,
    pub(super) stats: TierStats,
}

impl MemoryTier {
    /// An empty tier of `capacity` bytes that evicts in the order of `policy`.
    pub fn new(capacity: u64, policy: Policy) -> Self {
        Self {
            blocks: Mutex::new(Blocks {
                data: HashMap::new(),
                evictor: Evictor::new(policy, capacity),
            }),
            stats: TierStats::default(),
        }
    }

    fn blocks(&self) -> std::sync::MutexGuard<'_, Blocks> {
        self.blocks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `range` of block `key`, if the tier holds the block and it is long enough; a hit
    /// counts as a use of the block by a reader moving as `access` says.
    pub fn get(&self, key: BlockKey, range: HitRange, access: Access) -> Option<Bytes> {
        let started = std::time::Instant::now();
        let block = {
            let mut blocks = self.blocks();
            let block = blocks.data.get(&key).cloned();
            if block.is_some() {
                blocks.evictor.hit(&key, access);
            }
            block
        };
        let Some(block) = block.and_then(|b| range.of(&b)) else {
            self.stats.miss();
            return None;
        };
        self.stats.hit(block.len() as u64, started.elapsed());
        Some(block)
    }

    /// Whether the tier holds block `key` (not counted as a use).
    pub fn contains(&self, key: BlockKey) -> bool {
        self.blocks().data.contains_key(&key)
    }

    /// Keeps a block, evicting what no longer fits; a block already held is left as it is,
    /// and one larger than the whole tier is not kept.
    pub fn put(&self, key: BlockKey, block: Bytes, access: Access) {
        let len = block.len() as u64;
        let evicted = {
            let mut blocks = self.blocks();
            if blocks.data.contains_key(&key) {
                return;
            }
            let evicted = blocks.evictor.insert(key, len, access);
            for gone in &evicted {
                blocks.data.remove(gone);
            }
            if !evicted.contains(&key) {
                blocks.data.insert(key, block);
            }
            evicted
        };
        if !evicted.contains(&key) {
            self.stats.inserted(len);
        }
        self.stats
            .evicted(evicted.iter().filter(|k| **k != key).count() as u64);
    }

    /// Drops block `key`, if held.
    pub fn remove(&self, key: BlockKey) {
        let mut blocks = self.blocks();
        blocks.data.remove(&key);
        blocks.evictor.remove(&key);
    }

    /// Bytes held and the limit.
    pub fn usage(&self) -> (u64, u64) {
        let blocks = self.blocks();
        (blocks.evictor.used(), blocks.evictor.capacity())
    }
}
