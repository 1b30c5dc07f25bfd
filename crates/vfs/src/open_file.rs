//! The state of a file while this mount has it open: its buffered writes and its length and
//! mtime including them, which `getattr` reports before a flush makes them part of the
//! metadata.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use std::sync::Arc;

use datenlord_meta::{Slice, Timespec};
use tokio::sync::{Notify, RwLock};

use crate::buffer::{Segments, WriteBuffer};

/// Chunk records kept per open file at most.
const CACHED_CHUNKS: usize = 256;

#[derive(Debug, Default)]
struct ChunkCache {
    generation: u64,
    map: std::collections::HashMap<u32, Arc<[Slice]>>,
}

/// A flush running in the background while the writer goes on.
#[derive(Debug, Default)]
pub(crate) enum Flight {
    #[default]
    Idle,
    /// These bytes are being stored; reads lay them under the buffer.
    Running(Arc<Segments>),
    /// Storing them failed: the next flush puts them back and tries again.
    Failed(Arc<Segments>),
}

/// Length and mtime as this mount sees them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub len: u64,
    /// The time of the last write not yet flushed.
    pub mtime: Option<Timespec>,
}

/// An open file of this mount.
#[derive(Debug)]
pub(crate) struct OpenFile {
    pub ino: u64,
    /// Handles open on it (changed under the open-files map lock).
    pub opens: Mutex<u32>,
    /// Writers and flushes take it exclusively, reads shared: a read sees the metadata and the
    /// buffer of one moment.
    pub data: RwLock<WriteBuffer>,
    seen: Mutex<Seen>,
    chunks: Mutex<ChunkCache>,
    read_before: AtomicBool,
    orphan: AtomicBool,
    flight: Mutex<Flight>,
    landed: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OpenFile {
    pub fn new(ino: u64, len: u64) -> Self {
        Self {
            ino,
            opens: Mutex::new(0),
            data: RwLock::new(WriteBuffer::default()),
            seen: Mutex::new(Seen { len, mtime: None }),
            chunks: Mutex::new(ChunkCache::default()),
            read_before: AtomicBool::new(false),
            orphan: AtomicBool::new(false),
            flight: Mutex::new(Flight::Idle),
            landed: Notify::new(),
        }
    }

    /// The file lost its last name through this mount.
    pub fn orphaned(&self) {
        self.orphan.store(true, Ordering::Relaxed);
    }

    /// The file, which had no name, got one.
    pub fn named(&self) {
        self.orphan.store(false, Ordering::Relaxed);
    }

    /// Whether the file lost its last name while open here (or never had one).
    pub fn is_orphan(&self) -> bool {
        self.orphan.load(Ordering::Relaxed)
    }

    /// True for the first read since the file was opened (the one that may move its atime).
    pub fn first_read(&self) -> bool {
        !self.read_before.swap(true, Ordering::Relaxed)
    }

    pub fn seen(&self) -> Seen {
        *lock(&self.seen)
    }

    /// What this mount has seen; with nothing written since the last flush settled, first
    /// grown to `stored`, the length the metadata holds now (another mount may have appended).
    pub fn seen_or_grow(&self, stored: u64) -> Seen {
        let mut seen = lock(&self.seen);
        if seen.mtime.is_none() && stored > seen.len {
            seen.len = stored;
            self.forget_chunks();
        }
        *seen
    }

    /// With nothing written since the last flush settled, the length the metadata holds
    /// now is this mount's (another mount cut the file).
    pub fn follow(&self, stored: u64) {
        let mut seen = lock(&self.seen);
        if seen.mtime.is_none() {
            seen.len = stored;
        }
    }

    /// The chunk records of this file as read while it is open (on engines that report other
    /// mounts' changes, so that those drop them), and the generation to cache new ones under.
    pub fn cached_chunk(&self, index: u32) -> (Option<Arc<[Slice]>>, u64) {
        let cache = lock(&self.chunks);
        (cache.map.get(&index).cloned(), cache.generation)
    }

    /// Keeps a chunk record read under `generation`, unless the file changed since.
    pub fn cache_chunk(&self, index: u32, generation: u64, slices: Arc<[Slice]>) {
        let mut cache = lock(&self.chunks);
        if cache.generation == generation && cache.map.len() < CACHED_CHUNKS {
            cache.map.insert(index, slices);
        }
    }

    /// The file's chunk records changed (here or on another mount): drop what was kept.
    pub fn forget_chunks(&self) {
        let mut cache = lock(&self.chunks);
        cache.generation += 1;
        cache.map.clear();
    }

    pub fn opens(&self) -> MutexGuard<'_, u32> {
        lock(&self.opens)
    }

    /// A write reached `end` at `now`.
    pub fn wrote(&self, end: u64, now: Timespec) {
        let mut seen = lock(&self.seen);
        seen.len = seen.len.max(end);
        seen.mtime = Some(now);
    }

    /// The file is being cut to `size`: buffered bytes past it are gone.
    pub fn cut(&self, size: u64) {
        let mut seen = lock(&self.seen);
        seen.len = seen.len.min(size);
    }

    /// The metadata now holds everything written: its length is the truth again.
    pub fn settled(&self, len: u64) {
        self.forget_chunks();
        let mut seen = lock(&self.seen);
        seen.len = len;
        seen.mtime = None;
    }

    /// A flush committed, and the file is at least `len` long; later writes may be buffered.
    pub fn committed(&self, len: u64) {
        self.forget_chunks();
        let mut seen = lock(&self.seen);
        seen.len = seen.len.max(len);
    }

    /// The bytes of the background flush, if one runs or failed.
    pub fn in_flight(&self) -> Option<Arc<Segments>> {
        match &*lock(&self.flight) {
            Flight::Idle => None,
            Flight::Running(segments) | Flight::Failed(segments) => Some(segments.clone()),
        }
    }

    /// Waits until no background flush runs.
    pub async fn wait_flight(&self) {
        loop {
            let landed = self.landed.notified();
            if !matches!(*lock(&self.flight), Flight::Running(_)) {
                return;
            }
            landed.await;
        }
    }

    pub fn take_off(&self, segments: Arc<Segments>) {
        *lock(&self.flight) = Flight::Running(segments);
    }

    /// The background flush ended; unless `stored`, its bytes wait for the next flush.
    pub fn land(&self, stored: bool) {
        let mut flight = lock(&self.flight);
        *flight = match std::mem::take(&mut *flight) {
            Flight::Running(segments) if !stored => Flight::Failed(segments),
            _ => Flight::Idle,
        };
        drop(flight);
        self.landed.notify_waiters();
    }

    /// The bytes of a failed background flush, handed back to be buffered again.
    pub fn take_failed(&self) -> Option<Segments> {
        let mut flight = lock(&self.flight);
        match std::mem::take(&mut *flight) {
            Flight::Failed(segments) => {
                Some(Arc::try_unwrap(segments).unwrap_or_else(|shared| (*shared).clone()))
            }
            other => {
                *flight = other;
                None
            }
        }
    }
}
