//! `datenlord bench` on a real mount (with the breakdown read from the mount's counters), on
//! a plain directory (without it), and with bad input.

mod common;

use std::path::Path;
use std::process::Output;

use common::{Home, Mounted, Options};

const TINY: [&str; 8] = [
    "--big-file-size",
    "8M",
    "--small-files",
    "20",
    "--small-file-size",
    "16K",
    "--threads",
    "2",
];

fn bench(home: &Home, path: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["bench", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    home.run(&args)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `section` (after its heading) that starts with `phase`.
fn row<'a>(stdout: &'a str, section: &str, phase: &str) -> &'a str {
    let start = stdout
        .find(section)
        .unwrap_or_else(|| panic!("{section}:\n{stdout}"));
    stdout[start..]
        .lines()
        .find(|l| l.starts_with(phase))
        .unwrap_or_else(|| panic!("no {phase} row under {section}:\n{stdout}"))
}

/// The first number of a row of a section, after the phase's name.
fn first_count(stdout: &str, section: &str, phase: &str) -> u64 {
    let line = row(stdout, section, phase);
    line[phase.len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {line:?}:\n{stdout}"))
}

fn assert_summary(stdout: &str) {
    for phase in [
        "big file write",
        "big file read",
        "small file write",
        "small file read",
        "stat",
    ] {
        row(stdout, "mean latency", phase);
    }
    assert!(stdout.contains("16.0 MiB"), "{stdout}");
    assert!(stdout.contains("40 files"), "{stdout}");
    assert!(
        stdout.contains("MiB/s") && stdout.contains("files/s"),
        "{stdout}"
    );
    assert!(stdout.contains("total elapsed"), "{stdout}");
}

fn is_empty(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn bench_on_a_mount_shows_where_the_time_went_and_cleans_up() {
    let m = Mounted::in_home(
        Home::new(),
        Options::default(),
        &["--memory-cache-size", "64M"],
    );
    let out = bench(&m.home, m.path(), &TINY);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_summary(&stdout);
    let breakdown = "where the time went";
    // Every small file is created, written and closed through metadata operations.
    assert!(first_count(&stdout, breakdown, "small file write") >= 40);
    // The big files reach the object store by the time they are fsynced.
    let big = row(&stdout, breakdown, "big file write");
    assert!(big.contains("16.0 MiB"), "{stdout}");
    // Small files are cached as they are written, so they are read from memory.
    assert!(first_count(&stdout, "memory cache", "small file read") > 0);
    assert!(is_empty(m.path()), "left behind: {:?}", {
        std::fs::read_dir(m.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect::<Vec<_>>()
    });
    drop(m.into_home());
}

#[test]
fn bench_on_a_plain_directory_skips_the_breakdown() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let out = bench(&home, dir.path(), &TINY);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_summary(&stdout);
    assert!(stdout.contains("not on a DatenLord mount"), "{stdout}");
    assert!(!stdout.contains("where the time went"), "{stdout}");
    assert!(is_empty(dir.path()));
}

#[test]
fn bench_refuses_bad_input_clearly() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let cases: [(&Path, &[&str], &str); 5] = [
        (
            &dir.path().join("missing"),
            &[],
            "No such file or directory",
        ),
        (&file, &[], "is not a directory"),
        (
            dir.path(),
            &["--threads", "0"],
            "--threads must be at least 1",
        ),
        (dir.path(), &["--big-file-size", "1Q"], "--big-file-size"),
        (
            dir.path(),
            &["--small-file-size", "lots"],
            "--small-file-size",
        ),
    ];
    for (path, extra, expect) in cases {
        let out = bench(&home, path, extra);
        let (stdout, stderr) = text(&out);
        assert!(!out.status.success(), "{extra:?}: {stdout}");
        assert!(stderr.contains(expect), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let help = home.run(&["bench", "--help"]);
    let (stdout, _) = text(&help);
    for flag in [
        "--big-file-size",
        "--small-files",
        "--small-file-size",
        "--threads",
    ] {
        assert!(stdout.contains(flag), "{flag}: {stdout}");
    }
}
