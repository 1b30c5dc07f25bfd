//! A filesystem handler that panics costs its caller an EIO, not a hang, and the session lives on.

use std::fs;
use std::time::Duration;

use datenlord_fuse::op;
use datenlord_fuse::reply::{Attr, Entry, FileAttr, Timespec};
use datenlord_fuse::{Config, Errno, Filesystem, Mount, MountConfig, Request, Result, Session};

/// A root directory holding "boom" (panics when asked for its attributes at once) and "later"
/// (panics after waiting, on the runtime).
struct Panicky;

fn attr(ino: u64, mode: u32) -> FileAttr {
    FileAttr {
        ino,
        mode,
        nlink: 1,
        atime: Timespec::now(),
        mtime: Timespec::now(),
        ctime: Timespec::now(),
        ..FileAttr::default()
    }
}

impl Filesystem for Panicky {
    async fn lookup(&self, _req: &Request<'_>, op: op::Lookup<'_>) -> Result<Entry> {
        let ino = match op.name.to_str() {
            Some("boom") => 2,
            Some("later") => 3,
            _ => return Err(Errno::ENOENT),
        };
        Ok(Entry {
            attr: attr(ino, libc::S_IFREG | 0o644),
            generation: 0,
            entry_ttl: Duration::ZERO,
            attr_ttl: Duration::ZERO,
        })
    }

    async fn getattr(&self, _req: &Request<'_>, op: op::Getattr) -> Result<Attr> {
        match op.ino {
            1 => Ok(Attr {
                attr: attr(1, libc::S_IFDIR | 0o755),
                ttl: Duration::ZERO,
            }),
            2 => panic!("getattr of inode 2"),
            _ => {
                tokio::time::sleep(Duration::from_millis(10)).await;
                panic!("getattr of inode {} after waiting", op.ino)
            }
        }
    }
}

#[test]
fn a_panicking_handler_answers_eio() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mount = Mount::new(dir.path(), &MountConfig::default()).unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut session = Session::new(
        Panicky,
        mount,
        Config {
            workers: 2,
            ..Config::default()
        },
    )
    .unwrap();
    let ready = session.ready();
    let session = runtime.spawn(session.run_until(async {
        let _ = stop_rx.await;
    }));
    runtime.block_on(ready).unwrap();
    let boom = fs::metadata(dir.path().join("boom"));
    let later = fs::metadata(dir.path().join("later"));
    let root = fs::metadata(dir.path());
    let _ = stop_tx.send(());
    runtime.block_on(session).unwrap().unwrap();
    assert_eq!(boom.unwrap_err().raw_os_error(), Some(libc::EIO));
    assert_eq!(later.unwrap_err().raw_os_error(), Some(libc::EIO));
    assert!(
        root.unwrap().is_dir(),
        "the session still serves after the panics"
    );
}
