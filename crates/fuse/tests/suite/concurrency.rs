//! Many threads at once, and a 1 GiB round trip, through a real mount. Shared like
//! `suite/posix.rs`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use crate::common::Mounted;

/// A cheap deterministic byte stream (xorshift64*), so expected data is never stored.
struct Pattern(u64);

impl Pattern {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let word = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// FNV-1a over 8-byte words: a checksum fast enough for a gigabyte.
fn checksum(state: &mut u64, data: &[u8]) {
    for chunk in data.chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        *state = (*state ^ u64::from_le_bytes(word)).wrapping_mul(0x0100_0000_01b3);
    }
}

#[test]
fn eight_threads_read_and_write_at_once() {
    let m = Arc::new(Mounted::new());
    let shared = m.join("shared");
    File::create(&shared)
        .unwrap()
        .set_len(8 * 1024 * 1024)
        .unwrap();
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let m = Arc::clone(&m);
            let shared = shared.clone();
            std::thread::spawn(move || {
                // Each thread owns a file and a 1 MiB region of the shared file.
                let own = m.join(&format!("own-{t}"));
                let mut expected = vec![0u8; 256 * 1024];
                for round in 0..8u64 {
                    Pattern(t * 1000 + round + 1).fill(&mut expected);
                    fs::write(&own, &expected).unwrap();
                    assert_eq!(
                        fs::read(&own).unwrap(),
                        expected,
                        "thread {t} round {round}"
                    );
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .open(&shared)
                        .unwrap();
                    let base = t * 1024 * 1024;
                    for (i, piece) in expected.chunks(64 * 1024).enumerate() {
                        f.write_all_at(piece, base + (i as u64) * 64 * 1024)
                            .unwrap();
                    }
                    let mut back = vec![0u8; expected.len()];
                    f.read_exact_at(&mut back, base).unwrap();
                    assert_eq!(back, expected, "thread {t} shared region, round {round}");
                    fs::create_dir(m.join(&format!("dir-{t}-{round}"))).unwrap();
                    assert!(fs::read_dir(m.path()).unwrap().count() >= 2);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("a worker thread failed");
    }
    assert_eq!(fs::read_dir(m.path()).unwrap().count(), 1 + 8 + 64);
}

#[test]
fn one_gibibyte_round_trip_with_checksum() {
    const SIZE: usize = 1 << 30;
    const CHUNK: usize = 1 << 20;
    let m = Mounted::new();
    let path = m.join("big");
    let mut pattern = Pattern(0x00de_ad00_beef);
    let mut written = 0xcbf2_9ce4_8422_2325u64;
    let mut buf = vec![0u8; CHUNK];
    let mut f = File::create(&path).unwrap();
    for _ in 0..SIZE / CHUNK {
        pattern.fill(&mut buf);
        checksum(&mut written, &buf);
        f.write_all(&buf).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    assert_eq!(fs::metadata(&path).unwrap().len(), SIZE as u64);

    let mut read = 0xcbf2_9ce4_8422_2325u64;
    let mut f = File::open(&path).unwrap();
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        checksum(&mut read, &buf[..n]);
        total += n;
    }
    assert_eq!(total, SIZE);
    assert_eq!(read, written, "checksum of what was read back");

    // A read that starts unaligned and crosses chunk boundaries sees the same bytes.
    let mut expected = Pattern(0x00de_ad00_beef);
    let mut first = vec![0u8; 2 * CHUNK];
    expected.fill(&mut first);
    let mut got = vec![0u8; CHUNK];
    f.seek(SeekFrom::Start(CHUNK as u64 / 2 + 3)).unwrap();
    f.read_exact(&mut got).unwrap();
    assert_eq!(got, first[CHUNK / 2 + 3..CHUNK / 2 + 3 + CHUNK]);
    drop(f);
    fs::remove_file(&path).unwrap();
}
