//! Static dispatch over the engines, so the metadata layer names one type and pays no boxing.

use super::etcd::{EtcdEngine, EtcdTxn};
#[cfg(feature = "testing")]
use super::faulty::{Faulty, FaultyTxn};
#[cfg(feature = "testing")]
use super::memory::{MemoryEngine, MemoryTxn};
use super::postgres::{PostgresEngine, PostgresTxn};
use super::redis::{RedisEngine, RedisTxn};
use super::sqlite::SqliteTxn;
use super::{Changes, EngineCounters, KvEngine, KvError, KvTxn, Pair, SqliteEngine};

/// Any engine.
#[derive(Debug, Clone)]
pub enum AnyEngine {
    /// The embedded engine.
    Sqlite(SqliteEngine),
    /// An etcd cluster.
    Etcd(EtcdEngine),
    /// A Redis server.
    Redis(RedisEngine),
    /// A PostgreSQL database.
    Postgres(PostgresEngine),
    /// In memory, for tests.
    #[cfg(feature = "testing")]
    Memory(MemoryEngine),
    /// In memory with injected faults, for tests.
    #[cfg(feature = "testing")]
    Faulty(Faulty<MemoryEngine>),
}

/// A transaction of any engine.
#[derive(Debug)]
pub enum AnyTxn {
    /// Of the embedded engine.
    Sqlite(SqliteTxn),
    /// Of etcd.
    Etcd(EtcdTxn),
    /// Of Redis.
    Redis(RedisTxn),
    /// Of PostgreSQL.
    Postgres(PostgresTxn),
    /// Of the memory engine.
    #[cfg(feature = "testing")]
    Memory(MemoryTxn),
    /// Of the memory engine with faults.
    #[cfg(feature = "testing")]
    Faulty(FaultyTxn<MemoryTxn>),
}

impl KvEngine for AnyEngine {
    type Txn = AnyTxn;

    async fn begin(&self, write: bool) -> Result<AnyTxn, KvError> {
        match self {
            Self::Sqlite(kv) => kv.begin(write).await.map(AnyTxn::Sqlite),
            Self::Etcd(kv) => kv.begin(write).await.map(AnyTxn::Etcd),
            Self::Redis(kv) => kv.begin(write).await.map(AnyTxn::Redis),
            Self::Postgres(kv) => kv.begin(write).await.map(AnyTxn::Postgres),
            #[cfg(feature = "testing")]
            Self::Memory(kv) => kv.begin(write).await.map(AnyTxn::Memory),
            #[cfg(feature = "testing")]
            Self::Faulty(kv) => kv.begin(write).await.map(AnyTxn::Faulty),
        }
    }

    async fn begin_latest(&self) -> Result<AnyTxn, KvError> {
        match self {
            Self::Etcd(kv) => kv.begin_latest().await.map(AnyTxn::Etcd),
            Self::Redis(kv) => kv.begin_latest().await.map(AnyTxn::Redis),
            Self::Postgres(kv) => kv.begin_latest().await.map(AnyTxn::Postgres),
            _ => self.begin(false).await,
        }
    }

    async fn sync(&self) -> Result<(), KvError> {
        match self {
            Self::Sqlite(kv) => kv.sync().await,
            Self::Etcd(kv) => kv.sync().await,
            Self::Redis(kv) => kv.sync().await,
            Self::Postgres(kv) => kv.sync().await,
            #[cfg(feature = "testing")]
            Self::Memory(kv) => kv.sync().await,
            #[cfg(feature = "testing")]
            Self::Faulty(kv) => kv.sync().await,
        }
    }

    fn watch(&self) -> Option<Changes> {
        match self {
            Self::Sqlite(kv) => kv.watch(),
            Self::Etcd(kv) => kv.watch(),
            Self::Redis(kv) => kv.watch(),
            Self::Postgres(kv) => kv.watch(),
            #[cfg(feature = "testing")]
            Self::Memory(kv) => kv.watch(),
            #[cfg(feature = "testing")]
            Self::Faulty(kv) => kv.watch(),
        }
    }

    fn unused(&self, ranges: &[(Vec<u8>, Vec<u8>)]) {
        if let Self::Etcd(kv) = self {
            kv.unused(ranges);
        }
    }

    fn reports_changes(&self) -> bool {
        match self {
            Self::Sqlite(kv) => kv.reports_changes(),
            Self::Etcd(kv) => kv.reports_changes(),
            Self::Redis(kv) => kv.reports_changes(),
            Self::Postgres(kv) => kv.reports_changes(),
            #[cfg(feature = "testing")]
            Self::Memory(kv) => kv.reports_changes(),
            #[cfg(feature = "testing")]
            Self::Faulty(kv) => kv.reports_changes(),
        }
    }

    fn counters(&self) -> EngineCounters {
        match self {
            Self::Sqlite(kv) => kv.counters(),
            Self::Etcd(kv) => kv.counters(),
            Self::Redis(kv) => kv.counters(),
            Self::Postgres(kv) => kv.counters(),
            #[cfg(feature = "testing")]
            Self::Memory(kv) => kv.counters(),
            #[cfg(feature = "testing")]
            Self::Faulty(kv) => kv.counters(),
        }
    }
}

// The server engines' transaction futures are large (a commit pipelines several requests):
// boxed, they do not make every engine's futures as large.
impl KvTxn for AnyTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            Self::Sqlite(txn) => txn.get(key).await,
            Self::Etcd(txn) => txn.get(key).await,
            Self::Redis(txn) => Box::pin(txn.get(key)).await,
            Self::Postgres(txn) => Box::pin(txn.get(key)).await,
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.get(key).await,
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.get(key).await,
        }
    }

    async fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        match self {
            Self::Sqlite(txn) => txn.get_many(keys).await,
            Self::Etcd(txn) => txn.get_many(keys).await,
            Self::Redis(txn) => Box::pin(txn.get_many(keys)).await,
            Self::Postgres(txn) => Box::pin(txn.get_many(keys)).await,
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.get_many(keys).await,
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.get_many(keys).await,
        }
    }

    async fn get_many_unguarded(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        match self {
            Self::Sqlite(txn) => txn.get_many_unguarded(keys).await,
            Self::Etcd(txn) => txn.get_many_unguarded(keys).await,
            Self::Redis(txn) => Box::pin(txn.get_many_unguarded(keys)).await,
            Self::Postgres(txn) => Box::pin(txn.get_many_unguarded(keys)).await,
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.get_many_unguarded(keys).await,
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.get_many_unguarded(keys).await,
        }
    }

    async fn peek(&mut self, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, KvError> {
        match self {
            Self::Etcd(txn) => txn.peek(key).await,
            Self::Redis(txn) => Box::pin(txn.peek(key)).await,
            Self::Postgres(txn) => Box::pin(txn.peek(key)).await,
            _ => self.get(key).await.map(Some),
        }
    }

    async fn prefetch(&mut self, keys: &[Vec<u8>]) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.prefetch(keys).await,
            Self::Etcd(txn) => txn.prefetch(keys).await,
            Self::Redis(txn) => Box::pin(txn.prefetch(keys)).await,
            Self::Postgres(txn) => Box::pin(txn.prefetch(keys)).await,
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.prefetch(keys).await,
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.prefetch(keys).await,
        }
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        match self {
            Self::Sqlite(txn) => txn.scan(start, end, limit).await,
            Self::Etcd(txn) => txn.scan(start, end, limit).await,
            Self::Redis(txn) => Box::pin(txn.scan(start, end, limit)).await,
            Self::Postgres(txn) => Box::pin(txn.scan(start, end, limit)).await,
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.scan(start, end, limit).await,
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.scan(start, end, limit).await,
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.put(key, value),
            Self::Etcd(txn) => txn.put(key, value),
            Self::Redis(txn) => txn.put(key, value),
            Self::Postgres(txn) => txn.put(key, value),
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.put(key, value),
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.put(key, value),
        }
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.delete(key),
            Self::Etcd(txn) => txn.delete(key),
            Self::Redis(txn) => txn.delete(key),
            Self::Postgres(txn) => txn.delete(key),
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.delete(key),
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.delete(key),
        }
    }

    fn size(&self) -> usize {
        match self {
            Self::Sqlite(txn) => txn.size(),
            Self::Etcd(txn) => txn.size(),
            Self::Redis(txn) => txn.size(),
            Self::Postgres(txn) => txn.size(),
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.size(),
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.size(),
        }
    }

    async fn end_read(self) -> Result<(), KvError> {
        match self {
            Self::Redis(txn) => Box::pin(txn.end_read()).await,
            _ => Ok(()),
        }
    }

    async fn commit(self) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.commit().await,
            Self::Etcd(txn) => txn.commit().await,
            Self::Redis(txn) => Box::pin(txn.commit()).await,
            Self::Postgres(txn) => Box::pin(txn.commit()).await,
            #[cfg(feature = "testing")]
            Self::Memory(txn) => txn.commit().await,
            #[cfg(feature = "testing")]
            Self::Faulty(txn) => txn.commit().await,
        }
    }
}
