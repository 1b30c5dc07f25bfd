//! Malformed requests: each is an error with the right errno, never a panic.

use super::literal::{LOOKUP, WRITE};
use super::*;

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
