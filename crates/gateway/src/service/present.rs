//! What S3 keeps and shows of an object beside its bytes: content headers, user metadata,
//! tags, and their `response-*` overrides.

use s3s::dto::*;
use s3s::{S3Result, s3_error};

use crate::record::Record;

/// The content headers and user metadata of a PUT or a copy with REPLACE.
pub(super) fn record_of(
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
pub(super) fn check_tags(
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
pub(super) fn tags_of_header(
    header: Option<&str>,
) -> S3Result<std::collections::BTreeMap<String, String>> {
    match header {
        None => Ok(Default::default()),
        Some(text) => check_tags(
            url::form_urlencoded::parse(text.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        ),
    }
}

pub(super) fn tag_set(record: &Record) -> Vec<Tag> {
    record
        .tags
        .iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

pub(super) fn tag_count(record: &Record) -> Option<i32> {
    (!record.tags.is_empty()).then_some(record.tags.len() as i32)
}

fn expires_of(record: &Record) -> Option<Timestamp> {
    record
        .expires
        .as_deref()
        .and_then(|s| Timestamp::parse(TimestampFormat::HttpDate, s).ok())
}

pub(super) fn metadata_of(record: &Record) -> Option<Metadata> {
    (!record.user.is_empty()).then(|| record.user.clone().into_iter().collect())
}

/// The content headers of a GET or HEAD: the stored ones, or the `response-*` overrides.
pub(super) struct Presented {
    pub(super) content_type: String,
    pub(super) cache_control: Option<String>,
    pub(super) content_disposition: Option<String>,
    pub(super) content_encoding: Option<String>,
    pub(super) content_language: Option<String>,
    pub(super) expires: Option<Timestamp>,
}

impl Presented {
    /// `overrides`: response-content-type, -cache-control, -content-disposition,
    /// -content-encoding, -content-language.
    pub(super) fn new(
        record: &Record,
        overrides: [Option<String>; 5],
        expires: Option<Timestamp>,
    ) -> Self {
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

/// PartsCount, which S3 sends when a part was asked for.
pub(super) fn parts_count(record: &Record, number: Option<i32>) -> Option<i32> {
    number.map(|_| record.parts.len().max(1) as i32)
}
