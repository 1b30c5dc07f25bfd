//! Names: lookup, creating nodes and links, removing and renaming names, and reading
//! directories. Removing a name may leave an open file without any; such a file goes at its
//! last close here. A directory handle keeps the listing it read, so `rm -r` neither skips
//! nor repeats names while it removes them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datenlord_meta::{Attr, Caller, FileKind, NewInode, OpenFiles, Removed};

use crate::error::{Result, errno};
use crate::handles::Handle;
use crate::vfs::{Vfs, lock};

/// An entry of a directory listing; offsets count from 1 ("." is entry 0).
#[derive(Debug, Clone)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u64,
    pub kind: FileKind,
}

/// `Vfs` as seen by metadata operations that remove names.
struct Opens<'a>(&'a Vfs);

impl OpenFiles for Opens<'_> {
    fn is_open(&self, ino: u64) -> bool {
        lock(&self.0.files).contains_key(&ino)
    }

    fn session(&self) -> u64 {
        self.0.session.load(Ordering::Relaxed)
    }
}

impl Vfs {
    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<(u64, Attr)> {
        let (ino, attr) = self.meta.lookup(parent, name).await?;
        Ok((ino, self.with_buffered(ino, attr)))
    }

    /// Creates a node that is not opened (mknod, mkdir, symlink).
    pub async fn mknod(
        &self,
        caller: Caller,
        parent: u64,
        name: &[u8],
        new: NewInode<'_>,
    ) -> Result<(u64, Attr)> {
        Ok(self.meta.create(caller, parent, name, new).await?)
    }

    pub async fn link(&self, ino: u64, parent: u64, name: &[u8]) -> Result<Attr> {
        let attr = self.meta.link(ino, parent, name).await?;
        Ok(self.with_buffered(ino, attr))
    }

    pub async fn unlink(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        let removed = self.meta.unlink(parent, name, &Opens(self)).await?;
        self.mark_orphan(&removed);
        Ok(removed)
    }

    /// A file open here lost its last name: its last close lets go of it at once. A closed
    /// one's lingering hold went with the name (see `drop_link`).
    fn mark_orphan(&self, removed: &Removed) {
        if removed.attr.nlink > 0 {
            return;
        }
        lock(&self.releasing).remove(&removed.ino);
        if let Some(file) = self.open_file(removed.ino) {
            file.orphaned();
        }
    }

    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        Ok(self.meta.rmdir(parent, name).await?)
    }

    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        flags: u32,
    ) -> Result<Option<Removed>> {
        let removed = self
            .meta
            .rename(parent, name, new_parent, new_name, flags, &Opens(self))
            .await?;
        if let Some(removed) = &removed {
            self.mark_orphan(removed);
        }
        Ok(removed)
    }

    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.meta.readlink(ino).await?)
    }

    pub async fn opendir(&self, ino: u64) -> Result<u64> {
        let attr = self.meta.getattr(ino).await?;
        if attr.kind != FileKind::Dir {
            return errno(libc::ENOTDIR);
        }
        let fh = self.next_handle.fetch_add(1, Ordering::Relaxed);
        lock(&self.handles).insert(fh, Handle::Dir { ino, entries: None });
        Ok(fh)
    }

    /// The listing of an open directory, read once when a reader starts from offset 0 and kept,
    /// so names removed while it reads on neither shift nor repeat the others.
    pub async fn readdir(&self, fh: u64, offset: u64) -> Result<Arc<Vec<DirEntry>>> {
        let (ino, cached) = match lock(&self.handles).get(&fh) {
            Some(Handle::Dir { ino, entries }) => (*ino, entries.clone()),
            Some(Handle::File { .. }) => return errno(libc::ENOTDIR),
            None => return errno(libc::EBADF),
        };
        if let (Some(entries), false) = (cached, offset == 0) {
            return Ok(entries);
        }
        let attr = self.meta.getattr(ino).await?;
        let mut entries = vec![
            DirEntry {
                name: b".".to_vec(),
                ino,
                kind: FileKind::Dir,
            },
            DirEntry {
                name: b"..".to_vec(),
                ino: attr.parent,
                kind: FileKind::Dir,
            },
        ];
        for (name, dirent) in self.meta.readdir(ino).await? {
            entries.push(DirEntry {
                name,
                ino: dirent.ino,
                kind: dirent.kind,
            });
        }
        let entries = Arc::new(entries);
        if let Some(Handle::Dir { entries: slot, .. }) = lock(&self.handles).get_mut(&fh) {
            *slot = Some(entries.clone());
        }
        Ok(entries)
    }

    pub fn releasedir(&self, fh: u64) {
        lock(&self.handles).remove(&fh);
    }
}
