//! `datenlord gc`: objects in the store that no metadata knows — what a backup restored over
//! a newer volume leaves — are found (a dry run by default), deleted with `--delete`, and
//! nothing a file needs is touched; a mount killed with SIGKILL in the middle of writing
//! leaks nothing: its objects are the dead session's until the next mount reclaims them.

mod common;

use std::fs::{self, File};
use std::io::Write;
use std::time::{Duration, Instant};

use common::{Home, Mounted, Options};

/// The count of leaked objects `gc` reported.
fn leaked(said: &str) -> u64 {
    said.lines()
        .find_map(|line| {
            let (_, rest) = line.split_once("; ")?;
            rest.strip_suffix(')')
                .unwrap_or(rest)
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no leaked count in {said}"))
}

#[test]
fn objects_a_restored_backup_does_not_know_are_collected() {
    let mounted = Mounted::new();
    let kept: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    fs::write(mounted.join("kept"), &kept).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backup.dump");
    mounted
        .home
        .run_ok(&["dump", &backup.display().to_string()]);
    // Written after the backup: its blocks are in the store, its metadata not in the backup.
    fs::write(mounted.join("later"), vec![9u8; 5 << 20]).unwrap();
    let said = mounted.home.run_ok(&["gc"]);
    assert_eq!(leaked(&said), 0, "{said}");
    let home = mounted.into_home();

    let name = dir.path().file_name().unwrap().to_string_lossy();
    let restored = common::server_meta_url(&format!("gc-{}", name.to_lowercase()))
        .unwrap_or_else(|| format!("sqlite://{}/restored.db", dir.path().display()));

    home.run_ok(&["load", "--meta", &restored, &backup.display().to_string()]);
    let said = home.run_ok(&["gc", "--meta", &restored]);
    assert!(leaked(&said) >= 1, "{said}");
    assert!(said.contains("dry run"), "{said}");
    assert!(said.contains("leaked: object"), "{said}");
    let said = home.run_ok(&["gc", "--meta", &restored, "--delete"]);
    assert!(said.contains("deleted"), "{said}");
    let said = home.run_ok(&["gc", "--meta", &restored]);
    assert_eq!(leaked(&said), 0, "{said}");

    let back = Mounted::in_home(Home::on(&restored), Options::default(), &[]);
    assert_eq!(fs::read(back.join("kept")).unwrap(), kept);
    assert!(!back.join("later").exists());
    let fsck = back.home.run(&["fsck"]);
    let text = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success() && text.contains("clean"), "{text}");
}

#[test]
fn a_mount_killed_mid_write_leaks_nothing() {
    let home = Home::new();
    // The killed mount's data is to be deleted, not kept in the trash.
    home.set_trash_days(0);
    let mounted = Mounted::in_home(home, Options::default(), &[]);
    let synced: Vec<u8> = (0..(6u32 << 20)).map(|i| (i >> 9) as u8).collect();
    let mut file = File::create(mounted.join("big")).unwrap();
    file.write_all(&synced).unwrap();
    file.sync_all().unwrap();
    // Still writing when it dies: flushed in the background, never committed.
    for round in 0..12u8 {
        file.write_all(&[round; 1 << 20]).unwrap();
    }
    let home = mounted.crash();
    drop(file);
    let said = home.run_ok(&["gc"]);
    assert_eq!(
        leaked(&said),
        0,
        "the dead mount's objects are its own: {said}"
    );

    // The next mount reclaims the dead session: its unfinished objects are deleted.
    let mounted = Mounted::in_home(home, Options::default(), &[]);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let fsck = mounted.home.run(&["fsck"]);
        let text = String::from_utf8_lossy(&fsck.stdout).into_owned();
        let gc = mounted.home.run_ok(&["gc"]);
        if fsck.status.success()
            && text.contains("clean")
            && !text.contains("waiting to be deleted")
            && !text.contains("being written by a session that is gone")
        {
            assert_eq!(leaked(&gc), 0, "{gc}");
            break;
        }
        assert!(Instant::now() < deadline, "{text}{gc}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let data = fs::read(mounted.join("big")).unwrap();
    assert!(data.len() >= synced.len());
    assert_eq!(&data[..synced.len()], &synced[..], "fsynced bytes survive");
}
