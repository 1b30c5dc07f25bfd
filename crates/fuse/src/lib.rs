//! `datenlord-fuse`: an asynchronous FUSE library that talks to `/dev/fuse` directly.
//!
//! - [`abi`]: the kernel's wire structs; [`decode`]: bytes to typed operations, without `unsafe`.
//! - [`Filesystem`]: one async method per operation, each with an ENOSYS default; the return
//!   type of a method is its reply type ([`reply`]).
//! - [`Mount`] mounts (mount(2) as root, `fusermount3` otherwise) and unmounts on drop.
//! - [`Session`] answers INIT, then serves requests from several cloned `/dev/fuse` queues, one
//!   worker thread each: a handler runs on the worker until it first waits, then continues as a
//!   tokio task, so requests are served concurrently. Request buffers are pooled.
//! - [`Notifier`] sends cache invalidations and data to the kernel.
//! - [`transport::Channel`] is the boundary a FUSE-over-io_uring transport plugs into.
//!
//! ```no_run
//! use datenlord_fuse::{Config, Filesystem, Mount, MountConfig, Session};
//!
//! struct Empty;
//! impl Filesystem for Empty {}
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mount = Mount::new("/mnt/empty", &MountConfig::default())?;
//! Session::new(Empty, mount, Config::default())?.run().await?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

#[allow(missing_debug_implementations)] // zerocopy's derives emit helper types
pub mod abi;
pub mod client_ioctl;
pub mod decode;
mod errno;
mod filesystem;
mod mount;
mod notify;
mod pool;
pub mod reply;
mod session;
pub mod transport;

pub use decode::op;
pub use errno::{Errno, Result};
pub use filesystem::Filesystem;
pub use mount::{Mount, MountConfig, MountError, MountOption, mountinfo, unmount};
pub use notify::Notifier;
pub use session::{Config, InitInfo, Request, Session, SessionError};
