//! Typed replies: each operation returns its own type, so a filesystem cannot answer with the
//! wrong shape. The session turns them into wire structs.

mod dir;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use dir::{DirEntries, DirEntriesPlus, FileType};

use crate::abi;

/// A point in time as the kernel sees it: seconds since the epoch (may be negative) and nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timespec {
    /// Seconds since the Unix epoch; negative before 1970.
    pub sec: i64,
    /// Nanoseconds added to `sec` (also when `sec` is negative), below 1_000_000_000.
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
    /// The inode number: `st_ino`, and in an [`Entry`] the node id the kernel names the inode by
    /// in later requests.
    pub ino: u64,
    /// The length in bytes.
    pub size: u64,
    /// 512-byte blocks allocated.
    pub blocks: u64,
    /// Last access.
    pub atime: Timespec,
    /// Last change of the contents.
    pub mtime: Timespec,
    /// Last change of the inode: contents, attributes or links.
    pub ctime: Timespec,
    /// Creation time, reported by STATX only.
    pub btime: Option<Timespec>,
    /// File type and permission bits, as in `st_mode`.
    pub mode: u32,
    /// The number of names (`st_nlink`); by convention a directory has 2 plus one per subdirectory.
    pub nlink: u32,
    /// The owner; with `default_permissions` the kernel checks access against it.
    pub uid: u32,
    /// The group; with `default_permissions` the kernel checks access against it.
    pub gid: u32,
    /// The device number of a character or block device, in the kernel's 32-bit encoding (as
    /// [`Mknod::rdev`](crate::op::Mknod::rdev) brings it); 0 otherwise.
    pub rdev: u32,
    /// The preferred I/O size in bytes (`st_blksize`), a power of two; 0 leaves it to the kernel.
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
    /// The inode's attributes; `attr.ino` is its node id from now on.
    pub attr: FileAttr,
    /// Must differ between inodes that reuse a number over the filesystem's lifetime.
    pub generation: u64,
    /// How long the kernel may use the name without asking again.
    pub entry_ttl: Duration,
    /// How long the kernel may use the attributes without asking again.
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
    /// The attributes (after the change, for SETATTR).
    pub attr: FileAttr,
    /// How long the kernel may use them without asking again.
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
    /// The attributes; its `btime` is reported here only.
    pub attr: FileAttr,
    /// How long the kernel may use them without asking again.
    pub ttl: Duration,
    /// `STATX_ATTR_*` bits and which of them the filesystem supports.
    pub attributes: u64,
    /// The `STATX_ATTR_*` bits the filesystem supports, whether set or not.
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
    /// A handle of your choosing: the kernel passes it back in every request on this open file
    /// until `release`. The library does not look at it.
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
    /// The new file's entry; it counts as a lookup.
    pub entry: Entry,
    /// The open file the caller's `open(2)` gets.
    pub open: Open,
}

/// The answer to STATFS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Statfs {
    /// Total data blocks, in `frsize` units.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks an unprivileged user may use.
    pub bavail: u64,
    /// Total inodes.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// The preferred I/O size in bytes.
    pub bsize: u32,
    /// The longest name, in bytes (255 here: the kernel refuses longer ones anyway).
    pub namelen: u32,
    /// The unit of `blocks`, `bfree` and `bavail`, in bytes; 0 means `bsize`.
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
    /// What the caller's `ioctl(2)` returns (errors go through `Err` instead).
    pub result: i32,
    /// For `_IOR`: the bytes copied to the caller's buffer, cut to
    /// [`out_size`](crate::op::Ioctl::out_size).
    pub data: bytes::Bytes,
}
