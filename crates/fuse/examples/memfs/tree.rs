//! The in-memory inode table: nodes, directories with stable readdir cookies, and link counts.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::sync::atomic::{AtomicU64, Ordering};

use datenlord_fuse::reply::{FileAttr, Timespec};
use datenlord_fuse::{Errno, Result};

pub const ROOT: u64 = 1;
pub const BLOCK_SIZE: u32 = 4096;

/// Cookies 1 and 2 are "." and ".."; children count up from here.
pub const FIRST_CHILD_COOKIE: u64 = 3;

#[derive(Debug, Default)]
pub struct Dir {
    pub parent: u64,
    /// name → (inode, readdir cookie)
    pub by_name: BTreeMap<OsString, (u64, u64)>,
    /// readdir cookie → name; cookies never change, so listing survives concurrent removals.
    pub by_cookie: BTreeMap<u64, OsString>,
    next_cookie: u64,
}

impl Dir {
    fn new(parent: u64) -> Self {
        Dir {
            parent,
            by_name: BTreeMap::new(),
            by_cookie: BTreeMap::new(),
            next_cookie: FIRST_CHILD_COOKIE,
        }
    }

    pub fn insert(&mut self, name: &OsStr, ino: u64) {
        let cookie = self.next_cookie;
        self.next_cookie += 1;
        if let Some((_, old)) = self.by_name.insert(name.to_owned(), (ino, cookie)) {
            self.by_cookie.remove(&old);
        }
        self.by_cookie.insert(cookie, name.to_owned());
    }

    pub fn remove(&mut self, name: &OsStr) -> Option<u64> {
        let (ino, cookie) = self.by_name.remove(name)?;
        self.by_cookie.remove(&cookie);
        Some(ino)
    }

    pub fn get(&self, name: &OsStr) -> Option<u64> {
        self.by_name.get(name).map(|&(ino, _)| ino)
    }
}

#[derive(Debug)]
pub enum Data {
    File(Vec<u8>),
    Dir(Dir),
    Symlink(Vec<u8>),
    /// Devices, fifos and sockets: no content here.
    Special,
}

#[derive(Debug)]
pub struct Node {
    pub attr: FileAttr,
    pub data: Data,
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// The kernel's references (lookups not yet forgotten).
    pub lookups: AtomicU64,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.data, Data::Dir(_))
    }

    pub fn touch_content(&mut self) {
        let now = Timespec::now();
        self.attr.mtime = now;
        self.attr.ctime = now;
    }

    /// Sets the file length, zero-filling growth.
    pub fn resize(&mut self, size: u64) -> Result<()> {
        let Data::File(bytes) = &mut self.data else {
            return Err(Errno::EISDIR);
        };
        let size = usize::try_from(size).map_err(|_| Errno::EFBIG)?;
        bytes
            .try_reserve(size.saturating_sub(bytes.len()))
            .map_err(|_| Errno::ENOSPC)?;
        bytes.resize(size, 0);
        self.attr.size = size as u64;
        self.attr.blocks = (size as u64).div_ceil(512);
        Ok(())
    }

    /// Clears setuid, and setgid when group-executable (what a write by a non-owner does).
    pub fn kill_suidgid(&mut self) {
        let mode = self.attr.mode;
        let mut kill = libc::S_ISUID;
        if mode & libc::S_IXGRP != 0 {
            kill |= libc::S_ISGID;
        }
        self.attr.mode = mode & !kill;
    }
}

#[derive(Debug)]
pub struct Tree {
    pub nodes: HashMap<u64, Node>,
    next_ino: u64,
}

/// Who creates a node, and with what.
#[derive(Debug, Clone, Copy)]
pub struct NewNode {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
}

impl Tree {
    pub fn new(uid: u32, gid: u32) -> Self {
        let mut tree = Tree {
            nodes: HashMap::new(),
            next_ino: ROOT,
        };
        let root = tree.alloc(
            NewNode {
                mode: libc::S_IFDIR | 0o755,
                uid,
                gid,
                rdev: 0,
            },
            Data::Dir(Dir::new(ROOT)),
        );
        debug_assert_eq!(root, ROOT);
        tree
    }

    pub fn get(&self, ino: u64) -> Result<&Node> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }

    pub fn get_mut(&mut self, ino: u64) -> Result<&mut Node> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    pub fn dir(&self, ino: u64) -> Result<&Dir> {
        match &self.get(ino)?.data {
            Data::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    pub fn dir_mut(&mut self, ino: u64) -> Result<&mut Dir> {
        match &mut self.get_mut(ino)?.data {
            Data::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn alloc(&mut self, new: NewNode, data: Data) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        let now = Timespec::now();
        let nlink = if matches!(data, Data::Dir(_)) { 2 } else { 1 };
        let size = match &data {
            Data::Symlink(target) => target.len() as u64,
            _ => 0,
        };
        let attr = FileAttr {
            ino,
            size,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
            btime: Some(now),
            mode: new.mode,
            nlink,
            uid: new.uid,
            gid: new.gid,
            rdev: new.rdev,
            blksize: BLOCK_SIZE,
        };
        self.nodes.insert(
            ino,
            Node {
                attr,
                data,
                xattrs: BTreeMap::new(),
                lookups: AtomicU64::new(0),
            },
        );
        ino
    }

    /// Creates a node named `name` in `parent`, honouring setgid directories.
    pub fn create(
        &mut self,
        parent: u64,
        name: &OsStr,
        mut new: NewNode,
        data: Data,
    ) -> Result<u64> {
        let parent_node = self.get(parent)?;
        let parent_mode = parent_node.attr.mode;
        let parent_gid = parent_node.attr.gid;
        let dir = self.dir(parent)?;
        if dir.get(name).is_some() {
            return Err(Errno::EEXIST);
        }
        if parent_mode & libc::S_ISGID != 0 {
            new.gid = parent_gid;
            if matches!(data, Data::Dir(_)) {
                new.mode |= libc::S_ISGID;
            }
        }
        let is_dir = matches!(data, Data::Dir(_));
        let data = match data {
            Data::Dir(_) => Data::Dir(Dir::new(parent)),
            other => other,
        };
        let ino = self.alloc(new, data);
        let parent_node = self.get_mut(parent)?;
        parent_node.touch_content();
        if is_dir {
            parent_node.attr.nlink += 1;
        }
        self.dir_mut(parent)?.insert(name, ino);
        Ok(ino)
    }

    /// Creates a node with no name (O_TMPFILE); it lives while the kernel references it.
    pub fn create_unnamed(&mut self, parent: u64, new: NewNode) -> Result<u64> {
        self.dir(parent)?;
        let ino = self.alloc(new, Data::File(Vec::new()));
        self.get_mut(ino)?.attr.nlink = 0;
        Ok(ino)
    }

    /// Drops one link of `ino` (all of a directory's) and frees it when nothing refers to it.
    pub fn drop_link(&mut self, ino: u64) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        node.attr.nlink = if node.is_dir() {
            0
        } else {
            node.attr.nlink.saturating_sub(1)
        };
        node.attr.ctime = Timespec::now();
        self.free_if_unused(ino);
    }

    pub fn free_if_unused(&mut self, ino: u64) {
        if let Some(node) = self.nodes.get(&ino)
            && node.attr.nlink == 0
            && node.lookups.load(Ordering::Relaxed) == 0
            && ino != ROOT
        {
            self.nodes.remove(&ino);
        }
    }

    /// Bytes and inodes in use, for statfs.
    pub fn usage(&self) -> (u64, u64) {
        let bytes = self
            .nodes
            .values()
            .map(|n| match &n.data {
                Data::File(b) => b.len() as u64,
                _ => 0,
            })
            .sum();
        (bytes, self.nodes.len() as u64)
    }
}
