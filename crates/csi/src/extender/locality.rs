//! The extender's picture of where data is warm, read from the metadata in the background —
//! never while a scheduling call waits: the mounts' sessions (each CSI volume's mount records
//! its node and how many bytes its caches hold, at every heartbeat) and the claims the
//! volumes were made for.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use datenlord_meta::{Meta, Timespec};

use super::placement::Locality;
use crate::volumes::{self, CSI_DIR};

/// The latest picture, swapped whole by each refresh: a call takes a reference to it and
/// never copies it or waits for a refresh.
#[derive(Debug, Default)]
pub struct Latest(RwLock<Arc<Locality>>);

impl Latest {
    /// The picture now.
    pub fn get(&self) -> Arc<Locality> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, locality: Locality) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(locality);
    }
}

/// Reads the picture once into `latest`; a failure keeps the last one.
pub async fn refresh(meta: &Meta, latest: &Latest) {
    match read(meta, &latest.get()).await {
        Ok(fresh) => latest.set(fresh),
        Err(err) => {
            tracing::warn!(%err, "cannot read where volumes are cached; keeping the last picture");
        }
    }
}

/// [`refresh`] every `every`, the first one `every` from now (the caller made the first
/// picture already).
pub async fn refresh_forever(meta: Arc<Meta>, latest: Arc<Latest>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tick.tick().await;
        refresh(&meta, &latest).await;
    }
}

/// One refresh: the cached bytes of every live CSI mount, by volume and node; claims kept
/// from `previous` for volumes still there, read for new ones.
async fn read(meta: &Meta, previous: &Locality) -> datenlord_meta::Result<Locality> {
    let now = Timespec::now().sec;
    let prefix = format!("/{CSI_DIR}/");
    let mut cached: HashMap<String, HashMap<String, u64>> = HashMap::new();
    for (_, session) in meta.sessions().await? {
        let alive = now - session.heartbeat < session.lease.max(1);
        let Some(volume) = session
            .root
            .strip_prefix(&prefix)
            .filter(|v| !v.is_empty() && !v.contains('/'))
        else {
            continue;
        };
        if !alive || session.cached_bytes == 0 {
            continue;
        }
        let node = if session.node.is_empty() {
            session.host.clone()
        } else {
            session.node.clone()
        };
        *cached
            .entry(volume.to_string())
            .or_default()
            .entry(node)
            .or_default() += session.cached_bytes;
    }
    let known: HashMap<&str, &str> = previous
        .claims
        .iter()
        .map(|(claim, volume)| (volume.as_str(), claim.as_str()))
        .collect();
    let mut claims = HashMap::new();
    if let Ok(Some(dir)) = volumes::csi_dir(meta).await {
        for (name, dirent) in meta.readdir(dir).await? {
            let Ok(id) = String::from_utf8(name) else {
                continue;
            };
            if let Some(claim) = known.get(id.as_str()) {
                claims.insert((*claim).to_string(), id);
                continue;
            }
            if let Ok(Some(record)) = volumes::record(meta, &id, dirent.ino).await
                && let Some(claim) = record.claim
            {
                claims.insert(claim, id);
            }
        }
    }
    Ok(Locality { cached, claims })
}
