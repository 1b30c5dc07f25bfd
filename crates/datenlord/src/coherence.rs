//! Keeping this mount's kernel caches coherent with what other mounts change.
//!
//! Two mechanisms. (1) The metadata engine's watch (etcd) reports every key other mounts
//! change; each becomes a FUSE notification — attributes, data or a name dropped from the
//! kernel's caches — sent within milliseconds, whatever the cache timeouts. (2) Close-to-open:
//! at open, the file's attributes are compared with what this mount last told the kernel; if
//! they differ, the kernel's attributes are dropped before the open is answered (and its page
//! cache is dropped by every open, as files are opened without `FOPEN_KEEP_CACHE`), so an open
//! after another mount's close or fsync reads the new bytes even if no notification came yet.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};

use datenlord_fuse::Notifier;
use datenlord_meta::{Attr, Change, Timespec, Watch};
use datenlord_vfs::Vfs;

use crate::kernel_inodes::KernelInodes;

const SHARDS: usize = 16;
/// Inodes remembered per shard; past it the shard is forgotten (an open then revalidates).
const SHARD_CAPACITY: usize = 1 << 16;

/// What the kernel was last told about an inode's size and times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime: Timespec,
    ctime: Timespec,
}

impl Stamp {
    fn of(attr: &Attr) -> Self {
        Stamp {
            size: attr.size,
            mtime: attr.mtime,
            ctime: attr.ctime,
        }
    }
}

/// This mount's side of cache coherence: the stamps and the way to the kernel.
#[derive(Debug, Default)]
pub struct Coherence {
    told: [Mutex<HashMap<u64, Stamp>>; SHARDS],
    notifier: OnceLock<Notifier>,
    /// The kernel refused an expire-only entry notification (older than ABI 7.38).
    expire_unknown: AtomicBool,
    /// The kernel's numbers for the volume's inodes (notifications name the kernel's).
    inodes: KernelInodes,
}

impl Coherence {
    /// Coherence for a mount whose inode numbers `inodes` maps.
    pub fn new(inodes: KernelInodes) -> Self {
        Self {
            inodes,
            ..Self::default()
        }
    }

    fn shard(&self, ino: u64) -> std::sync::MutexGuard<'_, HashMap<u64, Stamp>> {
        self.told[(ino % SHARDS as u64) as usize]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The kernel is being given these attributes of `ino`.
    pub fn told(&self, ino: u64, attr: &Attr) {
        let mut shard = self.shard(ino);
        if shard.len() >= SHARD_CAPACITY && !shard.contains_key(&ino) {
            shard.clear();
        }
        shard.insert(ino, Stamp::of(attr));
    }

    /// `ino` is being opened and has `attr` now: drops the kernel's attributes if they may
    /// be older.
    pub fn opening(&self, ino: u64, attr: &Attr) {
        let stale = self.shard(ino).get(&ino) != Some(&Stamp::of(attr));
        if stale {
            // Safe inside OPEN: dropping attributes takes no lock the kernel holds for it.
            self.notify(&Change::Attr(ino));
            self.told(ino, attr);
        }
    }

    /// Sets where notifications go, once the session exists.
    pub fn connect(&self, notifier: Notifier) {
        let _ = self.notifier.set(notifier);
    }

    fn notify(&self, change: &Change) {
        let Some(notifier) = self.notifier.get() else {
            return;
        };
        let sent = match change {
            Change::Attr(ino) => notifier.inval_inode(self.inodes.map(*ino), -1, 0),
            Change::Data(ino) => notifier.inval_inode(self.inodes.map(*ino), 0, 0),
            Change::Entry { parent, name } => {
                // Expire rather than drop: the next lookup asks again, and a directory that
                // is some process's working directory stays one (a drop unhashes it, and
                // getcwd fails). Kernels before ABI 7.38 only know the drop.
                let name = OsStr::from_bytes(name);
                let parent = &self.inodes.map(*parent);
                match self.expire_unknown.load(Ordering::Relaxed) {
                    false => notifier.expire_entry(*parent, name).or_else(|err| {
                        if err.raw_os_error() != Some(libc::EINVAL) {
                            return Err(err);
                        }
                        self.expire_unknown.store(true, Ordering::Relaxed);
                        notifier.inval_entry(*parent, name)
                    }),
                    true => notifier.inval_entry(*parent, name),
                }
            }
            Change::Lock(_) => return,
        };
        match sent {
            Ok(()) => {}
            // The kernel had nothing cached for it.
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
            Err(err) => tracing::debug!(?change, %err, "cache notification failed"),
        }
    }

    /// Turns other mounts' changes into notifications until the watch or the mount ends.
    /// Notifications go out from a thread of their own: the kernel may make one wait for a
    /// directory lock held by a request in progress, which must not stall the runtime.
    pub fn follow(self: &Arc<Self>, mut watch: Watch, vfs: Arc<Vfs>) {
        let (tx, rx) = mpsc::channel::<Vec<Change>>();
        let this = self.clone();
        let spawned = std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || {
                for changes in rx {
                    for change in &changes {
                        this.notify(change);
                    }
                }
            });
        if let Err(err) = spawned {
            tracing::error!(%err, "cannot start the notification thread; kernel caches follow other mounts only at their timeouts");
            return;
        }
        tokio::spawn(async move {
            while let Some(mut changes) = watch.next().await {
                let locks = changes.len();
                changes.retain(|c| !matches!(c, Change::Lock(_)));
                if changes.len() != locks {
                    vfs.locks_changed();
                }
                for change in &changes {
                    if let Change::Data(ino) = change {
                        vfs.forget_chunks(*ino);
                    }
                }
                if !changes.is_empty() && tx.send(changes).is_err() {
                    break;
                }
            }
        });
    }
}
