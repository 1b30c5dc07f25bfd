//! `datenlord gateway`: opens a volume as a mount does (its own session, caches and
//! background work) and serves it over S3 (`datenlord_gateway`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use datenlord_gateway::{Credentials, Gateway, GatewayConfig, namespace::Namespace};
use datenlord_meta::{Caller, SessionInfo, Timespec};
use datenlord_vfs::{Vfs, VfsConfig};
use tokio::net::TcpListener;

use crate::cache_options::CacheOptions;
use crate::cli::GatewayArgs;
use crate::home;

pub fn run(args: GatewayArgs) -> Result<ExitCode> {
    crate::run_daemon(serve(args))
}

fn owner(text: &str) -> Result<Caller> {
    let parsed = text
        .split_once(':')
        .and_then(|(u, g)| Some((u.parse().ok()?, g.parse().ok()?)));
    match parsed {
        Some((uid, gid)) => Ok(Caller { uid, gid }),
        None => bail!("--owner {text:?}: expected UID:GID, e.g. 1000:1000"),
    }
}

fn credentials(args: &GatewayArgs) -> Result<Credentials> {
    if let Some(path) = &args.credentials {
        return Ok(Credentials::from_file(path)?);
    }
    match Credentials::from_env()? {
        Some(credentials) => Ok(credentials),
        None => Err(datenlord_gateway::CredentialsError::None.into()),
    }
}

async fn serve(mut args: GatewayArgs) -> Result<()> {
    let credentials = credentials(&args)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(datenlord_gateway::tls::server_config(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let domains = datenlord_gateway::host::Domains::new(&args.domains)?;
    let caller = owner(&args.owner)?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}: expected ADDR:PORT", args.listen))?;
    let io_timeout = Duration::try_from_secs_f64(args.io_timeout)
        .context("--io-timeout must be a non-negative number of seconds")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let (meta, store) = home::open(args.meta.meta.as_deref()).await?;
    let meta = Arc::new(meta.with_timeout(io_timeout));
    let uuid = meta.volume().uuid.clone();
    if args.cache.cache_dirs.is_empty() {
        // A mount of the same volume on this machine keeps its own disk cache.
        args.cache.cache_dirs = vec![home::home().join("gateway-cache")];
    }
    let caches = CacheOptions::from_args(&args.cache, &args.readahead, store.url(), &uuid, true)?;
    let store = Arc::new(
        store
            .with_deadline(io_timeout)
            .with_cache(&caches.config)
            .context("opening the cache")?,
    );
    let config = VfsConfig {
        buffer_size: args.buffer_size.max(8) << 20,
        relatime: false,
        readahead: caches.readahead,
        ..VfsConfig::default()
    };
    let now = Timespec::now().sec;
    let info = SessionInfo {
        host: config.host.clone(),
        host_id: config.host_id.clone(),
        pid: std::process::id(),
        mountpoint: format!("s3 gateway {scheme}://{}", listener.local_addr()?),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: now,
        heartbeat: now,
        lease: 0,
        ..Default::default()
    };
    let vfs = Arc::new(Vfs::new(meta.clone(), store.clone(), config));
    if let Err(err) = vfs.reclaim_dead_sessions().await {
        tracing::warn!(%err, "cannot reclaim the sessions of dead mounts");
    }
    vfs.start_session(info).await?;
    let background = tokio::spawn(vfs.clone().background());
    let ns = Namespace::new(vfs.clone(), caller);
    let volume = meta.volume().name.clone();
    let gateway = Gateway::new(ns, credentials.clone(), args.region.clone());
    let served_at = listener.local_addr()?;
    tracing::info!(
        volume,
        users = credentials.len(),
        "S3 gateway on {scheme}://{served_at}"
    );
    eprintln!("datenlord: S3 gateway for volume {volume} on {scheme}://{served_at}");
    let server = GatewayConfig {
        tls,
        max_connections: args.max_connections.max(1),
        domains,
        ..GatewayConfig::default()
    };
    let stop = async {
        crate::stop_signal().await;
        tracing::info!("stopping the S3 gateway");
    };
    datenlord_gateway::serve(listener, gateway, server, stop).await;
    background.abort();
    let flushed = vfs.flush_all().await;
    let synced = vfs.sync_all().await;
    if let Err(err) = meta.close_session(vfs.session()).await {
        tracing::warn!(%err, "cannot close the gateway's session");
    }
    flushed.context("flushing buffered uploads at exit")?;
    synced.context("syncing at exit")?;
    Ok(())
}
