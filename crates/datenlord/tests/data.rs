//! File data on a DatenLord volume: random overwrites across chunk boundaries against an
//! in-memory model, truncation, compaction, shared objects after copy_file_range, write-buffer
//! back-pressure, and persistence across remounts — each ending with a clean fsck.

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use common::{Home, Mounted, Options};

const MIB: usize = 1 << 20;

/// xorshift64*: deterministic, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn fsck(home: &Home) -> String {
    let out = home.run(&["fsck"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "fsck: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn objects(fsck_output: &str) -> usize {
    let line = fsck_output.lines().next().unwrap_or_default();
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .len()
        .checked_sub(2)
        .and_then(|at| words[at].parse().ok())
        .unwrap_or(usize::MAX)
}

/// Creates (or truncates) a file open for reading and writing.
fn create_rw(path: &std::path::Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap()
}

fn read_all(path: &std::path::Path) -> Vec<u8> {
    let mut data = Vec::new();
    File::open(path).unwrap().read_to_end(&mut data).unwrap();
    data
}

#[test]
fn random_overwrites_truncates_and_compaction_match_a_model() {
    let home = Home::new();
    // Overwritten data is to be deleted, not kept in the trash.
    home.set_trash_days(0);
    let m = Mounted::in_home(home, Options::default(), &[]);
    let path = m.join("model");
    let file = create_rw(&path);
    let mut model: Vec<u8> = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let span = 70 * MIB; // crosses the 64 MiB chunk boundary
    for round in 0..300 {
        if round % 50 == 49 {
            let len = rng.below(span);
            file.set_len(len as u64).unwrap();
            model.resize(len, 0);
        } else {
            let len = 1 + rng.below(if round % 10 == 0 { 3 * MIB } else { 64 << 10 });
            let offset = if round % 7 == 0 {
                64 * MIB - len / 2
            } else {
                rng.below(span)
            };
            let data = rng.bytes(len);
            file.write_all_at(&data, offset as u64).unwrap();
            if model.len() < offset + len {
                model.resize(offset + len, 0);
            }
            model[offset..offset + len].copy_from_slice(&data);
        }
        // Each fsync makes a slice: the chunks collect enough to be compacted.
        file.sync_data().unwrap();
    }
    assert_eq!(file.metadata().unwrap().len(), model.len() as u64);
    assert!(read_all(&path) == model, "contents differ from the model");
    drop(file);

    // Compaction and block deletion run in the background; wait for them to settle (on a
    // loaded two-core CI machine, with the blocks in S3, that has taken over 30 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let out = m.home.run(&["fsck"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if objects(&text) < 40 && text.contains("clean") && !text.contains("waiting to be deleted")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chunks were not compacted: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(read_all(&path) == model, "contents changed by compaction");

    let home = m.into_home();
    let out = fsck(&home);
    assert!(out.contains("clean"), "{out}");
    let m = Mounted::in_home(home, Options::default(), &[]);
    assert!(
        read_all(&m.join("model")) == model,
        "contents differ after remount"
    );
}

#[test]
fn truncate_hides_old_bytes_and_holes_read_as_zeros() {
    let m = Mounted::new();
    let path = m.join("t");
    std::fs::write(&path, vec![7u8; 3 * MIB]).unwrap();
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(1000).unwrap();
    f.set_len(2 * MIB as u64).unwrap();
    f.write_all_at(b"end", 70 * MIB as u64).unwrap();
    drop(f);
    let data = read_all(&path);
    assert_eq!(data.len(), 70 * MIB + 3);
    assert!(data[..1000].iter().all(|&b| b == 7));
    assert!(
        data[1000..70 * MIB].iter().all(|&b| b == 0),
        "no stale bytes after truncate up"
    );
    assert_eq!(&data[70 * MIB..], b"end");
    let home = m.into_home();
    let m = Mounted::in_home(home, Options::default(), &[]);
    assert_eq!(read_all(&m.join("t")), data);
}

#[test]
fn copies_share_objects_and_survive_the_source() {
    let m = Mounted::new();
    let src = m.join("src");
    let mut rng = Rng(42);
    let data = rng.bytes(5 * MIB + 123);
    std::fs::write(&src, &data).unwrap();
    let input = File::open(&src).unwrap();
    let output = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.join("dst"))
        .unwrap();
    let (mut off_in, mut off_out) = (0i64, 0i64);
    let mut copied = 0;
    while copied < data.len() {
        let n = nix::fcntl::copy_file_range(
            input.as_fd(),
            Some(&mut off_in),
            output.as_fd(),
            Some(&mut off_out),
            data.len() - copied,
        )
        .unwrap();
        assert!(n > 0);
        copied += n;
    }
    drop((input, output));
    std::fs::remove_file(&src).unwrap();
    assert!(read_all(&m.join("dst")) == data);
    let home = m.into_home();
    let out = fsck(&home);
    assert!(out.contains("clean"), "{out}");
}

#[test]
fn many_writers_under_a_small_buffer_keep_their_bytes() {
    let home = Home::new();
    let m = Mounted::in_home(home, Options::default(), &["--buffer-size", "8"]);
    let writers: Vec<_> = (0..4u64)
        .map(|i| {
            let path = m.join(&format!("w{i}"));
            std::thread::spawn(move || {
                let mut rng = Rng(i + 1);
                let data = rng.bytes(20 * MIB);
                let mut f = File::create(&path).unwrap();
                for piece in data.chunks(64 << 10) {
                    f.write_all(piece).unwrap();
                }
                drop(f);
                (path, data)
            })
        })
        .collect();
    for writer in writers {
        let (path, data) = writer.join().unwrap();
        assert!(read_all(&path) == data, "{} differs", path.display());
    }
}

#[test]
fn reads_move_the_access_time_like_relatime() {
    let m = Mounted::with(Options::uncached());
    let path = m.join("a");
    std::fs::write(&path, b"data").unwrap();
    let old = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let file = File::options().write(true).open(&path).unwrap();
    file.set_times(
        std::fs::FileTimes::new()
            .set_accessed(old)
            .set_modified(old),
    )
    .unwrap();
    drop(file);
    assert_eq!(std::fs::metadata(&path).unwrap().accessed().unwrap(), old);
    read_all(&path);
    let atime = std::fs::metadata(&path).unwrap().accessed().unwrap();
    assert!(
        atime > old + Duration::from_secs(1),
        "a read moves an old atime"
    );
    read_all(&path);
    assert_eq!(
        std::fs::metadata(&path).unwrap().accessed().unwrap(),
        atime,
        "but not on every read"
    );
}

#[test]
fn huge_offsets_are_efbig_and_sparse_files_stay_cheap() {
    let m = Mounted::new();
    let f = create_rw(&m.join("sparse"));
    let far = 1u64 << 40;
    f.write_all_at(b"tail", far).unwrap();
    assert_eq!(f.metadata().unwrap().len(), far + 4);
    let mut head = [1u8; 16];
    f.read_exact_at(&mut head, far / 2).unwrap();
    assert_eq!(head, [0; 16], "a hole reads as zeros");
    let limit = datenlord_meta::MAX_FILE_SIZE;
    let err = f.write_all_at(b"x", limit).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EFBIG));
    assert_eq!(
        f.set_len(limit + 1).unwrap_err().raw_os_error(),
        Some(libc::EFBIG)
    );
}

#[test]
fn bytes_being_flushed_in_the_background_stay_readable() {
    let m = Mounted::new();
    let f = create_rw(&m.join("flight"));
    let mut rng = Rng(7);
    let data = rng.bytes(150 * MIB);
    for (i, piece) in data.chunks(MIB).enumerate() {
        f.write_all_at(piece, (i * MIB) as u64).unwrap();
        if i % 16 == 15 {
            // Read back across what is buffered, in flight and stored, without closing.
            let mut back = vec![0u8; 3 * MIB];
            let at = i * MIB - 2 * MIB;
            f.read_exact_at(&mut back, at as u64).unwrap();
            assert!(back == data[at..at + 3 * MIB], "read at {at} while writing");
            assert_eq!(f.metadata().unwrap().len(), ((i + 1) * MIB) as u64);
        }
    }
    f.sync_all().unwrap();
    drop(f);
    assert!(read_all(&m.join("flight")) == data);
}
