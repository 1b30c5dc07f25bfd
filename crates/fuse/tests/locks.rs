//! POSIX and flock locks through a real mount, and INTERRUPT of a blocked SETLKW.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Mounted;
use common::memfs::locks::LockTable;
use datenlord_fuse::op::Lock;
use nix::fcntl::{FcntlArg, Flock, FlockArg, fcntl};

/// Opens `path` for reading and writing: locks need a writable descriptor.
fn open_rw(path: impl AsRef<Path>) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

const CHILD_ENV: &str = "MEMFS_LOCK_WAITER";

fn write_lock(start: i64, len: i64) -> libc::flock {
    // SAFETY: flock is plain data; all-zero is a valid value that we then fill in.
    let mut lock: libc::flock = unsafe { std::mem::zeroed() };
    lock.l_type = libc::F_WRLCK as i16;
    lock.l_whence = libc::SEEK_SET as i16;
    lock.l_start = start;
    lock.l_len = len;
    lock
}

fn unlock(start: i64, len: i64) -> libc::flock {
    libc::flock {
        l_type: libc::F_UNLCK as i16,
        ..write_lock(start, len)
    }
}

#[test]
fn open_file_description_locks_conflict_and_release() {
    let m = Mounted::new();
    let path = m.join("locked");
    File::create(&path).unwrap();
    let a = open_rw(&path);
    let b = open_rw(&path);
    fcntl(&a, FcntlArg::F_OFD_SETLK(&write_lock(0, 100))).unwrap();
    assert_eq!(
        fcntl(&b, FcntlArg::F_OFD_SETLK(&write_lock(50, 10))),
        Err(nix::errno::Errno::EAGAIN)
    );
    fcntl(&b, FcntlArg::F_OFD_SETLK(&write_lock(100, 10))).unwrap();
    let mut probe = write_lock(0, 10);
    fcntl(&b, FcntlArg::F_OFD_GETLK(&mut probe)).unwrap();
    assert_eq!(
        probe.l_type,
        libc::F_WRLCK as i16,
        "GETLK reports the conflicting lock"
    );
    assert_eq!((probe.l_start, probe.l_len), (0, 100));
    let mut unlock = write_lock(0, 100);
    unlock.l_type = libc::F_UNLCK as i16;
    fcntl(&a, FcntlArg::F_OFD_SETLK(&unlock)).unwrap();
    fcntl(&b, FcntlArg::F_OFD_SETLK(&write_lock(0, 10))).unwrap();
}

#[test]
fn flock_conflicts_between_open_files_and_ends_with_close() {
    let m = Mounted::new();
    let path = m.join("flocked");
    File::create(&path).unwrap();
    let first = Flock::lock(File::open(&path).unwrap(), FlockArg::LockExclusiveNonblock).unwrap();
    let second = Flock::lock(File::open(&path).unwrap(), FlockArg::LockExclusiveNonblock);
    assert!(matches!(second, Err((_, nix::errno::Errno::EWOULDBLOCK))));
    drop(first);
    let third = Flock::lock(File::open(&path).unwrap(), FlockArg::LockSharedNonblock);
    assert!(third.is_ok(), "closing the file released the flock");
}

/// The waiter's side of the SETLKW tests, in a process of its own: POSIX locks belong to a
/// process, so a waiter in the test's process would own the holder's lock. A test re-runs its
/// own binary for just itself with [`CHILD_ENV`] set, and this takes the child over (never
/// returning) before the test body runs.
fn become_waiter_if_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    extern "C" fn on_signal(_: libc::c_int) {}
    // SAFETY: installs a handler that does nothing, without SA_RESTART, so a blocked
    // fcntl returns EINTR; the sigaction struct is fully initialised.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut());
    }
    let file = open_rw(&path);
    // SAFETY: gettid has no preconditions.
    println!("tid {}", unsafe { libc::gettid() });
    let lock = write_lock(0, 0);
    // SAFETY: F_SETLKW reads the flock struct, which lives on our stack for the call.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLKW, &lock) };
    let result = if rc == 0 {
        "LOCKED".to_string()
    } else {
        format!(
            "ERR {}",
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
        )
    };
    println!("{result}");
    std::process::exit(0);
}

/// A child process blocked in SETLKW on a file whose lock the test holds.
struct Waiter {
    child: std::process::Child,
    /// The thread blocked in fcntl, for a signal that must reach it and no other.
    tid: i32,
    verdict: std::sync::mpsc::Receiver<Option<String>>,
}

impl Waiter {
    /// Starts the waiter for `test` (the calling test's own name) and returns once its SETLKW
    /// is queued in memfs, so whatever the test does next happens to a request in the filesystem.
    fn start(m: &Mounted, test: &str, path: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, path.as_os_str())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let tid: i32 = loop {
            let line = lines.next().expect("child output").unwrap();
            // libtest prints "test NAME ... " before the child's own output, on the same line.
            if let Some(at) = line.find("tid ") {
                break line[at + 4..].trim().parse().unwrap();
            }
        };
        // Read the verdict on another thread, so a child that stays blocked cannot hang us.
        let (tx, verdict) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(
                lines
                    .map_while(Result::ok)
                    .find(|l| l.starts_with("ERR") || l == "LOCKED"),
            );
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while m.fs.lock_waiters() == 0 {
            assert!(
                Instant::now() < deadline,
                "the child's SETLKW never queued in memfs"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Waiter {
            child,
            tid,
            verdict,
        }
    }

    /// What the child's fcntl returned ("LOCKED" or "ERR errno"), if it returned in time.
    fn verdict(&self) -> Option<String> {
        self.verdict
            .recv_timeout(Duration::from_secs(20))
            .ok()
            .flatten()
    }

    /// Unmounts and reaps the child, also one still blocked. Once memfs has read the request
    /// even SIGKILL waits for its answer; aborting the connection is what ends it.
    fn end(mut self, verdict: &Option<String>, m: Mounted) -> std::process::ExitStatus {
        if verdict.is_none() {
            let _ = self.child.kill();
        }
        drop(m);
        self.child.wait().unwrap()
    }
}

#[test]
fn blocked_setlkw_is_interrupted() {
    become_waiter_if_child();
    let m = Mounted::new();
    let path = m.join("contended");
    File::create(&path).unwrap();
    let holder = open_rw(&path);
    fcntl(&holder, FcntlArg::F_SETLK(&write_lock(0, 0))).unwrap();
    let waiter = Waiter::start(&m, "blocked_setlkw_is_interrupted", &path);
    // SAFETY: tgkill with a live pid/tid pair of our own child and a handled signal.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_tgkill,
            waiter.child.id() as libc::c_int,
            waiter.tid,
            libc::SIGUSR1,
        )
    };
    assert_eq!(rc, 0, "tgkill");
    let verdict = waiter.verdict();
    let still_waiting = m.fs.lock_waiters();
    drop(holder);
    let status = waiter.end(&verdict, m);
    assert_eq!(
        verdict,
        Some(format!("ERR {}", libc::EINTR)),
        "the interrupted SETLKW must fail with EINTR while the lock is still held (child {status})"
    );
    assert_eq!(still_waiting, 0, "memfs stopped waiting");
}

#[test]
fn blocked_setlkw_is_granted_when_the_holder_closes() {
    become_waiter_if_child();
    let m = Mounted::new();
    let path = m.join("handed-over");
    File::create(&path).unwrap();
    let holder = open_rw(&path);
    fcntl(&holder, FcntlArg::F_SETLK(&write_lock(0, 0))).unwrap();
    let waiter = Waiter::start(
        &m,
        "blocked_setlkw_is_granted_when_the_holder_closes",
        &path,
    );
    // close(2) drops the holder's POSIX locks (FLUSH carries its lock owner).
    drop(holder);
    let verdict = waiter.verdict();
    let status = waiter.end(&verdict, m);
    assert_eq!(verdict.as_deref(), Some("LOCKED"), "child {status}");
    assert!(status.success(), "child {status}");
}

fn range(start: u64, end: u64, typ: i32) -> Lock {
    Lock {
        start,
        end,
        typ,
        pid: 1,
    }
}

#[test]
fn lock_table_splits_ranges_and_finds_conflicts() {
    let mut t = LockTable::default();
    t.apply(1, 10, &range(0, 99, libc::F_WRLCK), false);
    t.apply(1, 10, &range(40, 59, libc::F_UNLCK), false);
    assert!(
        t.conflict(1, 20, &range(45, 50, libc::F_WRLCK), false)
            .is_none()
    );
    assert_eq!(
        t.conflict(1, 20, &range(30, 45, libc::F_RDLCK), false)
            .unwrap()
            .end,
        39
    );
    assert!(
        t.conflict(1, 10, &range(0, 99, libc::F_WRLCK), false)
            .is_none(),
        "own locks never conflict"
    );
    assert!(
        t.conflict(1, 20, &range(0, 99, libc::F_WRLCK), true)
            .is_none(),
        "flock and POSIX are apart"
    );
    assert!(t.release_owner(1, 10, false));
    assert!(
        t.conflict(1, 20, &range(0, 99, libc::F_WRLCK), false)
            .is_none()
    );
}

/// Waiters hold their request buffers; more waiters than the session keeps buffers for must not
/// leave it unable to read the unlock that frees them.
#[test]
fn many_blocked_waiters_do_not_stall_the_session() {
    const WAITERS: usize = 200;
    let m = Mounted::new();
    let path = m.join("queue");
    File::create(&path).unwrap();
    let holder = open_rw(&path);
    fcntl(&holder, FcntlArg::F_OFD_SETLK(&write_lock(0, 0))).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let (path, done) = (path.clone(), std::sync::Arc::clone(&done));
            std::thread::spawn(move || {
                let file = open_rw(&path);
                fcntl(&file, FcntlArg::F_OFD_SETLKW(&write_lock(0, 0))).unwrap();
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // FUSE drops no open-file-description locks on close: unlock by hand.
                fcntl(&file, FcntlArg::F_OFD_SETLK(&unlock(0, 0))).unwrap();
            })
        })
        .collect();
    // Every waiter is queued in memfs before the holder lets go (or the test would prove little).
    let deadline = Instant::now() + Duration::from_secs(30);
    while m.fs.lock_waiters() < WAITERS {
        assert!(
            Instant::now() < deadline,
            "only {} waiters queued",
            m.fs.lock_waiters()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    fcntl(&holder, FcntlArg::F_OFD_SETLK(&unlock(0, 0))).unwrap();
    for waiter in waiters {
        waiter.join().unwrap();
    }
    assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), WAITERS);
}
