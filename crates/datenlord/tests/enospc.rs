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
    let (disk, m, meta_args) = small_volume("24m");

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

    // rm keeps the file in the trash: deleted there too, its space comes back.
    std::fs::remove_file(m.join("big")).unwrap();
    let trashed: Vec<_> = std::fs::read_dir(m.join(".trash"))
        .unwrap()
        .flat_map(|hour| std::fs::read_dir(hour.unwrap().path()).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with("-big"))
        .collect();
    assert_eq!(trashed.len(), 1, "{trashed:?}");
    std::fs::remove_file(&trashed[0]).unwrap();
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
    let out = home.run(&["fsck", &meta_args[0], &meta_args[1]]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("clean"), "{text}");
    drop(disk);
    drop(home);
}

/// A volume whose blocks live on a small tmpfs; its metadata in the tests' server (`DATENLORD_TEST_ETCD` or `DATENLORD_TEST_REDIS`) when set, else SQLite.
fn small_volume(size: &str) -> (SmallDisk, Mounted, Vec<String>) {
    let home = Home::new();
    let disk = SmallDisk::new(home.path().join("small"), size);
    // On a server, next to the home's default volume, under a name of its own.
    let meta = common::server_meta_url(&format!("{}-small", home.name()))
        .unwrap_or_else(|| format!("sqlite://{}/meta.db", home.path().display()));
    let storage = format!("file://{}/blocks", disk.0.display());
    let out = home.run(&["format", "--meta", &meta, "--storage", &storage, "small"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extra = vec!["--meta".to_string(), meta];
    let args: Vec<&str> = extra.iter().map(String::as_str).collect();
    let m = Mounted::in_home(home, Options::default(), &args);
    (disk, m, extra)
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 11) as u8)
        .collect()
}

/// On a store that fills up, write(2) itself fails with ENOSPC (buffered bytes are reserved
/// against the store's free space), and every byte acknowledged before is stored at close.
#[test]
fn a_write_that_cannot_be_stored_fails_in_write_and_keeps_what_was_acknowledged() {
    let (disk, m, _) = small_volume("32m");
    let data = pattern(40 << 20, 1);
    let mut f = std::fs::File::create(m.join("big")).unwrap();
    let mut acknowledged = 0;
    let mut failure = None;
    for piece in data.chunks(1 << 20) {
        match f.write(piece) {
            Ok(n) => {
                acknowledged += n;
                if n < piece.len() {
                    break;
                }
            }
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let failure = failure.expect("40 MiB cannot fit in 32 MiB: a write must fail");
    assert_eq!(failure.raw_os_error(), Some(libc::ENOSPC), "{failure}");
    assert!(
        acknowledged >= 16 << 20,
        "most of the store was usable: {acknowledged}"
    );
    f.sync_all().expect("what was acknowledged fits");
    drop(f);
    let stored = std::fs::read(m.join("big")).unwrap();
    assert_eq!(stored.len(), acknowledged);
    assert!(
        stored == data[..acknowledged],
        "the stored bytes are the ones written"
    );
    drop(m);
    drop(disk);
}

/// Bytes acknowledged while there was room are not lost when the store fills up before they
/// are stored (here: something else takes the space): close reports ENOSPC, the bytes stay
/// buffered, and once there is room again the mount stores them by itself.
#[test]
fn acknowledged_bytes_survive_a_store_that_fills_before_the_flush() {
    let (disk, m, _) = small_volume("32m");
    let data = pattern(8 << 20, 2);
    let filler = disk.0.join("filler");
    // The mount's background flush (every second) may store the bytes before the disk fills,
    // on a slow machine: then the case did not happen, and it is tried again on a new file.
    let mut attempts = 0;
    let name = loop {
        attempts += 1;
        assert!(
            attempts <= 5,
            "the bytes were flushed before the disk filled, 5 times"
        );
        let name = format!("late-{attempts}");
        let hog = std::fs::File::create(&filler).unwrap();
        let mut f = std::fs::File::create(m.join(&name)).unwrap();
        f.write_all(&data).unwrap();
        // Another user of the disk takes the room the buffered bytes were counted against,
        // in one call.
        let stat = nix::sys::statvfs::statvfs(&disk.0).unwrap();
        let free = stat.blocks_available() * stat.fragment_size();
        nix::fcntl::fallocate(
            &hog,
            nix::fcntl::FallocateFlags::empty(),
            0,
            (free - (1 << 20)) as i64,
        )
        .unwrap();
        drop(hog);
        match f.sync_all() {
            Err(err) => {
                assert_eq!(err.raw_os_error(), Some(libc::ENOSPC), "{err}");
                drop(f);
                break name;
            }
            Ok(()) => {
                drop(f);
                assert!(std::fs::read(m.join(&name)).unwrap() == data);
                std::fs::remove_file(m.join(&name)).unwrap();
                std::fs::remove_file(&filler).unwrap();
            }
        }
    };
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = std::fs::read(m.join(&name)).unwrap();
        if stored == data {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kept bytes were not stored: {} of {} bytes match",
            stored.iter().zip(&data).take_while(|(a, b)| a == b).count(),
            data.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(m);
    drop(disk);
}
