//! The state of a file while this mount has it open: its buffered writes and its length and
//! mtime including them, which `getattr` reports before a flush makes them part of the
//! metadata.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use datenlord_meta::Timespec;
use tokio::sync::RwLock;

use crate::buffer::WriteBuffer;

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
    read_before: AtomicBool,
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
            read_before: AtomicBool::new(false),
        }
    }

    /// True for the first read since the file was opened (the one that may move its atime).
    pub fn first_read(&self) -> bool {
        !self.read_before.swap(true, Ordering::Relaxed)
    }

    pub fn seen(&self) -> Seen {
        *lock(&self.seen)
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

    /// The metadata now holds everything written: its length is the truth again.
    pub fn settled(&self, len: u64) {
        let mut seen = lock(&self.seen);
        seen.len = len;
        seen.mtime = None;
    }
}
