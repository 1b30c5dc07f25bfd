//! Multipart uploads. An upload is a directory `uploads/ID` in the staging area holding one
//! file per part (`part-00001` ...); a part is staged and renamed in like a PUT, so a part sent
//! again replaces the old one whole. Completing clones the parts' stored bytes, in order, into
//! one new file (metadata only: its slices point at the parts' objects, no byte is copied) and
//! renames it over the key, so the object appears whole and at once.

use datenlord_meta::FileKind;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{self, StreamingBlob};
use s3s::{S3Error, S3Result, s3_error};
use serde::{Deserialize, Serialize};

use crate::bucket_config::BucketState;
use crate::key::KeyPath;
use crate::namespace::{Namespace, internal};
use crate::object::{Object, PutMeta, Stored};
use crate::record::{Record, Stamped, XATTR};

/// The extended attribute of an upload's directory: what the upload is for.
pub const UPLOAD_XATTR: &[u8] = b"trusted.datenlord.s3.upload";
/// S3's smallest part, but for the last.
pub const MIN_PART: u64 = 5 << 20;
/// S3's largest part.
pub const MAX_PART: u64 = 5 << 30;
/// S3's largest object.
pub const MAX_OBJECT: u64 = 5 << 40;
/// Part numbers run from 1 to this.
pub const MAX_PART_NUMBER: i32 = 10_000;

/// The staging area's directory of uploads in progress.
pub(crate) const UPLOADS: &[u8] = b"uploads";

/// What an upload is for, kept with its directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The object's content headers and user metadata, given at its creation.
    pub record: Record,
    /// When it was created, in seconds since the epoch.
    pub initiated: i64,
    /// Who created it (an access key; none: anonymous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiator: Option<String>,
}

/// A part as stored.
#[derive(Debug, Clone)]
pub struct StoredPart {
    /// Its number.
    pub number: i32,
    /// Its ETag (the MD5 of its bytes).
    pub etag: String,
    /// Its size.
    pub size: u64,
    /// Its file.
    pub object: Object,
}

fn no_such_upload() -> S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may \
         have been aborted or completed."
    )
}

/// Upload ids are ours: hex, so they can name a directory and never a path.
fn valid_id(id: &str) -> bool {
    (8..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn part_name(number: i32) -> String {
    format!("part-{number:05}")
}

/// Checks a part number.
pub fn check_part_number(number: i32) -> S3Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&number) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ))
    }
}

/// Checks the part list of a CompleteMultipartUpload: at least one part, numbers valid and
/// strictly ascending.
pub fn check_part_list(chosen: &[(i32, String)]) -> S3Result<()> {
    if chosen.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "You must specify at least one part"
        ));
    }
    for (number, _) in chosen {
        check_part_number(*number)?;
    }
    if chosen.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(s3_error!(
            InvalidPartOrder,
            "The list of parts was not in ascending order. The parts list must be specified \
             in order by part number."
        ));
    }
    Ok(())
}

/// The ETag of a multipart object: the MD5 of the parts' binary MD5s, `-` and their count.
pub fn multipart_etag(part_etags: &[String]) -> Option<String> {
    let mut md5 = Md5::new();
    for etag in part_etags {
        if etag.len() != 32 || !etag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digest: Option<Vec<u8>> = (0..32)
            .step_by(2)
            .map(|i| u8::from_str_radix(etag.get(i..i + 2)?, 16).ok())
            .collect();
        md5.update(&digest?);
    }
    let hex: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{hex}-{}", part_etags.len()))
}

impl Namespace {
    async fn uploads_dir(&self) -> S3Result<u64> {
        let staging = self.staging().await?;
        self.make_dirs(staging, &[UPLOADS]).await
    }

    /// Starts an upload of `key` to `bucket`; returns its id.
    pub async fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        record: Record,
        initiator: Option<String>,
    ) -> S3Result<String> {
        let uploads = self.uploads_dir().await?;
        let now = datenlord_meta::Timespec::now();
        let id = format!(
            "{:x}{:08x}{:x}",
            self.vfs.session(),
            now.nsec,
            crate::object::next_upload_number()
        );
        let new = datenlord_meta::NewInode {
            kind: FileKind::Dir,
            perm: 0o700,
            umask: 0,
            rdev: 0,
            target: None,
        };
        let (dir, _) = self
            .vfs
            .mknod(self.caller, uploads, id.as_bytes(), new)
            .await
            .map_err(internal)?;
        let upload = Upload {
            bucket: bucket.to_string(),
            key: key.to_string(),
            record,
            initiated: now.sec,
            initiator,
        };
        let value = serde_json::to_vec(&upload).unwrap_or_default();
        self.vfs
            .setxattr(dir, UPLOAD_XATTR, &value, 0, false)
            .await
            .map_err(internal)?;
        Ok(id)
    }

    /// The directory and description of upload `id`, which must be for `bucket`/`key`.
    pub async fn upload(&self, id: &str, bucket: &str, key: &str) -> S3Result<(u64, Upload)> {
        let (dir, upload) = self.find_upload(id).await?.ok_or_else(no_such_upload)?;
        if upload.bucket != bucket || upload.key != key {
            return Err(no_such_upload());
        }
        Ok((dir, upload))
    }

    async fn find_upload(&self, id: &str) -> S3Result<Option<(u64, Upload)>> {
        if !valid_id(id) {
            return Ok(None);
        }
        let uploads = self.uploads_dir().await?;
        let dir = match self.vfs.lookup(uploads, id.as_bytes()).await {
            Ok((ino, _)) => ino,
            Err(err) if err.errno() == libc::ENOENT => return Ok(None),
            Err(err) => return Err(internal(err)),
        };
        let Ok(bytes) = self.vfs.getxattr(dir, UPLOAD_XATTR).await else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok().map(|u| (dir, u)))
    }

    /// Every upload in progress for `bucket`, by key and then by start.
    pub async fn uploads(&self, bucket: &str) -> S3Result<Vec<(String, Upload)>> {
        let uploads = self.uploads_dir().await?;
        let mut out = Vec::new();
        for entry in self.entries(uploads).await.map_err(internal)? {
            let Ok(bytes) = self.vfs.getxattr(entry.ino, UPLOAD_XATTR).await else {
                continue;
            };
            if let Ok(upload) = serde_json::from_slice::<Upload>(&bytes)
                && upload.bucket == bucket
            {
                out.push((String::from_utf8_lossy(&entry.name).into_owned(), upload));
            }
        }
        out.sort_by(|a, b| (&a.1.key, a.1.initiated, &a.0).cmp(&(&b.1.key, b.1.initiated, &b.0)));
        Ok(out)
    }

    /// Stores part `number` of upload `dir` from `body`.
    pub async fn upload_part(
        &self,
        dir: u64,
        number: i32,
        body: Option<StreamingBlob>,
        meta: PutMeta,
    ) -> S3Result<Stored> {
        check_part_number(number)?;
        let (ino, fh) = self.stage_file().await?;
        let result = match self.fill(ino, fh, body, meta).await {
            Ok(stored) if stored.size > MAX_PART => {
                Err(s3_error!(EntityTooLarge, "a part holds at most 5 GiB"))
            }
            Ok(stored) => self
                .name_part(ino, dir, number, &stored.record)
                .await
                .map(|()| stored),
            Err(err) => Err(err),
        };
        self.vfs.release(fh, None).await;
        result
    }

    /// Makes the bytes `range` of `from` part `number` of upload `dir`, sharing its objects.
    pub async fn copy_part(
        &self,
        dir: u64,
        number: i32,
        from: &Object,
        range: std::ops::Range<u64>,
    ) -> S3Result<(String, dto::Timestamp)> {
        check_part_number(number)?;
        if range.end - range.start > MAX_PART {
            return Err(s3_error!(EntityTooLarge, "a part holds at most 5 GiB"));
        }
        let (ino, fh) = self.stage_file().await?;
        let result = self.fill_copy(from, range, ino, fh).await;
        let result = match result {
            Ok((etag, modified, record)) => self
                .name_part(ino, dir, number, &record)
                .await
                .map(|()| (etag, modified)),
            Err(err) => Err(err),
        };
        self.vfs.release(fh, None).await;
        result
    }

    async fn fill_copy(
        &self,
        from: &Object,
        range: std::ops::Range<u64>,
        ino: u64,
        fh: u64,
    ) -> S3Result<(String, dto::Timestamp, Record)> {
        let source = self.etag(from).await?;
        self.clone_range(from, range.clone(), fh, 0).await?;
        self.vfs.flush_handle(fh, None).await.map_err(internal)?;
        let attr = self.vfs.getattr(ino).await.map_err(internal)?;
        // The part's ETag names its bytes without reading them (a clone reads nothing): the
        // MD5 of the source's ETag and the range, which clients only hand back to Complete.
        let mut md5 = Md5::new();
        md5.update(format!("{source}:{}-{}", range.start, range.end).as_bytes());
        let etag: String = md5.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let record = Record {
            etag: Some(Stamped::new(etag.clone(), &attr)),
            ..Record::default()
        };
        Ok((etag, crate::object::timestamp(attr.mtime), record))
    }

    async fn name_part(&self, ino: u64, dir: u64, number: i32, record: &Record) -> S3Result<()> {
        let encoded = record.encode();
        match self
            .vfs
            .link_over(ino, dir, part_name(number).as_bytes(), &[(XATTR, &encoded)])
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.errno() == libc::ENOENT => Err(no_such_upload()),
            Err(err) => Err(internal(err)),
        }
    }

    /// The parts of upload `dir`, by number.
    pub async fn parts(&self, dir: u64) -> S3Result<Vec<StoredPart>> {
        let mut parts = Vec::new();
        for entry in self.entries(dir).await.map_err(internal)? {
            let Some(number) = std::str::from_utf8(&entry.name)
                .ok()
                .and_then(|n| n.strip_prefix("part-"))
                .and_then(|n| n.parse::<i32>().ok())
            else {
                continue;
            };
            let Ok(attr) = self.vfs.getattr(entry.ino).await else {
                continue;
            };
            let object = Object {
                ino: entry.ino,
                attr,
                record: self.record(entry.ino).await,
            };
            let etag = self.etag(&object).await?;
            parts.push(StoredPart {
                number,
                etag,
                size: object.attr.size,
                object,
            });
        }
        parts.sort_by_key(|p| p.number);
        Ok(parts)
    }

    /// Completes upload `dir` with the parts `chosen` (number and ETag, ascending) into
    /// `key`; returns the object's ETag.
    pub async fn complete(
        &self,
        id: &str,
        dir: u64,
        upload: &Upload,
        bucket: &BucketState,
        key: &KeyPath<'_>,
        chosen: &[(i32, String)],
    ) -> S3Result<(String, Option<String>)> {
        let versioning = bucket.config.versioning;
        let bucket = bucket.ino;
        check_part_list(chosen)?;
        let stored = self.parts(dir).await?;
        let mut picked = Vec::with_capacity(chosen.len());
        for (i, (number, etag)) in chosen.iter().enumerate() {
            let part = stored
                .iter()
                .find(|p| p.number == *number && p.etag == *etag)
                .ok_or_else(|| {
                    s3_error!(
                        InvalidPart,
                        "One or more of the specified parts could not be found. The part may \
                         not have been uploaded, or the specified entity tag may not match the \
                         part's entity tag."
                    )
                })?;
            if i + 1 < chosen.len() && part.size < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed object size."
                ));
            }
            picked.push(part);
        }
        let total: u64 = picked.iter().map(|p| p.size).sum();
        if total > MAX_OBJECT {
            return Err(s3_error!(EntityTooLarge, "an object holds at most 5 TiB"));
        }
        let etags: Vec<String> = picked.iter().map(|p| p.etag.clone()).collect();
        let etag = multipart_etag(&etags)
            .ok_or_else(|| s3_error!(InternalError, "a part's ETag is not an MD5"))?;
        let parent = self.make_dirs(bucket, key.parents()).await?;
        let (ino, fh) = self.stage_file().await?;
        let result = self.assemble(&picked, ino, fh, &etag, upload).await;
        let result = match result {
            Ok(record) => {
                self.place(bucket, key, parent, ino, &record, versioning)
                    .await
            }
            Err(err) => Err(err),
        };
        self.vfs.release(fh, None).await;
        let version = result?;
        if let Err(err) = self.remove_upload(id).await {
            tracing::warn!(id, ?err, "cannot remove a completed upload's parts");
        }
        Ok((etag, version))
    }

    async fn assemble(
        &self,
        parts: &[&StoredPart],
        ino: u64,
        fh: u64,
        etag: &str,
        upload: &Upload,
    ) -> S3Result<Record> {
        let mut at = 0;
        for part in parts {
            self.clone_range(&part.object, 0..part.size, fh, at).await?;
            at += part.size;
        }
        self.vfs.flush_handle(fh, None).await.map_err(internal)?;
        let attr = self.vfs.getattr(ino).await.map_err(internal)?;
        let mut record = upload.record.clone();
        record.etag = Some(Stamped::new(etag.to_string(), &attr));
        record.parts = parts.iter().map(|p| p.size).collect();
        Ok(record)
    }

    /// Aborts upload `id` of `bucket`/`key`.
    pub async fn abort(&self, id: &str, bucket: &str, key: &str) -> S3Result<()> {
        self.upload(id, bucket, key).await?;
        self.remove_upload(id).await
    }

    /// Removes upload `id` and its parts, past the trash: they are no user's files (a
    /// completed upload's bytes live on in its object).
    async fn remove_upload(&self, id: &str) -> S3Result<()> {
        match crate::stale::discard_upload(self.vfs.meta(), id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(no_such_upload()),
            Err(err) => Err(internal(err.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_etags_are_md5s_of_md5s() {
        let a = "d41d8cd98f00b204e9800998ecf8427e".to_string();
        let etag = multipart_etag(&[a.clone(), a.clone()]).unwrap();
        assert!(etag.ends_with("-2"));
        assert_eq!(etag.len(), 32 + 2);
        assert_eq!(multipart_etag(&["nothex".into()]), None);
        assert_eq!(multipart_etag(&["é".repeat(16)]), None);
        assert_eq!(multipart_etag(&["+f".repeat(16)]), None);
        assert!(check_part_list(&[]).is_err());
        assert!(check_part_list(&[(1, String::new()), (1, String::new())]).is_err());
        assert!(check_part_list(&[(0, String::new())]).is_err());
        assert!(check_part_list(&[(1, String::new()), (3, String::new())]).is_ok());
        assert!(valid_id("0123abcdef"));
        assert!(!valid_id("../../etc"));
        assert!(!valid_id("short"));
        assert!(check_part_number(0).is_err());
        assert!(check_part_number(10_001).is_err());
        assert!(check_part_number(1).is_ok());
    }
}
