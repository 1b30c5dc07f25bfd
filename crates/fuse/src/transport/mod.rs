//! The transport boundary: where request bytes come from and where reply bytes go.
//!
//! The session and the filesystem see only [`Channel`]. The classic `/dev/fuse` transport is
//! [`DevFuse`]; a FUSE-over-io_uring channel implements the same calls with ring buffers.

mod dev_fuse;

use std::io::{self, IoSlice};

pub use dev_fuse::DevFuse;

/// One queue of requests and replies between the kernel and this process, served by one worker
/// thread.
///
/// A reply must go back through the channel its request came from (the kernel keeps a
/// processing list per queue). Notifications may use any channel of the connection.
pub trait Channel: Send + Sync + 'static {
    /// Blocks until the next request is read whole into `buf`, and returns its length.
    /// `ENODEV`: the filesystem was unmounted. `ECANCELED`: [`Channel::stop`] was called.
    fn receive(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// Sends one whole reply or notification, as one unit the kernel never interleaves.
    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()>;

    /// Makes every `receive` on this channel and its clones return `ECANCELED`.
    fn stop(&self);
}
