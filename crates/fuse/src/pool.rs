//! Request buffers, reused: the hot path takes one from the pool and gives it back when the
//! request is answered. The pool's size bounds the requests in flight (back-pressure).

use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A bounded set of equally sized buffers.
#[derive(Debug)]
pub(crate) struct BufferPool {
    free: Mutex<Vec<Box<[u8]>>>,
    permits: Arc<Semaphore>,
    max_buffers: usize,
    buf_size: usize,
}

impl BufferPool {
    pub(crate) fn new(buf_size: usize, max_buffers: usize) -> Arc<Self> {
        Arc::new(Self {
            free: Mutex::new(Vec::with_capacity(max_buffers)),
            permits: Arc::new(Semaphore::new(max_buffers)),
            max_buffers,
            buf_size,
        })
    }

    /// Waits until fewer than `max_buffers` are out, then hands one out.
    pub(crate) async fn take(self: &Arc<Self>) -> PooledBuf {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .expect("the pool never closes its semaphore");
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        // A fresh buffer is zeroed by calloc, so its pages cost nothing until a large write fills them.
        let buf = reused.unwrap_or_else(|| vec![0; self.buf_size].into_boxed_slice());
        PooledBuf {
            buf: Some(buf),
            pool: Arc::clone(self),
            _permit: permit,
        }
    }
}

impl BufferPool {
    /// Resolves once every buffer is back, that is, once no request is in flight.
    pub(crate) async fn drain(&self) {
        let all = u32::try_from(self.max_buffers).unwrap_or(u32::MAX);
        let _ = self.permits.acquire_many(all).await;
    }
}

/// A buffer on loan from a [`BufferPool`]; it goes back on drop.
#[derive(Debug)]
pub(crate) struct PooledBuf {
    buf: Option<Box<[u8]>>,
    pool: Arc<BufferPool>,
    _permit: OwnedSemaphorePermit,
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
        if let Some(buf) = self.buf.take() {
            self.pool
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buffers_are_reused_and_bounded() {
        let pool = BufferPool::new(16, 2);
        let a = pool.take().await;
        let ptr = a.as_ptr();
        let _b = pool.take().await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), pool.take())
                .await
                .is_err()
        );
        drop(a);
        let c = pool.take().await;
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c.len(), 16);
    }
}
