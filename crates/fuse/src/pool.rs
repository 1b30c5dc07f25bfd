//! Request buffers, reused: a worker takes one for each request and the buffer comes back when
//! the request is answered, so serving requests allocates nothing once the pool is warm.
//!
//! The pool never makes a worker wait: requests that wait in the filesystem (a blocked SETLKW)
//! hold their buffers, and a bound here could leave no buffer to read the request that would
//! release them. The kernel bounds what is in flight (max_background, and each caller waits for
//! its own request); the pool bounds only how many idle buffers it keeps.

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct State {
    free: Vec<Box<[u8]>>,
    out: usize,
    /// Whether `drain` sleeps on `returned`: a condvar notification is a syscall even with no one
    /// waiting, so returning a buffer notifies only then.
    draining: bool,
}

/// Equally sized buffers, handed out and taken back.
#[derive(Debug)]
pub(crate) struct BufferPool {
    state: Mutex<State>,
    returned: Condvar,
    max_idle: usize,
    buf_size: usize,
}

impl BufferPool {
    pub(crate) fn new(buf_size: usize, max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: Vec::with_capacity(max_idle),
                out: 0,
                draining: false,
            }),
            returned: Condvar::new(),
            max_idle,
            buf_size,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands out an idle buffer, or a new one when none is idle.
    pub(crate) fn take(self: &Arc<Self>) -> PooledBuf {
        let mut state = self.lock();
        state.out += 1;
        let reused = state.free.pop();
        drop(state);
        // A fresh buffer is zeroed by calloc, so its pages cost nothing until a large write fills them.
        let buf = reused.unwrap_or_else(|| vec![0; self.buf_size].into_boxed_slice());
        PooledBuf {
            buf: Some(buf),
            pool: Arc::clone(self),
        }
    }

    /// Waits up to `timeout` for every buffer to come back (no request in flight).
    pub(crate) fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while state.out > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state.draining = true;
            state = self
                .returned
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }
}

/// A buffer on loan from a [`BufferPool`]; it goes back on drop.
#[derive(Debug)]
pub(crate) struct PooledBuf {
    buf: Option<Box<[u8]>>,
    pool: Arc<BufferPool>,
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or_default()
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.buf.as_deref_mut().unwrap_or_default()
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let mut state = self.pool.lock();
        state.out -= 1;
        if let Some(buf) = self.buf.take()
            && state.free.len() < self.pool.max_idle
        {
            state.free.push(buf);
        }
        let wake = state.draining && state.out == 0;
        drop(state);
        if wake {
            self.pool.returned.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_up_to_the_idle_limit() {
        let pool = BufferPool::new(16, 1);
        let a = pool.take();
        let ptr = a.as_ptr();
        let b = pool.take();
        let c = pool.take();
        assert_eq!(pool.lock().out, 3, "taking never waits");
        assert!(!pool.drain(Duration::from_millis(10)), "buffers are out");
        drop(a);
        let d = pool.take();
        assert_eq!(d.as_ptr(), ptr, "an idle buffer is reused");
        drop((b, c));
        assert_eq!(pool.lock().free.len(), 1, "at most max_idle are kept");
        let waiter = std::thread::spawn({
            let pool = Arc::clone(&pool);
            move || pool.drain(Duration::from_secs(10))
        });
        std::thread::sleep(Duration::from_millis(20));
        drop(d);
        assert!(
            waiter.join().unwrap(),
            "drain returns once the last buffer is back"
        );
    }
}
