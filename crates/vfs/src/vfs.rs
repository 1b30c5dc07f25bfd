//! `Vfs`: the POSIX operations of a mounted volume.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use datenlord_meta::{
    Attr, Caller, ChunkSlice, FileKind, MAX_FILE_SIZE, Meta, NewInode, NewObject, OpenFiles,
    Removed, SetAttr, Slice, Timespec, split_range, visible,
};
use datenlord_store::BlockStore;
use futures::future::try_join_all;

use crate::buffer::{Segments, WriteBuffer, overlay};
use crate::error::{Result, VfsError, errno};
use crate::locks::Locks;
use crate::open_file::OpenFile;

/// How a mount behaves.
#[derive(Debug, Clone)]
pub struct VfsConfig {
    /// Bytes of buffered writes all files may hold before writers flush (back-pressure).
    pub buffer_size: usize,
    /// A file flushes once it buffers this many bytes.
    pub flush_size: usize,
    /// Update access times as Linux's `relatime` does (off for `noatime` and read-only mounts).
    pub relatime: bool,
    /// This machine's name, to tell its own dead mounts (process gone) from live ones.
    pub host: String,
}

impl Default for VfsConfig {
    fn default() -> Self {
        Self {
            buffer_size: 512 << 20,
            flush_size: 64 << 20,
            relatime: true,
            host: this_host(),
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
    meta: Arc<Meta>,
    store: Arc<BlockStore>,
    config: VfsConfig,
    session: AtomicU64,
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    handles: Mutex<HashMap<u64, Handle>>,
    next_handle: AtomicU64,
    buffered: AtomicUsize,
    locks: Locks,
    /// Chunks with many slices, waiting for the background compaction.
    pub(crate) crowded: Mutex<std::collections::BTreeSet<(u64, u32)>>,
}

/// One past the last byte of `segments`.
fn segments_end(segments: &Segments) -> u64 {
    segments
        .iter()
        .next_back()
        .map_or(0, |(start, seg)| start + seg.len() as u64)
}

fn bytes_of(segments: &Segments) -> usize {
    segments.values().map(Vec::len).sum()
}

/// `offset + len`, or EFBIG past the largest file.
fn end_of(offset: u64, len: u64) -> Result<u64> {
    match offset.checked_add(len) {
        Some(end) if end <= MAX_FILE_SIZE => Ok(end),
        _ => errno(libc::EFBIG),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
            files: Mutex::new(HashMap::new()),
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            buffered: AtomicUsize::new(0),
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

    /// The mount session unlinked-but-open files are recorded under.
    pub fn set_session(&self, session: u64) {
        self.session.store(session, Ordering::Relaxed);
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

    fn open_file(&self, ino: u64) -> Option<Arc<OpenFile>> {
        lock(&self.files).get(&ino).cloned()
    }

    /// Attributes as this mount sees them: with buffered writes counted.
    fn with_buffered(&self, ino: u64, mut attr: Attr) -> Attr {
        if attr.kind == FileKind::File
            && let Some(file) = self.open_file(ino)
        {
            let seen = file.seen();
            attr.size = seen.len;
            if let Some(mtime) = seen.mtime {
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
            Some(name) => self.meta.create(caller, parent, name, new).await?,
            None => {
                self.meta
                    .create_unnamed(caller, parent, new, self.session())
                    .await?
            }
        };
        let fh = self.add_file_handle(ino, attr.size, flags);
        Ok((ino, attr, fh))
    }

    pub async fn link(&self, ino: u64, parent: u64, name: &[u8]) -> Result<Attr> {
        let attr = self.meta.link(ino, parent, name).await?;
        Ok(self.with_buffered(ino, attr))
    }

    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        Ok(self.meta.unlink(parent, name, &Opens(self)).await?)
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
        Ok(self
            .meta
            .rename(parent, name, new_parent, new_name, flags, &Opens(self))
            .await?)
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.meta.readlink(ino).await?)
    }

    /// Opens a file; O_TRUNC truncates it (the kernel leaves that to us with ATOMIC_O_TRUNC).
    pub async fn open(&self, caller: Caller, ino: u64, flags: i32) -> Result<u64> {
        let mut attr = self.meta.getattr(ino).await?;
        match attr.kind {
            FileKind::Dir => return errno(libc::EISDIR),
            FileKind::File => {}
            _ => return errno(libc::ENXIO),
        }
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY;
        if flags & libc::O_TRUNC != 0 && writes {
            let fh = self.add_file_handle(ino, attr.size, flags);
            let set = SetAttr::default();
            if let Err(err) = self.setattr(caller, ino, Some(0), set).await {
                self.release(fh, None).await;
                return Err(err);
            }
            return Ok(fh);
        }
        attr = self.with_buffered(ino, attr);
        Ok(self.add_file_handle(ino, attr.size, flags))
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
        lock(&self.handles).insert(fh, Handle::File { file, flags });
        fh
    }

    fn file_handle(&self, fh: u64) -> Result<(Arc<OpenFile>, i32)> {
        match lock(&self.handles).get(&fh) {
            Some(Handle::File { file, flags }) => Ok((file.clone(), *flags)),
            Some(Handle::Dir { .. }) => errno(libc::EISDIR),
            None => errno(libc::EBADF),
        }
    }

    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes> {
        let (file, _) = self.file_handle(fh)?;
        if self.config.relatime
            && file.first_read()
            && let Err(err) = self.touch_atime(file.ino).await
        {
            tracing::debug!(ino = file.ino, %err, "cannot update the access time");
        }
        let buffer = file.data.read().await;
        let len = file.seen().len;
        if offset >= len || size == 0 {
            return Ok(Bytes::new());
        }
        let end = len.min(offset + u64::from(size));
        let mut out = vec![0; (end - offset) as usize];
        // Taken before the metadata is read: a flight that lands meanwhile is in both.
        let flying = file.in_flight();
        self.read_stored(file.ino, offset, &mut out).await?;
        if let Some(flying) = flying {
            overlay(&flying, offset, &mut out);
        }
        buffer.overlay(offset, &mut out);
        Ok(Bytes::from(out))
    }

    /// `relatime`: the access time moves when it is older than the last change, or a day old.
    async fn touch_atime(&self, ino: u64) -> Result<()> {
        const DAY: i64 = 24 * 60 * 60;
        let attr = self.meta.getattr(ino).await?;
        let now = Timespec::now();
        if attr.atime <= attr.mtime || attr.atime <= attr.ctime || now.sec - attr.atime.sec >= DAY {
            self.meta.touch_atime(ino, now).await?;
        }
        Ok(())
    }

    /// Fills `out` with the flushed bytes of `ino` from `offset`, fetching blocks in parallel.
    async fn read_stored(&self, ino: u64, offset: u64, out: &mut [u8]) -> Result<()> {
        let mut fetches = Vec::new();
        for (index, start, stop) in split_range(offset, out.len() as u64) {
            let slices = self.meta.chunk(ino, index).await?;
            let chunk_base = u64::from(index) * datenlord_meta::CHUNK_SIZE;
            for piece in visible(&slices, start, stop) {
                if piece.is_hole() {
                    continue;
                }
                let at = (chunk_base + u64::from(piece.pos) - offset) as usize;
                fetches.push(async move {
                    let bytes = self
                        .store
                        .read(piece.object, piece.offset, u64::from(piece.len))
                        .await?;
                    Ok::<_, VfsError>((at, bytes))
                });
            }
        }
        for (at, bytes) in try_join_all(fetches).await? {
            out[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        Ok(())
    }

    /// Buffers a write; returns the bytes taken. A file that buffered `flush_size` bytes hands
    /// them to a background flush and goes on buffering (one flush in flight per file).
    pub async fn write(
        self: &Arc<Self>,
        fh: u64,
        offset: u64,
        data: &[u8],
        kill_suidgid: bool,
    ) -> Result<u32> {
        let (file, flags) = self.file_handle(fh)?;
        if flags & libc::O_ACCMODE == libc::O_RDONLY {
            return errno(libc::EBADF);
        }
        let end = end_of(offset, data.len() as u64)?;
        if kill_suidgid {
            let attr = self.meta.getattr(file.ino).await?;
            if attr.perm & (libc::S_ISUID | libc::S_ISGID) as u16 != 0 {
                let set = SetAttr {
                    kill_suidgid: true,
                    ..SetAttr::default()
                };
                self.meta.setattr(Caller::ROOT, file.ino, set).await?;
            }
        }
        self.make_room(&file, data.len()).await?;
        let mut buffer = file.data.write().await;
        if let Some(failed) = file.take_failed() {
            // The last background flush failed: its bytes go back under the newer ones, and
            // this writer learns whether storing them works now.
            buffer.restore(failed);
            self.flush_locked(&file, &mut buffer).await?;
        }
        let added = buffer.insert(offset, data);
        self.buffered.fetch_add(added, Ordering::Relaxed);
        file.wrote(end, Timespec::now());
        if buffer.bytes() >= self.config.flush_size {
            file.wait_flight().await;
            if let Some(failed) = file.take_failed() {
                buffer.restore(failed);
                self.flush_locked(&file, &mut buffer).await?;
            } else {
                self.launch_flush(&file, &mut buffer);
            }
        }
        Ok(data.len() as u32)
    }

    /// Starts storing the buffered bytes of `file` in the background.
    fn launch_flush(self: &Arc<Self>, file: &Arc<OpenFile>, buffer: &mut WriteBuffer) {
        let segments = Arc::new(buffer.take());
        file.take_off(segments.clone());
        let (vfs, file) = (self.clone(), file.clone());
        tokio::spawn(async move {
            let len = segments_end(&segments);
            match vfs.write_segments(&file, &segments, len).await {
                Ok((total, size)) => {
                    vfs.buffered.fetch_sub(total, Ordering::Relaxed);
                    file.committed(size);
                    file.land(true);
                }
                Err(err) if err.errno() == libc::ENOENT => {
                    vfs.buffered
                        .fetch_sub(bytes_of(&segments), Ordering::Relaxed);
                    file.land(true);
                }
                Err(err) => {
                    tracing::warn!(ino = file.ino, %err, "background flush failed; the next flush retries");
                    file.land(false);
                }
            }
        });
    }

    /// Back-pressure: when all buffers together are full, flush this file, then the others.
    async fn make_room(&self, file: &OpenFile, len: usize) -> Result<()> {
        let full = || self.buffered.load(Ordering::Relaxed) + len > self.config.buffer_size;
        if !full() {
            return Ok(());
        }
        self.flush(file).await?;
        if full() {
            let others: Vec<_> = lock(&self.files).values().cloned().collect();
            for other in others.iter().filter(|o| o.ino != file.ino) {
                self.flush(other).await?;
                if !full() {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn flush(&self, file: &OpenFile) -> Result<()> {
        let mut buffer = file.data.write().await;
        self.flush_locked(file, &mut buffer).await
    }

    /// Stores everything `file` buffered — after the background flush, if one runs — as one
    /// new object, recorded as slices. On failure the bytes stay buffered, so a later flush or
    /// fsync can still succeed.
    async fn flush_locked(&self, file: &OpenFile, buffer: &mut WriteBuffer) -> Result<()> {
        file.wait_flight().await;
        if let Some(failed) = file.take_failed() {
            buffer.restore(failed);
        }
        if buffer.is_empty() {
            return Ok(());
        }
        let segments = buffer.take();
        let result = self.write_segments(file, &segments, file.seen().len).await;
        match result {
            Ok((total, size)) => {
                self.buffered.fetch_sub(total, Ordering::Relaxed);
                file.settled(size);
                Ok(())
            }
            Err(err) => {
                if err.errno() == libc::ENOENT {
                    self.buffered
                        .fetch_sub(bytes_of(&segments), Ordering::Relaxed);
                } else {
                    buffer.restore(segments);
                }
                Err(err)
            }
        }
    }

    /// Stores `segments` as one object and commits them, the file growing to at least `len`.
    /// Returns the bytes stored and the file's size.
    async fn write_segments(
        &self,
        file: &OpenFile,
        segments: &Segments,
        len: u64,
    ) -> Result<(usize, u64)> {
        let object = self.meta.next_object().await?;
        let mut slices = Vec::new();
        let mut at = 0u64;
        for (start, seg) in segments {
            for (chunk, pos, stop) in split_range(*start, seg.len() as u64) {
                let slice = Slice {
                    pos,
                    len: stop - pos,
                    object,
                    offset: at,
                };
                at += u64::from(slice.len);
                slices.push(ChunkSlice { chunk, slice });
            }
        }
        let joined;
        let bytes: &[u8] = if segments.len() == 1 {
            segments.values().next().map_or(&[], Vec::as_slice)
        } else {
            joined = segments.values().flatten().copied().collect::<Vec<u8>>();
            &joined
        };
        let object = NewObject {
            session: self.session(),
            id: object,
            len: at,
        };
        self.meta.intend_object(object).await?;
        let stored = self.store.put(object.id, bytes).await;
        let committed = match stored {
            Ok(()) => {
                let mtime = file.seen().mtime.unwrap_or_else(Timespec::now);
                self.meta
                    .commit_write(file.ino, object, &slices, len, mtime)
                    .await
                    .map_err(VfsError::from)
            }
            Err(err) => Err(err.into()),
        };
        match committed {
            Ok((attr, crowded)) => {
                self.queue_compaction(file.ino, crowded);
                Ok((bytes.len(), attr.size))
            }
            Err(err) => {
                if let Err(discard) = self.meta.discard_object(object).await {
                    tracing::warn!(object = object.id, %discard, "cannot queue an unused object for deletion");
                }
                Err(err)
            }
        }
    }

    /// close(2) of one descriptor: flushes, and drops the POSIX locks of `lock_owner`.
    pub async fn flush_handle(&self, fh: u64, lock_owner: Option<u64>) -> Result<()> {
        let (file, _) = self.file_handle(fh)?;
        if let Some(owner) = lock_owner {
            self.locks.release(file.ino, owner, false);
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
            self.locks.release(file.ino, owner, true);
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
        match self.meta.getattr(file.ino).await {
            Ok(attr) if attr.nlink == 0 => {
                if let Err(err) = self.meta.release_unlinked(self.session(), file.ino).await {
                    tracing::warn!(ino = file.ino, %err, "cannot remove an unlinked file at its last close");
                }
            }
            _ => {}
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
