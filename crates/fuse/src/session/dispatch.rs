//! From decoded request to filesystem call to reply bytes: the one place that knows which
//! reply shape belongs to which opcode.

use bytes::Bytes;
use tracing::{trace, warn};
use zerocopy::IntoBytes;

use super::{Request, Shared, send_error, send_reply};
use crate::abi;
use crate::decode::{self, Operation};
use crate::errno::{Errno, Result};
use crate::filesystem::Filesystem;
use crate::reply::{Created, DirEntries, DirEntriesPlus};
use crate::transport::Channel;

/// Largest extended attribute value or list the kernel accepts (`XATTR_SIZE_MAX`).
const XATTR_SIZE_MAX: usize = 65536;

struct Reply<'a, C: ?Sized> {
    chan: &'a C,
    unique: u64,
}

impl<C: Channel + ?Sized> Reply<'_, C> {
    fn error(&self, errno: Errno) {
        send_error(self.chan, self.unique, errno.code());
    }

    fn empty(&self, result: Result<()>) {
        match result {
            Ok(()) => send_reply(self.chan, self.unique, &[]),
            Err(e) => self.error(e),
        }
    }

    fn with<T, W: IntoBytes + zerocopy::Immutable>(
        &self,
        result: Result<T>,
        wire: impl FnOnce(T) -> W,
    ) {
        match result {
            Ok(value) => send_reply(self.chan, self.unique, &[wire(value).as_bytes()]),
            Err(e) => self.error(e),
        }
    }

    fn data(&self, result: Result<impl AsRef<[u8]>>) {
        match result {
            Ok(data) => send_reply(self.chan, self.unique, &[data.as_ref()]),
            Err(e) => self.error(e),
        }
    }

    /// CREATE and TMPFILE: the entry, then the open file.
    fn created(&self, result: Result<Created>) {
        match result {
            Ok(c) => send_reply(
                self.chan,
                self.unique,
                &[c.entry.to_abi().as_bytes(), c.open.to_abi().as_bytes()],
            ),
            Err(e) => self.error(e),
        }
    }

    /// GETXATTR and LISTXATTR: a size probe, the bytes, or ERANGE when the caller's buffer is short.
    fn sized(&self, result: Result<Bytes>, size: u32) {
        match result {
            Ok(value) if value.len() > XATTR_SIZE_MAX => self.error(Errno::E2BIG),
            Ok(value) if size == 0 => {
                let out = abi::GetxattrOut {
                    size: value.len() as u32,
                    padding: 0,
                };
                send_reply(self.chan, self.unique, &[out.as_bytes()]);
            }
            Ok(value) if value.len() > size as usize => self.error(Errno::ERANGE),
            Ok(value) => send_reply(self.chan, self.unique, &[&value]),
            Err(e) => self.error(e),
        }
    }
}

pub(super) async fn dispatch<F: Filesystem, C: Channel + ?Sized>(
    shared: &Shared<F>,
    chan: &C,
    bytes: &[u8],
) {
    let decoded = match decode::decode(bytes, shared.decode) {
        Ok(decoded) => decoded,
        Err(err) => {
            match decode::header(bytes) {
                Ok(h) => {
                    warn!(
                        unique = h.unique,
                        opcode = h.opcode,
                        "malformed request: {err}"
                    );
                    if !matches!(
                        h.opcode,
                        abi::opcode::FORGET | abi::opcode::BATCH_FORGET | abi::opcode::INTERRUPT
                    ) {
                        send_error(chan, h.unique, err.errno().code());
                    }
                }
                Err(_) => warn!(len = bytes.len(), "request too short for a header: {err}"),
            }
            return;
        }
    };
    let header = decoded.header;
    trace!(
        unique = header.unique,
        opcode = header.opcode,
        nodeid = header.nodeid,
        "request"
    );
    let req = Request {
        header: &header,
        interrupts: &shared.interrupts,
    };
    let reply = Reply {
        chan,
        unique: header.unique,
    };
    let fs = &shared.fs;
    match decoded.op {
        Operation::Init { .. } => reply.error(Errno::EIO),
        Operation::Destroy => {
            shared.destroy().await;
            reply.empty(Ok(()));
        }
        Operation::Interrupt { unique } => shared.interrupts.interrupt(unique),
        Operation::NotifyReply { offset, data } => {
            shared.retrievals.complete(header.unique, offset, data)
        }
        Operation::Forget(op) => fs.forget(op).await,
        Operation::BatchForget(list) => fs.batch_forget(list).await,
        Operation::Lookup(op) => reply.with(fs.lookup(&req, op).await, |e| e.to_abi()),
        Operation::Getattr(op) => reply.with(fs.getattr(&req, op).await, |a| a.to_abi()),
        Operation::Setattr(op) => reply.with(fs.setattr(&req, op).await, |a| a.to_abi()),
        Operation::Readlink(op) => reply.data(fs.readlink(&req, op).await),
        Operation::Symlink(op) => reply.with(fs.symlink(&req, op).await, |e| e.to_abi()),
        Operation::Mknod(op) => reply.with(fs.mknod(&req, op).await, |e| e.to_abi()),
        Operation::Mkdir(op) => reply.with(fs.mkdir(&req, op).await, |e| e.to_abi()),
        Operation::Unlink(op) => reply.empty(fs.unlink(&req, op).await),
        Operation::Rmdir(op) => reply.empty(fs.rmdir(&req, op).await),
        Operation::Rename(op) => reply.empty(fs.rename(&req, op).await),
        Operation::Link(op) => reply.with(fs.link(&req, op).await, |e| e.to_abi()),
        Operation::Open(op) => reply.with(fs.open(&req, op).await, |o| o.to_abi()),
        Operation::Read(op) => {
            let size = op.size as usize;
            let result = fs.read(&req, op).await;
            reply.data(result.map(|data| data.slice(..data.len().min(size))));
        }
        Operation::Write(op) => {
            reply.with(fs.write(&req, op).await, |size| abi::WriteOut {
                size,
                padding: 0,
            });
        }
        Operation::Statfs(op) => reply.with(fs.statfs(&req, op).await, |s| s.to_abi()),
        Operation::Release(op) => reply.empty(fs.release(&req, op).await),
        Operation::Fsync(op) => reply.empty(fs.fsync(&req, op).await),
        Operation::Setxattr(op) => reply.empty(fs.setxattr(&req, op).await),
        Operation::Getxattr(op) => reply.sized(fs.getxattr(&req, op).await, op.size),
        Operation::Listxattr(op) => reply.sized(fs.listxattr(&req, op).await, op.size),
        Operation::Removexattr(op) => reply.empty(fs.removexattr(&req, op).await),
        Operation::Flush(op) => reply.empty(fs.flush(&req, op).await),
        Operation::Opendir(op) => reply.with(fs.opendir(&req, op).await, |o| o.to_abi()),
        Operation::Readdir(op) => {
            let mut out = DirEntries::new(op.size);
            let result = fs.readdir(&req, op, &mut out).await;
            reply.data(result.map(|()| out.into_bytes()));
        }
        Operation::Readdirplus(op) => {
            let mut out = DirEntriesPlus::new(op.size);
            let result = fs.readdirplus(&req, op, &mut out).await;
            reply.data(result.map(|()| out.into_bytes()));
        }
        Operation::Releasedir(op) => reply.empty(fs.releasedir(&req, op).await),
        Operation::Fsyncdir(op) => reply.empty(fs.fsyncdir(&req, op).await),
        Operation::Getlk(op) => reply.with(fs.getlk(&req, op).await, |l| abi::LkOut {
            lk: abi::FileLock {
                start: l.start,
                end: l.end,
                typ: l.typ as u32,
                pid: l.pid,
            },
        }),
        Operation::Setlk(op) => reply.empty(fs.setlk(&req, op).await),
        Operation::Access(op) => reply.empty(fs.access(&req, op).await),
        Operation::Create(op) => reply.created(fs.create(&req, op).await),
        Operation::Tmpfile(op) => reply.created(fs.tmpfile(&req, op).await),
        Operation::Bmap(op) => reply.with(fs.bmap(&req, op).await, |block| abi::BmapOut { block }),
        Operation::Ioctl(op) => {
            let out_size = op.out_size as usize;
            match fs.ioctl(&req, op).await {
                Ok(io) => {
                    let out = abi::IoctlOut {
                        result: io.result,
                        flags: 0,
                        in_iovs: 0,
                        out_iovs: 0,
                    };
                    let data = &io.data[..io.data.len().min(out_size)];
                    send_reply(chan, header.unique, &[out.as_bytes(), data]);
                }
                Err(e) => reply.error(e),
            }
        }
        Operation::Poll(op) => reply.with(fs.poll(&req, op).await, |revents| abi::PollOut {
            revents,
            padding: 0,
        }),
        Operation::Fallocate(op) => reply.empty(fs.fallocate(&req, op).await),
        Operation::Lseek(op) => {
            reply.with(fs.lseek(&req, op).await, |offset| abi::LseekOut { offset })
        }
        Operation::CopyFileRange { op, wide } => {
            let result = fs.copy_file_range(&req, op).await;
            if wide {
                reply.with(result, |n| abi::CopyFileRangeOut { bytes_copied: n });
            } else {
                reply.with(result, |n| abi::WriteOut {
                    size: n.min(u64::from(u32::MAX)) as u32,
                    padding: 0,
                });
            }
        }
        Operation::Syncfs(op) => reply.empty(fs.syncfs(&req, op).await),
        Operation::Statx(op) => reply.with(fs.statx(&req, op).await, |s| s.to_abi()),
        Operation::Unsupported { opcode } => {
            trace!(opcode, "unsupported opcode");
            reply.error(Errno::ENOSYS);
        }
    }
    shared.interrupts.finish(header.unique);
}
