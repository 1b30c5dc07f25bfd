//! INIT: settle on a protocol version and the features both sides have.

use zerocopy::IntoBytes;

use crate::abi::{self, init_flags as f};
use crate::session::Config;

/// What was agreed with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitInfo {
    /// The kernel's protocol major version (7).
    pub kernel_major: u32,
    /// The kernel's protocol minor version, which says what it can do.
    pub kernel_minor: u32,
    /// The minor version both sides speak.
    pub minor: u32,
    /// The INIT flags the kernel offered.
    pub offered: u64,
    /// The INIT flags in force (`abi::init_flags`).
    pub flags: u64,
    /// The largest WRITE payload in bytes; the page count sent with it bounds READs too.
    pub max_write: u32,
    /// The most bytes the kernel reads ahead of a sequential reader.
    pub max_readahead: u32,
}

impl InitInfo {
    /// Whether an `abi::init_flags` feature is in force.
    pub fn has(&self, flag: u64) -> bool {
        self.flags & flag != 0
    }
}

/// How INIT was answered: the reply bytes, and the agreement when there is one.
#[derive(Debug)]
pub(crate) enum Negotiated {
    /// Agreed; serve requests.
    Ready { info: InitInfo, reply: Vec<u8> },
    /// The kernel's major version is newer: we answered with ours and it will ask again.
    Retry { reply: Vec<u8> },
    /// No common version.
    Refused {
        kernel_major: u32,
        kernel_minor: u32,
    },
}

/// The features we ask for whenever the kernel offers them.
const WANTED: u64 = f::ASYNC_READ
    | f::POSIX_LOCKS
    | f::ATOMIC_O_TRUNC
    | f::EXPORT_SUPPORT
    | f::BIG_WRITES
    | f::FLOCK_LOCKS
    | f::HAS_IOCTL_DIR
    | f::AUTO_INVAL_DATA
    | f::DO_READDIRPLUS
    | f::READDIRPLUS_AUTO
    | f::ASYNC_DIO
    | f::PARALLEL_DIROPS
    | f::MAX_PAGES
    | f::CACHE_SYMLINKS
    | f::HANDLE_KILLPRIV_V2
    | f::SETXATTR_EXT
    | f::INIT_EXT
    | f::HAS_EXPIRE_ONLY;

const PAGE_SIZE: u32 = 4096;
/// The kernel's `max_pages` limit without FUSE_MAX_PAGES.
const DEFAULT_MAX_PAGES: u32 = 32;
/// The kernel's cap on `max_pages`.
const MAX_MAX_PAGES: u32 = 256;

pub(crate) fn negotiate(
    config: &Config,
    major: u32,
    minor: u32,
    max_readahead: u32,
    offered: u64,
) -> Negotiated {
    if major > abi::KERNEL_VERSION {
        let out = abi::InitOut {
            major: abi::KERNEL_VERSION,
            minor: abi::KERNEL_MINOR_VERSION,
            ..Default::default()
        };
        return Negotiated::Retry {
            reply: out.as_bytes()[..8].to_vec(),
        };
    }
    if major < abi::KERNEL_VERSION || minor < abi::MIN_KERNEL_MINOR_VERSION {
        return Negotiated::Refused {
            kernel_major: major,
            kernel_minor: minor,
        };
    }
    // The high half of the flags only exists when the kernel says so with INIT_EXT.
    let offered = if offered & f::INIT_EXT == 0 {
        offered & 0xffff_ffff
    } else {
        offered
    };
    let mut wanted = WANTED;
    if config.writeback_cache {
        wanted |= f::WRITEBACK_CACHE;
    }
    if config.posix_acl {
        wanted |= f::POSIX_ACL | f::DONT_MASK;
    }
    let flags = wanted & offered;

    let max_pages_limit = if flags & f::MAX_PAGES != 0 {
        MAX_MAX_PAGES
    } else {
        DEFAULT_MAX_PAGES
    };
    let max_write = config
        .max_write
        .clamp(PAGE_SIZE, max_pages_limit * PAGE_SIZE);
    let max_pages = max_write.div_ceil(PAGE_SIZE);
    let max_readahead = max_readahead.min(config.max_readahead);
    let minor = minor.min(abi::KERNEL_MINOR_VERSION);

    let out = abi::InitOut {
        major: abi::KERNEL_VERSION,
        minor,
        max_readahead,
        flags: flags as u32,
        max_background: config.max_background,
        congestion_threshold: config.congestion_threshold.min(config.max_background),
        max_write,
        time_gran: 1,
        max_pages: max_pages as u16,
        map_alignment: 0,
        flags2: (flags >> 32) as u32,
        max_stack_depth: 0,
        request_timeout: 0,
        unused: [0; 11],
    };
    let len = if minor < 23 {
        abi::COMPAT_22_INIT_OUT_SIZE
    } else {
        size_of::<abi::InitOut>()
    };
    Negotiated::Ready {
        info: InitInfo {
            kernel_major: major,
            kernel_minor: minor,
            minor,
            offered,
            flags,
            max_write,
            max_readahead,
        },
        reply: out.as_bytes()[..len].to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::FromBytes;

    fn ready(n: Negotiated) -> (InitInfo, abi::InitOut) {
        match n {
            Negotiated::Ready { info, reply } => {
                let mut full = reply.clone();
                full.resize(size_of::<abi::InitOut>(), 0);
                (info, abi::InitOut::read_from_bytes(&full).unwrap())
            }
            other => panic!("not ready: {other:?}"),
        }
    }

    #[test]
    fn a_new_kernel_gets_every_wanted_feature_and_1_mib_writes() {
        let offered = u64::MAX >> 20;
        let (info, out) = ready(negotiate(&Config::default(), 7, 44, 128 * 1024, offered));
        assert_eq!(out.minor, 44);
        assert_eq!(out.max_write, 1 << 20);
        assert_eq!(out.max_pages, 256);
        assert!(
            info.has(f::PARALLEL_DIROPS)
                && info.has(f::READDIRPLUS_AUTO)
                && info.has(f::HANDLE_KILLPRIV_V2)
        );
        assert!(!info.has(f::WRITEBACK_CACHE), "writeback cache is opt-in");
        assert_eq!(out.flags2 as u64, (info.flags >> 32));
        assert_eq!(out.max_readahead, 128 * 1024);
    }

    #[test]
    fn an_old_kernel_degrades_gracefully() {
        let offered = f::ASYNC_READ | f::BIG_WRITES | f::POSIX_LOCKS;
        let (info, out) = ready(negotiate(
            &Config {
                writeback_cache: true,
                ..Config::default()
            },
            7,
            22,
            65536,
            offered,
        ));
        assert_eq!(info.flags, offered);
        assert_eq!(
            out.max_write,
            128 * 1024,
            "without MAX_PAGES the kernel caps at 32 pages"
        );
        match negotiate(&Config::default(), 7, 22, 65536, offered) {
            Negotiated::Ready { reply, .. } => assert_eq!(reply.len(), 24),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags2_is_ignored_without_init_ext_and_versions_are_checked() {
        let (info, _) = ready(negotiate(
            &Config::default(),
            7,
            40,
            0,
            f::ASYNC_READ | f::HAS_EXPIRE_ONLY,
        ));
        assert_eq!(info.flags, f::ASYNC_READ);
        assert!(matches!(
            negotiate(&Config::default(), 7, 8, 0, 0),
            Negotiated::Refused { .. }
        ));
        assert!(matches!(
            negotiate(&Config::default(), 8, 0, 0, 0),
            Negotiated::Retry { .. }
        ));
    }
}
