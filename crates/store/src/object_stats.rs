//! Counters of the requests a store makes of its object backend (below every cache tier):
//! how many, how many bytes and how long, for `datenlord bench`'s breakdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Live counters, updated without locks.
#[derive(Debug, Default)]
pub(crate) struct ObjectStats {
    gets: AtomicU64,
    get_bytes: AtomicU64,
    get_nanos: AtomicU64,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    put_nanos: AtomicU64,
}

/// A copy of a store's backend counters at one moment. Times are summed over requests, so
/// with requests in parallel they may exceed the wall time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ObjectCounters {
    /// Block reads (whole blocks or ranges of one), bytes received, nanoseconds spent.
    pub gets: u64,
    /// Bytes the block reads returned.
    pub get_bytes: u64,
    /// Time spent in block reads, in nanoseconds.
    pub get_nanos: u64,
    /// Block writes, bytes sent, nanoseconds spent.
    pub puts: u64,
    /// Bytes of the blocks written.
    pub put_bytes: u64,
    /// Time spent in block writes, in nanoseconds.
    pub put_nanos: u64,
}

fn nanos(took: Duration) -> u64 {
    u64::try_from(took.as_nanos()).unwrap_or(u64::MAX)
}

impl ObjectStats {
    pub(crate) fn get(&self, bytes: u64, took: Duration) {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.get_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.get_nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    pub(crate) fn put(&self, bytes: u64, took: Duration) {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.put_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.put_nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ObjectCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ObjectCounters {
            gets: get(&self.gets),
            get_bytes: get(&self.get_bytes),
            get_nanos: get(&self.get_nanos),
            puts: get(&self.puts),
            put_bytes: get(&self.put_bytes),
            put_nanos: get(&self.put_nanos),
        }
    }
}
