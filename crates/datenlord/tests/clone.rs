//! `datenlord clone` beside a real mount: a clone of a tree being written is the tree at one
//! moment, the two sides never see each other's writes, the clone outlives its source, and a
//! clone killed midway leaves nothing visible and nothing `gc` and `fsck` would not clean.

mod common;

use std::fs;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::Mounted;

const LEN: usize = 32;

/// A file's contents in round `round`: the same length every round, so a rewrite in place is
/// one flush.
fn contents(round: u32) -> Vec<u8> {
    let mut text = format!("{round:08}").into_bytes();
    text.resize(LEN - 1, b'.');
    text.push(b'\n');
    text
}

fn round_of(bytes: &[u8]) -> u32 {
    std::str::from_utf8(&bytes[..8]).unwrap().parse().unwrap()
}

/// `/tree` with `dirs` directories of `per_dir` files: the first written through the mount,
/// the others cloned from it (quicker).
fn make_tree(mounted: &Mounted, dirs: usize, per_dir: usize) -> Vec<std::path::PathBuf> {
    let root = mounted.join("tree");
    fs::create_dir_all(root.join("d0")).unwrap();
    for f in 0..per_dir {
        fs::write(root.join(format!("d0/f{f}")), contents(0)).unwrap();
    }
    for d in 1..dirs {
        mounted
            .home
            .run_ok(&["clone", "/tree/d0", &format!("/tree/d{d}")]);
    }
    (0..dirs)
        .flat_map(|d| (0..per_dir).map(move |f| (d, f)))
        .map(|(d, f)| root.join(format!("d{d}/f{f}")))
        .collect()
}

#[test]
fn a_clone_of_a_tree_being_written_is_that_tree_at_one_moment() {
    let mounted = Mounted::new();
    let files = make_tree(&mounted, 10, 1000);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (files, stop) = (files.clone(), stop.clone());
        std::thread::spawn(move || {
            // Rewrites every file in order, round after round, each in place and closed.
            for round in 1..1000 {
                for path in &files {
                    if stop.load(Ordering::Relaxed) {
                        return round;
                    }
                    let file = fs::OpenOptions::new().write(true).open(path).unwrap();
                    file.write_all_at(&contents(round), 0).unwrap();
                }
            }
            1000
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let report = mounted.home.run_ok(&["clone", "/tree", "/copy"]);
    assert!(report.contains("10011 inodes"), "{report}");
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(rounds >= 1, "the writer ran");

    // The writer goes through the files in order: at one moment the first k are of some
    // round and the rest of the round before.
    let copy: Vec<Vec<u8>> = files
        .iter()
        .map(|p| {
            let rel = p.strip_prefix(mounted.join("tree")).unwrap();
            fs::read(mounted.join("copy").join(rel)).unwrap()
        })
        .collect();
    let seen: Vec<u32> = copy.iter().map(|c| round_of(c)).collect();
    for (i, (bytes, round)) in copy.iter().zip(&seen).enumerate() {
        assert_eq!(bytes, &contents(*round), "file {i} is whole");
    }
    let newest = seen[0];
    let boundary = seen.iter().position(|r| *r != newest).unwrap_or(seen.len());
    assert!(
        seen[boundary..].iter().all(|r| *r + 1 == newest),
        "not one moment: rounds {:?}",
        seen.iter().collect::<std::collections::BTreeSet<_>>()
    );

    // Neither side sees the other's writes.
    fs::write(mounted.join("copy/d0/f0"), b"clone side").unwrap();
    assert_ne!(fs::read(&files[0]).unwrap(), b"clone side");
    fs::write(&files[1], b"source side").unwrap();
    assert_eq!(fs::read(mounted.join("copy/d0/f1")).unwrap(), copy[1]);

    // The source goes; the clone keeps every byte.
    fs::remove_dir_all(mounted.join("tree")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    for (i, path) in files.iter().enumerate().skip(2) {
        let rel = path.strip_prefix(mounted.join("tree")).unwrap();
        assert_eq!(fs::read(mounted.join("copy").join(rel)).unwrap(), copy[i]);
    }
    let fsck = mounted.home.run(&["fsck"]);
    let said = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success() && said.contains("clean"), "{said}");
}

#[test]
fn a_clone_killed_midway_leaves_nothing_behind() {
    let mounted = Mounted::new();
    make_tree(&mounted, 5, 1000);
    let before = mounted.home.run_ok(&["status", "--json"]);
    let used = |status: &str| -> serde_json::Value {
        let value: serde_json::Value = serde_json::from_str(status).unwrap();
        value["usage"].clone()
    };
    let mut child = mounted
        .home
        .command(&["clone", "/tree", "/copy"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the clone finished before it was killed");
    assert!(
        !mounted.join("copy").exists(),
        "an unfinished clone is not visible"
    );

    let gc = mounted.home.run_ok(&["gc", "--delete"]);
    assert!(
        gc.contains("1 unfinished clones of dead builders removed"),
        "{gc}"
    );
    let after = mounted.home.run_ok(&["status", "--json"]);
    assert_eq!(
        used(&after),
        used(&before),
        "everything the clone took is back"
    );
    let fsck = mounted.home.run(&["fsck"]);
    let said = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success() && said.contains("clean"), "{said}");
}
