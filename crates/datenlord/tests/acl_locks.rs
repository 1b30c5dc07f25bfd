//! POSIX ACLs enforced for other users (with inheritance from default ACLs), and locks that
//! exclude between processes.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{Home, Mounted, Options, xattr};
use datenlord_fuse::MountOption;
use datenlord_meta::acl::{GROUP_OBJ, MASK, OTHER, USER, USER_OBJ};

const NOBODY: u32 = 65534;

fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut out = 2u32.to_le_bytes().to_vec();
    for &(tag, perm, id) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&perm.to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    out
}

/// Runs `sh -c script` as nobody; true when it succeeded.
fn as_nobody(script: &str) -> bool {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .stderr(Stdio::null())
        .status()
        .expect("setpriv (util-linux)")
        .success()
}

/// A mount made by root is open to every user (allow_other by default); the kernel still
/// enforces the modes. `--no-allow-other` keeps it to root.
#[test]
fn a_root_mount_serves_other_users_unless_told_not_to() {
    let m = Mounted::new();
    std::fs::write(m.join("shared"), b"for all").unwrap();
    std::fs::set_permissions(m.join("shared"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::create_dir(m.join("db")).unwrap();
    std::fs::set_permissions(m.join("db"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mine = m.join("db/mine");
    let script = format!(
        "cat {} > /dev/null && echo data > {}",
        m.join("shared").display(),
        mine.display()
    );
    assert!(as_nobody(&script), "another user reads and creates");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&mine).unwrap().uid(), NOBODY);
    std::fs::set_permissions(m.join("shared"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let cat = format!("cat {} > /dev/null", m.join("shared").display());
    assert!(!as_nobody(&cat), "modes are still enforced");
    drop(m);

    let closed = Mounted::in_home(Home::new(), Options::default(), &["--no-allow-other"]);
    std::fs::write(closed.join("root-only"), b"x").unwrap();
    std::fs::set_permissions(
        closed.join("root-only"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let cat = format!("cat {} > /dev/null", closed.join("root-only").display());
    assert!(!as_nobody(&cat), "without allow_other only root may enter");
}

#[test]
fn acls_grant_and_inherit() {
    let m = Mounted::with(Options {
        mount: vec![MountOption::AllowOther],
        ..Options::default()
    });
    let file = m.join("private");
    std::fs::write(&file, b"secret").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cat = format!("cat {} > /dev/null", file.display());
    assert!(!as_nobody(&cat), "mode 600 keeps others out");

    let grant = acl(&[
        (USER_OBJ, 6, u32::MAX),
        (USER, 4, NOBODY),
        (GROUP_OBJ, 0, u32::MAX),
        (MASK, 4, u32::MAX),
        (OTHER, 0, u32::MAX),
    ]);
    xattr::set(&file, "system.posix_acl_access", &grant, 0).unwrap();
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o640,
        "the mask shows as group bits"
    );
    assert!(as_nobody(&cat), "the ACL lets nobody read");
    assert!(
        !as_nobody(&format!("echo x >> {}", file.display())),
        "but not write"
    );

    // chmod narrows the mask, and with it the named entry.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!as_nobody(&cat), "chmod 600 masks the ACL entry");

    let dir = m.join("shared");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let default = acl(&[
        (USER_OBJ, 7, u32::MAX),
        (USER, 7, NOBODY),
        (GROUP_OBJ, 5, u32::MAX),
        (MASK, 7, u32::MAX),
        (OTHER, 0, u32::MAX),
    ]);
    xattr::set(&dir, "system.posix_acl_access", &default, 0).unwrap();
    xattr::set(&dir, "system.posix_acl_default", &default, 0).unwrap();
    std::fs::write(dir.join("inherited"), b"data").unwrap();
    let mode = std::fs::metadata(dir.join("inherited"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660, "the default ACL applies instead of the umask");
    assert!(as_nobody(&format!(
        "echo more >> {}/inherited",
        dir.display()
    )));
    assert!(xattr::get(&dir.join("inherited"), "system.posix_acl_access", 256).is_ok());
    std::fs::create_dir(dir.join("sub")).unwrap();
    assert!(
        xattr::get(&dir.join("sub"), "system.posix_acl_default", 256).is_ok(),
        "directories inherit the default ACL"
    );
}

#[test]
fn locks_exclude_other_processes() {
    let m = Mounted::new();
    let path = m.join("lockfile");
    std::fs::write(&path, b"").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).unwrap();
    let try_flock = || {
        Command::new("flock")
            .args(["-n", path.to_str().unwrap(), "true"])
            .status()
            .unwrap()
            .success()
    };
    assert!(!try_flock(), "flock excludes another process");
    drop(held);
    assert!(try_flock(), "released at close");

    // POSIX record locks: python's fcntl.lockf from another process.
    let posix = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let lock = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 10,
        l_pid: 0,
    };
    nix::fcntl::fcntl(&posix, nix::fcntl::FcntlArg::F_SETLK(&lock)).unwrap();
    let probe = format!(
        "import fcntl,sys\nf=open('{}','r+')\ntry:\n  fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 5, 2)\nexcept OSError:\n  sys.exit(3)\n",
        path.display()
    );
    let status = Command::new("python3")
        .args(["-c", &probe])
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "the byte range is locked by us");
    drop(posix);
    let status = Command::new("python3")
        .args(["-c", &probe])
        .status()
        .unwrap();
    assert!(status.success(), "closing released the POSIX lock");
}
