//! Bulk import (`IndexStore::create_many`): all records in one transaction, loaded with
//! `COPY … FROM STDIN` a chunk at a time.
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
use weft_store::sql::{self, Param, RawRecord};
use weft_store::{IndexRecord, Progress, StoreError, StoreResult};

use crate::backend;
use crate::index::{SIDE_INSERTS, write_error};

/// Records per chunk: one `COPY` per table per chunk, then a progress report.
const CHUNK: usize = 5_000;
/// Imports smaller than this always keep the indexes in place (small in tests, so that the
/// contract suite's imports take the rebuilding path).
const REBUILD_MIN_RECORDS: usize = if cfg!(test) { 20 } else { 50_000 };

/// `COPY t (columns) FROM STDIN` for the record table, then the side tables in
/// [`SIDE_INSERTS`] order, from the portable `INSERT INTO t (columns) VALUES (…)`.
static COPY_STATEMENTS: LazyLock<Vec<String>> = LazyLock::new(|| {
    std::iter::once(sql::INSERT_RECORD)
        .chain(SIDE_INSERTS)
        .map(copy_statement)
        .collect()
});

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
    format!("COPY {target} FROM STDIN")
}

/// One field in `COPY`'s text format: `\N` for NULL, backslash escapes otherwise.
fn copy_field(buf: &mut Vec<u8>, p: &Param) {
    match p {
        Param::Null => buf.extend_from_slice(b"\\N"),
        Param::Int(i) => buf.extend_from_slice(i.to_string().as_bytes()),
        Param::Text(s) => {
            for &b in s.as_bytes() {
                match b {
                    b'\\' => buf.extend_from_slice(b"\\\\"),
                    b'\t' => buf.extend_from_slice(b"\\t"),
                    b'\n' => buf.extend_from_slice(b"\\n"),
                    b'\r' => buf.extend_from_slice(b"\\r"),
                    _ => buf.push(b),
                }
            }
        }
    }
}

fn copy_row(buf: &mut Vec<u8>, params: &[Param]) {
    for (i, p) in params.iter().enumerate() {
        if i > 0 {
            buf.push(b'\t');
        }
        copy_field(buf, p);
    }
    buf.push(b'\n');
}

/// The `COPY` data of a chunk of records: the record table, then each side table.
fn copy_data(chunk: &[IndexRecord]) -> Vec<Vec<u8>> {
    let mut data = vec![Vec::new(); TABLES.len()];
    for r in chunk {
        copy_row(&mut data[0], &RawRecord::params(r));
        for (stmt, params) in sql::side_rows(r) {
            if let Some(t) = SIDE_INSERTS.iter().position(|s| *s == stmt) {
                copy_row(&mut data[t + 1], &params);
            }
        }
    }
    data
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
async fn worth_rebuilding(conn: &mut PgConnection, records: usize) -> StoreResult<bool> {
    if records < REBUILD_MIN_RECORDS {
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
        sqlx::query(sqlx::AssertSqlSafe(index.create_sql()))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&e, None, None))?;
    }
    Ok(())
}

pub(crate) async fn create_many(
    pool: &PgPool,
    records: Vec<IndexRecord>,
    progress: Option<Progress>,
) -> StoreResult<u64> {
    let total = records.len() as u64;
    let mut tx = pool.begin().await.map_err(backend)?;
    let rebuild = worth_rebuilding(&mut tx, records.len()).await?;
    let saved = if rebuild {
        drop_indexes(&mut tx).await?
    } else {
        Vec::new()
    };
    let mut done = 0u64;
    // The COPY data of the next chunks is made on a blocking thread while this one sends.
    let (chunks_tx, mut chunks) = tokio::sync::mpsc::channel::<(usize, Vec<Vec<u8>>)>(2);
    let producer = tokio::task::spawn_blocking(move || {
        for chunk in records.chunks(CHUNK) {
            if chunks_tx
                .blocking_send((chunk.len(), copy_data(chunk)))
                .is_err()
            {
                break; // the import failed and stopped listening
            }
        }
    });
    while let Some((n, data)) = chunks.recv().await {
        // Records first: with their primary key in place, a taken did fails here, before
        // its side rows could clash.
        for (stmt, data) in COPY_STATEMENTS.iter().zip(data) {
            if data.is_empty() {
                continue;
            }
            let mut copy = tx.copy_in_raw(stmt).await.map_err(backend)?;
            copy.send(data).await.map_err(backend)?;
            copy.finish()
                .await
                .map_err(|e| write_error(&e, None, None))?;
        }
        done += n as u64;
        if let Some(p) = &progress {
            p(done);
        }
    }
    // Never commit a partial import, whatever became of the producer.
    producer.await.map_err(backend)?;
    if done != total {
        return Err(StoreError::Backend(format!(
            "bulk import stopped after {done} of {total} records"
        )));
    }
    restore_indexes(&mut tx, &saved).await?;
    tx.commit().await.map_err(backend)?;
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
        let Some(db) = TempDatabase::from_env().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        let before = schema(store.pool()).await;
        // every index of the schema (bundles' two included), not only the ones rebuilt
        assert_eq!(before.len(), 24, "{before:?}");
        let pkeys = |s: &[(String, String)]| s.iter().filter(|(n, _)| n.ends_with("_pkey")).count();
        assert_eq!(pkeys(&before), 11);

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
            "COPY index_record_hash (did, hash_type, hash_value) FROM STDIN"
        );
        assert!(COPY_STATEMENTS[0].starts_with("COPY index_record (did, baseid, rev,"));
        assert_eq!(COPY_STATEMENTS.len(), TABLES.len());
        for (stmt, table) in COPY_STATEMENTS.iter().zip(TABLES) {
            assert!(stmt.starts_with(&format!("COPY {table} (")), "{stmt}");
        }
    }

    #[test]
    fn copy_text_is_escaped() {
        let mut buf = Vec::new();
        copy_row(
            &mut buf,
            &[
                Param::Text("a\tb\\c\nd\re".into()),
                Param::Null,
                Param::Int(-7),
                Param::Text("\\N".into()),
            ],
        );
        assert_eq!(buf, b"a\\tb\\\\c\\nd\\re\t\\N\t-7\t\\\\N\n");
    }
}
