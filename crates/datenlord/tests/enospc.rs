//! A full block store: the writer gets ENOSPC, nothing already stored is damaged, the space
//! comes back when files are deleted, and fsck stays clean.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Home, Mounted, Options};

/// A tmpfs of a few MiB, unmounted at the end.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn new(path: PathBuf, size: &str) -> Self {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "mount tmpfs");
        SmallDisk(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_store_gives_enospc_not_corruption() {
    let home = Home::new();
    let disk = SmallDisk::new(home.path().join("small"), "24m");
    let meta = format!("sqlite://{}/meta.db", home.path().display());
    let storage = format!("file://{}/blocks", disk.0.display());
    let out = home.run(&["format", "--meta", &meta, "--storage", &storage, "small"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = Mounted::in_home(home, Options::default(), &["--meta", &meta]);

    let kept: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
    let mut f = std::fs::File::create(m.join("kept")).unwrap();
    f.write_all(&kept).unwrap();
    f.sync_all().unwrap();
    drop(f);

    let stat = nix::sys::statvfs::statvfs(m.path()).unwrap();
    let total = stat.blocks() * stat.fragment_size();
    assert!(total <= 24 << 20, "statfs shows the store's size: {total}");

    let mut big = std::fs::File::create(m.join("big")).unwrap();
    let chunk = vec![9u8; 1 << 20];
    let mut failure = None;
    for _ in 0..64 {
        if let Err(err) = big.write_all(&chunk) {
            failure = Some(err);
            break;
        }
    }
    let failure = failure.or_else(|| big.sync_all().err());
    let errno = failure
        .expect("writing 64 MiB into 24 MiB must fail")
        .raw_os_error();
    assert_eq!(errno, Some(libc::ENOSPC));
    drop(big);
    assert_eq!(
        std::fs::read(m.join("kept")).unwrap(),
        kept,
        "stored data is intact"
    );

    std::fs::remove_file(m.join("big")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut f = std::fs::File::create(m.join("again")).unwrap();
        let written = f.write_all(&kept[..4 << 20]).and_then(|()| f.sync_all());
        if written.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "space did not come back: {written:?}"
        );
        drop(f);
        std::thread::sleep(Duration::from_millis(200));
    }
    let home = m.into_home();
    let out = home.run(&["fsck", "--meta", &meta]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("clean"), "{text}");
    drop(disk);
    drop(home);
}
