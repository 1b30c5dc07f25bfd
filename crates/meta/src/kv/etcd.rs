//! The etcd engine: optimistic transactions on etcd's v3 API.
//!
//! A transaction reads at one revision (the first read's), so it sees one snapshot; it buffers
//! its writes (and reads them back). Commit is one etcd `Txn`: if every key read still has the
//! modification revision it had (absent keys: still absent) and no key in a scanned range was
//! written since the snapshot, apply the writes; otherwise report [`KvError::Conflict`] and the
//! metadata layer retries. Deleting a key in a scanned range is not seen by the range check;
//! the metadata layer never relies on it, as every change to a directory's entries also writes
//! the directory's attributes, which its readers have read.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, KvClient, Txn, TxnOp};

use super::{KvEngine, KvError, KvTxn, Pair};

/// How long one request to etcd may take before it fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// etcd as an ordered key-value store; every key lives under `prefix`. Cheap to clone.
#[derive(Clone)]
pub struct EtcdEngine {
    shared: Arc<Shared>,
}

struct Shared {
    kv: KvClient,
    prefix: Vec<u8>,
}

impl std::fmt::Debug for EtcdEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdEngine")
            .field("prefix", &String::from_utf8_lossy(&self.shared.prefix))
            .finish_non_exhaustive()
    }
}

fn engine_error(err: etcd_client::Error) -> KvError {
    KvError::Engine(format!("etcd: {err}"))
}

impl EtcdEngine {
    /// Connects to the cluster at `endpoints` (`host:port`), keeping keys under `prefix`.
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        user: Option<(String, String)>,
    ) -> Result<Self, KvError> {
        let mut options = ConnectOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(CONNECT_TIMEOUT);
        if let Some((name, password)) = user {
            options = options.with_user(name, password);
        }
        let urls: Vec<String> = endpoints.iter().map(|e| format!("http://{e}")).collect();
        let client = Client::connect(&urls, Some(options))
            .await
            .map_err(|e| KvError::Open {
                url: format!("etcd://{}", endpoints.join(",")),
                reason: e.to_string(),
            })?;
        let engine = Self {
            shared: Arc::new(Shared {
                kv: client.kv_client(),
                prefix: format!("{}/", prefix.trim_matches('/')).into_bytes(),
            }),
        };
        // Fail now, with the reason, rather than at the first file operation.
        engine
            .kv()
            .get(
                engine.shared.prefix.clone(),
                Some(GetOptions::new().with_limit(1)),
            )
            .await
            .map_err(|e| KvError::Open {
                url: format!("etcd://{}", endpoints.join(",")),
                reason: e.to_string(),
            })?;
        Ok(engine)
    }

    fn key(&self, key: &[u8]) -> Vec<u8> {
        [self.shared.prefix.as_slice(), key].concat()
    }

    /// A handle for one request (clones share the connection).
    fn kv(&self) -> KvClient {
        self.shared.kv.clone()
    }
}

impl KvEngine for EtcdEngine {
    type Txn = EtcdTxn;

    async fn begin(&self, write: bool) -> Result<EtcdTxn, KvError> {
        Ok(EtcdTxn {
            engine: self.clone(),
            write,
            revision: None,
            reads: BTreeMap::new(),
            scans: Vec::new(),
            writes: BTreeMap::new(),
        })
    }

    async fn sync(&self) -> Result<(), KvError> {
        // etcd acknowledges a commit only once a quorum has it on disk.
        Ok(())
    }
}

/// An optimistic transaction on etcd.
#[derive(Debug)]
pub struct EtcdTxn {
    engine: EtcdEngine,
    write: bool,
    /// The snapshot every read uses, fixed by the first read.
    revision: Option<i64>,
    /// Keys read (with prefix) and their modification revision then (0: absent).
    reads: BTreeMap<Vec<u8>, i64>,
    /// Ranges scanned (with prefix).
    scans: Vec<(Vec<u8>, Vec<u8>)>,
    /// Buffered writes (with prefix): `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl EtcdTxn {
    async fn range(&mut self, key: Vec<u8>, options: GetOptions) -> Result<Vec<Pair>, KvError> {
        let options = match self.revision {
            Some(revision) => options.with_revision(revision),
            None => options,
        };
        let response = self
            .engine
            .kv()
            .get(key, Some(options))
            .await
            .map_err(engine_error)?;
        if self.revision.is_none() {
            self.revision = response.header().map(|h| h.revision());
        }
        let mut pairs = Vec::with_capacity(response.kvs().len());
        for kv in response.kvs() {
            self.reads
                .entry(kv.key().to_vec())
                .or_insert(kv.mod_revision());
            pairs.push((kv.key().to_vec(), kv.value().to_vec()));
        }
        Ok(pairs)
    }
}

impl KvTxn for EtcdTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let key = self.engine.key(key);
        if let Some(write) = self.writes.get(&key) {
            return Ok(write.clone());
        }
        let pairs = self.range(key.clone(), GetOptions::new()).await?;
        self.reads.entry(key).or_insert(0);
        Ok(pairs.into_iter().next().map(|(_, value)| value))
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        let (start, end) = (self.engine.key(start), self.engine.key(end));
        // Buffered deletes may hide some of what etcd returns: ask for that many more.
        let hidden = self.writes.range(start.clone()..end.clone()).count();
        let fetch = i64::try_from(limit.saturating_add(hidden)).unwrap_or(i64::MAX);
        let options = GetOptions::new().with_range(end.clone()).with_limit(fetch);
        let fetched = self.range(start.clone(), options).await?;
        self.scans.push((start.clone(), end.clone()));
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = fetched.into_iter().collect();
        for (key, write) in self.writes.range(start..end) {
            match write {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        let cut = self.engine.shared.prefix.len();
        Ok(merged
            .into_iter()
            .take(limit)
            .map(|(key, value)| (key[cut..].to_vec(), value))
            .collect())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        if !self.write {
            return Err(KvError::Engine("write in a read-only transaction".into()));
        }
        self.writes
            .insert(self.engine.key(key), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        if !self.write {
            return Err(KvError::Engine("write in a read-only transaction".into()));
        }
        self.writes.insert(self.engine.key(key), None);
        Ok(())
    }

    async fn commit(mut self) -> Result<(), KvError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut compares: Vec<Compare> = self
            .reads
            .iter()
            .map(|(key, &revision)| match revision {
                0 => Compare::version(key.clone(), CompareOp::Equal, 0),
                revision => Compare::mod_revision(key.clone(), CompareOp::Equal, revision),
            })
            .collect();
        if let Some(revision) = self.revision {
            compares.extend(self.scans.iter().map(|(start, end)| {
                Compare::mod_revision(start.clone(), CompareOp::Less, revision + 1)
                    .with_range(end.clone())
            }));
        }
        let ops: Vec<TxnOp> = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|(key, write)| match write {
                Some(value) => TxnOp::put(key, value, None),
                None => TxnOp::delete(key, None),
            })
            .collect();
        let response = self
            .engine
            .kv()
            .txn(Txn::new().when(compares).and_then(ops))
            .await
            .map_err(engine_error)?;
        if response.succeeded() {
            Ok(())
        } else {
            Err(KvError::Conflict)
        }
    }
}
