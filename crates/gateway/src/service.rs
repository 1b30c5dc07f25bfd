//! The S3 operations, each mapped onto the namespace. Operations not here answer
//! NotImplemented (501) with S3's XML error, the `s3s` default.

use s3s::dto::*;
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result, s3_error};

use crate::auth::Credentials;
use crate::bucket::{ListRequest, Listing, MAX_KEYS, wants_url};
use crate::list::Cursor;
use crate::namespace::Namespace;
use crate::object::{
    ALGORITHMS, Object, Precondition, PutMeta, etag_header, key_path, preconditions, timestamp,
};
use crate::record::Record;

/// The S3 service over one volume.
#[derive(Debug, Clone)]
pub struct Gateway {
    ns: Namespace,
    credentials: Credentials,
    region: String,
}

impl Gateway {
    /// A gateway over `ns`, for `credentials`, in `region`.
    pub fn new(ns: Namespace, credentials: Credentials, region: String) -> Self {
        Self {
            ns,
            credentials,
            region,
        }
    }

    /// The namespace it serves.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }
}

fn owner() -> Owner {
    Owner {
        display_name: Some("datenlord".into()),
        id: Some("datenlord".into()),
    }
}

fn ok<T>(output: T) -> S3Result<S3Response<T>> {
    Ok(S3Response::new(output))
}

/// The content headers and user metadata of a PUT or a copy with REPLACE.
fn record_of(
    content_type: Option<String>,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<&Timestamp>,
    metadata: Option<Metadata>,
) -> S3Result<Record> {
    let expires = match expires {
        Some(t) => {
            let mut out = Vec::new();
            t.format(TimestampFormat::HttpDate, &mut out)
                .map_err(|_| s3_error!(InvalidArgument, "Expires is not a valid date"))?;
            Some(String::from_utf8_lossy(&out).into_owned())
        }
        None => None,
    };
    let user: std::collections::BTreeMap<String, String> =
        metadata.unwrap_or_default().into_iter().collect();
    let size: usize = user.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > 2048 {
        return Err(s3_error!(
            MetadataTooLarge,
            "user metadata is {size} bytes; S3 allows at most 2 KB"
        ));
    }
    Ok(Record {
        content_type,
        cache_control,
        content_disposition,
        content_encoding,
        content_language,
        expires,
        user,
        ..Record::default()
    })
}

fn expires_of(record: &Record) -> Option<Timestamp> {
    record
        .expires
        .as_deref()
        .and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s).ok())
}

fn metadata_of(record: &Record) -> Option<Metadata> {
    (!record.user.is_empty()).then(|| record.user.clone().into_iter().collect())
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

/// Which checksum algorithms a PUT asks for: headers sent, `x-amz-trailer` announced, or
/// `x-amz-sdk-checksum-algorithm` named.
fn algorithms(headers: &hyper::HeaderMap, sent: &Checksum) -> [bool; 5] {
    let named = |header: &str| {
        headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let trailer = named("x-amz-trailer");
    let sdk = named("x-amz-sdk-checksum-algorithm");
    let present = [
        sent.checksum_crc32.is_some(),
        sent.checksum_crc32c.is_some(),
        sent.checksum_sha1.is_some(),
        sent.checksum_sha256.is_some(),
        sent.checksum_crc64nvme.is_some(),
    ];
    let mut out = [false; 5];
    for (i, name) in ALGORITHMS.iter().enumerate() {
        let header = format!("x-amz-checksum-{name}");
        out[i] = present[i] || trailer.split(',').any(|t| t.trim() == header) || sdk == *name;
    }
    out
}

impl Gateway {
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
        let user = req.credentials.as_ref().map(|c| c.access_key.clone());
        let prefix = req.input.prefix.unwrap_or_default();
        let buckets = self
            .ns
            .buckets()
            .await?
            .into_iter()
            .filter(|b| b.name.starts_with(&prefix))
            .filter(|b| {
                user.as_deref()
                    .is_none_or(|u| self.credentials.may_use(u, &b.name))
            })
            .map(|b| Bucket {
                name: Some(b.name),
                creation_date: Some(b.created),
                bucket_region: Some(self.region.clone()),
            })
            .collect();
        ok(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner()),
            ..ListBucketsOutput::default()
        })
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let input = req.input;
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
        self.ns.create_bucket(&input.bucket).await?;
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
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = match &input.marker {
            Some(marker) => Cursor::after_marker(
                marker.as_bytes(),
                prefix.as_bytes(),
                input.delimiter.as_deref().map(str::as_bytes),
            ),
            None => Cursor::default(),
        };
        let request = self.list_request(
            bucket,
            input.prefix.clone(),
            input.delimiter.clone(),
            after,
            input.max_keys,
            input.encoding_type.as_ref(),
        )?;
        let Listing {
            contents,
            prefixes,
            next,
            next_marker,
        } = self.ns.list(&request).await?;
        let truncated = next.is_some();
        ok(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            marker: Some(input.marker.unwrap_or_default()),
            max_keys: Some(request.max.min(MAX_KEYS) as i32),
            is_truncated: Some(truncated),
            contents: Some(contents),
            common_prefixes: Some(prefixes),
            delimiter: input.delimiter,
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
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = match (&input.continuation_token, &input.start_after) {
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
            for object in &mut listing.contents {
                object.owner = Some(owner());
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
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            start_after: input.start_after,
            ..ListObjectsV2Output::default()
        })
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let object = self.ns.object(bucket, &key).await?;
        let etag = self.ns.etag(&object).await?;
        check(
            &object,
            &etag,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
        )?;
        let size = if key.directory { 0 } else { object.attr.size };
        let (length, range) = match &input.range {
            None => (size, None),
            Some(range) => {
                let r = range.check(size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                (r.end - r.start, Some(content_range(&r, size)))
            }
        };
        let record = &object.record;
        ok(HeadObjectOutput {
            accept_ranges: Some("bytes".into()),
            content_length: Some(length as i64),
            content_range: range,
            content_type: Some(
                input
                    .response_content_type
                    .or_else(|| record.content_type.clone())
                    .unwrap_or_else(|| "binary/octet-stream".into()),
            ),
            cache_control: input
                .response_cache_control
                .or_else(|| record.cache_control.clone()),
            content_disposition: input
                .response_content_disposition
                .or_else(|| record.content_disposition.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| record.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or_else(|| record.content_language.clone()),
            expires: input.response_expires.or_else(|| expires_of(record)),
            e_tag: Some(etag_header(&etag)),
            last_modified: Some(timestamp(object.attr.mtime)),
            metadata: metadata_of(record),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..HeadObjectOutput::default()
        })
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let object = self.ns.object(bucket, &key).await?;
        let etag = self.ns.etag(&object).await?;
        check(
            &object,
            &etag,
            input.if_match.as_ref(),
            input.if_unmodified_since.as_ref(),
            input.if_none_match.as_ref(),
            input.if_modified_since.as_ref(),
        )?;
        if input.part_number.is_some_and(|n| n != 1) {
            return Err(s3_error!(InvalidPart, "the object has one part"));
        }
        let size = if key.directory { 0 } else { object.attr.size };
        let (start, end, range) = match &input.range {
            None => (0, size, None),
            Some(range) => {
                let r = range.check(size).map_err(|_| {
                    s3_error!(InvalidRange, "The requested range is not satisfiable")
                })?;
                (r.start, r.end, Some(content_range(&r, size)))
            }
        };
        let body = self.ns.read_body(&object, start, end).await?;
        let record = &object.record;
        ok(GetObjectOutput {
            accept_ranges: Some("bytes".into()),
            body: Some(StreamingBlob::wrap(body)),
            content_length: Some((end - start) as i64),
            content_range: range,
            content_type: Some(
                input
                    .response_content_type
                    .or_else(|| record.content_type.clone())
                    .unwrap_or_else(|| "binary/octet-stream".into()),
            ),
            cache_control: input
                .response_cache_control
                .or_else(|| record.cache_control.clone()),
            content_disposition: input
                .response_content_disposition
                .or_else(|| record.content_disposition.clone()),
            content_encoding: input
                .response_content_encoding
                .or_else(|| record.content_encoding.clone()),
            content_language: input
                .response_content_language
                .or_else(|| record.content_language.clone()),
            expires: input.response_expires.or_else(|| expires_of(record)),
            e_tag: Some(etag_header(&etag)),
            last_modified: Some(timestamp(object.attr.mtime)),
            metadata: metadata_of(record),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..GetObjectOutput::default()
        })
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let algorithms = {
            let i = &req.input;
            let sent = Checksum {
                checksum_crc32: i.checksum_crc32.clone(),
                checksum_crc32c: i.checksum_crc32c.clone(),
                checksum_sha1: i.checksum_sha1.clone(),
                checksum_sha256: i.checksum_sha256.clone(),
                checksum_crc64nvme: i.checksum_crc64nvme.clone(),
                ..Checksum::default()
            };
            (algorithms(&req.headers, &sent), sent)
        };
        let trailers = req.trailing_headers.clone();
        let input = req.input;
        if input
            .content_length
            .is_some_and(|n| n > crate::object::MAX_PUT as i64)
        {
            return Err(s3_error!(
                EntityTooLarge,
                "a single PUT holds at most 5 GiB; use a multipart upload"
            ));
        }
        let bucket = self.ns.bucket(&input.bucket).await?;
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
        let record = record_of(
            input.content_type,
            input.cache_control,
            input.content_disposition,
            input.content_encoding,
            input.content_language,
            input.expires.as_ref(),
            input.metadata,
        )?;
        let meta = PutMeta {
            record,
            content_md5: input.content_md5,
            checksums: algorithms.1,
            trailers,
            algorithms: algorithms.0,
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
            ..PutObjectOutput::default()
        })
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        if let Some(condition) = &input.if_match {
            let object = self.ns.object(bucket, &key).await?;
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
        self.ns.delete(bucket, &key).await?;
        let mut response = S3Response::new(DeleteObjectOutput::default());
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
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
            let result = match key_path(&id.key) {
                Ok(key) => self.ns.delete(bucket, &key).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(()) if quiet => {}
                Ok(()) => deleted.push(DeletedObject {
                    key: Some(id.key),
                    ..DeletedObject::default()
                }),
                Err(err) => errors.push(Error {
                    code: Some(err.code().as_str().to_string()),
                    key: Some(id.key),
                    message: err.message().map(str::to_string),
                    version_id: None,
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
        let input = req.input;
        let (src_bucket, src_key) = match &input.copy_source {
            CopySource::Bucket {
                bucket,
                key,
                version_id: None,
            } => (bucket.to_string(), key.to_string()),
            CopySource::Bucket { .. } => {
                return Err(s3_error!(
                    NoSuchVersion,
                    "versioning is not enabled on this gateway's buckets"
                ));
            }
            _ => return Err(s3_error!(NotImplemented, "copies from access points")),
        };
        if let Some(credentials) = &req.credentials
            && !self
                .credentials
                .may_use(&credentials.access_key, &src_bucket)
        {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let from_bucket = self.ns.bucket(&src_bucket).await?;
        let from_key = key_path(&src_key)?;
        let source = self.ns.object(from_bucket, &from_key).await?;
        let etag = self.ns.etag(&source).await?;
        match check(
            &source,
            &etag,
            input.copy_source_if_match.as_ref(),
            input.copy_source_if_unmodified_since.as_ref(),
            input.copy_source_if_none_match.as_ref(),
            input.copy_source_if_modified_since.as_ref(),
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
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let same = src_bucket == input.bucket && src_key == input.key;
        if same && !replace {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself \
                 without changing the object's metadata, storage class, website redirect \
                 location or encryption attributes."
            ));
        }
        let record = if replace {
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
                ..source.record.clone()
            }
        };
        let (etag, attr) = self.ns.copy(&source, bucket, &key, record).await?;
        ok(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag_header(&etag)),
                last_modified: Some(timestamp(attr.mtime)),
                ..CopyObjectResult::default()
            }),
            ..CopyObjectOutput::default()
        })
    }
}

fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{}", range.start, range.end - 1, size)
}
