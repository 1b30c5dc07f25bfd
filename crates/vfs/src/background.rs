//! Work a mount does on its own: renewing its session's heartbeat, ending the sessions of dead
//! mounts, dropping deleted files' chunks and unreferenced objects' blocks, flushing buffers
//! that sat too long, compacting, purging the trash.

use std::sync::Arc;
use std::time::Duration;

use crate::Vfs;

/// Objects deleted per round.
const DELETE_BATCH: usize = 1000;

/// How often a mount looks for hours of the trash that have expired.
const TRASH_PURGE_EVERY: Duration = Duration::from_secs(600);

impl Vfs {
    /// Deletes the blocks of unreferenced objects; returns how many objects went.
    pub async fn delete_doomed(&self) -> crate::Result<usize> {
        let doomed = self.meta().doomed_objects(DELETE_BATCH).await?;
        for &(object, len) in &doomed {
            self.store().delete(object, len).await?;
            self.meta().forget_object(object).await?;
        }
        Ok(doomed.len())
    }

    /// Ends the sessions of dead mounts — their process is gone (looked up only for sessions
    /// of this boot and PID namespace, see [`crate::host_identity`]), or their heartbeat is
    /// older than their lease — and so releases their locks and removes the unlinked files
    /// only they held.
    pub async fn reclaim_dead_sessions(&self) -> crate::Result<Vec<u64>> {
        let now = datenlord_meta::Timespec::now().sec;
        let dead = |s: &datenlord_meta::SessionInfo| {
            self.pid_is_ours_to_check(s) && crate::liveness::process_gone(s.pid)
                || now - s.heartbeat > s.lease
        };
        self.reclaim(dead).await
    }

    /// Ends the sessions that served `mountpoint` from this boot and PID namespace: this
    /// mount has just replaced a dead FUSE mount there, so whoever served it is gone even if
    /// its process has not finished exiting.
    pub async fn reclaim_replaced(&self, mountpoint: &str) -> crate::Result<Vec<u64>> {
        self.reclaim(|s| self.pid_is_ours_to_check(s) && s.mountpoint == mountpoint)
            .await
    }

    /// Whether `s`'s PID names a process of our PID namespace, other than this one.
    fn pid_is_ours_to_check(&self, s: &datenlord_meta::SessionInfo) -> bool {
        let own = &self.config().host_id;
        !own.is_empty() && s.host_id == *own && s.pid != std::process::id()
    }

    async fn reclaim(
        &self,
        dead: impl Fn(&datenlord_meta::SessionInfo) -> bool,
    ) -> crate::Result<Vec<u64>> {
        let own = self.session();
        let ended = self.meta().reclaim_dead_sessions(|s| dead(s)).await?;
        if ended.contains(&own) {
            tracing::error!(
                session = own,
                "this mount's own session was reclaimed as dead"
            );
        }
        Ok(ended)
    }

    /// Renews the session's heartbeat every sixth of its lease; if other mounts ended the
    /// session meanwhile, registers a new one.
    async fn keep_session(&self) {
        let every =
            (self.config().lease / 6).clamp(Duration::from_secs(1), Duration::from_secs(10));
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let session = self.session();
            if session == 0 {
                continue;
            }
            let cached = self.store.cache_counters().map_or(0, |c| {
                c.memory.map_or(0, |t| t.used) + c.disk.map_or(0, |t| t.used)
            });
            match self.meta().heartbeat(session, cached).await {
                Ok(true) => {}
                Ok(false) => match self.restart_session().await {
                    Ok(new) => tracing::error!(
                        old = session,
                        new,
                        "this mount's session expired (no heartbeat for longer than its lease): \
                         its locks were released and the unlinked files it held open were \
                         removed; writes in progress fail with EIO; a new session is registered"
                    ),
                    Err(err) => tracing::warn!(%err, "registering a new session failed"),
                },
                Err(err) => tracing::warn!(%err, "session heartbeat failed"),
            }
        }
    }

    /// Runs the background work until the task is dropped. The heartbeat is a task of its
    /// own (ended with this one), so that slow flushes or deletions — even one that holds its
    /// thread — cannot let the session's lease run out.
    pub async fn background(self: Arc<Self>) {
        let vfs = self.clone();
        let _heartbeat = AbortOnDrop(tokio::spawn(async move { vfs.keep_session().await }));
        self.housekeeping().await;
    }

    async fn housekeeping(&self) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let reclaim_every =
            (self.config().lease / 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut last_reclaim = tokio::time::Instant::now();
        let mut last_trash_purge: Option<tokio::time::Instant> = None;
        loop {
            tick.tick().await;
            self.release_closed().await;
            if let Err(err) = self.meta().drop_deleted_chunks().await {
                tracing::warn!(%err, "dropping the chunks of deleted files failed");
            }
            match self.delete_doomed().await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(objects = n, "deleted unreferenced objects"),
                Err(err) => tracing::warn!(%err, "deleting unreferenced objects failed"),
            }
            if let Err(err) = self.flush_all().await {
                tracing::warn!(%err, "flushing buffered writes failed; will retry");
            }
            if let Err(err) = self.compact_queued().await {
                tracing::warn!(%err, "compaction failed");
            }
            if last_reclaim.elapsed() >= reclaim_every {
                last_reclaim = tokio::time::Instant::now();
                if let Err(err) = self.reclaim_dead_sessions().await {
                    tracing::warn!(%err, "cannot reclaim the sessions of dead mounts");
                }
                match self.meta().reclaim_stale_clones(crate::clone_is_dead).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(clones = n, "removed clones whose builders died"),
                    Err(err) => tracing::warn!(%err, "cannot remove the clones of dead builders"),
                }
            }
            if last_trash_purge.is_none_or(|at| at.elapsed() >= TRASH_PURGE_EVERY) {
                last_trash_purge = Some(tokio::time::Instant::now());
                match self.meta().purge_expired_trash().await {
                    Ok(purged) if purged.is_empty() => {}
                    Ok(purged) => tracing::info!(
                        hours = ?purged.hours,
                        kept_objects = purged.kept_objects,
                        kept_bytes = purged.kept_bytes,
                        "purged what the trash no longer keeps"
                    ),
                    Err(err) => tracing::warn!(%err, "purging the trash failed"),
                }
            }
        }
    }
}

/// Ends a spawned task when dropped (the background's own task may be aborted at any await).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
