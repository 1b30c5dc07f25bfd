//! A fresh volume driven through `Vfs` with no mount: metadata on the engine the environment
//! names (`engine_for_tests`: SQLite, etcd, the memory engine bare or with faults), so the same
//! rules are checked on every engine; blocks in a `memory://` store.

use std::sync::Arc;

use datenlord_meta::engine::engine_for_tests;
use datenlord_meta::{Caller, FORMAT_VERSION, Meta, SessionInfo, Timespec, Volume};
use datenlord_store::{BlockStore, StorageUrl};
use datenlord_vfs::{Vfs, VfsConfig};

/// Small blocks, so that files of a few hundred KiB span several of them.
pub const BLOCK: u64 = 64 << 10;

pub const ME: Caller = Caller {
    uid: 1000,
    gid: 1000,
};

/// A volume and the directory its SQLite database lives in (gone with it).
pub struct Fresh {
    pub vfs: Arc<Vfs>,
    _dir: tempfile::TempDir,
}

pub async fn fresh(config: VfsConfig) -> Fresh {
    let dir = tempfile::tempdir().unwrap();
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let storage = StorageUrl::Memory;
    let store = BlockStore::open(&storage, BLOCK as u32, true).unwrap();
    let kv = engine_for_tests(dir.path()).await.unwrap();
    let volume = Volume {
        name: "test".into(),
        uuid: name,
        storage: storage.to_string(),
        block_size: BLOCK as u32,
        created: Timespec::now().sec,
        version: FORMAT_VERSION,
        trash_days: 0,
    };
    Meta::format(&kv, &volume, false).await.unwrap();
    let meta = Arc::new(Meta::open(kv).await.unwrap().rehearse_transactions());
    let vfs = Arc::new(Vfs::new(meta, Arc::new(store), config));
    let now = Timespec::now().sec;
    vfs.start_session(SessionInfo {
        host: vfs.config().host.clone(),
        host_id: vfs.config().host_id.clone(),
        pid: std::process::id(),
        mountpoint: "/nowhere".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        started: now,
        heartbeat: now,
        lease: 0,
        ..Default::default()
    })
    .await
    .unwrap();
    Fresh { vfs, _dir: dir }
}
