//! Directory quotas. A directory with a quota has a `"Q" ino` record: its limits, the nearest
//! enclosing quota, and the space and inodes its tree uses. Every inode names in its
//! attributes the quota it is charged to (`Attr::quota`, inherited from its directory at
//! creation), so a change charges the quota chain — that quota, then each enclosing one — in
//! the transaction that makes the change, and only there: inodes under no quota read no quota
//! record, and writers under different quotas share no key.
//!
//! Usage is exact because every charge moves with the inode: a file renamed into another
//! quota takes its charge along (`rehome`); a directory tree moves only whole when its root
//! has a quota of its own (its total moves), otherwise a non-empty directory refuses to cross
//! a quota boundary with EXDEV, as XFS project quotas do (mv then copies). A hard link into
//! another quota is EXDEV too. Setting a quota on a full directory, or removing one, walks the
//! tree in bounded transactions, rehoming inode by inode, so usage stays exact meanwhile; the
//! limits apply once the walk is done (`Quota::ready`).

use std::collections::{HashMap, HashSet};

use crate::engine::{AnyTxn, KvTxn, TXN_BUDGET};
use crate::error::{MetaError, Result, errno};
use crate::keys;
use crate::meta::{Meta, add_usage, charged, get_attr, get_dir, put_attr, read_txn, write_txn};
use crate::model::{Attr, Dirent, FileKind, Quota};

/// Entries rehomed per transaction: each reads its inode and both quota chains.
const BATCH: usize = 8;

/// The longest chain of nested quotas followed (a longer one means a damaged record loop).
const MAX_NESTING: usize = 64;

/// The limits of a quota; 0 for no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaLimits {
    /// Bytes (each file counted in whole 4 KiB blocks, directories and links 4 KiB).
    pub capacity: u64,
    /// Inodes under the directory.
    pub inodes: u64,
}

/// What `quota check` found for one quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaCheck {
    /// The directory.
    pub ino: u64,
    /// The usage recorded (space, inodes).
    pub stored: (i64, i64),
    /// The usage counted from the tree (space, inodes).
    pub counted: (i64, i64),
    /// Inodes of the tree charged to another quota than the one enclosing them.
    pub misplaced: u64,
    /// Whether `--repair` set the recorded usage to the counted one.
    pub repaired: bool,
}

pub(crate) async fn get_quota(txn: &mut AnyTxn, ino: u64) -> Result<Option<Quota>> {
    match txn.get(&keys::quota(ino)).await? {
        Some(bytes) => Ok(Some(Quota::decode(&bytes)?)),
        None => Ok(None),
    }
}

pub(crate) fn put_quota(txn: &mut AnyTxn, ino: u64, quota: &Quota) -> Result<()> {
    Ok(txn.put(&keys::quota(ino), &quota.encode())?)
}

/// Whether `attr` is a directory with a quota of its own.
fn owns_quota(ino: u64, attr: &Attr) -> bool {
    attr.kind == FileKind::Dir && attr.quota == ino
}

/// The quota `ino` itself is charged to: its `quota`, except for a directory with a quota of
/// its own, which is charged to the enclosing one.
async fn charged_to(txn: &mut AnyTxn, ino: u64, attr: &Attr) -> Result<u64> {
    if !owns_quota(ino, attr) {
        return Ok(attr.quota);
    }
    Ok(get_quota(txn, ino).await?.map_or(0, |q| q.parent))
}

/// The quotas from `start` outwards. A quota whose record is gone (removed while inodes still
/// named it) ends the chain.
async fn chain(txn: &mut AnyTxn, mut at: u64) -> Result<Vec<(u64, Quota)>> {
    let mut quotas = Vec::new();
    while at != 0 {
        let Some(quota) = get_quota(txn, at).await? else {
            break;
        };
        if quotas.len() == MAX_NESTING {
            return Err(MetaError::Corrupt(format!(
                "quota {at} is nested more than {MAX_NESTING} deep"
            )));
        }
        quotas.push((at, quota));
        at = quota.parent;
    }
    Ok(quotas)
}

/// Adds `space` and `inodes` to every quota of `quotas`; EDQUOT (nothing written) when an
/// increase passes one's limit.
fn add_to(txn: &mut AnyTxn, quotas: &mut [(u64, Quota)], space: i64, inodes: i64) -> Result<()> {
    if quotas.iter().any(|(_, q)| q.exceeded_by(space, inodes)) {
        return errno(libc::EDQUOT);
    }
    for (ino, quota) in quotas {
        quota.used_space = quota.used_space.saturating_add(space);
        quota.used_inodes = quota.used_inodes.saturating_add(inodes);
        put_quota(txn, *ino, quota)?;
    }
    Ok(())
}

/// Charges `space` bytes and `inodes` inodes on behalf of `ino`: the volume's usage and every
/// quota enclosing it. EDQUOT when an increase passes a quota's limit.
pub(crate) async fn charge(
    txn: &mut AnyTxn,
    ino: u64,
    attr: &Attr,
    space: i64,
    inodes: i64,
) -> Result<()> {
    let start = charged_to(txn, ino, attr).await?;
    if start != 0 && (space != 0 || inodes != 0) {
        let mut quotas = chain(txn, start).await?;
        add_to(txn, &mut quotas, space, inodes)?;
    }
    add_usage(txn, keys::USED_INODES, inodes, ino).await?;
    add_usage(txn, keys::USED_SPACE, space, ino).await
}

/// What moving `ino` between quotas moves: its own charge, and for a directory with a quota
/// of its own everything under it.
async fn weight(txn: &mut AnyTxn, ino: u64, attr: &Attr) -> Result<(i64, i64)> {
    let own = (charged(attr.kind, attr.size), 1);
    if !owns_quota(ino, attr) {
        return Ok(own);
    }
    let quota = get_quota(txn, ino).await?.unwrap_or_default();
    Ok((own.0 + quota.used_space, own.1 + quota.used_inodes))
}

/// Charges `ino` (and, for a directory with its own quota, its tree) to quota `to` instead of
/// the one it is charged to now: the quotas only the new chain has gain it (EDQUOT past a
/// limit), those only the old one has lose it. Changes `attr` (the caller stores it) or, for
/// a directory with its own quota, that quota's enclosing one.
pub(crate) async fn rehome(txn: &mut AnyTxn, ino: u64, attr: &mut Attr, to: u64) -> Result<()> {
    let from = charged_to(txn, ino, attr).await?;
    if from == to {
        return Ok(());
    }
    let (space, inodes) = weight(txn, ino, attr).await?;
    let old = chain(txn, from).await?;
    let new = chain(txn, to).await?;
    let old_set: HashSet<u64> = old.iter().map(|(q, _)| *q).collect();
    let new_set: HashSet<u64> = new.iter().map(|(q, _)| *q).collect();
    let mut gaining: Vec<_> = new
        .into_iter()
        .filter(|(q, _)| !old_set.contains(q))
        .collect();
    let mut losing: Vec<_> = old
        .into_iter()
        .filter(|(q, _)| !new_set.contains(q))
        .collect();
    add_to(txn, &mut gaining, space, inodes)?;
    add_to(txn, &mut losing, -space, -inodes)?;
    if owns_quota(ino, attr) {
        if let Some(mut quota) = get_quota(txn, ino).await? {
            quota.parent = to;
            put_quota(txn, ino, &quota)?;
        }
    } else {
        attr.quota = to;
    }
    Ok(())
}

/// Moves `ino` under a directory whose inodes are charged to `to`, as a rename or a link
/// does: EXDEV for what cannot take its charge along (a non-empty directory without a quota
/// of its own; a file with other names, which stay where they are), unless `to` is where it
/// is charged already.
pub(crate) async fn move_charge(
    txn: &mut AnyTxn,
    ino: u64,
    attr: &mut Attr,
    to: u64,
    other_names: bool,
) -> Result<()> {
    if charged_to(txn, ino, attr).await? == to {
        return Ok(());
    }
    let whole = match attr.kind {
        FileKind::Dir => owns_quota(ino, attr) || !crate::namespace::has_entries(txn, ino).await?,
        _ => !other_names,
    };
    if !whole {
        return errno(libc::EXDEV);
    }
    rehome(txn, ino, attr, to).await
}

/// Removes the quota record of a directory being removed.
pub(crate) fn forget(txn: &mut AnyTxn, ino: u64, attr: &Attr) -> Result<()> {
    if owns_quota(ino, attr) {
        txn.delete(&keys::quota(ino))?;
    }
    Ok(())
}

impl Meta {
    /// The quota of directory `ino`, if it has one.
    pub async fn quota(&self, ino: u64) -> Result<Option<Quota>> {
        read_txn!(self, |txn| {
            get_dir(&mut txn, ino).await?;
            get_quota(&mut txn, ino).await
        })
    }

    /// Every quota, by directory.
    pub async fn quotas(&self) -> Result<Vec<(u64, Quota)>> {
        read_txn!(self, |txn| {
            crate::meta::scan_prefix(&mut txn, keys::QUOTA_PREFIX)
                .await?
                .into_iter()
                .map(|(key, value)| {
                    let ino = keys::u64_at(&key, keys::QUOTA_PREFIX.len())
                        .ok_or_else(|| MetaError::Corrupt("quota key".into()))?;
                    Ok((ino, Quota::decode(&value)?))
                })
                .collect()
        })
    }

    /// The quotas whose limits bound what inode `ino` (a directory: what it holds) may grow
    /// by, innermost first.
    pub async fn quota_chain(&self, ino: u64) -> Result<Vec<(u64, Quota)>> {
        read_txn!(self, |txn| {
            let attr = get_attr(&mut txn, ino).await?;
            chain(&mut txn, attr.quota).await
        })
    }

    /// The bytes inode `ino` may still grow by under its quotas (`None`: no limit) and its
    /// stored size.
    pub async fn quota_room(&self, ino: u64) -> Result<(Option<u64>, u64)> {
        read_txn!(self, |txn| {
            let attr = get_attr(&mut txn, ino).await?;
            let room = chain(&mut txn, attr.quota)
                .await?
                .iter()
                .filter(|(_, q)| q.ready && q.capacity > 0)
                .map(|(_, q)| {
                    let used = u64::try_from(q.used_space).unwrap_or(0);
                    q.capacity.saturating_sub(used)
                })
                .min();
            Ok((room, attr.size))
        })
    }

    /// Sets the limits of directory `ino`'s quota, creating it when it has none: then every
    /// inode already under it is charged to it, in batches (`progress` gets the count of
    /// inodes seen), before its limits apply. Running it again after an interruption goes on.
    pub async fn set_quota(
        &self,
        ino: u64,
        limits: QuotaLimits,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Quota> {
        let (quota, from) = write_txn!(self, |txn| {
            let mut attr = get_dir(&mut txn, ino).await?;
            let existing = get_quota(&mut txn, ino).await?;
            if let Some(mut quota) = existing
                && owns_quota(ino, &attr)
            {
                quota.capacity = limits.capacity;
                quota.inodes = limits.inodes;
                put_quota(&mut txn, ino, &quota)?;
                return Ok((quota, quota.parent));
            }
            // A quota whose removal was interrupted still holds what was not moved out yet.
            let held = existing.map_or((0, 0), |q| (q.used_space, q.used_inodes));
            let quota = Quota {
                capacity: limits.capacity,
                inodes: limits.inodes,
                parent: attr.quota,
                used_space: held.0,
                used_inodes: held.1,
                ready: false,
            };
            put_quota(&mut txn, ino, &quota)?;
            attr.quota = ino;
            put_attr(&mut txn, ino, &attr)?;
            Ok((quota, quota.parent))
        })?;
        if quota.ready {
            return Ok(quota);
        }
        self.rehome_tree(ino, from, ino, progress).await?;
        write_txn!(self, |txn| {
            let mut quota = get_quota(&mut txn, ino)
                .await?
                .ok_or(MetaError::Errno(libc::ENOENT))?;
            quota.ready = true;
            put_quota(&mut txn, ino, &quota)?;
            Ok(quota)
        })
    }

    /// Removes directory `ino`'s quota: what it held is charged to the enclosing quota (if
    /// any), in batches. ENOENT when the directory has no quota.
    pub async fn delete_quota(&self, ino: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        let parent = write_txn!(self, |txn| {
            let mut attr = get_dir(&mut txn, ino).await?;
            let Some(mut quota) = get_quota(&mut txn, ino).await? else {
                return errno(libc::ENOENT);
            };
            quota.ready = false;
            put_quota(&mut txn, ino, &quota)?;
            // New entries of the directory are charged to the enclosing quota from now on.
            attr.quota = quota.parent;
            put_attr(&mut txn, ino, &attr)?;
            Ok(quota.parent)
        })?;
        self.rehome_tree(ino, ino, parent, progress).await?;
        write_txn!(self, |txn| {
            txn.delete(&keys::quota(ino))?;
            Ok(())
        })
    }

    /// Charges every inode under `root` charged to `from` to `to` instead, directory by
    /// directory, each batch of entries a transaction of its own. A directory with a quota of
    /// its own moves whole and is not entered.
    async fn rehome_tree(
        &self,
        root: u64,
        from: u64,
        to: u64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<()> {
        let mut dirs = vec![root];
        let mut visited = 0;
        while let Some(dir) = dirs.pop() {
            let mut after: Option<Vec<u8>> = None;
            loop {
                let (seen, last, subdirs) = write_txn!(self, |txn| {
                    rehome_batch(&mut txn, dir, after.as_deref(), from, to).await
                })?;
                visited += seen;
                progress(visited);
                dirs.extend(subdirs);
                match last {
                    Some(name) => after = Some(name),
                    None => break,
                }
            }
        }
        Ok(())
    }

    /// Counts the usage of every quota again from its tree, in one snapshot, and with
    /// `repair` sets the recorded usage to the count where it differs (only if it did not
    /// change since the snapshot: a busy quota may need another run).
    pub async fn check_quotas(&self, repair: bool) -> Result<Vec<QuotaCheck>> {
        let counted = read_txn!(self, |txn| count_quotas(&mut txn).await)?;
        let mut checks = Vec::with_capacity(counted.len());
        for mut check in counted {
            if repair && check.stored != check.counted {
                check.repaired = write_txn!(self, |txn| {
                    let Some(mut quota) = get_quota(&mut txn, check.ino).await? else {
                        return Ok(false);
                    };
                    if (quota.used_space, quota.used_inodes) != check.stored {
                        return Ok(false);
                    }
                    (quota.used_space, quota.used_inodes) = check.counted;
                    put_quota(&mut txn, check.ino, &quota)?;
                    Ok(true)
                })?;
            }
            checks.push(check);
        }
        Ok(checks)
    }
}

/// One transaction of a tree's rehoming: entries of `dir` after `after`, until the
/// transaction's budget. Returns the entries seen, the last name (None when the directory is
/// done) and the subdirectories to enter.
async fn rehome_batch(
    txn: &mut AnyTxn,
    dir: u64,
    after: Option<&[u8]>,
    from: u64,
    to: u64,
) -> Result<(u64, Option<Vec<u8>>, Vec<u64>)> {
    let prefix = keys::entries(dir);
    let start = match after {
        Some(name) => {
            let mut key = keys::entry(dir, name);
            key.push(0);
            key
        }
        None => prefix.clone(),
    };
    let end = crate::engine::prefix_end(&prefix);
    let mut subdirs = Vec::new();
    let mut seen = 0;
    let mut last = None;
    for (key, value) in txn.scan(&start, &end, BATCH).await? {
        let dirent = Dirent::decode(&value)?;
        let mut attr = get_attr(txn, dirent.ino).await?;
        let now = charged_to(txn, dirent.ino, &attr).await?;
        if now == from {
            rehome(txn, dirent.ino, &mut attr, to).await?;
            if !owns_quota(dirent.ino, &attr) {
                put_attr(txn, dirent.ino, &attr)?;
            }
        }
        // A directory charged to `to` already is entered too: an interrupted walk may have
        // rehomed it and not yet what it holds.
        let plain_dir = attr.kind == FileKind::Dir && !owns_quota(dirent.ino, &attr);
        if plain_dir && (now == from || now == to) {
            subdirs.push(dirent.ino);
        }
        seen += 1;
        last = Some(key[prefix.len()..].to_vec());
        if txn.size() >= TXN_BUDGET {
            return Ok((seen, last, subdirs));
        }
    }
    if seen < BATCH as u64 {
        last = None;
    }
    Ok((seen, last, subdirs))
}

/// What counting needs of an inode.
struct Counted {
    kind: FileKind,
    nlink: u32,
    quota: u64,
    charge: i64,
}

/// Counts every quota's tree: the inodes under it (each once, however many names it has
/// there) and their charges; nested quotas' trees count for every enclosing quota. Reads the
/// quotas, the inodes and the entries with three scans of one snapshot.
async fn count_quotas(txn: &mut AnyTxn) -> Result<Vec<QuotaCheck>> {
    let corrupt = |what: &str| MetaError::Corrupt(format!("{what} key"));
    let mut quotas = HashMap::new();
    for (key, value) in crate::meta::scan_prefix(txn, keys::QUOTA_PREFIX).await? {
        let ino = keys::u64_at(&key, keys::QUOTA_PREFIX.len()).ok_or_else(|| corrupt("quota"))?;
        quotas.insert(ino, Quota::decode(&value)?);
    }
    if quotas.is_empty() {
        return Ok(Vec::new());
    }
    let mut inodes = HashMap::new();
    for (key, value) in crate::meta::scan_prefix(txn, keys::ATTR_PREFIX).await? {
        let ino = keys::u64_at(&key, keys::ATTR_PREFIX.len()).ok_or_else(|| corrupt("inode"))?;
        let attr = Attr::decode(&value)?;
        let counted = Counted {
            kind: attr.kind,
            nlink: attr.nlink,
            quota: attr.quota,
            charge: charged(attr.kind, attr.size),
        };
        inodes.insert(ino, counted);
    }
    let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
    for (key, value) in crate::meta::scan_prefix(txn, keys::ENTRY_PREFIX).await? {
        let parent =
            keys::u64_at(&key, keys::ENTRY_PREFIX.len()).ok_or_else(|| corrupt("entry"))?;
        children
            .entry(parent)
            .or_default()
            .push(Dirent::decode(&value)?.ino);
    }
    let mut checks = Vec::with_capacity(quotas.len());
    for (&root, quota) in &quotas {
        let mut counted = (0i64, 0i64);
        let mut misplaced = 0;
        let mut linked = HashSet::new();
        // (directory, the quota its entries should be charged to)
        let mut dirs = vec![(root, root)];
        while let Some((dir, expected)) = dirs.pop() {
            for &ino in children.get(&dir).into_iter().flatten() {
                let Some(inode) = inodes.get(&ino) else {
                    continue;
                };
                if inode.kind != FileKind::Dir && inode.nlink > 1 && !linked.insert(ino) {
                    continue;
                }
                let own = inode.kind == FileKind::Dir && inode.quota == ino;
                let charged_now = match quotas.get(&ino) {
                    Some(nested) if own => nested.parent,
                    _ => inode.quota,
                };
                if charged_now != expected {
                    misplaced += 1;
                }
                counted.0 += inode.charge;
                counted.1 += 1;
                if inode.kind == FileKind::Dir {
                    dirs.push((ino, if own { ino } else { expected }));
                }
            }
        }
        checks.push(QuotaCheck {
            ino: root,
            stored: (quota.used_space, quota.used_inodes),
            counted,
            misplaced,
            repaired: false,
        });
    }
    checks.sort_by_key(|c| c.ino);
    Ok(checks)
}
