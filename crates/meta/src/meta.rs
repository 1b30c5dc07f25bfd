//! `Meta`: the metadata of one volume, all its logic written once over [`AnyEngine`].

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::engine::{AnyEngine, AnyTxn, EngineCounters, KvEngine, KvTxn, prefix_end};
use crate::error::{MetaError, Result, errno};
use crate::keys;
use crate::model::{Attr, FileKind, ROOT_INO, Timespec, decode_u64, encode_u64};
use crate::volume::{FORMAT_VERSION, Volume};

/// How long an operation retries an unavailable engine by default.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Inode numbers and object ids are taken from the shared counters this many at a time.
const ID_BATCH: u64 = 1024;

/// Runs `$body` in a write transaction on `$meta`, retrying it when the engine reports a
/// conflict, or that it is unavailable while the operation's deadline allows. `$body` is an
/// expression using `$txn` that evaluates to `Result<T>`.
///
/// A body may run several times, so it must not change state it captured: whatever it finds
/// it returns, and the caller acts on the result of the attempt that committed. When the
/// volume rehearses transactions (tests: [`Meta::rehearse_transactions`]) every attempt runs
/// the body once more first, in a transaction that is thrown away, so a body that keeps what
/// a failed attempt did shows it on the first test that looks.
macro_rules! write_txn {
    ($meta:expr, |$txn:ident| $body:expr) => {{
        let started = std::time::Instant::now();
        let mut attempt: u32 = 0;
        let mut unavailable = $crate::meta::Unavailable::new(&$meta);
        let outcome = loop {
            let outcome: $crate::error::Result<_> = async {
                let mut rehearsal = None;
                if $meta.rehearse {
                    #[allow(unused_mut)]
                    let mut $txn = $crate::engine::KvEngine::begin(&$meta.engine, true).await?;
                    rehearsal = Some(async { $body }.await);
                }
                let mut $txn = $crate::engine::KvEngine::begin(&$meta.engine, true).await?;
                let body: $crate::error::Result<_> = async { $body }.await;
                $crate::meta::same_type(&rehearsal, &body);
                drop(rehearsal);
                let value = match body {
                    Ok(value) => value,
                    Err(err) => {
                        // An error decided on reads that did not hold together (an engine
                        // without snapshots) is no answer: the body runs again.
                        $crate::engine::KvTxn::end_read($txn).await?;
                        return Err(err);
                    }
                };
                $crate::engine::KvTxn::commit($txn).await?;
                Ok(value)
            }
            .await;
            match outcome {
                Err($crate::error::MetaError::Kv($crate::engine::KvError::Conflict))
                    if attempt < $crate::meta::MAX_ATTEMPTS =>
                {
                    attempt += 1;
                    $crate::meta::Meta::count_retry(&$meta);
                    $crate::meta::back_off(attempt).await;
                }
                Err($crate::error::MetaError::Kv($crate::engine::KvError::Unavailable(reason)))
                    if unavailable.wait(&reason).await => {}
                other => break other,
            }
        };
        $crate::meta::Meta::count_op(&$meta, started);
        outcome
    }};
}

/// Runs `$body` in a read-only transaction (one consistent snapshot), retried while the
/// engine is unavailable and the deadline allows. Like [`write_txn!`]'s, the body may run
/// several times and must return what it finds rather than change captured state.
///
/// The snapshot may come from a cache that trails other mounts by the watch's delay; with
/// `latest` first (`read_txn!(meta, latest, |txn| ...)`) it includes every commit made
/// before the transaction began ([`KvEngine::begin_latest`]).
macro_rules! read_txn {
    ($meta:expr, |$txn:ident| $body:expr) => {
        $crate::meta::read_txn!(@run $meta, begin(false), |$txn| $body)
    };
    ($meta:expr, latest, |$txn:ident| $body:expr) => {
        $crate::meta::read_txn!(@run $meta, begin_latest(), |$txn| $body)
    };
    (@run $meta:expr, $begin:ident($($arg:expr)?), |$txn:ident| $body:expr) => {{
        let started = std::time::Instant::now();
        let mut unavailable = $crate::meta::Unavailable::new(&$meta);
        let mut torn: u32 = 0;
        let outcome = loop {
            let outcome: $crate::error::Result<_> = async {
                let mut rehearsal = None;
                if $meta.rehearse {
                    #[allow(unused_mut)]
                    let mut $txn =
                        $crate::engine::KvEngine::$begin(&$meta.engine $(, $arg)?).await?;
                    rehearsal = Some(async { $body }.await);
                }
                let mut $txn = $crate::engine::KvEngine::$begin(&$meta.engine $(, $arg)?).await?;
                let body: $crate::error::Result<_> = async { $body }.await;
                $crate::meta::same_type(&rehearsal, &body);
                $crate::engine::KvTxn::end_read($txn).await?;
                body
            }
            .await;
            match outcome {
                Err($crate::error::MetaError::Kv($crate::engine::KvError::Unavailable(reason)))
                    if unavailable.wait(&reason).await => {}
                // Reads of an engine without snapshots straddled a commit: read again.
                Err($crate::error::MetaError::Kv($crate::engine::KvError::Conflict))
                    if torn < $crate::meta::MAX_ATTEMPTS =>
                {
                    torn += 1;
                    $crate::meta::back_off(torn).await;
                }
                other => break other,
            }
        };
        $crate::meta::Meta::count_op(&$meta, started);
        outcome
    }};
}

/// Retries of an operation while the engine is unavailable, until the metadata deadline.
pub(crate) struct Unavailable {
    started: std::time::Instant,
    deadline: std::time::Duration,
    pause: std::time::Duration,
}

impl Unavailable {
    pub(crate) fn new(meta: &Meta) -> Self {
        Self {
            started: std::time::Instant::now(),
            deadline: meta.timeout,
            pause: std::time::Duration::from_millis(50),
        }
    }

    /// Waits before the next try; false when the deadline has passed.
    pub(crate) async fn wait(&mut self, reason: &str) -> bool {
        let left = self.deadline.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            tracing::warn!(
                reason,
                "the metadata store stayed unavailable past the deadline"
            );
            return false;
        }
        tracing::debug!(reason, "the metadata store is unavailable; retrying");
        tokio::time::sleep(self.pause.min(left)).await;
        self.pause = (self.pause * 2).min(std::time::Duration::from_secs(1));
        true
    }
}

pub(crate) use {read_txn, write_txn};

/// Ties a rehearsal's result to the real run's type (the macros' bodies are expressions whose
/// type is inferred from the real run).
pub(crate) fn same_type<T>(_rehearsal: &Option<Result<T>>, _body: &Result<T>) {}

/// How often a conflicting transaction is tried before the conflict is returned.
pub(crate) const MAX_ATTEMPTS: u32 = 50;

/// Waits before retrying a conflicting transaction: a random pause below a ceiling that
/// doubles with each attempt (200 µs, 400 µs, … 50 ms), so writers that collided spread out.
pub(crate) async fn back_off(attempt: u32) {
    use std::hash::{BuildHasher, Hasher};
    let ceiling = (200u64 << attempt.min(8)).min(50_000);
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    tokio::time::sleep(std::time::Duration::from_micros(random % ceiling + 1)).await;
}

/// Who asks: the owner of what they create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// The caller's user id: the owner of a new inode.
    pub uid: u32,
    /// The caller's group id: the group of a new inode, unless its directory is set-group-id.
    pub gid: u32,
}

impl Caller {
    /// The superuser: uid 0, gid 0.
    pub const ROOT: Self = Self { uid: 0, gid: 0 };
}

/// Space and inodes in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Bytes charged: files in whole 4 KiB blocks of their length, directories and symbolic
    /// links 4 KiB each.
    pub space: u64,
    /// Inodes, including unlinked ones still open and the root.
    pub inodes: u64,
}

/// How many metadata operations (transactions, retries included) ran and how long they took
/// altogether, in nanoseconds; concurrent operations overlap, so the sum may exceed the wall
/// time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetaCounters {
    /// Operations run: one per `write_txn!` or `read_txn!`, however many attempts it took.
    pub ops: u64,
    /// Their time added up, in nanoseconds.
    pub nanos: u64,
    /// Attempts that lost a race at commit and ran again.
    pub retries: u64,
    /// The requests they sent to the engine's server.
    pub requests: EngineCounters,
}

impl MetaCounters {
    /// What happened between `before` and `self` (a smaller counter counts as 0).
    pub fn since(&self, before: &Self) -> Self {
        Self {
            ops: self.ops.saturating_sub(before.ops),
            nanos: self.nanos.saturating_sub(before.nanos),
            retries: self.retries.saturating_sub(before.retries),
            requests: self.requests.since(&before.requests),
        }
    }
}

/// The metadata of one volume.
#[derive(Debug)]
pub struct Meta {
    pub(crate) engine: AnyEngine,
    /// How long an operation retries while the engine is unavailable before it fails (EIO).
    pub(crate) timeout: std::time::Duration,
    volume: Volume,
    inodes: Mutex<std::ops::Range<u64>>,
    objects: Mutex<std::ops::Range<u64>>,
    /// Counted where every operation runs: `write_txn!` and `read_txn!`.
    ops: AtomicU64,
    op_nanos: AtomicU64,
    retries: AtomicU64,
    /// Run every transaction body once more, thrown away, before each attempt (tests).
    pub(crate) rehearse: bool,
    /// The trash's reserved directory, when the volume has one (see `trash.rs`).
    pub(crate) trash: Option<u64>,
}

impl Meta {
    /// Formats a volume: writes its settings, the root directory and the trash's. Formatting
    /// again with the same settings changes nothing but the trash days; other settings need
    /// `force`, and the block size can never change once data was written.
    pub async fn format(kv: &AnyEngine, volume: &Volume, force: bool) -> Result<Volume> {
        let kv = kv.clone();
        let holder = Self::with_volume(kv, volume.clone());
        let formatted = write_txn!(holder, |txn| {
            if let Some(old) = txn.get(keys::VOLUME).await? {
                let old = decode_volume(&old)?;
                let diffs = old.differences(volume);
                if diffs.is_empty() {
                    let kept = Volume {
                        trash_days: volume.trash_days,
                        ..old
                    };
                    put_volume(&mut txn, &kept)?;
                    return Ok(kept);
                }
                if !force {
                    return Err(MetaError::Refused(format!(
                        "volume {} is already formatted with other settings: {}; use --force to change them",
                        old.name,
                        diffs.join(", ")
                    )));
                }
                let refs = keys::REFS_PREFIX;
                let has_data = !txn.scan(refs, &prefix_end(refs), 1).await?.is_empty();
                if old.block_size != volume.block_size && has_data {
                    return Err(MetaError::Refused(format!(
                        "volume {} holds data in blocks of {} bytes; the block size cannot change",
                        old.name, old.block_size
                    )));
                }
                let kept = Volume {
                    uuid: old.uuid,
                    created: old.created,
                    ..volume.clone()
                };
                put_volume(&mut txn, &kept)?;
                return Ok(kept);
            }
            put_volume(&mut txn, volume)?;
            let now = Timespec::now();
            let root = Attr::system_dir(0o755, ROOT_INO, now);
            put_attr(&mut txn, ROOT_INO, &root)?;
            txn.put(&keys::counter(keys::NEXT_INODE), &encode_u64(ROOT_INO + 1))?;
            txn.put(&keys::counter(keys::NEXT_OBJECT), &encode_u64(1))?;
            txn.put(&keys::counter(keys::USED_INODES), &encode_u64(1))?;
            txn.put(
                &keys::counter(keys::USED_SPACE),
                &encode_u64(charged(FileKind::Dir, 0) as u64),
            )?;
            Ok(volume.clone())
        })?;
        holder.reserved_dir(crate::trash::TRASH).await?;
        Ok(formatted)
    }

    /// Opens a formatted volume.
    pub async fn open(kv: AnyEngine) -> Result<Self> {
        let mut txn = kv.begin(false).await?;
        let Some(bytes) = txn.get(keys::VOLUME).await? else {
            return Err(MetaError::Refused(
                "the metadata store holds no volume; run `datenlord format` first".into(),
            ));
        };
        let volume = decode_volume(&bytes)?;
        let trash = match txn.get(&keys::reserved(crate::trash::TRASH)).await? {
            Some(bytes) => Some(crate::model::decode_u64(&bytes, "reserved directory")?),
            None => None,
        };
        if volume.version > FORMAT_VERSION {
            return Err(MetaError::Corrupt(format!(
                "volume {} uses metadata format {} but this release reads up to {FORMAT_VERSION}",
                volume.name, volume.version
            )));
        }
        drop(txn);
        Ok(Self {
            trash,
            ..Self::with_volume(kv, volume)
        })
    }

    fn with_volume(kv: AnyEngine, volume: Volume) -> Self {
        Self {
            engine: kv,
            timeout: DEFAULT_TIMEOUT,
            volume,
            inodes: Mutex::new(0..0),
            objects: Mutex::new(0..0),
            ops: AtomicU64::new(0),
            op_nanos: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rehearse: cfg!(test),
            trash: None,
        }
    }

    /// Makes every transaction run its body twice per attempt (once in a transaction thrown
    /// away), for tests: a body that changes what it captured (and so keeps what a failed
    /// attempt did after a conflict or a failover) then gives a wrong result at once.
    pub fn rehearse_transactions(mut self) -> Self {
        self.rehearse = true;
        self
    }

    /// Records one operation that began at `started` (the transaction macros call it).
    pub(crate) fn count_op(&self, started: std::time::Instant) {
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.ops.fetch_add(1, Ordering::Relaxed);
        self.op_nanos.fetch_add(took, Ordering::Relaxed);
    }

    /// Records an attempt that lost a race at commit (`write_txn!` calls it).
    pub(crate) fn count_retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The operations run so far on this volume by this process.
    pub fn counters(&self) -> MetaCounters {
        MetaCounters {
            ops: self.ops.load(Ordering::Relaxed),
            nanos: self.op_nanos.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            requests: self.engine.counters(),
        }
    }

    /// Sets how long an operation keeps retrying while the engine is unavailable (no quorum,
    /// unreachable) before it fails with EIO.
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The volume's settings.
    pub fn volume(&self) -> &Volume {
        &self.volume
    }

    /// The engine underneath.
    pub fn engine(&self) -> &AnyEngine {
        &self.engine
    }

    /// Keeps up to `budget` bytes of metadata in memory, kept current by the engine's watch,
    /// so that reads need no round trip to the engine's server (etcd; the embedded engine
    /// reads locally and ignores this). Reads may then trail other mounts' commits by the
    /// watch's delay; writes stay linearizable, and the reads that must not trail (an open's,
    /// a failed lookup's, a lock test's) ask for the latest state.
    pub fn cache_metadata(&self, budget: usize) {
        if let AnyEngine::Etcd(etcd) = &self.engine {
            etcd.cache_metadata(budget);
        }
    }

    /// Makes every committed change durable.
    pub async fn sync(&self) -> Result<()> {
        Ok(self.engine.sync().await?)
    }

    /// A new inode number. Taken before the transaction that uses it: an engine with one
    /// writer (SQLite) could not allocate inside another write transaction.
    pub async fn next_inode(&self) -> Result<u64> {
        self.next_id(&self.inodes, keys::NEXT_INODE, &keys::INODE_KINDS)
            .await
    }

    /// A new inode number for a caller inside a write transaction, which cannot wait for
    /// another one (on SQLite it would wait for itself): from this process's batch, else
    /// one number taken from the counter in `txn` itself (so a retried transaction takes it
    /// again, and a failed one takes none).
    pub(crate) async fn next_inode_in(&self, txn: &mut AnyTxn) -> Result<u64> {
        if let Some(id) = lock(&self.inodes).next() {
            return Ok(id);
        }
        let start = get_counter(txn, keys::NEXT_INODE).await?;
        txn.put(&keys::counter(keys::NEXT_INODE), &encode_u64(start + 1))?;
        Ok(start)
    }

    /// A new object id.
    pub async fn next_object(&self) -> Result<u64> {
        self.next_id(&self.objects, keys::NEXT_OBJECT, &keys::OBJECT_KINDS)
            .await
    }

    /// The next id of this process's batch, or a new batch from `counter`; the keys named
    /// after a new batch's ids (`kinds`) are known to be absent until this process hands the
    /// ids out (`KvEngine::unused`), so the first reads of a new inode's keys cost nothing.
    async fn next_id(
        &self,
        range: &Mutex<std::ops::Range<u64>>,
        counter: &str,
        kinds: &[&[u8]],
    ) -> Result<u64> {
        if let Some(id) = lock(range).next() {
            return Ok(id);
        }
        let start = write_txn!(self, |txn| {
            let start = get_counter(&mut txn, counter).await?;
            txn.put(&keys::counter(counter), &encode_u64(start + ID_BATCH))?;
            Ok(start)
        })?;
        self.engine
            .unused(&keys::id_ranges(kinds, start..start + ID_BATCH));
        let mut range = lock(range);
        *range = start + 1..start + ID_BATCH;
        Ok(start)
    }

    /// Space and inodes in use.
    pub async fn usage(&self) -> Result<Usage> {
        read_txn!(self, |txn| {
            Ok(Usage {
                space: get_usage(&mut txn, keys::USED_SPACE).await?,
                inodes: get_usage(&mut txn, keys::USED_INODES).await?,
            })
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn decode_volume(bytes: &[u8]) -> Result<Volume> {
    serde_json::from_slice(bytes).map_err(|e| MetaError::Corrupt(format!("volume settings: {e}")))
}

fn put_volume(txn: &mut AnyTxn, volume: &Volume) -> Result<()> {
    let bytes = serde_json::to_vec(volume)
        .map_err(|e| MetaError::Corrupt(format!("volume settings: {e}")))?;
    Ok(txn.put(keys::VOLUME, &bytes)?)
}

/// The attributes of `ino`, or ENOENT.
pub(crate) async fn get_attr(txn: &mut AnyTxn, ino: u64) -> Result<Attr> {
    let mut attr = get_own_attr(txn, ino).await?;
    with_entry_times(txn, ino, &mut attr).await?;
    Ok(attr)
}

/// The attributes record of `ino` alone: a directory's times there may be older than those
/// its last entry change set ([`touch_dir`]).
async fn get_own_attr(txn: &mut AnyTxn, ino: u64) -> Result<Attr> {
    match txn.get(&keys::attr(ino)).await? {
        Some(bytes) => Attr::decode(&bytes),
        None => errno(libc::ENOENT),
    }
}

/// Brings the times of `attr` (of directory `ino`) up to its last entry change's.
pub(crate) async fn with_entry_times(txn: &mut AnyTxn, ino: u64, attr: &mut Attr) -> Result<()> {
    if attr.kind == FileKind::Dir
        && let Some(bytes) = txn.get(&keys::dir_times(ino)).await?
    {
        add_entry_times(attr, &bytes)?;
    }
    Ok(())
}

/// Brings the times of directory `attr` up to its last entry change's, stored as `bytes`.
pub(crate) fn add_entry_times(attr: &mut Attr, bytes: &[u8]) -> Result<()> {
    let changed = Timespec::decode(bytes, "a directory's entry change time")?;
    attr.mtime = attr.mtime.max(changed);
    attr.ctime = attr.ctime.max(changed);
    Ok(())
}

/// Records that the entries of directory `ino` changed `now`, without reading anything.
pub(crate) fn touch_dir(txn: &mut AnyTxn, ino: u64, now: Timespec) -> Result<()> {
    Ok(txn.put(&keys::dir_times(ino), &now.encode())?)
}

/// The attributes of directory `ino`, to change an entry in it: ENOENT when gone (or being
/// removed), ENOTDIR when not one. Its times are the record's own, which may be older than
/// the last entry change's, so that concurrent entry changes do not conflict on them; a
/// caller that stores the attributes keeps the later times all the same ([`get_attr`]).
pub(crate) async fn get_dir(txn: &mut AnyTxn, ino: u64) -> Result<Attr> {
    let attr = get_own_attr(txn, ino).await?;
    if attr.kind != FileKind::Dir {
        return errno(libc::ENOTDIR);
    }
    if attr.nlink == 0 {
        return errno(libc::ENOENT);
    }
    Ok(attr)
}

pub(crate) fn put_attr(txn: &mut AnyTxn, ino: u64, attr: &Attr) -> Result<()> {
    Ok(txn.put(&keys::attr(ino), &attr.encode())?)
}

pub(crate) async fn get_counter(txn: &mut AnyTxn, name: &str) -> Result<u64> {
    match txn.get(&keys::counter(name)).await? {
        Some(bytes) => decode_u64(&bytes, "counter"),
        None => Ok(0),
    }
}

/// Adds `delta` to usage counter `name` on behalf of inode `ino` (in the inode's shard).
pub(crate) async fn add_usage(txn: &mut AnyTxn, name: &str, delta: i64, ino: u64) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    let key = keys::usage_shard(name, usage_shard_of(ino));
    let value = match txn.get(&key).await? {
        Some(bytes) => decode_i64(&bytes)?,
        None => 0,
    };
    Ok(txn.put(&key, &value.saturating_add(delta).to_be_bytes())?)
}

/// The shard of the usage counters that `ino` changes.
pub(crate) fn usage_shard_of(ino: u64) -> u8 {
    (ino % keys::USAGE_SHARDS) as u8
}

/// Usage counter `name`: the unsharded count of older volumes plus every shard.
pub(crate) async fn get_usage(txn: &mut AnyTxn, name: &str) -> Result<u64> {
    let mut total = i128::from(get_counter(txn, name).await?);
    for (_, value) in scan_prefix(txn, &keys::usage_shards(name)).await? {
        total += i128::from(decode_i64(&value)?);
    }
    Ok(total.clamp(0, i128::from(u64::MAX)) as u64)
}

fn decode_i64(bytes: &[u8]) -> Result<i64> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| MetaError::Corrupt("a usage counter shard is not 8 bytes".into()))?;
    Ok(i64::from_be_bytes(array))
}

/// Every pair under `prefix`.
pub(crate) async fn scan_prefix(
    txn: &mut AnyTxn,
    prefix: &[u8],
) -> Result<Vec<crate::engine::Pair>> {
    Ok(txn.scan(prefix, &prefix_end(prefix), usize::MAX).await?)
}

/// The space a file of `size` bytes is charged: whole 4 KiB blocks.
pub(crate) fn charged(kind: FileKind, size: u64) -> i64 {
    let bytes = match kind {
        FileKind::File => size.div_ceil(4096) * 4096,
        FileKind::Dir | FileKind::Symlink => 4096,
        _ => 0,
    };
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SqliteEngine;

    async fn fresh() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().unwrap();
        let kv = AnyEngine::Sqlite(SqliteEngine::open(&dir.path().join("meta.db"), true).unwrap());
        let volume = Volume {
            name: "rehearsal".into(),
            uuid: "u".into(),
            storage: "memory://".into(),
            block_size: 1 << 20,
            created: 0,
            version: FORMAT_VERSION,
            trash_days: 0,
        };
        Meta::format(&kv, &volume, false).await.unwrap();
        (dir, Meta::open(kv).await.unwrap())
    }

    /// Tests rehearse every transaction, so a body that changes what it captured is caught.
    #[tokio::test]
    async fn a_body_runs_twice_per_attempt_when_rehearsing() {
        let (_dir, meta) = fresh().await;
        assert!(meta.rehearse, "unit tests rehearse by default");
        let runs = std::sync::atomic::AtomicU32::new(0);
        write_txn!(meta, |txn| {
            runs.fetch_add(1, Ordering::Relaxed);
            Ok(txn.get(keys::VOLUME).await?.is_some())
        })
        .unwrap();
        assert_eq!(runs.load(Ordering::Relaxed), 2);
        let reads = std::sync::atomic::AtomicU32::new(0);
        let found = read_txn!(meta, |txn| {
            reads.fetch_add(1, Ordering::Relaxed);
            Ok(txn.get(keys::VOLUME).await?.is_some())
        })
        .unwrap();
        assert!(found);
        assert_eq!(reads.load(Ordering::Relaxed), 2);
    }

    /// The rehearsal's writes are thrown away: only the real run commits.
    #[tokio::test]
    async fn a_rehearsal_commits_nothing() {
        let (_dir, meta) = fresh().await;
        let key = keys::counter("rehearsed");
        write_txn!(meta, |txn| {
            let value = get_counter(&mut txn, "rehearsed").await?;
            txn.put(&key, &encode_u64(value + 1))?;
            Ok(())
        })
        .unwrap();
        let value = read_txn!(meta, |txn| get_counter(&mut txn, "rehearsed").await).unwrap();
        assert_eq!(value, 1);
    }
}
