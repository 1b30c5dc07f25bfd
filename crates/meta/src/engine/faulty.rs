//! An engine that fails when told to (feature `testing`): any engine wrapped with a
//! [`FaultPlan`] saying which operations fail as if the engine were unreachable, which commits
//! lose a race, and how long each operation waits first. A fault is injected before the
//! operation reaches the engine, so a failed commit applied nothing — what the metadata layer
//! must then do (retry, or fail the whole operation with nothing half done) is what the tests
//! and the fuzzer check.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::{Changes, KvEngine, KvError, KvTxn, Pair};

/// Which operations of a [`Faulty`] engine fail. Operations (begins, gets — a `get_many` is
/// one, as it is one request to a server — scans and commits of every transaction) and
/// commits are numbered from 1 in the order they are made.
#[derive(Debug, Default)]
pub struct FaultPlan {
    fail_ops: Mutex<BTreeSet<u64>>,
    conflict_commits: Mutex<BTreeSet<u64>>,
    fail_every: AtomicU64,
    conflict_every: AtomicU64,
    delay_micros: AtomicU64,
    ops: AtomicU64,
    commits: AtomicU64,
    injected: AtomicU64,
}

impl FaultPlan {
    /// Operation `n` fails with [`KvError::Unavailable`].
    pub fn fail_op(&self, n: u64) {
        set(&self.fail_ops).insert(n);
    }

    /// Commit `n` fails with [`KvError::Conflict`], applying nothing.
    pub fn conflict_commit(&self, n: u64) {
        set(&self.conflict_commits).insert(n);
    }

    /// Every `n`th operation fails with [`KvError::Unavailable`] (0: none).
    pub fn fail_every(&self, n: u64) {
        self.fail_every.store(n, Ordering::Relaxed);
    }

    /// Every `n`th commit fails with [`KvError::Conflict`] (0: none).
    pub fn conflict_every(&self, n: u64) {
        self.conflict_every.store(n, Ordering::Relaxed);
    }

    /// Every operation waits this long before it runs.
    pub fn delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.delay_micros.store(micros, Ordering::Relaxed);
    }

    /// Operations made so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::Relaxed)
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// Counts an operation; its fault, if planned.
    async fn before_op(&self) -> Result<(), KvError> {
        let n = self.ops.fetch_add(1, Ordering::Relaxed) + 1;
        let delay = self.delay_micros.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_micros(delay)).await;
        }
        if set(&self.fail_ops).remove(&n) || every(&self.fail_every, n) {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(KvError::Unavailable(format!(
                "fault injected at operation {n}"
            )));
        }
        Ok(())
    }

    fn commit_conflicts(&self) -> bool {
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        let planned = set(&self.conflict_commits).remove(&n) || every(&self.conflict_every, n);
        if planned {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        planned
    }
}

fn every(period: &AtomicU64, n: u64) -> bool {
    let period = period.load(Ordering::Relaxed);
    period > 0 && n.is_multiple_of(period)
}

fn set(set: &Mutex<BTreeSet<u64>>) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
    set.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `E` with the faults of a shared [`FaultPlan`].
#[derive(Debug, Clone)]
pub struct Faulty<E> {
    inner: E,
    plan: Arc<FaultPlan>,
}

impl<E> Faulty<E> {
    /// `inner` with no faults planned yet.
    pub fn new(inner: E) -> Self {
        Self {
            inner,
            plan: Arc::default(),
        }
    }

    /// The plan, to add faults to at any time.
    pub fn plan(&self) -> &Arc<FaultPlan> {
        &self.plan
    }
}

impl<E: KvEngine> KvEngine for Faulty<E> {
    type Txn = FaultyTxn<E::Txn>;

    async fn begin(&self, write: bool) -> Result<Self::Txn, KvError> {
        self.plan.before_op().await?;
        Ok(FaultyTxn {
            inner: self.inner.begin(write).await?,
            plan: self.plan.clone(),
        })
    }

    async fn sync(&self) -> Result<(), KvError> {
        self.inner.sync().await
    }

    fn watch(&self) -> Option<Changes> {
        self.inner.watch()
    }

    fn reports_changes(&self) -> bool {
        self.inner.reports_changes()
    }
}

/// A transaction of a [`Faulty`] engine.
#[derive(Debug)]
pub struct FaultyTxn<T> {
    inner: T,
    plan: Arc<FaultPlan>,
}

impl<T: KvTxn> KvTxn for FaultyTxn<T> {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.plan.before_op().await?;
        self.inner.get(key).await
    }

    async fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.plan.before_op().await?;
        self.inner.get_many(keys).await
    }

    async fn get_many_unguarded(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.plan.before_op().await?;
        self.inner.get_many_unguarded(keys).await
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        self.plan.before_op().await?;
        self.inner.scan(start, end, limit).await
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.inner.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.inner.delete(key)
    }

    fn size(&self) -> usize {
        self.inner.size()
    }

    async fn commit(self) -> Result<(), KvError> {
        self.plan.before_op().await?;
        if self.plan.commit_conflicts() {
            return Err(KvError::Conflict);
        }
        self.inner.commit().await
    }
}
