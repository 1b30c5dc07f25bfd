//! Mount sessions: each mount registers itself and renews a heartbeat. A mount records the
//! files it holds open (at their first open there, until their last close), so a file whose
//! last name goes lives while any mount holds it, and is removed at the last release — or when
//! the last holder's session is found dead (its heartbeat stopped for longer than its lease,
//! or its process is gone).

use serde::{Deserialize, Serialize};

use crate::engine::{AnyTxn, KvTxn, TXN_BUDGET};
use crate::error::{MetaError, Result, errno};
use crate::keys;
use crate::meta::{Meta, get_attr, get_counter, read_txn, scan_prefix, write_txn};
use crate::model::{Attr, FileKind};
use crate::model::{Timespec, encode_u64};
use crate::namespace::{holders, remove_inode};

/// The environment variable naming the node a mount serves ([`SessionInfo::node`]).
pub const NODE_NAME_ENV: &str = "DATENLORD_NODE_NAME";

/// What a session says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SessionInfo {
    /// The host name of the machine the mount runs on.
    pub host: String,
    /// The boot and PID namespace `pid` belongs to: other processes may look the PID up only
    /// when theirs is the same. Empty in sessions of earlier releases (the lease decides).
    #[serde(default)]
    pub host_id: String,
    /// The mount's process id.
    pub pid: u32,
    /// Where the volume is mounted.
    pub mountpoint: String,
    /// The DatenLord release the mount runs.
    pub version: String,
    /// When the session was registered, in seconds since the epoch.
    pub started: i64,
    /// Seconds since the epoch of the last heartbeat.
    pub heartbeat: i64,
    /// Seconds without a heartbeat after which the session counts as dead: its locks and the
    /// unlinked files only it held open are released.
    #[serde(default = "default_lease")]
    pub lease: i64,
    /// The node the mount serves, as the scheduler names it (`$DATENLORD_NODE_NAME`, which
    /// the CSI driver gives the mounts it starts); empty: `host`.
    #[serde(default)]
    pub node: String,
    /// The directory of the volume the mount serves (`--subdir`); empty: all of it.
    #[serde(default)]
    pub root: String,
    /// Bytes its caches (memory and disk) held at its last heartbeat: where its data is warm.
    #[serde(default)]
    pub cached_bytes: u64,
}

/// The lease of sessions that did not record one.
pub const DEFAULT_LEASE: i64 = 60;

fn default_lease() -> i64 {
    DEFAULT_LEASE
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

    /// Renews a session's heartbeat, recording what its caches hold; false when the session
    /// is gone (other mounts found its lease expired and ended it).
    pub async fn heartbeat(&self, id: u64, cached_bytes: u64) -> Result<bool> {
        write_txn!(self, |txn| {
            let Some(bytes) = txn.get(&keys::session(id)).await? else {
                return Ok(false);
            };
            let mut info = decode(&bytes)?;
            info.heartbeat = Timespec::now().sec;
            info.cached_bytes = cached_bytes;
            txn.put(&keys::session(id), &encode(&info)?)?;
            Ok(true)
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
        self.release_session_locks(id).await?;
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
                for (key, _) in scan_prefix(&mut txn, keys::OPEN_PREFIX).await? {
                    let (Some(ino), Some(session)) = (keys::u64_at(&key, 1), keys::u64_at(&key, 9))
                    else {
                        continue;
                    };
                    if session != id {
                        continue;
                    }
                    if txn.size() >= TXN_BUDGET {
                        return Ok((files, false));
                    }
                    txn.delete(&key)?;
                    files += usize::from(reclaim_if_unheld(&mut txn, ino, id).await?);
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

    /// `session` opens `ino` (its first open on that mount): the file now lives, even without
    /// names, until `session` releases it or ends. Returns its attributes.
    pub async fn hold_open(&self, ino: u64, session: u64) -> Result<Attr> {
        write_txn!(self, |txn| {
            let attr = get_attr(&mut txn, ino).await?;
            match attr.kind {
                FileKind::File => {}
                FileKind::Dir => return errno(libc::EISDIR),
                _ => return errno(libc::ENXIO),
            }
            txn.put(&keys::open_file(ino, session), &[])?;
            Ok(attr)
        })
    }

    /// The last close of `ino` on `session`'s mount; a file without names and without other
    /// holders goes. Returns whether it went.
    pub async fn release_open(&self, session: u64, ino: u64) -> Result<bool> {
        write_txn!(self, |txn| {
            let key = keys::open_file(ino, session);
            txn.get(&key).await?;
            txn.delete(&key)?;
            reclaim_if_unheld(&mut txn, ino, session).await
        })
    }

    /// [`Meta::release_open`] of several files in one transaction.
    pub async fn release_opens(&self, session: u64, inos: &[u64]) -> Result<()> {
        write_txn!(self, |txn| {
            for &ino in inos {
                let key = keys::open_file(ino, session);
                txn.get(&key).await?;
                txn.delete(&key)?;
                reclaim_if_unheld(&mut txn, ino, session).await?;
            }
            Ok(())
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

/// Removes `ino` if it has no links and no session other than `leaving` holds it.
async fn reclaim_if_unheld(txn: &mut AnyTxn, ino: u64, leaving: u64) -> Result<bool> {
    let Some(bytes) = txn.get(&keys::attr(ino)).await? else {
        return Ok(false);
    };
    let attr = crate::model::Attr::decode(&bytes)?;
    if attr.nlink > 0 || !holders(txn, ino, Some(leaving)).await?.is_empty() {
        return Ok(false);
    }
    remove_inode(txn, ino, &attr).await?;
    Ok(true)
}
