//! What can stop the driver from serving.

/// Errors of the driver as a whole (a call's errors are gRPC statuses).
#[derive(Debug, thiserror::Error)]
pub enum CsiError {
    /// The endpoint is not one the driver can listen on.
    #[error("endpoint {endpoint}: {reason}")]
    Endpoint {
        /// As given.
        endpoint: String,
        /// Why not.
        reason: String,
    },
    /// Listening or serving failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// The gRPC server stopped with an error.
    #[error("serving gRPC: {0}")]
    Transport(#[from] tonic::transport::Error),
}
