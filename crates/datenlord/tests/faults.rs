//! Faults of the servers under a mount: a 3-member etcd cluster losing one member (no error
//! seen) and two (EIO within the timeout, then recovery by itself, nothing acknowledged lost);
//! the S3 server killed during a large write and restarted.

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::servers::{Etcd, S3Server};
use common::{Home, Mounted, Options};

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Writes `data` to `path` and fsyncs it: acknowledged once this returns.
fn write_synced(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(data)?;
    file.sync_all()
}

#[test]
fn etcd_losing_one_member_is_unseen_and_losing_two_fails_then_recovers() {
    let mut etcd = Etcd::start(3);
    for i in 0..3 {
        etcd.wait_healthy(i);
    }
    let blocks = tempfile::tempdir().unwrap();
    let mut home = Home::new();
    home.env.push(("DATENLORD_META".into(), etcd.url("faults")));
    let storage = format!("file://{}", blocks.path().display());
    let out = home.run(&["format", "--storage", &storage, "faults"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Mounted::in_home(home, Options::default(), &["--io-timeout", "5"]);

    let mut acknowledged = Vec::new();
    // Each member in turn goes down (so the leader does once) while work goes on.
    for down in 0..3 {
        etcd.kill(down);
        for n in 0..20 {
            let name = format!("one-down-{down}-{n}");
            let data = pattern(100_000 + n * 1000, (down * 100 + n) as u32);
            write_synced(&m.join(&name), &data)
                .unwrap_or_else(|e| panic!("{name} with member {down} down: {e}\n{}", m.stderr()));
            std::fs::rename(m.join(&name), m.join(&format!("{name}.done"))).unwrap();
            acknowledged.push((format!("{name}.done"), data));
        }
        etcd.restart(down);
        etcd.wait_healthy(down);
    }

    // Two members down: no quorum. Operations fail with EIO within the timeout.
    etcd.kill(1);
    etcd.kill(2);
    let started = Instant::now();
    let err = std::fs::File::create(m.join("no-quorum")).expect_err("no quorum, no create");
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(30), "failed after {waited:?}");
    eprintln!("without quorum, create failed with EIO after {waited:?} (timeout 5 s)");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(m.join(&acknowledged[0].0))
        .map(Some)
        .or_else(|e| {
            if e.raw_os_error() == Some(libc::EIO) {
                Ok(None)
            } else {
                Err(e)
            }
        })
        .unwrap();
    if let Some(file) = file.as_mut() {
        file.write_all(b"not acknowledged").unwrap();
        assert_eq!(file.sync_all().unwrap_err().raw_os_error(), Some(libc::EIO));
    }
    drop(file);

    // The members come back: the mount recovers by itself.
    etcd.restart(1);
    etcd.restart(2);
    for i in 0..3 {
        etcd.wait_healthy(i);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match write_synced(&m.join("after"), b"recovered") {
            Ok(()) => break,
            Err(e) => assert!(Instant::now() < deadline, "no recovery: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (name, data) in &acknowledged {
        let mut back = Vec::new();
        std::fs::File::open(m.join(name))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back.starts_with(data), "{name}: acknowledged bytes intact");
    }
    let home = m.into_home();
    let out = home.run(&["fsck"]);
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn s3_killed_during_a_large_write_and_restarted_loses_nothing_acknowledged() {
    let mut server = S3Server::start(&["blocks"]);
    let mut home = Home::new();
    home.env = S3Server::env();
    let out = home.run(&[
        "format",
        "--storage",
        &server.url("blocks", "v"),
        "s3faults",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Mounted::in_home(home, Options::default(), &["--io-timeout", "20"]);
    let acked = pattern(5 << 20, 1);
    write_synced(&m.join("acked"), &acked).unwrap();

    let big = pattern(96 << 20, 2);
    let mut file = std::fs::File::create(m.join("big")).unwrap();
    let mut written = 0;
    let mut outcome = Ok(());
    for piece in big.chunks(1 << 20) {
        if written == 40 << 20 {
            server.stop();
        }
        if written == 48 << 20 {
            server.restart();
        }
        if let Err(e) = file.write_all(piece) {
            outcome = Err(e);
            break;
        }
        written += piece.len();
    }
    let outcome = outcome.and_then(|()| file.sync_all());
    drop(file);
    match outcome {
        Ok(()) => assert!(
            std::fs::read(m.join("big")).unwrap() == big,
            "fsync returned 0: every byte is there"
        ),
        Err(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
            eprintln!("the large write failed with EIO (allowed)");
        }
    }
    assert!(std::fs::read(m.join("acked")).unwrap() == acked);
    let home = m.into_home();
    let out = home.run(&["fsck"]);
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
