//! Access control lists: who besides the owner may do what with a bucket or an object. Users
//! are the gateway's access keys (an access key is its user's canonical ID and display name);
//! groups are S3's: everyone (anonymous requests too), every signed user, log delivery.
//!
//! An ACL comes from a canned name (`x-amz-acl`), from grant headers (`x-amz-grant-read:
//! id="KEY", uri="…/AllUsers"`), or from an `AccessControlPolicy` body; it is kept in the
//! object's record or the bucket's configuration and shown back with the owner's grant first.

use serde::{Deserialize, Serialize};

use s3s::dto;
use s3s::{S3Error, S3Result, s3_error};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";

/// Who a grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grantee {
    /// One user, by access key.
    User(String),
    /// Everyone, signed or not.
    AllUsers,
    /// Every request signed by a known key.
    AuthenticatedUsers,
    /// S3's log delivery group (kept and shown; no request of this gateway is one).
    LogDelivery,
}

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// All of the below.
    FullControl,
    /// Bucket: list it. Object: read it.
    Read,
    /// Bucket: put and delete objects in it. (Objects have no use for it.)
    Write,
    /// Read the ACL.
    ReadAcp,
    /// Replace the ACL.
    WriteAcp,
}

impl Permission {
    fn name(self) -> &'static str {
        match self {
            Self::FullControl => dto::Permission::FULL_CONTROL,
            Self::Read => dto::Permission::READ,
            Self::Write => dto::Permission::WRITE,
            Self::ReadAcp => dto::Permission::READ_ACP,
            Self::WriteAcp => dto::Permission::WRITE_ACP,
        }
    }

    fn parse(name: &str) -> S3Result<Self> {
        Ok(match name {
            dto::Permission::FULL_CONTROL => Self::FullControl,
            dto::Permission::READ => Self::Read,
            dto::Permission::WRITE => Self::Write,
            dto::Permission::READ_ACP => Self::ReadAcp,
            dto::Permission::WRITE_ACP => Self::WriteAcp,
            other => return Err(malformed(format!("unknown permission {other:?}"))),
        })
    }
}

/// One grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// To whom.
    pub grantee: Grantee,
    /// What.
    pub permission: Permission,
}

/// An owner and the grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// The owner's access key.
    pub owner: String,
    /// The grants, the owner's own included (as S3 shows them).
    pub grants: Vec<Grant>,
}

/// The `x-amz-grant-*` headers of a request.
#[derive(Debug, Default, Clone, Copy)]
pub struct GrantHeaders<'a> {
    /// `x-amz-grant-full-control`.
    pub full_control: Option<&'a str>,
    /// `x-amz-grant-read`.
    pub read: Option<&'a str>,
    /// `x-amz-grant-read-acp`.
    pub read_acp: Option<&'a str>,
    /// `x-amz-grant-write`.
    pub write: Option<&'a str>,
    /// `x-amz-grant-write-acp`.
    pub write_acp: Option<&'a str>,
}

impl GrantHeaders<'_> {
    fn is_empty(&self) -> bool {
        self.full_control.is_none()
            && self.read.is_none()
            && self.read_acp.is_none()
            && self.write.is_none()
            && self.write_acp.is_none()
    }
}

fn malformed(message: String) -> S3Error {
    s3_error!(MalformedACLError, "{message}")
}

fn grant(grantee: Grantee, permission: Permission) -> Grant {
    Grant {
        grantee,
        permission,
    }
}

impl Acl {
    /// Only the owner, with full control: what everything starts as.
    pub fn private(owner: &str) -> Self {
        Self {
            owner: owner.to_string(),
            grants: vec![grant(Grantee::User(owner.into()), Permission::FullControl)],
        }
    }

    /// Whether both have one owner and the same grants, in whatever order.
    pub fn equivalent(&self, other: &Self) -> bool {
        let sorted = |acl: &Self| {
            let mut grants: Vec<String> = acl.grants.iter().map(|g| format!("{g:?}")).collect();
            grants.sort();
            grants
        };
        self.owner == other.owner && sorted(self) == sorted(other)
    }

    /// Whether this is [`Acl::private`] for `owner`.
    pub fn is_private_of(&self, owner: &str) -> bool {
        self.equivalent(&Self::private(owner))
    }

    /// The ACL of canned name `name`; `bucket_owner` is for the `bucket-owner-*` names.
    pub fn canned(name: &str, owner: &str, bucket_owner: &str) -> S3Result<Self> {
        let mut acl = Self::private(owner);
        let mut add = |grantee, permission| acl.grants.push(grant(grantee, permission));
        match name {
            "private" | "aws-exec-read" => {}
            "public-read" => add(Grantee::AllUsers, Permission::Read),
            "public-read-write" => {
                add(Grantee::AllUsers, Permission::Read);
                add(Grantee::AllUsers, Permission::Write);
            }
            "authenticated-read" => add(Grantee::AuthenticatedUsers, Permission::Read),
            "log-delivery-write" => {
                add(Grantee::LogDelivery, Permission::Write);
                add(Grantee::LogDelivery, Permission::ReadAcp);
            }
            "bucket-owner-read" if bucket_owner != owner => {
                add(Grantee::User(bucket_owner.into()), Permission::Read);
            }
            "bucket-owner-full-control" if bucket_owner != owner => {
                add(Grantee::User(bucket_owner.into()), Permission::FullControl);
            }
            "bucket-owner-read" | "bucket-owner-full-control" => {}
            other => {
                return Err(s3_error!(InvalidArgument, "unknown canned ACL {other:?}"));
            }
        }
        Ok(acl)
    }

    /// The ACL a request asks for with `x-amz-acl` or `x-amz-grant-*`, or `None` when it asks
    /// for none. `known` tells whether a user ID exists.
    pub fn requested(
        canned: Option<&str>,
        headers: GrantHeaders<'_>,
        owner: &str,
        bucket_owner: &str,
        known: impl Fn(&str) -> bool,
    ) -> S3Result<Option<Self>> {
        match canned {
            Some(_) if !headers.is_empty() => Err(s3_error!(
                InvalidRequest,
                "Specifying both Canned ACLs and Header Grants is not allowed"
            )),
            Some(name) => Self::canned(name, owner, bucket_owner).map(Some),
            None if headers.is_empty() => Ok(None),
            None => {
                let mut grants = Vec::new();
                for (value, permission) in [
                    (headers.read, Permission::Read),
                    (headers.write, Permission::Write),
                    (headers.read_acp, Permission::ReadAcp),
                    (headers.write_acp, Permission::WriteAcp),
                    (headers.full_control, Permission::FullControl),
                ] {
                    for grantee in value.map(grantees).transpose()?.unwrap_or_default() {
                        check_known(&grantee, &known)?;
                        grants.push(grant(grantee, permission));
                    }
                }
                Ok(Some(Self {
                    owner: owner.to_string(),
                    grants,
                }))
            }
        }
    }

    /// The ACL of an `AccessControlPolicy` body for a resource owned by `owner`: its owner, when
    /// given, must be that owner.
    pub fn from_policy(
        policy: &dto::AccessControlPolicy,
        owner: &str,
        known: impl Fn(&str) -> bool,
    ) -> S3Result<Self> {
        if let Some(id) = policy.owner.as_ref().and_then(|o| o.id.as_deref())
            && id != owner
        {
            return Err(s3_error!(
                AccessDenied,
                "the ACL names owner {id:?}; the owner cannot be changed"
            ));
        }
        let mut grants = Vec::new();
        for g in policy.grants.iter().flatten() {
            let permission = match &g.permission {
                Some(p) => Permission::parse(p.as_str())?,
                None => return Err(malformed("a grant has no permission".into())),
            };
            let Some(grantee) = &g.grantee else {
                return Err(malformed("a grant has no grantee".into()));
            };
            let grantee = match grantee.type_.as_str() {
                dto::Type::CANONICAL_USER => match &grantee.id {
                    Some(id) => Grantee::User(id.clone()),
                    None => return Err(malformed("a CanonicalUser grantee has no ID".into())),
                },
                dto::Type::GROUP => group(grantee.uri.as_deref().unwrap_or_default())?,
                dto::Type::AMAZON_CUSTOMER_BY_EMAIL => return Err(by_email()),
                other => return Err(malformed(format!("unknown grantee type {other:?}"))),
            };
            check_known(&grantee, &known)?;
            grants.push(grant(grantee, permission));
        }
        Ok(Self {
            owner: owner.to_string(),
            grants,
        })
    }

    /// Whether `who` (an access key; `None`: anonymous) has `wanted`. The owner has everything.
    pub fn allows(&self, who: Option<&str>, wanted: Permission) -> bool {
        if who == Some(self.owner.as_str()) {
            return true;
        }
        self.grants.iter().any(|g| {
            (g.permission == wanted || g.permission == Permission::FullControl)
                && match &g.grantee {
                    Grantee::User(id) => who == Some(id.as_str()),
                    Grantee::AllUsers => true,
                    Grantee::AuthenticatedUsers => who.is_some(),
                    Grantee::LogDelivery => false,
                }
        })
    }

    /// The owner, as S3 shows it.
    pub fn owner(&self) -> dto::Owner {
        owner_of(&self.owner)
    }

    /// The grants, as S3 shows them: groups first, then users, each in the order given.
    pub fn grants(&self) -> dto::Grants {
        let mut ordered: Vec<&Grant> = self.grants.iter().collect();
        ordered.sort_by_key(|g| matches!(g.grantee, Grantee::User(_)));
        ordered
            .into_iter()
            .map(|g| dto::Grant {
                grantee: Some(match &g.grantee {
                    Grantee::User(id) => dto::Grantee {
                        display_name: Some(id.clone()),
                        email_address: None,
                        id: Some(id.clone()),
                        type_: dto::Type::from_static(dto::Type::CANONICAL_USER),
                        uri: None,
                    },
                    group => dto::Grantee {
                        display_name: None,
                        email_address: None,
                        id: None,
                        type_: dto::Type::from_static(dto::Type::GROUP),
                        uri: Some(
                            match group {
                                Grantee::AllUsers => ALL_USERS,
                                Grantee::AuthenticatedUsers => AUTHENTICATED_USERS,
                                _ => LOG_DELIVERY,
                            }
                            .to_string(),
                        ),
                    },
                }),
                permission: Some(dto::Permission::from_static(g.permission.name())),
            })
            .collect()
    }
}

/// User `id` as S3 shows an owner.
pub fn owner_of(id: &str) -> dto::Owner {
    dto::Owner {
        display_name: Some(id.to_string()),
        id: Some(id.to_string()),
    }
}

fn by_email() -> S3Error {
    s3_error!(
        UnresolvableGrantByEmailAddress,
        "this gateway's users have no e-mail addresses; grant by id"
    )
}

fn group(uri: &str) -> S3Result<Grantee> {
    match uri {
        ALL_USERS => Ok(Grantee::AllUsers),
        AUTHENTICATED_USERS => Ok(Grantee::AuthenticatedUsers),
        LOG_DELIVERY => Ok(Grantee::LogDelivery),
        other => Err(s3_error!(InvalidArgument, "unknown group {other:?}")),
    }
}

fn check_known(grantee: &Grantee, known: impl Fn(&str) -> bool) -> S3Result<()> {
    match grantee {
        Grantee::User(id) if !known(id) => {
            Err(s3_error!(InvalidArgument, "Invalid id: no user {id:?}"))
        }
        _ => Ok(()),
    }
}

/// The grantees of one `x-amz-grant-*` header: `id="KEY", uri="…", emailAddress="…"`.
fn grantees(value: &str) -> S3Result<Vec<Grantee>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let Some((kind, quoted)) = item.split_once('=') else {
                return Err(s3_error!(
                    InvalidArgument,
                    "a grant {item:?} is not type=value"
                ));
            };
            let value = quoted.trim().trim_matches('"');
            match kind.trim() {
                "id" => Ok(Grantee::User(value.to_string())),
                "uri" => group(value),
                "emailAddress" => Err(by_email()),
                other => Err(s3_error!(InvalidArgument, "unknown grantee type {other:?}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anyone(_: &str) -> bool {
        true
    }

    #[test]
    fn canned_acls_grant_what_s3_says() {
        let acl = Acl::canned("public-read", "ana", "ana").unwrap();
        assert!(acl.allows(None, Permission::Read));
        assert!(!acl.allows(None, Permission::Write));
        assert!(acl.allows(Some("ana"), Permission::WriteAcp));
        let acl = Acl::canned("authenticated-read", "ana", "ana").unwrap();
        assert!(!acl.allows(None, Permission::Read));
        assert!(acl.allows(Some("bo"), Permission::Read));
        assert!(!acl.allows(Some("bo"), Permission::ReadAcp));
        let acl = Acl::canned("bucket-owner-full-control", "bo", "ana").unwrap();
        assert!(acl.allows(Some("ana"), Permission::WriteAcp));
        assert!(
            Acl::canned("bucket-owner-read", "ana", "ana")
                .unwrap()
                .is_private_of("ana")
        );
        assert!(Acl::canned("world", "ana", "ana").is_err());
    }

    #[test]
    fn grant_headers_name_users_and_groups() {
        let headers = GrantHeaders {
            read: Some(r#"id="bo", uri="http://acs.amazonaws.com/groups/global/AllUsers""#),
            write_acp: Some("id=cy"),
            ..GrantHeaders::default()
        };
        let acl = Acl::requested(None, headers, "ana", "ana", anyone)
            .unwrap()
            .unwrap();
        assert!(acl.allows(None, Permission::Read));
        assert!(acl.allows(Some("cy"), Permission::WriteAcp));
        assert!(!acl.allows(Some("bo"), Permission::WriteAcp));
        assert!(Acl::requested(Some("private"), headers, "ana", "ana", anyone).is_err());
        assert!(Acl::requested(None, headers, "ana", "ana", |id| id == "bo").is_err());
        let by_mail = GrantHeaders {
            read: Some("emailAddress=a@b"),
            ..GrantHeaders::default()
        };
        assert!(Acl::requested(None, by_mail, "ana", "ana", anyone).is_err());
        assert_eq!(
            Acl::requested(None, GrantHeaders::default(), "ana", "ana", anyone).unwrap(),
            None
        );
    }

    #[test]
    fn policies_round_trip_and_keep_the_owner() {
        let acl = Acl::canned("public-read-write", "ana", "ana").unwrap();
        let policy = dto::AccessControlPolicy {
            grants: Some(acl.grants()),
            owner: Some(acl.owner()),
        };
        assert!(
            Acl::from_policy(&policy, "ana", anyone)
                .unwrap()
                .equivalent(&acl)
        );
        assert!(Acl::from_policy(&policy, "bo", anyone).is_err());
    }
}
