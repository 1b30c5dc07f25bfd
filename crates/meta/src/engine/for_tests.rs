//! The engine a test runs on, chosen by its environment (feature `testing`), so that every
//! suite built on the metadata layer runs unchanged on every engine.

use std::path::Path;

use super::{AnyEngine, Faulty, KvError, MemoryEngine, MetaUrl};

/// A fresh, empty engine for a test whose files may live in `dir`:
/// - `DATENLORD_TEST_ETCD=HOST:PORT`: that etcd, under a prefix named after `dir`, with the
///   metadata cache on (as a mount has it);
/// - `DATENLORD_TEST_REDIS=HOST:PORT`: that Redis, under a prefix named after `dir`;
/// - `DATENLORD_TEST_POSTGRES=HOST:PORT`: that PostgreSQL (user `postgres`, trusted), in a
///   table named after `dir`;
/// - `DATENLORD_TEST_ENGINE=memory`: the memory engine (etcd's semantics, the deletion rule
///   enforced); `=faulty`: the memory engine losing every 3rd commit to a conflict and
///   failing every 101st operation as unreachable;
/// - otherwise SQLite in `dir`.
pub async fn engine_for_tests(dir: &Path) -> Result<AnyEngine, KvError> {
    match std::env::var("DATENLORD_TEST_ENGINE").as_deref() {
        Ok("memory") => return Ok(AnyEngine::Memory(MemoryEngine::new())),
        Ok("faulty") => {
            let faulty = Faulty::new(MemoryEngine::new());
            faulty.plan().conflict_every(3);
            faulty.plan().fail_every(101);
            return Ok(AnyEngine::Faulty(faulty));
        }
        _ => {}
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().to_lowercase());
    let name = format!("test-{}", name.unwrap_or_default());
    let var = |name: &str| std::env::var(name).ok();
    let url = if let Some(endpoint) = var("DATENLORD_TEST_ETCD") {
        format!("etcd://{endpoint}/{name}")
    } else if let Some(endpoint) = var("DATENLORD_TEST_REDIS") {
        format!("redis://{endpoint}?prefix={name}")
    } else if let Some(endpoint) = var("DATENLORD_TEST_POSTGRES") {
        let table = super::postgres_table(&name);
        format!("postgres://postgres@{endpoint}/postgres?table={table}")
    } else {
        format!("sqlite://{}/meta.db", dir.display())
    };
    let engine = url.parse::<MetaUrl>()?.open(true).await?;
    // A mount's set-up: etcd with the metadata cache on.
    if let AnyEngine::Etcd(etcd) = &engine {
        etcd.cache_metadata(64 << 20);
    }
    Ok(engine)
}
