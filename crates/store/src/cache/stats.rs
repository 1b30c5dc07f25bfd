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
    pub hits: u64,
    pub misses: u64,
    pub hit_bytes: u64,
    /// Time spent serving hits, in nanoseconds (divided by `hits`: the mean latency).
    pub hit_nanos: u64,
    pub inserted: u64,
    pub inserted_bytes: u64,
    pub evictions: u64,
    /// Entries found damaged (disk tier) and dropped.
    pub corrupt: u64,
    pub write_failures: u64,
    /// Bytes held now, and the limit.
    pub used: u64,
    pub capacity: u64,
}

impl TierStats {
    pub fn hit(&self, bytes: u64, took: Duration) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.hit_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.hit_nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn inserted(&self, bytes: u64) {
        self.inserted.fetch_add(1, Ordering::Relaxed);
        self.inserted_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn evicted(&self, count: u64) {
        self.evictions.fetch_add(count, Ordering::Relaxed);
    }

    pub fn corrupt(&self) {
        self.corrupt.fetch_add(1, Ordering::Relaxed);
    }

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
