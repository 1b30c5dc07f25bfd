//! How far the etcd engine's metadata cache trails other clients — the delay in the guarantee
//! ARCHITECTURE.md states — and what reading one's own commit costs: one client commits a key,
//! another with its cache on reads it until the new value shows; then the cached client
//! commits and reads back at once (its next snapshot waits for the watch to report the
//! commit), against a read straight from etcd. Numbers, not a pass/fail test.
//!
//! `scripts/perf/watch_delay.sh` starts an etcd and runs it; by hand:
//! `DATENLORD_BENCH_ETCD=127.0.0.1:2379 cargo bench -p datenlord-meta --bench watch_delay`

use std::time::{Duration, Instant};

use datenlord_meta::MetaUrl;
use datenlord_meta::engine::{AnyEngine, EtcdEngine, KvEngine, KvTxn, prefix_end};

const SAMPLES: usize = 500;
/// A sample that takes longer than this is a failure of the watch, not a delay.
const GIVE_UP: Duration = Duration::from_secs(5);

async fn open(url: &MetaUrl) -> EtcdEngine {
    match url.open(true).await {
        Ok(AnyEngine::Etcd(etcd)) => etcd,
        Ok(_) => unreachable!("an etcd URL opens etcd"),
        Err(err) => {
            eprintln!("watch_delay: {err}");
            std::process::exit(1);
        }
    }
}

async fn put(engine: &EtcdEngine, key: &[u8], value: &[u8]) {
    let mut txn = engine.begin(true).await.expect("begin");
    txn.put(key, value).expect("put");
    txn.commit().await.expect("commit");
}

async fn cached_read(engine: &EtcdEngine, key: &[u8]) -> Option<Vec<u8>> {
    let mut txn = engine.begin(false).await.expect("begin");
    txn.get(key).await.expect("get")
}

/// Reads `key` through the cache until it holds `want`; how long that took.
async fn until_seen(engine: &EtcdEngine, key: &[u8], want: &[u8]) -> Duration {
    let started = Instant::now();
    while cached_read(engine, key).await.as_deref() != Some(want) {
        assert!(
            started.elapsed() < GIVE_UP,
            "the cache never saw the change"
        );
        tokio::task::yield_now().await;
    }
    started.elapsed()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |share: f64| samples[((samples.len() - 1) as f64 * share) as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<44} {:>8.3} {:>8.3} {:>8.3} {:>8.3}",
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(at(1.0))
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(endpoint) = std::env::var("DATENLORD_BENCH_ETCD") else {
        eprintln!("watch_delay: set DATENLORD_BENCH_ETCD=HOST:PORT (scripts/perf/watch_delay.sh)");
        std::process::exit(2);
    };
    let url: MetaUrl = format!("etcd://{endpoint}/watch-delay-{}", std::process::id())
        .parse()
        .expect("url");
    let (reader, writer) = (open(&url).await, open(&url).await);
    reader.cache_metadata(16 << 20);
    // Live once a change comes back through the watch.
    put(&reader, b"warm", b"1").await;
    until_seen(&reader, b"warm", b"1").await;
    while reader.counters().cached == 0 {
        assert!(cached_read(&reader, b"warm").await.is_some());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut other = Vec::with_capacity(SAMPLES);
    let mut own = Vec::with_capacity(SAMPLES);
    let mut latest = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let value = i.to_le_bytes();
        put(&writer, b"theirs", &value).await;
        other.push(until_seen(&reader, b"theirs", &value).await);

        put(&reader, b"mine", &value).await;
        let started = Instant::now();
        assert_eq!(
            cached_read(&reader, b"mine").await.as_deref(),
            Some(&value[..])
        );
        own.push(started.elapsed());

        let started = Instant::now();
        let mut txn = reader.begin_latest().await.expect("begin");
        assert_eq!(
            txn.get(b"mine").await.expect("get").as_deref(),
            Some(&value[..])
        );
        latest.push(started.elapsed());
    }
    println!("etcd at {endpoint}, {SAMPLES} samples, milliseconds");
    println!(
        "{:<44} {:>8} {:>8} {:>8} {:>8}",
        "", "p50", "p90", "p99", "max"
    );
    report("another client's commit, seen in the cache", other);
    report("own commit, read back from the cache", own);
    report("a read from etcd (no cache)", latest);

    let mut txn = writer.begin(true).await.expect("begin");
    for (key, _) in txn
        .scan(b"", &prefix_end(&[0xff]), 100)
        .await
        .expect("scan")
    {
        txn.delete(&key).expect("delete");
    }
    txn.commit().await.expect("commit");
}
