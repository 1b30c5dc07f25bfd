//! Work a mount does on its own: renewing its session's heartbeat, deleting the blocks of
//! objects nobody references, and flushing buffers that sat too long.

use std::sync::Arc;
use std::time::Duration;

use crate::Vfs;

/// How often the session heartbeat is renewed.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// A mount whose heartbeat is older than this is dead.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a mount looks for dead ones.
const RECLAIM_EVERY: Duration = Duration::from_secs(30);

/// Objects deleted per round.
const DELETE_BATCH: usize = 1000;

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

    /// Ends the sessions of dead mounts — their process is gone from this host, or their
    /// heartbeat stopped — and removes the unlinked files only they held.
    pub async fn reclaim_dead_sessions(&self) -> crate::Result<Vec<u64>> {
        let now = datenlord_meta::Timespec::now().sec;
        let host = &self.config().host;
        let own = self.session();
        let timeout = SESSION_TIMEOUT.as_secs() as i64;
        let dead = |s: &datenlord_meta::SessionInfo| {
            let process_gone = s.host == *host
                && s.pid != std::process::id()
                && !std::path::Path::new(&format!("/proc/{}", s.pid)).exists();
            process_gone || now - s.heartbeat > timeout
        };
        let ended = self.meta().reclaim_dead_sessions(dead).await?;
        if ended.contains(&own) {
            tracing::error!(
                session = own,
                "this mount's own session was reclaimed as dead"
            );
        }
        Ok(ended)
    }

    /// Runs the background work until the task is dropped.
    pub async fn background(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut last_beat = tokio::time::Instant::now();
        let mut last_reclaim = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if let Err(err) = self.meta().purge_trash().await {
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
            if last_reclaim.elapsed() >= RECLAIM_EVERY {
                last_reclaim = tokio::time::Instant::now();
                if let Err(err) = self.reclaim_dead_sessions().await {
                    tracing::warn!(%err, "cannot reclaim the sessions of dead mounts");
                }
            }
            if last_beat.elapsed() >= HEARTBEAT && self.session() != 0 {
                last_beat = tokio::time::Instant::now();
                if let Err(err) = self.meta().heartbeat(self.session()).await {
                    tracing::warn!(%err, "session heartbeat failed");
                }
            }
        }
    }
}
