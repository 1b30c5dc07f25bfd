//! DatenLord's POSIX layer: the operations of a mounted volume over [`datenlord_meta`] (names,
//! attributes, chunk maps) and [`datenlord_store`] (blocks). It owns what exists only while a
//! volume is mounted: open files with their write buffers, handles, directory listings being
//! read, and locks. Errors become errnos in one place ([`VfsError::errno`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attributes;
mod background;
mod buffer;
mod cache_control;
mod check;
mod compact;
mod data;
mod directories;
mod error;
mod gc;
mod handles;
mod liveness;
mod locks;
mod open_file;
mod read;
mod readahead;
mod settle_log;
mod size;
mod vfs;
mod write;

pub use attributes::FsStats;
pub use cache_control::{CacheOp, CacheReport};
pub use check::{FsckReport, fsck};
pub use directories::DirEntry;
pub use error::{Result, VfsError};
pub use gc::{GcReport, gc};
pub use liveness::{clone_is_dead, host_identity};
pub use locks::{LockRange, Locks};
pub use size::{SizeError, parse_size};
pub use vfs::{Vfs, VfsConfig, this_host};
