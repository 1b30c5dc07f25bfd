//! `fsck` of the metadata: every name points at a live inode of the right kind, link counts and
//! usage counters add up, every slice's object is reference-counted exactly, and nothing is
//! orphaned. Repairs are independent of each other and applied in batches; run it on an idle
//! volume.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::chunk::{decode_refs, encode_refs};
use crate::engine::{KvTxn, TXN_BUDGET};
use crate::error::Result;
use crate::keys;
use crate::meta::{Meta, charged, get_usage, read_txn, scan_prefix, write_txn};
use crate::model::{Attr, Dirent, FileKind, ROOT_INO, Slice, Timespec, encode_u64};

/// What a check found.
#[derive(Debug, Default)]
pub struct MetaReport {
    /// Problems, one line each.
    pub problems: Vec<String>,
    /// Problems fixed (with `repair`).
    pub repaired: usize,
    /// Objects files refer to: object → size.
    pub objects: BTreeMap<u64, u64>,
    /// Objects waiting for their blocks to be deleted: object → size.
    pub doomed: BTreeMap<u64, u64>,
    /// Objects only overwritten or truncated data used, kept for the trash: object → size.
    pub kept: BTreeMap<u64, u64>,
    /// Objects a live mount is writing: object → size.
    pub pending: BTreeMap<u64, u64>,
    /// Inodes with readable attributes.
    pub inodes: u64,
    /// Directories among them.
    pub directories: u64,
    /// Regular files among them.
    pub files: u64,
}

enum Fix {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl Meta {
    /// Checks the whole volume's metadata; with `repair`, fixes what it can.
    pub async fn check(&self, repair: bool) -> Result<MetaReport> {
        let (mut report, fixes) = read_txn!(self, |txn| {
            let mut report = MetaReport::default();
            let mut fixes = Vec::new();
            let mut attrs: BTreeMap<u64, Attr> = BTreeMap::new();
            for (key, value) in scan_prefix(&mut txn, keys::ATTR_PREFIX).await? {
                let Some(ino) = keys::u64_at(&key, 1) else {
                    continue;
                };
                match Attr::decode(&value) {
                    Ok(attr) => {
                        attrs.insert(ino, attr);
                    }
                    Err(err) => {
                        report.problems.push(format!("inode {ino}: {err}"));
                        fixes.push(Fix::Delete(key));
                    }
                }
            }
            report.inodes = attrs.len() as u64;
            let mut links: HashMap<u64, u32> = HashMap::new();
            let mut subdirs: HashMap<u64, u32> = HashMap::new();
            for (key, value) in scan_prefix(&mut txn, keys::ENTRY_PREFIX).await? {
                let Some(parent) = keys::u64_at(&key, 1) else {
                    continue;
                };
                let name = String::from_utf8_lossy(&key[9..]).into_owned();
                let dirent = match Dirent::decode(&value) {
                    Ok(d) => d,
                    Err(err) => {
                        report
                            .problems
                            .push(format!("entry {parent}/{name}: {err}"));
                        fixes.push(Fix::Delete(key));
                        continue;
                    }
                };
                let parent_ok = attrs.get(&parent).is_some_and(|a| a.kind == FileKind::Dir);
                let child = attrs.get(&dirent.ino);
                if !parent_ok || child.is_none_or(|c| c.kind != dirent.kind) {
                    report.problems.push(format!(
                        "entry {parent}/{name} -> inode {}: {}",
                        dirent.ino,
                        if !parent_ok {
                            "its directory is missing"
                        } else if child.is_none() {
                            "the inode is missing"
                        } else {
                            "the kinds differ"
                        }
                    ));
                    fixes.push(Fix::Delete(key));
                    continue;
                }
                *links.entry(dirent.ino).or_default() += 1;
                if dirent.kind == FileKind::Dir {
                    *subdirs.entry(parent).or_default() += 1;
                    if child.is_some_and(|c| c.parent != parent) {
                        report.problems.push(format!(
                            "directory {} says its parent is {} but is listed in {parent}",
                            dirent.ino,
                            child.map_or(0, |c| c.parent)
                        ));
                        let mut fixed = *child.expect("checked above");
                        fixed.parent = parent;
                        fixes.push(Fix::Put(keys::attr(dirent.ino), fixed.encode()));
                    }
                }
            }
            let sessions: Vec<u64> = scan_prefix(&mut txn, keys::SESSION_PREFIX)
                .await?
                .iter()
                .filter_map(|(key, _)| keys::u64_at(key, 1))
                .collect();
            // The unnamed roots of clones being built (or left by a clone that died, until
            // `datenlord gc` removes them) are no orphans.
            let mut held: Vec<u64> = scan_prefix(&mut txn, keys::CLONE_PREFIX)
                .await?
                .iter()
                .filter_map(|(key, _)| keys::u64_at(key, keys::CLONE_PREFIX.len()))
                .collect();
            // So are the reserved directories (snapshots).
            for (_, value) in scan_prefix(&mut txn, keys::RESERVED_PREFIX).await? {
                held.push(crate::model::decode_u64(&value, "reserved directory")?);
            }
            for (key, _) in scan_prefix(&mut txn, keys::OPEN_PREFIX).await? {
                let (Some(ino), Some(session)) = (keys::u64_at(&key, 1), keys::u64_at(&key, 9))
                else {
                    continue;
                };
                if sessions.contains(&session) {
                    held.push(ino);
                } else {
                    report.problems.push(format!(
                        "inode {ino} is held open by session {session}, which is gone"
                    ));
                    fixes.push(Fix::Delete(key));
                }
            }
            for (key, value) in scan_prefix(&mut txn, keys::PENDING_PREFIX).await? {
                if keys::u64_at(&key, 1).is_some_and(|session| !sessions.contains(&session)) {
                    let object = keys::u64_at(&key, 9).unwrap_or(0);
                    report.problems.push(format!(
                        "object {object} was being written by a session that is gone"
                    ));
                    fixes.push(Fix::Delete(key));
                    fixes.push(Fix::Put(keys::doomed(object), value));
                }
            }
            let (mut space, mut used_inodes) = (0i64, 0u64);
            for (&ino, attr) in &attrs {
                used_inodes += 1;
                space += charged(attr.kind, attr.size);
                let named = links.get(&ino).copied().unwrap_or(0);
                let expected = match attr.kind {
                    FileKind::Dir => {
                        report.directories += 1;
                        2 + subdirs.get(&ino).copied().unwrap_or(0)
                    }
                    _ => {
                        if attr.kind == FileKind::File {
                            report.files += 1;
                        }
                        named
                    }
                };
                if ino != ROOT_INO && named == 0 {
                    if held.contains(&ino) {
                        continue;
                    }
                    report.problems.push(format!(
                        "inode {ino} ({:?}) has no name and no open handle",
                        attr.kind
                    ));
                    fixes.push(Fix::Delete(keys::attr(ino)));
                    continue;
                }
                if attr.nlink != expected {
                    report.problems.push(format!(
                        "inode {ino}: link count {} but {expected} links found",
                        attr.nlink
                    ));
                    let mut fixed = *attr;
                    fixed.nlink = expected;
                    fixes.push(Fix::Put(keys::attr(ino), fixed.encode()));
                }
                if attr.kind == FileKind::Symlink && txn.get(&keys::symlink(ino)).await?.is_none() {
                    report
                        .problems
                        .push(format!("symbolic link {ino} has no target"));
                }
            }
            for (key, value) in scan_prefix(&mut txn, keys::DIR_TIMES_PREFIX).await? {
                let ino = keys::u64_at(&key, 1).unwrap_or(0);
                let problem = if !attrs.get(&ino).is_some_and(|a| a.kind == FileKind::Dir) {
                    format!("an entry change time of inode {ino}, which is no directory")
                } else if let Err(err) = Timespec::decode(&value, "entry change time") {
                    format!("directory {ino}: {err}")
                } else {
                    continue;
                };
                report.problems.push(problem);
                fixes.push(Fix::Delete(key));
            }
            let quotas: BTreeSet<u64> = scan_prefix(&mut txn, keys::QUOTA_PREFIX)
                .await?
                .iter()
                .filter_map(|(key, _)| keys::u64_at(key, 1))
                .collect();
            for (key, value) in scan_prefix(&mut txn, keys::QUOTA_USAGE_PREFIX).await? {
                let quota = keys::u64_at(&key, 1).unwrap_or(0);
                let problem = if !quotas.contains(&quota) {
                    format!("a usage shard of quota {quota}, which does not exist")
                } else if value.len() != 16 || key.len() != 10 {
                    format!("quota {quota}: a usage shard is damaged")
                } else {
                    continue;
                };
                report.problems.push(problem);
                fixes.push(Fix::Delete(key));
            }
            let mut counted: BTreeMap<u64, u64> = BTreeMap::new();
            let dropping: BTreeSet<u64> = scan_prefix(&mut txn, keys::DROPPING_PREFIX)
                .await?
                .iter()
                .filter_map(|(key, _)| keys::u64_at(key, 1))
                .collect();
            for (key, value) in scan_prefix(&mut txn, keys::CHUNK_PREFIX).await? {
                let ino = keys::u64_at(&key, 1).unwrap_or(0);
                if !dropping.contains(&ino)
                    && attrs.get(&ino).is_none_or(|a| a.kind != FileKind::File)
                {
                    report
                        .problems
                        .push(format!("chunk of inode {ino}, which is not a file"));
                    fixes.push(Fix::Delete(key));
                    continue;
                }
                match Slice::decode_all(&value) {
                    Ok(slices) => {
                        for slice in slices.iter().filter(|s| !s.is_hole()) {
                            *counted.entry(slice.object).or_default() += 1;
                        }
                    }
                    Err(err) => report.problems.push(format!("chunk of inode {ino}: {err}")),
                }
            }
            for (key, value) in scan_prefix(&mut txn, keys::GARBAGE_PREFIX).await? {
                match Slice::decode_all(&value) {
                    Ok(slices) => {
                        for slice in slices.iter().filter(|s| !s.is_hole()) {
                            *counted.entry(slice.object).or_default() += 1;
                        }
                    }
                    Err(err) => report
                        .problems
                        .push(format!("garbage record {:?}: {err}", keys::u64_at(&key, 1))),
                }
            }
            let mut recorded: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
            for (key, value) in scan_prefix(&mut txn, keys::REFS_PREFIX).await? {
                if let (Some(object), Ok(refs)) = (keys::u64_at(&key, 1), decode_refs(&value)) {
                    recorded.insert(object, refs);
                }
            }
            for (key, value) in scan_prefix(&mut txn, keys::PENDING_PREFIX).await? {
                if let Some(object) = keys::u64_at(&key, 9) {
                    report.pending.insert(
                        object,
                        crate::model::decode_u64(&value, "object size").unwrap_or(0),
                    );
                }
            }
            for (key, value) in scan_prefix(&mut txn, keys::DOOMED_PREFIX).await? {
                if let Some(object) = keys::u64_at(&key, 1) {
                    report.doomed.insert(
                        object,
                        crate::model::decode_u64(&value, "object size").unwrap_or(0),
                    );
                }
            }
            for (key, value) in scan_prefix(&mut txn, keys::KEPT_PREFIX).await? {
                match (keys::u64_at(&key, 1), crate::chunk::decode_kept(&value)) {
                    (Some(object), Ok((size, _))) => {
                        report.kept.insert(object, size);
                    }
                    (object, _) => report
                        .problems
                        .push(format!("kept object record {object:?} is damaged")),
                }
            }
            for (&object, &refs) in &counted {
                match recorded.get(&object) {
                    Some(&(have, size)) => {
                        report.objects.insert(object, size);
                        if have != refs {
                            report.problems.push(format!("object {object}: {have} references recorded, {refs} found"));
                            fixes.push(Fix::Put(keys::refs(object), encode_refs(refs, size).to_vec()));
                        }
                    }
                    None => report.problems.push(format!("object {object} is used by files but has no reference record (its size is unknown)")),
                }
            }
            for (&object, &(_, size)) in recorded.iter().filter(|(o, _)| !counted.contains_key(o)) {
                report.problems.push(format!(
                    "object {object} has a reference record but no file uses it"
                ));
                fixes.push(Fix::Delete(keys::refs(object)));
                fixes.push(Fix::Put(keys::doomed(object), size.to_be_bytes().to_vec()));
            }
            for (name, have, want) in [
                (
                    keys::USED_SPACE,
                    get_usage(&mut txn, keys::USED_SPACE).await?,
                    space.max(0) as u64,
                ),
                (
                    keys::USED_INODES,
                    get_usage(&mut txn, keys::USED_INODES).await?,
                    used_inodes,
                ),
            ] {
                if have != want {
                    report
                        .problems
                        .push(format!("counter {name} is {have} but {want} is in use"));
                    fixes.push(Fix::Put(keys::counter(name), encode_u64(want).to_vec()));
                    for (shard, _) in scan_prefix(&mut txn, &keys::usage_shards(name)).await? {
                        fixes.push(Fix::Delete(shard));
                    }
                }
            }
            for prefix in [keys::XATTR_PREFIX, keys::SYMLINK_PREFIX] {
                for (key, _) in scan_prefix(&mut txn, prefix).await? {
                    let ino = keys::u64_at(&key, 1).unwrap_or(0);
                    if !attrs.contains_key(&ino) {
                        report.problems.push(format!(
                            "{} of missing inode {ino}",
                            if prefix == keys::XATTR_PREFIX {
                                "xattr"
                            } else {
                                "link target"
                            }
                        ));
                        fixes.push(Fix::Delete(key));
                    }
                }
            }
            Ok((report, fixes))
        })?;
        if repair && !fixes.is_empty() {
            for batch in fixes.chunks(TXN_BUDGET) {
                write_txn!(self, |txn| {
                    for fix in batch {
                        match fix {
                            Fix::Put(key, value) => txn.put(key, value)?,
                            Fix::Delete(key) => txn.delete(key)?,
                        }
                    }
                    Ok(())
                })?;
            }
            report.repaired = fixes.len();
        }
        Ok(report)
    }
}
