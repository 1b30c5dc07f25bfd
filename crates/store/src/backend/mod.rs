//! Where blocks are kept below every cache tier: the [`Backend`] trait, a local directory
//! ([`local::LocalDir`]) and OpenDAL services ([`opendal::OpendalBackend`]: `memory://`, S3).
//!
//! A backend knows blocks only by name ([`crate::block_name`]) and keeps their bytes; it knows
//! nothing of objects, caches, counters or deadlines — [`crate::BlockStore`] does that around
//! it, the same way for every backend.
//!
//! **Dispatch.** The store holds an [`AnyBackend`], an enum whose [`Backend`] impl matches
//! once per call and delegates: static dispatch, no boxed future and no allocation per block
//! read, and the futures stay `Send` without `dyn` bounds. Backends are few and all known to
//! this crate, so an enum costs nothing in flexibility that a `dyn Backend` would buy.
//!
//! **Errors every backend keeps to.** A block that is not there is [`StoreError::Missing`]
//! (whatever the backend's own word for it); a block shorter than the range asked of it is
//! `Missing` too, with "(short block)" after its name (blocks never shrink, so it was
//! damaged — or the caller read past the object's end); a full disk or quota is [`StoreError::NoSpace`] (through [`StoreError::io`]); other local
//! failures are [`StoreError::Io`] with the path, a service's are [`StoreError::Service`].

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use futures::future::Either;

use crate::error::{Result, StoreError};
use crate::url::StorageUrl;

pub mod local;
pub mod opendal;
mod s3;

pub use local::LocalDir;
pub use opendal::OpendalBackend;

/// Total and free bytes of the storage under a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Bytes the filesystem holds in all.
    pub total: u64,
    /// Bytes an unprivileged writer may still use.
    pub free: u64,
}

/// Called once for every block a put attempted (failed ones too), with the block's length
/// and how long its write took: the store's request counters.
pub type PutCounter<'a> = &'a (dyn Fn(u64, Duration) + Sync);

/// What the block store needs of the storage under it. Blocks are written once, read in
/// ranges or whole, and deleted; none is ever changed in place.
pub trait Backend: std::fmt::Debug + Send + Sync {
    /// Writes the new blocks of one object, `(name, bytes)` each, as many at once as the
    /// backend does well. `count` is told of each block attempted. On success every block is
    /// stored (durable only after [`Backend::sync`]). On failure the first error is returned;
    /// a local directory removes the blocks it wrote, a service may keep some (the object is
    /// recorded as pending by its writer and reclaimed with them).
    fn put_blocks(
        &self,
        blocks: &[(String, &[u8])],
        count: PutCounter<'_>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Exactly `len` bytes at `offset` of block `name`: [`StoreError::Missing`] if there is
    /// no such block or it ends before `offset + len`.
    fn read_range(
        &self,
        name: &str,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = Result<Bytes>> + Send;

    /// The whole block `name`; [`StoreError::Missing`] if there is none.
    fn read_whole(&self, name: &str) -> impl Future<Output = Result<Bytes>> + Send;

    /// Deletes block `name`. A block already gone is fine: deletes are retried after crashes.
    fn delete(&self, name: &str) -> impl Future<Output = Result<()>> + Send;

    /// Makes every block written so far durable (a no-op where a write already is).
    fn sync(&self) -> impl Future<Output = Result<()>> + Send;

    /// Every stored block, as (name, size in bytes), in no particular order; names that are
    /// not blocks' are listed too and left to the caller to skip. A stream, so that a caller
    /// can bound each wait for the next page of a service's listing rather than the whole.
    fn list(&self) -> impl Stream<Item = Result<(String, u64)>> + Send;

    /// The size and free space of the storage, when it has one (a local filesystem).
    fn capacity(&self) -> Option<Capacity>;

    /// Whether an operation may wait on another machine (a network service), so the store
    /// must bound it by its deadline. A local directory answers or fails by itself.
    fn needs_deadline(&self) -> bool;
}

/// The backend a STORAGE_URL names.
#[derive(Debug)]
pub enum AnyBackend {
    /// `file:///DIR`.
    Local(LocalDir),
    /// `memory://` or `s3://…`.
    Opendal(OpendalBackend),
}

impl AnyBackend {
    /// Opens the storage at `url`; with `create`, a missing local directory is made. Nothing
    /// is asked of a service yet: [`crate::BlockStore::probe`] finds out whether it answers.
    pub fn open(url: &StorageUrl, create: bool) -> Result<Self> {
        Ok(match url {
            StorageUrl::File(root) => {
                Self::Local(LocalDir::open(root, create).map_err(|e| StoreError::Url {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?)
            }
            StorageUrl::Memory => Self::Opendal(OpendalBackend::memory()?),
            StorageUrl::S3(s3) => Self::Opendal(OpendalBackend::s3(s3)?),
        })
    }
}

impl Backend for AnyBackend {
    async fn put_blocks(&self, blocks: &[(String, &[u8])], count: PutCounter<'_>) -> Result<()> {
        match self {
            Self::Local(b) => b.put_blocks(blocks, count).await,
            Self::Opendal(b) => b.put_blocks(blocks, count).await,
        }
    }

    async fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes> {
        match self {
            Self::Local(b) => b.read_range(name, offset, len).await,
            Self::Opendal(b) => b.read_range(name, offset, len).await,
        }
    }

    async fn read_whole(&self, name: &str) -> Result<Bytes> {
        match self {
            Self::Local(b) => b.read_whole(name).await,
            Self::Opendal(b) => b.read_whole(name).await,
        }
    }

    async fn delete(&self, name: &str) -> Result<()> {
        match self {
            Self::Local(b) => b.delete(name).await,
            Self::Opendal(b) => b.delete(name).await,
        }
    }

    async fn sync(&self) -> Result<()> {
        match self {
            Self::Local(b) => b.sync().await,
            Self::Opendal(b) => b.sync().await,
        }
    }

    fn list(&self) -> impl Stream<Item = Result<(String, u64)>> + Send {
        match self {
            Self::Local(b) => Either::Left(b.list()),
            Self::Opendal(b) => Either::Right(b.list()),
        }
    }

    fn capacity(&self) -> Option<Capacity> {
        match self {
            Self::Local(b) => b.capacity(),
            Self::Opendal(b) => b.capacity(),
        }
    }

    fn needs_deadline(&self) -> bool {
        match self {
            Self::Local(b) => b.needs_deadline(),
            Self::Opendal(b) => b.needs_deadline(),
        }
    }
}
