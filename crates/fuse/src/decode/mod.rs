//! Safe decoding of kernel requests: bytes in, a typed [`Operation`] out, or a [`DecodeError`].
//!
//! Nothing here casts pointers: structs are copied out of the buffer by zerocopy, and every
//! length and string is checked against what the buffer holds.

pub mod op;
mod reader;

use std::ffi::OsStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::abi::{self, fattr, flags, opcode};
use crate::errno::Errno;
use reader::Reader;

/// Longest file name the kernel lets through (`NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// Longest symlink target (`PATH_MAX` less the NUL).
pub const TARGET_MAX: usize = 4095;
/// Longest extended attribute name (`XATTR_NAME_MAX`).
pub const XATTR_NAME_MAX: usize = 255;

/// Why a request could not be decoded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or a struct needs.
    #[error("{what}: need {need} bytes, have {have}")]
    Truncated {
        /// The struct or field that was cut short (its kernel name).
        what: &'static str,
        /// The bytes it needs.
        need: usize,
        /// The bytes left in the request.
        have: usize,
    },
    /// The header's length disagrees with the bytes read.
    #[error("header says {header} bytes, read {read}")]
    LengthMismatch {
        /// `fuse_in_header.len`.
        header: usize,
        /// What read(2) of the device returned.
        read: usize,
    },
    /// A string ran to the end of the request without a NUL.
    #[error("{what}: not NUL-terminated")]
    Unterminated {
        /// Which string.
        what: &'static str,
    },
    /// A string that must not be empty was.
    #[error("{what}: empty")]
    Empty {
        /// Which string.
        what: &'static str,
    },
    /// A string longer than its limit.
    #[error("{what}: {len} bytes, limit {max}")]
    TooLong {
        /// Which string.
        what: &'static str,
        /// Its length in bytes, without the NUL.
        len: usize,
        /// The limit: [`NAME_MAX`], [`TARGET_MAX`] or [`XATTR_NAME_MAX`].
        max: usize,
    },
}

impl DecodeError {
    /// The errno answered to a request that failed to decode.
    pub fn errno(&self) -> Errno {
        match self {
            DecodeError::TooLong {
                what: "xattr name", ..
            } => Errno::ERANGE,
            DecodeError::TooLong { .. } => Errno::ENAMETOOLONG,
            _ => Errno::EINVAL,
        }
    }
}

/// What decoding depends on from the INIT negotiation.
#[derive(Debug, Clone, Copy, Default)]
pub struct DecodeOptions {
    /// `FUSE_SETXATTR_EXT` was agreed: `fuse_setxattr_in` has its 16-byte form.
    pub setxattr_ext: bool,
}

/// A decoded request: the header and the operation.
#[derive(Debug)]
pub struct Decoded<'a> {
    /// The request header: opcode, `unique` id, node id, and the caller's uid, gid and pid.
    pub header: abi::InHeader,
    /// The operation with its arguments.
    pub op: Operation<'a>,
}

/// Every request the kernel can send, decoded.
#[derive(Debug)]
#[allow(missing_docs)]
pub enum Operation<'a> {
    Init {
        major: u32,
        minor: u32,
        max_readahead: u32,
        flags: u64,
    },
    Destroy,
    Interrupt {
        unique: u64,
    },
    /// The kernel's answer to a retrieve notification: `unique` is the notification's id.
    NotifyReply {
        offset: u64,
        data: &'a [u8],
    },
    Lookup(op::Lookup<'a>),
    Forget(op::Forget),
    BatchForget(op::ForgetList<'a>),
    Getattr(op::Getattr),
    Setattr(op::Setattr),
    Readlink(op::Readlink),
    Symlink(op::Symlink<'a>),
    Mknod(op::Mknod<'a>),
    Mkdir(op::Mkdir<'a>),
    Unlink(op::Unlink<'a>),
    Rmdir(op::Unlink<'a>),
    Rename(op::Rename<'a>),
    Link(op::Link<'a>),
    Open(op::Open),
    Read(op::Read),
    Write(op::Write<'a>),
    Statfs(op::Statfs),
    Release(op::Release),
    Fsync(op::Fsync),
    Setxattr(op::Setxattr<'a>),
    Getxattr(op::Getxattr<'a>),
    Listxattr(op::Listxattr),
    Removexattr(op::Removexattr<'a>),
    Flush(op::Flush),
    Opendir(op::Open),
    Readdir(op::Readdir),
    Readdirplus(op::Readdir),
    Releasedir(op::Release),
    Fsyncdir(op::Fsync),
    Getlk(op::Getlk),
    Setlk(op::Setlk),
    Access(op::Access),
    Create(op::Create<'a>),
    Tmpfile(op::Tmpfile),
    Bmap(op::Bmap),
    Ioctl(op::Ioctl<'a>),
    Poll(op::Poll),
    Fallocate(op::Fallocate),
    Lseek(op::Lseek),
    /// `wide`: the 64-bit COPY_FILE_RANGE_64 form, whose reply carries a u64.
    CopyFileRange {
        op: op::CopyFileRange,
        wide: bool,
    },
    Syncfs(op::Syncfs),
    Statx(op::Statx),
    /// An opcode we do not serve (DAX mappings, CUSE, or newer than us): answered ENOSYS.
    Unsupported {
        opcode: u32,
    },
}

/// Decodes just the header, for answering a request whose body is malformed.
pub fn header(bytes: &[u8]) -> Result<abi::InHeader, DecodeError> {
    Reader::new(bytes).fetch("fuse_in_header")
}

/// Decodes one request as read from the kernel.
pub fn decode<'a>(bytes: &'a [u8], opts: DecodeOptions) -> Result<Decoded<'a>, DecodeError> {
    let mut r = Reader::new(bytes);
    let header: abi::InHeader = r.fetch("fuse_in_header")?;
    let len = header.len as usize;
    if len != bytes.len() {
        return Err(DecodeError::LengthMismatch {
            header: len,
            read: bytes.len(),
        });
    }
    // Extensions sit at the end of the request; the operation's own arguments end before them.
    let ext_len = usize::from(header.total_extlen) * 8;
    let body = r.rest();
    let body_len = body
        .len()
        .checked_sub(ext_len)
        .ok_or(DecodeError::Truncated {
            what: "request extensions",
            need: ext_len,
            have: body.len(),
        })?;
    let op = operation(&header, Reader::new(&body[..body_len]), opts)?;
    Ok(Decoded { header, op })
}

fn fh_if(flag_set: bool, fh: u64) -> Option<u64> {
    flag_set.then_some(fh)
}

fn time(sec: u64, nsec: u32) -> SystemTime {
    // The kernel sends a signed seconds count in an unsigned field.
    let sec = sec as i64;
    let nsec = Duration::from_nanos(u64::from(nsec.min(999_999_999)));
    if sec >= 0 {
        UNIX_EPOCH + Duration::from_secs(sec.unsigned_abs()) + nsec
    } else {
        UNIX_EPOCH - Duration::from_secs(sec.unsigned_abs()) + nsec
    }
}

fn name<'a>(r: &mut Reader<'a>) -> Result<&'a OsStr, DecodeError> {
    r.cstr("name", NAME_MAX)
}

fn operation<'a>(
    h: &abi::InHeader,
    mut r: Reader<'a>,
    opts: DecodeOptions,
) -> Result<Operation<'a>, DecodeError> {
    let ino = h.nodeid;
    Ok(match h.opcode {
        opcode::INIT => {
            let compat: abi::InitInCompat = r.fetch("fuse_init_in")?;
            let mut flags = u64::from(compat.flags);
            if compat.minor >= 36 && flags & abi::init_flags::INIT_EXT != 0 {
                let flags2: u32 = r.fetch("fuse_init_in.flags2")?;
                flags |= u64::from(flags2) << 32;
            }
            Operation::Init {
                major: compat.major,
                minor: compat.minor,
                max_readahead: compat.max_readahead,
                flags,
            }
        }
        opcode::DESTROY => Operation::Destroy,
        opcode::INTERRUPT => Operation::Interrupt {
            unique: r.fetch::<abi::InterruptIn>("fuse_interrupt_in")?.unique,
        },
        opcode::NOTIFY_REPLY => {
            let arg: abi::NotifyRetrieveIn = r.fetch("fuse_notify_retrieve_in")?;
            let data = r.bytes(arg.size as usize, "retrieved data")?;
            Operation::NotifyReply {
                offset: arg.offset,
                data,
            }
        }
        opcode::LOOKUP => Operation::Lookup(op::Lookup {
            parent: ino,
            name: name(&mut r)?,
        }),
        opcode::FORGET => {
            let arg: abi::ForgetIn = r.fetch("fuse_forget_in")?;
            Operation::Forget(op::Forget {
                ino,
                nlookup: arg.nlookup,
            })
        }
        opcode::BATCH_FORGET => {
            let arg: abi::BatchForgetIn = r.fetch("fuse_batch_forget_in")?;
            let len = (arg.count as usize).saturating_mul(size_of::<abi::ForgetOne>());
            Operation::BatchForget(op::ForgetList {
                bytes: r.bytes(len, "fuse_forget_one list")?,
            })
        }
        opcode::GETATTR => {
            let arg: abi::GetattrIn = r.fetch("fuse_getattr_in")?;
            Operation::Getattr(op::Getattr {
                ino,
                fh: fh_if(arg.getattr_flags & flags::GETATTR_FH != 0, arg.fh),
            })
        }
        opcode::SETATTR => Operation::Setattr(setattr(ino, r.fetch("fuse_setattr_in")?)),
        opcode::READLINK => Operation::Readlink(op::Readlink { ino }),
        opcode::SYMLINK => {
            let name = name(&mut r)?;
            let target = r.cstr("symlink target", TARGET_MAX)?;
            Operation::Symlink(op::Symlink {
                parent: ino,
                name,
                target,
            })
        }
        opcode::MKNOD => {
            let arg: abi::MknodIn = r.fetch("fuse_mknod_in")?;
            let name = name(&mut r)?;
            Operation::Mknod(op::Mknod {
                parent: ino,
                name,
                mode: arg.mode,
                rdev: arg.rdev,
                umask: arg.umask,
            })
        }
        opcode::MKDIR => {
            let arg: abi::MkdirIn = r.fetch("fuse_mkdir_in")?;
            Operation::Mkdir(op::Mkdir {
                parent: ino,
                name: name(&mut r)?,
                mode: arg.mode,
                umask: arg.umask,
            })
        }
        opcode::UNLINK => Operation::Unlink(op::Unlink {
            parent: ino,
            name: name(&mut r)?,
        }),
        opcode::RMDIR => Operation::Rmdir(op::Unlink {
            parent: ino,
            name: name(&mut r)?,
        }),
        opcode::RENAME | opcode::RENAME2 => {
            let (newparent, flags) = if h.opcode == opcode::RENAME {
                (r.fetch::<abi::RenameIn>("fuse_rename_in")?.newdir, 0)
            } else {
                let arg: abi::Rename2In = r.fetch("fuse_rename2_in")?;
                (arg.newdir, arg.flags)
            };
            let name = name(&mut r)?;
            let newname = r.cstr("new name", NAME_MAX)?;
            Operation::Rename(op::Rename {
                parent: ino,
                name,
                newparent,
                newname,
                flags,
            })
        }
        opcode::LINK => {
            let arg: abi::LinkIn = r.fetch("fuse_link_in")?;
            Operation::Link(op::Link {
                ino: arg.oldnodeid,
                newparent: ino,
                newname: name(&mut r)?,
            })
        }
        opcode::OPEN | opcode::OPENDIR => {
            let arg: abi::OpenIn = r.fetch("fuse_open_in")?;
            let open = op::Open {
                ino,
                flags: arg.flags as i32,
                kill_suidgid: arg.open_flags & flags::OPEN_KILL_SUIDGID != 0,
            };
            if h.opcode == opcode::OPEN {
                Operation::Open(open)
            } else {
                Operation::Opendir(open)
            }
        }
        opcode::READ => {
            let arg: abi::ReadIn = r.fetch("fuse_read_in")?;
            Operation::Read(op::Read {
                ino,
                fh: arg.fh,
                offset: arg.offset,
                size: arg.size,
                flags: arg.flags as i32,
                lock_owner: fh_if(arg.read_flags & flags::READ_LOCKOWNER != 0, arg.lock_owner),
            })
        }
        opcode::WRITE => {
            let arg: abi::WriteIn = r.fetch("fuse_write_in")?;
            let data = r.bytes(arg.size as usize, "write data")?;
            Operation::Write(op::Write {
                ino,
                fh: arg.fh,
                offset: arg.offset,
                data,
                write_flags: arg.write_flags,
                flags: arg.flags as i32,
                lock_owner: fh_if(
                    arg.write_flags & flags::WRITE_LOCKOWNER != 0,
                    arg.lock_owner,
                ),
            })
        }
        opcode::STATFS => Operation::Statfs(op::Statfs { ino }),
        opcode::RELEASE | opcode::RELEASEDIR => {
            let arg: abi::ReleaseIn = r.fetch("fuse_release_in")?;
            let flock_unlock = arg.release_flags & flags::RELEASE_FLOCK_UNLOCK != 0;
            let release = op::Release {
                ino,
                fh: arg.fh,
                flags: arg.flags as i32,
                lock_owner: fh_if(
                    flock_unlock || arg.release_flags & flags::RELEASE_FLUSH != 0,
                    arg.lock_owner,
                ),
                flush: arg.release_flags & flags::RELEASE_FLUSH != 0,
                flock_unlock,
            };
            if h.opcode == opcode::RELEASE {
                Operation::Release(release)
            } else {
                Operation::Releasedir(release)
            }
        }
        opcode::FSYNC | opcode::FSYNCDIR => {
            let arg: abi::FsyncIn = r.fetch("fuse_fsync_in")?;
            let fsync = op::Fsync {
                ino,
                fh: arg.fh,
                datasync: arg.fsync_flags & flags::FSYNC_FDATASYNC != 0,
            };
            if h.opcode == opcode::FSYNC {
                Operation::Fsync(fsync)
            } else {
                Operation::Fsyncdir(fsync)
            }
        }
        opcode::SETXATTR => {
            let (size, xflags, setxattr_flags) = if opts.setxattr_ext {
                let arg: abi::SetxattrIn = r.fetch("fuse_setxattr_in")?;
                (arg.size, arg.flags, arg.setxattr_flags)
            } else {
                let arg: abi::SetxattrInCompat = r.fetch("fuse_setxattr_in")?;
                (arg.size, arg.flags, 0)
            };
            let name = r.cstr("xattr name", XATTR_NAME_MAX)?;
            let value = r.bytes(size as usize, "xattr value")?;
            Operation::Setxattr(op::Setxattr {
                ino,
                name,
                value,
                flags: xflags as i32,
                setxattr_flags,
            })
        }
        opcode::GETXATTR => {
            let arg: abi::GetxattrIn = r.fetch("fuse_getxattr_in")?;
            let name = r.cstr("xattr name", XATTR_NAME_MAX)?;
            Operation::Getxattr(op::Getxattr {
                ino,
                name,
                size: arg.size,
            })
        }
        opcode::LISTXATTR => {
            let arg: abi::GetxattrIn = r.fetch("fuse_getxattr_in")?;
            Operation::Listxattr(op::Listxattr {
                ino,
                size: arg.size,
            })
        }
        opcode::REMOVEXATTR => Operation::Removexattr(op::Removexattr {
            ino,
            name: r.cstr("xattr name", XATTR_NAME_MAX)?,
        }),
        opcode::FLUSH => {
            let arg: abi::FlushIn = r.fetch("fuse_flush_in")?;
            Operation::Flush(op::Flush {
                ino,
                fh: arg.fh,
                lock_owner: arg.lock_owner,
            })
        }
        opcode::READDIR | opcode::READDIRPLUS => {
            let arg: abi::ReadIn = r.fetch("fuse_read_in")?;
            let readdir = op::Readdir {
                ino,
                fh: arg.fh,
                offset: arg.offset,
                size: arg.size,
            };
            if h.opcode == opcode::READDIR {
                Operation::Readdir(readdir)
            } else {
                Operation::Readdirplus(readdir)
            }
        }
        opcode::GETLK | opcode::SETLK | opcode::SETLKW => {
            let arg: abi::LkIn = r.fetch("fuse_lk_in")?;
            let lock = op::Lock {
                start: arg.lk.start,
                end: arg.lk.end,
                typ: arg.lk.typ as i32,
                pid: arg.lk.pid,
            };
            if h.opcode == opcode::GETLK {
                Operation::Getlk(op::Getlk {
                    ino,
                    fh: arg.fh,
                    owner: arg.owner,
                    lock,
                })
            } else {
                Operation::Setlk(op::Setlk {
                    ino,
                    fh: arg.fh,
                    owner: arg.owner,
                    lock,
                    sleep: h.opcode == opcode::SETLKW,
                    flock: arg.lk_flags & flags::LK_FLOCK != 0,
                })
            }
        }
        opcode::ACCESS => Operation::Access(op::Access {
            ino,
            mask: r.fetch::<abi::AccessIn>("fuse_access_in")?.mask as i32,
        }),
        opcode::CREATE => {
            let arg: abi::CreateIn = r.fetch("fuse_create_in")?;
            Operation::Create(op::Create {
                parent: ino,
                name: name(&mut r)?,
                mode: arg.mode,
                umask: arg.umask,
                flags: arg.flags as i32,
                kill_suidgid: arg.open_flags & flags::OPEN_KILL_SUIDGID != 0,
            })
        }
        opcode::TMPFILE => {
            // The kernel also sends the placeholder name "/"; an unnamed file has no use for it.
            let arg: abi::CreateIn = r.fetch("fuse_create_in")?;
            Operation::Tmpfile(op::Tmpfile {
                parent: ino,
                mode: arg.mode,
                umask: arg.umask,
                flags: arg.flags as i32,
            })
        }
        opcode::BMAP => {
            let arg: abi::BmapIn = r.fetch("fuse_bmap_in")?;
            Operation::Bmap(op::Bmap {
                ino,
                block: arg.block,
                blocksize: arg.blocksize,
            })
        }
        opcode::IOCTL => {
            let arg: abi::IoctlIn = r.fetch("fuse_ioctl_in")?;
            let in_data = r.bytes(arg.in_size as usize, "ioctl input")?;
            Operation::Ioctl(op::Ioctl {
                ino,
                fh: arg.fh,
                flags: arg.flags,
                cmd: arg.cmd,
                arg: arg.arg,
                in_data,
                out_size: arg.out_size,
            })
        }
        opcode::POLL => {
            let arg: abi::PollIn = r.fetch("fuse_poll_in")?;
            let kh = fh_if(arg.flags & flags::POLL_SCHEDULE_NOTIFY != 0, arg.kh);
            Operation::Poll(op::Poll {
                ino,
                fh: arg.fh,
                kh,
                events: arg.events,
            })
        }
        opcode::FALLOCATE => {
            let arg: abi::FallocateIn = r.fetch("fuse_fallocate_in")?;
            Operation::Fallocate(op::Fallocate {
                ino,
                fh: arg.fh,
                offset: arg.offset,
                length: arg.length,
                mode: arg.mode as i32,
            })
        }
        opcode::LSEEK => {
            let arg: abi::LseekIn = r.fetch("fuse_lseek_in")?;
            Operation::Lseek(op::Lseek {
                ino,
                fh: arg.fh,
                offset: arg.offset as i64,
                whence: arg.whence as i32,
            })
        }
        opcode::COPY_FILE_RANGE | opcode::COPY_FILE_RANGE_64 => {
            let arg: abi::CopyFileRangeIn = r.fetch("fuse_copy_file_range_in")?;
            Operation::CopyFileRange {
                op: op::CopyFileRange {
                    ino_in: ino,
                    fh_in: arg.fh_in,
                    offset_in: arg.off_in,
                    ino_out: arg.nodeid_out,
                    fh_out: arg.fh_out,
                    offset_out: arg.off_out,
                    len: arg.len,
                    flags: arg.flags,
                },
                wide: h.opcode == opcode::COPY_FILE_RANGE_64,
            }
        }
        opcode::SYNCFS => Operation::Syncfs(op::Syncfs { ino }),
        opcode::STATX => {
            let arg: abi::StatxIn = r.fetch("fuse_statx_in")?;
            Operation::Statx(op::Statx {
                ino,
                fh: fh_if(arg.getattr_flags & flags::GETATTR_FH != 0, arg.fh),
                flags: arg.sx_flags,
                mask: arg.sx_mask,
            })
        }
        other => Operation::Unsupported { opcode: other },
    })
}

fn setattr(ino: u64, a: abi::SetattrIn) -> op::Setattr {
    let has = |bit: u32| a.valid & bit != 0;
    let when = |now: u32, set: u32, sec: u64, nsec: u32| {
        if has(now) {
            Some(op::TimeOrNow::Now)
        } else if has(set) {
            Some(op::TimeOrNow::At(time(sec, nsec)))
        } else {
            None
        }
    };
    op::Setattr {
        ino,
        fh: fh_if(has(fattr::FH), a.fh),
        mode: has(fattr::MODE).then_some(a.mode),
        uid: has(fattr::UID).then_some(a.uid),
        gid: has(fattr::GID).then_some(a.gid),
        size: has(fattr::SIZE).then_some(a.size),
        atime: when(fattr::ATIME_NOW, fattr::ATIME, a.atime, a.atimensec),
        mtime: when(fattr::MTIME_NOW, fattr::MTIME, a.mtime, a.mtimensec),
        ctime: has(fattr::CTIME).then(|| time(a.ctime, a.ctimensec)),
        lock_owner: fh_if(has(fattr::LOCKOWNER), a.lock_owner),
        kill_suidgid: has(fattr::KILL_SUIDGID),
    }
}

#[cfg(test)]
mod tests;
