//! `datenlord dump` and `load`: a volume dumped while mounted, loaded into another engine
//! (etcd when the suite has one, else another SQLite database) and back into SQLite, mounts
//! as the same tree — contents, modes, owners, times, links, extended attributes and ACLs —
//! and a damaged or truncated dump, or a non-empty engine, is refused.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{Home, Mounted, Options, xattr};

/// Everything `stat`, `getfattr -d` and `getfacl` would show of a tree, and its bytes.
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let mut text = format!(
                "mode {:o} uid {} gid {} size {} nlink {} mtime {}.{}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.size(),
                meta.nlink(),
                meta.mtime(),
                meta.mtime_nsec()
            );
            if meta.file_type().is_symlink() {
                text += &format!(" -> {}", std::fs::read_link(&path).unwrap().display());
            } else {
                let mut names = xattr::list(&path).unwrap();
                names.sort();
                for name in names {
                    let value = xattr::get(&path, &name, 4096).unwrap();
                    text += &format!(" {name}={value:?}");
                }
                if meta.is_file() {
                    text += &format!(" data {:?}", std::fs::read(&path).unwrap());
                }
            }
            if meta.is_dir() {
                stack.push(path);
            }
            out.insert(rel, text);
        }
    }
    out
}

#[test]
fn a_dump_loaded_into_other_engines_is_the_same_tree() {
    let mounted = Mounted::new();
    let root = mounted.path();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/f"), vec![7u8; 300_000]).unwrap();
    std::fs::write(root.join("a/small"), b"hello").unwrap();
    std::fs::hard_link(root.join("a/small"), root.join("a/b/again")).unwrap();
    std::os::unix::fs::symlink("b/f", root.join("a/link")).unwrap();
    std::fs::set_permissions(root.join("a/small"), std::fs::Permissions::from_mode(0o640)).unwrap();
    xattr::set(&root.join("a/b/f"), "user.colour", b"green", 0).unwrap();
    // An access ACL granting user 65534 read (tags: user_obj, user, group_obj, mask, other).
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (1u16, 6u16, u32::MAX),
        (2, 4, 65534),
        (4, 4, u32::MAX),
        (16, 4, u32::MAX),
        (32, 0, u32::MAX),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    xattr::set(&root.join("a/small"), "system.posix_acl_access", &acl, 0).unwrap();
    std::fs::create_dir(root.join("empty")).unwrap();
    mounted
        .home
        .run_ok(&["quota", "set", "/a", "--capacity", "1G"]);
    let before = describe(root);

    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.dump");
    mounted.home.run_ok(&["dump", &first.display().to_string()]);
    let source = mounted.into_home();

    let name = dir.path().file_name().unwrap().to_string_lossy();
    let middle = common::server_meta_url(&format!("dump-{}", name.to_lowercase()))
        .unwrap_or_else(|| format!("sqlite://{}/middle.db", dir.path().display()));

    let loaded = source.run_ok(&["load", "--meta", &middle, &first.display().to_string()]);
    assert!(loaded.contains("loaded volume"), "{loaded}");
    let refused = source.run(&["load", "--meta", &middle, &first.display().to_string()]);
    assert!(
        !refused.status.success(),
        "a second load into the same engine"
    );

    let there = Mounted::in_home(Home::on(&middle), Options::default(), &[]);
    assert_eq!(describe(there.path()), before);
    let quota = there.home.run_ok(&["quota", "get", "/a", "--json"]);
    assert!(quota.contains("\"capacity\":1073741824"), "{quota}");
    let second = dir.path().join("second.dump");
    there.home.run_ok(&["dump", &second.display().to_string()]);
    drop(there);

    let last = format!("sqlite://{}/last.db", dir.path().display());
    source.run_ok(&["load", "--meta", &last, &second.display().to_string()]);
    let back = Mounted::in_home(Home::on(&last), Options::default(), &[]);
    assert_eq!(describe(back.path()), before);
    let fsck = back.home.run(&["fsck"]);
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
    drop(back);

    // A damaged dump (one record changed) and a truncated one are refused, and leave no
    // volume behind.
    let text = std::fs::read_to_string(&first).unwrap();
    let damaged = dir.path().join("damaged.dump");
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let victim = lines.len() / 2;
    // The last hex digit of the value, changed.
    let at = lines[victim].len() - 3;
    let flipped = if &lines[victim][at..at + 1] == "0" {
        "1"
    } else {
        "0"
    };
    lines[victim].replace_range(at..at + 1, flipped);
    std::fs::write(&damaged, lines.join("\n") + "\n").unwrap();
    let truncated = dir.path().join("truncated.dump");
    std::fs::write(&truncated, lines[..victim].join("\n") + "\n").unwrap();
    for (i, bad) in [damaged, truncated].iter().enumerate() {
        let url = format!("sqlite://{}/bad{i}.db", dir.path().display());
        let out = source.run(&["load", "--meta", &url, &bad.display().to_string()]);
        assert!(!out.status.success(), "{} loaded", bad.display());
        let status = source.run(&["status", "--meta", &url]);
        assert!(!status.status.success(), "a volume was left behind");
    }
}
