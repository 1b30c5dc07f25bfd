//! Decoding of request bytes laid out as the Linux kernel sends them (x86_64, little-endian):
//! a 40-byte `fuse_in_header`, the operation's struct, then NUL-terminated names or data, then
//! any request extensions. Every byte is written out by hand, independently of `abi`.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::op::TimeOrNow;

const HEADER_LEN: usize = 40;

/// Prepends the header the kernel would send: unique 16, uid/gid 1000, pid 4242.
fn request(opcode: u32, nodeid: u64, body: &[u8]) -> Vec<u8> {
    request_ext(opcode, nodeid, 0, body)
}

fn request_ext(opcode: u32, nodeid: u64, total_extlen: u16, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER_LEN + body.len());
    bytes.extend_from_slice(
        &u32::try_from(HEADER_LEN + body.len())
            .unwrap()
            .to_le_bytes(),
    );
    bytes.extend_from_slice(&opcode.to_le_bytes());
    bytes.extend_from_slice(&16u64.to_le_bytes()); // unique
    bytes.extend_from_slice(&nodeid.to_le_bytes());
    bytes.extend_from_slice(&1000u32.to_le_bytes()); // uid
    bytes.extend_from_slice(&1000u32.to_le_bytes()); // gid
    bytes.extend_from_slice(&4242u32.to_le_bytes()); // pid
    bytes.extend_from_slice(&total_extlen.to_le_bytes());
    bytes.extend_from_slice(&[0, 0]); // padding
    bytes.extend_from_slice(body);
    bytes
}

fn decode_with(bytes: &[u8], setxattr_ext: bool) -> Operation<'_> {
    match decode(bytes, DecodeOptions { setxattr_ext }) {
        Ok(decoded) => decoded.op,
        Err(err) => panic!("decode failed: {err}"),
    }
}

fn decode_err(bytes: &[u8]) -> DecodeError {
    match decode(bytes, DecodeOptions::default()) {
        Ok(decoded) => panic!("decoded {decoded:?}, expected an error"),
        Err(err) => err,
    }
}

/// Decodes with default options and unwraps the expected variant.
/// `op!(let name: Variant = bytes)` keeps `bytes` alive for the borrowed fields.
macro_rules! op {
    (let $name:ident: $variant:ident = $bytes:expr) => {
        let bytes = $bytes;
        let $name = op!(bytes, $variant);
    };
    ($bytes:expr, $variant:ident) => {
        match decode_with(&$bytes, false) {
            Operation::$variant(op) => op,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}

// ---- Fully literal requests, header included ----

const LOOKUP: &[u8] = &[
    0x30, 0x00, 0x00, 0x00, // len = 48
    0x01, 0x00, 0x00, 0x00, // opcode = FUSE_LOOKUP (1)
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique = 16
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid = 1 (root)
    0xe8, 0x03, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, // uid = 1000; gid = 1000
    0x92, 0x10, 0x00, 0x00, // pid = 4242
    0x00, 0x00, // total_extlen = 0
    0x00, 0x00, // padding
    b'f', b'o', b'o', b'.', b't', b'x', b't', 0x00, // name = "foo.txt"
];

#[test]
fn lookup_literal() {
    let decoded = decode(LOOKUP, DecodeOptions::default()).unwrap();
    let h = decoded.header;
    assert_eq!(
        (h.len, h.opcode, h.unique, h.nodeid),
        (48, opcode::LOOKUP, 16, 1)
    );
    assert_eq!((h.uid, h.gid, h.pid, h.total_extlen), (1000, 1000, 4242, 0));
    let Operation::Lookup(op) = decoded.op else {
        panic!("{:?}", decoded.op)
    };
    assert_eq!((op.parent, op.name), (1, OsStr::new("foo.txt")));
    // The helper builds the very same bytes.
    assert_eq!(request(opcode::LOOKUP, 1, b"foo.txt\0"), LOOKUP);
    assert_eq!(header(LOOKUP).unwrap(), h);
}

const INIT_7_45: &[u8] = &[
    0x68, 0x00, 0x00, 0x00, // len = 104
    0x1a, 0x00, 0x00, 0x00, // opcode = FUSE_INIT (26)
    0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique = 2
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid = 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // uid = 0; gid = 0
    0x00, 0x00, 0x00, 0x00, // pid = 0
    0x00, 0x00, 0x00, 0x00, // total_extlen = 0, padding
    0x07, 0x00, 0x00, 0x00, // major = 7
    0x2d, 0x00, 0x00, 0x00, // minor = 45
    0x00, 0x00, 0x02, 0x00, // max_readahead = 131072
    0x23, 0x00, 0x00, 0x60, // flags = ASYNC_READ|POSIX_LOCKS|BIG_WRITES|SETXATTR_EXT|INIT_EXT
    0x85, 0x00, 0x00,
    0x00, // flags2 = SECURITY_CTX|CREATE_SUPP_GROUP|HAS_RESEND (bits 32, 34, 39)
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, // unused[11]: 44 zero bytes
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
];

#[test]
fn init_7_45_with_flags2() {
    let Operation::Init {
        major,
        minor,
        max_readahead,
        flags,
    } = decode_with(INIT_7_45, false)
    else {
        panic!()
    };
    assert_eq!((major, minor, max_readahead), (7, 45, 131_072));
    use abi::init_flags::*;
    let low = ASYNC_READ | POSIX_LOCKS | BIG_WRITES | SETXATTR_EXT | INIT_EXT;
    assert_eq!(flags, low | SECURITY_CTX | CREATE_SUPP_GROUP | HAS_RESEND);
    assert_eq!(flags, 0x0000_0085_6000_0023);
}

#[test]
fn init_7_22_compat_form() {
    // Before 7.36 only 16 bytes follow the header; INIT_EXT must not make us read flags2.
    let body = [
        0x07, 0x00, 0x00, 0x00, // major = 7
        0x16, 0x00, 0x00, 0x00, // minor = 22
        0x00, 0x00, 0x02, 0x00, // max_readahead = 131072
        0x01, 0x00, 0x00, 0x40, // flags = ASYNC_READ | bit 30 (meaningless before 7.36)
    ];
    let bytes = request(opcode::INIT, 0, &body);
    let Operation::Init {
        major,
        minor,
        max_readahead,
        flags,
    } = decode_with(&bytes, false)
    else {
        panic!()
    };
    assert_eq!(
        (major, minor, max_readahead, flags),
        (7, 22, 131_072, 0x4000_0001)
    );
    // 7.45 with INIT_EXT but only the 16-byte form is truncated.
    let mut body = body;
    body[4] = 45;
    let err = decode_err(&request(opcode::INIT, 0, &body));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "fuse_init_in.flags2",
            need: 4,
            have: 0
        }
    );
}

const GETATTR_FH: &[u8] = &[
    0x38, 0x00, 0x00, 0x00, // len = 56
    0x03, 0x00, 0x00, 0x00, // opcode = FUSE_GETATTR (3)
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique = 16
    0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid = 5
    0xe8, 0x03, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, // uid = 1000; gid = 1000
    0x92, 0x10, 0x00, 0x00, // pid = 4242
    0x00, 0x00, 0x00, 0x00, // total_extlen = 0, padding
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // getattr_flags = FUSE_GETATTR_FH; dummy
    0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 42
];

#[test]
fn getattr_with_and_without_fh() {
    op!(let op: Getattr = GETATTR_FH);
    assert_eq!((op.ino, op.fh), (5, Some(42)));
    let body = [
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // getattr_flags = 0; dummy
        0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 42, ignored without the flag
    ];
    op!(let op: Getattr = request(opcode::GETATTR, 5, &body));
    assert_eq!((op.ino, op.fh), (5, None));
}

const WRITE: &[u8] = &[
    0x55, 0x00, 0x00, 0x00, // len = 85
    0x10, 0x00, 0x00, 0x00, // opcode = FUSE_WRITE (16)
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique = 16
    0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid = 5
    0xe8, 0x03, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, // uid = 1000; gid = 1000
    0x92, 0x10, 0x00, 0x00, // pid = 4242
    0x00, 0x00, 0x00, 0x00, // total_extlen = 0, padding
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fh = 3
    0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset = 10
    0x05, 0x00, 0x00, 0x00, // size = 5
    0x06, 0x00, 0x00, 0x00, // write_flags = WRITE_LOCKOWNER | WRITE_KILL_SUIDGID
    0x77, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // lock_owner = 0x77
    0x01, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // flags = O_WRONLY | O_LARGEFILE; padding
    b'h', b'e', b'l', b'l', b'o', // data
];

#[test]
fn write_with_payload() {
    op!(let op: Write = WRITE);
    assert_eq!(
        (op.ino, op.fh, op.offset, op.data),
        (5, 3, 10, &b"hello"[..])
    );
    assert_eq!(
        (op.write_flags, op.flags, op.lock_owner),
        (6, 0x8001, Some(0x77))
    );
    assert!(op.kill_suidgid() && !op.from_cache());
}

const SETXATTR_EXT: &[u8] = &[
    0x42, 0x00, 0x00, 0x00, // len = 66
    0x15, 0x00, 0x00, 0x00, // opcode = FUSE_SETXATTR (21)
    0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique = 16
    0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid = 5
    0xe8, 0x03, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, // uid = 1000; gid = 1000
    0x92, 0x10, 0x00, 0x00, // pid = 4242
    0x00, 0x00, 0x00, 0x00, // total_extlen = 0, padding
    0x03, 0x00, 0x00, 0x00, // size = 3
    0x01, 0x00, 0x00, 0x00, // flags = XATTR_CREATE
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // setxattr_flags = FUSE_SETXATTR_ACL_KILL_SGID; padding
    b'u', b's', b'e', b'r', b'.', b'k', 0x00, // name = "user.k"
    b'a', b'b', b'c', // value
];

#[test]
fn setxattr_both_layouts() {
    let Operation::Setxattr(op) = decode_with(SETXATTR_EXT, true) else {
        panic!()
    };
    assert_eq!(
        (op.ino, op.name, op.value),
        (5, OsStr::new("user.k"), &b"abc"[..])
    );
    assert_eq!((op.flags, op.setxattr_flags), (libc::XATTR_CREATE, 1));

    let body = [
        0x03, 0x00, 0x00, 0x00, // size = 3
        0x02, 0x00, 0x00, 0x00, // flags = XATTR_REPLACE
        b'u', b's', b'e', b'r', b'.', b'k', 0x00, // name
        b'x', b'y', b'z', // value
    ];
    let bytes = request(opcode::SETXATTR, 5, &body);
    let Operation::Setxattr(op) = decode_with(&bytes, false) else {
        panic!()
    };
    assert_eq!((op.name, op.value), (OsStr::new("user.k"), &b"xyz"[..]));
    assert_eq!((op.flags, op.setxattr_flags), (libc::XATTR_REPLACE, 0));
}

const INTERRUPT: &[u8] = &[
    0x30, 0x00, 0x00, 0x00, // len = 48
    0x24, 0x00, 0x00, 0x00, // opcode = FUSE_INTERRUPT (36)
    0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // unique = 0x21 (FUSE_INT_REQ_BIT set)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // nodeid = 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // uid = 0; gid = 0
    0x00, 0x00, 0x00, 0x00, // pid
    0x00, 0x00, 0x00, 0x00, // total_extlen = 0, padding
    0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, // unique of the interrupted request = 0x20
];

#[test]
fn interrupt() {
    let decoded = decode(INTERRUPT, DecodeOptions::default()).unwrap();
    assert_eq!(decoded.header.unique, 0x21);
    assert!(matches!(decoded.op, Operation::Interrupt { unique: 0x20 }));
}

// ---- Bodies behind a helper-built header ----

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

// ---- Errors ----

#[test]
fn header_length_must_match_bytes_read() {
    let mut longer = LOOKUP.to_vec();
    longer.push(0);
    assert_eq!(
        decode_err(&longer),
        DecodeError::LengthMismatch {
            header: 48,
            read: 49
        }
    );
    assert_eq!(
        decode_err(&LOOKUP[..47]),
        DecodeError::LengthMismatch {
            header: 48,
            read: 47
        }
    );
    // The header alone still decodes, so the request can be answered.
    assert_eq!(header(&longer).unwrap().unique, 16);
    assert_eq!(decode_err(&longer).errno(), Errno::EINVAL);
}

#[test]
fn truncated_struct() {
    let err = decode_err(&request(opcode::GETATTR, 5, &[0; 8]));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "fuse_getattr_in",
            need: 16,
            have: 8
        }
    );
    let err = decode_err(&request(opcode::SETATTR, 5, &[0; 87]));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "fuse_setattr_in",
            need: 88,
            have: 87
        }
    );
    // The 16-byte SETXATTR_EXT struct does not fit an 8-byte compat request body plus a short name.
    let bytes = request(opcode::SETXATTR, 5, &[3, 0, 0, 0, 0, 0, 0, 0, b'a', 0]);
    let err = decode(&bytes, DecodeOptions { setxattr_ext: true }).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "fuse_setxattr_in",
            need: 16,
            have: 10
        }
    );
}

#[test]
fn name_without_nul_or_empty() {
    assert_eq!(
        decode_err(&request(opcode::LOOKUP, 1, b"foo")),
        DecodeError::Unterminated { what: "name" }
    );
    assert_eq!(
        decode_err(&request(opcode::LOOKUP, 1, b"")),
        DecodeError::Unterminated { what: "name" }
    );
    assert_eq!(
        decode_err(&request(opcode::UNLINK, 1, b"\0")),
        DecodeError::Empty { what: "name" }
    );
}

#[test]
fn name_of_256_bytes_is_too_long() {
    let mut name = vec![b'a'; 255];
    name.push(0);
    let bytes = request(opcode::LOOKUP, 1, &name);
    assert_eq!(op!(bytes, Lookup).name.len(), 255);
    name.insert(0, b'a');
    let err = decode_err(&request(opcode::RMDIR, 1, &name));
    assert_eq!(
        err,
        DecodeError::TooLong {
            what: "name",
            len: 256,
            max: 255
        }
    );
    assert_eq!(err.errno(), Errno::ENAMETOOLONG);
}

#[test]
fn xattr_name_too_long_is_erange() {
    let mut body = vec![0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]; // size = 0, padding
    body.extend_from_slice(b"user.");
    body.extend(std::iter::repeat_n(b'x', 251));
    body.push(0);
    let err = decode_err(&request(opcode::GETXATTR, 5, &body));
    assert_eq!(
        err,
        DecodeError::TooLong {
            what: "xattr name",
            len: 256,
            max: 255
        }
    );
    assert_eq!(err.errno(), Errno::ERANGE);
    let err = decode_err(&request(opcode::REMOVEXATTR, 5, &body[8..]));
    assert_eq!(err.errno(), Errno::ERANGE);
}

#[test]
fn write_size_beyond_the_data() {
    let mut bytes = WRITE.to_vec();
    bytes[56] = 10; // size = 10, but 5 bytes follow
    let err = decode_err(&bytes);
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "write data",
            need: 10,
            have: 5
        }
    );
    bytes[56..60].copy_from_slice(&[0xff; 4]); // size = u32::MAX
    assert!(matches!(
        decode_err(&bytes),
        DecodeError::Truncated {
            what: "write data",
            ..
        }
    ));
}

#[test]
fn extensions_longer_than_the_body() {
    let bytes = request_ext(
        opcode::MKDIR,
        1,
        4,
        &[0xed, 0x01, 0, 0, 0x12, 0, 0, 0, b'd', 0],
    );
    let err = decode_err(&bytes);
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "request extensions",
            need: 32,
            have: 10
        }
    );
    let err = decode_err(&request_ext(opcode::DESTROY, 0, u16::MAX, &[]));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "request extensions",
            need: 524_280,
            have: 0
        }
    );
}

#[test]
fn batch_forget_count_beyond_the_body() {
    let mut body = vec![
        0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // count = 3; dummy
    ];
    body.extend_from_slice(&[1; 32]); // only two entries
    let err = decode_err(&request(opcode::BATCH_FORGET, 0, &body));
    assert_eq!(
        err,
        DecodeError::Truncated {
            what: "fuse_forget_one list",
            need: 48,
            have: 32
        }
    );
    body[0..4].copy_from_slice(&[0xff; 4]); // count = u32::MAX
    let err = decode_err(&request(opcode::BATCH_FORGET, 0, &body));
    assert!(matches!(
        err,
        DecodeError::Truncated {
            what: "fuse_forget_one list",
            have: 32,
            ..
        }
    ));
}

#[test]
fn empty_and_short_input() {
    let short = DecodeError::Truncated {
        what: "fuse_in_header",
        need: 40,
        have: 0,
    };
    assert_eq!(decode_err(&[]), short);
    assert_eq!(header(&[]).unwrap_err(), short);
    assert!(matches!(
        decode_err(&LOOKUP[..39]),
        DecodeError::Truncated {
            need: 40,
            have: 39,
            ..
        }
    ));
    // A header whose len claims fewer bytes than the header itself.
    let mut bytes = LOOKUP.to_vec();
    bytes[0] = 0;
    assert_eq!(
        decode_err(&bytes),
        DecodeError::LengthMismatch {
            header: 0,
            read: 48
        }
    );
}
