//! Real servers a test starts for itself on 127.0.0.1 with free ports and temporary data
//! directories, stopped on drop: `s3s-fs` (an S3 server) and an `etcd` cluster.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const S3_KEY: &str = "datenlord-test";
pub const S3_SECRET: &str = "datenlord-test-secret";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn installed(name: &str, hint: &str) -> PathBuf {
    let in_cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|home| home.join("bin").join(name));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .chain(in_cargo_home)
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed: {hint}"))
}

/// An `s3s-fs` server over a temporary directory.
pub struct S3Server {
    pub child: Child,
    pub root: tempfile::TempDir,
    pub port: u16,
}

impl S3Server {
    pub fn start(buckets: &[&str]) -> Self {
        let root = tempfile::tempdir().unwrap();
        for bucket in buckets {
            std::fs::create_dir(root.path().join(bucket)).unwrap();
        }
        let port = free_port();
        let child = Self::launch(root.path(), port);
        S3Server { child, root, port }
    }

    /// Starts s3s-fs over `root` on `port` and waits until it listens.
    pub fn launch(root: &Path, port: u16) -> Child {
        let child = Command::new(installed(
            "s3s-fs",
            "cargo install s3s-fs@0.14.1 --features binary --locked",
        ))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_KEY, "--secret-key", S3_SECRET])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
        wait_listening(port, "s3s-fs");
        child
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn restart(&mut self) {
        self.stop();
        self.child = Self::launch(self.root.path(), self.port);
    }

    /// A storage URL for `prefix` in `bucket`.
    pub fn url(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "s3://{bucket}/{prefix}?endpoint=http://127.0.0.1:{}&region=us-east-1",
            self.port
        )
    }

    /// The environment a client of this server needs.
    pub fn env() -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), S3_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), S3_SECRET.into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One etcd member.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// An etcd cluster of one or more members on loopback ports.
pub struct Etcd {
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

impl Etcd {
    pub fn start(size: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("datenlord-etcd-")
            .tempdir()
            .unwrap();
        let members: Vec<Member> = (0..size)
            .map(|i| Member {
                name: format!("m{i}"),
                client: free_port(),
                peer: free_port(),
                child: None,
            })
            .collect();
        let mut etcd = Etcd { dir, members };
        for i in 0..size {
            etcd.launch(i);
        }
        for member in &etcd.members {
            wait_listening(member.client, "etcd");
        }
        etcd
    }

    fn launch(&mut self, i: usize) {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect();
        let member = &self.members[i];
        let data = self.dir.path().join(&member.name);
        let log =
            std::fs::File::create(self.dir.path().join(format!("{}.log", member.name))).unwrap();
        let child = Command::new(installed("etcd", "apt-get install etcd-server"))
            .args(["--name", &member.name])
            .arg("--data-dir")
            .arg(&data)
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{}", member.client),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{}", member.client),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{}", member.peer),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{}", member.peer),
                "--initial-cluster",
                &cluster.join(","),
                "--initial-cluster-token",
                "datenlord-test",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.members[i].child = Some(child);
    }

    /// `host:port,...` of every member.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A metadata URL for a volume under `prefix`.
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://{}/{prefix}", self.endpoints())
    }

    /// A metadata URL for a volume under `prefix` that reaches member `i` only.
    pub fn member_url(&self, i: usize, prefix: &str) -> String {
        format!("etcd://127.0.0.1:{}/{prefix}", self.members[i].client)
    }

    /// Compacts the cluster's history up to its current revision, through member `i`: a
    /// watch that has not reported a change yet can no longer resume before it.
    pub fn compact(&self, i: usize) {
        let endpoint = format!("127.0.0.1:{}", self.members[i].client);
        let etcdctl = installed("etcdctl", "apt-get install etcd-client");
        let put = Command::new(&etcdctl)
            .args([
                "--endpoints",
                &endpoint,
                "put",
                "datenlord-test-compact",
                "x",
                "-w",
                "json",
            ])
            .output()
            .expect("etcdctl put");
        let text = String::from_utf8_lossy(&put.stdout);
        let revision: String = text
            .split("\"revision\":")
            .nth(1)
            .expect("a revision in etcdctl's answer")
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let compacted = Command::new(&etcdctl)
            .args(["--endpoints", &endpoint, "compact", &revision])
            .output()
            .expect("etcdctl compact");
        assert!(
            compacted.status.success(),
            "{}",
            String::from_utf8_lossy(&compacted.stderr)
        );
    }

    /// Waits until member `i` has applied a compaction (reading revision 1 fails).
    pub fn wait_compacted(&self, i: usize) {
        let endpoint = format!("127.0.0.1:{}", self.members[i].client);
        let etcdctl = installed("etcdctl", "apt-get install etcd-client");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let get = Command::new(&etcdctl)
                .args([
                    "--endpoints",
                    &endpoint,
                    "get",
                    "datenlord-test-compact",
                    "--rev",
                    "1",
                ])
                .output()
                .expect("etcdctl get");
            if String::from_utf8_lossy(&get.stderr).contains("compacted") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "member {i} never applied the compaction"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills member `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.launch(i);
        wait_listening(self.members[i].client, "etcd");
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

impl Etcd {
    /// Waits until member `i` reports itself healthy (it has a leader and answers).
    pub fn wait_healthy(&self, i: usize) {
        use std::io::{Read, Write};
        let port = self.members[i].client;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let healthy = std::net::TcpStream::connect(("127.0.0.1", port))
                .and_then(|mut s| {
                    s.set_read_timeout(Some(Duration::from_secs(5)))?;
                    s.write_all(b"GET /health HTTP/1.0\r\n\r\n")?;
                    let mut text = String::new();
                    s.read_to_string(&mut text)?;
                    Ok(text.contains("\"health\":\"true\""))
                })
                .unwrap_or(false);
            if healthy {
                return;
            }
            assert!(Instant::now() < deadline, "etcd member {i} is not healthy");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A `redis-server` on a loopback port, as an operator would run it for metadata: keys never
/// evicted, commits in the append-only file.
pub struct Redis {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("datenlord-redis-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let child = Command::new(installed("redis-server", "apt-get install redis-server"))
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--maxmemory-policy", "noeviction"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        wait_listening(port, "redis-server");
        Redis {
            child,
            _dir: dir,
            port,
        }
    }

    pub fn url(&self, prefix: &str) -> String {
        format!("redis://127.0.0.1:{}?prefix={prefix}", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A PostgreSQL server of its own (`initdb` in a temporary directory, run as the `postgres`
/// user), on a loopback port, trusting local users; stopped on drop.
pub struct Postgres {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.filter_map(|v| v.ok()).map(|v| v.path()).max())
            .map(|version| version.join("bin"))
            .expect("PostgreSQL is not installed: apt-get install postgresql");
        let dir = tempfile::Builder::new()
            .prefix("datenlord-postgres-")
            .tempdir()
            .unwrap();
        let as_postgres = |program: &str| {
            let mut command = Command::new("setpriv");
            command
                .args([
                    "--reuid",
                    "postgres",
                    "--regid",
                    "postgres",
                    "--clear-groups",
                    "--",
                ])
                .arg(bin.join(program));
            command
        };
        let (uid, gid) = ids_of("postgres");
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        let data = dir.path().join("data");
        let out = as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .output()
            .expect("initdb");
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = as_postgres("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off", "-c", "max_connections=300"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        wait_listening(port, "postgres");
        // It listens before it takes connections ("the database system is starting up").
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .status()
            .is_ok_and(|s| s.success())
        {
            assert!(Instant::now() < deadline, "postgres did not get ready");
            std::thread::sleep(Duration::from_millis(50));
        }
        Postgres {
            child,
            _dir: dir,
            port,
        }
    }

    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?table={}",
            self.port,
            datenlord_meta::engine::postgres_table(name)
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The user and group ids of the system user `name`.
fn ids_of(name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .unwrap_or_else(|| panic!("no user {name}"))
}

/// A metadata server of one kind, for suites that run on each.
pub enum MetaServer {
    Etcd(Etcd),
    Redis(Redis),
    Postgres(Postgres),
}

impl MetaServer {
    /// Every kind, each started fresh.
    pub fn each() -> [fn() -> MetaServer; 3] {
        [
            || MetaServer::Etcd(Etcd::start(1)),
            || MetaServer::Redis(Redis::start()),
            || MetaServer::Postgres(Postgres::start()),
        ]
    }

    pub fn url(&self, prefix: &str) -> String {
        match self {
            MetaServer::Etcd(etcd) => etcd.url(prefix),
            MetaServer::Redis(redis) => redis.url(prefix),
            MetaServer::Postgres(postgres) => postgres.url(prefix),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            MetaServer::Etcd(_) => "etcd",
            MetaServer::Redis(_) => "redis",
            MetaServer::Postgres(_) => "postgres",
        }
    }
}
