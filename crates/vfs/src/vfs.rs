//! `Vfs`: the state of a mounted volume, its construction and configuration, and the helpers
//! its operations share. The operations live in modules named for what they act on:
//! `handles`, `directories`, `attributes`, `data`, `read`, `write`, `locks` and
//! `cache_control`; the work a mount does on its own in `background` and `compact`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use datenlord_meta::{Attr, FileKind, MAX_FILE_SIZE, Meta, SessionInfo};
use datenlord_store::BlockStore;

use crate::error::{Result, errno};
use crate::handles::{HOLDING_STRIPES, Handle};
use crate::locks::Locks;
use crate::open_file::OpenFile;
use crate::settle_log::{Mark, SettleLog};

/// How a mount behaves.
#[derive(Debug, Clone)]
pub struct VfsConfig {
    /// Bytes of buffered writes all files may hold before writers flush (back-pressure).
    pub buffer_size: usize,
    /// A file flushes once it buffers this many bytes.
    pub flush_size: usize,
    /// Update access times as Linux's `relatime` does (off for `noatime` and read-only mounts).
    pub relatime: bool,
    /// This machine's name, shown with the mount's session.
    pub host: String,
    /// This process's boot and PID namespace ([`crate::host_identity`]): the sessions that
    /// share it are dead as soon as their process is gone; others only when their lease ends.
    pub host_id: String,
    /// How long this mount's session lives without a heartbeat before other mounts end it.
    pub lease: Duration,
    /// The largest read-ahead window of a sequential reader, in bytes; 0: none.
    pub readahead: u64,
}

impl Default for VfsConfig {
    fn default() -> Self {
        Self {
            buffer_size: 512 << 20,
            flush_size: 64 << 20,
            relatime: true,
            host: this_host(),
            host_id: crate::host_identity(),
            lease: Duration::from_secs(60),
            readahead: 0,
        }
    }
}

/// The kernel's host name.
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The filesystem of one mounted volume.
#[derive(Debug)]
pub struct Vfs {
    pub(crate) meta: Arc<Meta>,
    pub(crate) store: Arc<BlockStore>,
    pub(crate) config: VfsConfig,
    pub(crate) session: AtomicU64,
    session_info: Mutex<Option<SessionInfo>>,
    pub(crate) holding: [tokio::sync::Mutex<()>; HOLDING_STRIPES],
    /// Files closed whose hold (see [`Meta::hold_open`]) lingers, and since when: the
    /// background lets go of it after [`HOLD_LINGER`](crate::handles::HOLD_LINGER).
    pub(crate) releasing: Mutex<HashMap<u64, Instant>>,
    pub(crate) files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    pub(crate) handles: Mutex<HashMap<u64, Handle>>,
    pub(crate) next_handle: AtomicU64,
    pub(crate) buffered: AtomicUsize,
    /// Memory of flushed write buffers, for the next writes to fill.
    pub(crate) spare_buffers: Mutex<Vec<Vec<u8>>>,
    /// The object announced ahead for the next small flush (`write.rs`).
    pub(crate) announced: Mutex<crate::write::Announced>,
    /// The block store's free space (on stores that have a limit) and when it was read.
    pub(crate) free_space: Mutex<Option<(u64, Instant)>>,
    /// What each file being written may still grow by under its quotas (`write.rs`).
    pub(crate) quota_room: Mutex<HashMap<u64, crate::write::QuotaRoom>>,
    locks: Locks,
    /// Chunks with many slices, waiting for the background compaction.
    pub(crate) crowded: Mutex<std::collections::BTreeSet<(u64, u32)>>,
    /// Open files whose buffered writes the metadata absorbed lately (`settle_log.rs`): a
    /// mark is taken before reading attributes from the metadata.
    pub(crate) settles: SettleLog,
}

/// `offset + len`, or EFBIG past the largest file.
pub(crate) fn end_of(offset: u64, len: u64) -> Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_FILE_SIZE => Ok(end),
        _ => errno(libc::EFBIG),
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Vfs {
    /// The filesystem of a mount over `meta` and `store`; it has no session before
    /// [`Vfs::start_session`].
    pub fn new(meta: Arc<Meta>, store: Arc<BlockStore>, config: VfsConfig) -> Self {
        Self {
            meta,
            store,
            config,
            session: AtomicU64::new(0),
            session_info: Mutex::new(None),
            holding: std::array::from_fn(|_| tokio::sync::Mutex::new(())),
            releasing: Mutex::new(HashMap::new()),
            files: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            buffered: AtomicUsize::new(0),
            spare_buffers: Mutex::new(Vec::new()),
            announced: Mutex::new(crate::write::Announced::default()),
            free_space: Mutex::new(None),
            quota_room: Mutex::new(HashMap::new()),
            locks: Locks::default(),
            crowded: Mutex::new(std::collections::BTreeSet::new()),
            settles: SettleLog::default(),
        }
    }

    /// The volume's metadata.
    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    /// The volume's blocks.
    pub fn store(&self) -> &Arc<BlockStore> {
        &self.store
    }

    /// Registers this mount's session (locks, objects being written and unlinked-but-open
    /// files are recorded under it); the background work keeps it alive.
    pub async fn start_session(&self, mut info: SessionInfo) -> Result<u64> {
        info.lease = self.config.lease.as_secs().max(1) as i64;
        let id = self.meta.register_session(&info).await?;
        self.session.store(id, Ordering::Relaxed);
        *lock(&self.session_info) = Some(info);
        Ok(id)
    }

    /// The session was ended by other mounts (its lease expired while this mount could not
    /// renew it): registers a new one.
    pub(crate) async fn restart_session(&self) -> Result<u64> {
        let Some(mut info) = lock(&self.session_info).clone() else {
            return Ok(0);
        };
        info.heartbeat = datenlord_meta::Timespec::now().sec;
        let id = self.meta.register_session(&info).await?;
        self.session.store(id, Ordering::Relaxed);
        Ok(id)
    }

    /// This mount's session id: 0 before [`Vfs::start_session`], and a new one once the
    /// background registered the session again after other mounts ended it.
    pub fn session(&self) -> u64 {
        self.session.load(Ordering::Relaxed)
    }

    /// How this mount behaves.
    pub fn config(&self) -> &VfsConfig {
        &self.config
    }

    /// This mount's side of the POSIX and flock locks.
    pub fn locks(&self) -> &Locks {
        &self.locks
    }

    pub(crate) fn open_file(&self, ino: u64) -> Option<Arc<OpenFile>> {
        lock(&self.files).get(&ino).cloned()
    }

    /// The metadata now holds everything `file` buffered, and it is `len` long.
    pub(crate) fn settle(&self, file: &OpenFile, len: u64) {
        file.settled(len);
        self.settles.settled(file.ino);
    }

    /// `attr`, read from the metadata after `mark`, as this mount sees it (with buffered
    /// writes counted); read again when one of this mount's flushes of `ino` settled
    /// meanwhile, so that the length before it cannot pass for the truth.
    pub(crate) async fn buffered_since(&self, ino: u64, mark: Mark, attr: Attr) -> Result<Attr> {
        if self.settles.settled_since(mark, ino) {
            return self.getattr(ino).await;
        }
        Ok(self.with_buffered(ino, attr))
    }

    /// Attributes as this mount sees them: with buffered writes counted. Without any, the
    /// stored attributes are the truth, and an open file learns from them that another mount
    /// made it longer.
    pub(crate) fn with_buffered(&self, ino: u64, mut attr: Attr) -> Attr {
        if attr.kind == FileKind::File
            && let Some(file) = self.open_file(ino)
        {
            let seen = file.seen_or_grow(attr.size);
            if let Some(mtime) = seen.mtime {
                attr.size = seen.len;
                attr.mtime = mtime;
                attr.ctime = mtime.max(attr.ctime);
            }
        }
        attr
    }
}
