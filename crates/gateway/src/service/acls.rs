//! ACL operations, and the ACLs of what requests create.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};

use super::{DEFAULT_OWNER, Gateway, ok};
use std::collections::HashMap;

use crate::access::{AsBucketOwner, Peer, check_as_bucket_owner, context, object_acl};
use crate::acl::{Acl, GrantHeaders};
use crate::bucket_config::BucketState;
use crate::object::{Object, key_path};

/// The access key of a request; `None`: anonymous.
pub(super) fn who<T>(req: &S3Request<T>) -> Option<&str> {
    req.credentials.as_ref().map(|c| c.access_key.as_str())
}

/// Who asks, and the condition keys of the request, for access checks an operation makes
/// itself (the source of a copy, each key of a DeleteObjects).
pub(super) struct Asker {
    pub who: Option<String>,
    pub context: HashMap<String, Vec<String>>,
}

pub(super) fn asker<T>(req: &S3Request<T>) -> Asker {
    let who = who(req);
    Asker {
        who: who.map(str::to_owned),
        context: context(
            who,
            &req.headers,
            &req.uri,
            req.extensions.get::<Peer>().copied(),
        ),
    }
}

/// The owner of a bucket as requester `who` sees it: a bucket without one (made through a
/// mount) belongs to every user who may use it.
fn bucket_owner<'a>(state: &'a BucketState, who: Option<&'a str>) -> &'a str {
    match &state.config.acl {
        Some(acl) => &acl.owner,
        None => who.unwrap_or(DEFAULT_OWNER),
    }
}

/// The grant headers of a request, by field; for an object, `x-amz-grant-write` from its
/// `headers` (s3s keeps no field for it there).
macro_rules! grant_headers {
    ($input:expr) => {
        GrantHeaders {
            full_control: $input.grant_full_control.as_deref(),
            read: $input.grant_read.as_deref(),
            read_acp: $input.grant_read_acp.as_deref(),
            write: None,
            write_acp: $input.grant_write_acp.as_deref(),
        }
    };
    ($input:expr, $headers:expr) => {
        GrantHeaders {
            write: $headers
                .get("x-amz-grant-write")
                .and_then(|v| v.to_str().ok()),
            ..grant_headers!($input)
        }
    };
}
pub(super) use grant_headers;

impl Gateway {
    fn known(&self) -> impl Fn(&str) -> bool + '_ {
        |id| self.credentials.has_user(id)
    }

    /// The ACL an object created by `who` in `bucket` gets: `None` when it is the bucket
    /// owner's private one (what an object without an ACL has).
    pub(super) async fn new_object_acl(
        &self,
        who: Option<&str>,
        bucket: &str,
        canned: Option<&str>,
        headers: GrantHeaders<'_>,
    ) -> S3Result<Option<Acl>> {
        let state = self.ns.bucket_config(bucket).await?;
        let bucket_owner = bucket_owner(&state, who);
        let owner = who.unwrap_or(bucket_owner);
        let acl = Acl::requested(canned, headers, owner, bucket_owner, self.known())?
            .unwrap_or_else(|| Acl::private(owner));
        Ok((!acl.is_private_of(bucket_owner)).then_some(acl))
    }

    /// The ACL a new bucket of `who` gets.
    pub(super) fn new_bucket_acl(
        &self,
        who: &str,
        canned: Option<&str>,
        headers: GrantHeaders<'_>,
    ) -> S3Result<Acl> {
        Ok(Acl::requested(canned, headers, who, who, self.known())?
            .unwrap_or_else(|| Acl::private(who)))
    }

    pub(super) async fn serve_get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let state = self.ns.bucket_config(&req.input.bucket).await?;
        let acl = match &state.config.acl {
            Some(acl) => acl.clone(),
            None => Acl::private(bucket_owner(&state, who(&req))),
        };
        ok(GetBucketAclOutput {
            grants: Some(acl.grants()),
            owner: Some(acl.owner()),
        })
    }

    pub(super) async fn serve_put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let input = &req.input;
        let state = self.ns.bucket_config(&input.bucket).await?;
        let owner = bucket_owner(&state, who(&req)).to_string();
        let headers = GrantHeaders {
            write: input.grant_write.as_deref(),
            ..grant_headers!(input)
        };
        let acl = self.acl_of_put(
            input.acl.as_ref().map(BucketCannedACL::as_str),
            headers,
            input.access_control_policy.as_ref(),
            &owner,
            &owner,
        )?;
        let mut config = (*state.config).clone();
        config.acl = Some(acl);
        self.ns.set_bucket_config(&input.bucket, &config).await?;
        ok(PutBucketAclOutput::default())
    }

    pub(super) async fn serve_get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = &req.input;
        let (state, object) = self
            .acl_object(&req, &input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let acl = object_acl(&state, &object.record.acl);
        let acl = if state.config.acl.is_none() && object.record.acl.is_none() {
            Acl::private(bucket_owner(&state, who(&req)))
        } else {
            acl
        };
        ok(GetObjectAclOutput {
            grants: Some(acl.grants()),
            owner: Some(acl.owner()),
            ..GetObjectAclOutput::default()
        })
    }

    pub(super) async fn serve_put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let input = &req.input;
        let (state, object) = self
            .acl_object(&req, &input.bucket, &input.key, input.version_id.as_deref())
            .await?;
        let bucket_owner = bucket_owner(&state, who(&req)).to_string();
        let owner = object
            .record
            .acl
            .as_ref()
            .map_or(bucket_owner.clone(), |acl| acl.owner.clone());
        let headers = GrantHeaders {
            write: input.grant_write.as_deref(),
            ..grant_headers!(input)
        };
        let acl = self.acl_of_put(
            input.acl.as_ref().map(ObjectCannedACL::as_str),
            headers,
            input.access_control_policy.as_ref(),
            &owner,
            &bucket_owner,
        )?;
        let mut record = object.record.clone();
        record.acl = (!acl.is_private_of(&bucket_owner)).then_some(acl);
        self.ns.set_record(object.ino, &record).await?;
        ok(PutObjectAclOutput::default())
    }

    /// The bucket and the object (version) whose ACL a request reads or writes.
    async fn acl_object<T>(
        &self,
        req: &S3Request<T>,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<(BucketState, Object)> {
        let state = self.ns.bucket_config(bucket).await?;
        let (object, _) = self.find(&state, &key_path(key)?, version).await?;
        check_as_bucket_owner(
            req.extensions.get::<AsBucketOwner>(),
            who(req),
            object.record.acl.as_ref(),
        )?;
        Ok((state, object))
    }

    /// The ACL of a PutBucketAcl or PutObjectAcl: a canned name, grant headers or a body.
    fn acl_of_put(
        &self,
        canned: Option<&str>,
        headers: GrantHeaders<'_>,
        body: Option<&AccessControlPolicy>,
        owner: &str,
        bucket_owner: &str,
    ) -> S3Result<Acl> {
        match (
            Acl::requested(canned, headers, owner, bucket_owner, self.known())?,
            body,
        ) {
            (Some(_), Some(_)) => Err(s3_error!(
                UnexpectedContent,
                "This request does not support content with ACL headers"
            )),
            (Some(acl), None) => Ok(acl),
            (None, Some(body)) => Acl::from_policy(body, owner, self.known()),
            (None, None) => Err(s3_error!(
                MissingSecurityHeader,
                "Your request was missing a required header: x-amz-acl, x-amz-grant-* or an \
                 AccessControlPolicy body"
            )),
        }
    }
}
