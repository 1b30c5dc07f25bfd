//! Mounting memfs for a test: a real mount with the kernel in the loop, unmounted on drop even
//! when the test fails.

#![allow(dead_code)]

#[path = "../../examples/memfs"]
pub mod memfs {
    pub mod fs;
    pub mod locks;
    pub mod tree;
}

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use datenlord_fuse::{Config, Mount, MountConfig, MountOption, Session};
use memfs::fs::{MemFs, Ttl};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// Options of a test mount.
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
            mount: vec![
                MountOption::FsName("memfs-test".into()),
                MountOption::DefaultPermissions,
            ],
        }
    }
}

/// A memfs mounted on a fresh temporary directory.
pub struct Mounted {
    pub fs: MemFs,
    dir: Option<TempDir>,
    path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Mounted {
    pub fn new() -> Self {
        Self::with(Options::default())
    }

    pub fn with(options: Options) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::Builder::new()
            .prefix("memfs-test-")
            .tempdir()
            .expect("tempdir");
        let path = dir.path().to_path_buf();
        let fs = MemFs::new(options.ttl);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = {
            let fs = fs.clone();
            let path = path.clone();
            std::thread::spawn(move || serve(fs, path, options, ready_tx, stop_rx))
        };
        match ready_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("mount failed: {e}"),
            Err(e) => panic!("mount did not become ready: {e}"),
        }
        Mounted {
            fs,
            dir: Some(dir),
            path,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

fn serve(
    fs: MemFs,
    path: PathBuf,
    options: Options,
    ready: mpsc::Sender<Result<(), String>>,
    stop: oneshot::Receiver<()>,
) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let setup = async {
            let mount = Mount::new(
                &path,
                &MountConfig {
                    options: options.mount,
                    clean_stale: false,
                },
            )
            .map_err(|e| e.to_string())?;
            let mut session =
                Session::new(fs.clone(), mount, options.config).map_err(|e| e.to_string())?;
            fs.set_notifier(session.notifier());
            let is_ready = session.ready();
            Ok::<_, String>((session, is_ready))
        };
        let (session, is_ready) = match setup.await {
            Ok(parts) => parts,
            Err(e) => {
                let _ = ready.send(Err(e.clone()));
                return Err(e);
            }
        };
        tokio::spawn(async move {
            let _ = ready.send(
                is_ready
                    .await
                    .map(|_| ())
                    .map_err(|_| "session ended before INIT".to_string()),
            );
        });
        session
            .run_until(async {
                let _ = stop.await;
            })
            .await
            .map_err(|e| e.to_string())
    })
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while !thread.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                if let Ok(Err(e)) = thread.join() {
                    eprintln!("session ended with an error: {e}");
                }
            } else {
                eprintln!("session did not stop; detaching {}", self.path.display());
                let _ = datenlord_fuse::unmount(&self.path, true);
            }
        }
        assert!(
            !is_mounted(&self.path) || std::thread::panicking(),
            "{} is still mounted",
            self.path.display()
        );
        drop(self.dir.take());
    }
}

#[path = "sys.rs"]
mod sys;
pub use sys::*;
