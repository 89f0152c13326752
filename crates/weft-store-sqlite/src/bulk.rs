//! Bulk import (`IndexStore::import` and `create_many`): all records in one transaction.
//!
//! The writer runs an import by itself, outside the group commits. Records arrive in did
//! order, so the record table's rowids, its did index and the clustered (`WITHOUT ROWID`)
//! side tables fill page by page. When the import is
//! at least as large as the table it goes into, the secondary indexes whose keys arrive in
//! random order are dropped and built again afterwards (a sort is far cheaper than a million
//! random B-tree inserts); the definitions are read back from the schema, so the migration
//! stays the one place they are written. The side tables are keyed `(value…, did)`: such a
//! load holds their rows back ([`HeldSideRows`]), sorts them by that key once the records are
//! in, and appends them. Everything happens inside the one transaction: a failure anywhere restores
//! the indexes. Rows go in through multi-row `INSERT`s ([`Insert`]): one
//! statement per row would reopen its cursors and seek from the root every time.
//!
//! Journal: in WAL mode every page of the load is written twice, to the WAL and then by the
//! checkpoint into the database. When the import rebuilds indexes and this process holds the
//! only connection to the file, the load runs in rollback-journal mode under an exclusive
//! lock instead: pages beyond the file's original end (everything a load into an empty table
//! writes) are not journaled at all, so they are written once. It is as crash-safe as WAL: a
//! killed import leaves a hot journal that the next connection rolls back, restoring the
//! file as it was (its original length included). Afterwards the database goes back to WAL.

use std::fmt::Write as _;

use rusqlite::{CachedStatement, Connection, Statement};
use weft_store::held::{HeldSideRows, KEYED_TABLES, SORTED_CHUNK};
use weft_store::sql::{self, JsonColumns, SideRow};
use weft_store::{ImportBatch, IndexRecord, Progress, StoreError, StoreResult};

use crate::index::is_unique_violation;
use crate::{backend, dialect};

/// Page cache of a bulk load, in KiB. Larger caches cost memory and gain nothing measurable:
/// the load appends, so a page once full is not touched again (docs/benchmarks.md).
const BULK_CACHE_KIB: i64 = 64 * 1024;

/// Imports at least this large, and at least as large as the table, load without the
/// secondary indexes that would be filled at random and rebuild them afterwards. (Small in
/// tests, so that the contract suite's imports take the rebuilding path.)
const REBUILD_INDEXES_FROM: u64 = if cfg!(test) { 20 } else { 50_000 };

/// Helper threads SQLite's sorter may use for the index rebuilds (the machine the import
/// was measured on has two cores; docs/benchmarks.md).
const SORT_THREADS: i64 = 2;

/// Report progress after this many records.
const REPORT_EVERY: u64 = 10_000;

/// Secondary indexes a rebuilding load keeps in place: records are built in did order by
/// the importer, so their update dates and (time-ordered) base ids grow with the did and
/// these keys append.
const KEPT_INDEXES: [&str; 2] = ["index_record_baseid_idx", "index_record_updated_idx"];

/// Most bytes of side rows a rebuilding load holds back before it inserts them (sorted) and
/// starts holding again; 7 million bench side rows take about 430 MiB. (Small in tests, so
/// that the contract suite's imports insert what they hold several times over.)
const HELD_LIMIT: usize = if cfg!(test) { 4096 } else { 1 << 30 };

/// Record rows per multi-row `INSERT` (19 parameters each).
const RECORD_ROWS: usize = 64;
/// Side-table rows per multi-row `INSERT`. It divides [`SORTED_CHUNK`], so that held rows,
/// which come in chunks of that many, all go in through multi-row statements.
const SIDE_ROWS: usize = 256;
const _: () = assert!(SORTED_CHUNK.is_multiple_of(SIDE_ROWS));

/// `INSERT INTO t (columns) VALUES (…), (…), …` with `rows` rows, from a portable one-row
/// insert; returns the statement and the parameters per row.
fn multi_row(portable: &str, rows: usize) -> (String, usize) {
    let (head, values) = portable.split_once(" VALUES ").unwrap_or((portable, ""));
    let columns = values.matches('$').count();
    let mut sql = format!("{head} VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "?{}", r * columns + c + 1);
        }
        sql.push(')');
    }
    (sql, columns)
}

/// One table's inserts: `rows` rows per statement, and the remainder one at a time.
///
/// A statement per row costs more than the row: every execution opens its B-tree cursors
/// again and seeks from the root, where one statement over many rows keeps the cursor on
/// the last page and appends (measured in docs/benchmarks.md).
struct Insert<'c> {
    one: CachedStatement<'c>,
    many: CachedStatement<'c>,
    rows: usize,
    columns: usize,
}

impl<'c> Insert<'c> {
    fn new(conn: &'c Connection, portable: &str, rows: usize) -> StoreResult<Self> {
        let (many, columns) = multi_row(portable, rows);
        Ok(Self {
            one: conn.prepare_cached(&dialect(portable)).map_err(backend)?,
            many: conn.prepare_cached(&many).map_err(backend)?,
            rows,
            columns,
        })
    }

    /// Insert `items`, binding each through `bind(statement, first parameter, item)`.
    /// On an error of a multi-row statement (which SQLite undoes as a whole) its rows are
    /// inserted again one at a time, so the error names the row that caused it.
    fn insert<T>(
        &mut self,
        items: &[T],
        bind: impl Fn(&mut Statement<'_>, usize, &T) -> rusqlite::Result<()>,
        error: impl Fn(rusqlite::Error, &T) -> StoreError,
    ) -> StoreResult<()> {
        for chunk in items.chunks(self.rows) {
            if chunk.len() == self.rows {
                let done = chunk
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| bind(&mut self.many, i * self.columns + 1, item))
                    .and_then(|()| self.many.raw_execute());
                if done.is_ok() {
                    continue;
                }
            }
            for item in chunk {
                bind(&mut self.one, 1, item)
                    .and_then(|()| self.one.raw_execute())
                    .map_err(|e| error(e, item))?;
            }
        }
        Ok(())
    }
}

/// Bind a record's 19 columns from parameter `at` on.
fn bind_record(
    stmt: &mut Statement<'_>,
    at: usize,
    (r, j): &(&IndexRecord, &JsonColumns),
) -> rusqlite::Result<()> {
    let texts: [Option<&str>; 4] = [
        Some(&r.did),
        Some(&r.baseid),
        Some(&r.rev),
        r.form.as_deref(),
    ];
    for (i, t) in texts.into_iter().enumerate() {
        stmt.raw_bind_parameter(at + i, t)?;
    }
    stmt.raw_bind_parameter(at + 4, r.size)?;
    let texts: [Option<&str>; 14] = [
        r.file_name.as_deref(),
        r.version.as_deref(),
        r.uploader.as_deref(),
        r.description.as_deref(),
        Some(&r.created_date),
        Some(&r.updated_date),
        r.content_created_date.as_deref(),
        r.content_updated_date.as_deref(),
        Some(&j.urls),
        Some(&j.urls_metadata),
        Some(&j.acl),
        Some(&j.authz),
        Some(&j.hashes),
        Some(&j.metadata),
    ];
    for (i, t) in texts.into_iter().enumerate() {
        stmt.raw_bind_parameter(at + 5 + i, t)?;
    }
    Ok(())
}

/// Bind a side row (its did first) from parameter `at` on.
fn bind_side(
    stmt: &mut Statement<'_>,
    at: usize,
    (did, row): &(&str, SideRow<'_>),
) -> rusqlite::Result<()> {
    stmt.raw_bind_parameter(at, did)?;
    match row {
        SideRow::Hash(k, v) => {
            stmt.raw_bind_parameter(at + 1, k)?;
            stmt.raw_bind_parameter(at + 2, v)
        }
        SideRow::Url(v) | SideRow::Ace(v) | SideRow::Authz(v) => stmt.raw_bind_parameter(at + 1, v),
        SideRow::Metadata(k, v) => {
            stmt.raw_bind_parameter(at + 1, k)?;
            stmt.raw_bind_parameter(at + 2, v.as_ref())
        }
        SideRow::UrlMetadata(u, k, v) => {
            stmt.raw_bind_parameter(at + 1, u)?;
            stmt.raw_bind_parameter(at + 2, k)?;
            stmt.raw_bind_parameter(at + 3, v.as_ref())
        }
    }
}

/// The side tables in [`SideRow`] order (hashes, URLs, ACEs, authz, metadata, URL metadata).
const SIDE_TABLES: [&str; 6] = [
    sql::INSERT_HASH,
    sql::INSERT_URL,
    sql::INSERT_ACE,
    sql::INSERT_AUTHZ,
    sql::INSERT_METADATA,
    sql::INSERT_URL_METADATA,
];

/// The inserts of held side rows: [`KEYED_TABLES`], columns in primary-key order.
fn keyed_insert((table, columns): (&str, &[&str])) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        columns.join(", "),
        placeholders.join(", ")
    )
}

/// Sort the rows `held` holds and insert them through `inserts` ([`keyed_insert`] of each
/// table), a table as soon as its sort is done; `meanwhile` runs first, while the sorts
/// run. The rows are used up either way.
fn flush_held(
    held: HeldSideRows,
    inserts: &mut [Insert<'_>],
    meanwhile: impl FnOnce() -> StoreResult<()>,
) -> StoreResult<()> {
    let started = std::time::Instant::now();
    held.sort_each(meanwhile, |sorted| {
        let t = sorted.table();
        let Some(insert) = inserts.get_mut(t) else {
            return Ok(());
        };
        let waited = started.elapsed().as_secs_f64();
        let loading = std::time::Instant::now();
        let mut rows = 0;
        for chunk in sorted.chunks() {
            insert.insert(
                chunk.rows(),
                |stmt, at, row| {
                    let (fields, n) = chunk.fields(*row);
                    for (i, f) in fields[..n].iter().enumerate() {
                        stmt.raw_bind_parameter(at + i, f)?;
                    }
                    Ok(())
                },
                |e, _| backend(e),
            )?;
            rows += chunk.rows().len();
        }
        tracing::debug!(
            table = KEYED_TABLES[t].0,
            rows,
            ready_after = waited,
            secs = loading.elapsed().as_secs_f64(),
            "sqlite import: side table loaded"
        );
        Ok(())
    })
}

/// Prepared inserts for records and their side rows, reused for every batch.
struct Inserter<'c> {
    record: Insert<'c>,
    side: Vec<Insert<'c>>,
    /// A rebuilding load's inserts of held side rows ([`keyed_insert`] of each table);
    /// `None`: side rows are inserted with their batch.
    held: Option<Vec<Insert<'c>>>,
}

impl<'c> Inserter<'c> {
    fn new(conn: &'c Connection, hold: bool) -> StoreResult<Self> {
        let held = if hold {
            Some(
                KEYED_TABLES
                    .iter()
                    .map(|t| Insert::new(conn, &keyed_insert(*t), SIDE_ROWS))
                    .collect::<StoreResult<_>>()?,
            )
        } else {
            None
        };
        Ok(Self {
            record: Insert::new(conn, sql::INSERT_RECORD, RECORD_ROWS)?,
            side: SIDE_TABLES
                .iter()
                .map(|s| Insert::new(conn, s, SIDE_ROWS))
                .collect::<StoreResult<_>>()?,
            held,
        })
    }

    /// Insert the side rows of `held` (sorted first); `meanwhile` runs while they are
    /// sorted (or at once, when nothing is held).
    fn flush(
        &mut self,
        held: HeldSideRows,
        meanwhile: impl FnOnce() -> StoreResult<()>,
    ) -> StoreResult<()> {
        match &mut self.held {
            Some(inserts) if !held.is_empty() => flush_held(held, inserts, meanwhile),
            _ => meanwhile(),
        }
    }

    /// Insert a prepared batch (records in did order): their rows, then, unless the load
    /// holds them back, each side table's rows.
    fn insert(&mut self, batch: &Prepared) -> StoreResult<()> {
        let rows: Vec<(&IndexRecord, &JsonColumns)> =
            batch.records.iter().zip(&batch.json).collect();
        self.record.insert(&rows, bind_record, |e, (r, _)| {
            if is_unique_violation(&e) {
                StoreError::AlreadyExists(format!("did \"{}\" already exists", r.did))
            } else {
                backend(e)
            }
        })?;
        if self.held.is_some() {
            return Ok(());
        }
        let mut side: [Vec<(&str, SideRow<'_>)>; 6] = Default::default();
        for r in &batch.records {
            let _ = sql::for_each_side_row::<()>(r, |row| {
                let table = SIDE_TABLES
                    .iter()
                    .position(|s| *s == row.statement())
                    .unwrap_or_default();
                side[table].push((r.did.as_str(), row));
                Ok(())
            });
        }
        for (insert, rows) in self.side.iter_mut().zip(&side) {
            insert.insert(rows, bind_side, |e, _| backend(e))?;
        }
        Ok(())
    }
}

/// A batch of records made ready for the writer on the preparing thread: the records
/// and their JSON collections.
struct Prepared {
    records: Vec<IndexRecord>,
    json: Vec<JsonColumns>,
}

/// What the preparing thread hands the writer.
enum Ready {
    Batch(Prepared),
    /// Side rows held back up to [`HELD_LIMIT`], of records already sent: to be inserted
    /// now.
    Full(Box<HeldSideRows>),
    Failed(String),
}

/// The preparing thread of a load: serializes each batch's JSON collections and (`hold`)
/// holds its side rows back, so that the writer's thread only inserts; it also drops the
/// batches the writer sends back. Returns the side rows still held at the end.
fn prepare(
    batches: impl Iterator<Item = ImportBatch>,
    hold: bool,
    ready: &std::sync::mpsc::SyncSender<Ready>,
    used: &std::sync::mpsc::Receiver<Prepared>,
) -> HeldSideRows {
    let mut held = HeldSideRows::default();
    let mut spare: Vec<Vec<JsonColumns>> = Vec::new();
    for batch in batches {
        // records are freed here, their JSON buffers used again
        spare.extend(used.try_iter().map(|p| p.json));
        let records = match batch {
            Ok(records) => records,
            Err(e) => {
                let _ = ready.send(Ready::Failed(e));
                break;
            }
        };
        let mut json = spare.pop().unwrap_or_default();
        json.resize_with(records.len(), JsonColumns::default);
        for (r, j) in records.iter().zip(&mut json) {
            j.fill(r);
        }
        // Side rows held up to the limit go to the writer after the batch: their records'
        // rows must be in first, so that a taken did fails as such, not as a side row.
        let mut full = Vec::new();
        if hold {
            for r in &records {
                if held.hold(r, HELD_LIMIT) {
                    continue;
                }
                full.push(std::mem::take(&mut held));
                if !held.hold(r, HELD_LIMIT) {
                    let _ = ready.send(Ready::Failed(format!(
                        "record {}: side rows too large to import",
                        r.did
                    )));
                    return held;
                }
            }
        }
        if ready
            .send(Ready::Batch(Prepared { records, json }))
            .is_err()
        {
            break; // the writer failed and stopped listening
        }
        for rows in full {
            if ready.send(Ready::Full(Box::new(rows))).is_err() {
                return held;
            }
        }
    }
    held
}

/// Whether the record table holds at most `n` records.
fn at_most(conn: &Connection, n: u64) -> StoreResult<bool> {
    let limit = i64::try_from(n).unwrap_or(i64::MAX - 1) + 1;
    let count: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM index_record LIMIT ?1)",
            [limit],
            |r| r.get(0),
        )
        .map_err(backend)?;
    Ok(count < limit)
}

/// Drop the record tables' secondary indexes (but [`KEPT_INDEXES`]), returning their
/// definitions.
fn drop_indexes(conn: &Connection) -> StoreResult<Vec<String>> {
    // The migration stays the one place index definitions are written: read them back.
    let indexes: Vec<(String, String)> = {
        let mut stmt = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
                 AND tbl_name LIKE 'index_record%'",
            )
            .map_err(backend)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(backend)?;
        rows.collect::<rusqlite::Result<_>>().map_err(backend)?
    };
    let mut dropped = Vec::new();
    for (name, create) in indexes {
        if KEPT_INDEXES.contains(&name.as_str()) {
            continue;
        }
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))
            .map_err(backend)?;
        dropped.push(create);
    }
    Ok(dropped)
}

/// Create the indexes `dropped` (their `CREATE INDEX` statements) again.
fn rebuild_indexes(conn: &Connection, dropped: &[String]) -> StoreResult<()> {
    if dropped.is_empty() {
        return Ok(());
    }
    // SQLite's sorter may use helper threads for the rebuilds' sorts (the B-trees are
    // still written by this thread).
    let threads: i64 = conn
        .query_row("PRAGMA threads", [], |r| r.get(0))
        .map_err(backend)?;
    conn.execute_batch(&format!("PRAGMA threads = {SORT_THREADS}"))
        .map_err(backend)?;
    let rebuilt = dropped.iter().try_for_each(|create| {
        let started = std::time::Instant::now();
        conn.execute_batch(create).map_err(backend)?;
        tracing::debug!(
            index = create.as_str(),
            secs = started.elapsed().as_secs_f64(),
            "sqlite import: index rebuilt"
        );
        Ok(())
    });
    conn.execute_batch(&format!("PRAGMA threads = {threads}"))
        .map_err(backend)?;
    rebuilt
}

/// Insert every record of `batches` into the open transaction.
///
/// Two threads: a preparing one ([`prepare`]) and this one, the writer, which only binds
/// and inserts (SQLite has one writer per database, so its thread is the import's critical
/// path).
fn load(
    conn: &Connection,
    batches: impl Iterator<Item = ImportBatch> + Send,
    expected: u64,
    progress: Option<&Progress>,
    rebuild: bool,
) -> StoreResult<u64> {
    let dropped = if rebuild {
        drop_indexes(conn)?
    } else {
        Vec::new()
    };
    let started = std::time::Instant::now();
    let mut inserter = Inserter::new(conn, rebuild)?;
    let mut done = 0u64;
    let mut next_report = REPORT_EVERY;
    let held = std::thread::scope(|scope| {
        let (ready_tx, ready) = std::sync::mpsc::sync_channel(2);
        let (used, used_rx) = std::sync::mpsc::channel();
        let preparer = std::thread::Builder::new()
            .name("weft-import-prep".to_owned())
            .spawn_scoped(scope, move || {
                prepare(batches, rebuild, &ready_tx, &used_rx)
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the import: {e}")))?;
        for message in &ready {
            match message {
                Ready::Batch(batch) => {
                    inserter.insert(&batch)?;
                    done += batch.records.len() as u64;
                    let _ = used.send(batch);
                }
                Ready::Full(full) => inserter.flush(*full, || Ok(()))?,
                Ready::Failed(e) => return Err(StoreError::Backend(e)),
            }
            if let Some(p) = progress
                && done >= next_report
            {
                p(done);
                next_report = done + REPORT_EVERY;
            }
        }
        drop(ready);
        preparer
            .join()
            .map_err(|_| StoreError::Backend("the import's preparing thread failed".to_owned()))
    })?;
    if done != expected {
        return Err(StoreError::Backend(format!(
            "bulk import stopped after {done} of {expected} records"
        )));
    }
    tracing::debug!(
        records = done,
        secs = started.elapsed().as_secs_f64(),
        "sqlite import: records loaded"
    );
    // While the side rows are sorted (on threads of their own), this thread builds the
    // dropped indexes again; then it appends each table's rows as soon as they are sorted.
    inserter.flush(held, || rebuild_indexes(conn, &dropped))?;
    drop(inserter);
    tracing::debug!(
        secs = started.elapsed().as_secs_f64(),
        "sqlite import: side rows loaded, indexes rebuilt"
    );
    if let Some(p) = progress {
        p(done);
    }
    Ok(done)
}

/// Set the journal mode, returning the mode in effect afterwards.
fn journal_mode(conn: &Connection, mode: &str) -> StoreResult<String> {
    conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
        .map_err(backend)
}

/// Switch the database from WAL to a rollback journal if no other connection has it open.
fn leave_wal(conn: &Connection) -> StoreResult<bool> {
    // Another process's connection makes this fail at once or after the busy timeout; it
    // is no reason to wait: the import then keeps to WAL mode.
    conn.busy_timeout(std::time::Duration::ZERO)
        .map_err(backend)?;
    let mode: rusqlite::Result<String> =
        conn.query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0));
    conn.busy_timeout(crate::BUSY_TIMEOUT).map_err(backend)?;
    match mode {
        Ok(mode) => Ok(mode == "delete"),
        Err(rusqlite::Error::SqliteFailure(f, _))
            if f.code == rusqlite::ErrorCode::DatabaseBusy =>
        {
            Ok(false)
        }
        Err(e) => Err(backend(e)),
    }
}

/// How often a load in rollback-journal mode has the pages it wrote so far flushed to disk.
const WRITEBACK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Run `work` while a thread of its own flushes `file`'s written pages to disk every
/// [`WRITEBACK_EVERY`]. A rebuilding load writes the whole database (1.5 GB for a million
/// bench records) and the kernel starts writing dirty pages back only after 30 s or a
/// tenth of the memory: without this, all of them wait for the commit's `fsync`, with the
/// disk idle until then. An early flush changes nothing SQLite relies on: it only makes
/// pages durable sooner, which a rollback of a hot journal undoes like any other.
fn with_writeback<T>(file: Option<&std::fs::File>, work: impl FnOnce() -> T) -> T {
    let Some(file) = file else {
        return work();
    };
    std::thread::scope(|scope| {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let flusher = std::thread::Builder::new()
            .name("weft-import-sync".to_owned())
            .spawn_scoped(scope, move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(WRITEBACK_EVERY)
                {
                    if let Err(e) = file.sync_data() {
                        tracing::debug!(error = %e, "sqlite import: early flush failed");
                        break;
                    }
                }
            });
        let out = work();
        drop(stop);
        if let Ok(flusher) = flusher {
            let _ = flusher.join();
        }
        out
    })
}

/// Import `batches` (at most one transaction's worth: all or nothing) on the writer's
/// connection, outside any transaction. `alone`: no other connection of this process has the
/// database open, so the load may leave WAL mode (see the module documentation);
/// `writeback`: the database file, for a load in rollback-journal mode to flush as it goes
/// ([`with_writeback`]). It is never closed here: see `Inner::writeback`.
pub(crate) fn import(
    conn: &Connection,
    batches: impl Iterator<Item = ImportBatch> + Send,
    expected: u64,
    progress: Option<&Progress>,
    alone: bool,
    writeback: Option<&std::fs::File>,
) -> StoreResult<u64> {
    let rebuild = expected >= REBUILD_INDEXES_FROM && at_most(conn, expected)?;
    let rollback_journal = rebuild && alone && leave_wal(conn)?;
    let cache: i64 = conn
        .query_row("PRAGMA cache_size", [], |r| r.get(0))
        .map_err(backend)?;
    let mut setup = format!("PRAGMA cache_size = -{BULK_CACHE_KIB};");
    setup.push_str(if rollback_journal {
        "PRAGMA synchronous = FULL; BEGIN EXCLUSIVE"
    } else {
        "BEGIN IMMEDIATE"
    });
    let result = conn.execute_batch(&setup).map_err(backend).and_then(|()| {
        let flushed = if rollback_journal { writeback } else { None };
        let loaded = with_writeback(flushed, || load(conn, batches, expected, progress, rebuild));
        let started = std::time::Instant::now();
        let ended = match &loaded {
            Ok(_) => conn.execute_batch("COMMIT"),
            Err(_) => conn.execute_batch("ROLLBACK"),
        };
        tracing::debug!(
            secs = started.elapsed().as_secs_f64(),
            "sqlite import: transaction ended"
        );
        match ended {
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(backend(e))
            }
            Ok(()) => loaded,
        }
    });
    let mut restore = format!("PRAGMA cache_size = {cache};");
    if rollback_journal {
        restore.push_str("PRAGMA synchronous = NORMAL;");
    }
    conn.execute_batch(&restore).map_err(backend)?;
    if rollback_journal {
        let mode = journal_mode(conn, "WAL")?;
        if mode != "wal" {
            return Err(StoreError::Backend(format!(
                "the database stayed in journal mode {mode} after the import"
            )));
        }
    } else if result.is_ok() {
        // The load went through the WAL; fold it into the database now rather than leave
        // every later read searching a WAL as large as the data.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(backend)?;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_row_inserts_number_every_parameter() {
        assert_eq!(
            multi_row(sql::INSERT_URL, 3),
            (
                "INSERT INTO index_record_url (did, url) VALUES (?1, ?2), (?3, ?4), (?5, ?6)"
                    .to_owned(),
                2
            )
        );
        let (record, columns) = multi_row(sql::INSERT_RECORD, RECORD_ROWS);
        assert_eq!(columns, 19);
        assert!(
            record.ends_with(&format!(", ?{})", 19 * RECORD_ROWS)),
            "{record}"
        );
    }
}
