//! Faults of the servers under a mount: a 3-member etcd cluster losing one member (no error
//! seen) and two (EIO within the timeout, then recovery by itself, nothing acknowledged lost);
//! the watch under a mount's metadata cache cut and its history compacted (the cache pauses,
//! resumes or starts over, and no read stays stale); the S3 server killed during a large write
//! and restarted.

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

/// The length `stat` gives `path`, polled until it is `want` (a bounded wait: the watch's
/// delay, and a cut watch's recovery).
fn until_len(path: &Path, want: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match std::fs::metadata(path) {
            Ok(meta) if meta.len() == want => return,
            other => assert!(
                Instant::now() < deadline,
                "{what}: {} still {other:?}, not {want} bytes",
                path.display()
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (bounded) until the mount's log says `what` `times` times.
fn until_logged(m: &Mounted, what: &str, times: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.stderr().matches(what).count() < times {
        assert!(
            Instant::now() < deadline,
            "the mount never logged {what:?} {times} times:\n{}",
            m.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Mount B reaches one etcd member only; that member goes down while mount A changes a file
/// B has cached, and comes back: B's watch resumes, its cache answers nothing until the watch
/// caught up, then the change. Again with the history compacted while the member was down: B's
/// watch cannot resume, and its cache starts over. An open on B is exact throughout.
#[test]
fn the_metadata_cache_follows_a_cut_watch_and_a_compacted_history() {
    let mut etcd = Etcd::start(3);
    for i in 0..3 {
        etcd.wait_healthy(i);
    }
    let blocks = tempfile::tempdir().unwrap();
    let storage = format!("file://{}", blocks.path().display());
    let mut home_a = Home::new();
    home_a
        .env
        .push(("DATENLORD_META".into(), etcd.member_url(0, "cached")));
    let out = home_a.run(&["format", "--storage", &storage, "cached"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut home_b = Home::new();
    home_b
        .env
        .push(("DATENLORD_META".into(), etcd.member_url(2, "cached")));
    let a = Mounted::in_home(home_a, Options::uncached(), &["--io-timeout", "10"]);
    let b = Mounted::in_home(home_b, Options::uncached(), &["--io-timeout", "10"]);
    std::fs::write(a.join("f"), b"one").unwrap();
    until_len(&b.join("f"), 3, "a new file");
    assert_eq!(std::fs::read(b.join("f")).unwrap(), b"one");

    // The watch cut: B's member down while A writes.
    etcd.kill(2);
    std::fs::write(a.join("f"), b"second").unwrap();
    std::fs::write(a.join("g"), b"new while cut").unwrap();
    etcd.restart(2);
    etcd.wait_healthy(2);
    assert_eq!(
        std::fs::read(b.join("f")).unwrap(),
        b"second",
        "open: exact"
    );
    until_logged(&b, "caught up: metadata cache on", 1);
    until_len(&b.join("f"), 6, "after the watch resumed");
    until_len(&b.join("g"), 13, "a file made while the watch was cut");
    for _ in 0..20 {
        assert_eq!(
            std::fs::metadata(b.join("f")).unwrap().len(),
            6,
            "never stale again"
        );
    }

    // The history compacted past what B's watch had reported.
    etcd.kill(2);
    std::fs::write(a.join("f"), b"third time").unwrap();
    for i in 0..20 {
        std::fs::write(a.join(&format!("h{i}")), b"x").unwrap();
    }
    etcd.compact(0);
    // Down long enough that B's watch retries only seconds apart: by its next try the member
    // has applied the compaction, so the watch cannot resume.
    std::thread::sleep(Duration::from_secs(4));
    etcd.restart(2);
    etcd.wait_compacted(2);
    until_len(&b.join("f"), 10, "after a compaction");
    assert_eq!(std::fs::read(b.join("f")).unwrap(), b"third time");
    until_logged(&b, "compacted changes", 1);
    // Once at the start, once after the compaction.
    until_logged(&b, "metadata cache on, empty", 2);
    // The cache works again: A's next change reaches B's stat through it.
    std::fs::write(a.join("f"), b"4").unwrap();
    until_len(&b.join("f"), 1, "after the cache started over");
    drop(b);
    drop(a);
}
