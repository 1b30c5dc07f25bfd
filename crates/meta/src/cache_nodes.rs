//! Members of cache groups: each `datenlord cache-node` registers under its group and renews
//! a heartbeat; readers build their hash ring from the members whose lease has not run out.

use serde::{Deserialize, Serialize};

use crate::engine::KvTxn;
use crate::error::{MetaError, Result};
use crate::keys;
use crate::meta::{Meta, read_txn, scan_prefix, write_txn};
use crate::model::Timespec;

/// What a cache node says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheNodeInfo {
    /// Where readers reach it (`host:port`); also its identity in the ring, so a node that
    /// restarts on the same address owns the same blocks again.
    pub addr: String,
    /// The host name of the machine it runs on.
    pub host: String,
    /// Its process id on that host.
    pub pid: u32,
    /// The DatenLord release it runs.
    pub version: String,
    /// When it started, in seconds since the epoch.
    pub started: i64,
    /// Its last heartbeat, in seconds since the epoch.
    pub heartbeat: i64,
    /// Seconds without a heartbeat after which readers leave it out.
    pub lease: i64,
    /// Bytes its cache may hold.
    pub capacity: u64,
}

impl CacheNodeInfo {
    /// Whether its lease still runs at `now` (seconds since the epoch).
    pub fn is_alive(&self, now: i64) -> bool {
        now - self.heartbeat <= self.lease
    }
}

/// Checks a group name: readable, and unable to reach into another group's keys.
pub fn check_group_name(group: &str) -> Result<()> {
    let ok = !group.is_empty()
        && group.len() <= 64
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(MetaError::Refused(format!(
            "cache group name {group:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

fn decode(bytes: &[u8]) -> Result<CacheNodeInfo> {
    serde_json::from_slice(bytes).map_err(|e| MetaError::Corrupt(format!("cache node record: {e}")))
}

fn encode(info: &CacheNodeInfo) -> Result<Vec<u8>> {
    serde_json::to_vec(info).map_err(|e| MetaError::Corrupt(format!("cache node record: {e}")))
}

impl Meta {
    /// Registers (or registers again) a member of `group`.
    pub async fn register_cache_node(&self, group: &str, info: &CacheNodeInfo) -> Result<()> {
        check_group_name(group)?;
        let value = encode(info)?;
        write_txn!(self, |txn| {
            txn.put(&keys::cache_node(group, &info.addr), &value)?;
            Ok(())
        })
    }

    /// Renews a member's heartbeat; false when its record is gone.
    pub async fn renew_cache_node(&self, group: &str, addr: &str) -> Result<bool> {
        write_txn!(self, |txn| {
            let key = keys::cache_node(group, addr);
            let Some(bytes) = txn.get(&key).await? else {
                return Ok(false);
            };
            let mut info = decode(&bytes)?;
            info.heartbeat = Timespec::now().sec;
            txn.put(&key, &encode(&info)?)?;
            Ok(true)
        })
    }

    /// Removes a member (it is leaving).
    pub async fn remove_cache_node(&self, group: &str, addr: &str) -> Result<()> {
        write_txn!(self, |txn| {
            txn.delete(&keys::cache_node(group, addr))?;
            Ok(())
        })
    }

    /// Every registered member of `group`, live or not, by address.
    pub async fn cache_nodes(&self, group: &str) -> Result<Vec<CacheNodeInfo>> {
        check_group_name(group)?;
        read_txn!(self, |txn| {
            scan_prefix(&mut txn, &keys::cache_group(group))
                .await?
                .iter()
                .map(|(_, value)| decode(value))
                .collect()
        })
    }

    /// Every group with its registered members.
    pub async fn cache_groups(&self) -> Result<Vec<(String, CacheNodeInfo)>> {
        read_txn!(self, |txn| {
            scan_prefix(&mut txn, keys::CACHE_NODE_PREFIX)
                .await?
                .iter()
                .map(|(key, value)| {
                    let rest = &key[keys::CACHE_NODE_PREFIX.len()..];
                    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                    let group = String::from_utf8_lossy(&rest[..end]).into_owned();
                    Ok((group, decode(value)?))
                })
                .collect()
        })
    }
}
