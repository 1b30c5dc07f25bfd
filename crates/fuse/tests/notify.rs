//! Notifications: memfs changes behind the kernel's back (as another node would), and the
//! notifier brings the kernel's caches back in line.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::memfs::fs::Ttl;
use common::{Mounted, Options, errno};

fn long_cache() -> Mounted {
    Mounted::with(Options {
        ttl: Ttl {
            entry: Duration::from_secs(600),
            attr: Duration::from_secs(600),
        },
        ..Options::default()
    })
}

#[test]
fn inval_inode_drops_cached_data_and_attributes() {
    let m = long_cache();
    let path = m.join("f");
    fs::write(&path, b"old").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"old");
    let ino = fs::metadata(&path).unwrap().ino();
    m.fs.replace_content(ino, b"new content").unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        b"old",
        "the kernel still serves its cache"
    );
    m.fs.notifier().unwrap().inval_inode(ino, 0, 0).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"new content");
}

#[test]
fn inval_entry_and_delete_drop_cached_names() {
    let m = long_cache();
    fs::write(m.join("a"), b"").unwrap();
    fs::write(m.join("c"), b"").unwrap();
    assert!(m.join("a").exists() && m.join("c").exists());
    let notifier = m.fs.notifier().unwrap();

    m.fs.rename_behind(1, OsStr::new("a"), OsStr::new("b"))
        .unwrap();
    assert!(m.join("a").exists(), "the kernel still has the name cached");
    notifier.inval_entry(1, OsStr::new("a")).unwrap();
    assert_eq!(errno(fs::metadata(m.join("a"))), libc::ENOENT);
    assert!(m.join("b").exists());

    let ino = fs::metadata(m.join("c")).unwrap().ino();
    m.fs.unlink_behind(1, OsStr::new("c")).unwrap();
    notifier.delete(1, ino, OsStr::new("c")).unwrap();
    assert_eq!(errno(fs::metadata(m.join("c"))), libc::ENOENT);
    assert_eq!(
        notifier
            .inval_entry(1, OsStr::new(""))
            .unwrap_err()
            .raw_os_error(),
        Some(libc::EINVAL)
    );
}

#[test]
fn store_fills_the_page_cache_and_retrieve_reads_it_back() {
    let m = long_cache();
    let path = m.join("s");
    fs::write(&path, b"0123456789").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"0123456789");
    let ino = fs::metadata(&path).unwrap().ino();
    let notifier = m.fs.notifier().unwrap().clone();
    notifier.store(ino, 0, b"ABCDE").unwrap();
    assert_eq!(
        fs::read(&path).unwrap(),
        b"ABCDE56789",
        "reads come from the stored page cache"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (offset, data) = runtime.block_on(notifier.retrieve(ino, 0, 10)).unwrap();
    assert_eq!(offset, 0);
    assert_eq!(data, b"ABCDE56789");
}
