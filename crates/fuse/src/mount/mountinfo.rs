//! `/proc/self/mountinfo`: what is mounted where, as the kernel lists it (proc(5)).

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The filesystem's directory it shows (`/` for a whole filesystem).
    pub root: PathBuf,
    /// The filesystem type (`fuse.datenlord`, `ext4`, ...).
    pub fstype: String,
    /// The per-mount options (`rw`, `ro`, `nosuid`, ...).
    pub options: Vec<String>,
    /// The device's major and minor numbers (a FUSE connection's id comes from them).
    pub device: (u32, u32),
}

impl MountEntry {
    /// Whether the mount is read-only.
    pub fn read_only(&self) -> bool {
        self.options.iter().any(|o| o == "ro")
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> PathBuf {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    PathBuf::from(OsString::from_vec(out))
}

/// The entries of a mountinfo text, in mount order; lines it cannot read are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let separator = fields.iter().position(|f| *f == "-")?;
            if separator < 6 {
                return None;
            }
            let (major, minor) = fields[2].split_once(':')?;
            Some(MountEntry {
                root: unescape(fields[3]),
                mount_point: unescape(fields[4]),
                options: fields[5].split(',').map(str::to_string).collect(),
                fstype: (*fields.get(separator + 1)?).to_string(),
                device: (major.parse().ok()?, minor.parse().ok()?),
            })
        })
        .collect()
}

/// This process's mounts, in mount order.
pub fn read() -> io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The topmost of `entries` mounted at `path` (compared by components: a trailing `/` or
/// `.` does not matter).
pub fn topmost_at(entries: &[MountEntry], path: &Path) -> Option<MountEntry> {
    let path: PathBuf = path.components().collect();
    entries
        .iter()
        .rev()
        .find(|e| e.mount_point == path)
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /var/lib/kubelet/plugins/x/globalmount rw,nosuid,nodev,relatime shared:20 - fuse.datenlord datenlord:default rw,user_id=0
41 22 0:35 / /var/lib/kubelet/pods/p1/mount ro,nosuid,nodev,relatime shared:20 - fuse.datenlord datenlord:default rw
42 22 0:36 /data /mnt/with\\040space rw - tmpfs tmpfs rw
43 22 0:37 / /mnt/with\\040space rw - fuse memfs rw
bad line
";

    #[test]
    fn lines_give_their_mount_points_types_options_and_devices() {
        let entries = parse(SAMPLE);
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[1].fstype, "fuse.datenlord");
        assert_eq!(entries[1].device, (0, 35));
        assert!(!entries[1].read_only());
        assert!(entries[2].read_only());
        assert_eq!(entries[3].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(entries[3].root, PathBuf::from("/data"));
    }

    #[test]
    fn the_topmost_mount_wins_and_trailing_slashes_do_not_matter() {
        let top = topmost_at(&parse(SAMPLE), Path::new("/mnt/with space/")).unwrap();
        assert_eq!((top.fstype.as_str(), top.device), ("fuse", (0, 37)));
        assert!(topmost_at(&parse(SAMPLE), Path::new("/mnt/none")).is_none());
    }
}
