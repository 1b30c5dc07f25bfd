//! Directory listings: READDIR and READDIRPLUS fill a buffer of at most the size the kernel asked.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use zerocopy::IntoBytes;

use super::Entry;
use crate::abi;

/// The type of a directory entry, as `d_type` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A named pipe (`DT_FIFO`).
    Fifo,
    /// A character device (`DT_CHR`).
    CharDevice,
    /// A directory (`DT_DIR`).
    Directory,
    /// A block device (`DT_BLK`).
    BlockDevice,
    /// A regular file (`DT_REG`).
    RegularFile,
    /// A symbolic link (`DT_LNK`).
    Symlink,
    /// A unix domain socket (`DT_SOCK`).
    Socket,
}

impl FileType {
    /// The type encoded in the `S_IFMT` bits of a mode; `None` for an unknown type.
    pub fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFREG => FileType::RegularFile,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    fn dirent_type(self) -> u32 {
        u32::from(match self {
            FileType::Fifo => libc::DT_FIFO,
            FileType::CharDevice => libc::DT_CHR,
            FileType::Directory => libc::DT_DIR,
            FileType::BlockDevice => libc::DT_BLK,
            FileType::RegularFile => libc::DT_REG,
            FileType::Symlink => libc::DT_LNK,
            FileType::Socket => libc::DT_SOCK,
        })
    }
}

fn align8(len: usize) -> usize {
    len.div_ceil(8) * 8
}

/// Records of at most `limit` bytes in all, as the kernel asked.
#[derive(Debug)]
struct DirBuf {
    buf: Vec<u8>,
    limit: usize,
}

impl DirBuf {
    fn new(limit: u32) -> Self {
        let limit = limit as usize;
        Self {
            buf: Vec::with_capacity(limit.min(64 * 1024)),
            limit,
        }
    }

    /// Appends a `fuse_dirent` record (after `prefix`, the entry of READDIRPLUS) if it fits.
    fn push(&mut self, prefix: &[u8], ino: u64, offset: u64, kind: FileType, name: &OsStr) -> bool {
        let name = name.as_bytes();
        let head = abi::Dirent {
            ino,
            off: offset,
            namelen: name.len() as u32,
            typ: kind.dirent_type(),
        };
        let record = align8(prefix.len() + size_of::<abi::Dirent>() + name.len());
        if self.buf.len() + record > self.limit {
            return false;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(prefix);
        self.buf.extend_from_slice(head.as_bytes());
        self.buf.extend_from_slice(name);
        self.buf.resize(start + record, 0);
        true
    }
}

/// The buffer a READDIR fills.
#[derive(Debug)]
pub struct DirEntries(DirBuf);

impl DirEntries {
    pub(crate) fn new(limit: u32) -> Self {
        Self(DirBuf::new(limit))
    }

    /// Adds an entry; `offset` is what the kernel passes back to continue after it (never 0).
    /// Returns `false`, adding nothing, once the buffer is full: stop there.
    pub fn push(&mut self, ino: u64, offset: u64, kind: FileType, name: &OsStr) -> bool {
        self.0.push(&[], ino, offset, kind, name)
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0.buf
    }
}

/// The buffer a READDIRPLUS fills: each name comes with its entry, which counts as a lookup.
#[derive(Debug)]
pub struct DirEntriesPlus(DirBuf);

impl DirEntriesPlus {
    pub(crate) fn new(limit: u32) -> Self {
        Self(DirBuf::new(limit))
    }

    /// Adds an entry; returns `false`, adding nothing, once the buffer is full. An entry that was
    /// added counts as a lookup of its inode (the kernel will FORGET it), except "." and "..".
    pub fn push(&mut self, entry: &Entry, offset: u64, name: &OsStr) -> bool {
        let kind = FileType::from_mode(entry.attr.mode).unwrap_or(FileType::RegularFile);
        self.0.push(
            entry.to_abi().as_bytes(),
            entry.attr.ino,
            offset,
            kind,
            name,
        )
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        self.0.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_padded_and_stop_at_the_limit() {
        let mut d = DirEntries::new(64);
        assert!(d.push(5, 1, FileType::RegularFile, OsStr::new("abc")));
        // 24-byte header + 3-byte name, padded to 32.
        assert_eq!(d.0.buf.len(), 32);
        assert!(d.push(6, 2, FileType::Directory, OsStr::new("defgh")));
        assert!(!d.push(7, 3, FileType::Directory, OsStr::new("x")));
        let bytes = d.into_bytes();
        assert_eq!(bytes.len(), 64);
        assert_eq!(&bytes[24..27], b"abc");
        assert_eq!(u32::from_ne_bytes(bytes[16..20].try_into().unwrap()), 3);
        assert_eq!(
            u32::from_ne_bytes(bytes[52..56].try_into().unwrap()),
            u32::from(libc::DT_DIR)
        );
    }

    #[test]
    fn plus_records_carry_the_entry() {
        let mut d = DirEntriesPlus::new(4096);
        let mut entry = Entry::negative(std::time::Duration::from_secs(1));
        entry.attr.ino = 9;
        entry.attr.mode = libc::S_IFLNK | 0o777;
        assert!(d.push(&entry, 1, OsStr::new("link")));
        let bytes = d.into_bytes();
        assert_eq!(bytes.len(), 128 + 24 + 8);
        assert_eq!(u64::from_ne_bytes(bytes[0..8].try_into().unwrap()), 9);
        assert_eq!(
            u32::from_ne_bytes(bytes[148..152].try_into().unwrap()),
            u32::from(libc::DT_LNK)
        );
    }
}
