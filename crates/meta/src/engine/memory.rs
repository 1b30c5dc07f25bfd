//! An engine in memory, for tests (feature `testing`): what the logic may rely on from an
//! optimistic engine, and no more. It behaves as etcd does — a transaction reads one snapshot
//! (fixed by its first read), buffers its writes and commits only if no key it read changed
//! and no key of a range it scanned was written since the snapshot — including etcd's blind
//! spot: deleting a key inside a scanned range is not seen by the range check. Logic that
//! would rely on more than etcd gives fails on this engine the same way, in a unit test or a
//! fuzzer, without a cluster.
//!
//! The logic lives with that blind spot by a rule: whoever deletes a key that others find by
//! scanning also writes a key those scanners read (a directory's entries change with its
//! entry change time, which every read of its attributes reads). This engine enforces the
//! rule: a commit whose scanned range lost a key to a later commit that wrote none of the
//! keys this one read fails with [`KvError::Engine`] naming the key — on etcd it would have
//! committed on a stale view.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{KvEngine, KvError, KvTxn, Pair};

/// A value and the revision of the commit that wrote it.
type Versioned = (Vec<u8>, i64);

/// Every key's value as of one commit.
type Data = Arc<BTreeMap<Vec<u8>, Versioned>>;

#[derive(Debug, Default)]
struct State {
    /// The revision of the last commit.
    revision: i64,
    /// Shared with the snapshots of open transactions; a commit copies it when they hold it.
    data: Data,
    /// The latest commits that deleted keys, for the deletion rule (oldest first).
    deletions: VecDeque<Deletion>,
}

/// What a commit deleted, and every key it wrote (deleted ones included).
#[derive(Debug)]
struct Deletion {
    revision: i64,
    deleted: Vec<Vec<u8>>,
    written: BTreeSet<Vec<u8>>,
}

/// Commits with deletions remembered for the deletion rule; a transaction whose snapshot is
/// older than all of them is checked against what is left.
const DELETIONS_KEPT: usize = 4096;

/// A transactional ordered key-value store in this process's memory. Cheap to clone: clones
/// share one store.
#[derive(Debug, Clone, Default)]
pub struct MemoryEngine {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl MemoryEngine {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvEngine for MemoryEngine {
    type Txn = MemoryTxn;

    async fn begin(&self, write: bool) -> Result<MemoryTxn, KvError> {
        Ok(MemoryTxn {
            engine: self.clone(),
            write,
            snapshot: None,
            reads: BTreeMap::new(),
            scans: Vec::new(),
            writes: BTreeMap::new(),
        })
    }

    async fn sync(&self) -> Result<(), KvError> {
        Ok(())
    }
}

/// An optimistic transaction of [`MemoryEngine`].
#[derive(Debug)]
pub struct MemoryTxn {
    engine: MemoryEngine,
    write: bool,
    /// The revision and data every read sees, fixed by the first read.
    snapshot: Option<(i64, Data)>,
    /// Keys read and their revision then (0: absent).
    reads: BTreeMap<Vec<u8>, i64>,
    /// Ranges scanned.
    scans: Vec<(Vec<u8>, Vec<u8>)>,
    /// Buffered writes: `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl MemoryTxn {
    fn snapshot(&mut self) -> &BTreeMap<Vec<u8>, Versioned> {
        let engine = &self.engine;
        &self
            .snapshot
            .get_or_insert_with(|| {
                let state = lock(&engine.state);
                (state.revision, state.data.clone())
            })
            .1
    }

    fn writable(&self) -> Result<(), KvError> {
        if self.write {
            Ok(())
        } else {
            Err(KvError::Engine("write in a read-only transaction".into()))
        }
    }
}

impl MemoryTxn {
    /// Fails when a commit after `snapshot` deleted a key inside a range this transaction
    /// scanned, and wrote none of the keys it read: nothing would tell this commit that what
    /// it scanned is gone.
    fn check_deletion_rule(
        &self,
        deletions: &VecDeque<Deletion>,
        snapshot: i64,
    ) -> Result<(), KvError> {
        for later in deletions.iter().filter(|d| d.revision > snapshot) {
            if later.written.iter().any(|key| self.reads.contains_key(key)) {
                continue;
            }
            let scanned = |key: &Vec<u8>| {
                self.scans
                    .iter()
                    .any(|(start, end)| start <= key && key < end)
            };
            if let Some(key) = later.deleted.iter().find(|key| scanned(key)) {
                return Err(KvError::Engine(format!(
                    "deletion rule broken: key {key:?} inside a scanned range was deleted by \
                     commit {} that wrote no key this transaction read",
                    later.revision
                )));
            }
        }
        Ok(())
    }
}

impl KvTxn for MemoryTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        if let Some(write) = self.writes.get(key) {
            return Ok(write.clone());
        }
        let found = self.snapshot().get(key).cloned();
        let revision = found.as_ref().map_or(0, |(_, revision)| *revision);
        self.reads.entry(key.to_vec()).or_insert(revision);
        Ok(found.map(|(value, _)| value))
    }

    async fn get_many_unguarded(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            let value = match self.writes.get(key) {
                Some(write) => write.clone(),
                None => self.snapshot().get(key).map(|(value, _)| value.clone()),
            };
            values.push(value);
        }
        Ok(values)
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        if start >= end {
            return Ok(Vec::new());
        }
        let range = (Bound::Included(start), Bound::Excluded(end));
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self
            .snapshot()
            .range::<[u8], _>(range)
            .map(|(key, (value, _))| (key.clone(), value.clone()))
            .collect();
        for (key, write) in self.writes.range::<[u8], _>(range) {
            match write {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        self.scans.push((start.to_vec(), end.to_vec()));
        Ok(merged.into_iter().take(limit).collect())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.writable()?;
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.writable()?;
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }

    fn size(&self) -> usize {
        (self.reads.len() + self.scans.len()).max(self.writes.len())
    }

    async fn commit(self) -> Result<(), KvError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut state = lock(&self.engine.state);
        let changed = |key: &[u8]| state.data.get(key).map_or(0, |(_, revision)| *revision);
        if self.reads.iter().any(|(key, &seen)| changed(key) != seen) {
            return Err(KvError::Conflict);
        }
        if let Some((snapshot, _)) = &self.snapshot {
            let written_since = |(start, end): &(Vec<u8>, Vec<u8>)| {
                state
                    .data
                    .range::<[u8], _>((Bound::Included(&start[..]), Bound::Excluded(&end[..])))
                    .any(|(_, (_, revision))| revision > snapshot)
            };
            if self.scans.iter().any(written_since) {
                return Err(KvError::Conflict);
            }
            self.check_deletion_rule(&state.deletions, *snapshot)?;
        }
        state.revision += 1;
        let revision = state.revision;
        let deleted: Vec<Vec<u8>> = self
            .writes
            .iter()
            .filter(|(key, write)| write.is_none() && state.data.contains_key(*key))
            .map(|(key, _)| key.clone())
            .collect();
        if !deleted.is_empty() {
            if state.deletions.len() == DELETIONS_KEPT {
                state.deletions.pop_front();
            }
            let written = self.writes.keys().cloned().collect();
            state.deletions.push_back(Deletion {
                revision,
                deleted,
                written,
            });
        }
        let data = Arc::make_mut(&mut state.data);
        for (key, write) in self.writes {
            match write {
                Some(value) => data.insert(key, (value, revision)),
                None => data.remove(&key),
            };
        }
        Ok(())
    }
}
