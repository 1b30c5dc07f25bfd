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
    /// The directory to search.
    pub parent: u64,
    /// One path component: no `/`, not empty, at most [`NAME_MAX`](crate::decode::NAME_MAX) bytes.
    pub name: &'a OsStr,
}

/// One (inode, count) pair of FORGET or BATCH_FORGET.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forget {
    /// The inode whose lookup count drops.
    pub ino: u64,
    /// By how much: the sum of the lookups (see [`crate::Filesystem`]) the kernel no longer holds.
    /// At 0 the kernel has no reference left, and an unlinked inode can go.
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
    /// The inode whose attributes are asked for.
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
    /// The inode to change.
    pub ino: u64,
    /// The open file a truncate came through (`ftruncate`, `O_TRUNC`), when there is one.
    pub fh: Option<u64>,
    /// The new `st_mode` (chmod): the file type bits as they are, new permission bits.
    pub mode: Option<u32>,
    /// The new owner (chown).
    pub uid: Option<u32>,
    /// The new group (chown).
    pub gid: Option<u32>,
    /// The new length in bytes (truncate); a file that grows reads as zeros past its old end.
    pub size: Option<u64>,
    /// The new access time (utimensat).
    pub atime: Option<TimeOrNow>,
    /// The new modification time (utimensat).
    pub mtime: Option<TimeOrNow>,
    /// The new change time. Only the kernel sets one, and only with WRITEBACK_CACHE, where it keeps
    /// the times of dirty files itself.
    pub ctime: Option<SystemTime>,
    /// With `size`: the kernel's id of the truncating process's lock owner (its file table), for
    /// filesystems that check truncation against POSIX locks.
    pub lock_owner: Option<u64>,
    /// `FATTR_KILL_SUIDGID`: clear setuid/setgid (with HANDLE_KILLPRIV_V2).
    pub kill_suidgid: bool,
}

/// READLINK.
#[derive(Debug, Clone, Copy)]
pub struct Readlink {
    /// The symlink to read.
    pub ino: u64,
}

/// SYMLINK: create `name` in `parent` pointing at `target`.
#[derive(Debug, Clone, Copy)]
pub struct Symlink<'a> {
    /// The directory to create the link in.
    pub parent: u64,
    /// The link's name ([`NAME_MAX`](crate::decode::NAME_MAX) bytes at most).
    pub name: &'a OsStr,
    /// What the link points at, to store as given: it is not resolved and need not exist
    /// ([`TARGET_MAX`](crate::decode::TARGET_MAX) bytes at most).
    pub target: &'a OsStr,
}

/// MKNOD.
#[derive(Debug, Clone, Copy)]
pub struct Mknod<'a> {
    /// The directory to create the node in.
    pub parent: u64,
    /// The new node's name ([`NAME_MAX`](crate::decode::NAME_MAX) bytes at most).
    pub name: &'a OsStr,
    /// File type (`S_IFREG`, `S_IFCHR`, `S_IFBLK`, `S_IFIFO`, `S_IFSOCK`) and permission bits.
    pub mode: u32,
    /// The device number of a character or block device, in the kernel's 32-bit encoding (the one
    /// [`FileAttr::rdev`](crate::reply::FileAttr::rdev) reports back); 0 for other types.
    pub rdev: u32,
    /// The caller's umask. The kernel has already cleared these bits in `mode` unless DONT_MASK
    /// is in force ([`Config::posix_acl`](crate::Config::posix_acl)); then the filesystem
    /// applies it, except where a default ACL is inherited.
    pub umask: u32,
}

/// MKDIR.
#[derive(Debug, Clone, Copy)]
pub struct Mkdir<'a> {
    /// The directory to create the directory in.
    pub parent: u64,
    /// The new directory's name ([`NAME_MAX`](crate::decode::NAME_MAX) bytes at most).
    pub name: &'a OsStr,
    /// Permission bits and `S_ISVTX`, without the type bits (the answer's mode carries `S_IFDIR`).
    pub mode: u32,
    /// The caller's umask. The kernel has already cleared these bits in `mode` unless DONT_MASK
    /// is in force ([`Config::posix_acl`](crate::Config::posix_acl)); then the filesystem
    /// applies it, except where a default ACL is inherited.
    pub umask: u32,
}

/// UNLINK or RMDIR.
#[derive(Debug, Clone, Copy)]
pub struct Unlink<'a> {
    /// The directory holding the name.
    pub parent: u64,
    /// The name to remove; the inode lives on while it has links or lookups.
    pub name: &'a OsStr,
}

/// RENAME and RENAME2.
#[derive(Debug, Clone, Copy)]
pub struct Rename<'a> {
    /// The directory holding `name`.
    pub parent: u64,
    /// The name to move.
    pub name: &'a OsStr,
    /// The directory to move it into (may be `parent`).
    pub newparent: u64,
    /// Its new name; an existing one is replaced, unless `flags` say otherwise.
    pub newname: &'a OsStr,
    /// `RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT`; 0 for plain RENAME.
    pub flags: u32,
}

/// LINK: a new name `newname` in `newparent` for `ino`.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    /// The existing inode to give another name (never a directory).
    pub ino: u64,
    /// The directory to add the name to.
    pub newparent: u64,
    /// The new name ([`NAME_MAX`](crate::decode::NAME_MAX) bytes at most).
    pub newname: &'a OsStr,
}

/// OPEN or OPENDIR.
#[derive(Debug, Clone, Copy)]
pub struct Open {
    /// The file (OPEN) or directory (OPENDIR) to open.
    pub ino: u64,
    /// The `open(2)` flags (`O_RDONLY`, `O_TRUNC`, ...).
    pub flags: i32,
    /// `FUSE_OPEN_KILL_SUIDGID` (with HANDLE_KILLPRIV_V2): an `O_TRUNC` open by a caller without
    /// `CAP_FSETID`; clear setuid, and setgid if group-executable, as the truncation happens.
    pub kill_suidgid: bool,
}

/// READ.
#[derive(Debug, Clone, Copy)]
pub struct Read {
    /// The file to read.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The byte offset to read from.
    pub offset: u64,
    /// The most bytes to return (never more than the negotiated pages allow).
    pub size: u32,
    /// The open file's `open(2)` flags as they are now (`O_APPEND`, `O_DIRECT`, `O_NONBLOCK`, ...;
    /// `fcntl(F_SETFL)` changes some of them).
    pub flags: i32,
    /// The kernel's id of the caller's lock owner (its file table), when the kernel sends one:
    /// for filesystems that check I/O against POSIX locks. Only direct I/O carries it, not I/O
    /// of the page cache.
    pub lock_owner: Option<u64>,
}

/// WRITE.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// The file to write.
    pub ino: u64,
    /// The handle `open` returned. A write from the page cache (`from_cache`) carries a handle of
    /// the file the kernel picked among those open for writing, not necessarily the writer's.
    pub fh: u64,
    /// The byte offset to write at (with `O_APPEND`, the end of the file as the kernel knows it).
    pub offset: u64,
    /// The bytes to write: at most [`InitInfo::max_write`](crate::InitInfo::max_write).
    pub data: &'a [u8],
    /// `FUSE_WRITE_*` bits.
    pub write_flags: u32,
    /// The open file's `open(2)` flags as they are now, as for [`Read::flags`].
    pub flags: i32,
    /// The kernel's id of the caller's lock owner (its file table), when the kernel sends one:
    /// for filesystems that check I/O against POSIX locks. Only direct I/O carries it, not I/O
    /// of the page cache.
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
    /// The inode of the path `statfs(2)` was called on.
    pub ino: u64,
}

/// RELEASE or RELEASEDIR.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    /// The file or directory being closed.
    pub ino: u64,
    /// The handle `open` (or `opendir`) returned; the kernel never uses it again.
    pub fh: u64,
    /// The `open(2)` flags of the open file.
    pub flags: i32,
    /// With `flock_unlock`: the lock owner whose flock locks this release drops (the open file, as
    /// in its [`Setlk::owner`]).
    pub lock_owner: Option<u64>,
    /// Flush as well (the kernel skipped FLUSH).
    pub flush: bool,
    /// Release the flock held through this open file.
    pub flock_unlock: bool,
}

/// FSYNC or FSYNCDIR.
#[derive(Debug, Clone, Copy)]
pub struct Fsync {
    /// The file (FSYNC) or directory (FSYNCDIR) to sync.
    pub ino: u64,
    /// The handle `open` (or `opendir`) returned.
    pub fh: u64,
    /// `fdatasync`: only the data and the metadata needed to read it back.
    pub datasync: bool,
}

/// SETXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Setxattr<'a> {
    /// The inode whose extended attributes are meant.
    pub ino: u64,
    /// The attribute's name with its namespace (`user.`, `trusted.`, `security.`, `system.`).
    pub name: &'a OsStr,
    /// The new value; it may be empty.
    pub value: &'a [u8],
    /// `XATTR_CREATE` or `XATTR_REPLACE`.
    pub flags: i32,
    /// `FUSE_SETXATTR_ACL_KILL_SGID` (only with SETXATTR_EXT).
    pub setxattr_flags: u32,
}

/// GETXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Getxattr<'a> {
    /// The inode whose extended attributes are meant.
    pub ino: u64,
    /// The attribute's name with its namespace (`user.`, `trusted.`, `security.`, `system.`).
    pub name: &'a OsStr,
    /// The caller's buffer size; 0 asks for the size only. The library applies it.
    pub size: u32,
}

/// LISTXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Listxattr {
    /// The inode whose extended attributes are meant.
    pub ino: u64,
    /// The caller's buffer size; 0 asks for the size only. The library applies it.
    pub size: u32,
}

/// REMOVEXATTR.
#[derive(Debug, Clone, Copy)]
pub struct Removexattr<'a> {
    /// The inode whose extended attributes are meant.
    pub ino: u64,
    /// The attribute's name with its namespace.
    pub name: &'a OsStr,
}

/// FLUSH: called on every `close(2)` of a file descriptor.
#[derive(Debug, Clone, Copy)]
pub struct Flush {
    /// The file being closed.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The kernel's id of the closing process's lock owner (its file table): close(2) drops that
    /// owner's POSIX locks on the file, so a filesystem that keeps them drops them here.
    pub lock_owner: u64,
}

/// READDIR or READDIRPLUS.
#[derive(Debug, Clone, Copy)]
pub struct Readdir {
    /// The directory to list.
    pub ino: u64,
    /// The handle `opendir` returned.
    pub fh: u64,
    /// The offset of the last entry returned so far (0 at the start).
    pub offset: u64,
    /// The kernel's buffer size in bytes; the entry buffer already refuses what does not fit.
    pub size: u32,
}

/// A byte-range or whole-file lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    /// The first byte of the range (0 for a flock, which covers the whole file).
    pub start: u64,
    /// The last byte, inclusive. `i64::MAX` (the kernel's `OFFSET_MAX`) means to the end of the
    /// file; the kernel answers EIO to a GETLK answer whose range passes it.
    pub end: u64,
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub typ: i32,
    /// The thread group id of the process taking the lock, as the mount's PID namespace sees it
    /// (0 for unlocks and GETLK). A GETLK answer puts the holder's here: the caller sees it in
    /// `l_pid`.
    pub pid: u32,
}

/// GETLK.
#[derive(Debug, Clone, Copy)]
pub struct Getlk {
    /// The file to test.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The kernel's id of the lock owner: the file table (process) for POSIX locks, the open file
    /// for OFD locks. An owner's own locks never conflict with it.
    pub owner: u64,
    /// The lock the caller would like to take.
    pub lock: Lock,
}

/// SETLK or SETLKW.
#[derive(Debug, Clone, Copy)]
pub struct Setlk {
    /// The file to lock.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The kernel's id of the lock owner: the file table (process) for POSIX locks, the open file
    /// for OFD and flock locks. An owner's new lock replaces its own over the same range.
    pub owner: u64,
    /// The range and type to take, or `F_UNLCK` to release the range.
    pub lock: Lock,
    /// SETLKW: wait for the lock. Select on [`crate::Request::interrupted`] while waiting.
    pub sleep: bool,
    /// A `flock(2)` lock rather than a POSIX record lock.
    pub flock: bool,
}

/// ACCESS.
#[derive(Debug, Clone, Copy)]
pub struct Access {
    /// The inode to check.
    pub ino: u64,
    /// `R_OK | W_OK | X_OK`, or `F_OK`.
    pub mask: i32,
}

/// CREATE: create and open `name` in `parent`.
#[derive(Debug, Clone, Copy)]
pub struct Create<'a> {
    /// The directory to create the file in.
    pub parent: u64,
    /// The new file's name ([`NAME_MAX`](crate::decode::NAME_MAX) bytes at most).
    pub name: &'a OsStr,
    /// `S_IFREG` and the permission bits.
    pub mode: u32,
    /// The caller's umask. The kernel has already cleared these bits in `mode` unless DONT_MASK
    /// is in force ([`Config::posix_acl`](crate::Config::posix_acl)); then the filesystem
    /// applies it, except where a default ACL is inherited.
    pub umask: u32,
    /// The `open(2)` flags of the open that creates the file (`O_CREAT` among them).
    pub flags: i32,
    /// As for [`Open::kill_suidgid`].
    pub kill_suidgid: bool,
}

/// TMPFILE: create an unnamed file in `parent` and open it.
#[derive(Debug, Clone, Copy)]
pub struct Tmpfile {
    /// The directory the file is made in (it decides the filesystem and a default ACL); the file
    /// gets no name there.
    pub parent: u64,
    /// `S_IFREG` and the permission bits.
    pub mode: u32,
    /// The caller's umask. The kernel has already cleared these bits in `mode` unless DONT_MASK
    /// is in force ([`Config::posix_acl`](crate::Config::posix_acl)); then the filesystem
    /// applies it, except where a default ACL is inherited.
    pub umask: u32,
    /// The `open(2)` flags (`O_TMPFILE` among them).
    pub flags: i32,
}

/// BMAP.
#[derive(Debug, Clone, Copy)]
pub struct Bmap {
    /// The file whose block to map.
    pub ino: u64,
    /// The block within the file, counted in `blocksize` units.
    pub block: u64,
    /// The block size in bytes the caller counts in.
    pub blocksize: u32,
}

/// IOCTL (restricted: the library never asks the kernel to retry with other buffers).
#[derive(Debug, Clone, Copy)]
pub struct Ioctl<'a> {
    /// The file the ioctl is on.
    pub ino: u64,
    /// The handle `open` (or `opendir`) returned.
    pub fh: u64,
    /// `FUSE_IOCTL_*` bits: `COMPAT` or `32BIT` for a 32-bit caller, `DIR` on a directory.
    pub flags: u32,
    /// The ioctl request number; its `_IOC` bits give the direction and the argument size.
    pub cmd: u32,
    /// The caller's argument as a number: for an `_IOW`/`_IOR` ioctl the address of its buffer in
    /// the caller, which is of no use here.
    pub arg: u64,
    /// For `_IOW`: the `_IOC_SIZE(cmd)` bytes the kernel copied from the caller's buffer.
    pub in_data: &'a [u8],
    /// For `_IOR`: how many bytes the caller's buffer takes back; longer answers are cut there.
    pub out_size: u32,
}

/// POLL.
#[derive(Debug, Clone, Copy)]
pub struct Poll {
    /// The file polled.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The handle to wake with a poll notification, when the kernel asks for one.
    pub kh: Option<u64>,
    /// The `POLL*` events the caller waits for (`POLLIN`, `POLLOUT`, ...).
    pub events: u32,
}

/// FALLOCATE.
#[derive(Debug, Clone, Copy)]
pub struct Fallocate {
    /// The file whose space to change.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The start of the range, in bytes.
    pub offset: u64,
    /// The length of the range, in bytes.
    pub length: u64,
    /// `FALLOC_FL_*`.
    pub mode: i32,
}

/// LSEEK (only `SEEK_DATA` and `SEEK_HOLE` reach the filesystem in practice).
#[derive(Debug, Clone, Copy)]
pub struct Lseek {
    /// The file to search.
    pub ino: u64,
    /// The handle `open` returned for this open file.
    pub fh: u64,
    /// The byte offset to search from.
    pub offset: i64,
    /// `SEEK_DATA` or `SEEK_HOLE`.
    pub whence: i32,
}

/// COPY_FILE_RANGE (and its 64-bit form).
#[derive(Debug, Clone, Copy)]
pub struct CopyFileRange {
    /// The file to copy from.
    pub ino_in: u64,
    /// The handle `open` returned for the source.
    pub fh_in: u64,
    /// The byte offset to read from.
    pub offset_in: u64,
    /// The file to copy to (may be the source).
    pub ino_out: u64,
    /// The handle `open` returned for the destination.
    pub fh_out: u64,
    /// The byte offset to write at.
    pub offset_out: u64,
    /// The most bytes to copy; copying fewer is fine (the caller goes on with the rest).
    pub len: u64,
    /// The `copy_file_range(2)` flags; 0, as the system call takes none yet.
    pub flags: u64,
}

/// SYNCFS.
#[derive(Debug, Clone, Copy)]
pub struct Syncfs {
    /// The root inode: the whole filesystem is meant.
    pub ino: u64,
}

/// STATX.
#[derive(Debug, Clone, Copy)]
pub struct Statx {
    /// The inode whose attributes are asked for.
    pub ino: u64,
    /// The open file, when the caller gave a descriptor (`statx` with `AT_EMPTY_PATH`).
    pub fh: Option<u64>,
    /// `AT_STATX_*` sync flags.
    pub flags: u32,
    /// The `STATX_*` fields asked for.
    pub mask: u32,
}
