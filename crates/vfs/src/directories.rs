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
    /// The name; a listing starts with "." and "..".
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: u64,
    /// The inode's type (readdir's `d_type`).
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
    /// The inode `name` in `parent` names, with its attributes as [`Vfs::getattr`] reports them;
    /// ENOENT without such a name, ENOTDIR when `parent` is no directory, ENAMETOOLONG or EINVAL
    /// for a name no entry can have.
    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<(u64, Attr)> {
        let mark = self.settles.mark();
        let (ino, attr) = self.meta.lookup(parent, name).await?;
        Ok((ino, self.buffered_since(ino, mark, attr).await?))
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

    /// Gives `ino` the name `name` in `parent`; returns its attributes. EPERM for a directory,
    /// EEXIST when the name is taken, EMLINK at `u32::MAX` links, ENOENT for a file without names
    /// unless a mount holds it open (O_TMPFILE).
    pub async fn link(&self, ino: u64, parent: u64, name: &[u8]) -> Result<Attr> {
        let mark = self.settles.mark();
        let attr = self.meta.link(ino, parent, name).await?;
        self.buffered_since(ino, mark, attr).await
    }

    /// Gives a file without a name that this mount holds open (made by [`Vfs::create`] without
    /// a name) the name `name` in `parent` and the extended attributes `xattrs`, atomically
    /// replacing a non-directory there: readers find the old file or the new one, never
    /// neither. Returns the inode that lost the name. EISDIR when a directory has it.
    pub async fn link_over(
        &self,
        ino: u64,
        parent: u64,
        name: &[u8],
        xattrs: &[(&[u8], &[u8])],
    ) -> Result<Option<Removed>> {
        let replaced = self
            .meta
            .link_over(ino, parent, name, xattrs, &Opens(self))
            .await?;
        if let Some(file) = self.open_file(ino) {
            // Named now: its hold lingers after the last close like any file's.
            file.named();
        }
        if let Some(removed) = &replaced {
            self.mark_orphan(removed);
        }
        Ok(replaced)
    }

    /// Removes the name of a non-directory: EISDIR for a directory, ENOENT without such a name.
    /// With its last name the inode goes, unless a mount holds it open: then at its last close.
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

    /// Removes an empty directory: ENOTEMPTY when it has entries, ENOTDIR when `name` is no
    /// directory, ENOENT without such a name.
    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        Ok(self.meta.rmdir(parent, name).await?)
    }

    /// Renames `parent/name` to `new_parent/new_name`; returns the inode the target named, which
    /// lost that name. `flags`: RENAME_NOREPLACE (EEXIST when the target exists), RENAME_EXCHANGE
    /// (swaps both names; ENOENT without a target), anything else EINVAL. A replaced target must
    /// be of the same kind (EISDIR, ENOTDIR) and, as a directory, empty (ENOTEMPTY); a directory
    /// cannot move below itself (EINVAL).
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

    /// The target of symbolic link `ino`; EINVAL when it is none.
    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        Ok(self.meta.readlink(ino).await?)
    }

    /// Opens directory `ino` for [`Vfs::readdir`]; returns the handle. ENOTDIR when it is no
    /// directory.
    pub async fn opendir(&self, ino: u64) -> Result<u64> {
        // The latest attributes: the listing that follows, read at a snapshot no older, then
        // holds every change made in the directory before it was opened.
        let attr = self.meta.getattr_latest(ino).await?;
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

    /// Closes a directory handle, and the listing it kept.
    pub fn releasedir(&self, fh: u64) {
        lock(&self.handles).remove(&fh);
    }
}
