//! Every file operation through a real mount, with the kernel in the loop. Shared: the fuse
//! crate runs it on memfs, the datenlord crate on a DatenLord volume; `crate::common` provides
//! `Mounted` for each.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::process::Command;

use crate::common::{self, Mounted, errno, xattr};
use nix::fcntl::{AT_FDCWD, FallocateFlags, RenameFlags};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::Whence;

#[test]
fn files_write_read_append_truncate() {
    let m = Mounted::new();
    let path = m.join("f");
    fs::write(&path, b"hello world").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"hello world");
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"!!").unwrap();
    drop(f);
    assert_eq!(fs::read_to_string(&path).unwrap(), "hello world!!");

    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(5).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"hello");
    f.set_len(8).unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"hello\0\0\0");
    drop(f);

    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.seek(SeekFrom::Start(1 << 20)).unwrap();
    f.write_all(b"end").unwrap();
    assert_eq!(f.metadata().unwrap().len(), (1 << 20) + 3);
    let mut buf = vec![0; 16];
    f.seek(SeekFrom::Start(4096)).unwrap();
    f.read_exact(&mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == 0), "a hole reads as zeros");

    OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    assert_eq!(fs::metadata(&path).unwrap().len(), 0, "O_TRUNC");
    assert_eq!(
        errno(OpenOptions::new().write(true).create_new(true).open(&path)),
        libc::EEXIST,
        "O_EXCL"
    );
}

#[test]
fn directories_nlink_and_errors() {
    let m = Mounted::new();
    let d = m.join("d");
    fs::create_dir(&d).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    fs::write(d.join("file"), b"x").unwrap();
    assert_eq!(
        fs::metadata(&d).unwrap().nlink(),
        3,
        "., its entry in the parent, sub/.."
    );
    let mut names: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["file", "sub"]);
    let types: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_type().unwrap().is_dir())
        .collect();
    assert_eq!(types.iter().filter(|&&d| d).count(), 1);

    assert_eq!(errno(fs::remove_dir(&d)), libc::ENOTEMPTY);
    assert_eq!(errno(fs::create_dir(&d)), libc::EEXIST);
    assert_eq!(errno(fs::remove_file(&d)), libc::EISDIR);
    assert_eq!(errno(fs::remove_dir(d.join("file"))), libc::ENOTDIR);
    assert_eq!(errno(fs::metadata(d.join("file/x"))), libc::ENOTDIR);
    assert_eq!(errno(fs::metadata(m.join("missing"))), libc::ENOENT);
    assert_eq!(
        errno(fs::write(m.join("a".repeat(256).as_str()), b"")),
        libc::ENAMETOOLONG
    );
    fs::write(m.join("a".repeat(255).as_str()), b"").unwrap();

    fs::remove_file(d.join("file")).unwrap();
    fs::remove_dir(d.join("sub")).unwrap();
    assert_eq!(fs::metadata(&d).unwrap().nlink(), 2);
    fs::remove_dir(&d).unwrap();
    assert!(!d.exists());
}

#[test]
fn symlinks_and_hard_links() {
    let m = Mounted::new();
    fs::write(m.join("target"), b"data").unwrap();
    std::os::unix::fs::symlink("target", m.join("link")).unwrap();
    assert_eq!(
        fs::read_link(m.join("link")).unwrap().to_str(),
        Some("target")
    );
    assert_eq!(fs::read(m.join("link")).unwrap(), b"data");
    assert!(
        fs::symlink_metadata(m.join("link"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let long_target = "x/".repeat(2000);
    std::os::unix::fs::symlink(&long_target, m.join("long")).unwrap();
    assert_eq!(
        fs::read_link(m.join("long")).unwrap().to_str(),
        Some(long_target.as_str())
    );

    fs::hard_link(m.join("target"), m.join("hard")).unwrap();
    let (a, b) = (
        fs::metadata(m.join("target")).unwrap(),
        fs::metadata(m.join("hard")).unwrap(),
    );
    assert_eq!(a.ino(), b.ino());
    assert_eq!(a.nlink(), 2);
    fs::remove_file(m.join("target")).unwrap();
    assert_eq!(fs::metadata(m.join("hard")).unwrap().nlink(), 1);
    assert_eq!(fs::read(m.join("hard")).unwrap(), b"data");
    assert_eq!(
        errno(fs::read(m.join("link"))),
        libc::ENOENT,
        "dangling symlink"
    );
    fs::create_dir(m.join("dir")).unwrap();
    assert_eq!(
        errno(fs::hard_link(m.join("dir"), m.join("dir2"))),
        libc::EPERM
    );
}

#[test]
fn unlinked_open_file_lives_until_closed() {
    let m = Mounted::new();
    let path = m.join("tmp");
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    f.write_all(b"still here").unwrap();
    fs::remove_file(&path).unwrap();
    assert!(!path.exists());
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "still here");
    assert_eq!(f.metadata().unwrap().nlink(), 0);
}

#[test]
fn rename_plain_replace_noreplace_exchange() {
    let m = Mounted::new();
    fs::write(m.join("a"), b"A").unwrap();
    fs::write(m.join("b"), b"B").unwrap();
    fs::create_dir(m.join("d1")).unwrap();
    fs::create_dir(m.join("d2")).unwrap();

    fs::rename(m.join("a"), m.join("d1/a")).unwrap();
    assert_eq!(fs::read(m.join("d1/a")).unwrap(), b"A");
    fs::rename(m.join("b"), m.join("d1/a")).unwrap();
    assert_eq!(fs::read(m.join("d1/a")).unwrap(), b"B", "rename replaces");
    assert!(!m.join("b").exists());

    fs::write(m.join("c"), b"C").unwrap();
    let noreplace = nix::fcntl::renameat2(
        AT_FDCWD,
        &m.join("c"),
        AT_FDCWD,
        &m.join("d1/a"),
        RenameFlags::RENAME_NOREPLACE,
    );
    assert_eq!(noreplace, Err(nix::errno::Errno::EEXIST));
    nix::fcntl::renameat2(
        AT_FDCWD,
        &m.join("c"),
        AT_FDCWD,
        &m.join("d1/a"),
        RenameFlags::RENAME_EXCHANGE,
    )
    .unwrap();
    assert_eq!(fs::read(m.join("c")).unwrap(), b"B");
    assert_eq!(fs::read(m.join("d1/a")).unwrap(), b"C");

    fs::rename(m.join("d2"), m.join("d1/d2")).unwrap();
    assert_eq!(fs::metadata(m.join("d1")).unwrap().nlink(), 3);
    assert_eq!(fs::metadata(m.path()).unwrap().nlink(), 3);
    assert_eq!(
        errno(fs::rename(m.join("c"), m.join("d1/d2"))),
        libc::EISDIR
    );
    fs::create_dir(m.join("d1/d2/x")).unwrap();
    fs::create_dir(m.join("e")).unwrap();
    assert_eq!(
        errno(fs::rename(m.join("e"), m.join("d1/d2"))),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::rename(m.join("d1"), m.join("d1/d2/x/y"))),
        libc::EINVAL,
        "a directory into itself"
    );
}

#[test]
fn xattrs_set_get_list_remove() {
    let m = Mounted::new();
    let path = m.join("x");
    fs::write(&path, b"").unwrap();
    xattr::set(&path, "user.one", b"1", 0).unwrap();
    xattr::set(&path, "user.two", b"22", 0).unwrap();
    assert_eq!(xattr::get(&path, "user.two", 64).unwrap(), b"22");
    assert_eq!(
        xattr::get(&path, "user.two", 0).unwrap().len(),
        2,
        "size probe"
    );
    assert_eq!(errno(xattr::get(&path, "user.two", 1)), libc::ERANGE);
    assert_eq!(errno(xattr::get(&path, "user.none", 64)), libc::ENODATA);
    let mut names = xattr::list(&path).unwrap();
    names.sort();
    assert_eq!(names, ["user.one", "user.two"]);
    assert_eq!(
        errno(xattr::set(&path, "user.one", b"x", libc::XATTR_CREATE)),
        libc::EEXIST
    );
    assert_eq!(
        errno(xattr::set(&path, "user.new", b"x", libc::XATTR_REPLACE)),
        libc::ENODATA
    );
    xattr::set(&path, "user.one", b"replaced", libc::XATTR_REPLACE).unwrap();
    assert_eq!(xattr::get(&path, "user.one", 64).unwrap(), b"replaced");
    xattr::remove(&path, "user.one").unwrap();
    assert_eq!(errno(xattr::remove(&path, "user.one")), libc::ENODATA);
    assert_eq!(xattr::list(&path).unwrap(), ["user.two"]);
    let big = vec![7u8; 60_000];
    xattr::set(&path, "user.big", &big, 0).unwrap();
    assert_eq!(xattr::get(&path, "user.big", 65536).unwrap(), big);
}

#[test]
fn permissions_are_enforced_for_other_users() {
    let m = Mounted::with(common::Options {
        mount: vec![
            datenlord_fuse::MountOption::DefaultPermissions,
            datenlord_fuse::MountOption::AllowOther,
        ],
        ..Default::default()
    });
    fs::set_permissions(m.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let secret = m.join("secret");
    let public = m.join("public");
    fs::write(&secret, b"s").unwrap();
    fs::write(&public, b"p").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(&public, fs::Permissions::from_mode(0o644)).unwrap();
    let as_nobody = |script: &str| {
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
                script,
            ])
            .output()
            .expect("setpriv runs")
    };
    assert!(
        !as_nobody(&format!("cat {}", secret.display()))
            .status
            .success()
    );
    let out = as_nobody(&format!("cat {}", public.display()));
    assert_eq!(out.stdout, b"p", "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !as_nobody(&format!("echo x > {}", public.display()))
            .status
            .success()
    );

    fs::create_dir(m.join("sticky")).unwrap();
    fs::set_permissions(m.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(m.join("sticky/roots"), b"").unwrap();
    assert!(
        !as_nobody(&format!("rm -f {}", m.join("sticky/roots").display()))
            .status
            .success(),
        "sticky bit"
    );
    assert!(
        as_nobody(&format!(
            "touch {0}/mine && rm {0}/mine",
            m.join("sticky").display()
        ))
        .status
        .success()
    );

    std::os::unix::fs::chown(&public, Some(65534), Some(65534)).unwrap();
    let meta = fs::metadata(&public).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
    assert!(
        as_nobody(&format!("chmod 600 {}", public.display()))
            .status
            .success()
    );
    assert_eq!(fs::metadata(&public).unwrap().mode() & 0o777, 0o600);

    fs::create_dir(m.join("sgid")).unwrap();
    std::os::unix::fs::chown(m.join("sgid"), None, Some(4242)).unwrap();
    fs::set_permissions(m.join("sgid"), fs::Permissions::from_mode(0o2777)).unwrap();
    fs::write(m.join("sgid/f"), b"").unwrap();
    fs::create_dir(m.join("sgid/sub")).unwrap();
    assert_eq!(
        fs::metadata(m.join("sgid/f")).unwrap().gid(),
        4242,
        "setgid directory passes its group on"
    );
    assert!(fs::metadata(m.join("sgid/sub")).unwrap().mode() & libc::S_ISGID != 0);
}

#[test]
fn special_files_and_times() {
    let m = Mounted::new();
    nix::unistd::mkfifo(&m.join("fifo"), Mode::from_bits_truncate(0o644)).unwrap();
    assert!(fs::metadata(m.join("fifo")).unwrap().file_type().is_fifo());
    let dev = nix::sys::stat::makedev(1, 3);
    nix::sys::stat::mknod(
        &m.join("null"),
        SFlag::S_IFCHR,
        Mode::from_bits_truncate(0o666),
        dev,
    )
    .unwrap();
    let meta = fs::metadata(m.join("null")).unwrap();
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), dev);

    let path = m.join("times");
    fs::write(&path, b"").unwrap();
    let at = TimeSpec::new(1_000_000_000, 123);
    let mt = TimeSpec::new(1_500_000_000, 456_000);
    nix::sys::stat::utimensat(AT_FDCWD, &path, &at, &mt, UtimensatFlags::FollowSymlink).unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!((meta.atime(), meta.atime_nsec()), (1_000_000_000, 123));
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (1_500_000_000, 456_000));
    let ctime_before = meta.ctime();
    nix::sys::stat::utimensat(
        AT_FDCWD,
        &path,
        &TimeSpec::UTIME_OMIT,
        &TimeSpec::UTIME_NOW,
        UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.atime(), 1_000_000_000, "UTIME_OMIT keeps atime");
    assert!(meta.mtime() >= ctime_before, "UTIME_NOW sets mtime to now");
    let before = fs::metadata(&path).unwrap().mtime_nsec()
        + fs::metadata(&path).unwrap().mtime() * 1_000_000_000;
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(&path, b"changed").unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert!(
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec() > before,
        "a write moves mtime"
    );

    let st = nix::sys::statvfs::statvfs(m.path()).unwrap();
    assert!(st.blocks() > 0 && st.files() > 0);
    assert_eq!(st.name_max(), 255);
}

#[test]
fn fallocate_holes_seek_and_copy_range() {
    let m = Mounted::new();
    let path = m.join("f");
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    nix::fcntl::fallocate(f.as_fd(), FallocateFlags::empty(), 0, 8192).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 8192);
    nix::fcntl::fallocate(f.as_fd(), FallocateFlags::FALLOC_FL_KEEP_SIZE, 0, 65536).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 8192, "KEEP_SIZE");
    (&f).write_all(&[1u8; 8192]).unwrap();
    nix::fcntl::fallocate(
        f.as_fd(),
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        100,
        200,
    )
    .unwrap();
    let data = fs::read(&path).unwrap();
    assert_eq!(data.len(), 8192);
    assert!(data[100..300].iter().all(|&b| b == 0) && data[99] == 1 && data[300] == 1);

    assert_eq!(
        nix::unistd::lseek(f.as_fd(), 10, Whence::SeekData).unwrap(),
        10
    );
    // A filesystem may report the punched range as a hole, or only the end of the file.
    let hole = nix::unistd::lseek(f.as_fd(), 10, Whence::SeekHole).unwrap();
    assert!(hole == 100 || hole == 8192, "SEEK_HOLE from 10 gave {hole}");
    assert_eq!(
        nix::unistd::lseek(f.as_fd(), 9000, Whence::SeekData),
        Err(nix::errno::Errno::ENXIO)
    );

    let out = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.join("copy"))
        .unwrap();
    let (mut off_in, mut off_out) = (50i64, 0i64);
    let copied = nix::fcntl::copy_file_range(
        f.as_fd(),
        Some(&mut off_in),
        out.as_fd(),
        Some(&mut off_out),
        1000,
    )
    .unwrap();
    assert_eq!(copied, 1000);
    assert_eq!(fs::read(m.join("copy")).unwrap(), data[50..1050]);
}

#[test]
fn tmpfile_can_be_linked() {
    let m = Mounted::new();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(m.path())
        .unwrap();
    f.write_all(b"anonymous").unwrap();
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
    nix::unistd::linkat(
        AT_FDCWD,
        fd_path.as_str(),
        AT_FDCWD,
        &m.join("named"),
        nix::fcntl::AtFlags::AT_SYMLINK_FOLLOW,
    )
    .unwrap();
    assert_eq!(fs::read(m.join("named")).unwrap(), b"anonymous");
}

#[test]
fn readdir_of_ten_thousand_entries() {
    let m = Mounted::new();
    let dir = m.join("many");
    fs::create_dir(&dir).unwrap();
    for i in 0..10_000 {
        File::create(dir.join(format!("entry-{i:05}"))).unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 10_000);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 10_000, "no duplicates");
    assert_eq!(names[0], "entry-00000");
    assert_eq!(names[9_999], "entry-09999");
    // Removing while listing (what rm -r does) must neither skip nor repeat survivors.
    let mut seen = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        seen += 1;
        fs::remove_file(entry.path()).unwrap();
    }
    assert_eq!(seen, 10_000);
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn shell_tools_work_on_the_mount() {
    let m = Mounted::new();
    let script = "set -e; mkdir -p a/b/c; echo hi > a/b/c/f; cp -a a b; mv b c; ln -s c/b/c/f s; \
                  test \"$(cat s)\" = hi; find . | sort > /dev/null; du -s . > /dev/null; rm -r a c s; test -z \"$(ls -A)\"";
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(m.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sync_access_ioctl_and_poll() {
    let m = Mounted::with(common::Options {
        mount: vec![],
        ..Default::default()
    });
    let path = m.join("f");
    fs::write(&path, b"data").unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    f.sync_all().unwrap();
    f.sync_data().unwrap();
    File::open(m.path()).unwrap().sync_all().unwrap();
    let status = Command::new("sync").arg("-f").arg(&path).status().unwrap();
    assert!(status.success());

    // Without default_permissions the kernel asks the filesystem (ACCESS).
    let c = common::cpath(&path);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    // SAFETY: access(2) with a valid C string.
    let read_write = unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) };
    assert_eq!(read_write, 0);
    // SAFETY: as above.
    let execute = unsafe { libc::access(c.as_ptr(), libc::X_OK) };
    assert_eq!(execute, -1, "root needs an x bit to execute");
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EACCES)
    );

    // No ioctls of its own: the kernel turns ENOSYS into ENOTTY. (_IOR('x', 1, int),
    // a command the VFS does not answer itself, so it reaches FUSE_IOCTL.)
    let mut n: libc::c_int = 0;
    // SAFETY: the command reads at most one c_int through a pointer to a live local.
    let rc = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&f), 0x8004_7801, &mut n) };
    assert_eq!(rc, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENOTTY)
    );

    // Without a POLL handler a file is always ready.
    let mut fds = [libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&f),
        events: libc::POLLIN | libc::POLLOUT,
        revents: 0,
    }];
    // SAFETY: poll over one valid pollfd.
    assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 1000) }, 1);
    assert!(fds[0].revents & libc::POLLIN != 0);
}
