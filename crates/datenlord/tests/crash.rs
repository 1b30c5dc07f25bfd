//! Crash safety: fsynced data survives `kill -9` of the daemon, the dead mount is cleaned by
//! the next mount (`--clean-stale`), and fsck is clean afterwards.

mod common;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{Home, is_mounted};

/// Unmounts a background mount when the test ends, however it ends.
struct Guard(PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        if is_mounted(&self.0) {
            let _ = datenlord_fuse::unmount(&self.0, true);
        }
    }
}

fn daemon_pid(home: &Home) -> i32 {
    let out = home.run(&["status", "--json"]);
    let json = String::from_utf8_lossy(&out.stdout);
    let at = json.find("\"pid\": ").expect("a mount session");
    json[at + 7..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn used_inodes(home: &Home) -> u64 {
    let out = home.run(&["status", "--json"]);
    let json = String::from_utf8_lossy(&out.stdout);
    let at = json.find("\"inodes\": ").expect("usage in status");
    json[at + 10..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn mount(home: &Home, mountpoint: &str, extra: &[&str]) {
    let mut args = vec!["mount", "-d", mountpoint];
    args.extend_from_slice(extra);
    let out = home.run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fsynced_bytes_survive_kill_9() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let mp = dir.path().to_str().unwrap().to_string();
    let _guard = Guard(dir.path().to_path_buf());
    mount(&home, &mp, &[]);

    let pattern: Vec<u8> = (0..9 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let kept = dir.path().join("kept");
    let mut f = File::create(&kept).unwrap();
    f.write_all(&pattern).unwrap();
    f.sync_all().unwrap();
    drop(f);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let overwritten = dir.path().join("sub/overwritten");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&overwritten)
        .unwrap();
    f.write_all_at(&pattern[..1 << 20], 0).unwrap();
    f.write_all_at(b"second version", 100).unwrap();
    f.sync_data().unwrap();
    // Written but never synced: it may or may not survive, but must not corrupt anything.
    f.write_all_at(&pattern[..3 << 20], 5 << 20).unwrap();
    drop(f);
    let mut unsynced = File::create(dir.path().join("unsynced")).unwrap();
    unsynced.write_all(&pattern[..2 << 20]).unwrap();
    // Open and unlinked: it lives while the mount does, and goes when the mount dies.
    let mut orphan = File::create(dir.path().join("orphan")).unwrap();
    orphan.write_all(&pattern[..1 << 20]).unwrap();
    orphan.sync_all().unwrap();
    std::fs::remove_file(dir.path().join("orphan")).unwrap();
    let inodes_before = used_inodes(&home);

    let pid = daemon_pid(&home);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok() {
        assert!(Instant::now() < deadline, "daemon did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop((unsynced, orphan));
    assert!(
        std::fs::metadata(&kept).is_err(),
        "the dead mount answers with an error"
    );

    // Without --clean-stale the dead mount is reported; with it, it is replaced.
    let out = home.run(&["mount", "-d", &mp]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--clean-stale")
            || String::from_utf8_lossy(&out.stderr).contains("umount -l")
    );
    mount(&home, &mp, &["--clean-stale"]);
    assert_eq!(
        used_inodes(&home),
        inodes_before - 1,
        "the dead mount's unlinked file is reclaimed"
    );
    assert_eq!(std::fs::read(&kept).unwrap(), pattern);
    let data = std::fs::read(&overwritten).unwrap();
    assert_eq!(&data[100..114], b"second version");
    assert_eq!(&data[..100], &pattern[..100]);

    let out = home.run(&["umount", &mp]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = home.run(&["fsck"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !text.contains("mounted") {
            assert!(text.contains("clean"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "fsck after the crash: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
