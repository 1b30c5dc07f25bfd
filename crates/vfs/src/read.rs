//! The read path: the chunk's visible slices fetched from the store, the bytes of a background
//! flush and the write buffer laid over them; the first read of an open file may move its atime.

use bytes::Bytes;
use std::sync::Arc;

use datenlord_meta::{Slice, Timespec, split_range, visible};
use datenlord_store::cache::Access;
use futures::future::try_join_all;

use crate::buffer::overlay;
use crate::error::{Result, VfsError};
use crate::open_file::OpenFile;
use crate::vfs::Vfs;

impl Vfs {
    /// Reads up to `size` bytes from `offset` through handle `fh`, buffered writes included:
    /// fewer at the end of the file, none past it. EBADF for an unknown handle, EISDIR for a
    /// directory's. The first read of an open file may move its atime (relatime).
    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Bytes> {
        let (file, ahead) = self.read_handle(fh)?;
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
        let (access, fetch_ahead) = ahead.on_read(offset, end - offset, len, self.config.readahead);
        let mut out = vec![0; (end - offset) as usize];
        // Taken before the metadata is read: a flight that lands meanwhile is in both.
        let flying = file.in_flight();
        if let Some((from, len)) = fetch_ahead
            && let Err(err) = self.read_ahead(&file, from, len).await
        {
            tracing::debug!(ino = file.ino, %err, "read-ahead failed");
        }
        let stored = self.read_stored(&file, offset, &mut out, access).await?;
        if let Some(stored) = stored
            && stored < end
            && flying.is_none()
            && buffer.is_empty()
            && file.seen().mtime.is_none()
        {
            // Another mount cut the file after this mount learned its length: past the cut
            // there is nothing (not zeros), as the chunk records just read say.
            file.follow(stored);
            out.truncate(stored.saturating_sub(offset) as usize);
            return Ok(Bytes::from(out));
        }
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

    /// Fills `out` with the flushed bytes of `ino` from `offset`, fetching blocks in parallel;
    /// the shortest length the file had when a chunk record was read, when one was.
    async fn read_stored(
        &self,
        file: &OpenFile,
        offset: u64,
        out: &mut [u8],
        access: Access,
    ) -> Result<Option<u64>> {
        let mut fetches = Vec::new();
        let mut stored: Option<u64> = None;
        for (index, start, stop) in split_range(offset, out.len() as u64) {
            let (slices, len) = self.chunk_of(file, index).await?;
            if let Some(len) = len {
                stored = Some(stored.map_or(len, |s| s.min(len)));
            }
            let chunk_base = u64::from(index) * datenlord_meta::CHUNK_SIZE;
            for piece in visible(&slices, start, stop) {
                if piece.is_hole() {
                    continue;
                }
                let at = (chunk_base + u64::from(piece.pos) - offset) as usize;
                fetches.push(async move {
                    let bytes = self
                        .store
                        .read(piece.object, piece.offset, u64::from(piece.len), access)
                        .await?;
                    Ok::<_, VfsError>((at, bytes))
                });
            }
        }
        for (at, bytes) in try_join_all(fetches).await? {
            out[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        Ok(stored)
    }

    /// Asks the store to bring the stored bytes of `len` at `offset` into its memory cache.
    async fn read_ahead(&self, file: &OpenFile, offset: u64, len: u64) -> Result<()> {
        for (index, start, stop) in split_range(offset, len) {
            let (slices, _) = self.chunk_of(file, index).await?;
            for piece in visible(&slices, start, stop) {
                if !piece.is_hole() {
                    self.store
                        .prefetch(piece.object, piece.offset, u64::from(piece.len));
                }
            }
        }
        Ok(())
    }

    /// Chunk `index` of an open file: kept while the file is open when the metadata engine
    /// reports other mounts' changes (a remote engine: each read would otherwise cost a round
    /// trip), read every time otherwise (the embedded engine answers in microseconds, and
    /// other processes' changes could not drop a kept copy). A record read anew comes with
    /// the file's length of the same moment.
    async fn chunk_of(&self, file: &OpenFile, index: u32) -> Result<(Arc<[Slice]>, Option<u64>)> {
        if !self.meta.reports_changes() {
            return Ok((self.meta.chunk(file.ino, index).await?.into(), None));
        }
        let (cached, generation) = file.cached_chunk(index);
        if let Some(slices) = cached {
            return Ok((slices, None));
        }
        let (slices, len) = self.meta.chunk_and_len(file.ino, index).await?;
        let slices: Arc<[Slice]> = slices.into();
        file.cache_chunk(index, generation, slices.clone());
        Ok((slices, Some(len)))
    }

    /// Another mount changed the data of `ino`: chunk records kept for it go.
    pub fn forget_chunks(&self, ino: u64) {
        if let Some(file) = self.open_file(ino) {
            file.forget_chunks();
        }
    }
}
