//! Attributes: getattr, setattr (with truncate), extended attributes and statfs. The
//! attributes reported count this mount's buffered writes (see `Vfs::with_buffered`).

use datenlord_meta::{Attr, Caller, SetAttr, Timespec};

use crate::error::Result;
use crate::vfs::{Vfs, end_of};

/// Reads of one inode's attributes at most, while flushes of it keep settling under them.
const READS_ACROSS_SETTLES: u32 = 4;

/// What `statfs` reports.
#[derive(Debug, Clone, Copy)]
pub struct FsStats {
    /// Size in bytes of the disk a local store is on; object storage, which has none,
    /// reports 1 PiB.
    pub total_bytes: u64,
    /// Bytes available on that disk; on object storage, 1 PiB less the bytes files take.
    pub free_bytes: u64,
    /// Inodes in use.
    pub used_inodes: u64,
    /// Inodes free, counted against a nominal `u32::MAX`.
    pub free_inodes: u64,
}

impl Vfs {
    /// The attributes of `ino`, with this mount's buffered writes in its size and mtime;
    /// ENOENT when there is no such inode.
    pub async fn getattr(&self, ino: u64) -> Result<Attr> {
        let mut attempt = 1;
        loop {
            let mark = self.settles.mark();
            let attr = self.meta.getattr(ino).await?;
            // Read again when a flush of this file settled during the read (`settle_log.rs`);
            // a file closed and written again faster than its attributes can be read gets
            // the last reading.
            if attempt == READS_ACROSS_SETTLES || !self.settles.settled_since(mark, ino) {
                return Ok(self.with_buffered(ino, attr));
            }
            attempt += 1;
        }
    }

    /// The attributes of each of `inos`, as [`Vfs::getattr`] gives them (`None` for one that
    /// is gone), read together.
    pub async fn getattrs(&self, inos: &[u64]) -> Result<Vec<Option<Attr>>> {
        let mark = self.settles.mark();
        let stored = self.meta.getattrs(inos).await?;
        let mut attrs = Vec::with_capacity(inos.len());
        for (&ino, attr) in inos.iter().zip(stored) {
            attrs.push(match attr {
                Some(attr) => match self.buffered_since(ino, mark, attr).await {
                    Ok(attr) => Some(attr),
                    Err(err) if err.errno() == libc::ENOENT => None,
                    Err(err) => return Err(err),
                },
                None => None,
            });
        }
        Ok(attrs)
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
            if let Some(size) = size {
                // Bytes the truncation drops need not be stored first: a file whose buffer
                // cannot be stored (a full store, a quota) can still be cut back.
                file.wait_flight().await;
                if let Some(failed) = file.take_failed() {
                    buffer.restore(failed);
                }
                let dropped = buffer.cut(size);
                file.cut(size);
                self.buffered
                    .fetch_sub(dropped, std::sync::atomic::Ordering::Relaxed);
            }
            self.flush_locked(file, buffer).await?;
        }
        if let Some(size) = size {
            end_of(size, 0)?;
            let attr = self.meta.truncate(ino, size, Timespec::now()).await?;
            if let Some(file) = &file {
                self.settle(file, attr.size);
            }
        }
        let attr = self.meta.setattr(caller, ino, set).await?;
        drop(buffer);
        Ok(attr)
    }

    /// The value of extended attribute `name` of `ino`; ENODATA when it has none by that name.
    pub async fn getxattr(&self, ino: u64, name: &[u8]) -> Result<Vec<u8>> {
        Ok(self.meta.getxattr(ino, name).await?)
    }

    /// The extended attribute names of `ino`, each followed by a NUL, as listxattr(2) returns
    /// them.
    pub async fn listxattr(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.meta.listxattr(ino).await?)
    }

    /// Sets extended attribute `name` of `ino`. `flags`: XATTR_CREATE (EEXIST when it exists),
    /// XATTR_REPLACE (ENODATA when it does not); E2BIG for values over 64 KiB. An access ACL sets
    /// the permission bits too; `kill_sgid` clears set-group-id (an ACL set by someone outside the
    /// file's group).
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

    /// Removes extended attribute `name` of `ino`; ENODATA when it has none by that name.
    pub async fn removexattr(&self, ino: u64, name: &[u8]) -> Result<()> {
        Ok(self.meta.removexattr(ino, name).await?)
    }

    /// The volume's space and inodes (see [`FsStats`]).
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

    /// What `statfs(2)` on `ino` reports: the volume's space and inodes, bounded by the
    /// quotas over `ino` (a directory: over what it holds) — the innermost quota's limit is
    /// the size, and free is what every enclosing limit still leaves.
    pub async fn statfs_at(&self, ino: u64) -> Result<FsStats> {
        let mut stats = self.statfs().await?;
        let chain = self.meta.quota_chain(ino).await?;
        let used = |n: i64| u64::try_from(n).unwrap_or(0);
        if let Some((_, q)) = chain.iter().find(|(_, q)| q.capacity > 0) {
            stats.total_bytes = q.capacity;
            stats.free_bytes = stats
                .free_bytes
                .min(q.capacity.saturating_sub(used(q.used_space)));
        }
        if let Some((_, q)) = chain.iter().find(|(_, q)| q.inodes > 0) {
            stats.used_inodes = used(q.used_inodes);
            stats.free_inodes = q.inodes.saturating_sub(stats.used_inodes);
        }
        for (_, q) in &chain {
            if q.capacity > 0 {
                let room = q.capacity.saturating_sub(used(q.used_space));
                stats.free_bytes = stats.free_bytes.min(room);
            }
            if q.inodes > 0 {
                let room = q.inodes.saturating_sub(used(q.used_inodes));
                stats.free_inodes = stats.free_inodes.min(room);
            }
        }
        Ok(stats)
    }
}
