//! Object versions of a bucket with versioning. The current version of a key is the file at
//! its path — what mounts see —; the older versions and the delete markers are kept in
//! `.datenlord-s3/versions/BUCKET-INODE/KEY/`, one entry per version, named
//! `ORDER-ID-KIND`: ORDER sorts newest first, ID is the version ID (`null` for the null
//! version) and KIND is `o` for an object — a second name of its inode, so keeping a version
//! copies no byte — or `m` for a delete marker (an empty file). KEY is the key with `%` and
//! `/` escaped, or for a key too long for one name `#` and the SHA-256 of the key, which is
//! then kept in the directory's xattr `trusted.datenlord.s3.key`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use datenlord_meta::{FileKind, NewInode, Timespec};
use s3s::crypto::{Checksum as _, Sha256};
use s3s::{S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::namespace::{Namespace, internal};
use crate::object::Object;
use crate::record::Record;

/// The directory below the staging directory holding every bucket's older versions.
pub const VERSIONS: &[u8] = b"versions";
/// The xattr of a key's version directory named by hash: the key.
const KEY_XATTR: &[u8] = b"trusted.datenlord.s3.key";
/// The longest escaped key used as a name as it is.
const MAX_NAMED: usize = 240;

/// A bucket's versioning, once turned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Versioning {
    /// Every PUT and DELETE makes a new version.
    Enabled,
    /// New versions are the null version; older ones stay.
    Suspended,
}

/// A version's ID and when it was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionStamp {
    /// The version ID; `null` for the null version.
    pub id: String,
    /// When it was made, in nanoseconds since the epoch.
    pub made: i128,
}

/// The null version's ID.
pub const NULL: &str = "null";

fn nanos(ts: Timespec) -> i128 {
    i128::from(ts.sec) * 1_000_000_000 + i128::from(ts.nsec)
}

fn order(made: i128) -> u64 {
    u64::MAX - u64::try_from(made.max(0)).unwrap_or(u64::MAX)
}

impl VersionStamp {
    /// A new version made now by session `session` of the volume.
    pub fn new(session: u64) -> Self {
        let made = nanos(Timespec::now());
        Self {
            id: format!(
                "{:016x}{:x}{:x}",
                order(made),
                session,
                crate::object::next_upload_number()
            ),
            made,
        }
    }

    /// The null version, made now.
    pub fn null() -> Self {
        Self {
            id: NULL.into(),
            made: nanos(Timespec::now()),
        }
    }

    /// The version of an object: its record's, or the null version of its mtime.
    pub fn of(object: &Object) -> Self {
        object.record.version.clone().unwrap_or_else(|| Self {
            id: NULL.into(),
            made: nanos(object.attr.mtime),
        })
    }

    fn entry_name(&self, marker: bool) -> Vec<u8> {
        format!(
            "{:016x}-{}-{}",
            order(self.made),
            self.id,
            if marker { 'm' } else { 'o' }
        )
        .into_bytes()
    }
}

/// Whether `id` may be a version ID (S3 answers others with InvalidArgument).
pub fn is_version_id(id: &str) -> bool {
    id == NULL || (!id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// One older version or delete marker.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its name in the key's version directory.
    pub name: Vec<u8>,
    /// Its inode.
    pub ino: u64,
    /// The version ID.
    pub id: String,
    /// A delete marker.
    pub marker: bool,
}

fn parse_entry(name: &[u8], ino: u64) -> Option<Entry> {
    let text = std::str::from_utf8(name).ok()?;
    let (order, rest) = text.split_once('-')?;
    let (id, kind) = rest.rsplit_once('-')?;
    if order.len() != 16 || !order.bytes().all(|b| b.is_ascii_hexdigit()) || !is_version_id(id) {
        return None;
    }
    let marker = match kind {
        "m" => true,
        "o" => false,
        _ => return None,
    };
    Some(Entry {
        name: name.to_vec(),
        ino,
        id: id.to_string(),
        marker,
    })
}

/// The name of key `key`'s version directory.
pub fn key_dir_name(key: &str) -> Vec<u8> {
    let escaped = key
        .replace('%', "%25")
        .replace('/', "%2F")
        .replace('#', "%23");
    if escaped.len() <= MAX_NAMED && escaped != "." && escaped != ".." {
        return escaped.into_bytes();
    }
    let mut hash = Sha256::new();
    hash.update(key.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("#{hex}").into_bytes()
}

/// The key of a version directory named without a hash.
pub fn key_of_dir_name(name: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(name).ok()?;
    if text.starts_with('#') {
        return None;
    }
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Serializes the version changes of one key in this gateway.
#[derive(Debug, Default)]
pub struct KeyLocks {
    held: Mutex<HashMap<LockedKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// A bucket's inode and a key in it.
type LockedKey = (u64, String);

impl KeyLocks {
    /// Holds key `key` of bucket `bucket` until the guard goes.
    pub async fn lock(&self, bucket: u64, key: &str) -> KeyGuard<'_> {
        let lock = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.entry((bucket, key.to_string())).or_default().clone()
        };
        let guard = lock.clone().lock_owned().await;
        KeyGuard {
            locks: self,
            key: (bucket, key.to_string()),
            _guard: guard,
        }
    }
}

/// A held key.
pub struct KeyGuard<'a> {
    locks: &'a KeyLocks,
    key: (u64, String),
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.locks.held.lock().unwrap_or_else(|e| e.into_inner());
        // Forget the lock when no one else waits for it.
        if held
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) <= 2)
        {
            held.remove(&self.key);
        }
    }
}

impl std::fmt::Debug for KeyGuard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyGuard").field("key", &self.key).finish()
    }
}

fn private_dir() -> NewInode<'static> {
    NewInode {
        kind: FileKind::Dir,
        perm: 0o700,
        umask: 0,
        rdev: 0,
        target: None,
    }
}

impl Namespace {
    /// Directory `name` in `parent`, made when missing and `make`.
    async fn child_dir(&self, parent: u64, name: &[u8], make: bool) -> S3Result<Option<u64>> {
        match self.vfs.lookup(parent, name).await {
            Ok((ino, attr)) if attr.kind == FileKind::Dir => return Ok(Some(ino)),
            Ok(_) => return Err(s3_error!(InternalError, "a version directory is a file")),
            Err(err) if err.errno() == libc::ENOENT && !make => return Ok(None),
            Err(err) if err.errno() == libc::ENOENT => {}
            Err(err) => return Err(internal(err)),
        }
        match self
            .vfs
            .mknod(self.caller, parent, name, private_dir())
            .await
        {
            Ok((ino, _)) => Ok(Some(ino)),
            Err(err) if err.errno() == libc::EEXIST => {
                let (ino, _) = self.vfs.lookup(parent, name).await.map_err(internal)?;
                Ok(Some(ino))
            }
            Err(err) => Err(internal(err)),
        }
    }

    /// The directory of bucket `bucket`'s older versions.
    pub async fn bucket_versions(&self, bucket: u64, make: bool) -> S3Result<Option<u64>> {
        let staging = self.staging().await?;
        let Some(root) = self.child_dir(staging, VERSIONS, make).await? else {
            return Ok(None);
        };
        self.child_dir(root, bucket.to_string().as_bytes(), make)
            .await
    }

    /// The directory of key `key`'s older versions.
    async fn key_versions(&self, bucket: u64, key: &str, make: bool) -> S3Result<Option<u64>> {
        let Some(dir) = self.bucket_versions(bucket, make).await? else {
            return Ok(None);
        };
        self.key_versions_in(dir, key, make).await
    }

    async fn key_versions_in(&self, dir: u64, key: &str, make: bool) -> S3Result<Option<u64>> {
        let name = key_dir_name(key);
        let found = self.child_dir(dir, &name, make).await?;
        if let Some(ino) = found
            && make
            && name.starts_with(b"#")
        {
            self.vfs
                .setxattr(ino, KEY_XATTR, key.as_bytes(), 0, false)
                .await
                .map_err(internal)?;
        }
        Ok(found)
    }

    /// Key `key`'s older versions and delete markers, newest first.
    pub async fn versions_of(&self, bucket: u64, key: &str) -> S3Result<(Option<u64>, Vec<Entry>)> {
        match self.bucket_versions(bucket, false).await? {
            Some(dir) => self.versions_in(dir, key).await,
            None => Ok((None, Vec::new())),
        }
    }

    /// [`Namespace::versions_of`], in the bucket's version directory `dir`.
    pub async fn versions_in(&self, dir: u64, key: &str) -> S3Result<(Option<u64>, Vec<Entry>)> {
        let Some(dir) = self.key_versions_in(dir, key, false).await? else {
            return Ok((None, Vec::new()));
        };
        let mut entries: Vec<Entry> = self
            .entries(dir)
            .await
            .map_err(internal)?
            .into_iter()
            .filter_map(|c| parse_entry(&c.name, c.ino))
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((Some(dir), entries))
    }

    /// The keys of bucket `bucket` with older versions or delete markers, sorted.
    pub async fn versioned_keys(&self, bucket: u64) -> S3Result<Vec<String>> {
        let Some(dir) = self.bucket_versions(bucket, false).await? else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        for child in self.entries(dir).await.map_err(internal)? {
            let key = match key_of_dir_name(&child.name) {
                Some(key) => Some(key),
                None => self
                    .vfs
                    .getxattr(child.ino, KEY_XATTR)
                    .await
                    .ok()
                    .and_then(|k| String::from_utf8(k).ok()),
            };
            keys.extend(key);
        }
        keys.sort();
        Ok(keys)
    }

    /// Keeps `current`, the current version of `key`, as an older version: a second name of
    /// its inode.
    pub async fn archive(&self, bucket: u64, key: &str, current: &Object) -> S3Result<()> {
        let Some(dir) = self.key_versions(bucket, key, true).await? else {
            return Ok(());
        };
        let name = VersionStamp::of(current).entry_name(false);
        match self.vfs.link(current.ino, dir, &name).await {
            Ok(_) => Ok(()),
            // Kept already (by a request that stopped before replacing it).
            Err(err) if err.errno() == libc::EEXIST => Ok(()),
            Err(err) => Err(internal(err)),
        }
    }

    /// Adds a delete marker for `key`, owned as `record` says.
    pub async fn add_marker(
        &self,
        bucket: u64,
        key: &str,
        stamp: &VersionStamp,
        mut record: Record,
    ) -> S3Result<()> {
        let Some(dir) = self.key_versions(bucket, key, true).await? else {
            return Ok(());
        };
        record.version = Some(stamp.clone());
        let file = NewInode {
            kind: FileKind::File,
            perm: 0o600,
            umask: 0,
            rdev: 0,
            target: None,
        };
        let (ino, _) = self
            .vfs
            .mknod(self.caller, dir, &stamp.entry_name(true), file)
            .await
            .map_err(internal)?;
        self.set_record(ino, &record).await
    }

    /// Removes the null version's entries of `key` (a new null version replaces them).
    pub async fn drop_null(&self, bucket: u64, key: &str) -> S3Result<()> {
        let (dir, entries) = self.versions_of(bucket, key).await?;
        if let Some(dir) = dir {
            for entry in entries.iter().filter(|e| e.id == NULL) {
                self.remove_entry(dir, entry).await?;
            }
        }
        Ok(())
    }

    /// Removes an older version or a delete marker.
    pub async fn remove_entry(&self, dir: u64, entry: &Entry) -> S3Result<()> {
        match self.vfs.unlink(dir, &entry.name).await {
            Ok(_) => Ok(()),
            Err(err) if err.errno() == libc::ENOENT => Ok(()),
            Err(err) => Err(internal(err)),
        }
    }

    /// Removes key `key`'s version directory if it is empty.
    pub async fn tidy_versions(&self, bucket: u64, key: &str) {
        if let Ok(Some(dir)) = self.bucket_versions(bucket, false).await {
            let _ = self.vfs.rmdir(dir, &key_dir_name(key)).await;
        }
    }

    /// Removes bucket `bucket`'s version directories, all empty: BucketNotEmpty while a
    /// version or a delete marker is left.
    pub async fn drop_bucket_versions(&self, bucket: u64) -> S3Result<()> {
        let Some(dir) = self.bucket_versions(bucket, false).await? else {
            return Ok(());
        };
        for child in self.entries(dir).await.map_err(internal)? {
            match self.vfs.rmdir(dir, &child.name).await {
                Ok(_) => {}
                Err(err) if err.errno() == libc::ENOTEMPTY => {
                    return Err(s3_error!(
                        BucketNotEmpty,
                        "The bucket you tried to delete is not empty: it holds older versions \
                         or delete markers"
                    ));
                }
                Err(err) if err.errno() == libc::ENOENT => {}
                Err(err) => return Err(internal(err)),
            }
        }
        let staging = self.staging().await?;
        let (root, _) = self.vfs.lookup(staging, VERSIONS).await.map_err(internal)?;
        match self.vfs.rmdir(root, bucket.to_string().as_bytes()).await {
            Ok(_) => Ok(()),
            Err(err) if err.errno() == libc::ENOENT => Ok(()),
            Err(err) => Err(internal(err)),
        }
    }

    /// Moves the newest older version of `key` back to its path when it has no current
    /// version and that one is an object (not a delete marker).
    pub async fn promote(
        &self,
        bucket: u64,
        key: &crate::key::KeyPath<'_>,
        name: &str,
    ) -> S3Result<()> {
        if self.object(bucket, key).await.is_ok() {
            return Ok(());
        }
        let (Some(dir), entries) = self.versions_of(bucket, name).await? else {
            return Ok(());
        };
        let Some(newest) = entries.first().filter(|e| !e.marker) else {
            return Ok(());
        };
        let parent = self.make_dirs(bucket, key.parents()).await?;
        match self
            .vfs
            .rename(
                dir,
                &newest.name,
                parent,
                key.name(),
                libc::RENAME_NOREPLACE,
            )
            .await
        {
            Ok(_) => Ok(()),
            // Someone put a new current version meanwhile.
            Err(err) if err.errno() == libc::EEXIST => Ok(()),
            Err(err) => Err(internal(err)),
        }
    }

    /// Version `id` of `key` among the older ones.
    pub async fn older_version(
        &self,
        bucket: u64,
        key: &str,
        id: &str,
    ) -> S3Result<Option<(u64, Entry)>> {
        let (dir, entries) = self.versions_of(bucket, key).await?;
        Ok(dir.and_then(|dir| entries.into_iter().find(|e| e.id == id).map(|e| (dir, e))))
    }

    /// An older version as an object.
    pub async fn entry_object(&self, entry: &Entry) -> S3Result<Object> {
        Ok(Object {
            ino: entry.ino,
            attr: self.getattr(entry.ino).await?,
            record: self.record(entry.ino).await,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_directories_both_ways() {
        for key in ["a", "a/b/c", "100%/x#y", "#hash-like"] {
            let name = key_dir_name(key);
            assert!(!name.contains(&b'/'));
            assert_ne!(name, b"..");
            assert_eq!(key_of_dir_name(&name).as_deref(), Some(key), "{key}");
        }
        let long = "k/".repeat(200);
        let name = key_dir_name(&long);
        assert!(name.starts_with(b"#") && name.len() == 65);
        assert_eq!(key_of_dir_name(&name), None);
    }

    #[test]
    fn entries_sort_newest_first_and_parse_back() {
        let old = VersionStamp {
            id: "00ff".into(),
            made: 1_000,
        };
        let new = VersionStamp {
            id: NULL.into(),
            made: 2_000,
        };
        let (a, b) = (old.entry_name(false), new.entry_name(true));
        assert!(b < a, "the newer sorts first");
        let parsed = parse_entry(&b, 7).unwrap();
        assert_eq!(
            (parsed.id.as_str(), parsed.marker, parsed.ino),
            (NULL, true, 7)
        );
        assert!(parse_entry(b"junk", 1).is_none());
        assert!(is_version_id("0123abcdef") && !is_version_id("x") && !is_version_id(""));
    }
}
