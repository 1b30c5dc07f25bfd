//! The HTTP side: accepts connections (at most `max_connections` at once; more wait in the
//! listen backlog), serves each with HTTP/1.1 keep-alive, and on stop finishes the requests in
//! flight for a while before it drops them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::auth::Credentials;
use crate::service::Gateway;

/// How the gateway serves.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Connections served at once.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long requests in flight may take to finish once the gateway is told to stop.
    pub drain: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            drain: Duration::from_secs(10),
        }
    }
}

/// Serves `gateway` on `listener` until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    credentials: Credentials,
    config: GatewayConfig,
    stop: impl Future<Output = ()>,
) {
    let service = {
        let mut builder = S3ServiceBuilder::new(gateway);
        builder.set_auth(credentials.clone());
        builder.set_access(credentials);
        builder.build()
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
        let service = service.clone();
        let timeout = config.header_timeout;
        connections.spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .keep_alive(true)
                .serve_connection(TokioIo::new(socket), service)
                .await;
            if let Err(err) = served {
                tracing::debug!(%peer, %err, "connection ended");
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
