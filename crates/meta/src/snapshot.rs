//! Snapshots: read-only clones of a directory (or a file), kept in a reserved directory that
//! no path of the volume leads to — so nothing written through a mount, the gateway or any
//! front end can change them — and restored by cloning them back. A snapshot costs what a
//! clone costs: metadata only.

use serde::{Deserialize, Serialize};

use crate::clone::Cloned;
use crate::engine::KvTxn;
use crate::error::{MetaError, Result};
use crate::keys;
use crate::meta::{Meta, put_attr, read_txn, write_txn};
use crate::model::{Attr, Timespec};
use crate::namespace::check_name;
use crate::quota::QuotaLimits;

/// The reserved directory snapshots live in.
const SNAPSHOTS: &str = "snapshots";

/// The extended attribute a snapshot's root carries: what it was taken of, and when.
const SNAPSHOT_XATTR: &[u8] = b"trusted.datenlord.snapshot";

/// What a snapshot records about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// The path it was taken of, as the caller named it.
    pub source: String,
    /// Seconds since the epoch when it was taken.
    pub created: i64,
    /// The bytes of its files (their sizes) when it was taken.
    #[serde(default)]
    pub bytes: u64,
}

impl Meta {
    /// The reserved directory `name` (no entry names it), made on first use.
    pub(crate) async fn reserved_dir(&self, name: &str) -> Result<u64> {
        let key = keys::reserved(name);
        let found = read_txn!(self, |txn| match txn.get(&key).await? {
            Some(bytes) => Ok(Some(crate::model::decode_u64(
                &bytes,
                "reserved directory"
            )?)),
            None => Ok(None),
        })?;
        if let Some(ino) = found {
            return Ok(ino);
        }
        let ino = self.next_inode().await?;
        write_txn!(self, |txn| {
            if let Some(bytes) = txn.get(&key).await? {
                return crate::model::decode_u64(&bytes, "reserved directory");
            }
            let now = Timespec::now();
            let attr = Attr::system_dir(0o700, ino, now);
            put_attr(&mut txn, ino, &attr)?;
            crate::quota::charge(
                &mut txn,
                ino,
                &attr,
                crate::meta::charged(attr.kind, attr.size),
                1,
            )
            .await?;
            txn.put(&key, &ino.to_be_bytes())?;
            Ok(ino)
        })
    }

    /// Takes snapshot `name` of `src` (`source` is how the caller names it).
    pub async fn create_snapshot(
        &self,
        src: u64,
        source: &str,
        name: &[u8],
        builder: (&str, &str),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Cloned> {
        check_name(name)?;
        let dir = self.reserved_dir(SNAPSHOTS).await?;
        let cloned = self.clone_tree(src, dir, name, builder, progress).await?;
        let info = SnapshotInfo {
            source: source.to_string(),
            created: Timespec::now().sec,
            bytes: cloned.bytes,
        };
        let value = serde_json::to_vec(&info).map_err(|e| MetaError::Corrupt(e.to_string()))?;
        self.setxattr(cloned.ino, SNAPSHOT_XATTR, &value, 0, false)
            .await?;
        Ok(cloned)
    }

    /// Every snapshot: its name, root and what it records.
    pub async fn snapshots(&self) -> Result<Vec<(Vec<u8>, u64, SnapshotInfo)>> {
        let dir = self.reserved_dir(SNAPSHOTS).await?;
        let mut out = Vec::new();
        for (name, dirent) in self.readdir(dir).await? {
            let info = match self.getxattr(dirent.ino, SNAPSHOT_XATTR).await {
                Ok(value) => serde_json::from_slice(&value).unwrap_or(SnapshotInfo {
                    source: String::new(),
                    created: 0,
                    bytes: 0,
                }),
                // Being taken: its record comes with its last step.
                Err(_) => continue,
            };
            out.push((name, dirent.ino, info));
        }
        Ok(out)
    }

    /// Snapshot `name`'s root and record; ENOENT when there is none, EAGAIN while it is being
    /// taken (its record comes with its last step).
    pub async fn snapshot_info(&self, name: &[u8]) -> Result<(u64, SnapshotInfo)> {
        let root = self.snapshot(name).await?;
        let value = match self.getxattr(root, SNAPSHOT_XATTR).await {
            Err(err) if err.errno() == libc::ENODATA => return crate::error::errno(libc::EAGAIN),
            other => other?,
        };
        let info = serde_json::from_slice(&value)
            .map_err(|e| MetaError::Corrupt(format!("snapshot record: {e}")))?;
        Ok((root, info))
    }

    /// Snapshot `name`'s root; ENOENT when there is none.
    pub async fn snapshot(&self, name: &[u8]) -> Result<u64> {
        let dir = self.reserved_dir(SNAPSHOTS).await?;
        Ok(self.lookup(dir, name).await?.0)
    }

    /// Clones snapshot `name` back as `dst_name` in `dst_parent`, with a quota of `limits` of
    /// its own when given (see [`Meta::clone_tree_with_quota`]).
    pub async fn restore_snapshot(
        &self,
        name: &[u8],
        (dst_parent, dst_name): (u64, &[u8]),
        limits: Option<QuotaLimits>,
        builder: (&str, &str),
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<Cloned> {
        let root = self.snapshot(name).await?;
        let cloned = self
            .clone_tree_with_quota(root, dst_parent, dst_name, limits, builder, progress)
            .await?;
        match self.removexattr(cloned.ino, SNAPSHOT_XATTR).await {
            Err(err) if err.errno() != libc::ENODATA => Err(err),
            _ => Ok(cloned),
        }
    }

    /// Deletes snapshot `name`: its name goes at once (in one transaction, its tree becomes
    /// an abandoned clone's), then its tree in batches; an interruption leaves what
    /// `reclaim_stale_clones` removes.
    pub async fn delete_snapshot(&self, name: &[u8]) -> Result<()> {
        check_name(name)?;
        let dir = self.reserved_dir(SNAPSHOTS).await?;
        self.discard_tree(dir, name).await
    }
}
