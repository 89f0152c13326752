//! `HubStore` on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension as _, Row};
use weft_store::hub::sql;
use weft_store::{HubCommons, HubPull, HubScope, HubStore, HubStudy, StoreResult};

use crate::{SqliteStore, backend, dialect};

fn study_row(r: &Row<'_>) -> rusqlite::Result<HubStudy> {
    Ok(HubStudy {
        commons: r.get(0)?,
        guid: r.get(1)?,
        commons_name: r.get(2)?,
        doc: r.get(3)?,
    })
}

fn commons_row(r: &Row<'_>) -> rusqlite::Result<HubCommons> {
    Ok(HubCommons {
        name: r.get(0)?,
        info: r.get(1)?,
        summary: r.get(2)?,
        study_count: r.get(3)?,
        generation: r.get(4)?,
        last_attempt: r.get(5)?,
        last_success: r.get(6)?,
        last_error: r.get(7)?,
        failures: r.get(8)?,
    })
}

#[async_trait]
impl HubStore for SqliteStore {
    async fn replace_hub_studies(&self, pull: HubPull, studies: Vec<HubStudy>) -> StoreResult<i64> {
        // one job: it runs in its own savepoint, so a failure anywhere rolls all of it back
        self.write(move |conn| {
            let count = i64::try_from(studies.len()).map_err(backend)?;
            let generation: i64 = conn
                .prepare_cached(&dialect(sql::UPSERT_GOOD))
                .and_then(|mut s| {
                    s.query_row(
                        (&pull.commons, &pull.info, &pull.summary, count, pull.at),
                        |r| r.get(0),
                    )
                })
                .map_err(backend)?;
            conn.prepare_cached(&dialect(sql::DELETE_STUDIES))
                .and_then(|mut s| s.execute([&pull.commons]))
                .map_err(backend)?;
            let mut insert = conn
                .prepare_cached(&dialect(sql::INSERT_STUDY))
                .map_err(backend)?;
            for st in &studies {
                insert
                    .execute((&pull.commons, &st.guid, &st.commons_name, &st.doc))
                    .map_err(backend)?;
            }
            Ok(generation)
        })
        .await
    }

    async fn record_hub_failure(&self, commons: &str, at: i64, error: &str) -> StoreResult<()> {
        let (commons, error) = (commons.to_owned(), error.to_owned());
        self.write(move |conn| {
            conn.prepare_cached(&dialect(sql::UPSERT_FAILURE))
                .and_then(|mut s| s.execute((&commons, at, &error)))
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn hub_commons(&self) -> StoreResult<Vec<HubCommons>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql::SELECT_COMMONS).map_err(backend)?;
            let rows = stmt.query_map([], commons_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn remove_hub_commons(&self, commons: &str) -> StoreResult<bool> {
        let commons = commons.to_owned();
        self.write(move |conn| {
            conn.prepare_cached(&dialect(sql::DELETE_STUDIES))
                .and_then(|mut s| s.execute([&commons]))
                .map_err(backend)?;
            let n = conn
                .prepare_cached(&dialect(sql::DELETE_COMMONS))
                .and_then(|mut s| s.execute([&commons]))
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

    async fn hub_studies(
        &self,
        scope: HubScope,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HubStudy>> {
        self.read(move |conn| {
            let (text, _) = sql::list(&scope);
            let mut stmt = conn.prepare_cached(&dialect(&text)).map_err(backend)?;
            let rows = match scope.value() {
                Some(v) => stmt.query_map((v, limit, offset), study_row),
                None => stmt.query_map((limit, offset), study_row),
            }
            .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn hub_count(&self, scope: HubScope) -> StoreResult<i64> {
        self.read_point(move |conn| {
            let (text, _) = sql::count(&scope);
            let mut stmt = conn.prepare_cached(&dialect(&text)).map_err(backend)?;
            match scope.value() {
                Some(v) => stmt.query_row([v], |r| r.get(0)),
                None => stmt.query_row([], |r| r.get(0)),
            }
            .map_err(backend)
        })
        .await
    }

    async fn hub_study(&self, guid: &str) -> StoreResult<Option<HubStudy>> {
        let guid = guid.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(&dialect(sql::SELECT_STUDY))
                .and_then(|mut s| s.query_row([&guid], study_row).optional())
                .map_err(backend)
        })
        .await
    }
}
