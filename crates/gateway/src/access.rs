//! Whether a request may run, decided before its operation, in S3's order:
//!
//! 1. the credentials' bucket lists fence each key in;
//! 2. the bucket's policy: a statement denying the request denies it (the owner keeps the
//!    right to manage the policy), one allowing it allows it;
//! 3. the bucket's owner may do everything in it;
//! 4. anyone else (another key, or an anonymous request) needs the bucket's ACL for listing
//!    (READ), writing objects (WRITE) and its ACL (READ_ACP, WRITE_ACP), and an object's ACL
//!    for reading the object and its ACL. What only an owner may do (deleting the bucket, its
//!    configuration) no grant allows.

use std::collections::HashMap;
use std::net::SocketAddr;

use hyper::Uri;
use hyper::header::HeaderMap;
use s3s::access::{S3Access, S3AccessContext};
use s3s::dto::{Timestamp, TimestampFormat};
use s3s::path::S3Path;
use s3s::{S3Error, S3Result, s3_error};

use crate::acl::{Acl, Permission};
use crate::auth::Credentials;
use crate::bucket_config::BucketState;
use crate::namespace::Namespace;
use crate::object::key_path;
use crate::policy::{Decision, Request, arn};

/// Where a request came from, put in its extensions by [`crate::front`].
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// The client's address.
    pub addr: SocketAddr,
    /// Whether the connection is HTTPS.
    pub secure: bool,
}

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

/// The policy action of operation `op`.
pub fn action(op: &str) -> String {
    let name = match op {
        "HeadObject" => "GetObject",
        "HeadBucket" | "ListObjects" | "ListObjectsV2" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "PostObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload" => "PutObject",
        "DeleteObjects" => "DeleteObject",
        "GetBucketCors" => "GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "PutBucketCORS",
        "ListBuckets" => "ListAllMyBuckets",
        other => other,
    };
    format!("s3:{name}")
}

fn is_policy_op(op: &str) -> bool {
    matches!(
        op,
        "GetBucketPolicy" | "PutBucketPolicy" | "DeleteBucketPolicy"
    )
}

fn denied() -> S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

/// The condition keys of a request (lower case), for policies.
pub fn context(
    who: Option<&str>,
    headers: &HeaderMap,
    uri: &Uri,
    peer: Option<Peer>,
) -> HashMap<String, Vec<String>> {
    let mut keys: HashMap<String, Vec<String>> = HashMap::new();
    let mut put = |k: &str, v: String| keys.entry(k.to_string()).or_default().push(v);
    if let Some(peer) = peer {
        put("aws:sourceip", peer.addr.ip().to_string());
        put("aws:securetransport", peer.secure.to_string());
    }
    let now = time::OffsetDateTime::now_utc();
    let mut stamp = Vec::new();
    if Timestamp::from(now)
        .format(TimestampFormat::DateTime, &mut stamp)
        .is_ok()
    {
        put(
            "aws:currenttime",
            String::from_utf8_lossy(&stamp).into_owned(),
        );
    }
    put("aws:epochtime", now.unix_timestamp().to_string());
    match who {
        Some(who) => {
            put("aws:username", who.to_string());
            put("aws:userid", who.to_string());
            put("aws:principaltype", "User".into());
        }
        None => put("aws:principaltype", "Anonymous".into()),
    }
    for (name, key) in [
        ("user-agent", "aws:useragent"),
        ("referer", "aws:referer"),
        ("x-amz-acl", "s3:x-amz-acl"),
        ("x-amz-content-sha256", "s3:x-amz-content-sha256"),
        ("x-amz-copy-source", "s3:x-amz-copy-source"),
        ("x-amz-metadata-directive", "s3:x-amz-metadata-directive"),
        (
            "x-amz-server-side-encryption",
            "s3:x-amz-server-side-encryption",
        ),
        ("x-amz-storage-class", "s3:x-amz-storage-class"),
        ("x-amz-grant-read", "s3:x-amz-grant-read"),
        ("x-amz-grant-write", "s3:x-amz-grant-write"),
        ("x-amz-grant-read-acp", "s3:x-amz-grant-read-acp"),
        ("x-amz-grant-write-acp", "s3:x-amz-grant-write-acp"),
        ("x-amz-grant-full-control", "s3:x-amz-grant-full-control"),
    ] {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            put(key, value.to_string());
        }
    }
    if let Some(tagging) = headers.get("x-amz-tagging").and_then(|v| v.to_str().ok()) {
        for (tag, value) in url::form_urlencoded::parse(tagging.as_bytes()) {
            put(
                &format!("s3:requestobjecttag/{}", tag.to_ascii_lowercase()),
                value.into_owned(),
            );
            put("s3:requestobjecttagkeys", tag.into_owned());
        }
    }
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    for (name, value) in &query {
        match name.as_str() {
            "prefix" | "delimiter" | "max-keys" => put(&format!("s3:{name}"), value.clone()),
            "versionId" => put("s3:versionid", value.clone()),
            _ => {}
        }
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let query_v4 = query.iter().any(|(n, _)| n == "X-Amz-Algorithm");
    let query_v2 = query.iter().any(|(n, _)| n == "Signature");
    let (version, kind) = if auth.starts_with("AWS4-") {
        ("AWS4-HMAC-SHA256", "REST-HEADER")
    } else if auth.starts_with("AWS ") {
        ("AWS", "REST-HEADER")
    } else if query_v4 {
        ("AWS4-HMAC-SHA256", "REST-QUERY-STRING")
    } else if query_v2 {
        ("AWS", "REST-QUERY-STRING")
    } else {
        ("", "")
    };
    if !version.is_empty() {
        put("s3:signatureversion", version.into());
        put("s3:authtype", kind.into());
    }
    keys
}

/// Why a request may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granted {
    /// The bucket's policy allows it.
    Policy,
    /// The requester owns the bucket.
    BucketOwner,
    /// An ACL allows it, or the operation decides.
    Other,
}

/// Put in a request's extensions when its object operation runs because the requester owns
/// the bucket: the object may still be another user's, whose ACL then decides (S3 lets a
/// bucket owner delete such an object, not read it or its ACL).
#[derive(Debug, Clone, Copy)]
pub struct AsBucketOwner(pub Permission);

/// The access rules of one gateway.
#[derive(Debug, Clone)]
pub struct Access {
    credentials: Credentials,
    ns: Namespace,
}

/// One question to the rules.
struct Question<'a> {
    who: Option<&'a str>,
    op: &'a str,
    action: String,
    bucket: &'a str,
    key: Option<&'a str>,
    need: Need,
    context: HashMap<String, Vec<String>>,
    /// `x-amz-expected-bucket-owner`.
    expected_owner: Option<String>,
}

impl Access {
    /// The rules of `credentials` over `ns`.
    pub fn new(credentials: Credentials, ns: Namespace) -> Self {
        Self { credentials, ns }
    }

    /// Answers `q`; `Ok` lets the operation run (and tell, for one, that there is no such
    /// bucket), saying why.
    async fn decide(&self, mut q: Question<'_>) -> S3Result<Granted> {
        if let Some(who) = q.who
            && !self.credentials.may_use(who, q.bucket)
        {
            tracing::info!(
                access_key = who,
                bucket = q.bucket,
                "access denied: the bucket is not in the key's list"
            );
            return Err(denied());
        }
        let Some(state) = self.ns.bucket_state(q.bucket).await? else {
            // The operation answers NoSuchBucket (CreateBucket makes it, for a user).
            return Ok(Granted::Other);
        };
        if q.op == "CreateBucket" && q.who.is_some() {
            return Ok(Granted::Other);
        }
        let owner = state.config.owned_by(q.who);
        if let Some(expected) = &q.expected_owner {
            let actual = state
                .config
                .acl
                .as_ref()
                .map_or(q.who.unwrap_or_default(), |acl| acl.owner.as_str());
            if expected != actual {
                tracing::info!(bucket = q.bucket, expected, "the bucket has another owner");
                return Err(denied());
            }
        }
        // The object, when an answer depends on it: its tags for a policy, its ACL for a
        // requester who does not own the bucket.
        let tags_matter = state
            .policy
            .as_ref()
            .is_some_and(|p| p.mentions_object_tags());
        let object = match (q.key, q.need) {
            (Some(key), Need::Object(_)) if !owner || tags_matter => match key_path(key) {
                Ok(path) => self.ns.object(state.ino, &path).await.ok(),
                Err(_) => None,
            },
            _ => None,
        };
        if let Some(object) = &object {
            for (tag, value) in &object.record.tags {
                q.context.insert(
                    format!("s3:existingobjecttag/{}", tag.to_ascii_lowercase()),
                    vec![value.clone()],
                );
            }
        }
        if let Some(policy) = &state.policy {
            let request = Request {
                principal: q.who.map(str::to_string),
                action: q.action.clone(),
                resource: arn(q.bucket, q.key),
                context: q.context.clone(),
            };
            match policy.evaluate(&request) {
                Decision::Deny if !(owner && is_policy_op(q.op)) => {
                    tracing::info!(
                        access_key = q.who.unwrap_or("anonymous"),
                        bucket = q.bucket,
                        op = q.op,
                        "access denied by the bucket policy"
                    );
                    return Err(denied());
                }
                Decision::Allow => return Ok(Granted::Policy),
                _ => {}
            }
        }
        if owner {
            return Ok(Granted::BucketOwner);
        }
        let bucket_allows = |p| {
            state
                .config
                .acl
                .as_ref()
                .is_some_and(|acl| acl.allows(q.who, p))
        };
        let allowed = match q.need {
            Need::Owner => false,
            Need::Bucket(p) => bucket_allows(p),
            Need::Object(p) => match &object {
                Some(object) => object_acl(&state, &object.record.acl).allows(q.who, p),
                // Whoever may list the bucket — by its ACL or its policy — may learn that the
                // key is not there.
                None => {
                    bucket_allows(Permission::Read)
                        || state.policy.as_ref().is_some_and(|policy| {
                            let mut context = q.context.clone();
                            context
                                .insert("s3:prefix".into(), vec![q.key.unwrap_or_default().into()]);
                            let listing = Request {
                                principal: q.who.map(str::to_string),
                                action: action("ListBucket"),
                                resource: arn(q.bucket, None),
                                context,
                            };
                            policy.evaluate(&listing) == Decision::Allow
                        })
                }
            },
        };
        if allowed {
            Ok(Granted::Other)
        } else {
            tracing::info!(
                access_key = q.who.unwrap_or("anonymous"),
                bucket = q.bucket,
                op = q.op,
                "access denied by the ACL"
            );
            Err(denied())
        }
    }

    /// Whether `who` may read `key` of `bucket` (the source of a copy), in a request with
    /// condition keys `context`.
    pub async fn may_read(
        &self,
        who: Option<&str>,
        bucket: &str,
        key: &str,
        context: HashMap<String, Vec<String>>,
    ) -> S3Result<bool> {
        self.may(
            who,
            bucket,
            key,
            "GetObject",
            Need::Object(Permission::Read),
            context,
        )
        .await
    }

    /// Whether `who` may delete `key` of `bucket` (one key of a DeleteObjects).
    pub async fn may_delete(
        &self,
        who: Option<&str>,
        bucket: &str,
        key: &str,
        context: HashMap<String, Vec<String>>,
    ) -> S3Result<bool> {
        self.may(
            who,
            bucket,
            key,
            "DeleteObject",
            Need::Bucket(Permission::Write),
            context,
        )
        .await
    }

    /// Whether `who` may run object operation `op` on `key`, asked by another operation.
    async fn may(
        &self,
        who: Option<&str>,
        bucket: &str,
        key: &str,
        op: &str,
        need: Need,
        context: HashMap<String, Vec<String>>,
    ) -> S3Result<bool> {
        let q = Question {
            who,
            op,
            action: action(op),
            bucket,
            key: Some(key),
            need,
            context,
            expected_owner: None,
        };
        Ok(self.decide(q).await.is_ok())
    }
}

/// Checks an object operation that runs because `who` owns the bucket (see [`AsBucketOwner`])
/// against the object's own ACL, when another user owns the object.
pub fn check_as_bucket_owner(
    granted: Option<&AsBucketOwner>,
    who: Option<&str>,
    object_acl: Option<&Acl>,
) -> S3Result<()> {
    match (granted, object_acl) {
        (Some(AsBucketOwner(p)), Some(acl)) if !acl.allows(who, *p) => {
            tracing::info!(
                access_key = who.unwrap_or("anonymous"),
                owner = acl.owner,
                "access denied: the bucket's owner has no grant on another user's object"
            );
            Err(denied())
        }
        _ => Ok(()),
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
        let op = cx.s3_op().name().to_string();
        let op = op.as_str();
        let (bucket, key) = match cx.s3_path() {
            // ListBuckets: an anonymous request owns no bucket, and sees none.
            S3Path::Root => return Ok(()),
            S3Path::Bucket { bucket } => (bucket.to_string(), None),
            S3Path::Object { bucket, key } => (bucket.to_string(), Some(key.to_string())),
        };
        let peer = cx.extensions_mut().get::<Peer>().copied();
        let context = context(who, cx.headers(), cx.uri(), peer);
        let need = need(op);
        let expected_owner = cx
            .headers()
            .get("x-amz-expected-bucket-owner")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let granted = self
            .decide(Question {
                who,
                op,
                action: action(op),
                bucket: &bucket,
                key: key.as_deref(),
                need,
                context,
                expected_owner,
            })
            .await?;
        if let (Granted::BucketOwner, Need::Object(p)) = (granted, need) {
            cx.extensions_mut().insert(AsBucketOwner(p));
        }
        Ok(())
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

    #[test]
    fn operations_are_policy_actions() {
        assert_eq!(action("HeadObject"), "s3:GetObject");
        assert_eq!(action("ListObjectsV2"), "s3:ListBucket");
        assert_eq!(action("CompleteMultipartUpload"), "s3:PutObject");
        assert_eq!(action("PutBucketPolicy"), "s3:PutBucketPolicy");
    }

    #[test]
    fn requests_give_their_condition_keys() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-acl", "public-read".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=ana".parse().unwrap(),
        );
        let uri: Uri = "/b?prefix=home%2F&max-keys=10".parse().unwrap();
        let peer = Peer {
            addr: "127.0.0.7:4000".parse().unwrap(),
            secure: false,
        };
        let keys = context(Some("ana"), &headers, &uri, Some(peer));
        let one = |k: &str| keys.get(k).map(|v| v[0].as_str());
        assert_eq!(one("s3:prefix"), Some("home/"));
        assert_eq!(one("s3:max-keys"), Some("10"));
        assert_eq!(one("s3:x-amz-acl"), Some("public-read"));
        assert_eq!(one("aws:sourceip"), Some("127.0.0.7"));
        assert_eq!(one("aws:securetransport"), Some("false"));
        assert_eq!(one("s3:signatureversion"), Some("AWS4-HMAC-SHA256"));
        assert_eq!(one("aws:username"), Some("ana"));
    }
}
