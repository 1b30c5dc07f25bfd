//! Reaching a guarded Redis: TLS with a private CA and client certificates (`rediss://`), and
//! passwords — the default user's and an ACL user's, in the URL or in
//! `$DATENLORD_META_PASSWORD`; wrong credentials and unknown CAs are clear errors.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::certs::certificates;
use common::servers::{free_port, wait_listening};
use common::{Home, Mounted, Options, format_quietly as format};

/// A redis-server with the configuration `config` (one directive a line), killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(dir: &Path, port: u16, config: &str) -> Server {
    let file = dir.join("redis.conf");
    std::fs::write(
        &file,
        format!(
            "bind 127.0.0.1\nsave \"\"\nmaxmemory-policy noeviction\ndir {}\n{config}\n",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("redis-server")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server (apt-get install redis-server)");
    wait_listening(port, "redis-server");
    Server(child)
}

fn mount_and_write(mut home: Home, meta: String, name: &str) {
    home.env.push(("DATENLORD_META".into(), meta));
    let m = Mounted::in_home(home, Options::default(), &[]);
    std::fs::write(m.join(name), b"kept in redis").unwrap();
    assert_eq!(std::fs::read(m.join(name)).unwrap(), b"kept in redis");
}

#[test]
fn tls_with_a_private_ca_and_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let pem = |name: &str| dir.path().join(name).display().to_string();
    let port = free_port();
    let _redis = redis(
        dir.path(),
        port,
        &format!(
            "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
             tls-auth-clients yes",
            pem("server.pem"),
            pem("server-key.pem"),
            pem("ca.pem")
        ),
    );

    let home = Home::new();
    let plain = format(&home, &format!("redis://127.0.0.1:{port}"));
    assert!(!plain.status.success(), "TLS is required");
    let no_ca = format(&home, &format!("rediss://127.0.0.1:{port}"));
    assert!(!no_ca.status.success(), "an unknown CA is refused");
    let text = String::from_utf8_lossy(&no_ca.stderr);
    assert!(text.contains("TLS"), "{text}");
    let no_client = format(
        &home,
        &format!("rediss://127.0.0.1:{port}?cacert={}", pem("ca.pem")),
    );
    assert!(
        !no_client.status.success(),
        "the server asks for a client certificate"
    );

    let meta = format!(
        "rediss://127.0.0.1:{port}?cacert={}&cert={}&key={}",
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
    mount_and_write(home, meta, "over-tls");
}

#[test]
fn passwords_of_the_default_user_and_of_acl_users() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _redis = redis(
        dir.path(),
        port,
        &format!("port {port}\nrequirepass root-secret\nuser dl on >dl-secret ~* &* +@all"),
    );

    let home = Home::new();
    let anonymous = format(&home, &format!("redis://127.0.0.1:{port}"));
    assert!(!anonymous.status.success(), "a password is required");
    let text = String::from_utf8_lossy(&anonymous.stderr);
    assert!(text.contains("NOAUTH"), "{text}");
    let wrong = format(&home, &format!("redis://dl:nope@127.0.0.1:{port}"));
    assert!(!wrong.status.success());
    let text = String::from_utf8_lossy(&wrong.stderr);
    assert!(text.contains("WRONGPASS"), "{text}");
    let no_password = format(&home, &format!("redis://dl@127.0.0.1:{port}"));
    assert!(!no_password.status.success());
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("DATENLORD_META_PASSWORD"));

    // The default user's password alone, in the URL.
    let root = format!("redis://:root-secret@127.0.0.1:{port}/2?prefix=root");
    let out = format(&home, &root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    mount_and_write(home, root, "as-default");

    // An ACL user, the password from the environment.
    let home = Home::new();
    let mut with_password = home;
    with_password
        .env
        .push(("DATENLORD_META_PASSWORD".into(), "dl-secret".into()));
    let meta = format!("redis://dl@127.0.0.1:{port}?prefix=dl");
    let out = format(&with_password, &meta);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    mount_and_write(with_password, meta, "as-dl");
}
