//! The write path: writes go to the open file's buffer; a full buffer is flushed in the
//! background, everything else synchronously; a flush stores one object and commits its slices.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datenlord_meta::{Caller, ChunkSlice, NewObject, SetAttr, Slice, Timespec, split_range};

use crate::buffer::{Segments, WriteBuffer};
use crate::error::{Result, VfsError, errno};
use crate::open_file::OpenFile;
use crate::vfs::{Vfs, end_of, lock};

/// Flushed write buffers kept for reuse (see `WriteBuffer::give_spare`).
const SPARE_BUFFERS: usize = 2;

/// Free space of the block store left out of what writes may reserve: block files cost a
/// little more than their bytes (inodes, the last page of each).
const SPACE_MARGIN: u64 = 1 << 20;

/// How long a reading of the store's free space is trusted.
const FREE_SPACE_AGE: std::time::Duration = std::time::Duration::from_millis(100);

/// What a flush that found the store full stores at a time, so the part that fits is kept.
const PIECE: usize = 1 << 20;

/// One past the last byte of `segments`.
fn segments_end(segments: &Segments) -> u64 {
    segments
        .iter()
        .next_back()
        .map_or(0, |(start, seg)| start + seg.len() as u64)
}

/// The bytes a file of `len` bytes is charged against its quotas: whole 4 KiB blocks.
fn blocks_of(len: u64) -> u64 {
    len.div_ceil(4096) * 4096
}

/// What a file may still grow by under its quotas, as this mount last knew it.
#[derive(Debug)]
pub(crate) struct QuotaRoom {
    /// `None`: no quota limits the file.
    bytes: Option<u64>,
    read: std::time::Instant,
}

/// An object announced ahead: the commit of a flush also records the pending object of the
/// next one (up to one block: what a crash leaves to delete is bounded), so a flush of a
/// small file takes one commit, not two (announce, then commit).
#[derive(Debug, Default)]
pub(crate) enum Announced {
    /// None announced nor being announced: the next commit of a flush announces one.
    #[default]
    None,
    /// A flush's commit is announcing one.
    Announcing,
    /// Announced and not yet taken by a flush.
    Ready(NewObject),
}

fn bytes_of(segments: &Segments) -> usize {
    segments.values().map(Vec::len).sum()
}

impl Vfs {
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
        self.reserve_space(&file, data.len()).await?;
        self.reserve_quota(&file, end).await?;
        let mut buffer = file.data.write().await;
        if let Some(failed) = file.take_failed() {
            // The last background flush failed: its bytes go back under the newer ones, and
            // this writer learns whether storing them works now.
            buffer.restore(failed);
            self.flush_locked(&file, &mut buffer).await?;
        }
        if buffer.is_empty()
            && let Some(spare) = self.take_spare()
        {
            buffer.give_spare(spare);
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
                    if let Ok(segments) = Arc::try_unwrap(segments) {
                        vfs.keep_spare(segments);
                    }
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

    /// The id of the object announced for `session`'s next flush, if one is ready and holds
    /// `len` bytes; it is this flush's then.
    fn take_announced(&self, session: u64, len: u64) -> Option<u64> {
        let mut announced = lock(&self.announced);
        match *announced {
            Announced::Ready(next) if next.session == session && len <= next.len => {
                *announced = Announced::None;
                Some(next.id)
            }
            // Announced by a session that ended: its end deleted the record.
            Announced::Ready(next) if next.session != session => {
                *announced = Announced::None;
                None
            }
            _ => None,
        }
    }

    /// The object the commit about to be made announces for the next flush, unless one is
    /// announced (or being announced) already.
    async fn announce_next(&self, session: u64) -> Option<NewObject> {
        {
            let mut announced = lock(&self.announced);
            if !matches!(*announced, Announced::None) {
                return None;
            }
            *announced = Announced::Announcing;
        }
        match self.meta.next_object().await {
            Ok(id) => Some(NewObject {
                session,
                id,
                len: u64::from(self.store.block_size()),
            }),
            Err(err) => {
                tracing::debug!(%err, "no object id to announce");
                *lock(&self.announced) = Announced::None;
                None
            }
        }
    }

    fn take_spare(&self) -> Option<Vec<u8>> {
        lock(&self.spare_buffers).pop()
    }

    /// Keeps the largest segment of a stored flush for reuse, within [`SPARE_BUFFERS`] and
    /// twice the flush size each.
    fn keep_spare(&self, segments: Segments) {
        let Some(largest) = segments.into_values().max_by_key(Vec::capacity) else {
            return;
        };
        let mut spares = lock(&self.spare_buffers);
        if spares.len() < SPARE_BUFFERS && largest.capacity() <= 2 * self.config.flush_size {
            spares.push(largest);
        }
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

    /// On a block store with a known free space (a local directory), refuses a write whose
    /// bytes could not be stored along with everything buffered already: the writer gets
    /// ENOSPC from write(2), as from a local filesystem, instead of at close for bytes it was
    /// told were written.
    async fn reserve_space(&self, file: &OpenFile, len: usize) -> Result<()> {
        let fits = |free: u64| {
            let wanted = (self.buffered.load(Ordering::Relaxed) + len) as u64;
            wanted.saturating_add(SPACE_MARGIN) <= free
        };
        match self.store_free_space(false) {
            Some(free) if !fits(free) => {}
            _ => return Ok(()),
        }
        // The reading may be stale, and storing this file's buffer shows what really fits.
        self.flush(file).await?;
        match self.store_free_space(true) {
            Some(free) if !fits(free) => errno(libc::ENOSPC),
            _ => Ok(()),
        }
    }

    /// Refuses with EDQUOT a write that grows a file past what its quotas leave (as last
    /// read, at most [`FREE_SPACE_AGE`] ago, less what this mount's writes took since), so the
    /// writer learns it from write(2); the flush that stores the bytes checks exactly.
    async fn reserve_quota(&self, file: &OpenFile, end: u64) -> Result<()> {
        let len = file.seen().len;
        if end <= len {
            return Ok(());
        }
        let growth = blocks_of(end) - blocks_of(len);
        if growth == 0 {
            return Ok(());
        }
        let take = |room: &mut QuotaRoom| match &mut room.bytes {
            None => true,
            Some(left) if *left >= growth => {
                *left -= growth;
                true
            }
            Some(_) => false,
        };
        if let Some(room) = lock(&self.quota_room).get_mut(&file.ino)
            && room.read.elapsed() < FREE_SPACE_AGE
            && take(room)
        {
            return Ok(());
        }
        let (room, stored) = self.meta.quota_room(file.ino).await?;
        // What this file buffered beyond its stored size is not charged yet.
        let buffered = blocks_of(len).saturating_sub(blocks_of(stored));
        let mut room = QuotaRoom {
            bytes: room.map(|r| r.saturating_sub(buffered)),
            read: std::time::Instant::now(),
        };
        let fits = take(&mut room);
        lock(&self.quota_room).insert(file.ino, room);
        if fits { Ok(()) } else { errno(libc::EDQUOT) }
    }

    /// The block store's free space, read again when older than [`FREE_SPACE_AGE`] or when
    /// `fresh`; `None` for stores without a limit.
    fn store_free_space(&self, fresh: bool) -> Option<u64> {
        let mut cached = lock(&self.free_space);
        if let Some((free, at)) = *cached
            && !fresh
            && at.elapsed() < FREE_SPACE_AGE
        {
            return Some(free);
        }
        let free = self.store.capacity()?.free;
        *cached = Some((free, std::time::Instant::now()));
        Some(free)
    }

    /// Drops what `file` buffered, stored or not (it has no name and no handle left).
    pub(crate) async fn discard_buffer(&self, file: &OpenFile) {
        let mut buffer = file.data.write().await;
        file.wait_flight().await;
        if let Some(failed) = file.take_failed() {
            buffer.restore(failed);
        }
        let dropped = bytes_of(&buffer.take());
        self.buffered.fetch_sub(dropped, Ordering::Relaxed);
    }

    pub(crate) async fn flush(&self, file: &OpenFile) -> Result<()> {
        let mut buffer = file.data.write().await;
        self.flush_locked(file, &mut buffer).await
    }

    /// Stores everything `file` buffered — after the background flush, if one runs — as one
    /// new object, recorded as slices. On failure the bytes stay buffered, so a later flush or
    /// fsync can still succeed.
    pub(crate) async fn flush_locked(
        &self,
        file: &OpenFile,
        buffer: &mut WriteBuffer,
    ) -> Result<()> {
        file.wait_flight().await;
        if let Some(failed) = file.take_failed() {
            buffer.restore(failed);
        }
        if buffer.is_empty() {
            // A background flush may have stored the last writes: then the metadata holds
            // everything, and its times (a utimens since) are the truth again.
            if file.seen().mtime.is_some() {
                self.settle(file, file.seen().len);
            }
            return Ok(());
        }
        let segments = buffer.take();
        let result = self.write_segments(file, &segments, file.seen().len).await;
        match result {
            Ok((total, size)) => {
                self.buffered.fetch_sub(total, Ordering::Relaxed);
                self.settle(file, size);
                self.keep_spare(segments);
                Ok(())
            }
            Err(err)
                if matches!(err.errno(), libc::ENOSPC | libc::EDQUOT)
                    && bytes_of(&segments) > PIECE =>
            {
                self.store_what_fits(file, buffer, segments).await;
                Err(err)
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

    /// The store is full, or a quota: stores `segments` in pieces from the start of the file,
    /// as far as they fit, and keeps the rest buffered (the error still goes to the caller). A
    /// write that was acknowledged is never dropped for the part that does not fit.
    async fn store_what_fits(&self, file: &OpenFile, buffer: &mut WriteBuffer, segments: Segments) {
        let mut pieces: Vec<Segments> = Vec::new();
        for (start, bytes) in segments {
            for (i, part) in bytes.chunks(PIECE).enumerate() {
                let at = start + (i * PIECE) as u64;
                pieces.push(Segments::from([(at, part.to_vec())]));
            }
        }
        let mut left = pieces.into_iter();
        for piece in left.by_ref() {
            match self
                .write_segments(file, &piece, segments_end(&piece))
                .await
            {
                Ok((total, size)) => {
                    self.buffered.fetch_sub(total, Ordering::Relaxed);
                    file.committed(size);
                }
                Err(err) => {
                    tracing::debug!(ino = file.ino, %err, "the store is full; the rest stays buffered");
                    buffer.restore(piece);
                    break;
                }
            }
        }
        for piece in left {
            buffer.restore(piece);
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
        let session = self.session();
        let announced = self.take_announced(session, bytes_of(segments) as u64);
        let object = match announced {
            Some(id) => id,
            None => self.meta.next_object().await?,
        };
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
            session,
            id: object,
            len: at,
        };
        if announced.is_none() {
            self.meta.intend_object(object).await?;
        }
        let stored = self.store.put(object.id, bytes).await;
        let committed = match stored {
            Ok(()) => {
                let mtime = file.seen().mtime.unwrap_or_else(Timespec::now);
                let next = self.announce_next(session).await;
                let committed = self
                    .meta
                    .commit_write(file.ino, object, &slices, len, mtime, next)
                    .await;
                if let Some(next) = next {
                    *lock(&self.announced) = match committed {
                        Ok(_) => Announced::Ready(next),
                        Err(_) => Announced::None,
                    };
                }
                committed.map_err(VfsError::from)
            }
            Err(err) => Err(err.into()),
        };
        match committed {
            Ok((attr, crowded)) => {
                // The bytes left the buffer for the store: a reading of its free space from
                // before would count them twice as free.
                *lock(&self.free_space) = None;
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
}
