//! One connection to a Redis server: TCP or TLS, authenticated, on the chosen database; one
//! command at a time, each bounded by a timeout.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::resp::{self, Reply};
use crate::engine::KvError;
use crate::engine::url::TlsFiles;

/// How long connecting (with TLS and authentication) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one command may take before its connection is given up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a Redis server is and how to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `host:port`
    pub endpoint: String,
    /// User (ACL) and password; a password alone logs in as `default`.
    pub user: Option<(Option<String>, String)>,
    /// The logical database (`SELECT`).
    pub db: u32,
    /// TLS, for `rediss://`.
    pub tls: Option<TlsFiles>,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection, ready for commands.
pub struct Connection {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// A failure to reach the server: worth retrying until the operation's deadline.
fn unavailable(endpoint: &str, what: impl std::fmt::Display) -> KvError {
    KvError::Unavailable(format!("redis {endpoint}: {what}"))
}

impl Connection {
    /// Connects, logs in and selects the database.
    pub async fn open(address: &Address) -> Result<Self, KvError> {
        tokio::time::timeout(CONNECT_TIMEOUT, Self::open_now(address))
            .await
            .map_err(|_| unavailable(&address.endpoint, "connecting timed out"))?
    }

    async fn open_now(address: &Address) -> Result<Self, KvError> {
        let endpoint = &address.endpoint;
        let tcp = TcpStream::connect(endpoint)
            .await
            .map_err(|e| unavailable(endpoint, e))?;
        tcp.set_nodelay(true)
            .map_err(|e| unavailable(endpoint, e))?;
        let io: Box<dyn Io> = match &address.tls {
            None => Box::new(tcp),
            Some(files) => {
                let connector = tokio_rustls::TlsConnector::from(client_config(files)?);
                let host = endpoint
                    .rsplit_once(':')
                    .map_or(endpoint.as_str(), |(h, _)| h);
                let host = host.trim_start_matches('[').trim_end_matches(']');
                let name = ServerName::try_from(host.to_string()).map_err(|e| KvError::Open {
                    url: endpoint.clone(),
                    reason: format!("not a server name for TLS: {e}"),
                })?;
                Box::new(
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| unavailable(endpoint, format!("TLS: {e}")))?,
                )
            }
        };
        let mut conn = Self {
            io,
            buf: Vec::new(),
        };
        if let Some((user, password)) = &address.user {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = user {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            conn.expect_ok(&auth, endpoint).await?;
        }
        if address.db != 0 {
            let db = address.db.to_string();
            conn.expect_ok(&[b"SELECT", db.as_bytes()], endpoint)
                .await?;
        }
        Ok(conn)
    }

    async fn expect_ok(&mut self, args: &[&[u8]], endpoint: &str) -> Result<(), KvError> {
        match self.call(args).await? {
            Reply::Status(_) => Ok(()),
            // A server still loading its data passes; wrong credentials do not.
            Reply::Error(e) => match super::refused(&e) {
                KvError::Engine(_) => Err(KvError::Open {
                    url: endpoint.to_string(),
                    reason: format!("{} refused: {e}", String::from_utf8_lossy(args[0])),
                }),
                passing => Err(passing),
            },
            other => Err(KvError::Engine(format!("unexpected reply {other:?}"))),
        }
    }

    /// Sends one command and waits for its reply (an error reply is a reply, not an `Err`).
    /// After an `Err` the connection is in an unknown state and must be dropped.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Reply, KvError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.call_now(args))
            .await
            .map_err(|_| KvError::Unavailable("redis: no reply within 5 s".into()))?
    }

    async fn call_now(&mut self, args: &[&[u8]]) -> Result<Reply, KvError> {
        let lost = |e: std::io::Error| KvError::Unavailable(format!("redis connection: {e}"));
        self.io.write_all(&resp::encode(args)).await.map_err(lost)?;
        self.io.flush().await.map_err(lost)?;
        self.receive().await
    }

    /// The next reply the server sends (for subscriptions, which send without being asked).
    pub async fn receive(&mut self) -> Result<Reply, KvError> {
        let lost = |e: std::io::Error| KvError::Unavailable(format!("redis connection: {e}"));
        loop {
            if let Some((reply, used)) =
                resp::decode(&self.buf).map_err(|e| KvError::Engine(e.to_string()))?
            {
                self.buf.drain(..used);
                return Ok(reply);
            }
            self.buf.reserve(64 << 10);
            let n = self.io.read_buf(&mut self.buf).await.map_err(lost)?;
            if n == 0 {
                return Err(KvError::Unavailable("redis closed the connection".into()));
            }
        }
    }
}

/// The client side of TLS: the server checked against `files.ca` (or the system's roots),
/// and a client certificate when `files` has one.
fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, KvError> {
    let bad = |path: &std::path::Path, why: String| KvError::Open {
        url: path.display().to_string(),
        reason: why,
    };
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca {
        Some(ca) => {
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca, e.to_string()))? {
                let cert = cert.map_err(|e| bad(ca, e.to_string()))?;
                roots.add(cert).map_err(|e| bad(ca, e.to_string()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                // A system root rustls cannot use is no reason to refuse the others.
                let _ = roots.add(cert);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| KvError::Engine(e.to_string()))?
        .with_root_certificates(roots);
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect)
                .map_err(|e| bad(cert, e.to_string()))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, e.to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad(cert, e.to_string()))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
