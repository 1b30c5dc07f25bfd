//! DatenLord's S3 gateway: buckets are the volume's top-level directories and object keys are
//! paths below them, served through [`datenlord_vfs::Vfs`] like a mount, so a file written
//! through a mount is an object here and an object PUT here is a file there. The S3 protocol
//! (routing, XML, SigV4) is the `s3s` crate's; this crate maps its operations onto the
//! namespace ([`service`]), checks keys ([`key`]), lists in S3's order ([`list`]), keeps what
//! S3 knows of an object in an xattr ([`record`]), and serves HTTP ([`server`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod acl;
pub mod auth;
pub mod body;
pub mod bucket;
pub mod bucket_config;
pub mod cors;
pub mod front;
pub mod host;
pub mod key;
pub mod list;
pub mod multipart;
pub mod namespace;
pub mod object;
pub mod policy;
pub mod record;
pub mod server;
pub mod service;
pub mod stale;
pub mod tls;
pub mod versions;

pub use auth::{Credentials, CredentialsError};
pub use server::{GatewayConfig, serve};
pub use service::Gateway;
