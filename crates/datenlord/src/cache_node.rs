//! `datenlord cache-node`: a member of a cache group. It keeps blocks of one volume in its own
//! tiers, serves them to the group's readers over TCP, registers itself in the volume's
//! metadata with a lease, and answers HTTP GETs for its locality report on the same port.

use std::net::SocketAddr;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use datenlord_meta::{CacheNodeInfo, Meta, Timespec, check_group_name};
use datenlord_store::BlockStore;
use datenlord_store::group::{GroupClient, GroupServer, HttpAnswer, HttpResponder};

use crate::cache_options::CacheOptions;
use crate::cli::CacheNodeArgs;
use crate::home;
use crate::locality;

/// How often a reader looks at its group's members.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);

/// Keeps `client`'s ring to the live members of `group`: now, then every two seconds.
pub async fn follow_group(meta: Arc<Meta>, group: String, client: Arc<GroupClient>) {
    async fn refresh(meta: &Meta, group: &str, client: &GroupClient) {
        match meta.cache_nodes(group).await {
            Ok(nodes) => {
                let now = Timespec::now().sec;
                client.set_members(
                    nodes
                        .into_iter()
                        .filter(|n| n.is_alive(now))
                        .map(|n| n.addr)
                        .collect(),
                );
            }
            Err(err) => tracing::warn!(%err, group, "cannot read the cache group's members"),
        }
    }
    refresh(&meta, &group, &client).await;
    if client.members().is_empty() {
        tracing::warn!(group, "the cache group has no live members (yet)");
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(FOLLOW_EVERY).await;
            refresh(&meta, &group, &client).await;
        }
    });
}

/// The node's HTTP reports.
struct Reports {
    meta: Arc<Meta>,
    store: Arc<BlockStore>,
    server: std::sync::OnceLock<Arc<GroupServer>>,
    node: CacheNodeInfo,
    group: String,
}

impl HttpResponder for Reports {
    fn respond(&self, path: String) -> Pin<Box<dyn Future<Output = HttpAnswer> + Send>> {
        let (meta, store) = (self.meta.clone(), self.store.clone());
        let served = self
            .server
            .get()
            .map(|s| locality::tier_json(&s.served.snapshot()));
        let node = serde_json::json!({
            "addr": self.node.addr, "group": self.group, "host": self.node.host,
            "pid": self.node.pid, "version": self.node.version, "started": self.node.started,
        });
        Box::pin(async move {
            match path.split('?').next().unwrap_or("") {
                "/locality" | "/" => {
                    let mut report = locality::report(&meta, &store).await;
                    report["node"] = node;
                    report["served"] = served.unwrap_or_default();
                    let body = serde_json::to_vec_pretty(&report).unwrap_or_default();
                    (200, "application/json", body)
                }
                _ => (404, "text/plain", b"try /locality\n".to_vec()),
            }
        })
    }
}

pub fn run(args: CacheNodeArgs) -> Result<ExitCode> {
    crate::run_daemon(serve(args))
}

async fn serve(args: CacheNodeArgs) -> Result<()> {
    check_group_name(&args.group)?;
    let lease = Duration::try_from_secs_f64(args.lease)
        .ok()
        .filter(|l| *l >= Duration::from_secs(1))
        .context("--lease must be at least 1 second")?;
    let io_timeout = Duration::try_from_secs_f64(args.io_timeout)
        .context("--io-timeout must be a non-negative number of seconds")?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}: expected ADDR:PORT", args.listen))?;
    let (meta, store) = home::open(args.meta.meta.as_deref()).await?;
    let meta = Arc::new(meta.with_timeout(io_timeout));
    let volume = meta.volume().clone();
    let caches = CacheOptions::from_args(&args.cache, "0", store.url(), &volume.uuid, false)?;
    if !caches.config.is_enabled() {
        bail!("a cache node needs a cache: give --cache-size or --memory-cache-size above 0");
    }
    let store = Arc::new(
        store
            .with_deadline(io_timeout)
            .with_cache(&caches.config)
            .context("opening the cache")?,
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let addr = match &args.advertise {
        Some(addr) => addr.clone(),
        None if bound.ip().is_unspecified() => {
            bail!(
                "--listen {listen} is every address: say which one readers use with --advertise HOST:PORT"
            )
        }
        None => bound.to_string(),
    };
    let now = Timespec::now().sec;
    let info = CacheNodeInfo {
        addr: addr.clone(),
        host: datenlord_vfs::this_host(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started: now,
        heartbeat: now,
        lease: lease.as_secs() as i64,
        capacity: caches.config.memory_size + caches.config.disk_size,
    };
    let reports = Arc::new(Reports {
        meta: meta.clone(),
        store: store.clone(),
        server: std::sync::OnceLock::new(),
        node: info.clone(),
        group: args.group.clone(),
    });
    let server = Arc::new(GroupServer::new(
        store,
        &volume.uuid,
        Some(reports.clone() as Arc<dyn HttpResponder>),
    ));
    let _ = reports.server.set(server.clone());
    meta.register_cache_node(&args.group, &info)
        .await
        .context("registering in the cache group")?;
    tracing::info!(
        group = args.group,
        addr,
        volume = volume.name,
        memory = caches.config.memory_size,
        disk = caches.config.disk_size,
        "cache node ready"
    );
    println!(
        "datenlord: cache node {addr} serving volume {} in group {}",
        volume.name, args.group
    );
    let heartbeat = tokio::spawn(keep_registered(
        meta.clone(),
        args.group.clone(),
        info,
        lease,
    ));
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        served = server.serve(listener) => served.context("serving"),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = terminate.recv() => Ok(()),
    };
    heartbeat.abort();
    if let Err(err) = meta.remove_cache_node(&args.group, &addr).await {
        tracing::warn!(%err, "cannot leave the cache group; readers skip this node when its lease runs out");
    }
    tracing::info!(addr, "cache node stopped");
    outcome
}

/// Renews the node's record every third of its lease, registering again if it was removed.
async fn keep_registered(meta: Arc<Meta>, group: String, info: CacheNodeInfo, lease: Duration) {
    loop {
        tokio::time::sleep(lease / 3).await;
        match meta.renew_cache_node(&group, &info.addr).await {
            Ok(true) => {}
            Ok(false) => {
                let again = CacheNodeInfo {
                    heartbeat: Timespec::now().sec,
                    ..info.clone()
                };
                if let Err(err) = meta.register_cache_node(&group, &again).await {
                    tracing::warn!(%err, "cannot register in the cache group again");
                }
            }
            Err(err) => tracing::warn!(%err, "cannot renew the cache group lease"),
        }
    }
}
