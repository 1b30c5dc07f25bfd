//! Mounting without privileges: `fusermount3` (setuid root) mounts and passes the `/dev/fuse`
//! descriptor back over a unix socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;

use super::{MountError, MountOption, option_text};

const FUSERMOUNT: &str = "fusermount3";

fn spawn_error(err: io::Error) -> MountError {
    if err.kind() == io::ErrorKind::NotFound {
        MountError::FusermountMissing
    } else {
        MountError::Io {
            path: FUSERMOUNT.into(),
            source: err,
        }
    }
}

pub(super) fn mount(mountpoint: &Path, options: &[MountOption]) -> Result<OwnedFd, MountError> {
    let (ours, theirs) = UnixStream::pair().map_err(|source| MountError::Io {
        path: mountpoint.into(),
        source,
    })?;
    clear_cloexec(&theirs).map_err(|source| MountError::Io {
        path: mountpoint.into(),
        source,
    })?;
    let opts = options
        .iter()
        .map(option_text)
        .collect::<Vec<_>>()
        .join(",");
    let mut cmd = Command::new(FUSERMOUNT);
    if !opts.is_empty() {
        cmd.arg("-o").arg(&opts);
    }
    let output = cmd
        .arg("--")
        .arg(mountpoint)
        .env("_FUSE_COMMFD", theirs.as_raw_fd().to_string())
        .output()
        .map_err(spawn_error)?;
    drop(theirs);
    if !output.status.success() {
        let msg = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        return Err(MountError::PermissionDenied(format!(
            "{FUSERMOUNT} failed: {msg}"
        )));
    }
    receive_fd(&ours).map_err(|source| MountError::Io {
        path: mountpoint.into(),
        source,
    })
}

pub(super) fn unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let mut cmd = Command::new(FUSERMOUNT);
    cmd.arg("-u").arg("-q");
    if lazy {
        cmd.arg("-z");
    }
    let output = cmd.arg("--").arg(mountpoint).output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{FUSERMOUNT} -u: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

fn clear_cloexec(sock: &UnixStream) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own, integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives one descriptor sent with SCM_RIGHTS.
fn receive_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // Room for one cmsghdr carrying one int, 8-byte aligned.
    let mut control = [0u64; 4];
    // SAFETY: msghdr is plain data; all-zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control);
    let n = loop {
        // SAFETY: `msg` points at `iov` and `control`, both live and writable for the call.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break n;
        }
    };
    if n <= 0 {
        return Err(io::Error::other("fusermount3 sent no descriptor"));
    }
    // SAFETY: `msg` was filled by recvmsg; CMSG_FIRSTHDR only reads its control fields.
    let cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    // SAFETY: a non-null cmsg points inside `control`, which we own.
    if cmsg.is_null() || unsafe { (*cmsg).cmsg_type } != libc::SCM_RIGHTS {
        return Err(io::Error::other("fusermount3 sent no descriptor"));
    }
    // SAFETY: for SCM_RIGHTS the data holds at least one int; read it unaligned to be safe.
    let fd: libc::c_int = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
    // SAFETY: the kernel installed this descriptor in our table for us alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
