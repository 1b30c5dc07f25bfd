//! The `Filesystem` trait: one async method per operation, each answering ENOSYS by default.
//!
//! Methods return `impl Future + Send`, so implementations write plain `async fn`s and the
//! session can move a request that waits onto the tokio runtime. A method's return type is its reply type.

use std::future::Future;

use bytes::Bytes;

use crate::decode::op;
use crate::errno::{Errno, Result};
use crate::reply::{Attr, Created, DirEntries, DirEntriesPlus, Entry, Ioctl, Open, Statfs, Statx};
use crate::session::{InitInfo, Request};

macro_rules! enosys {
    () => {
        async { Err(Errno::ENOSYS) }
    };
}

/// A filesystem served through FUSE. Implement the operations you support.
///
/// Lookup counting: every successful `lookup`, `mknod`, `mkdir`, `symlink`, `link`, `create`,
/// `tmpfile` and every entry added by `readdirplus` (but "." and "..") raises the kernel's
/// reference count of that inode by one; `forget` lowers it. An inode must stay valid while the
/// count is above zero, even after its last link is gone.
#[allow(unused_variables)]
pub trait Filesystem: Send + Sync + 'static {
    /// Called once the kernel's INIT is answered, with what was agreed.
    fn init(&self, info: &InitInfo) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// The filesystem is being unmounted.
    fn destroy(&self) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Finds a name in a directory. `Ok(Entry::negative(ttl))` caches the absence.
    fn lookup(
        &self,
        req: &Request<'_>,
        op: op::Lookup<'_>,
    ) -> impl Future<Output = Result<Entry>> + Send {
        enosys!()
    }

    /// The kernel dropped `op.nlookup` references to an inode. No reply is sent.
    fn forget(&self, op: op::Forget) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Several forgets at once; by default calls [`Filesystem::forget`] for each.
    fn batch_forget(&self, forgets: op::ForgetList<'_>) -> impl Future<Output = ()> + Send {
        async move {
            for one in forgets.iter() {
                self.forget(one).await;
            }
        }
    }

    /// Reads an inode's attributes.
    fn getattr(
        &self,
        req: &Request<'_>,
        op: op::Getattr,
    ) -> impl Future<Output = Result<Attr>> + Send {
        enosys!()
    }

    /// Changes attributes (chmod, chown, truncate, utimens) and returns the new ones.
    fn setattr(
        &self,
        req: &Request<'_>,
        op: op::Setattr,
    ) -> impl Future<Output = Result<Attr>> + Send {
        enosys!()
    }

    /// The target of a symbolic link.
    fn readlink(
        &self,
        req: &Request<'_>,
        op: op::Readlink,
    ) -> impl Future<Output = Result<Bytes>> + Send {
        enosys!()
    }

    /// Creates a symbolic link.
    fn symlink(
        &self,
        req: &Request<'_>,
        op: op::Symlink<'_>,
    ) -> impl Future<Output = Result<Entry>> + Send {
        enosys!()
    }

    /// Creates a file node: regular file, device, fifo or socket.
    fn mknod(
        &self,
        req: &Request<'_>,
        op: op::Mknod<'_>,
    ) -> impl Future<Output = Result<Entry>> + Send {
        enosys!()
    }

    /// Creates a directory.
    fn mkdir(
        &self,
        req: &Request<'_>,
        op: op::Mkdir<'_>,
    ) -> impl Future<Output = Result<Entry>> + Send {
        enosys!()
    }

    /// Removes a name that is not a directory.
    fn unlink(
        &self,
        req: &Request<'_>,
        op: op::Unlink<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Removes an empty directory.
    fn rmdir(
        &self,
        req: &Request<'_>,
        op: op::Unlink<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Renames, with `RENAME_NOREPLACE` / `RENAME_EXCHANGE` in `op.flags`.
    fn rename(
        &self,
        req: &Request<'_>,
        op: op::Rename<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Creates a hard link.
    fn link(
        &self,
        req: &Request<'_>,
        op: op::Link<'_>,
    ) -> impl Future<Output = Result<Entry>> + Send {
        enosys!()
    }

    /// Opens a file.
    fn open(&self, req: &Request<'_>, op: op::Open) -> impl Future<Output = Result<Open>> + Send {
        enosys!()
    }

    /// Reads up to `op.size` bytes; fewer means end of file (unless the file is direct I/O).
    fn read(&self, req: &Request<'_>, op: op::Read) -> impl Future<Output = Result<Bytes>> + Send {
        enosys!()
    }

    /// Writes `op.data` and returns how many bytes were written.
    fn write(
        &self,
        req: &Request<'_>,
        op: op::Write<'_>,
    ) -> impl Future<Output = Result<u32>> + Send {
        enosys!()
    }

    /// Filesystem statistics.
    fn statfs(
        &self,
        req: &Request<'_>,
        op: op::Statfs,
    ) -> impl Future<Output = Result<Statfs>> + Send {
        enosys!()
    }

    /// The last file descriptor of an open file is closed. Errors are not seen by anyone.
    fn release(
        &self,
        req: &Request<'_>,
        op: op::Release,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Makes a file's data (and, unless `datasync`, its metadata) durable.
    fn fsync(&self, req: &Request<'_>, op: op::Fsync) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Sets an extended attribute.
    fn setxattr(
        &self,
        req: &Request<'_>,
        op: op::Setxattr<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// The whole value of an extended attribute; the library answers size probes and ERANGE.
    fn getxattr(
        &self,
        req: &Request<'_>,
        op: op::Getxattr<'_>,
    ) -> impl Future<Output = Result<Bytes>> + Send {
        enosys!()
    }

    /// All attribute names, each followed by a NUL; the library answers size probes and ERANGE.
    fn listxattr(
        &self,
        req: &Request<'_>,
        op: op::Listxattr,
    ) -> impl Future<Output = Result<Bytes>> + Send {
        enosys!()
    }

    /// Removes an extended attribute.
    fn removexattr(
        &self,
        req: &Request<'_>,
        op: op::Removexattr<'_>,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// A file descriptor is closed (there may be others on the same open file).
    fn flush(&self, req: &Request<'_>, op: op::Flush) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Opens a directory.
    fn opendir(
        &self,
        req: &Request<'_>,
        op: op::Open,
    ) -> impl Future<Output = Result<Open>> + Send {
        async { Ok(Open::new(0)) }
    }

    /// Lists a directory from `op.offset` on.
    fn readdir(
        &self,
        req: &Request<'_>,
        op: op::Readdir,
        out: &mut DirEntries,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Lists a directory with the attributes of every entry.
    fn readdirplus(
        &self,
        req: &Request<'_>,
        op: op::Readdir,
        out: &mut DirEntriesPlus,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// The last descriptor of an open directory is closed.
    fn releasedir(
        &self,
        req: &Request<'_>,
        op: op::Release,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// Makes a directory's contents durable.
    fn fsyncdir(
        &self,
        req: &Request<'_>,
        op: op::Fsync,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Tests for a lock; answers the conflicting lock, or `op.lock` with type `F_UNLCK`.
    fn getlk(
        &self,
        req: &Request<'_>,
        op: op::Getlk,
    ) -> impl Future<Output = Result<op::Lock>> + Send {
        enosys!()
    }

    /// Takes or releases a lock; with `op.sleep`, waits, and answers EINTR when interrupted.
    fn setlk(&self, req: &Request<'_>, op: op::Setlk) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Checks access; only called without `default_permissions`.
    fn access(&self, req: &Request<'_>, op: op::Access) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Creates and opens a file. ENOSYS makes the kernel fall back to MKNOD and OPEN.
    fn create(
        &self,
        req: &Request<'_>,
        op: op::Create<'_>,
    ) -> impl Future<Output = Result<Created>> + Send {
        enosys!()
    }

    /// Creates an unnamed file (`O_TMPFILE`).
    fn tmpfile(
        &self,
        req: &Request<'_>,
        op: op::Tmpfile,
    ) -> impl Future<Output = Result<Created>> + Send {
        enosys!()
    }

    /// Maps a file block to a device block (block-device filesystems only).
    fn bmap(&self, req: &Request<'_>, op: op::Bmap) -> impl Future<Output = Result<u64>> + Send {
        enosys!()
    }

    /// A restricted ioctl.
    fn ioctl(
        &self,
        req: &Request<'_>,
        op: op::Ioctl<'_>,
    ) -> impl Future<Output = Result<Ioctl>> + Send {
        enosys!()
    }

    /// Readiness of an open file; returns the ready events.
    fn poll(&self, req: &Request<'_>, op: op::Poll) -> impl Future<Output = Result<u32>> + Send {
        enosys!()
    }

    /// Allocates, punches holes, or zeroes ranges.
    fn fallocate(
        &self,
        req: &Request<'_>,
        op: op::Fallocate,
    ) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Finds data or holes (`SEEK_DATA`, `SEEK_HOLE`); returns the new offset.
    fn lseek(&self, req: &Request<'_>, op: op::Lseek) -> impl Future<Output = Result<u64>> + Send {
        enosys!()
    }

    /// Copies a range between open files; returns how many bytes were copied.
    fn copy_file_range(
        &self,
        req: &Request<'_>,
        op: op::CopyFileRange,
    ) -> impl Future<Output = Result<u64>> + Send {
        enosys!()
    }

    /// Makes the whole filesystem durable.
    fn syncfs(&self, req: &Request<'_>, op: op::Syncfs) -> impl Future<Output = Result<()>> + Send {
        enosys!()
    }

    /// Extended attributes. ENOSYS makes the kernel use GETATTR from then on.
    fn statx(
        &self,
        req: &Request<'_>,
        op: op::Statx,
    ) -> impl Future<Output = Result<Statx>> + Send {
        enosys!()
    }
}
