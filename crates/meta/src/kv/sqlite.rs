//! The embedded engine: one SQLite database in WAL mode.
//!
//! Why SQLite: it is ACID and crash-safe, several processes on one machine can open the same
//! database at once (a mount and the S3 gateway of one volume), WAL readers never block the
//! writer, and a small transaction costs tens of microseconds. Single-process stores (redb,
//! sled, fjall) lock their file exclusively, which rules them out.
//!
//! Write transactions take SQLite's write lock at `BEGIN IMMEDIATE`, so they are serialised
//! and never see a conflict. Writers of this process queue on one connection (a baton) instead
//! of SQLite's sleeping busy handler; other processes wait in the busy handler. Commits are
//! `synchronous=NORMAL`: durable against a crash of the process, and made durable against
//! power loss by [`SqliteEngine::sync`], which commits once under `synchronous=FULL` (that
//! syncs the whole WAL, so every earlier commit too).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

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
    writer: Mutex<Option<Connection>>,
    writer_free: Condvar,
    readers: Mutex<Vec<Connection>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn engine_error(err: rusqlite::Error) -> KvError {
    match err.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => KvError::NoSpace(err.to_string()),
        Some(ErrorCode::ReadOnly) => KvError::ReadOnly(err.to_string()),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            KvError::Engine(format!("database stayed locked by another process: {err}"))
        }
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
                writer_free: Condvar::new(),
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

    fn take_writer(&self) -> Connection {
        let mut slot = lock(&self.shared.writer);
        loop {
            if let Some(conn) = slot.take() {
                return conn;
            }
            slot = self
                .shared
                .writer_free
                .wait(slot)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn take_reader(&self) -> Result<Connection, KvError> {
        if let Some(conn) = lock(&self.shared.readers).pop() {
            return Ok(conn);
        }
        Self::connect(&self.shared.path, false).map_err(engine_error)
    }

    fn give_back(&self, conn: Connection, write: bool) {
        if write {
            *lock(&self.shared.writer) = Some(conn);
            self.shared.writer_free.notify_one();
        } else {
            let mut readers = lock(&self.shared.readers);
            if readers.len() < IDLE_READERS {
                readers.push(conn);
            }
        }
    }

    fn begin_sync(&self, write: bool) -> Result<SqliteTxn, KvError> {
        let conn = if write {
            self.take_writer()
        } else {
            self.take_reader()?
        };
        let mut txn = SqliteTxn {
            engine: self.clone(),
            conn: Some(conn),
            write,
            writes: 0,
        };
        txn.conn()
            .execute_batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })
            .map_err(engine_error)?;
        Ok(txn)
    }
}

impl KvEngine for SqliteEngine {
    type Txn = SqliteTxn;

    async fn begin(&self, write: bool) -> Result<SqliteTxn, KvError> {
        self.begin_sync(write)
    }

    async fn sync(&self) -> Result<(), KvError> {
        let conn = self.take_writer();
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
        self.give_back(conn, true);
        result.and(restored)
    }
}

/// A transaction on one pooled connection.
#[derive(Debug)]
pub struct SqliteTxn {
    engine: SqliteEngine,
    conn: Option<Connection>,
    write: bool,
    /// Puts and deletes so far.
    writes: usize,
}

impl SqliteTxn {
    fn conn(&mut self) -> &Connection {
        self.conn
            .as_ref()
            .expect("a transaction holds its connection until it ends")
    }

    /// Returns the connection to its pool; the transaction has ended.
    fn finish(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.engine.give_back(conn, self.write);
        }
    }

    fn read_only(&self) -> Result<(), KvError> {
        if self.write {
            Ok(())
        } else {
            Err(KvError::Engine("write in a read-only transaction".into()))
        }
    }
}

impl Drop for SqliteTxn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_ref()
            && !conn.is_autocommit()
            && let Err(err) = conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(%err, "rolling back a metadata transaction failed");
        }
        self.finish();
    }
}

impl KvTxn for SqliteTxn {
    async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, KvError> {
        let mut stmt = self
            .conn()
            .prepare_cached("SELECT v FROM kv WHERE k = ?1")
            .map_err(engine_error)?;
        stmt.query_row(params![key], |row| row.get(0))
            .optional()
            .map_err(engine_error)
    }

    async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<Pair>, KvError> {
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
        self.writes += 1;
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
        self.writes += 1;
        Ok(())
    }

    fn size(&self) -> usize {
        self.writes
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

    #[test]
    fn missing_database_is_a_clear_error() {
        let err = SqliteEngine::open(Path::new("/nonexistent/dl/meta.db"), false).unwrap_err();
        assert!(err.to_string().contains("format the volume first"), "{err}");
    }
}
