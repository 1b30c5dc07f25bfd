//! Static dispatch over the engines, so the metadata layer names one type and pays no boxing.

use super::etcd::{EtcdEngine, EtcdTxn};
use super::sqlite::SqliteTxn;
use super::{Changes, KvEngine, KvError, KvTxn, Pair, SqliteEngine};

/// Any engine.
#[derive(Debug, Clone)]
pub enum AnyEngine {
    Sqlite(SqliteEngine),
    Etcd(EtcdEngine),
}

/// A transaction of any engine.
#[derive(Debug)]
pub enum AnyTxn {
    Sqlite(SqliteTxn),
    Etcd(EtcdTxn),
}

impl KvEngine for AnyEngine {
    type Txn = AnyTxn;

    async fn begin(&self, write: bool) -> Result<AnyTxn, KvError> {
        match self {
            Self::Sqlite(kv) => kv.begin(write).await.map(AnyTxn::Sqlite),
            Self::Etcd(kv) => kv.begin(write).await.map(AnyTxn::Etcd),
        }
    }

    async fn sync(&self) -> Result<(), KvError> {
        match self {
            Self::Sqlite(kv) => kv.sync().await,
            Self::Etcd(kv) => kv.sync().await,
        }
    }

    fn watch(&self) -> Option<Changes> {
        match self {
            Self::Sqlite(kv) => kv.watch(),
            Self::Etcd(kv) => kv.watch(),
        }
    }

    fn reports_changes(&self) -> bool {
        match self {
            Self::Sqlite(kv) => kv.reports_changes(),
            Self::Etcd(kv) => kv.reports_changes(),
        }
    }
}

impl KvTxn for AnyTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            Self::Sqlite(txn) => txn.get(key).await,
            Self::Etcd(txn) => txn.get(key).await,
        }
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        match self {
            Self::Sqlite(txn) => txn.scan(start, end, limit).await,
            Self::Etcd(txn) => txn.scan(start, end, limit).await,
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.put(key, value),
            Self::Etcd(txn) => txn.put(key, value),
        }
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.delete(key),
            Self::Etcd(txn) => txn.delete(key),
        }
    }

    fn size(&self) -> usize {
        match self {
            Self::Sqlite(txn) => txn.size(),
            Self::Etcd(txn) => txn.size(),
        }
    }

    async fn commit(self) -> Result<(), KvError> {
        match self {
            Self::Sqlite(txn) => txn.commit().await,
            Self::Etcd(txn) => txn.commit().await,
        }
    }
}
