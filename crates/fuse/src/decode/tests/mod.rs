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

mod errors;
mod literal;
mod ops;
