//! The S3 operations, each mapped onto the namespace. Operations not here answer
//! NotImplemented (501) with S3's XML error, the `s3s` default.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

mod acls;
mod checksums;
mod present;
mod ranges;
mod settings;
mod uploads;
mod versions;

use acls::{Asker, asker, grant_headers, who};
use checksums::sent_checksums;
use present::{
    Presented, check_tags, metadata_of, parts_count, record_of, tag_count, tag_set, tags_of_header,
};
use ranges::{content_range, copy_source_range, marker_cursor, part_range};

use crate::access::{Access, AsBucketOwner, check_as_bucket_owner};
use crate::acl::{Acl, GrantHeaders, owner_of};
use crate::auth::Credentials;
use crate::bucket::{ListRequest, Listing, MAX_KEYS, wants_url};
use crate::bucket_config::BucketState;
use crate::front::FormFields;
use crate::list::Cursor;
use crate::namespace::Namespace;
use crate::object::{
    Object, Precondition, PutMeta, etag_header, key_path, preconditions, timestamp,
};
use crate::record::Record;

/// The S3 service over one volume.
#[derive(Debug, Clone)]
pub struct Gateway {
    ns: Namespace,
    credentials: Credentials,
    access: Access,
    region: String,
}

/// The owner shown for what has none and no requester to own it.
pub const DEFAULT_OWNER: &str = "datenlord";

impl Gateway {
    /// A gateway over `ns`, for `credentials`, in `region`.
    pub fn new(ns: Namespace, credentials: Credentials, region: String) -> Self {
        Self {
            access: Access::new(credentials.clone(), ns.clone()),
            ns,
            credentials,
            region,
        }
    }

    /// Who may do what, for the service's access check.
    pub fn access(&self) -> Access {
        self.access.clone()
    }

    /// Its users.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The namespace it serves.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }
}

fn ok<T>(output: T) -> S3Result<S3Response<T>> {
    Ok(S3Response::new(output))
}

fn not_modified() -> S3Error {
    S3Error::new(S3ErrorCode::NotModified)
}

/// Resolves a request's preconditions; 304 and 412 are errors to `s3s`.
fn check(
    object: &Object,
    etag: &str,
    if_match: Option<&ETagCondition>,
    if_unmodified_since: Option<&Timestamp>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
) -> S3Result<()> {
    match preconditions(
        etag,
        object.attr.mtime.sec,
        if_match,
        if_unmodified_since,
        if_none_match,
        if_modified_since,
    ) {
        Precondition::Pass => Ok(()),
        Precondition::NotModified => Err(not_modified()),
        Precondition::Failed => Err(s3_error!(
            PreconditionFailed,
            "At least one of the pre-conditions you specified did not hold"
        )),
    }
}

/// What a GET or HEAD asks for.
struct ReadRequest<'a> {
    bucket: &'a str,
    key: &'a str,
    if_match: Option<&'a ETagCondition>,
    if_unmodified_since: Option<&'a Timestamp>,
    if_none_match: Option<&'a ETagCondition>,
    if_modified_since: Option<&'a Timestamp>,
    part_number: Option<i32>,
    range: Option<&'a Range>,
    version_id: Option<&'a str>,
    who: Option<&'a str>,
    as_bucket_owner: Option<&'a AsBucketOwner>,
}

/// The object a GET or HEAD found, and the bytes it answers with.
struct Read {
    object: Object,
    version_id: Option<String>,
    etag: String,
    start: u64,
    end: u64,
    content_range: Option<String>,
}

impl Gateway {
    /// Finds the object of a GET or HEAD, checks its conditions, and resolves its part or range.
    async fn read(&self, r: ReadRequest<'_>) -> S3Result<Read> {
        let state = self.ns.bucket_config(r.bucket).await?;
        let key = key_path(r.key)?;
        let (object, version_id) = self.find(&state, &key, r.version_id).await?;
        check_as_bucket_owner(r.as_bucket_owner, r.who, object.record.acl.as_ref())?;
        let etag = self.ns.etag(&object).await?;
        check(
            &object,
            &etag,
            r.if_match,
            r.if_unmodified_since,
            r.if_none_match,
            r.if_modified_since,
        )?;
        let size = if key.directory { 0 } else { object.attr.size };
        let part = part_range(&object, r.part_number, size)?;
        let (start, end, content_range) = match r.range {
            None if r.part_number.is_some() => {
                (part.start, part.end, Some(content_range(&part, size)))
            }
            None => (0, size, None),
            Some(_) if r.part_number.is_some() => {
                return Err(s3_error!(
                    InvalidRequest,
                    "Cannot specify both Range header and partNumber query parameter"
                ));
            }
            Some(range) => {
                let r = range.check(size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                (r.start, r.end, Some(content_range(&r, size)))
            }
        };
        Ok(Read {
            object,
            version_id,
            etag,
            start,
            end,
            content_range,
        })
    }

    async fn source(
        &self,
        asker: &Asker,
        copy_source: &CopySource,
        if_match: Option<&ETagCondition>,
        if_unmodified_since: Option<&Timestamp>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
    ) -> S3Result<Source> {
        let (bucket, key, version) = match copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id,
            } => (
                bucket.to_string(),
                key.to_string(),
                version_id.as_deref().map(str::to_string),
            ),
            _ => return Err(s3_error!(NotImplemented, "copies from access points")),
        };
        if !self
            .access
            .may_read(asker.who.as_deref(), &bucket, &key, asker.context.clone())
            .await?
        {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let from = self.ns.bucket_config(&bucket).await?;
        let from_key = key_path(&key)?;
        let (object, version_id) = self.find(&from, &from_key, version.as_deref()).await?;
        let etag = self.ns.etag(&object).await?;
        match check(
            &object,
            &etag,
            if_match,
            if_unmodified_since,
            if_none_match,
            if_modified_since,
        ) {
            // A copy answers 412 for every failed condition.
            Err(err) if *err.code() == S3ErrorCode::NotModified => {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
            other => other?,
        }
        Ok(Source {
            object,
            version_id,
            bucket,
            key,
        })
    }

    fn list_request(
        &self,
        bucket: u64,
        prefix: Option<String>,
        delimiter: Option<String>,
        after: Cursor,
        max_keys: Option<i32>,
        encoding: Option<&EncodingType>,
    ) -> S3Result<ListRequest> {
        let max = match max_keys {
            None => MAX_KEYS,
            Some(n) if n < 0 => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-keys must be a non-negative integer"
                ));
            }
            Some(n) => n as usize,
        };
        Ok(ListRequest {
            bucket,
            prefix: prefix.unwrap_or_default(),
            delimiter: delimiter.filter(|d| !d.is_empty()),
            after,
            max,
            url_encoded: wants_url(encoding),
        })
    }
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let user = who(&req);
        let input = &req.input;
        let prefix = input.prefix.as_deref().unwrap_or_default();
        let max = match input.max_buckets {
            Some(n) if !(1..=10_000).contains(&n) => {
                return Err(s3_error!(
                    InvalidArgument,
                    "max-buckets is between 1 and 10000"
                ));
            }
            Some(n) => n as usize,
            None => usize::MAX,
        };
        // The token is the last bucket name of the page before (names need no escaping).
        let after = input
            .continuation_token
            .as_deref()
            .filter(|t| !t.is_empty());
        let mut buckets = Vec::new();
        let mut more = None;
        for b in self.ns.buckets().await? {
            if !b.name.starts_with(prefix)
                || after.is_some_and(|a| b.name.as_str() <= a)
                || user.is_some_and(|u| !self.credentials.may_use(u, &b.name))
            {
                continue;
            }

            // S3 lists the requester's own buckets.
            let owned = self
                .ns
                .bucket_state(&b.name)
                .await?
                .is_some_and(|state| state.config.owned_by(user));
            if owned {
                if buckets.len() == max {
                    more = buckets.last().and_then(|b: &Bucket| b.name.clone());
                    break;
                }
                buckets.push(Bucket {
                    name: Some(b.name),
                    creation_date: Some(b.created),
                    bucket_region: Some(self.region.clone()),
                });
            }
        }
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner_of(user.unwrap_or(DEFAULT_OWNER))),
            continuation_token: more,
            prefix: input.prefix.clone(),
        })
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let input = &req.input;
        if let Some(location) = input
            .create_bucket_configuration
            .as_ref()
            .and_then(|c| c.location_constraint.as_ref())
            && location.as_str() != self.region
        {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "this gateway serves region {}; the location constraint was {}",
                self.region,
                location.as_str()
            ));
        }
        let Some(creator) = who(&req) else {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        };
        let headers = GrantHeaders {
            write: input.grant_write.as_deref(),
            ..grant_headers!(input)
        };
        let acl = self.new_bucket_acl(
            creator,
            input.acl.as_ref().map(BucketCannedACL::as_str),
            headers,
        )?;
        if let Some(state) = self.ns.bucket_state(&input.bucket).await? {
            if !state.config.owned_by(Some(creator)) {
                return Err(s3_error!(BucketAlreadyExists));
            }
            // us-east-1 answers its owner's repeated CreateBucket with success, unless it asks
            // for another ACL; other regions say BucketAlreadyOwnedByYou.
            if self.region != "us-east-1" {
                return Err(s3_error!(BucketAlreadyOwnedByYou));
            }
            let current = state
                .config
                .acl
                .clone()
                .unwrap_or_else(|| Acl::private(creator));
            if !current.equivalent(&acl) {
                return Err(s3_error!(
                    BucketAlreadyExists,
                    "the bucket exists with another ACL; PutBucketAcl changes it"
                ));
            }
            return ok(CreateBucketOutput {
                location: Some(format!("/{}", input.bucket)),
            });
        }
        self.ns.create_bucket(&input.bucket, acl).await?;
        ok(CreateBucketOutput {
            location: Some(format!("/{}", input.bucket)),
        })
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.ns.delete_bucket(&req.input.bucket).await?;
        ok(DeleteBucketOutput::default())
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.ns.bucket(&req.input.bucket).await?;
        ok(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..HeadBucketOutput::default()
        })
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.ns.bucket(&req.input.bucket).await?;
        // us-east-1 is S3's empty LocationConstraint.
        let location = (self.region != "us-east-1")
            .then(|| BucketLocationConstraint::from(self.region.clone()));
        ok(GetBucketLocationOutput {
            location_constraint: location,
        })
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let requester = who(&req).map(str::to_owned);
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let bucket = state.ino;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = marker_cursor(input.marker.as_deref(), &prefix, input.delimiter.as_deref());
        let request = self.list_request(
            bucket,
            input.prefix.clone(),
            input.delimiter.clone(),
            after,
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        let Listing {
            mut contents,
            prefixes,
            next,
            next_marker,
        } = self.ns.list(&request).await?;
        // v1 always names each object's owner.
        with_owners(&mut contents, &state, requester.as_deref());
        let truncated = next.is_some();
        ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            marker: Some(input.marker.unwrap_or_default()),
            max_keys: Some(request.max.min(MAX_KEYS) as i32),
            is_truncated: Some(truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: input.delimiter.filter(|d| !d.is_empty()),
            // S3 gives NextMarker only with a delimiter; clients resume from the last key.
            next_marker: request.delimiter.as_ref().and(next_marker),
            encoding_type: input.encoding_type,
            ..ListObjectsOutput::default()
        })
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let requester = who(&req).map(str::to_owned);
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let bucket = state.ino;
        let prefix = input.prefix.clone().unwrap_or_default();
        let token = input.continuation_token.as_ref().filter(|t| !t.is_empty());
        let after = match (token, &input.start_after) {
            (Some(token), _) => Cursor::from_token(token).ok_or_else(|| {
                s3_error!(
                    InvalidArgument,
                    "The continuation token provided is incorrect"
                )
            })?,
            (None, Some(start)) => Cursor {
                key: start.as_bytes().to_vec(),
                past_prefix: false,
            },
            (None, None) => Cursor::default(),
        };
        let request = self.list_request(
            bucket,
            input.prefix.clone(),
            input.delimiter.clone(),
            after,
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        let mut listing = self.ns.list(&request).await?;
        if input.fetch_owner == Some(true) {
            with_owners(&mut listing.contents, &state, requester.as_deref());
        } else {
            for object in &mut listing.contents {
                object.owner = None;
            }
        }
        let count = listing.contents.len() + listing.prefixes.len();
        ok(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(prefix),
            max_keys: Some(request.max.min(MAX_KEYS) as i32),
            key_count: Some(count as i32),
            continuation_token: input.continuation_token,
            is_truncated: Some(listing.next.is_some()),
            next_continuation_token: listing.next.as_ref().map(Cursor::to_token),
            contents: Some(listing.contents),
            common_prefixes: Some(listing.prefixes),
            delimiter: input.delimiter.filter(|d| !d.is_empty()),
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..ListObjectsV2Output::default()
        })
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let requester = who(&req).map(str::to_owned);
        let granted = req.extensions.get::<AsBucketOwner>().copied();
        let i = req.input;
        let read = self
            .read(ReadRequest {
                bucket: &i.bucket,
                key: &i.key,
                if_match: i.if_match.as_ref(),
                if_unmodified_since: i.if_unmodified_since.as_ref(),
                if_none_match: i.if_none_match.as_ref(),
                if_modified_since: i.if_modified_since.as_ref(),
                part_number: i.part_number,
                range: i.range.as_ref(),
                version_id: i.version_id.as_deref(),
                who: requester.as_deref(),
                as_bucket_owner: granted.as_ref(),
            })
            .await?;
        let h = Presented::new(
            &read.object.record,
            [
                i.response_content_type,
                i.response_cache_control,
                i.response_content_disposition,
                i.response_content_encoding,
                i.response_content_language,
            ],
            i.response_expires,
        );
        ok(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some((read.end - read.start) as i64),
            content_range: read.content_range,
            content_type: Some(h.content_type),
            cache_control: h.cache_control,
            content_disposition: h.content_disposition,
            content_encoding: h.content_encoding,
            content_language: h.content_language,
            expires: h.expires,
            e_tag: Some(etag_header(&read.etag)),
            last_modified: Some(timestamp(read.object.attr.mtime)),
            metadata: metadata_of(&read.object.record),
            parts_count: parts_count(&read.object.record, i.part_number),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            version_id: read.version_id,
            ..HeadObjectOutput::default()
        })
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let requester = who(&req).map(str::to_owned);
        let granted = req.extensions.get::<AsBucketOwner>().copied();
        let i = req.input;
        let read = self
            .read(ReadRequest {
                bucket: &i.bucket,
                key: &i.key,
                if_match: i.if_match.as_ref(),
                if_unmodified_since: i.if_unmodified_since.as_ref(),
                if_none_match: i.if_none_match.as_ref(),
                if_modified_since: i.if_modified_since.as_ref(),
                part_number: i.part_number,
                range: i.range.as_ref(),
                version_id: i.version_id.as_deref(),
                who: requester.as_deref(),
                as_bucket_owner: granted.as_ref(),
            })
            .await?;
        let body = self
            .ns
            .read_body(&read.object, read.start, read.end)
            .await?;
        let h = Presented::new(
            &read.object.record,
            [
                i.response_content_type,
                i.response_cache_control,
                i.response_content_disposition,
                i.response_content_encoding,
                i.response_content_language,
            ],
            i.response_expires,
        );
        ok(GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some((read.end - read.start) as i64),
            content_range: read.content_range,
            content_type: Some(h.content_type),
            cache_control: h.cache_control,
            content_disposition: h.content_disposition,
            content_encoding: h.content_encoding,
            content_language: h.content_language,
            expires: h.expires,
            e_tag: Some(etag_header(&read.etag)),
            last_modified: Some(timestamp(read.object.attr.mtime)),
            metadata: metadata_of(&read.object.record),
            parts_count: parts_count(&read.object.record, i.part_number),
            tag_count: tag_count(&read.object.record),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            version_id: read.version_id,
            ..GetObjectOutput::default()
        })
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req.trailing_headers.clone();
        let requester = who(&req).map(str::to_owned);
        let input = req.input;
        let (checksums, algorithms) = sent_checksums(
            &req.headers,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        );
        if input
            .content_length
            .is_some_and(|n| n > crate::object::MAX_PUT as i64)
        {
            return Err(s3_error!(
                EntityTooLarge,
                "a single PUT holds at most 5 GiB; use a multipart upload"
            ));
        }
        let state = self.ns.bucket_config(&input.bucket).await?;
        let bucket = state.ino;
        let key = key_path(&input.key)?;
        if input.if_match.is_some() || input.if_none_match.is_some() {
            let existing = self.ns.object(bucket, &key).await.ok();
            let current = match &existing {
                Some(object) => Some(self.ns.etag(object).await?),
                None => None,
            };
            let holds = |c: &ETagCondition| match (c, &current) {
                (ETagCondition::Any, Some(_)) => true,
                (ETagCondition::ETag(tag), Some(etag)) => tag.value() == etag,
                (_, None) => false,
            };
            if input.if_none_match.as_ref().is_some_and(holds)
                || input.if_match.as_ref().is_some_and(|c| !holds(c))
            {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        let mut record = record_of(
            input.content_type,
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires.as_ref(),
            input.metadata,
        )?;
        record.tags = tags_of_header(input.tagging.as_deref())?;
        record.acl = self
            .new_object_acl(
                requester.as_deref(),
                &input.bucket,
                input.acl.as_ref().map(ObjectCannedACL::as_str),
                grant_headers!(input, req.headers),
            )
            .await?;
        let meta = PutMeta {
            record,
            content_md5: input.content_md5,
            checksums,
            trailers,
            algorithms,
            versioning: state.config.versioning,
        };
        let stored = self.ns.put(bucket, &key, input.body, meta).await?;
        ok(PutObjectOutput {
            e_tag: Some(etag_header(&stored.etag)),
            checksum_crc32: stored.checksums.checksum_crc32,
            checksum_crc32c: stored.checksums.checksum_crc32c,
            checksum_sha1: stored.checksums.checksum_sha1,
            checksum_sha256: stored.checksums.checksum_sha256,
            checksum_crc64nvme: stored.checksums.checksum_crc64nvme,
            size: Some(stored.size as i64),
            version_id: stored.version,
            ..PutObjectOutput::default()
        })
    }

    async fn post_object(
        &self,
        req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        // The form's signature and policy were checked by `s3s`; what is left is a PUT.
        let fields = req
            .extensions
            .get::<FormFields>()
            .cloned()
            .unwrap_or_default();
        let tagging = match (&fields.tagging, &req.input.tagging) {
            (Some(xml), None) => Some(form_tagging(xml)?),
            _ => None,
        };
        let req = req.map_input(|post| PutObjectInput {
            acl: post.acl.or(fields.acl.map(ObjectCannedACL::from)),
            body: post.body,
            bucket: post.bucket,
            cache_control: post.cache_control,
            checksum_crc32: post.checksum_crc32,
            checksum_crc32c: post.checksum_crc32c,
            checksum_crc64nvme: post.checksum_crc64nvme,
            checksum_sha1: post.checksum_sha1,
            checksum_sha256: post.checksum_sha256,
            content_disposition: post.content_disposition,
            content_encoding: post.content_encoding,
            content_language: post.content_language,
            content_length: post.content_length,
            content_md5: post.content_md5,
            content_type: post.content_type,
            expires: post.expires,
            grant_full_control: post.grant_full_control,
            grant_read: post.grant_read,
            grant_read_acp: post.grant_read_acp,
            grant_write_acp: post.grant_write_acp,
            key: post.key,
            metadata: post.metadata,
            tagging: post.tagging.or(tagging),
            ..PutObjectInput::default()
        });
        let put = self.put_object(req).await?;
        Ok(put.map_output(|put| PostObjectOutput {
            e_tag: put.e_tag,
            checksum_crc32: put.checksum_crc32,
            checksum_crc32c: put.checksum_crc32c,
            checksum_crc64nvme: put.checksum_crc64nvme,
            checksum_sha1: put.checksum_sha1,
            checksum_sha256: put.checksum_sha256,
            size: put.size,
            version_id: put.version_id,
            ..PostObjectOutput::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let requester = who(&req).map(str::to_owned);
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        if let Some(condition) = &input.if_match {
            let object = self.ns.object(state.ino, &key).await?;
            let etag = self.ns.etag(&object).await?;
            let holds = match condition {
                ETagCondition::Any => true,
                ETagCondition::ETag(tag) => tag.value() == etag,
            };
            if !holds {
                return Err(s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        let removal = self
            .remove(
                &state,
                &key,
                input.version_id.as_deref(),
                requester.as_deref(),
            )
            .await?;
        let mut response = S3Response::new(DeleteObjectOutput {
            delete_marker: removal.delete_marker.then_some(true),
            version_id: removal.version_id,
            ..DeleteObjectOutput::default()
        });
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let asker = asker(&req);
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(
                MalformedXML,
                "a DeleteObjects request names at most 1000 keys"
            ));
        }
        let quiet = input.delete.quiet == Some(true);
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for id in input.delete.objects {
            // The request's access was checked for the bucket; a policy may deny some keys.
            let denied = state.policy.is_some()
                && !self
                    .access
                    .may_delete(
                        asker.who.as_deref(),
                        &input.bucket,
                        &id.key,
                        asker.context.clone(),
                    )
                    .await?;
            let result = match key_path(&id.key) {
                _ if denied => Err(s3_error!(AccessDenied, "Access Denied")),
                Ok(key) => {
                    self.remove(&state, &key, id.version_id.as_deref(), asker.who.as_deref())
                        .await
                }
                Err(err) => Err(err),
            };
            match result {
                Ok(_) if quiet => {}
                Ok(removal) => deleted.push(DeletedObject {
                    key: Some(id.key),
                    delete_marker: removal.delete_marker.then_some(true),
                    delete_marker_version_id: removal
                        .version_id
                        .clone()
                        .filter(|_| removal.delete_marker),
                    version_id: id.version_id,
                }),
                Err(err) => errors.push(Error {
                    code: Some(err.code().as_str().to_string()),
                    key: Some(id.key),
                    message: err.message().map(str::to_string),
                    version_id: id.version_id,
                }),
            }
        }
        ok(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: Some(errors),
            ..DeleteObjectsOutput::default()
        })
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let asker = asker(&req);
        let requester = asker.who.clone();
        let input = req.input;
        let source = self
            .source(
                &asker,
                &input.copy_source,
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
            )
            .await?;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let same = source.bucket == input.bucket && source.key == input.key;
        if same && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
            ));
        }
        let mut record = if replace {
            record_of(
                input.content_type,
                input.cache_control,
                input.content_disposition,
                input.content_encoding,
                input.content_language,
                input.expires.as_ref(),
                input.metadata,
            )?
        } else {
            Record {
                etag: None,
                dir: None,
                parts: Vec::new(),
                ..source.object.record.clone()
            }
        };
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == TaggingDirective::REPLACE);
        record.tags = if replace_tags {
            tags_of_header(input.tagging.as_deref())?
        } else {
            source.object.record.tags.clone()
        };
        // A copy is a new object: its ACL is the request's, never the source's.
        record.acl = self
            .new_object_acl(
                requester.as_deref(),
                &input.bucket,
                input.acl.as_ref().map(ObjectCannedACL::as_str),
                grant_headers!(input, req.headers),
            )
            .await?;
        let (etag, attr, version_id) = self
            .ns
            .copy(
                &source.object,
                state.ino,
                &key,
                record,
                state.config.versioning,
            )
            .await?;
        ok(CopyObjectOutput {
            copy_source_version_id: source.version_id,
            version_id,
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag_header(&etag)),
                last_modified: Some(timestamp(attr.mtime)),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        })
    }

    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        let pairs = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let mut record = object.record;
        record.tags = check_tags(pairs)?;
        self.ns.set_record(object.ino, &record).await?;
        ok(PutObjectTaggingOutput { version_id })
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        ok(GetObjectTaggingOutput {
            tag_set: tag_set(&object.record),
            version_id,
        })
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        if !object.record.tags.is_empty() {
            let mut record = object.record;
            record.tags.clear();
            self.ns.set_record(object.ino, &record).await?;
        }
        let mut response = S3Response::new(DeleteObjectTaggingOutput { version_id });
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (object, version_id) = self.find(&state, &key, input.version_id.as_deref()).await?;
        // One header, comma-separated, may arrive as one element.
        let wants = |name: &str| {
            input
                .object_attributes
                .iter()
                .flat_map(|a| a.as_str().split(','))
                .any(|a| a.trim() == name)
        };
        let etag = if wants(ObjectAttributes::ETAG) {
            Some(ETag::Strong(self.ns.etag(&object).await?))
        } else {
            None
        };
        let size = if key.directory { 0 } else { object.attr.size };
        let parts = (wants(ObjectAttributes::OBJECT_PARTS) && !object.record.parts.is_empty())
            .then(|| GetObjectAttributesParts {
                total_parts_count: Some(object.record.parts.len() as i32),
                ..GetObjectAttributesParts::default()
            });
        ok(GetObjectAttributesOutput {
            e_tag: etag,
            last_modified: Some(timestamp(object.attr.mtime)),
            object_size: wants(ObjectAttributes::OBJECT_SIZE).then_some(size as i64),
            storage_class: wants(ObjectAttributes::STORAGE_CLASS)
                .then(|| StorageClass::from_static(StorageClass::STANDARD)),
            object_parts: parts,
            version_id,
            ..GetObjectAttributesOutput::default()
        })
    }

    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        self.serve_get_bucket_acl(req).await
    }

    async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        self.serve_put_bucket_acl(req).await
    }

    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        self.serve_get_object_acl(req).await
    }

    async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        self.serve_put_object_acl(req).await
    }

    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        self.serve_get_bucket_cors(req).await
    }

    async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        self.serve_put_bucket_cors(req).await
    }

    async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.serve_delete_bucket_cors(req).await
    }

    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        self.serve_get_bucket_policy(req).await
    }

    async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        self.serve_put_bucket_policy(req).await
    }

    async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.serve_delete_bucket_policy(req).await
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.serve_get_bucket_versioning(req).await
    }

    async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        self.serve_put_bucket_versioning(req).await
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        self.serve_list_object_versions(req).await
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.serve_create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        self.serve_upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        self.serve_upload_part_copy(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        self.serve_complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.serve_abort_multipart_upload(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        self.serve_list_parts(req).await
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        self.serve_list_multipart_uploads(req).await
    }
}

/// A form's `Tagging` XML as an `x-amz-tagging` value.
fn form_tagging(xml: &str) -> S3Result<String> {
    use s3s::xml::Deserialize as _;
    let tagging = Tagging::deserialize(&mut s3s::xml::Deserializer::new(xml.as_bytes()))
        .map_err(|_| s3_error!(MalformedXML, "the form's tagging is not a Tagging document"))?;
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for tag in &tagging.tag_set {
        out.append_pair(
            tag.key.as_deref().unwrap_or_default(),
            tag.value.as_deref().unwrap_or_default(),
        );
    }
    Ok(out.finish())
}

/// Gives each listed object without an owner of its own the bucket's (the requester, for a
/// bucket without one).
fn with_owners(contents: &mut [s3s::dto::Object], state: &BucketState, requester: Option<&str>) {
    let bucket_owner = state
        .config
        .acl
        .as_ref()
        .map(|acl| acl.owner.as_str())
        .or(requester)
        .unwrap_or(DEFAULT_OWNER);
    for object in contents {
        if object.owner.is_none() {
            object.owner = Some(owner_of(bucket_owner));
        }
    }
}

/// The source object of a copy, checked against the key's bucket list and its conditions.
struct Source {
    object: Object,
    version_id: Option<String>,
    bucket: String,
    key: String,
}
