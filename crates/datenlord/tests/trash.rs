//! The trash through a real mount and the `datenlord trash` commands: what `rm` and a
//! replacing rename send there, `/.trash` for root, restoring (a whole removed tree, or with
//! `mv`), purging, overwritten data kept until purged, and a volume without trash.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use common::{Home, Mounted, Options};

/// The trash's entries as `datenlord trash list --json` prints them.
fn entries(home: &Home) -> Vec<serde_json::Value> {
    home.run_ok(&["trash", "list", "--json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn fsck_clean(home: &Home) {
    let fsck = home.run(&["fsck"]);
    let said = String::from_utf8_lossy(&fsck.stdout);
    assert!(fsck.status.success() && said.contains("clean"), "{said}");
}

#[test]
fn removed_files_wait_in_the_trash_and_come_back() {
    let mounted = Mounted::with(Options::uncached());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    fs::write(mounted.join("report"), &data).unwrap();
    let open = fs::File::open(mounted.join("report")).unwrap();
    fs::remove_file(mounted.join("report")).unwrap();
    // Programs count no name for it, as on any filesystem.
    assert_eq!(open.metadata().unwrap().nlink(), 0);
    assert!(!mounted.join("report").exists());
    drop(open);

    // Root sees it in /.trash, which no listing of the root shows.
    let names: Vec<String> = fs::read_dir(mounted.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.contains(&".trash".to_string()), "{names:?}");
    let trash = mounted.join(".trash");
    let mode = fs::metadata(&trash).unwrap().mode();
    assert_eq!(mode & 0o777, 0o700);
    let hours: Vec<_> = fs::read_dir(&trash)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(hours.len(), 1, "{hours:?}");
    let inside: Vec<_> = fs::read_dir(&hours[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(inside.len(), 1);
    assert!(
        inside[0].to_string_lossy().ends_with("-report"),
        "{inside:?}"
    );
    assert_eq!(fs::read(&inside[0]).unwrap(), data);

    let listed = entries(&mounted.home);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["from"], "/");
    assert_eq!(listed[0]["name"], "report");
    assert_eq!(listed[0]["size"], 300_000);
    let entry = listed[0]["entry"].as_str().unwrap().to_string();
    let said = mounted.home.run_ok(&["trash", "restore", &entry]);
    assert!(
        said.contains("restored") && said.contains("/report"),
        "{said}"
    );
    assert_eq!(fs::read(mounted.join("report")).unwrap(), data);
    assert_eq!(fs::metadata(mounted.join("report")).unwrap().nlink(), 1);
    assert!(entries(&mounted.home).is_empty());

    // A replaced file goes there too; `mv` out of the trash restores it.
    fs::write(mounted.join("report.new"), b"second").unwrap();
    fs::rename(mounted.join("report.new"), mounted.join("report")).unwrap();
    let listed = entries(&mounted.home);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let entry = listed[0]["entry"].as_str().unwrap();
    fs::rename(trash.join(entry), mounted.join("report.old")).unwrap();
    assert_eq!(fs::read(mounted.join("report.old")).unwrap(), data);
    assert_eq!(fs::metadata(mounted.join("report.old")).unwrap().nlink(), 1);
    assert_eq!(fs::read(mounted.join("report")).unwrap(), b"second");
    fsck_clean(&mounted.home);
}

#[test]
fn a_removed_tree_is_restored_whole_and_purged_for_good() {
    let mounted = Mounted::with(Options::uncached());
    let tree = mounted.join("project");
    fs::create_dir_all(tree.join("src/deep")).unwrap();
    for (name, text) in [("a.txt", "a"), ("src/b.rs", "bb"), ("src/deep/c", "ccc")] {
        fs::write(tree.join(name), text).unwrap();
    }
    fs::remove_dir_all(&tree).unwrap();
    assert!(!tree.exists());
    assert_eq!(entries(&mounted.home).len(), 6);
    let said = mounted.home.run_ok(&["trash", "restore", "--all"]);
    assert!(said.contains("6 restored, 0 not"), "{said}");
    for (name, text) in [("a.txt", "a"), ("src/b.rs", "bb"), ("src/deep/c", "ccc")] {
        assert_eq!(fs::read_to_string(tree.join(name)).unwrap(), text, "{name}");
    }
    fsck_clean(&mounted.home);

    let status = mounted.home.run_ok(&["status", "--json"]);
    let used = |status: &str| -> u64 {
        let json: serde_json::Value = serde_json::from_str(status).unwrap();
        json["usage"]["inodes"].as_u64().unwrap()
    };
    let before = used(&status);
    fs::remove_dir_all(&tree).unwrap();
    let said = mounted.home.run_ok(&["trash", "purge"]);
    assert!(said.contains("nothing to purge"), "a day is kept: {said}");
    let said = mounted.home.run_ok(&["trash", "purge", "--all"]);
    assert!(said.contains("purged 1 hour"), "{said}");
    assert!(entries(&mounted.home).is_empty());
    // Closed files' holds linger on the mount (for a cheap reopen) until it lets go of them;
    // unmounting does.
    let home = mounted.into_home();
    let after = used(&home.run_ok(&["status", "--json"]));
    assert_eq!(
        after,
        before - 7,
        "the tree and its hour's directory are gone"
    );
    let out = home.run(&["trash", "restore", "--all"]);
    assert!(out.status.success());
    let out = home.run(&["trash", "restore", "nothing/here"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such entry"));
    fsck_clean(&home);
}

#[test]
fn overwritten_data_is_kept_until_purged() {
    let mounted = Mounted::with(Options::uncached());
    let first: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    fs::write(mounted.join("log"), &first).unwrap();
    // Written again from the start (O_TRUNC): the old bytes are no file's any more.
    fs::write(mounted.join("log"), b"short").unwrap();
    let fsck = mounted.home.run_ok(&["fsck"]);
    assert!(
        fsck.contains("clean") && fsck.contains("1 objects of overwritten data"),
        "{fsck}"
    );
    let said = mounted.home.run_ok(&["trash", "list"]);
    assert!(
        said.contains("overwritten or truncated data: ") && said.contains("in 1 objects"),
        "{said}"
    );
    let said = mounted.home.run_ok(&["trash", "purge"]);
    assert!(said.contains("nothing to purge"), "a day is kept: {said}");
    let said = mounted.home.run_ok(&["trash", "purge", "--all"]);
    assert!(
        said.contains("released") && said.contains("(1 objects)"),
        "{said}"
    );
    // The mount's background deletes the released blocks.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let fsck = mounted.home.run_ok(&["fsck"]);
        if !fsck.contains("waiting to be deleted") && !fsck.contains("kept for the trash") {
            assert!(fsck.contains("clean"), "{fsck}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{fsck}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(fs::read(mounted.join("log")).unwrap(), b"short");
}

#[test]
fn a_volume_formatted_without_trash_deletes_at_once() {
    let home = Home::new();
    let said = home.set_trash_days(0);
    assert!(said.contains("trash      off"), "{said}");
    // Formatting again without the option keeps the setting.
    let status: serde_json::Value =
        serde_json::from_str(&home.run_ok(&["status", "--json"])).unwrap();
    let storage = status["volume"]["storage"].as_str().unwrap();
    let said = home.run_ok(&["format", "--storage", storage, "default"]);
    assert!(said.contains("trash      off"), "{said}");
    let mounted = Mounted::in_home(home, Options::uncached(), &[]);
    fs::write(mounted.join("f"), b"x").unwrap();
    fs::remove_file(mounted.join("f")).unwrap();
    assert!(entries(&mounted.home).is_empty());
    assert!(
        fs::read_dir(mounted.join(".trash"))
            .unwrap()
            .next()
            .is_none()
    );
    let out = mounted
        .home
        .run(&["format", "--trash-days", "x", "default"]);
    assert!(!out.status.success());
}
