//! Mount sessions: each mount registers itself and renews a heartbeat. A file unlinked while a
//! session holds it open is recorded under that session and removed at its last close, or
//! when the session is found dead (its heartbeat stopped, or its process is gone).

use serde::{Deserialize, Serialize};

use crate::error::{MetaError, Result};
use crate::keys;
use crate::kv::{AnyTxn, KvTxn, TXN_BUDGET};
use crate::meta::{Meta, get_counter, read_txn, scan_prefix, write_txn};
use crate::model::{Timespec, encode_u64};
use crate::namespace::remove_inode;

/// What a session says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub host: String,
    pub pid: u32,
    pub mountpoint: String,
    pub version: String,
    /// Seconds since the epoch.
    pub started: i64,
    /// Seconds since the epoch of the last heartbeat.
    pub heartbeat: i64,
}

fn decode(bytes: &[u8]) -> Result<SessionInfo> {
    serde_json::from_slice(bytes).map_err(|e| MetaError::Corrupt(format!("session record: {e}")))
}

fn encode(info: &SessionInfo) -> Result<Vec<u8>> {
    serde_json::to_vec(info).map_err(|e| MetaError::Corrupt(format!("session record: {e}")))
}

impl Meta {
    /// Registers a session and returns its id.
    pub async fn register_session(&self, info: &SessionInfo) -> Result<u64> {
        write_txn!(self, |txn| {
            let id = get_counter(&mut txn, keys::NEXT_SESSION).await?.max(1);
            txn.put(&keys::counter(keys::NEXT_SESSION), &encode_u64(id + 1))?;
            txn.put(&keys::session(id), &encode(info)?)?;
            Ok(id)
        })
    }

    /// Renews a session's heartbeat.
    pub async fn heartbeat(&self, id: u64) -> Result<()> {
        write_txn!(self, |txn| {
            let Some(bytes) = txn.get(&keys::session(id)).await? else {
                return Err(MetaError::Corrupt(format!(
                    "session {id} was removed, as if this mount had died"
                )));
            };
            let mut info = decode(&bytes)?;
            info.heartbeat = Timespec::now().sec;
            txn.put(&keys::session(id), &encode(&info)?)?;
            Ok(())
        })
    }

    /// Every registered session.
    pub async fn sessions(&self) -> Result<Vec<(u64, SessionInfo)>> {
        read_txn!(self, |txn| {
            scan_prefix(&mut txn, keys::SESSION_PREFIX)
                .await?
                .into_iter()
                .map(|(key, value)| {
                    let id = keys::u64_at(&key, 1)
                        .ok_or_else(|| MetaError::Corrupt("session key".into()))?;
                    Ok((id, decode(&value)?))
                })
                .collect()
        })
    }

    /// Ends a session: removes it and the unlinked files only it held. Many files take
    /// several transactions; the session record goes with the last.
    pub async fn close_session(&self, id: u64) -> Result<usize> {
        let mut reclaimed = 0;
        loop {
            let (files, done) = write_txn!(self, |txn| {
                let mut files = 0;
                // Objects it was writing were never committed: their blocks go.
                for (key, value) in scan_prefix(&mut txn, &keys::pending_of(id)).await? {
                    if txn.size() >= TXN_BUDGET {
                        return Ok((files, false));
                    }
                    txn.delete(&key)?;
                    if let Some(object) = keys::u64_at(&key, 9) {
                        txn.put(&keys::doomed(object), &value)?;
                    }
                }
                let prefix = keys::open_unlinked_of(id);
                for (key, _) in scan_prefix(&mut txn, &prefix).await? {
                    if txn.size() >= TXN_BUDGET {
                        return Ok((files, false));
                    }
                    txn.delete(&key)?;
                    if let Some(ino) = keys::u64_at(&key, prefix.len()) {
                        files += usize::from(reclaim_if_unheld(&mut txn, ino).await?);
                    }
                }
                txn.delete(&keys::session(id))?;
                Ok((files, true))
            })?;
            reclaimed += files;
            if done {
                return Ok(reclaimed);
            }
        }
    }

    /// The last close of an unlinked file held by `session`.
    pub async fn release_unlinked(&self, session: u64, ino: u64) -> Result<bool> {
        write_txn!(self, |txn| {
            txn.delete(&keys::open_unlinked(session, ino))?;
            reclaim_if_unheld(&mut txn, ino).await
        })
    }

    /// Ends every session that `is_dead` says is dead; returns their ids.
    pub async fn reclaim_dead_sessions(
        &self,
        is_dead: impl Fn(&SessionInfo) -> bool,
    ) -> Result<Vec<u64>> {
        let mut ended = Vec::new();
        for (id, info) in self.sessions().await? {
            if is_dead(&info) {
                let files = self.close_session(id).await?;
                tracing::info!(
                    session = id,
                    pid = info.pid,
                    files,
                    "reclaimed a dead session"
                );
                ended.push(id);
            }
        }
        Ok(ended)
    }
}

/// Removes `ino` if it has no links and no session holds it.
///
/// Two sessions letting go of one file at once must not both see the other still holding it:
/// each rewrites the file's attributes, so one of the two transactions conflicts and retries.
async fn reclaim_if_unheld(txn: &mut AnyTxn, ino: u64) -> Result<bool> {
    let Some(bytes) = txn.get(&keys::attr(ino)).await? else {
        return Ok(false);
    };
    txn.put(&keys::attr(ino), &bytes)?;
    let held = scan_prefix(txn, keys::OPEN_UNLINKED_PREFIX)
        .await?
        .iter()
        .any(|(key, _)| keys::u64_at(key, 9) == Some(ino));
    if held {
        return Ok(false);
    }
    let attr = crate::model::Attr::decode(&bytes)?;
    if attr.nlink > 0 {
        return Ok(false);
    }
    remove_inode(txn, ino, &attr).await?;
    Ok(true)
}
