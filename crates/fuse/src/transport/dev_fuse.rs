//! The classic transport: read(2) and writev(2) on a `/dev/fuse` descriptor, one descriptor per
//! worker (cloned with `FUSE_DEV_IOC_CLONE`) so that each worker has its own kernel queue.

use std::ffi::CStr;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::Channel;
use crate::abi;

const DEV_FUSE: &CStr = c"/dev/fuse";

/// A request makes the device readable; an unmount aborts the connection and the device then
/// polls as EPOLLERR only, which readable interest alone would never report.
const WAKE_ON: Interest = Interest::READABLE.add(Interest::ERROR);

/// A `/dev/fuse` descriptor registered with the tokio reactor.
#[derive(Debug)]
pub struct DevFuse {
    fd: AsyncFd<OwnedFd>,
}

impl DevFuse {
    /// Wraps the descriptor a mount returned. Must be called inside a tokio runtime.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(fd.as_raw_fd())?;
        register(fd)
    }

    /// Opens a new descriptor bound to the same connection, for another worker.
    pub fn try_clone(&self) -> io::Result<Self> {
        // SAFETY: a plain open(2) of a constant NUL-terminated path; the result is checked.
        let raw = unsafe {
            libc::open(
                DEV_FUSE.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor we just opened and nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let session_fd: u32 = self.fd.get_ref().as_raw_fd() as u32;
        // SAFETY: FUSE_DEV_IOC_CLONE reads one u32 (the session's descriptor) through the pointer,
        // which points at a live local for the duration of the call.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                abi::ioctl::FUSE_DEV_IOC_CLONE as _,
                &session_fd,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        register(fd)
    }

    /// The raw descriptor, for logs and ioctls.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.get_ref().as_raw_fd()
    }
}

fn register(fd: OwnedFd) -> io::Result<DevFuse> {
    // SAFETY: the `OwnedFd` moves into the `AsyncFd`, so the descriptor stays open and the same
    // for the `AsyncFd`'s whole life.
    let fd = unsafe { AsyncFd::register_with_interest(fd, WAKE_ON) }?;
    Ok(DevFuse { fd })
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn read_once(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, writable slice of `buf.len()` bytes for the whole call.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

impl Channel for DevFuse {
    async fn receive(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut ready = self.fd.ready(WAKE_ON).await?;
            match ready.try_io(|fd| read_once(fd.as_raw_fd(), buf)) {
                Ok(Ok(n)) => return Ok(n),
                // ENOENT: the request was interrupted before we read it; EINTR: a signal.
                Ok(Err(e)) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINTR)) => {
                    continue;
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }

    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        let fd = self.fd.get_ref().as_raw_fd();
        loop {
            // SAFETY: `IoSlice` is ABI-compatible with `iovec`; the slices outlive the call.
            let n = unsafe { libc::writev(fd, parts.as_ptr().cast(), parts.len() as libc::c_int) };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }
}
