//! Mounting without privileges: `fusermount3` (setuid root) mounts and passes the `/dev/fuse`
//! descriptor back over a unix socket.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
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

/// `CMSG_ALIGN`: control messages and their data start at multiples of `size_t`.
const fn cmsg_align(len: usize) -> usize {
    len.next_multiple_of(size_of::<usize>())
}

/// `CMSG_LEN(0)`: where a control message's data starts.
const CMSG_HEADER: usize = cmsg_align(size_of::<libc::cmsghdr>());
/// `CMSG_LEN(sizeof(int))`: the length of a message carrying exactly one descriptor.
const CMSG_LEN_ONE_FD: usize = CMSG_HEADER + size_of::<libc::c_int>();
/// `CMSG_SPACE(sizeof(int))`: room for that message. On 64-bit the padding has room for a second
/// descriptor, so receiving one is no proof that only one was sent.
const CMSG_SPACE_ONE_FD: usize = CMSG_HEADER + cmsg_align(size_of::<libc::c_int>());

/// What a received control buffer holds.
#[derive(Debug, PartialEq, Eq)]
struct Rights {
    /// Every descriptor the kernel installed for us: ours to close, whatever else is wrong.
    fds: Vec<RawFd>,
    /// Why this is not one SCM_RIGHTS message carrying one descriptor, if it is not.
    error: Option<&'static str>,
}

/// Reads the control messages of a `recvmsg` (`control` is the `msg_controllen` bytes it
/// filled, `msg_flags` its flags) without trusting their lengths.
fn parse_rights(control: &[u8], msg_flags: libc::c_int) -> Rights {
    let int = |at: usize| {
        control
            .get(at..at + size_of::<libc::c_int>())
            .map(|b| libc::c_int::from_ne_bytes(b.try_into().expect("int-sized slice")))
    };
    let mut fds = Vec::new();
    let mut error = None;
    let mut messages = 0;
    let mut at = 0;
    while let Some(header) = control.get(at..at + CMSG_HEADER) {
        // The kernel's cmsghdr starts with a size_t length.
        let len = usize::from_ne_bytes(header[..size_of::<usize>()].try_into().expect("usize"));
        let level = int(at + std::mem::offset_of!(libc::cmsghdr, cmsg_level));
        let kind = int(at + std::mem::offset_of!(libc::cmsghdr, cmsg_type));
        let Some(end) = at
            .checked_add(len)
            .filter(|&end| len >= CMSG_HEADER && end <= control.len())
        else {
            // The kernel never writes such a message: its contents are not descriptors of ours.
            error = Some("a malformed control message");
            break;
        };
        messages += 1;
        if level == Some(libc::SOL_SOCKET) && kind == Some(libc::SCM_RIGHTS) {
            fds.extend(
                control[at + CMSG_HEADER..end]
                    .chunks_exact(size_of::<libc::c_int>())
                    .map(|b| libc::c_int::from_ne_bytes(b.try_into().expect("int-sized chunk"))),
            );
            if len != CMSG_LEN_ONE_FD {
                error.get_or_insert("more than one descriptor");
            }
        } else {
            error.get_or_insert("a control message other than SCM_RIGHTS");
        }
        at += cmsg_align(len);
    }
    if msg_flags & libc::MSG_CTRUNC != 0 {
        error = Some("a truncated control message");
    } else if messages == 0 {
        error.get_or_insert("no descriptor");
    } else if messages > 1 {
        error.get_or_insert("more than one control message");
    }
    Rights { fds, error }
}

/// Receives the one descriptor fusermount3 sends with SCM_RIGHTS, close-on-exec.
fn receive_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // u64s keep the buffer aligned for cmsghdr.
    let mut control = [0u64; CMSG_SPACE_ONE_FD.div_ceil(size_of::<u64>())];
    // SAFETY: msghdr is plain data; all-zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_SPACE_ONE_FD;
    let n = loop {
        // SAFETY: `msg` points at `iov` and `control`, both live and writable for the call, and
        // `msg_controllen` does not exceed `control`.
        let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    };
    let control = zerocopy::IntoBytes::as_bytes(&control);
    let Rights { fds, error } = parse_rights(
        &control[..msg.msg_controllen.min(CMSG_SPACE_ONE_FD)],
        msg.msg_flags,
    );
    let mut fds: Vec<OwnedFd> = fds
        .into_iter()
        // SAFETY: the kernel installed these descriptors in our table for this message alone;
        // owning them here closes each one on every path that does not return it.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    let problem = if n == 0 {
        Some("it closed the socket")
    } else {
        error
    };
    match (problem, fds.pop()) {
        (None, Some(fd)) => Ok(fd),
        (problem, _) => Err(io::Error::other(format!(
            "{FUSERMOUNT} sent no usable descriptor: {}",
            problem.unwrap_or("no descriptor")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One control message as the kernel lays it out, padded to its CMSG_SPACE.
    fn message(level: libc::c_int, kind: libc::c_int, fds: &[libc::c_int]) -> Vec<u8> {
        let len = CMSG_HEADER + size_of_val(fds);
        let mut bytes = vec![0u8; cmsg_align(len)];
        bytes[..size_of::<usize>()].copy_from_slice(&len.to_ne_bytes());
        let level_at = std::mem::offset_of!(libc::cmsghdr, cmsg_level);
        bytes[level_at..level_at + 4].copy_from_slice(&level.to_ne_bytes());
        let kind_at = std::mem::offset_of!(libc::cmsghdr, cmsg_type);
        bytes[kind_at..kind_at + 4].copy_from_slice(&kind.to_ne_bytes());
        for (i, fd) in fds.iter().enumerate() {
            let at = CMSG_HEADER + i * 4;
            bytes[at..at + 4].copy_from_slice(&fd.to_ne_bytes());
        }
        bytes
    }

    fn rights(fds: &[libc::c_int]) -> Vec<u8> {
        message(libc::SOL_SOCKET, libc::SCM_RIGHTS, fds)
    }

    /// Sends one byte with `fds` attached, as fusermount3 does.
    fn send(sock: &UnixStream, fds: &[libc::c_int]) {
        let mut control = rights(fds);
        let mut byte = [0u8];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // SAFETY: msghdr is plain data; all-zero is a valid empty value.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        // SAFETY: `msg` points at `iov` and `control`, live for the call; the fds are open.
        assert_eq!(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, 0) }, 1);
    }

    #[test]
    fn a_real_socket_passes_one_descriptor_close_on_exec() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        send(&theirs, &[file.as_raw_fd()]);
        let fd = receive_fd(&ours).unwrap();
        // SAFETY: F_GETFD on a descriptor we own.
        let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);

        send(&theirs, &[file.as_raw_fd(), file.as_raw_fd()]);
        assert!(receive_fd(&ours).is_err(), "two descriptors");
        drop(theirs);
        assert!(receive_fd(&ours).is_err(), "end of stream");
    }

    #[test]
    fn sizes_match_the_c_macros() {
        // SAFETY: CMSG_LEN and CMSG_SPACE only compute with their argument.
        let (len, space) = unsafe { (libc::CMSG_LEN(4), libc::CMSG_SPACE(4)) };
        assert_eq!(
            (CMSG_LEN_ONE_FD, CMSG_SPACE_ONE_FD),
            (len as usize, space as usize)
        );
        assert_eq!(rights(&[7]).len(), CMSG_SPACE_ONE_FD);
    }

    #[test]
    fn one_descriptor_is_accepted() {
        let r = parse_rights(&rights(&[7]), 0);
        assert_eq!(
            r,
            Rights {
                fds: vec![7],
                error: None
            }
        );
    }

    #[test]
    fn two_descriptors_are_all_returned_to_close_and_refused() {
        let r = parse_rights(&rights(&[7, 8]), 0);
        assert_eq!(r.fds, [7, 8]);
        assert!(r.error.is_some());
    }

    #[test]
    fn a_truncated_message_is_refused_but_its_descriptor_closed() {
        let r = parse_rights(&rights(&[7]), libc::MSG_CTRUNC);
        assert_eq!(r.fds, [7]);
        assert!(r.error.is_some());
    }

    #[test]
    fn no_control_message_is_refused() {
        assert_eq!(parse_rights(&[], 0).error, Some("no descriptor"));
        // A MSG_CTRUNC with nothing written: the buffer could not even hold a header.
        let r = parse_rights(&[], libc::MSG_CTRUNC);
        assert!(r.fds.is_empty() && r.error.is_some());
    }

    #[test]
    fn other_levels_and_types_carry_no_descriptors() {
        for (level, kind) in [
            (libc::IPPROTO_IP, libc::SCM_RIGHTS),
            (libc::SOL_SOCKET, libc::SCM_CREDENTIALS),
        ] {
            let r = parse_rights(&message(level, kind, &[7]), 0);
            assert!(r.fds.is_empty(), "{level}/{kind}");
            assert!(r.error.is_some(), "{level}/{kind}");
        }
    }

    #[test]
    fn lengths_past_the_buffer_or_below_a_header_are_not_trusted() {
        let mut long = rights(&[7]);
        long[..size_of::<usize>()].copy_from_slice(&(CMSG_SPACE_ONE_FD + 8).to_ne_bytes());
        let mut short = rights(&[7]);
        short[..size_of::<usize>()].copy_from_slice(&4usize.to_ne_bytes());
        for bytes in [long, short, rights(&[7])[..CMSG_HEADER + 2].to_vec()] {
            let r = parse_rights(&bytes, 0);
            assert!(r.fds.is_empty());
            assert!(r.error.is_some());
        }
    }

    #[test]
    fn a_second_message_is_refused_and_both_closed() {
        let mut bytes = rights(&[7]);
        bytes.extend(rights(&[8]));
        let r = parse_rights(&bytes, 0);
        assert_eq!(r.fds, [7, 8]);
        assert!(r.error.is_some());
    }
}
