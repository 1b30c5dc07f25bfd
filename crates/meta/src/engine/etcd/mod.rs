//! The etcd engine: optimistic transactions on etcd's v3 API.
//!
//! A transaction reads at one revision (the first read's), so it sees one snapshot; it buffers
//! its writes (and reads them back). Commit is one etcd `Txn`: if every key read still has the
//! modification revision it had (absent keys: still absent) and no key in a scanned range was
//! written since the snapshot, apply the writes; otherwise report [`KvError::Conflict`] and the
//! metadata layer retries. A scan costs one comparison however many keys it returns (etcd
//! limits a transaction's comparisons), so deleting a key in a scanned range is not seen by
//! it; the metadata layer never relies on that: whoever deletes a key that others decide on
//! by scanning also writes a key those others read (a directory's entries change with its
//! entry change time, which every read of its attributes reads; an open-unlinked record
//! with the file's attributes).
//!
//! With its metadata cache on ([`EtcdEngine::cache_metadata`], a mount's), a transaction
//! takes as its snapshot the revision the process's watch has reported every change up to,
//! and reads what the cache holds from the cache ([`cache`]); the rest it reads from etcd at
//! that snapshot. Commits compare the revisions read, whichever way, so writes stay
//! linearizable; reads may trail other clients' commits by the watch's delay. A snapshot is
//! never older than what this process committed or saw fresh from etcd (the engine's
//! `needed`): a transaction waits for the watch to get there first. A commit that loses its
//! race reads the keys it compared as they are now, so the retry does not lose again. A
//! transaction begun with [`KvEngine::begin_latest`] reads from etcd, at its latest revision.

mod cache;
mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, GetOptions, Identity, KvClient,
    SortOrder, SortTarget, TlsOptions, Txn, TxnOp, TxnOpResponse, WatchClient,
};
use tokio::sync::mpsc;

use cache::{Cache, Found};

use super::url::TlsFiles;
use super::{Changes, EngineCounters, KvEngine, KvError, KvTxn, Pair};

/// How long one request to etcd may take before it fails (and is retried while the operation's
/// deadline allows).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Keys fetched per range request of a scan.
const SCAN_PAGE: usize = 1000;
/// Operations in one etcd `Txn` (etcd's default `--max-txn-ops`).
const MAX_TXN_OPS: usize = 128;
/// How long a transaction waits for the watch to report what it must see before it reads
/// from etcd instead.
const CATCH_UP: Duration = Duration::from_secs(1);

/// etcd as an ordered key-value store; every key lives under `prefix`. Cheap to clone.
#[derive(Clone)]
pub struct EtcdEngine {
    shared: Arc<Shared>,
}

struct Shared {
    /// At least one (connect fails otherwise).
    members: Vec<Member>,
    /// The member requests go to (modulo their number).
    current: AtomicUsize,
    prefix: Vec<u8>,
    /// Revisions of this process's own recent commits: its watch skips them.
    own: Mutex<BTreeSet<i64>>,
    /// Commits in flight, by ticket: an event may arrive before the commit that caused it
    /// has recorded its revision as own, so the watch waits for the commits older than it.
    committing: Mutex<BTreeSet<u64>>,
    next_ticket: AtomicU64,
    committed: tokio::sync::Notify,
    reads: AtomicU64,
    commits: AtomicU64,
    compares: AtomicU64,
    /// Keys answered by the cache.
    cached: AtomicU64,
    /// The metadata cache, once [`EtcdEngine::cache_metadata`] turned it on.
    cache: OnceLock<Cache>,
    /// The oldest snapshot a transaction may read from the cache: the revision of this
    /// process's last commit, or of the newest value it read from etcd.
    needed: AtomicI64,
    /// Whether the watch runs.
    watching: AtomicBool,
    /// Whether a tick for reads of a compacted snapshot is on its way (one is enough).
    ticking: AtomicBool,
    /// Who asked for other clients' changes ([`KvEngine::watch`]).
    subscribers: Mutex<Vec<mpsc::Sender<Vec<Vec<u8>>>>>,
}

/// A commit in flight; ends (and wakes the watch) when dropped, however the commit ends.
struct Committing<'a> {
    shared: &'a Shared,
    ticket: u64,
}

impl Drop for Committing<'_> {
    fn drop(&mut self) {
        self.shared
            .committing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.ticket);
        self.shared.committed.notify_waiters();
    }
}

struct Member {
    endpoint: String,
    kv: KvClient,
    watch: WatchClient,
}

/// Own commit revisions remembered; older ones only cost a redundant notification.
const OWN_REVISIONS: usize = 65_536;

impl std::fmt::Debug for EtcdEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdEngine")
            .field("prefix", &String::from_utf8_lossy(&self.shared.prefix))
            .finish_non_exhaustive()
    }
}

/// The client side of TLS from PEM files.
fn tls_config(tls: &TlsFiles) -> Result<TlsOptions, String> {
    let read = |path: &std::path::Path| {
        std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
    };
    let mut config = TlsOptions::new();
    if let Some(ca) = &tls.ca {
        config = config.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
    }
    Ok(config)
}

/// Transient failures (no leader, lost quorum, unreachable members, timeouts) are
/// `Unavailable`, retried until the operation's deadline; the rest are final.
fn engine_error(err: etcd_client::Error) -> KvError {
    use tonic::Code;
    let transient = match &err {
        etcd_client::Error::TransportError(_) | etcd_client::Error::IoError(_) => true,
        etcd_client::Error::GRpcStatus(status) => matches!(
            status.code(),
            Code::Unavailable
                | Code::DeadlineExceeded
                | Code::Cancelled
                | Code::Aborted
                | Code::ResourceExhausted
                | Code::Unknown
        ),
        _ => false,
    };
    if transient {
        KvError::Unavailable(format!("etcd: {err}"))
    } else {
        KvError::Engine(format!("etcd: {err}"))
    }
}

impl EtcdEngine {
    /// Connects to the cluster at `endpoints` (`host:port`), keeping keys under `prefix`.
    ///
    /// One client per member, used one at a time: a request that finds its member gone or
    /// without a leader moves the engine on to the next member, so losing a minority of the
    /// cluster costs a retry, not an error.
    pub async fn connect(
        endpoints: &[String],
        prefix: &str,
        user: Option<(String, String)>,
        tls: Option<&TlsFiles>,
    ) -> Result<Self, KvError> {
        let scheme = if tls.is_some() { "etcds" } else { "etcd" };
        let url = format!("{scheme}://{}", endpoints.join(","));
        let mut options = ConnectOptions::new()
            .with_timeout(REQUEST_TIMEOUT)
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_require_leader(true);
        if let Some((name, password)) = user {
            options = options.with_user(name, password);
        }
        if let Some(tls) = tls {
            options = options.with_tls(tls_config(tls).map_err(|reason| KvError::Open {
                url: url.clone(),
                reason,
            })?);
        }
        let http = if tls.is_some() { "https" } else { "http" };
        let mut members = Vec::new();
        let mut reasons = Vec::new();
        for endpoint in endpoints {
            match Client::connect([format!("{http}://{endpoint}")], Some(options.clone())).await {
                Ok(client) => members.push(Member {
                    endpoint: endpoint.clone(),
                    kv: client.kv_client(),
                    watch: client.watch_client(),
                }),
                Err(err) => reasons.push(format!("{endpoint}: {err}")),
            }
        }
        let engine = Self {
            shared: Arc::new(Shared {
                members,
                current: AtomicUsize::new(0),
                prefix: format!("{}/", prefix.trim_matches('/')).into_bytes(),
                own: Mutex::new(BTreeSet::new()),
                committing: Mutex::new(BTreeSet::new()),
                next_ticket: AtomicU64::new(0),
                committed: tokio::sync::Notify::new(),
                reads: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                compares: AtomicU64::new(0),
                cached: AtomicU64::new(0),
                cache: OnceLock::new(),
                needed: AtomicI64::new(0),
                watching: AtomicBool::new(false),
                ticking: AtomicBool::new(false),
                subscribers: Mutex::new(Vec::new()),
            }),
        };
        // Fail now, with the reasons, rather than at the first file operation; start on a
        // member that answers.
        for _ in 0..engine.shared.members.len() {
            let probe = engine
                .kv()
                .get(
                    engine.shared.prefix.clone(),
                    Some(GetOptions::new().with_limit(1)),
                )
                .await;
            match probe {
                Ok(_) => return Ok(engine),
                Err(err) => {
                    reasons.push(format!("{}: {err}", engine.member().endpoint));
                    engine.next_member();
                }
            }
        }
        Err(KvError::Open {
            url,
            reason: reasons.join("; "),
        })
    }

    fn key(&self, key: &[u8]) -> Vec<u8> {
        [self.shared.prefix.as_slice(), key].concat()
    }

    fn member(&self) -> &Member {
        let members = &self.shared.members;
        &members[self.shared.current.load(Ordering::Relaxed) % members.len()]
    }

    fn next_member(&self) {
        self.shared.current.fetch_add(1, Ordering::Relaxed);
    }

    /// A handle for one request (clones share the connection).
    fn kv(&self) -> KvClient {
        self.member().kv.clone()
    }

    /// Classifies a failed request; a transient one moves on to the next member.
    fn failed(&self, err: etcd_client::Error) -> KvError {
        let err = engine_error(err);
        if matches!(err, KvError::Unavailable(_)) && self.shared.members.len() > 1 {
            tracing::debug!(member = %self.member().endpoint, %err, "trying the next etcd member");
            self.next_member();
        }
        err
    }

    fn remember_own(&self, revision: i64) {
        let mut own = self
            .shared
            .own
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        own.insert(revision);
        if own.len() > OWN_REVISIONS {
            own.pop_first();
        }
    }

    fn start_commit(&self) -> Committing<'_> {
        let ticket = self.shared.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.shared
            .committing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ticket);
        Committing {
            shared: &self.shared,
            ticket,
        }
    }

    /// Waits (at most a request's time) until every commit started before now has ended,
    /// so that an event of this process's own is known as such.
    async fn settle_commits(&self) {
        let horizon = self.shared.next_ticket.load(Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        loop {
            let notified = self.shared.committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let oldest = self
                .shared
                .committing
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .first()
                .copied();
            if oldest.is_none_or(|ticket| ticket >= horizon) {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    fn is_own(&self, revision: i64) -> bool {
        self.shared
            .own
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&revision)
    }

    /// Keeps what transactions read and what the watch reports in a cache of up to
    /// `budget` bytes, and reads from it (see the module's documentation). Takes effect once
    /// the watch runs; turning it on again changes nothing.
    pub fn cache_metadata(&self, budget: usize) {
        if self.shared.cache.set(Cache::new(budget)).is_ok() {
            self.ensure_watch();
        }
    }

    fn cache(&self) -> Option<&Cache> {
        self.shared.cache.get()
    }

    /// Notes that this process saw (or made) revision `revision`: later snapshots from the
    /// cache must include it.
    fn observed(&self, revision: i64) {
        self.shared.needed.fetch_max(revision, Ordering::Relaxed);
    }
}

impl KvEngine for EtcdEngine {
    type Txn = EtcdTxn;

    async fn begin(&self, write: bool) -> Result<EtcdTxn, KvError> {
        Ok(EtcdTxn::new(self.clone(), write, false))
    }

    async fn begin_latest(&self) -> Result<EtcdTxn, KvError> {
        Ok(EtcdTxn::new(self.clone(), false, true))
    }

    async fn sync(&self) -> Result<(), KvError> {
        // etcd acknowledges a commit only once a quorum has it on disk.
        Ok(())
    }

    fn watch(&self) -> Option<Changes> {
        Some(self.subscribe())
    }

    fn reports_changes(&self) -> bool {
        true
    }

    fn unused(&self, ranges: &[(Vec<u8>, Vec<u8>)]) {
        if let Some(cache) = self.cache() {
            let ranges: Vec<_> = ranges
                .iter()
                .map(|(start, end)| (self.key(start), self.key(end)))
                .collect();
            cache.unused(ranges);
        }
    }

    fn counters(&self) -> EngineCounters {
        let shared = &self.shared;
        EngineCounters {
            reads: shared.reads.load(Ordering::Relaxed),
            commits: shared.commits.load(Ordering::Relaxed),
            compares: shared.compares.load(Ordering::Relaxed),
            cached: shared.cached.load(Ordering::Relaxed),
        }
    }
}

/// An optimistic transaction on etcd.
#[derive(Debug)]
pub struct EtcdTxn {
    engine: EtcdEngine,
    write: bool,
    /// Read from etcd at its latest revision, not from the cache.
    latest: bool,
    /// Whether the snapshot was chosen (at the first read).
    started: bool,
    /// Whether the snapshot is the cache's, which then answers what it holds.
    cached: bool,
    /// The snapshot every read uses, fixed by the first read.
    revision: Option<i64>,
    /// Keys read (with prefix), as they were at the snapshot: read again, they are answered
    /// from here (the snapshot does not change), and compared at commit.
    reads: BTreeMap<Vec<u8>, Read>,
    /// Ranges scanned (with prefix).
    scans: Vec<(Vec<u8>, Vec<u8>)>,
    /// Buffered writes (with prefix): `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

/// A key as a transaction read it.
#[derive(Debug)]
struct Read {
    /// Its modification revision (0: absent).
    revision: i64,
    value: Option<Vec<u8>>,
    /// Whether the transaction's logic read it (only prefetched: not compared at commit).
    used: bool,
}

impl Read {
    fn of(found: Option<(Vec<u8>, i64)>, used: bool) -> Self {
        let (value, revision) = match found {
            Some((value, revision)) => (Some(value), revision),
            None => (None, 0),
        };
        Self {
            revision,
            value,
            used,
        }
    }
}

impl EtcdTxn {
    fn new(engine: EtcdEngine, write: bool, latest: bool) -> Self {
        Self {
            engine,
            write,
            latest,
            started: false,
            cached: false,
            revision: None,
            reads: BTreeMap::new(),
            scans: Vec::new(),
            writes: BTreeMap::new(),
        }
    }

    /// Chooses the snapshot before the first read: the cache's, once its watch has reported
    /// everything this process must see; otherwise the one etcd answers the first read at.
    async fn start(&mut self) {
        if std::mem::replace(&mut self.started, true) || self.latest {
            return;
        }
        let Some(cache) = self.engine.cache() else {
            return;
        };
        let needed = self.engine.shared.needed.load(Ordering::Relaxed);
        match cache.snapshot_from(needed, CATCH_UP).await {
            Some(revision) => {
                self.revision = Some(revision);
                self.cached = true;
            }
            None if cache.is_live() => tracing::warn!(
                needed,
                reported = cache.revision(),
                "the etcd watch is slow to report changes; reading from etcd"
            ),
            None => {}
        }
    }

    /// Classifies a failed read. A snapshot of the cache's that etcd has compacted away is
    /// retried once the watch has moved on (the tick makes it).
    fn read_failed(&self, err: etcd_client::Error) -> KvError {
        let compacted = matches!(&err, etcd_client::Error::GRpcStatus(status)
            if status.code() == tonic::Code::OutOfRange);
        if compacted && self.cached && !self.engine.shared.ticking.swap(true, Ordering::Relaxed) {
            let engine = self.engine.clone();
            tokio::spawn(async move {
                if let Err(err) = engine.tick().await {
                    tracing::debug!(%err, "cannot write the watch's tick");
                }
                engine.shared.ticking.store(false, Ordering::Relaxed);
            });
            return KvError::Unavailable(format!("etcd compacted the cache's snapshot: {err}"));
        }
        self.engine.failed(err)
    }

    /// The key (with prefix) as the cache holds it at this transaction's snapshot.
    fn cached_value(&self, key: &[u8]) -> Option<Found> {
        if !self.cached {
            return None;
        }
        let found = self.engine.cache()?.get(key, self.revision?)?;
        self.engine.shared.cached.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(key = %key.escape_ascii(), "etcd cache hit");
        Some(found)
    }

    /// Takes in what a read from etcd found for `key` (with prefix).
    fn learned(&self, key: &[u8], found: &Found) {
        if let Some((_, changed)) = found {
            self.engine.observed(*changed);
        }
        if let (Some(cache), Some(at)) = (self.engine.cache(), self.revision) {
            cache.read(key, found, at);
        }
    }

    /// The values of `keys`: one etcd `Txn` of range requests (no comparisons) per
    /// [`MAX_TXN_OPS`] keys not known yet, at the transaction's snapshot — one round trip
    /// where `get` would take one per key. Unless `used`, the keys are only kept for the reads
    /// that may follow, and compared at commit only if one does.
    async fn fetch(
        &mut self,
        keys: &[Vec<u8>],
        used: bool,
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.start().await;
        let mut values = vec![None; keys.len()];
        let mut wanted = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let key = self.engine.key(key);
            if let Some(known) = self.known(&key, used) {
                values[i] = known;
            } else if let Some(found) = self.cached_value(&key) {
                let read = Read::of(found, used);
                values[i].clone_from(&read.value);
                self.reads.insert(key, read);
            } else {
                wanted.push((i, key));
            }
        }
        for batch in wanted.chunks(MAX_TXN_OPS) {
            let ops: Vec<TxnOp> = batch
                .iter()
                .map(|(_, key)| {
                    let options = self.revision.map(|r| GetOptions::new().with_revision(r));
                    TxnOp::get(key.clone(), options)
                })
                .collect();
            self.engine.shared.reads.fetch_add(1, Ordering::Relaxed);
            tracing::trace!(
                keys = %batch
                    .iter()
                    .map(|(_, key)| key.escape_ascii().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                "etcd ranges together"
            );
            let response = self
                .engine
                .kv()
                .txn(Txn::new().and_then(ops))
                .await
                .map_err(|e| self.read_failed(e))?;
            if self.revision.is_none() {
                self.revision = response.header().map(|h| h.revision());
            }
            let answers = response.op_responses();
            if answers.len() != batch.len() {
                return Err(KvError::Engine(format!(
                    "etcd answered {} of {} reads",
                    answers.len(),
                    batch.len()
                )));
            }
            for ((i, key), answer) in batch.iter().zip(answers) {
                let TxnOpResponse::Get(got) = answer else {
                    return Err(KvError::Engine("etcd answered a read with a write".into()));
                };
                let found = got
                    .kvs()
                    .first()
                    .map(|kv| (kv.value().to_vec(), kv.mod_revision()));
                self.learned(key, &found);
                let read = Read::of(found, used);
                values[*i].clone_from(&read.value);
                self.reads.insert(key.clone(), read);
            }
        }
        Ok(values)
    }

    /// The value of `key` (with prefix) as this transaction wrote or already read it; `used`
    /// marks a read of it as one the commit depends on.
    fn known(&mut self, key: &[u8], used: bool) -> Option<Option<Vec<u8>>> {
        if let Some(write) = self.writes.get(key) {
            return Some(write.clone());
        }
        let read = self.reads.get_mut(key)?;
        read.used |= used;
        Some(read.value.clone())
    }

    /// Keys, values and modification revisions at the transaction's snapshot.
    async fn range(
        &mut self,
        key: Vec<u8>,
        options: GetOptions,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>, i64)>, KvError> {
        let options = match self.revision {
            Some(revision) => options.with_revision(revision),
            None => options,
        };
        self.engine.shared.reads.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(key = %key.escape_ascii(), "etcd range");
        let response = self
            .engine
            .kv()
            .get(key, Some(options))
            .await
            .map_err(|e| self.read_failed(e))?;
        if self.revision.is_none() {
            self.revision = response.header().map(|h| h.revision());
        }
        Ok(response
            .kvs()
            .iter()
            .map(|kv| (kv.key().to_vec(), kv.value().to_vec(), kv.mod_revision()))
            .collect())
    }
}

impl KvTxn for EtcdTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        self.start().await;
        let key = self.engine.key(key);
        if let Some(known) = self.known(&key, true) {
            return Ok(known);
        }
        let found = match self.cached_value(&key) {
            Some(found) => found,
            None => {
                let found = self.range(key.clone(), GetOptions::new()).await?.pop();
                let found = found.map(|(_, value, revision)| (value, revision));
                self.learned(&key, &found);
                found
            }
        };
        let read = Read::of(found, true);
        let value = read.value.clone();
        self.reads.insert(key, read);
        Ok(value)
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
        self.start().await;
        let key = self.engine.key(key);
        if let Some(known) = self.known(&key, true) {
            return Ok(Some(known));
        }
        let Some(found) = self.cached_value(&key) else {
            return Ok(None);
        };
        let read = Read::of(found, true);
        let value = read.value.clone();
        self.reads.insert(key, read);
        Ok(Some(value))
    }

    async fn prefetch(&mut self, keys: &[Vec<u8>]) -> Result<(), KvError> {
        self.fetch(keys, false).await.map(drop)
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        self.start().await;
        let (start, end) = (self.engine.key(start), self.engine.key(end));
        // Buffered deletes may hide some of what etcd returns: ask for that many more.
        let hidden = self.writes.range(start.clone()..end.clone()).count();
        let wanted = limit.saturating_add(hidden);
        // Page through the range: one response must stay under the message size limit.
        let mut fetched = Vec::new();
        let mut cursor = start.clone();
        while fetched.len() < wanted {
            let page = (wanted - fetched.len()).min(SCAN_PAGE);
            let options = GetOptions::new()
                .with_range(end.clone())
                .with_limit(i64::try_from(page).unwrap_or(i64::MAX));
            let pairs = self.range(cursor.clone(), options).await?;
            let full = pairs.len() == page;
            if let Some((last, _, _)) = pairs.last() {
                cursor = [last.as_slice(), &[0]].concat();
            }
            for (key, value, changed) in pairs {
                // The tick key (the prefix itself) is the engine's, not the caller's.
                if key != self.engine.shared.prefix {
                    self.learned(&key, &Some((value.clone(), changed)));
                    fetched.push((key, value));
                }
            }
            if !full {
                break;
            }
        }
        self.scans.push((start.clone(), end.clone()));
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = fetched.into_iter().collect();
        for (key, write) in self.writes.range(start..end) {
            match write {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        let cut = self.engine.shared.prefix.len();
        Ok(merged
            .into_iter()
            .take(limit)
            .map(|(key, value)| (key[cut..].to_vec(), value))
            .collect())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        if !self.write {
            return Err(KvError::Engine("write in a read-only transaction".into()));
        }
        self.writes
            .insert(self.engine.key(key), Some(value.to_vec()));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        if !self.write {
            return Err(KvError::Engine("write in a read-only transaction".into()));
        }
        self.writes.insert(self.engine.key(key), None);
        Ok(())
    }

    fn size(&self) -> usize {
        let reads = self.reads.values().filter(|read| read.used).count();
        (reads + self.scans.len()).max(self.writes.len())
    }

    async fn commit(mut self) -> Result<(), KvError> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let mut compares: Vec<Compare> = self
            .reads
            .iter()
            .filter(|(_, read)| read.used)
            .map(|(key, read)| match read.revision {
                0 => Compare::version(key.clone(), CompareOp::Equal, 0),
                revision => Compare::mod_revision(key.clone(), CompareOp::Equal, revision),
            })
            .collect();
        if let Some(revision) = self.revision {
            compares.extend(self.scans.iter().map(|(start, end)| {
                Compare::mod_revision(start.clone(), CompareOp::Less, revision + 1)
                    .with_range(end.clone())
            }));
        }
        let ops: Vec<TxnOp> = std::mem::take(&mut self.writes)
            .into_iter()
            .map(|(key, write)| match write {
                Some(value) => TxnOp::put(key, value, None),
                None => TxnOp::delete(key, None),
            })
            .collect();
        // Lost the race: what the comparisons were about, as it is now, for the retry.
        let compared: Vec<Vec<u8>> = self
            .reads
            .iter()
            .filter(|(_, read)| read.used)
            .map(|(key, _)| key.clone())
            .collect();
        let mut recheck: Vec<TxnOp> = compared
            .iter()
            .map(|key| TxnOp::get(key.clone(), None))
            .collect();
        recheck.extend(self.scans.iter().map(|(start, end)| {
            let newest = GetOptions::new()
                .with_range(end.clone())
                .with_sort(SortTarget::Mod, SortOrder::Descend)
                .with_limit(1)
                .with_keys_only();
            TxnOp::get(start.clone(), Some(newest))
        }));
        let shared = &self.engine.shared;
        shared.commits.fetch_add(1, Ordering::Relaxed);
        shared
            .compares
            .fetch_add(compares.len() as u64, Ordering::Relaxed);
        let committing = self.engine.start_commit();
        tracing::trace!(
            revision = self.revision,
            cached = self.cached,
            "etcd commit"
        );
        let response = self
            .engine
            .kv()
            .txn(Txn::new().when(compares).and_then(ops).or_else(recheck))
            .await
            .map_err(|e| self.engine.failed(e))?;
        let revision = response.header().map_or(0, |h| h.revision());
        if response.succeeded() {
            self.engine.remember_own(revision);
            self.engine.observed(revision);
            drop(committing);
            return Ok(());
        }
        for (i, answer) in response.op_responses().into_iter().enumerate() {
            let TxnOpResponse::Get(got) = answer else {
                continue;
            };
            let found = got
                .kvs()
                .first()
                .map(|kv| (kv.value().to_vec(), kv.mod_revision()));
            if let Some((_, changed)) = &found {
                self.engine.observed(*changed);
            }
            if let (Some(key), Some(cache)) = (compared.get(i), self.engine.cache()) {
                cache.read(key, &found, revision);
            }
        }
        Err(KvError::Conflict)
    }
}
