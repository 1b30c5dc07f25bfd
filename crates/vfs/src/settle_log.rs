//! Which open files' buffered writes the metadata absorbed lately, so that stored attributes
//! read across such a moment are read again.
//!
//! While a file has buffered writes, `getattr` reports the length and mtime this mount knows
//! (`Vfs::with_buffered`); once a flush settles them, the stored attributes are the truth
//! again. Attributes read from the metadata *before* that flush committed but looked at
//! *after* it settled would slip through as the truth: a file just written would show its
//! old length. The kernel cannot catch this (its writes came before the request it sent),
//! and it would keep that length as the file's size for the attribute timeout — a reader
//! would find the file it just wrote empty. So a reader notes the log's position before it
//! reads and asks afterwards whether the inode settled since.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::vfs::lock;

/// Settles remembered; a reader that began before the oldest of them reads again whatever
/// it read (that needs this many flushes committing during one metadata read).
const REMEMBERED: usize = 256;

/// A position in the log, taken before a metadata read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark(u64);

#[derive(Debug, Default)]
pub(crate) struct SettleLog(Mutex<Entries>);

#[derive(Debug, Default)]
struct Entries {
    /// Settles so far; the last of `recent` has this number.
    count: u64,
    /// Inodes of the latest settles, oldest first.
    recent: VecDeque<u64>,
}

impl SettleLog {
    pub fn mark(&self) -> Mark {
        Mark(lock(&self.0).count)
    }

    /// The metadata holds every buffered write of `ino` now.
    pub fn settled(&self, ino: u64) {
        let mut entries = lock(&self.0);
        entries.count += 1;
        if entries.recent.len() == REMEMBERED {
            entries.recent.pop_front();
        }
        entries.recent.push_back(ino);
    }

    /// Whether `ino` settled after `mark` was taken (or may have: the log forgot that far).
    pub fn settled_since(&self, mark: Mark, ino: u64) -> bool {
        let entries = lock(&self.0);
        let since = entries.count - mark.0;
        if since == 0 {
            return false;
        }
        match usize::try_from(since) {
            Ok(since) if since <= entries.recent.len() => {
                entries.recent.iter().rev().take(since).any(|&i| i == ino)
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inodes_settled_after_the_mark_count() {
        let log = SettleLog::default();
        log.settled(1);
        let mark = log.mark();
        assert!(!log.settled_since(mark, 1));
        log.settled(2);
        assert!(log.settled_since(mark, 2));
        assert!(!log.settled_since(mark, 1));
        assert!(!log.settled_since(log.mark(), 2));
    }

    #[test]
    fn a_mark_older_than_the_log_remembers_counts_for_every_inode() {
        let log = SettleLog::default();
        let mark = log.mark();
        for ino in 0..=REMEMBERED as u64 {
            log.settled(1000 + ino);
        }
        assert!(log.settled_since(mark, 7));
        let recent = log.mark();
        log.settled(5);
        assert!(!log.settled_since(recent, 7));
    }
}
