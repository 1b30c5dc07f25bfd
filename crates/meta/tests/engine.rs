//! One conformance suite for every metadata engine (`KvEngine` / `KvTxn`): the embedded
//! SQLite engine, the memory engine, the memory engine behind the fault wrapper (with no
//! faults planned it must be indistinguishable), a real etcd when `DATENLORD_TEST_ETCD`
//! (`host:port`) is set, with and without its metadata cache, and a real Redis when
//! `DATENLORD_TEST_REDIS` is. What the metadata logic relies
//! on is exactly what is checked here.

use std::sync::Arc;

use datenlord_meta::MetaUrl;
use datenlord_meta::engine::{
    AnyEngine, EtcdEngine, Faulty, KvEngine, KvError, KvTxn, MemoryEngine, TXN_BUDGET,
    postgres_table, prefix_end,
};

/// Every engine to run a check on, each fresh and empty, with the directory it lives in.
async fn engines() -> Vec<(String, AnyEngine, tempfile::TempDir)> {
    let mut all = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let url: MetaUrl = format!("sqlite://{}/meta.db", dir.path().display())
        .parse()
        .unwrap();
    all.push(("sqlite".to_string(), url.open(true).await.unwrap(), dir));
    let memory = AnyEngine::Memory(MemoryEngine::new());
    all.push(("memory".into(), memory, tempfile::tempdir().unwrap()));
    let faulty = AnyEngine::Faulty(Faulty::new(MemoryEngine::new()));
    all.push((
        "faulty(memory)".into(),
        faulty,
        tempfile::tempdir().unwrap(),
    ));
    if let Ok(endpoint) = std::env::var("DATENLORD_TEST_REDIS") {
        let dir = tempfile::tempdir().unwrap();
        let name = dir.path().file_name().unwrap().to_string_lossy();
        let url: MetaUrl = format!("redis://{endpoint}?prefix=engine-{name}")
            .parse()
            .unwrap();
        all.push(("redis".into(), url.open(true).await.unwrap(), dir));
    }
    if let Ok(endpoint) = std::env::var("DATENLORD_TEST_POSTGRES") {
        let dir = tempfile::tempdir().unwrap();
        let name = postgres_table(&dir.path().file_name().unwrap().to_string_lossy());
        let url: MetaUrl = format!("postgres://postgres@{endpoint}/postgres?table=engine{name}")
            .parse()
            .unwrap();
        all.push(("postgres".into(), url.open(true).await.unwrap(), dir));
    }
    if let Ok(endpoint) = std::env::var("DATENLORD_TEST_ETCD") {
        let (url, dir) = etcd_url(&endpoint, "engine");
        all.push(("etcd".into(), url.open(true).await.unwrap(), dir));
        let (cached, _, dir) = cached_etcd(&endpoint).await;
        all.push(("etcd with its cache".into(), AnyEngine::Etcd(cached), dir));
    }
    all
}

/// A fresh prefix of the etcd at `endpoint`, named after a new directory.
fn etcd_url(endpoint: &str, kind: &str) -> (MetaUrl, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let name = dir.path().file_name().unwrap().to_string_lossy();
    let url = format!("etcd://{endpoint}/{kind}-{name}").parse().unwrap();
    (url, dir)
}

/// An etcd engine with its metadata cache on, live (its watch started), and a second client
/// of the same prefix without one, for what other clients do.
async fn cached_etcd(endpoint: &str) -> (EtcdEngine, EtcdEngine, tempfile::TempDir) {
    let (url, dir) = etcd_url(endpoint, "cached");
    let open = || async {
        match url.open(true).await.unwrap() {
            AnyEngine::Etcd(etcd) => etcd,
            _ => unreachable!("an etcd URL opens etcd"),
        }
    };
    let (cached, other) = (open().await, open().await);
    cached.cache_metadata(1 << 20);
    // The cache goes live once the watch is set up: a key written now comes back through it.
    let before = cached.counters().cached;
    for _ in 0..500 {
        let mut txn = cached.begin(true).await.unwrap();
        txn.put(b"warm", b"1").unwrap();
        txn.commit().await.unwrap();
        cached
            .begin(false)
            .await
            .unwrap()
            .get(b"warm")
            .await
            .unwrap();
        if cached.counters().cached > before {
            let mut txn = cached.begin(true).await.unwrap();
            txn.delete(b"warm").unwrap();
            txn.commit().await.unwrap();
            return (cached, other, dir);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the cache of {url} never went live");
}

/// Whether the engine runs transactions optimistically (conflicts at commit) rather than
/// one writer at a time.
fn optimistic(engine: &AnyEngine) -> bool {
    !matches!(engine, AnyEngine::Sqlite(_))
}

/// A commit that read what another changed meanwhile: a conflict on the optimistic engines,
/// which compare what was read; PostgreSQL's serializable isolation may instead order it
/// before the other, as it did not read anything the other wrote before it read it.
fn assert_lost(engine: &AnyEngine, name: &str, outcome: Result<(), KvError>) {
    match engine {
        AnyEngine::Postgres(_) => assert!(
            matches!(outcome, Ok(()) | Err(KvError::Conflict)),
            "{name}: {outcome:?}"
        ),
        _ => assert!(
            matches!(outcome, Err(KvError::Conflict)),
            "{name}: {outcome:?}"
        ),
    }
}

async fn put_all(engine: &AnyEngine, pairs: &[(Vec<u8>, Vec<u8>)]) {
    for batch in pairs.chunks(TXN_BUDGET) {
        let mut txn = engine.begin(true).await.unwrap();
        for (key, value) in batch {
            txn.put(key, value).unwrap();
        }
        txn.commit().await.unwrap();
    }
}

async fn get(engine: &AnyEngine, key: &[u8]) -> Option<Vec<u8>> {
    engine.begin(false).await.unwrap().get(key).await.unwrap()
}

#[tokio::test]
async fn reads_see_the_transactions_own_writes() {
    for (name, engine, _dir) in engines().await {
        put_all(
            &engine,
            &[
                (b"a".to_vec(), b"old".to_vec()),
                (b"b".to_vec(), b"b".to_vec()),
            ],
        )
        .await;
        let mut txn = engine.begin(true).await.unwrap();
        txn.put(b"a", b"new").unwrap();
        txn.delete(b"b").unwrap();
        txn.put(b"c", b"c").unwrap();
        assert_eq!(
            txn.get(b"a").await.unwrap().as_deref(),
            Some(&b"new"[..]),
            "{name}"
        );
        assert_eq!(txn.get(b"b").await.unwrap(), None, "{name}");
        let keys: Vec<Vec<u8>> = txn
            .scan(b"", b"z", 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"c".to_vec()], "{name}");
        // Nothing is visible to others before the commit.
        assert_eq!(
            get(&engine, b"a").await.as_deref(),
            Some(&b"old"[..]),
            "{name}"
        );
        txn.commit().await.unwrap();
        assert_eq!(
            get(&engine, b"a").await.as_deref(),
            Some(&b"new"[..]),
            "{name}"
        );
        assert_eq!(get(&engine, b"b").await, None, "{name}");

        // A dropped transaction leaves nothing behind.
        let mut txn = engine.begin(true).await.unwrap();
        txn.put(b"d", b"d").unwrap();
        txn.delete(b"a").unwrap();
        drop(txn);
        assert_eq!(get(&engine, b"d").await, None, "{name}");
        assert!(get(&engine, b"a").await.is_some(), "{name}");

        // A read-only transaction refuses writes.
        let mut txn = engine.begin(false).await.unwrap();
        assert!(txn.put(b"e", b"e").is_err(), "{name}");
        assert!(txn.delete(b"a").is_err(), "{name}");
    }
}

#[tokio::test]
async fn scans_keep_their_bounds_order_and_limits() {
    for (name, engine, _dir) in engines().await {
        // More than one page of etcd's (1 000 keys per request), and keys with 0xff bytes.
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..1500u32)
            .map(|i| {
                (
                    [b"k".as_slice(), &i.to_be_bytes()].concat(),
                    i.to_le_bytes().to_vec(),
                )
            })
            .collect();
        pairs.push((b"j".to_vec(), b"before".to_vec()));
        pairs.push((b"l".to_vec(), b"after".to_vec()));
        pairs.push((vec![b'k', 0xff, 0xff, 0xff, 0xff, 0xff], b"last".to_vec()));
        put_all(&engine, &pairs).await;
        let mut txn = engine.begin(false).await.unwrap();

        let all = txn.scan(b"k", &prefix_end(b"k"), usize::MAX).await.unwrap();
        assert_eq!(all.len(), 1501, "{name}: every k key, none of j or l");
        assert!(
            all.windows(2).all(|w| w[0].0 < w[1].0),
            "{name}: in key order"
        );
        assert_eq!(all.last().unwrap().1, b"last", "{name}");

        let start = [b"k".as_slice(), &10u32.to_be_bytes()].concat();
        let end = [b"k".as_slice(), &20u32.to_be_bytes()].concat();
        let some = txn.scan(&start, &end, 100).await.unwrap();
        assert_eq!(some.len(), 10, "{name}: start included, end excluded");
        assert_eq!(some[0].0, start, "{name}");
        let first = txn.scan(&start, &end, 3).await.unwrap();
        assert_eq!(
            first,
            some[..3].to_vec(),
            "{name}: the limit keeps the first keys"
        );
        assert!(
            txn.scan(&start, &start, 10).await.unwrap().is_empty(),
            "{name}"
        );
        assert!(
            txn.scan(&end, &start, 10).await.unwrap().is_empty(),
            "{name}"
        );
        assert!(
            txn.scan(&start, &end, 0).await.unwrap().is_empty(),
            "{name}"
        );

        // Paging by restarting after the last key returned sees each key exactly once.
        let mut seen = Vec::new();
        let mut cursor = b"k".to_vec();
        loop {
            let page = txn.scan(&cursor, &prefix_end(b"k"), 97).await.unwrap();
            let Some((last, _)) = page.last() else { break };
            cursor = [last.as_slice(), &[0]].concat();
            seen.extend(page.into_iter().map(|(k, _)| k));
        }
        assert_eq!(
            seen,
            all.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

/// A transaction reads one snapshot: what others commit after its first read stays unseen.
/// Redis has no snapshots: there a later read sees the commit, and the transaction's end says
/// its reads were not of one moment.
#[tokio::test]
async fn a_transaction_reads_one_snapshot() {
    for (name, engine, _dir) in engines().await {
        put_all(&engine, &[(b"a".to_vec(), b"1".to_vec())]).await;
        let mut reader = engine.begin(false).await.unwrap();
        assert_eq!(reader.get(b"a").await.unwrap().as_deref(), Some(&b"1"[..]));
        let mut writer = engine.begin(true).await.unwrap();
        writer.put(b"a", b"2").unwrap();
        writer.put(b"b", b"2").unwrap();
        writer.commit().await.unwrap();
        assert_eq!(
            reader.get(b"a").await.unwrap().as_deref(),
            Some(&b"1"[..]),
            "{name}"
        );
        if let AnyEngine::Redis(_) = engine {
            assert_eq!(reader.get(b"b").await.unwrap().as_deref(), Some(&b"2"[..]));
            assert!(
                matches!(reader.end_read().await, Err(KvError::Conflict)),
                "{name}: torn reads are refused at the end"
            );
        } else {
            assert_eq!(reader.get(b"b").await.unwrap(), None, "{name}");
            assert_eq!(reader.scan(b"", b"z", 10).await.unwrap().len(), 1, "{name}");
            reader.end_read().await.unwrap();
        }
        assert_eq!(
            get(&engine, b"b").await.as_deref(),
            Some(&b"2"[..]),
            "{name}"
        );
        // Reads of one moment end well, on every engine, and cost no request to end.
        let mut reader = engine.begin(false).await.unwrap();
        reader.get(b"a").await.unwrap();
        assert_eq!(reader.scan(b"", b"z", 10).await.unwrap().len(), 2, "{name}");
        reader.get(b"c").await.unwrap();
        let before = engine.counters();
        reader.end_read().await.unwrap();
        assert_eq!(engine.counters(), before, "{name}");
        // A write transaction that decides to write nothing rests on one moment too (SQLite
        // runs one writer at a time: no other could commit meanwhile).
        if !optimistic(&engine) {
            continue;
        }
        let mut decider = engine.begin(true).await.unwrap();
        decider.get(b"a").await.unwrap();
        put_all(&engine, &[(b"a".to_vec(), b"3".to_vec())]).await;
        decider.get(b"c").await.unwrap();
        let outcome = decider.commit().await;
        if let AnyEngine::Redis(_) = engine {
            assert!(matches!(outcome, Err(KvError::Conflict)), "{name}");
        } else {
            outcome.unwrap();
        }
    }
}

/// Read-modify-write transactions racing each other lose no update: an optimistic engine
/// reports the loser's conflict at commit (and the loser retries), SQLite runs them in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_increments_lose_nothing() {
    for (name, engine, _dir) in engines().await {
        const TASKS: u64 = 8;
        const EACH: u64 = 10;
        let conflicts = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let engine = engine.clone();
                let conflicts = conflicts.clone();
                tokio::spawn(async move {
                    for _ in 0..EACH {
                        loop {
                            let mut txn = engine.begin(true).await.unwrap();
                            let n = txn
                                .get(b"counter")
                                .await
                                .unwrap()
                                .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()));
                            tokio::task::yield_now().await;
                            txn.put(b"counter", &(n + 1).to_be_bytes()).unwrap();
                            match txn.commit().await {
                                Ok(()) => break,
                                Err(KvError::Conflict) => {
                                    conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                                Err(err) => panic!("{err}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let n = get(&engine, b"counter").await.unwrap();
        assert_eq!(
            u64::from_be_bytes(n.try_into().unwrap()),
            TASKS * EACH,
            "{name}"
        );
        if !optimistic(&engine) {
            assert_eq!(
                conflicts.load(std::sync::atomic::Ordering::Relaxed),
                0,
                "{name}"
            );
        }
    }
}

/// Two optimistic transactions that read the same key and both write: the second to commit
/// conflicts and applies nothing. A write into a range another scanned conflicts too.
#[tokio::test]
async fn a_lost_race_is_a_conflict_that_applies_nothing() {
    for (name, engine, _dir) in engines().await {
        if !optimistic(&engine) {
            continue;
        }
        put_all(&engine, &[(b"x".to_vec(), b"0".to_vec())]).await;
        let mut one = engine.begin(true).await.unwrap();
        let mut two = engine.begin(true).await.unwrap();
        one.get(b"x").await.unwrap();
        two.get(b"x").await.unwrap();
        one.put(b"x", b"1").unwrap();
        two.put(b"x", b"2").unwrap();
        two.put(b"y", b"2").unwrap();
        one.commit().await.unwrap();
        assert!(
            matches!(two.commit().await, Err(KvError::Conflict)),
            "{name}"
        );
        assert_eq!(
            get(&engine, b"x").await.as_deref(),
            Some(&b"1"[..]),
            "{name}"
        );
        assert_eq!(
            get(&engine, b"y").await,
            None,
            "{name}: nothing of the loser applied"
        );

        let mut scanner = engine.begin(true).await.unwrap();
        scanner.scan(b"d/", b"d0", 100).await.unwrap();
        let mut creator = engine.begin(true).await.unwrap();
        creator.put(b"d/new", b"").unwrap();
        creator.commit().await.unwrap();
        scanner.put(b"summary", b"d/ is empty").unwrap();
        let outcome = scanner.commit().await;
        if let AnyEngine::Postgres(_) = engine {
            // Serializable isolation orders the scanner first: "d/ is empty" held then.
            assert!(matches!(outcome, Ok(()) | Err(KvError::Conflict)), "{name}");
        } else {
            assert!(matches!(outcome, Err(KvError::Conflict)), "{name}");
        }
    }
}

#[tokio::test]
async fn many_keys_read_together_are_read_like_one_by_one() {
    for (name, engine, _dir) in engines().await {
        // More keys than one etcd request may carry.
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..300u32)
            .map(|i| (format!("k{i:03}").into_bytes(), i.to_be_bytes().to_vec()))
            .collect();
        put_all(&engine, &pairs).await;
        let mut keys: Vec<Vec<u8>> = (0..300u32)
            .rev()
            .map(|i| format!("k{i:03}").into_bytes())
            .collect();
        keys.insert(7, b"absent".to_vec());
        let mut txn = engine.begin(true).await.unwrap();
        txn.put(b"k001", b"mine").unwrap();
        txn.delete(b"k002").unwrap();
        let values = txn.get_many(&keys).await.unwrap();
        assert_eq!(values.len(), keys.len(), "{name}");
        for (key, value) in keys.iter().zip(&values) {
            let expected = match key.as_slice() {
                b"absent" | b"k002" => None,
                b"k001" => Some(b"mine".to_vec()),
                _ => {
                    let i: u32 = std::str::from_utf8(&key[1..]).unwrap().parse().unwrap();
                    Some(i.to_be_bytes().to_vec())
                }
            };
            assert_eq!(value, &expected, "{name}: {key:?}");
        }
        drop(txn);
        if !optimistic(&engine) {
            continue;
        }
        // What was read together is compared at commit like what was read alone (a commit
        // stays within the budget: etcd counts each comparison as an operation).
        let mut txn = engine.begin(true).await.unwrap();
        txn.get_many(&keys[..TXN_BUDGET / 2]).await.unwrap();
        let mut other = engine.begin(true).await.unwrap();
        other.put(&keys[3], b"changed").unwrap();
        other.commit().await.unwrap();
        txn.put(b"summary", b"").unwrap();
        assert_lost(&engine, &name, txn.commit().await);
    }
}

#[tokio::test]
async fn prefetched_keys_count_only_once_read() {
    for (name, engine, _dir) in engines().await {
        put_all(
            &engine,
            &[
                (b"p1".to_vec(), b"one".to_vec()),
                (b"p2".to_vec(), b"two".to_vec()),
            ],
        )
        .await;
        let wanted = [b"p1".to_vec(), b"p2".to_vec(), b"absent".to_vec()];
        // Reads after a prefetch answer what plain reads answer, the transaction's own
        // writes included.
        let mut txn = engine.begin(true).await.unwrap();
        txn.put(b"p2", b"mine").unwrap();
        txn.prefetch(&wanted).await.unwrap();
        assert_eq!(
            txn.get(b"p1").await.unwrap(),
            Some(b"one".to_vec()),
            "{name}"
        );
        assert_eq!(
            txn.get(b"p2").await.unwrap(),
            Some(b"mine".to_vec()),
            "{name}"
        );
        assert_eq!(txn.get(b"absent").await.unwrap(), None, "{name}");
        drop(txn);
        if !optimistic(&engine) {
            continue;
        }
        // A key fetched but never read is no part of the transaction: its change is no
        // conflict. One read after the prefetch is.
        let mut txn = engine.begin(true).await.unwrap();
        txn.prefetch(&wanted).await.unwrap();
        txn.get(b"p1").await.unwrap();
        let mut other = engine.begin(true).await.unwrap();
        other.put(b"p2", b"changed").unwrap();
        other.commit().await.unwrap();
        txn.put(b"out", b"1").unwrap();
        txn.commit().await.unwrap();
        let mut txn = engine.begin(true).await.unwrap();
        txn.prefetch(&wanted).await.unwrap();
        txn.get(b"p1").await.unwrap();
        let mut other = engine.begin(true).await.unwrap();
        other.put(b"absent", b"now").unwrap();
        other.commit().await.unwrap();
        assert_eq!(
            txn.get(b"absent").await.unwrap(),
            None,
            "{name}: the snapshot's answer"
        );
        txn.put(b"out", b"2").unwrap();
        assert_lost(&engine, &name, txn.commit().await);
    }
}

/// Keys read unguarded answer what plain reads answer (the snapshot, the transaction's own
/// writes) but a change to them is no conflict, until the transaction reads one plainly.
#[tokio::test]
async fn unguarded_reads_are_no_part_of_the_commit() {
    for (name, engine, _dir) in engines().await {
        put_all(
            &engine,
            &[
                (b"u1".to_vec(), b"one".to_vec()),
                (b"u2".to_vec(), b"two".to_vec()),
            ],
        )
        .await;
        let wanted = [b"u1".to_vec(), b"u2".to_vec(), b"absent".to_vec()];
        let mut txn = engine.begin(true).await.unwrap();
        txn.put(b"u2", b"mine").unwrap();
        assert_eq!(
            txn.get_many_unguarded(&wanted).await.unwrap(),
            vec![Some(b"one".to_vec()), Some(b"mine".to_vec()), None],
            "{name}"
        );
        drop(txn);
        if !optimistic(&engine) {
            continue;
        }
        let mut txn = engine.begin(true).await.unwrap();
        txn.get_many_unguarded(&wanted).await.unwrap();
        let mut other = engine.begin(true).await.unwrap();
        other.put(b"u1", b"changed").unwrap();
        other.put(b"absent", b"now").unwrap();
        other.commit().await.unwrap();
        let again = txn.get_many_unguarded(&wanted).await.unwrap()[0].clone();
        if let AnyEngine::Postgres(_) = engine {
            // Read outside the transaction: the latest answer.
            assert_eq!(again, Some(b"changed".to_vec()), "{name}");
        } else {
            assert_eq!(
                again,
                Some(b"one".to_vec()),
                "{name}: the snapshot's answer"
            );
        }
        txn.put(b"out", b"1").unwrap();
        txn.commit().await.unwrap();
        // Read plainly after, the key is compared at commit.
        let mut txn = engine.begin(true).await.unwrap();
        txn.get_many_unguarded(&wanted).await.unwrap();
        txn.get(b"u2").await.unwrap();
        let mut other = engine.begin(true).await.unwrap();
        other.put(b"u2", b"changed").unwrap();
        other.commit().await.unwrap();
        txn.put(b"out", b"2").unwrap();
        assert_lost(&engine, &name, txn.commit().await);
    }
}

/// etcd's blind spot, which every optimistic engine here but Redis shares: deleting a key inside a range
/// another transaction scanned is not a conflict by itself. The logic's rule — whoever deletes
/// a key that others find by scanning also writes a key those scanners read — makes it one;
/// the memory engine refuses a commit that relied on a scan the rule did not protect.
#[tokio::test]
async fn deletes_inside_scanned_ranges() {
    for (name, engine, _dir) in engines().await {
        if !optimistic(&engine) {
            continue;
        }
        let dir_attr = b"A-dir".to_vec();
        put_all(
            &engine,
            &[
                (dir_attr.clone(), b"v1".to_vec()),
                (b"D-dir-a".to_vec(), b"".to_vec()),
            ],
        )
        .await;

        // Following the rule: the deleter also writes the directory's key the scanner read.
        let mut scanner = engine.begin(true).await.unwrap();
        scanner.get(&dir_attr).await.unwrap();
        assert_eq!(
            scanner.scan(b"D-dir-", b"D-dir.", 10).await.unwrap().len(),
            1
        );
        let mut deleter = engine.begin(true).await.unwrap();
        deleter.delete(b"D-dir-a").unwrap();
        deleter.put(&dir_attr, b"v2").unwrap();
        deleter.commit().await.unwrap();
        scanner.put(b"Z-summary", b"dir has one entry").unwrap();
        let outcome = scanner.commit().await;
        if let AnyEngine::Postgres(_) = engine {
            // Serializable isolation may order the scanner first, when it was right.
            assert!(matches!(outcome, Ok(()) | Err(KvError::Conflict)), "{name}");
        } else {
            assert!(matches!(outcome, Err(KvError::Conflict)), "{name}");
        }

        // Breaking it: the deletion alone goes unnoticed by etcd; the memory engines refuse.
        put_all(&engine, &[(b"D-dir-b".to_vec(), b"".to_vec())]).await;
        let mut scanner = engine.begin(true).await.unwrap();
        assert_eq!(
            scanner.scan(b"D-dir-", b"D-dir.", 10).await.unwrap().len(),
            1
        );
        let mut deleter = engine.begin(true).await.unwrap();
        deleter.delete(b"D-dir-b").unwrap();
        deleter.commit().await.unwrap();
        scanner.put(b"Z-summary", b"dir has one entry").unwrap();
        let outcome = scanner.commit().await;
        match engine {
            AnyEngine::Etcd(_) => assert!(outcome.is_ok(), "{name}: etcd does not see it"),
            AnyEngine::Postgres(_) => assert!(
                matches!(outcome, Ok(()) | Err(KvError::Conflict)),
                "{name}: serializable either way"
            ),
            AnyEngine::Redis(_) => assert!(
                matches!(outcome, Err(KvError::Conflict)),
                "{name}: a scan's check sees deletions"
            ),
            _ => {
                let err = outcome.expect_err("the memory engine enforces the rule");
                assert!(err.to_string().contains("deletion rule"), "{name}: {err}");
            }
        }
    }
}

/// `size()` means the same on every engine: the larger of the keys read (not written first)
/// plus the ranges scanned, and the keys written.
#[tokio::test]
async fn size_counts_reads_scans_and_writes_alike() {
    for (name, engine, _dir) in engines().await {
        let mut txn = engine.begin(true).await.unwrap();
        assert_eq!(txn.size(), 0, "{name}");
        for key in [&b"r1"[..], b"r2", b"r3", b"r1"] {
            txn.get(key).await.unwrap();
        }
        txn.scan(b"s", b"t", 10).await.unwrap();
        assert_eq!(txn.size(), 4, "{name}: 3 keys read, 1 range scanned");
        for i in 0..6u8 {
            txn.put(&[b'w', i], b"").unwrap();
        }
        txn.put(&[b'w', 0], b"again").unwrap();
        assert_eq!(txn.size(), 6, "{name}: 6 keys written");
        txn.get(&[b'w', 1]).await.unwrap();
        assert_eq!(
            txn.size(),
            6,
            "{name}: reading a key written first costs nothing"
        );
        txn.commit().await.unwrap();
    }
}

/// The fault wrapper: a planned failure reaches the caller before the engine sees the
/// operation; a planned conflict applies nothing.
#[tokio::test]
async fn the_fault_wrapper_fails_what_it_is_told_to() {
    let faulty = Faulty::new(MemoryEngine::new());
    let plan = faulty.plan().clone();
    let engine = AnyEngine::Faulty(faulty);
    plan.fail_op(2);
    let mut txn = engine.begin(true).await.unwrap();
    assert!(matches!(txn.get(b"a").await, Err(KvError::Unavailable(_))));
    txn.put(b"a", b"1").unwrap();
    plan.conflict_commit(1);
    assert!(matches!(txn.commit().await, Err(KvError::Conflict)));
    assert_eq!(get(&engine, b"a").await, None);
    let mut txn = engine.begin(true).await.unwrap();
    txn.put(b"a", b"1").unwrap();
    txn.commit().await.unwrap();
    assert_eq!(get(&engine, b"a").await.as_deref(), Some(&b"1"[..]));
    assert_eq!(plan.injected(), 2);
}

/// Reads `key` through `engine`'s cache until it holds `want`; how many tries that took
/// (the watch's delay: a bounded wait, never timed).
async fn eventually(engine: &EtcdEngine, key: &[u8], want: Option<&[u8]>) -> usize {
    for tries in 1..=500 {
        let got = read(engine, key, false).await;
        if got.as_deref() == want {
            return tries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{} never became {want:?}", key.escape_ascii());
}

async fn put(engine: &EtcdEngine, key: &[u8], value: &[u8]) {
    let mut txn = engine.begin(true).await.unwrap();
    txn.put(key, value).unwrap();
    txn.commit().await.unwrap();
}

/// `key` as a fresh transaction of `engine` reads it: at the latest revision when `latest`,
/// else at the snapshot `begin` takes (the cache's).
async fn read(engine: &EtcdEngine, key: &[u8], latest: bool) -> Option<Vec<u8>> {
    let mut txn = if latest {
        engine.begin_latest().await.unwrap()
    } else {
        engine.begin(false).await.unwrap()
    };
    txn.get(key).await.unwrap()
}

/// The cache: other clients' commits reach its reads through the watch, a latest read sees
/// them at once, this client's own commits are seen by its next read, and read-modify-write
/// on a stale cache conflicts and retries rather than losing the other client's update.
#[tokio::test]
async fn the_etcd_cache_follows_other_clients_and_loses_no_update() {
    let Ok(endpoint) = std::env::var("DATENLORD_TEST_ETCD") else {
        return;
    };
    let (cached, other, _dir) = cached_etcd(&endpoint).await;
    // Absent, then kept as absent by the cache.
    assert_eq!(read(&cached, b"k", false).await, None);
    put(&other, b"k", b"1").await;
    assert_eq!(read(&cached, b"k", true).await.as_deref(), Some(&b"1"[..]));
    eventually(&cached, b"k", Some(b"1")).await;
    let hits = cached.counters().cached;
    assert_eq!(read(&cached, b"k", false).await.as_deref(), Some(&b"1"[..]));
    assert!(cached.counters().cached > hits, "read from the cache");

    // Own commits: the very next read sees them, every time.
    for i in 0..20u8 {
        put(&cached, b"own", &[i]).await;
        assert_eq!(
            read(&cached, b"own", false).await.as_deref(),
            Some(&[i][..])
        );
    }

    // Increments racing between the two clients lose nothing.
    let increment = |engine: EtcdEngine| async move {
        for _ in 0..20 {
            loop {
                let mut txn = engine.begin(true).await.unwrap();
                let n = txn.get(b"n").await.unwrap().map_or(0, |v| v[0]);
                txn.put(b"n", &[n + 1]).unwrap();
                match txn.commit().await {
                    Ok(()) => break,
                    Err(KvError::Conflict) => continue,
                    Err(err) => panic!("{err}"),
                }
            }
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(increment(cached.clone())),
        tokio::spawn(increment(other.clone()))
    );
    a.unwrap();
    b.unwrap();
    eventually(&cached, b"n", Some(&[40])).await;

    // Deletions reach the cache too; scans see neither the deleted key nor the tick key.
    let mut txn = other.begin(true).await.unwrap();
    txn.delete(b"k").unwrap();
    txn.commit().await.unwrap();
    eventually(&cached, b"k", None).await;
    let mut txn = cached.begin(false).await.unwrap();
    let keys: Vec<Vec<u8>> = txn
        .scan(b"", &prefix_end(&[0xff]), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(key, _)| key)
        .collect();
    assert_eq!(keys, vec![b"n".to_vec(), b"own".to_vec()]);
}

/// Write skew under a limit: writers each read every counter (first unguarded, then
/// guarded) and raise their own while the sum is below the limit. Serializable commits stop
/// them exactly at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_checking_a_sum_stop_exactly_at_its_limit() {
    const LIMIT: u64 = 40;
    const WRITERS: usize = 4;
    for (name, engine, _dir) in engines().await {
        let keys: Vec<Vec<u8>> = (0..WRITERS)
            .map(|w| format!("sum-{w}").into_bytes())
            .collect();
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let engine = engine.clone();
                let keys = keys.clone();
                tokio::spawn(async move {
                    let mut raised = 0u64;
                    loop {
                        let mut txn = engine.begin(true).await.unwrap();
                        txn.get_many_unguarded(&keys).await.unwrap();
                        let values = txn.get_many(&keys).await.unwrap();
                        let count = |v: &Option<Vec<u8>>| {
                            v.as_ref()
                                .map_or(0, |b| u64::from_be_bytes(b[..8].try_into().unwrap()))
                        };
                        let sum: u64 = values.iter().map(count).sum();
                        if sum >= LIMIT {
                            return raised;
                        }
                        let mine = count(&values[w]) + 1;
                        txn.put(&keys[w], &mine.to_be_bytes()).unwrap();
                        match txn.commit().await {
                            Ok(()) => raised += 1,
                            Err(KvError::Conflict) => {}
                            Err(err) => panic!("{err}"),
                        }
                    }
                })
            })
            .collect();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        assert_eq!(total, LIMIT, "{name}: raised past the limit");
    }
}

/// A write transaction ended with `end_read` (its body failed) applies nothing, whether its
/// reads held together or not.
#[tokio::test]
async fn ending_a_write_transaction_applies_nothing() {
    for (name, engine, _dir) in engines().await {
        if !optimistic(&engine) {
            continue;
        }
        let mut txn = engine.begin(true).await.unwrap();
        txn.get(b"e-a").await.unwrap();
        // A commit between the reads that changes neither: they still hold together.
        put_all(&engine, &[(b"e-z".to_vec(), b"1".to_vec())]).await;
        txn.get(b"e-b").await.unwrap();
        txn.put(b"e-x", b"must not land").unwrap();
        let _ = txn.end_read().await;
        assert_eq!(get(&engine, b"e-x").await, None, "{name}");
    }
}
