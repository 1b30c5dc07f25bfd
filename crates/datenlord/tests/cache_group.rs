//! A cache group of real `datenlord cache-node` processes on 127.0.0.2-5, metadata in a real
//! etcd, blocks in a real S3 server: a warmed directory reads from the group with S3 stopped;
//! a member killed mid-read costs the reader nothing; a member added takes its share of the
//! blocks and reads stay correct; `status --cache` reports the members.

mod common;

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::servers::{Etcd, S3Server, free_port};
use common::{Home, Mounted, Options};

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 9) as u8)
        .collect()
}

/// One `datenlord cache-node` process.
struct Node {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(home: &Home, host: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("{host}:{}", free_port());
        let log = dir.path().join("node.log");
        let child = home
            .command(&[
                "cache-node",
                "--group",
                "g",
                "--listen",
                &addr,
                "--cache-dir",
                &dir.path().join("cache").display().to_string(),
                "--cache-size",
                "1G",
                "--memory-cache-size",
                "64M",
                "--lease",
                "5",
            ])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(dir.path().join("node.err")).unwrap())
            .spawn()
            .expect("start datenlord cache-node");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("serving volume")
        {
            let err = std::fs::read_to_string(dir.path().join("node.err")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "cache node {addr} did not start: {err}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Node {
            child,
            addr,
            _dir: dir,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A mount of the volume in `home` in group "g" with local tiers as `extra` says.
fn mount(home: Home, extra: &[&str]) -> Mounted {
    let cache = home.path().join("mount-cache").display().to_string();
    let mut args = vec![
        "--cache-group",
        "g",
        "--cache-dir",
        &cache,
        "--io-timeout",
        "10",
    ];
    args.extend_from_slice(extra);
    Mounted::in_home(home, Options::default(), &args)
}

/// A home on the same volume (metadata in etcd, blocks in S3).
fn same_volume(home: &Home) -> Home {
    let mut other = Home::new();
    other.env = home.env.clone();
    other
}

fn read_all(m: &Mounted, files: &[(String, Vec<u8>)]) {
    for (name, data) in files {
        let got = std::fs::read(m.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(got == *data, "{name} differs");
    }
}

const NO_LOCAL_TIERS: &[&str] = &["--cache-size", "0", "--memory-cache-size", "0"];

fn locality(home: &Home) -> serde_json::Value {
    let out = home.run(&["status", "--cache", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Bytes of `/d` member `addr` holds, by its report.
fn held_by(status: &serde_json::Value, addr: &str) -> u64 {
    let member = status["cache_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["addr"] == addr)
        .unwrap_or_else(|| panic!("{addr} not listed: {status}"));
    member["report"]["directories"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["path"] == "/d")
        .map(|d| d["cached_bytes"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_cache_group_serves_warmed_data_survives_a_death_and_takes_in_a_newcomer() {
    let etcd = Etcd::start(1);
    etcd.wait_healthy(0);
    let mut s3 = S3Server::start(&["blocks"]);
    let mut home = Home::new();
    home.env = S3Server::env();
    home.env.push(("DATENLORD_META".into(), etcd.url("group")));
    // Small blocks: many of them, so that shares of the ring show in a small volume.
    let out = home.run(&[
        "format",
        "--block-size",
        "1M",
        "--storage",
        &s3.url("blocks", "g"),
        "grouped",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut nodes: Vec<Node> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|host| Node::start(&home, host))
        .collect();

    // Write through one mount, warm the directory into the group through it.
    let writer = mount(same_volume(&home), &[]);
    std::fs::create_dir(writer.join("d")).unwrap();
    let mut files = Vec::new();
    for i in 0..12 {
        files.push((format!("d/small-{i}"), pattern(200_000 + i * 999, i as u32)));
    }
    files.push(("d/big".to_string(), pattern(40 << 20, 77)));
    for (name, data) in &files {
        std::fs::write(writer.join(name), data).unwrap();
    }
    let out = home.run(&["warmup", &writer.join("d").display().to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(writer);
    let status = locality(&home);
    let held: Vec<u64> = nodes.iter().map(|n| held_by(&status, &n.addr)).collect();
    let data: u64 = files.iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(
        held.iter().sum::<u64>(),
        data,
        "every block in exactly one member: {held:?}"
    );
    assert!(
        held.iter().all(|h| *h > 0),
        "each member owns a share: {held:?}"
    );
    let text = home.run(&["status", "--cache"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("cache node 127.0.0.2:") && text.contains("/d"),
        "{text}"
    );

    // The object store goes away: a mount with no cache of its own reads from the group.
    s3.stop();
    let reader = mount(same_volume(&home), NO_LOCAL_TIERS);
    read_all(&reader, &files);
    drop(reader);
    s3.restart();

    // A member dies in the middle of a read: the reader goes on (to S3 for its blocks).
    let reader = mount(same_volume(&home), NO_LOCAL_TIERS);
    let mut big = std::fs::File::open(reader.join("d/big")).unwrap();
    let mut got = vec![0; 40 << 20];
    big.read_exact(&mut got[..12 << 20]).unwrap();
    nodes[1].kill();
    big.read_exact(&mut got[12 << 20..]).unwrap();
    assert!(
        got == files.last().unwrap().1,
        "the big file read across a member's death"
    );
    read_all(&reader, &files);
    drop(big);
    drop(reader);

    // A newcomer joins (and the dead member's lease runs out): it takes its share.
    let newcomer = Node::start(&home, "127.0.0.5");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = locality(&home);
        let alive = status["cache_groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["alive"] == true)
            .count();
        if alive == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the dead member stays listed: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let reader = mount(same_volume(&home), NO_LOCAL_TIERS);
    read_all(&reader, &files);
    drop(reader);
    let status = locality(&home);
    let newcomer_holds = held_by(&status, &newcomer.addr);
    assert!(
        newcomer_holds > data / 10 && newcomer_holds < data * 2 / 3,
        "the newcomer holds {newcomer_holds} of {data}"
    );

    // A member that hangs (stopped, its socket still accepting) is skipped after a timeout.
    let frozen = nix::unistd::Pid::from_raw(nodes[0].child.id() as i32);
    nix::sys::signal::kill(frozen, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let reader = mount(same_volume(&home), NO_LOCAL_TIERS);
    read_all(&reader, &files);
    drop(reader);
    nix::sys::signal::kill(frozen, nix::sys::signal::Signal::SIGCONT).unwrap();
}
