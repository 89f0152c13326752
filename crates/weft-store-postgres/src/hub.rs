//! `HubStore` on PostgreSQL. A replacement inserts the studies in chunks, each chunk one
//! statement binding whole columns as arrays (`UNNEST`), all in one transaction.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use weft_store::hub::sql;
use weft_store::{HubCommons, HubPull, HubScope, HubStore, HubStudy, StoreResult};

use crate::{PostgresStore, backend};

/// Studies per INSERT statement.
const CHUNK: usize = 5000;

const INSERT_STUDIES: &str = "INSERT INTO hub_study (commons, guid, commons_name, doc) \
     SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[])";

fn study_row(r: &PgRow) -> Result<HubStudy, sqlx::Error> {
    Ok(HubStudy {
        commons: r.try_get(0)?,
        guid: r.try_get(1)?,
        commons_name: r.try_get(2)?,
        doc: r.try_get(3)?,
    })
}

fn commons_row(r: &PgRow) -> Result<HubCommons, sqlx::Error> {
    Ok(HubCommons {
        name: r.try_get(0)?,
        info: r.try_get(1)?,
        summary: r.try_get(2)?,
        study_count: r.try_get(3)?,
        generation: r.try_get(4)?,
        last_attempt: r.try_get(5)?,
        last_success: r.try_get(6)?,
        last_error: r.try_get(7)?,
        failures: r.try_get(8)?,
    })
}

#[async_trait]
impl HubStore for PostgresStore {
    async fn replace_hub_studies(&self, pull: HubPull, studies: Vec<HubStudy>) -> StoreResult<i64> {
        let count = i64::try_from(studies.len()).map_err(backend)?;
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let generation: i64 = sqlx::query_scalar(sql::UPSERT_GOOD)
            .bind(&pull.commons)
            .bind(&pull.info)
            .bind(&pull.summary)
            .bind(count)
            .bind(pull.at)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(sql::DELETE_STUDIES)
            .bind(&pull.commons)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for chunk in studies.chunks(CHUNK) {
            let guids: Vec<&str> = chunk.iter().map(|s| s.guid.as_str()).collect();
            let names: Vec<&str> = chunk.iter().map(|s| s.commons_name.as_str()).collect();
            let docs: Vec<&str> = chunk.iter().map(|s| s.doc.as_str()).collect();
            sqlx::query(INSERT_STUDIES)
                .bind(&pull.commons)
                .bind(&guids)
                .bind(&names)
                .bind(&docs)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(generation)
    }

    async fn record_hub_failure(&self, commons: &str, at: i64, error: &str) -> StoreResult<()> {
        sqlx::query(sql::UPSERT_FAILURE)
            .bind(commons)
            .bind(at)
            .bind(error)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn hub_commons(&self) -> StoreResult<Vec<HubCommons>> {
        let rows = sqlx::query(sql::SELECT_COMMONS)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(commons_row)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }

    async fn remove_hub_commons(&self, commons: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query(sql::DELETE_STUDIES)
            .bind(commons)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let r = sqlx::query(sql::DELETE_COMMONS)
            .bind(commons)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn hub_studies(
        &self,
        scope: HubScope,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HubStudy>> {
        let (text, _) = sql::list(&scope);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(text));
        if let Some(v) = scope.value() {
            q = q.bind(v.to_owned());
        }
        let rows = q
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(study_row)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }

    async fn hub_count(&self, scope: HubScope) -> StoreResult<i64> {
        let (text, _) = sql::count(&scope);
        let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(text));
        if let Some(v) = scope.value() {
            q = q.bind(v.to_owned());
        }
        q.fetch_one(self.pool()).await.map_err(backend)
    }

    async fn hub_study(&self, guid: &str) -> StoreResult<Option<HubStudy>> {
        let row = sqlx::query(sql::SELECT_STUDY)
            .bind(guid)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        row.as_ref().map(study_row).transpose().map_err(backend)
    }
}
