//! How one handle moves through its file: sequential readers get a growing read-ahead
//! window and their blocks are cached as a scan; anything else is random access.

use std::sync::{Mutex, PoisonError};

use datenlord_store::cache::Access;

/// Contiguous bytes a handle reads before it counts as a sequential reader. Shorter files,
/// read whole again and again, stay random access: recency keeps them.
const SEQUENTIAL_AFTER: u64 = 2 << 20;
/// The first read-ahead window; it doubles as the reader catches up, to the configured most.
const FIRST_WINDOW: u64 = 4 << 20;
/// Requests of one stream may reach the filesystem slightly out of order (the kernel's
/// read-ahead runs on several queues): a read this close to the expected offset continues it.
const REORDER: u64 = 1 << 20;

#[derive(Debug, Default)]
struct Stream {
    /// Where the stream's next read would start.
    next: u64,
    /// Contiguous bytes read so far.
    run: u64,
    /// The read-ahead window; 0 until the stream is sequential.
    window: u64,
    /// Read-ahead has been asked for up to here.
    ahead_to: u64,
}

/// The read pattern of one handle.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    stream: Mutex<Stream>,
}

impl ReadAhead {
    /// Records a read of `len` bytes at `offset` of a file of `file_len` bytes: how it
    /// reaches the store, and the range to fetch ahead of it, if any (at most `max_window`).
    pub fn on_read(
        &self,
        offset: u64,
        len: u64,
        file_len: u64,
        max_window: u64,
    ) -> (Access, Option<(u64, u64)>) {
        let mut s = self.stream.lock().unwrap_or_else(PoisonError::into_inner);
        let end = offset + len;
        let continues = offset + REORDER >= s.next && offset <= s.next + REORDER;
        if continues && s.run > 0 {
            s.run += len;
            s.next = s.next.max(end);
        } else {
            *s = Stream {
                next: end,
                run: len,
                ..Stream::default()
            };
        }
        if s.run < SEQUENTIAL_AFTER {
            return (Access::Random, None);
        }
        if max_window == 0 {
            return (Access::Sequential, None);
        }
        if s.window == 0 {
            s.window = FIRST_WINDOW.min(max_window);
        } else if s.ahead_to.saturating_sub(end) >= s.window / 2 {
            // Still well ahead: read-ahead goes in batches, not a little after every read.
            return (Access::Sequential, None);
        } else {
            // The reader used half the window: it keeps up, so fetch further ahead.
            s.window = (s.window * 2).min(max_window);
        }
        let from = s.ahead_to.max(end);
        let to = (end + s.window).min(file_len);
        if from >= to {
            return (Access::Sequential, None);
        }
        s.ahead_to = to;
        (Access::Sequential, Some((from, to - from)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_stream_turns_sequential_and_its_window_grows_to_the_limit() {
        let ahead = ReadAhead::default();
        let size = 1 << 30;
        assert_eq!(
            ahead.on_read(0, MIB, size, 64 * MIB),
            (Access::Random, None)
        );
        let (access, range) = ahead.on_read(MIB, MIB, size, 64 * MIB);
        assert_eq!(access, Access::Sequential);
        assert_eq!(range, Some((2 * MIB, 4 * MIB)));
        let mut windows = Vec::new();
        let mut covered = 6 * MIB;
        for i in 2..200 {
            if let (_, Some((from, len))) = ahead.on_read(i * MIB, MIB, size, 64 * MIB) {
                assert_eq!(from, covered, "read-ahead leaves no gap");
                covered = from + len;
                windows.push(len);
            }
            assert!(covered <= (i + 1) * MIB + 64 * MIB);
        }
        assert!(windows.iter().any(|w| *w >= 32 * MIB), "{windows:?}");
        assert!(covered > 199 * MIB);
    }

    #[test]
    fn a_jump_stops_read_ahead_and_the_file_end_bounds_it() {
        let ahead = ReadAhead::default();
        for i in 0..4 {
            ahead.on_read(i * MIB, MIB, 100 * MIB, 64 * MIB);
        }
        assert_eq!(
            ahead.on_read(50 * MIB, 4096, 100 * MIB, 64 * MIB),
            (Access::Random, None)
        );
        let small = ReadAhead::default();
        small.on_read(0, 2 * MIB, 3 * MIB, 64 * MIB);
        assert_eq!(
            small.on_read(2 * MIB, MIB, 3 * MIB, 64 * MIB),
            (Access::Sequential, None)
        );
    }

    #[test]
    fn slightly_reordered_requests_continue_the_stream() {
        let ahead = ReadAhead::default();
        ahead.on_read(128 << 10, 128 << 10, 1 << 30, 0);
        ahead.on_read(0, 128 << 10, 1 << 30, 0);
        for i in 2..16 {
            ahead.on_read(i * (128 << 10), 128 << 10, 1 << 30, 0);
        }
        assert_eq!(
            ahead.on_read(16 * (128 << 10), 128 << 10, 1 << 30, 0).0,
            Access::Sequential
        );
    }
}
