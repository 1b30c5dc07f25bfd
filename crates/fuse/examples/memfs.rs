//! memfs: a complete in-memory filesystem served with `datenlord-fuse`.
//!
//! ```text
//! cargo run --release -p datenlord-fuse --example memfs -- /mnt/memfs
//! ```
//! It stays mounted until SIGINT or SIGTERM, then unmounts.

#[path = "memfs/fs.rs"]
mod fs;
#[path = "memfs/locks.rs"]
mod locks;
#[path = "memfs/tree.rs"]
mod tree;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use datenlord_fuse::{Config, Mount, MountConfig, MountOption, Session};

/// Mount an in-memory filesystem (files, directories, symlinks, hard links, xattrs, locks).
#[derive(Debug, Parser)]
#[command(
    after_help = "Examples:\n  memfs /mnt/m\n  memfs /mnt/m --workers 4 --attr-timeout 0 -o allow_other,fsname=mem"
)]
struct Args {
    /// Where to mount (an existing directory).
    mountpoint: PathBuf,
    /// Worker queues reading /dev/fuse (default: number of CPUs).
    #[arg(long)]
    workers: Option<usize>,
    /// Seconds the kernel may cache attributes.
    #[arg(long, default_value_t = 1.0)]
    attr_timeout: f64,
    /// Seconds the kernel may cache names.
    #[arg(long, default_value_t = 1.0)]
    entry_timeout: f64,
    /// Let the kernel cache writes (FUSE writeback cache).
    #[arg(long)]
    writeback_cache: bool,
    /// Mount options, comma separated (allow_other, ro, fsname=NAME, ...).
    #[arg(short = 'o', value_delimiter = ',')]
    options: Vec<String>,
    /// Detach a dead FUSE mount at the mountpoint before mounting.
    #[arg(long)]
    clean_stale: bool,
    /// Log filter (error, warn, info, debug, trace).
    #[arg(long, default_value = "info")]
    log: String,
}

fn seconds(value: f64, what: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| format!("--{what} must be a non-negative number of seconds"))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&args.log))
        .with_writer(std::io::stderr)
        .init();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("memfs: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let ttl = fs::Ttl {
        attr: seconds(args.attr_timeout, "attr-timeout")?,
        entry: seconds(args.entry_timeout, "entry-timeout")?,
    };
    let mut options = vec![
        MountOption::FsName("memfs".into()),
        MountOption::Subtype("memfs".into()),
        MountOption::DefaultPermissions,
    ];
    options.extend(
        args.options
            .iter()
            .filter(|o| !o.is_empty())
            .map(|o| MountOption::parse(o)),
    );
    let mut config = Config {
        writeback_cache: args.writeback_cache,
        ..Config::default()
    };
    if let Some(workers) = args.workers {
        config.workers = workers.max(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mount = Mount::new(
            &args.mountpoint,
            &MountConfig {
                options,
                clean_stale: args.clean_stale,
            },
        )?;
        let memfs = fs::MemFs::new(ttl);
        let session = Session::new(memfs.clone(), mount, config)?;
        memfs.set_notifier(session.notifier());
        session.run().await?;
        Ok(())
    })
}
