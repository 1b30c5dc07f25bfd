//! A fresh volume driven through `Vfs` with no mount: metadata on SQLite, on the etcd at
//! `DATENLORD_TEST_ETCD` (`host:port`) under a prefix of its own, or with
//! `DATENLORD_TEST_ENGINE=memory|faulty` on the memory engine (bare, or losing every 3rd commit
//! and failing every 101st operation), so the same rules are checked on every engine; blocks in
//! a `memory://` store.

use std::sync::Arc;

use datenlord_meta::engine::{AnyEngine, Faulty, MemoryEngine};
use datenlord_meta::{Caller, FORMAT_VERSION, Meta, MetaUrl, SessionInfo, Timespec, Volume};
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
    let url: MetaUrl = match std::env::var("DATENLORD_TEST_ETCD") {
        Ok(endpoint) => format!("etcd://{endpoint}/test-{name}").parse().unwrap(),
        Err(_) => format!("sqlite://{}/meta.db", dir.path().display())
            .parse()
            .unwrap(),
    };
    let storage = StorageUrl::Memory;
    let store = BlockStore::open(&storage, BLOCK as u32, true).unwrap();
    let kv = match std::env::var("DATENLORD_TEST_ENGINE").as_deref() {
        Ok("memory") => AnyEngine::Memory(MemoryEngine::new()),
        Ok("faulty") => {
            let faulty = Faulty::new(MemoryEngine::new());
            faulty.plan().conflict_every(3);
            faulty.plan().fail_every(101);
            AnyEngine::Faulty(faulty)
        }
        _ => url.open(true).await.unwrap(),
    };
    let volume = Volume {
        name: "test".into(),
        uuid: name,
        storage: storage.to_string(),
        block_size: BLOCK as u32,
        created: Timespec::now().sec,
        version: FORMAT_VERSION,
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
    })
    .await
    .unwrap();
    Fresh { vfs, _dir: dir }
}
