//! Mounting and unmounting: error paths, stale mounts, lazy unmount, and the memfs binary's
//! signal handling.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::is_mounted;
use datenlord_fuse::{Mount, MountConfig, MountError};

#[test]
fn missing_or_non_directory_mountpoints_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = Mount::new(&missing, &MountConfig::default()).unwrap_err();
    assert!(matches!(err, MountError::MountpointMissing(_)));
    assert!(err.to_string().contains("does not exist"), "{err}");
    let file = dir.path().join("file");
    fs::write(&file, b"").unwrap();
    assert!(matches!(
        Mount::new(&file, &MountConfig::default()),
        Err(MountError::NotADirectory(_))
    ));
}

/// The memfs example binary, which `cargo test` builds next to the test binaries.
fn memfs_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/memfs");
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test`, which builds examples",
        path.display()
    );
    path
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_memfs(mountpoint: &Path) -> Child {
    let child = Command::new(memfs_binary())
        .arg(mountpoint)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("memfs to mount", || is_mounted(mountpoint));
    child
}

fn stop_with(signal: nix::sys::signal::Signal) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_memfs(dir.path());
    fs::write(dir.path().join("f"), b"hello").unwrap();
    assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"hello");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let mut status = None;
    wait_for("memfs to exit", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "memfs exit status {status:?}");
    assert!(!is_mounted(dir.path()), "memfs left its mount behind");
}

#[test]
fn memfs_unmounts_on_sigterm() {
    stop_with(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn memfs_unmounts_on_sigint() {
    stop_with(nix::sys::signal::Signal::SIGINT);
}

#[test]
fn memfs_explains_a_missing_mountpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(memfs_binary())
        .arg(dir.path().join("nope"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    let mut help = String::new();
    Command::new(memfs_binary())
        .arg("--help")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
        .stdout
        .unwrap()
        .read_to_string(&mut help)
        .unwrap();
    assert!(help.contains("Examples"), "{help}");
}

#[test]
fn a_non_root_mount_goes_through_fusermount3() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mountpoint = dir.path().join("mnt");
    fs::create_dir(&mountpoint).unwrap();
    std::os::unix::fs::chown(&mountpoint, Some(65534), Some(65534)).unwrap();
    let mut child = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(memfs_binary())
        .arg(&mountpoint)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if is_mounted(&mountpoint) {
            // Where unprivileged FUSE is allowed, the mount works and SIGTERM takes it down.
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(child.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            )
            .unwrap();
            assert!(child.wait().unwrap().success());
            assert!(!is_mounted(&mountpoint));
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            // Where it is not (/dev/fuse only for root, no setuid), the user is told why.
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            assert!(!status.success());
            assert!(stderr.contains("fusermount3"), "{stderr}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "memfs as a user neither mounted nor failed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
