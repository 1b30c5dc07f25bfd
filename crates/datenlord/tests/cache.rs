//! The local cache tiers of a mount in front of a real S3 server: the disk tier survives a
//! restart and serves reads while the S3 server is down; a damaged cache file is detected
//! and fetched again.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::servers::S3Server;
use common::{Home, Mounted, Options};

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

/// A home whose volume keeps its blocks in `server`.
fn s3_home(server: &S3Server, name: &str) -> Home {
    let mut home = Home::new();
    home.env = S3Server::env();
    let out = home.run(&["format", "--storage", &server.url("blocks", name), name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    home
}

fn mount(home: Home, cache: &Path, extra: &[&str]) -> Mounted {
    // No free-space floor: what these tests see must not depend on the host's disk (the
    // default floor, 10 % free, made a nearly full build machine cache nothing).
    let mut args = vec![
        "--cache-dir".to_string(),
        cache.display().to_string(),
        "--cache-free-ratio".to_string(),
        "0".to_string(),
        "--io-timeout".to_string(),
        "5".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Mounted::in_home(
        home,
        Options::default(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// Every cached block file under `dir`.
fn cache_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn the_disk_tier_survives_a_restart_and_serves_reads_with_s3_down() {
    let mut server = S3Server::start(&["blocks"]);
    let cache = tempfile::tempdir().unwrap();
    let home = s3_home(&server, "cached");
    let m = mount(home, cache.path(), &["--memory-cache-size", "0"]);
    let mut files = Vec::new();
    for i in 0..20 {
        files.push((format!("small-{i}"), pattern(50_000 + i * 1000, i as u32)));
    }
    files.push(("big".to_string(), pattern(9 << 20, 99)));
    for (name, data) in &files {
        std::fs::write(m.join(name), data).unwrap();
    }
    // Only in S3: writes of up to a block are cached as they are flushed (a slow writer's
    // file may go in several), so drop whatever was.
    std::fs::write(m.join("uncached"), pattern(9 << 20, 7)).unwrap();
    let (ok, text) = warmup(
        &Home::new(),
        &["--evict", &m.join("uncached").display().to_string()],
    );
    assert!(ok, "{text}");
    let home = m.into_home();
    // Read once through a fresh mount (no kernel page cache): the big file's blocks come
    // from S3 and stay on disk.
    let m = mount(home, cache.path(), &["--memory-cache-size", "0"]);
    for (name, data) in &files {
        assert!(std::fs::read(m.join(name)).unwrap() == *data, "{name}");
    }
    let home = m.into_home();
    let cached = cache_files(cache.path()).len();
    assert!(cached >= 23, "{cached} cache files");

    server.stop();
    let m = mount(home, cache.path(), &["--memory-cache-size", "0"]);
    for (name, data) in &files {
        let got = std::fs::read(m.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == *data, "{name} differs");
    }
    let err = std::fs::read(m.join("uncached")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO), "{err}");
    server.restart();
    assert!(std::fs::read(m.join("uncached")).unwrap() == pattern(9 << 20, 7));
}

#[test]
fn a_damaged_cache_file_is_detected_and_fetched_again() {
    let server = S3Server::start(&["blocks"]);
    let cache = tempfile::tempdir().unwrap();
    let home = s3_home(&server, "damaged");
    let m = mount(home, cache.path(), &[]);
    let data = pattern(300_000, 5);
    std::fs::write(m.join("file"), &data).unwrap();
    let home = m.into_home();
    let files = cache_files(cache.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() - 1000;
    bytes[at] ^= 0x40;
    std::fs::write(&files[0], &bytes).unwrap();

    let m = mount(home, cache.path(), &[]);
    assert!(std::fs::read(m.join("file")).unwrap() == data);
    assert!(m.stderr().contains("corrupt cached block removed"));
    // Fetched again (in the background: the damage was past the first read), and cached
    // again intact.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match std::fs::read(&files[0]) {
            Ok(again) if again.len() == bytes.len() => {
                assert_ne!(again, bytes);
                break;
            }
            _ => assert!(Instant::now() < deadline, "not cached again"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn warmup(home: &Home, args: &[&str]) -> (bool, String) {
    let mut all = vec!["warmup"];
    all.extend_from_slice(args);
    let out = home.run(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The cached share `warmup` printed.
fn cached_percent(text: &str) -> f64 {
    let at = text.rfind('(').expect(text);
    text[at + 1..]
        .split('%')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no ratio in {text}"))
}

#[test]
fn warmup_loads_checks_and_evicts_and_warmed_files_read_with_s3_down() {
    let mut server = S3Server::start(&["blocks"]);
    let cache = tempfile::tempdir().unwrap();
    let home = s3_home(&server, "warm");
    let m = mount(home, cache.path(), &[]);
    let dir = m.join("d");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let files = [
        ("d/a", pattern(5 << 20, 1)),
        ("d/sub/b", pattern(300_000, 2)),
        ("d/sub/c", pattern(12 << 20, 3)),
        ("d/empty", Vec::new()),
    ];
    for (name, data) in &files {
        std::fs::write(m.join(name), data).unwrap();
    }
    std::os::unix::fs::symlink("sub/b", dir.join("link")).unwrap();
    let d = dir.display().to_string();
    // Warm and check from another process, as a user would.
    let probe = Home::new();

    // What was cached as it was written goes first.
    let (ok, text) = warmup(&probe, &["--evict", &d]);
    assert!(ok && cached_percent(&text) == 0.0, "{text}");
    let (ok, text) = warmup(&probe, &["--check", &d]);
    assert!(ok, "{text}");
    assert!(text.contains("4 files"), "{text}");
    assert_eq!(cached_percent(&text), 0.0, "{text}");

    let (ok, text) = warmup(&probe, &["--threads", "3", &d]);
    assert!(ok, "{text}");
    assert_eq!(cached_percent(&text), 100.0, "{text}");
    let (ok, text) = warmup(&probe, &["--check", &d]);
    assert!(ok && cached_percent(&text) == 100.0, "{text}");

    let (ok, text) = warmup(&probe, &["--evict", &d]);
    assert!(ok && cached_percent(&text) == 0.0, "{text}");
    let (ok, text) = warmup(&probe, &["--check", &d]);
    assert!(ok && cached_percent(&text) == 0.0, "{text}");

    let (ok, text) = warmup(&probe, &[&d]);
    assert!(ok && cached_percent(&text) == 100.0, "{text}");
    let home = m.into_home();
    server.stop();
    let m = mount(home, cache.path(), &[]);
    for (name, data) in &files {
        let got = std::fs::read(m.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == *data, "{name} differs");
    }

    let (ok, text) = warmup(&probe, &["--check", "--evict", &d]);
    assert!(!ok && text.contains("exclude"), "{text}");
    let outside = tempfile::NamedTempFile::new().unwrap();
    let (ok, text) = warmup(&probe, &[&outside.path().display().to_string()]);
    assert!(!ok && text.contains("not on a DatenLord mount"), "{text}");
    let (ok, text) = warmup(&probe, &["/nonexistent/path"]);
    assert!(!ok && text.contains("/nonexistent/path"), "{text}");
}

#[test]
fn warmup_on_a_mount_without_cache_says_so() {
    let m = Mounted::new();
    std::fs::write(m.join("f"), b"data").unwrap();
    let probe = Home::new();
    let (ok, text) = warmup(&probe, &[&m.join("f").display().to_string()]);
    assert!(!ok && text.contains("has no cache"), "{text}");
}
