//! The S3 operations, each mapped onto the namespace. Operations not here answer
//! NotImplemented (501) with S3's XML error, the `s3s` default.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

mod acls;
mod buckets;
mod checksums;
mod post;
mod present;
mod ranges;
mod settings;
mod tagging;
mod uploads;
mod versions;

use acls::{Asker, asker, grant_headers, who};
use checksums::sent_checksums;
use present::{
    Presented, check_tags, metadata_of, parts_count, record_of, tag_count, tag_set, tags_of_header,
};
use ranges::{content_range, copy_source_range, marker_cursor, part_range};

use crate::access::{Access, AsBucketOwner, check_as_bucket_owner};
use crate::acl::GrantHeaders;
use crate::auth::Credentials;
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
}

#[async_trait::async_trait]
impl S3 for Gateway {
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.serve_list_buckets(req).await
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.serve_create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.serve_delete_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.serve_head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.serve_get_bucket_location(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        self.serve_list_objects(req).await
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        self.serve_list_objects_v2(req).await
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
        self.serve_post_object(req).await
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
        self.serve_put_object_tagging(req).await
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        self.serve_get_object_tagging(req).await
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        self.serve_delete_object_tagging(req).await
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        self.serve_get_object_attributes(req).await
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

/// The source object of a copy, checked against the key's bucket list and its conditions.
struct Source {
    object: Object,
    version_id: Option<String>,
    bucket: String,
    key: String,
}
