//! INTERRUPT bookkeeping: which requests the kernel asked to abandon.
//!
//! A filesystem opts in per request by awaiting [`crate::Request::interrupted`] (a blocking
//! SETLKW, say), so a request is only ever abandoned where its handler can stop safely. Requests
//! that never ask cost one relaxed atomic load on completion.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Interrupts for requests that already finished are forgotten after this long.
const STALE_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug)]
enum Slot {
    Waiting(Arc<Notify>),
    Interrupted(Instant),
}

/// The table of interrupted and interrupt-waiting requests, by `unique`.
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    slots: Mutex<HashMap<u64, Slot>>,
    len: AtomicUsize,
}

impl Interrupts {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kernel asked to interrupt request `unique`.
    pub(crate) fn interrupt(&self, unique: u64) {
        let mut slots = self.lock();
        let now = Instant::now();
        if let Some(Slot::Waiting(notify)) = slots.insert(unique, Slot::Interrupted(now)) {
            notify.notify_waiters();
            notify.notify_one();
        }
        // An interrupt can arrive after its request was answered; do not keep those forever.
        if slots.len() > 1024 {
            slots.retain(|_, slot| !matches!(slot, Slot::Interrupted(at) if now.duration_since(*at) > STALE_AFTER));
        }
        self.len.store(slots.len(), Ordering::Relaxed);
    }

    /// Resolves once request `unique` is interrupted.
    pub(crate) async fn wait(&self, unique: u64) {
        let notify = {
            let mut slots = self.lock();
            let slot = slots
                .entry(unique)
                .or_insert_with(|| Slot::Waiting(Arc::new(Notify::new())));
            let notify = match slot {
                Slot::Interrupted(_) => return,
                Slot::Waiting(notify) => Arc::clone(notify),
            };
            self.len.store(slots.len(), Ordering::Relaxed);
            notify
        };
        notify.notified().await;
    }

    /// Whether request `unique` was interrupted, without waiting.
    pub(crate) fn is_interrupted(&self, unique: u64) -> bool {
        self.len.load(Ordering::Relaxed) > 0
            && matches!(self.lock().get(&unique), Some(Slot::Interrupted(_)))
    }

    /// Request `unique` was answered.
    pub(crate) fn finish(&self, unique: u64) {
        if self.len.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut slots = self.lock();
        slots.remove(&unique);
        self.len.store(slots.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn interrupt_before_or_after_waiting_both_wake() {
        let table = Arc::new(Interrupts::default());
        table.interrupt(7);
        table.wait(7).await;
        assert!(table.is_interrupted(7));
        table.finish(7);
        assert!(!table.is_interrupted(7));

        let waiter = tokio::spawn({
            let table = Arc::clone(&table);
            async move { table.wait(9).await }
        });
        tokio::task::yield_now().await;
        while table.len.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        table.interrupt(9);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .unwrap()
            .unwrap();
        table.finish(9);
        assert_eq!(table.len.load(Ordering::Relaxed), 0);
    }
}
