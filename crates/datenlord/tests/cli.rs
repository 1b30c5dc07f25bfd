//! The command line: each documented error ends with one clear line and a non-zero exit; the
//! happy paths (format, mount -d, status, umount, fsck) work end to end.

mod common;

use std::process::Output;

use common::{Home, Mounted, Options, is_mounted};

fn failed(out: &Output, expect: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected a failure: {stderr}");
    assert!(stderr.contains(expect), "expected {expect:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one clear line: {stderr}");
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bad_urls_and_settings_are_refused() {
    let home = Home::new();
    failed(
        &home.run(&["format", "--meta", "mysql://x", "v"]),
        "unknown metadata engine 'mysql'",
    );
    failed(
        &home.run(&["format", "--meta", "redis://x", "v"]),
        "expected redis://",
    );
    failed(
        &home.run(&["format", "--meta", "redis://127.0.0.1:1", "v"]),
        "Connection refused",
    );
    failed(
        &home.run(&["format", "--storage", "s4://b", "v"]),
        "unknown storage scheme 's4'",
    );
    failed(
        &home.run(&["format", "--storage", "file://relative", "v"]),
        "absolute path",
    );
    failed(
        &home.run(&["format", "--block-size", "3M", "v"]),
        "power of two",
    );
    failed(
        &home.run(&["format", "--block-size", "lots", "v"]),
        "invalid size",
    );
    failed(&home.run(&["format", "a/b"]), "volume name");
    let missing = "sqlite:///nonexistent-dir/x/meta.db";
    failed(
        &home.run(&["status", "--meta", missing]),
        "format the volume first",
    );
    failed(
        &home.run(&["fsck", "--meta", missing]),
        "format the volume first",
    );

    let meta = format!("sqlite://{}/v.db", home.path().display());
    let blocks = format!("file://{}/vblocks", home.path().display());
    let out = succeeded(&home.run(&["format", "--meta", &meta, "--storage", &blocks, "v"]));
    assert!(out.contains("formatted"), "{out}");
    // Formatting again with the same settings is harmless; other settings need --force.
    succeeded(&home.run(&["format", "--meta", &meta, "--storage", &blocks, "v"]));
    failed(
        &home.run(&[
            "format",
            "--meta",
            &meta,
            "--storage",
            &blocks,
            "--block-size",
            "1M",
            "v",
        ]),
        "already formatted with other settings",
    );
    succeeded(&home.run(&[
        "format",
        "--meta",
        &meta,
        "--storage",
        &blocks,
        "--block-size",
        "1M",
        "--force",
        "v",
    ]));
    let status = succeeded(&home.run(&["status", "--meta", &meta]));
    assert!(status.contains("block size 1.0 MiB"), "{status}");
    let json = succeeded(&home.run(&["status", "--meta", &meta, "--json"]));
    assert!(json.contains("\"block_size\": 1048576"), "{json}");

    // A storage directory that cannot be created.
    failed(
        &home.run(&[
            "format",
            "--meta",
            &meta,
            "--storage",
            "file:///proc/nope",
            "--force",
            "v",
        ]),
        "/proc/nope",
    );
}

#[test]
fn mount_errors_are_clear() {
    let home = Home::new();
    failed(&home.run(&["mount", "/nonexistent/mnt"]), "does not exist");
    let file = home.path().join("plain-file");
    std::fs::write(&file, b"").unwrap();
    failed(
        &home.run(&["mount", file.to_str().unwrap()]),
        "not a directory",
    );
    failed(
        &home.run(&["mount", "-d", "/nonexistent/mnt"]),
        "does not exist",
    );
    failed(
        &home.run(&["mount", "/tmp", "--attr-timeout=-1"]),
        "attr-timeout",
    );
    failed(&home.run(&["umount", "/nonexistent/mnt"]), "does not exist");
    failed(
        &home.run(&["umount", home.path().to_str().unwrap()]),
        "not mounted",
    );
}

#[test]
fn a_mounted_volume_is_busy_and_shows_in_status() {
    let m = Mounted::with(Options::default());
    let home = m.home.path().to_path_buf();
    let mp = m.path().to_str().unwrap().to_string();
    failed(
        &common::datenlord(&home, &["mount", &mp]),
        "already mounted",
    );
    let status = succeeded(&common::datenlord(&home, &["status"]));
    assert!(status.contains(&mp), "{status}");
    assert!(status.contains(&format!("pid {}", m.pid())), "{status}");
    let file = m.join("open");
    let held = std::fs::File::create(&file).unwrap();
    failed(&common::datenlord(&home, &["umount", &mp]), "busy");
    drop(held);
    failed(
        &common::datenlord(&home, &["fsck", "--repair"]),
        "unmount it before --repair",
    );
    succeeded(&common::datenlord(&home, &["umount", &mp]));
    assert!(!is_mounted(m.path()));
}

#[test]
fn background_mount_reports_ready_and_umount_stops_it() {
    let home = Home::new();
    let mountpoint = tempfile::tempdir().unwrap();
    let mp = mountpoint.path().to_str().unwrap();
    let out = succeeded(&home.run(&["mount", "-d", mp]));
    assert!(out.contains("mounted"), "{out}");
    assert!(is_mounted(mountpoint.path()));
    std::fs::write(mountpoint.path().join("f"), b"persisted").unwrap();
    succeeded(&home.run(&["umount", mp]));
    assert!(!is_mounted(mountpoint.path()));

    // A second mount of the same volume sees the data; fsck is clean once it is gone.
    let out = succeeded(&home.run(&["mount", "-d", mp]));
    assert!(out.contains("mounted"), "{out}");
    assert_eq!(
        std::fs::read(mountpoint.path().join("f")).unwrap(),
        b"persisted"
    );
    succeeded(&home.run(&["umount", mp]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let status = succeeded(&home.run(&["status"]));
        if status.contains("mounts     none") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "session not closed: {status}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let fsck = succeeded(&home.run(&["fsck"]));
    assert!(fsck.contains("clean"), "{fsck}");
}

#[test]
fn help_has_examples() {
    let home = Home::new();
    for cmd in ["format", "mount", "umount", "status", "fsck", "bench"] {
        let out = succeeded(&home.run(&[cmd, "--help"]));
        assert!(out.contains("Examples:"), "{cmd}: {out}");
    }
}

#[test]
fn two_mounts_of_one_volume_share_it() {
    let a = Mounted::with(Options::uncached());
    let home = a.home.path().to_path_buf();
    let mountpoint = tempfile::tempdir().unwrap();
    let mp = mountpoint.path().to_str().unwrap();
    let out = common::datenlord(
        &home,
        &[
            "mount",
            "-d",
            mp,
            "--attr-timeout",
            "0",
            "--entry-timeout",
            "0",
        ],
    );
    succeeded(&out);
    std::fs::write(a.join("from-a"), b"written on a").unwrap();
    assert_eq!(
        std::fs::read(mountpoint.path().join("from-a")).unwrap(),
        b"written on a"
    );
    std::fs::create_dir(mountpoint.path().join("dir-from-b")).unwrap();
    assert!(a.join("dir-from-b").is_dir());
    let status = succeeded(&common::datenlord(&home, &["status"]));
    assert_eq!(status.matches("mount ").count(), 2, "{status}");
    succeeded(&common::datenlord(&home, &["umount", mp]));
}
