//! Blocks in S3: a real S3 server process (`s3s-fs`) on 127.0.0.1, a volume formatted on a
//! bucket in it, data written, read back across a remount, fsck clean; and the clear errors of
//! an unreachable endpoint or wrong credentials.

mod common;

use std::time::{Duration, Instant};

use common::servers::{S3Server, free_port};
use common::{Home, Mounted, Options};

fn s3_home() -> Home {
    let mut home = Home::new();
    home.env = S3Server::env();
    home
}

#[test]
fn a_volume_on_s3_round_trips_and_checks_clean() {
    let server = S3Server::start(&["blocks"]);
    let home = s3_home();
    let out = home.run(&[
        "format",
        "--storage",
        &server.url("blocks", "volume"),
        "--block-size",
        "1M",
        "s3vol",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let m = Mounted::in_home(home, Options::default(), &[]);
    let data: Vec<u8> = (0..(9 << 20) + 777u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(m.join("big"), &data).unwrap();
    std::fs::create_dir(m.join("dir")).unwrap();
    for i in 0..50 {
        std::fs::write(m.join(&format!("dir/small-{i}")), format!("file {i}")).unwrap();
    }
    std::fs::remove_file(m.join("dir/small-7")).unwrap();
    let home = m.into_home();

    let m = Mounted::in_home(home, Options::default(), &[]);
    assert!(std::fs::read(m.join("big")).unwrap() == data);
    assert_eq!(
        std::fs::read_to_string(m.join("dir/small-42")).unwrap(),
        "file 42"
    );
    assert_eq!(std::fs::read_dir(m.join("dir")).unwrap().count(), 49);
    let home = m.into_home();
    let out = home.run(&["fsck"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("clean"), "{text}");
    let objects = std::fs::read_dir(server.root.path().join("blocks/volume")).map(|d| d.count());
    assert!(objects.is_ok_and(|n| n > 0), "blocks live in the bucket");
}

#[test]
fn unreachable_endpoints_and_wrong_keys_are_clear_errors() {
    // (s3s-fs creates a missing bucket on the first write, so that case needs another server.)
    let server = S3Server::start(&["present"]);
    let home = s3_home();
    let nothing = format!("s3://present?endpoint=http://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let out = home.run(&["format", "--storage", &nothing, "v"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("is not writable"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "gave up in time"
    );

    let mut wrong = s3_home();
    wrong.env[1].1 = "not-the-secret".into();
    let out = wrong.run(&["format", "--storage", &server.url("present", "volume"), "v"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not writable"));
}

#[test]
fn a_store_that_stops_answering_gives_eio_and_recovery_loses_nothing() {
    use std::io::{Read, Write};

    let mut server = S3Server::start(&["blocks"]);
    let home = s3_home();
    let out = home.run(&[
        "format",
        "--storage",
        &server.url("blocks", "volume"),
        "outage",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Mounted::in_home(home, Options::default(), &["--io-timeout", "3"]);
    let stored: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 253) as u8).collect();
    std::fs::write(m.join("stored"), &stored).unwrap();
    // Writes of up to a block are cached as they are flushed: this one is dropped from the
    // caches, so that only S3 has it.
    let uncached: Vec<u8> = (0..9 << 20).map(|i: u32| (i % 251) as u8).collect();
    std::fs::write(m.join("uncached"), &uncached).unwrap();
    let evict = Home::new().run(&[
        "warmup",
        "--evict",
        &m.join("uncached").display().to_string(),
    ]);
    assert!(
        evict.status.success(),
        "{}",
        String::from_utf8_lossy(&evict.stderr)
    );

    server.stop();
    let mut pending = std::fs::File::create(m.join("pending")).unwrap();
    pending
        .write_all(b"acknowledged only after the store is back")
        .unwrap();
    let started = Instant::now();
    let err = pending
        .sync_all()
        .expect_err("fsync cannot succeed without the store");
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "failed within the timeout"
    );
    let mut buf = Vec::new();
    let read = std::fs::File::open(m.join("uncached")).and_then(|mut f| f.read_to_end(&mut buf));
    assert_eq!(read.unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(
        std::fs::metadata(m.join("uncached")).is_ok(),
        "metadata still answers"
    );
    // A small file just written is in the caches: it reads without the store.
    assert_eq!(std::fs::read(m.join("stored")).unwrap(), stored);

    // The same server comes back on the same port and directory.
    server.restart();
    pending.sync_all().unwrap();
    drop(pending);
    assert_eq!(std::fs::read(m.join("stored")).unwrap(), stored);
    assert!(std::fs::read(m.join("uncached")).unwrap() == uncached);
    assert_eq!(
        std::fs::read(m.join("pending")).unwrap(),
        b"acknowledged only after the store is back"
    );
    let home = m.into_home();
    let out = home.run(&["fsck"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("clean"), "{text}");
}
