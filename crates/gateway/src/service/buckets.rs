//! Bucket operations: creating, deleting and finding buckets, and listing them and their
//! keys (v1 and v2).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{DEFAULT_OWNER, Gateway, grant_headers, marker_cursor, ok, who};
use crate::acl::{Acl, GrantHeaders, owner_of};
use crate::bucket::{ListRequest, Listing, MAX_KEYS, wants_url};
use crate::bucket_config::BucketState;
use crate::list::Cursor;

impl Gateway {
    pub(super) async fn serve_create_bucket(
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

    pub(super) async fn serve_delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        self.ns.delete_bucket(&req.input.bucket).await?;
        ok(DeleteBucketOutput::default())
    }

    pub(super) async fn serve_head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.ns.bucket(&req.input.bucket).await?;
        ok(HeadBucketOutput {
            bucket_region: Some(self.region.clone()),
            ..HeadBucketOutput::default()
        })
    }

    pub(super) async fn serve_get_bucket_location(
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

    pub(super) async fn serve_list_buckets(
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

    pub(super) async fn serve_list_objects(
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

    pub(super) async fn serve_list_objects_v2(
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
