//! What S3 knows of an object and a file does not — its ETag, content headers, user metadata —
//! kept in one extended attribute of the inode, so it moves, links and clones with the file.
//! `trusted.` keeps it out of unprivileged `getfattr` listings on a mount.

use std::collections::BTreeMap;

use datenlord_meta::Attr;

use crate::acl::Acl;
use crate::versions::VersionStamp;
use serde::{Deserialize, Serialize};

/// The extended attribute holding an object's or a directory's [`Record`].
pub const XATTR: &[u8] = b"trusted.datenlord.s3";

/// The object record of a file, or the marker of a directory the gateway made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The ETag (without quotes) and the contents it was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<Stamped>,
    /// Content-Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Cache-Control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    /// Content-Disposition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    /// Content-Encoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    /// Content-Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// Expires, as the client sent it (an HTTP date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `x-amz-meta-*`, without the prefix.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user: BTreeMap<String, String>,
    /// Object tags.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The sizes of the parts of a multipart upload, in order (GET `partNumber=N`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<u64>,
    /// Its owner and grants, unless it is the bucket owner's and private.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// Its version, in a bucket with versioning; none for the null version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VersionStamp>,
    /// For a directory: how it came to be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<DirKind>,
}

/// An ETag and the file contents it belongs to: a write through a mount changes the size or
/// the mtime, and the ETag is computed again when next needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped {
    /// The ETag's value, e.g. the hex MD5 of the bytes.
    pub value: String,
    /// The file's size then.
    pub size: u64,
    /// The file's mtime then, in nanoseconds since the epoch.
    pub mtime: i128,
}

impl Stamped {
    /// The ETag `value` of a file whose attributes are `attr`.
    pub fn new(value: String, attr: &Attr) -> Self {
        Self {
            value,
            size: attr.size,
            mtime: nanos(attr),
        }
    }

    /// The ETag, when the file still has the contents it was computed for.
    pub fn current(&self, attr: &Attr) -> Option<&str> {
        (self.size == attr.size && self.mtime == nanos(attr)).then_some(self.value.as_str())
    }
}

fn nanos(attr: &Attr) -> i128 {
    i128::from(attr.mtime.sec) * 1_000_000_000 + i128::from(attr.mtime.nsec)
}

/// How a directory came to be, which decides what deletes and listings do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DirKind {
    /// Made by the gateway to hold a key's path: removed when a delete leaves it empty, and
    /// never an object itself.
    Implicit,
    /// Made by a PUT of `name/`: an object (a "folder") until deleted.
    Object,
}

impl Record {
    /// Decodes a stored record; a damaged one reads as empty (the ETag is computed again).
    pub fn decode(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_default()
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The record of a gateway-made directory.
    pub fn dir(kind: DirKind) -> Self {
        Self {
            dir: Some(kind),
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_reads_as_empty() {
        let mut record = Record {
            content_type: Some("text/plain".into()),
            ..Record::default()
        };
        record.user.insert("owner".into(), "ana".into());
        assert_eq!(Record::decode(&record.encode()), record);
        assert_eq!(Record::decode(b"{not json"), Record::default());
        assert_eq!(
            Record::decode(&Record::dir(DirKind::Implicit).encode()).dir,
            Some(DirKind::Implicit)
        );
        assert_eq!(Record::default().encode(), b"{}");
    }
}
