//! The classic transport: read(2) and writev(2) on a `/dev/fuse` descriptor, one descriptor per
//! worker (cloned with `FUSE_DEV_IOC_CLONE`) so that each worker has its own kernel queue.
//!
//! A worker is an OS thread that reads its descriptor directly: when requests are queued a
//! request costs one read and one writev, with no event loop in between. An idle worker sleeps in
//! poll(2) on its descriptor and on a shared eventfd that `stop` signals.

use std::ffi::CStr;
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use super::Channel;
use crate::abi;

const DEV_FUSE: &CStr = c"/dev/fuse";

/// A `/dev/fuse` descriptor and the stop signal shared with its clones.
#[derive(Debug)]
pub struct DevFuse {
    fd: OwnedFd,
    stop: Arc<OwnedFd>,
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

impl DevFuse {
    /// Wraps the descriptor a mount returned.
    pub fn new(fd: OwnedFd) -> io::Result<Self> {
        set_nonblocking(fd.as_raw_fd())?;
        // SAFETY: eventfd with constant flags; the result is checked.
        let stop = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: `stop` is a descriptor we just created and nothing else owns.
        let stop = Arc::new(unsafe { OwnedFd::from_raw_fd(stop) });
        Ok(Self { fd, stop })
    }

    /// Opens a new descriptor bound to the same connection, for another worker.
    pub fn try_clone(&self) -> io::Result<Self> {
        // SAFETY: a plain open(2) of a constant NUL-terminated path; the result is checked.
        let raw = cvt(unsafe {
            libc::open(
                DEV_FUSE.as_ptr(),
                libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
            )
        })?;
        // SAFETY: `raw` is a descriptor we just opened and nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let session_fd: u32 = self.fd.as_raw_fd() as u32;
        // SAFETY: FUSE_DEV_IOC_CLONE reads one u32 (the session's descriptor) through the pointer,
        // which points at a live local for the duration of the call.
        cvt(unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                abi::ioctl::FUSE_DEV_IOC_CLONE as _,
                &session_fd,
            )
        })?;
        Ok(Self {
            fd,
            stop: Arc::clone(&self.stop),
        })
    }

    /// The raw descriptor, for logs and ioctls.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Whether the kernel still serves this connection: once its superblock is gone (a
    /// complete unmount) or it was aborted, the device polls as an error — and the
    /// connection's id may already name another mount.
    pub fn is_connected(&self) -> bool {
        let mut fd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the whole call; a zero timeout never blocks.
        let polled = unsafe { libc::poll(&mut fd, 1, 0) };
        polled >= 0 && fd.revents & (libc::POLLERR | libc::POLLNVAL) == 0
    }

    /// Sleeps until the device has a request (or an error) or the channel is stopped.
    fn wait(&self) -> io::Result<()> {
        let mut fds = [
            libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: self.stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: `fds` is a valid array of two pollfd structs for the whole call.
            match cvt(unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) }) {
                Ok(_) if fds[1].revents != 0 => {
                    return Err(io::Error::from_raw_os_error(libc::ECANCELED));
                }
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

impl Channel for DevFuse {
    fn receive(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            // SAFETY: `buf` is a valid, writable slice of `buf.len()` bytes for the whole call.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EAGAIN) => self.wait()?,
                // ENOENT: the request was interrupted before we read it; EINTR: a signal.
                Some(libc::ENOENT | libc::EINTR) => {}
                _ => return Err(err),
            }
        }
    }

    fn send(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        loop {
            // SAFETY: `IoSlice` is ABI-compatible with `iovec`; the slices outlive the call.
            let n = unsafe {
                libc::writev(
                    self.fd.as_raw_fd(),
                    parts.as_ptr().cast(),
                    parts.len() as libc::c_int,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }

    fn stop(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to our eventfd.
        let rc = unsafe { libc::write(self.stop.as_raw_fd(), (&raw const one).cast(), 8) };
        if rc < 0 {
            tracing::warn!(
                "cannot signal the FUSE workers to stop: {}",
                io::Error::last_os_error()
            );
        }
    }
}
