//! Reaching a guarded etcd: TLS with a private CA and client certificates (`etcds://`), and
//! etcd users with passwords (in the URL or in `$DATENLORD_META_PASSWORD`); wrong credentials
//! are clear errors.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::certs::certificates;
use common::servers::{free_port, wait_listening};
use common::{Home, Mounted, Options, format_quietly as format};

/// An etcd member started with `args`, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn etcd(dir: &Path, client_url: &str, client: u16, args: &[&str]) -> Server {
    let peer = free_port();
    let child = Command::new("etcd")
        .args(["--name", "m", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--listen-client-urls",
            client_url,
            "--advertise-client-urls",
            client_url,
        ])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args([
            "--initial-advertise-peer-urls",
            &format!("http://127.0.0.1:{peer}"),
        ])
        .args(["--initial-cluster", &format!("m=http://127.0.0.1:{peer}")])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start etcd (apt-get install etcd-server)");
    wait_listening(client, "etcd");
    Server(child)
}

#[test]
fn tls_with_a_private_ca_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let pem = |name: &str| dir.path().join(name).display().to_string();
    let _etcd = etcd(
        dir.path(),
        &url,
        port,
        &[
            "--cert-file",
            &pem("server.pem"),
            "--key-file",
            &pem("server-key.pem"),
            "--trusted-ca-file",
            &pem("ca.pem"),
            "--client-cert-auth",
        ],
    );

    let home = Home::new();
    let no_ca = format(&home, &format!("etcds://127.0.0.1:{port}/tls"));
    assert!(!no_ca.status.success(), "an unknown CA is refused");
    let text = String::from_utf8_lossy(&no_ca.stderr);
    assert!(text.contains("etcds://127.0.0.1"), "{text}");

    let meta = format!(
        "etcds://127.0.0.1:{port}/tls?cacert={}&cert={}&key={}",
        pem("ca.pem"),
        pem("client.pem"),
        pem("client-key.pem")
    );
    let out = format(&home, &meta);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut home = home;
    home.env.push(("DATENLORD_META".into(), meta));
    let m = Mounted::in_home(home, Options::default(), &[]);
    std::fs::write(m.join("over-tls"), b"encrypted on the wire").unwrap();
    assert_eq!(
        std::fs::read(m.join("over-tls")).unwrap(),
        b"encrypted on the wire"
    );
}

#[test]
fn users_with_passwords_in_the_url_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _etcd = etcd(dir.path(), &url, port, &[]);
    let etcdctl = |args: &[&str]| {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &url])
            .args(args)
            .output()
            .expect("etcdctl (apt-get install etcd-client)");
        assert!(
            out.status.success(),
            "etcdctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    etcdctl(&["user", "add", "root:root-secret"]);
    etcdctl(&["user", "add", "dl:dl-secret"]);
    etcdctl(&["role", "add", "datenlord"]);
    etcdctl(&[
        "role",
        "grant-permission",
        "datenlord",
        "--prefix=true",
        "readwrite",
        "vol/",
    ]);
    etcdctl(&["user", "grant-role", "dl", "datenlord"]);
    etcdctl(&["auth", "enable"]);

    let home = Home::new();
    let anonymous = format(&home, &format!("etcd://127.0.0.1:{port}/vol"));
    assert!(!anonymous.status.success(), "auth is on");
    let wrong = format(&home, &format!("etcd://dl:nope@127.0.0.1:{port}/vol"));
    assert!(!wrong.status.success());
    let text = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        text.contains("authentication failed") || text.contains("invalid"),
        "{text}"
    );
    let no_password = format(&home, &format!("etcd://dl@127.0.0.1:{port}/vol"));
    assert!(!no_password.status.success());
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("DATENLORD_META_PASSWORD"));

    let out = format(&home, &format!("etcd://dl:dl-secret@127.0.0.1:{port}/vol"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut home = home;
    home.env.push((
        "DATENLORD_META".into(),
        format!("etcd://dl@127.0.0.1:{port}/vol"),
    ));
    home.env
        .push(("DATENLORD_META_PASSWORD".into(), "dl-secret".into()));
    let m = Mounted::in_home(home, Options::default(), &[]);
    std::fs::write(m.join("authorised"), b"yes").unwrap();
    assert_eq!(std::fs::read(m.join("authorised")).unwrap(), b"yes");
}
