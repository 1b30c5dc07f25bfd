//! Mounting the way Linux mounts filesystems: mount(8) with `-t datenlord`, an fstab line
//! mounted by `mount -T FILE -a`, `datenlord mount --update-fstab`, and umount(8) — through
//! the `mount.datenlord` helper `datenlord install-helper` links into /sbin (as root).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Home, binary, is_mounted};

const HELPER: &str = "/sbin/mount.datenlord";

/// The helper linked to the binary under test for the test's length (and an existing one of
/// another binary put back after).
struct Helper {
    saved: Option<PathBuf>,
}

impl Helper {
    fn install(home: &Home) -> Self {
        let saved = std::fs::read_link(HELPER).ok();
        let out = home.run(&["install-helper", "--force"]);
        assert!(
            out.status.success(),
            "install-helper: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_link(HELPER).unwrap(),
            std::fs::canonicalize(binary()).unwrap()
        );
        Helper { saved }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(HELPER);
        if let Some(saved) = &self.saved {
            let _ = std::os::unix::fs::symlink(saved, HELPER);
        }
    }
}

/// The volume's META_URL, formatted (the embedded engine unless the suite runs on etcd).
fn volume(home: &Home) -> String {
    if let Some((_, url)) = home.env.iter().find(|(k, _)| k == "DATENLORD_META") {
        return url.clone();
    }
    let url = format!("sqlite://{}/meta.db", home.path().display());
    let storage = format!("file://{}/blocks", home.path().display());
    let out = home.run(&["format", "--meta", &url, "--storage", &storage, "vol"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    url
}

fn run(mut command: Command) -> String {
    let out = command.output().expect("run");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// mount(8) or umount(8), with the test home for the helper's logs.
fn tool(home: &Home, name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(name);
    command
        .args(args)
        .env("DATENLORD_HOME", home.path())
        .env_remove("DATENLORD_META");
    command
}

fn wait_unmounted(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while is_mounted(path) {
        assert!(
            Instant::now() < deadline,
            "{} stayed mounted",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn mount8_fstab_and_umount8_mount_datenlord() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mount(8) helpers need root");
        return;
    }
    let home = Home::new();
    let meta = volume(&home);
    let _helper = Helper::install(&home);
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mnt_text = mnt.display().to_string();

    // mount -t datenlord, then umount.
    run(tool(
        &home,
        "mount",
        &["-t", "datenlord", &meta, &mnt_text, "-o", "_netdev,noatime"],
    ));
    assert!(is_mounted(&mnt));
    std::fs::create_dir(mnt.join("sub")).unwrap();
    std::fs::write(mnt.join("sub/hello"), b"fstab").unwrap();
    run(tool(&home, "umount", &[&mnt_text]));
    wait_unmounted(&mnt);

    // An fstab line (of a subdirectory), mounted with `mount -T FILE -a`.
    let fstab = dir.path().join("fstab");
    let line = format!("{meta} {mnt_text} datenlord _netdev,nofail,allow_other,subdir=/sub 0 0\n");
    std::fs::write(&fstab, format!("# a test table\n{line}")).unwrap();
    run(tool(
        &home,
        "mount",
        &["-T", &fstab.display().to_string(), "-a"],
    ));
    assert!(is_mounted(&mnt));
    assert_eq!(std::fs::read(mnt.join("hello")).unwrap(), b"fstab");
    run(tool(&home, "umount", &[&mnt_text]));
    wait_unmounted(&mnt);

    // `datenlord mount --update-fstab` writes the line mount(8) then uses.
    let written = dir.path().join("written-fstab");
    std::fs::write(&written, "# kept\n").unwrap();
    let out = home
        .command(&[
            "mount",
            "-d",
            &mnt_text,
            "--meta",
            &meta,
            "--update-fstab",
            "-o",
            "noatime",
        ])
        .env("DATENLORD_FSTAB", &written)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(text.starts_with("# kept\n"), "{text}");
    assert!(
        text.contains(&format!("{meta} {mnt_text} datenlord _netdev,noatime 0 0")),
        "{text}"
    );
    run(tool(&home, "umount", &[&mnt_text]));
    wait_unmounted(&mnt);
    run(tool(
        &home,
        "mount",
        &["-T", &written.display().to_string(), &mnt_text],
    ));
    assert!(mnt.join("sub/hello").exists());
    run(tool(&home, "umount", &[&mnt_text]));
    wait_unmounted(&mnt);

    // Bad input: a missing mountpoint fails with mount(8)'s failure status, and says why.
    let out = tool(
        &home,
        "mount",
        &["-t", "datenlord", &meta, "/nonexistent/x"],
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
}
