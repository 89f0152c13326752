//! `WorkspaceStore` on SQLite. Each write is one writer job, so its savepoint makes a
//! multi-statement change (a meter, a pay model made current) all or nothing.

use async_trait::async_trait;
use rusqlite::{OptionalExtension as _, Row};
use weft_store::workspace::sql;
use weft_store::{
    ExternalTokenRow, ManifestRow, Metered, PayModelRow, StoreError, StoreResult, UsageRow,
    WorkspaceRow, WorkspaceStore,
};

use crate::{SqliteStore, backend, dialect};

fn workspace_row(r: &Row<'_>) -> rusqlite::Result<WorkspaceRow> {
    Ok(WorkspaceRow {
        user: r.get(0)?,
        kind: r.get(1)?,
        backend: r.get(2)?,
        handle: r.get(3)?,
        state: r.get(4)?,
        detail: r.get(5)?,
        secret: r.get(6)?,
        account: r.get(7)?,
        api_key_id: r.get(8)?,
        started_at: r.get(9)?,
        stopped_at: r.get(10)?,
        last_activity: r.get(11)?,
        metered_to: r.get(12)?,
    })
}

fn pay_model_row(r: &Row<'_>) -> rusqlite::Result<PayModelRow> {
    Ok(PayModelRow {
        id: r.get(0)?,
        user: r.get(1)?,
        workspace_type: r.get(2)?,
        account_id: r.get(3)?,
        region: r.get(4)?,
        local: r.get(5)?,
        request_status: r.get(6)?,
        soft_limit: r.get(7)?,
        hard_limit: r.get(8)?,
        total_usage: r.get(9)?,
        current: r.get(10)?,
    })
}

fn metered_row(r: &Row<'_>) -> rusqlite::Result<Metered> {
    Ok(Metered {
        total_usage: r.get(0)?,
        soft_limit: r.get(1)?,
        hard_limit: r.get(2)?,
    })
}

fn usage_row(r: &Row<'_>) -> rusqlite::Result<UsageRow> {
    Ok(UsageRow {
        user: r.get(0)?,
        account: r.get(1)?,
        kind: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        cost: r.get(5)?,
    })
}

fn token_row(r: &Row<'_>) -> rusqlite::Result<ExternalTokenRow> {
    Ok(ExternalTokenRow {
        user: r.get(0)?,
        idp: r.get(1)?,
        refresh_token: r.get(2)?,
        expires: r.get(3)?,
    })
}

#[async_trait]
impl WorkspaceStore for SqliteStore {
    async fn put_workspace(&self, row: WorkspaceRow) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(&dialect(sql::UPSERT_WORKSPACE))
                .and_then(|mut s| {
                    s.execute((
                        &row.user,
                        &row.kind,
                        &row.backend,
                        &row.handle,
                        &row.state,
                        &row.detail,
                        &row.secret,
                        &row.account,
                        &row.api_key_id,
                        row.started_at,
                        row.stopped_at,
                        row.last_activity,
                        row.metered_to,
                    ))
                })
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn workspace(&self, user: &str) -> StoreResult<Option<WorkspaceRow>> {
        let user = user.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(&dialect(sql::SELECT_WORKSPACE))
                .and_then(|mut s| s.query_row([&user], workspace_row).optional())
                .map_err(backend)
        })
        .await
    }

    async fn live_workspaces(&self) -> StoreResult<Vec<WorkspaceRow>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare_cached(sql::SELECT_LIVE_WORKSPACES)
                .map_err(backend)?;
            let rows = stmt.query_map([], workspace_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn meter(&self, usage: UsageRow) -> StoreResult<Metered> {
        // one job (the writer runs one at a time): an error (no such pay model) rolls back
        // the moved `metered_to` too
        self.write(move |conn| {
            let metered_to: Option<i64> = conn
                .prepare_cached(&dialect(sql::SELECT_METERED_TO))
                .and_then(|mut s| s.query_row([&usage.user], |r| r.get(0)).optional())
                .map_err(backend)?;
            let account = usage.account.clone();
            let Some(usage) = usage.after(metered_to) else {
                // metered that far already: report the pay model as it is
                return conn
                    .prepare_cached(&dialect(sql::SELECT_PAY_MODEL_NUMBERS))
                    .and_then(|mut s| s.query_row([&account], metered_row).optional())
                    .map_err(backend)?
                    .ok_or(StoreError::NotFound);
            };
            conn.prepare_cached(&dialect(sql::SET_METERED_TO))
                .and_then(|mut s| s.execute((&usage.user, usage.to)))
                .map_err(backend)?;
            let metered = conn
                .prepare_cached(&dialect(sql::CHARGE_PAY_MODEL))
                .and_then(|mut s| {
                    s.query_row((&usage.account, usage.cost), metered_row)
                        .optional()
                })
                .map_err(backend)?
                .ok_or(StoreError::NotFound)?;
            conn.prepare_cached(&dialect(sql::INSERT_USAGE))
                .and_then(|mut s| {
                    s.execute((
                        &usage.user,
                        &usage.account,
                        &usage.kind,
                        usage.from,
                        usage.to,
                        usage.cost,
                    ))
                })
                .map_err(backend)?;
            Ok(metered)
        })
        .await
    }

    async fn put_pay_model(&self, row: PayModelRow) -> StoreResult<()> {
        self.write(move |conn| {
            if row.current {
                conn.prepare_cached(&dialect(sql::CLEAR_OTHER_CURRENT))
                    .and_then(|mut s| s.execute((&row.user, &row.id)))
                    .map_err(backend)?;
            }
            conn.prepare_cached(&dialect(sql::UPSERT_PAY_MODEL))
                .and_then(|mut s| {
                    s.execute((
                        &row.id,
                        &row.user,
                        &row.workspace_type,
                        &row.account_id,
                        &row.region,
                        row.local,
                        &row.request_status,
                        row.soft_limit,
                        row.hard_limit,
                        row.total_usage,
                        row.current,
                    ))
                })
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn set_current_pay_model(&self, user: &str, id: &str) -> StoreResult<bool> {
        let (user, id) = (user.to_owned(), id.to_owned());
        self.write(move |conn| {
            let found: i64 = conn
                .prepare_cached(&dialect(sql::COUNT_USER_PAY_MODEL))
                .and_then(|mut s| s.query_row((&user, &id), |r| r.get(0)))
                .map_err(backend)?;
            if found == 0 {
                return Ok(false);
            }
            conn.prepare_cached(&dialect(sql::CLEAR_OTHER_CURRENT))
                .and_then(|mut s| s.execute((&user, &id)))
                .map_err(backend)?;
            conn.prepare_cached(&dialect(sql::MAKE_CURRENT))
                .and_then(|mut s| s.execute((&user, &id)))
                .map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn reset_current_pay_model(&self, user: &str) -> StoreResult<()> {
        let user = user.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(&dialect(sql::CLEAR_CURRENT))
                .and_then(|mut s| s.execute([&user]))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn pay_models(&self, user: Option<&str>) -> StoreResult<Vec<PayModelRow>> {
        let user = user.map(str::to_owned);
        self.read(move |conn| match user {
            Some(user) => {
                let mut stmt = conn
                    .prepare_cached(&dialect(sql::SELECT_USER_PAY_MODELS))
                    .map_err(backend)?;
                let rows = stmt.query_map([&user], pay_model_row).map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
            }
            None => {
                let mut stmt = conn
                    .prepare_cached(sql::SELECT_PAY_MODELS)
                    .map_err(backend)?;
                let rows = stmt.query_map([], pay_model_row).map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
            }
        })
        .await
    }

    async fn usage(&self, user: Option<&str>, since: i64) -> StoreResult<Vec<UsageRow>> {
        let user = user.map(str::to_owned);
        self.read(move |conn| match user {
            Some(user) => {
                let mut stmt = conn
                    .prepare_cached(&dialect(sql::SELECT_USER_USAGE))
                    .map_err(backend)?;
                let rows = stmt.query_map((&user, since), usage_row).map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
            }
            None => {
                let mut stmt = conn
                    .prepare_cached(&dialect(sql::SELECT_USAGE))
                    .map_err(backend)?;
                let rows = stmt.query_map([since], usage_row).map_err(backend)?;
                rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
            }
        })
        .await
    }

    async fn put_manifest(&self, row: ManifestRow) -> StoreResult<bool> {
        self.write(move |conn| {
            let n = conn
                .prepare_cached(&dialect(sql::INSERT_MANIFEST))
                .and_then(|mut s| {
                    s.execute((
                        &row.user,
                        &row.folder,
                        &row.filename,
                        &row.body,
                        row.created_ms,
                    ))
                })
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn manifests(&self, user: &str, folder: &str) -> StoreResult<Vec<ManifestRow>> {
        let (user, folder) = (user.to_owned(), folder.to_owned());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&dialect(sql::SELECT_MANIFESTS))
                .map_err(backend)?;
            let rows = stmt
                .query_map((&user, &folder), |r| {
                    Ok(ManifestRow {
                        user: r.get(0)?,
                        folder: r.get(1)?,
                        filename: r.get(2)?,
                        body: String::new(),
                        created_ms: r.get(3)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn manifest(
        &self,
        user: &str,
        folder: &str,
        filename: &str,
    ) -> StoreResult<Option<ManifestRow>> {
        let (user, folder, filename) = (user.to_owned(), folder.to_owned(), filename.to_owned());
        self.read_point(move |conn| {
            conn.prepare_cached(&dialect(sql::SELECT_MANIFEST))
                .and_then(|mut s| {
                    s.query_row((&user, &folder, &filename), |r| {
                        Ok(ManifestRow {
                            user: r.get(0)?,
                            folder: r.get(1)?,
                            filename: r.get(2)?,
                            body: r.get(3)?,
                            created_ms: r.get(4)?,
                        })
                    })
                    .optional()
                })
                .map_err(backend)
        })
        .await
    }

    async fn put_external_token(&self, row: ExternalTokenRow) -> StoreResult<()> {
        self.write(move |conn| {
            conn.prepare_cached(&dialect(sql::UPSERT_EXTERNAL_TOKEN))
                .and_then(|mut s| s.execute((&row.user, &row.idp, &row.refresh_token, row.expires)))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn external_tokens(&self, user: &str) -> StoreResult<Vec<ExternalTokenRow>> {
        let user = user.to_owned();
        self.read_point(move |conn| {
            let mut stmt = conn
                .prepare_cached(&dialect(sql::SELECT_EXTERNAL_TOKENS))
                .map_err(backend)?;
            let rows = stmt.query_map([&user], token_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_external_token(&self, user: &str, idp: &str) -> StoreResult<bool> {
        let (user, idp) = (user.to_owned(), idp.to_owned());
        self.write(move |conn| {
            let n = conn
                .prepare_cached(&dialect(sql::DELETE_EXTERNAL_TOKEN))
                .and_then(|mut s| s.execute((&user, &idp)))
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }
}
