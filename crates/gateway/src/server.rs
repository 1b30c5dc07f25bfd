//! The HTTP side: accepts connections (at most `max_connections` at once; more wait in the
//! listen backlog), serves each with HTTP/1.1 keep-alive, and on stop finishes the requests in
//! flight for a while before it drops them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::access::Peer;
use crate::front::Front;
use crate::host::Domains;
use crate::service::Gateway;

/// The largest file of a browser upload (POST): `s3s` holds it in memory to check the form's
/// policy, so it is bounded well below S3's 5 GiB; larger objects take a PUT or a multipart
/// upload.
pub const POST_MAX: u64 = 64 << 20;

/// How the gateway serves.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Serve HTTPS with this (see [`crate::tls::server_config`]); plain HTTP without.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long requests in flight may take to finish once the gateway is told to stop.
    pub drain: Duration,
    /// The base domains of virtual-hosted-style requests; none: path style only.
    pub domains: Domains,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("tls", &self.tls.is_some())
            .field("max_connections", &self.max_connections)
            .field("header_timeout", &self.header_timeout)
            .field("drain", &self.drain)
            .field("domains", &self.domains)
            .finish()
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            tls: None,
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(10),
            domains: Domains::default(),
        }
    }
}

/// Serves one connection until the client closes it.
async fn serve_one<S>(stream: S, service: Front, timeout: Duration, peer: std::net::SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(err) = served {
        tracing::debug!(%peer, %err, "connection ended");
    }
}

/// Serves `gateway` on `listener` until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    config: GatewayConfig,
    stop: impl Future<Output = ()>,
) {
    let service = {
        let ns = gateway.namespace().clone();
        let auth = gateway.credentials().clone();
        let access = gateway.access();
        let mut builder = S3ServiceBuilder::new(gateway);
        builder.set_auth(auth);
        builder.set_access(access);
        let mut s3 = S3Config::default();
        s3.post_object_max_file_size = POST_MAX;
        builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(s3))));
        if !config.domains.is_empty() {
            builder.set_host(config.domains.clone());
        }
        Front::new(builder.build(), ns, config.domains.clone())
    };
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut connections = JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (socket, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // EMFILE and the like: back off instead of spinning.
                    tracing::warn!(%err, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.as_mut() => break,
        };
        let _ = socket.set_nodelay(true);
        let tls = config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        let service = service.for_peer(Peer {
            addr: peer,
            secure: tls.is_some(),
        });
        let timeout = config.header_timeout;
        connections.spawn(async move {
            match tls {
                None => serve_one(socket, service, timeout, peer).await,
                Some(acceptor) => {
                    match tokio::time::timeout(timeout, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => serve_one(stream, service, timeout, peer).await,
                        Ok(Err(err)) => tracing::debug!(%peer, %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let drained = tokio::time::timeout(config.drain, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = connections.len(),
            "stopping with requests still in flight"
        );
        connections.abort_all();
    }
}
