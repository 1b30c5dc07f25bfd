//! Request buffers, reused: a worker takes one for each request and the buffer comes back when
//! the request is answered. The pool's size bounds the requests in flight (back-pressure).

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct State {
    free: Vec<Box<[u8]>>,
    out: usize,
    /// Threads sleeping on `returned`; returning a buffer wakes them only if there are any,
    /// because a condvar notification is a syscall even with no one waiting.
    waiting: usize,
}

/// A bounded set of equally sized buffers.
#[derive(Debug)]
pub(crate) struct BufferPool {
    state: Mutex<State>,
    returned: Condvar,
    max_buffers: usize,
    buf_size: usize,
}

impl BufferPool {
    pub(crate) fn new(buf_size: usize, max_buffers: usize) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State {
                free: Vec::with_capacity(max_buffers),
                out: 0,
                waiting: 0,
            }),
            returned: Condvar::new(),
            max_buffers: max_buffers.max(1),
            buf_size,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until fewer than `max_buffers` are out, then hands one out.
    pub(crate) fn take(self: &Arc<Self>) -> PooledBuf {
        let mut state = self.lock();
        while state.out >= self.max_buffers {
            state.waiting += 1;
            state = self.returned.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
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
            state.waiting += 1;
            state = self
                .returned
                .wait_timeout(state, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            state.waiting -= 1;
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
        if let Some(buf) = self.buf.take() {
            state.free.push(buf);
        }
        state.out -= 1;
        let wake = state.waiting > 0;
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
    fn buffers_are_reused_and_bounded() {
        let pool = BufferPool::new(16, 2);
        let a = pool.take();
        let ptr = a.as_ptr();
        let b = pool.take();
        assert!(
            !pool.drain(Duration::from_millis(10)),
            "two buffers are out"
        );
        let waiter = std::thread::spawn({
            let pool = Arc::clone(&pool);
            move || pool.take().len()
        });
        drop(a);
        assert_eq!(
            waiter.join().unwrap(),
            16,
            "a blocked take resumes when a buffer returns"
        );
        let c = pool.take();
        assert_eq!(c.as_ptr(), ptr);
        drop((b, c));
        assert!(pool.drain(Duration::from_secs(1)));
    }
}
