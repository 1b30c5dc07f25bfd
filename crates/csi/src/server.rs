//! Serving the driver's services on its unix socket until told to stop.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use datenlord_meta::Meta;
use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;

use crate::controller::ControllerService;
use crate::identity::IdentityService;
use crate::node::NodeService;
use crate::pb::controller_server::ControllerServer;
use crate::pb::identity_server::IdentityServer;
use crate::pb::node_server::NodeServer;
use crate::volumes::Volumes;
use crate::{CsiError, Endpoint};

/// What one driver process is.
#[derive(Debug, Default)]
pub struct DriverConfig {
    /// The node it serves (NodeGetInfo's id).
    pub node_id: String,
    /// Whether it serves the Controller service.
    pub controller: bool,
    /// Whether it serves the Node service.
    pub node: bool,
    /// The node's topology segments (none: volumes are reachable from every node).
    pub topology: BTreeMap<String, String>,
    /// The DatenLord volume calls whose secrets name none use, if any.
    pub meta: Option<Arc<Meta>>,
    /// Its META_URL as given (the mount daemons of its volumes get it), if one was.
    pub meta_url: Option<String>,
    /// The program whose `mount` serves a staged volume (the `datenlord` binary).
    pub binary: Option<PathBuf>,
    /// Where the mounts of staged volumes keep their disk caches, each volume in a
    /// directory of its own (`csi/<id>`), so that each one's cache size holds for it alone.
    pub cache_root: Option<PathBuf>,
}

/// Serves on `endpoint` until `shutdown` completes; a socket left by a driver that died is
/// replaced, a live one is refused.
pub async fn serve(
    endpoint: &Endpoint,
    config: DriverConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CsiError> {
    let listener = listen(endpoint).await?;
    let config = Arc::new(config);
    tracing::info!(
        %endpoint,
        node_id = %config.node_id,
        controller = config.controller,
        node = config.node,
        "serving CSI"
    );
    let volumes = Arc::new(Volumes::new(config.meta.clone()));
    let identity = IdentityService {
        config: config.clone(),
    };
    let controller = config.controller.then(|| {
        ControllerServer::new(ControllerService {
            volumes: volumes.clone(),
        })
    });
    let node = config.node.then(|| {
        NodeServer::new(NodeService {
            config: config.clone(),
            volumes: volumes.clone(),
        })
    });
    let result = tonic::transport::Server::builder()
        .add_service(IdentityServer::new(identity))
        .add_optional_service(controller)
        .add_optional_service(node)
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    let _ = std::fs::remove_file(endpoint.path());
    Ok(result?)
}

async fn listen(endpoint: &Endpoint) -> Result<UnixListener, CsiError> {
    let path = endpoint.path();
    let io = |what: String| move |source| CsiError::Io { what, source };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(io(format!("making {}", dir.display())))?;
    }
    if tokio::fs::symlink_metadata(path).await.is_ok() {
        if tokio::net::UnixStream::connect(path).await.is_ok() {
            return Err(CsiError::Endpoint {
                endpoint: endpoint.to_string(),
                reason: "another driver serves there".into(),
            });
        }
        tokio::fs::remove_file(path)
            .await
            .map_err(io(format!("removing the stale socket {}", path.display())))?;
    }
    UnixListener::bind(path).map_err(io(format!("listening on {}", path.display())))
}
