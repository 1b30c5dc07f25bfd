//! Buckets (the volume's top-level directories) and their listings.

use datenlord_meta::{Attr, FileKind, ROOT_INO};
use futures::StreamExt;
use s3s::dto::{self, CommonPrefix, EncodingType, Object as S3Object, ObjectStorageClass};
use s3s::{S3Result, s3_error};

use crate::acl::{Acl, owner_of};
use crate::bucket_config::BucketConfig;
use crate::key::is_bucket_name;
use crate::list::{Cursor, Page, Query, list};
use crate::namespace::{Namespace, internal};
use crate::object::{Object, etag_header, timestamp};
use crate::record::{DirKind, Record};

/// A listed key's attributes, ETag and own owner.
type Described = (Attr, String, Option<String>);

/// S3's largest page of keys.
pub const MAX_KEYS: usize = 1000;
/// Keys of a page described at once.
const LIST_PARALLEL: usize = 32;

/// A bucket as ListBuckets shows it.
#[derive(Debug)]
pub struct BucketInfo {
    /// Its name.
    pub name: String,
    /// When it was made (its directory's ctime at the latest).
    pub created: dto::Timestamp,
}

/// A listing request, from v1 or v2.
#[derive(Debug)]
pub struct ListRequest {
    /// The bucket's directory.
    pub bucket: u64,
    /// Prefix, as sent.
    pub prefix: String,
    /// Delimiter, as sent.
    pub delimiter: Option<String>,
    /// Resume after this.
    pub after: Cursor,
    /// max-keys (capped at 1000).
    pub max: usize,
    /// Keys and prefixes come URL-encoded.
    pub url_encoded: bool,
}

/// A listing's keys and prefixes, ready for either version's answer.
#[derive(Debug)]
pub struct Listing {
    /// The objects.
    pub contents: Vec<S3Object>,
    /// The common prefixes.
    pub prefixes: Vec<CommonPrefix>,
    /// More follow after this.
    pub next: Option<Cursor>,
    /// The last key or prefix returned, for v1's NextMarker.
    pub next_marker: Option<String>,
}

impl Namespace {
    /// The buckets, by name.
    pub async fn buckets(&self) -> S3Result<Vec<BucketInfo>> {
        let mut out = Vec::new();
        let mut entries = self.entries(ROOT_INO).await.map_err(internal)?;
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        for entry in entries {
            if !entry.dir || !is_bucket_name(&entry.name) {
                continue;
            }
            let Ok(attr) = self.vfs.getattr(entry.ino).await else {
                continue;
            };
            out.push(BucketInfo {
                name: String::from_utf8_lossy(&entry.name).into_owned(),
                created: timestamp(attr.ctime.min(attr.mtime)),
            });
        }
        Ok(out)
    }

    /// Makes bucket `name`, owned as `acl` says; BucketAlreadyOwnedByYou when it exists.
    pub async fn create_bucket(&self, name: &str, acl: Acl) -> S3Result<()> {
        if !is_bucket_name(name.as_bytes()) {
            return Err(s3_error!(InvalidBucketName));
        }
        let new = datenlord_meta::NewInode {
            kind: FileKind::Dir,
            perm: 0o755,
            umask: 0o022,
            rdev: 0,
            target: None,
        };
        match self
            .vfs
            .mknod(self.caller, ROOT_INO, name.as_bytes(), new)
            .await
        {
            Ok(_) => {
                let config = BucketConfig {
                    acl: Some(acl),
                    ..BucketConfig::default()
                };
                self.set_bucket_config(name, &config).await
            }
            Err(err) if err.errno() == libc::EEXIST => Err(s3_error!(BucketAlreadyOwnedByYou)),
            Err(err) => Err(internal(err)),
        }
    }

    /// Removes bucket `name`: BucketNotEmpty while it holds anything.
    pub async fn delete_bucket(&self, name: &str) -> S3Result<()> {
        let ino = self.bucket(name).await?;
        self.configs.forget(name);
        self.drop_bucket_versions(ino).await?;
        match self.vfs.rmdir(ROOT_INO, name.as_bytes()).await {
            Ok(_) => Ok(()),
            Err(err) if err.errno() == libc::ENOTEMPTY => Err(s3_error!(BucketNotEmpty)),
            Err(err) if err.errno() == libc::ENOENT => Err(s3_error!(NoSuchBucket)),
            Err(err) => Err(internal(err)),
        }
    }

    /// One page of a bucket's listing, with each object's size, time and ETag.
    pub async fn list(&self, request: &ListRequest) -> S3Result<Listing> {
        let query = Query {
            prefix: request.prefix.as_bytes(),
            delimiter: request.delimiter.as_deref().map(str::as_bytes),
            after: request.after.clone(),
            max: request.max.min(MAX_KEYS),
        };
        let page: Page = list(self, request.bucket, &query).await?;
        let encode = |s: &[u8]| {
            let text = String::from_utf8_lossy(s);
            if request.url_encoded {
                url_encode(&text)
            } else {
                text.into_owned()
            }
        };
        // Each key's attributes, record and ETag are reads of its own; on a remote engine
        // they are round trips, made for many keys at once.
        let ids: Vec<(u64, bool)> = page.keys.iter().map(|l| (l.ino, l.dir)).collect();
        let described: Vec<S3Result<Option<Described>>> = futures::stream::iter(ids)
            .map(|(ino, dir)| self.describe(ino, dir))
            .buffered(LIST_PARALLEL)
            .collect()
            .await;
        let mut contents = Vec::with_capacity(page.keys.len());
        let mut last = None;
        for (listed, described) in page.keys.iter().zip(described) {
            // None: removed since the directory was read.
            let Some((attr, etag, owner)) = described? else {
                continue;
            };
            let size = if listed.dir { 0 } else { attr.size };
            contents.push(S3Object {
                key: Some(encode(&listed.key)),
                size: Some(size as i64),
                last_modified: Some(timestamp(attr.mtime)),
                e_tag: Some(etag_header(&etag)),
                storage_class: Some(ObjectStorageClass::from_static(
                    ObjectStorageClass::STANDARD,
                )),
                owner: owner.as_deref().map(owner_of),
                ..S3Object::default()
            });
            last = Some(listed.key.clone());
        }
        let prefixes = page
            .prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(encode(p)),
            })
            .collect();
        if let Some(p) = page.prefixes.last()
            && last.as_ref().is_none_or(|k| p > k)
        {
            last = Some(p.clone());
        }
        Ok(Listing {
            contents,
            prefixes,
            next_marker: page.next.as_ref().and(last).map(|k| encode(&k)),
            next: page.next,
        })
    }
}

impl Namespace {
    /// The attributes, ETag and owner (when not the bucket's) of a listed key; `None` when it
    /// is gone.
    async fn describe(&self, ino: u64, dir: bool) -> S3Result<Option<Described>> {
        let (attr, record) = if dir {
            (self.vfs.getattr(ino).await, Record::dir(DirKind::Object))
        } else {
            futures::join!(self.vfs.getattr(ino), self.record(ino))
        };
        let Ok(attr) = attr else {
            return Ok(None);
        };
        let owner = record.acl.as_ref().map(|acl| acl.owner.clone());
        let object = Object { ino, attr, record };
        let etag = self.etag(&object).await?;
        Ok(Some((object.attr, etag, owner)))
    }
}

/// The encoding of `encoding-type=url`: everything but unreserved characters and `/`
/// percent-encoded (clients decode with `unquote_plus`, so `+` and space are encoded too).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a listing asked for URL-encoded keys.
pub fn wants_url(encoding: Option<&EncodingType>) -> bool {
    encoding.is_some_and(|e| e.as_str().eq_ignore_ascii_case(EncodingType::URL))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved() {
        assert_eq!(url_encode("a/b c+d"), "a/b%20c%2Bd");
        assert_eq!(url_encode("ü"), "%C3%BC");
        assert_eq!(url_encode("x-y_z.~"), "x-y_z.~");
    }
}
