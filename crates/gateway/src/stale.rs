//! Multipart uploads nobody finished: S3 clients that die between creating an upload and
//! completing or aborting it leave its parts behind. `datenlord gc` finds them from the
//! metadata alone (no gateway needs to run) and discards them past the trash, as aborting
//! them would.

use datenlord_meta::{FileKind, Meta, ROOT_INO};

use crate::multipart::{UPLOAD_XATTR, UPLOADS, Upload};
use crate::namespace::STAGING;

/// An upload started before the cut-off and neither completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleUpload {
    /// Its id.
    pub id: String,
    /// The bucket and key it was for (empty when its description is unreadable).
    pub bucket: String,
    /// See `bucket`.
    pub key: String,
    /// When it started, in seconds since the epoch.
    pub initiated: i64,
    /// Its parts' bytes.
    pub bytes: u64,
}

/// The upload directory, if the gateway ever made one.
async fn uploads_dir(meta: &Meta) -> datenlord_meta::Result<Option<u64>> {
    let staging = match meta.lookup(ROOT_INO, STAGING).await {
        Ok((ino, _)) => ino,
        Err(err) if err.errno() == libc::ENOENT => return Ok(None),
        Err(err) => return Err(err),
    };
    match meta.lookup(staging, UPLOADS).await {
        Ok((ino, _)) => Ok(Some(ino)),
        Err(err) if err.errno() == libc::ENOENT => Ok(None),
        Err(err) => Err(err),
    }
}

/// The uploads started at or before `before` (seconds since the epoch); an upload whose
/// description is missing (its creator died at once) counts from its directory's change time.
pub async fn stale_uploads(meta: &Meta, before: i64) -> datenlord_meta::Result<Vec<StaleUpload>> {
    let Some(uploads) = uploads_dir(meta).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, dirent) in meta.readdir(uploads).await? {
        if dirent.kind != FileKind::Dir {
            continue;
        }
        let upload = meta
            .getxattr(dirent.ino, UPLOAD_XATTR)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Upload>(&bytes).ok());
        let initiated = match &upload {
            Some(upload) => upload.initiated,
            None => match meta.getattr(dirent.ino).await {
                Ok(attr) => attr.ctime.sec,
                Err(_) => continue,
            },
        };
        if initiated > before {
            continue;
        }
        let parts = match meta.readdir(dirent.ino).await {
            Ok(parts) => parts,
            // Completed or aborted meanwhile.
            Err(err) if err.errno() == libc::ENOENT => continue,
            Err(err) => return Err(err),
        };
        let mut bytes = 0;
        for (_, part) in parts {
            if let Ok(attr) = meta.getattr(part.ino).await {
                bytes += attr.size;
            }
        }
        let (bucket, key) = upload.map_or_else(Default::default, |u| (u.bucket, u.key));
        out.push(StaleUpload {
            id: String::from_utf8_lossy(&name).into_owned(),
            bucket,
            key,
            initiated,
            bytes,
        });
    }
    out.sort_by_key(|u| u.initiated);
    Ok(out)
}

/// Discards upload `id` and its parts for good; false when it is gone already (completed or
/// aborted meanwhile).
pub async fn discard_upload(meta: &Meta, id: &str) -> datenlord_meta::Result<bool> {
    let Some(uploads) = uploads_dir(meta).await? else {
        return Ok(false);
    };
    match meta.discard_tree(uploads, id.as_bytes()).await {
        Ok(()) => Ok(true),
        Err(err) if err.errno() == libc::ENOENT => Ok(false),
        Err(err) => Err(err),
    }
}
