//! A session: INIT, then worker threads that read requests, each from its own queue, and run
//! every handler until it first waits; handlers that wait continue as tokio tasks.

mod dispatch;
mod init;
mod interrupt;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use thiserror::Error;
use tokio::sync::oneshot;

use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};
use zerocopy::IntoBytes;

pub use init::InitInfo;

use crate::abi;
use crate::decode::{self, DecodeOptions, Operation};
use crate::filesystem::Filesystem;
use crate::mount::Mount;
use crate::notify::{Notifier, Retrievals};
use crate::pool::BufferPool;
use crate::transport::{Channel, DevFuse};
use init::Negotiated;
use interrupt::Interrupts;

/// How a session talks to the kernel. `Config::default()` suits most filesystems.
#[derive(Debug, Clone)]
pub struct Config {
    /// Workers, each with its own `/dev/fuse` queue. Default: the number of CPUs.
    pub workers: usize,
    /// Largest READ/WRITE payload (rounded to pages, at most 1 MiB). Default: 1 MiB.
    pub max_write: u32,
    /// Largest readahead the kernel may issue. Default: 1 MiB.
    pub max_readahead: u32,
    /// Asynchronous requests (readahead, writeback) the kernel keeps in flight. Default: 256.
    pub max_background: u16,
    /// In-flight background requests at which the kernel marks the filesystem congested.
    pub congestion_threshold: u16,
    /// Idle request buffers (`max_write` + 4 KiB each) kept for reuse. Default: 4 per worker.
    /// Requests in flight are not bounded here; the kernel bounds them.
    pub idle_buffers: usize,
    /// Let the kernel cache writes (FUSE_WRITEBACK_CACHE). Default: off.
    pub writeback_cache: bool,
    /// Ask the kernel to enforce POSIX ACLs stored in xattrs (FUSE_POSIX_ACL). Default: off.
    /// The kernel then leaves the umask to the filesystem (FUSE_DONT_MASK): it arrives in
    /// CREATE, MKDIR and MKNOD, and must not apply where a default ACL is inherited.
    pub posix_acl: bool,
}

impl Default for Config {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers,
            max_write: 1 << 20,
            max_readahead: 1 << 20,
            max_background: 256,
            congestion_threshold: 192,
            idle_buffers: 4 * workers,
            writeback_cache: false,
            posix_acl: false,
        }
    }
}

/// Why a session ended abnormally.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The kernel speaks a protocol version we cannot.
    #[error(
        "the kernel's FUSE protocol {major}.{minor} is too old (need 7.{})",
        abi::MIN_KERNEL_MINOR_VERSION
    )]
    Unsupported {
        /// The kernel's protocol major version.
        major: u32,
        /// The kernel's protocol minor version.
        minor: u32,
    },
    /// The first request was not INIT, or the device failed.
    #[error("FUSE handshake failed: {0}")]
    Handshake(String),
    /// Reading or writing `/dev/fuse` failed.
    #[error("FUSE device I/O failed: {0}")]
    Io(#[from] io::Error),
}

/// The context of one request: who asked, and a way to learn the kernel gave up on it.
#[derive(Debug)]
pub struct Request<'a> {
    header: &'a abi::InHeader,
    interrupts: &'a Interrupts,
}

impl Request<'_> {
    /// The kernel's id of this request.
    pub fn unique(&self) -> u64 {
        self.header.unique
    }

    /// The caller's effective user id.
    pub fn uid(&self) -> u32 {
        self.header.uid
    }

    /// The caller's effective group id.
    pub fn gid(&self) -> u32 {
        self.header.gid
    }

    /// The caller's thread group id (0 for requests the kernel makes on its own).
    pub fn pid(&self) -> u32 {
        self.header.pid
    }

    /// Resolves when the kernel interrupts this request (the caller got a signal). A handler
    /// that may wait long selects on this and answers `EINTR`.
    pub async fn interrupted(&self) {
        self.interrupts.wait(self.header.unique).await;
    }

    /// Whether the kernel has interrupted this request.
    pub fn is_interrupted(&self) -> bool {
        self.interrupts.is_interrupted(self.header.unique)
    }
}

/// State every request task shares.
struct Shared<F> {
    fs: F,
    /// Set once `destroy` ran (on DESTROY, or at the end of the session), so it runs once.
    destroyed: AtomicBool,
    interrupts: Interrupts,
    retrievals: Arc<Retrievals>,
    decode: DecodeOptions,
}

impl<F: Filesystem> Shared<F> {
    async fn destroy(&self) {
        if !self.destroyed.swap(true, Ordering::AcqRel) {
            self.fs.destroy().await;
        }
    }
}

/// A mounted filesystem waiting to be served.
#[derive(Debug)]
pub struct Session<F> {
    fs: F,
    config: Config,
    mount: Mount,
    main: Arc<DevFuse>,
    retrievals: Arc<Retrievals>,
    ready: Option<oneshot::Sender<InitInfo>>,
}

impl<F: Filesystem> Session<F> {
    /// Prepares to serve `fs` on `mount`. [`Session::run`] must then be awaited on a tokio runtime.
    pub fn new(fs: F, mut mount: Mount, config: Config) -> io::Result<Self> {
        let main = Arc::new(DevFuse::new(mount.device()?)?);
        Ok(Self {
            fs,
            config,
            mount,
            main,
            retrievals: Arc::default(),
            ready: None,
        })
    }

    /// A handle for sending invalidations and data to the kernel's caches.
    pub fn notifier(&self) -> Notifier {
        let main: std::sync::Weak<DevFuse> = Arc::downgrade(&self.main);
        Notifier::new(main, Arc::clone(&self.retrievals))
    }

    /// Resolves once INIT is answered and the mount is usable.
    pub fn ready(&mut self) -> oneshot::Receiver<InitInfo> {
        let (tx, rx) = oneshot::channel();
        self.ready = Some(tx);
        rx
    }

    /// Serves until the filesystem is unmounted or the process gets SIGINT or SIGTERM, then
    /// unmounts.
    pub async fn run(self) -> Result<(), SessionError> {
        // Listen before the handshake: a signal that arrives while INIT is pending must unmount
        // too, not kill the process and leave a dead mount behind.
        let signals = shutdown_signal();
        self.run_until(signals).await
    }

    /// Serves until the filesystem is unmounted or `stop` resolves, then unmounts.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<(), SessionError> {
        let (config, main) = (self.config.clone(), Arc::clone(&self.main));
        let (info, decode) = tokio::task::spawn_blocking(move || handshake(&config, &*main))
            .await
            .map_err(|e| SessionError::Io(io::Error::other(e)))??;
        let Session {
            fs,
            config,
            mut mount,
            main,
            retrievals,
            ready,
        } = self;
        let shared = Arc::new(Shared {
            fs,
            destroyed: AtomicBool::new(false),
            interrupts: Interrupts::default(),
            retrievals,
            decode,
        });
        shared.fs.init(&info).await;

        let mut channels = vec![Arc::clone(&main)];
        for _ in 1..config.workers.max(1) {
            match main.try_clone() {
                Ok(chan) => channels.push(Arc::new(chan)),
                Err(e) => {
                    warn!(
                        "cannot clone /dev/fuse ({e}); serving with {} queue(s)",
                        channels.len()
                    );
                    break;
                }
            }
        }
        // One page more than max_write holds the headers of the largest WRITE.
        let pool = BufferPool::new(info.max_write as usize + 4096, config.idle_buffers);
        let (ended_tx, mut ended) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Handle::current();
        let workers = channels.len();
        for (index, chan) in channels.into_iter().enumerate() {
            let (shared, pool, runtime, ended_tx) = (
                Arc::clone(&shared),
                Arc::clone(&pool),
                runtime.clone(),
                ended_tx.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("fuse-worker-{index}"))
                .spawn(move || {
                    let result = worker(&shared, &chan, &pool, &runtime);
                    let _ = ended_tx.send(result);
                });
            if let Err(e) = spawned {
                main.stop();
                return Err(SessionError::Io(e));
            }
        }
        drop(ended_tx);
        info!(mountpoint = %mount.mountpoint().display(), minor = info.minor, workers, "FUSE session ready");
        if let Some(tx) = ready {
            let _ = tx.send(info);
        }

        let result = tokio::select! {
            first = ended.recv() => first.unwrap_or(Ok(())).map_err(SessionError::from),
            () = stop => {
                info!(mountpoint = %mount.mountpoint().display(), "stopping: unmounting");
                if let Err(e) = mount.unmount() {
                    warn!("unmount failed: {e}");
                }
                Ok(())
            }
        };
        // Workers of a lazily detached mount would wait for requests forever; stop them all.
        main.stop();
        while ended.recv().await.is_some() {}
        // Every buffer back in the pool means every request task has answered.
        let drained = tokio::task::spawn_blocking(move || pool.drain(Duration::from_secs(5))).await;
        if !matches!(drained, Ok(true)) {
            warn!("requests still running at shutdown");
        }
        // Only a connection the kernel still serves is ours to abort (a lazily detached
        // mount); a gone one's id may already belong to a newer mount.
        if main.is_connected() {
            mount.abort_connection();
        }
        shared.destroy().await;
        shared.retrievals.close();
        drop(mount);
        result
    }
}

/// Reads INIT and answers it.
fn handshake<C: Channel>(
    config: &Config,
    chan: &C,
) -> Result<(InitInfo, DecodeOptions), SessionError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = chan.receive(&mut buf)?;
        let request = decode::decode(&buf[..n], DecodeOptions::default())
            .map_err(|e| SessionError::Handshake(format!("undecodable first request: {e}")))?;
        let Operation::Init {
            major,
            minor,
            max_readahead,
            flags,
        } = request.op
        else {
            return Err(SessionError::Handshake(format!(
                "expected INIT, got opcode {}",
                request.header.opcode
            )));
        };
        debug!(major, minor, flags = format_args!("{flags:#x}"), "INIT");
        let unique = request.header.unique;
        match init::negotiate(config, major, minor, max_readahead, flags) {
            Negotiated::Retry { reply } => send_reply(chan, unique, &[&reply]),
            Negotiated::Refused {
                kernel_major,
                kernel_minor,
            } => {
                send_error(chan, unique, libc::EPROTO);
                return Err(SessionError::Unsupported {
                    major: kernel_major,
                    minor: kernel_minor,
                });
            }
            Negotiated::Ready { info, reply } => {
                send_reply(chan, unique, &[&reply]);
                let decode = DecodeOptions {
                    setxattr_ext: info.has(abi::init_flags::SETXATTR_EXT),
                };
                return Ok((info, decode));
            }
        }
    }
}

/// Resolves at the first SIGINT or SIGTERM; the handlers are installed when this is called.
fn shutdown_signal() -> impl Future<Output = ()> + Send {
    use tokio::signal::unix::{SignalKind, signal};
    let listeners =
        signal(SignalKind::interrupt()).and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
    async move {
        let Ok((mut int, mut term)) = listeners else {
            error!("cannot install SIGINT/SIGTERM handlers; stop with umount");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => info!("SIGINT"),
            _ = term.recv() => info!("SIGTERM"),
        }
    }
}

/// One worker: reads requests from its queue and runs each handler on this thread until it
/// first has to wait; a handler that waits (for a lock, say) continues as a task on the runtime.
fn worker<F: Filesystem, C: Channel>(
    shared: &Arc<Shared<F>>,
    chan: &Arc<C>,
    pool: &Arc<BufferPool>,
    runtime: &Handle,
) -> io::Result<()> {
    let _runtime = runtime.enter();
    let mut cx = Context::from_waker(Waker::noop());
    // The heap slot a request's future runs in. A request that completes at once leaves the
    // slot empty for the next one; only a request that waits takes its slot to the runtime.
    let mut slot = Box::pin(None);
    loop {
        let mut buf = pool.take();
        let len = match chan.receive(&mut buf) {
            Ok(len) => len,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENODEV | libc::ECANCELED)) => {
                return Ok(());
            }
            Err(e) => {
                error!("reading /dev/fuse failed: {e}");
                return Err(e);
            }
        };
        let unique = decode::header(&buf[..len]).map_or(0, |h| h.unique);
        let (shared, reply_chan) = (Arc::clone(shared), Arc::clone(chan));
        slot.set(Some(async move {
            dispatch::dispatch(&shared, &*reply_chan, &buf[..len]).await
        }));
        // Polling with a no-op waker is sound: a pending request is handed to the runtime, whose
        // first poll of it re-checks whatever it was waiting for.
        if poll_guarded(slot.as_mut(), &mut cx, &**chan, unique).is_ready() {
            slot.set(None);
        } else {
            let mut waiting = std::mem::replace(&mut slot, Box::pin(None));
            let chan = Arc::clone(chan);
            runtime.spawn(std::future::poll_fn(move |cx| {
                poll_guarded(waiting.as_mut(), cx, &*chan, unique)
            }));
        }
    }
}

/// Polls the request in a slot (an empty slot is a finished request). A handler that panics
/// answers EIO: the caller gets an error instead of waiting forever, and the worker lives on.
fn poll_guarded<T: Future<Output = ()>, C: Channel>(
    mut slot: Pin<&mut Option<T>>,
    cx: &mut Context<'_>,
    chan: &C,
    unique: u64,
) -> Poll<()> {
    let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
        slot.as_mut()
            .as_pin_mut()
            .map_or(Poll::Ready(()), |request| request.poll(cx))
    }));
    polled.unwrap_or_else(|_| {
        error!(unique, "a filesystem handler panicked; answering EIO");
        slot.set(None);
        send_error(chan, unique, libc::EIO);
        Poll::Ready(())
    })
}

/// Sends a successful reply made of `parts` (at most three: a struct, another, and data).
pub(crate) fn send_reply<C: Channel + ?Sized>(chan: &C, unique: u64, parts: &[&[u8]]) {
    let len = size_of::<abi::OutHeader>() + parts.iter().map(|p| p.len()).sum::<usize>();
    let header = abi::OutHeader {
        len: len as u32,
        error: 0,
        unique,
    };
    debug_assert!(parts.len() <= 3, "a reply has at most three parts");
    let mut iov = [std::io::IoSlice::new(&[]); 4];
    iov[0] = std::io::IoSlice::new(header.as_bytes());
    for (slot, part) in iov[1..].iter_mut().zip(parts) {
        *slot = std::io::IoSlice::new(part);
    }
    send(chan, unique, &iov[..1 + parts.len().min(3)]);
}

/// Sends an error reply.
pub(crate) fn send_error<C: Channel + ?Sized>(chan: &C, unique: u64, errno: i32) {
    let header = abi::OutHeader {
        len: size_of::<abi::OutHeader>() as u32,
        error: -errno,
        unique,
    };
    send(chan, unique, &[std::io::IoSlice::new(header.as_bytes())]);
}

fn send<C: Channel + ?Sized>(chan: &C, unique: u64, iov: &[std::io::IoSlice<'_>]) {
    match chan.send(iov) {
        Ok(()) => {}
        // The request was interrupted and the kernel no longer waits for it.
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            debug!(unique, "reply to an abandoned request")
        }
        Err(e) => warn!(unique, "writing reply failed: {e}"),
    }
}
