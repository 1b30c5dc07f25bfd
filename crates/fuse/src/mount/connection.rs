//! The kernel's handle on a FUSE connection: its id (the mount's device number) and the fusectl
//! file that aborts it.
//!
//! Closing every `/dev/fuse` descriptor aborts a connection too, but a process that forks hands
//! its children copies of those descriptors until they exec; aborting through fusectl does not
//! wait for them.

use std::io;
use std::path::Path;

use super::mountinfo;

/// Where fusectl is normally mounted.
const FUSECTL: &str = "/sys/fs/fuse/connections";

/// The id of the FUSE connection mounted at `mountpoint`, read from `/proc/self/mountinfo`
/// (a stat of the mount itself would wait for INIT).
pub(super) fn id(mountpoint: &Path) -> Option<u32> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    id_in(&mountinfo, mountpoint)
}

fn id_in(text: &str, mountpoint: &Path) -> Option<u32> {
    let fuse = mountinfo::parse(text)
        .into_iter()
        .filter(|e| e.fstype.starts_with("fuse"))
        .collect::<Vec<_>>();
    let (major, minor) = mountinfo::topmost_at(&fuse, mountpoint)?.device;
    // fusectl names a connection by the kernel's dev_t: major << 20 | minor.
    Some((major << 20) | minor)
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
        assert_eq!(id_in(info, Path::new("/tmp/a b")), Some(45));
        assert_eq!(id_in(info, Path::new("/tmp/a")), Some(46));
        assert_eq!(id_in(info, Path::new("/tmp/none")), None);
        assert_eq!(
            id_in("1 2 8:3 / /x rw - fuseblk dev rw\n", Path::new("/x")),
            Some((8 << 20) | 3)
        );
    }
}
