//! The Redis engine: optimistic transactions over a Redis server, checked and applied by a
//! server-side script.
//!
//! Every key of a volume lives under one hash tag, `{PREFIX}` (so a Redis Cluster keeps the
//! volume on one shard and its scripts may touch every key): `{PREFIX}k` + key holds a tag
//! (8 bytes: the revision of the commit that wrote it) and the value; the sorted set
//! `{PREFIX}i` holds every key (all of score 0, so ordered bytewise) for range scans; the
//! counter `{PREFIX}r` numbers commits; the stream `{PREFIX}c` carries each commit's keys to
//! the other clients' watches.
//!
//! A transaction reads the latest values (a point read is one `GET` or `MGET`; a scan is one
//! script running `ZRANGEBYLEX` and `MGET`), remembers the tag of every key and the keys of
//! every page it scanned, and buffers its writes. Commit is one script, atomic on the server:
//! if every key read still has its tag and every page scanned finds the same keys with the
//! same tags, apply the writes and append them to the stream; otherwise report
//! [`KvError::Conflict`]. A scan's check sees deletions too (stronger than etcd's). Every read
//! request also reads the revision counter: when all of a transaction's requests saw one
//! revision they read one moment, and the commit's script skips the check if the counter has
//! not moved since. Reads that saw different revisions need not be of one moment, so a
//! transaction that ends without writing — read-only ([`KvTxn::end_read`]), or a write
//! transaction that decided to write nothing or failed — is checked the same way, and retried
//! when its reads did not hold together.
//!
//! Redis decides durability: with `appendonly yes` and `appendfsync always` an acknowledged
//! commit survives a crash of the server; with less it may not. A server that evicts keys
//! (`maxmemory-policy` other than `noeviction`) would lose metadata: the engine warns.

mod conn;
pub mod resp;

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

pub use conn::Address;
use conn::Connection;
use resp::Reply;

use super::buffer::Writes;
use super::changes::{Subscribers, decode_keys, encode_keys};
use super::{Changes, EngineCounters, KvEngine, KvError, KvTxn, Pair};

const SCAN_SCRIPT: &str = include_str!("scan.lua");
const COMMIT_SCRIPT: &str = include_str!("commit.lua");
/// Keys fetched per request of a scan.
const SCAN_PAGE: usize = 1000;
/// Bytes of the tag before every stored value.
const TAG_LEN: usize = 8;
/// Commits the change stream keeps (about): a watch that falls further behind misses some.
const STREAM_LENGTH: &str = "100000";
/// How long a watch's read of the stream blocks before it looks whether its engine is gone.
const WATCH_BLOCK_MS: &str = "2000";
/// Idle connections kept for reuse.
const POOL_SIZE: usize = 16;

/// A Redis server as an ordered key-value store. Cheap to clone.
#[derive(Clone)]
pub struct RedisEngine {
    shared: Arc<Shared>,
}

struct Shared {
    address: Address,
    /// `{PREFIX}k`: what every data key starts with.
    data: Vec<u8>,
    index: Vec<u8>,
    revision: Vec<u8>,
    stream: Vec<u8>,
    /// Tells this client's commits from others' in the stream.
    client: [u8; 8],
    pool: Mutex<Vec<Connection>>,
    scan_sha: Vec<u8>,
    commit_sha: Vec<u8>,
    reads: AtomicU64,
    commits: AtomicU64,
    compares: AtomicU64,
    subscribers: Subscribers,
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisEngine")
            .field("endpoint", &self.shared.address.endpoint)
            .field("prefix", &String::from_utf8_lossy(&self.shared.data))
            .finish_non_exhaustive()
    }
}

/// What a failed command means to the metadata layer.
fn refused(message: &str) -> KvError {
    let code = message.split_whitespace().next().unwrap_or_default();
    match code {
        "OOM" => KvError::NoSpace(format!("redis: {message}")),
        // It cannot persist (often a full disk), so it takes no writes.
        "MISCONF" => KvError::ReadOnly(format!("redis: {message}")),
        // A replica (failover under way), a server loading its data, a busy script, a
        // cluster re-sharding: all pass.
        "READONLY" | "LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN"
        | "NOREPLICAS" => KvError::Unavailable(format!("redis: {message}")),
        "MOVED" | "ASK" => KvError::Engine(format!(
            "redis: {message}: this node of a Redis Cluster does not hold the volume's hash \
             slot; name the node that does in the URL"
        )),
        _ => KvError::Engine(format!("redis: {message}")),
    }
}

impl RedisEngine {
    /// Connects to the server at `address` and loads the engine's scripts; every key lives
    /// under the hash tag `{prefix}`.
    pub async fn connect(address: Address, prefix: &str) -> Result<Self, KvError> {
        let open_failed = |err: KvError| KvError::Open {
            url: format!("redis://{}", address.endpoint),
            reason: match err {
                KvError::Open { reason, .. } => reason,
                other => other.to_string(),
            },
        };
        let mut conn = Connection::open(&address).await.map_err(open_failed)?;
        let scan_sha = load(&mut conn, SCAN_SCRIPT).await.map_err(open_failed)?;
        let commit_sha = load(&mut conn, COMMIT_SCRIPT).await.map_err(open_failed)?;
        if let Ok(Reply::Array(config)) = conn.call(&[b"CONFIG", b"GET", b"maxmemory-policy"]).await
            && let Some(Reply::Bulk(policy)) = config.get(1)
            && policy.as_slice() != b"noeviction"
        {
            tracing::warn!(
                endpoint = address.endpoint,
                policy = %String::from_utf8_lossy(policy),
                "this Redis may evict keys when full and lose metadata: set \
                 maxmemory-policy noeviction"
            );
        }
        let tagged = |kind: &str| format!("{{{prefix}}}{kind}").into_bytes();
        let client = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
            .to_be_bytes();
        Ok(Self {
            shared: Arc::new(Shared {
                data: tagged("k"),
                index: tagged("i"),
                revision: tagged("r"),
                stream: tagged("c"),
                client,
                pool: Mutex::new(vec![conn]),
                scan_sha,
                commit_sha,
                reads: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                compares: AtomicU64::new(0),
                subscribers: Subscribers::default(),
                address,
            }),
        })
    }

    fn data_key(&self, key: &[u8]) -> Vec<u8> {
        [self.shared.data.as_slice(), key].concat()
    }

    /// One command on a pooled connection (a new one when none is idle); an error reply
    /// becomes the error it means.
    async fn call(&self, args: &[&[u8]]) -> Result<Reply, KvError> {
        let idle = self
            .shared
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => Connection::open(&self.shared.address).await?,
        };
        let reply = match conn.call(args).await {
            Ok(reply) => reply,
            Err(err) => {
                // The idle ones may have lost their server too (a restart): new ones next.
                self.shared
                    .pool
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
                return Err(err);
            }
        };
        let mut pool = self
            .shared
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
        drop(pool);
        match reply {
            Reply::Error(message) => Err(refused(&message)),
            reply => Ok(reply),
        }
    }

    /// Runs a loaded script, loading it again when the server lost it (a restart).
    async fn eval(
        &self,
        sha: &[u8],
        script: &str,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> Result<Reply, KvError> {
        let count = keys.len().to_string();
        let mut command: Vec<&[u8]> = vec![b"EVALSHA", sha, count.as_bytes()];
        command.extend_from_slice(keys);
        command.extend_from_slice(args);
        match self.call(&command).await {
            Err(KvError::Engine(message)) if message.starts_with("redis: NOSCRIPT") => {
                command[0] = b"EVAL";
                command[1] = script.as_bytes();
                self.call(&command).await
            }
            other => other,
        }
    }

    /// Keys (without the prefix) that other clients change, read from the change stream.
    fn subscribe(&self) -> Changes {
        let (changes, start) = self.shared.subscribers.subscribe();
        if start {
            tokio::spawn(watch_loop(Arc::downgrade(&self.shared)));
        }
        changes
    }
}

async fn load(conn: &mut Connection, script: &str) -> Result<Vec<u8>, KvError> {
    match conn.call(&[b"SCRIPT", b"LOAD", script.as_bytes()]).await? {
        Reply::Bulk(sha) => Ok(sha),
        Reply::Error(message) => Err(refused(&message)),
        other => Err(KvError::Engine(format!(
            "redis answered SCRIPT LOAD with {other:?}"
        ))),
    }
}

/// Follows the change stream from now on and passes other clients' commits to the
/// subscribers, until the engine is gone or every subscriber left. A broken connection is
/// replaced and the stream read on from where it was, so no change is missed unless the
/// stream was trimmed past it meanwhile (it keeps the last 100 000 commits or so).
async fn watch_loop(shared: Weak<Shared>) {
    // The id of the last entry read; empty until the stream's end is known.
    let mut last = Vec::new();
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(address) = shared.upgrade().map(|s| s.address.clone()) else {
            return;
        };
        let mut conn = match Connection::open(&address).await {
            Ok(conn) => conn,
            Err(err) => {
                tracing::warn!(%err, "redis watch cannot connect; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if last.is_empty() {
            match stream_end(&mut conn, &address, &shared).await {
                Some(end) => last = end,
                None => continue,
            }
        }
        loop {
            let Some(engine) = shared.upgrade() else {
                return;
            };
            let command: [&[u8]; 7] = [
                b"XREAD",
                b"BLOCK",
                WATCH_BLOCK_MS.as_bytes(),
                b"COUNT",
                b"1000",
                b"STREAMS",
                &engine.stream,
            ];
            let mut args = command.to_vec();
            args.push(&last);
            let failed = match conn.call(&args).await {
                Ok(Reply::Error(message)) => message,
                Ok(reply) => match changes_in(reply, &engine.client) {
                    Ok((keys, newest)) => {
                        pause = Duration::from_millis(100);
                        if let Some(newest) = newest {
                            last = newest;
                        }
                        if !engine.subscribers.deliver(keys).await {
                            return;
                        }
                        continue;
                    }
                    Err(message) => message,
                },
                Err(err) => err.to_string(),
            };
            // A server that is loading its data, a refused command, a lost connection: again
            // on a new connection, from where the stream was read to, after a pause.
            tracing::warn!(
                failed,
                "redis watch: cannot read the change stream; resuming"
            );
            drop(engine);
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
            break;
        }
    }
}

/// The id of the stream's newest entry (`0-0` when it has none): a watch reads on from there.
async fn stream_end(
    conn: &mut Connection,
    address: &Address,
    shared: &Weak<Shared>,
) -> Option<Vec<u8>> {
    let stream = shared.upgrade()?.stream.clone();
    match conn
        .call(&[b"XREVRANGE", &stream, b"+", b"-", b"COUNT", b"1"])
        .await
    {
        Ok(Reply::Array(entries)) => match entries.first() {
            Some(Reply::Array(entry)) => match entry.first() {
                Some(Reply::Bulk(id)) => Some(id.clone()),
                _ => None,
            },
            _ => Some(b"0-0".to_vec()),
        },
        other => {
            tracing::warn!(endpoint = address.endpoint, reply = ?other, "redis watch cannot find the stream's end; trying again");
            tokio::time::sleep(Duration::from_millis(500)).await;
            None
        }
    }
}

/// Keys other clients changed, and the id of the stream entry that reported the last one.
type Batch = (Vec<Vec<u8>>, Option<Vec<u8>>);

/// Other clients' changed keys in an `XREAD` reply, and the id of its last entry.
fn changes_in(reply: Reply, own: &[u8]) -> Result<Batch, String> {
    let mut keys = Vec::new();
    let mut newest = None;
    let streams = match reply {
        Reply::Nil => return Ok((keys, newest)),
        Reply::Array(streams) => streams,
        other => return Err(format!("{other:?}")),
    };
    for stream in streams {
        let Reply::Array(mut parts) = stream else {
            return Err("a stream is no array".into());
        };
        let Some(Reply::Array(entries)) = parts.pop() else {
            return Err("a stream without entries".into());
        };
        for entry in entries {
            let Reply::Array(entry) = entry else {
                return Err("an entry is no array".into());
            };
            let [Reply::Bulk(id), Reply::Array(fields)] = entry.as_slice() else {
                return Err("an entry is no id and fields".into());
            };
            newest = Some(id.clone());
            let field = |name: &[u8]| {
                fields.chunks(2).find_map(|pair| match pair {
                    [Reply::Bulk(n), Reply::Bulk(v)] if n == name => Some(v.as_slice()),
                    _ => None,
                })
            };
            if field(b"c") == Some(own) {
                continue;
            }
            match field(b"k").and_then(decode_keys) {
                Some(changed) => keys.extend(changed),
                // Not a commit's entry (someone else's writing): nothing to pass on.
                None => {
                    tracing::warn!(id = %id.escape_ascii(), "redis change stream: an entry without keys")
                }
            }
        }
    }
    Ok((keys, newest))
}

impl KvEngine for RedisEngine {
    type Txn = RedisTxn;

    async fn begin(&self, write: bool) -> Result<RedisTxn, KvError> {
        Ok(RedisTxn {
            engine: self.clone(),
            seen: None,
            torn: false,
            reads: BTreeMap::new(),
            scans: Vec::new(),
            writes: Writes::new(write),
        })
    }

    async fn sync(&self) -> Result<(), KvError> {
        // The server's persistence settings decide (see the module's documentation).
        Ok(())
    }

    fn watch(&self) -> Option<Changes> {
        Some(self.subscribe())
    }

    fn reports_changes(&self) -> bool {
        true
    }

    fn counters(&self) -> EngineCounters {
        let shared = &self.shared;
        EngineCounters {
            reads: shared.reads.load(Ordering::Relaxed),
            commits: shared.commits.load(Ordering::Relaxed),
            compares: shared.compares.load(Ordering::Relaxed),
            cached: 0,
        }
    }
}

/// An optimistic transaction on Redis.
#[derive(Debug)]
pub struct RedisTxn {
    engine: RedisEngine,
    /// The revision (commits so far) the first read request saw.
    seen: Option<Vec<u8>>,
    /// Whether a later request saw another: the reads may not be of one moment.
    torn: bool,
    /// Keys read (without prefix).
    reads: BTreeMap<Vec<u8>, Read>,
    /// Pages scanned, to be found the same at commit.
    scans: Vec<Page>,
    writes: Writes,
}

/// A key as the transaction read it.
#[derive(Debug)]
struct Read {
    /// Its tag (empty: absent).
    tag: Vec<u8>,
    value: Option<Vec<u8>>,
    /// Whether the logic read it (only prefetched: not checked at commit).
    used: bool,
}

/// One page of a scan: what `ZRANGEBYLEX start end LIMIT 0 limit` found.
#[derive(Debug)]
struct Page {
    start: Vec<u8>,
    end: Vec<u8>,
    limit: usize,
    found: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A stored value: its tag and the value.
type Stored = (Vec<u8>, Vec<u8>);

/// A stored value split into its tag and the value.
fn split(stored: Vec<u8>) -> Result<Stored, KvError> {
    if stored.len() < TAG_LEN {
        return Err(KvError::Engine(
            "redis holds a value without its tag: not a DatenLord key".into(),
        ));
    }
    let mut tag = stored;
    let value = tag.split_off(TAG_LEN);
    Ok((tag, value))
}

fn stored(reply: Reply) -> Result<Option<Stored>, KvError> {
    match reply {
        Reply::Nil => Ok(None),
        Reply::Bulk(bytes) => split(bytes).map(Some),
        other => Err(KvError::Engine(format!(
            "redis answered a read with {other:?}"
        ))),
    }
}

impl RedisTxn {
    fn known(&mut self, key: &[u8], used: bool) -> Option<Option<Vec<u8>>> {
        if let Some(write) = self.writes.get(key) {
            return Some(write.clone());
        }
        let read = self.reads.get_mut(key)?;
        read.used |= used;
        Some(read.value.clone())
    }

    fn learned(&mut self, key: &[u8], found: Option<Stored>, used: bool) {
        let (tag, value) = match found {
            Some((tag, value)) => (tag, Some(value)),
            None => (Vec::new(), None),
        };
        self.reads.insert(key.to_vec(), Read { tag, value, used });
    }

    fn counted(&mut self) {
        self.engine.shared.reads.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes in the revision a read request saw.
    fn saw(&mut self, revision: Reply) -> Result<(), KvError> {
        let revision = match revision {
            Reply::Bulk(revision) => revision,
            Reply::Nil => b"0".to_vec(),
            other => {
                return Err(KvError::Engine(format!(
                    "redis answered with {other:?} for the revision"
                )));
            }
        };
        match &self.seen {
            None => self.seen = Some(revision),
            Some(seen) => self.torn |= *seen != revision,
        }
        Ok(())
    }

    /// The values of `keys`, those not known yet in one `MGET`.
    async fn fetch(
        &mut self,
        keys: &[Vec<u8>],
        used: bool,
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let mut values = vec![None; keys.len()];
        let mut wanted = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            match self.known(key, used) {
                Some(known) => values[i] = known,
                None if wanted.iter().any(|&(_, k)| k == key) => {}
                None => wanted.push((i, key)),
            }
        }
        if wanted.is_empty() {
            return Ok(values);
        }
        let names: Vec<Vec<u8>> = wanted
            .iter()
            .map(|(_, k)| self.engine.data_key(k))
            .collect();
        let mut command: Vec<&[u8]> = vec![b"MGET"];
        command.extend(names.iter().map(Vec::as_slice));
        let engine = self.engine.clone();
        command.push(&engine.shared.revision);
        self.counted();
        let Reply::Array(mut answers) = engine.call(&command).await? else {
            return Err(KvError::Engine("redis answered MGET with no array".into()));
        };
        if answers.len() != wanted.len() + 1 {
            return Err(KvError::Engine("redis answered MGET short".into()));
        }
        let revision = answers.pop().unwrap_or(Reply::Nil);
        self.saw(revision)?;
        for ((_, key), answer) in wanted.iter().zip(answers) {
            let found = stored(answer)?;
            self.learned(key, found, used);
        }
        for (i, key) in keys.iter().enumerate() {
            if values[i].is_none()
                && let Some(known) = self.known(key, used)
            {
                values[i] = known;
            }
        }
        Ok(values)
    }

    /// Whether what the transaction read still holds; applies its writes when it does.
    async fn check_and_apply(&mut self) -> Result<bool, KvError> {
        let shared = &self.engine.shared;
        let mut args: Vec<Vec<u8>> = vec![
            shared.data.clone(),
            shared.client.to_vec(),
            encode_keys(self.writes.keys()),
            STREAM_LENGTH.as_bytes().to_vec(),
            match (&self.seen, self.torn) {
                (Some(seen), false) => seen.clone(),
                _ => Vec::new(),
            },
        ];
        let used: Vec<_> = self.reads.iter().filter(|(_, r)| r.used).collect();
        let mut compares = used.len();
        args.push(used.len().to_string().into_bytes());
        for (key, read) in used {
            args.push(key.clone());
            args.push(read.tag.clone());
        }
        args.push(self.scans.len().to_string().into_bytes());
        for page in &self.scans {
            compares += page.found.len() + 1;
            args.push(page.start.clone());
            args.push(page.end.clone());
            args.push(page.limit.to_string().into_bytes());
            args.push(page.found.len().to_string().into_bytes());
            for (key, tag) in &page.found {
                args.push(key.clone());
                args.push(tag.clone());
            }
        }
        args.push(self.writes.len().to_string().into_bytes());
        for (key, write) in self.writes.take() {
            match write {
                Some(value) => {
                    args.push(b"p".to_vec());
                    args.push(key);
                    args.push(value);
                }
                None => {
                    args.push(b"d".to_vec());
                    args.push(key);
                }
            }
        }
        shared
            .compares
            .fetch_add(compares as u64, Ordering::Relaxed);
        let keys: [&[u8]; 3] = [&shared.index, &shared.revision, &shared.stream];
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        match self
            .engine
            .eval(&shared.commit_sha, COMMIT_SCRIPT, &keys, &args)
            .await?
        {
            Reply::Integer(1) => Ok(true),
            Reply::Integer(0) => Ok(false),
            other => Err(KvError::Engine(format!(
                "redis answered a commit with {other:?}"
            ))),
        }
    }
}

impl KvTxn for RedisTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let mut values = self.fetch(&[key.to_vec()], true).await?;
        Ok(values.pop().flatten())
    }

    async fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.fetch(keys, true).await
    }

    async fn get_many_unguarded(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.fetch(keys, false).await
    }

    async fn peek(&mut self, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, KvError> {
        // No cache: what the transaction has not read costs a request.
        Ok(self.known(key, true))
    }

    async fn prefetch(&mut self, keys: &[Vec<u8>]) -> Result<(), KvError> {
        self.fetch(keys, false).await.map(drop)
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        // Buffered deletes may hide some of what the server returns: ask for that many more.
        let hidden = self.writes.in_range(start, end);
        let wanted = limit.saturating_add(hidden);
        let mut fetched = Vec::new();
        let mut cursor = start.to_vec();
        let engine = self.engine.clone();
        let shared = &engine.shared;
        while fetched.len() < wanted && cursor.as_slice() < end {
            let page = (wanted - fetched.len()).min(SCAN_PAGE);
            let count = page.to_string();
            let args: [&[u8]; 4] = [&cursor, end, count.as_bytes(), &shared.data];
            self.counted();
            let reply = engine
                .eval(
                    &shared.scan_sha,
                    SCAN_SCRIPT,
                    &[&shared.index, &shared.revision],
                    &args,
                )
                .await?;
            let Reply::Array(items) = reply else {
                return Err(KvError::Engine(
                    "redis answered a scan with no array".into(),
                ));
            };
            let mut found = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            self.saw(items.next().unwrap_or(Reply::Nil))?;
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                let Reply::Bulk(key) = key else {
                    return Err(KvError::Engine("redis answered a scan with no key".into()));
                };
                let Some((tag, value)) = stored(value)? else {
                    return Err(KvError::Engine(format!(
                        "redis lists key {} without a value",
                        key.escape_ascii()
                    )));
                };
                found.push((key.clone(), tag));
                fetched.push((key, value));
            }
            let full = found.len() == page;
            let next = found
                .last()
                .map(|(last, _)| [last.as_slice(), &[0]].concat());
            self.scans.push(Page {
                start: cursor.clone(),
                end: end.to_vec(),
                limit: page,
                found,
            });
            match next {
                Some(next) if full => cursor = next,
                _ => break,
            }
        }
        Ok(self.writes.merge(fetched, start, end, limit))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.writes.put(key, value)
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.writes.delete(key)
    }

    fn size(&self) -> usize {
        let reads = self.reads.values().filter(|read| read.used).count();
        (reads + self.scans.len()).max(self.writes.len())
    }

    async fn end_read(mut self) -> Result<(), KvError> {
        // Requests that all saw one revision read one moment; others may have straddled a
        // commit.
        if !self.torn {
            return Ok(());
        }
        // The check only: what the transaction buffered is dropped, never applied.
        self.writes.take();
        match self.check_and_apply().await? {
            true => Ok(()),
            false => Err(KvError::Conflict),
        }
    }

    async fn commit(mut self) -> Result<(), KvError> {
        if self.writes.is_empty() {
            // What the logic decided without writing must rest on one moment too.
            return self.end_read().await;
        }
        self.engine.shared.commits.fetch_add(1, Ordering::Relaxed);
        match self.check_and_apply().await? {
            true => Ok(()),
            false => Err(KvError::Conflict),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_map_to_what_they_mean() {
        assert!(matches!(
            refused("OOM command not allowed"),
            KvError::NoSpace(_)
        ));
        assert!(matches!(
            refused("LOADING Redis is loading"),
            KvError::Unavailable(_)
        ));
        assert!(matches!(refused("ERR syntax"), KvError::Engine(_)));
    }
}
