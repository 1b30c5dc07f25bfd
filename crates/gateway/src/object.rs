//! Objects: PUT (staged as a file without a name, renamed over the key when whole), GET and
//! HEAD (with ranges and conditions), DELETE, and COPY (a metadata-only clone).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use datenlord_meta::{Attr, FileKind, Timespec};
use futures::StreamExt;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{self, ETag, ETagCondition, StreamingBlob, Timestamp};
use s3s::{S3Error, S3Result, TrailingHeaders, s3_error};

use crate::body::{FileBody, PIECE};
use crate::key::{KeyPath, parse};
use crate::namespace::{Found, Namespace, clash, internal};
use crate::record::{DirKind, Record, Stamped, XATTR};
use crate::versions::{NULL, VersionStamp, Versioning};

/// The ETag of zero bytes (a directory object).
pub const EMPTY_ETAG: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// An object found by key.
#[derive(Debug, Clone)]
pub struct Object {
    /// Its inode.
    pub ino: u64,
    /// Its attributes.
    pub attr: Attr,
    /// Its S3 record.
    pub record: Record,
}

/// What a PUT stores beside the bytes.
#[derive(Debug, Default)]
pub struct PutMeta {
    /// The content headers and user metadata.
    pub record: Record,
    /// Content-MD5 as sent (base64).
    pub content_md5: Option<String>,
    /// The `x-amz-checksum-*` values sent as headers.
    pub checksums: dto::Checksum,
    /// Where trailing checksums arrive (aws-chunked uploads).
    pub trailers: Option<TrailingHeaders>,
    /// The algorithms to compute: those sent as headers or announced as trailers, in the
    /// order CRC32, CRC32C, SHA1, SHA256, CRC64NVME.
    pub algorithms: [bool; 5],
    /// The bucket's versioning.
    pub versioning: Option<Versioning>,
}

/// A stored object's checksums, to echo.
#[derive(Debug)]
pub struct Stored {
    /// The ETag (without quotes).
    pub etag: String,
    /// The checksums the client asked for, computed.
    pub checksums: dto::Checksum,
    /// Bytes stored.
    pub size: u64,
    /// The S3 record to publish with the object.
    pub record: Record,
    /// Its version ID, in a bucket with versioning.
    pub version: Option<String>,
}

static UPLOADS: AtomicU64 = AtomicU64::new(0);

/// A number no earlier call in this process returned (in upload ids).
pub fn next_upload_number() -> u64 {
    UPLOADS.fetch_add(1, Ordering::Relaxed)
}

/// The time S3 shows for `ts`.
pub fn timestamp(ts: Timespec) -> Timestamp {
    let at = if ts.sec >= 0 {
        UNIX_EPOCH + Duration::new(ts.sec as u64, ts.nsec)
    } else {
        UNIX_EPOCH
    };
    Timestamp::from(at)
}

/// Whole seconds since the epoch (HTTP dates have no finer resolution).
pub fn seconds(ts: &Timestamp) -> i64 {
    let at: time::OffsetDateTime = ts.clone().into();
    at.unix_timestamp()
}

/// Quoted, as S3 sends it.
pub fn etag_header(value: &str) -> ETag {
    ETag::Strong(value.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Namespace {
    /// The object `key` names in bucket `bucket`; NoSuchKey when none.
    pub async fn object(&self, bucket: u64, key: &KeyPath<'_>) -> S3Result<Object> {
        let (ino, attr) = match self.walk(bucket, &key.segments).await? {
            Found::Node(ino, attr) => (ino, attr),
            Found::Missing | Found::FileInTheWay(_) => return Err(s3_error!(NoSuchKey)),
        };
        let is_dir = attr.kind == FileKind::Dir;
        if is_dir != key.directory || !matches!(attr.kind, FileKind::Dir | FileKind::File) {
            return Err(s3_error!(NoSuchKey));
        }
        let record = self.record(ino).await;
        if is_dir && record.dir == Some(DirKind::Implicit) {
            return Err(s3_error!(NoSuchKey));
        }
        Ok(Object { ino, attr, record })
    }

    /// The ETag of a file: the stored one while the contents are those it was computed for;
    /// otherwise (written through a mount) the MD5 of its bytes, computed now and stored.
    pub async fn etag(&self, object: &Object) -> S3Result<String> {
        if object.attr.kind == FileKind::Dir {
            return Ok(EMPTY_ETAG.to_string());
        }
        if let Some(value) = object
            .record
            .etag
            .as_ref()
            .and_then(|s| s.current(&object.attr))
        {
            return Ok(value.to_string());
        }
        let (fh, attr) = self
            .vfs
            .open(self.caller, object.ino, libc::O_RDONLY)
            .await
            .map_err(internal)?;
        let mut md5 = Md5::new();
        let mut at = 0;
        let mut failed = None;
        while at < attr.size {
            let want = (attr.size - at).min(u64::from(PIECE)) as u32;
            match self.vfs.read(fh, at, want).await {
                Ok(piece) if !piece.is_empty() => {
                    md5.update(&piece);
                    at += piece.len() as u64;
                }
                Ok(_) => break,
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        self.vfs.release(fh, None).await;
        if let Some(err) = failed {
            return Err(internal(err));
        }
        let value = hex(&md5.finalize());
        let mut record = object.record.clone();
        record.etag = Some(Stamped::new(value.clone(), &attr));
        // Another writer may have changed it meanwhile: the stamp then no longer matches and
        // the next request computes it again.
        if let Err(err) = self.set_record(object.ino, &record).await {
            tracing::debug!(ino = object.ino, ?err, "cannot keep a computed ETag");
        }
        Ok(value)
    }

    /// Opens the object for a GET of `start..end`.
    pub async fn read_body(&self, object: &Object, start: u64, end: u64) -> S3Result<FileBody> {
        if object.attr.kind == FileKind::Dir || start >= end {
            return Ok(FileBody::empty());
        }
        let (fh, _) = self
            .vfs
            .open(self.caller, object.ino, libc::O_RDONLY)
            .await
            .map_err(internal)?;
        Ok(FileBody::start(self.vfs.clone(), fh, start, end))
    }

    /// Stores `body` as the object `key`, visible whole and at once when it is complete.
    pub async fn put(
        &self,
        bucket: u64,
        key: &KeyPath<'_>,
        body: Option<StreamingBlob>,
        meta: PutMeta,
    ) -> S3Result<Stored> {
        let versioning = meta.versioning;
        if key.directory {
            return self.put_directory(bucket, key, body, meta.record).await;
        }
        let parent = self.make_dirs(bucket, key.parents()).await?;
        if let Ok((_, attr)) = self.vfs.lookup(parent, key.name()).await
            && attr.kind == FileKind::Dir
        {
            return Err(prefix_in_the_way(key));
        }
        let (ino, fh) = self.stage_file().await?;
        let stored = self.fill(ino, fh, body, meta).await;
        let placed = match stored {
            Ok(stored) => self
                .place(bucket, key, parent, ino, &stored.record, versioning)
                .await
                .map(|version| Stored { version, ..stored }),
            Err(err) => Err(err),
        };
        // Unless placed, the file has no name and goes with this close.
        self.vfs.release(fh, None).await;
        placed
    }

    /// Writes `body` into the staged file, checks its digests and stores its record.
    pub(crate) async fn fill(
        &self,
        ino: u64,
        fh: u64,
        body: Option<StreamingBlob>,
        meta: PutMeta,
    ) -> S3Result<Stored> {
        let mut hasher = hasher_for(meta.algorithms);
        let mut wanted = meta.checksums;
        let mut md5 = Md5::new();
        let mut size = 0u64;
        if let Some(mut body) = body {
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|err| body_error(&err))?;
                md5.update(&piece);
                hasher.update(&piece);
                let mut done = 0;
                while done < piece.len() {
                    let n = self
                        .vfs
                        .write(fh, size + done as u64, &piece[done..], false)
                        .await
                        .map_err(internal)?;
                    done += n as usize;
                }
                size += piece.len() as u64;
                if size > MAX_PUT {
                    return Err(s3_error!(
                        EntityTooLarge,
                        "a single PUT holds at most 5 GiB; use a multipart upload"
                    ));
                }
            }
        }
        let digest = md5.finalize();
        if let Some(sent) = &meta.content_md5 {
            let base64 = base64_simd::STANDARD.encode_to_string(digest);
            if *sent != base64 {
                return Err(s3_error!(
                    BadDigest,
                    "the Content-MD5 you specified did not match what we received"
                ));
            }
        }
        if let Some(trailers) = &meta.trailers {
            trailers.read(|headers| merge_trailers(&mut wanted, headers));
        }
        let checksums = verify_checksums(hasher, &wanted, meta.algorithms)?;
        self.vfs.flush_handle(fh, None).await.map_err(internal)?;
        let attr = self.vfs.getattr(ino).await.map_err(internal)?;
        let etag = hex(&digest);
        let mut record = meta.record;
        record.etag = Some(Stamped::new(etag.clone(), &attr));
        Ok(Stored {
            version: None,
            etag,
            checksums,
            size,
            record,
        })
    }

    /// Names the staged file `ino` by `key` (in directory `parent`, which the caller made)
    /// with its `record`, replacing an older object in the same transaction: a reader finds
    /// the old object or the new one, whole.
    pub(crate) async fn place(
        &self,
        bucket: u64,
        key: &KeyPath<'_>,
        parent: u64,
        ino: u64,
        record: &Record,
        versioning: Option<Versioning>,
    ) -> S3Result<Option<String>> {
        let Some(mode) = versioning else {
            if record.version.is_some() {
                // A copy's record came with its source's version.
                let record = Record {
                    version: None,
                    ..record.clone()
                };
                self.name_object(bucket, key, parent, ino, &record).await?;
            } else {
                self.name_object(bucket, key, parent, ino, record).await?;
            }
            return Ok(None);
        };
        let name = key.text();
        let _held = self.locks.lock(bucket, &name).await;
        let stamp = match mode {
            Versioning::Enabled => VersionStamp::new(self.vfs.session()),
            Versioning::Suspended => VersionStamp::null(),
        };
        let mut record = record.clone();
        record.version = (mode == Versioning::Enabled).then(|| stamp.clone());
        if let Ok(current) = self.object(bucket, key).await
            && current.attr.kind == FileKind::File
            && (mode == Versioning::Enabled || VersionStamp::of(&current).id != NULL)
        {
            self.archive(bucket, &name, &current).await?;
        }
        if mode == Versioning::Suspended {
            self.drop_null(bucket, &name).await?;
        }
        self.name_object(bucket, key, parent, ino, &record).await?;
        // A suspended bucket's new objects are the null version, which S3 does not announce.
        Ok((mode == Versioning::Enabled).then_some(stamp.id))
    }

    /// Names the staged file `ino` as `key`, in place of the object there.
    async fn name_object(
        &self,
        bucket: u64,
        key: &KeyPath<'_>,
        mut parent: u64,
        ino: u64,
        record: &Record,
    ) -> S3Result<()> {
        let encoded = record.encode();
        let xattrs: [(&[u8], &[u8]); 1] = [(XATTR, &encoded)];
        for _ in 0..3 {
            match self.vfs.link_over(ino, parent, key.name(), &xattrs).await {
                Ok(_) => return Ok(()),
                Err(err) if err.errno() == libc::EISDIR => return Err(prefix_in_the_way(key)),
                // A delete pruned the directory meanwhile: make it again.
                Err(err) if err.errno() == libc::ENOENT => {
                    parent = self.make_dirs(bucket, key.parents()).await?;
                }
                Err(err) => return Err(internal(err)),
            }
        }
        Err(s3_error!(
            InternalError,
            "the key's directory was removed again and again while the object was placed"
        ))
    }

    /// A new file without a name (O_TMPFILE) in the staging directory, open for writing: it
    /// goes with its handle, or with this gateway's session, unless named first. Returns the
    /// inode and the handle.
    pub(crate) async fn stage_file(&self) -> S3Result<(u64, u64)> {
        let staging = self.staging().await?;
        let (ino, _, fh) = self
            .vfs
            .create(self.caller, staging, None, 0o644, 0o022, libc::O_RDWR)
            .await
            .map_err(internal)?;
        Ok((ino, fh))
    }

    async fn put_directory(
        &self,
        bucket: u64,
        key: &KeyPath<'_>,
        body: Option<StreamingBlob>,
        mut record: Record,
    ) -> S3Result<Stored> {
        if let Some(mut body) = body {
            while let Some(piece) = body.next().await {
                let piece = piece.map_err(|err| body_error(&err))?;
                if !piece.is_empty() {
                    return Err(s3_error!(
                        InvalidArgument,
                        "a key ending in '/' names a directory, which holds no bytes"
                    ));
                }
            }
        }
        let ino = self.make_dirs(bucket, &key.segments).await?;
        record.dir = Some(DirKind::Object);
        self.set_record(ino, &record).await?;
        Ok(Stored {
            version: None,
            etag: EMPTY_ETAG.to_string(),
            checksums: dto::Checksum::default(),
            size: 0,
            record,
        })
    }

    /// Deletes the object `key`: nothing to do when there is none. A folder object with
    /// entries stops being an object; its entries stay.
    pub async fn delete(&self, bucket: u64, key: &KeyPath<'_>) -> S3Result<()> {
        let object = match self.object(bucket, key).await {
            Ok(object) => object,
            Err(err) if *err.code() == s3s::S3ErrorCode::NoSuchKey => return Ok(()),
            Err(err) => return Err(err),
        };
        let parent = match self.walk(bucket, key.parents()).await? {
            Found::Node(ino, _) => ino,
            _ => return Ok(()),
        };
        let removed = if object.attr.kind == FileKind::Dir {
            match self.vfs.rmdir(parent, key.name()).await {
                // A folder object with entries stops being an object and goes with its last
                // entry; a directory made through a mount stays what it is.
                Err(err) if err.errno() == libc::ENOTEMPTY => {
                    if object.record.dir != Some(DirKind::Object) {
                        return Ok(());
                    }
                    let mut record = object.record;
                    record.dir = Some(DirKind::Implicit);
                    return self.set_record(object.ino, &record).await;
                }
                other => other.map(drop),
            }
        } else {
            self.vfs.unlink(parent, key.name()).await.map(drop)
        };
        match removed {
            Ok(()) => {}
            Err(err) if err.errno() == libc::ENOENT => {}
            Err(err) => return Err(internal(err)),
        }
        self.prune(bucket, key.parents()).await;
        Ok(())
    }

    /// Copies object `from` to `key` sharing its stored bytes (the copy's slices point at the
    /// same immutable objects), staged and placed like a PUT.
    pub async fn copy(
        &self,
        from: &Object,
        bucket: u64,
        key: &KeyPath<'_>,
        record: Record,
        versioning: Option<Versioning>,
    ) -> S3Result<(String, Attr, Option<String>)> {
        if from.attr.kind == FileKind::Dir || key.directory {
            let stored = self.put_directory(bucket, key, None, record).await?;
            let attr = self
                .getattr(self.make_dirs(bucket, &key.segments).await?)
                .await?;
            return Ok((stored.etag, attr, None));
        }
        let etag = self.etag(from).await?;
        let parent = self.make_dirs(bucket, key.parents()).await?;
        let (ino, fh) = self.stage_file().await?;
        let result = self.clone_into(from, ino, fh, etag, record).await;
        let placed = match result {
            Ok((etag, attr, record)) => self
                .place(bucket, key, parent, ino, &record, versioning)
                .await
                .map(|version| (etag, attr, version)),
            Err(err) => Err(err),
        };
        self.vfs.release(fh, None).await;
        placed
    }

    async fn clone_into(
        &self,
        from: &Object,
        ino: u64,
        fh: u64,
        etag: String,
        mut record: Record,
    ) -> S3Result<(String, Attr, Record)> {
        self.clone_range(from, 0..from.attr.size, fh, 0).await?;
        self.vfs.flush_handle(fh, None).await.map_err(internal)?;
        let copied = self.vfs.getattr(ino).await.map_err(internal)?;
        record.etag = Some(Stamped::new(etag.clone(), &copied));
        Ok((etag, copied, record))
    }

    /// Makes the bytes `range` of `from` the bytes at `at` of the file open as `fh`, sharing
    /// the stored objects (no byte is copied). Fails when `from` changed since it was found.
    pub(crate) async fn clone_range(
        &self,
        from: &Object,
        range: std::ops::Range<u64>,
        fh: u64,
        at: u64,
    ) -> S3Result<()> {
        let (src, attr) = self
            .vfs
            .open(self.caller, from.ino, libc::O_RDONLY)
            .await
            .map_err(internal)?;
        let changed = || {
            s3_error!(
                InternalError,
                "the source object changed while being copied; try again"
            )
        };
        let mut done = 0;
        let len = range.end - range.start;
        let mut result = if attr.size != from.attr.size || attr.mtime != from.attr.mtime {
            Err(changed())
        } else {
            Ok(())
        };
        while result.is_ok() && done < len {
            match self
                .vfs
                .copy_file_range(src, range.start + done, fh, at + done, len - done)
                .await
            {
                Ok(0) => result = Err(changed()),
                Ok(n) => done += n,
                Err(err) => result = Err(internal(err)),
            }
        }
        self.vfs.release(src, None).await;
        result
    }
}

/// S3's limit on a single PUT.
pub const MAX_PUT: u64 = 5 << 30;

fn prefix_in_the_way(key: &KeyPath<'_>) -> S3Error {
    let path = String::from_utf8_lossy(&key.segments.join(&b'/')).into_owned();
    clash(format!(
        "the key {path:?} is a prefix of other keys (a directory), so it cannot be an object \
         too; delete the keys under {path:?}/ first"
    ))
}

fn merge_trailers(wanted: &mut dto::Checksum, headers: &hyper::HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    wanted.checksum_crc32 = wanted
        .checksum_crc32
        .take()
        .or_else(|| get("x-amz-checksum-crc32"));
    wanted.checksum_crc32c = wanted
        .checksum_crc32c
        .take()
        .or_else(|| get("x-amz-checksum-crc32c"));
    wanted.checksum_sha1 = wanted
        .checksum_sha1
        .take()
        .or_else(|| get("x-amz-checksum-sha1"));
    wanted.checksum_sha256 = wanted
        .checksum_sha256
        .take()
        .or_else(|| get("x-amz-checksum-sha256"));
    wanted.checksum_crc64nvme = wanted
        .checksum_crc64nvme
        .take()
        .or_else(|| get("x-amz-checksum-crc64nvme"));
}

/// A hasher computing the algorithms asked for.
fn hasher_for(algorithms: [bool; 5]) -> s3s::checksum::ChecksumHasher {
    use s3s::crypto::{Crc32, Crc32c, Crc64Nvme, Sha1, Sha256};
    s3s::checksum::ChecksumHasher {
        crc32: algorithms[0].then(Crc32::new),
        crc32c: algorithms[1].then(Crc32c::new),
        sha1: algorithms[2].then(Sha1::new),
        sha256: algorithms[3].then(Sha256::new),
        crc64nvme: algorithms[4].then(Crc64Nvme::new),
    }
}

/// The checksum algorithms named, in [`PutMeta::algorithms`] order.
pub const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "sha1", "sha256", "crc64nvme"];

fn verify_checksums(
    hasher: s3s::checksum::ChecksumHasher,
    wanted: &dto::Checksum,
    sent: [bool; 5],
) -> S3Result<dto::Checksum> {
    let got = hasher.finalize();
    let pairs = [
        ("CRC32", &wanted.checksum_crc32, &got.checksum_crc32),
        ("CRC32C", &wanted.checksum_crc32c, &got.checksum_crc32c),
        ("SHA1", &wanted.checksum_sha1, &got.checksum_sha1),
        ("SHA256", &wanted.checksum_sha256, &got.checksum_sha256),
        (
            "CRC64NVME",
            &wanted.checksum_crc64nvme,
            &got.checksum_crc64nvme,
        ),
    ];
    for ((name, want, have), computed) in pairs.iter().zip(sent) {
        // A value announced as a trailer but never sent is not checked.
        if computed && want.is_some() && want != have {
            return Err(s3_error!(
                BadDigest,
                "the {name} you specified did not match the calculated checksum"
            ));
        }
    }
    let keep = |sent: bool, value: &Option<String>| if sent { value.clone() } else { None };
    Ok(dto::Checksum {
        checksum_crc32: keep(sent[0], &got.checksum_crc32),
        checksum_crc32c: keep(sent[1], &got.checksum_crc32c),
        checksum_sha1: keep(sent[2], &got.checksum_sha1),
        checksum_sha256: keep(sent[3], &got.checksum_sha256),
        checksum_crc64nvme: keep(sent[4], &got.checksum_crc64nvme),
        ..dto::Checksum::default()
    })
}

/// The outcome of a request's preconditions against an object's ETag and mtime.
#[derive(Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Go on.
    Pass,
    /// 304.
    NotModified,
    /// 412.
    Failed,
}

/// RFC 9110's order, as S3 applies it: If-Match, else If-Unmodified-Since (412); then
/// If-None-Match, else If-Modified-Since (304; 412 for If-None-Match on writes, not here).
pub fn preconditions(
    etag: &str,
    mtime: i64,
    if_match: Option<&ETagCondition>,
    if_unmodified_since: Option<&Timestamp>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
) -> Precondition {
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(tag) => tag.value() == etag,
    };
    match if_match {
        Some(c) if !matches(c) => return Precondition::Failed,
        Some(_) => {}
        None => {
            if if_unmodified_since.is_some_and(|t| mtime > seconds(t)) {
                return Precondition::Failed;
            }
        }
    }
    match if_none_match {
        Some(c) if matches(c) => Precondition::NotModified,
        Some(_) => Precondition::Pass,
        None if if_modified_since.is_some_and(|t| mtime <= seconds(t)) => Precondition::NotModified,
        None => Precondition::Pass,
    }
}

/// The error of a request body that broke off: a chunk whose signature does not hold (s3s
/// says so only in its error's text) is SignatureDoesNotMatch, anything else IncompleteBody.
pub fn body_error(err: &dyn std::fmt::Display) -> S3Error {
    let text = err.to_string();
    if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "a chunk's signature does not match its bytes"
        )
    } else {
        s3_error!(IncompleteBody, "the request body ended early: {text}")
    }
}

/// The key of a request, mapped; its S3 error otherwise.
pub fn key_path(key: &str) -> S3Result<KeyPath<'_>> {
    parse(key).map_err(S3Error::from)
}

/// The current time as S3 shows it.
pub fn now() -> Timestamp {
    Timestamp::from(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        timestamp(Timespec { sec: secs, nsec: 0 })
    }

    #[test]
    fn preconditions_follow_rfc_9110() {
        let tag = |v: &str| ETagCondition::ETag(ETag::Strong(v.into()));
        let p = |m: Option<ETagCondition>,
                 u: Option<Timestamp>,
                 n: Option<ETagCondition>,
                 s: Option<Timestamp>| {
            preconditions("abc", 100, m.as_ref(), u.as_ref(), n.as_ref(), s.as_ref())
        };
        assert_eq!(p(None, None, None, None), Precondition::Pass);
        assert_eq!(p(Some(tag("abc")), None, None, None), Precondition::Pass);
        assert_eq!(p(Some(tag("x")), None, None, None), Precondition::Failed);
        assert_eq!(
            p(Some(ETagCondition::Any), None, None, None),
            Precondition::Pass
        );
        assert_eq!(p(None, Some(at(99)), None, None), Precondition::Failed);
        assert_eq!(p(None, Some(at(100)), None, None), Precondition::Pass);
        // If-Match true wins over a failing If-Unmodified-Since.
        assert_eq!(
            p(Some(tag("abc")), Some(at(1)), None, None),
            Precondition::Pass
        );
        assert_eq!(
            p(None, None, Some(tag("abc")), None),
            Precondition::NotModified
        );
        assert_eq!(p(None, None, Some(tag("x")), None), Precondition::Pass);
        assert_eq!(
            p(None, None, None, Some(at(100))),
            Precondition::NotModified
        );
        assert_eq!(p(None, None, None, Some(at(99))), Precondition::Pass);
        // If-None-Match false wins over a true If-Modified-Since.
        assert_eq!(
            p(None, None, Some(tag("x")), Some(at(200))),
            Precondition::Pass
        );
    }
}
