//! STORAGE_URL: where a volume's blocks live.

use std::path::PathBuf;

use crate::error::StoreError;

/// A parsed STORAGE_URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// `file:///absolute/dir`: blocks as files in a local directory.
    File(PathBuf),
    /// `memory://`: blocks in this process's memory (tests and scratch volumes).
    Memory,
    /// `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&style=path|virtual]`: an S3 bucket.
    /// Credentials come from the standard AWS environment variables or profile.
    S3(S3Location),
}

/// Where in S3 a volume's blocks live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket's name (3-63 lowercase letters, digits, '-' or '.').
    pub bucket: String,
    /// Key prefix inside the bucket, without leading or trailing '/'.
    pub prefix: String,
    /// The service's URL (default: AWS for the region).
    pub endpoint: Option<String>,
    /// The region requests are signed for (default: us-east-1).
    pub region: Option<String>,
    /// Address the bucket as `BUCKET.HOST` instead of `HOST/BUCKET`.
    pub virtual_host: bool,
}

/// The schemes a STORAGE_URL can use.
pub const SCHEMES: &str = "file:///DIR, memory://, s3://BUCKET[/PREFIX]?endpoint=URL&region=R";

impl std::str::FromStr for StorageUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::Url {
            url: url.to_string(),
            reason,
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(format!("not a URL; expected one of {SCHEMES}")));
        };
        match scheme {
            "file" if rest.starts_with('/') => Ok(Self::File(PathBuf::from(rest))),
            "file" => Err(invalid(
                "expected an absolute path: file:///var/lib/datenlord/blocks".into(),
            )),
            "memory" if rest.is_empty() || rest == "/" => Ok(Self::Memory),
            "memory" => Err(invalid("memory:// takes no path".into())),
            "s3" => parse_s3(rest).map(Self::S3).map_err(invalid),
            other => Err(invalid(format!(
                "unknown storage scheme '{other}' (supported: {SCHEMES})"
            ))),
        }
    }
}

impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => write!(f, "file://{}", path.display()),
            Self::Memory => write!(f, "memory://"),
            Self::S3(s3) => {
                write!(f, "s3://{}", s3.bucket)?;
                if !s3.prefix.is_empty() {
                    write!(f, "/{}", s3.prefix)?;
                }
                let mut query = Vec::new();
                if let Some(endpoint) = &s3.endpoint {
                    query.push(format!("endpoint={endpoint}"));
                }
                if let Some(region) = &s3.region {
                    query.push(format!("region={region}"));
                }
                if s3.virtual_host {
                    query.push("style=virtual".to_string());
                }
                if !query.is_empty() {
                    write!(f, "?{}", query.join("&"))?;
                }
                Ok(())
            }
        }
    }
}

fn parse_s3(rest: &str) -> Result<S3Location, String> {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid_bucket {
        return Err(format!(
            "{bucket:?} is not a bucket name (3-63 lowercase letters, digits, '-' or '.')"
        ));
    }
    let mut location = S3Location {
        bucket: bucket.to_string(),
        prefix: prefix.trim_matches('/').to_string(),
        endpoint: None,
        region: None,
        virtual_host: false,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("endpoint", url))
                if url.starts_with("http://") || url.starts_with("https://") =>
            {
                location.endpoint = Some(url.trim_end_matches('/').to_string());
            }
            Some(("endpoint", url)) => {
                return Err(format!(
                    "endpoint {url:?} must start with http:// or https://"
                ));
            }
            Some(("region", region)) if !region.is_empty() => {
                location.region = Some(region.to_string());
            }
            Some(("style", "path")) => location.virtual_host = false,
            Some(("style", "virtual")) => location.virtual_host = true,
            _ => {
                return Err(format!(
                    "unknown parameter {pair:?} (known: endpoint=URL, region=R, style=path|virtual)"
                ));
            }
        }
    }
    Ok(location)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "file:///x/y".parse::<StorageUrl>().unwrap(),
            StorageUrl::File("/x/y".into())
        );
        assert_eq!(
            "memory://".parse::<StorageUrl>().unwrap(),
            StorageUrl::Memory
        );
        let url = "s3://my-bucket/vol/one?endpoint=http://127.0.0.1:9000&region=eu-1";
        let parsed: StorageUrl = url.parse().unwrap();
        let StorageUrl::S3(s3) = &parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.prefix.as_str()),
            ("my-bucket", "vol/one")
        );
        assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(parsed.to_string(), url);
        for bad in [
            "s4://b",
            "file://rel",
            "/abs",
            "memory://x",
            "s3://B",
            "s3://bucket?endpoint=localhost:9000",
            "s3://bucket?color=red",
        ] {
            let err = bad.parse::<StorageUrl>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
