//! System-call helpers shared by the mount tests of every crate.

#![allow(dead_code)]

use std::path::Path;

/// Whether `path` appears as a mountpoint in /proc/mounts.
pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let path = path.to_string_lossy();
    mounts
        .lines()
        .any(|line| line.split_whitespace().nth(1) == Some(&*path))
}

/// The errno of a failed io::Result.
pub fn errno<T: std::fmt::Debug>(result: std::io::Result<T>) -> i32 {
    result
        .expect_err("expected an error")
        .raw_os_error()
        .expect("an OS error")
}

/// A C string of a path, for libc calls.
pub fn cpath(path: &Path) -> std::ffi::CString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap()
}

/// Turns a libc return value into io::Result.
pub fn check(rc: libc::c_int) -> std::io::Result<libc::c_int> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Extended attributes through the raw syscalls.
pub mod xattr {
    use std::io;
    use std::path::Path;

    use super::cpath;

    pub fn set(path: &Path, name: &str, value: &[u8], flags: i32) -> io::Result<()> {
        let (p, n) = (cpath(path), std::ffi::CString::new(name).unwrap());
        // SAFETY: valid C strings and a value slice that outlive the call.
        let rc = unsafe {
            libc::setxattr(
                p.as_ptr(),
                n.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                flags,
            )
        };
        super::check(rc).map(drop)
    }

    /// The value, read into a buffer of `cap` bytes (0 asks for the size).
    pub fn get(path: &Path, name: &str, cap: usize) -> io::Result<Vec<u8>> {
        let (p, n) = (cpath(path), std::ffi::CString::new(name).unwrap());
        let mut buf = vec![0u8; cap];
        // SAFETY: the buffer is valid for `cap` bytes for the whole call.
        let rc = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), cap) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(if cap == 0 { 0 } else { rc as usize });
        if cap == 0 {
            buf = vec![0; rc as usize];
        }
        Ok(buf)
    }

    pub fn list(path: &Path) -> io::Result<Vec<String>> {
        let p = cpath(path);
        let mut buf = vec![0u8; 4096];
        // SAFETY: the buffer is valid for its length for the whole call.
        let rc = unsafe { libc::listxattr(p.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        buf.truncate(rc as usize);
        Ok(buf
            .split(|&b| b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect())
    }

    pub fn remove(path: &Path, name: &str) -> io::Result<()> {
        let (p, n) = (cpath(path), std::ffi::CString::new(name).unwrap());
        // SAFETY: valid C strings that outlive the call.
        super::check(unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) }).map(drop)
    }
}
