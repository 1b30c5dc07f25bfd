//! META_URL: which engine holds a volume's metadata, and where.

use std::path::PathBuf;

use crate::engine::redis::Address;
use crate::engine::{AnyEngine, EtcdEngine, KvError, PostgresEngine, RedisEngine, SqliteEngine};

/// The engines a META_URL can name.
pub const SCHEMES: &str = "sqlite:///PATH, etcd://[USER[:PASSWORD]@]HOST:PORT[,HOST:PORT...][/PREFIX], \
     etcds://...[?cacert=CA.pem&cert=CLIENT.pem&key=CLIENT-KEY.pem] (TLS), \
     redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?prefix=NAME], rediss://... (TLS, same options as etcds), \
     postgres://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?table=NAME]";

/// Where the password of an etcd or Redis user comes from when the URL has none.
pub const PASSWORD_ENV: &str = "DATENLORD_META_PASSWORD";

/// TLS to etcd (`etcds://`) or Redis (`rediss://`): PEM files. Without `ca`, etcd's
/// certificates are checked against no root (a private CA is the normal case there) and
/// Redis's against the system's roots (managed services use public ones).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsFiles {
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
        tls: Option<TlsFiles>,
    },
    /// `postgres://[user[:password]@]host[:port][/database][?table=name]`
    Postgres {
        /// `host:port`
        endpoint: String,
        /// The user (`postgres` when the URL names none) and its password.
        user: (String, Option<String>),
        /// The database (`postgres` when the URL names none).
        database: String,
        /// The volume's table (`datenlord` when the URL names none).
        table: String,
    },
    /// `redis://[[user]:password@]host:port[/db][?prefix=name]`, or `rediss://` with TLS
    Redis {
        /// The server and how to log in.
        address: Address,
        /// Every key of the volume carries the hash tag `{prefix}` (`datenlord` when the URL
        /// names none).
        prefix: String,
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
            "redis" | "rediss" => redis_url(scheme, rest).map_err(|reason| invalid(&reason)),
            "postgres" | "postgresql" => postgres_url(rest).map_err(|reason| invalid(&reason)),
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
            Self::Postgres {
                endpoint,
                database,
                table,
                ..
            } => write!(f, "postgres://{endpoint}/{database}?table={table}"),
            Self::Redis { address, prefix } => {
                let scheme = if address.tls.is_some() {
                    "rediss"
                } else {
                    "redis"
                };
                write!(
                    f,
                    "{scheme}://{}/{}?prefix={prefix}",
                    address.endpoint, address.db
                )
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
            Self::Redis { address, prefix } => RedisEngine::connect(address.clone(), prefix)
                .await
                .map(AnyEngine::Redis),
            Self::Postgres {
                endpoint,
                user,
                database,
                table,
            } => {
                let mut config = tokio_postgres::Config::new();
                let (host, port) = endpoint.rsplit_once(':').unwrap_or((endpoint, "5432"));
                config
                    .host(host.trim_start_matches('[').trim_end_matches(']'))
                    .port(port.parse().unwrap_or(5432))
                    .user(&user.0)
                    .dbname(database)
                    .application_name("datenlord");
                if let Some(password) = &user.1 {
                    config.password(password);
                }
                PostgresEngine::connect(config, table)
                    .await
                    .map(AnyEngine::Postgres)
            }
        }
    }
}

/// The rest of a `redis://` or `rediss://` URL after the scheme.
fn redis_url(scheme: &str, rest: &str) -> Result<MetaUrl, String> {
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
    let db = db.trim_end_matches('/');
    let db = match db {
        "" => 0,
        db => db
            .parse::<u32>()
            .map_err(|_| format!("'{db}' is no database number: redis://HOST:PORT/DB"))?,
    };
    let (user, endpoint) = match authority.rsplit_once('@') {
        Some((userinfo, endpoint)) => {
            let (name, password) = match userinfo.split_once(':') {
                Some((name, password)) => (name.to_string(), password.to_string()),
                None => (
                    userinfo.to_string(),
                    std::env::var(PASSWORD_ENV).map_err(|_| {
                        format!(
                            "no password for Redis user {userinfo}: put it in the URL or in \
                             ${PASSWORD_ENV}"
                        )
                    })?,
                ),
            };
            let name = (!name.is_empty()).then_some(name);
            (Some((name, password)), endpoint)
        }
        None => (None, authority),
    };
    let valid = endpoint
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !valid {
        return Err("expected redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?prefix=NAME]".into());
    }
    let mut prefix = "datenlord".to_string();
    let mut tls_query = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("prefix", name)) => {
                if name.is_empty() || name.contains(['{', '}']) {
                    return Err("a prefix is a non-empty name without braces".into());
                }
                prefix = name.to_string();
            }
            _ => tls_query.push(pair),
        }
    }
    let tls = match scheme {
        "rediss" => Some(tls_options(&tls_query.join("&"))?),
        _ if !tls_query.is_empty() => {
            return Err("options other than prefix= are for rediss:// (TLS) only".into());
        }
        _ => None,
    };
    Ok(MetaUrl::Redis {
        address: Address {
            endpoint: endpoint.to_string(),
            user,
            db,
            tls,
        },
        prefix,
    })
}

/// `name` as a PostgreSQL table name `postgres://...?table=` takes: lowercase, every
/// character but a-z and 0-9 made `_`.
pub fn postgres_table(name: &str) -> String {
    name.chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .collect()
}

/// The rest of a `postgres://` URL after the scheme.
fn postgres_url(rest: &str) -> Result<MetaUrl, String> {
    let usage = "expected postgres://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?table=NAME]";
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, endpoint) = match authority.rsplit_once('@') {
        Some((userinfo, endpoint)) => match userinfo.split_once(':') {
            Some((name, password)) => ((name.to_string(), Some(password.to_string())), endpoint),
            None => (
                (userinfo.to_string(), std::env::var(PASSWORD_ENV).ok()),
                endpoint,
            ),
        },
        None => (("postgres".to_string(), None), authority),
    };
    let endpoint = match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            endpoint.to_string()
        }
        None if !endpoint.is_empty() => format!("{endpoint}:5432"),
        _ => return Err(usage.into()),
    };
    if user.0.is_empty() {
        return Err(usage.into());
    }
    let mut table = "datenlord".to_string();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("table", name))
                if !name.is_empty()
                    && name.len() <= 48
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') =>
            {
                table = name.to_string();
            }
            Some(("table", _)) => {
                return Err("a table name is 1 to 48 of a-z, 0-9 and _".into());
            }
            Some(("sslmode", _)) => {
                return Err("TLS to PostgreSQL is not supported yet: reach it over a trusted network or a tunnel".into());
            }
            _ => {
                return Err(format!(
                    "unknown option '{pair}' (postgres:// takes table=)"
                ));
            }
        }
    }
    let database = database.trim_end_matches('/');
    Ok(MetaUrl::Postgres {
        endpoint,
        user,
        database: if database.is_empty() {
            "postgres".into()
        } else {
            database.into()
        },
        table,
    })
}

/// `cacert=...&cert=...&key=...`
fn tls_options(query: &str) -> Result<TlsFiles, String> {
    let mut tls = TlsFiles::default();
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
                    "unknown option '{other}' (TLS takes cacert, cert and key)"
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
        let redis: MetaUrl = "redis://:pw@127.0.0.1:6379/3?prefix=vol".parse().unwrap();
        assert_eq!(redis.to_string(), "redis://127.0.0.1:6379/3?prefix=vol");
        let MetaUrl::Redis { address, prefix } = redis else {
            panic!("a Redis URL")
        };
        assert_eq!((address.db, prefix.as_str()), (3, "vol"));
        assert_eq!(address.user, Some((None, "pw".to_string())));
        let rediss: MetaUrl = "rediss://u:p@h:6380?cacert=/ca.pem".parse().unwrap();
        assert_eq!(rediss.to_string(), "rediss://h:6380/0?prefix=datenlord");
        let pg: MetaUrl = "postgresql://dl:pw@db.example:5433/meta?table=vol_1"
            .parse()
            .unwrap();
        assert_eq!(
            pg.to_string(),
            "postgres://db.example:5433/meta?table=vol_1"
        );
        let pg: MetaUrl = "postgres://localhost".parse().unwrap();
        assert_eq!(
            pg.to_string(),
            "postgres://localhost:5432/postgres?table=datenlord"
        );
        for bad in [
            "postgres://h/db?table=Bad-Name",
            "postgres://h/db?sslmode=require",
            "postgres://:1/db",
            "redis://x",
            "redis://h:1/x",
            "redis://h:1?cacert=/a",
            "redis://h:1?prefix=a{b}",
            "mysql://h:1",
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
