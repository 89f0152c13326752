//! `BundleStore` on PostgreSQL: the portable statements of [`weft_store::sql`], bound with
//! their types.

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{Postgres, Row, SqlSafeStr};
use weft_store::sql::{self, Param, RawBundle};
use weft_store::{BundleRecord, BundleStore, EntryKind, ListQuery, Page, StoreError, StoreResult};

use crate::{Bind, PostgresStore, backend, unique_violation};

/// Ids per statement in `get_bundles`.
const GET_MANY_CHUNK: usize = 1_000;

fn portable(text: impl SqlSafeStr, params: Vec<Param>) -> Query<'static, Postgres, PgArguments> {
    params
        .into_iter()
        .fold(sqlx::query(text), |q, p| q.bind(Bind(p)))
}

fn raw(row: &PgRow) -> Result<RawBundle, sqlx::Error> {
    Ok(RawBundle {
        bundle_id: row.try_get(0)?,
        name: row.try_get(1)?,
        size: row.try_get(2)?,
        checksums: row.try_get(3)?,
        members: row.try_get(4)?,
        description: row.try_get(5)?,
        version: row.try_get(6)?,
        aliases: row.try_get(7)?,
        created_time: row.try_get(8)?,
        updated_time: row.try_get(9)?,
    })
}

fn bundles(rows: &[PgRow]) -> StoreResult<Vec<BundleRecord>> {
    rows.iter()
        .map(|row| raw(row).map_err(backend)?.into_bundle())
        .collect()
}

impl PostgresStore {
    async fn fetch_bundles(
        &self,
        text: impl SqlSafeStr,
        params: Vec<Param>,
    ) -> StoreResult<Vec<BundleRecord>> {
        let rows = portable(text, params)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        bundles(&rows)
    }
}

#[async_trait]
impl BundleStore for PostgresStore {
    async fn create_bundle(&self, bundle: BundleRecord) -> StoreResult<()> {
        let taken = || StoreError::AlreadyExists(sql::bundle_exists(&bundle.bundle_id));
        // One statement: the record check and the insert see the same snapshot.
        let inserted = portable(sql::INSERT_BUNDLE, RawBundle::params(&bundle))
            .execute(self.pool())
            .await
            .map_err(|e| match unique_violation(&e) {
                Some(_) => taken(),
                None => backend(e),
            })?
            .rows_affected();
        if inserted == 0 {
            // a record has this id
            return Err(taken());
        }
        Ok(())
    }

    async fn get_bundle(&self, id: &str) -> StoreResult<Option<BundleRecord>> {
        let row = sqlx::query(sql::SELECT_BUNDLE)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        row.map(|r| raw(&r).map_err(backend)?.into_bundle())
            .transpose()
    }

    async fn get_bundles(&self, ids: Vec<String>) -> StoreResult<Vec<BundleRecord>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(GET_MANY_CHUNK) {
            let params = chunk.iter().map(|d| d.as_str().into()).collect();
            let text = sqlx::AssertSqlSafe(sql::select_bundles(chunk.len()));
            out.extend(self.fetch_bundles(text, params).await?);
        }
        Ok(out)
    }

    async fn delete_bundle(&self, id: &str) -> StoreResult<()> {
        let deleted = sqlx::query(sql::DELETE_BUNDLE)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(backend)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_bundles(&self, page: Page, limit: u32) -> StoreResult<Vec<BundleRecord>> {
        let stmt = sql::list_bundles(&page, limit);
        self.fetch_bundles(sqlx::AssertSqlSafe(stmt.text), stmt.params)
            .await
    }

    async fn list_entries(&self, query: ListQuery) -> StoreResult<Vec<(EntryKind, String)>> {
        let stmt = sql::list_entries(&query);
        let rows = portable(sqlx::AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get(0).map_err(backend)?;
                let id: String = row.try_get(1).map_err(backend)?;
                let kind = if kind == "bundle" {
                    EntryKind::Bundle
                } else {
                    EntryKind::Record
                };
                Ok((kind, id))
            })
            .collect()
    }
}
