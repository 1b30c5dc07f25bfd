//! One plain struct per operation: the decoded arguments a filesystem method receives.
//!
//! Fields are public and borrowed from the request buffer where they are byte strings.
//! Adding a field to one of these never changes a method signature.

use std::ffi::OsStr;
use std::time::SystemTime;

use crate::abi;

/// LOOKUP: find `name` in directory `parent`.
#[derive(Debug, Clone, Copy)]
pub struct Lookup<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
}

/// One (inode, count) pair of FORGET or BATCH_FORGET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forget {
    pub ino: u64,
    pub nlookup: u64,
}

/// The pairs of a BATCH_FORGET, decoded lazily from the request bytes.
#[derive(Debug, Clone, Copy)]
pub struct ForgetList<'a> {
    pub(crate) bytes: &'a [u8],
}

impl<'a> ForgetList<'a> {
    /// How many pairs the list holds.
    pub fn len(&self) -> usize {
        self.bytes.len() / size_of::<abi::ForgetOne>()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = Forget> + 'a {
        use zerocopy::FromBytes;
        self.bytes
            .chunks_exact(size_of::<abi::ForgetOne>())
            .filter_map(|chunk| {
                abi::ForgetOne::read_from_bytes(chunk)
                    .ok()
                    .map(|one| Forget {
                        ino: one.nodeid,
                        nlookup: one.nlookup,
                    })
            })
    }
}

/// GETATTR.
#[derive(Debug, Clone, Copy)]
pub struct Getattr {
    pub ino: u64,
    /// The open file the attributes are asked through, when the caller used an fd (fstat).
    pub fh: Option<u64>,
}

/// A time to set: a given instant, or "now" as seen by the filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeOrNow {
    /// `UTIME_NOW`: the filesystem's clock.
    Now,
    /// An explicit time.
    At(SystemTime),
}

/// SETATTR: only the attributes that are `Some` change.
#[derive(Debug, Clone, Copy)]
pub struct Setattr {
    pub ino: u64,
    pub fh: Option<u64>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
    pub ctime: Option<SystemTime>,
    pub lock_owner: Option<u64>,
    /// `FATTR_KILL_SUIDGID`: clear setuid/setgid (with HANDLE_KILLPRIV_V2).
    pub kill_suidgid: bool,
}

/// READLINK.
#[derive(Debug, Clone, Copy)]
pub struct Readlink {
    pub ino: u64,
}

/// SYMLINK: create `name` in `parent` pointing at `target`.
#[derive(Debug, Clone, Copy)]
pub struct Symlink<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
    pub target: &'a OsStr,
}

/// MKNOD.
#[derive(Debug, Clone, Copy)]
pub struct Mknod<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
    pub mode: u32,
    pub rdev: u32,
    pub umask: u32,
}

/// MKDIR.
#[derive(Debug, Clone, Copy)]
pub struct Mkdir<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
    pub mode: u32,
    pub umask: u32,
}

/// UNLINK or RMDIR.
#[derive(Debug, Clone, Copy)]
pub struct Unlink<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
}

/// RENAME and RENAME2.
#[derive(Debug, Clone, Copy)]
pub struct Rename<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
    pub newparent: u64,
    pub newname: &'a OsStr,
    /// `RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`; 0 for plain RENAME.
    pub flags: u32,
}

/// LINK: a new name `newname` in `newparent` for `ino`.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub ino: u64,
    pub newparent: u64,
    pub newname: &'a OsStr,
}

/// OPEN or OPENDIR.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    pub ino: u64,
    /// The `open(2)` flags (`O_RDONLY`, `O_TRUNC`, ...).
    pub flags: i32,
    /// `FUSE_OPEN_KILL_SUIDGID`.
    pub kill_suidgid: bool,
}

/// READ.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    pub ino: u64,
    pub fh: u64,
    pub offset: u64,
    pub size: u32,
    pub flags: i32,
    pub lock_owner: Option<u64>,
}

/// WRITE.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    pub ino: u64,
    pub fh: u64,
    pub offset: u64,
    pub data: &'a [u8],
    /// `FUSE_WRITE_*` bits.
    pub write_flags: u32,
    pub flags: i32,
    pub lock_owner: Option<u64>,
}

impl Write<'_> {
    /// Whether the page cache writes this (writeback); no user process waits for it.
    pub fn from_cache(&self) -> bool {
        self.write_flags & abi::flags::WRITE_CACHE != 0
    }

    /// Whether the writer asks to clear setuid/setgid (HANDLE_KILLPRIV_V2).
    pub fn kill_suidgid(&self) -> bool {
        self.write_flags & abi::flags::WRITE_KILL_SUIDGID != 0
    }
}

/// STATFS.
#[derive(Debug, Clone, Copy)]
pub struct Statfs {
    pub ino: u64,
}

/// RELEASE or RELEASEDIR.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub ino: u64,
    pub fh: u64,
    pub flags: i32,
    pub lock_owner: Option<u64>,
    /// Flush as well (the kernel skipped FLUSH).
    pub flush: bool,
    /// Release the flock held through this open file.
    pub flock_unlock: bool,
}

/// FSYNC or FSYNCDIR.
#[derive(Debug, Clone, Copy)]
pub struct Fsync {
    pub ino: u64,
    pub fh: u64,
    /// `fdatasync`: only the data and the metadata needed to read it back.
    pub datasync: bool,
}

/// SETXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Setxattr<'a> {
    pub ino: u64,
    pub name: &'a OsStr,
    pub value: &'a [u8],
    /// `XATTR_CREATE` or `XATTR_REPLACE`.
    pub flags: i32,
    /// `FUSE_SETXATTR_ACL_KILL_SGID` (only with SETXATTR_EXT).
    pub setxattr_flags: u32,
}

/// GETXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Getxattr<'a> {
    pub ino: u64,
    pub name: &'a OsStr,
    /// The caller's buffer size; 0 asks for the size only. The library applies it.
    pub size: u32,
}

/// LISTXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Listxattr {
    pub ino: u64,
    /// The caller's buffer size; 0 asks for the size only. The library applies it.
    pub size: u32,
}

/// REMOVEXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Removexattr<'a> {
    pub ino: u64,
    pub name: &'a OsStr,
}

/// FLUSH: called on every `close(2)` of a file descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Flush {
    pub ino: u64,
    pub fh: u64,
    pub lock_owner: u64,
}

/// READDIR or READDIRPLUS.
#[derive(Debug, Clone, Copy)]
pub struct Readdir {
    pub ino: u64,
    pub fh: u64,
    /// The offset of the last entry returned so far (0 at the start).
    pub offset: u64,
    pub size: u32,
}

/// A byte-range or whole-file lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub start: u64,
    /// The last byte, inclusive (`u64::MAX` = to the end of the file).
    pub end: u64,
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub typ: i32,
    pub pid: u32,
}

/// GETLK.
#[derive(Debug, Clone, Copy)]
pub struct Getlk {
    pub ino: u64,
    pub fh: u64,
    pub owner: u64,
    pub lock: Lock,
}

/// SETLK or SETLKW.
#[derive(Debug, Clone, Copy)]
pub struct Setlk {
    pub ino: u64,
    pub fh: u64,
    pub owner: u64,
    pub lock: Lock,
    /// SETLKW: wait for the lock. Select on [`crate::Request::interrupted`] while waiting.
    pub sleep: bool,
    /// A `flock(2)` lock rather than a POSIX record lock.
    pub flock: bool,
}

/// ACCESS.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    pub ino: u64,
    /// `R_OK | W_OK | X_OK`, or `F_OK`.
    pub mask: i32,
}

/// CREATE: create and open `name` in `parent`.
#[derive(Debug, Clone, Copy)]
pub struct Create<'a> {
    pub parent: u64,
    pub name: &'a OsStr,
    pub mode: u32,
    pub umask: u32,
    pub flags: i32,
    pub kill_suidgid: bool,
}

/// TMPFILE: create an unnamed file in `parent` and open it.
#[derive(Debug, Clone, Copy)]
pub struct Tmpfile {
    pub parent: u64,
    pub mode: u32,
    pub umask: u32,
    pub flags: i32,
}

/// BMAP.
#[derive(Debug, Clone, Copy)]
pub struct Bmap {
    pub ino: u64,
    pub block: u64,
    pub blocksize: u32,
}

/// IOCTL (restricted: the library never asks the kernel to retry with other buffers).
#[derive(Debug, Clone, Copy)]
pub struct Ioctl<'a> {
    pub ino: u64,
    pub fh: u64,
    pub flags: u32,
    pub cmd: u32,
    pub arg: u64,
    pub in_data: &'a [u8],
    pub out_size: u32,
}

/// POLL.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    pub ino: u64,
    pub fh: u64,
    /// The handle to wake with a poll notification, when the kernel asks for one.
    pub kh: Option<u64>,
    pub events: u32,
}

/// FALLOCATE.
#[derive(Debug, Clone, Copy)]
pub struct Fallocate {
    pub ino: u64,
    pub fh: u64,
    pub offset: u64,
    pub length: u64,
    /// `FALLOC_FL_*`.
    pub mode: i32,
}

/// LSEEK (only `SEEK_DATA` and `SEEK_HOLE` reach the filesystem in practice).
#[derive(Debug, Clone, Copy)]
pub struct Lseek {
    pub ino: u64,
    pub fh: u64,
    pub offset: i64,
    pub whence: i32,
}

/// COPY_FILE_RANGE (and its 64-bit form).
#[derive(Debug, Clone, Copy)]
pub struct CopyFileRange {
    pub ino_in: u64,
    pub fh_in: u64,
    pub offset_in: u64,
    pub ino_out: u64,
    pub fh_out: u64,
    pub offset_out: u64,
    pub len: u64,
    pub flags: u64,
}

/// SYNCFS.
#[derive(Debug, Clone, Copy)]
pub struct Syncfs {
    pub ino: u64,
}

/// STATX.
#[derive(Debug, Clone, Copy)]
pub struct Statx {
    pub ino: u64,
    pub fh: Option<u64>,
    /// `AT_STATX_*` sync flags.
    pub flags: u32,
    /// The `STATX_*` fields asked for.
    pub mask: u32,
}
