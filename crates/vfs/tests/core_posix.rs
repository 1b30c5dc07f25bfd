//! The POSIX rules of the mount suite (`crates/fuse/tests/suite/posix.rs`), checked on `Vfs`
//! itself: no kernel, no mount, no root. Permission checks are the kernel's on a mount
//! (`default_permissions`), so they are not checked here; what the kernel answers before a
//! request reaches the filesystem (ENAMETOOLONG, a rename of a name onto itself) neither.

mod common;

use std::sync::Arc;

use datenlord_meta::{
    Caller, FileKind, NewInode, RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_INO, SetAttr, Timespec,
    XATTR_CREATE, XATTR_REPLACE,
};
use datenlord_vfs::{Vfs, VfsConfig};

use common::{BLOCK, ME, fresh};

const KEEP: i32 = libc::FALLOC_FL_KEEP_SIZE;
const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE;
const ZERO: i32 = libc::FALLOC_FL_ZERO_RANGE;

fn errno<T: std::fmt::Debug>(result: datenlord_vfs::Result<T>) -> i32 {
    result.expect_err("the operation should fail").errno()
}

/// Creates and opens `name` for reading and writing.
async fn create(vfs: &Vfs, parent: u64, name: &[u8]) -> (u64, u64) {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    let (ino, _, fh) = vfs
        .create(ME, parent, Some(name), 0o644, 0o022, flags)
        .await
        .unwrap();
    (ino, fh)
}

async fn open(vfs: &Vfs, parent: u64, name: &[u8], flags: i32) -> u64 {
    let (ino, _) = vfs.lookup(parent, name).await.unwrap();
    vfs.open(ME, ino, flags).await.unwrap().0
}

async fn write(vfs: &Arc<Vfs>, fh: u64, offset: u64, data: &[u8]) {
    let written = vfs.write(fh, offset, data, false).await.unwrap();
    assert_eq!(written as usize, data.len());
}

/// Everything from `offset` to the end, in reads that straddle blocks.
async fn read_from(vfs: &Vfs, fh: u64, offset: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let bytes = vfs
            .read(fh, offset + out.len() as u64, 100_000)
            .await
            .unwrap();
        if bytes.is_empty() {
            return out;
        }
        out.extend_from_slice(&bytes);
    }
}

async fn read_all(vfs: &Vfs, fh: u64) -> Vec<u8> {
    read_from(vfs, fh, 0).await
}

/// A file's bytes through a handle of its own, as `cat` would read them.
async fn contents(vfs: &Vfs, parent: u64, name: &[u8]) -> Vec<u8> {
    let fh = open(vfs, parent, name, libc::O_RDONLY).await;
    let data = read_all(vfs, fh).await;
    close(vfs, fh).await;
    data
}

/// close(2): FLUSH, then RELEASE.
async fn close(vfs: &Vfs, fh: u64) {
    vfs.flush_handle(fh, Some(fh)).await.unwrap();
    vfs.release(fh, None).await;
}

async fn put(vfs: &Arc<Vfs>, parent: u64, name: &[u8], data: &[u8]) -> u64 {
    let (ino, fh) = create(vfs, parent, name).await;
    write(vfs, fh, 0, data).await;
    close(vfs, fh).await;
    ino
}

fn new_dir() -> NewInode<'static> {
    NewInode {
        kind: FileKind::Dir,
        perm: 0o777,
        umask: 0o022,
        rdev: 0,
        target: None,
    }
}

async fn mkdir(vfs: &Vfs, parent: u64, name: &[u8]) -> u64 {
    vfs.mknod(ME, parent, name, new_dir()).await.unwrap().0
}

async fn symlink(vfs: &Vfs, parent: u64, name: &[u8], target: &[u8]) -> u64 {
    let new = NewInode {
        kind: FileKind::Symlink,
        perm: 0o777,
        umask: 0,
        rdev: 0,
        target: Some(target),
    };
    vfs.mknod(ME, parent, name, new).await.unwrap().0
}

/// A whole listing, without "." and "..".
async fn names(vfs: &Vfs, dir: u64) -> Vec<(Vec<u8>, FileKind)> {
    let fh = vfs.opendir(dir).await.unwrap();
    let entries = vfs.readdir(fh, 0).await.unwrap();
    vfs.releasedir(fh);
    entries[2..]
        .iter()
        .map(|e| (e.name.clone(), e.kind))
        .collect()
}

async fn size(vfs: &Vfs, ino: u64) -> u64 {
    vfs.getattr(ino).await.unwrap().size
}

fn truncate_to(size: u64) -> (Option<u64>, SetAttr) {
    (Some(size), SetAttr::default())
}

/// Never zero, so that a hole shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed) | 1)
        .collect()
}

async fn volume() -> common::Fresh {
    fresh(VfsConfig::default()).await
}

#[tokio::test]
async fn files_write_read_append_truncate() {
    let f = volume().await;
    let vfs = &f.vfs;
    let ino = put(vfs, ROOT_INO, b"f", b"hello world").await;
    assert_eq!(contents(vfs, ROOT_INO, b"f").await, b"hello world");

    // O_APPEND: the kernel writes at the size it knows, which getattr told it.
    let fh = open(vfs, ROOT_INO, b"f", libc::O_WRONLY | libc::O_APPEND).await;
    write(vfs, fh, size(vfs, ino).await, b"!!").await;
    close(vfs, fh).await;
    assert_eq!(contents(vfs, ROOT_INO, b"f").await, b"hello world!!");

    let fh = open(vfs, ROOT_INO, b"f", libc::O_RDWR).await;
    let (size_to, set) = truncate_to(5);
    vfs.setattr(ME, ino, size_to, set).await.unwrap();
    assert_eq!(read_all(vfs, fh).await, b"hello");
    let (size_to, set) = truncate_to(8);
    vfs.setattr(ME, ino, size_to, set).await.unwrap();
    assert_eq!(
        read_all(vfs, fh).await,
        b"hello\0\0\0",
        "growing reads zeros"
    );

    write(vfs, fh, 1 << 20, b"end").await;
    assert_eq!(size(vfs, ino).await, (1 << 20) + 3);
    let hole = vfs.read(fh, 4096, 16).await.unwrap();
    assert_eq!(&hole[..], &[0; 16], "a hole reads as zeros");
    close(vfs, fh).await;
    let data = contents(vfs, ROOT_INO, b"f").await;
    assert_eq!(data.len(), (1 << 20) + 3);
    assert!(data[8..1 << 20].iter().all(|&b| b == 0));
    assert_eq!(&data[1 << 20..], b"end");

    let fh = open(vfs, ROOT_INO, b"f", libc::O_WRONLY | libc::O_TRUNC).await;
    assert_eq!(size(vfs, ino).await, 0, "O_TRUNC");
    close(vfs, fh).await;
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    let again = vfs.create(ME, ROOT_INO, Some(b"f"), 0o644, 0o022, flags);
    assert_eq!(errno(again.await), libc::EEXIST, "O_EXCL");
    let read_only = open(vfs, ROOT_INO, b"f", libc::O_RDONLY).await;
    assert_eq!(
        errno(vfs.write(read_only, 0, b"x", false).await),
        libc::EBADF
    );
    close(vfs, read_only).await;
}

#[tokio::test]
async fn truncation_hides_what_was_cut_off() {
    let f = volume().await;
    let vfs = &f.vfs;
    let data = pattern(3 * BLOCK as usize + 100, 1);
    let ino = put(vfs, ROOT_INO, b"f", &data).await;
    let fh = open(vfs, ROOT_INO, b"f", libc::O_RDWR).await;
    // Cut inside the second block, grow past the old end: the cut bytes must not come back.
    let cut = BLOCK + 10;
    let (size_to, set) = truncate_to(cut);
    vfs.setattr(ME, ino, size_to, set).await.unwrap();
    let (size_to, set) = truncate_to(4 * BLOCK);
    vfs.setattr(ME, ino, size_to, set).await.unwrap();
    let mut want = data[..cut as usize].to_vec();
    want.resize(4 * BLOCK as usize, 0);
    assert_eq!(read_all(vfs, fh).await, want);

    // The same with bytes still buffered when the truncation comes.
    write(vfs, fh, 2 * BLOCK, &pattern(BLOCK as usize, 2)).await;
    let (size_to, set) = truncate_to(2 * BLOCK + 7);
    vfs.setattr(ME, ino, size_to, set).await.unwrap();
    let (size_to, set) = truncate_to(3 * BLOCK);
    vfs.setattr(ME, ino, size_to, set).await.unwrap();
    want.truncate(2 * BLOCK as usize);
    want.extend_from_slice(&pattern(7, 2));
    want.resize(3 * BLOCK as usize, 0);
    assert_eq!(read_all(vfs, fh).await, want);
    close(vfs, fh).await;
    assert_eq!(contents(vfs, ROOT_INO, b"f").await, want);
}

#[tokio::test]
async fn directories_nlink_and_errors() {
    let f = volume().await;
    let vfs = &f.vfs;
    let d = mkdir(vfs, ROOT_INO, b"d").await;
    let sub = mkdir(vfs, d, b"sub").await;
    let file = put(vfs, d, b"file", b"x").await;
    assert_eq!(
        vfs.getattr(d).await.unwrap().nlink,
        3,
        ".., its entry in the parent, sub/.."
    );
    assert_eq!(vfs.getattr(ROOT_INO).await.unwrap().nlink, 3);
    assert_eq!(
        names(vfs, d).await,
        [
            (b"file".to_vec(), FileKind::File),
            (b"sub".to_vec(), FileKind::Dir)
        ]
    );
    let fh = vfs.opendir(sub).await.unwrap();
    let listed = vfs.readdir(fh, 0).await.unwrap();
    vfs.releasedir(fh);
    assert_eq!((listed[0].ino, listed[1].ino), (sub, d), ". and ..");

    assert_eq!(errno(vfs.rmdir(ROOT_INO, b"d").await), libc::ENOTEMPTY);
    assert_eq!(
        errno(vfs.mknod(ME, ROOT_INO, b"d", new_dir()).await),
        libc::EEXIST
    );
    assert_eq!(errno(vfs.unlink(ROOT_INO, b"d").await), libc::EISDIR);
    assert_eq!(errno(vfs.rmdir(d, b"file").await), libc::ENOTDIR);
    assert_eq!(errno(vfs.lookup(file, b"x").await), libc::ENOTDIR);
    assert_eq!(errno(vfs.opendir(file).await), libc::ENOTDIR);
    assert_eq!(errno(vfs.lookup(ROOT_INO, b"missing").await), libc::ENOENT);
    assert_eq!(errno(vfs.unlink(ROOT_INO, b"missing").await), libc::ENOENT);
    assert_eq!(errno(vfs.rmdir(ROOT_INO, b"missing").await), libc::ENOENT);
    let longest = vec![b'a'; 255];
    put(vfs, ROOT_INO, &longest, b"").await;
    assert_eq!(vfs.lookup(ROOT_INO, &longest).await.unwrap().1.size, 0);
    // Names no directory can hold are refused by the core itself (front ends other than the
    // kernel pass names straight through).
    let too_long = vec![b'a'; 256];
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    let made = vfs
        .create(ME, ROOT_INO, Some(&too_long), 0o644, 0, flags)
        .await;
    assert_eq!(errno(made), libc::ENAMETOOLONG);
    assert_eq!(
        errno(vfs.lookup(ROOT_INO, &too_long).await),
        libc::ENAMETOOLONG
    );
    for bad in [&b""[..], b".", b"..", b"a/b", b"nul\0"] {
        let made = vfs.create(ME, ROOT_INO, Some(bad), 0o644, 0, flags).await;
        assert_eq!(errno(made), libc::EINVAL, "{bad:?}");
        let moved = vfs.rename(ROOT_INO, &longest, ROOT_INO, bad, 0).await;
        assert_eq!(errno(moved), libc::EINVAL, "rename to {bad:?}");
    }

    vfs.unlink(d, b"file").await.unwrap();
    vfs.rmdir(d, b"sub").await.unwrap();
    assert_eq!(errno(vfs.getattr(sub).await), libc::ENOENT);
    assert_eq!(vfs.getattr(d).await.unwrap().nlink, 2);
    vfs.rmdir(ROOT_INO, b"d").await.unwrap();
    assert_eq!(errno(vfs.lookup(ROOT_INO, b"d").await), libc::ENOENT);
    assert_eq!(vfs.getattr(ROOT_INO).await.unwrap().nlink, 2);
}

#[tokio::test]
async fn symlinks_and_hard_links() {
    let f = volume().await;
    let vfs = &f.vfs;
    let target = put(vfs, ROOT_INO, b"target", b"data").await;
    let link = symlink(vfs, ROOT_INO, b"link", b"target").await;
    assert_eq!(vfs.readlink(link).await.unwrap(), b"target");
    let attr = vfs.getattr(link).await.unwrap();
    assert_eq!((attr.kind, attr.size), (FileKind::Symlink, 6));
    assert_eq!(errno(vfs.readlink(target).await), libc::EINVAL);
    let long_target = b"x/".repeat(2000);
    let long = symlink(vfs, ROOT_INO, b"long", &long_target).await;
    assert_eq!(vfs.readlink(long).await.unwrap(), long_target);

    let attr = vfs.link(target, ROOT_INO, b"hard").await.unwrap();
    assert_eq!(attr.nlink, 2);
    assert_eq!(vfs.lookup(ROOT_INO, b"hard").await.unwrap().0, target);
    assert_eq!(
        errno(vfs.link(target, ROOT_INO, b"link").await),
        libc::EEXIST
    );
    vfs.unlink(ROOT_INO, b"target").await.unwrap();
    assert_eq!(vfs.getattr(target).await.unwrap().nlink, 1);
    assert_eq!(contents(vfs, ROOT_INO, b"hard").await, b"data");
    // The symlink dangles: its name is still there, what it names is not.
    assert_eq!(vfs.readlink(link).await.unwrap(), b"target");
    assert_eq!(errno(vfs.lookup(ROOT_INO, b"target").await), libc::ENOENT);
    let dir = mkdir(vfs, ROOT_INO, b"dir").await;
    assert_eq!(errno(vfs.link(dir, ROOT_INO, b"dir2").await), libc::EPERM);
}

#[tokio::test]
async fn unlinked_open_file_lives_until_released() {
    let f = volume().await;
    let vfs = &f.vfs;
    let (ino, fh) = create(vfs, ROOT_INO, b"tmp").await;
    write(vfs, fh, 0, b"still here").await;
    let reader = open(vfs, ROOT_INO, b"tmp", libc::O_RDONLY).await;
    vfs.unlink(ROOT_INO, b"tmp").await.unwrap();
    assert_eq!(errno(vfs.lookup(ROOT_INO, b"tmp").await), libc::ENOENT);
    assert_eq!(vfs.getattr(ino).await.unwrap().nlink, 0);
    assert_eq!(read_all(vfs, reader).await, b"still here");
    // Written after the unlink, across a block boundary, read by another handle.
    let more = pattern(BLOCK as usize + 3, 5);
    write(vfs, fh, 10, &more).await;
    vfs.fsync(fh).await.unwrap();
    let data = read_all(vfs, reader).await;
    assert_eq!((&data[..10], &data[10..]), (&b"still here"[..], &more[..]));
    close(vfs, fh).await;
    assert_eq!(
        read_all(vfs, reader).await,
        data,
        "one handle still holds it"
    );
    close(vfs, reader).await;
    assert_eq!(errno(vfs.getattr(ino).await), libc::ENOENT);
    assert!(vfs.delete_doomed().await.unwrap() > 0, "its blocks go");

    // Losing the name to a rename that replaces it is the same.
    let old = put(vfs, ROOT_INO, b"old", b"old bytes").await;
    put(vfs, ROOT_INO, b"new", b"new bytes").await;
    let fh = open(vfs, ROOT_INO, b"old", libc::O_RDONLY).await;
    let replaced = vfs.rename(ROOT_INO, b"new", ROOT_INO, b"old", 0).await;
    assert_eq!(replaced.unwrap().map(|r| r.ino), Some(old));
    assert_eq!(contents(vfs, ROOT_INO, b"old").await, b"new bytes");
    assert_eq!(read_all(vfs, fh).await, b"old bytes");
    close(vfs, fh).await;
    assert_eq!(errno(vfs.getattr(old).await), libc::ENOENT);
}

#[tokio::test]
async fn tmpfile_can_be_linked() {
    let f = volume().await;
    let vfs = &f.vfs;
    let (ino, attr, fh) = vfs
        .create(ME, ROOT_INO, None, 0o644, 0o022, libc::O_RDWR)
        .await
        .unwrap();
    assert_eq!(attr.nlink, 0);
    write(vfs, fh, 0, b"anonymous").await;
    assert!(names(vfs, ROOT_INO).await.is_empty());
    vfs.link(ino, ROOT_INO, b"named").await.unwrap();
    close(vfs, fh).await;
    assert_eq!(contents(vfs, ROOT_INO, b"named").await, b"anonymous");

    let (unnamed, _, fh) = vfs
        .create(ME, ROOT_INO, None, 0o644, 0o022, libc::O_RDWR)
        .await
        .unwrap();
    write(vfs, fh, 0, b"gone").await;
    close(vfs, fh).await;
    assert_eq!(errno(vfs.getattr(unnamed).await), libc::ENOENT);
}

#[tokio::test]
async fn rename_plain_replace_noreplace_exchange() {
    let f = volume().await;
    let vfs = &f.vfs;
    put(vfs, ROOT_INO, b"a", b"A").await;
    put(vfs, ROOT_INO, b"b", b"B").await;
    let d1 = mkdir(vfs, ROOT_INO, b"d1").await;
    let d2 = mkdir(vfs, ROOT_INO, b"d2").await;

    vfs.rename(ROOT_INO, b"a", d1, b"a", 0).await.unwrap();
    assert_eq!(contents(vfs, d1, b"a").await, b"A");
    assert_eq!(errno(vfs.lookup(ROOT_INO, b"a").await), libc::ENOENT);
    vfs.rename(ROOT_INO, b"b", d1, b"a", 0).await.unwrap();
    assert_eq!(contents(vfs, d1, b"a").await, b"B", "rename replaces");
    assert_eq!(errno(vfs.lookup(ROOT_INO, b"b").await), libc::ENOENT);
    assert_eq!(
        errno(vfs.rename(ROOT_INO, b"missing", d1, b"x", 0).await),
        libc::ENOENT
    );

    put(vfs, ROOT_INO, b"c", b"C").await;
    let noreplace = vfs.rename(ROOT_INO, b"c", d1, b"a", RENAME_NOREPLACE);
    assert_eq!(errno(noreplace.await), libc::EEXIST);
    vfs.rename(ROOT_INO, b"c", d1, b"a", RENAME_EXCHANGE)
        .await
        .unwrap();
    assert_eq!(contents(vfs, ROOT_INO, b"c").await, b"B");
    assert_eq!(contents(vfs, d1, b"a").await, b"C");
    let exchange = vfs.rename(ROOT_INO, b"c", d1, b"none", RENAME_EXCHANGE);
    assert_eq!(errno(exchange.await), libc::ENOENT);
    let both = RENAME_NOREPLACE | RENAME_EXCHANGE;
    assert_eq!(
        errno(vfs.rename(ROOT_INO, b"c", d1, b"a", both).await),
        libc::EINVAL
    );

    vfs.rename(ROOT_INO, b"d2", d1, b"d2", 0).await.unwrap();
    assert_eq!(vfs.getattr(d1).await.unwrap().nlink, 3);
    assert_eq!(vfs.getattr(ROOT_INO).await.unwrap().nlink, 3);
    let fh = vfs.opendir(d2).await.unwrap();
    assert_eq!(vfs.readdir(fh, 0).await.unwrap()[1].ino, d1, "a moved ..");
    vfs.releasedir(fh);
    assert_eq!(
        errno(vfs.rename(ROOT_INO, b"c", d1, b"d2", 0).await),
        libc::EISDIR
    );
    assert_eq!(
        errno(vfs.rename(d1, b"d2", ROOT_INO, b"c", 0).await),
        libc::ENOTDIR
    );
    let x = mkdir(vfs, d2, b"x").await;
    mkdir(vfs, ROOT_INO, b"e").await;
    assert_eq!(
        errno(vfs.rename(ROOT_INO, b"e", d1, b"d2", 0).await),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(vfs.rename(ROOT_INO, b"d1", x, b"y", 0).await),
        libc::EINVAL,
        "a directory into itself"
    );
    assert_eq!(
        errno(vfs.rename(ROOT_INO, b"d1", d1, b"y", 0).await),
        libc::EINVAL
    );
    // An empty directory may be replaced by one.
    let e = vfs.lookup(ROOT_INO, b"e").await.unwrap().0;
    vfs.rename(ROOT_INO, b"e", d2, b"x", 0).await.unwrap();
    assert_eq!(vfs.lookup(d2, b"x").await.unwrap().0, e);
    assert_eq!(errno(vfs.getattr(x).await), libc::ENOENT);
    assert_eq!(vfs.getattr(d2).await.unwrap().nlink, 3);
    assert_eq!(vfs.getattr(ROOT_INO).await.unwrap().nlink, 3);

    // Exchanging a directory with a file moves the directory's "..".
    vfs.rename(d1, b"d2", ROOT_INO, b"c", RENAME_EXCHANGE)
        .await
        .unwrap();
    assert_eq!(vfs.lookup(ROOT_INO, b"c").await.unwrap().0, d2);
    assert_eq!(contents(vfs, d1, b"d2").await, b"B");
    assert_eq!(vfs.getattr(d1).await.unwrap().nlink, 2);
    assert_eq!(vfs.getattr(ROOT_INO).await.unwrap().nlink, 4);
    let fh = vfs.opendir(d2).await.unwrap();
    assert_eq!(vfs.readdir(fh, 0).await.unwrap()[1].ino, ROOT_INO);
    vfs.releasedir(fh);
}

#[tokio::test]
async fn xattrs_set_get_list_remove() {
    let f = volume().await;
    let vfs = &f.vfs;
    let ino = put(vfs, ROOT_INO, b"x", b"").await;
    vfs.setxattr(ino, b"user.one", b"1", 0, false)
        .await
        .unwrap();
    vfs.setxattr(ino, b"user.two", b"22", 0, false)
        .await
        .unwrap();
    assert_eq!(vfs.getxattr(ino, b"user.two").await.unwrap(), b"22");
    assert_eq!(errno(vfs.getxattr(ino, b"user.none").await), libc::ENODATA);
    assert_eq!(vfs.listxattr(ino).await.unwrap(), b"user.one\0user.two\0");
    let create = vfs.setxattr(ino, b"user.one", b"x", XATTR_CREATE, false);
    assert_eq!(errno(create.await), libc::EEXIST);
    let replace = vfs.setxattr(ino, b"user.new", b"x", XATTR_REPLACE, false);
    assert_eq!(errno(replace.await), libc::ENODATA);
    vfs.setxattr(ino, b"user.new", b"", XATTR_CREATE, false)
        .await
        .unwrap();
    assert_eq!(vfs.getxattr(ino, b"user.new").await.unwrap(), b"");
    vfs.setxattr(ino, b"user.one", b"replaced", XATTR_REPLACE, false)
        .await
        .unwrap();
    assert_eq!(vfs.getxattr(ino, b"user.one").await.unwrap(), b"replaced");
    vfs.removexattr(ino, b"user.one").await.unwrap();
    assert_eq!(
        errno(vfs.removexattr(ino, b"user.one").await),
        libc::ENODATA
    );
    assert_eq!(vfs.listxattr(ino).await.unwrap(), b"user.new\0user.two\0");
    let big = vec![7u8; 60_000];
    vfs.setxattr(ino, b"user.big", &big, 0, false)
        .await
        .unwrap();
    assert_eq!(vfs.getxattr(ino, b"user.big").await.unwrap(), big);
    let too_big = vec![7u8; 65_537];
    assert_eq!(
        errno(vfs.setxattr(ino, b"user.big", &too_big, 0, false).await),
        libc::E2BIG
    );
    let dir = mkdir(vfs, ROOT_INO, b"d").await;
    vfs.setxattr(dir, b"user.dir", b"d", 0, false)
        .await
        .unwrap();
    assert_eq!(vfs.listxattr(dir).await.unwrap(), b"user.dir\0");

    // They go with the inode, not with a name.
    vfs.link(ino, ROOT_INO, b"y").await.unwrap();
    vfs.unlink(ROOT_INO, b"x").await.unwrap();
    let (same, _) = vfs.lookup(ROOT_INO, b"y").await.unwrap();
    assert_eq!(vfs.getxattr(same, b"user.two").await.unwrap(), b"22");
    vfs.unlink(ROOT_INO, b"y").await.unwrap();
    assert_eq!(errno(vfs.getxattr(ino, b"user.two").await), libc::ENOENT);
}

#[tokio::test]
async fn chmod_chown_utimens() {
    let f = volume().await;
    let vfs = &f.vfs;
    let (ino, fh) = create(vfs, ROOT_INO, b"f").await;
    let created = vfs.getattr(ino).await.unwrap();
    assert_eq!(
        (created.perm, created.uid, created.gid),
        (0o644, 1000, 1000)
    );

    let mode = SetAttr {
        mode: Some(0o4751),
        ..SetAttr::default()
    };
    let attr = vfs.setattr(ME, ino, None, mode).await.unwrap();
    assert_eq!(attr.perm, 0o4751);
    assert!(attr.ctime >= created.ctime);
    assert_eq!(vfs.getattr(ino).await.unwrap().perm, 0o4751);
    // A chown by anyone but root clears set-user-id (and set-group-id with group execute).
    let chown = SetAttr {
        uid: Some(1000),
        gid: Some(2000),
        ..SetAttr::default()
    };
    let attr = vfs.setattr(ME, ino, None, chown).await.unwrap();
    assert_eq!((attr.uid, attr.gid, attr.perm), (1000, 2000, 0o751));
    let mode = SetAttr {
        mode: Some(0o6755),
        ..SetAttr::default()
    };
    vfs.setattr(ME, ino, None, mode).await.unwrap();
    let chown = SetAttr {
        uid: Some(3000),
        ..SetAttr::default()
    };
    let attr = vfs.setattr(Caller::ROOT, ino, None, chown).await.unwrap();
    assert_eq!(
        (attr.uid, attr.perm),
        (3000, 0o6755),
        "root's chown keeps them"
    );

    // Explicit times stick, also over bytes still buffered when they are set.
    write(vfs, fh, 0, b"buffered").await;
    let at = Timespec {
        sec: 1_000_000_000,
        nsec: 123,
    };
    let mt = Timespec {
        sec: 1_500_000_000,
        nsec: 456_000,
    };
    let times = SetAttr {
        atime: Some(at),
        mtime: Some(mt),
        ..SetAttr::default()
    };
    vfs.setattr(ME, ino, None, times).await.unwrap();
    let attr = vfs.getattr(ino).await.unwrap();
    assert_eq!((attr.atime, attr.mtime, attr.size), (at, mt, 8));
    close(vfs, fh).await;
    let attr = vfs.getattr(ino).await.unwrap();
    assert_eq!((attr.atime, attr.mtime), (at, mt), "closing keeps them");
    let only_mtime = SetAttr {
        mtime: Some(at),
        ..SetAttr::default()
    };
    let attr = vfs.setattr(ME, ino, None, only_mtime).await.unwrap();
    assert_eq!((attr.atime, attr.mtime), (at, at), "an omitted time stays");

    // A write moves mtime; with relatime, the first read after it moves atime.
    let fh = open(vfs, ROOT_INO, b"f", libc::O_RDWR).await;
    write(vfs, fh, 0, b"changed").await;
    close(vfs, fh).await;
    let written = vfs.getattr(ino).await.unwrap();
    assert!(written.mtime > mt, "a write moves mtime");
    assert_eq!(written.atime, at);
    assert_eq!(contents(vfs, ROOT_INO, b"f").await, b"changedd");
    assert!(vfs.getattr(ino).await.unwrap().atime >= written.mtime);
}

#[tokio::test]
async fn special_files() {
    let f = volume().await;
    let vfs = &f.vfs;
    let node = |kind, rdev| NewInode {
        kind,
        perm: 0o666,
        umask: 0o022,
        rdev,
        target: None,
    };
    let (fifo, attr) = vfs
        .mknod(ME, ROOT_INO, b"fifo", node(FileKind::Fifo, 0))
        .await
        .unwrap();
    assert_eq!((attr.kind, attr.perm), (FileKind::Fifo, 0o644));
    let dev = libc::makedev(1, 3) as u32;
    let (null, _) = vfs
        .mknod(ME, ROOT_INO, b"null", node(FileKind::CharDevice, dev))
        .await
        .unwrap();
    let attr = vfs.getattr(null).await.unwrap();
    assert_eq!((attr.kind, attr.rdev), (FileKind::CharDevice, dev));
    assert_eq!(
        names(vfs, ROOT_INO).await,
        [
            (b"fifo".to_vec(), FileKind::Fifo),
            (b"null".to_vec(), FileKind::CharDevice)
        ]
    );
    vfs.unlink(ROOT_INO, b"fifo").await.unwrap();
    assert_eq!(errno(vfs.getattr(fifo).await), libc::ENOENT);
}

#[tokio::test]
async fn fallocate_holes_and_seek() {
    let f = volume().await;
    let vfs = &f.vfs;
    let (ino, fh) = create(vfs, ROOT_INO, b"f").await;
    vfs.fallocate(fh, 0, 8192, 0).await.unwrap();
    assert_eq!(size(vfs, ino).await, 8192);
    vfs.fallocate(fh, 0, 65536, KEEP).await.unwrap();
    assert_eq!(size(vfs, ino).await, 8192, "KEEP_SIZE");
    write(vfs, fh, 0, &[1; 8192]).await;
    vfs.fallocate(fh, 100, 200, PUNCH | KEEP).await.unwrap();
    let data = read_all(vfs, fh).await;
    assert_eq!(data.len(), 8192);
    assert!(data[100..300].iter().all(|&b| b == 0) && data[99] == 1 && data[300] == 1);

    assert_eq!(
        vfs.lseek(fh, 10, true).await.unwrap(),
        10,
        "SEEK_DATA in data"
    );
    assert_eq!(vfs.lseek(fh, 10, false).await.unwrap(), 100, "SEEK_HOLE");
    assert_eq!(
        vfs.lseek(fh, 150, true).await.unwrap(),
        300,
        "SEEK_DATA in a hole"
    );
    assert_eq!(vfs.lseek(fh, 150, false).await.unwrap(), 150);
    assert_eq!(
        vfs.lseek(fh, 300, false).await.unwrap(),
        8192,
        "the end is a hole"
    );
    assert_eq!(errno(vfs.lseek(fh, 9000, true).await), libc::ENXIO);
    assert_eq!(errno(vfs.lseek(fh, 8192, false).await), libc::ENXIO);

    // A punch past the end keeps the size; ZERO_RANGE past it grows the file.
    vfs.fallocate(fh, 8000, 1000, PUNCH | KEEP).await.unwrap();
    assert_eq!(size(vfs, ino).await, 8192);
    vfs.fallocate(fh, 8100, 2 * BLOCK, ZERO).await.unwrap();
    assert_eq!(size(vfs, ino).await, 8100 + 2 * BLOCK);
    let data = read_all(vfs, fh).await;
    assert!(data[..100].iter().all(|&b| b == 1) && data[300..8000].iter().all(|&b| b == 1));
    assert!(data[8000..].iter().all(|&b| b == 0));
    // Across blocks: punch the middle of three blocks of data.
    let bytes = pattern(3 * BLOCK as usize, 3);
    write(vfs, fh, 0, &bytes).await;
    vfs.fallocate(fh, BLOCK - 10, BLOCK + 20, PUNCH | KEEP)
        .await
        .unwrap();
    let data = read_all(vfs, fh).await;
    let (lo, hi) = (BLOCK as usize - 10, 2 * BLOCK as usize + 10);
    assert_eq!(&data[..lo], &bytes[..lo]);
    assert!(data[lo..hi].iter().all(|&b| b == 0));
    assert_eq!(&data[hi..3 * BLOCK as usize], &bytes[hi..]);
    assert_eq!(vfs.lseek(fh, 0, false).await.unwrap(), lo as u64);
    assert_eq!(vfs.lseek(fh, lo as u64, true).await.unwrap(), hi as u64);

    assert_eq!(
        errno(vfs.fallocate(fh, 0, 10, PUNCH).await),
        libc::EOPNOTSUPP
    );
    close(vfs, fh).await;
    let read_only = open(vfs, ROOT_INO, b"f", libc::O_RDONLY).await;
    assert_eq!(errno(vfs.fallocate(read_only, 0, 10, 0).await), libc::EBADF);
    close(vfs, read_only).await;
}

#[tokio::test]
async fn copy_file_range_shares_and_stays_apart() {
    let f = volume().await;
    let vfs = &f.vfs;
    let data = pattern(2 * BLOCK as usize + 500, 4);
    put(vfs, ROOT_INO, b"src", &data).await;
    let src = open(vfs, ROOT_INO, b"src", libc::O_RDWR).await;
    let (out_ino, out) = create(vfs, ROOT_INO, b"copy").await;
    let copied = vfs.copy_file_range(src, 50, out, 0, 1000).await.unwrap();
    assert_eq!(copied, 1000);
    assert_eq!(read_all(vfs, out).await, &data[50..1050]);
    // Across blocks, to an offset past the end (the gap reads as zeros).
    let len = BLOCK + 100;
    let at = 3000;
    let copied = vfs
        .copy_file_range(src, BLOCK - 50, out, at, len)
        .await
        .unwrap();
    assert_eq!(copied, len);
    let got = read_all(vfs, out).await;
    assert_eq!(got.len() as u64, at + len);
    assert!(got[1000..at as usize].iter().all(|&b| b == 0));
    let from = (BLOCK - 50) as usize;
    assert_eq!(&got[at as usize..], &data[from..from + len as usize]);
    // Short at the source's end.
    let tail = vfs
        .copy_file_range(src, data.len() as u64 - 10, out, 0, 100)
        .await
        .unwrap();
    assert_eq!(tail, 10);

    // The copy shares the source's objects, yet writing either changes only that one.
    write(vfs, src, 60, b"SOURCE").await;
    close(vfs, src).await;
    let copy = read_all(vfs, out).await;
    assert_eq!(&copy[..10], &data[data.len() - 10..]);
    assert_eq!(&copy[10..1000], &data[60..1050]);
    write(vfs, out, 500, b"COPY").await;
    close(vfs, out).await;
    let source = contents(vfs, ROOT_INO, b"src").await;
    assert_eq!(&source[60..66], b"SOURCE");
    assert_eq!(&source[550..554], &data[550..554], "where the copy wrote");
    // And the copy outlives its source.
    vfs.unlink(ROOT_INO, b"src").await.unwrap();
    vfs.delete_doomed().await.unwrap();
    let copy = contents(vfs, ROOT_INO, b"copy").await;
    assert_eq!(&copy[500..504], b"COPY");
    assert_eq!(&copy[at as usize..], &data[from..from + len as usize]);
    assert_eq!(size(vfs, out_ino).await, at + len);

    let fh = open(vfs, ROOT_INO, b"copy", libc::O_RDWR).await;
    let overlap = vfs.copy_file_range(fh, 0, fh, 100, 200);
    assert_eq!(
        errno(overlap.await),
        libc::EINVAL,
        "overlapping in one file"
    );
    assert_eq!(vfs.copy_file_range(fh, 0, fh, 200, 200).await.unwrap(), 200);
    let written_only = open(vfs, ROOT_INO, b"copy", libc::O_WRONLY).await;
    let read_only = open(vfs, ROOT_INO, b"copy", libc::O_RDONLY).await;
    let append = open(vfs, ROOT_INO, b"copy", libc::O_WRONLY | libc::O_APPEND).await;
    let cases = [(written_only, fh), (fh, read_only), (fh, append)];
    for (from, to) in cases {
        let result = vfs.copy_file_range(from, 0, to, 5000, 10).await;
        assert_eq!(errno(result), libc::EBADF);
    }
    for handle in [fh, written_only, read_only, append] {
        close(vfs, handle).await;
    }
    let report = datenlord_vfs::fsck(vfs.meta(), vfs.store(), false)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test]
async fn statfs_counts_inodes_and_space() {
    let f = volume().await;
    let vfs = &f.vfs;
    let before = vfs.statfs().await.unwrap();
    assert!(before.total_bytes >= before.free_bytes && before.free_inodes > 0);
    let (ino, fh) = create(vfs, ROOT_INO, b"f").await;
    write(vfs, fh, 0, &pattern(1 << 20, 6)).await;
    close(vfs, fh).await;
    let after = vfs.statfs().await.unwrap();
    assert_eq!(after.used_inodes, before.used_inodes + 1);
    assert_eq!(after.free_inodes, before.free_inodes - 1);
    assert!(after.free_bytes + (1 << 20) <= before.free_bytes);
    vfs.unlink(ROOT_INO, b"f").await.unwrap();
    assert_eq!(errno(vfs.getattr(ino).await), libc::ENOENT);
    let gone = vfs.statfs().await.unwrap();
    assert_eq!(gone.used_inodes, before.used_inodes);
    assert_eq!(gone.free_bytes, before.free_bytes);
}

#[tokio::test]
async fn readdir_offsets_stay_put_while_entries_go() {
    let f = volume().await;
    let vfs = &f.vfs;
    let dir = mkdir(vfs, ROOT_INO, b"many").await;
    let count = 300;
    for i in 0..count {
        put(vfs, dir, format!("entry-{i:03}").as_bytes(), b"").await;
    }
    // What `rm -r` does: read a few entries, remove them, read on from the next offset.
    let fh = vfs.opendir(dir).await.unwrap();
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let entries = vfs.readdir(fh, offset).await.unwrap();
        let batch: Vec<_> = entries.iter().skip(offset as usize).take(17).collect();
        if batch.is_empty() {
            break;
        }
        for entry in &batch {
            if entry.name != b"." && entry.name != b".." {
                vfs.unlink(dir, &entry.name).await.unwrap();
                seen.push(entry.name.clone());
            }
        }
        offset += batch.len() as u64;
    }
    vfs.releasedir(fh);
    let want: Vec<Vec<u8>> = (0..count)
        .map(|i| format!("entry-{i:03}").into_bytes())
        .collect();
    assert_eq!(seen, want, "every entry once, in order");
    assert!(names(vfs, dir).await.is_empty());
    vfs.rmdir(ROOT_INO, b"many").await.unwrap();

    // Reading from offset 0 again (rewinddir) lists what is there now.
    let dir = mkdir(vfs, ROOT_INO, b"again").await;
    put(vfs, dir, b"one", b"").await;
    let fh = vfs.opendir(dir).await.unwrap();
    assert_eq!(vfs.readdir(fh, 0).await.unwrap().len(), 3);
    put(vfs, dir, b"two", b"").await;
    assert_eq!(vfs.readdir(fh, 3).await.unwrap().len(), 3, "kept");
    assert_eq!(vfs.readdir(fh, 0).await.unwrap().len(), 4, "read again");
    vfs.releasedir(fh);
}
