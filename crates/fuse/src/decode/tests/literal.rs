//! Requests written out byte for byte, header included, as the kernel sends them.

use super::*;

pub(super) const LOOKUP: &[u8] = &[
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

pub(super) const INIT_7_45: &[u8] = &[
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

pub(super) const GETATTR_FH: &[u8] = &[
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

pub(super) const WRITE: &[u8] = &[
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

pub(super) const SETXATTR_EXT: &[u8] = &[
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

pub(super) const INTERRUPT: &[u8] = &[
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
