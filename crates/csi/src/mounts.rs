//! What is mounted where on this node (`/proc/self/mountinfo`), and the bind mounts and
//! unmounts the Node service makes. Every call here may block (a hung FUSE daemon blocks a
//! `stat` of its mount): callers run them off the async threads.

use std::io;
use std::path::Path;

use datenlord_fuse::mountinfo::{self, MountEntry};
use nix::mount::{MntFlags, MsFlags};

/// The filesystem type of a DatenLord mount, and of bind mounts of one.
pub const DATENLORD_FSTYPE: &str = "fuse.datenlord";

/// What a path is, as far as mounts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountState {
    /// No mount there.
    NotMounted,
    /// A mount that answers.
    Live(MountEntry),
    /// A mount whose server is gone ("Transport endpoint is not connected").
    Dead(MountEntry),
}

/// The topmost mount at `path`, if any.
pub fn mount_at(path: &Path) -> io::Result<Option<MountEntry>> {
    Ok(mountinfo::topmost_at(&mountinfo::read()?, path))
}

/// Where else the mount at `staging` is bound besides `staging` and `target` (a bind mount
/// shows its source's device, and each staged volume has a FUSE connection of its own).
pub fn other_binds(staging: &Path, target: &Path) -> io::Result<Vec<std::path::PathBuf>> {
    let entries = mountinfo::read()?;
    let Some(staged) = mountinfo::topmost_at(&entries, staging) else {
        return Ok(Vec::new());
    };
    let target: std::path::PathBuf = target.components().collect();
    Ok(entries
        .into_iter()
        .filter(|e| e.device == staged.device)
        .map(|e| e.mount_point)
        .filter(|point| *point != staged.mount_point && *point != target)
        .collect())
}

/// What `path` is: not a mount, a live one, or one whose server is gone.
pub fn state(path: &Path) -> io::Result<MountState> {
    let Some(entry) = mount_at(path)? else {
        return Ok(MountState::NotMounted);
    };
    match std::fs::metadata(path) {
        Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => Ok(MountState::Dead(entry)),
        _ => Ok(MountState::Live(entry)),
    }
}

/// Per-mount flags a bind mount can take, by their mount(8) names; others are the
/// filesystem's (given to the FUSE mount when the volume is staged).
fn bind_flag(option: &str) -> Option<MsFlags> {
    Some(match option {
        "ro" => MsFlags::MS_RDONLY,
        "nosuid" => MsFlags::MS_NOSUID,
        "nodev" => MsFlags::MS_NODEV,
        "noexec" => MsFlags::MS_NOEXEC,
        "noatime" => MsFlags::MS_NOATIME,
        "nodiratime" => MsFlags::MS_NODIRATIME,
        "relatime" => MsFlags::MS_RELATIME,
        _ => return None,
    })
}

/// Bind-mounts `source` at `target` (an existing directory), read-only when asked, with the
/// per-mount flags among `options`.
pub fn bind(source: &Path, target: &Path, read_only: bool, options: &[String]) -> io::Result<()> {
    let mut flags = options
        .iter()
        .filter_map(|o| bind_flag(o))
        .fold(MsFlags::empty(), |all, f| all | f);
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    nix::mount::mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    if !flags.is_empty() {
        // A bind mount takes its own flags only when remounted.
        let remounted = nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | flags,
            None::<&str>,
        );
        if let Err(err) = remounted {
            let _ = nix::mount::umount2(target, MntFlags::MNT_DETACH);
            return Err(err.into());
        }
    }
    Ok(())
}

/// Unmounts `path`: at once if nothing uses it, else lazily (it goes when the last user lets
/// go; new lookups no longer reach it).
pub fn unmount(path: &Path) -> io::Result<()> {
    match datenlord_fuse::unmount(path, false) {
        Err(err) if matches!(err.raw_os_error(), Some(libc::EBUSY | libc::ENOTCONN)) => {
            datenlord_fuse::unmount(path, true)
        }
        // Not a mount point (any longer).
        Err(err) if err.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other,
    }
}

/// Space and inodes of the filesystem mounted at `path`.
pub fn usage(path: &Path) -> io::Result<nix::sys::statvfs::Statvfs> {
    Ok(nix::sys::statvfs::statvfs(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_per_mount_flags_reach_a_bind_mount() {
        assert_eq!(bind_flag("ro"), Some(MsFlags::MS_RDONLY));
        assert_eq!(bind_flag("noexec"), Some(MsFlags::MS_NOEXEC));
        assert_eq!(bind_flag("allow_other"), None);
    }
}
