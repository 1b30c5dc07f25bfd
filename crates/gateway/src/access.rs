//! Whether a request may run, decided before its operation: the credentials' bucket lists
//! fence each key in, then S3's ownership rules apply. A bucket's owner may do everything in
//! it; anyone else (another key, or an anonymous request) needs the bucket's ACL for listing
//! (READ), writing objects (WRITE) and its ACL (READ_ACP, WRITE_ACP), and an object's ACL for
//! reading the object and its ACL. What only an owner may do (deleting the bucket, its
//! configuration) no grant allows.

use s3s::access::{S3Access, S3AccessContext};
use s3s::path::S3Path;
use s3s::{S3Error, S3Result, s3_error};

use crate::acl::{Acl, Permission};
use crate::auth::Credentials;
use crate::bucket_config::BucketState;
use crate::namespace::Namespace;
use crate::object::key_path;

/// What an operation needs of a requester who does not own the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A permission on the bucket.
    Bucket(Permission),
    /// A permission on the object.
    Object(Permission),
    /// To own the bucket.
    Owner,
}

/// What operation `op` (by `s3s`'s name) needs.
fn need(op: &str) -> Need {
    match op {
        "HeadBucket"
        | "ListObjects"
        | "ListObjectsV2"
        | "ListObjectVersions"
        | "ListMultipartUploads" => Need::Bucket(Permission::Read),
        "PutObject"
        | "PostObject"
        | "DeleteObject"
        | "DeleteObjects"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "AbortMultipartUpload"
        | "ListParts" => Need::Bucket(Permission::Write),
        "GetBucketAcl" => Need::Bucket(Permission::ReadAcp),
        "PutBucketAcl" => Need::Bucket(Permission::WriteAcp),
        "GetObject" | "HeadObject" | "GetObjectAttributes" | "GetObjectTagging" => {
            Need::Object(Permission::Read)
        }
        "GetObjectAcl" => Need::Object(Permission::ReadAcp),
        "PutObjectAcl" => Need::Object(Permission::WriteAcp),
        "PutObjectTagging" | "DeleteObjectTagging" => Need::Object(Permission::FullControl),
        _ => Need::Owner,
    }
}

fn denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The access rules of one gateway.
#[derive(Debug, Clone)]
pub struct Access {
    credentials: Credentials,
    ns: Namespace,
}

impl Access {
    /// The rules of `credentials` over `ns`.
    pub fn new(credentials: Credentials, ns: Namespace) -> Self {
        Self { credentials, ns }
    }

    /// The ACL of a bucket that has an owner.
    fn bucket_acl(state: &BucketState) -> Option<&Acl> {
        state.config.acl.as_ref()
    }

    /// Whether `who`, not the bucket's owner, may do what `need` says.
    async fn allows(
        &self,
        who: Option<&str>,
        state: &BucketState,
        key: Option<&str>,
        need: Need,
    ) -> S3Result<bool> {
        let bucket_allows = |p| Self::bucket_acl(state).is_some_and(|acl| acl.allows(who, p));
        Ok(match need {
            Need::Owner => false,
            Need::Bucket(p) => bucket_allows(p),
            Need::Object(p) => {
                let object = match key.map(key_path) {
                    Some(Ok(path)) => self.ns.object(state.ino, &path).await.ok(),
                    _ => None,
                };
                match object {
                    Some(object) => object_acl(state, &object.record.acl).allows(who, p),
                    // Whoever may list the bucket may learn that the key is not there.
                    None => bucket_allows(Permission::Read),
                }
            }
        })
    }

    /// Whether `who` may read `key` of bucket `bucket` (the source of a copy).
    pub async fn may_read(&self, who: Option<&str>, bucket: &str, key: &str) -> S3Result<bool> {
        if let Some(who) = who
            && !self.credentials.may_use(who, bucket)
        {
            return Ok(false);
        }
        let Some(state) = self.ns.bucket_state(bucket).await? else {
            return Ok(who.is_some());
        };
        if state.config.owned_by(who) {
            return Ok(true);
        }
        self.allows(who, &state, Some(key), Need::Object(Permission::Read))
            .await
    }
}

/// An object's ACL: its own, or the bucket owner's private one.
pub fn object_acl(state: &BucketState, own: &Option<Acl>) -> Acl {
    match own {
        Some(acl) => acl.clone(),
        None => Acl::private(
            state
                .config
                .acl
                .as_ref()
                .map_or(crate::service::DEFAULT_OWNER, |acl| acl.owner.as_str()),
        ),
    }
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let who = cx.credentials().map(|c| c.access_key.clone());
        let who = who.as_deref();
        let op = cx.s3_op().name();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root if who.is_some() => return Ok(()),
            S3Path::Root => return Err(denied()),
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        if let Some(who) = who
            && !self.credentials.may_use(who, &bucket)
        {
            tracing::info!(
                access_key = who,
                bucket,
                "access denied: the bucket is not in the key's list"
            );
            return Err(denied());
        }
        let Some(state) = self.ns.bucket_state(&bucket).await? else {
            // A signed request learns from its operation that there is no such bucket (or
            // makes it).
            return if who.is_some() { Ok(()) } else { Err(denied()) };
        };
        if state.config.owned_by(who) || (op == "CreateBucket" && who.is_some()) {
            return Ok(());
        }
        if self.allows(who, &state, key.as_deref(), need(op)).await? {
            Ok(())
        } else {
            tracing::info!(
                access_key = who.unwrap_or("anonymous"),
                bucket,
                op,
                "access denied by the ACL"
            );
            Err(denied())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_need_what_acls_grant() {
        assert_eq!(need("ListObjectsV2"), Need::Bucket(Permission::Read));
        assert_eq!(need("PutObject"), Need::Bucket(Permission::Write));
        assert_eq!(need("GetObject"), Need::Object(Permission::Read));
        assert_eq!(need("PutObjectAcl"), Need::Object(Permission::WriteAcp));
        assert_eq!(need("DeleteBucket"), Need::Owner);
        assert_eq!(need("PutBucketPolicy"), Need::Owner);
    }
}
