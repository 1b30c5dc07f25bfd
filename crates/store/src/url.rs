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
}

/// The schemes a STORAGE_URL can use.
pub const SCHEMES: &str = "file:///DIR, memory://";

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
        }
    }
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
        for bad in ["s4://b", "file://rel", "/abs", "memory://x"] {
            let err = bad.parse::<StorageUrl>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
