//! Operations on a file's byte ranges that pass no bytes: fallocate, lseek (SEEK_DATA and
//! SEEK_HOLE) and copy_file_range. Each flushes the buffered writes first and then works on
//! the chunk maps in the metadata alone.

use crate::error::{Result, errno};
use crate::vfs::{Vfs, end_of};

impl Vfs {
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
        self.settle(&file, attr.size);
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
        self.settle(&dst, attr.size);
        Ok(copied)
    }
}
