//! Connections left without a server: a crashed daemon's mount, and a busy mount whose session
//! stops. They live in their own test binary because a process that forks (other tests spawn
//! programs) hands its children copies of every descriptor until they exec: a child closing a
//! copy of a file on a connection nobody serves would wait for that flush forever.

mod common;

use std::fs::{self, File};
use std::io::Read;

use common::{Mounted, is_mounted};
use datenlord_fuse::{Mount, MountConfig, MountError};

#[test]
fn a_dead_mount_is_reported_and_can_be_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let mut mount = Mount::new(dir.path(), &MountConfig::default()).unwrap();
    // Closing the device without unmounting is what a crashed daemon leaves behind.
    drop(mount.device().unwrap());
    std::mem::forget(mount);
    assert_eq!(
        fs::metadata(dir.path()).unwrap_err().raw_os_error(),
        Some(libc::ENOTCONN)
    );

    let err = Mount::new(dir.path(), &MountConfig::default()).unwrap_err();
    assert!(matches!(err, MountError::StaleMount(_)), "{err}");
    assert!(err.to_string().contains("umount -l"), "{err}");

    let mount = Mount::new(
        dir.path(),
        &MountConfig {
            clean_stale: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(is_mounted(dir.path()));
    drop(mount);
    assert!(!is_mounted(dir.path()));
}

#[test]
fn a_busy_mount_is_detached_lazily_on_stop() {
    let m = Mounted::new();
    let path = m.path().to_path_buf();
    fs::write(m.join("open"), b"x").unwrap();
    let mut file = File::open(m.join("open")).unwrap();
    let notifier = m.fs.notifier().unwrap().clone();
    drop(m);
    assert!(!is_mounted(&path));
    // With the daemon gone the connection is aborted: callers get an error instead of waiting.
    let mut buf = [0u8; 1];
    assert_eq!(
        file.read(&mut buf).unwrap_err().raw_os_error(),
        Some(libc::ENOTCONN)
    );
    assert_eq!(
        notifier.inval_inode(1, 0, 0).unwrap_err().raw_os_error(),
        Some(libc::ENOTCONN)
    );
    drop(file);
}
