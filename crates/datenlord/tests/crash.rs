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
    let live = sessions(home);
    assert_eq!(live.len(), 1, "one mount session: {live:?}");
    live[0].1 as i32
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
    // The dead mount's unlinked file is to be reclaimed, not kept in the trash.
    home.set_trash_days(0);
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
    assert_fsck_clean(&home);
}

/// Once the unmounted daemon's session is gone, fsck finds the volume clean.
fn assert_fsck_clean(home: &Home) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = home.run(&["fsck"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !text.contains("mounted") {
            assert!(text.contains("clean"), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "fsck still sees a mount: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The sessions `status` lists: (id, pid).
fn sessions(home: &Home) -> Vec<(u64, u64)> {
    let out = home.run(&["status", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    json["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| (s["id"].as_u64().unwrap(), s["pid"].as_u64().unwrap()))
        .collect()
}

/// Waits until the mount at `mountpoint` answers "Transport endpoint is not connected".
fn wait_dead(mountpoint: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(mountpoint)
        .err()
        .and_then(|e| e.raw_os_error())
        != Some(libc::ENOTCONN)
    {
        assert!(Instant::now() < deadline, "the killed mount did not die");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `mount --clean-stale` right after `kill -9` ends the killed mount's session at once (it
/// served the dead mount it replaces), round after round: status lists only the live mount
/// and fsck does not think the volume is mounted after the last unmount.
#[test]
fn clean_stale_ends_the_session_of_the_mount_it_replaces() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let mp = dir.path().to_str().unwrap().to_string();
    let _guard = Guard(dir.path().to_path_buf());
    mount(&home, &mp, &[]);
    for round in 0..3 {
        let live = sessions(&home);
        assert_eq!(live.len(), 1, "round {round}: {live:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(live[0].1 as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_dead(dir.path());
        mount(&home, &mp, &["--clean-stale"]);
        let now = sessions(&home);
        assert_eq!(now.len(), 1, "round {round}: {now:?}");
        assert_ne!(now[0], live[0], "round {round}: the new mount's session");
    }
    let out = home.run(&["umount", &mp]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_fsck_clean(&home);
}

/// A mount in another PID namespace (a container on the same node) cannot look up this
/// mount's PID, so it must not end this mount's live session for a PID it does not see.
#[test]
fn a_mount_in_another_pid_namespace_leaves_live_sessions_alone() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let mp = dir.path().to_str().unwrap().to_string();
    let _guard = Guard(dir.path().to_path_buf());
    mount(&home, &mp, &[]);
    let before = sessions(&home);
    assert_eq!(before.len(), 1);

    // The other mount lives in new PID and mount namespaces with their own /proc, where this
    // mount's PID does not exist; it serves until unshare, and with it the namespace, ends.
    let other = tempfile::tempdir().unwrap();
    let mut contained = Contained::spawn(&home, &["mount", other.path().to_str().unwrap()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while sessions(&home).len() < 2 {
        if let Some(status) = contained.0.try_wait().unwrap() {
            panic!("the contained mount exited with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the contained mount did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = sessions(&home);
    assert!(
        after.contains(&before[0]),
        "this mount's session survives: before {before:?}, after {after:?}"
    );
    contained.stop();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sessions(&home).len() > 1 {
        assert!(
            Instant::now() < deadline,
            "the contained mount's session did not end"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sessions(&home), before);
    let out = home.run(&["umount", &mp]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `datenlord ARGS` of `home` run as the first process of new PID and mount namespaces with
/// their own /proc (`unshare`); stopped with SIGTERM, or killed if the test fails first.
struct Contained(std::process::Child);

impl Contained {
    fn spawn(home: &Home, args: &[&str]) -> Self {
        let mut unshare = std::process::Command::new("unshare");
        unshare
            .args(["--pid", "--fork", "--mount-proc", "--kill-child=SIGTERM"])
            .arg(common::binary())
            .args(args)
            .env("DATENLORD_HOME", home.path())
            .env_remove("DATENLORD_META")
            .envs(home.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        Self(unshare.spawn().expect("unshare (util-linux)"))
    }

    /// Signals the contained process (unshare itself ignores SIGTERM while it waits).
    fn signal(&self, signal: nix::sys::signal::Signal) {
        let children = format!("/proc/{0}/task/{0}/children", self.0.id());
        let child = std::fs::read_to_string(children)
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok());
        if let Some(child) = child {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child), signal);
        }
    }

    fn stop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.0.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "the contained mount did not stop"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Contained {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = self.0.wait();
        }
    }
}
