//! The kernel's FUSE wire format (`include/uapi/linux/fuse.h`, ABI 7.45).
//!
//! Every struct derives zerocopy's traits, so requests are decoded by copying bytes into a
//! struct (never by casting a pointer into the read buffer) and replies are encoded by viewing
//! a struct as bytes. The layouts have explicit padding, which `IntoBytes` checks at compile time.

use zerocopy::{FromBytes, Immutable, IntoBytes};

/// The major protocol version we speak.
pub const KERNEL_VERSION: u32 = 7;
/// The newest minor version we know; INIT settles on the smaller of this and the kernel's.
pub const KERNEL_MINOR_VERSION: u32 = 45;
/// The oldest minor version we accept (Linux 2.6.31): every struct below has its full size there.
pub const MIN_KERNEL_MINOR_VERSION: u32 = 12;
/// The node ID of the root inode.
pub const ROOT_ID: u64 = 1;
/// Marks a request the kernel sent again after `FUSE_NOTIFY_RESEND`.
pub const UNIQUE_RESEND: u64 = 1 << 63;

/// Request opcodes.
#[allow(missing_docs)]
pub mod opcode {
    pub const LOOKUP: u32 = 1;
    pub const FORGET: u32 = 2;
    pub const GETATTR: u32 = 3;
    pub const SETATTR: u32 = 4;
    pub const READLINK: u32 = 5;
    pub const SYMLINK: u32 = 6;
    pub const MKNOD: u32 = 8;
    pub const MKDIR: u32 = 9;
    pub const UNLINK: u32 = 10;
    pub const RMDIR: u32 = 11;
    pub const RENAME: u32 = 12;
    pub const LINK: u32 = 13;
    pub const OPEN: u32 = 14;
    pub const READ: u32 = 15;
    pub const WRITE: u32 = 16;
    pub const STATFS: u32 = 17;
    pub const RELEASE: u32 = 18;
    pub const FSYNC: u32 = 20;
    pub const SETXATTR: u32 = 21;
    pub const GETXATTR: u32 = 22;
    pub const LISTXATTR: u32 = 23;
    pub const REMOVEXATTR: u32 = 24;
    pub const FLUSH: u32 = 25;
    pub const INIT: u32 = 26;
    pub const OPENDIR: u32 = 27;
    pub const READDIR: u32 = 28;
    pub const RELEASEDIR: u32 = 29;
    pub const FSYNCDIR: u32 = 30;
    pub const GETLK: u32 = 31;
    pub const SETLK: u32 = 32;
    pub const SETLKW: u32 = 33;
    pub const ACCESS: u32 = 34;
    pub const CREATE: u32 = 35;
    pub const INTERRUPT: u32 = 36;
    pub const BMAP: u32 = 37;
    pub const DESTROY: u32 = 38;
    pub const IOCTL: u32 = 39;
    pub const POLL: u32 = 40;
    pub const NOTIFY_REPLY: u32 = 41;
    pub const BATCH_FORGET: u32 = 42;
    pub const FALLOCATE: u32 = 43;
    pub const READDIRPLUS: u32 = 44;
    pub const RENAME2: u32 = 45;
    pub const LSEEK: u32 = 46;
    pub const COPY_FILE_RANGE: u32 = 47;
    pub const SETUPMAPPING: u32 = 48;
    pub const REMOVEMAPPING: u32 = 49;
    pub const SYNCFS: u32 = 50;
    pub const TMPFILE: u32 = 51;
    pub const STATX: u32 = 52;
    pub const COPY_FILE_RANGE_64: u32 = 53;
    pub const CUSE_INIT: u32 = 4096;
}

/// Notification codes, sent in `fuse_out_header::error` with `unique == 0`.
#[allow(missing_docs)]
pub mod notify_code {
    pub const POLL: i32 = 1;
    pub const INVAL_INODE: i32 = 2;
    pub const INVAL_ENTRY: i32 = 3;
    pub const STORE: i32 = 4;
    pub const RETRIEVE: i32 = 5;
    pub const DELETE: i32 = 6;
}

/// INIT flags, 64 bits: the low half travels in `flags`, the high half in `flags2`.
#[allow(missing_docs)]
pub mod init_flags {
    pub const ASYNC_READ: u64 = 1 << 0;
    pub const POSIX_LOCKS: u64 = 1 << 1;
    pub const FILE_OPS: u64 = 1 << 2;
    pub const ATOMIC_O_TRUNC: u64 = 1 << 3;
    pub const EXPORT_SUPPORT: u64 = 1 << 4;
    pub const BIG_WRITES: u64 = 1 << 5;
    pub const DONT_MASK: u64 = 1 << 6;
    pub const SPLICE_WRITE: u64 = 1 << 7;
    pub const SPLICE_MOVE: u64 = 1 << 8;
    pub const SPLICE_READ: u64 = 1 << 9;
    pub const FLOCK_LOCKS: u64 = 1 << 10;
    pub const HAS_IOCTL_DIR: u64 = 1 << 11;
    pub const AUTO_INVAL_DATA: u64 = 1 << 12;
    pub const DO_READDIRPLUS: u64 = 1 << 13;
    pub const READDIRPLUS_AUTO: u64 = 1 << 14;
    pub const ASYNC_DIO: u64 = 1 << 15;
    pub const WRITEBACK_CACHE: u64 = 1 << 16;
    pub const NO_OPEN_SUPPORT: u64 = 1 << 17;
    pub const PARALLEL_DIROPS: u64 = 1 << 18;
    pub const HANDLE_KILLPRIV: u64 = 1 << 19;
    pub const POSIX_ACL: u64 = 1 << 20;
    pub const ABORT_ERROR: u64 = 1 << 21;
    pub const MAX_PAGES: u64 = 1 << 22;
    pub const CACHE_SYMLINKS: u64 = 1 << 23;
    pub const NO_OPENDIR_SUPPORT: u64 = 1 << 24;
    pub const EXPLICIT_INVAL_DATA: u64 = 1 << 25;
    pub const MAP_ALIGNMENT: u64 = 1 << 26;
    pub const SUBMOUNTS: u64 = 1 << 27;
    pub const HANDLE_KILLPRIV_V2: u64 = 1 << 28;
    pub const SETXATTR_EXT: u64 = 1 << 29;
    pub const INIT_EXT: u64 = 1 << 30;
    pub const INIT_RESERVED: u64 = 1 << 31;
    pub const SECURITY_CTX: u64 = 1 << 32;
    pub const HAS_INODE_DAX: u64 = 1 << 33;
    pub const CREATE_SUPP_GROUP: u64 = 1 << 34;
    pub const HAS_EXPIRE_ONLY: u64 = 1 << 35;
    pub const DIRECT_IO_ALLOW_MMAP: u64 = 1 << 36;
    pub const PASSTHROUGH: u64 = 1 << 37;
    pub const NO_EXPORT_SUPPORT: u64 = 1 << 38;
    pub const HAS_RESEND: u64 = 1 << 39;
    pub const ALLOW_IDMAP: u64 = 1 << 40;
    pub const OVER_IO_URING: u64 = 1 << 41;
    pub const REQUEST_TIMEOUT: u64 = 1 << 42;
}

/// `fuse_setattr_in::valid` bits.
#[allow(missing_docs)]
pub mod fattr {
    pub const MODE: u32 = 1 << 0;
    pub const UID: u32 = 1 << 1;
    pub const GID: u32 = 1 << 2;
    pub const SIZE: u32 = 1 << 3;
    pub const ATIME: u32 = 1 << 4;
    pub const MTIME: u32 = 1 << 5;
    pub const FH: u32 = 1 << 6;
    pub const ATIME_NOW: u32 = 1 << 7;
    pub const MTIME_NOW: u32 = 1 << 8;
    pub const LOCKOWNER: u32 = 1 << 9;
    pub const CTIME: u32 = 1 << 10;
    pub const KILL_SUIDGID: u32 = 1 << 11;
}

/// `fuse_open_out::open_flags` bits.
#[allow(missing_docs)]
pub mod fopen {
    pub const DIRECT_IO: u32 = 1 << 0;
    pub const KEEP_CACHE: u32 = 1 << 1;
    pub const NONSEEKABLE: u32 = 1 << 2;
    pub const CACHE_DIR: u32 = 1 << 3;
    pub const STREAM: u32 = 1 << 4;
    pub const NOFLUSH: u32 = 1 << 5;
    pub const PARALLEL_DIRECT_WRITES: u32 = 1 << 6;
    pub const PASSTHROUGH: u32 = 1 << 7;
}

/// Small flag words of individual requests.
#[allow(missing_docs)]
pub mod flags {
    pub const RELEASE_FLUSH: u32 = 1 << 0;
    pub const RELEASE_FLOCK_UNLOCK: u32 = 1 << 1;
    pub const GETATTR_FH: u32 = 1 << 0;
    pub const LK_FLOCK: u32 = 1 << 0;
    pub const WRITE_CACHE: u32 = 1 << 0;
    pub const WRITE_LOCKOWNER: u32 = 1 << 1;
    pub const WRITE_KILL_SUIDGID: u32 = 1 << 2;
    pub const READ_LOCKOWNER: u32 = 1 << 1;
    pub const IOCTL_COMPAT: u32 = 1 << 0;
    pub const IOCTL_UNRESTRICTED: u32 = 1 << 1;
    pub const IOCTL_RETRY: u32 = 1 << 2;
    pub const IOCTL_DIR: u32 = 1 << 4;
    pub const POLL_SCHEDULE_NOTIFY: u32 = 1 << 0;
    pub const FSYNC_FDATASYNC: u32 = 1 << 0;
    pub const OPEN_KILL_SUIDGID: u32 = 1 << 0;
    pub const SETXATTR_ACL_KILL_SGID: u32 = 1 << 0;
    pub const EXPIRE_ONLY: u32 = 1 << 0;
}

/// Extension type of the supplementary groups record (`FUSE_EXT_GROUPS`).
pub const EXT_GROUPS: u32 = 32;

/// Device ioctl numbers: `_IOR(229, 0, u32)` and friends.
pub mod ioctl {
    /// Binds a fresh `/dev/fuse` descriptor to an existing connection.
    pub const FUSE_DEV_IOC_CLONE: u64 = ior(229, 0, 4);

    const fn ior(ty: u64, nr: u64, size: u64) -> u64 {
        const IOC_READ: u64 = 2;
        (IOC_READ << 30) | (size << 16) | (ty << 8) | nr
    }
}

macro_rules! wire {
    ($(#[$meta:meta])* $name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[allow(missing_docs)]
        #[repr(C)]
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable)]
        pub struct $name { $(pub $field: $ty),* }
    };
}

wire!(
    /// `fuse_in_header`: starts every request.
    InHeader { len: u32, opcode: u32, unique: u64, nodeid: u64, uid: u32, gid: u32, pid: u32, total_extlen: u16, padding: u16 }
);
wire!(
    /// `fuse_out_header`: starts every reply and notification.
    OutHeader { len: u32, error: i32, unique: u64 }
);
wire!(
    /// `fuse_attr`.
    Attr {
        ino: u64, size: u64, blocks: u64, atime: u64, mtime: u64, ctime: u64,
        atimensec: u32, mtimensec: u32, ctimensec: u32, mode: u32, nlink: u32,
        uid: u32, gid: u32, rdev: u32, blksize: u32, flags: u32,
    }
);
wire!(
    /// `fuse_sx_time`.
    SxTime { tv_sec: i64, tv_nsec: u32, reserved: i32 }
);
wire!(
    /// `fuse_statx`.
    Statx {
        mask: u32, blksize: u32, attributes: u64, nlink: u32, uid: u32, gid: u32, mode: u16,
        spare0: u16, ino: u64, size: u64, blocks: u64, attributes_mask: u64,
        atime: SxTime, btime: SxTime, ctime: SxTime, mtime: SxTime,
        rdev_major: u32, rdev_minor: u32, dev_major: u32, dev_minor: u32, spare2: [u64; 14],
    }
);
wire!(
    /// `fuse_kstatfs`.
    Kstatfs {
        blocks: u64, bfree: u64, bavail: u64, files: u64, ffree: u64,
        bsize: u32, namelen: u32, frsize: u32, padding: u32, spare: [u32; 6],
    }
);
wire!(
    /// `fuse_file_lock`.
    FileLock { start: u64, end: u64, typ: u32, pid: u32 }
);
wire!(
    /// `fuse_entry_out`.
    EntryOut {
        nodeid: u64, generation: u64, entry_valid: u64, attr_valid: u64,
        entry_valid_nsec: u32, attr_valid_nsec: u32, attr: Attr,
    }
);
wire!(ForgetIn { nlookup: u64 });
wire!(ForgetOne {
    nodeid: u64,
    nlookup: u64
});
wire!(BatchForgetIn {
    count: u32,
    dummy: u32
});
wire!(GetattrIn {
    getattr_flags: u32,
    dummy: u32,
    fh: u64
});
wire!(AttrOut {
    attr_valid: u64,
    attr_valid_nsec: u32,
    dummy: u32,
    attr: Attr
});
wire!(StatxIn {
    getattr_flags: u32,
    reserved: u32,
    fh: u64,
    sx_flags: u32,
    sx_mask: u32
});
wire!(StatxOut {
    attr_valid: u64,
    attr_valid_nsec: u32,
    flags: u32,
    spare: [u64; 2],
    stat: Statx
});
wire!(MknodIn {
    mode: u32,
    rdev: u32,
    umask: u32,
    padding: u32
});
wire!(MkdirIn {
    mode: u32,
    umask: u32
});
wire!(RenameIn { newdir: u64 });
wire!(Rename2In {
    newdir: u64,
    flags: u32,
    padding: u32
});
wire!(LinkIn { oldnodeid: u64 });
wire!(
    /// `fuse_setattr_in`.
    SetattrIn {
        valid: u32, padding: u32, fh: u64, size: u64, lock_owner: u64, atime: u64, mtime: u64,
        ctime: u64, atimensec: u32, mtimensec: u32, ctimensec: u32, mode: u32, unused4: u32,
        uid: u32, gid: u32, unused5: u32,
    }
);
wire!(OpenIn {
    flags: u32,
    open_flags: u32
});
wire!(CreateIn {
    flags: u32,
    mode: u32,
    umask: u32,
    open_flags: u32
});
wire!(OpenOut {
    fh: u64,
    open_flags: u32,
    backing_id: i32
});
wire!(ReleaseIn {
    fh: u64,
    flags: u32,
    release_flags: u32,
    lock_owner: u64
});
wire!(FlushIn {
    fh: u64,
    unused: u32,
    padding: u32,
    lock_owner: u64
});
wire!(ReadIn {
    fh: u64,
    offset: u64,
    size: u32,
    read_flags: u32,
    lock_owner: u64,
    flags: u32,
    padding: u32
});
wire!(WriteIn {
    fh: u64,
    offset: u64,
    size: u32,
    write_flags: u32,
    lock_owner: u64,
    flags: u32,
    padding: u32
});
wire!(WriteOut {
    size: u32,
    padding: u32
});
wire!(StatfsOut { st: Kstatfs });
wire!(FsyncIn {
    fh: u64,
    fsync_flags: u32,
    padding: u32
});
wire!(
    /// `fuse_setxattr_in` with `FUSE_SETXATTR_EXT`; without it only the first 8 bytes are sent.
    SetxattrIn { size: u32, flags: u32, setxattr_flags: u32, padding: u32 }
);
wire!(
    /// The pre-`SETXATTR_EXT` layout of `fuse_setxattr_in`.
    SetxattrInCompat { size: u32, flags: u32 }
);
wire!(GetxattrIn {
    size: u32,
    padding: u32
});
wire!(GetxattrOut {
    size: u32,
    padding: u32
});
wire!(LkIn {
    fh: u64,
    owner: u64,
    lk: FileLock,
    lk_flags: u32,
    padding: u32
});
wire!(LkOut { lk: FileLock });
wire!(AccessIn {
    mask: u32,
    padding: u32
});
wire!(
    /// `fuse_init_in`. Kernels before 7.36 send only the first four fields.
    InitIn { major: u32, minor: u32, max_readahead: u32, flags: u32, flags2: u32, unused: [u32; 11] }
);
wire!(
    /// The first four fields of `fuse_init_in`, all that kernels before 7.36 send.
    InitInCompat { major: u32, minor: u32, max_readahead: u32, flags: u32 }
);
wire!(
    /// `fuse_init_out`.
    InitOut {
        major: u32, minor: u32, max_readahead: u32, flags: u32, max_background: u16,
        congestion_threshold: u16, max_write: u32, time_gran: u32, max_pages: u16,
        map_alignment: u16, flags2: u32, max_stack_depth: u32, request_timeout: u16, unused: [u16; 11],
    }
);
wire!(InterruptIn { unique: u64 });
wire!(BmapIn {
    block: u64,
    blocksize: u32,
    padding: u32
});
wire!(BmapOut { block: u64 });
wire!(IoctlIn {
    fh: u64,
    flags: u32,
    cmd: u32,
    arg: u64,
    in_size: u32,
    out_size: u32
});
wire!(IoctlOut {
    result: i32,
    flags: u32,
    in_iovs: u32,
    out_iovs: u32
});
wire!(PollIn {
    fh: u64,
    kh: u64,
    flags: u32,
    events: u32
});
wire!(PollOut {
    revents: u32,
    padding: u32
});
wire!(FallocateIn {
    fh: u64,
    offset: u64,
    length: u64,
    mode: u32,
    padding: u32
});
wire!(
    /// `fuse_dirent` without its name, which follows it padded to 8 bytes.
    Dirent { ino: u64, off: u64, namelen: u32, typ: u32 }
);
wire!(NotifyInvalInodeOut {
    ino: u64,
    off: i64,
    len: i64
});
wire!(NotifyInvalEntryOut {
    parent: u64,
    namelen: u32,
    flags: u32
});
wire!(NotifyDeleteOut {
    parent: u64,
    child: u64,
    namelen: u32,
    padding: u32
});
wire!(NotifyStoreOut {
    nodeid: u64,
    offset: u64,
    size: u32,
    padding: u32
});
wire!(NotifyRetrieveOut {
    notify_unique: u64,
    nodeid: u64,
    offset: u64,
    size: u32,
    padding: u32
});
wire!(
    /// The body of `FUSE_NOTIFY_REPLY`, the kernel's answer to a retrieve notification.
    NotifyRetrieveIn { dummy1: u64, offset: u64, size: u32, dummy2: u32, dummy3: u64, dummy4: u64 }
);
wire!(LseekIn {
    fh: u64,
    offset: u64,
    whence: u32,
    padding: u32
});
wire!(LseekOut { offset: u64 });
wire!(CopyFileRangeIn {
    fh_in: u64,
    off_in: u64,
    nodeid_out: u64,
    fh_out: u64,
    off_out: u64,
    len: u64,
    flags: u64
});
wire!(CopyFileRangeOut { bytes_copied: u64 });
wire!(SyncfsIn { padding: u64 });
wire!(ExtHeader {
    size: u32,
    typ: u32
});

/// The size of `fuse_init_out` that kernels before 7.23 expect.
pub const COMPAT_22_INIT_OUT_SIZE: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn sizes_match_the_kernel_header() {
        assert_eq!(size_of::<InHeader>(), 40);
        assert_eq!(size_of::<OutHeader>(), 16);
        assert_eq!(size_of::<Attr>(), 88);
        assert_eq!(size_of::<EntryOut>(), 128);
        assert_eq!(size_of::<AttrOut>(), 104);
        assert_eq!(size_of::<Statx>(), 256);
        assert_eq!(size_of::<StatxOut>(), 288);
        assert_eq!(size_of::<SetattrIn>(), 88);
        assert_eq!(size_of::<InitIn>(), 64);
        assert_eq!(size_of::<InitOut>(), 64);
        assert_eq!(size_of::<Kstatfs>(), 80);
        assert_eq!(size_of::<ReadIn>(), 40);
        assert_eq!(size_of::<WriteIn>(), 40);
        assert_eq!(size_of::<LkIn>(), 48);
        assert_eq!(size_of::<IoctlIn>(), 32);
        assert_eq!(size_of::<CopyFileRangeIn>(), 56);
        assert_eq!(size_of::<NotifyRetrieveIn>(), 40);
        assert_eq!(size_of::<Dirent>(), 24);
        assert_eq!(ioctl::FUSE_DEV_IOC_CLONE, 0x8004_e500);
    }
}
