//! DatenLord's block store. File data lives in immutable objects, each cut into blocks of the
//! volume's block size and stored as `{object}_{index}`; an object is written once and only
//! ever deleted whole, so no block is ever changed in place.
//!
//! Backends ([`backend`]): a directory on the local disk (the default) and OpenDAL services
//! (`memory://`, and S3 behind timeouts, retries and a concurrency limit); in front of them
//! the local [`cache`] tiers (memory, disk) and a cache [`group`] of neighbour nodes.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backend;
pub mod cache;
mod error;
pub mod group;
mod object_stats;
mod store;
mod url;

pub use error::{Result, StoreError};
pub use object_stats::ObjectCounters;
pub use store::{BlockStore, Capacity, DEFAULT_DEADLINE, block_name, parse_block_name};
pub use url::{S3Location, StorageUrl};
