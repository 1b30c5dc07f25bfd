//! `datenlord mount`: serve a volume on a mountpoint, in the foreground or as a daemon.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use datenlord_fuse::{Config, Mount, MountConfig, MountOption, Session};
use datenlord_meta::{SessionInfo, Timespec};
use datenlord_store::group::{GroupClient, GroupConfig};
use datenlord_vfs::{Vfs, VfsConfig};

use crate::cache_options::CacheOptions;
use crate::cli::MountArgs;
use crate::coherence::Coherence;
use crate::fuse_adapter::{FuseAdapter, Ttl};
use crate::home;
use crate::kernel_inodes::KernelInodes;

/// The daemon reports readiness on this inherited descriptor.
const READY_FD: &str = "DATENLORD_READY_FD";

/// How long `mount -d` waits for the daemon.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

fn seconds(value: f64, what: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("--{what} must be a non-negative number of seconds"))
}

pub fn run(args: MountArgs) -> Result<std::process::ExitCode> {
    if args.background {
        daemonize(&args)?;
        if args.update_fstab {
            crate::mount_helper::update_fstab(&args)?;
        }
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let ready = std::env::var(READY_FD).ok();
    if ready.is_some() {
        // A daemon outlives the terminal that started it.
        let _ = nix::unistd::setsid();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve(&args, ready.as_deref()));
    if let (Err(err), Some(fd)) = (&result, ready.as_deref()) {
        report(fd, &format!("error: {err:#}"));
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    result.map(|()| std::process::ExitCode::SUCCESS)
}

/// Writes one line to the waiting `mount -d`.
fn report(fd: &str, line: &str) {
    match std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/self/fd/{fd}"))
    {
        Ok(mut pipe) => {
            let _ = writeln!(pipe, "{line}");
        }
        Err(err) => tracing::warn!(%err, "cannot report to the starting process"),
    }
}

/// The directory of the volume to mount: `--subdir`, or `-o subdir=`.
fn subdir(args: &MountArgs) -> Result<Option<String>> {
    let option = args
        .options
        .iter()
        .filter_map(|o| o.trim().strip_prefix("subdir="))
        .next_back()
        .map(str::to_string);
    match (&args.subdir, option) {
        (Some(a), Some(b)) if a.trim_end_matches('/') != b.trim_end_matches('/') => {
            bail!("--subdir {a} and -o subdir={b} name different directories")
        }
        (Some(a), _) => Ok(Some(a.clone())),
        (None, b) => Ok(b),
    }
}

fn mount_options(args: &MountArgs, volume: &str) -> Vec<MountOption> {
    let mut options = vec![
        MountOption::FsName(format!("datenlord:{volume}")),
        MountOption::Subtype("datenlord".into()),
        MountOption::DefaultPermissions,
    ];
    options.extend(
        args.options
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty() && !o.starts_with("subdir="))
            .map(MountOption::parse),
    );
    // A mount made by root serves every user, as a local filesystem does: with
    // default_permissions the kernel enforces modes and ACLs, and without allow_other a
    // database run as its own user (postgres) could not open its files. A user's own mount
    // (through fusermount3) stays theirs: allow_other needs user_allow_other in fuse.conf.
    if nix::unistd::geteuid().is_root()
        && !args.no_allow_other
        && !options.contains(&MountOption::AllowOther)
    {
        options.push(MountOption::AllowOther);
    }
    options
}

/// Refuses a mountpoint that is missing, not a directory, or already has a FUSE filesystem
/// on it, before anything is opened or formatted.
fn check_mountpoint(mountpoint: &Path) -> Result<()> {
    Mount::check_mountpoint(mountpoint)?;
    let Ok(canonical) = mountpoint.canonicalize() else {
        return Ok(());
    };
    let Ok(mounts) = datenlord_fuse::mountinfo::read() else {
        return Ok(());
    };
    let fuse = mounts
        .into_iter()
        .filter(|m| m.fstype.starts_with("fuse"))
        .collect::<Vec<_>>();
    if let Some(fuse) = datenlord_fuse::mountinfo::topmost_at(&fuse, &canonical) {
        bail!(
            "{} is already mounted ({}); unmount it first with `datenlord umount {}`",
            mountpoint.display(),
            fuse.fstype,
            mountpoint.display()
        );
    }
    Ok(())
}

async fn serve(args: &MountArgs, ready: Option<&str>) -> Result<()> {
    let ttl = Ttl {
        attr: seconds(args.attr_timeout, "attr-timeout")?,
        entry: seconds(args.entry_timeout, "entry-timeout")?,
    };
    if !args.clean_stale {
        check_mountpoint(&args.mountpoint)?;
    }
    let io_timeout = seconds(args.io_timeout, "io-timeout")?;
    let (meta, store) = home::open(args.meta.meta.as_deref()).await?;
    let meta = Arc::new(meta.with_timeout(io_timeout));
    let meta_cache = home::parse_size(&args.meta_cache).context("--meta-cache")?;
    if meta_cache > 0 {
        meta.cache_metadata(usize::try_from(meta_cache).unwrap_or(usize::MAX));
    }
    let uuid = meta.volume().uuid.clone();
    let caches = CacheOptions::from_args(&args.cache, &args.readahead, store.url(), &uuid, true)?;
    let mut store = store
        .with_deadline(io_timeout)
        .with_cache(&caches.config)
        .context("opening the cache")?;
    if let Some(group) = &args.cache_group {
        datenlord_meta::check_group_name(group)?;
        let client = Arc::new(GroupClient::new(GroupConfig {
            replicas: args.cache_replicas.max(1),
            ..GroupConfig::new(&uuid)
        }));
        store = store.with_group(client.clone())?;
        crate::cache_node::follow_group(meta.clone(), group.clone(), client).await;
    }
    tracing::info!(
        memory = caches.config.memory_size,
        disk = caches.config.disk_size,
        dirs = ?caches.config.disk_dirs,
        policy = %caches.config.policy,
        readahead = caches.readahead,
        "caches"
    );
    let read_only = args.options.iter().any(|o| o.trim() == "ro");
    let vfs_config = VfsConfig {
        buffer_size: args.buffer_size.max(8) << 20,
        relatime: !read_only && !args.options.iter().any(|o| o.trim() == "noatime"),
        lease: seconds(args.lease, "lease")?.max(Duration::from_secs(1)),
        readahead: caches.readahead,
        ..VfsConfig::default()
    };
    let host = vfs_config.host.clone();
    let host_id = vfs_config.host_id.clone();
    let store = Arc::new(store);
    let vfs = Arc::new(Vfs::new(meta.clone(), store.clone(), vfs_config));
    if let Err(err) = vfs.reclaim_dead_sessions().await {
        tracing::warn!(%err, "cannot reclaim the sessions of dead mounts");
    }

    let root = match subdir(args)? {
        Some(path) => home::resolve(&meta, &path)
            .await
            .with_context(|| format!("cannot mount subdirectory {path}"))?,
        None => datenlord_meta::ROOT_INO,
    };
    let inodes = KernelInodes::new(root);
    let volume = meta.volume().name.clone();
    let mount = Mount::new(
        &args.mountpoint,
        &MountConfig {
            options: mount_options(args, &volume),
            clean_stale: args.clean_stale,
        },
    )?;
    let mountpoint_text = absolute(&args.mountpoint).display().to_string();
    if mount.replaced_stale() {
        match vfs.reclaim_replaced(&mountpoint_text).await {
            Ok(ended) if !ended.is_empty() => {
                tracing::info!(sessions = ?ended, "ended the sessions of the replaced dead mount");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(%err, "cannot end the sessions of the replaced mount"),
        }
    }
    let now = Timespec::now().sec;
    let info = SessionInfo {
        host,
        host_id,
        pid: std::process::id(),
        mountpoint: mountpoint_text,
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: now,
        heartbeat: now,
        lease: 0,
        node: std::env::var(datenlord_meta::NODE_NAME_ENV).unwrap_or_default(),
        root: subdir(args)?.unwrap_or_default(),
        cached_bytes: 0,
    };
    vfs.start_session(info).await?;

    let mut config = Config {
        writeback_cache: args.writeback_cache,
        posix_acl: true,
        ..Config::default()
    };
    if let Some(workers) = args.workers {
        config.workers = workers.max(1);
    }
    let coherence = Arc::new(Coherence::new(inodes));
    let adapter = FuseAdapter::new(vfs.clone(), ttl, coherence.clone(), inodes);
    let mut session = Session::new(adapter, mount, config)?;
    coherence.connect(session.notifier());
    if let Some(watch) = meta.watch() {
        coherence.follow(watch, vfs.clone());
    }
    let initialised = session.ready();
    let background = tokio::spawn(vfs.clone().background());
    let mountpoint = args.mountpoint.display().to_string();
    let ready = ready.map(str::to_string);
    // A daemon's parent (`mount -d`) updates fstab itself, once told the mount is up.
    let fstab = (args.update_fstab && ready.is_none()).then(|| args.clone());
    let announce = tokio::spawn(async move {
        if initialised.await.is_ok() {
            tracing::info!(volume, mountpoint, "mounted");
            if let Some(fd) = ready {
                report(&fd, "ok");
            }
            if let Some(args) = fstab
                && let Err(err) = crate::mount_helper::update_fstab(&args)
            {
                tracing::error!(%err, "cannot update fstab");
            }
        }
    });
    let served = session.run().await;
    announce.abort();
    background.abort();
    let flushed = vfs.flush_all().await;
    let synced = vfs.sync_all().await;
    if let Err(err) = meta.close_session(vfs.session()).await {
        tracing::warn!(%err, "cannot close the mount session");
    }
    if let Some(counters) = store.cache_counters() {
        tracing::info!(counters = %crate::locality::counters_json(&counters), "cache counters");
    }
    served?;
    flushed.context("flushing buffered writes at unmount")?;
    synced.context("syncing at unmount")?;
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// `mount -d`: starts this program again without `-d`, detached, and waits for its word.
fn daemonize(args: &MountArgs) -> Result<()> {
    let logs = home::home().join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let name: String = absolute(&args.mountpoint)
        .display()
        .to_string()
        .trim_matches('/')
        .replace('/', "-");
    let log_path = logs.join(format!(
        "mount-{}.log",
        if name.is_empty() { "root" } else { &name }
    ));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("opening {}", log_path.display()))?;
    let (reader, writer) = std::io::pipe()?;
    // The daemon must inherit the write end.
    nix::fcntl::fcntl(
        &writer,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
    )?;
    let mut child_args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    child_args.retain(|a| a != "-d" && a != "--background");
    let child = Command::new(std::env::current_exe()?)
        .args(child_args)
        .env(READY_FD, writer.as_raw_fd().to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("starting the mount daemon")?;
    // The child has its copy; with ours closed, EOF means the child is gone.
    drop(writer);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
    match line.trim() {
        "ok" => {
            println!(
                "datenlord: mounted {} (pid {}, log {})",
                args.mountpoint.display(),
                child.id(),
                log_path.display()
            );
            Ok(())
        }
        "" => bail!(
            "the mount daemon did not become ready; see {}",
            log_path.display()
        ),
        message => bail!("{}", message.trim_start_matches("error: ")),
    }
}
