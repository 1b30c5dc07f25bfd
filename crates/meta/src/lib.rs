//! DatenLord's metadata: inodes, directory entries, symbolic links, extended attributes and
//! the chunk maps of file data, written once over a transactional ordered key-value store
//! ([`engine`]) so that every engine (SQLite embedded, etcd) shares the logic. The key schema is in
//! [`keys`], the record encodings in [`model`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod acl;
mod attr;
mod cache_nodes;
mod check;
pub mod chunk;
mod clone;
pub mod dump;
pub mod engine;
mod error;
pub mod hex;
pub mod keys;
mod locks;
mod meta;
pub mod model;
mod namespace;
mod quota;
mod session;
mod snapshot;
mod trash;
pub mod volume;
mod watch;
mod xattr;

pub use attr::{SetAttr, kill_suidgid};
pub use cache_nodes::{CacheNodeInfo, check_group_name};
pub use check::MetaReport;
pub use chunk::{COMPACT_SLICES, ChunkSlice, NewObject, Piece, split_range, visible};
pub use clone::{CLONE_LEASE, CloneRecord, Cloned};
pub use engine::{EngineCounters, MetaUrl, PASSWORD_ENV, SCHEMES, TlsFiles};
pub use error::{MetaError, Result};
pub use locks::{LockOwner, LockRange};
pub use meta::{Caller, Meta, MetaCounters, Usage};
pub use model::{
    Attr, CHUNK_SIZE, Dirent, FileKind, MAX_FILE_SIZE, Quota, ROOT_INO, Slice, Timespec,
};
pub use namespace::{
    DIR_SIZE, NAME_MAX, NewInode, OpenFiles, RENAME_EXCHANGE, RENAME_NOREPLACE, Removed, check_name,
};
pub use quota::{QuotaCheck, QuotaLimits};
pub use session::{NODE_NAME_ENV, SessionInfo};
pub use snapshot::SnapshotInfo;
pub use trash::{KeptData, Purged, TrashEntry, hour_name, hour_start};
pub use volume::{DEFAULT_BLOCK_SIZE, FORMAT_VERSION, Volume};
pub use watch::{Change, Watch};
pub use xattr::{XATTR_CREATE, XATTR_REPLACE};
