//! POSIX record locks and flock locks: held in the metadata store, so they exclude across
//! mounts (see `datenlord_meta::LockRange`), and waited for here. A waiter tries again when a
//! lock of this mount is released, when the metadata watch reports another mount's lock change,
//! and otherwise after a growing pause (engines without a watch). A process's POSIX locks go at
//! its first close of the file, its flock locks with the open file description.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use datenlord_meta::LockOwner;
pub use datenlord_meta::LockRange;
use tokio::sync::Notify;

use crate::error::{Result, errno};
use crate::vfs::Vfs;

/// First and longest pause before a waiter tries again on its own.
const FIRST_RETRY: Duration = Duration::from_millis(5);
const LAST_RETRY: Duration = Duration::from_millis(500);

/// This mount's side of the locks.
#[derive(Debug, Default)]
pub struct Locks {
    changed: Notify,
    /// `(ino, flock, owner)` with locks taken through this mount: a close without locks then
    /// costs no metadata transaction.
    taken: Mutex<HashSet<(u64, bool, u64)>>,
}

impl Locks {
    fn taken(&self) -> std::sync::MutexGuard<'_, HashSet<(u64, bool, u64)>> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Vfs {
    fn lock_owner(&self, owner: u64) -> LockOwner {
        LockOwner {
            session: self.session(),
            owner,
        }
    }

    /// The first lock of another owner (on any mount) in the way of `lock` (F_GETLK).
    pub async fn lock_conflict(
        &self,
        ino: u64,
        owner: u64,
        lock: &LockRange,
        flock: bool,
    ) -> Result<Option<LockRange>> {
        let who = self.lock_owner(owner);
        Ok(self.meta().lock_conflict(ino, flock, who, lock).await?)
    }

    /// Takes (or with F_UNLCK releases) `lock` for `owner`. Without `wait`, a conflict is
    /// EAGAIN; with it, waits until the lock is free or `interrupted` resolves (EINTR).
    pub async fn set_lock(
        &self,
        ino: u64,
        owner: u64,
        lock: LockRange,
        flock: bool,
        wait: bool,
        interrupted: impl Future<Output = ()>,
    ) -> Result<()> {
        let who = self.lock_owner(owner);
        let mut interrupted = std::pin::pin!(interrupted);
        let mut pause = FIRST_RETRY;
        loop {
            let notified = self.locks().changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if self
                .meta()
                .set_lock(ino, flock, who, &lock)
                .await?
                .is_none()
            {
                if lock.typ != libc::F_UNLCK {
                    self.locks().taken().insert((ino, flock, owner));
                }
                // An unlock or a downgrade can let waiters through.
                self.locks().changed.notify_waiters();
                return Ok(());
            }
            if !wait {
                return errno(libc::EAGAIN);
            }
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(pause) => pause = (pause * 2).min(LAST_RETRY),
                () = &mut interrupted => return errno(libc::EINTR),
            }
        }
    }

    /// Drops every lock `owner` holds on `ino`.
    pub(crate) async fn release_locks(&self, ino: u64, owner: u64, flock: bool) {
        if !self.locks().taken().remove(&(ino, flock, owner)) {
            return;
        }
        let who = self.lock_owner(owner);
        if let Err(err) = self.meta().release_locks(ino, flock, who).await {
            tracing::warn!(ino, owner, %err, "releasing locks failed; they go with the session");
        }
        self.locks().changed.notify_waiters();
    }

    /// Another mount took or released locks: waiters try again.
    pub fn locks_changed(&self) {
        self.locks().changed.notify_waiters();
    }
}
