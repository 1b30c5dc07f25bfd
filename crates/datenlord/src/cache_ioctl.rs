//! The ioctl `datenlord warmup` sends through a file to the mount serving it: one 64-byte
//! buffer, a request in and a report out (integers little-endian).
//!
//! ```text
//! request: magic "DLC1" | version u16 | op u16 (1 warm, 2 check, 3 evict) | offset u64 | len u64
//! report:  magic "DLC1" | version u16 | 0 u16 | data u64 | cached u64 | fetched u64 | evicted u64
//! ```

use datenlord_fuse::client_ioctl::read_write_cmd;
use datenlord_vfs::{CacheOp, CacheReport};

pub const KIND: u8 = b'D';
pub const NR: u8 = 1;
pub const SIZE: usize = 64;
pub const CMD: u32 = read_write_cmd::<SIZE>(KIND, NR);

const MAGIC: &[u8; 4] = b"DLC1";
const VERSION: u16 = 1;

/// What a caller asks for one range of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub op: CacheOp,
    pub offset: u64,
    pub len: u64,
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

fn header(buf: &mut [u8; SIZE]) {
    buf[..4].copy_from_slice(MAGIC);
    buf[4..6].copy_from_slice(&VERSION.to_le_bytes());
}

fn has_header(bytes: &[u8]) -> bool {
    bytes.len() == SIZE && &bytes[..4] == MAGIC && bytes[4..6] == VERSION.to_le_bytes()
}

pub fn encode_request(request: &Request) -> [u8; SIZE] {
    let mut buf = [0; SIZE];
    header(&mut buf);
    let op: u16 = match request.op {
        CacheOp::Warm => 1,
        CacheOp::Check => 2,
        CacheOp::Evict => 3,
    };
    buf[6..8].copy_from_slice(&op.to_le_bytes());
    buf[8..16].copy_from_slice(&request.offset.to_le_bytes());
    buf[16..24].copy_from_slice(&request.len.to_le_bytes());
    buf
}

/// `None` for anything but a well-formed request of this version.
pub fn decode_request(bytes: &[u8]) -> Option<Request> {
    if !has_header(bytes) {
        return None;
    }
    let op = match u16::from_le_bytes([bytes[6], bytes[7]]) {
        1 => CacheOp::Warm,
        2 => CacheOp::Check,
        3 => CacheOp::Evict,
        _ => return None,
    };
    Some(Request {
        op,
        offset: u64_at(bytes, 8),
        len: u64_at(bytes, 16),
    })
}

pub fn encode_report(report: &CacheReport) -> [u8; SIZE] {
    let mut buf = [0; SIZE];
    header(&mut buf);
    for (i, value) in [report.data, report.cached, report.fetched, report.evicted]
        .into_iter()
        .enumerate()
    {
        buf[8 + 8 * i..16 + 8 * i].copy_from_slice(&value.to_le_bytes());
    }
    buf
}

pub fn decode_report(bytes: &[u8]) -> Option<CacheReport> {
    has_header(bytes).then(|| CacheReport {
        data: u64_at(bytes, 8),
        cached: u64_at(bytes, 16),
        fetched: u64_at(bytes, 24),
        evicted: u64_at(bytes, 32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_reports_round_trip() {
        for op in [CacheOp::Warm, CacheOp::Check, CacheOp::Evict] {
            let request = Request {
                op,
                offset: 1 << 40,
                len: 64 << 20,
            };
            assert_eq!(decode_request(&encode_request(&request)), Some(request));
        }
        let report = CacheReport {
            data: 1,
            cached: 2,
            fetched: 3,
            evicted: 4,
        };
        assert_eq!(decode_report(&encode_report(&report)), Some(report));
    }

    #[test]
    fn malformed_requests_are_refused() {
        let good = encode_request(&Request {
            op: CacheOp::Check,
            offset: 0,
            len: 1,
        });
        assert!(decode_request(&good[..63]).is_none());
        assert!(decode_request(&[0; SIZE]).is_none());
        let mut bad_op = good;
        bad_op[6] = 9;
        assert!(decode_request(&bad_op).is_none());
        let mut bad_version = good;
        bad_version[4] = 2;
        assert!(decode_request(&bad_version).is_none());
        assert!(decode_report(&good[..10]).is_none());
    }
}
