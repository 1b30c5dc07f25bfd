//! What is mounted where on this node (`/proc/self/mountinfo`), and the bind mounts and
//! unmounts the Node service makes. Every call here may block (a hung FUSE daemon blocks a
//! `stat` of its mount): callers run them off the async threads.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// The filesystem type of a DatenLord mount, and of bind mounts of one.
pub const DATENLORD_FSTYPE: &str = "fuse.datenlord";

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem's directory it shows (`/` for a whole filesystem).
    pub root: String,
    /// The filesystem type (`fuse.datenlord`, `ext4`, ...).
    pub fstype: String,
    /// The per-mount options (`rw`, `ro`, `nosuid`, ...).
    pub options: Vec<String>,
}

impl MountEntry {
    /// Whether the mount is read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

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

/// Mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| bytes[i] == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        if let Some(digits) = octal {
            let value = digits
                .iter()
                .fold(0u32, |value, d| value * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(value).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The entries of a mountinfo text, in mount order; lines it cannot read are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields.iter().position(|f| *f == "-")?;
            if separator < 6 {
                return None;
            }
            Some(MountEntry {
                root: unescape(fields[3]),
                mount_point: PathBuf::from(unescape(fields[4])),
                options: fields[5].split(',').map(str::to_string).collect(),
                fstype: (*fields.get(separator + 1)?).to_string(),
            })
        })
        .collect()
}

/// The topmost mount at `path`, if any.
pub fn mount_at(path: &Path) -> io::Result<Option<MountEntry>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")?;
    let path = normalized(path);
    Ok(parse_mountinfo(&text)
        .into_iter()
        .rev()
        .find(|entry| entry.mount_point == path))
}

/// `path` without a trailing `/` or `.` components, as mountinfo names mount points.
fn normalized(path: &Path) -> PathBuf {
    path.components().collect()
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
    match nix::mount::umount(path) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::EBUSY | nix::errno::Errno::ENOTCONN) => {
            Ok(nix::mount::umount2(path, MntFlags::MNT_DETACH)?)
        }
        Err(nix::errno::Errno::EINVAL) => Ok(()), // not a mount point (any longer)
        Err(err) => Err(err.into()),
    }
}

/// Space and inodes of the filesystem mounted at `path`.
pub fn usage(path: &Path) -> io::Result<nix::sys::statvfs::Statvfs> {
    Ok(nix::sys::statvfs::statvfs(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /var/lib/kubelet/plugins/kubernetes.io/csi/csi.datenlord.io/abc/globalmount rw,nosuid,nodev,relatime shared:20 - fuse.datenlord datenlord:default rw,user_id=0,group_id=0
41 22 0:35 / /var/lib/kubelet/pods/p1/volumes/kubernetes.io~csi/pvc-1/mount ro,nosuid,nodev,relatime shared:20 - fuse.datenlord datenlord:default rw
42 22 0:36 /data /mnt/with\\040space rw - tmpfs tmpfs rw
bad line
";

    #[test]
    fn mountinfo_lines_give_their_mount_points_types_and_options() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries.len(), 4);
        assert_eq!(entries[1].fstype, DATENLORD_FSTYPE);
        assert!(!entries[1].read_only());
        assert!(entries[2].read_only());
        assert_eq!(entries[3].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(entries[3].root, "/data");
    }

    #[test]
    fn paths_compare_without_trailing_slashes() {
        assert_eq!(normalized(Path::new("/a/b/")), PathBuf::from("/a/b"));
        assert_eq!(normalized(Path::new("/a/./b")), PathBuf::from("/a/b"));
    }

    #[test]
    fn only_per_mount_flags_reach_a_bind_mount() {
        assert_eq!(bind_flag("ro"), Some(MsFlags::MS_RDONLY));
        assert_eq!(bind_flag("noexec"), Some(MsFlags::MS_NOEXEC));
        assert_eq!(bind_flag("allow_other"), None);
    }
}
