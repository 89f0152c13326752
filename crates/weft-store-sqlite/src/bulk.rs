//! Bulk import (`IndexStore::import` and `create_many`): all records in one transaction.
//!
//! The writer runs an import by itself, outside the group commits. Records arrive in did
//! order, so the clustered (`WITHOUT ROWID`) tables fill page by page. When the import is
//! at least as large as the table it goes into, the secondary indexes whose keys arrive in
//! random order are dropped and built again afterwards (a sort is far cheaper than a million
//! random B-tree inserts); the definitions are read back from the schema, so the migration
//! stays the one place they are written. Everything happens inside the one transaction: a
//! failure anywhere restores them.
//!
//! Journal: in WAL mode every page of the load is written twice, to the WAL and then by the
//! checkpoint into the database. When the import rebuilds indexes and this process holds the
//! only connection to the file, the load runs in rollback-journal mode under an exclusive
//! lock instead: pages beyond the file's original end (everything a load into an empty table
//! writes) are not journaled at all, so they are written once. It is as crash-safe as WAL: a
//! killed import leaves a hot journal that the next connection rolls back, restoring the
//! file as it was (its original length included). Afterwards the database goes back to WAL.

use rusqlite::{CachedStatement, Connection, params};
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

/// Report progress after this many records.
const REPORT_EVERY: u64 = 10_000;

/// Secondary indexes a rebuilding load keeps in place: records are built in did order by
/// the importer, so their creation dates and (time-ordered) base ids grow with the did and
/// these keys append; ACEs and authz resources are few, and within one the did grows.
const KEPT_INDEXES: [&str; 5] = [
    "index_record_baseid_idx",
    "index_record_updated_idx",
    "index_record_created_idx",
    "index_record_ace_ace_idx",
    "index_record_authz_resource_idx",
];

/// Prepared inserts for one record and its side rows, reused for every record.
struct Inserter<'c> {
    record: CachedStatement<'c>,
    hash: CachedStatement<'c>,
    url: CachedStatement<'c>,
    ace: CachedStatement<'c>,
    authz: CachedStatement<'c>,
    metadata: CachedStatement<'c>,
    url_metadata: CachedStatement<'c>,
    json: JsonColumns,
}

impl<'c> Inserter<'c> {
    fn new(conn: &'c Connection) -> StoreResult<Self> {
        let prepare = |s: &str| conn.prepare_cached(&dialect(s)).map_err(backend);
        Ok(Self {
            record: prepare(sql::INSERT_RECORD)?,
            hash: prepare(sql::INSERT_HASH)?,
            url: prepare(sql::INSERT_URL)?,
            ace: prepare(sql::INSERT_ACE)?,
            authz: prepare(sql::INSERT_AUTHZ)?,
            metadata: prepare(sql::INSERT_METADATA)?,
            url_metadata: prepare(sql::INSERT_URL_METADATA)?,
            json: JsonColumns::default(),
        })
    }

    fn insert(&mut self, r: &IndexRecord) -> StoreResult<()> {
        self.json.fill(r);
        let j = &self.json;
        self.record
            .execute(params![
                r.did,
                r.baseid,
                r.rev,
                r.form,
                r.size,
                r.file_name,
                r.version,
                r.uploader,
                r.description,
                r.created_date,
                r.updated_date,
                r.content_created_date,
                r.content_updated_date,
                j.urls,
                j.urls_metadata,
                j.acl,
                j.authz,
                j.hashes,
                j.metadata,
            ])
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::AlreadyExists(format!("did \"{}\" already exists", r.did))
                } else {
                    backend(e)
                }
            })?;
        let did = r.did.as_str();
        sql::for_each_side_row(r, |row| {
            match row {
                SideRow::Hash(k, v) => self.hash.execute(params![did, k, v]),
                SideRow::Url(u) => self.url.execute(params![did, u]),
                SideRow::Ace(a) => self.ace.execute(params![did, a]),
                SideRow::Authz(a) => self.authz.execute(params![did, a]),
                SideRow::Metadata(k, v) => self.metadata.execute(params![did, k, v.as_ref()]),
                SideRow::UrlMetadata(u, k, v) => {
                    self.url_metadata.execute(params![did, u, k, v.as_ref()])
                }
            }
            .map(drop)
            .map_err(backend)
        })
    }
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

/// Insert every record of `batches` into the open transaction.
fn load(
    conn: &Connection,
    batches: impl Iterator<Item = ImportBatch>,
    expected: u64,
    progress: Option<&Progress>,
    rebuild: bool,
) -> StoreResult<u64> {
    let dropped = if rebuild {
        drop_indexes(conn)?
    } else {
        Vec::new()
    };
    let mut inserter = Inserter::new(conn)?;
    let mut done = 0u64;
    let mut next_report = REPORT_EVERY;
    for batch in batches {
        let batch = batch.map_err(StoreError::Backend)?;
        for r in &batch {
            inserter.insert(r)?;
        }
        done += batch.len() as u64;
        if let Some(p) = progress
            && done >= next_report
        {
            p(done);
            next_report = done + REPORT_EVERY;
        }
    }
    drop(inserter);
    if done != expected {
        return Err(StoreError::Backend(format!(
            "bulk import stopped after {done} of {expected} records"
        )));
    }
    for create in &dropped {
        conn.execute_batch(create).map_err(backend)?;
    }
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

/// Import `batches` (at most one transaction's worth: all or nothing) on the writer's
/// connection, outside any transaction. `alone`: no other connection of this process has the
/// database open, so the load may leave WAL mode (see the module documentation).
pub(crate) fn import(
    conn: &Connection,
    batches: impl Iterator<Item = ImportBatch>,
    expected: u64,
    progress: Option<&Progress>,
    alone: bool,
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
        let loaded = load(conn, batches, expected, progress, rebuild);
        let ended = match &loaded {
            Ok(_) => conn.execute_batch("COMMIT"),
            Err(_) => conn.execute_batch("ROLLBACK"),
        };
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
