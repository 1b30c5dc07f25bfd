//! META_URL: which engine holds a volume's metadata, and where.

use std::path::PathBuf;

use crate::kv::{AnyKv, EtcdEngine, KvError, SqliteEngine};

/// The engines a META_URL can name.
pub const SCHEMES: &str =
    "sqlite:///PATH, etcd://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...][/PREFIX]";

/// A parsed META_URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaUrl {
    /// `sqlite:///absolute/path/meta.db`
    Sqlite(PathBuf),
    /// `etcd://[user:password@]host:port[,host:port...][/prefix]`
    Etcd {
        endpoints: Vec<String>,
        prefix: String,
        user: Option<(String, String)>,
    },
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
            "etcd" => {
                let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let (user, hosts) = match authority.rsplit_once('@') {
                    Some((userinfo, hosts)) => {
                        let (name, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                        (Some((name.to_string(), password.to_string())), hosts)
                    }
                    None => (None, authority),
                };
                let endpoints: Vec<String> = hosts.split(',').map(str::to_string).collect();
                let valid = |e: &String| {
                    e.rsplit_once(':')
                        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
                };
                if endpoints.is_empty() || !endpoints.iter().all(valid) {
                    return Err(invalid("expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX]"));
                }
                let prefix = prefix.trim_matches('/');
                Ok(Self::Etcd {
                    endpoints,
                    prefix: if prefix.is_empty() {
                        "datenlord".into()
                    } else {
                        prefix.into()
                    },
                    user,
                })
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
            Self::Etcd {
                endpoints, prefix, ..
            } => write!(f, "etcd://{}/{prefix}", endpoints.join(",")),
        }
    }
}

impl MetaUrl {
    /// Opens the engine; `create` allows making a new, empty database.
    pub async fn open(&self, create: bool) -> Result<AnyKv, KvError> {
        match self {
            Self::Sqlite(path) => SqliteEngine::open(path, create).map(AnyKv::Sqlite),
            Self::Etcd {
                endpoints,
                prefix,
                user,
            } => EtcdEngine::connect(endpoints, prefix, user.clone())
                .await
                .map(AnyKv::Etcd),
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
        let etcd: MetaUrl = "etcd://u:p@10.0.0.1:2379,10.0.0.2:2379/vol"
            .parse()
            .unwrap();
        assert_eq!(etcd.to_string(), "etcd://10.0.0.1:2379,10.0.0.2:2379/vol");
        for bad in [
            "redis://x",
            "sqlite://rel.db",
            "/plain/path",
            "sqlite://",
            "etcd://host",
            "etcd://:1/x",
        ] {
            let err = bad.parse::<MetaUrl>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
