//! META_URL: which engine holds a volume's metadata, and where.

use std::path::PathBuf;

use crate::kv::{AnyKv, KvError, SqliteEngine};

/// The engines a META_URL can name.
pub const SCHEMES: &str = "sqlite:///PATH";

/// A parsed META_URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaUrl {
    /// `sqlite:///absolute/path/meta.db`
    Sqlite(PathBuf),
}

impl std::str::FromStr for MetaUrl {
    type Err = KvError;

    fn from_str(url: &str) -> Result<Self, KvError> {
        let invalid = |reason: &str| KvError::Open {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(invalid(&format!("not a URL; expected {SCHEMES}")));
        };
        match scheme {
            "sqlite" | "sqlite3" => {
                if rest.is_empty() || !rest.starts_with('/') {
                    return Err(invalid(
                        "expected an absolute path: sqlite:///var/lib/datenlord/meta.db",
                    ));
                }
                Ok(Self::Sqlite(PathBuf::from(rest)))
            }
            other => Err(invalid(&format!(
                "unknown metadata engine '{other}' (supported: {SCHEMES})"
            ))),
        }
    }
}

impl std::fmt::Display for MetaUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
        }
    }
}

impl MetaUrl {
    /// Opens the engine; `create` allows making a new, empty database.
    pub fn open(&self, create: bool) -> Result<AnyKv, KvError> {
        match self {
            Self::Sqlite(path) => SqliteEngine::open(path, create).map(AnyKv::Sqlite),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            "sqlite:///a/b.db".parse::<MetaUrl>().unwrap(),
            MetaUrl::Sqlite("/a/b.db".into())
        );
        for bad in ["redis://x", "sqlite://rel.db", "/plain/path", "sqlite://"] {
            let err = bad.parse::<MetaUrl>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
