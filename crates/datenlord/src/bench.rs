//! `datenlord bench`: a quick measurement of a directory, in the manner of `juicefs bench`.
//! Each thread writes a big file in 1 MiB requests and fsyncs it, then reads it back; then
//! writes, reads and stats small files. On a DatenLord mount the mount's counters, read
//! through an ioctl before and after each phase, show where the time went.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use datenlord_fuse::client_ioctl::ioctl_read_write;
use datenlord_meta::EngineCounters;

use crate::admin::human;
use crate::cache_ioctl::{self, Hits, MountStats};
use crate::cli::BenchArgs;
use crate::home::parse_size;
use crate::progress::Progress;

/// The size of each request to a big file.
const IO_SIZE: usize = 1 << 20;
/// More threads than this are a typo rather than a benchmark.
const MAX_THREADS: usize = 1024;

/// Set by Ctrl-C or SIGTERM: every thread stops before its next request, and the files go.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// What to do, from the command line.
#[derive(Debug, Clone, Copy)]
struct Plan {
    big_size: u64,
    small_files: u64,
    small_size: u64,
    threads: usize,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Result<Self> {
        let size =
            |text: &str, flag: &str| parse_size(text).map_err(|e| anyhow!("--{flag}: {e:#}"));
        let plan = Self {
            big_size: size(&args.big_file_size, "big-file-size")?,
            small_files: args.small_files,
            small_size: size(&args.small_file_size, "small-file-size")?,
            threads: args.threads,
        };
        if plan.threads == 0 {
            bail!("--threads must be at least 1");
        }
        if plan.threads > MAX_THREADS {
            bail!("--threads must be at most {MAX_THREADS}");
        }
        if plan.big_size == 0 && plan.small_files == 0 {
            bail!("nothing to measure: --big-file-size and --small-files are both 0");
        }
        let threads = plan.threads as u64;
        let too_large = || anyhow!("the files to write add up to more than 2^64 bytes");
        threads.checked_mul(plan.big_size).ok_or_else(too_large)?;
        threads
            .checked_mul(plan.small_files)
            .and_then(|files| files.checked_mul(plan.small_size))
            .ok_or_else(too_large)?;
        Ok(plan)
    }

    fn big_path(dir: &Path, thread: usize) -> PathBuf {
        dir.join(format!("big-{thread}"))
    }

    fn small_path(dir: &Path, thread: usize, file: u64) -> PathBuf {
        dir.join(format!("small-{thread}-{file}"))
    }
}

/// The directory the files go in, removed when dropped (after an error or a panic too).
struct WorkDir {
    path: PathBuf,
    removed: bool,
}

impl WorkDir {
    fn create(parent: &Path) -> Result<Self> {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let path = parent.join(format!("datenlord-bench-{}-{secs}", std::process::id()));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self {
            path,
            removed: false,
        })
    }

    fn remove(&mut self) -> Result<()> {
        self.removed = true;
        std::fs::remove_dir_all(&self.path)
            .with_context(|| format!("removing {}", self.path.display()))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.removed
            && let Err(err) = self.remove()
        {
            tracing::warn!("{err:#}");
        }
    }
}

/// Why a thread stopped early without failing itself: another one failed, or Ctrl-C.
#[derive(Debug)]
struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped")
    }
}

impl std::error::Error for Stopped {}

/// What a worker gets: which thread it is, the bar to move, and whether to stop.
struct Worker<'a> {
    thread: usize,
    progress: &'a Progress,
    failed: &'a AtomicBool,
}

impl Worker<'_> {
    /// Called before each request.
    fn go_on(&self) -> Result<()> {
        if INTERRUPTED.load(Ordering::Relaxed) || self.failed.load(Ordering::Relaxed) {
            return Err(Stopped.into());
        }
        Ok(())
    }
}

/// How a phase's operations are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// 1 MiB requests of big files.
    Requests,
    Files,
}

/// One phase measured.
struct Outcome {
    name: &'static str,
    unit: Unit,
    ops: u64,
    bytes: u64,
    elapsed: Duration,
    /// The time the threads worked, summed: over `ops`, the mean time of one operation.
    busy: Duration,
    /// The mount's counters over the phase (on a DatenLord mount).
    stats: Option<MountStats>,
}

/// The mount's counters through the directory `dir` opened on it.
fn read_stats(dir: &File) -> std::io::Result<MountStats> {
    let mut buf = cache_ioctl::encode_stats_request();
    ioctl_read_write(dir, cache_ioctl::KIND, cache_ioctl::STATS_NR, &mut buf)?;
    cache_ioctl::decode_stats(&buf)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed answer"))
}

/// Runs `work` on every thread at once, each returning the operations and bytes it did.
fn phase(
    name: &'static str,
    unit: Unit,
    progress: Progress,
    plan: &Plan,
    mount: Option<&File>,
    work: impl Fn(&Worker<'_>) -> Result<(u64, u64)> + Sync,
) -> Result<Outcome> {
    let before = mount.and_then(|dir| read_stats(dir).ok());
    let failed = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<Result<(u64, u64, Duration)>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..plan.threads)
            .map(|thread| {
                let (work, progress, failed) = (&work, &progress, &failed);
                scope.spawn(move || {
                    let started = Instant::now();
                    let worker = Worker {
                        thread,
                        progress,
                        failed,
                    };
                    let done = work(&worker);
                    if done.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    done.map(|(ops, bytes)| (ops, bytes, started.elapsed()))
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(anyhow!("a {name} thread panicked")))
            })
            .collect()
    });
    let elapsed = started.elapsed();
    progress.finish();
    let after = mount.and_then(|dir| read_stats(dir).ok());
    let mut outcome = Outcome {
        name,
        unit,
        ops: 0,
        bytes: 0,
        elapsed,
        busy: Duration::ZERO,
        stats: before
            .zip(after)
            .map(|(before, after)| after.since(&before)),
    };
    let mut stopped = false;
    for result in results {
        match result {
            Ok((ops, bytes, busy)) => {
                outcome.ops += ops;
                outcome.bytes += bytes;
                outcome.busy += busy;
            }
            Err(err) if err.is::<Stopped>() => stopped = true,
            Err(err) => return Err(err.context(name)),
        }
    }
    if stopped {
        bail!("interrupted during {name}");
    }
    Ok(outcome)
}

/// A megabyte of bytes no filesystem could compress or find repeated across threads.
fn pattern(seed: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (seed as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..IO_SIZE / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect()
}

/// Writes `len` bytes of `data` (repeated) to `file` in requests of at most 1 MiB.
fn write_len(
    worker: &Worker<'_>,
    file: &mut File,
    path: &Path,
    data: &[u8],
    len: u64,
) -> Result<u64> {
    let mut left = len;
    let mut requests = 0;
    while left > 0 {
        worker.go_on()?;
        let n = left.min(IO_SIZE as u64) as usize;
        file.write_all(&data[..n])
            .with_context(|| format!("writing {}", path.display()))?;
        worker.progress.add(n as u64, false);
        left -= n as u64;
        requests += 1;
    }
    Ok(requests)
}

/// Reads the `len` bytes of `path` in requests of at most 1 MiB.
fn read_len(worker: &Worker<'_>, path: &Path, buf: &mut [u8], len: u64) -> Result<u64> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut left = len;
    let mut requests = 0;
    while left > 0 {
        worker.go_on()?;
        let n = left.min(IO_SIZE as u64) as usize;
        file.read_exact(&mut buf[..n])
            .with_context(|| format!("reading {}", path.display()))?;
        worker.progress.add(n as u64, false);
        left -= n as u64;
        requests += 1;
    }
    close(file, path)?;
    Ok(requests)
}

/// Closes `file`, reporting what the filesystem answers (a FUSE flush can fail).
fn close(file: File, path: &Path) -> Result<()> {
    nix::unistd::close(file).with_context(|| format!("closing {}", path.display()))
}

fn create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))
}

/// Drops the kernel's page cache, so that reads reach the filesystem (root only).
fn drop_page_cache() -> std::io::Result<()> {
    nix::unistd::sync();
    std::fs::write("/proc/sys/vm/drop_caches", "3")
}

/// Ctrl-C or SIGTERM sets [`INTERRUPTED`] (the run stops and removes its files); a second
/// one ends the process at once.
fn watch_signals() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut interrupt, mut terminate) = runtime.block_on(async {
        Ok::<_, std::io::Error>((
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        ))
    })?;
    std::thread::spawn(move || {
        runtime.block_on(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            INTERRUPTED.store(true, Ordering::Relaxed);
            eprintln!("\ndatenlord bench: stopping and removing its files (again to quit now)");
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            std::process::exit(130);
        });
    });
    Ok(())
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    let plan = Plan::from_args(&args)?;
    let path = &args.path;
    let meta = std::fs::metadata(path).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if !meta.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let root = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mount = match read_stats(&root) {
        Ok(_) => Some(&root),
        Err(err) => {
            tracing::debug!(%err, "no DatenLord counters");
            None
        }
    };
    watch_signals()?;
    let started = Instant::now();
    let mut dir = WorkDir::create(path)?;
    let (outcomes, page_cache) = measure(&plan, &dir.path, mount)?;
    dir.remove()?;
    let total = started.elapsed();
    print_summary(&plan, path, &outcomes, total, page_cache.as_ref().err());
    match mount {
        Some(_) => print_breakdown(&outcomes),
        None => println!(
            "\n{} is not on a DatenLord mount (or its mount predates this command): the \
             breakdown by metadata, object store and caches is skipped",
            path.display()
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Every phase, in order; and whether the page cache could be dropped before reading.
fn measure(
    plan: &Plan,
    dir: &Path,
    mount: Option<&File>,
) -> Result<(Vec<Outcome>, std::io::Result<()>)> {
    let threads = plan.threads as u64;
    let mut outcomes = Vec::new();
    let mut page_cache = Ok(());
    let mut drop_cache = || {
        if let Err(err) = drop_page_cache() {
            page_cache = Err(err);
        }
    };
    if plan.big_size > 0 {
        let total = threads * plan.big_size;
        let write = phase(
            "big file write",
            Unit::Requests,
            Progress::start("big file write", total),
            plan,
            mount,
            |w| {
                let path = Plan::big_path(dir, w.thread);
                let mut file = create(&path)?;
                let requests = write_len(w, &mut file, &path, &pattern(w.thread), plan.big_size)?;
                file.sync_all()
                    .with_context(|| format!("fsync of {}", path.display()))?;
                close(file, &path)?;
                w.progress.add(0, true);
                Ok((requests, plan.big_size))
            },
        )?;
        outcomes.push(write);
        drop_cache();
        let read = phase(
            "big file read",
            Unit::Requests,
            Progress::start("big file read", total),
            plan,
            mount,
            |w| {
                let mut buf = vec![0; IO_SIZE];
                let path = Plan::big_path(dir, w.thread);
                let requests = read_len(w, &path, &mut buf, plan.big_size)?;
                w.progress.add(0, true);
                Ok((requests, plan.big_size))
            },
        )?;
        outcomes.push(read);
    }
    if plan.small_files > 0 {
        let files = threads * plan.small_files;
        let write = phase(
            "small file write",
            Unit::Files,
            Progress::start("small file write", files * plan.small_size),
            plan,
            mount,
            |w| {
                let data = pattern(w.thread);
                for i in 0..plan.small_files {
                    w.go_on()?;
                    let path = Plan::small_path(dir, w.thread, i);
                    let mut file = create(&path)?;
                    write_len(w, &mut file, &path, &data, plan.small_size)?;
                    close(file, &path)?;
                    w.progress.add(0, true);
                }
                Ok((plan.small_files, plan.small_files * plan.small_size))
            },
        )?;
        outcomes.push(write);
        drop_cache();
        let read = phase(
            "small file read",
            Unit::Files,
            Progress::start("small file read", files * plan.small_size),
            plan,
            mount,
            |w| {
                let mut buf = vec![0; IO_SIZE];
                for i in 0..plan.small_files {
                    w.go_on()?;
                    let path = Plan::small_path(dir, w.thread, i);
                    read_len(w, &path, &mut buf, plan.small_size)?;
                    w.progress.add(0, true);
                }
                Ok((plan.small_files, plan.small_files * plan.small_size))
            },
        )?;
        outcomes.push(read);
        let stat = phase(
            "stat",
            Unit::Files,
            Progress::start_files("stat", files),
            plan,
            mount,
            |w| {
                for i in 0..plan.small_files {
                    w.go_on()?;
                    let path = Plan::small_path(dir, w.thread, i);
                    let meta = std::fs::symlink_metadata(&path)
                        .with_context(|| format!("stat of {}", path.display()))?;
                    if meta.len() != plan.small_size {
                        bail!(
                            "{} is {} bytes long, not {}",
                            path.display(),
                            meta.len(),
                            plan.small_size
                        );
                    }
                    w.progress.add(0, true);
                }
                Ok((plan.small_files, 0))
            },
        )?;
        outcomes.push(stat);
    }
    Ok((outcomes, page_cache))
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn nanos_ms(nanos: u64) -> String {
    format!("{:.1} ms", nanos as f64 / 1e6)
}

fn print_summary(
    plan: &Plan,
    path: &Path,
    outcomes: &[Outcome],
    total: Duration,
    page_cache: Option<&std::io::Error>,
) {
    let mut out = format!(
        "datenlord bench on {}: {} thread(s); per thread a big file of {} (1 MiB requests) \
         and {} small files of {}\n",
        path.display(),
        plan.threads,
        human(plan.big_size),
        plan.small_files,
        human(plan.small_size),
    );
    match page_cache {
        None => out.push_str("page cache: dropped before each read phase\n"),
        Some(err) => {
            let _ = writeln!(
                out,
                "page cache: not dropped ({err}; root can): reads may be served from memory"
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{:<18} {:>22} {:>9} {:>15} {:>22}",
        "phase", "amount", "time", "throughput", "mean latency"
    );
    for o in outcomes {
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let mean = millis(o.busy) / o.ops.max(1) as f64;
        let (amount, throughput, latency) = match o.unit {
            Unit::Requests => (
                human(o.bytes),
                format!("{:.1} MiB/s", o.bytes as f64 / f64::from(1 << 20) / secs),
                format!("{mean:.2} ms per 1 MiB"),
            ),
            Unit::Files => (
                if o.bytes > 0 {
                    format!("{} files, {}", o.ops, human(o.bytes))
                } else {
                    format!("{} files", o.ops)
                },
                format!("{:.1} files/s", o.ops as f64 / secs),
                format!("{mean:.2} ms per file"),
            ),
        };
        let _ = writeln!(
            out,
            "{:<18} {amount:>22} {:>8.2}s {throughput:>15} {latency:>22}",
            o.name,
            o.elapsed.as_secs_f64(),
        );
    }
    let _ = writeln!(
        out,
        "total elapsed {:.2}s (creating and removing the files included)",
        total.as_secs_f64()
    );
    print!("{out}");
}

fn print_breakdown(outcomes: &[Outcome]) {
    let mut out = String::from(
        "\nwhere the time went (the mount's counters, so other work on it counts too; times \
         are summed over concurrent requests):\n",
    );
    let _ = writeln!(
        out,
        "{:<18} {:>20} {:>30} {:>30}",
        "phase", "metadata ops", "object store gets", "object store puts"
    );
    let count = |n: u64, bytes: u64, nanos: u64| {
        if n == 0 {
            "0".to_string()
        } else {
            format!("{n} ({}, {})", human(bytes), nanos_ms(nanos))
        }
    };
    for o in outcomes {
        let Some(s) = &o.stats else {
            let _ = writeln!(out, "{:<18} (counters unavailable)", o.name);
            continue;
        };
        let meta = format!("{} ({})", s.meta.ops, nanos_ms(s.meta.nanos));
        let gets = count(s.objects.gets, s.objects.get_bytes, s.objects.get_nanos);
        let puts = count(s.objects.puts, s.objects.put_bytes, s.objects.put_nanos);
        let _ = writeln!(out, "{:<18} {meta:>20} {gets:>30} {puts:>30}", o.name);
    }
    print_engine_requests(&mut out, outcomes);
    let _ = writeln!(
        out,
        "\nreads served by    {:>18} {:>18} {:>18} {:>18}",
        "memory cache", "disk cache", "cache group", "object store"
    );
    let hits = |h: Option<Hits>| match h {
        Some(h) => format!("{} ({})", h.blocks, human(h.bytes)),
        None => "-".to_string(),
    };
    let mut missing_tier = false;
    for o in outcomes {
        let Some(s) = &o.stats else { continue };
        missing_tier |= s.memory.is_none() || s.disk.is_none() || s.group.is_none();
        // Without caches every block read is a get of the object store.
        let remote = s.remote.or(Some(Hits {
            blocks: s.objects.gets,
            bytes: s.objects.get_bytes,
        }));
        let _ = writeln!(
            out,
            "{:<18} {:>18} {:>18} {:>18} {:>18}",
            o.name,
            hits(s.memory),
            hits(s.disk),
            hits(s.group),
            hits(remote),
        );
    }
    if missing_tier {
        out.push_str("(-: the mount has no such cache)\n");
    }
    print!("{out}");
}

/// The metadata server's requests per phase and per file or request (an embedded engine
/// sends none, and the table is left out).
fn print_engine_requests(out: &mut String, outcomes: &[Outcome]) {
    let counted = |o: &Outcome| {
        o.stats
            .filter(|s| s.meta.requests != EngineCounters::default())
    };
    if !outcomes.iter().any(|o| counted(o).is_some()) {
        return;
    }
    let _ = writeln!(
        out,
        "\nmetadata server    {:>18} {:>18} {:>18} {:>18}",
        "reads (per op)", "commits (per op)", "compares", "retries"
    );
    for o in outcomes {
        let Some(s) = counted(o) else { continue };
        let per = |n: u64| format!("{n} ({:.1})", n as f64 / o.ops.max(1) as f64);
        let r = &s.meta.requests;
        let _ = writeln!(
            out,
            "{:<18} {:>18} {:>18} {:>18} {:>18}",
            o.name,
            per(r.reads),
            per(r.commits),
            r.compares,
            s.meta.retries,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(big: &str, small_files: u64, small: &str, threads: usize) -> BenchArgs {
        BenchArgs {
            path: PathBuf::from("/tmp"),
            big_file_size: big.into(),
            small_files,
            small_file_size: small.into(),
            threads,
        }
    }

    #[test]
    fn plans_check_their_numbers() {
        let plan = Plan::from_args(&args("1G", 100, "128K", 1)).unwrap();
        assert_eq!((plan.big_size, plan.small_size), (1 << 30, 128 << 10));
        let err = |a| format!("{:#}", Plan::from_args(&a).unwrap_err());
        assert!(err(args("1G", 100, "128K", 0)).contains("--threads"));
        assert!(err(args("1X", 100, "128K", 1)).contains("--big-file-size"));
        assert!(err(args("1G", 100, "lots", 1)).contains("--small-file-size"));
        assert!(err(args("0", 0, "1K", 1)).contains("nothing to measure"));
        assert!(err(args("20000000G", 1, "1K", 1024)).contains("more than"));
    }

    #[test]
    fn patterns_differ_per_thread() {
        let (a, b) = (pattern(0), pattern(1));
        assert_eq!(a.len(), IO_SIZE);
        assert_ne!(a, b);
        assert_ne!(a[..4096], a[4096..8192]);
    }
}
