//! Mounting and unmounting: mount(2) directly as root, `fusermount3` otherwise.

mod connection;
mod fusermount;
mod kernel;
pub mod mountinfo;

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tracing::{debug, info, warn};

/// A mount option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountOption {
    /// Let users other than the mounter access the filesystem.
    AllowOther,
    /// Let the kernel check permissions from the mode bits instead of asking the filesystem.
    DefaultPermissions,
    /// The source shown in `/proc/mounts` (default: the filesystem's subtype or "fuse").
    FsName(String),
    /// The type shown as `fuse.SUBTYPE`.
    Subtype(String),
    /// Read-only.
    ReadOnly,
    /// Do not update access times.
    NoAtime,
    /// Do not allow executing programs.
    NoExec,
    /// Honour setuid/setgid bits (off by default).
    Suid,
    /// Allow device nodes to be opened (off by default).
    Dev,
    /// Synchronous writes.
    Sync,
    /// Synchronous directory changes.
    DirSync,
    /// Any other option, passed to the kernel as it is.
    Custom(String),
}

impl MountOption {
    /// Parses one `-o` option word (`allow_other`, `fsname=x`, `ro`, ...).
    pub fn parse(word: &str) -> Self {
        match word.split_once('=') {
            Some(("fsname", v)) => MountOption::FsName(v.to_owned()),
            Some(("subtype", v)) => MountOption::Subtype(v.to_owned()),
            _ => match word {
                "allow_other" => MountOption::AllowOther,
                "default_permissions" => MountOption::DefaultPermissions,
                "ro" => MountOption::ReadOnly,
                "noatime" => MountOption::NoAtime,
                "noexec" => MountOption::NoExec,
                "suid" => MountOption::Suid,
                "dev" => MountOption::Dev,
                "sync" => MountOption::Sync,
                "dirsync" => MountOption::DirSync,
                other => MountOption::Custom(other.to_owned()),
            },
        }
    }
}

/// Why mounting failed. Each message says what to do.
#[derive(Debug, Error)]
pub enum MountError {
    /// The mountpoint does not exist.
    #[error("mountpoint {0} does not exist; create it with `mkdir -p {0}`")]
    MountpointMissing(PathBuf),
    /// The mountpoint is not a directory.
    #[error("mountpoint {0} is not a directory")]
    NotADirectory(PathBuf),
    /// The mountpoint is a FUSE mount whose daemon is gone: every access fails with ENOTCONN.
    #[error(
        "mountpoint {0} is a FUSE mount whose daemon died (Transport endpoint is not connected); \
         clean it with `umount -l {0}` (or mount with the stale-mount cleanup option)"
    )]
    StaleMount(PathBuf),
    /// `/dev/fuse` does not exist (no fuse module, or a container without the device).
    #[error(
        "/dev/fuse is missing: load the module with `modprobe fuse` (or run the container with --device /dev/fuse)"
    )]
    DeviceMissing,
    /// mount(2) or `fusermount3` refused; the text says which, with fusermount3's own message.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Not root, and no `fusermount3` to mount for us.
    #[error("fusermount3 is not installed; install it (`apt-get install fuse3`) or mount as root")]
    FusermountMissing,
    /// A mount option that cannot be passed in the kernel's comma-separated option string.
    #[error("invalid mount option {0:?}: options may not contain ',' or NUL")]
    BadOption(String),
    /// Any other failure of a system call or of `fusermount3`.
    #[error("mounting {path} failed: {source}")]
    Io {
        /// The mountpoint, or the program that failed.
        path: PathBuf,
        /// The error the system returned.
        source: io::Error,
    },
}

/// How the mount was made, which decides how it is unmounted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Kernel,
    Fusermount,
}

/// A live mount. Dropping it unmounts (lazily when busy).
#[derive(Debug)]
pub struct Mount {
    device: Option<OwnedFd>,
    mountpoint: PathBuf,
    method: Method,
    mounted: bool,
    /// The kernel's id of the connection, for aborting it through fusectl.
    connection: Option<u32>,
    /// A dead FUSE mount was detached from the mountpoint first (`clean_stale`).
    replaced_stale: bool,
}

/// Options for [`Mount::new`] beyond the kernel options.
#[derive(Debug, Clone, Default)]
pub struct MountConfig {
    /// Kernel and fusermount options.
    pub options: Vec<MountOption>,
    /// If the mountpoint is a dead FUSE mount, detach it and mount over it.
    pub clean_stale: bool,
}

impl Mount {
    /// Checks, without mounting, that `mountpoint` is an existing, reachable directory: the
    /// errors [`Mount::new`] would give, for callers that want them before doing other work.
    pub fn check_mountpoint(mountpoint: &Path) -> Result<(), MountError> {
        let meta = std::fs::metadata(mountpoint).map_err(|e| classify_stat(mountpoint, e))?;
        if !meta.is_dir() {
            return Err(MountError::NotADirectory(mountpoint.into()));
        }
        Ok(())
    }

    /// Mounts a FUSE filesystem at `mountpoint`.
    pub fn new(mountpoint: impl AsRef<Path>, config: &MountConfig) -> Result<Self, MountError> {
        let mountpoint = mountpoint.as_ref();
        let mut replaced_stale = false;
        let meta = match std::fs::metadata(mountpoint) {
            Ok(meta) => meta,
            Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) && config.clean_stale => {
                warn!(mountpoint = %mountpoint.display(), "detaching a dead FUSE mount");
                replaced_stale = true;
                unmount(mountpoint, true).map_err(|source| MountError::Io {
                    path: mountpoint.into(),
                    source,
                })?;
                std::fs::metadata(mountpoint).map_err(|e| classify_stat(mountpoint, e))?
            }
            Err(e) => return Err(classify_stat(mountpoint, e)),
        };
        if !meta.is_dir() {
            return Err(MountError::NotADirectory(mountpoint.into()));
        }
        let mountpoint =
            std::fs::canonicalize(mountpoint).map_err(|e| classify_stat(mountpoint, e))?;
        for option in &config.options {
            let text = option_text(option);
            if text.contains(',') || text.contains('\0') {
                return Err(MountError::BadOption(text));
            }
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let root = unsafe { libc::geteuid() } == 0;
        let (device, method) = if root {
            (
                kernel::mount(&mountpoint, meta.mode(), &config.options)?,
                Method::Kernel,
            )
        } else {
            (
                fusermount::mount(&mountpoint, &config.options)?,
                Method::Fusermount,
            )
        };
        let connection = connection::id(&mountpoint);
        info!(mountpoint = %mountpoint.display(), connection, "mounted");
        Ok(Self {
            device: Some(device),
            mountpoint,
            method,
            mounted: true,
            connection,
            replaced_stale,
        })
    }

    /// Whether a dead FUSE mount ("Transport endpoint is not connected") was detached from
    /// the mountpoint before this one was made: whoever served it is gone.
    pub fn replaced_stale(&self) -> bool {
        self.replaced_stale
    }

    /// Where the filesystem is mounted.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The `/dev/fuse` descriptor of this mount (once; the session takes it).
    pub fn device(&mut self) -> io::Result<OwnedFd> {
        self.device
            .take()
            .ok_or_else(|| io::Error::other("the FUSE device was already taken"))
    }

    /// Aborts the connection (best effort; needs fusectl at /sys/fs/fuse/connections): requests
    /// still waiting on a lazily detached mount fail with ENOTCONN instead of waiting for a
    /// server that is gone.
    pub fn abort_connection(&self) {
        let Some(id) = self.connection else { return };
        match connection::abort(id) {
            Ok(()) => debug!(connection = id, "connection aborted"),
            // Already gone with the unmount, or fusectl is not mounted.
            Err(e) => debug!(connection = id, "cannot abort connection: {e}"),
        }
    }

    /// Unmounts now; a busy mount is detached lazily (it goes away when no longer used).
    pub fn unmount(&mut self) -> io::Result<()> {
        if !self.mounted {
            return Ok(());
        }
        self.mounted = false;
        match self.method {
            Method::Kernel => unmount(&self.mountpoint, false).or_else(|e| match e.raw_os_error() {
                Some(libc::EBUSY) => {
                    warn!(mountpoint = %self.mountpoint.display(), "mountpoint busy; detaching lazily");
                    unmount(&self.mountpoint, true)
                }
                // Already unmounted behind our back (umount by hand).
                Some(libc::EINVAL | libc::ENOENT) => Ok(()),
                _ => Err(e),
            }),
            Method::Fusermount => fusermount::unmount(&self.mountpoint, false)
                .or_else(|_| fusermount::unmount(&self.mountpoint, true)),
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            warn!(mountpoint = %self.mountpoint.display(), "unmount failed: {e}");
        }
    }
}

/// Unmounts any filesystem at `mountpoint` with umount2(2); `lazy` detaches a busy one.
pub fn unmount(mountpoint: &Path, lazy: bool) -> io::Result<()> {
    let path = CString::new(mountpoint.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let flags = if lazy { libc::MNT_DETACH } else { 0 };
    // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::umount2(path.as_ptr(), flags) } < 0 {
        let err = io::Error::last_os_error();
        // Without CAP_SYS_ADMIN only fusermount may unmount a user's FUSE mount.
        if err.raw_os_error() == Some(libc::EPERM) {
            return fusermount::unmount(mountpoint, lazy);
        }
        return Err(err);
    }
    Ok(())
}

fn classify_stat(path: &Path, err: io::Error) -> MountError {
    match err.raw_os_error() {
        Some(libc::ENOENT) => MountError::MountpointMissing(path.into()),
        Some(libc::ENOTDIR) => MountError::NotADirectory(path.into()),
        Some(libc::ENOTCONN) => MountError::StaleMount(path.into()),
        Some(libc::EACCES | libc::EPERM) => {
            MountError::PermissionDenied(format!("cannot access {}", path.display()))
        }
        _ => MountError::Io {
            path: path.into(),
            source: err,
        },
    }
}

fn option_text(option: &MountOption) -> String {
    match option {
        MountOption::AllowOther => "allow_other".into(),
        MountOption::DefaultPermissions => "default_permissions".into(),
        MountOption::FsName(name) => format!("fsname={name}"),
        MountOption::Subtype(sub) => format!("subtype={sub}"),
        MountOption::ReadOnly => "ro".into(),
        MountOption::NoAtime => "noatime".into(),
        MountOption::NoExec => "noexec".into(),
        MountOption::Suid => "suid".into(),
        MountOption::Dev => "dev".into(),
        MountOption::Sync => "sync".into(),
        MountOption::DirSync => "dirsync".into(),
        MountOption::Custom(text) => text.clone(),
    }
}

fn fs_name(options: &[MountOption]) -> &OsStr {
    options
        .iter()
        .find_map(|o| match o {
            MountOption::FsName(name) => Some(OsStr::new(name.as_str())),
            _ => None,
        })
        .unwrap_or(OsStr::new("fuse"))
}

fn open_device() -> Result<OwnedFd, MountError> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .map(OwnedFd::from)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENODEV | libc::ENXIO) => MountError::DeviceMissing,
            Some(libc::EACCES | libc::EPERM) => {
                MountError::PermissionDenied("cannot open /dev/fuse".into())
            }
            _ => MountError::Io {
                path: "/dev/fuse".into(),
                source: e,
            },
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_words_parse_and_print_back() {
        for word in [
            "allow_other",
            "default_permissions",
            "fsname=dl",
            "subtype=memfs",
            "ro",
            "max_read=4096",
        ] {
            assert_eq!(option_text(&MountOption::parse(word)), word);
        }
    }

    #[test]
    fn missing_and_non_directory_mountpoints_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(matches!(
            Mount::new(&missing, &MountConfig::default()),
            Err(MountError::MountpointMissing(_))
        ));
        let file = dir.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        let err = Mount::new(&file, &MountConfig::default()).unwrap_err();
        assert!(matches!(err, MountError::NotADirectory(_)), "{err}");
        let bad = MountConfig {
            options: vec![MountOption::FsName("a,b".into())],
            ..Default::default()
        };
        assert!(matches!(
            Mount::new(dir.path(), &bad),
            Err(MountError::BadOption(_))
        ));
    }
}
