//! chmod, chown and utimens.

use crate::acl::{self, Acl};
use crate::engine::KvTxn;
use crate::error::Result;
use crate::keys;
use crate::meta::{Caller, Meta, get_attr, put_attr, write_txn};
use crate::model::{Attr, FileKind, Timespec};

/// Attribute changes; `None` leaves a field alone. Size changes go through `truncate`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetAttr {
    /// New permission bits (chmod); only `0o7777` is used, and a stored access ACL is updated
    /// to match.
    pub mode: Option<u32>,
    /// New owner (chown).
    pub uid: Option<u32>,
    /// New group (chown).
    pub gid: Option<u32>,
    /// New access time.
    pub atime: Option<Timespec>,
    /// New modification time.
    pub mtime: Option<Timespec>,
    /// The change time to record; `None`: now (every setattr changes the ctime).
    pub ctime: Option<Timespec>,
    /// Clear set-user-id (and set-group-id when group-executable), as after a write.
    pub kill_suidgid: bool,
}

/// Clears set-user-id, and set-group-id when the group may execute (otherwise it marks
/// mandatory locking and stays).
pub fn kill_suidgid(attr: &mut Attr) {
    let mut kill = libc::S_ISUID as u16;
    if attr.perm & libc::S_IXGRP as u16 != 0 {
        kill |= libc::S_ISGID as u16;
    }
    attr.perm &= !kill;
}

impl Meta {
    /// Applies `set` to `ino` and returns the new attributes.
    pub async fn setattr(&self, caller: Caller, ino: u64, set: SetAttr) -> Result<Attr> {
        write_txn!(self, |txn| {
            if set.mode.is_some() {
                txn.prefetch(&[keys::attr(ino), keys::xattr(ino, acl::ACCESS)])
                    .await?;
            }
            let mut attr = get_attr(&mut txn, ino).await?;
            if set.kill_suidgid {
                kill_suidgid(&mut attr);
            }
            if let Some(mode) = set.mode {
                attr.perm = (mode & 0o7777) as u16;
                let key = keys::xattr(ino, acl::ACCESS);
                if let Some(bytes) = txn.get(&key).await? {
                    let mut acl = Acl::decode(&bytes)?;
                    acl.chmod(attr.perm);
                    txn.put(&key, &acl.encode())?;
                }
            }
            let chown =
                set.uid.is_some_and(|u| u != attr.uid) || set.gid.is_some_and(|g| g != attr.gid);
            if let Some(uid) = set.uid {
                attr.uid = uid;
            }
            if let Some(gid) = set.gid {
                attr.gid = gid;
            }
            if chown && set.mode.is_none() && attr.kind == FileKind::File && caller.uid != 0 {
                kill_suidgid(&mut attr);
            }
            if let Some(atime) = set.atime {
                attr.atime = atime;
            }
            if let Some(mtime) = set.mtime {
                attr.mtime = mtime;
            }
            attr.ctime = set.ctime.unwrap_or_else(Timespec::now);
            // Times set outright may be earlier than the last entry change's.
            let times = keys::dir_times(ino);
            if attr.kind == FileKind::Dir
                && (set.mtime.is_some() || set.ctime.is_some())
                && txn.get(&times).await?.is_some()
            {
                txn.delete(&times)?;
            }
            put_attr(&mut txn, ino, &attr)?;
            Ok(attr)
        })
    }

    /// Sets the access time only (reads under `relatime`-like rules are the caller's choice).
    pub async fn touch_atime(&self, ino: u64, atime: Timespec) -> Result<()> {
        write_txn!(self, |txn| {
            let mut attr = get_attr(&mut txn, ino).await?;
            attr.atime = atime;
            put_attr(&mut txn, ino, &attr)
        })
    }
}
