//! The PostgreSQL engine: the volume's keys in one table, `(k bytea PRIMARY KEY, v bytea)`,
//! under PostgreSQL's own transactions.
//!
//! A write transaction is a `SERIALIZABLE` one and a read-only one `REPEATABLE READ READ
//! ONLY`: each reads one snapshot, and PostgreSQL's serializable snapshot isolation reports a
//! lost race as a serialization failure (at a read, a write or the commit), which is
//! [`KvError::Conflict`] — the metadata layer retries. Range scans see deletions too.
//! Writes are buffered (reads see them) and sent at commit, with the commit, in one round
//! trip: the upserts and the deletes as one statement each (arrays), the change notice, then
//! `COMMIT`. The first read of a transaction carries its `BEGIN` along, so a lookup is one
//! round trip. Statements are prepared once per connection; connections are pooled, each
//! held by one transaction from its first read to its end.
//!
//! Other clients' changes come through `LISTEN`/`NOTIFY`: a commit notifies the volume's
//! channel with its keys (PostgreSQL delivers it only if the commit succeeds); one
//! connection per process listens. A notice lost while that connection is down is not
//! replayed: kernel caches then trail until their timeouts. Durability is PostgreSQL's (an
//! acknowledged commit is on disk with the default `synchronous_commit`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{AsyncMessage, Client, Config, NoTls, Statement};

use super::buffer::Writes;
use super::changes::{Subscribers, decode_keys, encode_keys};
use super::{Changes, EngineCounters, KvEngine, KvError, KvTxn, Pair};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one round trip may take before the connection is given up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Idle connections kept for reuse.
const POOL_SIZE: usize = 16;
/// Bytes of keys per notice (PostgreSQL takes payloads below 8 000 bytes; hex doubles them).
const NOTICE_KEYS: usize = 3000;
/// How long the listener waits for a notice before it looks whether its engine is gone.
const LISTEN_IDLE: Duration = Duration::from_secs(2);

/// A PostgreSQL database as an ordered key-value store. Cheap to clone.
#[derive(Clone)]
pub struct PostgresEngine {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    /// The table, as a quoted identifier.
    table: String,
    /// The channel of the volume's change notices (a quoted identifier).
    channel: String,
    /// Tells this client's notices from others'.
    client: String,
    pool: Mutex<Vec<Conn>>,
    reads: AtomicU64,
    commits: AtomicU64,
    subscribers: Subscribers,
}

impl std::fmt::Debug for PostgresEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresEngine")
            .field("table", &self.shared.table)
            .finish_non_exhaustive()
    }
}

/// One connection and its prepared statements.
struct Conn {
    client: Client,
    statements: Statements,
    /// A transaction may be open on it: the next one begins with `ROLLBACK`.
    dirty: bool,
}

struct Statements {
    get: Statement,
    get_many: Statement,
    scan: Statement,
    upsert: Statement,
    delete: Statement,
    notify: Statement,
}

/// What a failed statement means to the metadata layer.
fn failed(err: tokio_postgres::Error) -> KvError {
    let Some(code) = err.code() else {
        // No answer from the server: the connection is lost or was never made.
        return KvError::Unavailable(format!("postgres: {err}"));
    };
    let message = match err.as_db_error() {
        Some(db) => format!("postgres: {}", db.message()),
        None => format!("postgres: {err}"),
    };
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        KvError::Conflict
    } else if *code == SqlState::DISK_FULL || *code == SqlState::PROGRAM_LIMIT_EXCEEDED {
        KvError::NoSpace(message)
    } else if *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
        // A standby (failover under way) takes no writes.
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || code.code().starts_with("08")
    {
        KvError::Unavailable(message)
    } else {
        KvError::Engine(message)
    }
}

/// `fut`, or Unavailable once it takes longer than [`REQUEST_TIMEOUT`].
async fn bounded<T>(
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, KvError> {
    match tokio::time::timeout(REQUEST_TIMEOUT, fut).await {
        Ok(outcome) => outcome.map_err(failed),
        Err(_) => Err(KvError::Unavailable(
            "postgres: no answer within 30 s".into(),
        )),
    }
}

impl PostgresEngine {
    /// Connects with `config` and makes the volume's table `table` unless it exists.
    pub async fn connect(config: Config, table: &str) -> Result<Self, KvError> {
        let open_failed = |err: KvError| KvError::Open {
            url: format!("postgres table {table}"),
            reason: err.to_string(),
        };
        let client = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let engine = Self {
            shared: Arc::new(Shared {
                config,
                table: format!("\"{table}\""),
                channel: format!("\"{table}_changes\""),
                client: format!("{client:016x}"),
                pool: Mutex::new(Vec::new()),
                reads: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                subscribers: Subscribers::default(),
            }),
        };
        let (client, connection) = engine.open_client().await.map_err(open_failed)?;
        let created = bounded(client.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {} (k bytea PRIMARY KEY, v bytea NOT NULL)",
            engine.shared.table
        )))
        .await;
        match created {
            // Two clients creating it at once: one of them wins, which is all that matters.
            Err(KvError::Engine(message)) if message.contains("already exists") => {}
            other => other.map_err(open_failed)?,
        }
        let conn = engine.prepared(client).await.map_err(open_failed)?;
        drop(connection);
        engine.give_back(conn);
        Ok(engine)
    }

    /// A new client, its connection driven by a task of its own (handed back for the
    /// listener, which reads its notices).
    async fn open_client(&self) -> Result<(Client, tokio::task::JoinHandle<()>), KvError> {
        let connecting = self.shared.config.connect(NoTls);
        let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| KvError::Unavailable("postgres: connecting timed out".into()))?
            .map_err(failed)?;
        let driven = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%err, "postgres connection ended");
            }
        });
        Ok((client, driven))
    }

    async fn prepared(&self, client: Client) -> Result<Conn, KvError> {
        let t = &self.shared.table;
        let sql = [
            format!("SELECT v FROM {t} WHERE k = $1"),
            format!("SELECT k, v FROM {t} WHERE k = ANY($1)"),
            format!("SELECT k, v FROM {t} WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3"),
            format!(
                "INSERT INTO {t} (k, v) SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
                 ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
            ),
            format!("DELETE FROM {t} WHERE k = ANY($1)"),
            "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p".to_string(),
        ];
        let (get, get_many, scan, upsert, delete, notify) = bounded(async {
            futures::try_join!(
                client.prepare(&sql[0]),
                client.prepare(&sql[1]),
                client.prepare(&sql[2]),
                client.prepare(&sql[3]),
                client.prepare(&sql[4]),
                client.prepare(&sql[5]),
            )
        })
        .await?;
        Ok(Conn {
            client,
            statements: Statements {
                get,
                get_many,
                scan,
                upsert,
                delete,
                notify,
            },
            dirty: false,
        })
    }

    /// An idle connection, or a new one.
    async fn take(&self) -> Result<Conn, KvError> {
        let idle = self
            .shared
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let (client, _driven) = self.open_client().await?;
                self.prepared(client).await
            }
        }
    }

    /// Keeps `conn` for reuse, unless it is broken or enough are idle.
    fn give_back(&self, conn: Conn) {
        if conn.client.is_closed() {
            return;
        }
        let mut pool = self
            .shared
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pool.len() < POOL_SIZE {
            pool.push(conn);
        }
    }

    /// The notices of one commit that wrote `keys`.
    fn notices<'a>(&self, keys: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
        split_notices(&self.shared.client, &encode_keys(keys))
    }
}

/// `list` (keys as [`encode_keys`] writes them) in payloads of about [`NOTICE_KEYS`] bytes of
/// keys each, split between keys, each `CLIENT:HEX`.
fn split_notices(client: &str, list: &[u8]) -> Vec<String> {
    let mut notices = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let mut cut = 0;
        while cut < rest.len() {
            let len = rest
                .get(cut..cut + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map_or(rest.len(), |b| u32::from_be_bytes(b) as usize);
            let next = cut.saturating_add(4).saturating_add(len).min(rest.len());
            if cut > 0 && next > NOTICE_KEYS {
                break;
            }
            cut = next;
        }
        let (chunk, after) = rest.split_at(cut);
        notices.push(format!("{client}:{}", crate::hex::encode(chunk)));
        rest = after;
    }
    notices
}

/// The sender and the keys of a change notice; `None` for a payload no commit sent.
pub fn decode_notice(payload: &str) -> Option<(&str, Vec<Vec<u8>>)> {
    let (client, keys) = payload.split_once(':')?;
    Some((client, decode_keys(&crate::hex::decode(keys)?)?))
}

/// Listens for the volume's change notices and passes other clients' on to the subscribers,
/// until the engine is gone or every subscriber left; a lost connection is replaced.
async fn listen_loop(shared: Weak<Shared>) {
    let mut pause = Duration::from_millis(100);
    loop {
        let Some(engine) = shared.upgrade().map(|shared| PostgresEngine { shared }) else {
            return;
        };
        let (notices, listening) = match listen(&engine).await {
            Ok(found) => found,
            Err(err) => {
                tracing::warn!(%err, "postgres listener cannot connect; trying again");
                drop(engine);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        pause = Duration::from_millis(100);
        drop(engine);
        let mut notices = notices;
        loop {
            let notice = tokio::time::timeout(LISTEN_IDLE, notices.recv()).await;
            let Some(engine) = shared.upgrade() else {
                return;
            };
            let keys = match notice {
                Err(_) => Vec::new(),
                Ok(None) => {
                    tracing::warn!("postgres listener lost its connection; listening again");
                    break;
                }
                Ok(Some(payload)) => match decode_notice(&payload) {
                    Some((client, _)) if client == engine.client => continue,
                    Some((_, keys)) => keys,
                    None => {
                        tracing::warn!(payload, "postgres: a change notice no commit sent");
                        continue;
                    }
                },
            };
            if !engine.subscribers.deliver(keys).await {
                return;
            }
        }
        drop(listening);
    }
}

/// A connection listening on the volume's channel, and the payloads of what it hears.
async fn listen(
    engine: &PostgresEngine,
) -> Result<(tokio::sync::mpsc::UnboundedReceiver<String>, Client), KvError> {
    let connecting = engine.shared.config.connect(NoTls);
    let (client, mut connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| KvError::Unavailable("postgres: connecting timed out".into()))?
        .map_err(failed)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = futures::StreamExt::next(&mut messages).await {
            match message {
                Ok(AsyncMessage::Notification(notice)) => {
                    if tx.send(notice.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::debug!(%err, "postgres listener's connection ended");
                    return;
                }
            }
        }
    });
    bounded(client.batch_execute(&format!("LISTEN {}", engine.shared.channel))).await?;
    Ok((rx, client))
}

impl KvEngine for PostgresEngine {
    type Txn = PostgresTxn;

    async fn begin(&self, write: bool) -> Result<PostgresTxn, KvError> {
        Ok(PostgresTxn {
            engine: self.clone(),
            write,
            conn: None,
            begun: false,
            known: HashMap::new(),
            writes: Writes::new(write),
            reads: 0,
        })
    }

    async fn sync(&self) -> Result<(), KvError> {
        // PostgreSQL acknowledges a commit once it is on disk (synchronous_commit).
        Ok(())
    }

    fn watch(&self) -> Option<Changes> {
        let (changes, start) = self.shared.subscribers.subscribe();
        if start {
            tokio::spawn(listen_loop(Arc::downgrade(&self.shared)));
        }
        Some(changes)
    }

    fn reports_changes(&self) -> bool {
        true
    }

    fn counters(&self) -> EngineCounters {
        EngineCounters {
            reads: self.shared.reads.load(Ordering::Relaxed),
            commits: self.shared.commits.load(Ordering::Relaxed),
            compares: 0,
            cached: 0,
        }
    }
}

/// A transaction on PostgreSQL.
pub struct PostgresTxn {
    engine: PostgresEngine,
    write: bool,
    /// Held from the first read to the end.
    conn: Option<Conn>,
    /// Whether `BEGIN` was sent.
    begun: bool,
    /// Values read (the snapshot does not change: read again, they cost nothing).
    known: HashMap<Vec<u8>, Option<Vec<u8>>>,
    writes: Writes,
    reads: usize,
}

impl std::fmt::Debug for PostgresTxn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTxn")
            .field("write", &self.write)
            .field("writes", &self.writes.len())
            .finish_non_exhaustive()
    }
}

impl Drop for PostgresTxn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.engine.give_back(conn);
        }
    }
}

/// Which prepared statement a read runs.
#[derive(Clone, Copy)]
enum Read {
    Get,
    GetMany,
    Scan,
}

impl PostgresTxn {
    /// Runs one read in the transaction; the first one carries the `BEGIN`.
    async fn read(
        &mut self,
        which: Read,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, KvError> {
        if self.conn.is_none() {
            self.conn = Some(self.engine.take().await?);
        }
        let begin = (!self.begun).then(|| self.begin_sql());
        let Some(conn) = self.conn.as_mut() else {
            return Err(KvError::Engine("postgres: no connection".into()));
        };
        self.begun = true;
        conn.dirty = true;
        self.reads += 1;
        self.engine.shared.reads.fetch_add(1, Ordering::Relaxed);
        let statement = match which {
            Read::Get => &conn.statements.get,
            Read::GetMany => &conn.statements.get_many,
            Read::Scan => &conn.statements.scan,
        };
        let client = &conn.client;
        let outcome = match begin {
            Some(sql) => {
                bounded(async {
                    let (began, rows) =
                        futures::join!(client.batch_execute(&sql), client.query(statement, params));
                    began.and(rows)
                })
                .await
            }
            None => bounded(client.query(statement, params)).await,
        };
        if let Err(KvError::Unavailable(_)) = &outcome {
            // In an unknown state: not for reuse.
            self.conn = None;
        }
        outcome
    }

    fn begin_sql(&self) -> String {
        let level = if self.write {
            "SERIALIZABLE"
        } else {
            "REPEATABLE READ READ ONLY"
        };
        let dirty = self.conn.as_ref().is_some_and(|c| c.dirty);
        format!(
            "{}BEGIN ISOLATION LEVEL {level}",
            if dirty { "ROLLBACK; " } else { "" }
        )
    }

    fn value_of(row: &tokio_postgres::Row, column: usize) -> Result<Vec<u8>, KvError> {
        row.try_get(column)
            .map_err(|e| KvError::Engine(format!("postgres: {e}")))
    }

    /// The values of `keys`: those not known yet in one statement.
    async fn fetch(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        let mut wanted: Vec<Vec<u8>> = Vec::new();
        for key in keys {
            if self.writes.get(key).is_none() && !self.known.contains_key(key) {
                wanted.push(key.clone());
            }
        }
        wanted.sort();
        wanted.dedup();
        if wanted.len() == 1 {
            let rows = self.read(Read::Get, &[&wanted[0]]).await?;
            let value = rows.first().map(|r| Self::value_of(r, 0)).transpose()?;
            self.known.insert(wanted.remove(0), value);
        } else if !wanted.is_empty() {
            let rows = self.read(Read::GetMany, &[&wanted]).await?;
            for key in &wanted {
                self.known.insert(key.clone(), None);
            }
            for row in &rows {
                self.known
                    .insert(Self::value_of(row, 0)?, Some(Self::value_of(row, 1)?));
            }
        }
        Ok(keys
            .iter()
            .map(|key| match self.writes.get(key) {
                Some(write) => write.clone(),
                None => self.known.get(key).cloned().flatten(),
            })
            .collect())
    }
}

impl KvTxn for PostgresTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let mut values = self.fetch(&[key.to_vec()]).await?;
        Ok(values.pop().flatten())
    }

    async fn get_many(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        self.fetch(keys).await
    }

    async fn get_many_unguarded(
        &mut self,
        keys: &[Vec<u8>],
    ) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        // Read outside the transaction (on a connection of their own, no transaction open):
        // serializable isolation then does not count them among what the commit rests on.
        let wanted: Vec<Vec<u8>> = keys
            .iter()
            .filter(|k| self.writes.get(k).is_none() && !self.known.contains_key(*k))
            .cloned()
            .collect();
        let mut found: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        if !wanted.is_empty() {
            let mut conn = self.engine.take().await?;
            if conn.dirty {
                bounded(conn.client.batch_execute("ROLLBACK")).await?;
                conn.dirty = false;
            }
            self.engine.shared.reads.fetch_add(1, Ordering::Relaxed);
            let rows = bounded(conn.client.query(&conn.statements.get_many, &[&wanted])).await;
            let rows = match rows {
                Ok(rows) => {
                    self.engine.give_back(conn);
                    rows
                }
                Err(err) => return Err(err),
            };
            for row in &rows {
                found.insert(Self::value_of(row, 0)?, Self::value_of(row, 1)?);
            }
        }
        Ok(keys
            .iter()
            .map(|key| match self.writes.get(key) {
                Some(write) => write.clone(),
                None => match self.known.get(key) {
                    Some(known) => known.clone(),
                    None => found.get(key).cloned(),
                },
            })
            .collect())
    }

    async fn peek(&mut self, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, KvError> {
        Ok(match self.writes.get(key) {
            Some(write) => Some(write.clone()),
            None => self.known.get(key).cloned(),
        })
    }

    async fn prefetch(&mut self, keys: &[Vec<u8>]) -> Result<(), KvError> {
        self.fetch(keys).await.map(drop)
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        if start >= end || limit == 0 {
            return Ok(Vec::new());
        }
        // Buffered deletes may hide some of what the table returns: ask for that many more.
        let hidden = self.writes.in_range(start, end);
        let wanted = i64::try_from(limit.saturating_add(hidden)).unwrap_or(i64::MAX);
        let (start_key, end_key) = (start.to_vec(), end.to_vec());
        let rows = self
            .read(Read::Scan, &[&start_key, &end_key, &wanted])
            .await?;
        let mut fetched = Vec::with_capacity(rows.len());
        for row in &rows {
            let (key, value) = (Self::value_of(row, 0)?, Self::value_of(row, 1)?);
            self.known.insert(key.clone(), Some(value.clone()));
            fetched.push((key, value));
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
        self.reads.max(self.writes.len())
    }

    async fn commit(mut self) -> Result<(), KvError> {
        if self.writes.is_empty() {
            // What it read came from one snapshot; the open transaction ends with the
            // connection's next one.
            return Ok(());
        }
        if self.conn.is_none() {
            self.conn = Some(self.engine.take().await?);
        }
        let begin = (!self.begun).then(|| self.begin_sql());
        let mut puts = (Vec::new(), Vec::new());
        let mut deletes = Vec::new();
        for (key, write) in self.writes.take() {
            match write {
                Some(value) => {
                    puts.0.push(key);
                    puts.1.push(value);
                }
                None => deletes.push(key),
            }
        }
        let notices = self
            .engine
            .notices(puts.0.iter().chain(&deletes).map(Vec::as_slice));
        let Some(mut conn) = self.conn.take() else {
            return Err(KvError::Engine("postgres: no connection".into()));
        };
        conn.dirty = true;
        self.engine.shared.commits.fetch_add(1, Ordering::Relaxed);
        let channel = self.engine.shared.channel.trim_matches('"').to_string();
        let client = &conn.client;
        let statements = &conn.statements;
        let outcome = bounded(async {
            let begun = async {
                match &begin {
                    Some(sql) => client.batch_execute(sql).await,
                    None => Ok(()),
                }
            };
            let upserted = async {
                match puts.0.is_empty() {
                    true => Ok(0),
                    false => {
                        client
                            .execute(&statements.upsert, &[&puts.0, &puts.1])
                            .await
                    }
                }
            };
            let deleted = async {
                match deletes.is_empty() {
                    true => Ok(0),
                    false => client.execute(&statements.delete, &[&deletes]).await,
                }
            };
            let notice_params: [&(dyn ToSql + Sync); 2] = [&channel, &notices];
            let notified = client.execute(&statements.notify, &notice_params);
            let committed = client.batch_execute("COMMIT");
            let (begun, upserted, deleted, notified, committed) =
                futures::join!(begun, upserted, deleted, notified, committed);
            begun?;
            upserted?;
            deleted?;
            notified?;
            committed
        })
        .await;
        if outcome.is_ok() {
            conn.dirty = false;
        }
        if !matches!(outcome, Err(KvError::Unavailable(_))) {
            self.engine.give_back(conn);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_split_between_keys_and_decode() {
        let keys: Vec<Vec<u8>> = (0..400usize).map(|i| vec![b'k'; 10 + i % 30]).collect();
        let notices = split_notices("me", &encode_keys(keys.iter().map(Vec::as_slice)));
        assert!(notices.len() > 1);
        let mut again = Vec::new();
        for notice in &notices {
            assert!(notice.len() < 8000);
            let (client, found) = decode_notice(notice).expect("a whole list of keys");
            assert_eq!(client, "me");
            again.extend(found);
        }
        assert_eq!(again, keys);
        assert_eq!(decode_notice("me:zz"), None);
        assert_eq!(decode_notice("me:0"), None);
        assert_eq!(decode_notice("no colon"), None);
        assert_eq!(decode_notice("me:"), Some(("me", Vec::new())));
    }
}
