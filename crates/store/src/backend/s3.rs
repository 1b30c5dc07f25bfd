//! The S3 object store through OpenDAL: timeouts, retries with backoff, bounded concurrency.

use std::time::Duration;

use crate::error::Result;
use crate::url::S3Location;

/// How long one object-store request may take, whole and between bytes.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(20);
/// Retries of a failed request, with exponential backoff (1, 2, 4 s) and jitter.
const RETRIES: usize = 3;
const MAX_BACKOFF: Duration = Duration::from_secs(4);
/// Requests in flight to one object store.
const CONCURRENCY: usize = 64;

/// An S3 bucket behind timeouts, retries with backoff, and bounded concurrency.
pub(super) fn operator(s3: &S3Location) -> Result<opendal::Operator> {
    // reqwest's rustls comes without a crypto provider (keeps aws-lc out): ring is ours, then
    // the HTTP transport every OpenDAL HTTP service uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    opendal_http_transport_reqwest::install_default();
    let mut builder = opendal::services::S3::default()
        .bucket(&s3.bucket)
        .root(&format!("/{}", s3.prefix))
        .region(s3.region.as_deref().unwrap_or("us-east-1"));
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.endpoint(endpoint);
    }
    if s3.virtual_host {
        builder = builder.enable_virtual_host_style();
    }
    Ok(opendal::Operator::new(builder)?
        .layer(
            opendal::layers::TimeoutLayer::new()
                .with_timeout(REQUEST_TIMEOUT)
                .with_io_timeout(IO_TIMEOUT),
        )
        .layer(
            opendal::layers::RetryLayer::new()
                .with_max_times(RETRIES)
                .with_max_delay(MAX_BACKOFF)
                .with_jitter(),
        )
        .layer(opendal::layers::ConcurrentLimitLayer::new(CONCURRENCY)))
}
