//! One conformance suite over every backend: the same checks, through [`BlockStore`] and the
//! [`Backend`] trait, on a local directory, `memory://` and S3 on a real `s3s-fs` server that
//! each S3 test starts for itself (on a free 127.0.0.1 port over a temporary directory).
//!
//! Every check is a module with one test per backend (`ranges::local`, `ranges::memory`,
//! `ranges::s3`), so a failure names both. What a backend cannot do is skipped with the reason
//! printed. S3 credentials come from the AWS environment variables, which a test may not set in
//! its own process (that needs `unsafe`), so an S3 test runs itself again as a child process of
//! this binary with them set, and checks that the child ran and passed.

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datenlord_store::backend::{AnyBackend, Backend};
use datenlord_store::cache::{Access, CacheConfig};
use datenlord_store::{BlockStore, StorageUrl, StoreError, block_name, parse_block_name};
use futures::TryStreamExt;

const BLOCK: u32 = 4096;
const S3_KEY: &str = "datenlord-store-test";
const S3_SECRET: &str = "datenlord-store-test-secret";
const BUCKET: &str = "blocks";
/// Set in the child process an S3 test runs itself in.
const S3_CHILD: &str = "DATENLORD_STORE_TEST_S3_CHILD";
/// The deadline of the stores the timeout checks use.
const DEADLINE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Local,
    Memory,
    S3,
}

/// A fresh, empty storage of one kind and what keeps it alive.
struct Fixture {
    kind: Kind,
    url: StorageUrl,
    s3: Option<S3Server>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn new(kind: Kind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, s3) = match kind {
            Kind::Local => (StorageUrl::File(dir.path().join("blocks")), None),
            Kind::Memory => (StorageUrl::Memory, None),
            Kind::S3 => {
                let server = S3Server::start(dir.path());
                (server.url(BUCKET, "volume"), Some(server))
            }
        };
        Self {
            kind,
            url,
            s3,
            _dir: dir,
        }
    }

    fn store(&self) -> BlockStore {
        BlockStore::open(&self.url, BLOCK, true).unwrap()
    }

    /// A store with a memory tier in front: reads fetch whole blocks.
    fn cached_store(&self) -> BlockStore {
        let config = CacheConfig {
            memory_size: 64 << 20,
            disk_dirs: Vec::new(),
            disk_size: 0,
            min_free_ratio: 0.0,
            policy: datenlord_store::cache::Policy::Auto,
        };
        self.store().with_cache(&config).unwrap()
    }

    fn backend(&self) -> AnyBackend {
        AnyBackend::open(&self.url, true).unwrap()
    }
}

/// Runs `check` on a fresh storage of `kind`; an S3 check runs in a child process (see the
/// module's doc) named by `test`, its path in this binary.
fn conform<F: Future<Output = ()>>(kind: Kind, test: &str, check: impl FnOnce(Fixture) -> F) {
    if kind == Kind::S3 && std::env::var_os(S3_CHILD).is_none() {
        return run_in_child(test);
    }
    let fixture = Fixture::new(kind);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(check(fixture));
}

fn run_in_child(test: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(S3_CHILD, "1")
        .env("AWS_ACCESS_KEY_ID", S3_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET)
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{test} failed in its child process");
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run in its child"
    );
}

/// One module per check, a test per backend in it.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use super::*;

            #[test]
            fn local() {
                conform(Kind::Local, "", checks::$check);
            }

            #[test]
            fn memory() {
                conform(Kind::Memory, "", checks::$check);
            }

            #[test]
            fn s3() {
                conform(Kind::S3, concat!(stringify!($check), "::s3"), checks::$check);
            }
        }
    )*};
}

conformance!(
    ranges,
    object_sizes,
    past_the_end,
    delete,
    list,
    trait_round_trip,
    probe,
    bad_storage,
    sync_and_capacity,
    no_space,
    timeouts,
);

/// Bytes no two blocks of which are alike.
fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(31).wrapping_add(seed) % 251) as u8)
        .collect()
}

fn skip(kind: Kind, check: &str, why: &str) {
    println!("skipped: {check} on {kind:?}: {why}");
}

/// Asserts `Missing`, also as the failure of a fetch that readers shared.
#[track_caller]
fn assert_missing(result: datenlord_store::Result<bytes::Bytes>, what: &str) {
    let err = result.expect_err(what);
    let inner = match &err {
        StoreError::Shared(inner) => inner.as_ref(),
        other => other,
    };
    assert!(matches!(inner, StoreError::Missing(_)), "{what}: {err:?}");
    assert_eq!(err.errno(), libc::EIO, "{what}");
}

mod checks {
    use super::*;

    /// Whole objects and ranges anywhere in them read back what was written, with and without
    /// a cache tier in front (the tier fetches whole blocks, the bare store ranges).
    pub async fn ranges(fx: Fixture) {
        let bs = u64::from(BLOCK);
        let len = 3 * bs + 1234;
        let data = pattern(len as usize, 1);
        // Each store its own object: a second memory:// store is another memory.
        for (object, store) in [(11, fx.store()), (12, fx.cached_store())] {
            store.put(object, &data).await.unwrap();
            let read = |offset: u64, n: u64| store.read(object, offset, n, Access::Random);
            let cases = [
                (0, len),
                (0, 1),
                (100, 200),
                (bs - 10, 20),
                (bs, bs),
                (bs - 1, 2 * bs + 2),
                (3 * bs, 1234),
                (3 * bs + 1000, 234),
                (len - 1, 1),
                (0, 0),
                (5000, 0),
                (len, 0),
            ];
            for (offset, n) in cases {
                let got = read(offset, n).await.unwrap();
                assert_eq!(
                    got,
                    data[offset as usize..(offset + n) as usize],
                    "{offset}+{n}"
                );
            }
            // Arbitrary ranges, the same on every run.
            let mut x = 0x2545_f491_u64;
            for _ in 0..64 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let offset = (x >> 33) % len;
                let n = (x >> 13) % (len - offset + 1);
                let got = read(offset, n).await.unwrap();
                assert_eq!(
                    got,
                    data[offset as usize..(offset + n) as usize],
                    "{offset}+{n}"
                );
            }
            for index in 0..4 {
                let start = (index * bs) as usize;
                let end = (start + bs as usize).min(data.len());
                assert_eq!(store.block(object, index).await.unwrap(), data[start..end]);
            }
        }
    }

    /// Objects of exactly one block, many blocks, one byte more than a block, one byte, and
    /// none (an empty object has no blocks at all: reads of nothing succeed).
    pub async fn object_sizes(fx: Fixture) {
        let store = fx.store();
        let bs = BLOCK as usize;
        let sizes = [bs, 16 * bs, bs + 1, 1, 0];
        for (object, &size) in sizes.iter().enumerate() {
            let object = object as u64 + 1;
            let data = pattern(size, object as u32);
            store.put(object, &data).await.unwrap();
            let got = store.read(object, 0, size as u64, Access::Sequential);
            assert_eq!(got.await.unwrap(), data, "object of {size} bytes");
        }
        let listed = store.list().await.unwrap();
        let blocks: Vec<(u64, usize)> = listed.iter().map(|(o, b)| (*o, b.len())).collect();
        assert_eq!(blocks, [(1, 1), (2, 16), (3, 2), (4, 1)], "{listed:?}");
        assert_eq!(listed[&2].values().sum::<u64>(), 16 * BLOCK as u64);
        assert_eq!(listed[&3][&1], 1);
        store.delete(5, 0).await.unwrap();
    }

    /// Reads past an object's end fail: `Missing` for a block that does not exist, and for a
    /// range that runs past the end of the last block (blocks never shrink, so to the store
    /// that block is damaged).
    pub async fn past_the_end(fx: Fixture) {
        let bs = u64::from(BLOCK);
        let len = 2 * bs + 100;
        for (object, store) in [(3, fx.store()), (4, fx.cached_store())] {
            store.put(object, &pattern(len as usize, 3)).await.unwrap();
            for (offset, n) in [(len - 10, 20), (len, 1), (2 * bs + 50, bs), (3 * bs, 1)] {
                let got = store.read(object, offset, n, Access::Random).await;
                assert_missing(got, &format!("{offset}+{n} of {len}"));
            }
            assert_missing(store.block(object, 3).await, "block past the end");
        }
    }

    /// A deleted object reads as `Missing`, block by block; deleting it again, or an object
    /// that never was, is fine.
    pub async fn delete(fx: Fixture) {
        let bs = u64::from(BLOCK);
        let store = fx.cached_store();
        let data = pattern(3 * BLOCK as usize, 5);
        store.put(5, &data).await.unwrap();
        store.put(6, b"kept").await.unwrap();
        assert_eq!(
            store.read(5, 0, 3 * bs, Access::Random).await.unwrap(),
            data
        );
        store.delete(5, 3 * bs).await.unwrap();
        for index in 0..3 {
            assert_missing(
                store.read(5, index * bs + 1, 10, Access::Random).await,
                "read after delete",
            );
            assert_missing(store.block(5, index).await, "block after delete");
        }
        store.delete(5, 3 * bs).await.unwrap();
        store.delete(99, 10 * bs).await.unwrap();
        let listed = store.list().await.unwrap();
        assert_eq!(listed.keys().copied().collect::<Vec<_>>(), [6]);
        assert_eq!(store.read(6, 0, 4, Access::Random).await.unwrap(), "kept");
    }

    /// `list` returns exactly the blocks written, with their sizes, and their names parse back
    /// to the object and index they were written as.
    pub async fn list(fx: Fixture) {
        let bs = u64::from(BLOCK);
        let store = fx.store();
        assert!(store.list().await.unwrap().is_empty());
        let objects = [
            (1, 10),
            (999, bs),
            (1000, 2 * bs + 1),
            (1_234_567, 1),
            (u64::MAX - 1, bs + 7),
        ];
        for (object, len) in objects {
            store
                .put(object, &pattern(len as usize, object as u32))
                .await
                .unwrap();
        }
        let listed = store.list().await.unwrap();
        let expected: std::collections::BTreeMap<u64, std::collections::BTreeMap<u64, u64>> =
            objects
                .iter()
                .map(|&(object, len)| {
                    let blocks = (0..len.div_ceil(bs))
                        .map(|i| (i, (len - i * bs).min(bs)))
                        .collect();
                    (object, blocks)
                })
                .collect();
        assert_eq!(listed, expected);
        let listed: Vec<(String, u64)> = fx.backend().list().try_collect().await.unwrap();
        let mut names: Vec<String> = listed.into_iter().map(|(name, _)| name).collect();
        if fx.kind == Kind::Memory {
            // A second memory:// store is another memory: its listing is checked in
            // `trait_round_trip` instead.
            return;
        }
        names.sort();
        let mut written: Vec<String> = expected
            .iter()
            .flat_map(|(o, blocks)| blocks.keys().map(|i| block_name(*o, *i)))
            .collect();
        written.sort();
        assert_eq!(names, written);
        for name in &names {
            let (object, index) = parse_block_name(name).unwrap();
            assert_eq!(block_name(object, index), *name);
        }
    }

    /// The trait's contract, straight on a backend: blocks put are read whole and in ranges,
    /// listed under their names, a short or absent one is `Missing`, deletes are idempotent.
    pub async fn trait_round_trip(fx: Fixture) {
        let backend = fx.backend();
        let first = pattern(BLOCK as usize, 7);
        let second = pattern(100, 8);
        let blocks = [
            (block_name(42, 0), &first[..]),
            (block_name(42, 1), &second[..]),
        ];
        let counted = std::sync::Mutex::new(Vec::new());
        let count = |len, _took| counted.lock().unwrap().push(len);
        backend.put_blocks(&blocks, &count).await.unwrap();
        let mut counted = counted.into_inner().unwrap();
        counted.sort();
        assert_eq!(counted, [100, u64::from(BLOCK)]);
        backend.sync().await.unwrap();
        assert_eq!(backend.read_whole(&blocks[0].0).await.unwrap(), first);
        assert_eq!(backend.read_whole(&blocks[1].0).await.unwrap(), second);
        let range = backend.read_range(&blocks[0].0, 1000, 96).await.unwrap();
        assert_eq!(range, first[1000..1096]);
        assert_eq!(
            backend.read_range(&blocks[1].0, 99, 1).await.unwrap(),
            second[99..]
        );
        assert_missing(
            backend.read_range(&blocks[1].0, 90, 20).await,
            "short block",
        );
        assert_missing(backend.read_range(&blocks[1].0, 100, 1).await, "at the end");
        let absent = block_name(43, 0);
        assert_missing(backend.read_range(&absent, 0, 1).await, "absent block");
        assert_missing(backend.read_whole(&absent).await, "absent block");
        let mut listed: Vec<(String, u64)> = backend.list().try_collect().await.unwrap();
        listed.sort();
        assert_eq!(
            listed,
            [
                (blocks[0].0.clone(), u64::from(BLOCK)),
                (blocks[1].0.clone(), 100)
            ]
        );
        backend.delete(&blocks[0].0).await.unwrap();
        backend.delete(&blocks[0].0).await.unwrap();
        backend.delete(&absent).await.unwrap();
        assert_missing(backend.read_whole(&blocks[0].0).await, "deleted block");
        let listed: Vec<(String, u64)> = backend.list().try_collect().await.unwrap();
        assert_eq!(listed, [(blocks[1].0.clone(), 100)]);
        assert_eq!(backend.needs_deadline(), fx.kind != Kind::Local);
    }

    /// A probe of a good store succeeds and leaves nothing behind.
    pub async fn probe(fx: Fixture) {
        let store = fx.store();
        store.probe().await.unwrap();
        store.probe().await.unwrap();
        assert!(store.list().await.unwrap().is_empty());
    }

    /// A store that cannot work says so clearly, and in time.
    pub async fn bad_storage(fx: Fixture) {
        match fx.kind {
            Kind::Local => {
                let StorageUrl::File(root) = &fx.url else {
                    unreachable!()
                };
                let missing = StorageUrl::File(root.join("not-there"));
                let err = BlockStore::open(&missing, BLOCK, false).unwrap_err();
                assert!(matches!(err, StoreError::Url { .. }), "{err:?}");
                assert!(err.to_string().contains("not-there"), "{err}");
                // The directory goes away under an open store.
                let store = fx.store();
                store.probe().await.unwrap();
                std::fs::remove_dir_all(root).unwrap();
                let err = store.probe().await.unwrap_err();
                assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
                assert!(err.to_string().contains(&*root.to_string_lossy()), "{err}");
            }
            Kind::Memory => skip(fx.kind, "bad_storage", "memory:// cannot be unreachable"),
            Kind::S3 => {
                let server = fx.s3.as_ref().unwrap();
                // s3s-fs makes a missing bucket on the first write, so the wrong bucket is
                // one whose directory is taken by a file.
                std::fs::write(server.root.join("not-a-bucket"), b"").unwrap();
                let cases = [
                    (
                        "nothing listening",
                        S3Server::url_on(free_port(), BUCKET, "volume"),
                    ),
                    ("a wrong bucket", server.url("not-a-bucket", "volume")),
                ];
                for (what, url) in cases {
                    let store = BlockStore::open(&url, BLOCK, true)
                        .unwrap()
                        .with_deadline(DEADLINE);
                    let started = Instant::now();
                    let err = store.probe().await.unwrap_err();
                    println!("probe of {what}: {err}");
                    assert_eq!(err.errno(), libc::EIO, "{what}");
                    assert!(
                        started.elapsed() < DEADLINE * 3,
                        "{what}: {:?}",
                        started.elapsed()
                    );
                }
            }
        }
    }

    /// Sync succeeds after writes; only a local directory has a capacity.
    pub async fn sync_and_capacity(fx: Fixture) {
        let store = fx.store();
        store.put(1, &pattern(10_000, 1)).await.unwrap();
        store.sync().await.unwrap();
        store.sync().await.unwrap();
        match store.capacity() {
            Some(c) => {
                assert_eq!(fx.kind, Kind::Local);
                assert!(c.total > 0 && c.free <= c.total, "{c:?}");
            }
            None => assert_ne!(fx.kind, Kind::Local),
        }
    }

    /// A put that does not fit fails with `NoSpace` and leaves no block behind; a smaller one
    /// then fits.
    pub async fn no_space(fx: Fixture) {
        if fx.kind != Kind::Local {
            let why = match fx.kind {
                Kind::Memory => "memory:// grows until the process runs out of memory",
                _ => "S3 has no 'full' answer to recognise (a full server answers 500)",
            };
            return skip(fx.kind, "no_space", why);
        }
        let tmpfs = Tmpfs::mount(4 << 20);
        let url = StorageUrl::File(tmpfs.path().join("blocks"));
        let store = BlockStore::open(&url, 1 << 20, true).unwrap();
        let big = pattern(8 << 20, 9);
        let err = store.put(1, &big).await.unwrap_err();
        assert!(matches!(err, StoreError::NoSpace(_)), "{err:?}");
        assert_eq!(err.errno(), libc::ENOSPC);
        assert!(store.list().await.unwrap().is_empty(), "blocks left behind");
        let small = pattern(1 << 20, 10);
        store.put(2, &small).await.unwrap();
        store.sync().await.unwrap();
        assert_eq!(
            store.read(2, 0, 1 << 20, Access::Sequential).await.unwrap(),
            small
        );
    }

    /// With the server stopped (SIGSTOP), every operation fails within the store's deadline
    /// rather than hang; once it runs again, the store works again.
    pub async fn timeouts(fx: Fixture) {
        if fx.kind != Kind::S3 {
            return skip(
                fx.kind,
                "timeouts",
                "nothing to stop: only a remote store is bounded by a deadline",
            );
        }
        let store = fx.store().with_deadline(DEADLINE);
        store.put(1, &pattern(10_000, 1)).await.unwrap();
        let server = fx.s3.as_ref().unwrap();
        {
            let _stopped = server.pause();
            let timed_out = |what: &str, started: Instant, err: StoreError| {
                println!("{what} with the server stopped: {err}");
                assert!(
                    matches!(err, StoreError::TimedOut(d) if d == DEADLINE),
                    "{what}: {err:?}"
                );
                assert!(
                    started.elapsed() < DEADLINE * 3,
                    "{what}: {:?}",
                    started.elapsed()
                );
                assert_eq!(err.errno(), libc::EIO);
            };
            let started = Instant::now();
            let err = store.read(1, 0, 10, Access::Random).await.unwrap_err();
            timed_out("read", started, err);
            let started = Instant::now();
            let err = store.put(2, b"x").await.unwrap_err();
            timed_out("put", started, err);
            let started = Instant::now();
            let err = store.delete(1, 10_000).await.unwrap_err();
            timed_out("delete", started, err);
            let started = Instant::now();
            let err = store.list().await.unwrap_err();
            timed_out("list", started, err);
        }
        store.probe().await.unwrap();
        let got = store.read(1, 0, 10_000, Access::Random).await.unwrap();
        assert_eq!(got, pattern(10_000, 1));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn s3s_fs() -> PathBuf {
    let in_cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin/s3s-fs"));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("s3s-fs"))
        .chain(in_cargo_home)
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "s3s-fs is not installed; the S3 checks need it: \
                 cargo install s3s-fs@0.14.1 --features binary --locked"
            )
        })
}

/// An `s3s-fs` server over `{dir}/s3` with one bucket, killed on drop.
struct S3Server {
    child: Child,
    root: PathBuf,
    port: u16,
}

impl S3Server {
    fn start(dir: &Path) -> Self {
        let root = dir.join("s3");
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let port = free_port();
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let server = Self { child, root, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self, bucket: &str, prefix: &str) -> StorageUrl {
        Self::url_on(self.port, bucket, prefix)
    }

    fn url_on(port: u16, bucket: &str, prefix: &str) -> StorageUrl {
        format!("s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{port}&region=us-east-1")
            .parse()
            .unwrap()
    }

    /// Stops the server (SIGSTOP) until the guard is dropped: it still accepts connections
    /// (the kernel does) but answers nothing.
    fn pause(&self) -> Paused {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
        Paused(pid)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stopped server, continued on drop.
struct Paused(nix::unistd::Pid);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

/// A tmpfs of a few MiB on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: u64) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the ENOSPC check mounts a tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(self.dir.path()).status();
        if !unmounted.is_ok_and(|s| s.success()) {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}
