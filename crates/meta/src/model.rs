//! The records of the data model and their byte encodings. Every encoding starts with a version
//! byte (or has a fixed record size), so a newer release can read what an older one wrote.

use crate::error::{MetaError, Result};

/// Bytes in one chunk: a file is cut into chunks, each with its own list of slices.
pub const CHUNK_SIZE: u64 = 64 << 20;

/// The largest file: chunk indexes are 32-bit.
pub const MAX_FILE_SIZE: u64 = CHUNK_SIZE << 32;

/// The inode of the root directory.
pub const ROOT_INO: u64 = 1;

/// What an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file (`S_IFREG`): its data lives in chunks.
    File,
    /// A directory (`S_IFDIR`).
    Dir,
    /// A symbolic link (`S_IFLNK`): its target is stored under `"S" ino`.
    Symlink,
    /// A named pipe (`S_IFIFO`).
    Fifo,
    /// A unix socket (`S_IFSOCK`).
    Socket,
    /// A character device (`S_IFCHR`), numbered by `rdev`.
    CharDevice,
    /// A block device (`S_IFBLK`), numbered by `rdev`.
    BlockDevice,
}

impl FileKind {
    fn to_byte(self) -> u8 {
        match self {
            Self::File => 1,
            Self::Dir => 2,
            Self::Symlink => 3,
            Self::Fifo => 4,
            Self::Socket => 5,
            Self::CharDevice => 6,
            Self::BlockDevice => 7,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        Some(match byte {
            1 => Self::File,
            2 => Self::Dir,
            3 => Self::Symlink,
            4 => Self::Fifo,
            5 => Self::Socket,
            6 => Self::CharDevice,
            7 => Self::BlockDevice,
            _ => return None,
        })
    }

    /// The `S_IF*` bits of this kind.
    pub fn mode_bits(self) -> u32 {
        match self {
            Self::File => libc::S_IFREG,
            Self::Dir => libc::S_IFDIR,
            Self::Symlink => libc::S_IFLNK,
            Self::Fifo => libc::S_IFIFO,
            Self::Socket => libc::S_IFSOCK,
            Self::CharDevice => libc::S_IFCHR,
            Self::BlockDevice => libc::S_IFBLK,
        }
    }

    /// The kind named by the `S_IF*` bits of `mode`.
    pub fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFREG => Self::File,
            libc::S_IFDIR => Self::Dir,
            libc::S_IFLNK => Self::Symlink,
            libc::S_IFIFO => Self::Fifo,
            libc::S_IFSOCK => Self::Socket,
            libc::S_IFCHR => Self::CharDevice,
            libc::S_IFBLK => Self::BlockDevice,
            _ => return None,
        })
    }
}

/// A point in time: seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timespec {
    /// Whole seconds since the epoch; negative before it.
    pub sec: i64,
    /// Nanoseconds past `sec`, below 1 000 000 000 (also before the epoch: -0.5 s is
    /// `sec: -1, nsec: 500_000_000`).
    pub nsec: u32,
}

impl Timespec {
    /// The current time.
    pub fn now() -> Self {
        Self::from(std::time::SystemTime::now())
    }

    /// The stored form: seconds (i64) and nanoseconds (u32), big-endian.
    pub(crate) fn encode(&self) -> [u8; 12] {
        let mut out = [0; 12];
        out[..8].copy_from_slice(&self.sec.to_be_bytes());
        out[8..].copy_from_slice(&self.nsec.to_be_bytes());
        out
    }

    /// Reads [`Timespec::encode`]'s form.
    pub(crate) fn decode(bytes: &[u8], what: &'static str) -> Result<Self> {
        let time = Reader::new(bytes, what).time()?;
        if time.nsec >= 1_000_000_000 || bytes.len() != 12 {
            return Err(MetaError::Corrupt(format!("{what}: not a time")));
        }
        Ok(time)
    }
}

impl From<std::time::SystemTime> for Timespec {
    fn from(time: std::time::SystemTime) -> Self {
        match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => Self {
                sec: i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
                nsec: after.subsec_nanos(),
            },
            Err(before) => {
                let before = before.duration();
                let sec = -i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
                match before.subsec_nanos() {
                    0 => Self { sec, nsec: 0 },
                    nanos => Self {
                        sec: sec - 1,
                        nsec: 1_000_000_000 - nanos,
                    },
                }
            }
        }
    }
}

impl From<Timespec> for std::time::SystemTime {
    fn from(time: Timespec) -> Self {
        let nanos = std::time::Duration::from_nanos(u64::from(time.nsec));
        if time.sec >= 0 {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.sec.unsigned_abs()) + nanos
        } else {
            std::time::UNIX_EPOCH - std::time::Duration::from_secs(time.sec.unsigned_abs()) + nanos
        }
    }
}

/// The attributes of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// What the inode is.
    pub kind: FileKind,
    /// Permission bits with set-user-id, set-group-id and sticky (`0o7777`).
    pub perm: u16,
    /// Owning user.
    pub uid: u32,
    /// Owning group.
    pub gid: u32,
    /// Hard links: names of a file, 2 + subdirectories for a directory; 0 for an open file
    /// without names (unlinked, or O_TMPFILE).
    pub nlink: u32,
    /// Length in bytes (a symbolic link: its target's; a directory: [`DIR_SIZE`](crate::DIR_SIZE)).
    pub size: u64,
    /// Device number of a character or block device; 0 for other kinds.
    pub rdev: u32,
    /// Last access.
    pub atime: Timespec,
    /// Last change of the contents (data, or a directory's entries).
    pub mtime: Timespec,
    /// Last change of the inode (contents, attributes, names, xattrs).
    pub ctime: Timespec,
    /// The directory holding a directory (its ".."); for other kinds the first parent.
    pub parent: u64,
    /// The directory quota this inode is charged to (0: none). A directory names the quota
    /// of what it holds: its own, when it has one (then it is itself charged to that quota's
    /// enclosing one), else the one it is charged to.
    pub quota: u64,
    /// Its last name went to the trash: the trash's entry is one of its `nlink` links, but not
    /// one a program counts ([`Attr::visible_nlink`]).
    pub trashed: bool,
}

const ATTR_VERSION: u8 = 3;
const ATTR_LEN: usize = 1 + 1 + 2 + 4 * 3 + 8 + 4 + 12 * 3 + 8 + 8 + 1;
/// The flag byte's bit for [`Attr::trashed`].
const FLAG_TRASHED: u8 = 1;

impl Attr {
    /// The full `st_mode`.
    pub fn mode(&self) -> u32 {
        self.kind.mode_bits() | u32::from(self.perm)
    }

    /// A directory the volume makes for itself (its root, reserved directories, the trash's
    /// hours): root's, with permissions `perm`, empty, under `parent`.
    pub(crate) fn system_dir(perm: u16, parent: u64, now: Timespec) -> Self {
        Self {
            kind: FileKind::Dir,
            perm,
            uid: 0,
            gid: 0,
            nlink: 2,
            size: crate::namespace::DIR_SIZE,
            rdev: 0,
            atime: now,
            mtime: now,
            ctime: now,
            parent,
            quota: 0,
            trashed: false,
        }
    }

    /// The link count programs see: a file whose last name went to the trash has none.
    pub fn visible_nlink(&self) -> u32 {
        self.nlink.saturating_sub(u32::from(self.trashed))
    }

    /// The stored record: a version byte, then the fields in order, big-endian, the flags
    /// last (81 bytes; version 1, without the quota, and 2, without the flags, are read too).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ATTR_LEN);
        out.push(ATTR_VERSION);
        out.push(self.kind.to_byte());
        out.extend_from_slice(&self.perm.to_be_bytes());
        out.extend_from_slice(&self.uid.to_be_bytes());
        out.extend_from_slice(&self.gid.to_be_bytes());
        out.extend_from_slice(&self.nlink.to_be_bytes());
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.rdev.to_be_bytes());
        for time in [self.atime, self.mtime, self.ctime] {
            out.extend_from_slice(&time.encode());
        }
        out.extend_from_slice(&self.parent.to_be_bytes());
        out.extend_from_slice(&self.quota.to_be_bytes());
        out.push(if self.trashed { FLAG_TRASHED } else { 0 });
        out
    }

    /// Reads a stored record; [`MetaError::Corrupt`] when truncated, of another version or of
    /// an unknown kind.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "inode attributes");
        let version = r.u8()?;
        if !(1..=ATTR_VERSION).contains(&version) {
            return Err(MetaError::Corrupt(format!(
                "inode attributes of version {version} (this release reads {ATTR_VERSION})"
            )));
        }
        let kind = FileKind::from_byte(r.u8()?)
            .ok_or_else(|| MetaError::Corrupt("unknown inode kind".into()))?;
        let perm = u16::from_be_bytes(r.array()?);
        let uid = r.u32()?;
        let gid = r.u32()?;
        let nlink = r.u32()?;
        let size = r.u64()?;
        let rdev = r.u32()?;
        let mut times = [Timespec::default(); 3];
        for time in &mut times {
            *time = r.time()?;
        }
        let parent = r.u64()?;
        let quota = if version == 1 { 0 } else { r.u64()? };
        let flags = if version < 3 { 0 } else { r.u8()? };
        Ok(Self {
            kind,
            perm,
            uid,
            gid,
            nlink,
            size,
            rdev,
            atime: times[0],
            mtime: times[1],
            ctime: times[2],
            parent,
            quota,
            trashed: flags & FLAG_TRASHED != 0,
        })
    }
}

/// A directory entry's value: what the name points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dirent {
    /// The kind of the inode (as readdir reports it without reading the inode).
    pub kind: FileKind,
    /// The inode the name points at.
    pub ino: u64,
}

impl Dirent {
    /// The stored value: the kind (one byte), then the inode (u64).
    pub fn encode(&self) -> [u8; 9] {
        let mut out = [0; 9];
        out[0] = self.kind.to_byte();
        out[1..].copy_from_slice(&self.ino.to_be_bytes());
        out
    }

    /// Reads a stored value; [`MetaError::Corrupt`] when truncated or of an unknown kind.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "directory entry");
        let kind = FileKind::from_byte(r.u8()?)
            .ok_or_else(|| MetaError::Corrupt("unknown entry kind".into()))?;
        Ok(Self {
            kind,
            ino: r.u64()?,
        })
    }
}

/// A run of bytes in a chunk and where they live: `len` bytes at `pos` in the chunk are the
/// bytes at `offset` in object `object`. Object 0 is a hole (zeros). Objects are immutable;
/// several slices (of one file or many) may point into one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Where the bytes start, in bytes from the start of the chunk.
    pub pos: u32,
    /// How many bytes.
    pub len: u32,
    /// The object holding them; 0: a hole.
    pub object: u64,
    /// Where they start in the object, in bytes (0 for a hole).
    pub offset: u64,
}

/// Encoded size of one slice in a chunk record.
pub const SLICE_LEN: usize = 4 + 4 + 8 + 8;

impl Slice {
    /// `len` bytes of zeros at `pos`.
    pub fn hole(pos: u32, len: u32) -> Self {
        Self {
            pos,
            len,
            object: 0,
            offset: 0,
        }
    }

    /// Whether it reads as zeros (object 0).
    pub fn is_hole(&self) -> bool {
        self.object == 0
    }

    /// One past the last byte, as a position in the chunk.
    pub fn end(&self) -> u64 {
        u64::from(self.pos) + u64::from(self.len)
    }

    /// Appends its [`SLICE_LEN`] bytes to a chunk record: `pos`, `len`, `object`, `offset`,
    /// big-endian.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.pos.to_be_bytes());
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.object.to_be_bytes());
        out.extend_from_slice(&self.offset.to_be_bytes());
    }

    /// Decodes a whole chunk record.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Self>> {
        if !bytes.len().is_multiple_of(SLICE_LEN) {
            return Err(MetaError::Corrupt(format!(
                "chunk record of {} bytes is not a whole number of slices",
                bytes.len()
            )));
        }
        bytes
            .chunks_exact(SLICE_LEN)
            .map(|one| {
                let mut r = Reader::new(one, "slice");
                Ok(Self {
                    pos: r.u32()?,
                    len: r.u32()?,
                    object: r.u64()?,
                    offset: r.u64()?,
                })
            })
            .collect()
    }
}

/// A directory quota: its limits, the quota enclosing it, and what the tree under it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Quota {
    /// Bytes the tree may use (whole 4 KiB blocks per file); 0: no limit.
    pub capacity: u64,
    /// Inodes the tree may hold (the directory itself not counted); 0: no limit.
    pub inodes: u64,
    /// The nearest enclosing directory with a quota (0: none), whose limits apply too.
    pub parent: u64,
    /// Bytes charged to the quota now.
    pub used_space: i64,
    /// Inodes charged to the quota now.
    pub used_inodes: i64,
    /// Whether every inode of the tree is charged to it: until then (a quota set on a full
    /// directory charges what is there in batches) its limits are not enforced.
    pub ready: bool,
}

const QUOTA_VERSION: u8 = 1;

impl Quota {
    /// The stored record: a version byte, the fields in order (big-endian), a flags byte.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(42);
        out.push(QUOTA_VERSION);
        out.extend_from_slice(&self.capacity.to_be_bytes());
        out.extend_from_slice(&self.inodes.to_be_bytes());
        out.extend_from_slice(&self.parent.to_be_bytes());
        out.extend_from_slice(&self.used_space.to_be_bytes());
        out.extend_from_slice(&self.used_inodes.to_be_bytes());
        out.push(u8::from(self.ready));
        out
    }

    /// Reads a stored record; [`MetaError::Corrupt`] when truncated or of another version.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes, "directory quota");
        let version = r.u8()?;
        if version != QUOTA_VERSION {
            return Err(MetaError::Corrupt(format!(
                "directory quota of version {version} (this release reads {QUOTA_VERSION})"
            )));
        }
        Ok(Self {
            capacity: r.u64()?,
            inodes: r.u64()?,
            parent: r.u64()?,
            used_space: i64::from_be_bytes(r.array()?),
            used_inodes: i64::from_be_bytes(r.array()?),
            ready: r.u8()? & 1 != 0,
        })
    }

    /// Whether adding `space` bytes and `inodes` inodes passes a limit (only increases can).
    pub fn exceeded_by(&self, space: i64, inodes: i64) -> bool {
        let past = |used: i64, delta: i64, limit: u64| {
            delta > 0 && limit > 0 && i128::from(used) + i128::from(delta) > i128::from(limit)
        };
        self.ready
            && (past(self.used_space, space, self.capacity)
                || past(self.used_inodes, inodes, self.inodes))
    }
}

/// Encodes a u64 counter or reference count.
pub fn encode_u64(value: u64) -> [u8; 8] {
    value.to_be_bytes()
}

/// Reads a u64 counter, reference count or size; [`MetaError::Corrupt`] naming `what` when
/// shorter than 8 bytes.
pub fn decode_u64(bytes: &[u8], what: &'static str) -> Result<u64> {
    Reader::new(bytes, what).u64()
}

/// A bounds-checked cursor over a stored value.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Self { bytes, what }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        match self.bytes.split_first_chunk::<N>() {
            Some((head, rest)) => {
                self.bytes = rest;
                Ok(*head)
            }
            None => Err(MetaError::Corrupt(format!("truncated {}", self.what))),
        }
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn time(&mut self) -> Result<Timespec> {
        Ok(Timespec {
            sec: i64::from_be_bytes(self.array()?),
            nsec: self.u32()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_round_trips() {
        let attr = Attr {
            kind: FileKind::CharDevice,
            perm: 0o4755,
            uid: 1000,
            gid: 100,
            nlink: 3,
            size: u64::MAX,
            rdev: 0x0103,
            atime: Timespec { sec: -5, nsec: 7 },
            mtime: Timespec {
                sec: 1,
                nsec: 999_999_999,
            },
            ctime: Timespec::now(),
            parent: 42,
            quota: 9,
            trashed: true,
        };
        let bytes = attr.encode();
        assert_eq!(bytes.len(), ATTR_LEN);
        assert_eq!(Attr::decode(&bytes).unwrap(), attr);
        assert_eq!(attr.visible_nlink(), 2);
        assert!(Attr::decode(&bytes[..10]).is_err());
        // A record of version 2 has no flags, one of version 1 no quota either.
        let mut old = bytes[..ATTR_LEN - 1].to_vec();
        old[0] = 2;
        let untrashed = Attr {
            trashed: false,
            ..attr
        };
        assert_eq!(Attr::decode(&old).unwrap(), untrashed);
        old.truncate(ATTR_LEN - 9);
        old[0] = 1;
        assert_eq!(
            Attr::decode(&old).unwrap(),
            Attr {
                quota: 0,
                ..untrashed
            }
        );
    }

    #[test]
    fn quotas_round_trip_and_bound_increases_only() {
        let quota = Quota {
            capacity: 8192,
            inodes: 2,
            parent: 7,
            used_space: 4096,
            used_inodes: 2,
            ready: true,
        };
        assert_eq!(Quota::decode(&quota.encode()).unwrap(), quota);
        assert!(Quota::decode(&quota.encode()[..20]).is_err());
        assert!(!quota.exceeded_by(4096, 0));
        assert!(quota.exceeded_by(4097, 0));
        assert!(quota.exceeded_by(0, 1));
        assert!(!quota.exceeded_by(-4096, -1));
        assert!(
            !Quota {
                ready: false,
                ..quota
            }
            .exceeded_by(1 << 40, 9)
        );
        assert!(
            !Quota {
                capacity: 0,
                inodes: 0,
                ..quota
            }
            .exceeded_by(1 << 40, 9)
        );
    }

    #[test]
    fn slices_round_trip_and_reject_partial_records() {
        let slices = [
            Slice {
                pos: 0,
                len: 10,
                object: 5,
                offset: 100,
            },
            Slice::hole(10, 20),
        ];
        let mut bytes = Vec::new();
        slices.iter().for_each(|s| s.encode_into(&mut bytes));
        assert_eq!(Slice::decode_all(&bytes).unwrap(), slices);
        assert!(Slice::decode_all(&bytes[1..]).is_err());
    }

    #[test]
    fn times_before_the_epoch_round_trip() {
        let t = Timespec { sec: -2, nsec: 500 };
        assert_eq!(Timespec::from(std::time::SystemTime::from(t)), t);
    }
}
