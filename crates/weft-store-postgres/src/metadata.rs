//! `MetadataStore` on PostgreSQL: metadata as JSONB, key-path indexes as expression indexes
//! on `data #>> '{a,b}'` (the text at the path, which is what MDS filters compare).

use async_trait::async_trait;
use serde_json::value::RawValue;
use sqlx::{Postgres, Row as _, Transaction};
use weft_store::metadata::index_name;
use weft_store::{
    AliasMode, BatchOutcome, FieldPath, FilterValue, MetadataQuery, MetadataStore, RawJson,
    StoreError, StoreResult, Written,
};

use crate::{PostgresStore, backend};

/// `'{"a","b"}'`: the path as an SQL literal of a text array.
fn path_literal(path: &FieldPath) -> String {
    let keys: Vec<String> = path
        .keys()
        .iter()
        .map(|k| format!("\"{}\"", k.replace('\'', "''")))
        .collect();
    format!("'{{{}}}'", keys.join(","))
}

/// The value at `path` as text; the same expression the path's index is built on.
fn text_at(path: &FieldPath) -> String {
    format!("(data #>> {})", path_literal(path))
}

fn raw(text: String) -> StoreResult<RawJson> {
    RawValue::from_string(text).map_err(backend)
}

async fn begin(store: &PostgresStore) -> StoreResult<Transaction<'static, Postgres>> {
    store.pool().begin().await.map_err(backend)
}

async fn commit(tx: Transaction<'static, Postgres>) -> StoreResult<()> {
    tx.commit().await.map_err(backend)
}

/// Insert or (with `overwrite`) replace; `None` when it exists and `overwrite` is off.
async fn put(
    tx: &mut Transaction<'static, Postgres>,
    guid: &str,
    data: &str,
    authz: &str,
    overwrite: bool,
) -> StoreResult<Option<Written>> {
    let sql = if overwrite {
        "INSERT INTO metadata (guid, data, authz) VALUES ($1, $2::jsonb, $3::jsonb) \
         ON CONFLICT (guid) DO UPDATE SET data = EXCLUDED.data RETURNING (xmax = 0)"
    } else {
        "INSERT INTO metadata (guid, data, authz) VALUES ($1, $2::jsonb, $3::jsonb) \
         ON CONFLICT (guid) DO NOTHING RETURNING true"
    };
    let inserted: Option<bool> = sqlx::query_scalar(sql)
        .bind(guid)
        .bind(data)
        .bind(authz)
        .fetch_optional(&mut **tx)
        .await
        .map_err(backend)?;
    Ok(match inserted {
        Some(true) => Some(Written::Created),
        Some(false) => Some(Written::Updated),
        None => None,
    })
}

async fn aliases_of(exec: impl sqlx::PgExecutor<'_>, guid: &str) -> StoreResult<Vec<String>> {
    sqlx::query_scalar("SELECT alias FROM metadata_alias WHERE guid = $1 ORDER BY alias")
        .bind(guid)
        .fetch_all(exec)
        .await
        .map_err(backend)
}

/// The SQL of a metadata query and its parameters, in order.
fn query_sql(query: &MetadataQuery) -> (String, Vec<String>) {
    let mut sql = String::from(if query.with_data {
        "SELECT guid, data::text FROM metadata"
    } else {
        "SELECT guid, NULL::text FROM metadata"
    });
    let mut params: Vec<String> = Vec::new();
    for (i, filter) in query.filters.iter().enumerate() {
        sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        let mut alternatives = Vec::new();
        let texts: Vec<&String> = filter
            .values
            .iter()
            .filter_map(|v| match v {
                FilterValue::Text(t) => Some(t),
                FilterValue::Present => None,
            })
            .collect();
        if !texts.is_empty() {
            let first = params.len() + 1;
            let marks: Vec<String> = (first..first + texts.len())
                .map(|n| format!("${n}"))
                .collect();
            alternatives.push(format!(
                "{} IN ({})",
                text_at(&filter.path),
                marks.join(", ")
            ));
            params.extend(texts.into_iter().cloned());
        }
        if filter.values.contains(&FilterValue::Present) {
            alternatives.push(format!(
                "(data #> {}) IS NOT NULL",
                path_literal(&filter.path)
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
impl MetadataStore for PostgresStore {
    async fn metadata(&self, guid: &str) -> StoreResult<Option<String>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT data::text FROM metadata WHERE guid = $1 \
             UNION ALL \
             SELECT m.data::text FROM metadata_alias a JOIN metadata m ON m.guid = a.guid \
             WHERE a.alias = $1 \
             LIMIT 1",
        )
        .bind(guid)
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        Ok(text)
    }

    async fn metadata_authz(&self, guid: &str) -> StoreResult<Option<RawJson>> {
        let text: Option<String> =
            sqlx::query_scalar("SELECT authz::text FROM metadata WHERE guid = $1")
                .bind(guid)
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
        text.map(raw).transpose()
    }

    async fn put_metadata(
        &self,
        guid: &str,
        data: RawJson,
        authz: RawJson,
        overwrite: bool,
    ) -> StoreResult<Written> {
        let mut tx = begin(self).await?;
        let written = put(&mut tx, guid, data.get(), authz.get(), overwrite)
            .await?
            .ok_or_else(|| StoreError::AlreadyExists(format!("Conflict: {guid}")))?;
        commit(tx).await?;
        Ok(written)
    }

    async fn put_metadata_batch(
        &self,
        items: Vec<(String, RawJson)>,
        authz: RawJson,
        overwrite: bool,
    ) -> StoreResult<BatchOutcome> {
        let mut tx = begin(self).await?;
        let mut out = BatchOutcome::default();
        for (guid, data) in items {
            match put(&mut tx, &guid, data.get(), authz.get(), overwrite).await? {
                Some(Written::Created) => out.created.push(guid),
                Some(Written::Updated) => out.updated.push(guid),
                None => out.conflict.push(guid),
            }
        }
        commit(tx).await?;
        Ok(out)
    }

    async fn update_metadata(
        &self,
        guid: &str,
        data: RawJson,
        merge: bool,
    ) -> StoreResult<RawJson> {
        // jsonb `||` on two objects is exactly MDS's shallow merge.
        let sql = if merge {
            "UPDATE metadata SET data = data || $2::jsonb WHERE guid = $1 RETURNING data::text"
        } else {
            "UPDATE metadata SET data = $2::jsonb WHERE guid = $1 RETURNING data::text"
        };
        let text: Option<String> = sqlx::query_scalar(sql)
            .bind(guid)
            .bind(data.get())
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        raw(text.ok_or(StoreError::NotFound)?)
    }

    async fn delete_metadata(&self, guid: &str) -> StoreResult<RawJson> {
        let text: Option<String> =
            sqlx::query_scalar("DELETE FROM metadata WHERE guid = $1 RETURNING data::text")
                .bind(guid)
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
        raw(text.ok_or(StoreError::NotFound)?)
    }

    async fn query_metadata(
        &self,
        query: MetadataQuery,
    ) -> StoreResult<Vec<(String, Option<RawJson>)>> {
        let (sql, params) = query_sql(&query);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for p in params {
            q = q.bind(p);
        }
        let rows = q.fetch_all(self.pool()).await.map_err(backend)?;
        rows.into_iter()
            .map(|r| {
                let guid: String = r.try_get(0).map_err(backend)?;
                let data: Option<String> = r.try_get(1).map_err(backend)?;
                Ok((guid, data.map(raw).transpose()?))
            })
            .collect()
    }

    async fn metadata_aliases(&self, guid: &str) -> StoreResult<Vec<String>> {
        aliases_of(self.pool(), guid).await
    }

    async fn set_metadata_aliases(
        &self,
        guid: &str,
        aliases: Vec<String>,
        mode: AliasMode,
    ) -> StoreResult<Vec<String>> {
        let mut tx = begin(self).await?;
        // Lock the record, so concurrent alias changes of one GUID take turns.
        let exists: Option<bool> =
            sqlx::query_scalar("SELECT true FROM metadata WHERE guid = $1 FOR UPDATE")
                .bind(guid)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let have = aliases_of(&mut *tx, guid).await?;
        if mode == AliasMode::Create && !have.is_empty() {
            return Err(StoreError::AlreadyExists(format!(
                "Conflict: {guid} already has aliases; use PUT to change them"
            )));
        }
        if mode == AliasMode::Replace {
            let gone: Vec<&String> = have.iter().filter(|a| !aliases.contains(a)).collect();
            sqlx::query("DELETE FROM metadata_alias WHERE alias = ANY($1)")
                .bind(gone)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        for alias in &aliases {
            let owner: Option<String> = sqlx::query_scalar(
                "INSERT INTO metadata_alias (alias, guid) VALUES ($1, $2) \
                 ON CONFLICT (alias) DO UPDATE SET alias = EXCLUDED.alias RETURNING guid",
            )
            .bind(alias)
            .bind(guid)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
            if let Some(o) = owner.filter(|o| o != guid) {
                return Err(StoreError::AlreadyExists(format!(
                    "Conflict: alias {alias} already belongs to {o}"
                )));
            }
        }
        let now = aliases_of(&mut *tx, guid).await?;
        commit(tx).await?;
        Ok(now)
    }

    async fn delete_metadata_alias(&self, guid: &str, alias: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM metadata_alias WHERE guid = $1 AND alias = $2")
            .bind(guid)
            .bind(alias)
            .execute(self.pool())
            .await
            .map_err(backend)?
            .rows_affected();
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn delete_metadata_aliases(&self, guid: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM metadata_alias WHERE guid = $1")
            .bind(guid)
            .execute(self.pool())
            .await
            .map_err(backend)?
            .rows_affected();
        if n == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(())
        }
    }

    async fn metadata_index_paths(&self) -> StoreResult<Vec<FieldPath>> {
        let paths: Vec<String> =
            sqlx::query_scalar("SELECT path FROM metadata_index_path ORDER BY path")
                .fetch_all(self.pool())
                .await
                .map_err(backend)?;
        Ok(paths.iter().filter_map(|p| FieldPath::parse(p)).collect())
    }

    async fn create_metadata_index(&self, path: FieldPath) -> StoreResult<()> {
        let name = index_name(&path);
        let mut tx = begin(self).await?;
        let added = sqlx::query(
            "INSERT INTO metadata_index_path (path, index_name) VALUES ($1, $2) \
             ON CONFLICT (path) DO NOTHING",
        )
        .bind(path.dotted())
        .bind(&name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?
        .rows_affected();
        if added == 0 {
            return Err(StoreError::AlreadyExists(format!(
                "index on {} already exists",
                path.dotted()
            )));
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE INDEX IF NOT EXISTS {name} ON metadata ({}, guid)",
            text_at(&path)
        )))
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        commit(tx).await
    }

    async fn drop_metadata_index(&self, path: FieldPath) -> StoreResult<()> {
        let mut tx = begin(self).await?;
        let name: Option<String> = sqlx::query_scalar(
            "DELETE FROM metadata_index_path WHERE path = $1 RETURNING index_name",
        )
        .bind(path.dotted())
        .fetch_optional(&mut *tx)
        .await
        .map_err(backend)?;
        let name = name.ok_or(StoreError::NotFound)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX IF EXISTS {name}")))
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weft_store::{MetadataFilter, MetadataStore as _};

    use super::*;
    use crate::testing::TempDatabase;

    /// An equality filter on an indexed path is answered from the index, not by a scan.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn indexed_filters_use_the_index() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = Arc::new(PostgresStore::connect(db.url(), 2).await.unwrap());
        let path = FieldPath::parse("gen3_discovery.project").unwrap();
        store.create_metadata_index(path.clone()).await.unwrap();
        let rows = (0..5000)
            .map(|n| {
                let doc = serde_json::json!({"gen3_discovery": {"project": format!("P{n}")}});
                (
                    format!("g{n:05}"),
                    serde_json::value::to_raw_value(&doc).unwrap(),
                )
            })
            .collect();
        let authz = serde_json::value::to_raw_value(&serde_json::json!({})).unwrap();
        store.put_metadata_batch(rows, authz, false).await.unwrap();
        sqlx::query("ANALYZE metadata")
            .execute(store.pool())
            .await
            .unwrap();
        let query = MetadataQuery {
            filters: vec![MetadataFilter {
                path,
                values: vec![FilterValue::Text("P42".into())],
            }],
            limit: 100,
            offset: 0,
            with_data: true,
        };
        let (sql, params) = query_sql(&query);
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")));
        for p in params {
            q = q.bind(p);
        }
        let plan: Vec<String> = q.fetch_all(store.pool()).await.unwrap();
        let plan = plan.join("\n");
        assert!(
            plan.contains("metadata_path_idx_"),
            "the plan scans: {plan}"
        );
        assert!(!plan.contains("Seq Scan"), "the plan scans: {plan}");
        let found = store.query_metadata(query).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "g00042");
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }
}
