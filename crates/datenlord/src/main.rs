//! The `datenlord` command: parses the command line and runs one subcommand.

#![forbid(unsafe_code)]

mod admin;
mod bench;
mod cache_ioctl;
mod cache_node;
mod cache_options;
mod cli;
mod clone;
mod coherence;
mod csi;
mod dump;
mod extender;
mod fuse_adapter;
mod gateway;
mod home;
mod kernel_inodes;
mod locality;
mod mount;
mod mount_helper;
mod progress;
mod quota;
mod trash;
mod warmup;

use clap::Parser;

/// Runs a long-lived server (the gateway, a cache node) on a multi-threaded runtime until it
/// returns, then gives its tasks 5 s to end.
fn run_daemon(
    serve: impl std::future::Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<std::process::ExitCode> {
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(serve);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    result.map(|()| std::process::ExitCode::SUCCESS)
}

/// Completes at SIGTERM or SIGINT: how a server is told to stop.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// A server holds a descriptor per client: lift the soft limit on open files (often 1 024) to
/// the hard one.
fn raise_open_file_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(err) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(soft, hard, %err, "cannot raise the limit on open files");
            }
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "cannot read the limit on open files"),
    }
}

fn main() -> std::process::ExitCode {
    if mount_helper::is_helper() {
        return report(mount_helper::run());
    }
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        cli::Command::Format(args) => admin::format(args),
        cli::Command::Csi(args) => csi::run(args),
        cli::Command::SchedulerExtender(args) => extender::run(args),
        cli::Command::Mount(args) => mount::run(args),
        cli::Command::Umount(args) => admin::umount(args),
        cli::Command::Status(args) => admin::status(args),
        cli::Command::Fsck(args) => admin::fsck(args),
        cli::Command::Warmup(args) => warmup::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::CacheNode(args) => cache_node::run(args),
        cli::Command::Gateway(args) => gateway::run(args),
        cli::Command::Quota(args) => quota::run(args),
        cli::Command::Clone(args) => clone::run(args),
        cli::Command::Gc(args) => admin::gc(args),
        cli::Command::InstallHelper(args) => mount_helper::install(&args.dir, args.force),
        cli::Command::Dump(args) => dump::dump(args),
        cli::Command::Load(args) => dump::load(args),
        cli::Command::Snapshot(args) => clone::snapshot(args),
        cli::Command::Trash(args) => trash::run(args),
    };
    report(result)
}

fn report(result: anyhow::Result<std::process::ExitCode>) -> std::process::ExitCode {
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("datenlord: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
