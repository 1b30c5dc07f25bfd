//! Versioning: the bucket setting, finding and removing versions, and listing them.

use std::collections::VecDeque;

use hyper::header::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use super::{DEFAULT_OWNER, Gateway, ok};
use crate::acl::owner_of;
use crate::bucket::MAX_KEYS;
use crate::bucket_config::BucketState;
use crate::key::KeyPath;
use crate::list::{Cursor, Query, list};
use crate::namespace::http_status;
use crate::object::{Object, etag_header, key_path, timestamp};
use crate::record::Record;
use crate::versions::{Entry, NULL, VersionStamp, Versioning, is_version_id};

/// What a delete did.
#[derive(Debug, Default)]
pub(super) struct Removal {
    /// It made or removed a delete marker.
    pub delete_marker: bool,
    /// The version it made or removed.
    pub version_id: Option<String>,
}

/// An error about a delete marker, with the headers S3 gives it.
fn marker_error(code: S3ErrorCode, status: u16, id: &str) -> S3Error {
    let mut err = S3Error::with_message(code, "the version is a delete marker");
    err.set_status_code(http_status(status));
    let mut headers = HeaderMap::new();
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert("x-amz-version-id", value);
    }
    err.set_headers(headers);
    err
}

fn check_id(id: &str) -> S3Result<()> {
    if is_version_id(id) {
        Ok(())
    } else {
        Err(s3_error!(InvalidArgument, "Invalid version id specified"))
    }
}

fn owner_of_record(state: &BucketState, record: &Record) -> Owner {
    let id = record
        .acl
        .as_ref()
        .or(state.config.acl.as_ref())
        .map_or(DEFAULT_OWNER, |acl| acl.owner.as_str());
    owner_of(id)
}

impl Gateway {
    pub(super) async fn serve_get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let state = self.ns.bucket_config(&req.input.bucket).await?;
        // Never enabled: S3 then answers without a Status.
        let status = state.config.versioning.map(|v| {
            BucketVersioningStatus::from_static(match v {
                Versioning::Enabled => BucketVersioningStatus::ENABLED,
                Versioning::Suspended => BucketVersioningStatus::SUSPENDED,
            })
        });
        ok(GetBucketVersioningOutput {
            status,
            ..GetBucketVersioningOutput::default()
        })
    }

    pub(super) async fn serve_put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let input = req.input;
        let conf = input.versioning_configuration;
        if conf
            .mfa_delete
            .as_ref()
            .is_some_and(|m| m.as_str() == MFADelete::ENABLED)
        {
            return Err(s3_error!(
                NotImplemented,
                "this gateway has no MFA devices: MFA delete cannot be enabled"
            ));
        }
        let versioning = match conf.status.as_ref().map(BucketVersioningStatus::as_str) {
            Some(BucketVersioningStatus::ENABLED) => Versioning::Enabled,
            Some(BucketVersioningStatus::SUSPENDED) => Versioning::Suspended,
            _ => {
                return Err(s3_error!(
                    MalformedXML,
                    "the versioning Status is Enabled or Suspended"
                ));
            }
        };
        let state = self.ns.bucket_config(&input.bucket).await?;
        let mut config = (*state.config).clone();
        config.versioning = Some(versioning);
        self.ns.set_bucket_config(&input.bucket, &config).await?;
        ok(PutBucketVersioningOutput::default())
    }

    /// Version `version` of `key` (the current one without), and its ID when the bucket has
    /// versioning.
    pub(super) async fn find(
        &self,
        state: &BucketState,
        key: &KeyPath<'_>,
        version: Option<&str>,
    ) -> S3Result<(Object, Option<String>)> {
        let current = self.ns.object(state.ino, key).await;
        if state.config.versioning.is_none() {
            return match version {
                None => current.map(|o| (o, None)),
                Some(NULL) => current.map(|o| (o, Some(NULL.into()))),
                Some(id) => {
                    check_id(id)?;
                    Err(s3_error!(NoSuchVersion))
                }
            };
        }
        let name = key.text();
        match (version, current) {
            (None, Ok(object)) => {
                let id = VersionStamp::of(&object).id;
                Ok((object, Some(id)))
            }
            (None, Err(err)) => {
                let (_, entries) = self.ns.versions_of(state.ino, &name).await?;
                match entries.first() {
                    Some(newest) if newest.marker => {
                        Err(marker_error(S3ErrorCode::NoSuchKey, 404, &newest.id))
                    }
                    _ => Err(err),
                }
            }
            (Some(id), current) => {
                check_id(id)?;
                if let Ok(object) = current
                    && VersionStamp::of(&object).id == id
                {
                    return Ok((object, Some(id.to_string())));
                }
                match self.ns.older_version(state.ino, &name, id).await? {
                    Some((_, entry)) if entry.marker => {
                        Err(marker_error(S3ErrorCode::MethodNotAllowed, 405, id))
                    }
                    Some((_, entry)) => {
                        Ok((self.ns.entry_object(&entry).await?, Some(id.to_string())))
                    }
                    None => Err(s3_error!(NoSuchVersion)),
                }
            }
        }
    }

    /// Deletes `key` (or its version `version`) as the bucket's versioning says.
    pub(super) async fn remove(
        &self,
        state: &BucketState,
        key: &KeyPath<'_>,
        version: Option<&str>,
        who: Option<&str>,
    ) -> S3Result<Removal> {
        let Some(mode) = state.config.versioning else {
            return match version {
                None | Some(NULL) => {
                    self.ns.delete(state.ino, key).await?;
                    Ok(Removal {
                        version_id: version.map(str::to_string),
                        ..Removal::default()
                    })
                }
                Some(id) => check_id(id).map(|()| Removal::default()),
            };
        };
        let name = key.text();
        let bucket = state.ino;
        let _held = self.ns.locks.lock(bucket, &name).await;
        let current = self
            .ns
            .object(bucket, key)
            .await
            .ok()
            .filter(|o| o.attr.kind == datenlord_meta::FileKind::File);
        match version {
            None => {
                if let Some(current) = &current
                    && (mode == Versioning::Enabled || VersionStamp::of(current).id != NULL)
                {
                    self.ns.archive(bucket, &name, current).await?;
                }
                if current.is_some() || key.directory {
                    self.ns.delete(bucket, key).await?;
                }
                if key.directory {
                    return Ok(Removal::default());
                }
                let stamp = match mode {
                    Versioning::Enabled => VersionStamp::new(self.ns.vfs.session()),
                    Versioning::Suspended => {
                        self.ns.drop_null(bucket, &name).await?;
                        VersionStamp::null()
                    }
                };
                let record = Record {
                    acl: who.map(crate::acl::Acl::private),
                    ..Record::default()
                };
                self.ns.add_marker(bucket, &name, &stamp, record).await?;
                Ok(Removal {
                    delete_marker: true,
                    version_id: Some(stamp.id),
                })
            }
            Some(id) => {
                check_id(id)?;
                let mut removal = Removal {
                    version_id: Some(id.to_string()),
                    ..Removal::default()
                };
                if current
                    .as_ref()
                    .is_some_and(|c| VersionStamp::of(c).id == id)
                {
                    self.ns.delete(bucket, key).await?;
                } else if let Some((dir, entry)) = self.ns.older_version(bucket, &name, id).await? {
                    self.ns.remove_entry(dir, &entry).await?;
                    removal.delete_marker = entry.marker;
                }
                self.ns.promote(bucket, key, &name).await?;
                self.ns.tidy_versions(bucket, &name).await;
                Ok(removal)
            }
        }
    }

    pub(super) async fn serve_list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = match input.max_keys {
            Some(n) if n < 0 => {
                return Err(s3_error!(InvalidArgument, "max-keys must not be negative"));
            }
            Some(n) => (n as usize).min(MAX_KEYS),
            None => MAX_KEYS,
        };
        let url = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == EncodingType::URL);
        if input.version_id_marker.is_some() && input.key_marker.is_none() {
            return Err(s3_error!(
                InvalidArgument,
                "A version-id marker cannot be specified without a key marker."
            ));
        }
        let versions_dir = self.ns.bucket_versions(state.ino, false).await?;
        let mut walk = VersionWalk::new(
            self,
            &state,
            &prefix,
            input.key_marker.clone(),
            input.version_id_marker.is_some(),
        );
        let mut page = VersionPage::default();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut last_prefix: Option<String> = input.key_marker.clone().filter(|m| {
            delimiter
                .as_deref()
                .is_some_and(|d| m.starts_with(&prefix) && m.ends_with(d))
        });
        let mut resume = input
            .version_id_marker
            .clone()
            .map(|v| (input.key_marker.clone().unwrap_or_default(), v));
        'keys: while let Some((key, ino)) = walk.next().await? {
            if let Some(d) = delimiter.as_deref()
                && let Some(at) = key[prefix.len()..].find(d)
            {
                let common = key[..prefix.len() + at + d.len()].to_string();
                if last_prefix.as_deref() == Some(common.as_str()) {
                    continue;
                }
                if page.count >= max {
                    page.truncated = true;
                    break;
                }
                page.prefixes.push(common.clone());
                page.count += 1;
                page.next = Some((common.clone(), None));
                last_prefix = Some(common);
                continue;
            }
            let versions = self
                .versions_for_listing(&state, versions_dir, &key, ino)
                .await?;
            let mut skipping = resume.as_ref().is_some_and(|(k, _)| *k == key);
            for (i, v) in versions.into_iter().enumerate() {
                if skipping {
                    if resume.as_ref().is_some_and(|(_, id)| *id == v.id) {
                        skipping = false;
                        resume = None;
                    }
                    continue;
                }
                if page.count >= max {
                    page.truncated = true;
                    break 'keys;
                }
                page.count += 1;
                page.next = Some((key.clone(), Some(v.id.clone())));
                let shown_key = if url {
                    url::form_urlencoded::byte_serialize(key.as_bytes()).collect()
                } else {
                    key.clone()
                };
                let is_latest = Some(i == 0);
                match v.object {
                    None => page.markers.push(DeleteMarkerEntry {
                        is_latest,
                        key: Some(shown_key),
                        last_modified: Some(v.modified),
                        owner: Some(v.owner),
                        version_id: Some(v.id),
                    }),
                    Some((etag, size)) => page.versions.push(ObjectVersion {
                        e_tag: Some(etag_header(&etag)),
                        is_latest,
                        key: Some(shown_key),
                        last_modified: Some(v.modified),
                        owner: Some(v.owner),
                        size: Some(size as i64),
                        storage_class: Some(ObjectVersionStorageClass::from_static(
                            ObjectVersionStorageClass::STANDARD,
                        )),
                        version_id: Some(v.id),
                        ..ObjectVersion::default()
                    }),
                }
            }
        }
        let (next_key, next_version) = match (&page.next, page.truncated) {
            (Some((key, version)), true) => (Some(key.clone()), version.clone()),
            _ => (None, None),
        };
        let common_prefixes = page
            .prefixes
            .into_iter()
            .map(|p| CommonPrefix { prefix: Some(p) })
            .collect();
        ok(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            key_marker: Some(input.key_marker.unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(page.truncated),
            next_key_marker: next_key,
            next_version_id_marker: next_version,
            versions: Some(page.versions),
            delete_markers: Some(page.markers),
            common_prefixes: Some(common_prefixes),
            delimiter: input.delimiter.filter(|d| !d.is_empty()),
            encoding_type: input.encoding_type,
            ..ListObjectVersionsOutput::default()
        })
    }

    /// The versions of `key` (current as inode `ino`, when the walk knows it), newest first,
    /// as a listing shows them.
    async fn versions_for_listing(
        &self,
        state: &BucketState,
        versions_dir: Option<u64>,
        key: &str,
        ino: Option<u64>,
    ) -> S3Result<Vec<Listed>> {
        let mut out = Vec::new();
        let current = match ino {
            Some(ino) => match self.ns.getattr(ino).await {
                Ok(attr) => Some(Object {
                    ino,
                    attr,
                    record: self.ns.record(ino).await,
                }),
                Err(_) => None,
            },
            None => self.ns.object(state.ino, &key_path(key)?).await.ok(),
        };
        if let Some(object) = current {
            out.push(self.listed(state, &object).await?);
        }
        let Some(dir) = versions_dir else {
            return Ok(out);
        };
        let (_, entries) = self.ns.versions_in(dir, key).await?;
        for entry in entries {
            if let Some(listed) = self.listed_entry(state, &entry).await? {
                // A version kept twice (a request stopped between keeping and replacing it).
                if !out.iter().any(|l| l.id == listed.id) {
                    out.push(listed);
                }
            }
        }
        Ok(out)
    }

    async fn listed(&self, state: &BucketState, object: &Object) -> S3Result<Listed> {
        let etag = self.ns.etag(object).await?;
        let size = if object.attr.kind == datenlord_meta::FileKind::Dir {
            0
        } else {
            object.attr.size
        };
        Ok(Listed {
            id: if state.config.versioning.is_some() {
                VersionStamp::of(object).id
            } else {
                NULL.into()
            },
            modified: timestamp(object.attr.mtime),
            owner: owner_of_record(state, &object.record),
            object: Some((etag, size)),
        })
    }

    async fn listed_entry(&self, state: &BucketState, entry: &Entry) -> S3Result<Option<Listed>> {
        let Ok(object) = self.ns.entry_object(entry).await else {
            return Ok(None);
        };
        if entry.marker {
            return Ok(Some(Listed {
                id: entry.id.clone(),
                modified: timestamp(object.attr.mtime),
                owner: owner_of_record(state, &object.record),
                object: None,
            }));
        }
        let mut listed = self.listed(state, &object).await?;
        listed.id = entry.id.clone();
        Ok(Some(listed))
    }
}

/// One version in a listing.
struct Listed {
    id: String,
    modified: Timestamp,
    owner: Owner,
    /// ETag and size; `None` for a delete marker.
    object: Option<(String, u64)>,
}

/// What a page of versions gathered.
#[derive(Default)]
struct VersionPage {
    versions: Vec<ObjectVersion>,
    markers: Vec<DeleteMarkerEntry>,
    prefixes: Vec<String>,
    count: usize,
    truncated: bool,
    /// The last key (and version) shown.
    next: Option<(String, Option<String>)>,
}

/// The keys with a current version or older ones, in S3's order, after a key marker (and the
/// marker key itself first when a version marker resumes within it).
struct VersionWalk<'a> {
    gateway: &'a Gateway,
    bucket: u64,
    prefix: &'a str,
    marker: Option<String>,
    first: Option<String>,
    /// The current keys (and their inodes) read ahead, and where to read on.
    current: VecDeque<(String, u64)>,
    cursor: Option<Cursor>,
    /// The keys with older versions, sorted, not yet given; read at the first step.
    older: Option<VecDeque<String>>,
}

impl<'a> VersionWalk<'a> {
    fn new(
        gateway: &'a Gateway,
        state: &BucketState,
        prefix: &'a str,
        marker: Option<String>,
        within_marker: bool,
    ) -> Self {
        let cursor = match &marker {
            Some(m) => Cursor::after_marker(m.as_bytes(), prefix.as_bytes(), None),
            None => Cursor::default(),
        };
        Self {
            gateway,
            bucket: state.ino,
            prefix,
            first: marker.clone().filter(|_| within_marker),
            marker,
            current: VecDeque::new(),
            cursor: Some(cursor),
            older: None,
        }
    }

    /// The next key, and its current version's inode when the walk found one.
    async fn next(&mut self) -> S3Result<Option<(String, Option<u64>)>> {
        if let Some(first) = self.first.take() {
            return Ok(Some((first, None)));
        }
        if self.older.is_none() {
            let keys = self.gateway.ns.versioned_keys(self.bucket).await?;
            self.older = Some(
                keys.into_iter()
                    .filter(|k| k.starts_with(self.prefix))
                    .filter(|k| self.marker.as_ref().is_none_or(|m| k > m))
                    .collect(),
            );
        }
        if self.current.is_empty()
            && let Some(after) = self.cursor.take()
        {
            let query = Query {
                prefix: self.prefix.as_bytes(),
                delimiter: None,
                after,
                max: MAX_KEYS,
            };
            let page = list(&self.gateway.ns, self.bucket, &query).await?;
            self.current = page
                .keys
                .into_iter()
                .filter_map(|l| Some((String::from_utf8(l.key).ok()?, l.ino)))
                .collect();
            self.cursor = page.next;
        }
        let older = self.older.get_or_insert_with(VecDeque::new);
        let live = |c: Option<(String, u64)>| c.map(|(k, ino)| (k, Some(ino)));
        Ok(match (self.current.front(), older.front()) {
            (None, None) => None,
            (Some(_), None) => live(self.current.pop_front()),
            (None, Some(_)) => older.pop_front().map(|k| (k, None)),
            (Some((a, _)), Some(b)) if a < b => live(self.current.pop_front()),
            (Some((a, _)), Some(b)) if a > b => older.pop_front().map(|k| (k, None)),
            _ => {
                older.pop_front();
                live(self.current.pop_front())
            }
        })
    }
}
