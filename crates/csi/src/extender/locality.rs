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

/// Reads sessions into `locality` every `every`; the claims of volumes it has not seen yet
/// are read as they appear (a volume's claim never changes).
pub async fn refresh_forever(meta: Arc<Meta>, locality: Arc<RwLock<Locality>>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match read(&meta, &locality).await {
            Ok(fresh) => *locality.write().unwrap_or_else(|p| p.into_inner()) = fresh,
            Err(err) => {
                tracing::warn!(%err, "cannot read where volumes are cached; keeping the last picture")
            }
        }
    }
}

/// One refresh: the cached bytes of every live CSI mount, by volume and node; claims kept
/// from `previous` for volumes still there, read for new ones.
pub async fn read(meta: &Meta, previous: &RwLock<Locality>) -> datenlord_meta::Result<Locality> {
    let now = Timespec::now().sec;
    let mut cached: HashMap<String, HashMap<String, u64>> = HashMap::new();
    for (_, session) in meta.sessions().await? {
        let alive = now - session.heartbeat < session.lease.max(1);
        let Some(volume) = session
            .root
            .strip_prefix(&format!("/{CSI_DIR}/"))
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
    let known: HashMap<String, String> = {
        let previous = previous.read().unwrap_or_else(|p| p.into_inner());
        previous
            .claims
            .iter()
            .map(|(claim, volume)| (volume.clone(), claim.clone()))
            .collect()
    };
    let mut claims = HashMap::new();
    if let Ok(Some(dir)) = volumes::csi_dir(meta).await {
        for (name, dirent) in meta.readdir(dir).await? {
            let Ok(id) = String::from_utf8(name) else {
                continue;
            };
            if let Some(claim) = known.get(&id) {
                claims.insert(claim.clone(), id);
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
