//! The transport boundary: where request bytes come from and where reply bytes go.
//!
//! The session and the filesystem see only [`Channel`]. The classic `/dev/fuse` transport is
//! [`DevFuse`]; a FUSE-over-io_uring channel implements the same two calls with ring buffers.

mod dev_fuse;

use std::future::Future;
use std::io::{self, IoSlice};

pub use dev_fuse::DevFuse;

/// One queue of requests and replies between the kernel and this process.
///
/// A reply must go back through the channel its request came from (the kernel keeps a
/// processing list per queue). Notifications may use any channel of the connection.
pub trait Channel: Send + Sync + 'static {
    /// Waits for the next request and reads it whole into `buf`, returning its length.
    /// `ENODEV` means the filesystem was unmounted: the channel is finished.
    fn receive(&self, buf: &mut [u8]) -> impl Future<Output = io::Result<usize>> + Send;

    /// Sends one whole reply or notification, as one unit the kernel never interleaves.
    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()>;
}
