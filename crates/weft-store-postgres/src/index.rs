//! `IndexStore` on PostgreSQL.
//!
//! Single-row statements are the portable ones of [`weft_store::sql`]. Inserts of records,
//! side rows and aliases are the portable `INSERT … VALUES` statements turned into
//! `INSERT … SELECT * FROM UNNEST($1::text[], …)`: each column is bound once as an array, so
//! a record with all its side rows and aliases is one statement. Bulk imports are in
//! [`crate::bulk`].

use std::sync::LazyLock;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use sqlx::postgres::{PgArguments, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row, SqlSafeStr};
use weft_store::sql::{self, JsonArray, Param, RawRecord, RecordRef};
use weft_store::{IndexRecord, IndexStore, ListQuery, Progress, StoreError, StoreResult, UrlQuery};

use crate::point::PointReads;
use crate::{Bind, PostgresStore, backend, unique_violation};

/// Dids per statement in `get_many`.
const GET_MANY_CHUNK: usize = 1_000;

/// Position of `size` among the record columns, the one BIGINT column.
const SIZE_COLUMN: usize = 4;
/// The side tables, in the order [`Columns::side`] keeps them.
pub(crate) const SIDE_INSERTS: [&str; 6] = [
    sql::INSERT_HASH,
    sql::INSERT_URL,
    sql::INSERT_ACE,
    sql::INSERT_AUTHZ,
    sql::INSERT_METADATA,
    sql::INSERT_URL_METADATA,
];
/// Constraint names PostgreSQL gives the primary keys (`<table>_pkey`).
const RECORD_KEY: &str = "index_record_pkey";
const ALIAS_KEY: &str = "index_record_alias_pkey";

/// Statements derived once from the portable SQL.
pub(crate) struct Statements {
    /// Records, their side rows and aliases: the parameters of [`Columns::bind_all`]. The
    /// record insert is the main statement, the others `WITH` clauses.
    pub(crate) create: String,
    /// [`sql::SELECT_REV`], locking the row until the transaction ends.
    lock_rev: String,
    /// [`sql::SELECT_BY_DID`], locking the row until the transaction ends.
    lock_record: String,
}

pub(crate) static STATEMENTS: LazyLock<Statements> = LazyLock::new(|| {
    let mut n = 1;
    let record = unnest_insert(sql::INSERT_RECORD, &mut n, Some(SIZE_COLUMN));
    let side: Vec<String> = SIDE_INSERTS
        .iter()
        .map(|s| unnest_insert(s, &mut n, None))
        .collect();
    let alias = unnest_insert(sql::INSERT_ALIAS, &mut n, None);
    let mut create = side;
    create.push(alias);
    create.push(record);

    Statements {
        create: with_clauses(create),
        lock_rev: format!("{} FOR UPDATE", sql::SELECT_REV),
        lock_record: format!("{} FOR UPDATE", sql::SELECT_BY_DID),
    }
});

/// `INSERT INTO t (a, b) SELECT * FROM UNNEST($n::text[], $n+1::text[])` from the portable
/// `INSERT INTO t (a, b) VALUES ($1, $2)`; `next` is the first placeholder number and is
/// advanced past the ones used. The column at `bigint` is an array of BIGINT.
fn unnest_insert(portable: &str, next: &mut usize, bigint: Option<usize>) -> String {
    let (head, values) = portable.split_once(" VALUES ").unwrap_or((portable, ""));
    let columns = values.matches('$').count();
    let arrays: Vec<String> = (0..columns)
        .map(|i| {
            let ty = if Some(i) == bigint { "bigint" } else { "text" };
            let p = format!("${}::{ty}[]", *next);
            *next += 1;
            p
        })
        .collect();
    format!("{head} SELECT * FROM UNNEST({})", arrays.join(", "))
}

/// One statement running all of `parts`: every part but the last in a `WITH` clause.
/// PostgreSQL runs every data-modifying `WITH` clause to completion.
fn with_clauses(mut parts: Vec<String>) -> String {
    let main = parts.pop().unwrap_or_default();
    if parts.is_empty() {
        return main;
    }
    let clauses: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| format!("w{i} AS ({p})"))
        .collect();
    format!("WITH {} {main}", clauses.join(", "))
}

/// Portable statements run as one (a `WITH` clause each but the last), their placeholders
/// renumbered to follow one another; `None` when there are none.
fn combined(statements: Vec<(&str, Vec<Param>)>) -> Option<(String, Vec<Param>)> {
    let mut parts = Vec::with_capacity(statements.len());
    let mut all = Vec::new();
    for (text, params) in statements {
        let offset = all.len();
        let mut out = String::with_capacity(text.len() + 8);
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            match rest[..digits].parse::<usize>() {
                Ok(n) => out.push_str(&(n + offset).to_string()),
                Err(_) => out.push_str(&rest[..digits]),
            }
            rest = &rest[digits..];
        }
        out.push_str(rest);
        parts.push(out);
        all.extend(params);
    }
    (!parts.is_empty()).then(|| (with_clauses(parts), all))
}

/// The rows of a record (and its aliases) as column arrays, ready to bind to the `UNNEST`
/// inserts.
pub(crate) struct Columns {
    /// The record columns, [`RawRecord::params`] order; the one at `SIZE_COLUMN` stays empty.
    record: Vec<Vec<Option<String>>>,
    sizes: Vec<Option<i64>>,
    /// Per side table (`SIDE_INSERTS` order), per column, the values.
    side: Vec<Vec<Vec<String>>>,
    /// Alias names and their dids.
    aliases: [Vec<String>; 2],
}

impl Columns {
    pub(crate) fn new() -> Self {
        let side = SIDE_INSERTS
            .iter()
            .map(|s| vec![Vec::new(); s.matches('$').count()])
            .collect();
        Self {
            record: vec![Vec::new(); 19],
            sizes: Vec::new(),
            side,
            aliases: [Vec::new(), Vec::new()],
        }
    }

    pub(crate) fn push_record(&mut self, r: &IndexRecord) {
        for (i, p) in RawRecord::params(r).into_iter().enumerate() {
            match (i, p) {
                (SIZE_COLUMN, Param::Int(n)) => self.sizes.push(Some(n)),
                (SIZE_COLUMN, _) => self.sizes.push(None),
                (_, Param::Text(s)) => self.record[i].push(Some(s)),
                (_, Param::Int(n)) => self.record[i].push(Some(n.to_string())),
                (_, Param::Null) => self.record[i].push(None),
            }
        }
    }

    pub(crate) fn push_side(&mut self, r: &IndexRecord) {
        for (stmt, params) in sql::side_rows(r) {
            let Some(table) = SIDE_INSERTS.iter().position(|s| *s == stmt) else {
                continue;
            };
            for (column, p) in self.side[table].iter_mut().zip(params) {
                column.push(match p {
                    Param::Text(s) => s,
                    Param::Int(n) => n.to_string(),
                    Param::Null => String::new(),
                });
            }
        }
    }

    pub(crate) fn push_alias(&mut self, name: &str, did: &str) {
        self.aliases[0].push(name.to_owned());
        self.aliases[1].push(did.to_owned());
    }

    fn bind_records(
        &mut self,
        mut q: Query<'static, Postgres, PgArguments>,
    ) -> Query<'static, Postgres, PgArguments> {
        for (i, column) in self.record.iter_mut().enumerate() {
            q = if i == SIZE_COLUMN {
                q.bind(std::mem::take(&mut self.sizes))
            } else {
                q.bind(std::mem::take(column))
            };
        }
        q
    }

    fn bind_side(
        &mut self,
        mut q: Query<'static, Postgres, PgArguments>,
    ) -> Query<'static, Postgres, PgArguments> {
        for column in self.side.iter_mut().flatten() {
            q = q.bind(std::mem::take(column));
        }
        q
    }

    /// Records, side rows, then aliases: the placeholder order of [`Statements::create`].
    pub(crate) fn bind_all(
        &mut self,
        q: Query<'static, Postgres, PgArguments>,
    ) -> Query<'static, Postgres, PgArguments> {
        let q = self.bind_records(q);
        let mut q = self.bind_side(q);
        for column in &mut self.aliases {
            q = q.bind(std::mem::take(column));
        }
        q
    }
}

/// A portable statement with its parameters bound.
pub(crate) fn portable(
    text: impl SqlSafeStr,
    params: Vec<Param>,
) -> Query<'static, Postgres, PgArguments> {
    params
        .into_iter()
        .fold(sqlx::query(text), |q, p| q.bind(Bind(p)))
}

/// A record row. The columns are read without sqlx's per-value type check: their types are
/// the migration's (BIGINT `size`, TEXT the rest), and the check was a seventh of a listing's
/// instructions in weft (docs/benchmarks.md). A wrong type still fails to decode.
pub(crate) fn raw(row: &PgRow) -> Result<RawRecord, sqlx::Error> {
    borrowed(row).map(|r| r.to_raw())
}

/// The row borrowed from its buffer ([`raw`] without copies).
fn borrowed(row: &PgRow) -> Result<RecordRef<'_>, sqlx::Error> {
    let text = |i: usize| row.try_get_unchecked::<&str, _>(i);
    let opt = |i: usize| row.try_get_unchecked::<Option<&str>, _>(i);
    Ok(RecordRef {
        did: text(0)?,
        baseid: text(1)?,
        rev: text(2)?,
        form: opt(3)?,
        size: row.try_get_unchecked(4)?,
        file_name: opt(5)?,
        version: opt(6)?,
        uploader: opt(7)?,
        description: opt(8)?,
        created_date: text(9)?,
        updated_date: text(10)?,
        content_created_date: opt(11)?,
        content_updated_date: opt(12)?,
        urls: text(13)?,
        urls_metadata: text(14)?,
        acl: text(15)?,
        authz: text(16)?,
        hashes: text(17)?,
        metadata: text(18)?,
    })
}

#[cfg(test)]
fn raw_checked(row: &PgRow) -> Result<RawRecord, sqlx::Error> {
    Ok(RawRecord {
        did: row.try_get(0)?,
        baseid: row.try_get(1)?,
        rev: row.try_get(2)?,
        form: row.try_get(3)?,
        size: row.try_get(4)?,
        file_name: row.try_get(5)?,
        version: row.try_get(6)?,
        uploader: row.try_get(7)?,
        description: row.try_get(8)?,
        created_date: row.try_get(9)?,
        updated_date: row.try_get(10)?,
        content_created_date: row.try_get(11)?,
        content_updated_date: row.try_get(12)?,
        urls: row.try_get(13)?,
        urls_metadata: row.try_get(14)?,
        acl: row.try_get(15)?,
        authz: row.try_get(16)?,
        hashes: row.try_get(17)?,
        metadata: row.try_get(18)?,
    })
}

fn records(rows: &[PgRow]) -> StoreResult<Vec<IndexRecord>> {
    rows.iter()
        .map(|row| raw(row).map_err(backend)?.into_record())
        .collect()
}

/// A write error as the store reports it: unique violations name the did or alias taken.
/// `did` and `alias` name the key when PostgreSQL's detail does not.
pub(crate) fn write_error(e: &sqlx::Error, did: Option<&str>, alias: Option<&str>) -> StoreError {
    match unique_violation(e) {
        Some((constraint, key)) if constraint == ALIAS_KEY => {
            let name = key.as_deref().or(alias).unwrap_or_default();
            StoreError::AlreadyExists(format!("alias \"{name}\" already exists"))
        }
        Some((constraint, key)) => {
            let key = if constraint == RECORD_KEY {
                key.as_deref().or(did)
            } else {
                did
            };
            StoreError::AlreadyExists(match key {
                Some(d) => format!("did \"{d}\" already exists"),
                None => "a did of the batch already exists".to_owned(),
            })
        }
        None => crate::invalid_input(e).unwrap_or_else(|| backend(e.to_string())),
    }
}

async fn current_rev(
    conn: &mut PgConnection,
    did: &str,
    lock: bool,
) -> StoreResult<Option<String>> {
    let text = if lock {
        STATEMENTS.lock_rev.as_str()
    } else {
        sql::SELECT_REV
    };
    sqlx::query_scalar(text)
        .bind(did)
        .fetch_optional(conn)
        .await
        .map_err(backend)
}

/// `NotFound` or `RevisionMismatch` after a guarded statement changed nothing.
async fn guard_failure(conn: &mut PgConnection, did: &str) -> StoreError {
    match current_rev(conn, did, false).await {
        Ok(None) => StoreError::NotFound,
        Ok(Some(_)) => StoreError::RevisionMismatch,
        Err(e) => e,
    }
}

/// The stored record `did` at revision `rev`, its row locked until the transaction ends:
/// `NotFound` or `RevisionMismatch` otherwise.
async fn lock_stored(conn: &mut PgConnection, did: &str, rev: &str) -> StoreResult<IndexRecord> {
    let row = sqlx::query(STATEMENTS.lock_record.as_str())
        .bind(did)
        .fetch_optional(&mut *conn)
        .await
        .map_err(backend)?;
    match row {
        None => Err(StoreError::NotFound),
        Some(row) => {
            let old = raw(&row).map_err(backend)?;
            if old.rev == rev {
                old.into_record()
            } else {
                Err(StoreError::RevisionMismatch)
            }
        }
    }
}

/// Run `statements` (portable) as one statement.
async fn run_combined(
    conn: &mut PgConnection,
    statements: Vec<(&str, Vec<Param>)>,
    did: &str,
) -> StoreResult<()> {
    if let Some((text, params)) = combined(statements) {
        portable(sqlx::AssertSqlSafe(text), params)
            .execute(conn)
            .await
            .map_err(|e| write_error(&e, Some(did), None))?;
    }
    Ok(())
}

pub(crate) async fn guarded_update(
    conn: &mut PgConnection,
    r: &IndexRecord,
    expected_rev: &str,
) -> StoreResult<()> {
    // The old side rows are found from the old record's columns (the side tables are keyed
    // by value); its row stays locked until the transaction ends.
    let old = lock_stored(conn, &r.did, expected_rev).await?;
    let mut params = RawRecord::params(r);
    params.push(expected_rev.into());
    let changed = portable(sql::UPDATE_RECORD, params)
        .execute(&mut *conn)
        .await
        .map_err(backend)?
        .rows_affected();
    if changed == 0 {
        return Err(guard_failure(conn, &r.did).await);
    }
    run_combined(conn, sql::side_row_changes(Some(&old), Some(r)), &r.did).await
}

/// The record exists; its row stays locked until the transaction ends, so it cannot be
/// deleted under aliases being added.
async fn lock_record(conn: &mut PgConnection, did: &str) -> StoreResult<()> {
    current_rev(conn, did, true)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

async fn insert_alias(conn: &mut PgConnection, name: &str, did: &str) -> StoreResult<()> {
    portable(sql::INSERT_ALIAS, vec![name.into(), did.into()])
        .execute(conn)
        .await
        .map_err(|e| write_error(&e, Some(did), Some(name)))?;
    Ok(())
}

impl PostgresStore {
    async fn fetch_records(
        &self,
        text: impl SqlSafeStr,
        params: Vec<Param>,
    ) -> StoreResult<Vec<IndexRecord>> {
        let rows = portable(text, params)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        records(&rows)
    }

    async fn fetch_raw(
        &self,
        text: impl SqlSafeStr,
        params: Vec<Param>,
    ) -> StoreResult<Vec<RawRecord>> {
        let rows = portable(text, params)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(raw)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }

    /// The record `did`, read by the coalescing dispatcher ([`crate::point`]), or directly
    /// when the dispatcher's runtime is gone.
    async fn point_read(&self, did: &str) -> StoreResult<Option<RawRecord>> {
        let reads = self
            .point_reads
            .get_or_init(|| PointReads::start(self.pool.clone()));
        if let Some(answer) = reads.get(did).await {
            return answer;
        }
        Ok(self
            .fetch_raw(sql::SELECT_BY_DID, vec![Param::from(did)])
            .await?
            .pop())
    }

    async fn fetch_strings(&self, text: &'static str, param: &str) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(text)
            .bind(param)
            .fetch_all(&self.pool)
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl IndexStore for PostgresStore {
    async fn create(&self, record: IndexRecord, aliases: Vec<String>) -> StoreResult<()> {
        // One statement: atomic without an explicit transaction, one round trip.
        let mut columns = Columns::new();
        columns.push_record(&record);
        columns.push_side(&record);
        for a in &aliases {
            columns.push_alias(a, &record.did);
        }
        columns
            .bind_all(sqlx::query(STATEMENTS.create.as_str()))
            .execute(&self.pool)
            .await
            .map_err(|e| write_error(&e, Some(&record.did), aliases.first().map(String::as_str)))?;
        Ok(())
    }

    async fn create_many(
        &self,
        records: Vec<IndexRecord>,
        progress: Option<Progress>,
    ) -> StoreResult<u64> {
        let expected = records.len() as u64;
        let batches = weft_store::import_batches(records, crate::bulk::CHUNK);
        crate::bulk::import(&self.pool, batches, expected, progress).await
    }

    async fn import(
        &self,
        batches: std::sync::mpsc::Receiver<weft_store::ImportBatch>,
        expected: u64,
        progress: Option<Progress>,
    ) -> StoreResult<u64> {
        crate::bulk::import(&self.pool, batches.into_iter(), expected, progress).await
    }

    async fn get(&self, did: &str) -> StoreResult<Option<IndexRecord>> {
        self.point_read(did)
            .await?
            .map(RawRecord::into_record)
            .transpose()
    }

    async fn get_many(&self, dids: Vec<String>) -> StoreResult<Vec<IndexRecord>> {
        let mut out = Vec::with_capacity(dids.len());
        for chunk in dids.chunks(GET_MANY_CHUNK) {
            let params = chunk.iter().map(|d| d.as_str().into()).collect();
            let text = sqlx::AssertSqlSafe(sql::select_many(chunk.len()));
            out.extend(self.fetch_records(text, params).await?);
        }
        Ok(out)
    }

    async fn versions(&self, baseid: &str) -> StoreResult<Vec<IndexRecord>> {
        self.fetch_records(sql::SELECT_VERSIONS, vec![baseid.into()])
            .await
    }

    async fn update(&self, record: IndexRecord, expected_rev: String) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        guarded_update(&mut tx, &record, &expected_rev).await?;
        tx.commit().await.map_err(backend)
    }

    async fn update_many(&self, updates: Vec<(IndexRecord, String)>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for (r, rev) in &updates {
            guarded_update(&mut tx, r, rev).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn delete(&self, did: &str, expected_rev: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let old = lock_stored(&mut tx, did, expected_rev).await?;
        let mut statements = vec![(
            sql::DELETE_RECORD,
            vec![Param::from(did), Param::from(expected_rev)],
        )];
        statements.extend(sql::side_row_changes(Some(&old), None));
        statements.push((sql::DELETE_ALIASES, vec![Param::from(did)]));
        run_combined(&mut tx, statements, did).await?;
        tx.commit().await.map_err(backend)
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Vec<IndexRecord>> {
        let stmt = sql::list(&query);
        self.fetch_records(sqlx::AssertSqlSafe(stmt.text), stmt.params)
            .await
    }

    async fn list_raw(&self, query: ListQuery) -> StoreResult<Vec<RawRecord>> {
        let stmt = sql::list(&query);
        self.fetch_raw(sqlx::AssertSqlSafe(stmt.text), stmt.params)
            .await
    }

    async fn list_json(&self, query: ListQuery) -> StoreResult<Vec<u8>> {
        // Each row is written as it arrives, while PostgreSQL still sends the next ones.
        let stmt = sql::list(&query);
        let mut rows = portable(sqlx::AssertSqlSafe(stmt.text), stmt.params).fetch(&self.pool);
        let mut array = JsonArray::new();
        while let Some(row) = rows.try_next().await.map_err(backend)? {
            array.push(&borrowed(&row).map_err(backend)?);
        }
        Ok(array.finish())
    }

    async fn get_raw(&self, did: &str) -> StoreResult<Option<RawRecord>> {
        self.point_read(did).await
    }

    async fn query_urls(&self, query: UrlQuery) -> StoreResult<Vec<IndexRecord>> {
        let stmt = sql::query_urls(&query);
        self.fetch_records(sqlx::AssertSqlSafe(stmt.text), stmt.params)
            .await
    }

    async fn aliases(&self, did: &str) -> StoreResult<Vec<String>> {
        self.fetch_strings(sql::SELECT_ALIASES, did).await
    }

    async fn put_aliases(&self, did: &str, names: Vec<String>, replace: bool) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_record(&mut tx, did).await?;
        if replace {
            sqlx::query(sql::DELETE_ALIASES)
                .bind(did)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for n in &names {
            insert_alias(&mut tx, n, did).await?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn delete_aliases(&self, did: &str, name: Option<String>) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        lock_record(&mut tx, did).await?;
        match name {
            None => {
                sqlx::query(sql::DELETE_ALIASES)
                    .bind(did)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            Some(n) => {
                let changed = sqlx::query(sql::DELETE_ALIAS)
                    .bind(did)
                    .bind(n)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?
                    .rows_affected();
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
            }
        }
        tx.commit().await.map_err(backend)
    }

    async fn resolve_alias(&self, name: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar(sql::SELECT_ALIAS_TARGET)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn stats(&self, before: Option<String>) -> StoreResult<(i64, i64)> {
        let q = match before {
            Some(b) => sqlx::query_as(sql::STATS_BEFORE).bind(b),
            None => sqlx::query_as(sql::STATS_ALL),
        };
        q.fetch_one(&self.pool).await.map_err(backend)
    }

    async fn put_index_user(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        // created_date in weft_core::time::FORMAT, naive UTC with microseconds.
        sqlx::query(
            "INSERT INTO index_user (username, password_hash, created_date) \
             VALUES ($1, $2, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')) \
             ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
        )
        .bind(username)
        .bind(password_hash)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn index_user_hash(&self, username: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar(sql::SELECT_INDEX_USER)
            .bind(username)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    use weft_store::test_suite::sample;

    use super::*;
    use crate::testing::TempDatabase;

    #[test]
    fn unnest_inserts_follow_the_portable_columns() {
        let mut n = 3;
        assert_eq!(
            unnest_insert(sql::INSERT_HASH, &mut n, None),
            "INSERT INTO index_record_hash (did, hash_type, hash_value) \
             SELECT * FROM UNNEST($3::text[], $4::text[], $5::text[])"
        );
        assert_eq!(n, 6);
        let create = &STATEMENTS.create;
        assert!(create.contains("$5::bigint[], $6::text[]"), "{create}");
        assert!(STATEMENTS.create.contains("$37::text[]"));
        assert!(!STATEMENTS.create.contains("$38"));
        let (text, params) = combined(vec![
            (sql::DELETE_URL, vec!["d".into(), "u".into()]),
            (sql::DELETE_ALIASES, vec!["d".into()]),
        ])
        .unwrap();
        assert_eq!(
            text,
            "WITH w0 AS (DELETE FROM index_record_url WHERE url = $2 AND did = $1) \
             DELETE FROM index_record_alias WHERE did = $3"
        );
        assert_eq!(params, vec![Param::from("d"), "u".into(), "d".into()]);
        assert_eq!(combined(vec![]), None);
    }

    /// A fresh database and store for each contract case; `None` (skip) only where
    /// [`TempDatabase::for_postgres_only_test`] allows it.
    async fn fresh() -> Option<(TempDatabase, Arc<PostgresStore>)> {
        let db = TempDatabase::for_postgres_only_test().await.unwrap()?;
        let store = PostgresStore::connect(db.url(), 4).await.unwrap();
        Some((db, Arc::new(store)))
    }

    mod contract {
        use super::fresh;
        weft_store::contract_tests!(fresh);
    }

    /// Rows read without the type check are the rows read with it (NULLs included).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unchecked_rows_read_as_checked_ones() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        let mut bare = sample(2);
        bare.size = None;
        bare.file_name = None;
        bare.content_created_date = Some("2024-01-02T00:00:00.000000".into());
        for r in [sample(1), bare] {
            store.create(r, vec![]).await.unwrap();
        }
        let all = sql::SELECT_VERSIONS.replace("r.baseid = $1", "TRUE");
        let rows = sqlx::query(sqlx::AssertSqlSafe(all))
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(rows.len(), 2);
        for row in &rows {
            assert_eq!(raw(row).unwrap(), raw_checked(row).unwrap());
        }
        assert_eq!(raw(&rows[1]).unwrap().size, None);
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }

    /// The backstop behind the services' input checks: values PostgreSQL refuses (a NUL in
    /// text, an index entry over ~2.7 KB) are `StoreError::Invalid` (a 400), not a 500, and
    /// leave nothing behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_values_are_invalid_input() {
        let Some(db) = TempDatabase::from_env().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        let mut nul = sample(1);
        nul.file_name = Some("a\u{0}b".into());
        let err = store.create(nul, vec![]).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("NUL")),
            "{err:?}"
        );
        let mut long = sample(2);
        // not compressible below the entry limit
        let mut x: u64 = 7;
        let text: String = (0..4000)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from(b'!' + u8::try_from((x >> 33) % 90).unwrap())
            })
            .collect();
        long.urls = vec![text];
        let err = store.create(long, vec![]).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(m) if m.contains("too long")),
            "{err:?}"
        );
        let err = store.get("a\u{0}b").await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        assert_eq!(store.stats(None).await.unwrap().0, 0);
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_are_idempotent() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        assert_eq!(
            PostgresStore::migrate(db.url()).await.unwrap(),
            crate::MIGRATOR.iter().count()
        );
        assert_eq!(crate::migrate(db.url()).await.unwrap(), 0);
        db.drop_database().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_creates_and_conflicts() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 8).await.unwrap();
        let mut tasks = Vec::new();
        for n in 0..200 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.create(sample(n), vec![format!("alias-{n}")]).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(store.stats(None).await.unwrap().0, 200);
        // messages name the key taken, as the SQLite backend's do
        assert_eq!(
            store.create(sample(5), vec![]).await.unwrap_err(),
            StoreError::AlreadyExists(format!("did \"{}\" already exists", sample(5).did))
        );
        assert_eq!(
            store
                .create(sample(500), vec!["fresh".into(), "alias-7".into()])
                .await
                .unwrap_err(),
            StoreError::AlreadyExists("alias \"alias-7\" already exists".into())
        );
        assert_eq!(store.get(&sample(500).did).await.unwrap(), None);
        let err = store
            .put_aliases(&sample(1).did, vec!["alias-2".into()], false)
            .await
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::AlreadyExists("alias \"alias-2\" already exists".into())
        );
        let batch = vec![sample(600), sample(601), sample(9)];
        assert_eq!(
            store.create_many(batch, None).await.unwrap_err(),
            StoreError::AlreadyExists(format!("did \"{}\" already exists", sample(9).did))
        );
        assert_eq!(store.get(&sample(600).did).await.unwrap(), None);
        // a batch that repeats one of its own dids fails whole too
        let err = store
            .create_many(vec![sample(700), sample(700)], None)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists(_)), "{err:?}");
        // a NULL size and NULL texts bind in statements first prepared with values
        let mut bare = sample(800);
        bare.size = None;
        bare.form = None;
        store.create(bare.clone(), vec![]).await.unwrap();
        let mut sized = bare.clone();
        sized.size = Some(42);
        sized.rev = "0000abcd".into();
        store.update(sized.clone(), bare.rev.clone()).await.unwrap();
        let mut unsized_again = sized.clone();
        unsized_again.size = None;
        unsized_again.rev = "0000abce".into();
        store
            .update(unsized_again.clone(), sized.rev.clone())
            .await
            .unwrap();
        assert_eq!(store.get(&bare.did).await.unwrap(), Some(unsized_again));
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }

    /// Lookups coalesced into shared statements each get their own record: the same did
    /// asked many times at once, missing dids, and a write acknowledged before a read.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn coalesced_lookups_answer_each_asker() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 4).await.unwrap();
        let records: Vec<IndexRecord> = (0..40).map(sample).collect();
        store.create_many(records, None).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..600_u32 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                // 0..40 exist; 40..50 do not; the first ten dids are asked most often
                let n = if i % 3 == 0 { i % 10 } else { i % 50 };
                let did = sample(n).did;
                let got = if i % 2 == 0 {
                    s.get(&did).await.unwrap()
                } else {
                    s.get_raw(&did)
                        .await
                        .unwrap()
                        .map(|r| r.into_record().unwrap())
                };
                (n, got)
            }));
        }
        for t in tasks {
            let (n, got) = t.await.unwrap();
            assert_eq!(got, (n < 40).then(|| sample(n)), "record {n}");
        }
        // read-your-writes: a create acknowledged before the lookup is seen by it
        for n in 100..120 {
            store.create(sample(n), vec![]).await.unwrap();
            assert_eq!(store.get(&sample(n).did).await.unwrap(), Some(sample(n)));
        }
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bulk_import_reports_progress_per_chunk() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        let seen = Arc::new(AtomicU64::new(0));
        let calls = Arc::new(AtomicU64::new(0));
        let (s, c) = (Arc::clone(&seen), Arc::clone(&calls));
        let progress: Progress = Arc::new(move |n| {
            s.store(n, Ordering::SeqCst);
            c.fetch_add(1, Ordering::SeqCst);
        });
        let records: Vec<IndexRecord> = (0..12_000).map(sample).collect();
        assert_eq!(
            store.create_many(records, Some(progress)).await.unwrap(),
            12_000
        );
        assert_eq!(seen.load(Ordering::SeqCst), 12_000);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(
            store.get(&sample(11_999).did).await.unwrap(),
            Some(sample(11_999))
        );
        let got = store
            .get_many((0..2_500).map(|n| sample(n).did).collect())
            .await
            .unwrap();
        assert_eq!(got.len(), 2_500);
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }

    /// Bulk import throughput: `WEFT_BENCH_RECORDS=1000000 cargo test --release -p
    /// weft-store-postgres bulk_import_rate -- --ignored --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a benchmark; run by hand"]
    async fn bulk_import_rate() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let n: u32 = std::env::var("WEFT_BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        let records: Vec<IndexRecord> = (0..n)
            .map(|i| {
                let mut r = sample(i);
                // random keys, as real dids, baseids and checksums are
                let h = |salt: u32| {
                    i.wrapping_mul(2_654_435_761)
                        .wrapping_add(salt)
                        .wrapping_mul(0x9e37_79b9)
                };
                r.did = format!("dg.TEST/{:08x}-0000-4000-8000-{i:012}", h(1));
                r.baseid = format!("{:08x}-0000-4000-8000-{i:012}", h(2));
                r.hashes
                    .insert("md5".into(), format!("{:08x}{:08x}{i:016x}", h(3), h(4)));
                r
            })
            .collect();
        let start = Instant::now();
        assert_eq!(
            store.create_many(records, None).await.unwrap(),
            u64::from(n)
        );
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "bulk import: {n} records in {secs:.1}s = {:.0} records/s",
            f64::from(n) / secs
        );
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }
}
