//! Buckets and keys resolved to inodes of the volume, through [`Vfs`] calls only: the gateway
//! sees the namespace exactly as a mount does.

use std::sync::Arc;

use datenlord_meta::{Attr, Caller, FileKind, NewInode, ROOT_INO};
use datenlord_vfs::{Vfs, VfsError};
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::bucket_config::ConfigCache;
use crate::key::is_bucket_name;
use crate::list::{Child, Tree};
use crate::record::{DirKind, Record, XATTR};
use crate::versions::KeyLocks;

/// The directory at the volume's root under which uploads are staged (never a bucket: its name
/// breaks the bucket rules): files without names while they are written, and the parts of
/// multipart uploads.
pub const STAGING: &[u8] = b".datenlord-s3";

/// The volume as the gateway sees it: who it acts as, and the calls it makes.
#[derive(Debug, Clone)]
pub struct Namespace {
    /// The volume.
    pub vfs: Arc<Vfs>,
    /// The owner of what the gateway creates.
    pub caller: Caller,
    /// The bucket configurations read lately.
    pub(crate) configs: Arc<ConfigCache>,
    /// Keys whose versions are being changed.
    pub(crate) locks: Arc<KeyLocks>,
}

/// What a path led to.
#[derive(Debug)]
pub enum Found {
    /// The inode and its attributes.
    Node(u64, Attr),
    /// Nothing by that name.
    Missing,
    /// A name on the way is a file, not a directory (`a` when looking for `a/b`).
    FileInTheWay(Vec<u8>),
}

/// An errno of the volume as an S3 error; the caller maps the errnos it expects first.
pub fn internal(err: VfsError) -> S3Error {
    match err.errno() {
        libc::ENOSPC => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("XDatenLordStorageFull".into()),
                "the volume's storage is full",
            );
            e.set_status_code(http_status(507));
            e
        }
        libc::EDQUOT => {
            let mut e = S3Error::with_message(
                S3ErrorCode::Custom("QuotaExceeded".into()),
                "a directory quota of the volume is exhausted",
            );
            e.set_status_code(http_status(403));
            e
        }
        libc::ENAMETOOLONG => s3_error!(KeyTooLongError, "a name in the key is too long"),
        errno => S3Error::with_message(
            S3ErrorCode::InternalError,
            format!(
                "the volume failed: {}",
                std::io::Error::from_raw_os_error(errno)
            ),
        ),
    }
}

/// A status code by number (they are all valid).
pub fn http_status(code: u16) -> hyper::StatusCode {
    hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR)
}

/// The 409 answer to a key a filesystem cannot hold beside another (`a` and `a/b`).
pub fn clash(message: String) -> S3Error {
    let mut err = S3Error::with_message(S3ErrorCode::Custom("KeyConflict".into()), message);
    err.set_status_code(http_status(409));
    err
}

impl Namespace {
    /// The volume `vfs`, where the gateway acts as `caller`.
    pub fn new(vfs: Arc<Vfs>, caller: Caller) -> Self {
        Self {
            vfs,
            caller,
            configs: Arc::default(),
            locks: Arc::default(),
        }
    }

    /// The inode of bucket `name`: NoSuchBucket unless it is a top-level directory.
    pub async fn bucket(&self, name: &str) -> S3Result<u64> {
        if !is_bucket_name(name.as_bytes()) {
            return Err(s3_error!(NoSuchBucket));
        }
        match self.vfs.lookup(ROOT_INO, name.as_bytes()).await {
            Ok((ino, attr)) if attr.kind == FileKind::Dir => Ok(ino),
            Ok(_) => Err(s3_error!(NoSuchBucket)),
            Err(err) if err.errno() == libc::ENOENT => Err(s3_error!(NoSuchBucket)),
            Err(err) => Err(internal(err)),
        }
    }

    /// Follows `segments` down from directory `from`.
    pub async fn walk(&self, from: u64, segments: &[&[u8]]) -> S3Result<Found> {
        let mut at = from;
        let mut attr = None;
        for (i, name) in segments.iter().enumerate() {
            if let Some(a) = &attr
                && !matches!(
                    a,
                    Attr {
                        kind: FileKind::Dir,
                        ..
                    }
                )
            {
                return Ok(Found::FileInTheWay(segments[..i].join(&b'/')));
            }
            match self.vfs.lookup(at, name).await {
                Ok((ino, found)) => {
                    at = ino;
                    attr = Some(found);
                }
                Err(err) if err.errno() == libc::ENOENT => return Ok(Found::Missing),
                Err(err) => return Err(internal(err)),
            }
        }
        match attr {
            Some(attr) => Ok(Found::Node(at, attr)),
            None => Ok(Found::Node(at, self.getattr(at).await?)),
        }
    }

    /// The attributes of `ino`.
    pub async fn getattr(&self, ino: u64) -> S3Result<Attr> {
        self.vfs.getattr(ino).await.map_err(internal)
    }

    /// Makes the directories `segments` below `from` that are missing (marked as the
    /// gateway's), and returns the last one. A file in the way is a clash.
    pub async fn make_dirs(&self, from: u64, segments: &[&[u8]]) -> S3Result<u64> {
        let mut at = from;
        for (i, name) in segments.iter().enumerate() {
            at = match self.vfs.lookup(at, name).await {
                Ok((ino, attr)) if attr.kind == FileKind::Dir => ino,
                Ok(_) => return Err(file_in_the_way(&segments[..=i])),
                Err(err) if err.errno() == libc::ENOENT => {
                    self.mkdir(at, name, segments, i).await?
                }
                Err(err) => return Err(internal(err)),
            };
        }
        Ok(at)
    }

    async fn mkdir(&self, parent: u64, name: &[u8], path: &[&[u8]], i: usize) -> S3Result<u64> {
        let new = NewInode {
            kind: FileKind::Dir,
            perm: 0o755,
            umask: 0o022,
            rdev: 0,
            target: None,
        };
        match self.vfs.mknod(self.caller, parent, name, new).await {
            Ok((ino, _)) => {
                self.set_record(ino, &Record::dir(DirKind::Implicit))
                    .await?;
                Ok(ino)
            }
            // Made by a racing request meanwhile.
            Err(err) if err.errno() == libc::EEXIST => match self.vfs.lookup(parent, name).await {
                Ok((ino, attr)) if attr.kind == FileKind::Dir => Ok(ino),
                Ok(_) => Err(file_in_the_way(&path[..=i])),
                Err(err) => Err(internal(err)),
            },
            Err(err) => Err(internal(err)),
        }
    }

    /// After a delete: removes the gateway's directories on the path that are left empty, from
    /// the deepest up; a directory made through a mount, or by a PUT of `name/`, stays.
    pub async fn prune(&self, bucket: u64, parents: &[&[u8]]) {
        let mut chain = vec![bucket];
        for name in parents {
            match self
                .vfs
                .lookup(*chain.last().unwrap_or(&bucket), name)
                .await
            {
                Ok((ino, attr)) if attr.kind == FileKind::Dir => chain.push(ino),
                _ => return,
            }
        }
        for depth in (0..parents.len()).rev() {
            let ino = chain[depth + 1];
            if self.record(ino).await.dir != Some(DirKind::Implicit) {
                return;
            }
            if self.vfs.rmdir(chain[depth], parents[depth]).await.is_err() {
                return;
            }
        }
    }

    /// The S3 record of `ino` (empty when it has none).
    pub async fn record(&self, ino: u64) -> Record {
        match self.vfs.getxattr(ino, XATTR).await {
            Ok(bytes) => Record::decode(&bytes),
            Err(_) => Record::default(),
        }
    }

    /// Stores the S3 record of `ino`.
    pub async fn set_record(&self, ino: u64, record: &Record) -> S3Result<()> {
        self.vfs
            .setxattr(ino, XATTR, &record.encode(), 0, false)
            .await
            .map_err(internal)
    }

    /// The directory uploads are staged in, made when missing.
    pub async fn staging(&self) -> S3Result<u64> {
        let new = NewInode {
            kind: FileKind::Dir,
            perm: 0o700,
            umask: 0,
            rdev: 0,
            target: None,
        };
        match self.vfs.lookup(ROOT_INO, STAGING).await {
            Ok((ino, _)) => Ok(ino),
            Err(err) if err.errno() == libc::ENOENT => {
                match self.vfs.mknod(self.caller, ROOT_INO, STAGING, new).await {
                    Ok((ino, _)) => Ok(ino),
                    Err(err) if err.errno() == libc::EEXIST => self
                        .vfs
                        .lookup(ROOT_INO, STAGING)
                        .await
                        .map(|(ino, _)| ino)
                        .map_err(internal),
                    Err(err) => Err(internal(err)),
                }
            }
            Err(err) => Err(internal(err)),
        }
    }

    /// The files and directories in directory `ino` (not "." and "..", and not symbolic
    /// links, devices, FIFOs or sockets, which are no objects).
    pub async fn entries(&self, ino: u64) -> Result<Vec<Child>, VfsError> {
        let fh = self.vfs.opendir(ino).await?;
        let listed = self.vfs.readdir(fh, 0).await;
        self.vfs.releasedir(fh);
        Ok(listed?
            .iter()
            .filter(|e| e.name != b"." && e.name != b"..")
            .filter(|e| matches!(e.kind, FileKind::File | FileKind::Dir))
            .map(|e| Child {
                name: e.name.clone(),
                ino: e.ino,
                dir: e.kind == FileKind::Dir,
            })
            .collect())
    }
}

fn file_in_the_way(path: &[&[u8]]) -> S3Error {
    clash(format!(
        "the key {:?} is an object, so it cannot be a prefix of other keys \
         (a file cannot hold files); delete it first",
        String::from_utf8_lossy(&path.join(&b'/'))
    ))
}

impl Tree for Namespace {
    type Error = S3Error;

    async fn children(&self, ino: u64) -> Result<Vec<Child>, S3Error> {
        let mut children = self.entries(ino).await.map_err(internal)?;
        // A name no key can hold (not UTF-8) is not listed; S3 could not address it.
        children.retain(|c| std::str::from_utf8(&c.name).is_ok());
        Ok(children)
    }

    async fn dir_is_object(&self, ino: u64, empty: bool) -> Result<bool, S3Error> {
        Ok(match self.record(ino).await.dir {
            Some(DirKind::Object) => true,
            Some(DirKind::Implicit) => false,
            None => empty,
        })
    }
}
