//! `datenlord warmup`: load files into the cache of the mount serving them, check how much
//! of them is cached, or drop them. Each file goes in ranges through an ioctl the mount
//! answers; several ranges are worked on at once.

use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use anyhow::{Result, bail};
use datenlord_fuse::client_ioctl::ioctl_read_write;
use datenlord_vfs::{CacheOp, CacheReport};

use crate::admin::human;
use crate::cache_ioctl::{self, Request};
use crate::cli::WarmupArgs;
use crate::progress::Progress;

/// One ioctl covers this much of a file: the progress bar moves, and threads share big files.
const RANGE: u64 = 64 << 20;

/// A regular file to work on.
struct Target {
    path: PathBuf,
    size: u64,
}

/// Regular files under `paths` (directories walked, symlinks not followed).
fn collect(paths: &[PathBuf]) -> Result<Vec<Target>> {
    let mut files = Vec::new();
    let mut stack: Vec<PathBuf> = paths.iter().rev().cloned().collect();
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            stack.extend(entries.into_iter().rev());
        } else if meta.is_file() {
            files.push(Target {
                path,
                size: meta.len(),
            });
        }
    }
    Ok(files)
}

/// Sums of the reports of every range.
#[derive(Default)]
struct Totals {
    data: AtomicU64,
    cached: AtomicU64,
    fetched: AtomicU64,
    evicted: AtomicU64,
    failed: AtomicU64,
}

impl Totals {
    fn add(&self, r: &CacheReport) {
        self.data.fetch_add(r.data, Ordering::Relaxed);
        self.cached.fetch_add(r.cached, Ordering::Relaxed);
        self.fetched.fetch_add(r.fetched, Ordering::Relaxed);
        self.evicted.fetch_add(r.evicted, Ordering::Relaxed);
    }
}

/// Why a whole run cannot go on (every file would fail the same way).
fn fatal(path: &Path, err: &std::io::Error) -> Option<String> {
    match err.raw_os_error() {
        Some(libc::ENOTTY | libc::ENOSYS | libc::EINVAL) => Some(format!(
            "{} is not on a DatenLord mount (or its mount is older than this command)",
            path.display()
        )),
        Some(libc::EOPNOTSUPP) => Some(format!(
            "the mount serving {} has no cache: mount it with --cache-size or \
             --memory-cache-size (a volume on a local directory has none by default)",
            path.display()
        )),
        _ => None,
    }
}

/// One range of one file through the mount.
fn apply(file: &File, op: CacheOp, offset: u64, len: u64) -> std::io::Result<CacheReport> {
    let mut buf = cache_ioctl::encode_request(&Request { op, offset, len });
    ioctl_read_write(file, cache_ioctl::KIND, cache_ioctl::NR, &mut buf)?;
    cache_ioctl::decode_report(&buf)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed answer"))
}

pub fn run(args: WarmupArgs) -> Result<ExitCode> {
    let op = match (args.check, args.evict) {
        (true, true) => bail!("--check and --evict exclude each other"),
        (true, false) => CacheOp::Check,
        (false, true) => CacheOp::Evict,
        (false, false) => CacheOp::Warm,
    };
    let files = collect(&args.paths)?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    // Work items: (file, offset), whole files in order, big ones in ranges.
    let work: VecDeque<(usize, u64)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, f)| (0..f.size.div_ceil(RANGE).max(1)).map(move |r| (i, r * RANGE)))
        .collect();
    let work = Mutex::new(work);
    let totals = Totals::default();
    let fatal_error: Mutex<Option<String>> = Mutex::new(None);
    let label = match op {
        CacheOp::Warm => "warming",
        CacheOp::Check => "checking",
        CacheOp::Evict => "evicting",
    };
    let progress = Progress::start(label, total);
    let threads = args.threads.clamp(1, 256);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    if fatal_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .is_some()
                    {
                        return;
                    }
                    let next = work
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop_front();
                    let Some((i, offset)) = next else { return };
                    let target = &files[i];
                    let len = RANGE.min(target.size - offset.min(target.size));
                    let last = offset + len >= target.size;
                    let outcome = File::open(&target.path).and_then(|file| {
                        let report = apply(&file, op, offset, len)?;
                        if op == CacheOp::Evict && last {
                            // The kernel's copy goes too, so the next read comes to us.
                            let _ = nix::fcntl::posix_fadvise(
                                &file,
                                0,
                                0,
                                nix::fcntl::PosixFadviseAdvice::POSIX_FADV_DONTNEED,
                            );
                        }
                        Ok(report)
                    });
                    match outcome {
                        Ok(report) => totals.add(&report),
                        Err(err) => {
                            if let Some(message) = fatal(&target.path, &err) {
                                *fatal_error.lock().unwrap_or_else(PoisonError::into_inner) =
                                    Some(message);
                                return;
                            }
                            totals.failed.fetch_add(1, Ordering::Relaxed);
                            eprintln!("\ndatenlord: {}: {err}", target.path.display());
                        }
                    }
                    progress.add(len, last);
                }
            });
        }
    });
    let elapsed = progress.finish();
    if let Some(message) = fatal_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        bail!(message);
    }
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let (data, cached) = (get(&totals.data), get(&totals.cached));
    let ratio = if data == 0 {
        100.0
    } else {
        cached as f64 * 100.0 / data as f64
    };
    let secs = elapsed.as_secs_f64().max(1e-3);
    println!(
        "{} files, {} of data in {secs:.2}s",
        files.len(),
        human(data)
    );
    match op {
        CacheOp::Warm => println!(
            "fetched {} from the object store ({}/s); cached now: {} ({ratio:.1}%)",
            human(get(&totals.fetched)),
            human((get(&totals.fetched) as f64 / secs) as u64),
            human(cached),
        ),
        CacheOp::Check => println!("cached: {} ({ratio:.1}%)", human(cached)),
        CacheOp::Evict => println!(
            "evicted {}; still cached: {} ({ratio:.1}%)",
            human(get(&totals.evicted)),
            human(cached)
        ),
    }
    let failed = get(&totals.failed);
    if failed > 0 {
        eprintln!("datenlord: {failed} range(s) failed (see above)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
