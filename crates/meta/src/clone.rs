//! Metadata-only clones of files and trees: new inodes with the same attributes, extended
//! attributes, link targets and chunk records, pointing at the same immutable objects (whose
//! reference counts keep them alive). No block is copied.
//!
//! A clone reads its source from one snapshot of the engine, so the copy is the tree as it was
//! at one moment, however long the copy takes; it writes the new tree in bounded
//! transactions under a root that has no name (recorded as `"K" root`), and names it in the
//! last transaction — the clone appears whole or not at all. Objects the snapshot refers to
//! may lose their last reference meanwhile (the source changes); while a clone runs (its
//! record's heartbeat is fresh) no unreferenced object is deleted, and the clone takes such an
//! object back. A clone that died leaves its record: `reclaim_stale_clones` removes the tree.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::engine::{AnyTxn, KvEngine, KvError, KvTxn, Pair, TXN_BUDGET, prefix_end};
use crate::error::{MetaError, Result, errno};
use crate::keys;
use crate::meta::{
    Meta, charged, get_attr, get_dir, put_attr, read_txn, scan_prefix, usage_shard_of, write_txn,
};
use crate::model::{Attr, Dirent, FileKind, Timespec};
use crate::namespace::{OpenFiles, check_name};
use crate::quota::QuotaLimits;

/// Seconds without a heartbeat after which a clone counts as dead.
pub const CLONE_LEASE: i64 = 60;

/// Seconds between heartbeats of a running clone.
const HEARTBEAT: i64 = 5;

/// Entries read from the snapshot at a time.
const PAGE: usize = 256;
/// Clones built before giving up on a source that keeps changing (engines without snapshots).
pub const CLONE_ATTEMPTS: u32 = 5;

/// A clone being built: where it goes, and who builds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloneRecord {
    /// The directory the clone is named in at the end.
    pub parent: u64,
    /// Its name there.
    pub name: Vec<u8>,
    /// Seconds since the epoch when it started.
    pub started: i64,
    /// Seconds since the epoch of its last heartbeat.
    pub heartbeat: i64,
    /// The machine building it.
    pub host: String,
    /// The boot and PID namespace of the process building it (see `SessionInfo::host_id`).
    pub host_id: String,
    /// The process building it.
    pub pid: u32,
}

impl CloneRecord {
    /// Whether its heartbeat is older than [`CLONE_LEASE`].
    pub fn expired(&self) -> bool {
        now_secs() - self.heartbeat >= CLONE_LEASE
    }
}

/// What a clone made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cloned {
    /// The clone's root.
    pub ino: u64,
    /// Inodes created.
    pub inodes: u64,
    /// Bytes of the files cloned (their sizes).
    pub bytes: u64,
}

/// One write of a clone.
#[derive(Debug)]
enum Step {
    /// A new inode with its attributes, extended attributes and link target.
    Create {
        ino: u64,
        attr: Attr,
        xattrs: Vec<(Vec<u8>, Vec<u8>)>,
        target: Option<Vec<u8>>,
    },
    /// One chunk record of a new file, and the references it adds.
    Chunk {
        ino: u64,
        index: u32,
        record: Vec<u8>,
        objects: Vec<(u64, u64)>,
    },
    /// An entry of a new directory.
    Name {
        dir: u64,
        name: Vec<u8>,
        dirent: Dirent,
    },
    /// One more name of a new file (a hard link inside the tree).
    Link { ino: u64 },
}

impl Step {
    /// Keys the step touches, about (for the transaction budget).
    fn weight(&self) -> usize {
        match self {
            Step::Create { xattrs, .. } => 6 + xattrs.len(),
            Step::Chunk { objects, .. } => 1 + 2 * objects.len(),
            Step::Name { .. } | Step::Link { .. } => 1,
        }
    }

    /// Keys applying the step reads (some of them: they are fetched together first).
    fn reads(&self, keys: &mut Vec<Vec<u8>>) {
        match self {
            Step::Create { ino, attr, .. } => {
                let shard = usage_shard_of(*ino);
                keys.push(keys::usage_shard(keys::USED_INODES, shard));
                keys.push(keys::usage_shard(keys::USED_SPACE, shard));
                if attr.quota != 0 {
                    keys.extend(crate::quota::quota_keys(attr.quota));
                }
            }
            Step::Chunk { objects, .. } => {
                keys.extend(objects.iter().map(|(object, _)| keys::refs(*object)));
            }
            Step::Link { ino } => keys.push(keys::attr(*ino)),
            Step::Name { .. } => {}
        }
    }
}

/// The holder of no open file: for changes that come from no mount.
pub(crate) struct NoneOpen;

impl OpenFiles for NoneOpen {
    fn is_open(&self, _ino: u64) -> bool {
        false
    }
    fn session(&self) -> u64 {
        0
    }
}

fn now_secs() -> i64 {
    Timespec::now().sec
}

fn decode_record(root: u64, bytes: &[u8]) -> Result<CloneRecord> {
    serde_json::from_slice(bytes)
        .map_err(|e| MetaError::Corrupt(format!("clone record {root}: {e}")))
}

/// Takes entry `name` from directory `dir` and records what it named as an abandoned clone's
/// root, in the caller's transaction, so that `remove_staged_clone` (or whoever reclaims
/// stale clones, if that is interrupted) removes its tree. Returns the entry, if there is one.
pub(crate) async fn abandon_entry(
    txn: &mut AnyTxn,
    dir: u64,
    name: &[u8],
) -> Result<Option<Dirent>> {
    let mut attr = get_dir(txn, dir).await?;
    let Some(bytes) = txn.get(&keys::entry(dir, name)).await? else {
        return Ok(None);
    };
    let dirent = Dirent::decode(&bytes)?;
    txn.delete(&keys::entry(dir, name))?;
    let now = Timespec::now();
    if dirent.kind == FileKind::Dir {
        attr.nlink = attr.nlink.saturating_sub(1);
    }
    attr.mtime = now;
    attr.ctime = now;
    put_attr(txn, dir, &attr)?;
    let record = CloneRecord {
        parent: dir,
        name: name.to_vec(),
        started: 0,
        heartbeat: 0,
        host: String::new(),
        host_id: String::new(),
        pid: 0,
    };
    put_record(txn, dirent.ino, &record)?;
    Ok(Some(dirent))
}

pub(crate) fn put_record(txn: &mut AnyTxn, root: u64, record: &CloneRecord) -> Result<()> {
    let bytes = serde_json::to_vec(record).map_err(|e| MetaError::Corrupt(e.to_string()))?;
    Ok(txn.put(&keys::clone_root(root), &bytes)?)
}

/// Whether a clone runs now (one whose heartbeat is fresh): then unreferenced objects wait.
pub(crate) async fn clone_running(txn: &mut AnyTxn) -> Result<bool> {
    for (_, value) in scan_prefix(txn, keys::CLONE_PREFIX).await? {
        let fresh = serde_json::from_slice::<CloneRecord>(&value).map_or(true, |r| !r.expired());
        if fresh {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Adds `count` references to `object`, taking it back if it had lost its last one.
async fn share_object(txn: &mut AnyTxn, object: u64, count: u64) -> Result<()> {
    let key = keys::refs(object);
    if let Some(bytes) = txn.get(&key).await? {
        let (refs, size) = crate::chunk::decode_refs(&bytes)?;
        txn.put(&key, &crate::chunk::encode_refs(refs + count, size))?;
        return Ok(());
    }
    let size = if let Some(doomed) = txn.get(&keys::doomed(object)).await? {
        txn.delete(&keys::doomed(object))?;
        crate::model::decode_u64(&doomed, "object size")?
    } else if let Some(kept) = txn.get(&keys::kept(object)).await? {
        txn.delete(&keys::kept(object))?;
        crate::chunk::decode_kept(&kept)?.0
    } else {
        return Err(MetaError::Corrupt(format!(
            "object {object} of the clone's source is gone"
        )));
    };
    txn.put(&key, &crate::chunk::encode_refs(count, size))?;
    Ok(())
}

async fn apply(txn: &mut AnyTxn, step: &Step) -> Result<()> {
    match step {
        Step::Create {
            ino,
            attr,
            xattrs,
            target,
        } => {
            crate::meta::put_attr(txn, *ino, attr)?;
            for (name, value) in xattrs {
                txn.put(&keys::xattr(*ino, name), value)?;
            }
            if let Some(target) = target {
                txn.put(&keys::symlink(*ino), target)?;
            }
            crate::quota::charge(txn, *ino, attr, charged(attr.kind, attr.size), 1).await
        }
        Step::Chunk {
            ino,
            index,
            record,
            objects,
        } => {
            txn.put(&keys::chunk(*ino, *index), record)?;
            for (object, count) in objects {
                share_object(txn, *object, *count).await?;
            }
            Ok(())
        }
        Step::Name { dir, name, dirent } => {
            Ok(txn.put(&keys::entry(*dir, name), &dirent.encode())?)
        }
        Step::Link { ino } => {
            let mut attr = get_attr(txn, *ino).await?;
            attr.nlink += 1;
            put_attr(txn, *ino, &attr)
        }
    }
}

/// The source of a clone: reads from one snapshot of the engine. When the engine becomes
/// unavailable mid-way, the reads go on from a new snapshot once it answers again (until the
/// metadata deadline): the rest of the tree is then of a later moment, each file still whole.
struct Snapshot<'a> {
    meta: &'a Meta,
    txn: AnyTxn,
}

impl<'a> Snapshot<'a> {
    async fn new(meta: &'a Meta) -> Result<Self> {
        let txn = Self::begin(meta).await?;
        Ok(Self { meta, txn })
    }

    async fn begin(meta: &Meta) -> Result<AnyTxn> {
        let mut unavailable = crate::meta::Unavailable::new(meta);
        loop {
            match meta.engine.begin(false).await {
                Err(crate::engine::KvError::Unavailable(reason))
                    if unavailable.wait(&reason).await => {}
                other => return Ok(other?),
            }
        }
    }

    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut unavailable = crate::meta::Unavailable::new(self.meta);
        loop {
            match self.txn.get(key).await {
                Err(crate::engine::KvError::Unavailable(reason))
                    if unavailable.wait(&reason).await =>
                {
                    tracing::warn!(reason, "the clone's source is read from a new snapshot");
                    self.txn = Self::begin(self.meta).await?;
                }
                other => return Ok(other?),
            }
        }
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>> {
        let mut unavailable = crate::meta::Unavailable::new(self.meta);
        loop {
            match self.txn.scan(start, end, limit).await {
                Err(crate::engine::KvError::Unavailable(reason))
                    if unavailable.wait(&reason).await =>
                {
                    tracing::warn!(reason, "the clone's source is read from a new snapshot");
                    self.txn = Self::begin(self.meta).await?;
                }
                other => return Ok(other?),
            }
        }
    }

    /// Ends the reads: [`KvError::Conflict`] when they were not all of one moment.
    async fn end(self) -> Result<()> {
        Ok(self.txn.end_read().await?)
    }

    async fn scan_prefix(&mut self, prefix: &[u8]) -> Result<Vec<Pair>> {
        self.scan(prefix, &prefix_end(prefix), usize::MAX).await
    }

    /// Fetches `keys` together for the reads that follow. Only a speed-up: when it fails,
    /// those reads go one by one and meet the failure themselves.
    async fn prefetch(&mut self, keys: &[Vec<u8>]) {
        if let Err(err) = self.txn.prefetch(keys).await {
            tracing::debug!(%err, "the clone's source is read key by key");
        }
    }

    async fn attr(&mut self, ino: u64) -> Result<Attr> {
        let mut attr = match self.get(&keys::attr(ino)).await? {
            Some(bytes) => Attr::decode(&bytes)?,
            None => return errno(libc::ENOENT),
        };
        if attr.kind == FileKind::Dir
            && let Some(bytes) = self.get(&keys::dir_times(ino)).await?
        {
            crate::meta::add_entry_times(&mut attr, &bytes)?;
        }
        Ok(attr)
    }
}

/// Reads what cloning inode `src` (seen in `snap`) as `ino` takes.
async fn plan(
    snap: &mut Snapshot<'_>,
    src: u64,
    mut attr: Attr,
    ino: u64,
    parent: u64,
    quota: u64,
    steps: &mut Vec<Step>,
) -> Result<()> {
    attr.parent = parent;
    attr.quota = quota;
    if attr.kind != FileKind::Dir {
        attr.nlink = 1;
    }
    let prefix = keys::xattrs(src);
    let xattrs = snap
        .scan_prefix(&prefix)
        .await?
        .into_iter()
        .map(|(key, value)| (key[prefix.len()..].to_vec(), value))
        .collect();
    let target = match attr.kind {
        FileKind::Symlink => snap.get(&keys::symlink(src)).await?,
        _ => None,
    };
    steps.push(Step::Create {
        ino,
        attr,
        xattrs,
        target,
    });
    if attr.kind == FileKind::File {
        let prefix = keys::chunks(src);
        for (key, record) in snap.scan_prefix(&prefix).await? {
            let index = keys::u32_at(&key, prefix.len())
                .ok_or_else(|| MetaError::Corrupt("chunk key".into()))?;
            let mut objects: HashMap<u64, u64> = HashMap::new();
            for slice in crate::model::Slice::decode_all(&record)? {
                if !slice.is_hole() {
                    *objects.entry(slice.object).or_default() += 1;
                }
            }
            steps.push(Step::Chunk {
                ino,
                index,
                record,
                objects: objects.into_iter().collect(),
            });
        }
    }
    Ok(())
}

impl Meta {
    /// Clones `src` (a file, a symbolic link or a directory tree) as `name` in directory
    /// `parent`, sharing its objects; `progress` gets the inodes created so far. The source
    /// is read at one moment; the clone appears whole at the end. EEXIST when the name is
    /// taken (before or at the end), EDQUOT when the destination's quota cannot hold it.
    pub async fn clone_tree(
        &self,
        src: u64,
        parent: u64,
        name: &[u8],
        builder: (&str, &str),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Cloned> {
        self.clone_tree_with_quota(src, parent, name, None, builder, progress)
            .await
    }

    /// [`Meta::clone_tree`], with the clone's root a directory with a quota of `limits` of
    /// its own from the start: its tree is charged to it as it is built (EDQUOT past the
    /// limits), so no walk of the tree follows, as setting a quota on a full directory takes.
    ///
    /// On an engine without snapshots (Redis) the source is read as it is, and checked at the
    /// end to be unchanged: a clone whose source changed meanwhile is thrown away and built
    /// again, so it is still the tree of one moment (a later one; unless the engine was
    /// unavailable midway, as on etcd); EAGAIN when the source kept changing for
    /// [`CLONE_ATTEMPTS`] tries.
    pub async fn clone_tree_with_quota(
        &self,
        src: u64,
        parent: u64,
        name: &[u8],
        limits: Option<QuotaLimits>,
        builder: (&str, &str),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Cloned> {
        for attempt in 1..=CLONE_ATTEMPTS {
            match self
                .clone_once(src, parent, name, limits, builder, progress)
                .await
            {
                Err(MetaError::Kv(KvError::Conflict)) => {
                    tracing::info!(
                        src,
                        attempt,
                        "the clone's source changed while it was read; cloning again"
                    );
                }
                other => return other,
            }
        }
        errno(libc::EAGAIN)
    }

    async fn clone_once(
        &self,
        src: u64,
        parent: u64,
        name: &[u8],
        limits: Option<QuotaLimits>,
        builder: (&str, &str),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Cloned> {
        check_name(name)?;
        let quota = read_txn!(self, |txn| {
            let dir = get_dir(&mut txn, parent).await?;
            if txn.get(&keys::entry(parent, name)).await?.is_some() {
                return errno(libc::EEXIST);
            }
            if get_attr(&mut txn, src).await?.kind != FileKind::Dir && limits.is_some() {
                return errno(libc::ENOTDIR);
            }
            Ok(dir.quota)
        })?;
        let root = self.next_inode().await?;
        let now = now_secs();
        let record = CloneRecord {
            parent,
            name: name.to_vec(),
            started: now,
            heartbeat: now,
            host: builder.0.to_string(),
            host_id: builder.1.to_string(),
            pid: std::process::id(),
        };
        let own_quota = limits.map(|limits| crate::model::Quota {
            capacity: limits.capacity,
            inodes: limits.inodes,
            // Charged to the destination's quotas when it is named, all at once.
            parent: 0,
            used_space: 0,
            used_inodes: 0,
            ready: true,
        });
        // Recorded before the snapshot is taken: from then on no object the snapshot refers
        // to is deleted.
        write_txn!(self, |txn| {
            if let Some(quota) = &own_quota {
                crate::quota::put_quota(&mut txn, root, quota)?;
            }
            put_record(&mut txn, root, &record)
        })?;
        let quota = if own_quota.is_some() { root } else { quota };
        let built = self
            .build_clone(src, root, parent, quota, &record, progress)
            .await;
        let named = match built {
            Ok(cloned) => self.name_clone(root, parent, name).await.map(|()| cloned),
            Err(err) => Err(err),
        };
        if named.is_err()
            && let Err(err) = self.remove_staged_clone(root).await
        {
            tracing::warn!(root, %err, "cannot remove an unfinished clone; `datenlord gc --delete` will");
        }
        named
    }

    async fn build_clone(
        &self,
        src: u64,
        root: u64,
        parent: u64,
        quota: u64,
        record: &CloneRecord,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Cloned> {
        let mut snap = Snapshot::new(self).await?;
        let src_attr = snap.attr(src).await?;
        let mut cloned = Cloned {
            ino: root,
            ..Cloned::default()
        };
        let mut writer = CloneWriter {
            meta: self,
            root,
            record: record.clone(),
            steps: Vec::new(),
        };
        plan(
            &mut snap,
            src,
            src_attr,
            root,
            parent,
            quota,
            &mut writer.steps,
        )
        .await?;
        cloned.inodes += 1;
        cloned.bytes += file_bytes(&src_attr);
        writer.flush().await?;
        let mut dirs = match src_attr.kind {
            FileKind::Dir => vec![(src, root)],
            _ => Vec::new(),
        };
        // Inside the tree, a file with several names becomes one new inode with as many.
        let mut linked: HashMap<u64, u64> = HashMap::new();
        while let Some((src_dir, new_dir)) = dirs.pop() {
            let prefix = keys::entries(src_dir);
            let end = prefix_end(&prefix);
            let mut start = prefix.clone();
            loop {
                let page = snap.scan(&start, &end, PAGE).await?;
                let Some((last, _)) = page.last() else {
                    break;
                };
                start = last.clone();
                start.push(0);
                let mut attrs = Vec::with_capacity(page.len());
                for (_, value) in &page {
                    let dirent = Dirent::decode(value)?;
                    attrs.push(keys::attr(dirent.ino));
                    if dirent.kind == FileKind::Dir {
                        attrs.push(keys::dir_times(dirent.ino));
                    }
                }
                snap.prefetch(&attrs).await;
                for (key, value) in &page {
                    let name = key[prefix.len()..].to_vec();
                    let dirent = Dirent::decode(value)?;
                    if let Some(&again) = linked.get(&dirent.ino) {
                        writer.steps.push(Step::Link { ino: again });
                        let dirent = Dirent {
                            kind: dirent.kind,
                            ino: again,
                        };
                        writer.steps.push(Step::Name {
                            dir: new_dir,
                            name,
                            dirent,
                        });
                        continue;
                    }
                    let attr = match snap.attr(dirent.ino).await {
                        // Gone in a newer snapshot (after an outage of the engine).
                        Err(err) if err.errno() == libc::ENOENT => continue,
                        other => other?,
                    };
                    let ino = self.next_inode().await?;
                    plan(
                        &mut snap,
                        dirent.ino,
                        attr,
                        ino,
                        new_dir,
                        quota,
                        &mut writer.steps,
                    )
                    .await?;
                    writer.steps.push(Step::Name {
                        dir: new_dir,
                        name,
                        dirent: Dirent {
                            kind: dirent.kind,
                            ino,
                        },
                    });
                    match attr.kind {
                        FileKind::Dir => dirs.push((dirent.ino, ino)),
                        _ if attr.nlink > 1 => {
                            linked.insert(dirent.ino, ino);
                        }
                        _ => {}
                    }
                    cloned.inodes += 1;
                    cloned.bytes += file_bytes(&attr);
                }
                writer.flush().await?;
                progress(cloned.inodes);
                if page.len() < PAGE {
                    break;
                }
            }
        }
        snap.end().await?;
        Ok(cloned)
    }

    /// Names the finished clone `root` in `parent`, in one transaction with dropping its
    /// record.
    async fn name_clone(&self, root: u64, parent: u64, name: &[u8]) -> Result<()> {
        write_txn!(self, |txn| {
            let mut dir = get_dir(&mut txn, parent).await?;
            if txn.get(&keys::entry(parent, name)).await?.is_some() {
                return errno(libc::EEXIST);
            }
            let mut attr = get_attr(&mut txn, root).await?;
            crate::quota::move_charge(&mut txn, root, &mut attr, dir.quota, false).await?;
            attr.parent = parent;
            put_attr(&mut txn, root, &attr)?;
            let dirent = Dirent {
                kind: attr.kind,
                ino: root,
            };
            txn.put(&keys::entry(parent, name), &dirent.encode())?;
            let now = Timespec::now();
            if attr.kind == FileKind::Dir {
                dir.nlink += 1;
            }
            dir.mtime = now;
            dir.ctime = now;
            put_attr(&mut txn, parent, &dir)?;
            txn.delete(&keys::clone_root(root))?;
            Ok(())
        })
    }

    /// Removes `name` in `dir` and everything under it for good, past the trash: the name
    /// goes at once (in one transaction, its tree becomes an abandoned clone's), then the
    /// tree in batches; an interruption leaves what `reclaim_stale_clones` removes. ENOENT
    /// when there is no such name.
    pub async fn discard_tree(&self, dir: u64, name: &[u8]) -> Result<()> {
        let root = write_txn!(self, |txn| {
            match abandon_entry(&mut txn, dir, name).await? {
                Some(dirent) => Ok(dirent.ino),
                None => crate::error::errno(libc::ENOENT),
            }
        })?;
        self.remove_staged_clone(root).await
    }

    /// Removes the clones whose builders `dead` says died (their process is gone, or no
    /// heartbeat for [`CLONE_LEASE`] seconds): their unnamed trees, in batches. Returns how
    /// many.
    pub async fn reclaim_stale_clones(
        &self,
        dead: impl Fn(&CloneRecord) -> bool + Sync,
    ) -> Result<usize> {
        let stale: Vec<u64> = read_txn!(self, |txn| {
            let mut stale = Vec::new();
            for (key, value) in scan_prefix(&mut txn, keys::CLONE_PREFIX).await? {
                let Some(root) = keys::u64_at(&key, keys::CLONE_PREFIX.len()) else {
                    continue;
                };
                let gone = serde_json::from_slice::<CloneRecord>(&value).map_or(true, |r| dead(&r));
                if gone {
                    stale.push(root);
                }
            }
            Ok(stale)
        })?;
        for &root in &stale {
            self.remove_staged_clone(root).await?;
        }
        Ok(stale.len())
    }

    /// The clones being built (or left by builders that died), by root.
    pub async fn clones(&self) -> Result<Vec<(u64, CloneRecord)>> {
        read_txn!(self, |txn| {
            let mut out = Vec::new();
            for (key, value) in scan_prefix(&mut txn, keys::CLONE_PREFIX).await? {
                if let Some(root) = keys::u64_at(&key, keys::CLONE_PREFIX.len()) {
                    out.push((root, decode_record(root, &value)?));
                }
            }
            Ok(out)
        })
    }

    /// Removes the unnamed tree of an unfinished clone, then its record.
    pub(crate) async fn remove_staged_clone(&self, root: u64) -> Result<()> {
        self.remove_unnamed_tree(root).await?;
        write_txn!(self, |txn| {
            txn.delete(&keys::clone_root(root))?;
            // A clone given a quota of its own has it from before its root's attributes.
            crate::quota::delete_quota_keys(&mut txn, root)
        })
    }

    /// Removes a tree no entry names (an unfinished clone), deepest entries first, each
    /// transaction within the budget.
    pub(crate) async fn remove_unnamed_tree(&self, root: u64) -> Result<()> {
        let mut dirs = vec![root];
        while let Some(&dir) = dirs.last() {
            let (empty, subdirs) = write_txn!(self, |txn| remove_batch(&mut txn, dir, root).await)?;
            if empty {
                // Gone (the root), or removed with its parent's next batch.
                dirs.pop();
            } else {
                dirs.extend(subdirs);
            }
        }
        Ok(())
    }
}

/// One transaction of removing the unnamed tree at `root`: entries of `dir` go (files, and
/// directories already empty). Returns whether `dir` is empty now (the root: gone), and the
/// subdirectories to empty first.
async fn remove_batch(txn: &mut AnyTxn, dir: u64, root: u64) -> Result<(bool, Vec<u64>)> {
    let Some(bytes) = txn.get(&keys::attr(dir)).await? else {
        return Ok((true, Vec::new()));
    };
    let mut attr = Attr::decode(&bytes)?;
    if attr.kind != FileKind::Dir {
        crate::namespace::remove_inode(txn, dir, &attr).await?;
        return Ok((true, Vec::new()));
    }
    let prefix = keys::entries(dir);
    let mut subdirs = Vec::new();
    let mut removed = false;
    let now = Timespec::now();
    for (key, value) in txn.scan(&prefix, &prefix_end(&prefix), 16).await? {
        let dirent = Dirent::decode(&value)?;
        if dirent.kind == FileKind::Dir {
            if crate::namespace::has_entries(txn, dirent.ino).await? {
                subdirs.push(dirent.ino);
                continue;
            }
            let child = get_attr(txn, dirent.ino).await?;
            crate::namespace::remove_inode(txn, dirent.ino, &child).await?;
            attr.nlink = attr.nlink.saturating_sub(1);
        } else {
            crate::namespace::drop_link(txn, dirent.ino, now, &NoneOpen).await?;
        }
        txn.delete(&key)?;
        removed = true;
        if txn.size() >= TXN_BUDGET {
            break;
        }
    }
    let empty = subdirs.is_empty() && !crate::namespace::has_entries(txn, dir).await?;
    if empty && dir == root {
        crate::namespace::remove_inode(txn, dir, &attr).await?;
    } else if removed {
        // Entries go with a change of their directory (the deletion rule).
        attr.mtime = now;
        attr.ctime = now;
        put_attr(txn, dir, &attr)?;
    }
    Ok((empty, subdirs))
}

fn file_bytes(attr: &Attr) -> u64 {
    match attr.kind {
        FileKind::File => attr.size,
        _ => 0,
    }
}

/// Applies a clone's steps in bounded transactions, renewing its record's heartbeat.
struct CloneWriter<'a> {
    meta: &'a Meta,
    root: u64,
    record: CloneRecord,
    steps: Vec<Step>,
}

impl CloneWriter<'_> {
    async fn flush(&mut self) -> Result<()> {
        let steps = std::mem::take(&mut self.steps);
        let mut at = 0;
        while at < steps.len() {
            let mut end = at;
            let mut weight = 0;
            while end < steps.len() && (end == at || weight + steps[end].weight() <= TXN_BUDGET) {
                weight += steps[end].weight();
                end += 1;
            }
            let batch = &steps[at..end];
            let mut wanted = Vec::new();
            for step in batch {
                step.reads(&mut wanted);
            }
            wanted.sort_unstable();
            wanted.dedup();
            let meta = self.meta;
            write_txn!(meta, |txn| {
                txn.prefetch(&wanted).await?;
                for step in batch {
                    apply(&mut txn, step).await?;
                }
                Ok(())
            })?;
            at = end;
            self.beat().await?;
        }
        Ok(())
    }

    async fn beat(&mut self) -> Result<()> {
        let now = now_secs();
        if now - self.record.heartbeat < HEARTBEAT {
            return Ok(());
        }
        self.record.heartbeat = now;
        let (meta, root, record) = (self.meta, self.root, &self.record);
        write_txn!(meta, |txn| put_record(&mut txn, root, record))
    }
}
