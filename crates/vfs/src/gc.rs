//! Garbage collection of the storage side: objects in the store that no file refers to
//! (leaked by a crash between storing blocks and recording them), and the trees of clones
//! whose builders died. fsck finds problems; gc fixes the storage side.

use std::collections::BTreeMap;

use datenlord_meta::Meta;
use datenlord_store::BlockStore;
use futures::TryStreamExt;

use crate::Result;

/// Objects checked against the metadata at a time (and so held in memory).
const BATCH: usize = 10_000;

/// Leaked objects named in a report, at most (all are counted).
const EXAMPLES: usize = 20;

/// What a collection found (and, with `delete`, removed).
#[derive(Debug, Default, Clone)]
pub struct GcReport {
    /// Blocks listed in the store.
    pub blocks: u64,
    /// Objects no metadata knows.
    pub leaked: u64,
    /// Their bytes.
    pub leaked_bytes: u64,
    /// Some of them, with their bytes.
    pub examples: Vec<(u64, u64)>,
    /// Leaked objects deleted.
    pub deleted: u64,
    /// Clones whose builders died.
    pub dead_clones: usize,
}

/// Lists the store in a stream and checks each batch of objects against the metadata; with
/// `delete`, deletes the leaked ones and removes dead clones. `progress` gets the blocks
/// listed so far. Safe on a mounted volume: a block is stored only after its object is
/// recorded as being written, so an object the metadata does not know is no one's.
pub async fn gc(
    meta: &Meta,
    store: &BlockStore,
    delete: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<GcReport> {
    let mut report = GcReport::default();
    let dead: Vec<u64> = meta
        .clones()
        .await?
        .into_iter()
        .filter(|(_, record)| crate::clone_is_dead(record))
        .map(|(root, _)| root)
        .collect();
    report.dead_clones = dead.len();
    if delete && !dead.is_empty() {
        meta.reclaim_stale_clones(crate::clone_is_dead).await?;
    }
    let bs = u64::from(store.block_size());
    // object -> (bytes listed, one past its last block listed)
    let mut batch: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut blocks = std::pin::pin!(store.list_blocks());
    while let Some((object, index, size)) = blocks.try_next().await? {
        report.blocks += 1;
        let seen = batch.entry(object).or_default();
        seen.0 += size;
        seen.1 = seen.1.max(index + 1);
        if batch.len() >= BATCH {
            settle(meta, store, &mut batch, delete, bs, &mut report).await?;
            progress(report.blocks);
        }
    }
    settle(meta, store, &mut batch, delete, bs, &mut report).await?;
    progress(report.blocks);
    Ok(report)
}

async fn settle(
    meta: &Meta,
    store: &BlockStore,
    batch: &mut BTreeMap<u64, (u64, u64)>,
    delete: bool,
    block_size: u64,
    report: &mut GcReport,
) -> Result<()> {
    let objects: Vec<u64> = batch.keys().copied().collect();
    let known = meta.known_objects(&objects).await?;
    for (object, (bytes, blocks)) in std::mem::take(batch) {
        if known.contains(&object) {
            continue;
        }
        report.leaked += 1;
        report.leaked_bytes += bytes;
        if report.examples.len() < EXAMPLES {
            report.examples.push((object, bytes));
        }
        if delete {
            store.delete(object, blocks * block_size).await?;
            report.deleted += 1;
        }
    }
    Ok(())
}
