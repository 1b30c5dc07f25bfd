//! Many mounts of one volume, each a separate `datenlord mount` process, with the metadata in
//! a real etcd: what one mount does, the others see — at once, although their kernels may cache
//! names and attributes for 60 s — and concurrent creates from several processes and mounts
//! all land exactly once.

mod common;

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::servers::Etcd;
use common::{Home, Mounted, Options, Ttl};

/// Kernel caches that would hide other mounts' changes for a minute without notifications.
fn long_ttl() -> Options {
    Options {
        ttl: Ttl {
            entry: Duration::from_secs(60),
            attr: Duration::from_secs(60),
        },
        ..Options::default()
    }
}

/// A volume on `etcd` (blocks in a directory all mounts of this host share), mounted `n` times.
fn mounts(etcd: &Etcd, blocks: &Path, n: usize, options: impl Fn() -> Options) -> Vec<Mounted> {
    let meta = etcd.url("multi");
    let homes: Vec<Home> = (0..n)
        .map(|_| {
            let mut home = Home::new();
            home.env.push(("DATENLORD_META".into(), meta.clone()));
            home
        })
        .collect();
    let storage = format!("file://{}", blocks.display());
    let out = homes[0].run(&["format", "--storage", &storage, "shared"]);
    assert!(
        out.status.success(),
        "format: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    homes
        .into_iter()
        .map(|home| Mounted::in_home(home, options(), &[]))
        .collect()
}

/// Waits until `check` holds; returns how long that took. Panics after `limit`.
fn seen_within(limit: Duration, what: &str, check: impl Fn() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < limit,
            "{what}: not seen after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

#[test]
fn changes_on_one_mount_show_on_another_despite_long_cache_timeouts() {
    let etcd = Etcd::start(1);
    let blocks = tempfile::tempdir().unwrap();
    let m = mounts(&etcd, blocks.path(), 2, long_ttl);
    let (a, b) = (&m[0], &m[1]);

    // Close-to-open: written and closed on A, opened on B.
    std::fs::write(a.join("f"), b"first version").unwrap();
    assert_eq!(std::fs::read(b.join("f")).unwrap(), b"first version");
    // B now caches f's attributes and pages; A rewrites it longer.
    let mut file = OpenOptions::new().append(true).open(a.join("f")).unwrap();
    file.write_all(b", and more").unwrap();
    drop(file);
    assert_eq!(
        std::fs::read(b.join("f")).unwrap(),
        b"first version, and more"
    );

    let limit = Duration::from_secs(5);
    let mut latencies: HashMap<&str, Duration> = HashMap::new();
    std::fs::write(a.join("g"), b"g").unwrap();
    assert!(b.join("g").exists());
    std::fs::rename(a.join("g"), a.join("h")).unwrap();
    latencies.insert(
        "rename",
        seen_within(limit, "rename", || {
            !b.join("g").exists() && b.join("h").exists()
        }),
    );
    std::fs::set_permissions(a.join("h"), std::fs::Permissions::from_mode(0o600)).unwrap();
    latencies.insert(
        "chmod",
        seen_within(limit, "chmod", || {
            std::fs::metadata(b.join("h")).unwrap().permissions().mode() & 0o777 == 0o600
        }),
    );
    std::fs::remove_file(a.join("h")).unwrap();
    latencies.insert(
        "unlink",
        seen_within(limit, "unlink", || !b.join("h").exists()),
    );
    std::fs::write(a.join("f"), b"short").unwrap();
    latencies.insert(
        "write",
        seen_within(limit, "size after a write", || {
            std::fs::metadata(b.join("f")).unwrap().len() == 5
        }),
    );
    // A negative entry cached on B goes when A creates the name.
    assert!(!b.join("later").exists());
    std::fs::create_dir(a.join("later")).unwrap();
    latencies.insert(
        "mkdir",
        seen_within(limit, "mkdir", || b.join("later").is_dir()),
    );
    eprintln!("seen on the other mount after: {latencies:?}");
    assert_eq!(std::fs::read(b.join("f")).unwrap(), b"short");
}

#[test]
fn four_processes_on_two_mounts_create_4000_files_exactly_once() {
    let etcd = Etcd::start(1);
    let blocks = tempfile::tempdir().unwrap();
    let m = mounts(&etcd, blocks.path(), 2, Options::default);
    std::fs::create_dir(m[0].join("d")).unwrap();
    let children: Vec<_> = (0..4)
        .map(|p| {
            let dir = m[p % 2].join("d");
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "i=0; while [ $i -lt 1000 ]; do : > \"$0/p{p}-$i\" || exit 1; i=$((i+1)); done"
                ))
                .arg(&dir)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    for mount in &m {
        let mut names: Vec<String> = std::fs::read_dir(mount.join("d"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let listed = names.len();
        names.sort();
        names.dedup();
        assert_eq!(listed, 4000, "no name listed twice");
        assert_eq!(names.len(), 4000);
        assert!(
            (0..4).all(|p| (0..1000).all(|i| names.binary_search(&format!("p{p}-{i}")).is_ok()))
        );
    }
    let out = m[0].home.run(&["fsck"]);
    assert!(
        out.status.success(),
        "fsck: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn exclusive_create_from_two_mounts_has_one_winner() {
    let etcd = Etcd::start(1);
    let blocks = tempfile::tempdir().unwrap();
    let m = mounts(&etcd, blocks.path(), 2, Options::uncached);
    let paths = [m[0].path().to_path_buf(), m[1].path().to_path_buf()];
    for round in 0..50 {
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = paths
            .iter()
            .map(|dir| {
                let path = dir.join(format!("race-{round}"));
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(path)
                        .map_err(|e| e.raw_os_error())
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {results:?}");
        assert!(
            results.iter().any(|r| matches!(r, Err(Some(libc::EEXIST)))),
            "round {round}: the loser gets EEXIST: {results:?}"
        );
    }
}
