//! The FUSE front end: each FUSE operation becomes a `Vfs` call and its reply.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use datenlord_fuse::reply::{
    Attr as AttrReply, Created, DirEntries, DirEntriesPlus, Entry, FileAttr, FileType, Ioctl, Open,
    Statfs, Timespec as FuseTime,
};
use datenlord_fuse::{Errno, Filesystem, Request, Result, op};
use datenlord_meta::{Attr, Caller, FileKind, NewInode, ROOT_INO, SetAttr, Timespec};
use datenlord_vfs::{LockRange, Vfs, VfsError};

use crate::cache_ioctl;
use crate::coherence::Coherence;
use crate::kernel_inodes::KernelInodes;

/// How long the kernel may cache attributes and names.
#[derive(Debug, Clone, Copy)]
pub struct Ttl {
    pub attr: Duration,
    pub entry: Duration,
}

/// `Vfs` served over FUSE.
#[derive(Debug, Clone)]
pub struct FuseAdapter {
    vfs: Arc<Vfs>,
    ttl: Ttl,
    coherence: Arc<Coherence>,
    /// Every inode number in and out of this adapter goes through this map; inside it and
    /// below, numbers are the volume's.
    inodes: KernelInodes,
}

const BLOCK: u32 = 4096;

/// The name the trash has at the volume's root.
const TRASH_NAME: &[u8] = b".trash";
/// Entries whose attributes one metadata read fetches for READDIRPLUS: about what a 4 KiB
/// reply holds (an entry with its attributes takes some 150 bytes).
const READDIRPLUS_BATCH: usize = 32;

fn errno(err: VfsError) -> Errno {
    Errno::from_raw(err.errno())
}

fn time(t: Timespec) -> FuseTime {
    FuseTime {
        sec: t.sec,
        nsec: t.nsec,
    }
}

fn meta_time(t: op::TimeOrNow) -> Timespec {
    match t {
        op::TimeOrNow::Now => Timespec::now(),
        op::TimeOrNow::At(at) => Timespec::from(at),
    }
}

fn caller(req: &Request<'_>) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
    }
}

fn file_attr(ino: u64, attr: &Attr) -> FileAttr {
    FileAttr {
        ino,
        size: attr.size,
        blocks: attr.size.div_ceil(512),
        atime: time(attr.atime),
        mtime: time(attr.mtime),
        ctime: time(attr.ctime),
        btime: None,
        mode: attr.mode(),
        nlink: attr.visible_nlink(),
        uid: attr.uid,
        gid: attr.gid,
        rdev: attr.rdev,
        blksize: BLOCK,
    }
}

fn kind_of(kind: FileKind) -> FileType {
    FileType::from_mode(kind.mode_bits()).unwrap_or(FileType::RegularFile)
}

impl FuseAdapter {
    pub fn new(vfs: Arc<Vfs>, ttl: Ttl, coherence: Arc<Coherence>, inodes: KernelInodes) -> Self {
        Self {
            vfs,
            ttl,
            coherence,
            inodes,
        }
    }

    /// The volume's trash, which no entry names: `/.trash` at the volume's root (only root
    /// may enter it: it is `drwx------ root root`), unless a real entry has that name.
    async fn trash_entry(&self) -> Result<Entry> {
        let Some(trash) = self.vfs.meta().trash_dir() else {
            return Ok(Entry::negative(self.ttl.entry));
        };
        let attr = self.vfs.getattr(trash).await.map_err(errno)?;
        Ok(self.entry(trash, &attr))
    }

    fn entry(&self, ino: u64, attr: &Attr) -> Entry {
        self.coherence.told(ino, attr);
        Entry {
            attr: file_attr(self.inodes.map(ino), attr),
            generation: 0,
            entry_ttl: self.ttl.entry,
            attr_ttl: self.ttl.attr,
        }
    }

    fn attr(&self, ino: u64, attr: &Attr) -> AttrReply {
        self.coherence.told(ino, attr);
        AttrReply {
            attr: file_attr(self.inodes.map(ino), attr),
            ttl: self.ttl.attr,
        }
    }

    /// The inode an entry of directory `dir` names: `..` of the mount's root is the root.
    fn within(&self, dir: u64, entry: &datenlord_vfs::DirEntry) -> u64 {
        if dir == self.inodes.root() && entry.name == b".." {
            dir
        } else {
            entry.ino
        }
    }

    /// The mount's counters since it started, for `datenlord bench`.
    fn stats(&self, op: &op::Ioctl<'_>) -> Result<Ioctl> {
        if (op.out_size as usize) < cache_ioctl::STATS_SIZE
            || !cache_ioctl::is_stats_request(op.in_data)
        {
            return Err(Errno::from_raw(libc::EINVAL));
        }
        let store = self.vfs.store();
        let stats = cache_ioctl::MountStats::new(
            self.vfs.meta().counters(),
            store.object_counters(),
            store.cache_counters().as_ref(),
        );
        Ok(Ioctl {
            result: 0,
            data: Bytes::copy_from_slice(&cache_ioctl::encode_stats(&stats)),
        })
    }

    async fn create_file(
        &self,
        req: &Request<'_>,
        parent: u64,
        name: Option<&[u8]>,
        mode: u32,
        umask: u32,
        flags: i32,
    ) -> Result<Created> {
        let perm = (mode & 0o7777) as u16;
        let (ino, attr, fh) = self
            .vfs
            .create(caller(req), parent, name, perm, umask as u16, flags)
            .await
            .map_err(errno)?;
        Ok(Created {
            entry: self.entry(ino, &attr),
            open: Open::new(fh),
        })
    }

    async fn make(
        &self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        new: NewInode<'_>,
    ) -> Result<Entry> {
        let (ino, attr) = self
            .vfs
            .mknod(caller(req), parent, name.as_bytes(), new)
            .await
            .map_err(errno)?;
        Ok(self.entry(ino, &attr))
    }
}

impl Filesystem for FuseAdapter {
    async fn destroy(&self) {
        if let Err(err) = self.vfs.flush_all().await {
            tracing::error!(%err, "flushing at unmount failed");
        }
    }

    async fn lookup(&self, _req: &Request<'_>, op: op::Lookup<'_>) -> Result<Entry> {
        let parent = self.inodes.map(op.parent);
        match self.vfs.lookup(parent, op.name.as_bytes()).await {
            Ok((ino, attr)) => Ok(self.entry(ino, &attr)),
            Err(err)
                if err.errno() == libc::ENOENT
                    && parent == ROOT_INO
                    && op.name.as_bytes() == TRASH_NAME =>
            {
                self.trash_entry().await
            }
            // The kernel may cache the absence as long as a name (create looks up twice).
            Err(err) if err.errno() == libc::ENOENT => Ok(Entry::negative(self.ttl.entry)),
            Err(err) => Err(errno(err)),
        }
    }

    async fn getattr(&self, _req: &Request<'_>, op: op::Getattr) -> Result<AttrReply> {
        let attr = self
            .vfs
            .getattr(self.inodes.map(op.ino))
            .await
            .map_err(errno)?;
        Ok(self.attr(self.inodes.map(op.ino), &attr))
    }

    async fn setattr(&self, req: &Request<'_>, op: op::Setattr) -> Result<AttrReply> {
        let set = SetAttr {
            mode: op.mode,
            uid: op.uid,
            gid: op.gid,
            atime: op.atime.map(meta_time),
            mtime: op.mtime.map(meta_time),
            ctime: op.ctime.map(Timespec::from),
            kill_suidgid: op.kill_suidgid,
        };
        let attr = self
            .vfs
            .setattr(caller(req), self.inodes.map(op.ino), op.size, set)
            .await
            .map_err(errno)?;
        Ok(self.attr(self.inodes.map(op.ino), &attr))
    }

    async fn readlink(&self, _req: &Request<'_>, op: op::Readlink) -> Result<Bytes> {
        Ok(Bytes::from(
            self.vfs
                .readlink(self.inodes.map(op.ino))
                .await
                .map_err(errno)?,
        ))
    }

    async fn symlink(&self, req: &Request<'_>, op: op::Symlink<'_>) -> Result<Entry> {
        let new = NewInode {
            kind: FileKind::Symlink,
            perm: 0o777,
            umask: 0,
            rdev: 0,
            target: Some(op.target.as_bytes()),
        };
        self.make(req, self.inodes.map(op.parent), op.name, new)
            .await
    }

    async fn mknod(&self, req: &Request<'_>, op: op::Mknod<'_>) -> Result<Entry> {
        let kind = FileKind::from_mode(op.mode).ok_or(Errno::EINVAL)?;
        if kind == FileKind::Dir || kind == FileKind::Symlink {
            return Err(Errno::EINVAL);
        }
        let new = NewInode {
            kind,
            perm: (op.mode & 0o7777) as u16,
            umask: op.umask as u16,
            rdev: op.rdev,
            target: None,
        };
        self.make(req, self.inodes.map(op.parent), op.name, new)
            .await
    }

    async fn mkdir(&self, req: &Request<'_>, op: op::Mkdir<'_>) -> Result<Entry> {
        let new = NewInode {
            kind: FileKind::Dir,
            perm: (op.mode & 0o7777) as u16,
            umask: op.umask as u16,
            rdev: 0,
            target: None,
        };
        self.make(req, self.inodes.map(op.parent), op.name, new)
            .await
    }

    async fn unlink(&self, _req: &Request<'_>, op: op::Unlink<'_>) -> Result<()> {
        self.vfs
            .unlink(self.inodes.map(op.parent), op.name.as_bytes())
            .await
            .map(drop)
            .map_err(errno)
    }

    async fn rmdir(&self, _req: &Request<'_>, op: op::Unlink<'_>) -> Result<()> {
        self.vfs
            .rmdir(self.inodes.map(op.parent), op.name.as_bytes())
            .await
            .map(drop)
            .map_err(errno)
    }

    async fn rename(&self, _req: &Request<'_>, op: op::Rename<'_>) -> Result<()> {
        self.vfs
            .rename(
                self.inodes.map(op.parent),
                op.name.as_bytes(),
                self.inodes.map(op.newparent),
                op.newname.as_bytes(),
                op.flags,
            )
            .await
            .map(drop)
            .map_err(errno)
    }

    async fn link(&self, _req: &Request<'_>, op: op::Link<'_>) -> Result<Entry> {
        let attr = self
            .vfs
            .link(
                self.inodes.map(op.ino),
                self.inodes.map(op.newparent),
                op.newname.as_bytes(),
            )
            .await
            .map_err(errno)?;
        Ok(self.entry(self.inodes.map(op.ino), &attr))
    }

    async fn open(&self, req: &Request<'_>, op: op::Open) -> Result<Open> {
        let (fh, attr) = self
            .vfs
            .open(caller(req), self.inodes.map(op.ino), op.flags)
            .await
            .map_err(errno)?;
        self.coherence.opening(self.inodes.map(op.ino), &attr);
        Ok(Open::new(fh))
    }

    async fn read(&self, _req: &Request<'_>, op: op::Read) -> Result<Bytes> {
        self.vfs
            .read(op.fh, op.offset, op.size)
            .await
            .map_err(errno)
    }

    /// `datenlord warmup`'s requests on an open file and `datenlord bench`'s request for the
    /// counters (on any file or directory); any other ioctl is not ours.
    async fn ioctl(&self, _req: &Request<'_>, op: op::Ioctl<'_>) -> Result<Ioctl> {
        if op.cmd == cache_ioctl::STATS_CMD {
            return self.stats(&op);
        }
        if op.cmd != cache_ioctl::CMD {
            return Err(Errno::from_raw(libc::ENOTTY));
        }
        if (op.out_size as usize) < cache_ioctl::SIZE {
            return Err(Errno::from_raw(libc::EINVAL));
        }
        let request =
            cache_ioctl::decode_request(op.in_data).ok_or(Errno::from_raw(libc::EINVAL))?;
        let report = self
            .vfs
            .cache_range(op.fh, request.op, request.offset, request.len)
            .await
            .map_err(errno)?;
        Ok(Ioctl {
            result: 0,
            data: Bytes::copy_from_slice(&cache_ioctl::encode_report(&report)),
        })
    }

    async fn write(&self, _req: &Request<'_>, op: op::Write<'_>) -> Result<u32> {
        self.vfs
            .write(op.fh, op.offset, op.data, op.kill_suidgid())
            .await
            .map_err(errno)
    }

    async fn statfs(&self, _req: &Request<'_>, op: op::Statfs) -> Result<Statfs> {
        let stats = self
            .vfs
            .statfs_at(self.inodes.map(op.ino))
            .await
            .map_err(errno)?;
        let blocks = stats.total_bytes / u64::from(BLOCK);
        let free = stats.free_bytes / u64::from(BLOCK);
        Ok(Statfs {
            blocks,
            bfree: free,
            bavail: free,
            files: stats.used_inodes + stats.free_inodes,
            ffree: stats.free_inodes,
            bsize: BLOCK,
            namelen: 255,
            frsize: BLOCK,
        })
    }

    async fn release(&self, _req: &Request<'_>, op: op::Release) -> Result<()> {
        let flock_owner = op.flock_unlock.then_some(op.lock_owner).flatten();
        self.vfs.release(op.fh, flock_owner).await;
        Ok(())
    }

    async fn fsync(&self, _req: &Request<'_>, op: op::Fsync) -> Result<()> {
        self.vfs.fsync(op.fh).await.map_err(errno)
    }

    async fn setxattr(&self, _req: &Request<'_>, op: op::Setxattr<'_>) -> Result<()> {
        const ACL_KILL_SGID: u32 = 1;
        self.vfs
            .setxattr(
                self.inodes.map(op.ino),
                op.name.as_bytes(),
                op.value,
                op.flags,
                op.setxattr_flags & ACL_KILL_SGID != 0,
            )
            .await
            .map_err(errno)
    }

    async fn getxattr(&self, _req: &Request<'_>, op: op::Getxattr<'_>) -> Result<Bytes> {
        let value = self
            .vfs
            .getxattr(self.inodes.map(op.ino), op.name.as_bytes())
            .await
            .map_err(errno)?;
        Ok(Bytes::from(value))
    }

    async fn listxattr(&self, _req: &Request<'_>, op: op::Listxattr) -> Result<Bytes> {
        Ok(Bytes::from(
            self.vfs
                .listxattr(self.inodes.map(op.ino))
                .await
                .map_err(errno)?,
        ))
    }

    async fn removexattr(&self, _req: &Request<'_>, op: op::Removexattr<'_>) -> Result<()> {
        self.vfs
            .removexattr(self.inodes.map(op.ino), op.name.as_bytes())
            .await
            .map_err(errno)
    }

    async fn flush(&self, _req: &Request<'_>, op: op::Flush) -> Result<()> {
        self.vfs
            .flush_handle(op.fh, Some(op.lock_owner))
            .await
            .map_err(errno)
    }

    async fn opendir(&self, _req: &Request<'_>, op: op::Open) -> Result<Open> {
        Ok(Open::new(
            self.vfs
                .opendir(self.inodes.map(op.ino))
                .await
                .map_err(errno)?,
        ))
    }

    async fn readdir(
        &self,
        _req: &Request<'_>,
        op: op::Readdir,
        out: &mut DirEntries,
    ) -> Result<()> {
        let dir = self.inodes.map(op.ino);
        let entries = self.vfs.readdir(op.fh, op.offset).await.map_err(errno)?;
        for (i, e) in entries.iter().enumerate().skip(op.offset as usize) {
            if !out.push(
                self.inodes.map(self.within(dir, e)),
                i as u64 + 1,
                kind_of(e.kind),
                OsStr::from_bytes(&e.name),
            ) {
                break;
            }
        }
        Ok(())
    }

    async fn readdirplus(
        &self,
        _req: &Request<'_>,
        op: op::Readdir,
        out: &mut DirEntriesPlus,
    ) -> Result<()> {
        let dir = self.inodes.map(op.ino);
        let entries = self.vfs.readdir(op.fh, op.offset).await.map_err(errno)?;
        let start = usize::try_from(op.offset).unwrap_or(usize::MAX);
        // The attributes of a reply's worth of entries are read together (a buffer holds
        // about 30 entries per 4 KiB page); what does not fit is read again by the next call.
        for (n, batch) in entries
            .get(start..)
            .unwrap_or_default()
            .chunks(READDIRPLUS_BATCH)
            .enumerate()
        {
            // The kernel takes no reference for "." and "..", so their TTLs do not matter.
            let inos: Vec<u64> = batch.iter().map(|e| self.within(dir, e)).collect();
            let attrs = self.vfs.getattrs(&inos).await.map_err(errno)?;
            for (k, (e, (ino, attr))) in batch.iter().zip(inos.into_iter().zip(attrs)).enumerate() {
                let Some(attr) = attr else { continue };
                let offset = start + n * READDIRPLUS_BATCH + k + 1;
                let entry = self.entry(ino, &attr);
                if !out.push(&entry, offset as u64, OsStr::from_bytes(&e.name)) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn releasedir(&self, _req: &Request<'_>, op: op::Release) -> Result<()> {
        self.vfs.releasedir(op.fh);
        Ok(())
    }

    async fn fsyncdir(&self, _req: &Request<'_>, _op: op::Fsync) -> Result<()> {
        self.vfs.sync_all().await.map_err(errno)
    }

    async fn getlk(&self, _req: &Request<'_>, op: op::Getlk) -> Result<op::Lock> {
        let lock = range(&op.lock);
        let conflict = self
            .vfs
            .lock_conflict(self.inodes.map(op.ino), op.owner, &lock, false)
            .await
            .map_err(errno)?;
        Ok(match conflict {
            Some(held) => op::Lock {
                start: held.start,
                end: held.end,
                typ: held.typ,
                pid: held.pid,
            },
            None => op::Lock {
                typ: libc::F_UNLCK,
                ..op.lock
            },
        })
    }

    async fn setlk(&self, req: &Request<'_>, op: op::Setlk) -> Result<()> {
        self.vfs
            .set_lock(
                self.inodes.map(op.ino),
                op.owner,
                range(&op.lock),
                op.flock,
                op.sleep,
                req.interrupted(),
            )
            .await
            .map_err(errno)
    }

    async fn create(&self, req: &Request<'_>, op: op::Create<'_>) -> Result<Created> {
        let name = Some(op.name.as_bytes());
        self.create_file(
            req,
            self.inodes.map(op.parent),
            name,
            op.mode,
            op.umask,
            op.flags,
        )
        .await
    }

    async fn tmpfile(&self, req: &Request<'_>, op: op::Tmpfile) -> Result<Created> {
        self.create_file(
            req,
            self.inodes.map(op.parent),
            None,
            op.mode,
            op.umask,
            op.flags,
        )
        .await
    }

    async fn fallocate(&self, _req: &Request<'_>, op: op::Fallocate) -> Result<()> {
        self.vfs
            .fallocate(op.fh, op.offset, op.length, op.mode)
            .await
            .map_err(errno)
    }

    async fn lseek(&self, _req: &Request<'_>, op: op::Lseek) -> Result<u64> {
        let offset = u64::try_from(op.offset).map_err(|_| Errno::ENXIO)?;
        let data = match op.whence {
            libc::SEEK_DATA => true,
            libc::SEEK_HOLE => false,
            _ => return Err(Errno::EINVAL),
        };
        self.vfs.lseek(op.fh, offset, data).await.map_err(errno)
    }

    async fn copy_file_range(&self, _req: &Request<'_>, op: op::CopyFileRange) -> Result<u64> {
        if op.flags != 0 {
            return Err(Errno::EINVAL);
        }
        self.vfs
            .copy_file_range(op.fh_in, op.offset_in, op.fh_out, op.offset_out, op.len)
            .await
            .map_err(errno)
    }

    async fn syncfs(&self, _req: &Request<'_>, _op: op::Syncfs) -> Result<()> {
        self.vfs.flush_all().await.map_err(errno)?;
        self.vfs.sync_all().await.map_err(errno)
    }
}

fn range(lock: &op::Lock) -> LockRange {
    LockRange {
        start: lock.start,
        end: lock.end,
        typ: lock.typ,
        pid: lock.pid,
    }
}
