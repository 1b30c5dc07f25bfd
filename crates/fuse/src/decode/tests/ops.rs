//! One test per operation, its body behind a helper-built header.

use super::*;

#[test]
fn setattr_mode_size_atime_now_mtime() {
    let body = [
        0xb9, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // valid = MODE|SIZE|ATIME|MTIME|ATIME_NOW; padding
        0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 7 (FATTR_FH not set)
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // size = 4096
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lock_owner
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // atime
        0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, // mtime = 1_700_000_000
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ctime
        0x00, 0x00, 0x00, 0x00, // atimensec
        0x00, 0x65, 0xcd, 0x1d, // mtimensec = 500_000_000
        0x00, 0x00, 0x00, 0x00, // ctimensec
        0xa4, 0x81, 0x00, 0x00, // mode = 0o100644
        0x00, 0x00, 0x00, 0x00, // unused4
        0x00, 0x00, 0x00, 0x00, // uid
        0x00, 0x00, 0x00, 0x00, // gid
        0x00, 0x00, 0x00, 0x00, // unused5
    ];
    op!(let op: Setattr = request(opcode::SETATTR, 9, &body));
    assert_eq!((op.ino, op.mode, op.size), (9, Some(0o100_644), Some(4096)));
    assert_eq!(op.atime, Some(TimeOrNow::Now));
    let mtime = UNIX_EPOCH + Duration::new(1_700_000_000, 500_000_000);
    assert_eq!(op.mtime, Some(TimeOrNow::At(mtime)));
    assert_eq!(
        (op.fh, op.uid, op.gid, op.ctime, op.lock_owner),
        (None, None, None, None, None)
    );
    assert!(!op.kill_suidgid);
}

#[test]
fn setattr_times_before_the_epoch_and_at_the_extremes() {
    let mut body = [0u8; 88];
    body[0..4].copy_from_slice(&[0x20, 0x04, 0x00, 0x00]); // valid = MTIME | CTIME
    body[40..48].copy_from_slice(&[0xff; 8]); // mtime = -1 s
    body[48..56].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]); // ctime = i64::MAX
    body[60..64].copy_from_slice(&[0xff; 4]); // mtimensec = u32::MAX, clamped
    body[64..68].copy_from_slice(&[0xff, 0xc9, 0x9a, 0x3b]); // ctimensec = 999_999_999
    op!(let op: Setattr = request(opcode::SETATTR, 9, &body));
    let mtime = UNIX_EPOCH - Duration::from_secs(1) + Duration::from_nanos(999_999_999);
    assert_eq!(op.mtime, Some(TimeOrNow::At(mtime)));
    assert!(op.ctime.unwrap() > UNIX_EPOCH);
    body[48..56].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0x80]); // ctime = i64::MIN
    op!(let op: Setattr = request(opcode::SETATTR, 9, &body));
    assert!(op.ctime.unwrap() < UNIX_EPOCH);
}

#[test]
fn symlink_name_then_target() {
    let body = *b"link\0../target/file\0";
    op!(let op: Symlink = request(opcode::SYMLINK, 1, &body));
    assert_eq!(
        (op.parent, op.name, op.target),
        (1, OsStr::new("link"), OsStr::new("../target/file"))
    );
    let err = decode_err(&request(opcode::SYMLINK, 1, b"link\0../target"));
    assert_eq!(
        err,
        DecodeError::Unterminated {
            what: "symlink target"
        }
    );
}

#[test]
fn mknod() {
    let body = [
        0xa4, 0x21, 0x00, 0x00, // mode = S_IFCHR | 0o644
        0x03, 0x01, 0x00, 0x00, // rdev = 1:3
        0x12, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // umask = 0o022; padding
        b'n', b'u', b'l', b'l', 0x00, // name
    ];
    op!(let op: Mknod = request(opcode::MKNOD, 1, &body));
    assert_eq!(
        (op.parent, op.name, op.mode, op.rdev, op.umask),
        (1, OsStr::new("null"), 0o020_644, 0x103, 0o022)
    );
}

#[test]
fn mkdir() {
    let body = [
        0xed, 0x01, 0x00, 0x00, // mode = 0o755
        0x12, 0x00, 0x00, 0x00, // umask = 0o022
        b'd', b'i', b'r', 0x00, // name
    ];
    op!(let op: Mkdir = request(opcode::MKDIR, 1, &body));
    assert_eq!(
        (op.parent, op.name, op.mode, op.umask),
        (1, OsStr::new("dir"), 0o755, 0o022)
    );
}

#[test]
fn rename_and_rename2() {
    let body = [
        0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // newdir = 5
        b'o', b'l', b'd', 0x00, b'n', b'e', b'w', 0x00, // oldname, newname
    ];
    op!(let op: Rename = request(opcode::RENAME, 1, &body));
    assert_eq!(
        (op.parent, op.name, op.newparent, op.newname),
        (1, OsStr::new("old"), 5, OsStr::new("new"))
    );
    assert_eq!(op.flags, 0);

    let body = [
        0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // newdir = 5
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // flags = RENAME_EXCHANGE; padding
        b'a', 0x00, b'b', 0x00, // oldname, newname
    ];
    op!(let op: Rename = request(opcode::RENAME2, 1, &body));
    assert_eq!(
        (op.name, op.newparent, op.newname, op.flags),
        (OsStr::new("a"), 5, OsStr::new("b"), 2)
    );
    // The new name must be terminated too.
    let err = decode_err(&request(opcode::RENAME2, 1, &body[..19]));
    assert_eq!(err, DecodeError::Unterminated { what: "new name" });
}

#[test]
fn link() {
    let body = [
        0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // oldnodeid = 42
        b'h', b'a', b'r', b'd', 0x00, // newname
    ];
    op!(let op: Link = request(opcode::LINK, 1, &body));
    assert_eq!(
        (op.ino, op.newparent, op.newname),
        (42, 1, OsStr::new("hard"))
    );
}

#[test]
fn open_and_opendir() {
    let body = [
        0x02, 0x02, 0x00, 0x00, // flags = O_RDWR | O_TRUNC
        0x01, 0x00, 0x00, 0x00, // open_flags = FUSE_OPEN_KILL_SUIDGID
    ];
    op!(let op: Open = request(opcode::OPEN, 5, &body));
    assert_eq!(
        (op.ino, op.flags, op.kill_suidgid),
        (5, libc::O_RDWR | libc::O_TRUNC, true)
    );
    op!(let op: Opendir = request(opcode::OPENDIR, 1, &[0, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!((op.ino, op.flags, op.kill_suidgid), (1, 0, false));
}

#[test]
fn read() {
    let body = [
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 3
        0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // offset = 65536
        0x00, 0x10, 0x00, 0x00, // size = 4096
        0x02, 0x00, 0x00, 0x00, // read_flags = FUSE_READ_LOCKOWNER
        0xef, 0xbe, 0xad, 0xde, 0x00, 0x00, 0x00, 0x00, // lock_owner = 0xdeadbeef
        0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // flags = O_RDONLY | O_LARGEFILE; padding
    ];
    op!(let op: Read = request(opcode::READ, 5, &body));
    assert_eq!(
        (op.ino, op.fh, op.offset, op.size, op.flags),
        (5, 3, 65_536, 4096, 0x8000)
    );
    assert_eq!(op.lock_owner, Some(0xdead_beef));
}

#[test]
fn getxattr_and_listxattr() {
    let mut body = vec![
        0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // size = 64; padding
    ];
    body.extend_from_slice(b"security.capability\0");
    op!(let op: Getxattr = request(opcode::GETXATTR, 5, &body));
    assert_eq!(
        (op.ino, op.name, op.size),
        (5, OsStr::new("security.capability"), 64)
    );
    let body = [
        0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // size = 1024; padding
    ];
    op!(let op: Listxattr = request(opcode::LISTXATTR, 5, &body));
    assert_eq!((op.ino, op.size), (5, 1024));
}

#[test]
fn release_with_flush() {
    let body = [
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 9
        0x02, 0x80, 0x00, 0x00, // flags = O_RDWR | O_LARGEFILE
        0x01, 0x00, 0x00, 0x00, // release_flags = FUSE_RELEASE_FLUSH
        0xbc, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lock_owner = 0xabc
    ];
    op!(let op: Release = request(opcode::RELEASE, 5, &body));
    assert_eq!(
        (op.ino, op.fh, op.flags, op.lock_owner),
        (5, 9, 0x8002, Some(0xabc))
    );
    assert!(op.flush && !op.flock_unlock);
    op!(let op: Releasedir = request(opcode::RELEASEDIR, 5, &body));
    assert_eq!(op.fh, 9);
}

#[test]
fn fsync_datasync() {
    let body = [
        0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 9
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // fsync_flags = FUSE_FSYNC_FDATASYNC; padding
    ];
    op!(let op: Fsync = request(opcode::FSYNC, 5, &body));
    assert_eq!((op.ino, op.fh, op.datasync), (5, 9, true));
    op!(let op: Fsyncdir = request(opcode::FSYNCDIR, 1, &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!((op.ino, op.fh, op.datasync), (1, 9, false));
}

#[test]
fn readdirplus() {
    let body = [
        0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 4
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset = 2
        0x00, 0x10, 0x00, 0x00, // size = 4096
        0x00, 0x00, 0x00, 0x00, // read_flags
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lock_owner
        0x00, 0x88, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, // flags = O_NONBLOCK|O_LARGEFILE|O_DIRECTORY; padding
    ];
    op!(let op: Readdirplus = request(opcode::READDIRPLUS, 1, &body));
    assert_eq!((op.ino, op.fh, op.offset, op.size), (1, 4, 2, 4096));
}

#[test]
fn setlkw_flock() {
    let body = [
        0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 5
        0x11, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // owner = 0x1111
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lk.start = 0
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, // lk.end = OFFSET_MAX
        0x01, 0x00, 0x00, 0x00, // lk.type = F_WRLCK
        0x92, 0x10, 0x00, 0x00, // lk.pid = 4242
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lk_flags = FUSE_LK_FLOCK; padding
    ];
    op!(let op: Setlk = request(opcode::SETLKW, 5, &body));
    assert_eq!(
        (op.ino, op.fh, op.owner, op.sleep, op.flock),
        (5, 5, 0x1111, true, true)
    );
    let lock = op::Lock {
        start: 0,
        end: i64::MAX as u64,
        typ: libc::F_WRLCK,
        pid: 4242,
    };
    assert_eq!(op.lock, lock);
    op!(let op: Getlk = request(opcode::GETLK, 5, &body));
    assert_eq!((op.owner, op.lock), (0x1111, lock));
}

#[test]
fn create() {
    let body = [
        0x41, 0x82, 0x00, 0x00, // flags = O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE
        0xa4, 0x81, 0x00, 0x00, // mode = 0o100644
        0x12, 0x00, 0x00, 0x00, // umask = 0o022
        0x00, 0x00, 0x00, 0x00, // open_flags
        b'n', b'e', b'w', b'.', b't', b'x', b't', 0x00, // name
    ];
    op!(let op: Create = request(opcode::CREATE, 1, &body));
    assert_eq!(
        (op.parent, op.name, op.mode, op.umask),
        (1, OsStr::new("new.txt"), 0o100_644, 0o022)
    );
    assert_eq!((op.flags, op.kill_suidgid), (0x8241, false));
}

#[test]
fn tmpfile() {
    let body = [
        0x02, 0x80, 0x41, 0x00, // flags = O_RDWR | O_LARGEFILE | O_TMPFILE
        0x80, 0x81, 0x00, 0x00, // mode = 0o100600
        0x12, 0x00, 0x00, 0x00, // umask = 0o022
        0x00, 0x00, 0x00, 0x00, // open_flags
        b'/', 0x00, // the placeholder name "/"
    ];
    op!(let op: Tmpfile = request(opcode::TMPFILE, 1, &body));
    assert_eq!(
        (op.parent, op.mode, op.umask, op.flags),
        (1, 0o100_600, 0o022, 0x41_8002)
    );
}

#[test]
fn batch_forget_two_entries() {
    let body = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // count = 2; dummy
        0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // [0].nodeid = 10
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // [0].nlookup = 1
        0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // [1].nodeid = 11
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // [1].nlookup = 3
    ];
    op!(let list: BatchForget = request(opcode::BATCH_FORGET, 0, &body));
    assert_eq!((list.len(), list.is_empty()), (2, false));
    let all: Vec<_> = list.iter().collect();
    assert_eq!(
        all,
        [
            op::Forget {
                ino: 10,
                nlookup: 1
            },
            op::Forget {
                ino: 11,
                nlookup: 3
            }
        ]
    );
    op!(let list: BatchForget = request(opcode::BATCH_FORGET, 0, &[0; 8])); // count = 0
    assert!(list.is_empty() && list.iter().next().is_none());
}

#[test]
fn forget() {
    op!(let op: Forget = request(opcode::FORGET, 7, &[0x03, 0, 0, 0, 0, 0, 0, 0]));
    assert_eq!(op, op::Forget { ino: 7, nlookup: 3 });
}

#[test]
fn ioctl_with_input() {
    let body = [
        0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 6
        0x00, 0x00, 0x00, 0x00, // flags = 0 (restricted)
        0x02, 0x66, 0x04, 0x40, // cmd = FS_IOC32_SETFLAGS
        0x00, 0x10, 0x00, 0x00, 0xfd, 0x7f, 0x00, 0x00, // arg = 0x7ffd00001000
        0x04, 0x00, 0x00, 0x00, // in_size = 4
        0x00, 0x00, 0x00, 0x00, // out_size = 0
        0x10, 0x00, 0x00, 0x00, // in data: FS_APPEND_FL
    ];
    op!(let op: Ioctl = request(opcode::IOCTL, 5, &body));
    assert_eq!(
        (op.ino, op.fh, op.flags, op.cmd, op.arg),
        (5, 6, 0, 0x4004_6602, 0x7ffd_0000_1000)
    );
    assert_eq!((op.in_data, op.out_size), (&[0x10, 0, 0, 0][..], 0));
    let err = decode_err(&request(opcode::IOCTL, 5, &body[..34]));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "ioctl input",
            need: 4,
            have: 2
        }
    );
}

#[test]
fn poll() {
    let mut body = [
        0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 6
        0x99, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // kh = 0x99
        0x01, 0x00, 0x00, 0x00, // flags = FUSE_POLL_SCHEDULE_NOTIFY
        0x05, 0x00, 0x00, 0x00, // events = POLLIN | POLLOUT
    ];
    op!(let op: Poll = request(opcode::POLL, 5, &body));
    assert_eq!((op.ino, op.fh, op.kh, op.events), (5, 6, Some(0x99), 5));
    body[16] = 0;
    assert_eq!(op!(request(opcode::POLL, 5, &body), Poll).kh, None);
}

#[test]
fn fallocate() {
    let body = [
        0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 6
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset = 4096
        0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // length = 8192
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // mode = KEEP_SIZE | PUNCH_HOLE; padding
    ];
    op!(let op: Fallocate = request(opcode::FALLOCATE, 5, &body));
    assert_eq!(
        (op.ino, op.fh, op.offset, op.length, op.mode),
        (5, 6, 4096, 8192, 3)
    );
}

#[test]
fn lseek() {
    let body = [
        0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 6
        0x64, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset = 100
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // whence = SEEK_DATA; padding
    ];
    op!(let op: Lseek = request(opcode::LSEEK, 5, &body));
    assert_eq!(
        (op.ino, op.fh, op.offset, op.whence),
        (5, 6, 100, libc::SEEK_DATA)
    );
}

#[test]
fn copy_file_range_and_64() {
    let body = [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh_in = 1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // off_in = 0
        0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid_out = 8
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh_out = 2
        0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // off_out = 4096
        0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, // len = 1 MiB
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // flags = 0
    ];
    for (code, expect_wide) in [
        (opcode::COPY_FILE_RANGE, false),
        (opcode::COPY_FILE_RANGE_64, true),
    ] {
        let bytes = request(code, 5, &body);
        let Operation::CopyFileRange { op, wide } = decode_with(&bytes, false) else {
            panic!()
        };
        assert_eq!(wide, expect_wide);
        assert_eq!((op.ino_in, op.fh_in, op.offset_in), (5, 1, 0));
        assert_eq!(
            (op.ino_out, op.fh_out, op.offset_out, op.len, op.flags),
            (8, 2, 4096, 1 << 20, 0)
        );
    }
}

#[test]
fn statx() {
    let body = [
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, // getattr_flags = FUSE_GETATTR_FH; reserved
        0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 12
        0x00, 0x00, 0x00, 0x00, // sx_flags = AT_STATX_SYNC_AS_STAT
        0xff, 0x0f, 0x00, 0x00, // sx_mask = STATX_BASIC_STATS | STATX_BTIME
    ];
    op!(let op: Statx = request(opcode::STATX, 5, &body));
    assert_eq!((op.ino, op.fh, op.flags, op.mask), (5, Some(12), 0, 0xfff));
}

#[test]
fn body_less_requests() {
    assert_eq!(op!(request(opcode::READLINK, 5, &[]), Readlink).ino, 5);
    assert_eq!(op!(request(opcode::STATFS, 1, &[]), Statfs).ino, 1);
    assert_eq!(op!(request(opcode::SYNCFS, 1, &[0; 8]), Syncfs).ino, 1);
    assert!(matches!(
        decode_with(&request(opcode::DESTROY, 0, &[]), false),
        Operation::Destroy
    ));
}

#[test]
fn extensions_are_stripped() {
    let body = [
        0xed, 0x01, 0x00, 0x00, // mode = 0o755
        0x12, 0x00, 0x00, 0x00, // umask = 0o022
        b'd', 0x00, // name
        0x10, 0x00, 0x00, 0x00, // fuse_ext_header.size = 16
        0x20, 0x00, 0x00, 0x00, // fuse_ext_header.type = FUSE_EXT_GROUPS
        0x01, 0x00, 0x00, 0x00, // fuse_supp_groups.nr_groups = 1
        0x0a, 0x00, 0x00, 0x00, // groups[0] = 10
    ];
    let bytes = request_ext(opcode::MKDIR, 1, 2, &body);
    let decoded = decode(&bytes, DecodeOptions::default()).unwrap();
    assert_eq!(decoded.header.total_extlen, 2);
    let Operation::Mkdir(op) = decoded.op else {
        panic!()
    };
    assert_eq!((op.name, op.mode), (OsStr::new("d"), 0o755));
    // The operation may not read into the extension: an unterminated name stays unterminated
    // even though the extension holds NUL bytes.
    let mut body = body;
    body[9] = b'x';
    let err = decode_err(&request_ext(opcode::MKDIR, 1, 2, &body));
    assert_eq!(err, DecodeError::Unterminated { what: "name" });
}

#[test]
fn unknown_and_unserved_opcodes() {
    for code in [
        9999,
        opcode::SETUPMAPPING,
        opcode::REMOVEMAPPING,
        opcode::CUSE_INIT,
        7,
        19,
    ] {
        let bytes = request(code, 1, &[1, 2, 3]);
        let op = decode_with(&bytes, false);
        assert!(
            matches!(op, Operation::Unsupported { opcode } if opcode == code),
            "{code}: {op:?}"
        );
    }
}
