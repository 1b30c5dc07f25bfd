//! `BlockStore`: objects in blocks on one backend.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures::future::{BoxFuture, Shared, try_join_all};
use futures::{FutureExt, TryStreamExt};

pub use crate::backend::Capacity;
use crate::backend::{AnyBackend, Backend};
use crate::cache::{Access, BlockCache, BlockKey, CacheConfig, CacheCounters, HitRange};
use crate::error::{Result, StoreError};
use crate::group::GroupClient;
use crate::object_stats::{ObjectCounters, ObjectStats};
use crate::url::StorageUrl;

/// The object backend and what was asked of it: every block read or written below the
/// cache tiers goes through here and is counted.
#[derive(Debug)]
struct Objects {
    backend: AnyBackend,
    stats: ObjectStats,
}

impl Objects {
    /// Runs `op` on the backend within `deadline`, if the backend can stall at all.
    async fn bounded<T>(
        &self,
        deadline: Duration,
        op: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        if self.backend.needs_deadline() {
            bounded(deadline, op).await
        } else {
            op.await
        }
    }
}

/// How long one operation on a remote store may take, retries included, by default.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// Immutable objects stored as blocks of `block_size` bytes.
#[derive(Debug)]
pub struct BlockStore {
    url: StorageUrl,
    block_size: u32,
    objects: Arc<Objects>,
    deadline: Duration,
    cache: Option<Arc<Cached>>,
    /// The cache group asked before the object store.
    group: Option<Arc<GroupClient>>,
}

/// A fetch of a whole block that every reader wanting it meanwhile awaits.
type Fetch = Shared<BoxFuture<'static, std::result::Result<Bytes, Arc<StoreError>>>>;

/// Whole blocks fetched from the store in the background at once (read-ahead, and the fill
/// behind a random read that fetched only its range): bounds their memory.
const BACKGROUND_FETCHES: usize = 16;
/// Blocks waiting to be written to the disk tier; more are not cached.
const PENDING_DISK_WRITES: usize = 32;

/// The caches of a store and the fetches in flight.
struct Cached {
    tiers: BlockCache,
    fetching: Mutex<HashMap<BlockKey, Fetch>>,
    background: Arc<tokio::sync::Semaphore>,
    disk_writes: AtomicUsize,
}

impl std::fmt::Debug for Cached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cached")
            .field("tiers", &self.tiers)
            .field("disk_writes", &self.disk_writes)
            .finish_non_exhaustive()
    }
}

impl Cached {
    fn new(tiers: BlockCache) -> Self {
        Self {
            tiers,
            fetching: Mutex::new(HashMap::new()),
            background: Arc::new(tokio::sync::Semaphore::new(BACKGROUND_FETCHES)),
            disk_writes: AtomicUsize::new(0),
        }
    }

    fn fetching(&self) -> std::sync::MutexGuard<'_, HashMap<BlockKey, Fetch>> {
        self.fetching.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a block: in memory now, on disk from a blocking thread (unless too many writes
    /// wait already: a cache may skip, a reader may not wait for it). A fetch of the block
    /// stays listed until then, so readers meanwhile take its result instead of fetching again.
    fn keep(self: &Arc<Self>, key: BlockKey, block: &Bytes, access: Access) {
        self.tiers.put_memory(key, block.clone(), access);
        if !self.tiers.has_disk() {
            self.fetching().remove(&key);
            return;
        }
        if self.disk_writes.fetch_add(1, Ordering::Relaxed) >= PENDING_DISK_WRITES {
            self.disk_writes.fetch_sub(1, Ordering::Relaxed);
            self.fetching().remove(&key);
            return;
        }
        let (cached, block) = (self.clone(), block.clone());
        tokio::task::spawn_blocking(move || {
            cached.tiers.put_disk(key, &block, access);
            cached.disk_writes.fetch_sub(1, Ordering::Relaxed);
            cached.fetching().remove(&key);
        });
    }
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
        let backend = AnyBackend::open(url, create)?;
        Ok(Self {
            url: url.clone(),
            block_size,
            objects: Arc::new(Objects {
                backend,
                stats: ObjectStats::default(),
            }),
            deadline: DEFAULT_DEADLINE,
            cache: None,
            group: None,
        })
    }

    /// Asks the members of a cache group for blocks before the object store (blocks they
    /// send are kept in this store's own tiers too).
    pub fn with_group(mut self, group: Arc<GroupClient>) -> Result<Self> {
        if self.cache.is_none() {
            self.cache = Some(Arc::new(Cached::new(
                BlockCache::open(&CacheConfig::default())
                    .map_err(|e| StoreError::io("the block cache", e))?,
            )));
        }
        self.group = Some(group);
        Ok(self)
    }

    /// Puts the local cache tiers of `config` in front of the store.
    pub fn with_cache(mut self, config: &CacheConfig) -> Result<Self> {
        if !config.is_enabled() {
            return Ok(self);
        }
        let tiers = BlockCache::open(config).map_err(|e| StoreError::io("the block cache", e))?;
        self.cache = Some(Arc::new(Cached::new(tiers)));
        Ok(self)
    }

    /// The counters of the cache tiers, if there are any.
    pub fn cache_counters(&self) -> Option<CacheCounters> {
        self.cache.as_ref().map(|c| CacheCounters {
            group: self.group.as_ref().map(|g| g.stats.snapshot()),
            ..c.tiers.counters()
        })
    }

    /// The counters of the requests made of the object backend (below the caches).
    pub fn object_counters(&self) -> ObjectCounters {
        self.objects.stats.snapshot()
    }

    /// Bounds every operation on a remote store, retries included: past it the operation
    /// fails (EIO) instead of waiting for a store that stopped answering.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Runs `op` on the backend within the deadline.
    async fn bounded<T>(&self, op: impl Future<Output = Result<T>>) -> Result<T> {
        self.objects.bounded(self.deadline, op).await
    }

    /// Where the blocks live.
    pub fn url(&self) -> &StorageUrl {
        &self.url
    }

    /// The volume's block size in bytes (a power of two).
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    fn blocks(&self, len: u64) -> u64 {
        len.div_ceil(u64::from(self.block_size))
    }

    /// Writes a new object. An object of one block (a small file, or a small write) is kept
    /// in the caches too: what was just written is often read next.
    pub async fn put(&self, object: u64, data: &[u8]) -> Result<()> {
        self.put_blocks(object, data).await?;
        if let Some(cache) = &self.cache
            && data.len() <= self.block_size as usize
        {
            let key = BlockKey { object, index: 0 };
            cache.keep(key, &Bytes::copy_from_slice(data), Access::Sequential);
        }
        Ok(())
    }

    async fn put_blocks(&self, object: u64, data: &[u8]) -> Result<()> {
        let blocks: Vec<(String, &[u8])> = data
            .chunks(self.block_size as usize)
            .enumerate()
            .map(|(index, block)| (block_name(object, index as u64), block))
            .collect();
        let stats = &self.objects.stats;
        let count = |len, took| stats.put(len, took);
        self.bounded(self.objects.backend.put_blocks(&blocks, &count))
            .await
    }

    /// Reads `len` bytes at `offset` of `object`, from as many blocks as it spans; `access`
    /// says how the reader moves through its file (the caches keep scans apart).
    pub async fn read(&self, object: u64, offset: u64, len: u64, access: Access) -> Result<Bytes> {
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
            return self.read_block(object, index, within, len, access).await;
        }
        let reads = parts
            .iter()
            .map(|&(index, within, len)| self.read_block(object, index, within, len, access));
        let pieces = try_join_all(reads).await?;
        let mut out = BytesMut::with_capacity(len as usize);
        pieces.iter().for_each(|p| out.extend_from_slice(p));
        Ok(out.freeze())
    }

    /// `len` bytes at `offset` of one block: from the nearest cache that has it; else the
    /// whole block is fetched and kept (a sequential reader, or a read from the block's
    /// start, which for a small file is the whole file), or only the range is fetched and
    /// the whole block follows into the cache in the background (a random read in a large
    /// block: it should not wait for megabytes it did not ask for).
    async fn read_block(
        &self,
        object: u64,
        index: u64,
        offset: u64,
        len: u64,
        access: Access,
    ) -> Result<Bytes> {
        let Some(cache) = &self.cache else {
            return read_range(&self.objects, self.deadline, object, index, offset, len).await;
        };
        let key = BlockKey { object, index };
        let range = HitRange::Part { offset, len };
        if !cache.tiers.has_memory() && !cache.tiers.has_disk() {
            // Nothing kept here (a group member does the keeping): fetch only the range.
            return self.fetch_range(cache, key, offset, len).await;
        }
        if let Some(bytes) = cache.tiers.get(key, range, access) {
            return Ok(bytes);
        }
        let in_flight = cache.fetching().get(&key).cloned();
        if in_flight.is_none() && access == Access::Random && offset > 0 {
            self.fill_in_background(key);
            return self.fetch_range(cache, key, offset, len).await;
        }
        let block = match in_flight {
            Some(fetch) => fetch.await,
            None => self.fetch(cache, key, access).await,
        }
        .map_err(StoreError::Shared)?;
        range.of(&block).ok_or_else(|| {
            StoreError::Missing(format!("{} (short block)", block_name(object, index)))
        })
    }

    /// `len` bytes at `offset` of block `key`, not kept: from the cache group, else the store.
    async fn fetch_range(
        &self,
        cache: &Cached,
        key: BlockKey,
        offset: u64,
        len: u64,
    ) -> Result<Bytes> {
        if let Some(group) = &self.group
            && let Some(bytes) = group.get(key, HitRange::Part { offset, len }).await
        {
            return Ok(bytes);
        }
        let started = Instant::now();
        let bytes = read_range(
            &self.objects,
            self.deadline,
            key.object,
            key.index,
            offset,
            len,
        )
        .await?;
        cache
            .tiers
            .remote
            .hit(bytes.len() as u64, started.elapsed());
        Ok(bytes)
    }

    fn source(&self) -> Source {
        Source {
            objects: self.objects.clone(),
            group: self.group.clone(),
            deadline: self.deadline,
        }
    }

    fn fetch(&self, cache: &Arc<Cached>, key: BlockKey, access: Access) -> Fetch {
        fetch(cache, self.source(), key, access)
    }

    /// A whole block, through the caches when there are any.
    pub async fn block(&self, object: u64, index: u64) -> Result<Bytes> {
        let key = BlockKey { object, index };
        let Some(cache) = &self.cache else {
            return read_whole(&self.objects, self.deadline, key).await;
        };
        if let Some(block) = cache.tiers.get(key, HitRange::Whole, Access::Sequential) {
            return Ok(block);
        }
        self.fetch(cache, key, Access::Sequential)
            .await
            .map_err(StoreError::Shared)
    }

    /// Fetches block `key` into the caches from a task of its own, if one of the background
    /// slots is free (else the block is left to a later read).
    fn fill_in_background(&self, key: BlockKey) {
        let Some(cache) = &self.cache else { return };
        if !cache.tiers.has_memory() && !cache.tiers.has_disk() {
            return;
        }
        let Ok(permit) = cache.background.clone().try_acquire_owned() else {
            return;
        };
        let fetch = self.fetch(cache, key, Access::Random);
        tokio::spawn(async move {
            if let Err(err) = fetch.await {
                tracing::debug!(%err, %key, "cannot fill the cache");
            }
            drop(permit);
        });
    }

    /// Brings the blocks spanning `len` bytes at `offset` of `object` into memory ahead of a
    /// sequential reader, in the background; returns at once. Read-ahead waits for a
    /// background slot rather than skip a block the reader is about to want.
    pub fn prefetch(&self, object: u64, offset: u64, len: u64) {
        let Some(cache) = &self.cache else { return };
        if len == 0 || !cache.tiers.has_memory() {
            return;
        }
        let bs = u64::from(self.block_size);
        for index in offset / bs..(offset + len).div_ceil(bs) {
            let key = BlockKey { object, index };
            if cache.tiers.holder(key) == Some(crate::cache::Tier::Memory)
                || cache.fetching().contains_key(&key)
            {
                continue;
            }
            let cached = cache.clone();
            let source = self.source();
            tokio::spawn(async move {
                let Ok(_permit) = cached.background.clone().acquire_owned().await else {
                    return;
                };
                // A disk hit moves the block into memory; a miss fetches it.
                if cached
                    .tiers
                    .get(key, HitRange::Whole, Access::Sequential)
                    .is_some()
                {
                    return;
                }
                let fetch = fetch(&cached, source, key, Access::Sequential);
                if let Err(err) = fetch.await {
                    tracing::debug!(%err, %key, "read-ahead failed");
                }
            });
        }
    }

    /// The blocks `len` bytes at `offset` of `object` span, each with the bytes of the range
    /// it holds.
    fn spanned(&self, object: u64, offset: u64, len: u64) -> impl Iterator<Item = (BlockKey, u64)> {
        let bs = u64::from(self.block_size);
        let end = offset + len;
        (offset / bs..end.div_ceil(bs)).map(move |index| {
            let overlap = end.min((index + 1) * bs) - offset.max(index * bs);
            (BlockKey { object, index }, overlap)
        })
    }

    /// Whether this store has local cache tiers (warm, check and evict need them).
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// Bytes of `len` at `offset` of `object` that a local tier holds.
    pub fn cached_bytes(&self, object: u64, offset: u64, len: u64) -> u64 {
        let Some(cache) = &self.cache else { return 0 };
        self.spanned(object, offset, len)
            .filter(|(key, _)| cache.tiers.holder(*key).is_some())
            .map(|(_, bytes)| bytes)
            .sum()
    }

    /// Brings the blocks `len` bytes at `offset` of `object` span into the cache (the disk
    /// tier when there is one, so that they stay; and the owners in the cache group) and
    /// returns the bytes this store fetched for it.
    pub async fn warm(&self, object: u64, offset: u64, len: u64) -> Result<u64> {
        let Some(cache) = &self.cache else {
            return Ok(0);
        };
        let local = cache.tiers.has_memory() || cache.tiers.has_disk();
        let fetches = self
            .spanned(object, offset, len)
            .map(|(key, _)| async move {
                // The group's owner keeps it for every reader of the group.
                if let Some(group) = &self.group
                    && !group.warm(key).await
                {
                    tracing::debug!(%key, "no member of the cache group could warm a block");
                }
                if !local {
                    return Ok(0);
                }
                let holder = cache.tiers.holder(key);
                if holder == Some(crate::cache::Tier::Disk)
                    || (holder.is_some() && !cache.tiers.has_disk())
                {
                    return Ok(0);
                }
                let block = match holder {
                    Some(_) => cache.tiers.get(key, HitRange::Whole, Access::Sequential),
                    None => None,
                };
                let (block, fetched) = match block {
                    Some(block) => (block, 0),
                    None => {
                        let fetch = self.fetch(cache, key, Access::Sequential);
                        let block = fetch.await.map_err(StoreError::Shared)?;
                        let len = block.len() as u64;
                        (block, len)
                    }
                };
                // Written now, not left to the write-behind, which may skip under load.
                let cached = cache.clone();
                tokio::task::spawn_blocking(move || {
                    cached.tiers.put_disk(key, &block, Access::Sequential);
                })
                .await
                .map_err(|e| StoreError::io("the disk cache", std::io::Error::other(e)))?;
                Ok::<_, StoreError>(fetched)
            });
        Ok(try_join_all(fetches).await?.into_iter().sum())
    }

    /// Drops the blocks `len` bytes at `offset` of `object` span from the local tiers and
    /// returns the bytes of the range they held.
    pub fn evict(&self, object: u64, offset: u64, len: u64) -> u64 {
        let Some(cache) = &self.cache else { return 0 };
        self.spanned(object, offset, len)
            .filter(|(key, _)| {
                let held = cache.tiers.holder(*key).is_some();
                cache.tiers.remove(*key);
                held
            })
            .map(|(_, bytes)| bytes)
            .sum()
    }

    /// Deletes every block of an object of `len` bytes (and drops them from the caches).
    pub async fn delete(&self, object: u64, len: u64) -> Result<()> {
        for index in 0..self.blocks(len).max(1) {
            let name = block_name(object, index);
            if let Some(cache) = &self.cache {
                cache.tiers.remove(BlockKey { object, index });
            }
            self.bounded(self.objects.backend.delete(&name)).await?;
        }
        Ok(())
    }

    /// Makes every block written so far durable.
    pub async fn sync(&self) -> Result<()> {
        self.objects.backend.sync().await
    }

    /// Every block in the store as (object, block index, size), streamed as the backend
    /// lists them (in no particular order): a listing of any size takes little memory.
    pub fn list_blocks(&self) -> impl futures::Stream<Item = Result<(u64, u64, u64)>> + Send + '_ {
        use futures::StreamExt;
        self.objects.backend.list().filter_map(|item| async move {
            match item {
                Ok((name, size)) => match parse_block_name(&name) {
                    Some((object, index)) => Some(Ok((object, index, size))),
                    None => {
                        tracing::debug!(name, "not a block");
                        None
                    }
                },
                Err(err) => Some(Err(err)),
            }
        })
    }

    /// Every object present, with the sizes of its blocks by index. The deadline bounds each
    /// wait for the next page of names, not the whole listing, which for a large volume may
    /// rightly take longer.
    pub async fn list(&self) -> Result<BTreeMap<u64, BTreeMap<u64, u64>>> {
        let mut names = std::pin::pin!(self.objects.backend.list());
        let mut objects: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
        while let Some((name, size)) = self.bounded(names.try_next()).await? {
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
        let back = self.read(object, 0, 15, Access::Random).await;
        self.delete(object, 15).await?;
        if back?.as_ref() != b"datenlord probe" {
            return Err(StoreError::Missing(block_name(object, 0)));
        }
        Ok(())
    }

    /// The size and free space of the storage, when it has one.
    pub fn capacity(&self) -> Option<Capacity> {
        self.objects.backend.capacity()
    }
}

/// Runs `op` within `deadline`.
async fn bounded<T>(deadline: Duration, op: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::time::timeout(deadline, op)
        .await
        .unwrap_or(Err(StoreError::TimedOut(deadline)))
}

/// `len` bytes at `offset` of block `index` of `object`, straight from the backend.
async fn read_range(
    objects: &Objects,
    deadline: Duration,
    object: u64,
    index: u64,
    offset: u64,
    len: u64,
) -> Result<Bytes> {
    let name = block_name(object, index);
    let read = objects.bounded(deadline, objects.backend.read_range(&name, offset, len));
    counted_get(objects, read).await
}

/// A whole block, straight from the backend.
async fn read_whole(objects: &Objects, deadline: Duration, key: BlockKey) -> Result<Bytes> {
    let name = block_name(key.object, key.index);
    let read = objects.bounded(deadline, objects.backend.read_whole(&name));
    counted_get(objects, read).await
}

/// Runs a read of the backend, counting it in `objects`' statistics.
async fn counted_get(
    objects: &Objects,
    read: impl std::future::Future<Output = Result<Bytes>>,
) -> Result<Bytes> {
    let started = Instant::now();
    let read = read.await;
    let got = read.as_ref().map_or(0, |b| b.len() as u64);
    objects.stats.get(got, started.elapsed());
    read
}

/// Where a missing block comes from: the cache group, else the object store.
struct Source {
    objects: Arc<Objects>,
    group: Option<Arc<GroupClient>>,
    deadline: Duration,
}

/// The fetch of block `key` into the caches: joins one in flight or starts it.
fn fetch(cache: &Arc<Cached>, source: Source, key: BlockKey, access: Access) -> Fetch {
    let mut fetching = cache.fetching();
    if let Some(fetch) = fetching.get(&key) {
        return fetch.clone();
    }
    let cached = cache.clone();
    let fetch = async move {
        if let Some(group) = &source.group
            && let Some(block) = group.get(key, HitRange::Whole).await
        {
            cached.keep(key, &block, access);
            return Ok(block);
        }
        let started = Instant::now();
        let fetched = read_whole(&source.objects, source.deadline, key).await;
        match &fetched {
            Ok(block) => {
                cached
                    .tiers
                    .remote
                    .hit(block.len() as u64, started.elapsed());
                cached.keep(key, block, access);
            }
            Err(_) => {
                cached.fetching().remove(&key);
            }
        }
        fetched.map_err(Arc::new)
    }
    .boxed()
    .shared();
    fetching.insert(key, fetch.clone());
    fetch
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn round_trip(store: &BlockStore) {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        store.put(7, &data).await.unwrap();
        assert_eq!(
            store.read(7, 0, 10_000, Access::Random).await.unwrap(),
            data
        );
        assert_eq!(
            store.read(7, 4000, 200, Access::Random).await.unwrap(),
            data[4000..4200]
        );
        let listed = store.list().await.unwrap();
        assert_eq!(listed[&7].len(), 3);
        store.delete(7, 10_000).await.unwrap();
        let err = store.read(7, 0, 1, Access::Random).await.unwrap_err();
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

    #[tokio::test]
    async fn requests_of_the_backend_are_counted() {
        let store = BlockStore::open(&StorageUrl::Memory, 4096, true).unwrap();
        let data = vec![7u8; 10_000];
        store.put(1, &data).await.unwrap();
        store.read(1, 0, 10_000, Access::Random).await.unwrap();
        store.read(1, 5000, 10, Access::Random).await.unwrap();
        let counters = store.object_counters();
        assert_eq!((counters.puts, counters.put_bytes), (3, 10_000));
        assert_eq!((counters.gets, counters.get_bytes), (4, 10_010));
        assert!(counters.get_nanos > 0 && counters.put_nanos > 0);
    }

    #[tokio::test]
    async fn reads_fetch_each_block_once_and_deletes_drop_it_from_the_caches() {
        let dir = tempfile::tempdir().unwrap();
        let config = CacheConfig {
            memory_size: 64 << 20,
            disk_dirs: vec![dir.path().to_path_buf()],
            disk_size: 64 << 20,
            min_free_ratio: 0.0,
            policy: crate::cache::Policy::Auto,
        };
        let store = BlockStore::open(&StorageUrl::Memory, 4096, true)
            .unwrap()
            .with_cache(&config)
            .unwrap();
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 253) as u8).collect();
        store.put(3, &data).await.unwrap();
        // Many sequential reads of one block, some at once: one fetch.
        let reads = (0..8).map(|i| store.read(3, i * 500, 500, Access::Sequential));
        for (i, got) in try_join_all(reads).await.unwrap().into_iter().enumerate() {
            assert_eq!(got, data[i * 500..i * 500 + 500]);
        }
        assert_eq!(store.cache_counters().unwrap().remote.hits, 1);
        // A random read inside a block fetches its range, and the block follows.
        assert_eq!(
            store.read(3, 4096 + 100, 10, Access::Random).await.unwrap(),
            data[4196..4206]
        );
        // Read-ahead brings the rest into memory.
        store.prefetch(3, 8192, 20_000 - 8192);
        let memory = |store: &BlockStore| store.cache_counters().unwrap().memory.unwrap();
        for _ in 0..100 {
            if memory(&store).used >= 20_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(memory(&store).used, 20_000);
        let fetched = store.cache_counters().unwrap().remote.hits;
        assert_eq!(
            store.read(3, 0, 20_000, Access::Sequential).await.unwrap(),
            data
        );
        assert_eq!(store.cache_counters().unwrap().remote.hits, fetched);
        store.delete(3, 20_000).await.unwrap();
        assert_eq!(memory(&store).used, 0);
        assert!(store.read(3, 0, 1, Access::Random).await.is_err());
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
