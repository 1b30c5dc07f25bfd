//! `BlockStore`: objects in blocks on one backend.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::try_join_all;

use crate::error::{Result, StoreError};
use crate::local::LocalDir;
use crate::url::{S3Location, StorageUrl};

/// Threads that write the blocks of one object to a local directory at once.
const LOCAL_WRITERS: usize = 4;

fn panicked() -> StoreError {
    StoreError::io(
        "block writer",
        std::io::Error::other("a block writer thread panicked"),
    )
}

/// Total and free bytes of the storage under a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub total: u64,
    pub free: u64,
}

#[derive(Debug)]
enum Backend {
    Local(LocalDir),
    Service(opendal::Operator),
}

/// How long one operation on a remote store may take, retries included, by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// Immutable objects stored as blocks of `block_size` bytes.
#[derive(Debug)]
pub struct BlockStore {
    url: StorageUrl,
    block_size: u32,
    backend: Backend,
    deadline: Duration,
}

/// How long one object-store request may take, whole and between bytes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Retries of a failed request, with exponential backoff (1, 2, 4 s) and jitter.
const RETRIES: usize = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// Requests in flight to one object store.
const CONCURRENCY: usize = 64;

/// An S3 bucket behind timeouts, retries with backoff, and bounded concurrency.
fn s3_operator(s3: &S3Location) -> Result<opendal::Operator> {
    // reqwest's rustls comes without a crypto provider (keeps aws-lc out): ring is ours, then
    // the HTTP transport every OpenDAL HTTP service uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    opendal_http_transport_reqwest::install_default();
    let mut builder = opendal::services::S3::default()
        .bucket(&s3.bucket)
        .root(&format!("/{}", s3.prefix))
        .region(s3.region.as_deref().unwrap_or("us-east-1"));
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.endpoint(endpoint);
    }
    if s3.virtual_host {
        builder = builder.enable_virtual_host_style();
    }
    Ok(opendal::Operator::new(builder)?
        .layer(
            opendal::layers::TimeoutLayer::new()
                .with_timeout(REQUEST_TIMEOUT)
                .with_io_timeout(IO_TIMEOUT),
        )
        .layer(
            opendal::layers::RetryLayer::new()
                .with_max_times(RETRIES)
                .with_max_delay(MAX_BACKOFF)
                .with_jitter(),
        )
        .layer(opendal::layers::ConcurrentLimitLayer::new(CONCURRENCY)))
}

/// The name of block `index` of `object`: objects spread over two levels of directories so
/// none grows past a few thousand entries.
pub fn block_name(object: u64, index: u64) -> String {
    format!(
        "{}/{}/{object}_{index}",
        object / 1_000_000,
        object / 1_000 % 1_000
    )
}

/// The object and block index a block name stands for.
pub fn parse_block_name(name: &str) -> Option<(u64, u64)> {
    let file = name.rsplit('/').next()?;
    let (object, index) = file.split_once('_')?;
    let parsed = (object.parse().ok()?, index.parse().ok()?);
    (block_name(parsed.0, parsed.1) == name).then_some(parsed)
}

impl BlockStore {
    /// Opens the storage at `url`; with `create`, a missing local directory is made.
    pub fn open(url: &StorageUrl, block_size: u32, create: bool) -> Result<Self> {
        if block_size == 0 || !block_size.is_power_of_two() {
            return Err(StoreError::Url {
                url: url.to_string(),
                reason: format!("block size {block_size} is not a power of two"),
            });
        }
        let backend = match url {
            StorageUrl::File(root) => {
                Backend::Local(LocalDir::open(root, create).map_err(|e| StoreError::Url {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?)
            }
            StorageUrl::Memory => {
                Backend::Service(opendal::Operator::new(opendal::services::Memory::default())?)
            }
            StorageUrl::S3(s3) => Backend::Service(s3_operator(s3)?),
        };
        Ok(Self {
            url: url.clone(),
            block_size,
            backend,
            deadline: DEFAULT_DEADLINE,
        })
    }

    /// Bounds every operation on a remote store, retries included: past it the operation
    /// fails (EIO) instead of waiting for a store that stopped answering.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Runs `op` within the deadline.
    async fn bounded<T>(&self, op: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::time::timeout(self.deadline, op)
            .await
            .unwrap_or(Err(StoreError::TimedOut(self.deadline)))
    }

    pub fn url(&self) -> &StorageUrl {
        &self.url
    }

    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    fn blocks(&self, len: u64) -> u64 {
        len.div_ceil(u64::from(self.block_size))
    }

    /// Writes a new object.
    pub async fn put(&self, object: u64, data: &[u8]) -> Result<()> {
        let bs = self.block_size as usize;
        match &self.backend {
            Backend::Local(dir) => {
                let blocks: Vec<&[u8]> = data.chunks(bs).collect();
                // Copying into the page cache is the cost: spread the blocks over threads.
                let lanes = blocks.len().min(LOCAL_WRITERS);
                let results: Vec<Result<()>> = std::thread::scope(|scope| {
                    let writers: Vec<_> = (0..lanes)
                        .map(|lane| {
                            let blocks = &blocks;
                            scope.spawn(move || {
                                (lane..blocks.len()).step_by(lanes).try_for_each(|index| {
                                    dir.write(&block_name(object, index as u64), blocks[index])
                                })
                            })
                        })
                        .collect();
                    writers
                        .into_iter()
                        .map(|w| w.join().unwrap_or_else(|_| Err(panicked())))
                        .collect()
                });
                if let Some(err) = results.into_iter().find_map(Result::err) {
                    // Half an object is garbage: take back what was written.
                    for index in 0..blocks.len() {
                        let _ = dir.delete(&block_name(object, index as u64));
                    }
                    return Err(err);
                }
                Ok(())
            }
            Backend::Service(op) => {
                let puts = data.chunks(bs).enumerate().map(|(index, block)| {
                    let name = block_name(object, index as u64);
                    let block = Bytes::copy_from_slice(block);
                    async move { op.write(&name, block).await.map(|_| ()) }
                });
                self.bounded(async { Ok(try_join_all(puts).await.map(drop)?) })
                    .await
            }
        }
    }

    /// Reads `len` bytes at `offset` of `object`, from as many blocks as it spans.
    pub async fn read(&self, object: u64, offset: u64, len: u64) -> Result<Bytes> {
        let bs = u64::from(self.block_size);
        let end = offset + len;
        let mut parts = Vec::new();
        let mut at = offset;
        while at < end {
            let index = at / bs;
            let stop = ((index + 1) * bs).min(end);
            parts.push((index, at - index * bs, stop - at));
            at = stop;
        }
        if let [(index, within, len)] = parts[..] {
            return self.read_block(object, index, within, len).await;
        }
        let reads = parts
            .iter()
            .map(|&(index, within, len)| self.read_block(object, index, within, len));
        let pieces = try_join_all(reads).await?;
        let mut out = BytesMut::with_capacity(len as usize);
        pieces.iter().for_each(|p| out.extend_from_slice(p));
        Ok(out.freeze())
    }

    async fn read_block(&self, object: u64, index: u64, offset: u64, len: u64) -> Result<Bytes> {
        let name = block_name(object, index);
        match &self.backend {
            Backend::Local(dir) => dir.read(&name, offset, len as usize),
            Backend::Service(op) => {
                let read = async {
                    op.read_with(&name)
                        .range(offset..offset + len)
                        .await
                        .map_err(|e| match e.kind() {
                            opendal::ErrorKind::NotFound => StoreError::Missing(name.clone()),
                            _ => StoreError::Service(e),
                        })
                };
                let buffer = self.bounded(read).await?;
                if buffer.len() as u64 != len {
                    return Err(StoreError::Missing(format!("{name} (short block)")));
                }
                Ok(buffer.to_bytes())
            }
        }
    }

    /// Deletes every block of an object of `len` bytes.
    pub async fn delete(&self, object: u64, len: u64) -> Result<()> {
        for index in 0..self.blocks(len).max(1) {
            let name = block_name(object, index);
            match &self.backend {
                Backend::Local(dir) => dir.delete(&name)?,
                Backend::Service(op) => self.bounded(async { Ok(op.delete(&name).await?) }).await?,
            }
        }
        Ok(())
    }

    /// Makes every block written so far durable.
    pub async fn sync(&self) -> Result<()> {
        match &self.backend {
            Backend::Local(dir) => dir.sync(),
            Backend::Service(_) => Ok(()),
        }
    }

    /// Every object present, with the sizes of its blocks by index.
    pub async fn list(&self) -> Result<BTreeMap<u64, BTreeMap<u64, u64>>> {
        let names = match &self.backend {
            Backend::Local(dir) => dir.list()?,
            Backend::Service(op) => op
                .list_with("")
                .recursive(true)
                .await?
                .into_iter()
                .filter(|e| e.metadata().is_file())
                .map(|e| (e.path().to_string(), e.metadata().content_length()))
                .collect(),
        };
        let mut objects: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
        for (name, size) in names {
            match parse_block_name(&name) {
                Some((object, index)) => {
                    objects.entry(object).or_default().insert(index, size);
                }
                None => tracing::debug!(name, "not a block"),
            }
        }
        Ok(objects)
    }

    /// Writes, reads back and deletes a probe block: is the storage usable?
    pub async fn probe(&self) -> Result<()> {
        let object = u64::MAX;
        self.put(object, b"datenlord probe").await?;
        let back = self.read(object, 0, 15).await;
        self.delete(object, 15).await?;
        if back?.as_ref() != b"datenlord probe" {
            return Err(StoreError::Missing(block_name(object, 0)));
        }
        Ok(())
    }

    /// The size and free space of the storage, when it has one.
    pub fn capacity(&self) -> Option<Capacity> {
        match &self.backend {
            Backend::Local(dir) => {
                let stat = nix::sys::statvfs::statvfs(dir.root()).ok()?;
                let unit = stat.fragment_size();
                Some(Capacity {
                    total: stat.blocks() * unit,
                    free: stat.blocks_available() * unit,
                })
            }
            Backend::Service(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(store: &BlockStore) {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        store.put(7, &data).await.unwrap();
        assert_eq!(store.read(7, 0, 10_000).await.unwrap(), data);
        assert_eq!(store.read(7, 4000, 200).await.unwrap(), data[4000..4200]);
        let listed = store.list().await.unwrap();
        assert_eq!(listed[&7].len(), 3);
        store.delete(7, 10_000).await.unwrap();
        let err = store.read(7, 0, 1).await.unwrap_err();
        assert!(matches!(err, StoreError::Missing(_)), "{err}");
        store.probe().await.unwrap();
    }

    #[tokio::test]
    async fn local_and_memory_backends_agree() {
        let dir = tempfile::tempdir().unwrap();
        let url = StorageUrl::File(dir.path().join("blocks"));
        let local = BlockStore::open(&url, 4096, true).unwrap();
        round_trip(&local).await;
        local.sync().await.unwrap();
        assert!(local.capacity().unwrap().total > 0);
        round_trip(&BlockStore::open(&StorageUrl::Memory, 4096, true).unwrap()).await;
    }

    #[test]
    fn block_names_round_trip() {
        assert_eq!(block_name(1_234_567, 3), "1/234/1234567_3");
        assert_eq!(parse_block_name("1/234/1234567_3"), Some((1_234_567, 3)));
        assert_eq!(parse_block_name("1/2/1234567_3"), None);
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let url = StorageUrl::File("/nonexistent/blocks".into());
        let err = BlockStore::open(&url, 4096, false).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/blocks"), "{err}");
    }
}
