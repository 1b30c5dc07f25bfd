//! `fsck` of a volume: the metadata check, then every block the files need must exist with
//! its full size, and blocks nobody refers to are reported as leaked.

use datenlord_meta::{Meta, MetaReport};
use datenlord_store::BlockStore;

use crate::error::Result;

/// What a volume check found.
#[derive(Debug, Default)]
pub struct FsckReport {
    /// What the metadata check found (and, with `repair`, fixed).
    pub meta: MetaReport,
    /// Blocks files need that are missing or short, one line each.
    pub missing: Vec<String>,
    /// Objects in the store nobody refers to: (object, bytes).
    pub leaked: Vec<(u64, u64)>,
    /// Leaked objects deleted (with `repair`).
    pub deleted: usize,
}

impl FsckReport {
    /// True when nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.meta.problems.is_empty() && self.missing.is_empty() && self.leaked.is_empty()
    }
}

/// Checks a volume; with `repair`, fixes the metadata and deletes leaked blocks. Objects being
/// written by a live mount look leaked until committed, so do not repair a mounted volume.
pub async fn fsck(meta: &Meta, store: &BlockStore, repair: bool) -> Result<FsckReport> {
    let meta_report = meta.check(repair).await?;
    let present = store.list().await?;
    let bs = u64::from(store.block_size());
    let mut report = FsckReport::default();
    for (&object, &size) in &meta_report.objects {
        let blocks = present.get(&object);
        let mut missing = Vec::new();
        for index in 0..size.div_ceil(bs) {
            let want = bs.min(size - index * bs);
            match blocks.and_then(|b| b.get(&index)) {
                Some(&have) if have >= want => {}
                Some(&have) => missing.push(format!(
                    "object {object} block {index}: {have} bytes, {want} expected"
                )),
                None => missing.push(format!("object {object} block {index} is missing")),
            }
        }
        // On a mounted volume the object may have gone since the metadata was read (its file
        // deleted, its blocks then): only what is still referenced now is missing.
        if !missing.is_empty() && meta.is_referenced(object).await? {
            report.missing.extend(missing);
        }
    }
    for (&object, blocks) in &present {
        if meta_report.objects.contains_key(&object)
            || meta_report.doomed.contains_key(&object)
            || meta_report.kept.contains_key(&object)
            || meta_report.pending.contains_key(&object)
        {
            continue;
        }
        let bytes: u64 = blocks.values().sum();
        report.leaked.push((object, bytes));
        if repair {
            let last = blocks.keys().next_back().copied().unwrap_or(0);
            store.delete(object, (last + 1) * bs).await?;
            report.deleted += 1;
        }
    }
    report.meta = meta_report;
    Ok(report)
}
