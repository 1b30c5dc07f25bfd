//! Many mounts of one volume, each a separate `datenlord mount` process, with the metadata in
//! a real etcd, again in a real Redis and in a real PostgreSQL: what one mount does, the others see — at once, although their kernels may cache
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

use common::servers::MetaServer;
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

/// A volume on `server` (blocks in a directory all mounts of this host share), mounted `n` times.
fn mounts(
    server: &MetaServer,
    blocks: &Path,
    n: usize,
    options: impl Fn() -> Options,
) -> Vec<Mounted> {
    mounts_with(server, blocks, n, options, &[])
}

fn mounts_with(
    server: &MetaServer,
    blocks: &Path,
    n: usize,
    options: impl Fn() -> Options,
    extra: &[&str],
) -> Vec<Mounted> {
    let meta = server.url("multi");
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
        .map(|home| Mounted::in_home(home, options(), extra))
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
    for start in MetaServer::each() {
        let server = start();
        eprintln!("on {}", server.name());
        let blocks = tempfile::tempdir().unwrap();
        let m = mounts(&server, blocks.path(), 2, long_ttl);
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
        // A directory's times after an entry changes in it (B has them cached).
        let mtime = |m: &Mounted| std::fs::metadata(m.join(".")).unwrap().modified().unwrap();
        let seen = mtime(b);
        std::thread::sleep(Duration::from_millis(10));
        std::fs::write(a.join("i"), b"i").unwrap();
        let changed = mtime(a);
        assert!(
            changed > seen,
            "the create moved the directory's mtime on A"
        );
        latencies.insert(
            "directory mtime",
            seen_within(limit, "the directory's mtime", || mtime(b) == changed),
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
}

#[test]
fn four_processes_on_two_mounts_create_4000_files_exactly_once() {
    for start in MetaServer::each() {
        let server = start();
        eprintln!("on {}", server.name());
        let blocks = tempfile::tempdir().unwrap();
        let m = mounts(&server, blocks.path(), 2, Options::default);
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
                (0..4)
                    .all(|p| (0..1000).all(|i| names.binary_search(&format!("p{p}-{i}")).is_ok()))
            );
        }
        let out = m[0].home.run(&["fsck"]);
        assert!(
            out.status.success(),
            "fsck: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn exclusive_create_from_two_mounts_has_one_winner() {
    for start in MetaServer::each() {
        let server = start();
        eprintln!("on {}", server.name());
        let blocks = tempfile::tempdir().unwrap();
        let m = mounts(&server, blocks.path(), 2, Options::uncached);
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
}

/// `flock` (util-linux) on `path` with `args`, running `command`.
fn flock(path: &Path, args: &[&str], command: &str) -> Command {
    let mut flock = Command::new("flock");
    flock.args(args).arg(path).args(["sh", "-c", command]);
    flock
}

/// Whether a non-blocking exclusive lock of `path` would be granted now.
fn flock_free(path: &Path) -> bool {
    flock(path, &["-n", "-x"], "true")
        .status()
        .unwrap()
        .success()
}

/// A process holding an exclusive flock on a file until it is killed (or dropped).
struct Holder(std::process::Child);

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The holder says when it has the lock: probing with [`flock_free`] could mistake the
/// probe's own lock for the holder's, since a flock goes with the FUSE RELEASE of its file,
/// which the kernel sends after the probing process has exited.
fn hold_flock(path: &Path) -> Holder {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\n\
             f = open(sys.argv[1])\n\
             fcntl.flock(f, fcntl.LOCK_EX)\n\
             print('locked', flush=True)\n\
             time.sleep(600)",
        ])
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let holder = Holder(child);
    let (said, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = said.send(line);
    });
    let line = heard
        .recv_timeout(Duration::from_secs(10))
        .expect("the holder's lock: not taken after 10 s");
    assert_eq!(line.trim(), "locked", "the holder's lock");
    holder
}

fn signal(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child process id; no memory is involved.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0, "kill {pid}");
}

#[test]
fn locks_exclude_across_mounts_and_go_when_their_mount_dies() {
    for start in MetaServer::each() {
        let server = start();
        eprintln!("on {}", server.name());
        let blocks = tempfile::tempdir().unwrap();
        let mut m = mounts_with(
            &server,
            blocks.path(),
            3,
            Options::default,
            &["--lease", "3"],
        );
        std::fs::write(m[0].join("lockfile"), b"").unwrap();

        // POSIX record locks: a byte range locked through A excludes the same range through B.
        let lockf = |path: &Path, start: u64| {
            let mut python = Command::new("python3");
            python
                .args([
                    "-c",
                    "import fcntl, sys, time\n\
                 f = open(sys.argv[1], 'r+')\n\
                 fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 10, int(sys.argv[2]))\n\
                 print('locked', flush=True)\n\
                 time.sleep(float(sys.argv[3]))",
                ])
                .arg(path)
                .arg(start.to_string());
            python
        };
        let mut holder = lockf(&m[0].join("lockfile"), 0)
            .arg("600")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        let try_b = |start| {
            lockf(&m[1].join("lockfile"), start)
                .arg("0")
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap()
        };
        assert!(!try_b(5).success(), "bytes 5.. are locked through A");
        assert!(try_b(10).success(), "bytes 10.. are free");
        holder.kill().unwrap();
        holder.wait().unwrap();
        seen_within(
            Duration::from_secs(10),
            "POSIX lock released at exit",
            || try_b(5).success(),
        );

        // flock: a waiter on B gets the lock when the holder on A lets go.
        let holder = hold_flock(&m[0].join("lockfile"));
        assert!(!flock_free(&m[1].join("lockfile")));
        let mut waiter = flock(&m[1].join("lockfile"), &["-x", "-w", "30"], "true")
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            waiter.try_wait().unwrap().is_none(),
            "B waits while A holds"
        );
        drop(holder);
        assert!(waiter.wait().unwrap().success(), "B got the lock");

        // A mount that freezes (its process alive, no heartbeat) loses its locks when its lease
        // runs out; one that dies loses them at once.
        let _frozen_holder = hold_flock(&m[0].join("lockfile"));
        signal(m[0].pid(), libc::SIGSTOP);
        let took = seen_within(Duration::from_secs(30), "lease expiry", || {
            flock_free(&m[1].join("lockfile"))
        });
        eprintln!("a frozen mount's lock was released after {took:?} (lease 3 s)");
        signal(m[0].pid(), libc::SIGCONT);

        let _dead_holder = hold_flock(&m[1].join("lockfile"));
        assert!(!flock_free(&m[2].join("lockfile")));
        let dead = m.remove(1);
        let _home = dead.crash();
        let took = seen_within(Duration::from_secs(30), "a dead mount's lock", || {
            flock_free(&m[1].join("lockfile"))
        });
        eprintln!("a dead mount's lock was released after {took:?}");
    }
}

#[test]
fn a_file_open_on_one_mount_outlives_its_unlink_on_another() {
    use std::io::{Read, Seek};
    for start in MetaServer::each() {
        let server = start();
        eprintln!("on {}", server.name());
        let blocks = tempfile::tempdir().unwrap();
        // Without a trash, so that the last close is what removes the file.
        let mut home = Home::new();
        home.env
            .push(("DATENLORD_META".into(), server.url("multi")));
        let storage = format!("file://{}", blocks.path().display());
        home.run_ok(&[
            "format",
            "--trash-days",
            "0",
            "--storage",
            &storage,
            "shared",
        ]);
        let mut m = mounts_with(
            &server,
            blocks.path(),
            2,
            Options::default,
            &["--lease", "3"],
        );
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(m[0].join("doc"), &data).unwrap();
        let mut reader = std::fs::File::open(m[1].join("doc")).unwrap();
        std::fs::remove_file(m[0].join("doc")).unwrap();
        seen_within(Duration::from_secs(5), "the unlink", || {
            !m[1].join("doc").exists()
        });
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert!(back == data, "the open file still reads whole");
        drop(reader);
        let fsck = |mount: &Mounted| {
            let out = mount.home.run(&["fsck"]);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "fsck: {text}");
            text
        };
        seen_within(
            Duration::from_secs(10),
            "the last close removing it",
            || fsck(&m[0]).contains("0 files"),
        );

        // The holder dies: the survivor removes what only it held.
        std::fs::write(m[1].join("tmp"), &data).unwrap();
        let mut held = std::fs::File::open(m[1].join("tmp")).unwrap();
        std::fs::remove_file(m[0].join("tmp")).unwrap();
        held.rewind().unwrap();
        let dead = m.remove(1);
        let _home = dead.crash();
        drop(held);
        seen_within(
            Duration::from_secs(30),
            "the dead mount's file reclaimed",
            || fsck(&m[0]).contains("0 files"),
        );
    }
}

#[test]
fn a_working_directory_survives_another_mounts_changes_to_its_name() {
    for start in MetaServer::each() {
        let server = start();
        eprintln!("on {}", server.name());
        let blocks = tempfile::tempdir().unwrap();
        let m = mounts(&server, &blocks.path().join("blocks"), 2, long_ttl);
        std::fs::create_dir(m[0].join("work")).unwrap();
        seen_within(Duration::from_secs(5), "work on mount 1", || {
            m[1].join("work").is_dir()
        });
        // A shell on mount 1 sits in work/ while mount 0 renames it away and back, and adds a file
        // beside it: its working directory must stay usable (getcwd, relative paths).
        let script = "
        import os, sys, time
        os.chdir(sys.argv[1])
        print('ready', flush=True)
        sys.stdin.readline()
        cwd = os.getcwd()
        open('made-here', 'w').write('x')
        print(cwd, sorted(os.listdir('.')), flush=True)
    ";
        let mut child = Command::new("python3")
            .args([
                "-c",
                &script.replace("\n        ", "\n"),
                &m[1].join("work").display().to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        std::fs::rename(m[0].join("work"), m[0].join("moved")).unwrap();
        std::fs::rename(m[0].join("moved"), m[0].join("work")).unwrap();
        std::fs::write(m[0].join("beside"), b"y").unwrap();
        seen_within(Duration::from_secs(5), "beside on mount 1", || {
            m[1].join("beside").exists()
        });
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let status = child.wait().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(status.success(), "the shell in work/ failed: {rest}");
        assert!(rest.contains("made-here"), "{rest}");
        assert!(m[0].join("work/made-here").exists());
    }
}
