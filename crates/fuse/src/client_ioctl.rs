//! The caller's side of a restricted FUSE ioctl: how a tool talks to the filesystem serving
//! a file it opened (the kernel forwards the request as an IOCTL operation, copying the
//! buffer in and out as the command's size and direction say).

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// The command number of `_IOWR(kind, nr, [u8; N])` (the generic Linux encoding: direction
/// in the top two bits, then 14 bits of size, the type byte and the number byte).
pub const fn read_write_cmd<const N: usize>(kind: u8, nr: u8) -> u32 {
    const READ_WRITE: u32 = 3;
    assert!(N < 1 << 14, "an ioctl argument is at most 16 KiB - 1");
    (READ_WRITE << 30) | ((N as u32) << 16) | ((kind as u32) << 8) | nr as u32
}

/// Issues `_IOWR(kind, nr, [u8; N])` on `file` with `buf` as its argument, which the
/// filesystem's answer overwrites; returns the ioctl's non-negative result.
pub fn ioctl_read_write<const N: usize>(
    file: &impl AsFd,
    kind: u8,
    nr: u8,
    buf: &mut [u8; N],
) -> io::Result<i32> {
    let cmd = read_write_cmd::<N>(kind, nr);
    // SAFETY: the command encodes N bytes read and written through the pointer, and `buf` is
    // a live, exclusively borrowed array of exactly N bytes for the whole call.
    let result = unsafe { libc::ioctl(file.as_fd().as_raw_fd(), cmd as _, buf.as_mut_ptr()) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_encode_like_the_kernel_macros() {
        // FS_IOC_GETFLAGS is _IOR('f', 1, long): the same layout with direction 2.
        assert_eq!(read_write_cmd::<8>(b'f', 1) & !(3 << 30), 0x0008_6601);
        assert_eq!(read_write_cmd::<64>(b'D', 1), 0xc040_4401);
    }

    #[test]
    fn a_file_without_the_ioctl_says_so() {
        let file = tempfile::tempfile().unwrap();
        let mut buf = [0u8; 64];
        let err = ioctl_read_write(&file, b'D', 1, &mut buf).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
    }
}
