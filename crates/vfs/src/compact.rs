//! Compaction: a chunk written in many small pieces collects many slices, and every read has
//! to resolve them. In the background such a chunk is read whole and written again as one
//! object; the new slice list replaces the old only if the chunk did not change meanwhile.

use datenlord_meta::{CHUNK_SIZE, NewObject, Slice, visible};
use datenlord_store::cache::Access;

use crate::Vfs;
use crate::error::Result;

impl Vfs {
    pub(crate) fn queue_compaction(&self, ino: u64, chunks: Vec<u32>) {
        if chunks.is_empty() {
            return;
        }
        let mut crowded = self.crowded.lock().unwrap_or_else(|e| e.into_inner());
        crowded.extend(chunks.into_iter().map(|chunk| (ino, chunk)));
    }

    /// Compacts the chunks queued so far; returns how many were rewritten.
    pub async fn compact_queued(&self) -> Result<usize> {
        let queued = std::mem::take(&mut *self.crowded.lock().unwrap_or_else(|e| e.into_inner()));
        let mut done = 0;
        for (ino, chunk) in queued {
            match self.compact(ino, chunk).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(err) if err.errno() == libc::ENOENT => {}
                Err(err) => tracing::warn!(ino, chunk, %err, "compaction failed"),
            }
        }
        Ok(done)
    }

    /// Rewrites one chunk as a single object. False when there was nothing to do or the chunk
    /// changed while it was being rewritten (the next write queues it again).
    pub async fn compact(&self, ino: u64, chunk: u32) -> Result<bool> {
        let old = self.meta().chunk(ino, chunk).await?;
        if old.len() < 2 {
            return Ok(false);
        }
        let size = self.meta().getattr(ino).await?.size;
        let base = u64::from(chunk) * CHUNK_SIZE;
        let end = size.saturating_sub(base).min(CHUNK_SIZE) as u32;
        let pieces: Vec<Slice> = visible(&old, 0, end)
            .into_iter()
            .filter(|p| !p.is_hole())
            .collect();
        let object_id = self.meta().next_object().await?;
        let mut data = Vec::new();
        let mut slices: Vec<Slice> = Vec::with_capacity(pieces.len());
        for piece in &pieces {
            let bytes = self
                .store()
                .read(
                    piece.object,
                    piece.offset,
                    u64::from(piece.len),
                    Access::Sequential,
                )
                .await?;
            let offset = data.len() as u64;
            data.extend_from_slice(&bytes);
            match slices.last_mut() {
                Some(last) if last.end() == u64::from(piece.pos) => last.len += piece.len,
                _ => slices.push(Slice {
                    pos: piece.pos,
                    len: piece.len,
                    object: object_id,
                    offset,
                }),
            }
        }
        let object = NewObject {
            session: self.session(),
            id: object_id,
            len: data.len() as u64,
        };
        if !slices.is_empty() {
            self.meta().intend_object(object).await?;
            if let Err(err) = self.store().put(object.id, &data).await {
                self.meta().discard_object(object).await?;
                return Err(err.into());
            }
        }
        let replaced = self
            .meta()
            .replace_chunk(ino, chunk, &old, &slices, object)
            .await?;
        if replaced {
            // Kept copies point at the objects the old slices released.
            self.forget_chunks(ino);
        }
        if !replaced && !slices.is_empty() {
            self.meta().discard_object(object).await?;
        }
        Ok(replaced)
    }
}
