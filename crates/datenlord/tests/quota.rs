//! Directory quotas through real mounts: four writers on two mounts (one of them a mount of
//! the quota's directory) fill a quota to its limit exactly, renames move usage between
//! quotas, df on a subdirectory mount shows the quota, and `quota check` agrees with the tree
//! after thousands of random operations.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{Home, Mounted, Options};

const MIB: u64 = 1 << 20;

/// The volume's usage of the quota at `path`, as `datenlord quota get --json` reports it.
fn quota(home: &Home, path: &str) -> serde_json::Value {
    let out = home.run(&["quota", "get", path, "--json"]);
    assert!(
        out.status.success(),
        "quota get {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("quota JSON")
}

fn used_space(home: &Home, path: &str) -> u64 {
    quota(home, path)["used_space"]
        .as_u64()
        .expect("used_space")
}

/// Another home on the volume of `home` (its metadata URL), for a second mount.
fn same_volume(home: &Home) -> Home {
    let meta = home
        .env
        .iter()
        .find(|(k, _)| k == "DATENLORD_META")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| format!("sqlite://{}/meta.db", home.path().display()));
    let mut other = Home::new();
    other.env.retain(|(k, _)| k != "DATENLORD_META");
    other.env.push(("DATENLORD_META".into(), meta));
    other
}

fn statvfs(path: &Path) -> nix::sys::statvfs::Statvfs {
    nix::sys::statvfs::statvfs(path).expect("statvfs")
}

/// Writes 1 MiB pieces, each made durable, until one fails; returns the error's errno.
fn fill(path: PathBuf) -> i32 {
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .expect("create");
    let piece = vec![0x5a; MIB as usize];
    for _ in 0..256 {
        let done = file.write_all(&piece).and_then(|()| file.sync_data());
        if let Err(err) = done {
            return err.raw_os_error().unwrap_or(0);
        }
    }
    0
}

#[test]
fn four_writers_on_two_mounts_fill_a_quota_to_its_limit() {
    let whole = Mounted::new();
    fs::create_dir_all(whole.join("pv/q")).unwrap();
    whole.home.run_ok(&[
        "quota",
        "set",
        "/pv/q",
        "--capacity",
        "24M",
        "--inodes",
        "100",
    ]);
    let sub = Mounted::in_home(
        same_volume(&whole.home),
        Options::default(),
        &["--subdir", "/pv/q"],
    );
    let stats = statvfs(sub.path());
    assert_eq!(
        stats.blocks() * stats.fragment_size(),
        24 * MIB,
        "df shows the quota"
    );
    assert_eq!(stats.files(), 100);

    let targets = [
        whole.join("pv/q/w0"),
        whole.join("pv/q/w1"),
        sub.join("w2"),
        sub.join("w3"),
    ];
    let writers: Vec<_> = targets
        .iter()
        .cloned()
        .map(|path| std::thread::spawn(move || fill(path)))
        .collect();
    for (writer, path) in writers.into_iter().zip(&targets) {
        let errno = writer.join().unwrap();
        assert_eq!(
            errno,
            libc::EDQUOT,
            "{} stopped with errno {errno}",
            path.display()
        );
    }
    let used = used_space(&whole.home, "/pv/q");
    assert!(used <= 24 * MIB, "usage {used} passed the limit");
    assert!(
        24 * MIB - used < MIB,
        "EDQUOT came with {} bytes still free",
        24 * MIB - used
    );
    let free = statvfs(sub.path());
    assert_eq!(free.blocks_free() * free.fragment_size(), 24 * MIB - used);
    let err = fs::write(sub.join("more"), vec![1; MIB as usize]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EDQUOT));

    // Removing the files gives everything back, to the byte — once the mounts let go of the
    // bytes they kept for a store that refused them (a second later, in the background).
    for path in &targets {
        fs::remove_file(path).unwrap();
    }
    let _ = fs::remove_file(sub.join("more"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while used_space(&whole.home, "/pv/q") != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "usage stayed at {}",
            used_space(&whole.home, "/pv/q")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    whole.home.run_ok(&["quota", "check"]);
}

#[test]
fn renames_move_usage_between_quotas() {
    let mounted = Mounted::new();
    for dir in ["a", "b"] {
        fs::create_dir(mounted.join(dir)).unwrap();
        mounted.home.run_ok(&["quota", "set", &format!("/{dir}")]);
    }
    fs::write(mounted.join("a/f"), vec![7; 3 * MIB as usize]).unwrap();
    assert_eq!(used_space(&mounted.home, "/a"), 3 * MIB);
    fs::rename(mounted.join("a/f"), mounted.join("b/f")).unwrap();
    assert_eq!(used_space(&mounted.home, "/a"), 0);
    assert_eq!(used_space(&mounted.home, "/b"), 3 * MIB);
    // A full directory without a quota of its own cannot cross: mv copies it instead.
    fs::create_dir(mounted.join("b/d")).unwrap();
    fs::write(mounted.join("b/d/g"), b"x").unwrap();
    let err = fs::rename(mounted.join("b/d"), mounted.join("a/d")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EXDEV));
    let mv = std::process::Command::new("mv")
        .arg(mounted.join("b/d"))
        .arg(mounted.join("a/d"))
        .status()
        .unwrap();
    assert!(mv.success());
    assert_eq!(fs::read(mounted.join("a/d/g")).unwrap(), b"x");
    assert_eq!(used_space(&mounted.home, "/a"), 2 * 4096);
    assert_eq!(used_space(&mounted.home, "/b"), 3 * MIB);
    mounted.home.run_ok(&["quota", "check"]);
}

/// A small deterministic generator (xorshift64*), so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn quota_check_agrees_with_the_tree_after_random_operations() {
    let mounted = Mounted::new();
    let dirs = ["q1", "q1/n", "q2", "free"];
    for dir in dirs {
        fs::create_dir(mounted.join(dir)).unwrap();
    }
    mounted
        .home
        .run_ok(&["quota", "set", "/q1", "--inodes", "100000"]);
    mounted
        .home
        .run_ok(&["quota", "set", "/q1/n", "--capacity", "1G"]);
    mounted.home.run_ok(&["quota", "set", "/q2"]);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let pick = |rng: &mut Rng| {
        let dir = dirs[rng.below(dirs.len() as u64) as usize];
        mounted.join(&format!("{dir}/f{}", rng.below(40)))
    };
    for _ in 0..10_000 {
        let path = pick(&mut rng);
        // Errors are expected (a name missing, taken, or crossing quotas as a hard link).
        let _ = match rng.below(6) {
            0 | 1 => OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(&vec![1; rng.below(20_000) as usize])),
            2 => OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| f.set_len(rng.below(100_000))),
            3 => fs::remove_file(&path),
            4 => fs::rename(&path, pick(&mut rng)),
            _ => fs::hard_link(&path, pick(&mut rng)),
        };
    }
    let report = mounted.home.run_ok(&["quota", "check"]);
    assert_eq!(
        report.lines().filter(|l| l.starts_with("ok")).count(),
        3,
        "{report}"
    );
}
