//! Directory quotas. A directory with a quota has a `"Q" ino` record: its limits, the nearest
//! enclosing quota, and the space and inodes its tree uses. Every inode names in its
//! attributes the quota it is charged to (`Attr::quota`, inherited from its directory at
//! creation), so a change charges the quota chain — that quota, then each enclosing one — in
//! the transaction that makes the change, and only there: inodes under no quota read no quota
//! record, and writers under different quotas share no key.
//!
//! Writers under one quota seldom share a key either: a quota's usage is its record's plus
//! that of [`keys::QUOTA_SHARDS`] usage shards (`"U" quota shard`), and a change charges the
//! shard of the inode it changes (read and written in its commit: no charge is lost). Far
//! from a limit, its check reads the other shards without the commit depending on them;
//! near it (within a 16th of it, and at least 256 MiB or 1 024 inodes: `near_limit`), it
//! compares them all, so concurrent writers near a limit conflict and it holds exactly — it
//! could be passed only by charges made at one moment that exceed that room together.
//! Moving or recounting a quota's whole usage compares every shard too.
//!
//! Usage is exact because every charge moves with the inode: a file renamed into another
//! quota takes its charge along (`rehome`); a directory tree moves only whole when its root
//! has a quota of its own (its total moves), otherwise a non-empty directory refuses to cross
//! a quota boundary with EXDEV, as XFS project quotas do (mv then copies). A hard link into
//! another quota is EXDEV too. Setting a quota on a full directory, or removing one, walks the
//! tree in bounded transactions, rehoming inode by inode, so usage stays exact meanwhile; the
//! limits apply once the walk is done (`Quota::ready`).

use std::collections::{BTreeMap, HashMap, HashSet};

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

/// The stored record of quota `ino`: its usage is what its shards do not hold.
async fn get_record(txn: &mut AnyTxn, ino: u64) -> Result<Option<Quota>> {
    match txn.get(&keys::quota(ino)).await? {
        Some(bytes) => Ok(Some(Quota::decode(&bytes)?)),
        None => Ok(None),
    }
}

/// Stores the record of quota `ino` (its shards untouched).
pub(crate) fn put_quota(txn: &mut AnyTxn, ino: u64, quota: &Quota) -> Result<()> {
    Ok(txn.put(&keys::quota(ino), &quota.encode())?)
}

/// Removes quota `ino`: its record and its usage shards.
pub(crate) fn delete_quota_keys(txn: &mut AnyTxn, ino: u64) -> Result<()> {
    txn.delete(&keys::quota(ino))?;
    for key in shard_keys(ino) {
        txn.delete(&key)?;
    }
    Ok(())
}

/// The keys of quota `ino`'s usage shards.
fn shard_keys(ino: u64) -> Vec<Vec<u8>> {
    (0..keys::QUOTA_SHARDS)
        .map(|shard| keys::quota_usage(ino, shard as u8))
        .collect()
}

/// The keys a quota's figures are read from: its record, then its usage shards.
pub(crate) fn quota_keys(ino: u64) -> Vec<Vec<u8>> {
    let mut keys = vec![keys::quota(ino)];
    keys.extend(shard_keys(ino));
    keys
}

/// The usage shard that charges on behalf of inode `ino` change.
fn shard_key(quota: u64, ino: u64) -> Vec<u8> {
    keys::quota_usage(quota, (ino % keys::QUOTA_SHARDS) as u8)
}

fn encode_usage(space: i64, inodes: i64) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&space.to_be_bytes());
    out[8..].copy_from_slice(&inodes.to_be_bytes());
    out
}

fn decode_usage(bytes: &[u8]) -> Result<(i64, i64)> {
    let corrupt = || MetaError::Corrupt("a quota usage shard is not 16 bytes".into());
    let (space, inodes) = bytes.split_at_checked(8).ok_or_else(corrupt)?;
    Ok((
        i64::from_be_bytes(space.try_into().map_err(|_| corrupt())?),
        i64::from_be_bytes(inodes.try_into().map_err(|_| corrupt())?),
    ))
}

/// Adds what a usage shard holds to `quota`'s usage.
fn add_shard(quota: &mut Quota, shard: &[u8]) -> Result<()> {
    let (space, inodes) = decode_usage(shard)?;
    quota.used_space = quota.used_space.saturating_add(space);
    quota.used_inodes = quota.used_inodes.saturating_add(inodes);
    Ok(())
}

/// Quota `ino` with its whole usage: the record's and its shards'. Unless `guarded`, the
/// shards are read without the commit depending on them: concurrent writers under the quota
/// each change a shard of their own and do not conflict with this transaction, so the usage
/// may trail theirs (enough for a limit check, not for moving the usage elsewhere).
pub(crate) async fn get_quota(txn: &mut AnyTxn, ino: u64, guarded: bool) -> Result<Option<Quota>> {
    txn.prefetch(&quota_keys(ino)).await?;
    let Some(mut quota) = get_record(txn, ino).await? else {
        return Ok(None);
    };
    let shards = shard_keys(ino);
    let values = if guarded {
        txn.get_many(&shards).await?
    } else {
        txn.get_many_unguarded(&shards).await?
    };
    for value in values.iter().flatten() {
        add_shard(&mut quota, value)?;
    }
    Ok(Some(quota))
}

/// Adds `space` and `inodes` to the usage shard of quota `quota` that `ino` changes.
async fn add_to_shard(
    txn: &mut AnyTxn,
    quota: u64,
    ino: u64,
    space: i64,
    inodes: i64,
) -> Result<()> {
    let key = shard_key(quota, ino);
    let (old_space, old_inodes) = match txn.get(&key).await? {
        Some(bytes) => decode_usage(&bytes)?,
        None => (0, 0),
    };
    let value = encode_usage(
        old_space.saturating_add(space),
        old_inodes.saturating_add(inodes),
    );
    Ok(txn.put(&key, &value)?)
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
    Ok(get_record(txn, ino).await?.map_or(0, |q| q.parent))
}

/// The quotas from `start` outwards. A quota whose record is gone (removed while inodes still
/// named it) ends the chain.
async fn chain(txn: &mut AnyTxn, mut at: u64) -> Result<Vec<(u64, Quota)>> {
    let mut quotas = Vec::new();
    while at != 0 {
        let Some(quota) = get_quota(txn, at, false).await? else {
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

/// Whether a charge of `space` and `inodes` comes near enough to one of `quota`'s limits
/// (within a 16th of it, and at least 256 MiB or 1 024 inodes) that its check compares every
/// shard: then concurrent writers near the limit conflict, and it holds exactly. Further
/// from it, the charges made at one moment would have to exceed the room left.
fn near_limit(quota: &Quota, space: i64, inodes: i64) -> bool {
    let near = |used: i64, delta: i64, limit: u64, least: u64| {
        let margin = (limit / 16).max(least);
        delta > 0
            && limit > 0
            && i128::from(used) + i128::from(delta) + i128::from(margin) > i128::from(limit)
    };
    quota.ready
        && (near(quota.used_space, space, quota.capacity, 256 << 20)
            || near(quota.used_inodes, inodes, quota.inodes, 1024))
}

/// Adds `space` and `inodes`, charged on behalf of `ino`, to every quota of `quotas`; EDQUOT
/// (nothing written) when an increase passes one's limit.
async fn add_to(
    txn: &mut AnyTxn,
    quotas: &[(u64, Quota)],
    ino: u64,
    space: i64,
    inodes: i64,
) -> Result<()> {
    for (ino, quota) in quotas {
        let quota = if near_limit(quota, space, inodes) {
            get_quota(txn, *ino, true).await?.unwrap_or(*quota)
        } else {
            *quota
        };
        if quota.exceeded_by(space, inodes) {
            return errno(libc::EDQUOT);
        }
    }
    for (quota, _) in quotas {
        add_to_shard(txn, *quota, ino, space, inodes).await?;
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
        let quotas = chain(txn, start).await?;
        add_to(txn, &quotas, ino, space, inodes).await?;
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
    // Guarded: the whole usage moves, so it must be exact as of the commit.
    let quota = get_quota(txn, ino, true).await?.unwrap_or_default();
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
    let gaining: Vec<_> = new
        .into_iter()
        .filter(|(q, _)| !old_set.contains(q))
        .collect();
    let losing: Vec<_> = old
        .into_iter()
        .filter(|(q, _)| !new_set.contains(q))
        .collect();
    add_to(txn, &gaining, ino, space, inodes).await?;
    add_to(txn, &losing, ino, -space, -inodes).await?;
    if owns_quota(ino, attr) {
        if let Some(mut quota) = get_record(txn, ino).await? {
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
        delete_quota_keys(txn, ino)?;
    }
    Ok(())
}

impl Meta {
    /// The quota of directory `ino`, if it has one.
    pub async fn quota(&self, ino: u64) -> Result<Option<Quota>> {
        read_txn!(self, |txn| {
            get_dir(&mut txn, ino).await?;
            get_quota(&mut txn, ino, false).await
        })
    }

    /// Every quota, by directory.
    pub async fn quotas(&self) -> Result<Vec<(u64, Quota)>> {
        read_txn!(self, |txn| Ok(all_quotas(&mut txn)
            .await?
            .into_iter()
            .collect()))
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
            let existing = get_record(&mut txn, ino).await?;
            if let Some(mut quota) = existing
                && owns_quota(ino, &attr)
            {
                quota.capacity = limits.capacity;
                quota.inodes = limits.inodes;
                put_quota(&mut txn, ino, &quota)?;
                let quota = get_quota(&mut txn, ino, false).await?.unwrap_or(quota);
                return Ok((quota, quota.parent));
            }
            // A quota whose removal was interrupted still holds what was not moved out yet
            // (in its record and its shards, which stay).
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
            let mut quota = get_record(&mut txn, ino)
                .await?
                .ok_or(MetaError::Errno(libc::ENOENT))?;
            quota.ready = true;
            put_quota(&mut txn, ino, &quota)?;
            Ok(get_quota(&mut txn, ino, false).await?.unwrap_or(quota))
        })
    }

    /// Removes directory `ino`'s quota: what it held is charged to the enclosing quota (if
    /// any), in batches. ENOENT when the directory has no quota.
    pub async fn delete_quota(&self, ino: u64, progress: &(dyn Fn(u64) + Sync)) -> Result<()> {
        let parent = write_txn!(self, |txn| {
            let mut attr = get_dir(&mut txn, ino).await?;
            let Some(mut quota) = get_record(&mut txn, ino).await? else {
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
        write_txn!(self, |txn| delete_quota_keys(&mut txn, ino))
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
                    let Some(mut quota) = get_quota(&mut txn, check.ino, true).await? else {
                        return Ok(false);
                    };
                    if (quota.used_space, quota.used_inodes) != check.stored {
                        return Ok(false);
                    }
                    // The whole usage goes into the record; the shards start again from 0.
                    (quota.used_space, quota.used_inodes) = check.counted;
                    delete_quota_keys(&mut txn, check.ino)?;
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

/// Every quota with its whole usage, by directory: two scans (records, shards). A shard of
/// no quota (left by an older release or damage) counts for nothing; fsck reports it.
async fn all_quotas(txn: &mut AnyTxn) -> Result<BTreeMap<u64, Quota>> {
    let corrupt = || MetaError::Corrupt("quota key".into());
    let mut quotas = BTreeMap::new();
    for (key, value) in crate::meta::scan_prefix(txn, keys::QUOTA_PREFIX).await? {
        let ino = keys::u64_at(&key, keys::QUOTA_PREFIX.len()).ok_or_else(corrupt)?;
        quotas.insert(ino, Quota::decode(&value)?);
    }
    if quotas.is_empty() {
        return Ok(quotas);
    }
    for (key, value) in crate::meta::scan_prefix(txn, keys::QUOTA_USAGE_PREFIX).await? {
        let ino = keys::u64_at(&key, keys::QUOTA_USAGE_PREFIX.len()).ok_or_else(corrupt)?;
        if let Some(quota) = quotas.get_mut(&ino) {
            add_shard(quota, &value)?;
        }
    }
    Ok(quotas)
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
    let quotas = all_quotas(txn).await?;
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
