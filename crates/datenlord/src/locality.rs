//! Which data of a volume a node's cache holds, by top-level directory: what `status --cache`
//! shows and what a scheduler reads (as JSON over HTTP) to place pods near their data.

use std::collections::{BTreeMap, HashSet};

use datenlord_meta::{CHUNK_SIZE, FileKind, Meta, ROOT_INO, visible};
use datenlord_store::BlockStore;
use datenlord_store::cache::{CacheCounters, TierCounters};
use serde_json::{Value, json};

/// A report walks at most this many files (it then says it is partial).
const MAX_FILES: u64 = 1_000_000;

/// Bytes stored and cached under one top-level directory ("/" for files at the root).
#[derive(Debug, Default, Clone, Copy)]
struct Share {
    files: u64,
    bytes: u64,
    cached: u64,
}

/// Stored and cached bytes of one file.
async fn file_share(meta: &Meta, store: &BlockStore, ino: u64) -> datenlord_meta::Result<Share> {
    let size = meta.getattr(ino).await?.size;
    let mut share = Share {
        files: 1,
        ..Share::default()
    };
    for index in 0..size.div_ceil(CHUNK_SIZE) {
        let Ok(index) = u32::try_from(index) else {
            break;
        };
        let end = (size - u64::from(index) * CHUNK_SIZE).min(CHUNK_SIZE) as u32;
        let slices = meta.chunk(ino, index).await?;
        for piece in visible(&slices, 0, end)
            .into_iter()
            .filter(|p| !p.is_hole())
        {
            let len = u64::from(piece.len);
            share.bytes += len;
            share.cached += store.cached_bytes(piece.object, piece.offset, len);
        }
    }
    Ok(share)
}

/// Walks the volume: each top-level directory with the bytes under it and how many of them
/// `store`'s caches hold; true when the walk stopped early.
async fn by_directory(
    meta: &Meta,
    store: &BlockStore,
) -> datenlord_meta::Result<(BTreeMap<String, Share>, bool)> {
    let mut shares: BTreeMap<String, Share> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut walked = 0;
    for (name, entry) in meta.readdir(ROOT_INO).await? {
        let top = String::from_utf8_lossy(&name).into_owned();
        let (bucket, mut stack) = match entry.kind {
            FileKind::Dir => (format!("/{top}"), vec![entry.ino]),
            FileKind::File => ("/".to_string(), Vec::new()),
            _ => continue,
        };
        let mut share = Share::default();
        if entry.kind == FileKind::File && seen.insert(entry.ino) {
            share = file_share(meta, store, entry.ino).await?;
            walked += 1;
        }
        while let Some(dir) = stack.pop() {
            // Gone meanwhile: the walk goes on without it.
            let Ok(entries) = meta.readdir(dir).await else {
                continue;
            };
            for (_, child) in entries {
                match child.kind {
                    FileKind::Dir => stack.push(child.ino),
                    FileKind::File if seen.insert(child.ino) => {
                        if let Ok(s) = file_share(meta, store, child.ino).await {
                            share.files += s.files;
                            share.bytes += s.bytes;
                            share.cached += s.cached;
                        }
                        walked += 1;
                        if walked >= MAX_FILES {
                            add(&mut shares, bucket, share);
                            return Ok((shares, true));
                        }
                    }
                    _ => {}
                }
            }
        }
        add(&mut shares, bucket, share);
    }
    Ok((shares, false))
}

fn add(shares: &mut BTreeMap<String, Share>, bucket: String, share: Share) {
    let total = shares.entry(bucket).or_default();
    total.files += share.files;
    total.bytes += share.bytes;
    total.cached += share.cached;
}

pub fn tier_json(t: &TierCounters) -> Value {
    json!({
        "hits": t.hits, "misses": t.misses, "hit_bytes": t.hit_bytes,
        "mean_hit_latency_us": t.hit_nanos.checked_div(t.hits).unwrap_or(0) / 1000,
        "inserted": t.inserted, "inserted_bytes": t.inserted_bytes, "evictions": t.evictions,
        "corrupt": t.corrupt, "write_failures": t.write_failures,
        "used_bytes": t.used, "capacity_bytes": t.capacity,
    })
}

pub fn counters_json(c: &CacheCounters) -> Value {
    json!({
        "memory": c.memory.as_ref().map(tier_json),
        "disk": c.disk.as_ref().map(tier_json),
        "group": c.group.as_ref().map(tier_json),
        "object_store": tier_json(&c.remote),
    })
}

/// The locality report of a node: its volume, its cache's counters and what it holds where.
pub async fn report(meta: &Meta, store: &BlockStore) -> Value {
    let volume = meta.volume();
    let (directories, partial) = match by_directory(meta, store).await {
        Ok((shares, partial)) => (
            shares
                .into_iter()
                .map(|(path, s)| {
                    json!({"path": path, "files": s.files, "bytes": s.bytes, "cached_bytes": s.cached})
                })
                .collect::<Vec<_>>(),
            partial,
        ),
        Err(err) => (vec![json!({"error": err.to_string()})], true),
    };
    json!({
        "volume": {"name": volume.name, "uuid": volume.uuid},
        "cache": store.cache_counters().as_ref().map(counters_json),
        "directories": directories,
        "partial": partial,
    })
}

/// How long `status --cache` waits for a member's report.
const REPORT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `GET /locality` of a member, as JSON.
async fn fetch_report(addr: &str) -> Result<Value, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let request =
            format!("GET /locality HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        let split = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("not an HTTP answer")?;
        serde_json::from_slice(&answer[split + 4..]).map_err(|e| e.to_string())
    };
    tokio::time::timeout(REPORT_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err("no answer in time".into()))
}

/// Every cache group's members, with the reports of the live ones.
pub async fn groups(meta: &Meta, now: i64) -> anyhow::Result<Value> {
    let mut members = Vec::new();
    for (group, node) in meta.cache_groups().await? {
        let alive = node.is_alive(now);
        let report = if alive {
            match fetch_report(&node.addr).await {
                Ok(report) => report,
                Err(err) => json!({"error": err}),
            }
        } else {
            Value::Null
        };
        members.push(json!({
            "group": group, "addr": node.addr, "host": node.host, "pid": node.pid,
            "alive": alive, "heartbeat_age": now - node.heartbeat, "capacity": node.capacity,
            "report": report,
        }));
    }
    Ok(Value::Array(members))
}

pub fn print_groups(groups: &Value) {
    use crate::admin::human;
    let members = groups.as_array().map(Vec::as_slice).unwrap_or_default();
    if members.is_empty() {
        println!("cache      no cache groups");
    }
    let num = |v: &Value| v.as_u64().unwrap_or(0);
    for m in members {
        let state = if m["alive"].as_bool().unwrap_or(false) {
            "alive".to_string()
        } else {
            format!("lease ran out {}s ago", num(&m["heartbeat_age"]))
        };
        println!(
            "cache node {} group {} ({state}, host {}, capacity {})",
            m["addr"].as_str().unwrap_or("?"),
            m["group"].as_str().unwrap_or("?"),
            m["host"].as_str().unwrap_or("?"),
            human(num(&m["capacity"])),
        );
        let report = &m["report"];
        if let Some(err) = report["error"].as_str() {
            println!("  no report: {err}");
            continue;
        }
        for tier in ["memory", "disk"] {
            let t = &report["cache"][tier];
            if t.is_object() {
                println!(
                    "  {tier:<7} {} of {} used, {} hits, {} misses, {} evictions",
                    human(num(&t["used_bytes"])),
                    human(num(&t["capacity_bytes"])),
                    num(&t["hits"]),
                    num(&t["misses"]),
                    num(&t["evictions"]),
                );
            }
        }
        for dir in report["directories"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let (bytes, cached) = (num(&dir["bytes"]), num(&dir["cached_bytes"]));
            if cached > 0 {
                println!(
                    "  {:<30} {} of {} cached ({:.1}%)",
                    dir["path"].as_str().unwrap_or("?"),
                    human(cached),
                    human(bytes),
                    cached as f64 * 100.0 / bytes.max(1) as f64
                );
            }
        }
    }
}
