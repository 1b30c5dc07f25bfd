//! The core without a mount, against a model: random sequences of namespace, data and attribute
//! operations on a few names in a few directories (so renames, links and creates collide),
//! issued through several open handles, each step followed by a comparison of the whole volume
//! (names, inodes, link counts, kinds, modes, times, xattrs, every file's bytes read back
//! through a handle) with a plain in-memory model, and of every failure with the errno POSIX
//! gives. `PROPTEST_CASES` raises the number of sequences tried.

mod common;

use std::collections::BTreeMap;

use datenlord_meta::{
    DIR_SIZE, FileKind, NewInode, RENAME_EXCHANGE, RENAME_NOREPLACE, ROOT_INO, SetAttr, Timespec,
    XATTR_CREATE, XATTR_REPLACE,
};
use datenlord_vfs::{Vfs, VfsConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use common::{BLOCK, ME, fresh};

const NAMES: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b"e"];
const XATTRS: [&[u8]; 3] = [b"user.x", b"user.y", b"user.z"];
/// Directories beyond this many are not created: names must keep colliding.
const MAX_DIRS: usize = 5;
const KEEP: i32 = libc::FALLOC_FL_KEEP_SIZE;
const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE;
const ZERO: i32 = libc::FALLOC_FL_ZERO_RANGE;
/// Bytes asked for per read: not a multiple of the block size, so reads straddle blocks.
const READ_SIZE: u32 = 100_000;

/// A name: any of a directory (`dir` picks among the live directories, in inode order), or
/// one of those in use, so that most operations find what they act on.
#[derive(Debug, Clone, Copy)]
enum At {
    Any { dir: u8, name: u8 },
    Taken(u8),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    ReadWrite,
}

impl Access {
    fn flags(self) -> i32 {
        match self {
            Self::Read => libc::O_RDONLY,
            Self::Write => libc::O_WRONLY,
            Self::ReadWrite => libc::O_RDWR,
        }
    }
}

/// One step. Handles (`h`, `from`, `to` of `Copy`) pick among the open handles, oldest first;
/// a step that needs a handle, or a name the kernel would resolve first, does nothing
/// without one.
#[derive(Debug, Clone, Copy)]
enum Op {
    Create(At, Access),
    Open(At, Access, bool),
    Mkdir(At),
    Symlink(At, u8),
    Write {
        h: u8,
        offset: u64,
        len: u64,
        seed: u8,
    },
    Truncate(At, u64),
    Ftruncate(u8, u64),
    Fallocate {
        h: u8,
        offset: u64,
        len: u64,
        mode: i32,
    },
    Copy {
        from: u8,
        off_in: u64,
        to: u8,
        off_out: u64,
        len: u64,
    },
    Rename(At, At, u32),
    Link(At, At),
    Unlink(At),
    Rmdir(At),
    Chmod(At, u16),
    Utimens(At, Timespec, Timespec),
    SetXattr(At, u8, u8, i32),
    RemoveXattr(At, u8),
    Flush(u8),
    Fsync(u8),
    Close(u8),
}

fn at() -> impl Strategy<Value = At> {
    names(1)
}

/// Where something is created: mostly a name that may be free.
fn new_at() -> impl Strategy<Value = At> {
    names(3)
}

fn names(any_weight: u32) -> impl Strategy<Value = At> {
    prop_oneof![
        any_weight => (0..8u8, 0..NAMES.len() as u8).prop_map(|(dir, name)| At::Any { dir, name }),
        1 => any::<u8>().prop_map(At::Taken),
    ]
}

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![
        1 => Just(Access::Read),
        1 => Just(Access::Write),
        2 => Just(Access::ReadWrite)
    ]
}

/// Offsets near the start, next to block boundaries, or anywhere in a few hundred KiB.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..4096u64,
        (1..6u64, 0..512u64).prop_map(|(k, d)| k * BLOCK - 256 + d),
        0..320u64 << 10,
    ]
}

fn length() -> impl Strategy<Value = u64> {
    prop_oneof![1..512u64, 1..96u64 << 10, Just(BLOCK)]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), offset()]
}

fn time() -> impl Strategy<Value = Timespec> {
    (0..2_000_000_000i64, 0..1_000_000_000u32).prop_map(|(sec, nsec)| Timespec { sec, nsec })
}

fn op() -> impl Strategy<Value = Op> {
    let handle = any::<u8>;
    let fallocate = prop_oneof![
        Just(0),
        Just(KEEP),
        Just(PUNCH | KEEP),
        Just(ZERO),
        Just(ZERO | KEEP),
        Just(PUNCH)
    ];
    let rename_flags = prop_oneof![
        3 => Just(0),
        1 => Just(RENAME_NOREPLACE),
        1 => Just(RENAME_EXCHANGE)
    ];
    let xattr_flags = prop_oneof![Just(0), Just(XATTR_CREATE), Just(XATTR_REPLACE)];
    prop_oneof![
        4 => (new_at(), access()).prop_map(|(a, m)| Op::Create(a, m)),
        3 => (at(), access(), any::<bool>()).prop_map(|(a, m, t)| Op::Open(a, m, t)),
        1 => new_at().prop_map(Op::Mkdir),
        1 => (new_at(), 0..3u8).prop_map(|(a, t)| Op::Symlink(a, t)),
        6 => (handle(), offset(), length(), any::<u8>())
            .prop_map(|(h, offset, len, seed)| Op::Write { h, offset, len, seed }),
        1 => (at(), size()).prop_map(|(a, s)| Op::Truncate(a, s)),
        2 => (handle(), size()).prop_map(|(h, s)| Op::Ftruncate(h, s)),
        2 => (handle(), offset(), length(), fallocate)
            .prop_map(|(h, offset, len, mode)| Op::Fallocate { h, offset, len, mode }),
        2 => (handle(), offset(), handle(), offset(), length()).prop_map(
            |(from, off_in, to, off_out, len)| Op::Copy { from, off_in, to, off_out, len }
        ),
        3 => (at(), new_at(), rename_flags).prop_map(|(a, b, f)| Op::Rename(a, b, f)),
        1 => (at(), new_at()).prop_map(|(a, b)| Op::Link(a, b)),
        2 => at().prop_map(Op::Unlink),
        1 => at().prop_map(Op::Rmdir),
        1 => (at(), 0..0o1000u16).prop_map(|(a, m)| Op::Chmod(a, m)),
        1 => (at(), time(), time()).prop_map(|(a, at, mt)| Op::Utimens(a, at, mt)),
        1 => (at(), 0..XATTRS.len() as u8, any::<u8>(), xattr_flags)
            .prop_map(|(a, n, v, f)| Op::SetXattr(a, n, v, f)),
        1 => (at(), 0..XATTRS.len() as u8).prop_map(|(a, n)| Op::RemoveXattr(a, n)),
        2 => handle().prop_map(Op::Flush),
        1 => handle().prop_map(Op::Fsync),
        2 => handle().prop_map(Op::Close),
    ]
}

/// What one inode should look like. Times are known only while nothing changed them since an
/// explicit utimens (the model does not guess clocks).
#[derive(Debug, Clone)]
struct Node {
    kind: FileKind,
    perm: u16,
    /// A file's bytes, a symlink's target.
    data: Vec<u8>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    atime: Option<Timespec>,
    mtime: Option<Timespec>,
}

impl Node {
    fn new(kind: FileKind, perm: u16, data: Vec<u8>) -> Self {
        Self {
            kind,
            perm,
            data,
            xattrs: BTreeMap::new(),
            atime: None,
            mtime: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Handle {
    fh: u64,
    ino: u64,
    access: Access,
}

#[derive(Debug, Default)]
struct Model {
    nodes: BTreeMap<u64, Node>,
    /// Every directory's entries.
    dirs: BTreeMap<u64, BTreeMap<Vec<u8>, u64>>,
    /// Every directory's parent (the root's is itself).
    parents: BTreeMap<u64, u64>,
    handles: Vec<Handle>,
    /// Inodes that went since the last check, which must be gone from the volume too.
    gone: Vec<u64>,
}

impl Model {
    fn dir(&self, pick: u8) -> u64 {
        let n = usize::from(pick) % self.dirs.len();
        *self.dirs.keys().nth(n).expect("the root always exists")
    }

    fn at(&self, at: At) -> (u64, &'static [u8], Option<u64>) {
        let (dir, name) = match at {
            At::Any { dir, name } => (self.dir(dir), NAMES[usize::from(name)]),
            At::Taken(n) => {
                let taken: Vec<(u64, &'static [u8])> = self
                    .dirs
                    .iter()
                    .flat_map(|(&dir, entries)| {
                        let name = |n: &Vec<u8>| *NAMES.iter().find(|&&s| s == n).unwrap();
                        entries.keys().map(move |n| (dir, name(n)))
                    })
                    .collect();
                match taken.len() {
                    0 => (ROOT_INO, NAMES[usize::from(n) % NAMES.len()]),
                    len => taken[usize::from(n) % len],
                }
            }
        };
        (dir, name, self.dirs[&dir].get(name).copied())
    }

    fn kind(&self, ino: u64) -> FileKind {
        self.nodes[&ino].kind
    }

    fn handle(&self, pick: u8) -> Option<Handle> {
        (!self.handles.is_empty()).then(|| self.handles[usize::from(pick) % self.handles.len()])
    }

    fn names(&self, ino: u64) -> u32 {
        let n = self
            .dirs
            .values()
            .flat_map(|e| e.values())
            .filter(|&&i| i == ino);
        n.count() as u32
    }

    fn nlink(&self, ino: u64) -> u32 {
        match self.dirs.get(&ino) {
            Some(entries) => {
                let subdirs = entries.values().filter(|&&i| self.kind(i) == FileKind::Dir);
                2 + subdirs.count() as u32
            }
            None => self.names(ino),
        }
    }

    /// Whether `dir` is `ancestor` or below it.
    fn within(&self, mut dir: u64, ancestor: u64) -> bool {
        loop {
            if dir == ancestor {
                return true;
            }
            if dir == ROOT_INO {
                return false;
            }
            dir = self.parents[&dir];
        }
    }

    fn add(&mut self, dir: u64, name: &[u8], ino: u64, node: Node) {
        if node.kind == FileKind::Dir {
            self.dirs.insert(ino, BTreeMap::new());
            self.parents.insert(ino, dir);
        }
        self.nodes.insert(ino, node);
        self.link(dir, name, ino);
    }

    fn link(&mut self, dir: u64, name: &[u8], ino: u64) {
        self.dirs.get_mut(&dir).unwrap().insert(name.to_vec(), ino);
        self.changed(dir);
    }

    /// Removes a name; the inode goes with its last name unless a handle holds it.
    fn unlink(&mut self, dir: u64, name: &[u8]) {
        let ino = self.dirs.get_mut(&dir).unwrap().remove(name).unwrap();
        self.changed(dir);
        self.forget_if_unused(ino);
    }

    fn forget_if_unused(&mut self, ino: u64) {
        if self.names(ino) == 0 && !self.handles.iter().any(|h| h.ino == ino) {
            self.nodes.remove(&ino);
            self.dirs.remove(&ino);
            self.parents.remove(&ino);
            self.gone.push(ino);
        }
    }

    fn release(&mut self, fh: u64) {
        let i = self.handles.iter().position(|h| h.fh == fh).unwrap();
        let ino = self.handles.remove(i).ino;
        self.forget_if_unused(ino);
    }

    /// Its contents changed: its mtime is no longer the one set.
    fn changed(&mut self, ino: u64) {
        if let Some(node) = self.nodes.get_mut(&ino) {
            node.mtime = None;
        }
    }

    fn data(&mut self, ino: u64) -> &mut Vec<u8> {
        self.changed(ino);
        &mut self.nodes.get_mut(&ino).unwrap().data
    }
}

/// Never zero (so a hole shows) and of a period that is no power of two (so a shift shows).
fn pattern(seed: u8, len: u64) -> Vec<u8> {
    (0..len)
        .map(|i| ((i % 251) as u8).wrapping_add(seed) | 1)
        .collect()
}

fn write_at(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let (start, end) = (offset as usize, offset as usize + bytes.len());
    if data.len() < end {
        data.resize(end, 0);
    }
    data[start..end].copy_from_slice(bytes);
}

fn zero(data: &mut [u8], start: u64, end: u64) {
    let end = (end as usize).min(data.len());
    if let Some(range) = data.get_mut(start as usize..end) {
        range.fill(0);
    }
}

type Outcome = Result<(), TestCaseError>;

fn ok<T>(what: &str, result: datenlord_vfs::Result<T>) -> Result<T, TestCaseError> {
    result.map_err(|err| TestCaseError::fail(format!("{what}: errno {} ({err})", err.errno())))
}

/// The operation must fail with one of `want`: when several errors apply, POSIX lets any of
/// them be reported.
fn fails<T: std::fmt::Debug>(
    what: &str,
    result: datenlord_vfs::Result<T>,
    want: &[i32],
) -> Outcome {
    match result {
        Ok(value) => Err(TestCaseError::fail(format!(
            "{what}: succeeded with {value:?}, expected errno {want:?}"
        ))),
        Err(err) if want.contains(&err.errno()) => Ok(()),
        Err(err) => Err(TestCaseError::fail(format!(
            "{what}: errno {} ({err}), expected {want:?}",
            err.errno()
        ))),
    }
}

fn config() -> VfsConfig {
    VfsConfig {
        // Small, so that writes take off as background flushes and press on each other.
        buffer_size: 384 << 10,
        flush_size: 128 << 10,
        // Reads leave atime alone: the model knows no clock.
        relatime: false,
        ..VfsConfig::default()
    }
}

async fn step(vfs: &std::sync::Arc<Vfs>, m: &mut Model, op: Op) -> Outcome {
    let what = format!("{op:?}");
    let what = what.as_str();
    match op {
        Op::Create(at, access) => {
            let (dir, name, existing) = m.at(at);
            let flags = access.flags() | libc::O_CREAT | libc::O_EXCL;
            let got = vfs.create(ME, dir, Some(name), 0o666, 0o022, flags).await;
            if existing.is_some() {
                return fails(what, got, &[libc::EEXIST]);
            }
            let (ino, _, fh) = ok(what, got)?;
            m.add(dir, name, ino, Node::new(FileKind::File, 0o644, Vec::new()));
            m.handles.push(Handle { fh, ino, access });
        }
        Op::Open(at, access, truncate) => {
            let (dir, name, Some(ino)) = m.at(at) else {
                return Ok(());
            };
            if m.kind(ino) != FileKind::File {
                return Ok(());
            }
            let (found, _) = ok(what, vfs.lookup(dir, name).await)?;
            prop_assert_eq!(found, ino, "{}: lookup", what);
            // O_TRUNC without write access is left unspecified by POSIX.
            let truncate = truncate && access != Access::Read;
            let flags = access.flags() | if truncate { libc::O_TRUNC } else { 0 };
            let (fh, _) = ok(what, vfs.open(ME, ino, flags).await)?;
            if truncate {
                m.data(ino).clear();
            }
            m.handles.push(Handle { fh, ino, access });
        }
        Op::Mkdir(at) => {
            let (dir, name, existing) = m.at(at);
            if existing.is_none() && m.dirs.len() >= MAX_DIRS {
                return Ok(());
            }
            let new = NewInode {
                kind: FileKind::Dir,
                perm: 0o777,
                umask: 0o022,
                rdev: 0,
                target: None,
            };
            let got = vfs.mknod(ME, dir, name, new).await;
            if existing.is_some() {
                return fails(what, got, &[libc::EEXIST]);
            }
            let (ino, _) = ok(what, got)?;
            m.add(dir, name, ino, Node::new(FileKind::Dir, 0o755, Vec::new()));
        }
        Op::Symlink(at, t) => {
            let (dir, name, existing) = m.at(at);
            let target = format!("../target-{t}").into_bytes();
            let new = NewInode {
                kind: FileKind::Symlink,
                perm: 0o777,
                umask: 0,
                rdev: 0,
                target: Some(&target),
            };
            let got = vfs.mknod(ME, dir, name, new).await;
            if existing.is_some() {
                return fails(what, got, &[libc::EEXIST]);
            }
            let (ino, _) = ok(what, got)?;
            m.add(dir, name, ino, Node::new(FileKind::Symlink, 0o777, target));
        }
        Op::Write {
            h,
            offset,
            len,
            seed,
        } => {
            let Some(h) = m.handle(h) else {
                return Ok(());
            };
            let bytes = pattern(seed, len);
            let got = vfs.write(h.fh, offset, &bytes, false).await;
            if h.access == Access::Read {
                return fails(what, got, &[libc::EBADF]);
            }
            prop_assert_eq!(ok(what, got)?, len as u32, "{}: bytes written", what);
            write_at(m.data(h.ino), offset, &bytes);
        }
        Op::Truncate(at, size) => {
            // truncate(2) follows symlinks (the kernel resolves them first).
            let Some(ino) = attributed(m, at) else {
                return Ok(());
            };
            let got = vfs.setattr(ME, ino, Some(size), SetAttr::default()).await;
            if m.kind(ino) == FileKind::Dir {
                return fails(what, got, &[libc::EISDIR]);
            }
            ok(what, got)?;
            m.data(ino).resize(size as usize, 0);
        }
        Op::Ftruncate(h, size) => {
            // ftruncate of a descriptor not open for writing is refused by the kernel.
            let Some(h) = m.handle(h).filter(|h| h.access != Access::Read) else {
                return Ok(());
            };
            ok(
                what,
                vfs.setattr(ME, h.ino, Some(size), SetAttr::default()).await,
            )?;
            m.data(h.ino).resize(size as usize, 0);
        }
        Op::Fallocate {
            h,
            offset,
            len,
            mode,
        } => {
            let Some(h) = m.handle(h) else {
                return Ok(());
            };
            let got = vfs.fallocate(h.fh, offset, len, mode).await;
            let mut errors = Vec::new();
            if mode & PUNCH != 0 && mode & KEEP == 0 {
                errors.push(libc::EOPNOTSUPP);
            }
            if h.access == Access::Read {
                errors.push(libc::EBADF);
            }
            if !errors.is_empty() {
                return fails(what, got, &errors);
            }
            ok(what, got)?;
            let end = offset + len;
            let data = m.data(h.ino);
            if mode & KEEP == 0 && end as usize > data.len() {
                data.resize(end as usize, 0);
            }
            if mode & (PUNCH | ZERO) != 0 {
                zero(data, offset, end);
            }
        }
        Op::Copy {
            from,
            off_in,
            to,
            off_out,
            len,
        } => {
            let (Some(src), Some(dst)) = (m.handle(from), m.handle(to)) else {
                return Ok(());
            };
            // The kernel shortens the copy to the source's end before the filesystem sees
            // it, and answers an empty one itself.
            let size_in = m.nodes[&src.ino].data.len() as u64;
            let count = len.min(size_in.saturating_sub(off_in));
            let mut errors = Vec::new();
            if src.access == Access::Write || dst.access == Access::Read {
                errors.push(libc::EBADF);
            }
            if errors.is_empty() && count == 0 {
                return Ok(());
            }
            let got = vfs
                .copy_file_range(src.fh, off_in, dst.fh, off_out, count)
                .await;
            if src.ino == dst.ino && off_out + count > off_in && off_out < off_in + count {
                errors.push(libc::EINVAL);
            }
            if !errors.is_empty() {
                return fails(what, got, &errors);
            }
            prop_assert_eq!(ok(what, got)?, count, "{}: bytes copied", what);
            let bytes = m.nodes[&src.ino].data[off_in as usize..(off_in + count) as usize].to_vec();
            write_at(m.data(dst.ino), off_out, &bytes);
        }
        Op::Rename(from, to, flags) => return rename(vfs, m, what, from, to, flags).await,
        Op::Link(from, to) => {
            let (_, _, Some(ino)) = m.at(from) else {
                return Ok(());
            };
            let (dir, name, existing) = m.at(to);
            let got = vfs.link(ino, dir, name).await;
            let mut errors = Vec::new();
            if existing.is_some() {
                errors.push(libc::EEXIST);
            }
            if m.kind(ino) == FileKind::Dir {
                errors.push(libc::EPERM);
            }
            if !errors.is_empty() {
                return fails(what, got, &errors);
            }
            ok(what, got)?;
            m.link(dir, name, ino);
        }
        Op::Unlink(at) => {
            let (dir, name, existing) = m.at(at);
            let got = vfs.unlink(dir, name).await;
            match existing {
                None => return fails(what, got, &[libc::ENOENT]),
                Some(ino) if m.kind(ino) == FileKind::Dir => {
                    return fails(what, got, &[libc::EISDIR]);
                }
                Some(_) => {
                    ok(what, got)?;
                    m.unlink(dir, name);
                }
            }
        }
        Op::Rmdir(at) => {
            let (dir, name, existing) = m.at(at);
            let got = vfs.rmdir(dir, name).await;
            match existing {
                None => return fails(what, got, &[libc::ENOENT]),
                Some(ino) if m.kind(ino) != FileKind::Dir => {
                    return fails(what, got, &[libc::ENOTDIR]);
                }
                Some(ino) if !m.dirs[&ino].is_empty() => {
                    return fails(what, got, &[libc::ENOTEMPTY]);
                }
                Some(_) => {
                    ok(what, got)?;
                    m.unlink(dir, name);
                }
            }
        }
        Op::Chmod(at, mode) => {
            // chmod follows symlinks (the kernel resolves them first).
            let Some(ino) = attributed(m, at) else {
                return Ok(());
            };
            let set = SetAttr {
                mode: Some(u32::from(mode)),
                ..SetAttr::default()
            };
            ok(what, vfs.setattr(ME, ino, None, set).await)?;
            m.nodes.get_mut(&ino).unwrap().perm = mode;
        }
        Op::Utimens(at, atime, mtime) => {
            let Some(ino) = attributed(m, at) else {
                return Ok(());
            };
            let set = SetAttr {
                atime: Some(atime),
                mtime: Some(mtime),
                ..SetAttr::default()
            };
            ok(what, vfs.setattr(ME, ino, None, set).await)?;
            let node = m.nodes.get_mut(&ino).unwrap();
            (node.atime, node.mtime) = (Some(atime), Some(mtime));
        }
        Op::SetXattr(at, n, v, flags) => {
            let Some(ino) = attributed(m, at) else {
                return Ok(());
            };
            let name = XATTRS[usize::from(n)];
            let value = vec![v; usize::from(v % 7)];
            let got = vfs.setxattr(ino, name, &value, flags, false).await;
            let xattrs = &mut m.nodes.get_mut(&ino).unwrap().xattrs;
            let exists = xattrs.contains_key(name);
            if flags == XATTR_CREATE && exists {
                return fails(what, got, &[libc::EEXIST]);
            }
            if flags == XATTR_REPLACE && !exists {
                return fails(what, got, &[libc::ENODATA]);
            }
            ok(what, got)?;
            xattrs.insert(name.to_vec(), value);
        }
        Op::RemoveXattr(at, n) => {
            let Some(ino) = attributed(m, at) else {
                return Ok(());
            };
            let name = XATTRS[usize::from(n)];
            let got = vfs.removexattr(ino, name).await;
            if m.nodes.get_mut(&ino).unwrap().xattrs.remove(name).is_none() {
                return fails(what, got, &[libc::ENODATA]);
            }
            ok(what, got)?;
        }
        Op::Flush(h) => {
            if let Some(h) = m.handle(h) {
                ok(what, vfs.flush_handle(h.fh, Some(h.fh)).await)?;
            }
        }
        Op::Fsync(h) => {
            if let Some(h) = m.handle(h) {
                ok(what, vfs.fsync(h.fh).await)?;
            }
        }
        Op::Close(h) => {
            if let Some(h) = m.handle(h) {
                close(vfs, m, h).await?;
            }
        }
    }
    Ok(())
}

/// The inode at `at` if it is a file or a directory: symlinks are followed by the kernel
/// before attributes or xattrs (`user.*`) reach them.
fn attributed(m: &Model, at: At) -> Option<u64> {
    let (_, _, ino) = m.at(at);
    ino.filter(|&ino| m.kind(ino) != FileKind::Symlink)
}

/// close(2) of the last descriptor: FLUSH, then RELEASE.
async fn close(vfs: &Vfs, m: &mut Model, h: Handle) -> Outcome {
    ok("close", vfs.flush_handle(h.fh, Some(h.fh)).await)?;
    vfs.release(h.fh, None).await;
    m.release(h.fh);
    Ok(())
}

async fn rename(vfs: &Vfs, m: &mut Model, what: &str, from: At, to: At, flags: u32) -> Outcome {
    let (sdir, sname, src) = m.at(from);
    let (ddir, dname, dst) = m.at(to);
    let got = vfs.rename(sdir, sname, ddir, dname, flags).await;
    let Some(src) = src else {
        return fails(what, got, &[libc::ENOENT]);
    };
    if (sdir, sname) == (ddir, dname) {
        // A name onto itself changes nothing; NOREPLACE finds the target taken.
        return match flags {
            RENAME_NOREPLACE => fails(what, got, &[libc::EEXIST]),
            _ => ok(what, got).map(|_| ()),
        };
    }
    let exchange = flags == RENAME_EXCHANGE;
    if flags == RENAME_NOREPLACE && dst.is_some() {
        return fails(what, got, &[libc::EEXIST]);
    }
    if exchange && dst.is_none() {
        return fails(what, got, &[libc::ENOENT]);
    }
    let mut errors = Vec::new();
    let src_is_dir = m.kind(src) == FileKind::Dir;
    if src_is_dir && m.within(ddir, src) {
        errors.push(libc::EINVAL);
    }
    if let Some(dst) = dst.filter(|&d| d != src) {
        let dst_is_dir = m.kind(dst) == FileKind::Dir;
        if exchange {
            if dst_is_dir && m.within(sdir, dst) {
                errors.push(libc::EINVAL);
            }
        } else if src_is_dir && !dst_is_dir {
            errors.push(libc::ENOTDIR);
        } else if !src_is_dir && dst_is_dir {
            errors.push(libc::EISDIR);
        } else if dst_is_dir && !m.dirs[&dst].is_empty() {
            errors.push(libc::ENOTEMPTY);
        }
    }
    if !errors.is_empty() {
        return fails(what, got, &errors);
    }
    ok(what, got)?;
    // A name onto another name of the same inode changes nothing.
    if dst == Some(src) {
        return Ok(());
    }
    if exchange {
        let dst = dst.unwrap();
        m.dirs.get_mut(&sdir).unwrap().insert(sname.to_vec(), dst);
        m.dirs.get_mut(&ddir).unwrap().insert(dname.to_vec(), src);
        if m.kind(dst) == FileKind::Dir {
            m.parents.insert(dst, sdir);
        }
    } else {
        m.dirs.get_mut(&sdir).unwrap().remove(sname);
        if dst.is_some() {
            m.unlink(ddir, dname);
        }
        m.dirs.get_mut(&ddir).unwrap().insert(dname.to_vec(), src);
    }
    if src_is_dir {
        m.parents.insert(src, ddir);
    }
    m.changed(sdir);
    m.changed(ddir);
    Ok(())
}

/// The whole volume against the model.
async fn check(vfs: &Vfs, m: &mut Model, inodes_before: u64) -> Outcome {
    for (&dir, entries) in &m.dirs {
        let fh = ok("opendir", vfs.opendir(dir).await)?;
        let listed = vfs.readdir(fh, 0).await;
        vfs.releasedir(fh);
        let listed = ok("readdir", listed)?;
        prop_assert_eq!(&listed[0].name, b".");
        prop_assert_eq!(listed[0].ino, dir);
        prop_assert_eq!(&listed[1].name, b"..");
        prop_assert_eq!(listed[1].ino, m.parents[&dir], "the parent of {}", dir);
        let got: Vec<_> = listed[2..]
            .iter()
            .map(|e| (e.name.clone(), e.ino, e.kind))
            .collect();
        let want: Vec<_> = entries
            .iter()
            .map(|(name, &ino)| (name.clone(), ino, m.kind(ino)))
            .collect();
        prop_assert_eq!(got, want, "the entries of directory {}", dir);
        for (name, &ino) in entries {
            let (found, _) = ok("lookup", vfs.lookup(dir, name).await)?;
            prop_assert_eq!(found, ino, "lookup of {:?} in {}", name, dir);
        }
    }
    for (&ino, node) in &m.nodes {
        let attr = ok("getattr", vfs.getattr(ino).await)?;
        prop_assert_eq!(attr.kind, node.kind, "kind of {}", ino);
        prop_assert_eq!(attr.perm, node.perm, "mode of {}", ino);
        prop_assert_eq!(attr.nlink, m.nlink(ino), "nlink of {}", ino);
        if let Some(atime) = node.atime {
            prop_assert_eq!(attr.atime, atime, "atime of {}", ino);
        }
        if let Some(mtime) = node.mtime {
            prop_assert_eq!(attr.mtime, mtime, "mtime of {}", ino);
        }
        match node.kind {
            FileKind::File => {
                prop_assert_eq!(attr.size, node.data.len() as u64, "size of {}", ino);
                let handle = m.handles.iter().rev().find(|h| h.ino == ino);
                let read = contents(vfs, ino, handle.map(|h| h.fh)).await?;
                if let Some(at) = (0..node.data.len()).find(|&i| read.get(i) != node.data.get(i)) {
                    return Err(TestCaseError::fail(format!(
                        "file {ino} differs first at byte {at}: read {:?}, expected {:?}",
                        read.get(at),
                        node.data[at]
                    )));
                }
                prop_assert_eq!(read.len(), node.data.len(), "bytes read of {}", ino);
            }
            FileKind::Symlink => {
                prop_assert_eq!(attr.size, node.data.len() as u64);
                prop_assert_eq!(ok("readlink", vfs.readlink(ino).await)?, node.data.clone());
            }
            _ => prop_assert_eq!(attr.size, DIR_SIZE),
        }
        let listed = ok("listxattr", vfs.listxattr(ino).await)?;
        let names: Vec<&[u8]> = listed
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .collect();
        let want: Vec<&[u8]> = node.xattrs.keys().map(Vec::as_slice).collect();
        prop_assert_eq!(names, want, "xattrs of {}", ino);
        for (name, value) in &node.xattrs {
            prop_assert_eq!(&ok("getxattr", vfs.getxattr(ino, name).await)?, value);
        }
    }
    for ino in m.gone.drain(..) {
        fails(
            "getattr of a removed inode",
            vfs.getattr(ino).await,
            &[libc::ENOENT],
        )?;
    }
    let used = ok("statfs", vfs.statfs().await)?.used_inodes;
    prop_assert_eq!(used, inodes_before + m.nodes.len() as u64, "inodes in use");
    Ok(())
}

/// A file's bytes through `fh`, or through a handle opened for the purpose.
async fn contents(vfs: &Vfs, ino: u64, fh: Option<u64>) -> Result<Vec<u8>, TestCaseError> {
    let own = match fh {
        Some(_) => None,
        None => Some(ok("open to read", vfs.open(ME, ino, libc::O_RDONLY).await)?.0),
    };
    let fh = fh.or(own).unwrap();
    let mut out = Vec::new();
    let result = loop {
        match vfs.read(fh, out.len() as u64, READ_SIZE).await {
            Ok(bytes) if bytes.is_empty() => break Ok(out),
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(err) => break ok("read", Err(err)),
        }
    };
    if let Some(own) = own {
        vfs.release(own, None).await;
    }
    result
}

async fn run(ops: &[Op]) -> Outcome {
    let fresh = fresh(config()).await;
    let vfs = &fresh.vfs;
    let root = ok("getattr of the root", vfs.getattr(ROOT_INO).await)?;
    let mut m = Model::default();
    m.nodes
        .insert(ROOT_INO, Node::new(FileKind::Dir, root.perm, Vec::new()));
    m.dirs.insert(ROOT_INO, BTreeMap::new());
    m.parents.insert(ROOT_INO, ROOT_INO);
    let inodes_before = ok("statfs", vfs.statfs().await)?.used_inodes - 1;
    // Two directories named like the files, so that files and directories collide, and a
    // file of two blocks to rename, link and copy from, open for writing and for reading.
    let setup = [
        Op::Mkdir(At::Any { dir: 0, name: 0 }),
        Op::Mkdir(At::Any { dir: 0, name: 1 }),
        Op::Create(At::Any { dir: 0, name: 2 }, Access::ReadWrite),
        Op::Write {
            h: 0,
            offset: 0,
            len: BLOCK + 5000,
            seed: 0,
        },
        Op::Open(At::Any { dir: 0, name: 2 }, Access::Read, false),
    ];
    for op in setup {
        step(vfs, &mut m, op).await?;
    }
    for (i, &op) in ops.iter().enumerate() {
        step(vfs, &mut m, op).await?;
        check(vfs, &mut m, inodes_before)
            .await
            .map_err(|err| TestCaseError::fail(format!("after step {i} ({op:?}): {err}")))?;
    }
    while let Some(&h) = m.handles.last() {
        close(vfs, &mut m, h).await?;
    }
    check(vfs, &mut m, inodes_before).await?;
    ok("deleting unreferenced objects", vfs.delete_doomed().await)?;
    let report = ok(
        "fsck",
        datenlord_vfs::fsck(vfs.meta(), vfs.store(), false).await,
    )?;
    prop_assert!(report.is_clean(), "fsck: {:?}", report);
    Ok(())
}

#[test]
fn the_volume_behaves_like_the_model() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // A failure found is worth minutes of shrinking, not hours.
        max_shrink_time: 300_000,
        ..Config::default()
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ops = prop::collection::vec(op(), 1..=40);
    if let Err(err) = runner.run(&ops, |ops| runtime.block_on(run(&ops))) {
        panic!("{err}");
    }
}
