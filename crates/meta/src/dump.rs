//! Every key of a volume, out of one snapshot and into an empty engine: the backup of a
//! volume's metadata and the way between engines (SQLite to etcd and back). Keys are the
//! same on every engine, so a copy of the keys is a copy of the volume — every attribute,
//! extended attribute, ACL, chunk map, quota and reference count. The document's format (JSON
//! lines, checksums) is the caller's.

use crate::engine::{AnyEngine, KvEngine, KvError, KvTxn, prefix_end};
use crate::error::{MetaError, Result};
use crate::keys;

/// Keys read from the snapshot at a time.
const PAGE: usize = 1000;

/// Keys written per transaction when loading (etcd takes 128 operations at most).
const LOAD_BATCH: usize = 64;

/// The key the embedded engine's sync writes (no volume record).
const DURABILITY_MARKER: &[u8] = &[0];

impl crate::Meta {
    /// Calls `each` with every key and value of the volume, in key order, all read from one
    /// snapshot (a consistent volume even while it is mounted and changing). Fails, rather
    /// than mixing moments, when the engine becomes unavailable midway, or (an engine without
    /// snapshots) when the volume changed meanwhile.
    pub async fn dump(&self, mut each: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<u64> {
        let mut snapshot = self.engine.begin(false).await?;
        let mut start = vec![0u8];
        let end = prefix_end(&[0xff]);
        let mut count = 0;
        loop {
            let page = snapshot.scan(&start, &end, PAGE).await?;
            for (key, value) in &page {
                if key.as_slice() != DURABILITY_MARKER {
                    each(key, value)?;
                    count += 1;
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => {
                    start = last.clone();
                    start.push(0);
                }
                _ => break,
            }
        }
        // An engine without snapshots (Redis) checks at the end that the volume held still.
        match snapshot.end_read().await {
            Err(KvError::Conflict) => Err(MetaError::Refused(
                "the volume changed while it was dumped (its metadata engine has no snapshots): \
                 dump it again, or while it is not written"
                    .into(),
            )),
            other => Ok(other.map(|()| count)?),
        }
    }
}

/// Loads a volume's keys into `kv`, which must hold no volume: `pairs` in batches, the volume
/// record held back and written last only when `finish` (the caller's check of the whole
/// document) agrees — so a load that fails midway leaves an engine without a volume (say so,
/// and empty it before trying again), never a volume that looks whole but is not.
pub async fn load(
    kv: &AnyEngine,
    pairs: impl Iterator<Item = Result<(Vec<u8>, Vec<u8>)>>,
    finish: impl FnOnce() -> Result<()>,
) -> Result<u64> {
    let mut probe = kv.begin(false).await?;
    let any = probe.scan(&[], &prefix_end(&[0xff]), 2).await?;
    if any.iter().any(|(k, _)| k.as_slice() != DURABILITY_MARKER) {
        return Err(MetaError::Refused(
            "the metadata engine is not empty: load into a new database or etcd prefix".into(),
        ));
    }
    drop(probe);
    let mut volume = None;
    let mut batch = Vec::with_capacity(LOAD_BATCH);
    let mut count = 0;
    for pair in pairs {
        let (key, value) = pair?;
        count += 1;
        if key.as_slice() == keys::VOLUME {
            volume = Some(value);
            continue;
        }
        batch.push((key, value));
        if batch.len() == LOAD_BATCH {
            write(kv, &batch).await?;
            batch.clear();
        }
    }
    write(kv, &batch).await?;
    finish()?;
    let volume = volume.ok_or_else(|| MetaError::Refused("the dump holds no volume".into()))?;
    write(kv, &[(keys::VOLUME.to_vec(), volume)]).await?;
    Ok(count)
}

async fn write(kv: &AnyEngine, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut txn = kv.begin(true).await?;
    for (key, value) in pairs {
        txn.put(key, value)?;
    }
    Ok(txn.commit().await?)
}
