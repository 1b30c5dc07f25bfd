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

/// S3's limits on tags: at most 10, keys of 1-128 characters, values of at most 256, each key
/// once.
fn check_tags(
    pairs: Vec<(String, String)>,
) -> S3Result<std::collections::BTreeMap<String, String>> {
    if pairs.len() > 10 {
        return Err(s3_error!(
            InvalidTag,
            "Object tags cannot be greater than 10"
        ));
    }
    let mut tags = std::collections::BTreeMap::new();
    for (key, value) in pairs {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(s3_error!(
                InvalidTag,
                "The TagKey you have provided is invalid"
            ));
        }
        if value.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is invalid"
            ));
        }
        if tags.insert(key, value).is_some() {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
    }
    Ok(tags)
}

/// The tags of an `x-amz-tagging` header (URL-encoded `k=v&k2=v2`).
fn tags_of_header(header: Option<&str>) -> S3Result<std::collections::BTreeMap<String, String>> {
    match header {
        None => Ok(Default::default()),
        Some(text) => check_tags(
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
    }
}

fn tag_set(record: &Record) -> Vec<Tag> {
    record
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn tag_count(record: &Record) -> Option<i32> {
    (!record.tags.is_empty()).then_some(record.tags.len() as i32)
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
}

/// The object a GET or HEAD found, and the bytes it answers with.
struct Read {
    object: Object,
    etag: String,
    start: u64,
    end: u64,
    content_range: Option<String>,
}

/// The content headers of a GET or HEAD: the stored ones, or the `response-*` overrides.
struct Presented {
    content_type: String,
    cache_control: Option<String>,
    content_disposition: Option<String>,
    content_encoding: Option<String>,
    content_language: Option<String>,
    expires: Option<Timestamp>,
}

impl Presented {
    /// `overrides`: response-content-type, -cache-control, -content-disposition,
    /// -content-encoding, -content-language.
    fn new(record: &Record, overrides: [Option<String>; 5], expires: Option<Timestamp>) -> Self {
        let [content_type, cache_control, disposition, encoding, language] = overrides;
        Self {
            content_type: content_type
                .or_else(|| record.content_type.clone())
                .unwrap_or_else(|| "binary/octet-stream".into()),
            cache_control: cache_control.or_else(|| record.cache_control.clone()),
            content_disposition: disposition.or_else(|| record.content_disposition.clone()),
            content_encoding: encoding.or_else(|| record.content_encoding.clone()),
            content_language: language.or_else(|| record.content_language.clone()),
            expires: expires.or_else(|| expires_of(record)),
        }
    }
}

/// The checksums of a PUT or a part, as headers sent them, and the algorithms to compute.
fn sent_checksums(
    headers: &hyper::HeaderMap,
    crc32: Option<String>,
    crc32c: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    crc64nvme: Option<String>,
) -> (Checksum, [bool; 5]) {
    let sent = Checksum {
        checksum_crc32: crc32,
        checksum_crc32c: crc32c,
        checksum_sha1: sha1,
        checksum_sha256: sha256,
        checksum_crc64nvme: crc64nvme,
        ..Checksum::default()
    };
    let algorithms = algorithms(headers, &sent);
    (sent, algorithms)
}

impl Gateway {
    /// Finds the object of a GET or HEAD, checks its conditions, and resolves its part or range.
    async fn read(&self, r: ReadRequest<'_>) -> S3Result<Read> {
        let bucket = self.ns.bucket(r.bucket).await?;
        let key = key_path(r.key)?;
        let object = self.ns.object(bucket, &key).await?;
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
            etag,
            start,
            end,
            content_range,
        })
    }

    async fn source(
        &self,
        credentials: Option<&s3s::auth::Credentials>,
        copy_source: &CopySource,
        if_match: Option<&ETagCondition>,
        if_unmodified_since: Option<&Timestamp>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
    ) -> S3Result<Source> {
        let (bucket, key) = match copy_source {
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
        if let Some(credentials) = credentials
            && !self.credentials.may_use(&credentials.access_key, &bucket)
        {
            return Err(s3_error!(AccessDenied, "Access Denied"));
        }
        let from_bucket = self.ns.bucket(&bucket).await?;
        let from_key = key_path(&key)?;
        let object = self.ns.object(from_bucket, &from_key).await?;
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
            ..HeadObjectOutput::default()
        })
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
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
            ..GetObjectOutput::default()
        })
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let trailers = req.trailing_headers.clone();
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
        let meta = PutMeta {
            record,
            content_md5: input.content_md5,
            checksums,
            trailers,
            algorithms,
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
        let source = self
            .source(
                req.credentials.as_ref(),
                &input.copy_source,
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
            )
            .await?;
        let bucket = self.ns.bucket(&input.bucket).await?;
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
        let (etag, attr) = self.ns.copy(&source.object, bucket, &key, record).await?;
        ok(CopyObjectOutput {
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
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let object = self.ns.object(bucket, &key).await?;
        let pairs = input
            .tagging
            .tag_set
            .into_iter()
            .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
            .collect();
        let mut record = object.record;
        record.tags = check_tags(pairs)?;
        self.ns.set_record(object.ino, &record).await?;
        ok(PutObjectTaggingOutput::default())
    }

    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let object = self.ns.object(bucket, &key_path(&input.key)?).await?;
        ok(GetObjectTaggingOutput {
            tag_set: tag_set(&object.record),
            version_id: None,
        })
    }

    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let object = self.ns.object(bucket, &key_path(&input.key)?).await?;
        if !object.record.tags.is_empty() {
            let mut record = object.record;
            record.tags.clear();
            self.ns.set_record(object.ino, &record).await?;
        }
        let mut response = S3Response::new(DeleteObjectTaggingOutput::default());
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    async fn get_object_attributes(
        &self,
        req: S3Request<GetObjectAttributesInput>,
    ) -> S3Result<S3Response<GetObjectAttributesOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let object = self.ns.object(bucket, &key).await?;
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
            ..GetObjectAttributesOutput::default()
        })
    }

    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        self.ns.bucket(&req.input.bucket).await?;
        // Never enabled: S3 then answers without a Status.
        ok(GetBucketVersioningOutput::default())
    }

    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let after = match &input.key_marker {
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
        let listing = self.ns.list(&request).await?;
        // An unversioned bucket: each object is its one version, "null", the latest.
        let versions = listing
            .contents
            .into_iter()
            .map(|o| ObjectVersion {
                e_tag: o.e_tag,
                is_latest: Some(true),
                key: o.key,
                last_modified: o.last_modified,
                owner: Some(owner()),
                size: o.size,
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id: Some("null".into()),
                ..ObjectVersion::default()
            })
            .collect();
        let truncated = listing.next.is_some();
        ok(ListObjectVersionsOutput {
            name: Some(input.bucket),
            prefix: Some(prefix),
            key_marker: Some(input.key_marker.unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(request.max.min(MAX_KEYS) as i32),
            is_truncated: Some(truncated),
            next_key_marker: if truncated { listing.next_marker } else { None },
            next_version_id_marker: truncated.then(|| "null".into()),
            versions: Some(versions),
            common_prefixes: Some(listing.prefixes),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            ..ListObjectVersionsOutput::default()
        })
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        if key.directory {
            return Err(s3_error!(
                InvalidArgument,
                "a key ending in '/' names a directory, which holds no bytes"
            ));
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
        let id = self
            .ns
            .create_upload(&input.bucket, &input.key, record)
            .await?;
        ok(CreateMultipartUploadOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(id),
            ..CreateMultipartUploadOutput::default()
        })
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers.clone();
        let input = req.input;
        let (checksums, algorithms) = sent_checksums(
            &req.headers,
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        );
        crate::multipart::check_part_number(input.part_number)?;
        if input
            .content_length
            .is_some_and(|n| n > crate::multipart::MAX_PART as i64)
        {
            return Err(s3_error!(EntityTooLarge, "a part holds at most 5 GiB"));
        }
        self.ns.bucket(&input.bucket).await?;
        let (dir, _) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let meta = PutMeta {
            record: Record::default(),
            content_md5: input.content_md5,
            checksums,
            trailers,
            algorithms,
        };
        let stored = self
            .ns
            .upload_part(dir, input.part_number, input.body, meta)
            .await?;
        ok(UploadPartOutput {
            e_tag: Some(etag_header(&stored.etag)),
            checksum_crc32: stored.checksums.checksum_crc32,
            checksum_crc32c: stored.checksums.checksum_crc32c,
            checksum_sha1: stored.checksums.checksum_sha1,
            checksum_sha256: stored.checksums.checksum_sha256,
            checksum_crc64nvme: stored.checksums.checksum_crc64nvme,
            ..UploadPartOutput::default()
        })
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let input = req.input;
        crate::multipart::check_part_number(input.part_number)?;
        self.ns.bucket(&input.bucket).await?;
        let (dir, _) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let source = self
            .source(
                req.credentials.as_ref(),
                &input.copy_source,
                input.copy_source_if_match.as_ref(),
                input.copy_source_if_unmodified_since.as_ref(),
                input.copy_source_if_none_match.as_ref(),
                input.copy_source_if_modified_since.as_ref(),
            )
            .await?;
        let size = source.object.attr.size;
        let range = match &input.copy_source_range {
            Some(text) => copy_source_range(text, size)?,
            None => 0..size,
        };
        let (etag, modified) = self
            .ns
            .copy_part(dir, input.part_number, &source.object, range)
            .await?;
        ok(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(etag_header(&etag)),
                last_modified: Some(modified),
                ..CopyPartResult::default()
            }),
            ..UploadPartCopyOutput::default()
        })
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let input = req.input;
        let bucket = self.ns.bucket(&input.bucket).await?;
        let key = key_path(&input.key)?;
        let (dir, upload) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let mut chosen = Vec::new();
        for part in input
            .multipart_upload
            .and_then(|m| m.parts)
            .unwrap_or_default()
        {
            let (Some(number), Some(etag)) = (part.part_number, part.e_tag) else {
                return Err(s3_error!(
                    MalformedXML,
                    "each part names its PartNumber and ETag"
                ));
            };
            chosen.push((number, etag.value().to_string()));
        }
        let etag = self
            .ns
            .complete(&input.upload_id, dir, &upload, bucket, &key, &chosen)
            .await?;
        ok(CompleteMultipartUploadOutput {
            bucket: Some(input.bucket.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(etag_header(&etag)),
            location: Some(format!("/{}/{}", input.bucket, input.key)),
            ..CompleteMultipartUploadOutput::default()
        })
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        self.ns
            .abort(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let mut response = S3Response::new(AbortMultipartUploadOutput::default());
        response.status = Some(hyper::StatusCode::NO_CONTENT);
        Ok(response)
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        let (dir, _) = self
            .ns
            .upload(&input.upload_id, &input.bucket, &input.key)
            .await?;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.part_number_marker.unwrap_or(0);
        let all = self.ns.parts(dir).await?;
        let after: Vec<_> = all.into_iter().filter(|p| p.number > marker).collect();
        let truncated = after.len() > max;
        let page: Vec<Part> = after
            .iter()
            .take(max)
            .map(|p| Part {
                e_tag: Some(etag_header(&p.etag)),
                last_modified: Some(timestamp(p.object.attr.mtime)),
                part_number: Some(p.number),
                size: Some(p.size as i64),
                ..Part::default()
            })
            .collect();
        let next = page.last().and_then(|p| p.part_number);
        ok(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(input.upload_id),
            max_parts: Some(max as i32),
            part_number_marker: Some(marker),
            next_part_number_marker: if truncated { next } else { None },
            is_truncated: Some(truncated),
            parts: Some(page),
            owner: Some(owner()),
            initiator: Some(Initiator {
                display_name: Some("datenlord".into()),
                id: Some("datenlord".into()),
            }),
            storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
            ..ListPartsOutput::default()
        })
    }

    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.ns.bucket(&input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let key_marker = input.key_marker.clone().unwrap_or_default();
        let id_marker = input.upload_id_marker.clone();
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut next: Option<(String, String)> = None;
        for (id, upload) in self.ns.uploads(&input.bucket).await? {
            if !upload.key.starts_with(&prefix) {
                continue;
            }
            let after_marker = match &id_marker {
                Some(marker) if upload.key == key_marker => id > *marker,
                _ => upload.key > key_marker,
            };
            if !key_marker.is_empty() && !after_marker {
                continue;
            }
            let rolled = delimiter.as_ref().and_then(|d| {
                upload.key[prefix.len()..]
                    .find(d.as_str())
                    .map(|at| upload.key[..prefix.len() + at + d.len()].to_string())
            });
            if let Some(common) = &rolled
                && prefixes.last() == Some(common)
            {
                continue;
            }
            if uploads.len() + prefixes.len() == max {
                truncated = true;
                break;
            }
            next = Some((upload.key.clone(), id.clone()));
            match rolled {
                Some(common) => prefixes.push(common),
                None => uploads.push(MultipartUpload {
                    key: Some(upload.key),
                    upload_id: Some(id),
                    initiated: Some(timestamp(datenlord_meta::Timespec {
                        sec: upload.initiated,
                        nsec: 0,
                    })),
                    owner: Some(owner()),
                    initiator: Some(Initiator {
                        display_name: Some("datenlord".into()),
                        id: Some("datenlord".into()),
                    }),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..MultipartUpload::default()
                }),
            }
        }
        let (next_key, next_id) = match (truncated, next) {
            (true, Some((key, id))) => (Some(key), Some(id)),
            _ => (None, None),
        };
        ok(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            key_marker: input.key_marker,
            upload_id_marker: input.upload_id_marker,
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            uploads: Some(uploads),
            common_prefixes: Some(
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect(),
            ),
            prefix: input.prefix,
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            ..ListMultipartUploadsOutput::default()
        })
    }
}

/// Parses `x-amz-copy-source-range: bytes=FIRST-LAST` against a source of `size` bytes.
fn copy_source_range(text: &str, size: u64) -> S3Result<std::ops::Range<u64>> {
    let bad = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first              and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = text
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let first: u64 = first.parse().map_err(|_| bad())?;
    let last: u64 = last.parse().map_err(|_| bad())?;
    if first > last {
        return Err(bad());
    }
    if last >= size {
        return Err(s3_error!(
            InvalidRange,
            "The requested range is not satisfiable"
        ));
    }
    Ok(first..last + 1)
}

/// The source object of a copy, checked against the key's bucket list and its conditions.
struct Source {
    object: Object,
    bucket: String,
    key: String,
}

/// The bytes of part `number` of an object (a single-part object is its one part).
fn part_range(object: &Object, number: Option<i32>, size: u64) -> S3Result<std::ops::Range<u64>> {
    let Some(number) = number else {
        return Ok(0..size);
    };
    let parts = &object.record.parts;
    let count = parts.len().max(1);
    if number < 1 || number as usize > count {
        let mut err = S3Error::with_message(
            S3ErrorCode::Custom("InvalidPartNumber".into()),
            "The requested partnumber is not satisfiable",
        );
        err.set_status_code(hyper::StatusCode::RANGE_NOT_SATISFIABLE);
        return Err(err);
    }
    if parts.is_empty() {
        return Ok(0..size);
    }
    let start: u64 = parts[..number as usize - 1].iter().sum();
    Ok(start..start + parts[number as usize - 1])
}

/// PartsCount, which S3 sends when a part was asked for.
fn parts_count(record: &Record, number: Option<i32>) -> Option<i32> {
    number.map(|_| record.parts.len().max(1) as i32)
}

fn content_range(range: &std::ops::Range<u64>, size: u64) -> String {
    format!("bytes {}-{}/{}", range.start, range.end - 1, size)
}
