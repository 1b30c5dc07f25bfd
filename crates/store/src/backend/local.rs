//! Blocks as files in a local directory.
//!
//! Not OpenDAL's `fs` service: that one fsyncs every object on close and goes through tokio's
//! blocking pool for each call. Here a block is written with plain `write(2)` and read with
//! `pread(2)`, on the calling thread; durability comes on demand, when a file is fsynced:
//! [`Backend::sync`] syncs every block (and new directory) written since the last sync.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::{Backend, Capacity, PutCounter};
use crate::error::{Result, StoreError};

/// Threads that write the blocks of one object at once.
const WRITERS: usize = 4;

fn panicked() -> StoreError {
    StoreError::io(
        "block writer",
        std::io::Error::other("a block writer thread panicked"),
    )
}

/// A directory of blocks.
#[derive(Debug)]
pub struct LocalDir {
    root: PathBuf,
    unsynced: Mutex<Vec<PathBuf>>,
}

impl LocalDir {
    /// Opens `root`; with `create`, makes it first.
    pub fn open(root: &Path, create: bool) -> Result<Self> {
        if create {
            fs::create_dir_all(root).map_err(|e| StoreError::io(root.display(), e))?;
        }
        let meta = fs::metadata(root).map_err(|e| StoreError::io(root.display(), e))?;
        if !meta.is_dir() {
            return Err(StoreError::Url {
                url: format!("file://{}", root.display()),
                reason: "not a directory".into(),
            });
        }
        Ok(Self {
            root: root.to_path_buf(),
            unsynced: Mutex::new(Vec::new()),
        })
    }

    /// The directory the blocks live in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn note_unsynced(&self, path: PathBuf) {
        self.unsynced
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(path);
    }

    /// Writes a new block named `name` (a relative path).
    fn write(&self, name: &str, data: &[u8]) -> Result<()> {
        let path = self.root.join(name);
        let file = match create_new(&path) {
            Err(err) if err.kind() == ErrorKind::NotFound => {
                self.make_parents(&path)?;
                create_new(&path)
            }
            other => other,
        }
        .map_err(|e| StoreError::io(path.display(), e))?;
        if let Err(err) = (&file).write_all(data) {
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(StoreError::io(path.display(), err));
        }
        self.note_unsynced(path);
        Ok(())
    }

    fn make_parents(&self, path: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| *d != self.root && !d.exists()) {
            missing.push(d.to_path_buf());
            dir = d.parent();
        }
        for d in missing.iter().rev() {
            match fs::create_dir(d) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {}
                Err(err) => return Err(StoreError::io(d.display(), err)),
            }
            if let Some(parent) = d.parent() {
                self.note_unsynced(parent.to_path_buf());
            }
        }
        Ok(())
    }

    /// Removes block `name`; a block already gone is fine.
    fn remove(&self, name: &str) -> Result<()> {
        let path = self.root.join(name);
        match fs::remove_file(&path) {
            Err(err) if err.kind() != ErrorKind::NotFound => {
                Err(StoreError::io(path.display(), err))
            }
            _ => Ok(()),
        }
    }
}

/// Walks the block files under `root`, sending each (name relative to `root`, size) — or the
/// error that stopped the walk — until the receiver goes away. Only the directories still to
/// visit are held, so a listing of any size takes little memory.
fn walk_into(root: &Path, tx: &tokio::sync::mpsc::Sender<Result<(String, u64)>>) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) => {
                let _ = tx.blocking_send(Err(StoreError::io(dir.display(), e)));
                return;
            }
        };
        for entry in entries {
            let found = entry.and_then(|entry| Ok((entry.file_type()?, entry)));
            let (kind, entry) = match found {
                Ok(found) => found,
                Err(e) => {
                    let _ = tx.blocking_send(Err(StoreError::io(dir.display(), e)));
                    return;
                }
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if let Ok(rel) = entry.path().strip_prefix(root) {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                if tx
                    .blocking_send(Ok((rel.to_string_lossy().into_owned(), size)))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

impl Backend for LocalDir {
    /// Spreads the blocks over up to four threads (copying into the page cache is the cost)
    /// and waits for them: the calling task blocks for as long as the writes take.
    async fn put_blocks(&self, blocks: &[(String, &[u8])], count: PutCounter<'_>) -> Result<()> {
        let lanes = blocks.len().min(WRITERS);
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..lanes)
                .map(|lane| {
                    scope.spawn(move || {
                        blocks
                            .iter()
                            .skip(lane)
                            .step_by(lanes)
                            .try_for_each(|(name, data)| {
                                let started = Instant::now();
                                let written = self.write(name, data);
                                count(data.len() as u64, started.elapsed());
                                written
                            })
                    })
                })
                .collect();
            writers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|_| Err(panicked())))
                .collect()
        });
        if let Some(err) = results.into_iter().find_map(Result::err) {
            // Half an object is garbage: take back what was written.
            for (name, _) in blocks {
                let _ = self.remove(name);
            }
            return Err(err);
        }
        Ok(())
    }

    async fn read_range(&self, name: &str, offset: u64, len: u64) -> Result<Bytes> {
        let path = self.root.join(name);
        let file = File::open(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => StoreError::Missing(name.to_string()),
            _ => StoreError::io(path.display(), e),
        })?;
        let len = len as usize;
        let mut buf = vec![0; len];
        let mut done = 0;
        while done < len {
            match file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => return Err(StoreError::Missing(format!("{name} (short block)"))),
                Ok(n) => done += n,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(StoreError::io(path.display(), err)),
            }
        }
        Ok(Bytes::from(buf))
    }

    async fn read_whole(&self, name: &str) -> Result<Bytes> {
        let path = self.root.join(name);
        fs::read(&path)
            .map(Bytes::from)
            .map_err(|e| match e.kind() {
                ErrorKind::NotFound => StoreError::Missing(name.to_string()),
                _ => StoreError::io(path.display(), e),
            })
    }

    async fn delete(&self, name: &str) -> Result<()> {
        self.remove(name)
    }

    async fn sync(&self) -> Result<()> {
        let pending =
            std::mem::take(&mut *self.unsynced.lock().unwrap_or_else(PoisonError::into_inner));
        for (i, path) in pending.iter().enumerate() {
            let synced = File::open(path).and_then(|f| f.sync_all());
            match synced {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::NotFound => {}
                Err(err) => {
                    let mut unsynced = self.unsynced.lock().unwrap_or_else(PoisonError::into_inner);
                    unsynced.extend_from_slice(&pending[i..]);
                    return Err(StoreError::io(path.display(), err));
                }
            }
        }
        Ok(())
    }

    /// Walks the whole directory first: a local listing has no pages to wait for.
    fn list(&self) -> impl Stream<Item = Result<(String, u64)>> + Send {
        let (tx, rx) = tokio::sync::mpsc::channel(4096);
        let root = self.root.clone();
        let walker = std::thread::Builder::new()
            .name("list-blocks".into())
            .spawn(move || walk_into(&root, &tx));
        let failed = walker
            .err()
            .map(|e| StoreError::io("a thread to list blocks", e));
        let listing = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        });
        futures::stream::iter(failed.map(Err)).chain(listing)
    }

    fn capacity(&self) -> Option<Capacity> {
        let stat = nix::sys::statvfs::statvfs(&self.root).ok()?;
        let unit = stat.fragment_size();
        Some(Capacity {
            total: stat.blocks() * unit,
            free: stat.blocks_available() * unit,
        })
    }

    fn needs_deadline(&self) -> bool {
        false
    }
}

fn create_new(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}
