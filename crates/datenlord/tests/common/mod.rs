//! A DatenLord volume mounted by the real `datenlord` binary for a test, unmounted (and its
//! daemon stopped) on drop even when the test fails.

#![allow(dead_code)]

#[path = "../../../fuse/tests/common/sys.rs"]
mod sys;
pub use sys::*;

pub mod certs;
pub mod servers;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use datenlord_fuse::{Config, MountOption};
use tempfile::TempDir;

/// How long the kernel may cache attributes and names.
pub struct Ttl {
    pub entry: Duration,
    pub attr: Duration,
}

/// Options of a test mount (the shape the shared suites use).
pub struct Options {
    pub ttl: Ttl,
    pub config: Config,
    pub mount: Vec<MountOption>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ttl: Ttl {
                entry: Duration::from_secs(1),
                attr: Duration::from_secs(1),
            },
            config: Config {
                workers: 2,
                ..Config::default()
            },
            mount: Vec::new(),
        }
    }
}

impl Options {
    /// No kernel caching of names and attributes: what another mount changed shows at once.
    pub fn uncached() -> Self {
        Options {
            ttl: Ttl {
                entry: Duration::ZERO,
                attr: Duration::ZERO,
            },
            ..Options::default()
        }
    }
}

/// The `datenlord` binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_datenlord")
}

/// Runs `datenlord ARGS` with `home` as `$DATENLORD_HOME`.
pub fn datenlord(home: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .env("DATENLORD_HOME", home)
        .env_remove("DATENLORD_LOG")
        .env_remove("DATENLORD_META")
        .output()
        .expect("run datenlord")
}

/// A volume home: its metadata, blocks and logs, and the environment its commands get.
pub struct Home {
    dir: TempDir,
    pub env: Vec<(String, String)>,
}

/// With `DATENLORD_TEST_S3=http://HOST:PORT` (and the AWS key variables) the default volume of
/// every test home keeps its blocks in that S3 server instead of a local directory; with
/// `DATENLORD_TEST_ETCD=HOST:PORT` (or `DATENLORD_TEST_REDIS`, `DATENLORD_TEST_POSTGRES`) its
/// metadata lives in that etcd (Redis, PostgreSQL), under a prefix (a table) of its own,
/// instead of SQLite. test.sh runs the
/// mount suites again these ways against real servers.
const TEST_S3: &str = "DATENLORD_TEST_S3";

/// `datenlord format` of the default volume with its metadata at `meta` and its blocks in
/// the home, logging only errors: for tests of reaching a metadata server.
pub fn format_quietly(home: &Home, meta: &str) -> std::process::Output {
    let storage = format!("file://{}/blocks", home.path().display());
    home.run(&[
        "--log",
        "error",
        "format",
        "--meta",
        meta,
        "--storage",
        &storage,
        "default",
    ])
}

/// The META_URL of a fresh volume named `name` in the server the tests were given;
/// `None` when they run on SQLite.
pub fn server_meta_url(name: &str) -> Option<String> {
    if let Ok(endpoint) = std::env::var("DATENLORD_TEST_ETCD") {
        return Some(format!("etcd://{endpoint}/{name}"));
    }
    if let Ok(endpoint) = std::env::var("DATENLORD_TEST_REDIS") {
        return Some(format!("redis://{endpoint}?prefix={name}"));
    }
    let endpoint = std::env::var("DATENLORD_TEST_POSTGRES").ok()?;
    Some(format!(
        "postgres://postgres@{endpoint}/postgres?table={}",
        datenlord_meta::engine::postgres_table(name)
    ))
}

impl Home {
    /// The home's directory name, lowercase: what its volumes on a server are named after.
    pub fn name(&self) -> String {
        self.path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_lowercase()
    }

    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("datenlord-test-")
            .tempdir()
            .expect("tempdir");
        let mut home = Home {
            dir,
            env: Vec::new(),
        };
        let name = home.name();
        let s3 = std::env::var(TEST_S3).ok();
        let server = server_meta_url(&name);
        if let Some(url) = &server {
            home.env.push(("DATENLORD_META".into(), url.clone()));
        }
        if s3.is_some() || server.is_some() {
            let storage = match &s3 {
                Some(endpoint) => {
                    format!("s3://datenlord-tests/{name}?endpoint={endpoint}&region=us-east-1")
                }
                None => format!("file://{}/blocks", home.path().display()),
            };
            let out = home.run(&["format", "--storage", &storage, "default"]);
            assert!(
                out.status.success(),
                "format {storage}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        home
    }

    /// A home whose default volume is the one in `meta`.
    pub fn on(meta: &str) -> Self {
        let mut home = Home::new();
        home.env.retain(|(k, _)| k != "DATENLORD_META");
        home.env.push(("DATENLORD_META".into(), meta.to_string()));
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run datenlord")
    }

    /// `datenlord ARGS`, which must succeed; its standard output.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "datenlord {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Formats the home's volume again with `--trash-days DAYS` (keeping its storage), for
    /// tests of what deletion frees.
    pub fn set_trash_days(&self, days: u32) -> String {
        let storage = match self.run(&["status", "--json"]) {
            // On etcd (and S3) the volume exists already: formatted again, it keeps its storage.
            out if out.status.success() => {
                let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                json["volume"]["storage"].as_str().unwrap().to_string()
            }
            _ => format!("file://{}/blocks", self.path().display()),
        };
        let days = days.to_string();
        self.run_ok(&[
            "format",
            "--trash-days",
            &days,
            "--storage",
            &storage,
            "default",
        ])
    }

    /// `datenlord ARGS` with this home and environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary());
        command
            .args(args)
            .env("DATENLORD_HOME", self.path())
            .env_remove("DATENLORD_LOG")
            .env_remove("DATENLORD_META")
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }
}

/// A volume mounted on a fresh temporary directory by a `datenlord mount` child process.
pub struct Mounted {
    pub home: Home,
    path: PathBuf,
    _mountpoint: TempDir,
    child: Option<Child>,
    log: PathBuf,
}

fn option_text(option: &MountOption) -> Option<String> {
    Some(match option {
        MountOption::AllowOther => "allow_other".into(),
        MountOption::ReadOnly => "ro".into(),
        MountOption::NoAtime => "noatime".into(),
        MountOption::NoExec => "noexec".into(),
        MountOption::Suid => "suid".into(),
        MountOption::Dev => "dev".into(),
        MountOption::Custom(word) => word.clone(),
        // Always set by datenlord itself.
        MountOption::DefaultPermissions | MountOption::FsName(_) | MountOption::Subtype(_) => {
            return None;
        }
        _ => return None,
    })
}

impl Mounted {
    pub fn new() -> Self {
        Self::with(Options::default())
    }

    pub fn with(options: Options) -> Self {
        Self::in_home(Home::new(), options, &[])
    }

    /// Mounts the volume of `home` (the default one unless `extra` names another).
    pub fn in_home(home: Home, options: Options, extra: &[&str]) -> Self {
        let mountpoint = tempfile::Builder::new()
            .prefix("datenlord-mnt-")
            .tempdir()
            .expect("tempdir");
        let path = mountpoint.path().to_path_buf();
        let mut args: Vec<String> = vec![
            "mount".into(),
            path.display().to_string(),
            "--attr-timeout".into(),
            options.ttl.attr.as_secs_f64().to_string(),
            "--entry-timeout".into(),
            options.ttl.entry.as_secs_f64().to_string(),
            "--workers".into(),
            options.config.workers.to_string(),
        ];
        let words: Vec<String> = options.mount.iter().filter_map(option_text).collect();
        if !words.is_empty() {
            args.push("-o".into());
            args.push(words.join(","));
        }
        if options.config.writeback_cache {
            args.push("--writeback-cache".into());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = home.path().join("mount.log");
        let child = home
            .command(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .env("DATENLORD_LOG", "info")
            .stdin(Stdio::null())
            .stdout(File::create(&log).expect("log"))
            .stderr(File::create(home.path().join("mount.err")).expect("log"))
            .spawn()
            .expect("start datenlord mount");
        let mut mounted = Mounted {
            home,
            path,
            _mountpoint: mountpoint,
            child: Some(child),
            log,
        };
        mounted.wait_ready();
        mounted
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !is_mounted(&self.path) {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("datenlord mount exited with {status}: {}", self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "mount did not appear: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the daemon wrote to stderr (its log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.home.path().join("mount.err")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Unmounts and waits for the daemon; returns its exit status.
    pub fn unmount(mut self) -> ExitStatus {
        self.stop().expect("daemon status")
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if is_mounted(&self.path)
            && let Err(err) = datenlord_fuse::unmount(&self.path, false)
        {
            eprintln!("unmount {}: {err}; detaching", self.path.display());
            let _ = datenlord_fuse::unmount(&self.path, true);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                eprintln!("daemon did not exit; killing it: {}", self.stderr());
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the daemon with SIGKILL, as a crash would, and detaches the dead mount.
    pub fn crash(mut self) -> Home {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if is_mounted(&self.path) {
            let _ = datenlord_fuse::unmount(&self.path, true);
        }
        let home = std::mem::replace(&mut self.home, Home::new());
        drop(self);
        home
    }

    /// Unmounts and gives back the volume's home for another mount.
    pub fn into_home(mut self) -> Home {
        let status = self.stop();
        assert!(
            status.is_some_and(|s| s.success()),
            "daemon failed: {}",
            self.stderr()
        );
        let home = std::mem::replace(&mut self.home, Home::new());
        drop(self);
        home
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // A failing test shows what the daemon said (the end of it).
            let log = self.stderr();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!(
                "daemon log of {}:\n{}",
                self.path.display(),
                tail.join("\n")
            );
        }
        let status = self.stop();
        if let Some(status) = status
            && !status.success()
            && !std::thread::panicking()
        {
            eprintln!("datenlord mount exited with {status}: {}", self.stderr());
        }
        assert!(
            !is_mounted(&self.path) || std::thread::panicking(),
            "{} is still mounted",
            self.path.display()
        );
        let _ = &self.log;
    }
}
