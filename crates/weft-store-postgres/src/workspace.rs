//! `WorkspaceStore` on PostgreSQL. A change of more than one row (a meter, a pay model
//! made current) runs in one transaction.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use weft_store::workspace::sql;
use weft_store::{
    ExternalTokenRow, ManifestRow, Metered, PayModelRow, StoreError, StoreResult, UsageRow,
    WorkspaceRow, WorkspaceStore,
};

use crate::{PostgresStore, backend};

fn workspace_row(r: &PgRow) -> Result<WorkspaceRow, sqlx::Error> {
    Ok(WorkspaceRow {
        user: r.try_get(0)?,
        kind: r.try_get(1)?,
        backend: r.try_get(2)?,
        handle: r.try_get(3)?,
        state: r.try_get(4)?,
        detail: r.try_get(5)?,
        secret: r.try_get(6)?,
        account: r.try_get(7)?,
        api_key_id: r.try_get(8)?,
        started_at: r.try_get(9)?,
        stopped_at: r.try_get(10)?,
        last_activity: r.try_get(11)?,
        metered_to: r.try_get(12)?,
    })
}

fn pay_model_row(r: &PgRow) -> Result<PayModelRow, sqlx::Error> {
    Ok(PayModelRow {
        id: r.try_get(0)?,
        user: r.try_get(1)?,
        workspace_type: r.try_get(2)?,
        account_id: r.try_get(3)?,
        region: r.try_get(4)?,
        local: r.try_get(5)?,
        request_status: r.try_get(6)?,
        soft_limit: r.try_get(7)?,
        hard_limit: r.try_get(8)?,
        total_usage: r.try_get(9)?,
        current: r.try_get(10)?,
    })
}

fn metered_row(r: &PgRow) -> Result<Metered, sqlx::Error> {
    Ok(Metered {
        total_usage: r.try_get(0)?,
        soft_limit: r.try_get(1)?,
        hard_limit: r.try_get(2)?,
    })
}

fn usage_row(r: &PgRow) -> Result<UsageRow, sqlx::Error> {
    Ok(UsageRow {
        user: r.try_get(0)?,
        account: r.try_get(1)?,
        kind: r.try_get(2)?,
        from: r.try_get(3)?,
        to: r.try_get(4)?,
        cost: r.try_get(5)?,
    })
}

fn token_row(r: &PgRow) -> Result<ExternalTokenRow, sqlx::Error> {
    Ok(ExternalTokenRow {
        user: r.try_get(0)?,
        idp: r.try_get(1)?,
        refresh_token: r.try_get(2)?,
        expires: r.try_get(3)?,
    })
}

fn collect<T>(rows: &[PgRow], f: fn(&PgRow) -> Result<T, sqlx::Error>) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(f)
        .collect::<Result<_, _>>()
        .map_err(backend)
}

/// `sql::SELECT_METERED_TO`, locking the row until the transaction ends.
const SELECT_METERED_TO_FOR_UPDATE: &str =
    "SELECT metered_to FROM workspace WHERE username = $1 FOR UPDATE";

#[async_trait]
impl WorkspaceStore for PostgresStore {
    async fn put_workspace(&self, row: WorkspaceRow) -> StoreResult<()> {
        sqlx::query(sql::UPSERT_WORKSPACE)
            .bind(&row.user)
            .bind(&row.kind)
            .bind(&row.backend)
            .bind(&row.handle)
            .bind(&row.state)
            .bind(&row.detail)
            .bind(&row.secret)
            .bind(&row.account)
            .bind(&row.api_key_id)
            .bind(row.started_at)
            .bind(row.stopped_at)
            .bind(row.last_activity)
            .bind(row.metered_to)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn workspace(&self, user: &str) -> StoreResult<Option<WorkspaceRow>> {
        let row = sqlx::query(sql::SELECT_WORKSPACE)
            .bind(user)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        row.as_ref().map(workspace_row).transpose().map_err(backend)
    }

    async fn live_workspaces(&self) -> StoreResult<Vec<WorkspaceRow>> {
        let rows = sqlx::query(sql::SELECT_LIVE_WORKSPACES)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        collect(&rows, workspace_row)
    }

    async fn meter(&self, usage: UsageRow) -> StoreResult<Metered> {
        // Reading `metered_to` FOR UPDATE locks the workspace row: a concurrent meter of the
        // same workspace waits for this transaction, then charges only what is left.
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let metered_to: Option<i64> = sqlx::query_scalar(SELECT_METERED_TO_FOR_UPDATE)
            .bind(&usage.user)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        let account = usage.account.clone();
        let Some(usage) = usage.after(metered_to) else {
            // metered that far already: report the pay model as it is
            let row = sqlx::query(sql::SELECT_PAY_MODEL_NUMBERS)
                .bind(&account)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
            return row
                .as_ref()
                .map(metered_row)
                .transpose()
                .map_err(backend)?
                .ok_or(StoreError::NotFound);
        };
        sqlx::query(sql::SET_METERED_TO)
            .bind(&usage.user)
            .bind(usage.to)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let row = sqlx::query(sql::CHARGE_PAY_MODEL)
            .bind(&usage.account)
            .bind(usage.cost)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        // no such pay model: dropping `tx` rolls the moved `metered_to` back
        let metered = row
            .as_ref()
            .map(metered_row)
            .transpose()
            .map_err(backend)?
            .ok_or(StoreError::NotFound)?;
        sqlx::query(sql::INSERT_USAGE)
            .bind(&usage.user)
            .bind(&usage.account)
            .bind(&usage.kind)
            .bind(usage.from)
            .bind(usage.to)
            .bind(usage.cost)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(metered)
    }

    async fn put_pay_model(&self, row: PayModelRow) -> StoreResult<()> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        if row.current {
            sqlx::query(sql::CLEAR_OTHER_CURRENT)
                .bind(&row.user)
                .bind(&row.id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        sqlx::query(sql::UPSERT_PAY_MODEL)
            .bind(&row.id)
            .bind(&row.user)
            .bind(&row.workspace_type)
            .bind(&row.account_id)
            .bind(&row.region)
            .bind(row.local)
            .bind(&row.request_status)
            .bind(row.soft_limit)
            .bind(row.hard_limit)
            .bind(row.total_usage)
            .bind(row.current)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn set_current_pay_model(&self, user: &str, id: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let found: i64 = sqlx::query_scalar(sql::COUNT_USER_PAY_MODEL)
            .bind(user)
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        if found == 0 {
            return Ok(false);
        }
        sqlx::query(sql::CLEAR_OTHER_CURRENT)
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query(sql::MAKE_CURRENT)
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(true)
    }

    async fn reset_current_pay_model(&self, user: &str) -> StoreResult<()> {
        sqlx::query(sql::CLEAR_CURRENT)
            .bind(user)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn pay_models(&self, user: Option<&str>) -> StoreResult<Vec<PayModelRow>> {
        let rows = match user {
            Some(user) => {
                sqlx::query(sql::SELECT_USER_PAY_MODELS)
                    .bind(user)
                    .fetch_all(self.pool())
                    .await
            }
            None => {
                sqlx::query(sql::SELECT_PAY_MODELS)
                    .fetch_all(self.pool())
                    .await
            }
        }
        .map_err(backend)?;
        collect(&rows, pay_model_row)
    }

    async fn usage(&self, user: Option<&str>, since: i64) -> StoreResult<Vec<UsageRow>> {
        let rows = match user {
            Some(user) => {
                sqlx::query(sql::SELECT_USER_USAGE)
                    .bind(user)
                    .bind(since)
                    .fetch_all(self.pool())
                    .await
            }
            None => {
                sqlx::query(sql::SELECT_USAGE)
                    .bind(since)
                    .fetch_all(self.pool())
                    .await
            }
        }
        .map_err(backend)?;
        collect(&rows, usage_row)
    }

    async fn put_manifest(&self, row: ManifestRow) -> StoreResult<bool> {
        let r = sqlx::query(sql::INSERT_MANIFEST)
            .bind(&row.user)
            .bind(&row.folder)
            .bind(&row.filename)
            .bind(&row.body)
            .bind(row.created_ms)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn manifests(&self, user: &str, folder: &str) -> StoreResult<Vec<ManifestRow>> {
        let rows = sqlx::query(sql::SELECT_MANIFESTS)
            .bind(user)
            .bind(folder)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        collect(&rows, |r| {
            Ok(ManifestRow {
                user: r.try_get(0)?,
                folder: r.try_get(1)?,
                filename: r.try_get(2)?,
                body: String::new(),
                created_ms: r.try_get(3)?,
            })
        })
    }

    async fn manifest(
        &self,
        user: &str,
        folder: &str,
        filename: &str,
    ) -> StoreResult<Option<ManifestRow>> {
        let row = sqlx::query(sql::SELECT_MANIFEST)
            .bind(user)
            .bind(folder)
            .bind(filename)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        row.map(|r| -> Result<_, sqlx::Error> {
            Ok(ManifestRow {
                user: r.try_get(0)?,
                folder: r.try_get(1)?,
                filename: r.try_get(2)?,
                body: r.try_get(3)?,
                created_ms: r.try_get(4)?,
            })
        })
        .transpose()
        .map_err(backend)
    }

    async fn put_external_token(&self, row: ExternalTokenRow) -> StoreResult<()> {
        sqlx::query(sql::UPSERT_EXTERNAL_TOKEN)
            .bind(&row.user)
            .bind(&row.idp)
            .bind(&row.refresh_token)
            .bind(row.expires)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn external_tokens(&self, user: &str) -> StoreResult<Vec<ExternalTokenRow>> {
        let rows = sqlx::query(sql::SELECT_EXTERNAL_TOKENS)
            .bind(user)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        collect(&rows, token_row)
    }

    async fn delete_external_token(&self, user: &str, idp: &str) -> StoreResult<bool> {
        let r = sqlx::query(sql::DELETE_EXTERNAL_TOKEN)
            .bind(user)
            .bind(idp)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }
}
