//! A gRPC channel to a CSI driver's unix socket, for tools and tests that speak to one.

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Uri};

use crate::{CsiError, Endpoint};

/// Connects to the driver listening on `endpoint`.
pub async fn connect(endpoint: &Endpoint) -> Result<Channel, CsiError> {
    let path = endpoint.path().to_path_buf();
    // The URI is a placeholder: the connector below dials the socket whatever it says.
    let channel = tonic::transport::Endpoint::from(Uri::from_static("http://csi.sock"))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await?;
    Ok(channel)
}
