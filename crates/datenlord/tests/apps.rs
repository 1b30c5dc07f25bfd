//! Real applications on a DatenLord volume: git, tar, SQLite and rsync, each checked by the
//! application itself or by comparing checksums with the original.

mod common;

use std::path::Path;
use std::process::Command;

use common::Mounted;

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("set -eu\n{script}"))
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "script failed:\n{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A source tree of many small files: Python's standard library (about 1,400 files, 50 MB),
/// or this repository where that is missing.
fn source_tree() -> &'static str {
    [
        "/usr/lib/python3.11",
        "/usr/lib/python3.12",
        "/usr/lib/python3.13",
    ]
    .into_iter()
    .find(|dir| Path::new(dir).join("os.py").is_file())
    .unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn git_init_commit_clone_gc() {
    let m = Mounted::new();
    let out = sh(
        m.path(),
        &format!(
            "git -c init.defaultBranch=main init -q repo
             cp -r {src}/email repo/src
             cd repo
             git add -A
             git -c user.name=t -c user.email=t@e commit -qm first
             echo change >> README 
             git add README
             git -c user.name=t -c user.email=t@e commit -qm second
             cd ..
             git clone -q repo clone
             cd clone && git gc -q && git fsck --strict 2>&1 && git log --oneline | wc -l
             diff -r --no-dereference {src}/email src && echo same",
            src = source_tree()
        ),
    );
    assert!(out.trim_end().ends_with("same"), "{out}");
    assert!(out.contains('2'), "{out}");
}

#[test]
fn tar_round_trip_keeps_every_byte() {
    let m = Mounted::new();
    let out = sh(
        m.path(),
        &format!(
            "tar -C {src} -cf - . | (mkdir in && tar -C in -xpf -)
             tar -C in -cf - . | (mkdir out && tar -C out -xpf -)
             sums() {{ (cd \"$1\" && find . -type f -exec sha256sum {{}} + | sort -k2); }}
             sums {src} > sums.src
             sums in > sums.in
             sums out > sums.out
             cmp sums.src sums.in && cmp sums.src sums.out && test -s sums.src
             diff -r --no-dereference {src} in && diff -r --no-dereference in out && echo identical",
            src = source_tree()
        ),
    );
    assert!(out.contains("identical"), "{out}");
}

#[test]
fn sqlite_ten_thousand_inserts_pass_integrity_check() {
    let m = Mounted::new();
    let mut sql = String::from(
        "PRAGMA journal_mode=WAL;\nCREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);\n",
    );
    for batch in 0..100 {
        sql.push_str("BEGIN;\n");
        for i in 0..100 {
            sql.push_str(&format!(
                "INSERT INTO t (v) VALUES ('row {batch}-{i} {}');\n",
                "x".repeat(i)
            ));
        }
        sql.push_str("COMMIT;\n");
    }
    sql.push_str("DELETE FROM t WHERE id % 3 = 0;\nVACUUM;\nSELECT count(*) FROM t;\nPRAGMA integrity_check;\n");
    std::fs::write(m.join("script.sql"), sql).unwrap();
    let out = sh(m.path(), "sqlite3 test.db < script.sql");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[lines.len() - 2], "6667", "{out}");
    assert_eq!(lines[lines.len() - 1], "ok", "{out}");
}

#[test]
fn rsync_round_trip() {
    let m = Mounted::new();
    let out = sh(
        m.path(),
        &format!(
            "rsync -a {src}/ in/
             rsync -a in/ back/
             diff -r --no-dereference {src} back && rsync -a --checksum --dry-run --itemize-changes {src}/ in/ | wc -l",
            src = source_tree()
        ),
    );
    assert_eq!(out.trim(), "0", "rsync finds nothing to change: {out}");
}
