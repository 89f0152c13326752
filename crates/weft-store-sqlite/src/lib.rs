//! weft-store-sqlite: the embedded default backend.
//!
//! One writer thread owns the only writing connection and commits in groups: it takes every
//! job waiting in its queue, runs each inside its own savepoint, and commits them together,
//! so concurrent single-record writes share one fsync. Reads run on a small pool of read
//! connections via `spawn_blocking`, in WAL mode, never blocking the writer. A checkpointer
//! ([`Checkpointer`], a blocking loop the server runs as a supervised task on a thread of
//! its own) with a connection of its own folds the WAL back into the database file, so that
//! the writer does not stop for a checkpoint's copy and `fsync` in the middle of a commit.
//! This crate must not know about HTTP or services; it implements `weft-store` traits only.

mod authz;
mod bulk;
mod bundle;
mod graph;
mod hub;
mod index;
mod metadata;
mod migrate;
mod oauth;
mod workspace;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};

use rusqlite::{Connection, OpenFlags};
use weft_store::sql::Param;
use weft_store::{StoreError, StoreResult};

pub use migrate::MIGRATIONS;

/// Called after the group commit with the commit error, if any.
type Completion = Box<dyn FnOnce(Option<String>) + Send>;
/// A unit of write work: runs inside a savepoint; `true` keeps its changes. Given no
/// connection (the transaction could not start), it must not run and only reports.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (bool, Completion) + Send>;
/// Work the writer runs on its own, outside any group transaction (it manages its own).
type AloneJob = Box<dyn FnOnce(&Connection) + Send>;

/// What the writer thread is asked to do.
enum Work {
    Group(Job),
    Alone(AloneJob),
}

/// Page cache sizes. The server's memory is mostly these (RSS target: < 150 MB at a million
/// records, docs/benchmarks.md); the OS page cache holds the rest of the file.
const WRITER_CACHE_KIB: i64 = 24 * 1024;
const READER_CACHE_KIB: i64 = 10 * 1024;
/// The checkpointer reads no table: its cache stays small.
const CHECKPOINTER_CACHE_KIB: i64 = 512;

/// How long a connection waits for another process's lock before reporting busy.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How often the checkpointer thread folds new WAL frames back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Most jobs one group commit takes.
const MAX_GROUP: usize = 1024;

/// The SQLite store: one writer thread, a pool of readers.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<mpsc::Sender<Work>>,
    readers: Mutex<Vec<Connection>>,
    readers_cv: Condvar,
    /// One permit per read connection: a long read waits for one here, on the async side,
    /// before it takes a blocking thread. Without this, every waiting read held a blocking
    /// thread of its own (64 under 64 concurrent queries), each with its own allocator heap:
    /// RSS grew by hundreds of MiB (docs/benchmarks.md, metadata service).
    read_permits: Arc<tokio::sync::Semaphore>,
    /// The database file, and how many read connections the pool holds when all are idle.
    path: PathBuf,
    reader_count: usize,
    /// The checkpointer's connection (`None` while a bulk load needs the database to
    /// itself, see [`SqliteStore::park_readers`]). [`Checkpointer::run`] holds it weakly:
    /// dropping the store ends the loop.
    checkpointer: Arc<Mutex<Option<Connection>>>,
    /// The database file opened once more, for bulk loads to flush their pages to disk
    /// while they run (`bulk::import`); opened by the first such load. It stays open as long
    /// as the store: closing any descriptor of the file would drop every POSIX lock this
    /// process holds on it, SQLite's included.
    writeback: std::sync::OnceLock<Option<Arc<std::fs::File>>>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open(path: &Path, cache_kib: i64) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{cache_kib}; \
         PRAGMA case_sensitive_like = ON;"
    ))?;
    // Query-planner stability: a plan never depends on bound values, so cached statements
    // are not re-prepared when parameters change (that re-preparation was a quarter of the
    // CPU of a hash lookup).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Open (creating if missing) the database at `path`, apply migrations, and start the
    /// writer thread with `readers` read connections.
    pub fn open(path: &Path, readers: usize) -> StoreResult<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Backend(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        let mut writer = open(path, WRITER_CACHE_KIB).map_err(backend)?;
        // The checkpointer thread folds the WAL back; the writer checkpoints by itself only
        // if that falls behind by ~64 MiB (then with little left to copy).
        writer
            .execute_batch("PRAGMA wal_autocheckpoint = 16384")
            .map_err(backend)?;
        migrate::apply(&mut writer)?;
        // Fold a large WAL left by an earlier bulk load back into the database: every read
        // searches the WAL index for its pages, and a big WAL makes that search dominate.
        writer
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(backend)?;
        let pool = (0..readers.max(1))
            .map(|_| open(path, READER_CACHE_KIB))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        let reader_count = pool.len();
        let (tx, rx) = mpsc::channel::<Work>();
        std::thread::Builder::new()
            .name("weft-sqlite-writer".into())
            .spawn(move || writer_loop(&writer, &rx))
            .map_err(backend)?;
        let checkpointer = Arc::new(Mutex::new(Some(
            open(path, CHECKPOINTER_CACHE_KIB).map_err(backend)?,
        )));
        Ok(Self {
            inner: Arc::new(Inner {
                writer: Mutex::new(tx),
                readers: Mutex::new(pool),
                readers_cv: Condvar::new(),
                read_permits: Arc::new(tokio::sync::Semaphore::new(reader_count)),
                path: path.to_owned(),
                reader_count,
                checkpointer,
                writeback: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The store's WAL checkpointer. Without it running, the writer checkpoints by itself
    /// once the WAL holds ~64 MiB (what a one-off command, such as an import, can live
    /// with); a server runs it as a supervised task, on a thread of its own.
    #[must_use]
    pub fn checkpointer(&self) -> Checkpointer {
        Checkpointer {
            conn: Arc::downgrade(&self.inner.checkpointer),
        }
    }

    /// Apply pending migrations and return their count (the writer applies them on open too).
    pub fn migrate(path: &Path) -> StoreResult<usize> {
        let mut conn = open(path, 2048).map_err(backend)?;
        migrate::apply(&mut conn)
    }

    /// Take a read connection if one is free right now.
    fn try_lease(&self) -> StoreResult<Option<Lease<'_>>> {
        let conn = self.inner.readers.lock().map_err(backend)?.pop();
        Ok(conn.map(|conn| Lease {
            inner: &self.inner,
            conn: Some(conn),
        }))
    }

    /// Run `f` on a read connection, off the async runtime (for reads that may be long:
    /// listings, scans).
    async fn read<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let permit = Arc::clone(&inner.read_permits)
            .acquire_owned()
            .await
            .map_err(backend)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = {
                let mut pool = inner.readers.lock().map_err(backend)?;
                loop {
                    if let Some(c) = pool.pop() {
                        break c;
                    }
                    pool = inner.readers_cv.wait(pool).map_err(backend)?;
                }
            };
            let lease = Lease {
                inner: &inner,
                conn: Some(conn),
            };
            lease.run(f)
        })
        .await
        .map_err(backend)?
    }

    /// Run a short, index-driven read (a point lookup: tens of microseconds from the page
    /// cache) on the calling thread when a read connection is free at once, else like
    /// [`Self::read`]. Handing such a read to the blocking pool costs more than the read
    /// (two thread switches); measured in docs/benchmarks.md.
    async fn read_point<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        match self.try_lease()? {
            Some(lease) => lease.run(f),
            None => self.read(f).await,
        }
    }

    /// Run `f` on the writer inside a savepoint; resolves after its group committed.
    async fn write<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let Some(conn) = conn else {
                let done: Completion = Box::new(move |e| {
                    let msg = e.unwrap_or_else(|| "no write transaction".to_owned());
                    let _ = tx.send(Err(StoreError::Backend(msg)));
                });
                return (false, done);
            };
            let result = f(conn);
            let keep = result.is_ok();
            let done: Completion = Box::new(move |commit_error| {
                let _ = tx.send(match commit_error {
                    Some(e) => Err(StoreError::Backend(e)),
                    None => result,
                });
            });
            (keep, done)
        });
        self.send(Work::Group(job))?;
        rx.await
            .map_err(|_| StoreError::Backend("the SQLite writer dropped a job".into()))?
    }

    /// Run `f` on the writer by itself, outside any transaction (`f` begins and ends its
    /// own); other writes wait until it returns.
    async fn write_alone<R, F>(&self, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Work::Alone(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        })))?;
        rx.await
            .map_err(|_| StoreError::Backend("the SQLite writer dropped a job".into()))?
    }

    fn send(&self, work: Work) -> StoreResult<()> {
        self.inner
            .writer
            .lock()
            .map_err(backend)?
            .send(work)
            .map_err(|_| StoreError::Backend("the SQLite writer has stopped".into()))
    }

    /// Close every read connection, if none is in use, so that the writer's connection is
    /// the process's only one (what leaving WAL mode requires). Reads wait until
    /// [`Self::unpark_readers`]. `false` (nothing closed) when a read is in progress.
    fn park_readers(&self) -> StoreResult<bool> {
        let mut pool = self.inner.readers.lock().map_err(backend)?;
        if pool.len() < self.inner.reader_count {
            return Ok(false);
        }
        pool.clear();
        *self.inner.checkpointer.lock().map_err(backend)? = None;
        Ok(true)
    }

    /// The database file, opened for [`Inner::writeback`] (`None` if it cannot be opened).
    fn writeback_file(&self) -> Option<Arc<std::fs::File>> {
        self.inner
            .writeback
            .get_or_init(|| std::fs::File::open(&self.inner.path).ok().map(Arc::new))
            .clone()
    }

    /// Open the read connections [`Self::park_readers`] closed.
    fn unpark_readers(&self) -> StoreResult<()> {
        let fresh = (0..self.inner.reader_count)
            .map(|_| open(&self.inner.path, READER_CACHE_KIB))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(backend)?;
        self.inner.readers.lock().map_err(backend)?.extend(fresh);
        self.inner.readers_cv.notify_all();
        *self.inner.checkpointer.lock().map_err(backend)? =
            Some(open(&self.inner.path, CHECKPOINTER_CACHE_KIB).map_err(backend)?);
        Ok(())
    }
}

/// A read connection on loan; it goes back to the pool on drop, even on panic.
struct Lease<'a> {
    inner: &'a Inner,
    conn: Option<Connection>,
}

impl Lease<'_> {
    fn run<R>(self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        match &self.conn {
            Some(c) => f(c),
            None => Err(StoreError::Backend("read connection missing".into())),
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && let Ok(mut pool) = self.inner.readers.lock()
        {
            pool.push(conn);
            self.inner.readers_cv.notify_one();
        }
    }
}

/// The WAL checkpointer of one store: a blocking loop for a thread of its own, which the
/// server runs as a supervised task ([`SqliteStore::checkpointer`]).
#[derive(Clone)]
pub struct Checkpointer {
    conn: std::sync::Weak<Mutex<Option<Connection>>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer")
            .field("store_open", &(self.conn.strong_count() > 0))
            .finish()
    }
}

impl Checkpointer {
    /// Every [`CHECKPOINT_EVERY`], fold the WAL frames written since the last time back
    /// into the database with a passive checkpoint: it waits for no reader or writer, and
    /// runs the copy and its `fsync`s here instead of in a commit of the writer. Calls
    /// `checkpointed` after each checkpoint. Returns `Ok` when `stop` is set or the store
    /// is dropped, and an error when a checkpoint fails (other than for a lock another
    /// connection holds): the caller restarts it. Blocks: run it on a thread of its own.
    pub fn run(&self, stop: &AtomicBool, checkpointed: &dyn Fn()) -> StoreResult<()> {
        loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let Some(conn) = self.conn.upgrade() else {
                return Ok(());
            };
            let guard = conn.lock().map_err(|_| {
                StoreError::Backend("the checkpointer's connection is poisoned".into())
            })?;
            let Some(c) = guard.as_ref() else {
                // A bulk load has the database to itself.
                continue;
            };
            match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                Ok(()) => checkpointed(),
                Err(e) if busy(&e) => {
                    tracing::debug!(error = %e, "sqlite: background checkpoint skipped");
                }
                Err(e) => return Err(StoreError::Backend(format!("WAL checkpoint: {e}"))),
            }
        }
    }
}

/// SQLite's "another connection holds the lock" (worth waiting out, not a failure).
fn busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn writer_loop(conn: &Connection, rx: &mpsc::Receiver<Work>) {
    let mut next: Option<Work> = None;
    loop {
        let first = match next.take() {
            Some(w) => w,
            None => match rx.recv() {
                Ok(w) => w,
                Err(_) => return,
            },
        };
        let first = match first {
            Work::Alone(job) => {
                job(conn);
                continue;
            }
            Work::Group(job) => job,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Work::Group(j)) => jobs.push(j),
                Ok(alone) => {
                    // after this group
                    next = Some(alone);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut done = Vec::with_capacity(jobs.len());
        let begin = conn.execute_batch("BEGIN IMMEDIATE");
        if let Err(e) = begin {
            tracing::error!(error = %e, "sqlite: cannot begin a write transaction");
            for job in jobs {
                let (_, d) = job(None);
                d(Some(e.to_string()));
            }
            continue;
        }
        let run = |sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut st| st.execute([]))
                .map(drop)
        };
        for job in jobs {
            let step = run("SAVEPOINT job");
            let (keep, d) = job(Some(conn));
            let step = step.and_then(|()| {
                if !keep {
                    run("ROLLBACK TO job")?;
                }
                run("RELEASE job")
            });
            if let Err(e) = step {
                tracing::error!(error = %e, "sqlite: savepoint failed");
            }
            done.push(d);
        }
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        let err = commit.err();
        if let Some(e) = &err {
            tracing::error!(error = %e, "sqlite: group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
        }
        for d in done {
            d(err.clone());
        }
    }
}

/// `$N` placeholders (portable SQL) as SQLite's `?N`.
pub(crate) fn dialect(sql: &str) -> String {
    sql.replace('$', "?")
}

pub(crate) fn to_value(p: &Param) -> rusqlite::types::Value {
    match p {
        Param::Text(s) => rusqlite::types::Value::Text(s.clone()),
        Param::Int(i) => rusqlite::types::Value::Integer(*i),
        Param::Null => rusqlite::types::Value::Null,
    }
}

/// Execute a portable statement, returning the number of rows changed.
pub(crate) fn exec(conn: &Connection, sql: &str, params: &[Param]) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(&dialect(sql))?;
    stmt.execute(rusqlite::params_from_iter(params.iter().map(to_value)))
}
