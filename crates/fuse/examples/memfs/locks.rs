//! POSIX record locks and flock locks, per inode, with waiting.

use std::collections::HashMap;

use datenlord_fuse::op::Lock;

/// A lock some owner holds on a byte range (flock locks cover the whole file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Held {
    owner: u64,
    pid: u32,
    start: u64,
    end: u64,
    typ: i32,
}

impl Held {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }
}

/// The locks of every inode; POSIX and flock locks live apart, as in the kernel.
#[derive(Debug, Default)]
pub struct LockTable {
    posix: HashMap<u64, Vec<Held>>,
    flock: HashMap<u64, Vec<Held>>,
}

impl LockTable {
    fn list(&mut self, ino: u64, flock: bool) -> &mut Vec<Held> {
        if flock {
            self.flock.entry(ino).or_default()
        } else {
            self.posix.entry(ino).or_default()
        }
    }

    /// The first lock of another owner that conflicts with `lock`.
    pub fn conflict(&mut self, ino: u64, owner: u64, lock: &Lock, flock: bool) -> Option<Lock> {
        if lock.typ == libc::F_UNLCK {
            return None;
        }
        self.list(ino, flock)
            .iter()
            .find(|h| {
                h.owner != owner
                    && h.overlaps(lock.start, lock.end)
                    && (h.typ == libc::F_WRLCK || lock.typ == libc::F_WRLCK)
            })
            .map(|h| Lock {
                start: h.start,
                end: h.end,
                typ: h.typ,
                pid: h.pid,
            })
    }

    /// Sets (or with `F_UNLCK` clears) `owner`'s lock over `lock`'s range, splitting what it
    /// held before.
    pub fn apply(&mut self, ino: u64, owner: u64, lock: &Lock, flock: bool) {
        let list = self.list(ino, flock);
        let mut kept = Vec::with_capacity(list.len() + 2);
        for h in list.drain(..) {
            if h.owner != owner || !h.overlaps(lock.start, lock.end) {
                kept.push(h);
                continue;
            }
            if h.start < lock.start {
                kept.push(Held {
                    end: lock.start - 1,
                    ..h
                });
            }
            if h.end > lock.end {
                kept.push(Held {
                    start: lock.end + 1,
                    ..h
                });
            }
        }
        if lock.typ != libc::F_UNLCK {
            kept.push(Held {
                owner,
                pid: lock.pid,
                start: lock.start,
                end: lock.end,
                typ: lock.typ,
            });
        }
        *list = kept;
    }

    /// Drops every lock `owner` holds on `ino`; returns whether there were any.
    pub fn release_owner(&mut self, ino: u64, owner: u64, flock: bool) -> bool {
        let list = self.list(ino, flock);
        let before = list.len();
        list.retain(|h| h.owner != owner);
        before != list.len()
    }

    /// Forgets an inode that no longer exists.
    pub fn remove_inode(&mut self, ino: u64) {
        self.posix.remove(&ino);
        self.flock.remove(&ino);
    }
}
