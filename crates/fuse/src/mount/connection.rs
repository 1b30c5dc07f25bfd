//! The kernel's handle on a FUSE connection: its id (the mount's device number) and the fusectl
//! file that aborts it.
//!
//! Closing every `/dev/fuse` descriptor aborts a connection too, but a process that forks hands
//! its children copies of those descriptors until they exec; aborting through fusectl does not
//! wait for them.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where fusectl is normally mounted.
const FUSECTL: &str = "/sys/fs/fuse/connections";

/// The id of the FUSE connection mounted at `mountpoint`, read from `/proc/self/mountinfo`
/// (a stat of the mount itself would wait for INIT).
pub(super) fn id(mountpoint: &Path) -> Option<u32> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    id_in(&mountinfo, mountpoint.as_os_str().as_bytes())
}

fn id_in(mountinfo: &str, mountpoint: &[u8]) -> Option<u32> {
    mountinfo.lines().rev().find_map(|line| {
        let (fields, fs) = line.split_once(" - ")?;
        let mut fields = fields.split(' ');
        let dev = fields.nth(2)?;
        let point = fields.nth(1)?;
        if !fs.starts_with("fuse") || unescape(point) != mountpoint {
            return None;
        }
        let (major, minor) = dev.split_once(':')?;
        // fusectl names a connection by the kernel's dev_t: major << 20 | minor.
        Some((major.parse::<u32>().ok()? << 20) | minor.parse::<u32>().ok()?)
    })
}

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(field: &str) -> Vec<u8> {
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
    out
}

/// Aborts connection `id`: every request waiting on it fails with ENOTCONN at once.
pub(super) fn abort(id: u32) -> io::Result<()> {
    std::fs::write(format!("{FUSECTL}/{id}/abort"), b"1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_fuse_mount_at_a_path() {
        let info = "22 1 0:21 / /tmp/a rw - tmpfs tmpfs rw\n\
                    40 22 0:45 / /tmp/a\\040b rw,nosuid - fuse.memfs memfs rw,user_id=0\n\
                    41 22 0:46 / /tmp/a rw,nosuid - fuse memfs rw,user_id=0\n";
        assert_eq!(id_in(info, b"/tmp/a b"), Some(45));
        assert_eq!(id_in(info, b"/tmp/a"), Some(46));
        assert_eq!(id_in(info, b"/tmp/none"), None);
        assert_eq!(
            id_in("1 2 8:3 / /x rw - fuseblk dev rw\n", b"/x"),
            Some((8 << 20) | 3)
        );
    }
}
