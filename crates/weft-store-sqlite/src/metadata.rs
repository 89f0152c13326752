//! `MetadataStore` on SQLite: metadata as JSONB, key-path indexes as expression indexes.
//!
//! Documents are stored in SQLite's binary JSON (`jsonb()` on write, migration 0011), so a
//! filter on a path without an index walks each row's stored tree instead of parsing its
//! text again; reads render the text with `json()`, which gives back exactly the compact
//! text that was written (key order, number and string spellings are kept in JSONB).
//!
//! A filter compares the value at a path *as text*, as MDS does on PostgreSQL (`#>>`):
//! strings without quotes, other values as their JSON text, JSON `null` as no value. The
//! expression that computes it ([`text_at`]) is the same in the index and in the query, so
//! SQLite's planner can use the index for an equality filter.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, params_from_iter};
use serde_json::value::RawValue;
use weft_store::metadata::{index_name, shallow_merge};
use weft_store::{
    AliasMode, BatchOutcome, FieldPath, FilterValue, MetadataQuery, MetadataStore, RawJson,
    StoreError, StoreResult, Written,
};

use crate::{SqliteStore, backend};

/// `'$."a"."b"'`: the path as an SQL string literal of a JSON path.
fn json_path(path: &FieldPath) -> String {
    let mut out = String::from("'$");
    for key in path.keys() {
        out.push_str(".\"");
        out.push_str(&key.replace('\'', "''"));
        out.push('"');
    }
    out.push('\'');
    out
}

/// The value at `path` as text (see the module docs).
fn text_at(path: &FieldPath) -> String {
    let p = json_path(path);
    format!(
        "(CASE json_type(data, {p}) WHEN 'text' THEN data ->> {p} WHEN 'null' THEN NULL \
         ELSE data -> {p} END)"
    )
}

fn raw(text: String) -> StoreResult<RawJson> {
    RawValue::from_string(text).map_err(backend)
}

fn not_found() -> StoreError {
    StoreError::NotFound
}

fn data_of(conn: &Connection, guid: &str) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT json(data) FROM metadata WHERE guid = ?1")
        .and_then(|mut s| s.query_row([guid], |r| r.get(0)).optional())
        .map_err(backend)
}

fn aliases_of(conn: &Connection, guid: &str) -> StoreResult<Vec<String>> {
    let mut stmt = conn
        .prepare_cached("SELECT alias FROM metadata_alias WHERE guid = ?1 ORDER BY alias")
        .map_err(backend)?;
    let rows = stmt.query_map([guid], |r| r.get(0)).map_err(backend)?;
    rows.collect::<rusqlite::Result<Vec<String>>>()
        .map_err(backend)
}

/// Insert or (with `overwrite`) replace; `None` when it exists and `overwrite` is off.
fn put(
    conn: &Connection,
    guid: &str,
    data: &str,
    authz: &str,
    overwrite: bool,
) -> StoreResult<Option<Written>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO metadata (guid, data, authz) VALUES (?1, jsonb(?2), ?3) \
             ON CONFLICT (guid) DO NOTHING",
        )
        .and_then(|mut s| s.execute((guid, data, authz)))
        .map_err(backend)?;
    if inserted == 1 {
        return Ok(Some(Written::Created));
    }
    if !overwrite {
        return Ok(None);
    }
    conn.prepare_cached("UPDATE metadata SET data = jsonb(?2) WHERE guid = ?1")
        .and_then(|mut s| s.execute((guid, data)))
        .map_err(backend)?;
    Ok(Some(Written::Updated))
}

/// The SQL of a metadata query and its parameters, in order.
fn query_sql(query: &MetadataQuery) -> (String, Vec<String>) {
    let mut sql = String::from(if query.with_data {
        "SELECT guid, json(data) FROM metadata"
    } else {
        "SELECT guid, NULL FROM metadata"
    });
    let mut params: Vec<String> = Vec::new();
    for (i, filter) in query.filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        let texts: Vec<&String> = filter
            .values
            .iter()
            .filter_map(|v| match v {
                FilterValue::Text(t) => Some(t),
                FilterValue::Present => None,
            })
            .collect();
        let mut alternatives = Vec::new();
        if !texts.is_empty() {
            let marks = vec!["?"; texts.len()].join(", ");
            alternatives.push(format!("{} IN ({marks})", text_at(&filter.path)));
            params.extend(texts.into_iter().cloned());
        }
        if filter.values.contains(&FilterValue::Present) {
            alternatives.push(format!(
                "json_type(data, {}) IS NOT NULL",
                json_path(&filter.path)
            ));
        }
        sql.push('(');
        sql.push_str(&alternatives.join(" OR "));
        sql.push(')');
    }
    sql.push_str(&format!(
        " ORDER BY guid LIMIT {} OFFSET {}",
        query.limit, query.offset
    ));
    (sql, params)
}

#[async_trait]
impl MetadataStore for SqliteStore {
    async fn metadata(&self, guid: &str) -> StoreResult<Option<String>> {
        let guid = guid.to_owned();
        self.read_point(move |conn| {
            let text = match data_of(conn, &guid)? {
                Some(t) => Some(t),
                None => conn
                    .prepare_cached(
                        "SELECT json(m.data) FROM metadata_alias a JOIN metadata m ON m.guid = a.guid \
                         WHERE a.alias = ?1",
                    )
                    .and_then(|mut s| s.query_row([&guid], |r| r.get(0)).optional())
                    .map_err(backend)?,
            };
            Ok(text)
        })
        .await
    }

    async fn metadata_authz(&self, guid: &str) -> StoreResult<Option<RawJson>> {
        let guid = guid.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached("SELECT authz FROM metadata WHERE guid = ?1")
                .and_then(|mut s| s.query_row([&guid], |r| r.get::<_, String>(0)).optional())
                .map_err(backend)?
                .map(raw)
                .transpose()
        })
        .await
    }

    async fn put_metadata(
        &self,
        guid: &str,
        data: RawJson,
        authz: RawJson,
        overwrite: bool,
    ) -> StoreResult<Written> {
        let guid = guid.to_owned();
        self.write(move |conn| {
            put(conn, &guid, data.get(), authz.get(), overwrite)?
                .ok_or_else(|| StoreError::AlreadyExists(format!("Conflict: {guid}")))
        })
        .await
    }

    async fn put_metadata_batch(
        &self,
        items: Vec<(String, RawJson)>,
        authz: RawJson,
        overwrite: bool,
    ) -> StoreResult<BatchOutcome> {
        self.write(move |conn| {
            let mut out = BatchOutcome::default();
            for (guid, data) in items {
                match put(conn, &guid, data.get(), authz.get(), overwrite)? {
                    Some(Written::Created) => out.created.push(guid),
                    Some(Written::Updated) => out.updated.push(guid),
                    None => out.conflict.push(guid),
                }
            }
            Ok(out)
        })
        .await
    }

    async fn update_metadata(
        &self,
        guid: &str,
        data: RawJson,
        merge: bool,
    ) -> StoreResult<RawJson> {
        let guid = guid.to_owned();
        self.write(move |conn| {
            let old = data_of(conn, &guid)?.ok_or_else(not_found)?;
            let new = if merge {
                shallow_merge(&raw(old)?, &data).ok_or_else(|| {
                    StoreError::Backend(format!("{guid}: stored data is not an object"))
                })?
            } else {
                data
            };
            conn.prepare_cached("UPDATE metadata SET data = jsonb(?2) WHERE guid = ?1")
                .and_then(|mut s| s.execute((&guid, new.get())))
                .map_err(backend)?;
            Ok(new)
        })
        .await
    }

    async fn delete_metadata(&self, guid: &str) -> StoreResult<RawJson> {
        let guid = guid.to_owned();
        self.write(move |conn| {
            let old = data_of(conn, &guid)?.ok_or_else(not_found)?;
            conn.prepare_cached("DELETE FROM metadata WHERE guid = ?1")
                .and_then(|mut s| s.execute([&guid]))
                .map_err(backend)?;
            raw(old)
        })
        .await
    }

    async fn query_metadata(
        &self,
        query: MetadataQuery,
    ) -> StoreResult<Vec<(String, Option<RawJson>)>> {
        self.read(move |conn| {
            let (sql, params) = query_sql(&query);
            let mut stmt = conn.prepare_cached(&sql).map_err(backend)?;
            let rows = stmt
                .query_map(params_from_iter(params.iter()), |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (guid, data) = row.map_err(backend)?;
                out.push((guid, data.map(raw).transpose()?));
            }
            Ok(out)
        })
        .await
    }

    async fn metadata_aliases(&self, guid: &str) -> StoreResult<Vec<String>> {
        let guid = guid.to_owned();
        self.read_point(move |conn| aliases_of(conn, &guid)).await
    }

    async fn set_metadata_aliases(
        &self,
        guid: &str,
        aliases: Vec<String>,
        mode: AliasMode,
    ) -> StoreResult<Vec<String>> {
        let guid = guid.to_owned();
        self.write(move |conn| {
            data_of(conn, &guid)?.ok_or_else(not_found)?;
            let have = aliases_of(conn, &guid)?;
            if mode == AliasMode::Create && !have.is_empty() {
                return Err(StoreError::AlreadyExists(format!(
                    "Conflict: {guid} already has aliases; use PUT to change them"
                )));
            }
            if mode == AliasMode::Replace {
                for old in have.iter().filter(|a| !aliases.contains(a)) {
                    conn.prepare_cached("DELETE FROM metadata_alias WHERE alias = ?1")
                        .and_then(|mut s| s.execute([old]))
                        .map_err(backend)?;
                }
            }
            for alias in &aliases {
                let owner: Option<String> = conn
                    .prepare_cached("SELECT guid FROM metadata_alias WHERE alias = ?1")
                    .and_then(|mut s| s.query_row([alias], |r| r.get(0)).optional())
                    .map_err(backend)?;
                match owner {
                    Some(o) if o == guid => {}
                    Some(o) => {
                        return Err(StoreError::AlreadyExists(format!(
                            "Conflict: alias {alias} already belongs to {o}"
                        )));
                    }
                    None => {
                        conn.prepare_cached(
                            "INSERT INTO metadata_alias (alias, guid) VALUES (?1, ?2)",
                        )
                        .and_then(|mut s| s.execute((alias, &guid)))
                        .map_err(backend)?;
                    }
                }
            }
            aliases_of(conn, &guid)
        })
        .await
    }

    async fn delete_metadata_alias(&self, guid: &str, alias: &str) -> StoreResult<()> {
        let (guid, alias) = (guid.to_owned(), alias.to_owned());
        self.write(move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM metadata_alias WHERE guid = ?1 AND alias = ?2")
                .and_then(|mut s| s.execute((&guid, &alias)))
                .map_err(backend)?;
            if n == 0 { Err(not_found()) } else { Ok(()) }
        })
        .await
    }

    async fn delete_metadata_aliases(&self, guid: &str) -> StoreResult<()> {
        let guid = guid.to_owned();
        self.write(move |conn| {
            let n = conn
                .prepare_cached("DELETE FROM metadata_alias WHERE guid = ?1")
                .and_then(|mut s| s.execute([&guid]))
                .map_err(backend)?;
            if n == 0 { Err(not_found()) } else { Ok(()) }
        })
        .await
    }

    async fn metadata_index_paths(&self) -> StoreResult<Vec<FieldPath>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT path FROM metadata_index_path ORDER BY path")
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let dotted = row.map_err(backend)?;
                out.extend(FieldPath::parse(&dotted));
            }
            Ok(out)
        })
        .await
    }

    async fn create_metadata_index(&self, path: FieldPath) -> StoreResult<()> {
        self.write(move |conn| {
            let name = index_name(&path);
            let added = conn
                .prepare_cached(
                    "INSERT INTO metadata_index_path (path, index_name) VALUES (?1, ?2) \
                     ON CONFLICT (path) DO NOTHING",
                )
                .and_then(|mut s| s.execute((path.dotted(), &name)))
                .map_err(backend)?;
            if added == 0 {
                return Err(StoreError::AlreadyExists(format!(
                    "index on {} already exists",
                    path.dotted()
                )));
            }
            conn.execute_batch(&format!(
                "CREATE INDEX {name} ON metadata ({}, guid)",
                text_at(&path)
            ))
            .map_err(backend)
        })
        .await
    }

    async fn drop_metadata_index(&self, path: FieldPath) -> StoreResult<()> {
        self.write(move |conn| {
            let name: Option<String> = conn
                .prepare_cached(
                    "DELETE FROM metadata_index_path WHERE path = ?1 RETURNING index_name",
                )
                .and_then(|mut s| s.query_row([path.dotted()], |r| r.get(0)).optional())
                .map_err(backend)?;
            let name = name.ok_or_else(not_found)?;
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))
                .map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use weft_store::{MetadataFilter, MetadataStore as _};

    use super::*;

    /// Documents as the service writes them (serde_json's compact text, keys in input order),
    /// with the spellings JSONB must keep: float forms, integers past i64, escapes, non-ASCII.
    fn awkward_docs() -> Vec<(String, String)> {
        let docs = [
            json!({"z": 1, "a": {"b": "v0", "y": [1.5, -0.0, 1e20, 1e-7, 0.1]}, "e": {}, "l": []}),
            json!({"a": {"b": "v1"}, "big": u64::MAX, "neg": i64::MIN, "max": f64::MAX,
                   "tiny": 5e-324, "n": null, "t": true}),
            json!({"a": {"b": "q\"b\\s/\n\t\u{1}\u{7f}\u{2028}é😀"}, "k\"ey": "x"}),
            json!({"a": {"b": 3}, "nested": {"deep": {"deeper": [{"x": [[]]}, "s"]}}}),
        ];
        docs.iter()
            .enumerate()
            .map(|(n, d)| (format!("g{n}"), serde_json::to_string(d).unwrap()))
            .collect()
    }

    fn raw_of(text: &str) -> RawJson {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    fn open_authz() -> RawJson {
        raw_of(r#"{"version":0,"_resource_paths":["/open"]}"#)
    }

    async fn column_types(store: &SqliteStore) -> Vec<String> {
        store
            .read(|conn| {
                let mut stmt = conn
                    .prepare("SELECT typeof(data) FROM metadata ORDER BY guid")
                    .map_err(backend)?;
                let rows = stmt.query_map([], |r| r.get(0)).map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<String>>>()
                    .map_err(backend)
            })
            .await
            .unwrap()
    }

    /// Every way a document is read gives back the bytes written, and filters on JSONB compare
    /// the same text as on JSON text.
    async fn assert_served_as_written(store: &SqliteStore, docs: &[(String, String)]) {
        for (guid, text) in docs {
            assert_eq!(
                store.metadata(guid).await.unwrap().as_deref(),
                Some(text.as_str())
            );
        }
        let all = MetadataQuery {
            filters: vec![],
            limit: 100,
            offset: 0,
            with_data: true,
        };
        let rows = store.query_metadata(all).await.unwrap();
        let served: Vec<(String, String)> = rows
            .into_iter()
            .map(|(g, d)| (g, d.unwrap().get().to_owned()))
            .collect();
        assert_eq!(served, docs);
        let filter = |path: &str, value: &str| MetadataQuery {
            filters: vec![MetadataFilter {
                path: FieldPath::parse(path).unwrap(),
                values: vec![FilterValue::Text(value.to_owned())],
            }],
            limit: 100,
            offset: 0,
            with_data: false,
        };
        for (path, value, want) in [
            ("a.b", "v1", vec!["g1"]),
            ("a.b", "3", vec!["g3"]),
            ("a.b", "q\"b\\s/\n\t\u{1}\u{7f}\u{2028}é😀", vec!["g2"]),
            ("a.y", "[1.5,-0.0,1e+20,1e-7,0.1]", vec!["g0"]),
            ("big", "18446744073709551615", vec!["g1"]),
            ("n", "null", vec![]),
        ] {
            let got: Vec<String> = store
                .query_metadata(filter(path, value))
                .await
                .unwrap()
                .into_iter()
                .map(|(g, _)| g)
                .collect();
            assert_eq!(got, want, "{path}={value}");
        }
    }

    /// Documents are stored as JSONB, so an unindexed filter reads the stored tree instead of
    /// parsing text; reads still give back exactly the compact text the service wrote.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn documents_are_jsonb_and_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("m.db"), 1).unwrap();
        let docs = awkward_docs();
        let (first, rest) = docs.split_first().unwrap();
        store
            .put_metadata(&first.0, raw_of(&first.1), open_authz(), false)
            .await
            .unwrap();
        let batch = rest.iter().map(|(g, t)| (g.clone(), raw_of(t))).collect();
        store
            .put_metadata_batch(batch, open_authz(), false)
            .await
            .unwrap();
        assert_eq!(column_types(&store).await, ["blob"; 4]);
        assert_served_as_written(&store, &docs).await;

        // overwrite, replace, merge and delete keep the same bytes
        let (g, t) = &docs[1];
        store
            .put_metadata(g, raw_of(t), open_authz(), true)
            .await
            .unwrap();
        let replaced = store.update_metadata(g, raw_of(t), false).await.unwrap();
        assert_eq!(replaced.get(), t);
        let merged = store
            .update_metadata(g, raw_of(r#"{"t":false,"new":1e+300}"#), true)
            .await
            .unwrap();
        let want = t.replace(r#""t":true"#, r#""t":false"#);
        let want = format!("{},\"new\":1e+300}}", &want[..want.len() - 1]);
        assert_eq!(merged.get(), want);
        assert_eq!(
            store.metadata(g).await.unwrap().as_deref(),
            Some(want.as_str())
        );
        let deleted = store.delete_metadata(g).await.unwrap();
        assert_eq!(deleted.get(), want);
        assert_eq!(column_types(&store).await, ["blob"; 3]);
    }

    /// Migration 0011 turns documents stored as JSON text (before it) into JSONB, and the
    /// key-path indexes made before it still answer filters with the same rows.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migration_0011_converts_text_documents_and_keeps_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.db");
        let docs = awkward_docs();
        {
            let store = SqliteStore::open(&path, 1).unwrap();
            let batch = docs.iter().map(|(g, t)| (g.clone(), raw_of(t))).collect();
            store
                .put_metadata_batch(batch, open_authz(), false)
                .await
                .unwrap();
            store
                .create_metadata_index(FieldPath::parse("a.b").unwrap())
                .await
                .unwrap();
            // back to the layout before 0011: documents as JSON text
            store
                .write(|conn| {
                    conn.execute_batch(
                        "UPDATE metadata SET data = json(data); \
                         DELETE FROM _weft_migrations WHERE version = 11;",
                    )
                    .map_err(backend)
                })
                .await
                .unwrap();
            assert_eq!(column_types(&store).await, ["text"; 4]);
        }
        assert_eq!(SqliteStore::migrate(&path).unwrap(), 1);
        let store = SqliteStore::open(&path, 1).unwrap();
        assert_eq!(column_types(&store).await, ["blob"; 4]);
        assert_served_as_written(&store, &docs).await;
        let check = store
            .read(|conn| {
                conn.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                    .map_err(backend)
            })
            .await
            .unwrap();
        assert_eq!(check, "ok");
    }

    /// An equality filter on an indexed path is answered from the index, not by a scan.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn indexed_filters_use_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("m.db"), 1).unwrap());
        let path = FieldPath::parse("gen3_discovery.project").unwrap();
        store.create_metadata_index(path.clone()).await.unwrap();
        let query = MetadataQuery {
            filters: vec![MetadataFilter {
                path,
                values: vec![FilterValue::Text("P1".into())],
            }],
            limit: 100,
            offset: 0,
            with_data: true,
        };
        let (sql, params) = query_sql(&query);
        let plan: Vec<String> = store
            .read(move |conn| {
                // A statement that runs reloads the schema this connection caches (the
                // index was made on the writer's connection); EXPLAIN alone would not.
                conn.query_row("SELECT COUNT(*) FROM metadata", [], |r| r.get::<_, i64>(0))
                    .map_err(backend)?;
                let mut stmt = conn
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))
                    .map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
            })
            .await
            .unwrap();
        let plan = plan.join("; ");
        assert!(
            plan.contains("USING INDEX metadata_path_idx_"),
            "the plan scans: {plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "the plan sorts: {plan}");
    }
}
