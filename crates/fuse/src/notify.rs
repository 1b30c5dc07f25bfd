//! Notifications: the filesystem tells the kernel to drop or fill its caches.
//!
//! A notification about an inode or directory must not be sent from inside a request handler
//! that the kernel runs with that inode locked (LOOKUP, CREATE, ... on the same directory): the
//! kernel would wait for the handler and the handler for the kernel. Send from another task.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, IoSlice};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use zerocopy::{Immutable, IntoBytes};

use crate::abi::{self, notify_code};
use crate::transport::Channel;

/// How long [`Notifier::retrieve`] waits for the kernel's answer.
const RETRIEVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending half of a channel, object-safe so a notifier need not know the transport.
pub(crate) trait Sender: Send + Sync {
    fn send_parts(&self, parts: &[IoSlice<'_>]) -> io::Result<()>;
}

impl<C: Channel> Sender for C {
    fn send_parts(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        self.send(parts)
    }
}

/// Where a retrieve's answer goes: the offset and the bytes the kernel had cached.
type Waiter = oneshot::Sender<(u64, Vec<u8>)>;

/// Retrieve notifications waiting for the kernel's NOTIFY_REPLY, by notification id.
#[derive(Debug, Default)]
pub(crate) struct Retrievals {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, Waiter>>,
}

impl Retrievals {
    fn register(&self) -> (u64, oneshot::Receiver<(u64, Vec<u8>)>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        (id, rx)
    }

    fn cancel(&self, id: u64) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// The session ended: no answer will come to retrieves still waiting.
    pub(crate) fn close(&self) {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The kernel answered retrieve `id` with `data` found at `offset`.
    pub(crate) fn complete(&self, id: u64, offset: u64, data: &[u8]) {
        let waiter = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
        match waiter {
            Some(tx) => {
                let _ = tx.send((offset, data.to_vec()));
            }
            None => tracing::debug!(id, "NOTIFY_REPLY for a retrieve nobody waits for"),
        }
    }
}

/// Sends notifications to the kernel. Cheap to clone; usable from any thread.
///
/// It does not keep the connection alive: once the session ends, notifications fail with
/// `ENOTCONN`, and the kernel, with no device left open, fails requests instead of waiting.
#[derive(Clone)]
pub struct Notifier {
    chan: Weak<dyn Sender>,
    retrievals: Arc<Retrievals>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

impl Notifier {
    pub(crate) fn new(chan: Weak<dyn Sender>, retrievals: Arc<Retrievals>) -> Self {
        Self { chan, retrievals }
    }

    fn send<T: IntoBytes + Immutable>(&self, code: i32, arg: &T, tail: &[&[u8]]) -> io::Result<()> {
        let len = size_of::<abi::OutHeader>()
            + size_of::<T>()
            + tail.iter().map(|t| t.len()).sum::<usize>();
        let len = u32::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
        let header = abi::OutHeader {
            len,
            error: code,
            unique: 0,
        };
        let mut iov = vec![
            IoSlice::new(header.as_bytes()),
            IoSlice::new(arg.as_bytes()),
        ];
        iov.extend(tail.iter().map(|t| IoSlice::new(t)));
        let chan = self
            .chan
            .upgrade()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOTCONN))?;
        chan.send_parts(&iov)
    }

    /// Drops cached attributes of `ino` and its cached data in `offset..offset + len`
    /// (`len` 0 = to the end; a negative `offset` drops attributes only).
    /// `ENOENT` means the kernel had nothing cached.
    pub fn inval_inode(&self, ino: u64, offset: i64, len: i64) -> io::Result<()> {
        self.send(
            notify_code::INVAL_INODE,
            &abi::NotifyInvalInodeOut {
                ino,
                off: offset,
                len,
            },
            &[],
        )
    }

    /// Drops the cached name `name` in directory `parent`. A directory dropped this way is
    /// unhashed: a process whose working directory it is gets ENOENT from getcwd(3).
    pub fn inval_entry(&self, parent: u64, name: &OsStr) -> io::Result<()> {
        self.send_inval_entry(parent, name, 0)
    }

    /// Marks the cached name `name` in directory `parent` as expired: the next lookup asks
    /// the filesystem again, and only a changed answer drops it. Unlike [`Self::inval_entry`],
    /// working directories under it stay intact. Needs ABI 7.38 (`FUSE_HAS_EXPIRE_ONLY` in
    /// INIT); an older kernel answers EINVAL.
    pub fn expire_entry(&self, parent: u64, name: &OsStr) -> io::Result<()> {
        self.send_inval_entry(parent, name, abi::flags::EXPIRE_ONLY)
    }

    fn send_inval_entry(&self, parent: u64, name: &OsStr, flags: u32) -> io::Result<()> {
        let name = checked_name(name)?;
        let arg = abi::NotifyInvalEntryOut {
            parent,
            namelen: name.len() as u32,
            flags,
        };
        self.send(notify_code::INVAL_ENTRY, &arg, &[name, b"\0"])
    }

    /// Tells the kernel `name` in `parent`, which pointed at `child`, is gone (and drops it
    /// from the cache, unmounting nothing that is in use).
    pub fn delete(&self, parent: u64, child: u64, name: &OsStr) -> io::Result<()> {
        let name = checked_name(name)?;
        let arg = abi::NotifyDeleteOut {
            parent,
            child,
            namelen: name.len() as u32,
            padding: 0,
        };
        self.send(notify_code::DELETE, &arg, &[name, b"\0"])
    }

    /// Puts `data` into the page cache of `ino` at `offset` (and grows the cached size to fit).
    pub fn store(&self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        let size =
            u32::try_from(data.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
        self.send(
            notify_code::STORE,
            &abi::NotifyStoreOut {
                nodeid: ino,
                offset,
                size,
                padding: 0,
            },
            &[data],
        )
    }

    /// Reads back what the page cache of `ino` holds at `offset..offset + size`; returns the
    /// offset the data starts at and the data (possibly shorter, or empty).
    pub async fn retrieve(&self, ino: u64, offset: u64, size: u32) -> io::Result<(u64, Vec<u8>)> {
        let (id, answer) = self.retrievals.register();
        let arg = abi::NotifyRetrieveOut {
            notify_unique: id,
            nodeid: ino,
            offset,
            size,
            padding: 0,
        };
        if let Err(e) = self.send(notify_code::RETRIEVE, &arg, &[]) {
            self.retrievals.cancel(id);
            return Err(e);
        }
        match tokio::time::timeout(RETRIEVE_TIMEOUT, answer).await {
            Ok(Ok(data)) => Ok(data),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "session ended before the kernel answered",
            )),
            Err(_) => {
                self.retrievals.cancel(id);
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the kernel did not answer a retrieve notification",
                ))
            }
        }
    }
}

fn checked_name(name: &OsStr) -> io::Result<&[u8]> {
    let name = name.as_bytes();
    if name.is_empty() || name.len() > crate::decode::NAME_MAX || name.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(name)
}
