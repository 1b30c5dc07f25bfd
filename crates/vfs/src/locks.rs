//! POSIX record locks and flock locks of one mount. POSIX locks and flock locks never conflict
//! with each other (as on Linux); a process's POSIX locks go at its first close of the file,
//! its flock locks with the open file description.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;

use crate::error::{Result, errno};

/// A lock over bytes `start..=end` (`end` = `u64::MAX`: to the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRange {
    pub start: u64,
    pub end: u64,
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub typ: i32,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    owner: u64,
    range: LockRange,
}

impl Held {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.range.start <= end && start <= self.range.end
    }
}

/// The locks of every inode of a mount.
#[derive(Debug, Default)]
pub struct Locks {
    held: Mutex<HashMap<(u64, bool), Vec<Held>>>,
    changed: Notify,
}

impl Locks {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, bool), Vec<Held>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The first lock of another owner in the way of `lock` (F_GETLK).
    pub fn conflict(
        &self,
        ino: u64,
        owner: u64,
        lock: &LockRange,
        flock: bool,
    ) -> Option<LockRange> {
        if lock.typ == libc::F_UNLCK {
            return None;
        }
        self.table().get(&(ino, flock)).and_then(|list| {
            list.iter()
                .find(|h| {
                    h.owner != owner
                        && h.overlaps(lock.start, lock.end)
                        && (h.range.typ == libc::F_WRLCK || lock.typ == libc::F_WRLCK)
                })
                .map(|h| h.range)
        })
    }

    /// Takes (or with F_UNLCK releases) `lock` for `owner`. Without `wait`, a conflict is
    /// EAGAIN; with it, waits until the lock is free or `interrupted` resolves (EINTR).
    pub async fn set(
        &self,
        ino: u64,
        owner: u64,
        lock: LockRange,
        flock: bool,
        wait: bool,
        interrupted: impl Future<Output = ()>,
    ) -> Result<()> {
        if !matches!(lock.typ, libc::F_RDLCK | libc::F_WRLCK | libc::F_UNLCK)
            || lock.start > lock.end
        {
            return errno(libc::EINVAL);
        }
        let mut interrupted = std::pin::pin!(interrupted);
        loop {
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self.conflict(ino, owner, &lock, flock).is_none() {
                self.apply(ino, owner, lock, flock);
                // An unlock or a downgrade can let waiters through.
                self.changed.notify_waiters();
                return Ok(());
            }
            if !wait {
                return errno(libc::EAGAIN);
            }
            tokio::select! {
                () = &mut notified => {}
                () = &mut interrupted => return errno(libc::EINTR),
            }
        }
    }

    fn apply(&self, ino: u64, owner: u64, lock: LockRange, flock: bool) {
        let mut table = self.table();
        let list = table.entry((ino, flock)).or_default();
        let mut kept = Vec::with_capacity(list.len() + 2);
        for h in list.drain(..) {
            if h.owner != owner || !h.overlaps(lock.start, lock.end) {
                kept.push(h);
                continue;
            }
            if h.range.start < lock.start {
                let mut left = h;
                left.range.end = lock.start - 1;
                kept.push(left);
            }
            if h.range.end > lock.end {
                let mut right = h;
                right.range.start = lock.end + 1;
                kept.push(right);
            }
        }
        if lock.typ != libc::F_UNLCK {
            kept.push(Held { owner, range: lock });
        }
        if kept.is_empty() {
            table.remove(&(ino, flock));
        } else {
            *list = kept;
        }
    }

    /// Drops every lock `owner` holds on `ino`.
    pub fn release(&self, ino: u64, owner: u64, flock: bool) {
        let mut table = self.table();
        let Some(list) = table.get_mut(&(ino, flock)) else {
            return;
        };
        let before = list.len();
        list.retain(|h| h.owner != owner);
        let released = before != list.len();
        if list.is_empty() {
            table.remove(&(ino, flock));
        }
        drop(table);
        if released {
            self.changed.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64, typ: i32) -> LockRange {
        LockRange {
            start,
            end,
            typ,
            pid: 1,
        }
    }

    #[tokio::test]
    async fn conflicts_split_and_release() {
        let locks = Locks::default();
        let never = std::future::pending::<()>;
        locks
            .set(1, 10, range(0, 99, libc::F_WRLCK), false, false, never())
            .await
            .unwrap();
        let err = locks
            .set(1, 20, range(50, 60, libc::F_RDLCK), false, false, never())
            .await;
        assert_eq!(err.unwrap_err().errno(), libc::EAGAIN);
        assert!(
            locks
                .conflict(1, 20, &range(0, 0, libc::F_RDLCK), true)
                .is_none(),
            "flock is apart"
        );
        locks
            .set(1, 10, range(40, 69, libc::F_UNLCK), false, false, never())
            .await
            .unwrap();
        locks
            .set(1, 20, range(50, 60, libc::F_RDLCK), false, false, never())
            .await
            .unwrap();
        assert_eq!(
            locks
                .conflict(1, 30, &range(70, 80, libc::F_WRLCK), false)
                .unwrap()
                .start,
            70
        );
        locks.release(1, 10, false);
        assert!(
            locks
                .conflict(1, 30, &range(0, 10, libc::F_WRLCK), false)
                .is_none()
        );
    }

    #[tokio::test]
    async fn waiters_wake_on_release_and_stop_on_interrupt() {
        let locks = std::sync::Arc::new(Locks::default());
        let never = std::future::pending::<()>;
        locks
            .set(1, 10, range(0, 9, libc::F_WRLCK), true, false, never())
            .await
            .unwrap();
        let err = locks
            .set(1, 20, range(0, 9, libc::F_WRLCK), true, true, async {})
            .await;
        assert_eq!(err.unwrap_err().errno(), libc::EINTR);
        let waiter = {
            let locks = locks.clone();
            tokio::spawn(async move {
                locks
                    .set(1, 20, range(0, 9, libc::F_WRLCK), true, true, never())
                    .await
            })
        };
        tokio::task::yield_now().await;
        locks.release(1, 10, true);
        waiter.await.unwrap().unwrap();
    }
}
