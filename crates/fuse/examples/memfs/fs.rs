//! `MemFs`: a complete in-memory filesystem over the `datenlord-fuse` trait.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use datenlord_fuse::op::{self, TimeOrNow};
use datenlord_fuse::reply::{
    Attr, Created, DirEntries, DirEntriesPlus, Entry, FileType, Open, Statfs, Statx, Timespec,
};
use datenlord_fuse::{Errno, Filesystem, Notifier, Request, Result};
use tokio::sync::Notify;

use super::locks::LockTable;
use super::tree::{BLOCK_SIZE, Data, NewNode, Node, Tree};

/// How long the kernel may cache names and attributes.
#[derive(Debug, Clone, Copy)]
pub struct Ttl {
    pub entry: Duration,
    pub attr: Duration,
}

/// The capacity memfs reports in statfs.
const CAPACITY: u64 = 64 << 30;
const MAX_INODES: u64 = 1 << 24;

#[derive(Debug)]
struct Inner {
    tree: RwLock<Tree>,
    locks: Mutex<LockTable>,
    lock_changed: Notify,
    /// SETLKW requests waiting for a lock right now.
    lock_waiters: AtomicUsize,
    next_fh: AtomicU64,
    ttl: Ttl,
    notifier: OnceLock<Notifier>,
}

/// An in-memory filesystem; clones share the same tree.
#[derive(Debug, Clone)]
pub struct MemFs {
    inner: Arc<Inner>,
}

impl MemFs {
    pub fn new(ttl: Ttl) -> Self {
        // SAFETY: getuid/getgid cannot fail.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        MemFs {
            inner: Arc::new(Inner {
                tree: RwLock::new(Tree::new(uid, gid)),
                locks: Mutex::new(LockTable::default()),
                lock_changed: Notify::new(),
                lock_waiters: AtomicUsize::new(0),
                next_fh: AtomicU64::new(1),
                ttl,
                notifier: OnceLock::new(),
            }),
        }
    }

    /// Hands memfs the session's notifier, for changes made outside the kernel.
    pub fn set_notifier(&self, notifier: Notifier) {
        let _ = self.inner.notifier.set(notifier);
    }

    fn read(&self) -> RwLockReadGuard<'_, Tree> {
        self.inner.tree.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tree> {
        self.inner.tree.write().unwrap_or_else(|e| e.into_inner())
    }

    fn attr(&self, node: &Node) -> Attr {
        Attr {
            attr: node.attr,
            ttl: self.inner.ttl.attr,
        }
    }

    /// An entry for `ino`, counted as one kernel reference.
    fn entry(&self, tree: &Tree, ino: u64) -> Result<Entry> {
        let node = tree.get(ino)?;
        node.lookups.fetch_add(1, Ordering::Relaxed);
        Ok(self.uncounted_entry(node))
    }

    fn uncounted_entry(&self, node: &Node) -> Entry {
        Entry {
            attr: node.attr,
            generation: 0,
            entry_ttl: self.inner.ttl.entry,
            attr_ttl: self.inner.ttl.attr,
        }
    }

    fn new_fh(&self) -> u64 {
        self.inner.next_fh.fetch_add(1, Ordering::Relaxed)
    }

    fn make(
        &self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        data: Data,
    ) -> Result<Entry> {
        let mut tree = self.write();
        let ino = tree.create(
            parent,
            name,
            NewNode {
                mode,
                uid: req.uid(),
                gid: req.gid(),
                rdev,
            },
            data,
        )?;
        self.entry(&tree, ino)
    }

    fn forget_one(&self, tree: &mut Tree, ino: u64, nlookup: u64) {
        if let Some(node) = tree.nodes.get(&ino) {
            let before = node.lookups.fetch_sub(
                nlookup.min(node.lookups.load(Ordering::Relaxed)),
                Ordering::Relaxed,
            );
            if before <= nlookup {
                tree.free_if_unused(ino);
                if !tree.nodes.contains_key(&ino) {
                    self.inner
                        .locks
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove_inode(ino);
                }
            }
        }
    }

    fn remove(&self, parent: u64, name: &OsStr, want_dir: bool) -> Result<()> {
        let mut tree = self.write();
        let ino = tree.dir(parent)?.get(name).ok_or(Errno::ENOENT)?;
        let node = tree.get(ino)?;
        match (want_dir, node.is_dir()) {
            (true, false) => return Err(Errno::ENOTDIR),
            (false, true) => return Err(Errno::EISDIR),
            (true, true) if !tree.dir(ino)?.by_name.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        tree.dir_mut(parent)?.remove(name);
        let parent_node = tree.get_mut(parent)?;
        parent_node.touch_content();
        if want_dir {
            parent_node.attr.nlink -= 1;
        }
        tree.drop_link(ino);
        Ok(())
    }

    async fn wait_for_lock(&self, req: &Request<'_>, op: &op::Setlk) -> Result<()> {
        let mut queued = None;
        loop {
            let notified = self.inner.lock_changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
                if locks
                    .conflict(op.ino, op.owner, &op.lock, op.flock)
                    .is_none()
                {
                    locks.apply(op.ino, op.owner, &op.lock, op.flock);
                    return Ok(());
                }
                if !op.sleep {
                    return Err(Errno::EAGAIN);
                }
            }
            queued.get_or_insert_with(|| Waiting::new(&self.inner.lock_waiters));
            tokio::select! {
                () = &mut notified => {}
                () = req.interrupted() => return Err(Errno::EINTR),
            }
        }
    }

    fn unlock_owner(&self, ino: u64, owner: u64, flock: bool) {
        let released = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .release_owner(ino, owner, flock);
        if released {
            self.inner.lock_changed.notify_waiters();
        }
    }
}

/// Changes made behind the kernel's back, as another node of a cluster would make them; the
/// notification tests use them to check that invalidations reach the kernel.
#[allow(dead_code)]
impl MemFs {
    pub fn notifier(&self) -> Option<&Notifier> {
        self.inner.notifier.get()
    }

    /// Replaces a file's content directly, as another node of a cluster would: the kernel's
    /// caches do not see it until they are invalidated.
    pub fn replace_content(&self, ino: u64, content: &[u8]) -> Result<()> {
        let mut tree = self.write();
        let node = tree.get_mut(ino)?;
        let Data::File(bytes) = &mut node.data else {
            return Err(Errno::EISDIR);
        };
        *bytes = content.to_vec();
        node.attr.size = content.len() as u64;
        node.touch_content();
        Ok(())
    }

    /// How many SETLKW requests are waiting for a lock.
    pub fn lock_waiters(&self) -> usize {
        self.inner.lock_waiters.load(Ordering::Relaxed)
    }

    /// Renames directly, behind the kernel's back.
    pub fn rename_behind(&self, parent: u64, from: &OsStr, to: &OsStr) -> Result<()> {
        let mut tree = self.write();
        let dir = tree.dir_mut(parent)?;
        let ino = dir.remove(from).ok_or(Errno::ENOENT)?;
        dir.insert(to, ino);
        Ok(())
    }

    /// Removes a name directly, behind the kernel's back; returns the inode it named.
    pub fn unlink_behind(&self, parent: u64, name: &OsStr) -> Result<u64> {
        let mut tree = self.write();
        let ino = tree.dir_mut(parent)?.remove(name).ok_or(Errno::ENOENT)?;
        tree.drop_link(ino);
        Ok(ino)
    }
}

/// Counts a SETLKW among the waiters while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn time_of(t: TimeOrNow) -> Timespec {
    match t {
        TimeOrNow::Now => Timespec::now(),
        TimeOrNow::At(at) => at.into(),
    }
}

fn file_bytes(node: &Node) -> Result<&Vec<u8>> {
    match &node.data {
        Data::File(bytes) => Ok(bytes),
        Data::Dir(_) => Err(Errno::EISDIR),
        _ => Err(Errno::EINVAL),
    }
}

/// Copies `data` into a file at `offset`, growing it; returns the bytes written.
fn write_at(node: &mut Node, offset: u64, data: &[u8]) -> Result<u32> {
    let end = offset.checked_add(data.len() as u64).ok_or(Errno::EFBIG)?;
    if end > node.attr.size {
        node.resize(end)?;
    }
    let Data::File(bytes) = &mut node.data else {
        return Err(Errno::EISDIR);
    };
    bytes[offset as usize..end as usize].copy_from_slice(data);
    node.touch_content();
    Ok(data.len() as u32)
}

fn is_dot(name: &OsStr) -> bool {
    name == "." || name == ".."
}

impl Filesystem for MemFs {
    async fn lookup(&self, _req: &Request<'_>, op: op::Lookup<'_>) -> Result<Entry> {
        let tree = self.read();
        let dir = tree.dir(op.parent)?;
        let ino = match op.name.as_bytes() {
            b"." => op.parent,
            b".." => dir.parent,
            _ => dir.get(op.name).ok_or(Errno::ENOENT)?,
        };
        self.entry(&tree, ino)
    }

    async fn forget(&self, op: op::Forget) {
        self.forget_one(&mut self.write(), op.ino, op.nlookup);
    }

    async fn batch_forget(&self, forgets: op::ForgetList<'_>) {
        let mut tree = self.write();
        for one in forgets.iter() {
            self.forget_one(&mut tree, one.ino, one.nlookup);
        }
    }

    async fn getattr(&self, _req: &Request<'_>, op: op::Getattr) -> Result<Attr> {
        Ok(self.attr(self.read().get(op.ino)?))
    }

    async fn setattr(&self, req: &Request<'_>, op: op::Setattr) -> Result<Attr> {
        let mut tree = self.write();
        let node = tree.get_mut(op.ino)?;
        if let Some(size) = op.size {
            if node.is_dir() {
                return Err(Errno::EISDIR);
            }
            node.resize(size)?;
            if op.mtime.is_none() {
                node.touch_content();
            }
            if op.kill_suidgid {
                node.kill_suidgid();
            }
        }
        if let Some(mode) = op.mode {
            node.attr.mode = (node.attr.mode & libc::S_IFMT) | (mode & 0o7777);
        }
        let chown = op.uid.is_some_and(|u| u != node.attr.uid)
            || op.gid.is_some_and(|g| g != node.attr.gid);
        if let Some(uid) = op.uid {
            node.attr.uid = uid;
        }
        if let Some(gid) = op.gid {
            node.attr.gid = gid;
        }
        if chown
            && op.mode.is_none()
            && node.attr.mode & libc::S_IFMT == libc::S_IFREG
            && req.uid() != 0
        {
            node.kill_suidgid();
        }
        if let Some(atime) = op.atime {
            node.attr.atime = time_of(atime);
        }
        if let Some(mtime) = op.mtime {
            node.attr.mtime = time_of(mtime);
        }
        node.attr.ctime = op.ctime.map_or_else(Timespec::now, Into::into);
        Ok(self.attr(node))
    }

    async fn readlink(&self, _req: &Request<'_>, op: op::Readlink) -> Result<Bytes> {
        match &self.read().get(op.ino)?.data {
            Data::Symlink(target) => Ok(Bytes::copy_from_slice(target)),
            _ => Err(Errno::EINVAL),
        }
    }

    async fn symlink(&self, req: &Request<'_>, op: op::Symlink<'_>) -> Result<Entry> {
        let data = Data::Symlink(op.target.as_bytes().to_vec());
        self.make(req, op.parent, op.name, libc::S_IFLNK | 0o777, 0, data)
    }

    async fn mknod(&self, req: &Request<'_>, op: op::Mknod<'_>) -> Result<Entry> {
        let data = match op.mode & libc::S_IFMT {
            libc::S_IFREG | 0 => Data::File(Vec::new()),
            libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR | libc::S_IFBLK => Data::Special,
            _ => return Err(Errno::EINVAL),
        };
        let mode = if op.mode & libc::S_IFMT == 0 {
            op.mode | libc::S_IFREG
        } else {
            op.mode
        };
        self.make(req, op.parent, op.name, mode, op.rdev, data)
    }

    async fn mkdir(&self, req: &Request<'_>, op: op::Mkdir<'_>) -> Result<Entry> {
        let data = Data::Dir(Default::default());
        self.make(
            req,
            op.parent,
            op.name,
            libc::S_IFDIR | (op.mode & 0o7777),
            0,
            data,
        )
    }

    async fn unlink(&self, _req: &Request<'_>, op: op::Unlink<'_>) -> Result<()> {
        self.remove(op.parent, op.name, false)
    }

    async fn rmdir(&self, _req: &Request<'_>, op: op::Unlink<'_>) -> Result<()> {
        self.remove(op.parent, op.name, true)
    }

    async fn rename(&self, _req: &Request<'_>, op: op::Rename<'_>) -> Result<()> {
        let exchange = op.flags & libc::RENAME_EXCHANGE != 0;
        let noreplace = op.flags & libc::RENAME_NOREPLACE != 0;
        if op.flags & !(libc::RENAME_EXCHANGE | libc::RENAME_NOREPLACE) != 0
            || (exchange && noreplace)
        {
            return Err(Errno::EINVAL);
        }
        let mut tree = self.write();
        let src = tree.dir(op.parent)?.get(op.name).ok_or(Errno::ENOENT)?;
        let dst = tree.dir(op.newparent)?.get(op.newname);
        let src_is_dir = tree.get(src)?.is_dir();
        let now = Timespec::now();
        if exchange {
            let dst = dst.ok_or(Errno::ENOENT)?;
            let dst_is_dir = tree.get(dst)?.is_dir();
            tree.dir_mut(op.parent)?.insert(op.name, dst);
            tree.dir_mut(op.newparent)?.insert(op.newname, src);
            if op.parent != op.newparent && src_is_dir != dst_is_dir {
                let (gains, loses) = if src_is_dir {
                    (op.newparent, op.parent)
                } else {
                    (op.parent, op.newparent)
                };
                tree.get_mut(gains)?.attr.nlink += 1;
                tree.get_mut(loses)?.attr.nlink -= 1;
            }
            for (ino, parent) in [(src, op.newparent), (dst, op.parent)] {
                if let Data::Dir(d) = &mut tree.get_mut(ino)?.data {
                    d.parent = parent;
                }
                tree.get_mut(ino)?.attr.ctime = now;
            }
        } else {
            if let Some(dst) = dst {
                if noreplace {
                    return Err(Errno::EEXIST);
                }
                if dst == src {
                    return Ok(());
                }
                let dst_node = tree.get(dst)?;
                match (src_is_dir, dst_node.is_dir()) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if !tree.dir(dst)?.by_name.is_empty() => {
                        return Err(Errno::ENOTEMPTY);
                    }
                    _ => {}
                }
                tree.dir_mut(op.newparent)?.remove(op.newname);
                if src_is_dir {
                    tree.get_mut(op.newparent)?.attr.nlink -= 1;
                }
                tree.drop_link(dst);
            }
            tree.dir_mut(op.parent)?.remove(op.name);
            tree.dir_mut(op.newparent)?.insert(op.newname, src);
            if src_is_dir && op.parent != op.newparent {
                tree.get_mut(op.parent)?.attr.nlink -= 1;
                tree.get_mut(op.newparent)?.attr.nlink += 1;
                if let Data::Dir(d) = &mut tree.get_mut(src)?.data {
                    d.parent = op.newparent;
                }
            }
            tree.get_mut(src)?.attr.ctime = now;
        }
        for parent in [op.parent, op.newparent] {
            tree.get_mut(parent)?.touch_content();
        }
        Ok(())
    }

    async fn link(&self, _req: &Request<'_>, op: op::Link<'_>) -> Result<Entry> {
        let mut tree = self.write();
        if tree.get(op.ino)?.is_dir() {
            return Err(Errno::EPERM);
        }
        let dir = tree.dir_mut(op.newparent)?;
        if dir.get(op.newname).is_some() {
            return Err(Errno::EEXIST);
        }
        dir.insert(op.newname, op.ino);
        tree.get_mut(op.newparent)?.touch_content();
        let node = tree.get_mut(op.ino)?;
        node.attr.nlink += 1;
        node.attr.ctime = Timespec::now();
        self.entry(&tree, op.ino)
    }

    async fn open(&self, _req: &Request<'_>, op: op::Open) -> Result<Open> {
        if op.flags & libc::O_TRUNC != 0 && op.flags & libc::O_ACCMODE != libc::O_RDONLY {
            let mut tree = self.write();
            let node = tree.get_mut(op.ino)?;
            if let Data::File(_) = node.data {
                node.resize(0)?;
                node.touch_content();
                if op.kill_suidgid {
                    node.kill_suidgid();
                }
            }
        } else {
            self.read().get(op.ino)?;
        }
        Ok(Open::new(self.new_fh()).keep_cache())
    }

    async fn read(&self, _req: &Request<'_>, op: op::Read) -> Result<Bytes> {
        let tree = self.read();
        let bytes = file_bytes(tree.get(op.ino)?)?;
        let start = (op.offset as usize).min(bytes.len());
        let end = start.saturating_add(op.size as usize).min(bytes.len());
        Ok(Bytes::copy_from_slice(&bytes[start..end]))
    }

    async fn write(&self, _req: &Request<'_>, op: op::Write<'_>) -> Result<u32> {
        let mut tree = self.write();
        let node = tree.get_mut(op.ino)?;
        file_bytes(node)?;
        let written = write_at(node, op.offset, op.data)?;
        if op.kill_suidgid() {
            node.kill_suidgid();
        }
        Ok(written)
    }

    async fn statfs(&self, _req: &Request<'_>, _op: op::Statfs) -> Result<Statfs> {
        let (bytes, inodes) = self.read().usage();
        let blocks = CAPACITY / u64::from(BLOCK_SIZE);
        let used = bytes.div_ceil(u64::from(BLOCK_SIZE));
        Ok(Statfs {
            blocks,
            bfree: blocks.saturating_sub(used),
            bavail: blocks.saturating_sub(used),
            files: MAX_INODES,
            ffree: MAX_INODES.saturating_sub(inodes),
            bsize: BLOCK_SIZE,
            namelen: 255,
            frsize: BLOCK_SIZE,
        })
    }

    async fn release(&self, _req: &Request<'_>, op: op::Release) -> Result<()> {
        if let (true, Some(owner)) = (op.flock_unlock, op.lock_owner) {
            self.unlock_owner(op.ino, owner, true);
        }
        Ok(())
    }

    async fn fsync(&self, _req: &Request<'_>, _op: op::Fsync) -> Result<()> {
        Ok(())
    }

    async fn setxattr(&self, _req: &Request<'_>, op: op::Setxattr<'_>) -> Result<()> {
        let mut tree = self.write();
        let node = tree.get_mut(op.ino)?;
        let name = op.name.as_bytes();
        let exists = node.xattrs.contains_key(name);
        if op.flags & libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if op.flags & libc::XATTR_REPLACE != 0 && !exists {
            return Err(Errno::ENODATA);
        }
        node.xattrs.insert(name.to_vec(), op.value.to_vec());
        node.attr.ctime = Timespec::now();
        Ok(())
    }

    async fn getxattr(&self, _req: &Request<'_>, op: op::Getxattr<'_>) -> Result<Bytes> {
        let tree = self.read();
        let value = tree
            .get(op.ino)?
            .xattrs
            .get(op.name.as_bytes())
            .ok_or(Errno::ENODATA)?;
        Ok(Bytes::copy_from_slice(value))
    }

    async fn listxattr(&self, _req: &Request<'_>, op: op::Listxattr) -> Result<Bytes> {
        let tree = self.read();
        let mut names = Vec::new();
        for name in tree.get(op.ino)?.xattrs.keys() {
            names.extend_from_slice(name);
            names.push(0);
        }
        Ok(names.into())
    }

    async fn removexattr(&self, _req: &Request<'_>, op: op::Removexattr<'_>) -> Result<()> {
        let mut tree = self.write();
        let node = tree.get_mut(op.ino)?;
        node.xattrs
            .remove(op.name.as_bytes())
            .ok_or(Errno::ENODATA)?;
        node.attr.ctime = Timespec::now();
        Ok(())
    }

    async fn flush(&self, _req: &Request<'_>, op: op::Flush) -> Result<()> {
        // close(2) drops the closing process's POSIX locks on the file.
        self.unlock_owner(op.ino, op.lock_owner, false);
        Ok(())
    }

    async fn opendir(&self, _req: &Request<'_>, op: op::Open) -> Result<Open> {
        self.read().dir(op.ino)?;
        Ok(Open::new(self.new_fh()))
    }

    async fn readdir(
        &self,
        _req: &Request<'_>,
        op: op::Readdir,
        out: &mut DirEntries,
    ) -> Result<()> {
        let tree = self.read();
        let dir = tree.dir(op.ino)?;
        for (cookie, ino, name) in listing(dir, op.ino, op.offset) {
            let Ok(node) = tree.get(ino) else { continue };
            let kind = FileType::from_mode(node.attr.mode).unwrap_or(FileType::RegularFile);
            if !out.push(ino, cookie, kind, name) {
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
        let tree = self.read();
        let dir = tree.dir(op.ino)?;
        for (cookie, ino, name) in listing(dir, op.ino, op.offset) {
            let Ok(node) = tree.get(ino) else { continue };
            if !out.push(&self.uncounted_entry(node), cookie, name) {
                break;
            }
            if !is_dot(name) {
                node.lookups.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    async fn fsyncdir(&self, _req: &Request<'_>, _op: op::Fsync) -> Result<()> {
        Ok(())
    }

    async fn getlk(&self, _req: &Request<'_>, op: op::Getlk) -> Result<op::Lock> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
        Ok(locks
            .conflict(op.ino, op.owner, &op.lock, false)
            .unwrap_or(op::Lock {
                typ: libc::F_UNLCK,
                ..op.lock
            }))
    }

    async fn setlk(&self, req: &Request<'_>, op: op::Setlk) -> Result<()> {
        self.read().get(op.ino)?;
        if op.lock.typ == libc::F_UNLCK {
            let mut locks = self.inner.locks.lock().unwrap_or_else(|e| e.into_inner());
            locks.apply(op.ino, op.owner, &op.lock, op.flock);
            self.inner.lock_changed.notify_waiters();
            return Ok(());
        }
        self.wait_for_lock(req, &op).await?;
        // A downgrade (write to read) can unblock readers.
        self.inner.lock_changed.notify_waiters();
        Ok(())
    }

    async fn access(&self, req: &Request<'_>, op: op::Access) -> Result<()> {
        let tree = self.read();
        let attr = tree.get(op.ino)?.attr;
        if op.mask == libc::F_OK
            || req.uid() == 0 && (op.mask & libc::X_OK == 0 || attr.mode & 0o111 != 0)
        {
            return Ok(());
        }
        let bits = if req.uid() == attr.uid {
            attr.mode >> 6
        } else if req.gid() == attr.gid {
            attr.mode >> 3
        } else {
            attr.mode
        } & 0o7;
        if (op.mask as u32) & !bits == 0 {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    async fn create(&self, req: &Request<'_>, op: op::Create<'_>) -> Result<Created> {
        let mode = libc::S_IFREG | (op.mode & 0o7777);
        let entry = self.make(req, op.parent, op.name, mode, 0, Data::File(Vec::new()))?;
        Ok(Created {
            entry,
            open: Open::new(self.new_fh()).keep_cache(),
        })
    }

    async fn tmpfile(&self, req: &Request<'_>, op: op::Tmpfile) -> Result<Created> {
        let mut tree = self.write();
        let new = NewNode {
            mode: libc::S_IFREG | (op.mode & 0o7777),
            uid: req.uid(),
            gid: req.gid(),
            rdev: 0,
        };
        let ino = tree.create_unnamed(op.parent, new)?;
        let entry = self.entry(&tree, ino)?;
        Ok(Created {
            entry,
            open: Open::new(self.new_fh()),
        })
    }

    async fn fallocate(&self, _req: &Request<'_>, op: op::Fallocate) -> Result<()> {
        let keep_size = op.mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        let punch = op.mode & libc::FALLOC_FL_PUNCH_HOLE != 0;
        let zero = op.mode & libc::FALLOC_FL_ZERO_RANGE != 0;
        let known =
            libc::FALLOC_FL_KEEP_SIZE | libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE;
        if op.mode & !known != 0 || (punch && !keep_size) {
            return Err(Errno::EOPNOTSUPP);
        }
        let end = op.offset.checked_add(op.length).ok_or(Errno::EFBIG)?;
        let mut tree = self.write();
        let node = tree.get_mut(op.ino)?;
        file_bytes(node)?;
        if !keep_size && end > node.attr.size {
            node.resize(end)?;
        }
        if punch || zero {
            let Data::File(bytes) = &mut node.data else {
                return Err(Errno::EISDIR);
            };
            let len = bytes.len() as u64;
            bytes[op.offset.min(len) as usize..end.min(len) as usize].fill(0);
            node.touch_content();
        }
        Ok(())
    }

    async fn lseek(&self, _req: &Request<'_>, op: op::Lseek) -> Result<u64> {
        let size = self.read().get(op.ino)?.attr.size;
        let offset = u64::try_from(op.offset).map_err(|_| Errno::ENXIO)?;
        if offset >= size {
            return Err(Errno::ENXIO);
        }
        match op.whence {
            libc::SEEK_DATA => Ok(offset),
            libc::SEEK_HOLE => Ok(size),
            _ => Err(Errno::EINVAL),
        }
    }

    async fn copy_file_range(&self, _req: &Request<'_>, op: op::CopyFileRange) -> Result<u64> {
        let mut tree = self.write();
        let source = file_bytes(tree.get(op.ino_in)?)?;
        let start = (op.offset_in as usize).min(source.len());
        let end = start.saturating_add(op.len as usize).min(source.len());
        let chunk = source[start..end].to_vec();
        let target = tree.get_mut(op.ino_out)?;
        file_bytes(target)?;
        Ok(u64::from(write_at(target, op.offset_out, &chunk)?))
    }

    async fn syncfs(&self, _req: &Request<'_>, _op: op::Syncfs) -> Result<()> {
        Ok(())
    }

    async fn statx(&self, _req: &Request<'_>, op: op::Statx) -> Result<Statx> {
        let tree = self.read();
        let node = tree.get(op.ino)?;
        Ok(Statx {
            attr: node.attr,
            ttl: self.inner.ttl.attr,
            attributes: 0,
            attributes_mask: 0,
        })
    }
}

/// Directory entries after `offset`: ".", "..", then children in cookie order.
fn listing(
    dir: &super::tree::Dir,
    ino: u64,
    offset: u64,
) -> impl Iterator<Item = (u64, u64, &OsStr)> {
    let dots = [(1, ino, OsStr::new(".")), (2, dir.parent, OsStr::new(".."))];
    let children = dir
        .by_cookie
        .range(offset.max(2) + 1..)
        .filter_map(|(&cookie, name)| dir.get(name).map(|ino| (cookie, ino, name.as_os_str())));
    dots.into_iter()
        .filter(move |&(cookie, _, _)| cookie > offset)
        .chain(children)
}
