//! `IndexStore` on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row};
use weft_store::sql::{self, JsonArray, Param, RawRecord, RecordRef};
use weft_store::{
    ImportBatch, IndexRecord, IndexStore, ListQuery, Progress, StoreError, StoreResult, UrlQuery,
};

use crate::{SqliteStore, backend, dialect, exec, to_value};

fn raw(row: &Row<'_>) -> rusqlite::Result<RawRecord> {
    borrowed(row).map(|r| r.to_raw())
}

/// The row borrowed from the statement: no copies of its text.
fn borrowed<'r>(row: &'r Row<'_>) -> rusqlite::Result<RecordRef<'r>> {
    let text = |i: usize| -> rusqlite::Result<&'r str> { Ok(row.get_ref(i)?.as_str()?) };
    let opt =
        |i: usize| -> rusqlite::Result<Option<&'r str>> { Ok(row.get_ref(i)?.as_str_or_null()?) };
    Ok(RecordRef {
        did: text(0)?,
        baseid: text(1)?,
        rev: text(2)?,
        form: opt(3)?,
        size: row.get(4)?,
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

/// The rows of a record query as the JSON text of an array, each written as it is read.
fn query_json(conn: &Connection, sql: &str, params: &[Param]) -> StoreResult<Vec<u8>> {
    let mut stmt = conn.prepare_cached(&dialect(sql)).map_err(backend)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params.iter().map(to_value)))
        .map_err(backend)?;
    let mut array = JsonArray::new();
    while let Some(row) = rows.next().map_err(backend)? {
        array.push(&borrowed(row).map_err(backend)?);
    }
    Ok(array.finish())
}

fn query_raw(conn: &Connection, sql: &str, params: &[Param]) -> StoreResult<Vec<RawRecord>> {
    let mut stmt = conn.prepare_cached(&dialect(sql)).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter().map(to_value)), raw)
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
}

fn query_records(conn: &Connection, sql: &str, params: &[Param]) -> StoreResult<Vec<IndexRecord>> {
    let mut stmt = conn.prepare_cached(&dialect(sql)).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter().map(to_value)), raw)
        .map_err(backend)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(backend)?.into_record()?);
    }
    Ok(out)
}

fn query_strings(conn: &Connection, sql: &str, params: &[Param]) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(&dialect(sql)).map_err(backend)?;
    let rows = stmt
        .query_map(
            rusqlite::params_from_iter(params.iter().map(to_value)),
            |r| r.get(0),
        )
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<String>>>()
        .map_err(backend)
}

pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation
    )
}

fn insert_side_rows(conn: &Connection, r: &IndexRecord) -> StoreResult<()> {
    for (stmt, params) in sql::side_rows(r) {
        exec(conn, stmt, &params).map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn insert_record(conn: &Connection, r: &IndexRecord) -> StoreResult<()> {
    exec(conn, sql::INSERT_RECORD, &RawRecord::params(r)).map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(format!("did \"{}\" already exists", r.did))
        } else {
            backend(e)
        }
    })?;
    insert_side_rows(conn, r)
}

pub(crate) fn insert_alias(conn: &Connection, name: &str, did: &str) -> StoreResult<()> {
    exec(conn, sql::INSERT_ALIAS, &[name.into(), did.into()]).map_err(|e| {
        if is_unique_violation(&e) {
            StoreError::AlreadyExists(format!("alias \"{name}\" already exists"))
        } else {
            backend(e)
        }
    })?;
    Ok(())
}

fn current_rev(conn: &Connection, did: &str) -> StoreResult<Option<String>> {
    conn.prepare_cached(&dialect(sql::SELECT_REV))
        .and_then(|mut s| s.query_row([did], |r| r.get(0)).optional())
        .map_err(backend)
}

/// The stored record `did`, if any.
fn stored(conn: &Connection, did: &str) -> StoreResult<Option<IndexRecord>> {
    conn.prepare_cached(&dialect(sql::SELECT_BY_DID))
        .and_then(|mut s| s.query_row([did], raw).optional())
        .map_err(backend)?
        .map(RawRecord::into_record)
        .transpose()
}

/// The stored record `did` at revision `rev`: `NotFound` or `RevisionMismatch` otherwise.
fn stored_at(conn: &Connection, did: &str, rev: &str) -> StoreResult<IndexRecord> {
    match stored(conn, did)? {
        None => Err(StoreError::NotFound),
        Some(old) if old.rev != rev => Err(StoreError::RevisionMismatch),
        Some(old) => Ok(old),
    }
}

/// Apply [`sql::side_row_changes`] of replacing `old` by `new`.
fn change_side_rows(
    conn: &Connection,
    old: Option<&IndexRecord>,
    new: Option<&IndexRecord>,
) -> StoreResult<()> {
    for (stmt, params) in sql::side_row_changes(old, new) {
        exec(conn, stmt, &params).map_err(backend)?;
    }
    Ok(())
}

pub(crate) fn guarded_update(
    conn: &Connection,
    r: &IndexRecord,
    expected_rev: &str,
) -> StoreResult<()> {
    // The old side rows are found from the old record's columns (the side tables are keyed
    // by value); the writer's transaction keeps it as read until the update.
    let old = stored_at(conn, &r.did, expected_rev)?;
    let mut params = RawRecord::params(r);
    params.push(expected_rev.into());
    let changed = exec(conn, sql::UPDATE_RECORD, &params).map_err(backend)?;
    if changed == 0 {
        return Err(StoreError::RevisionMismatch);
    }
    change_side_rows(conn, Some(&old), Some(r))
}

fn record_exists(conn: &Connection, did: &str) -> StoreResult<()> {
    current_rev(conn, did)?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

impl SqliteStore {
    /// Run the listing statement of `query` through `f`: on the point-read path when an
    /// index on an exact value drives it (those answer in microseconds), else as a long read.
    async fn read_listing<T: Send + 'static>(
        &self,
        query: ListQuery,
        f: fn(&Connection, &sql::Sql) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let selective = query.ids.as_ref().is_some_and(|ids| ids.len() <= 100)
            || !query.hashes.is_empty()
            || !query.urls.is_empty();
        let run = move |conn: &Connection| f(conn, &sql::list(&query));
        if selective {
            self.read_point(run).await
        } else {
            self.read(run).await
        }
    }
}

#[async_trait]
impl IndexStore for SqliteStore {
    async fn create(&self, record: IndexRecord, aliases: Vec<String>) -> StoreResult<()> {
        self.write(move |conn| {
            insert_record(conn, &record)?;
            for a in &aliases {
                insert_alias(conn, a, &record.did)?;
            }
            Ok(())
        })
        .await
    }

    async fn create_many(
        &self,
        records: Vec<IndexRecord>,
        progress: Option<Progress>,
    ) -> StoreResult<u64> {
        let mut records = records;
        // In did order the clustered record table fills page by page instead of at random.
        records.sort_unstable_by(|a, b| a.did.cmp(&b.did));
        let expected = records.len() as u64;
        // Readers stay open (this may run in a server): the load keeps to WAL mode.
        self.write_alone(move |conn| {
            let batches = weft_store::import_batches(records, 1024);
            crate::bulk::import(conn, batches, expected, progress.as_ref(), false, None)
        })
        .await
    }

    async fn import(
        &self,
        batches: std::sync::mpsc::Receiver<ImportBatch>,
        expected: u64,
        progress: Option<Progress>,
    ) -> StoreResult<u64> {
        let alone = self.park_readers()?;
        let writeback = if alone { self.writeback_file() } else { None };
        let result = self
            .write_alone(move |conn| {
                crate::bulk::import(
                    conn,
                    batches.into_iter(),
                    expected,
                    progress.as_ref(),
                    alone,
                    writeback.as_deref(),
                )
            })
            .await;
        if alone {
            self.unpark_readers()?;
        }
        result
    }

    async fn get(&self, did: &str) -> StoreResult<Option<IndexRecord>> {
        let did = did.to_owned();
        self.read_point(move |conn| {
            let mut stmt = conn
                .prepare_cached(&dialect(sql::SELECT_BY_DID))
                .map_err(backend)?;
            stmt.query_row([&did], raw)
                .optional()
                .map_err(backend)?
                .map(RawRecord::into_record)
                .transpose()
        })
        .await
    }

    async fn get_many(&self, dids: Vec<String>) -> StoreResult<Vec<IndexRecord>> {
        if dids.is_empty() {
            return Ok(Vec::new());
        }
        self.read_point(move |conn| {
            let mut out = Vec::with_capacity(dids.len());
            // bounded statement sizes: SQLite limits bound parameters
            for chunk in dids.chunks(500) {
                let params: Vec<Param> = chunk.iter().map(|d| d.as_str().into()).collect();
                out.extend(query_records(
                    conn,
                    &sql::select_many(chunk.len()),
                    &params,
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn versions(&self, baseid: &str) -> StoreResult<Vec<IndexRecord>> {
        let baseid = baseid.to_owned();
        self.read_point(move |conn| query_records(conn, sql::SELECT_VERSIONS, &[baseid.into()]))
            .await
    }

    async fn update(&self, record: IndexRecord, expected_rev: String) -> StoreResult<()> {
        self.write(move |conn| guarded_update(conn, &record, &expected_rev))
            .await
    }

    async fn update_many(&self, updates: Vec<(IndexRecord, String)>) -> StoreResult<()> {
        self.write(move |conn| {
            for (r, rev) in &updates {
                guarded_update(conn, r, rev)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete(&self, did: &str, expected_rev: &str) -> StoreResult<()> {
        let (did, rev) = (did.to_owned(), expected_rev.to_owned());
        self.write(move |conn| {
            let old = stored_at(conn, &did, &rev)?;
            let changed = exec(conn, sql::DELETE_RECORD, &[did.as_str().into(), rev.into()])
                .map_err(backend)?;
            if changed == 0 {
                return Err(StoreError::RevisionMismatch);
            }
            change_side_rows(conn, Some(&old), None)?;
            exec(conn, sql::DELETE_ALIASES, &[did.as_str().into()]).map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn list(&self, query: ListQuery) -> StoreResult<Vec<IndexRecord>> {
        self.list_raw(query)
            .await?
            .into_iter()
            .map(RawRecord::into_record)
            .collect()
    }

    async fn list_raw(&self, query: ListQuery) -> StoreResult<Vec<RawRecord>> {
        self.read_listing(query, |conn, stmt| {
            query_raw(conn, &stmt.text, &stmt.params)
        })
        .await
    }

    async fn list_json(&self, query: ListQuery) -> StoreResult<Vec<u8>> {
        self.read_listing(query, |conn, stmt| {
            query_json(conn, &stmt.text, &stmt.params)
        })
        .await
    }

    async fn get_json(&self, did: &str) -> StoreResult<Option<Vec<u8>>> {
        let did = did.to_owned();
        self.read_point(move |conn| {
            let mut stmt = conn
                .prepare_cached(&dialect(sql::SELECT_BY_DID))
                .map_err(backend)?;
            let mut rows = stmt.query([&did]).map_err(backend)?;
            let Some(row) = rows.next().map_err(backend)? else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(1024);
            borrowed(row).map_err(backend)?.write_json(&mut out);
            Ok(Some(out))
        })
        .await
    }

    async fn get_raw(&self, did: &str) -> StoreResult<Option<RawRecord>> {
        let did = did.to_owned();
        self.read_point(move |conn| {
            let mut stmt = conn
                .prepare_cached(&dialect(sql::SELECT_BY_DID))
                .map_err(backend)?;
            stmt.query_row([&did], raw).optional().map_err(backend)
        })
        .await
    }

    async fn query_urls(&self, query: UrlQuery) -> StoreResult<Vec<IndexRecord>> {
        self.read(move |conn| {
            let stmt = sql::query_urls(&query);
            query_records(conn, &stmt.text, &stmt.params)
        })
        .await
    }

    async fn aliases(&self, did: &str) -> StoreResult<Vec<String>> {
        let did = did.to_owned();
        self.read_point(move |conn| query_strings(conn, sql::SELECT_ALIASES, &[did.into()]))
            .await
    }

    async fn put_aliases(&self, did: &str, names: Vec<String>, replace: bool) -> StoreResult<()> {
        let did = did.to_owned();
        self.write(move |conn| {
            record_exists(conn, &did)?;
            if replace {
                exec(conn, sql::DELETE_ALIASES, &[did.as_str().into()]).map_err(backend)?;
            }
            for n in &names {
                insert_alias(conn, n, &did)?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_aliases(&self, did: &str, name: Option<String>) -> StoreResult<()> {
        let did = did.to_owned();
        self.write(move |conn| {
            record_exists(conn, &did)?;
            match name {
                None => {
                    exec(conn, sql::DELETE_ALIASES, &[did.into()]).map_err(backend)?;
                }
                Some(n) => {
                    if exec(conn, sql::DELETE_ALIAS, &[did.into(), n.into()]).map_err(backend)? == 0
                    {
                        return Err(StoreError::NotFound);
                    }
                }
            }
            Ok(())
        })
        .await
    }

    async fn resolve_alias(&self, name: &str) -> StoreResult<Option<String>> {
        let name = name.to_owned();
        self.read_point(move |conn| {
            Ok(
                query_strings(conn, sql::SELECT_ALIAS_TARGET, &[name.into()])?
                    .into_iter()
                    .next(),
            )
        })
        .await
    }

    async fn stats(&self, before: Option<String>) -> StoreResult<(i64, i64)> {
        self.read(move |conn| {
            let (text, params): (&str, Vec<Param>) = match before {
                Some(b) => (sql::STATS_BEFORE, vec![b.into()]),
                None => (sql::STATS_ALL, vec![]),
            };
            let mut stmt = conn.prepare_cached(&dialect(text)).map_err(backend)?;
            stmt.query_row(
                rusqlite::params_from_iter(params.iter().map(to_value)),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(backend)
        })
        .await
    }

    async fn put_index_user(&self, username: &str, password_hash: &str) -> StoreResult<()> {
        let (u, h) = (username.to_owned(), password_hash.to_owned());
        self.write(move |conn| {
            exec(
                conn,
                "INSERT INTO index_user (username, password_hash, created_date) \
                 VALUES ($1, $2, strftime('%Y-%m-%dT%H:%M:%f', 'now')) \
                 ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash",
                &[u.into(), h.into()],
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn index_user_hash(&self, username: &str) -> StoreResult<Option<String>> {
        let u = username.to_owned();
        self.read_point(move |conn| {
            Ok(query_strings(conn, sql::SELECT_INDEX_USER, &[u.into()])?
                .into_iter()
                .next())
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read_point(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A fresh store in a temporary directory, for each contract case.
    async fn fresh() -> Option<(tempfile::TempDir, Arc<SqliteStore>)> {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db"), 2).unwrap();
        Some((dir, Arc::new(store)))
    }

    mod contract {
        use super::fresh;
        weft_store::contract_tests!(fresh);
    }

    /// A bulk import loads in rollback-journal mode; afterwards the database is back in WAL
    /// mode with no journal left behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_import_leaves_wal_mode_behind() {
        let (dir, store) = fresh().await.unwrap();
        weft_store::test_suite::index_case("streamed_import", &*store).await;
        let mode: String = store
            .read(|c| {
                c.query_row("PRAGMA journal_mode", [], |r| r.get(0))
                    .map_err(backend)
            })
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        assert!(!dir.path().join("t.db-journal").exists());
    }

    /// Commits leave their pages in the WAL; the checkpointer, not the writer, copies them
    /// into the database file (the writer's own threshold is far away).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_folds_the_wal_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path, 1).unwrap();
        let checkpointer = store.checkpointer();
        let rounds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&rounds);
        let thread = std::thread::spawn(move || {
            let stop = std::sync::atomic::AtomicBool::new(false);
            checkpointer.run(&stop, &|| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            })
        });
        let before = std::fs::metadata(&path).unwrap().len();
        for n in 0..300 {
            store
                .create(weft_store::test_suite::sample(n), vec![])
                .await
                .unwrap();
        }
        let wal = std::fs::metadata(dir.path().join("c.db-wal"))
            .unwrap()
            .len();
        assert!(wal > 100 * 4096, "the commits went to the WAL: {wal} bytes");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file stayed at {before} bytes"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let got = store
            .get(&weft_store::test_suite::sample(299).did)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.size, weft_store::test_suite::sample(299).size);
        // The file grows while the checkpoint runs; its report follows when it returns.
        while rounds.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint reported"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Dropping the store ends the loop, with no error.
        drop(store);
        thread.join().unwrap().unwrap();
    }

    /// Without a running checkpointer (a one-off command), commits stay in the WAL until the
    /// writer's own threshold; the checkpointer stops when told to.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_checkpointer_runs_only_when_run_and_stops_on_its_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = SqliteStore::open(&path, 1).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for n in 0..100 {
            store
                .create(weft_store::test_suite::sample(n), vec![])
                .await
                .unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            before,
            "nothing checkpointed without the checkpointer"
        );
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let checkpointer = store.checkpointer();
        let thread = std::thread::spawn(move || checkpointer.run(&flag, &|| {}));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= before {
            assert!(std::time::Instant::now() < deadline, "never checkpointed");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let began = std::time::Instant::now();
        thread.join().unwrap().unwrap();
        assert!(began.elapsed() < std::time::Duration::from_secs(1));
        // The store is still open and serving.
        assert!(
            store
                .get(&weft_store::test_suite::sample(7).did)
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn like_is_case_sensitive_as_on_postgres() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("l.db"), 1).unwrap();
        store
            .create(weft_store::test_suite::sample(1), vec![])
            .await
            .unwrap();
        let q = |s: &str| weft_store::UrlQuery {
            include: Some(s.to_owned()),
            limit: 10,
            ..weft_store::UrlQuery::default()
        };
        assert_eq!(store.query_urls(q("bucket/1/")).await.unwrap().len(), 1);
        assert!(store.query_urls(q("BUCKET/1/")).await.unwrap().is_empty());
    }

    #[test]
    fn hash_lookups_are_served_in_index_order_without_a_sort() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        SqliteStore::migrate(&path).unwrap();
        let conn = crate::open(&path, 2048).unwrap();
        for page in [weft_store::Page::First, weft_store::Page::After("x".into())] {
            let stmt = sql::list(&ListQuery {
                limit: 10,
                page,
                hashes: vec![("md5".into(), "0".repeat(32))],
                ..ListQuery::default()
            });
            let mut explain = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {}", dialect(&stmt.text)))
                .unwrap();
            let plan: Vec<String> = explain
                .query_map(
                    rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
                    |r| r.get(3),
                )
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            // the hash table's own key, (hash_value, hash_type, did)
            assert!(
                plan[0].starts_with("SEARCH h USING PRIMARY KEY (hash_value=? AND hash_type=?"),
                "{plan:?}"
            );
            assert!(plan.iter().all(|p| !p.contains("TEMP B-TREE")), "{plan:?}");
        }
    }

    #[test]
    fn migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        assert_eq!(
            SqliteStore::migrate(&path).unwrap(),
            crate::MIGRATIONS.len()
        );
        assert_eq!(SqliteStore::migrate(&path).unwrap(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_all_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("c.db"), 2).unwrap();
        let mut tasks = Vec::new();
        for n in 0..200 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.create(weft_store::test_suite::sample(n), vec![]).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        // a failing job in a group does not sink its neighbours
        let dup = store.create(weft_store::test_suite::sample(5), vec![]);
        let fresh = store.create(weft_store::test_suite::sample(500), vec![]);
        let (a, b) = tokio::join!(dup, fresh);
        assert!(matches!(a, Err(StoreError::AlreadyExists(_))));
        b.unwrap();
        assert_eq!(store.stats(None).await.unwrap().0, 201);
    }
}
