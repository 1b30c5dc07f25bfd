//! The ioctls a command sends through a file (or directory) to the mount serving it: a
//! fixed buffer, a request in and an answer out (integers little-endian, unused bytes 0).
//!
//! `datenlord warmup`, `_IOWR('D', 1, [u8; 64])`:
//!
//! ```text
//! request: magic "DLC1" | version u16 | op u16 (1 warm, 2 check, 3 evict) | offset u64 | len u64
//! report:  magic "DLC1" | version u16 | 0 u16 | data u64 | cached u64 | fetched u64 | evicted u64
//! ```
//!
//! `datenlord bench`, the mount's live counters, `_IOWR('D', 2, [u8; 256])`:
//!
//! ```text
//! request: magic "DLS1" | version u16 | 0 u16
//! stats:   magic "DLS1" | version u16 | tiers u16 (bits: 1 memory, 2 disk, 4 group, 8 caches)
//!          | metadata ops, ns | object gets, bytes, ns | puts, bytes, ns
//!          | memory hits, bytes | disk hits, bytes | group hits, bytes | remote fetches, bytes
//!          | metadata retries | engine reads, commits, compares      (version 2)
//!          | keys read from the metadata cache                     (version 3)
//! ```
//!
//! Every counter is a u64 counted since the mount started; a tier the mount does not have is
//! all zeros with its bit clear.

use datenlord_fuse::client_ioctl::read_write_cmd;
use datenlord_meta::{EngineCounters, MetaCounters};
use datenlord_store::ObjectCounters;
use datenlord_store::cache::{CacheCounters, TierCounters};
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

pub const STATS_NR: u8 = 2;
/// Room for the counters of later versions without a new command number.
pub const STATS_SIZE: usize = 256;
pub const STATS_CMD: u32 = read_write_cmd::<STATS_SIZE>(KIND, STATS_NR);

const STATS_MAGIC: &[u8; 4] = b"DLS1";
const STATS_VERSION: u16 = 3;

const HAS_MEMORY: u16 = 1;
const HAS_DISK: u16 = 2;
const HAS_GROUP: u16 = 4;
const HAS_CACHES: u16 = 8;
const ALL_TIERS: u16 = HAS_MEMORY | HAS_DISK | HAS_GROUP | HAS_CACHES;
/// The u64 counters after the 8-byte header.
const STATS_FIELDS: usize = 21;

/// Blocks (and their bytes) read from one place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hits {
    pub blocks: u64,
    pub bytes: u64,
}

impl Hits {
    fn of(tier: &TierCounters) -> Self {
        Self {
            blocks: tier.hits,
            bytes: tier.hit_bytes,
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            blocks: self.blocks.saturating_sub(before.blocks),
            bytes: self.bytes.saturating_sub(before.bytes),
        }
    }
}

/// A mount's counters: metadata operations, requests to the object store, and where block
/// reads were served from. A tier is `None` when the mount has none; `remote` (blocks the
/// caches fetched from the object store) is `None` when it has no caches at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MountStats {
    pub meta: MetaCounters,
    pub objects: ObjectCounters,
    pub memory: Option<Hits>,
    pub disk: Option<Hits>,
    pub group: Option<Hits>,
    pub remote: Option<Hits>,
}

impl MountStats {
    pub fn new(
        meta: MetaCounters,
        objects: ObjectCounters,
        caches: Option<&CacheCounters>,
    ) -> Self {
        Self {
            meta,
            objects,
            memory: caches.and_then(|c| c.memory.as_ref().map(Hits::of)),
            disk: caches.and_then(|c| c.disk.as_ref().map(Hits::of)),
            group: caches.and_then(|c| c.group.as_ref().map(Hits::of)),
            remote: caches.map(|c| Hits::of(&c.remote)),
        }
    }

    /// What happened between `before` and `self` (counters never go back, so a smaller one
    /// means another mount answered: it counts as 0).
    pub fn since(&self, before: &Self) -> Self {
        let sub = |a: u64, b: u64| a.saturating_sub(b);
        let tier =
            |now: Option<Hits>, then: Option<Hits>| now.map(|n| n.since(then.unwrap_or_default()));
        let (o, p) = (&self.objects, &before.objects);
        Self {
            meta: self.meta.since(&before.meta),
            objects: ObjectCounters {
                gets: sub(o.gets, p.gets),
                get_bytes: sub(o.get_bytes, p.get_bytes),
                get_nanos: sub(o.get_nanos, p.get_nanos),
                puts: sub(o.puts, p.puts),
                put_bytes: sub(o.put_bytes, p.put_bytes),
                put_nanos: sub(o.put_nanos, p.put_nanos),
            },
            memory: tier(self.memory, before.memory),
            disk: tier(self.disk, before.disk),
            group: tier(self.group, before.group),
            remote: tier(self.remote, before.remote),
        }
    }
}

fn stats_header(buf: &mut [u8; STATS_SIZE], tiers: u16) {
    buf[..4].copy_from_slice(STATS_MAGIC);
    buf[4..6].copy_from_slice(&STATS_VERSION.to_le_bytes());
    buf[6..8].copy_from_slice(&tiers.to_le_bytes());
}

/// The flags word of a stats message of this version, if `bytes` is one.
fn stats_flags(bytes: &[u8]) -> Option<u16> {
    if bytes.len() != STATS_SIZE || bytes.get(..4)? != STATS_MAGIC {
        return None;
    }
    let word = |at: usize| Some(u16::from_le_bytes(bytes.get(at..at + 2)?.try_into().ok()?));
    (word(4)? == STATS_VERSION).then_some(word(6)?)
}

pub fn encode_stats_request() -> [u8; STATS_SIZE] {
    let mut buf = [0; STATS_SIZE];
    stats_header(&mut buf, 0);
    buf
}

/// Whether `bytes` is a stats request this version answers.
pub fn is_stats_request(bytes: &[u8]) -> bool {
    stats_flags(bytes) == Some(0)
}

pub fn encode_stats(stats: &MountStats) -> [u8; STATS_SIZE] {
    let mut buf = [0; STATS_SIZE];
    let mut tiers = 0;
    let mut tier = |hits: Option<Hits>, bit: u16| {
        tiers |= if hits.is_some() { bit } else { 0 };
        let hits = hits.unwrap_or_default();
        [hits.blocks, hits.bytes]
    };
    let [memory, memory_bytes] = tier(stats.memory, HAS_MEMORY);
    let [disk, disk_bytes] = tier(stats.disk, HAS_DISK);
    let [group, group_bytes] = tier(stats.group, HAS_GROUP);
    let [remote, remote_bytes] = tier(stats.remote, HAS_CACHES);
    let o = &stats.objects;
    let fields: [u64; STATS_FIELDS] = [
        stats.meta.ops,
        stats.meta.nanos,
        o.gets,
        o.get_bytes,
        o.get_nanos,
        o.puts,
        o.put_bytes,
        o.put_nanos,
        memory,
        memory_bytes,
        disk,
        disk_bytes,
        group,
        group_bytes,
        remote,
        remote_bytes,
        stats.meta.retries,
        stats.meta.requests.reads,
        stats.meta.requests.commits,
        stats.meta.requests.compares,
        stats.meta.requests.cached,
    ];
    stats_header(&mut buf, tiers);
    for (i, value) in fields.into_iter().enumerate() {
        buf[8 + 8 * i..16 + 8 * i].copy_from_slice(&value.to_le_bytes());
    }
    buf
}

/// `None` for anything but well-formed stats of this version (unknown tier bits included).
pub fn decode_stats(bytes: &[u8]) -> Option<MountStats> {
    let tiers = stats_flags(bytes)?;
    if tiers & !ALL_TIERS != 0 {
        return None;
    }
    let field = |i: usize| -> Option<u64> {
        let at = 8 + 8 * i;
        Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
    };
    let tier = |bit: u16, i: usize| -> Option<Option<Hits>> {
        let hits = Hits {
            blocks: field(i)?,
            bytes: field(i + 1)?,
        };
        Some((tiers & bit != 0).then_some(hits))
    };
    Some(MountStats {
        meta: MetaCounters {
            ops: field(0)?,
            nanos: field(1)?,
            retries: field(16)?,
            requests: EngineCounters {
                reads: field(17)?,
                commits: field(18)?,
                compares: field(19)?,
                cached: field(20)?,
            },
        },
        objects: ObjectCounters {
            gets: field(2)?,
            get_bytes: field(3)?,
            get_nanos: field(4)?,
            puts: field(5)?,
            put_bytes: field(6)?,
            put_nanos: field(7)?,
        },
        memory: tier(HAS_MEMORY, 8)?,
        disk: tier(HAS_DISK, 10)?,
        group: tier(HAS_GROUP, 12)?,
        remote: tier(HAS_CACHES, 14)?,
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

    fn sample() -> MountStats {
        MountStats {
            meta: MetaCounters {
                ops: 12,
                nanos: 3_400_000,
                retries: 1,
                requests: EngineCounters {
                    reads: 30,
                    commits: 7,
                    compares: 41,
                    cached: 90,
                },
            },
            objects: ObjectCounters {
                gets: 5,
                get_bytes: 5 << 20,
                get_nanos: 9_000_000,
                puts: 8,
                put_bytes: u64::MAX,
                put_nanos: 1,
            },
            memory: Some(Hits {
                blocks: 100,
                bytes: 400 << 20,
            }),
            disk: None,
            group: Some(Hits::default()),
            remote: Some(Hits {
                blocks: 5,
                bytes: 5 << 20,
            }),
        }
    }

    #[test]
    fn stats_round_trip() {
        assert!(is_stats_request(&encode_stats_request()));
        let stats = sample();
        assert_eq!(decode_stats(&encode_stats(&stats)), Some(stats));
        let bare = MountStats::default();
        assert_eq!(decode_stats(&encode_stats(&bare)), Some(bare));
        assert_eq!(STATS_CMD, 0xc100_4402);
        assert_ne!(STATS_CMD, CMD);
    }

    #[test]
    fn malformed_stats_are_refused() {
        let good = encode_stats(&sample());
        assert!(decode_stats(&good[..STATS_SIZE - 1]).is_none());
        assert!(decode_stats(&[]).is_none());
        assert!(decode_stats(&[0; STATS_SIZE]).is_none());
        let mut longer = good.to_vec();
        longer.push(0);
        assert!(decode_stats(&longer).is_none());
        let mut bad_version = good;
        bad_version[4] = 9;
        assert!(decode_stats(&bad_version).is_none());
        let mut bad_magic = good;
        bad_magic[0] = b'X';
        assert!(decode_stats(&bad_magic).is_none());
        let mut unknown_tier = good;
        unknown_tier[6] |= 0x10;
        assert!(decode_stats(&unknown_tier).is_none());
        // The warmup protocol is not a stats request, nor a stats answer a request.
        let warm = encode_request(&Request {
            op: CacheOp::Warm,
            offset: 0,
            len: 1,
        });
        assert!(!is_stats_request(&warm));
        assert!(!is_stats_request(&good));
        let mut request = encode_stats_request();
        request[4] = 1;
        assert!(!is_stats_request(&request));
    }

    #[test]
    fn deltas_never_go_negative() {
        let now = sample();
        let delta = now.since(&MountStats {
            meta: MetaCounters {
                ops: 2,
                nanos: u64::MAX,
                retries: 3,
                requests: EngineCounters {
                    reads: 10,
                    ..EngineCounters::default()
                },
            },
            memory: Some(Hits {
                blocks: 40,
                bytes: 0,
            }),
            ..MountStats::default()
        });
        assert_eq!(
            delta.meta,
            MetaCounters {
                ops: 10,
                nanos: 0,
                retries: 0,
                requests: EngineCounters {
                    reads: 20,
                    commits: 7,
                    compares: 41,
                    cached: 90,
                },
            }
        );
        assert_eq!(delta.memory.unwrap().blocks, 60);
        assert_eq!(delta.disk, None);
        assert_eq!(delta.remote, now.remote);
    }
}
