//! Warmup, check and eviction of a file's blocks in the local caches (`datenlord warmup`).

use datenlord_meta::{split_range, visible};

use crate::error::{Result, VfsError};
use crate::vfs::Vfs;

/// What to do with the cached blocks of a file range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOp {
    /// Fetch what is not cached.
    Warm,
    /// Only count.
    Check,
    /// Drop from the local tiers.
    Evict,
}

/// The outcome for one file range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheReport {
    /// Stored bytes in the range (holes and unflushed writes are not).
    pub data: u64,
    /// Of those, the bytes a local tier holds (after a warm: should be all).
    pub cached: u64,
    /// Bytes fetched from the object store by a warm.
    pub fetched: u64,
    /// Bytes dropped by an evict.
    pub evicted: u64,
}

impl Vfs {
    /// Applies `op` to `len` bytes at `offset` of the file open as `fh` (up to its end).
    pub async fn cache_range(
        &self,
        fh: u64,
        op: CacheOp,
        offset: u64,
        len: u64,
    ) -> Result<CacheReport> {
        if !self.store.is_cached() {
            return Err(VfsError::Errno(libc::EOPNOTSUPP));
        }
        let (file, _) = self.file_handle(fh)?;
        let size = self.meta.getattr(file.ino).await?.size;
        let end = size.min(offset.saturating_add(len));
        let mut report = CacheReport::default();
        if offset >= end {
            return Ok(report);
        }
        for (index, start, stop) in split_range(offset, end - offset) {
            let slices = self.meta.chunk(file.ino, index).await?;
            for piece in visible(&slices, start, stop) {
                if piece.is_hole() {
                    continue;
                }
                let (object, at, bytes) = (piece.object, piece.offset, u64::from(piece.len));
                report.data += bytes;
                match op {
                    CacheOp::Warm => report.fetched += self.store.warm(object, at, bytes).await?,
                    CacheOp::Evict => report.evicted += self.store.evict(object, at, bytes),
                    CacheOp::Check => {}
                }
                report.cached += self.store.cached_bytes(object, at, bytes);
            }
        }
        Ok(report)
    }
}
