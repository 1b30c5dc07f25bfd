//! POSIX record locks and flock locks, kept in the metadata store so that they exclude across
//! mounts. Each owner's locks on one file are one record; taking a lock reads every record of
//! the file (one range scan), so two mounts racing for it conflict and one retries and sees the
//! other's. Locks go with their owner's close, or with its session when the mount dies.
//! POSIX and flock locks never conflict with each other (as on Linux).

use crate::engine::{KvTxn, TXN_BUDGET};
use crate::error::{MetaError, Result, errno};
use crate::keys;
use crate::meta::{Meta, read_txn, scan_prefix, write_txn};

/// A lock over bytes `start..=end` (`end` = `u64::MAX`: to the end of the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockRange {
    /// The first byte locked.
    pub start: u64,
    /// The last byte locked (inclusive).
    pub end: u64,
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub typ: i32,
    /// The process that took it, as F_GETLK reports it.
    pub pid: u32,
}

/// Who holds a lock: an owner (lock owner id from the kernel) in a mount session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LockOwner {
    /// The mount session.
    pub session: u64,
    /// The kernel's lock owner within that mount.
    pub owner: u64,
}

const RECORD: usize = 8 + 8 + 1 + 4;

impl LockRange {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    fn blocks(&self, other: &LockRange) -> bool {
        self.overlaps(other.start, other.end)
            && (self.typ == libc::F_WRLCK || other.typ == libc::F_WRLCK)
    }
}

fn encode(ranges: &[LockRange]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ranges.len() * RECORD);
    for r in ranges {
        out.extend_from_slice(&r.start.to_be_bytes());
        out.extend_from_slice(&r.end.to_be_bytes());
        out.push(u8::from(r.typ == libc::F_WRLCK));
        out.extend_from_slice(&r.pid.to_be_bytes());
    }
    out
}

fn decode(bytes: &[u8]) -> Result<Vec<LockRange>> {
    if !bytes.len().is_multiple_of(RECORD) {
        return Err(MetaError::Corrupt(format!(
            "lock record of {} bytes",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(RECORD)
        .map(|r| LockRange {
            start: keys::u64_at(r, 0).unwrap_or(0),
            end: keys::u64_at(r, 8).unwrap_or(0),
            typ: if r[16] == 1 {
                libc::F_WRLCK
            } else {
                libc::F_RDLCK
            },
            pid: u32::from_be_bytes([r[17], r[18], r[19], r[20]]),
        })
        .collect())
}

/// `held` with `lock` applied (taken, or with F_UNLCK released) by its owner.
fn apply(held: Vec<LockRange>, lock: &LockRange) -> Vec<LockRange> {
    let mut kept = Vec::with_capacity(held.len() + 2);
    for h in held {
        if !h.overlaps(lock.start, lock.end) {
            kept.push(h);
            continue;
        }
        if h.start < lock.start {
            kept.push(LockRange {
                end: lock.start - 1,
                ..h
            });
        }
        if h.end > lock.end {
            kept.push(LockRange {
                start: lock.end + 1,
                ..h
            });
        }
    }
    if lock.typ != libc::F_UNLCK {
        kept.push(*lock);
    }
    kept
}

fn owner_of(key: &[u8]) -> Option<LockOwner> {
    Some(LockOwner {
        session: keys::u64_at(key, 10)?,
        owner: keys::u64_at(key, 18)?,
    })
}

/// The first lock of another owner in `records` that `lock` runs into.
fn first_conflict(
    records: &[(Vec<u8>, Vec<u8>)],
    who: LockOwner,
    lock: &LockRange,
) -> Result<Option<LockRange>> {
    for (key, value) in records {
        if owner_of(key) == Some(who) {
            continue;
        }
        if let Some(held) = decode(value)?.into_iter().find(|h| h.blocks(lock)) {
            return Ok(Some(held));
        }
    }
    Ok(None)
}

impl Meta {
    /// The first lock of another owner in the way of `lock` (F_GETLK).
    pub async fn lock_conflict(
        &self,
        ino: u64,
        flock: bool,
        who: LockOwner,
        lock: &LockRange,
    ) -> Result<Option<LockRange>> {
        if lock.typ == libc::F_UNLCK {
            return Ok(None);
        }
        read_txn!(self, latest, |txn| {
            let records = scan_prefix(&mut txn, &keys::locks_of(ino, flock)).await?;
            first_conflict(&records, who, lock)
        })
    }

    /// Takes `lock` for `who` (or releases it, F_UNLCK) unless another owner's lock is in the
    /// way: then nothing changes and that lock is returned.
    pub async fn set_lock(
        &self,
        ino: u64,
        flock: bool,
        who: LockOwner,
        lock: &LockRange,
    ) -> Result<Option<LockRange>> {
        if !matches!(lock.typ, libc::F_RDLCK | libc::F_WRLCK | libc::F_UNLCK)
            || lock.start > lock.end
        {
            return errno(libc::EINVAL);
        }
        write_txn!(self, |txn| {
            let records = scan_prefix(&mut txn, &keys::locks_of(ino, flock)).await?;
            if lock.typ != libc::F_UNLCK
                && let Some(held) = first_conflict(&records, who, lock)?
            {
                return Ok(Some(held));
            }
            let key = keys::lock(ino, flock, who.session, who.owner);
            let mine = match records.iter().find(|(k, _)| *k == key) {
                Some((_, value)) => decode(value)?,
                None => Vec::new(),
            };
            let now = apply(mine, lock);
            if now.is_empty() {
                txn.delete(&key)?;
            } else {
                txn.put(&key, &encode(&now))?;
            }
            Ok(None)
        })
    }

    /// Drops every lock `who` holds on `ino`.
    pub async fn release_locks(&self, ino: u64, flock: bool, who: LockOwner) -> Result<()> {
        write_txn!(self, |txn| {
            txn.delete(&keys::lock(ino, flock, who.session, who.owner))?;
            Ok(())
        })
    }

    /// Drops every lock of a session (it ended or died).
    pub(crate) async fn release_session_locks(&self, session: u64) -> Result<()> {
        loop {
            let done = write_txn!(self, |txn| {
                for (key, _) in scan_prefix(&mut txn, keys::LOCK_PREFIX).await? {
                    if owner_of(&key).is_some_and(|o| o.session == session) {
                        if txn.size() >= TXN_BUDGET {
                            return Ok(false);
                        }
                        txn.delete(&key)?;
                    }
                }
                Ok(true)
            })?;
            if done {
                return Ok(());
            }
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
            pid: 9,
        }
    }

    #[test]
    fn records_round_trip_and_unlock_splits() {
        let held = vec![
            range(0, 99, libc::F_WRLCK),
            range(200, u64::MAX, libc::F_RDLCK),
        ];
        assert_eq!(decode(&encode(&held)).unwrap(), held);
        assert!(decode(&[0; 5]).is_err());
        let now = apply(held, &range(40, 59, libc::F_UNLCK));
        assert_eq!(
            now,
            vec![
                range(0, 39, libc::F_WRLCK),
                range(60, 99, libc::F_WRLCK),
                range(200, u64::MAX, libc::F_RDLCK)
            ]
        );
        assert!(range(0, 9, libc::F_RDLCK).blocks(&range(5, 5, libc::F_WRLCK)));
        assert!(!range(0, 9, libc::F_RDLCK).blocks(&range(5, 5, libc::F_RDLCK)));
    }
}
