//! META_URL: which engine holds a volume's metadata, and where.

use std::path::PathBuf;

use crate::engine::{AnyEngine, EtcdEngine, KvError, SqliteEngine};

/// The engines a META_URL can name.
pub const SCHEMES: &str = "sqlite:///PATH, etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...][/PREFIX], \
     etcds://...[?cacert=CA.pem&cert=CLIENT.pem&key=CLIENT-KEY.pem] (TLS)";

/// Where the password of an etcd user comes from when the URL has none.
pub const PASSWORD_ENV: &str = "DATENLORD_META_PASSWORD";

/// TLS to etcd (`etcds://`): PEM files; without `ca` the system's roots are not used, so a
/// private CA is the normal case.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcdTls {
    /// The CA that signed the members' certificates.
    pub ca: Option<PathBuf>,
    /// A client certificate and its key, for clusters that check clients.
    pub cert: Option<PathBuf>,
    /// The private key of `cert`.
    pub key: Option<PathBuf>,
}

/// A parsed META_URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaUrl {
    /// `sqlite:///absolute/path/meta.db`
    Sqlite(PathBuf),
    /// `etcd://[user[:password]@]host:port[,host:port...][/prefix]`, or `etcds://` with TLS
    Etcd {
        /// The members, each `host:port`.
        endpoints: Vec<String>,
        /// Every key of the volume lives under `prefix/` (stored without leading or trailing
        /// `/`; `datenlord` when the URL names none).
        prefix: String,
        /// User and password, from the URL or [`PASSWORD_ENV`].
        user: Option<(String, String)>,
        /// TLS options, for `etcds://`.
        tls: Option<EtcdTls>,
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
            "etcd" | "etcds" => {
                let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
                let tls = match scheme {
                    "etcds" => Some(tls_options(query).map_err(|reason| invalid(&reason))?),
                    _ if !query.is_empty() => {
                        return Err(invalid("options after '?' are for etcds:// (TLS) only"));
                    }
                    _ => None,
                };
                let (authority, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                let (user, hosts) = match authority.rsplit_once('@') {
                    Some((userinfo, hosts)) => {
                        let (name, password) = match userinfo.split_once(':') {
                            Some((name, password)) => (name.to_string(), password.to_string()),
                            None => (
                                userinfo.to_string(),
                                std::env::var(PASSWORD_ENV).map_err(|_| {
                                    invalid(&format!(
                                        "no password for etcd user {userinfo}: put it in the \
                                         URL or in ${PASSWORD_ENV}"
                                    ))
                                })?,
                            ),
                        };
                        (Some((name, password)), hosts)
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
                    tls,
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
                endpoints,
                prefix,
                tls,
                ..
            } => {
                let scheme = if tls.is_some() { "etcds" } else { "etcd" };
                write!(f, "{scheme}://{}/{prefix}", endpoints.join(","))
            }
        }
    }
}

impl MetaUrl {
    /// Opens the engine; `create` allows making a new, empty database.
    pub async fn open(&self, create: bool) -> Result<AnyEngine, KvError> {
        match self {
            Self::Sqlite(path) => SqliteEngine::open(path, create).map(AnyEngine::Sqlite),
            Self::Etcd {
                endpoints,
                prefix,
                user,
                tls,
            } => EtcdEngine::connect(endpoints, prefix, user.clone(), tls.as_ref())
                .await
                .map(AnyEngine::Etcd),
        }
    }
}

/// `cacert=...&cert=...&key=...`
fn tls_options(query: &str) -> Result<EtcdTls, String> {
    let mut tls = EtcdTls::default();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("option '{pair}' has no value"))?;
        let path = Some(PathBuf::from(value));
        match name {
            "cacert" => tls.ca = path,
            "cert" => tls.cert = path,
            "key" => tls.key = path,
            other => {
                return Err(format!(
                    "unknown option '{other}' (etcds:// takes cacert, cert and key)"
                ));
            }
        }
    }
    if tls.cert.is_some() != tls.key.is_some() {
        return Err("a client certificate needs both cert= and key=".into());
    }
    Ok(tls)
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
        let etcds: MetaUrl = "etcds://u:p@h:2379/v?cacert=/ca.pem&cert=/c.pem&key=/k.pem"
            .parse()
            .unwrap();
        assert_eq!(etcds.to_string(), "etcds://h:2379/v");
        let MetaUrl::Etcd { tls: Some(tls), .. } = etcds else {
            panic!("TLS options")
        };
        assert_eq!(tls.ca, Some("/ca.pem".into()));
        assert_eq!(tls.key, Some("/k.pem".into()));
        for bad in [
            "redis://x",
            "sqlite://rel.db",
            "/plain/path",
            "sqlite://",
            "etcd://host",
            "etcd://:1/x",
            "etcd://h:1/x?cacert=/a",
            "etcds://h:1/x?cert=/c",
            "etcds://h:1/x?colour=blue",
        ] {
            let err = bad.parse::<MetaUrl>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}
