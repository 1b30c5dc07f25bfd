//! Typed replies: each operation returns its own type, so a filesystem cannot answer with the
//! wrong shape. The session turns them into wire structs.

mod dir;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use dir::{DirEntries, DirEntriesPlus, FileType};

use crate::abi;

/// A point in time as the kernel sees it: seconds since the epoch (may be negative) and nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: u32,
}

impl Timespec {
    /// The current time of the system clock.
    pub fn now() -> Self {
        SystemTime::now().into()
    }
}

impl From<SystemTime> for Timespec {
    fn from(t: SystemTime) -> Self {
        match t.duration_since(UNIX_EPOCH) {
            Ok(d) => Timespec {
                sec: d.as_secs() as i64,
                nsec: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let (sec, nsec) = (d.as_secs() as i64, d.subsec_nanos());
                if nsec == 0 {
                    Timespec { sec: -sec, nsec: 0 }
                } else {
                    Timespec {
                        sec: -sec - 1,
                        nsec: 1_000_000_000 - nsec,
                    }
                }
            }
        }
    }
}

/// The attributes of an inode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileAttr {
    pub ino: u64,
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    /// Creation time, reported by STATX only.
    pub btime: Option<Timespec>,
    /// File type and permission bits, as in `st_mode`.
    pub mode: u32,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub blksize: u32,
}

impl FileAttr {
    pub(crate) fn to_abi(self) -> abi::Attr {
        abi::Attr {
            ino: self.ino,
            size: self.size,
            blocks: self.blocks,
            atime: self.atime.sec as u64,
            mtime: self.mtime.sec as u64,
            ctime: self.ctime.sec as u64,
            atimensec: self.atime.nsec,
            mtimensec: self.mtime.nsec,
            ctimensec: self.ctime.nsec,
            mode: self.mode,
            nlink: self.nlink,
            uid: self.uid,
            gid: self.gid,
            rdev: self.rdev,
            blksize: self.blksize,
            flags: 0,
        }
    }
}

fn split(ttl: Duration) -> (u64, u32) {
    (ttl.as_secs(), ttl.subsec_nanos())
}

/// The answer to LOOKUP, MKNOD, MKDIR, SYMLINK, LINK: a name bound to an inode, and how long
/// the kernel may cache the name and the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub attr: FileAttr,
    /// Must differ between inodes that reuse a number over the filesystem's lifetime.
    pub generation: u64,
    pub entry_ttl: Duration,
    pub attr_ttl: Duration,
}

impl Entry {
    /// A cacheable "no such name": LOOKUP answers with inode 0 and `ttl`.
    pub fn negative(ttl: Duration) -> Self {
        Entry {
            attr: FileAttr::default(),
            generation: 0,
            entry_ttl: ttl,
            attr_ttl: Duration::ZERO,
        }
    }

    pub(crate) fn to_abi(self) -> abi::EntryOut {
        let (entry_valid, entry_valid_nsec) = split(self.entry_ttl);
        let (attr_valid, attr_valid_nsec) = split(self.attr_ttl);
        abi::EntryOut {
            nodeid: self.attr.ino,
            generation: self.generation,
            entry_valid,
            attr_valid,
            entry_valid_nsec,
            attr_valid_nsec,
            attr: self.attr.to_abi(),
        }
    }
}

/// The answer to GETATTR and SETATTR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    pub attr: FileAttr,
    pub ttl: Duration,
}

impl Attr {
    pub(crate) fn to_abi(self) -> abi::AttrOut {
        let (attr_valid, attr_valid_nsec) = split(self.ttl);
        abi::AttrOut {
            attr_valid,
            attr_valid_nsec,
            dummy: 0,
            attr: self.attr.to_abi(),
        }
    }
}

/// The answer to STATX: the attributes, with `btime` when known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Statx {
    pub attr: FileAttr,
    pub ttl: Duration,
    /// `STATX_ATTR_*` bits and which of them the filesystem supports.
    pub attributes: u64,
    pub attributes_mask: u64,
}

impl Statx {
    pub(crate) fn to_abi(self) -> abi::StatxOut {
        let (attr_valid, attr_valid_nsec) = split(self.ttl);
        let a = &self.attr;
        let sx = |t: Timespec| abi::SxTime {
            tv_sec: t.sec,
            tv_nsec: t.nsec,
            reserved: 0,
        };
        let mut mask = libc::STATX_BASIC_STATS;
        if a.btime.is_some() {
            mask |= libc::STATX_BTIME;
        }
        abi::StatxOut {
            attr_valid,
            attr_valid_nsec,
            flags: 0,
            spare: [0; 2],
            stat: abi::Statx {
                mask,
                blksize: a.blksize,
                attributes: self.attributes,
                nlink: a.nlink,
                uid: a.uid,
                gid: a.gid,
                mode: a.mode as u16,
                spare0: 0,
                ino: a.ino,
                size: a.size,
                blocks: a.blocks,
                attributes_mask: self.attributes_mask,
                atime: sx(a.atime),
                btime: sx(a.btime.unwrap_or_default()),
                ctime: sx(a.ctime),
                mtime: sx(a.mtime),
                rdev_major: libc::major(u64::from(a.rdev)),
                rdev_minor: libc::minor(u64::from(a.rdev)),
                dev_major: 0,
                dev_minor: 0,
                spare2: [0; 14],
            },
        }
    }
}

/// The answer to OPEN and OPENDIR: a handle the kernel passes back, and caching choices.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Open {
    pub fh: u64,
    /// `FOPEN_*` bits; see the builder methods.
    pub flags: u32,
}

impl Open {
    /// An open file with handle `fh` and no special caching.
    pub fn new(fh: u64) -> Self {
        Open { fh, flags: 0 }
    }

    /// Bypass the page cache for this open file.
    #[must_use]
    pub fn direct_io(mut self) -> Self {
        self.flags |= abi::fopen::DIRECT_IO;
        self
    }

    /// Keep the page cache from earlier opens (the data did not change behind the kernel).
    #[must_use]
    pub fn keep_cache(mut self) -> Self {
        self.flags |= abi::fopen::KEEP_CACHE;
        self
    }

    /// Cache directory contents (OPENDIR).
    #[must_use]
    pub fn cache_dir(mut self) -> Self {
        self.flags |= abi::fopen::CACHE_DIR;
        self
    }

    /// The file is a stream: no offsets, no seeking.
    #[must_use]
    pub fn nonseekable(mut self) -> Self {
        self.flags |= abi::fopen::NONSEEKABLE | abi::fopen::STREAM;
        self
    }

    pub(crate) fn to_abi(self) -> abi::OpenOut {
        abi::OpenOut {
            fh: self.fh,
            open_flags: self.flags,
            backing_id: 0,
        }
    }
}

/// The answer to CREATE and TMPFILE: the new entry and its open handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    pub entry: Entry,
    pub open: Open,
}

/// The answer to STATFS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statfs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

impl Statfs {
    pub(crate) fn to_abi(self) -> abi::StatfsOut {
        abi::StatfsOut {
            st: abi::Kstatfs {
                blocks: self.blocks,
                bfree: self.bfree,
                bavail: self.bavail,
                files: self.files,
                ffree: self.ffree,
                bsize: self.bsize,
                namelen: self.namelen,
                frsize: self.frsize,
                padding: 0,
                spare: [0; 6],
            },
        }
    }
}

/// The answer to IOCTL: the result code and the bytes copied out to the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ioctl {
    pub result: i32,
    pub data: bytes::Bytes,
}
