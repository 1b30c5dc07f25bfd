//! Names: lookup, create (files, directories, links, nodes), hard links, unlink, rmdir,
//! rename and directory listing. Permission checks are the caller's (the kernel does them for
//! a FUSE mount with `default_permissions`); here live the rules of the namespace itself.

use crate::acl::{self, Acl};
use crate::engine::AnyTxn;
use crate::engine::KvTxn;
use crate::error::{Result, errno};
use crate::keys;
use crate::meta::{
    Caller, Meta, charged, get_attr, get_dir, put_attr, read_txn, scan_prefix, touch_dir,
    usage_shard_of, with_entry_times, write_txn,
};
use crate::model::{Attr, Dirent, FileKind, ROOT_INO, Timespec};

/// The size a directory reports.
pub const DIR_SIZE: u64 = 4096;

/// `rename` flag (from `renameat2`): fail with EEXIST when the new name exists.
pub const RENAME_NOREPLACE: u32 = 1;

/// The longest name a directory entry may have, as on Linux's filesystems.
pub const NAME_MAX: usize = 255;

/// Refuses a name no directory can hold: ENAMETOOLONG past [`NAME_MAX`] bytes, EINVAL when
/// empty, `.` or `..`, or holding `/` or NUL. The kernel checks names before FUSE sees them;
/// front ends that take names from the network (S3 keys, KV keys) rely on this check.
pub fn check_name(name: &[u8]) -> Result<()> {
    if name.len() > NAME_MAX {
        return errno(libc::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return errno(libc::EINVAL);
    }
    Ok(())
}
/// `rename` flag: swap the two names atomically; both must exist (ENOENT otherwise).
pub const RENAME_EXCHANGE: u32 = 2;

/// What to create.
#[derive(Debug, Clone, Copy)]
pub struct NewInode<'a> {
    /// What to create.
    pub kind: FileKind,
    /// Permission bits asked for (0o7777).
    pub perm: u16,
    /// Applied unless the directory has a default ACL.
    pub umask: u16,
    /// The device number, for a character or block device.
    pub rdev: u32,
    /// The target of a symbolic link.
    pub target: Option<&'a [u8]>,
}

/// Which inodes a caller holds open, so that unlinking the last name keeps their data.
pub trait OpenFiles: Sync {
    /// Whether the caller has `ino` open now (its last close has not happened).
    fn is_open(&self, ino: u64) -> bool;
    /// The session that will hold the inode until its last close.
    fn session(&self) -> u64;
}

/// An inode that lost a name: `attr` is after the change.
#[derive(Debug, Clone, Copy)]
pub struct Removed {
    /// The inode.
    pub ino: u64,
    /// Its attributes after the change (`nlink` 0: it has no name left).
    pub attr: Attr,
}

impl Meta {
    /// The inode `name` in `parent` names.
    pub async fn lookup(&self, parent: u64, name: &[u8]) -> Result<(u64, Attr)> {
        // `.` and `..` are no entries (the kernel resolves them); looking them up finds none.
        if name != b"." && name != b".." {
            check_name(name)?;
        }
        let wanted = [keys::entry(parent, name), keys::attr(parent)];
        if !self.reports_changes() {
            return read_txn!(self, |txn| lookup_in(&mut txn, &wanted, parent, name).await);
        }
        // With other mounts about, a name is taken from the cache only when the cache holds
        // it: one another mount created a moment ago may not be there yet, and a negative
        // answer decides an open's or a create's fate, so it is asked for at the latest state
        // (a positive one may trail like any read).
        let cached = read_txn!(self, |txn| {
            let Some(Some(bytes)) = txn.peek(&keys::entry(parent, name)).await? else {
                return Ok(None);
            };
            let ino = Dirent::decode(&bytes)?.ino;
            Ok(Some((ino, get_attr(&mut txn, ino).await?)))
        })?;
        match cached {
            Some(found) => Ok(found),
            None => read_txn!(self, latest, |txn| lookup_in(
                &mut txn, &wanted, parent, name
            )
            .await),
        }
    }

    /// The attributes of `ino`.
    pub async fn getattr(&self, ino: u64) -> Result<Attr> {
        read_txn!(self, |txn| get_attr(&mut txn, ino).await)
    }

    /// The attributes of `ino` with every change committed before the call (by any mount)
    /// in them, where [`Meta::getattr`] may trail other mounts by the watch's delay: an
    /// open's (close-to-open), and the reads after it start from there.
    pub async fn getattr_latest(&self, ino: u64) -> Result<Attr> {
        read_txn!(self, latest, |txn| {
            // A directory's times are a second key: read in the same round trip.
            txn.prefetch(&[keys::attr(ino), keys::dir_times(ino)])
                .await?;
            get_attr(&mut txn, ino).await
        })
    }

    /// The attributes of each of `inos` (`None` for one that is gone), read together: a
    /// listing's attributes cost one round trip, not one per entry.
    pub async fn getattrs(&self, inos: &[u64]) -> Result<Vec<Option<Attr>>> {
        let keys: Vec<Vec<u8>> = inos.iter().map(|&ino| keys::attr(ino)).collect();
        read_txn!(self, |txn| {
            let mut attrs = txn
                .get_many(&keys)
                .await?
                .into_iter()
                .map(|bytes| bytes.map(|bytes| Attr::decode(&bytes)).transpose())
                .collect::<Result<Vec<_>>>()?;
            let times: Vec<Vec<u8>> = inos
                .iter()
                .zip(&attrs)
                .filter(|(_, attr)| attr.as_ref().is_some_and(|a| a.kind == FileKind::Dir))
                .map(|(&ino, _)| keys::dir_times(ino))
                .collect();
            if !times.is_empty() {
                txn.prefetch(&times).await?;
                for (ino, attr) in inos.iter().zip(&mut attrs) {
                    if let Some(attr) = attr {
                        with_entry_times(&mut txn, *ino, attr).await?;
                    }
                }
            }
            Ok(attrs)
        })
    }

    /// Creates `name` in `parent`.
    pub async fn create(
        &self,
        caller: Caller,
        parent: u64,
        name: &[u8],
        new: NewInode<'_>,
    ) -> Result<(u64, Attr)> {
        self.create_inode(caller, parent, Some(name), new, None)
            .await
    }

    /// Creates `name` in `parent` held open by `session` (see [`Meta::hold_open`]).
    pub async fn create_open(
        &self,
        caller: Caller,
        parent: u64,
        name: &[u8],
        new: NewInode<'_>,
        session: u64,
    ) -> Result<(u64, Attr)> {
        self.create_inode(caller, parent, Some(name), new, Some(session))
            .await
    }

    /// Creates a file with no name (O_TMPFILE), held open by `session` until it gets a name
    /// with [`Meta::link`] or its last close.
    pub async fn create_unnamed(
        &self,
        caller: Caller,
        parent: u64,
        new: NewInode<'_>,
        session: u64,
    ) -> Result<(u64, Attr)> {
        self.create_inode(caller, parent, None, new, Some(session))
            .await
    }

    async fn create_inode(
        &self,
        caller: Caller,
        parent: u64,
        name: Option<&[u8]>,
        new: NewInode<'_>,
        hold: Option<u64>,
    ) -> Result<(u64, Attr)> {
        if let Some(name) = name {
            check_name(name)?;
        }
        let ino = self.next_inode().await?;
        let mut wanted = vec![
            keys::attr(parent),
            keys::xattr(parent, acl::DEFAULT),
            keys::usage_shard(keys::USED_INODES, usage_shard_of(ino)),
            keys::usage_shard(keys::USED_SPACE, usage_shard_of(ino)),
        ];
        wanted.extend(name.map(|name| keys::entry(parent, name)));
        write_txn!(self, |txn| {
            txn.prefetch(&wanted).await?;
            let mut dir = get_dir(&mut txn, parent).await?;
            if let Some(name) = name
                && txn.get(&keys::entry(parent, name)).await?.is_some()
            {
                return errno(libc::EEXIST);
            }
            let now = Timespec::now();
            let mut perm = new.perm & 0o7777;
            let mut gid = caller.gid;
            if dir.perm & libc::S_ISGID as u16 != 0 {
                gid = dir.gid;
                if new.kind == FileKind::Dir {
                    perm |= libc::S_ISGID as u16;
                }
            }
            match txn.get(&keys::xattr(parent, acl::DEFAULT)).await? {
                Some(default) if new.kind != FileKind::Symlink => {
                    let default = Acl::decode(&default)?;
                    let (access, bits) = default.inherit(perm);
                    perm = bits;
                    if !access.is_minimal() {
                        txn.put(&keys::xattr(ino, acl::ACCESS), &access.encode())?;
                    }
                    if new.kind == FileKind::Dir {
                        txn.put(&keys::xattr(ino, acl::DEFAULT), &default.encode())?;
                    }
                }
                _ => perm &= !(new.umask & 0o777),
            }
            if new.kind == FileKind::Symlink {
                perm = 0o777;
            }
            let size = match (new.kind, new.target) {
                (FileKind::Dir, _) => DIR_SIZE,
                (FileKind::Symlink, Some(target)) => target.len() as u64,
                _ => 0,
            };
            let attr = Attr {
                kind: new.kind,
                perm,
                uid: caller.uid,
                gid,
                nlink: match (new.kind, name) {
                    (_, None) => 0,
                    (FileKind::Dir, Some(_)) => 2,
                    _ => 1,
                },
                size,
                rdev: new.rdev,
                atime: now,
                mtime: now,
                ctime: now,
                parent,
                quota: dir.quota,
                trashed: false,
            };
            put_attr(&mut txn, ino, &attr)?;
            if let (FileKind::Symlink, Some(target)) = (new.kind, new.target) {
                txn.put(&keys::symlink(ino), target)?;
            }
            if let Some(session) = hold {
                txn.put(&keys::open_file(ino, session), &[])?;
            }
            if let Some(name) = name {
                {
                    let dirent = Dirent {
                        kind: new.kind,
                        ino,
                    };
                    txn.put(&keys::entry(parent, name), &dirent.encode())?;
                    if new.kind == FileKind::Dir {
                        dir.nlink += 1;
                        dir.mtime = now;
                        dir.ctime = now;
                        put_attr(&mut txn, parent, &dir)?;
                    } else {
                        touch_dir(&mut txn, parent, now)?;
                    }
                }
            }
            crate::quota::charge(&mut txn, ino, &attr, charged(new.kind, size), 1).await?;
            Ok((ino, attr))
        })
    }

    /// Gives `ino` another name.
    pub async fn link(&self, ino: u64, parent: u64, name: &[u8]) -> Result<Attr> {
        check_name(name)?;
        write_txn!(self, |txn| {
            let wanted = [
                keys::attr(ino),
                keys::attr(parent),
                keys::entry(parent, name),
            ];
            txn.prefetch(&wanted).await?;
            let mut attr = get_attr(&mut txn, ino).await?;
            if attr.kind == FileKind::Dir {
                return errno(libc::EPERM);
            }
            if attr.nlink == 0 {
                // A file without names lives only while open (O_TMPFILE); the kernel lets
                // only such a file get a name back.
                let held = !scan_prefix(&mut txn, &keys::open_files(ino))
                    .await?
                    .is_empty();
                if !held || attr.kind != FileKind::File {
                    return errno(libc::ENOENT);
                }
            }
            if attr.nlink == u32::MAX {
                return errno(libc::EMLINK);
            }
            let dir = get_dir(&mut txn, parent).await?;
            if txn.get(&keys::entry(parent, name)).await?.is_some() {
                return errno(libc::EEXIST);
            }
            let named = attr.nlink > 0;
            crate::quota::move_charge(&mut txn, ino, &mut attr, dir.quota, named).await?;
            let now = Timespec::now();
            attr.nlink += 1;
            attr.ctime = now;
            put_attr(&mut txn, ino, &attr)?;
            let dirent = Dirent {
                kind: attr.kind,
                ino,
            };
            txn.put(&keys::entry(parent, name), &dirent.encode())?;
            touch_dir(&mut txn, parent, now)?;
            Ok(attr)
        })
    }

    /// Gives the file `ino`, which has no name and is held open (O_TMPFILE), the name `name`
    /// in `parent`, replacing the non-directory that had it, and sets the extended attributes
    /// `xattrs` on it — in one transaction, so the name leads to the old file or to the new
    /// one with its attributes, never to nothing (what `linkat` and then `rename` do, without a
    /// temporary name). Returns the inode that lost the name. EISDIR when a directory has it;
    /// ENOENT when `ino` has a name or is not held open; EINVAL for a `system.` attribute.
    pub async fn link_over(
        &self,
        ino: u64,
        parent: u64,
        name: &[u8],
        xattrs: &[(&[u8], &[u8])],
        open: &dyn OpenFiles,
    ) -> Result<Option<Removed>> {
        check_name(name)?;
        for (xname, value) in xattrs {
            // ACLs change the mode too: they go through setxattr.
            if xname.is_empty() || xname.starts_with(b"system.") {
                return errno(libc::EINVAL);
            }
            if value.len() > crate::xattr::XATTR_SIZE_MAX {
                return errno(libc::E2BIG);
            }
        }
        write_txn!(self, |txn| {
            let mut attr = get_attr(&mut txn, ino).await?;
            let held = !holders(&mut txn, ino, None).await?.is_empty();
            if attr.kind != FileKind::File || attr.nlink != 0 || !held {
                return errno(libc::ENOENT);
            }
            let dir = get_dir(&mut txn, parent).await?;
            let old = match txn.get(&keys::entry(parent, name)).await? {
                Some(bytes) => Some(Dirent::decode(&bytes)?),
                None => None,
            };
            if old.is_some_and(|d| d.kind == FileKind::Dir) {
                return errno(libc::EISDIR);
            }
            let now = Timespec::now();
            let replaced = match old {
                Some(old) => Some(Removed {
                    ino: old.ino,
                    attr: self
                        .drop_name(&mut txn, (parent, &dir), name, old.ino, now, open)
                        .await?,
                }),
                None => None,
            };
            crate::quota::move_charge(&mut txn, ino, &mut attr, dir.quota, false).await?;
            attr.nlink = 1;
            attr.parent = parent;
            attr.ctime = now;
            put_attr(&mut txn, ino, &attr)?;
            for (xname, value) in xattrs {
                txn.put(&keys::xattr(ino, xname), value)?;
            }
            let dirent = Dirent {
                kind: FileKind::File,
                ino,
            };
            txn.put(&keys::entry(parent, name), &dirent.encode())?;
            touch_dir(&mut txn, parent, now)?;
            Ok(replaced)
        })
    }

    /// Removes the name of a non-directory. When it was the last name, the inode goes with it,
    /// unless a session holds it open: then it lives until the last [`Meta::release_open`].
    pub async fn unlink(&self, parent: u64, name: &[u8], open: &dyn OpenFiles) -> Result<Removed> {
        check_name(name)?;
        write_txn!(self, |txn| {
            txn.prefetch(&[keys::attr(parent), keys::entry(parent, name)])
                .await?;
            let dir = get_dir(&mut txn, parent).await?;
            let Some(bytes) = txn.get(&keys::entry(parent, name)).await? else {
                return errno(libc::ENOENT);
            };
            let dirent = Dirent::decode(&bytes)?;
            if dirent.kind == FileKind::Dir {
                return errno(libc::EISDIR);
            }
            let now = Timespec::now();
            txn.delete(&keys::entry(parent, name))?;
            touch_dir(&mut txn, parent, now)?;
            let attr = self
                .drop_name(&mut txn, (parent, &dir), name, dirent.ino, now, open)
                .await?;
            Ok(Removed {
                ino: dirent.ino,
                attr,
            })
        })
    }

    /// Removes an empty directory.
    pub async fn rmdir(&self, parent: u64, name: &[u8]) -> Result<Removed> {
        check_name(name)?;
        write_txn!(self, |txn| {
            txn.prefetch(&[keys::attr(parent), keys::entry(parent, name)])
                .await?;
            let mut dir = get_dir(&mut txn, parent).await?;
            let Some(bytes) = txn.get(&keys::entry(parent, name)).await? else {
                return errno(libc::ENOENT);
            };
            let dirent = Dirent::decode(&bytes)?;
            if dirent.kind != FileKind::Dir {
                return errno(libc::ENOTDIR);
            }
            if has_entries(&mut txn, dirent.ino).await? {
                return errno(libc::ENOTEMPTY);
            }
            let now = Timespec::now();
            let mut attr = get_attr(&mut txn, dirent.ino).await?;
            txn.delete(&keys::entry(parent, name))?;
            let trashed = self
                .trash_dir_entry(&mut txn, (parent, &dir), name, dirent.ino, &mut attr, now)
                .await?;
            if !trashed {
                remove_inode(&mut txn, dirent.ino, &attr).await?;
            }
            attr.nlink = 0;
            attr.ctime = now;
            dir.nlink = dir.nlink.saturating_sub(1);
            dir.mtime = now;
            dir.ctime = now;
            put_attr(&mut txn, parent, &dir)?;
            Ok(Removed {
                ino: dirent.ino,
                attr,
            })
        })
    }

    /// Renames `parent/name` to `new_parent/new_name` (`flags`: [`RENAME_NOREPLACE`],
    /// [`RENAME_EXCHANGE`]). Returns the inode that lost its name by being replaced.
    pub async fn rename(
        &self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        flags: u32,
        open: &dyn OpenFiles,
    ) -> Result<Option<Removed>> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE) != 0
            || flags == RENAME_NOREPLACE | RENAME_EXCHANGE
        {
            return errno(libc::EINVAL);
        }
        check_name(name)?;
        check_name(new_name)?;
        write_txn!(self, |txn| {
            let wanted = [
                keys::attr(parent),
                keys::attr(new_parent),
                keys::entry(parent, name),
                keys::entry(new_parent, new_name),
            ];
            txn.prefetch(&wanted).await?;
            let from_quota = get_dir(&mut txn, parent).await?.quota;
            let to_dir = get_dir(&mut txn, new_parent).await?;
            let to_quota = to_dir.quota;
            let Some(bytes) = txn.get(&keys::entry(parent, name)).await? else {
                return errno(libc::ENOENT);
            };
            let src = Dirent::decode(&bytes)?;
            let dst = match txn.get(&keys::entry(new_parent, new_name)).await? {
                Some(bytes) => Some(Dirent::decode(&bytes)?),
                None => None,
            };
            if parent == new_parent && name == new_name {
                // A name onto itself changes nothing, but NOREPLACE finds its target taken.
                return if flags == RENAME_NOREPLACE {
                    errno(libc::EEXIST)
                } else {
                    Ok(None)
                };
            }
            match (dst, flags) {
                (Some(_), RENAME_NOREPLACE) => return errno(libc::EEXIST),
                (None, RENAME_EXCHANGE) => return errno(libc::ENOENT),
                (Some(dst), _) if dst.ino == src.ino && flags != RENAME_EXCHANGE => {
                    return Ok(None);
                }
                (Some(dst), 0) => {
                    if src.kind == FileKind::Dir && dst.kind != FileKind::Dir {
                        return errno(libc::ENOTDIR);
                    }
                    if src.kind != FileKind::Dir && dst.kind == FileKind::Dir {
                        return errno(libc::EISDIR);
                    }
                    if dst.kind == FileKind::Dir && has_entries(&mut txn, dst.ino).await? {
                        return errno(libc::ENOTEMPTY);
                    }
                }
                _ => {}
            }
            if src.kind == FileKind::Dir && parent != new_parent {
                ensure_not_within(&mut txn, src.ino, new_parent).await?;
            }
            if let (Some(dst), RENAME_EXCHANGE) = (dst, flags)
                && dst.kind == FileKind::Dir
                && parent != new_parent
            {
                ensure_not_within(&mut txn, dst.ino, parent).await?;
            }

            let now = Timespec::now();
            let mut replaced = None;
            txn.put(&keys::entry(new_parent, new_name), &src.encode())?;
            if let (Some(dst), RENAME_EXCHANGE) = (dst, flags) {
                txn.put(&keys::entry(parent, name), &dst.encode())?;
                move_inode(&mut txn, dst.ino, parent, from_quota, now).await?;
            } else {
                txn.delete(&keys::entry(parent, name))?;
                if let Some(dst) = dst {
                    let attr = if dst.kind == FileKind::Dir {
                        let mut attr = get_attr(&mut txn, dst.ino).await?;
                        remove_inode(&mut txn, dst.ino, &attr).await?;
                        adjust_nlink(&mut txn, new_parent, -1).await?;
                        attr.nlink = 0;
                        attr
                    } else {
                        self.drop_name(
                            &mut txn,
                            (new_parent, &to_dir),
                            new_name,
                            dst.ino,
                            now,
                            open,
                        )
                        .await?
                    };
                    replaced = Some(Removed { ino: dst.ino, attr });
                }
            }
            move_inode(&mut txn, src.ino, new_parent, to_quota, now).await?;
            if parent != new_parent {
                let moved_dirs = i32::from(src.kind == FileKind::Dir)
                    - i32::from(
                        flags == RENAME_EXCHANGE && dst.is_some_and(|d| d.kind == FileKind::Dir),
                    );
                adjust_nlink(&mut txn, parent, -moved_dirs).await?;
                adjust_nlink(&mut txn, new_parent, moved_dirs).await?;
            }
            touch_dir(&mut txn, parent, now)?;
            touch_dir(&mut txn, new_parent, now)?;
            Ok(replaced)
        })
    }

    /// Every entry of directory `ino` (without "." and ".."), in name order.
    pub async fn readdir(&self, ino: u64) -> Result<Vec<(Vec<u8>, Dirent)>> {
        read_txn!(self, |txn| {
            get_dir(&mut txn, ino).await?;
            let prefix = keys::entries(ino);
            scan_prefix(&mut txn, &prefix)
                .await?
                .into_iter()
                .map(|(key, value)| Ok((key[prefix.len()..].to_vec(), Dirent::decode(&value)?)))
                .collect()
        })
    }

    /// The target of symbolic link `ino`.
    pub async fn readlink(&self, ino: u64) -> Result<Vec<u8>> {
        read_txn!(self, |txn| {
            match txn.get(&keys::symlink(ino)).await? {
                Some(target) => Ok(target),
                None => {
                    get_attr(&mut txn, ino).await?;
                    errno(libc::EINVAL)
                }
            }
        })
    }
}

/// The inode `name` in `parent` names and its attributes; `wanted` the keys that takes.
async fn lookup_in(
    txn: &mut AnyTxn,
    wanted: &[Vec<u8>],
    parent: u64,
    name: &[u8],
) -> Result<(u64, Attr)> {
    txn.prefetch(wanted).await?;
    let Some(bytes) = txn.get(&keys::entry(parent, name)).await? else {
        get_dir(txn, parent).await?;
        return errno(libc::ENOENT);
    };
    let dirent = Dirent::decode(&bytes)?;
    if dirent.kind == FileKind::Dir {
        txn.prefetch(&[keys::attr(dirent.ino), keys::dir_times(dirent.ino)])
            .await?;
    }
    Ok((dirent.ino, get_attr(txn, dirent.ino).await?))
}

pub(crate) async fn has_entries(txn: &mut AnyTxn, dir: u64) -> Result<bool> {
    let prefix = keys::entries(dir);
    Ok(!txn
        .scan(&prefix, &crate::engine::prefix_end(&prefix), 1)
        .await?
        .is_empty())
}

/// EINVAL when `target` is `dir` or below it: a directory cannot move into itself.
async fn ensure_not_within(txn: &mut AnyTxn, dir: u64, mut target: u64) -> Result<()> {
    loop {
        if target == dir {
            return errno(libc::EINVAL);
        }
        if target == ROOT_INO {
            return Ok(());
        }
        target = get_attr(txn, target).await?.parent;
    }
}

/// Points an inode's parent at `parent`, whose entries are charged to `quota`, and touches its
/// ctime.
async fn move_inode(
    txn: &mut AnyTxn,
    ino: u64,
    parent: u64,
    quota: u64,
    now: Timespec,
) -> Result<()> {
    let mut attr = get_attr(txn, ino).await?;
    let other_names = attr.kind != FileKind::Dir && attr.nlink > 1;
    crate::quota::move_charge(txn, ino, &mut attr, quota, other_names).await?;
    attr.parent = parent;
    attr.ctime = now;
    // Renamed out of the trash: restored (and inside it, counted as any name there).
    attr.trashed = false;
    put_attr(txn, ino, &attr)
}

async fn adjust_nlink(txn: &mut AnyTxn, ino: u64, delta: i32) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    let mut attr = get_dir(txn, ino).await?;
    attr.nlink = attr.nlink.saturating_add_signed(delta);
    put_attr(txn, ino, &attr)
}

/// Takes one link from a non-directory; at zero the inode is removed, or kept for its last
/// close when open. Returns the attributes after the change.
pub(crate) async fn drop_link(
    txn: &mut AnyTxn,
    ino: u64,
    now: Timespec,
    open: &dyn OpenFiles,
) -> Result<Attr> {
    let mut attr = get_attr(txn, ino).await?;
    attr.nlink = attr.nlink.saturating_sub(1);
    attr.ctime = now;
    // The caller's own hold on a file it no longer has open is a release still to come.
    let own = (!open.is_open(ino)).then(|| open.session());
    if attr.nlink == 0
        && let Some(own) = own
    {
        // That release happens here: a closed file's hold lingers on its mount (for a cheap
        // reopen), and would otherwise keep the inode after the last holder's close.
        txn.delete(&keys::open_file(ino, own))?;
    }
    if attr.nlink > 0 || open.is_open(ino) || !holders(txn, ino, own).await?.is_empty() {
        put_attr(txn, ino, &attr)?;
        if attr.nlink == 0 && open.is_open(ino) {
            txn.put(&keys::open_file(ino, open.session()), &[])?;
        }
    } else {
        remove_inode(txn, ino, &attr).await?;
    }
    Ok(attr)
}

/// The sessions other than `except` holding `ino` open. Each hold is also read by key, so
/// that one released meanwhile (a deletion, which a range comparison does not see) makes this
/// transaction conflict and retry.
pub(crate) async fn holders(txn: &mut AnyTxn, ino: u64, except: Option<u64>) -> Result<Vec<u64>> {
    let prefix = keys::open_files(ino);
    let mut sessions = Vec::new();
    for (key, _) in scan_prefix(txn, &prefix).await? {
        let Some(session) = keys::u64_at(&key, prefix.len()) else {
            continue;
        };
        if Some(session) != except {
            txn.get(&key).await?;
            sessions.push(session);
        }
    }
    Ok(sessions)
}

/// Deletes an inode and everything it owns: attributes, xattrs, link target and data.
pub(crate) async fn remove_inode(txn: &mut AnyTxn, ino: u64, attr: &Attr) -> Result<()> {
    txn.delete(&keys::attr(ino))?;
    for (key, _) in scan_prefix(txn, &keys::xattrs(ino)).await? {
        txn.delete(&key)?;
    }
    match attr.kind {
        FileKind::Symlink => txn.delete(&keys::symlink(ino))?,
        FileKind::Dir => txn.delete(&keys::dir_times(ino))?,
        // A large file's chunks may not fit in this transaction: the rest go in the background.
        FileKind::File if !crate::chunk::drop_chunks(txn, ino).await? => {
            txn.put(&keys::dropping(ino), &[])?;
        }
        _ => {}
    }
    crate::quota::charge(txn, ino, attr, -charged(attr.kind, attr.size), -1).await?;
    crate::quota::forget(txn, ino, attr)
}
