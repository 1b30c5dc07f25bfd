//! Counters of one cache tier, for `status` and the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub struct TierStats {
    hits: AtomicU64,
    misses: AtomicU64,
    hit_bytes: AtomicU64,
    hit_nanos: AtomicU64,
    inserted: AtomicU64,
    inserted_bytes: AtomicU64,
    evictions: AtomicU64,
    corrupt: AtomicU64,
    write_failures: AtomicU64,
}

/// A copy of a tier's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierCounters {
    /// Reads the tier served.
    pub hits: u64,
    /// Reads it could not serve (absent, damaged or short blocks).
    pub misses: u64,
    /// Bytes the hits returned.
    pub hit_bytes: u64,
    /// Time spent serving hits, in nanoseconds (divided by `hits`: the mean latency).
    pub hit_nanos: u64,
    /// Blocks the tier took in.
    pub inserted: u64,
    /// Bytes of the blocks taken in (without the disk tier's headers).
    pub inserted_bytes: u64,
    /// Blocks evicted to make room.
    pub evictions: u64,
    /// Entries found damaged (disk tier) and dropped.
    pub corrupt: u64,
    /// Blocks the tier did not keep: no room for them, or their file could not be written.
    pub write_failures: u64,
    /// Bytes held now, and the limit.
    pub used: u64,
    /// The limit of `used`, in bytes.
    pub capacity: u64,
}

impl TierStats {
    /// Counts a read served: `bytes` returned, in `took`.
    pub fn hit(&self, bytes: u64, took: Duration) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.hit_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.hit_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Counts a read the tier could not serve.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a block of `bytes` taken in.
    pub fn inserted(&self, bytes: u64) {
        self.inserted.fetch_add(1, Ordering::Relaxed);
        self.inserted_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Counts `count` blocks evicted.
    pub fn evicted(&self, count: u64) {
        self.evictions.fetch_add(count, Ordering::Relaxed);
    }

    /// Counts a damaged entry dropped.
    pub fn corrupt(&self) {
        self.corrupt.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a block the tier could not keep.
    pub fn write_failed(&self) {
        self.write_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now (without `used`/`capacity`, which the tier fills in).
    pub fn snapshot(&self) -> TierCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        TierCounters {
            hits: get(&self.hits),
            misses: get(&self.misses),
            hit_bytes: get(&self.hit_bytes),
            hit_nanos: get(&self.hit_nanos),
            inserted: get(&self.inserted),
            inserted_bytes: get(&self.inserted_bytes),
            evictions: get(&self.evictions),
            corrupt: get(&self.corrupt),
            write_failures: get(&self.write_failures),
            used: 0,
            capacity: 0,
        }
    }
}
