//! Bulk import (`IndexStore::create_many`): all records in one transaction, loaded with
//! `COPY … FROM STDIN (FORMAT binary)` a chunk at a time (the backend reads each field by
//! its length instead of scanning text for tabs and escapes; docs/benchmarks.md).
//!
//! Keeping the indexes up to date row by row is what a bulk import spends its time on (about
//! twenty B-tree insertions per record, on one backend, so one core). When the import is at
//! least as large as the table it goes into, it is cheaper to drop the record and side-table
//! indexes and primary keys inside the transaction, load the rows, and build the indexes again
//! by sorting (which PostgreSQL can do with parallel workers). The definitions are read back
//! from the catalog, so the migrations stay the only place that defines them. DDL is
//! transactional in PostgreSQL: a failure anywhere, including a duplicate did found when the
//! primary key is rebuilt, rolls everything back. The price is an `ACCESS EXCLUSIVE` lock on
//! those tables until the import commits, so readers wait; only the `weft index import`
//! command imports in bulk.

use std::sync::LazyLock;

use sqlx::postgres::PgConnection;
use sqlx::{PgPool, Row};
use weft_store::held::{HeldSideRows, KEYED_TABLES};
use weft_store::sql::{self, JsonColumns, SideRow};
use weft_store::{ImportBatch, IndexRecord, Progress, StoreError, StoreResult};

use crate::backend;
use crate::index::{SIDE_INSERTS, write_error};

/// Records per chunk: one `COPY` per table per chunk, then a progress report.
pub(crate) const CHUNK: usize = 5_000;
/// Imports smaller than this always keep the indexes in place (small in tests, so that the
/// contract suite's imports take the rebuilding path).
const REBUILD_MIN_RECORDS: usize = if cfg!(test) { 20 } else { 50_000 };

/// `COPY t (columns) FROM STDIN` for the record table, then the side tables in
/// [`SIDE_INSERTS`] order, from the portable `INSERT INTO t (columns) VALUES (…)`; then
/// (from [`KEYED_COPY`] on) the side tables again with their columns in primary-key order,
/// for the rows a rebuilding import held back ([`KEYED_TABLES`]).
static COPY_STATEMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let keyed = KEYED_TABLES.iter().map(|(table, columns)| {
        format!(
            "COPY {table} ({}) FROM STDIN WITH (FORMAT binary)",
            columns.join(", ")
        )
    });
    std::iter::once(sql::INSERT_RECORD)
        .chain(SIDE_INSERTS)
        .map(copy_statement)
        .chain(keyed)
        .collect()
});

/// Where the held rows' `COPY` statements start in [`COPY_STATEMENTS`].
const KEYED_COPY: usize = 7;

/// Most bytes of side rows a rebuilding import holds back before it sends them (sorted) and
/// starts holding again; 7 million bench side rows take about 430 MiB. (Small in tests, so
/// that the contract suite's imports insert what they hold several times over.)
const HELD_LIMIT: usize = if cfg!(test) { 4096 } else { 1 << 30 };

/// The tables a bulk import writes, record table first.
const TABLES: [&str; 7] = [
    "index_record",
    "index_record_hash",
    "index_record_url",
    "index_record_ace",
    "index_record_authz",
    "index_record_metadata",
    "index_record_url_metadata",
];

fn copy_statement(portable: &str) -> String {
    let head = portable.split_once(" VALUES ").map_or(portable, |(h, _)| h);
    let target = head.strip_prefix("INSERT INTO ").unwrap_or(head);
    format!("COPY {target} FROM STDIN WITH (FORMAT binary)")
}

/// The start of every binary `COPY` stream: the signature, no flags, no header extension.
const COPY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of a binary `COPY` stream: a tuple with -1 fields.
const COPY_TRAILER: [u8; 2] = (-1i16).to_be_bytes();
/// PostgreSQL's largest field value; longer ones cannot be loaded at all.
const MAX_FIELD: usize = 1 << 30;

/// One `COPY … (FORMAT binary)` stream per table: the backend reads each field by its length
/// instead of scanning text for delimiters and escapes (docs/benchmarks.md).
struct CopyData {
    tables: Vec<Vec<u8>>,
    /// Rows per table, so tables without rows in a chunk are not sent.
    rows: Vec<usize>,
}

impl CopyData {
    fn new() -> Self {
        Self {
            tables: vec![COPY_HEADER.to_vec(); TABLES.len()],
            rows: vec![0; TABLES.len()],
        }
    }

    /// Start a row of `fields` fields in table `t`.
    fn row(&mut self, t: usize, fields: i16) -> &mut Vec<u8> {
        self.rows[t] += 1;
        let buf = &mut self.tables[t];
        buf.extend_from_slice(&fields.to_be_bytes());
        buf
    }

    /// The streams of the tables that got rows, each with its trailer, in table order.
    fn finish(self) -> Vec<(usize, Vec<u8>)> {
        self.tables
            .into_iter()
            .zip(self.rows)
            .enumerate()
            .filter(|(_, (_, rows))| *rows > 0)
            .map(|(t, (mut buf, _))| {
                buf.extend_from_slice(&COPY_TRAILER);
                (t, buf)
            })
            .collect()
    }
}

/// One field: its length, then its bytes; -1 for NULL.
fn field(buf: &mut Vec<u8>, value: Option<&[u8]>) -> Result<(), String> {
    match value {
        Some(v) if v.len() < MAX_FIELD => {
            // MAX_FIELD fits an i32
            buf.extend_from_slice(&i32::try_from(v.len()).unwrap_or(i32::MAX).to_be_bytes());
            buf.extend_from_slice(v);
            Ok(())
        }
        Some(v) => Err(format!(
            "a value of {} bytes is larger than PostgreSQL can store",
            v.len()
        )),
        None => {
            buf.extend_from_slice(&(-1i32).to_be_bytes());
            Ok(())
        }
    }
}

fn text(buf: &mut Vec<u8>, value: Option<&str>) -> Result<(), String> {
    field(buf, value.map(str::as_bytes))
}

/// A row of text fields.
fn text_row(buf: &mut Vec<u8>, fields: &[&str]) -> Result<(), String> {
    fields.iter().try_for_each(|f| text(buf, Some(f)))
}

/// Sort the rows `held` holds and make their `COPY` streams, a table as soon as its sort is
/// done, a [`weft_store::held::SortedChunk`] at a time, each handed to `send` as `(index in
/// COPY_STATEMENTS, stream)` as soon as it is made; `Ok(false)` when `send` refuses one.
/// The rows are used up either way.
fn held_chunks(
    held: HeldSideRows,
    mut send: impl FnMut((usize, Vec<u8>)) -> bool,
) -> Result<bool, String> {
    let started = std::time::Instant::now();
    let sent = held.sort_each(
        || Ok(()),
        |sorted| {
            let t = sorted.table();
            tracing::debug!(
                table = KEYED_TABLES[t].0,
                ready_after = started.elapsed().as_secs_f64(),
                "postgres import: side rows sorted"
            );
            let width = i16::try_from(KEYED_TABLES[t].1.len()).unwrap_or(i16::MAX);
            for chunk in sorted.chunks() {
                let mut buf = COPY_HEADER.to_vec();
                for row in chunk.rows() {
                    let (fields, n) = chunk.fields(*row);
                    buf.extend_from_slice(&width.to_be_bytes());
                    text_row(&mut buf, &fields[..n]).map_err(Some)?;
                }
                buf.extend_from_slice(&COPY_TRAILER);
                if !send((KEYED_COPY + t, buf)) {
                    return Err(None);
                }
            }
            Ok(())
        },
    );
    match sent {
        Ok(()) => Ok(true),
        Err(None) => Ok(false),
        Err(Some(e)) => Err(e),
    }
}

/// Append a record's row to the record table's `COPY` stream.
fn copy_record(data: &mut CopyData, json: &mut JsonColumns, r: &IndexRecord) -> Result<(), String> {
    json.fill(r);
    let buf = data.row(0, 19);
    for f in [
        Some(r.did.as_str()),
        Some(&r.baseid),
        Some(&r.rev),
        r.form.as_deref(),
    ] {
        text(buf, f)?;
    }
    field(
        buf,
        r.size
            .map(i64::to_be_bytes)
            .as_ref()
            .map(<[u8; 8]>::as_slice),
    )?;
    for f in [
        r.file_name.as_deref(),
        r.version.as_deref(),
        r.uploader.as_deref(),
        r.description.as_deref(),
        Some(&r.created_date),
        Some(&r.updated_date),
        r.content_created_date.as_deref(),
        r.content_updated_date.as_deref(),
        Some(&json.urls),
        Some(&json.urls_metadata),
        Some(&json.acl),
        Some(&json.authz),
        Some(&json.hashes),
        Some(&json.metadata),
    ] {
        text(buf, f)?;
    }
    Ok(())
}

/// Append a record's side rows, each to its table's stream (in [`SIDE_INSERTS`] order).
fn copy_side_rows(data: &mut CopyData, r: &IndexRecord) -> Result<(), String> {
    let did = r.did.as_str();
    sql::for_each_side_row(r, |row| {
        let table = 1 + SIDE_INSERTS
            .iter()
            .position(|s| *s == row.statement())
            .unwrap_or_default();
        match &row {
            SideRow::Hash(k, v) => text_row(data.row(table, 3), &[did, k, v]),
            SideRow::Url(v) | SideRow::Ace(v) | SideRow::Authz(v) => {
                text_row(data.row(table, 2), &[did, v])
            }
            SideRow::Metadata(k, v) => text_row(data.row(table, 3), &[did, k, v]),
            SideRow::UrlMetadata(u, k, v) => text_row(data.row(table, 4), &[did, u, k, v]),
        }
    })
}

/// An index or primary key dropped for the import, and how to build it again.
struct SavedIndex {
    table: String,
    name: String,
    /// `PRIMARY KEY (…)` for a constraint, else `None`.
    constraint: Option<String>,
    /// `CREATE INDEX …` as the catalog prints it.
    definition: String,
}

impl SavedIndex {
    fn drop_sql(&self) -> String {
        match &self.constraint {
            Some(_) => format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                quote(&self.table),
                quote(&self.name)
            ),
            None => format!("DROP INDEX {}", quote(&self.name)),
        }
    }

    fn create_sql(&self) -> String {
        match &self.constraint {
            Some(def) => format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {def}",
                quote(&self.table),
                quote(&self.name)
            ),
            None => self.definition.clone(),
        }
    }
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Whether the import is at least as large as the record table it goes into.
async fn worth_rebuilding(conn: &mut PgConnection, records: u64) -> StoreResult<bool> {
    if records < REBUILD_MIN_RECORDS as u64 {
        return Ok(false);
    }
    let limit = i64::try_from(records).unwrap_or(i64::MAX);
    let existing: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM index_record LIMIT $1) AS t")
            .bind(limit)
            .fetch_one(&mut *conn)
            .await
            .map_err(backend)?;
    Ok(existing < limit)
}

/// Lock the import's tables and drop their indexes and primary keys, returning them.
async fn drop_indexes(conn: &mut PgConnection) -> StoreResult<Vec<SavedIndex>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        TABLES.join(", ")
    )))
    .execute(&mut *conn)
    .await
    .map_err(backend)?;
    let rows = sqlx::query(
        "SELECT t.relname::text, i.relname::text, pg_get_indexdef(i.oid), \
         pg_get_constraintdef(c.oid) \
         FROM pg_index x \
         JOIN pg_class i ON i.oid = x.indexrelid \
         JOIN pg_class t ON t.oid = x.indrelid \
         LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = t.oid \
         WHERE t.oid = ANY(SELECT to_regclass(n)::oid FROM UNNEST($1::text[]) AS n) \
         ORDER BY array_position($1::text[], t.relname::text), c.oid IS NULL, i.relname",
    )
    .bind(TABLES.to_vec())
    .fetch_all(&mut *conn)
    .await
    .map_err(backend)?;
    let mut saved = Vec::with_capacity(rows.len());
    for row in &rows {
        saved.push(SavedIndex {
            table: row.try_get(0).map_err(backend)?,
            name: row.try_get(1).map_err(backend)?,
            definition: row.try_get(2).map_err(backend)?,
            constraint: row.try_get(3).map_err(backend)?,
        });
    }
    for index in &saved {
        sqlx::query(sqlx::AssertSqlSafe(index.drop_sql()))
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    Ok(saved)
}

/// Build the dropped indexes again, primary keys first (the record table's first of all,
/// so a duplicate did is reported as one).
async fn restore_indexes(conn: &mut PgConnection, saved: &[SavedIndex]) -> StoreResult<()> {
    // Index builds sort in memory up to this much, per build.
    sqlx::query("SET LOCAL maintenance_work_mem = '512MB'")
        .execute(&mut *conn)
        .await
        .map_err(backend)?;
    for index in saved {
        let started = std::time::Instant::now();
        sqlx::query(sqlx::AssertSqlSafe(index.create_sql()))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&e, None, None))?;
        tracing::debug!(
            index = index.name.as_str(),
            secs = started.elapsed().as_secs_f64(),
            "postgres import: index rebuilt"
        );
    }
    Ok(())
}

/// Import `batches` in one transaction: all or nothing (see [`weft_store::IndexStore::import`]).
pub(crate) async fn import<I>(
    pool: &PgPool,
    batches: I,
    expected: u64,
    progress: Option<Progress>,
) -> StoreResult<u64>
where
    I: Iterator<Item = ImportBatch> + Send + 'static,
{
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await.map_err(backend)?;
    let rebuild = worth_rebuilding(&mut tx, expected).await?;
    let saved = if rebuild {
        drop_indexes(&mut tx).await?
    } else {
        Vec::new()
    };
    let mut done = 0u64;
    // The COPY data of the next chunks is made on a blocking thread while this one sends.
    type Chunk = Result<(u64, Vec<(usize, Vec<u8>)>), String>;
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<Chunk>(2);
    // A rebuilding import holds the side rows back and sends them last, sorted by each
    // table's primary key: the key is then built from rows already in its order.
    let hold = rebuild;
    let producer = tokio::task::spawn_blocking(move || {
        let mut json = JsonColumns::default();
        let mut data = CopyData::new();
        let mut held = HeldSideRows::default();
        let send_held = |held: &mut HeldSideRows| -> bool {
            let sent = held_chunks(std::mem::take(held), |c| {
                chunks_tx.blocking_send(Ok((0, vec![c]))).is_ok()
            });
            sent.unwrap_or_else(|e| {
                let _ = chunks_tx.blocking_send(Err(e));
                false
            })
        };
        let mut n = 0u64;
        for batch in batches {
            let records = match batch {
                Ok(r) => r,
                Err(e) => {
                    let _ = chunks_tx.blocking_send(Err(e));
                    return;
                }
            };
            for r in &records {
                let copied = copy_record(&mut data, &mut json, r).and_then(|()| {
                    if !hold {
                        return copy_side_rows(&mut data, r);
                    }
                    if !held.hold(r, HELD_LIMIT) {
                        // full: send what is held (sorted) and hold again; no key or foreign
                        // key is checked before the rebuild, so the order of tables is free
                        if !send_held(&mut held) || !held.hold(r, HELD_LIMIT) {
                            return Err("side rows too large to import".to_owned());
                        }
                    }
                    Ok(())
                });
                if let Err(e) = copied {
                    let _ = chunks_tx.blocking_send(Err(format!("record {}: {e}", r.did)));
                    return;
                }
                n += 1;
                if n == CHUNK as u64 {
                    let full = std::mem::replace(&mut data, CopyData::new());
                    if chunks_tx.blocking_send(Ok((n, full.finish()))).is_err() {
                        return; // the import failed and stopped listening
                    }
                    n = 0;
                }
            }
        }
        if n > 0 && chunks_tx.blocking_send(Ok((n, data.finish()))).is_err() {
            return;
        }
        if !held.is_empty() {
            send_held(&mut held);
        }
    });
    while let Some(chunk) = chunks.recv().await {
        let (n, data) = chunk.map_err(StoreError::Backend)?;
        // Records first: with their primary key in place, a taken did fails here, before
        // its side rows could clash.
        for (table, data) in data {
            let mut copy = tx
                .copy_in_raw(&COPY_STATEMENTS[table])
                .await
                .map_err(backend)?;
            copy.send(data).await.map_err(backend)?;
            copy.finish()
                .await
                .map_err(|e| write_error(&e, None, None))?;
        }
        done += n;
        if let Some(p) = progress.as_ref().filter(|_| n > 0) {
            p(done);
        }
    }
    // Never commit a partial import, whatever became of the producer.
    producer.await.map_err(backend)?;
    if done != expected {
        return Err(StoreError::Backend(format!(
            "bulk import stopped after {done} of {expected} records"
        )));
    }
    tracing::debug!(
        records = done,
        secs = started.elapsed().as_secs_f64(),
        "postgres import: rows loaded"
    );
    restore_indexes(&mut tx, &saved).await?;
    let started = std::time::Instant::now();
    tx.commit().await.map_err(backend)?;
    tracing::debug!(
        secs = started.elapsed().as_secs_f64(),
        "postgres import: committed"
    );
    Ok(done)
}

#[cfg(test)]
mod tests {
    use weft_store::IndexStore;
    use weft_store::test_suite::sample;

    use super::*;
    use crate::PostgresStore;
    use crate::testing::TempDatabase;

    async fn schema(pool: &PgPool) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public' \
             ORDER BY indexname",
        )
        .fetch_all(pool)
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rebuilding_imports_restore_every_index_and_stay_atomic() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        // every index of the schema is compared, not only the ones rebuilt
        let before = schema(store.pool()).await;
        let records: Vec<&(String, String)> = before
            .iter()
            .filter(|(n, _)| n.starts_with("index_record"))
            .collect();
        assert_eq!(records.len(), 13, "{records:?}");
        let pkeys = records.iter().filter(|(n, _)| n.ends_with("_pkey")).count();
        assert_eq!(pkeys, 8);

        // into an empty table: rebuilt
        let first: Vec<IndexRecord> = (0..30).map(sample).collect();
        assert_eq!(store.create_many(first, None).await.unwrap(), 30);
        assert_eq!(schema(store.pool()).await, before);
        // larger than the table, one did taken: found when the primary key is rebuilt
        let mut clash: Vec<IndexRecord> = (100..140).map(sample).collect();
        clash.push(sample(7));
        assert_eq!(
            store.create_many(clash, None).await.unwrap_err(),
            StoreError::AlreadyExists(format!("did \"{}\" already exists", sample(7).did))
        );
        // a did twice in one import
        let twice: Vec<IndexRecord> = (200..240).chain([200]).map(sample).collect();
        assert_eq!(
            store.create_many(twice, None).await.unwrap_err(),
            StoreError::AlreadyExists(format!("did \"{}\" already exists", sample(200).did))
        );
        assert_eq!(store.stats(None).await.unwrap().0, 30);
        assert_eq!(store.get(&sample(100).did).await.unwrap(), None);
        assert_eq!(schema(store.pool()).await, before);
        // the side tables answer queries after a rebuild
        let r = sample(12);
        let found = store
            .list(weft_store::ListQuery {
                hashes: vec![("md5".into(), r.hashes["md5"].clone())],
                limit: 10,
                ..weft_store::ListQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(found, vec![r]);
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }

    #[test]
    fn copy_targets_follow_the_portable_columns() {
        assert_eq!(
            COPY_STATEMENTS[1],
            "COPY index_record_hash (did, hash_type, hash_value) FROM STDIN WITH (FORMAT binary)"
        );
        assert!(COPY_STATEMENTS[0].starts_with("COPY index_record (did, baseid, rev,"));
        assert_eq!(COPY_STATEMENTS.len(), TABLES.len() + KEYED_TABLES.len());
        assert_eq!(KEYED_COPY, TABLES.len());
        assert_eq!(
            COPY_STATEMENTS[KEYED_COPY + 1],
            "COPY index_record_url (url, did) FROM STDIN WITH (FORMAT binary)"
        );
        for (stmt, table) in COPY_STATEMENTS.iter().zip(TABLES) {
            assert!(stmt.starts_with(&format!("COPY {table} (")), "{stmt}");
        }
    }

    /// The rows of one binary `COPY` stream, as their fields (`None` for NULL).
    fn decode(stream: &[u8]) -> Vec<Vec<Option<Vec<u8>>>> {
        let mut rest = stream.strip_prefix(COPY_HEADER).expect("header");
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        };
        let mut rows = Vec::new();
        loop {
            let fields = i16::from_be_bytes(take(2).try_into().unwrap());
            if fields == -1 {
                break;
            }
            let row = (0..fields)
                .map(|_| {
                    let len = i32::from_be_bytes(take(4).try_into().unwrap());
                    usize::try_from(len).ok().map(&mut take)
                })
                .collect();
            rows.push(row);
        }
        assert!(rest.is_empty(), "bytes after the trailer");
        rows
    }

    #[test]
    fn copy_rows_match_the_portable_parameters() {
        // The record row carries the 19 parameters of `INSERT_RECORD` in order, bytes as
        // they are (no escaping in the binary format), and every side row lands in its
        // table's stream with the same fields as its portable insert.
        let mut r = sample(3);
        r.description = Some("tab\there\\N".into());
        r.version = None;
        let mut data = CopyData::new();
        copy_record(&mut data, &mut JsonColumns::default(), &r).unwrap();
        copy_side_rows(&mut data, &r).unwrap();
        copy_record(&mut data, &mut JsonColumns::default(), &sample(4)).unwrap();
        copy_side_rows(&mut data, &sample(4)).unwrap();
        let streams = data.finish();
        assert_eq!(streams[0].0, 0);
        let records = decode(&streams[0].1);
        assert_eq!(records.len(), 2);
        let expected: Vec<Option<Vec<u8>>> = weft_store::sql::RawRecord::params(&r)
            .into_iter()
            .map(|p| match p {
                weft_store::sql::Param::Text(s) => Some(s.into_bytes()),
                weft_store::sql::Param::Int(i) => Some(i.to_be_bytes().to_vec()),
                weft_store::sql::Param::Null => None,
            })
            .collect();
        assert_eq!(records[0], expected);
        let mut side: Vec<(&str, Vec<Option<Vec<u8>>>)> = Vec::new();
        for (table, stream) in &streams[1..] {
            for row in decode(stream) {
                side.push((SIDE_INSERTS[table - 1], row));
            }
        }
        let mut expected: Vec<(&str, Vec<Option<Vec<u8>>>)> = [sample(3), sample(4)]
            .iter()
            .flat_map(sql::side_rows)
            .map(|(stmt, params)| {
                let fields = params
                    .into_iter()
                    .map(|p| match p {
                        weft_store::sql::Param::Text(s) => Some(s.into_bytes()),
                        other => panic!("side rows are text: {other:?}"),
                    })
                    .collect();
                (stmt, fields)
            })
            .collect();
        // the streams group rows by table; side_rows lists them by record
        let order = |s: &str| SIDE_INSERTS.iter().position(|x| *x == s);
        expected.sort_by_key(|(stmt, _)| order(stmt));
        assert_eq!(side, expected);
    }
}
