//! `Vfs`: the POSIX operations of a mounted volume.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use datenlord_meta::{
    Attr, Caller, FileKind, MAX_FILE_SIZE, Meta, NewInode, OpenFiles, Removed, SessionInfo,
    SetAttr, Timespec,
};
use datenlord_store::BlockStore;

use crate::error::{Result, errno};
use crate::locks::Locks;
use crate::open_file::OpenFile;
use crate::readahead::ReadAhead;

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

/// An entry of a directory listing; offsets count from 1 ("." is entry 0).
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: FileKind,
}

#[derive(Debug)]
enum Handle {
    File {
        file: Arc<OpenFile>,
        flags: i32,
        ahead: Arc<ReadAhead>,
    },
    Dir {
        ino: u64,
        entries: Option<Arc<Vec<DirEntry>>>,
    },
}

/// What `statfs` reports.
#[derive(Debug, Clone, Copy)]
pub struct FsStats {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub used_inodes: u64,
    pub free_inodes: u64,
}

/// The filesystem of one mounted volume.
#[derive(Debug)]
pub struct Vfs {
    pub(crate) meta: Arc<Meta>,
    pub(crate) store: Arc<BlockStore>,
    pub(crate) config: VfsConfig,
    session: AtomicU64,
    session_info: Mutex<Option<SessionInfo>>,
    holding: [tokio::sync::Mutex<()>; HOLDING_STRIPES],
    /// Files closed whose hold (see [`Meta::hold_open`]) lingers, and since when: the
    /// background lets go of it after [`HOLD_LINGER`].
    releasing: Mutex<HashMap<u64, Instant>>,
    pub(crate) files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_handle: AtomicU64,
    pub(crate) buffered: AtomicUsize,
    /// Memory of flushed write buffers, for the next writes to fill.
    pub(crate) spare_buffers: Mutex<Vec<Vec<u8>>>,
    locks: Locks,
    /// Chunks with many slices, waiting for the background compaction.
    pub(crate) crowded: Mutex<std::collections::BTreeSet<(u64, u32)>>,
}

/// `offset + len`, or EFBIG past the largest file.
pub(crate) fn end_of(offset: u64, len: u64) -> Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_FILE_SIZE => Ok(end),
        _ => errno(libc::EFBIG),
    }
}

/// Locks serialising first opens and last closes, by inode.
const HOLDING_STRIPES: usize = 64;

/// How long a closed file keeps its hold on this mount. Reopening it meanwhile costs no
/// metadata write — a training job's next epoch, a build's second pass — which on etcd is two
/// consensus rounds per open and close saved. The price: a file another mount unlinks
/// meanwhile keeps its blocks that much longer (it is reclaimed when the hold goes, or with
/// this mount's session).
const HOLD_LINGER: Duration = Duration::from_secs(600);
/// Closed files whose holds linger at most; beyond it, the oldest go first.
const LINGERING_MAX: usize = 100_000;
/// Holds let go of in one metadata transaction.
const RELEASE_BATCH: usize = 8;

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `Vfs` as seen by metadata operations that remove names.
struct Opens<'a>(&'a Vfs);

impl OpenFiles for Opens<'_> {
    fn is_open(&self, ino: u64) -> bool {
        lock(&self.0.files).contains_key(&ino)
    }

    fn session(&self) -> u64 {
        self.0.session.load(Ordering::Relaxed)
    }
}

impl Vfs {
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
            locks: Locks::default(),
            crowded: Mutex::new(std::collections::BTreeSet::new()),
        }
    }

    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

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

    pub fn session(&self) -> u64 {
        self.session.load(Ordering::Relaxed)
    }

    pub fn config(&self) -> &VfsConfig {
        &self.config
    }

    pub fn locks(&self) -> &Locks {
        &self.locks
    }

    pub(crate) fn open_file(&self, ino: u64) -> Option<Arc<OpenFile>> {
        lock(&self.files).get(&ino).cloned()
    }

    /// Attributes as this mount sees them: with buffered writes counted. Without any, the
    /// stored attributes are the truth, and an open file learns from them that another mount
    /// made it longer.
    fn with_buffered(&self, ino: u64, mut attr: Attr) -> Attr {
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

    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<(u64, Attr)> {
        let (ino, attr) = self.meta.lookup(parent, name).await?;
        Ok((ino, self.with_buffered(ino, attr)))
    }

    pub async fn getattr(&self, ino: u64) -> Result<Attr> {
        let attr = self.meta.getattr(ino).await?;
        Ok(self.with_buffered(ino, attr))
    }

    /// chmod, chown, utimens and truncate. Buffered writes are flushed first, so a later flush
    /// cannot undo an explicit mtime.
    pub async fn setattr(
        &self,
        caller: Caller,
        ino: u64,
        size: Option<u64>,
        set: SetAttr,
    ) -> Result<Attr> {
        let file = self.open_file(ino);
        let mut buffer = match &file {
            Some(file) => Some(file.data.write().await),
            None => None,
        };
        if let (Some(file), Some(buffer)) = (&file, buffer.as_deref_mut()) {
            self.flush_locked(file, buffer).await?;
        }
        if let Some(size) = size {
            end_of(size, 0)?;
            let attr = self.meta.truncate(ino, size, Timespec::now()).await?;
            if let Some(file) = &file {
                file.settled(attr.size);
            }
        }
        let attr = self.meta.setattr(caller, ino, set).await?;
        drop(buffer);
        Ok(attr)
    }

    /// Creates a node that is not opened (mknod, mkdir, symlink).
    pub async fn mknod(
        &self,
        caller: Caller,
        parent: u64,
        name: &[u8],
        new: NewInode<'_>,
    ) -> Result<(u64, Attr)> {
        Ok(self.meta.create(caller, parent, name, new).await?)
    }

    /// Creates and opens a regular file (O_CREAT; O_EXCL is implied, as the kernel sends
    /// CREATE only for names it found missing). Without a name it is an O_TMPFILE file, which
    /// goes at its last close unless linked first.
    pub async fn create(
        &self,
        caller: Caller,
        parent: u64,
        name: Option<&[u8]>,
        perm: u16,
        umask: u16,
        flags: i32,
    ) -> Result<(u64, Attr, u64)> {
        let new = NewInode {
            kind: FileKind::File,
            perm,
            umask,
            rdev: 0,
            target: None,
        };
        let (ino, attr) = match name {
            Some(name) => {
                self.meta
                    .create_open(caller, parent, name, new, self.session())
                    .await?
            }
            None => {
                self.meta
                    .create_unnamed(caller, parent, new, self.session())
                    .await?
            }
        };
        let fh = self.add_file_handle(ino, attr.size, flags);
        if name.is_none()
            && let Some(file) = self.open_file(ino)
        {
            file.orphaned();
        }
        Ok((ino, attr, fh))
    }

    pub async fn link(&self, ino: u64, parent: u64, name: &[u8]) -> Result<Attr> {
        let attr = self.meta.link(ino, parent, name).await?;
        Ok(self.with_buffered(ino, attr))
    }

    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        let removed = self.meta.unlink(parent, name, &Opens(self)).await?;
        self.mark_orphan(&removed);
        Ok(removed)
    }

    /// A file open here lost its last name: its last close lets go of it at once. A closed
    /// one's lingering hold went with the name (see `drop_link`).
    fn mark_orphan(&self, removed: &Removed) {
        if removed.attr.nlink > 0 {
            return;
        }
        lock(&self.releasing).remove(&removed.ino);
        if let Some(file) = self.open_file(removed.ino) {
            file.orphaned();
        }
    }

    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        Ok(self.meta.rmdir(parent, name).await?)
    }

    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        flags: u32,
    ) -> Result<Option<Removed>> {
        let removed = self
            .meta
            .rename(parent, name, new_parent, new_name, flags, &Opens(self))
            .await?;
        if let Some(removed) = &removed {
            self.mark_orphan(removed);
        }
        Ok(removed)
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.meta.readlink(ino).await?)
    }

    /// Opens `ino`; returns the handle and the file's attributes now. O_TRUNC truncates it
    /// (the kernel leaves that to us with ATOMIC_O_TRUNC). The first open on this mount
    /// records that the mount holds the file (see [`Meta::hold_open`]).
    pub async fn open(&self, caller: Caller, ino: u64, flags: i32) -> Result<(u64, Attr)> {
        let stripe = self.holding(ino).lock().await;
        let open = self.open_file(ino);
        if let Some(file) = &open {
            // Close-to-open: what another mount closed before this open shows in it.
            file.forget_chunks();
        }
        let held = open.is_some() || lock(&self.releasing).remove(&ino).is_some();
        let mut attr = if held {
            let attr = self.meta.getattr(ino).await?;
            match attr.kind {
                FileKind::File => attr,
                _ => return errno(libc::EISDIR),
            }
        } else {
            self.meta.hold_open(ino, self.session()).await?
        };
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY;
        if flags & libc::O_TRUNC != 0 && writes {
            let fh = self.add_file_handle(ino, attr.size, flags);
            drop(stripe);
            let set = SetAttr::default();
            return match self.setattr(caller, ino, Some(0), set).await {
                Ok(attr) => Ok((fh, attr)),
                Err(err) => {
                    self.release(fh, None).await;
                    Err(err)
                }
            };
        }
        attr = self.with_buffered(ino, attr);
        Ok((self.add_file_handle(ino, attr.size, flags), attr))
    }

    /// Serialises the first open and the last close of one inode on this mount, so that the
    /// metadata's record of the mount holding it is never dropped under a new open.
    fn holding(&self, ino: u64) -> &tokio::sync::Mutex<()> {
        &self.holding[stripe_of(ino)]
    }

    fn add_file_handle(&self, ino: u64, len: u64, flags: i32) -> u64 {
        let file = {
            let mut files = lock(&self.files);
            let file = files
                .entry(ino)
                .or_insert_with(|| Arc::new(OpenFile::new(ino, len)))
                .clone();
            *file.opens() += 1;
            file
        };
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        let ahead = Arc::default();
        lock(&self.handles).insert(fh, Handle::File { file, flags, ahead });
        fh
    }

    pub(crate) fn file_handle(&self, fh: u64) -> Result<(Arc<OpenFile>, i32)> {
        match lock(&self.handles).get(&fh) {
            Some(Handle::File { file, flags, .. }) => Ok((file.clone(), *flags)),
            Some(Handle::Dir { .. }) => errno(libc::EISDIR),
            None => errno(libc::EBADF),
        }
    }

    /// The open file of a handle and the handle's read pattern.
    pub(crate) fn read_handle(&self, fh: u64) -> Result<(Arc<OpenFile>, Arc<ReadAhead>)> {
        match lock(&self.handles).get(&fh) {
            Some(Handle::File { file, ahead, .. }) => Ok((file.clone(), ahead.clone())),
            Some(Handle::Dir { .. }) => errno(libc::EISDIR),
            None => errno(libc::EBADF),
        }
    }

    /// close(2) of one descriptor: flushes, and drops the POSIX locks of `lock_owner`.
    pub async fn flush_handle(&self, fh: u64, lock_owner: Option<u64>) -> Result<()> {
        let (file, _) = self.file_handle(fh)?;
        if let Some(owner) = lock_owner {
            self.release_locks(file.ino, owner, false).await;
        }
        self.flush(&file).await
    }

    /// The last reference to a handle is gone. Unflushed data is flushed (a failure now can
    /// only be logged); the last handle of an unlinked file lets it go.
    pub async fn release(&self, fh: u64, flock_owner: Option<u64>) {
        let Some(handle) = lock(&self.handles).remove(&fh) else {
            return;
        };
        let Handle::File { file, .. } = handle else {
            return;
        };
        if let Some(owner) = flock_owner {
            self.release_locks(file.ino, owner, true).await;
        }
        let last = {
            let mut files = lock(&self.files);
            let mut opens = file.opens();
            *opens -= 1;
            let last = *opens == 0;
            if last {
                files.remove(&file.ino);
            }
            last
        };
        if !last {
            return;
        }
        if let Err(err) = self.flush(&file).await
            && err.errno() != libc::ENOENT
        {
            tracing::error!(ino = file.ino, %err, "data written to a closed file could not be stored and is lost");
        }
        let _stripe = self.holding(file.ino).lock().await;
        if self.open_file(file.ino).is_some() {
            // Opened again meanwhile: that open's hold stands.
            return;
        }
        // Another mount may have unlinked it: then this close is the one that lets it go, at
        // once (a read, not a write, so lingering stays cheap).
        let named = !file.is_orphan()
            && matches!(self.meta.getattr(file.ino).await, Ok(attr) if attr.nlink > 0);
        if !named {
            self.release_hold(file.ino).await;
        } else {
            // Still named: the hold lingers, so a reopen meanwhile finds it in place, and the
            // background lets go of it later, in batches.
            lock(&self.releasing).insert(file.ino, Instant::now());
        }
    }

    async fn release_hold(&self, ino: u64) {
        if let Err(err) = self.meta.release_open(self.session(), ino).await {
            tracing::warn!(ino, %err, "cannot release a closed file; it goes with the session");
        }
    }

    /// Lets go of the holds that lingered long enough, and of the oldest beyond
    /// [`LINGERING_MAX`] (see `release`).
    pub(crate) async fn release_closed(&self) {
        let due = due_releases(&lock(&self.releasing), Instant::now());
        for batch in due.chunks(RELEASE_BATCH) {
            // Each file's stripe is held across the release, so that no open takes the hold
            // over meanwhile; stripes are taken in ascending order, so batches cannot deadlock.
            let mut stripes: Vec<usize> = batch.iter().map(|&ino| stripe_of(ino)).collect();
            stripes.sort_unstable();
            stripes.dedup();
            let mut guards = Vec::with_capacity(stripes.len());
            for stripe in stripes {
                guards.push(self.holding[stripe].lock().await);
            }
            let inos: Vec<u64> = {
                let mut releasing = lock(&self.releasing);
                batch
                    .iter()
                    .copied()
                    .filter(|ino| releasing.remove(ino).is_some())
                    .collect()
            };
            if inos.is_empty() {
                continue;
            }
            if let Err(err) = self.meta.release_opens(self.session(), &inos).await {
                tracing::warn!(files = inos.len(), %err, "cannot release closed files; they go with the session");
            }
        }
    }

    /// fsync(2): returns once the file's data and all metadata are durable.
    pub async fn fsync(&self, fh: u64) -> Result<()> {
        let (file, _) = self.file_handle(fh)?;
        self.flush(&file).await?;
        self.sync_all().await
    }

    /// Makes everything written so far durable.
    pub async fn sync_all(&self) -> Result<()> {
        self.store.sync().await?;
        self.meta.sync().await?;
        Ok(())
    }

    /// Flushes every open file (unmount, syncfs).
    pub async fn flush_all(&self) -> Result<()> {
        let files: Vec<_> = lock(&self.files).values().cloned().collect();
        for file in files {
            self.flush(&file).await?;
        }
        Ok(())
    }

    pub async fn opendir(&self, ino: u64) -> Result<u64> {
        let attr = self.meta.getattr(ino).await?;
        if attr.kind != FileKind::Dir {
            return errno(libc::ENOTDIR);
        }
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(fh, Handle::Dir { ino, entries: None });
        Ok(fh)
    }

    /// The listing of an open directory, read once when a reader starts from offset 0 and kept,
    /// so names removed while it reads on neither shift nor repeat the others.
    pub async fn readdir(&self, fh: u64, offset: u64) -> Result<Arc<Vec<DirEntry>>> {
        let (ino, cached) = match lock(&self.handles).get(&fh) {
            Some(Handle::Dir { ino, entries }) => (*ino, entries.clone()),
            Some(Handle::File { .. }) => return errno(libc::ENOTDIR),
            None => return errno(libc::EBADF),
        };
        if let (Some(entries), false) = (cached, offset == 0) {
            return Ok(entries);
        }
        let attr = self.meta.getattr(ino).await?;
        let mut entries = vec![
            DirEntry {
                name: b".".to_vec(),
                ino,
                kind: FileKind::Dir,
            },
            DirEntry {
                name: b"..".to_vec(),
                ino: attr.parent,
                kind: FileKind::Dir,
            },
        ];
        for (name, dirent) in self.meta.readdir(ino).await? {
            entries.push(DirEntry {
                name,
                ino: dirent.ino,
                kind: dirent.kind,
            });
        }
        let entries = Arc::new(entries);
        if let Some(Handle::Dir { entries: slot, .. }) = lock(&self.handles).get_mut(&fh) {
            *slot = Some(entries.clone());
        }
        Ok(entries)
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.handles).remove(&fh);
    }

    pub async fn getxattr(&self, ino: u64, name: &[u8]) -> Result<Vec<u8>> {
        Ok(self.meta.getxattr(ino, name).await?)
    }

    pub async fn listxattr(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.meta.listxattr(ino).await?)
    }

    pub async fn setxattr(
        &self,
        ino: u64,
        name: &[u8],
        value: &[u8],
        flags: i32,
        kill_sgid: bool,
    ) -> Result<()> {
        Ok(self
            .meta
            .setxattr(ino, name, value, flags, kill_sgid)
            .await?)
    }

    pub async fn removexattr(&self, ino: u64, name: &[u8]) -> Result<()> {
        Ok(self.meta.removexattr(ino, name).await?)
    }

    pub async fn statfs(&self) -> Result<FsStats> {
        let usage = self.meta.usage().await?;
        const VIRTUAL: u64 = 1 << 50;
        let (total, free) = match self.store.capacity() {
            Some(cap) => (cap.total, cap.free),
            None => (VIRTUAL, VIRTUAL.saturating_sub(usage.space)),
        };
        Ok(FsStats {
            total_bytes: total,
            free_bytes: free,
            used_inodes: usage.inodes,
            free_inodes: u64::from(u32::MAX).saturating_sub(usage.inodes),
        })
    }

    /// fallocate(2): plain allocation only extends the size (blocks are written when data
    /// comes); PUNCH_HOLE and ZERO_RANGE become holes.
    pub async fn fallocate(&self, fh: u64, offset: u64, len: u64, mode: i32) -> Result<()> {
        const KEEP_SIZE: i32 = libc::FALLOC_FL_KEEP_SIZE;
        const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE;
        const ZERO: i32 = libc::FALLOC_FL_ZERO_RANGE;
        let (file, flags) = self.file_handle(fh)?;
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            return errno(libc::EBADF);
        }
        if mode & !(KEEP_SIZE | PUNCH | ZERO) != 0 || (mode & PUNCH != 0 && mode & KEEP_SIZE == 0) {
            return errno(libc::EOPNOTSUPP);
        }
        let end = end_of(offset, len)?;
        let mut buffer = file.data.write().await;
        self.flush_locked(&file, &mut buffer).await?;
        let attr = if mode & (PUNCH | ZERO) != 0 {
            self.meta
                .punch(file.ino, offset, len, mode & KEEP_SIZE == 0)
                .await?
        } else {
            let attr = self.meta.getattr(file.ino).await?;
            if let Some(cap) = self.store.capacity()
                && end.saturating_sub(attr.size) > cap.free
            {
                return errno(libc::ENOSPC);
            }
            if mode & KEEP_SIZE == 0 && end > attr.size {
                self.meta
                    .punch(file.ino, attr.size, end - attr.size, true)
                    .await?
            } else {
                attr
            }
        };
        file.settled(attr.size);
        Ok(())
    }

    /// SEEK_DATA (`data`) and SEEK_HOLE.
    pub async fn lseek(&self, fh: u64, offset: u64, data: bool) -> Result<u64> {
        let (file, _) = self.file_handle(fh)?;
        self.flush(&file).await?;
        Ok(self.meta.seek(file.ino, offset, data).await?)
    }

    /// copy_file_range(2): the destination shares the source's objects, no bytes move.
    pub async fn copy_file_range(
        &self,
        fh_in: u64,
        offset_in: u64,
        fh_out: u64,
        offset_out: u64,
        len: u64,
    ) -> Result<u64> {
        let (src, src_flags) = self.file_handle(fh_in)?;
        let (dst, dst_flags) = self.file_handle(fh_out)?;
        if src_flags & libc::O_ACCMODE == libc::O_WRONLY
            || dst_flags & libc::O_ACCMODE == libc::O_RDONLY
        {
            return errno(libc::EBADF);
        }
        if dst_flags & libc::O_APPEND != 0 {
            return errno(libc::EBADF);
        }
        if src.ino == dst.ino && offset_in.max(offset_out) < offset_in.min(offset_out) + len {
            return errno(libc::EINVAL);
        }
        self.flush(&src).await?;
        let mut buffer = dst.data.write().await;
        self.flush_locked(&dst, &mut buffer).await?;
        let (copied, attr) = self
            .meta
            .clone_range(src.ino, offset_in, dst.ino, offset_out, len)
            .await?;
        dst.settled(attr.size);
        Ok(copied)
    }
}

/// The stripe of [`Vfs::holding`] for `ino`.
fn stripe_of(ino: u64) -> usize {
    (ino % HOLDING_STRIPES as u64) as usize
}

/// The lingering holds to let go of now: those closed [`HOLD_LINGER`] ago, and the oldest
/// beyond [`LINGERING_MAX`].
fn due_releases(releasing: &HashMap<u64, Instant>, now: Instant) -> Vec<u64> {
    let expired = |since: &Instant| now.saturating_duration_since(*since) >= HOLD_LINGER;
    let excess = releasing.len().saturating_sub(LINGERING_MAX);
    if excess == 0 {
        return releasing
            .iter()
            .filter(|(_, since)| expired(since))
            .map(|(&ino, _)| ino)
            .collect();
    }
    let mut by_age: Vec<(Instant, u64)> = releasing
        .iter()
        .map(|(&ino, &since)| (since, ino))
        .collect();
    by_age.sort_unstable();
    by_age
        .into_iter()
        .enumerate()
        .filter(|(i, (since, _))| *i < excess || expired(since))
        .map(|(_, (_, ino))| ino)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_go_when_they_lingered_long_enough() {
        let now = Instant::now();
        let Some(old) = now.checked_sub(HOLD_LINGER) else {
            return;
        };
        let releasing = HashMap::from([(1, old), (2, now)]);
        assert_eq!(due_releases(&releasing, now), vec![1]);
    }

    #[test]
    fn the_oldest_holds_go_beyond_the_limit() {
        let now = Instant::now();
        let Some(start) = now.checked_sub(Duration::from_secs(100)) else {
            return;
        };
        let releasing: HashMap<u64, Instant> = (0..LINGERING_MAX as u64 + 3)
            .map(|ino| (ino, start + Duration::from_micros(ino)))
            .collect();
        let mut due = due_releases(&releasing, now);
        due.sort_unstable();
        assert_eq!(due, vec![0, 1, 2]);
    }
}
