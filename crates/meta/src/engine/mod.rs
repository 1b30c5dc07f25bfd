//! The metadata engines: transactional ordered key-value stores all metadata lives in.
//!
//! Keys and values are bytes; keys sort bytewise. A transaction reads (point gets and range
//! scans, which see its own writes), buffers or applies writes, and commits atomically. An
//! engine that runs transactions optimistically reports a lost race as [`KvError::Conflict`]
//! at commit and the metadata layer retries the whole transaction (`write_txn!`), so the logic
//! above is written once for every engine. Engines: [`sqlite`] (embedded), [`etcd`], [`redis`] and [`postgres`]; a META_URL
//! ([`MetaUrl`]) names one. Adding an engine touches this module only: its file, a variant of
//! [`AnyEngine`] and a scheme of [`MetaUrl`]; what the logic needs to know of an engine it asks
//! through [`KvEngine`] (for example whether it reports other clients' changes).

mod any;
mod buffer;
pub mod changes;
pub mod etcd;
#[cfg(feature = "testing")]
pub mod faulty;
#[cfg(feature = "testing")]
mod for_tests;
#[cfg(feature = "testing")]
pub mod memory;
pub mod postgres;
pub mod redis;
pub mod sqlite;
mod url;

use std::future::Future;

pub use any::{AnyEngine, AnyTxn};
pub use etcd::EtcdEngine;
#[cfg(feature = "testing")]
pub use faulty::{FaultPlan, Faulty};
#[cfg(feature = "testing")]
pub use for_tests::engine_for_tests;
#[cfg(feature = "testing")]
pub use memory::MemoryEngine;
pub use postgres::PostgresEngine;
pub use redis::RedisEngine;
pub use sqlite::SqliteEngine;
pub use url::{MetaUrl, PASSWORD_ENV, SCHEMES, TlsFiles, postgres_table};

/// The size (see [`KvTxn::size`]) past which work that can be split ends its transaction.
pub const TXN_BUDGET: usize = 64;

/// A key-value pair returned by a scan.
pub type Pair = (Vec<u8>, Vec<u8>);

/// Why a key-value operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// Another transaction changed what this one read; retry it.
    #[error("transaction conflict")]
    Conflict,
    /// The disk under the engine is full.
    #[error("metadata store is out of space: {0}")]
    NoSpace(String),
    /// The engine's files cannot be written.
    #[error("metadata store is read-only: {0}")]
    ReadOnly(String),
    /// The engine could not be opened.
    #[error("cannot open metadata store {url}: {reason}")]
    Open {
        /// The META_URL (or database path) that was opened.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The engine cannot answer now (no quorum, leader election, connection lost); the
    /// operation may be retried until its deadline.
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of the engine.
    #[error("metadata store error: {0}")]
    Engine(String),
}

/// The requests an engine sent to its server, counted since it was opened: what one metadata
/// operation costs in round trips (an embedded engine sends none and reports zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineCounters {
    /// Read requests (a point get or one page of a scan).
    pub reads: u64,
    /// Commit requests (one per transaction that wrote).
    pub commits: u64,
    /// Comparisons those commits carried (one per key read, one per range scanned).
    pub compares: u64,
    /// Keys read from the engine's cache instead of its server.
    pub cached: u64,
}

impl EngineCounters {
    /// What happened between `before` and `self` (a smaller counter counts as 0).
    pub fn since(&self, before: &Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(before.reads),
            commits: self.commits.saturating_sub(before.commits),
            compares: self.compares.saturating_sub(before.compares),
            cached: self.cached.saturating_sub(before.cached),
        }
    }
}

/// A transactional ordered key-value engine.
pub trait KvEngine: Send + Sync {
    /// The transactions of this engine.
    type Txn: KvTxn;

    /// Starts a transaction. A read-only one must not write; an engine may run it on a
    /// snapshot without taking any lock.
    fn begin(&self, write: bool) -> impl Future<Output = Result<Self::Txn, KvError>> + Send;

    /// Starts a read-only transaction that sees every commit made before it began, by any
    /// client, where [`KvEngine::begin`] may read a cache that trails other clients by the
    /// watch's delay (etcd's, when a mount turned it on).
    fn begin_latest(&self) -> impl Future<Output = Result<Self::Txn, KvError>> + Send {
        self.begin(false)
    }

    /// Makes every committed transaction durable (survives power loss) before returning.
    fn sync(&self) -> impl Future<Output = Result<(), KvError>> + Send;

    /// The keys other clients change, in batches as the engine learns of them (never this
    /// client's own commits); `None` when the engine does not report changes (the embedded
    /// one: its clients share one host and rely on cache timeouts). Every call starts a watch.
    fn watch(&self) -> Option<Changes> {
        None
    }

    /// Whether [`KvEngine::watch`] reports other clients' changes, so that what was read may
    /// be kept until a change is reported.
    fn reports_changes(&self) -> bool {
        false
    }

    /// Says that no key in `ranges` (`[start, end)` each) exists or was ever written, and
    /// none will be before this client writes one: keys named after ids it just took. An
    /// engine with a cache may then answer reads of them as absent without a request.
    fn unused(&self, ranges: &[(Vec<u8>, Vec<u8>)]) {
        let _ = ranges;
    }

    /// The requests sent so far (zeros for an engine without a server).
    fn counters(&self) -> EngineCounters {
        EngineCounters::default()
    }
}

/// Batches of keys other clients changed, from [`KvEngine::watch`].
pub type Changes = tokio::sync::mpsc::Receiver<Vec<Vec<u8>>>;

/// One transaction: reads see its own writes; nothing is visible to others before `commit`.
pub trait KvTxn: Send {
    /// The value of `key`.
    fn get(&mut self, key: &[u8]) -> impl Future<Output = Result<Option<Vec<u8>>, KvError>> + Send;

    /// The values of `keys`, in their order. An engine with a server reads them in one
    /// request where it can; the default reads them one by one.
    fn get_many(
        &mut self,
        keys: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, KvError>> + Send {
        async move {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                values.push(self.get(key).await?);
            }
            Ok(values)
        }
    }

    /// The values of `keys` as [`KvTxn::get_many`] reads them (or newer: an engine may read
    /// them outside the transaction), except that the commit does not depend on them: another
    /// transaction changing one meanwhile is no conflict. For figures
    /// that may be a little stale under concurrent writers (a limit checked against counters
    /// others update). A later `get` of one of the keys makes the commit depend on it. The
    /// default reads them as `get_many` does (an engine that runs write transactions one at a
    /// time has nothing to gain).
    fn get_many_unguarded(
        &mut self,
        keys: &[Vec<u8>],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, KvError>> + Send {
        self.get_many(keys)
    }

    /// The value of `key` if the transaction can have it without a request to a server
    /// (it read or wrote the key, or a cache of the engine's holds it); `None` otherwise. An
    /// engine without a server reads it.
    fn peek(
        &mut self,
        key: &[u8],
    ) -> impl Future<Output = Result<Option<Option<Vec<u8>>>, KvError>> + Send {
        async move { self.get(key).await.map(Some) }
    }

    /// Says that the transaction is about to read some of `keys`: an engine with a server
    /// fetches them together (one request) so that the reads that follow need none. Keys
    /// fetched but never read are not part of the transaction (a commit does not depend on
    /// them). The default does nothing: a local engine reads as fast one by one.
    fn prefetch(&mut self, keys: &[Vec<u8>]) -> impl Future<Output = Result<(), KvError>> + Send {
        let _ = keys;
        async { Ok(()) }
    }

    /// Up to `limit` pairs with `start <= key < end`, in key order.
    fn scan(
        &mut self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Pair>, KvError>> + Send;

    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError>;

    /// Removes `key` (absent keys are fine).
    fn delete(&mut self, key: &[u8]) -> Result<(), KvError>;

    /// How many operations committing this transaction takes (the larger of the keys it read
    /// and the keys it writes). Work that may touch many keys splits itself into transactions
    /// below [`TXN_BUDGET`], since an engine may limit one transaction's size (etcd: 128 by
    /// default).
    fn size(&self) -> usize;

    /// Ends a read-only transaction once its logic has what it read: fails with
    /// [`KvError::Conflict`] when those reads did not all see one state (the logic then runs
    /// again). An engine whose transactions read one snapshot has nothing to check.
    fn end_read(self) -> impl Future<Output = Result<(), KvError>> + Send
    where
        Self: Sized,
    {
        async { Ok(()) }
    }

    /// Applies every write atomically, or fails with [`KvError::Conflict`] when what was read
    /// changed meanwhile. Dropping a transaction without committing discards its writes.
    fn commit(self) -> impl Future<Output = Result<(), KvError>> + Send;
}

/// The first key after every key starting with `prefix`, for prefix scans.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_carries() {
        assert_eq!(prefix_end(b"ab"), b"ac");
        assert_eq!(prefix_end(&[1, 0xff]), vec![2]);
        assert_eq!(prefix_end(&[0xff]), vec![0xff, 0xff]);
    }
}
