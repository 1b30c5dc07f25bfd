//! Handles: the table of open files and directories by handle number, and a file's life on
//! this mount from open (or create) to its last release. The first open records in the
//! metadata that this mount holds the file; after the last close that hold lingers, so a
//! reopen costs no metadata write, and the background lets go of it in batches.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use datenlord_meta::{Attr, Caller, FileKind, NewInode, SetAttr};

use crate::directories::DirEntry;
use crate::error::{Result, errno};
use crate::open_file::OpenFile;
use crate::readahead::ReadAhead;
use crate::vfs::{Vfs, lock};

#[derive(Debug)]
pub(crate) enum Handle {
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

/// Locks serialising first opens and last closes, by inode.
pub(crate) const HOLDING_STRIPES: usize = 64;

/// How long a closed file keeps its hold on this mount. Reopening it meanwhile costs no
/// metadata write — a training job's next epoch, a build's second pass — which on etcd is two
/// consensus rounds per open and close saved. The price: a file another mount unlinks
/// meanwhile keeps its blocks that much longer (it is reclaimed when the hold goes, or with
/// this mount's session).
pub(crate) const HOLD_LINGER: Duration = Duration::from_secs(600);
/// Closed files whose holds linger at most; beyond it, the oldest go first.
const LINGERING_MAX: usize = 100_000;
/// Holds let go of in one metadata transaction.
const RELEASE_BATCH: usize = 8;

impl Vfs {
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

    /// Opens `ino`; returns the handle and the file's attributes now. O_TRUNC truncates it
    /// (the kernel leaves that to us with ATOMIC_O_TRUNC). The first open on this mount
    /// records that the mount holds the file (see [`datenlord_meta::Meta::hold_open`]).
    pub async fn open(&self, caller: Caller, ino: u64, flags: i32) -> Result<(u64, Attr)> {
        let stripe = self.holding(ino).lock().await;
        let open = self.open_file(ino);
        if let Some(file) = &open {
            // Close-to-open: what another mount closed before this open shows in it.
            file.forget_chunks();
        }
        let held = open.is_some() || lock(&self.releasing).remove(&ino).is_some();
        let mark = self.settles.mark();
        let mut attr = if held {
            let attr = self.meta.getattr_latest(ino).await?;
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
        attr = self.buffered_since(ino, mark, attr).await?;
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

    /// The last reference to a handle is gone. Unflushed data is flushed (and kept buffered
    /// while that fails, see `close_file`); the last handle of an unlinked file lets it go.
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
            let mut opens = file.opens();
            *opens -= 1;
            *opens == 0
        };
        if last {
            self.close_file(&file).await;
        }
    }

    /// The last handle of `file` on this mount is gone. Its buffered bytes are stored first;
    /// while that fails (a full store, an unreachable one) the file stays among the open
    /// files with its buffer — a reopen finds the bytes, and the background tries again
    /// every second — because bytes a writer was told were written are never dropped.
    pub(crate) async fn close_file(&self, file: &Arc<OpenFile>) {
        if file.is_orphan() && *file.opens() == 0 {
            // Without a name or a handle, nobody can read these bytes again.
            self.discard_buffer(file).await;
        }
        match self.flush(file).await {
            Err(err) if err.errno() != libc::ENOENT => {
                tracing::warn!(ino = file.ino, %err, "a closed file's data cannot be stored yet; kept buffered and retried");
                return;
            }
            _ => {}
        }
        {
            let mut files = lock(&self.files);
            let reopened = *file.opens() > 0;
            if reopened || !files.get(&file.ino).is_some_and(|f| Arc::ptr_eq(f, file)) {
                return;
            }
            files.remove(&file.ino);
            lock(&self.quota_room).remove(&file.ino);
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
        let mut first_error = None;
        for file in files {
            if file.is_orphan() && *file.opens() == 0 {
                self.close_file(&file).await;
                continue;
            }
            if let Err(err) = self.flush(&file).await {
                first_error.get_or_insert(err);
                continue;
            }
            if *file.opens() == 0 {
                // Closed while its bytes could not be stored: now they are.
                self.close_file(&file).await;
            }
        }
        first_error.map_or(Ok(()), Err)
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
