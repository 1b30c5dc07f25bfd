//! Extended attributes. `system.posix_acl_access` is kept in step with the mode: setting it
//! sets the permission bits, and an ACL the mode expresses exactly is not stored.

use crate::acl::{self, Acl};
use crate::engine::KvTxn;
use crate::error::{Result, errno};
use crate::keys;
use crate::meta::{Meta, get_attr, put_attr, read_txn, scan_prefix, write_txn};
use crate::model::{FileKind, Timespec};

/// `setxattr` flag: fail with EEXIST when the attribute exists.
pub const XATTR_CREATE: i32 = 1;
/// `setxattr` flag: fail with ENODATA when the attribute does not exist.
pub const XATTR_REPLACE: i32 = 2;

/// Largest value stored (the kernel's own limit).
pub const XATTR_SIZE_MAX: usize = 65536;

impl Meta {
    /// The value of xattr `name` of `ino`: ENODATA when it has none, ENOENT when `ino` is gone.
    pub async fn getxattr(&self, ino: u64, name: &[u8]) -> Result<Vec<u8>> {
        read_txn!(self, |txn| {
            match txn.get(&keys::xattr(ino, name)).await? {
                Some(value) => Ok(value),
                None => {
                    get_attr(&mut txn, ino).await?;
                    errno(libc::ENODATA)
                }
            }
        })
    }

    /// The names, each followed by a NUL, as `listxattr` returns them.
    pub async fn listxattr(&self, ino: u64) -> Result<Vec<u8>> {
        read_txn!(self, |txn| {
            get_attr(&mut txn, ino).await?;
            let prefix = keys::xattrs(ino);
            let mut names = Vec::new();
            for (key, _) in scan_prefix(&mut txn, &prefix).await? {
                names.extend_from_slice(&key[prefix.len()..]);
                names.push(0);
            }
            Ok(names)
        })
    }

    /// Sets an xattr; `kill_sgid` clears set-group-id (an ACL set by someone outside the group).
    pub async fn setxattr(
        &self,
        ino: u64,
        name: &[u8],
        value: &[u8],
        flags: i32,
        kill_sgid: bool,
    ) -> Result<()> {
        if value.len() > XATTR_SIZE_MAX {
            return errno(libc::E2BIG);
        }
        write_txn!(self, |txn| {
            let key = keys::xattr(ino, name);
            txn.prefetch(&[keys::attr(ino), key.clone()]).await?;
            let mut attr = get_attr(&mut txn, ino).await?;
            let exists = txn.get(&key).await?.is_some();
            if flags & XATTR_CREATE != 0 && exists {
                return errno(libc::EEXIST);
            }
            if flags & XATTR_REPLACE != 0 && !exists {
                return errno(libc::ENODATA);
            }
            let mut store = true;
            if name == acl::ACCESS {
                let acl = Acl::decode(value)?;
                attr.perm = (attr.perm & 0o7000) | acl.mode_bits();
                store = !acl.is_minimal();
            } else if name == acl::DEFAULT {
                if attr.kind != FileKind::Dir {
                    return errno(libc::EACCES);
                }
                Acl::decode(value)?;
            }
            if kill_sgid {
                attr.perm &= !(libc::S_ISGID as u16);
            }
            if store {
                txn.put(&key, value)?;
            } else if exists {
                txn.delete(&key)?;
            }
            attr.ctime = Timespec::now();
            put_attr(&mut txn, ino, &attr)
        })
    }

    /// Removes xattr `name` of `ino` and touches its ctime; ENODATA when it has none, ENOENT
    /// when `ino` is gone.
    pub async fn removexattr(&self, ino: u64, name: &[u8]) -> Result<()> {
        write_txn!(self, |txn| {
            let key = keys::xattr(ino, name);
            txn.prefetch(&[keys::attr(ino), key.clone()]).await?;
            let mut attr = get_attr(&mut txn, ino).await?;
            if txn.get(&key).await?.is_none() {
                return errno(libc::ENODATA);
            }
            txn.delete(&key)?;
            attr.ctime = Timespec::now();
            put_attr(&mut txn, ino, &attr)
        })
    }
}
