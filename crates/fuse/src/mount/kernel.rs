//! Mounting with mount(2), which needs CAP_SYS_ADMIN.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{MountError, MountOption, fs_name, open_device, option_text};

pub(super) fn mount(
    mountpoint: &Path,
    root_mode: u32,
    options: &[MountOption],
) -> Result<OwnedFd, MountError> {
    let device = open_device()?;
    let mut flags = libc::MS_NOSUID | libc::MS_NODEV;
    let mut data = format!(
        "fd={},rootmode={:o},user_id={},group_id={}",
        device.as_raw_fd(),
        root_mode & libc::S_IFMT,
        // SAFETY: getuid/getgid have no preconditions and cannot fail.
        unsafe { libc::getuid() },
        // SAFETY: as above.
        unsafe { libc::getgid() },
    );
    let mut fs_type = String::from("fuse");
    for option in options {
        match option {
            MountOption::ReadOnly => flags |= libc::MS_RDONLY,
            MountOption::NoAtime => flags |= libc::MS_NOATIME,
            MountOption::NoExec => flags |= libc::MS_NOEXEC,
            MountOption::Suid => flags &= !libc::MS_NOSUID,
            MountOption::Dev => flags &= !libc::MS_NODEV,
            MountOption::Sync => flags |= libc::MS_SYNCHRONOUS,
            MountOption::DirSync => flags |= libc::MS_DIRSYNC,
            MountOption::Subtype(sub) => fs_type = format!("fuse.{sub}"),
            MountOption::FsName(_) => {}
            other => {
                data.push(',');
                data.push_str(&option_text(other));
            }
        }
    }
    let cstr = |bytes: &[u8]| {
        CString::new(bytes)
            .map_err(|_| MountError::BadOption(String::from_utf8_lossy(bytes).into()))
    };
    let source = cstr(fs_name(options).as_bytes())?;
    let target = cstr(mountpoint.as_os_str().as_bytes())?;
    let fs_type = cstr(fs_type.as_bytes())?;
    let data = cstr(data.as_bytes())?;
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fs_type.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        return Err(match err.raw_os_error() {
            Some(libc::EPERM | libc::EACCES) => {
                MountError::PermissionDenied(format!("mount(2) of {}", mountpoint.display()))
            }
            Some(libc::ENODEV) => MountError::DeviceMissing,
            _ => MountError::Io {
                path: mountpoint.into(),
                source: err,
            },
        });
    }
    Ok(device)
}
