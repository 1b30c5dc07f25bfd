//! The embedded engine: one SQLite database in WAL mode.
//!
//! Why SQLite: it is ACID and crash-safe, several processes on one machine can open the same
//! database at once (a mount and the S3 gateway of one volume), WAL readers never block the
//! writer, and a small transaction costs tens of microseconds. Single-process stores (redb,
//! sled, fjall) lock their file exclusively, which rules them out.
//!
//! Write transactions take SQLite's write lock at `BEGIN IMMEDIATE`, so they are serialised
//! and never see a conflict. Writers of this process queue on one connection (a baton, an
//! async semaphore: a waiting writer parks its task, not its thread) instead of SQLite's
//! sleeping busy handler. When another process holds the write lock, `BEGIN IMMEDIATE` fails
//! at once on the async thread and is tried again on the blocking pool, where the busy
//! handler may wait for it (up to 30 s) without stalling other tasks — a mount's heartbeat
//! among them. Commits are `synchronous=NORMAL`: durable against a crash of the process, and
//! made durable against power loss by [`SqliteEngine::sync`], which commits once under
//! `synchronous=FULL` (that syncs the whole WAL, so every earlier commit too) on the blocking
//! pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{KvEngine, KvError, KvTxn, Pair};

/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Readers kept open for reuse.
const IDLE_READERS: usize = 16;

/// An SQLite database used as an ordered key-value store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqliteEngine {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    /// The writer connection; whoever holds `writer_baton`'s one permit may take it.
    writer: Mutex<Option<Connection>>,
    writer_baton: Arc<Semaphore>,
    readers: Mutex<Vec<Connection>>,
}

/// The writer connection, taken under the baton; both go back when it drops.
#[derive(Debug)]
struct Writer {
    conn: Option<Connection>,
    engine: SqliteEngine,
    _baton: OwnedSemaphorePermit,
}

impl Writer {
    fn conn(&self) -> &Connection {
        self.conn
            .as_ref()
            .expect("the writer holds its connection until dropped")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            *lock(&self.engine.shared.writer) = Some(conn);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn engine_error(err: rusqlite::Error) -> KvError {
    if is_busy(&err) {
        return KvError::Engine(format!("database stayed locked by another process: {err}"));
    }
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => KvError::NoSpace(err.to_string()),
        Some(ErrorCode::ReadOnly) => KvError::ReadOnly(err.to_string()),
        _ => KvError::Engine(err.to_string()),
    }
}

impl SqliteEngine {
    /// Opens (creating when `create`) the database at `path`.
    pub fn open(path: &Path, create: bool) -> Result<Self, KvError> {
        let open_error = |reason: String| KvError::Open {
            url: format!("sqlite://{}", path.display()),
            reason,
        };
        if !create && !path.exists() {
            return Err(open_error("no such file (format the volume first)".into()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && create
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_error(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = Self::connect(path, create).map_err(|e| open_error(e.to_string()))?;
        writer
            .execute_batch(
                "PRAGMA journal_mode=WAL;
                 CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;",
            )
            .map_err(|e| open_error(e.to_string()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                path: path.to_path_buf(),
                writer: Mutex::new(Some(writer)),
                writer_baton: Arc::new(Semaphore::new(1)),
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    fn connect(path: &Path, create: bool) -> rusqlite::Result<Connection> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL;
             PRAGMA cache_size=-65536;
             PRAGMA temp_store=MEMORY;",
        )?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Waits (asynchronously) for the writer connection.
    async fn take_writer(&self) -> Result<Writer, KvError> {
        let baton = self
            .shared
            .writer_baton
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| KvError::Engine("the metadata engine is closed".into()))?;
        let conn = lock(&self.shared.writer).take();
        Ok(Writer {
            conn: Some(conn.expect("the baton's holder finds the writer connection in place")),
            engine: self.clone(),
            _baton: baton,
        })
    }

    fn take_reader(&self) -> Result<Connection, KvError> {
        if let Some(conn) = lock(&self.shared.readers).pop() {
            return Ok(conn);
        }
        Self::connect(&self.shared.path, false).map_err(engine_error)
    }

    fn give_back_reader(&self, conn: Connection) {
        let mut readers = lock(&self.shared.readers);
        if readers.len() < IDLE_READERS {
            readers.push(conn);
        }
    }
}

/// Runs `work` on the writer connection on the blocking pool (it may wait for another
/// process's lock, or for the disk), and hands the writer back.
async fn on_blocking_pool<T: Send + 'static>(
    mut writer: Writer,
    work: impl FnOnce(&Connection) -> T + Send + 'static,
) -> Result<(Writer, T), KvError> {
    let conn = writer.conn.take().expect("the writer holds its connection");
    let (conn, result) = tokio::task::spawn_blocking(move || {
        let result = work(&conn);
        (conn, result)
    })
    .await
    .map_err(|e| KvError::Engine(format!("a metadata task failed: {e}")))?;
    writer.conn = Some(conn);
    Ok((writer, result))
}

/// Whether SQLite refused because another connection holds the lock.
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

impl SqliteEngine {
    /// Starts a write transaction: `BEGIN IMMEDIATE` without waiting, and only if another
    /// process holds the write lock, again on the blocking pool with the busy handler's wait.
    async fn begin_write(&self) -> Result<Writer, KvError> {
        let writer = self.take_writer().await?;
        let conn = writer.conn();
        conn.busy_timeout(Duration::ZERO).map_err(engine_error)?;
        let first = conn.execute_batch("BEGIN IMMEDIATE");
        conn.busy_timeout(BUSY_TIMEOUT).map_err(engine_error)?;
        match first {
            Ok(()) => Ok(writer),
            Err(err) if is_busy(&err) => {
                let (writer, begun) =
                    on_blocking_pool(writer, |conn| conn.execute_batch("BEGIN IMMEDIATE")).await?;
                begun.map_err(engine_error)?;
                Ok(writer)
            }
            Err(err) => Err(engine_error(err)),
        }
    }
}

impl KvEngine for SqliteEngine {
    type Txn = SqliteTxn;

    async fn begin(&self, write: bool) -> Result<SqliteTxn, KvError> {
        let conn = if write {
            Held::Writer(self.begin_write().await?)
        } else {
            let conn = self.take_reader()?;
            conn.execute_batch("BEGIN").map_err(engine_error)?;
            Held::Reader(conn)
        };
        Ok(SqliteTxn {
            engine: self.clone(),
            conn: Some(conn),
            reads: std::collections::HashSet::new(),
            scans: 0,
            writes: std::collections::HashSet::new(),
        })
    }

    async fn sync(&self) -> Result<(), KvError> {
        let writer = self.take_writer().await?;
        let (_writer, result) = on_blocking_pool(writer, |conn| {
            let result = conn
                .execute_batch(
                    "PRAGMA synchronous=FULL;
                     BEGIN IMMEDIATE;
                     INSERT OR REPLACE INTO kv (k, v) VALUES (x'00', x'00');
                     COMMIT;",
                )
                .map_err(engine_error);
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let restored = conn
                .execute_batch("PRAGMA synchronous=NORMAL")
                .map_err(engine_error);
            result.and(restored)
        })
        .await?;
        result
    }
}

/// The connection a transaction runs on.
#[derive(Debug)]
enum Held {
    Writer(Writer),
    Reader(Connection),
}

/// A transaction on one pooled connection.
#[derive(Debug)]
pub struct SqliteTxn {
    engine: SqliteEngine,
    conn: Option<Held>,
    /// Keys read (not written first) and ranges scanned, counted for [`KvTxn::size`] as every
    /// engine counts them: what an optimistic engine would have to compare at commit.
    reads: std::collections::HashSet<Vec<u8>>,
    scans: usize,
    /// Keys put or deleted.
    writes: std::collections::HashSet<Vec<u8>>,
}

impl SqliteTxn {
    fn conn(&self) -> &Connection {
        match self
            .conn
            .as_ref()
            .expect("a transaction holds its connection until it ends")
        {
            Held::Writer(writer) => writer.conn(),
            Held::Reader(conn) => conn,
        }
    }

    /// Returns the connection to its pool; the transaction has ended.
    fn finish(&mut self) {
        match self.conn.take() {
            Some(Held::Reader(conn)) => self.engine.give_back_reader(conn),
            Some(Held::Writer(writer)) => drop(writer),
            None => {}
        }
    }

    fn read_only(&self) -> Result<(), KvError> {
        if matches!(self.conn, Some(Held::Writer(_))) {
            Ok(())
        } else {
            Err(KvError::Engine("write in a read-only transaction".into()))
        }
    }
}

impl Drop for SqliteTxn {
    fn drop(&mut self) {
        if self.conn.is_some()
            && !self.conn().is_autocommit()
            && let Err(err) = self.conn().execute_batch("ROLLBACK")
        {
            tracing::warn!(%err, "rolling back a metadata transaction failed");
        }
        self.finish();
    }
}

impl KvTxn for SqliteTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        if !self.writes.contains(key) && !self.reads.contains(key) {
            self.reads.insert(key.to_vec());
        }
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")
            .map_err(engine_error)?;
        stmt.query_row(params![key], |row| row.get(0))
            .optional()
            .map_err(engine_error)
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
        self.scans += 1;
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2 ORDER BY k LIMIT ?3")
            .map_err(engine_error)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![start, end, limit], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(engine_error)?;
        rows.collect::<rusqlite::Result<Vec<Pair>>>()
            .map_err(engine_error)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), KvError> {
        self.read_only()?;
        let mut stmt = self
            .conn()
            .prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")
            .map_err(engine_error)?;
        stmt.execute(params![key, value]).map_err(engine_error)?;
        drop(stmt);
        self.writes.insert(key.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), KvError> {
        self.read_only()?;
        let mut stmt = self
            .conn()
            .prepare_cached("DELETE FROM kv WHERE k = ?1")
            .map_err(engine_error)?;
        stmt.execute(params![key]).map_err(engine_error)?;
        drop(stmt);
        self.writes.insert(key.to_vec());
        Ok(())
    }

    fn size(&self) -> usize {
        (self.reads.len() + self.scans).max(self.writes.len())
    }

    async fn commit(mut self) -> Result<(), KvError> {
        self.conn().execute_batch("COMMIT").map_err(engine_error)?;
        self.finish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn commits_are_seen_and_rollbacks_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteEngine::open(&dir.path().join("m.db"), true).unwrap();
        let mut txn = kv.begin(true).await.unwrap();
        txn.put(b"a1", b"x").unwrap();
        txn.put(b"a2", b"y").unwrap();
        txn.put(b"b1", b"z").unwrap();
        assert_eq!(txn.get(b"a1").await.unwrap().as_deref(), Some(&b"x"[..]));
        txn.commit().await.unwrap();

        let mut txn = kv.begin(true).await.unwrap();
        txn.delete(b"a1").unwrap();
        drop(txn);

        let mut txn = kv.begin(false).await.unwrap();
        let pairs = txn.scan(b"a", b"b", 10).await.unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].0, b"a1");
        assert!(txn.put(b"c", b"").is_err());
        kv.sync().await.unwrap();
    }

    #[tokio::test]
    async fn another_process_view_sees_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let one = SqliteEngine::open(&path, true).unwrap();
        let two = SqliteEngine::open(&path, false).unwrap();
        let mut txn = one.begin(true).await.unwrap();
        txn.put(b"k", b"v").unwrap();
        txn.commit().await.unwrap();
        let mut txn = two.begin(false).await.unwrap();
        assert_eq!(txn.get(b"k").await.unwrap().as_deref(), Some(&b"v"[..]));
    }

    /// A writer waiting for another process's write lock parks on the blocking pool: the
    /// runtime's one thread goes on running other tasks (a heartbeat) meanwhile.
    #[tokio::test(flavor = "current_thread")]
    async fn waiting_for_another_process_lock_does_not_stall_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let holder = SqliteEngine::open(&path, true).unwrap();
        let waiter = SqliteEngine::open(&path, false).unwrap();
        let mut held = holder.begin(true).await.unwrap();
        held.put(b"k", b"first").unwrap();
        let writer = tokio::spawn(async move {
            let mut txn = waiter.begin(true).await.unwrap();
            let seen = txn.get(b"k").await.unwrap();
            txn.put(b"k", b"second").unwrap();
            txn.commit().await.unwrap();
            seen
        });
        // These sleeps can only end while the waiting writer leaves the thread free.
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!writer.is_finished(), "the lock is still held");
        held.commit().await.unwrap();
        assert_eq!(writer.await.unwrap().as_deref(), Some(&b"first"[..]));
        let mut txn = holder.begin(false).await.unwrap();
        assert_eq!(
            txn.get(b"k").await.unwrap().as_deref(),
            Some(&b"second"[..])
        );
    }

    /// Writers of one process queue on the baton without blocking threads, in any number.
    #[tokio::test(flavor = "current_thread")]
    async fn writers_of_one_process_take_turns() {
        let dir = tempfile::tempdir().unwrap();
        let kv = SqliteEngine::open(&dir.path().join("m.db"), true).unwrap();
        let first = kv.begin(true).await.unwrap();
        let tasks: Vec<_> = (0..8u8)
            .map(|i| {
                let kv = kv.clone();
                tokio::spawn(async move {
                    let mut txn = kv.begin(true).await.unwrap();
                    txn.put(&[b'w', i], b"").unwrap();
                    txn.commit().await.unwrap();
                })
            })
            .collect();
        tokio::task::yield_now().await;
        drop(first);
        for task in tasks {
            task.await.unwrap();
        }
        let mut txn = kv.begin(false).await.unwrap();
        assert_eq!(txn.scan(b"w", b"x", 100).await.unwrap().len(), 8);
    }

    #[test]
    fn missing_database_is_a_clear_error() {
        let err = SqliteEngine::open(Path::new("/nonexistent/dl/meta.db"), false).unwrap_err();
        assert!(err.to_string().contains("format the volume first"), "{err}");
    }
}
