//! `BundleStore` on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row};
use weft_store::sql::{self, Param, RawBundle};
use weft_store::{BundleRecord, BundleStore, EntryKind, ListQuery, Page, StoreError, StoreResult};

use crate::{SqliteStore, backend, dialect, exec, to_value};

fn raw(row: &Row<'_>) -> rusqlite::Result<RawBundle> {
    Ok(RawBundle {
        bundle_id: row.get(0)?,
        name: row.get(1)?,
        size: row.get(2)?,
        checksums: row.get(3)?,
        members: row.get(4)?,
        description: row.get(5)?,
        version: row.get(6)?,
        aliases: row.get(7)?,
        created_time: row.get(8)?,
        updated_time: row.get(9)?,
    })
}

fn query_bundles(
    conn: &Connection,
    text: &str,
    params: &[Param],
) -> StoreResult<Vec<BundleRecord>> {
    let mut stmt = conn.prepare_cached(&dialect(text)).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter().map(to_value)), raw)
        .map_err(backend)?;
    let mut out = Vec::new();
    for r in rows {
        out.push(r.map_err(backend)?.into_bundle()?);
    }
    Ok(out)
}

#[async_trait]
impl BundleStore for SqliteStore {
    async fn create_bundle(&self, bundle: BundleRecord) -> StoreResult<()> {
        self.write(move |conn| {
            let taken = || StoreError::AlreadyExists(sql::bundle_exists(&bundle.bundle_id));
            let inserted = exec(conn, sql::INSERT_BUNDLE, &RawBundle::params(&bundle)).map_err(
                |e| match &e {
                    rusqlite::Error::SqliteFailure(f, _)
                        if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                    {
                        taken()
                    }
                    _ => backend(e),
                },
            )?;
            if inserted == 0 {
                // a record has this id
                return Err(taken());
            }
            Ok(())
        })
        .await
    }

    async fn get_bundle(&self, id: &str) -> StoreResult<Option<BundleRecord>> {
        let id = id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(&dialect(sql::SELECT_BUNDLE))
                .map_err(backend)?;
            stmt.query_row([&id], raw)
                .optional()
                .map_err(backend)?
                .map(RawBundle::into_bundle)
                .transpose()
        })
        .await
    }

    async fn get_bundles(&self, ids: Vec<String>) -> StoreResult<Vec<BundleRecord>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(move |conn| {
            let mut out = Vec::with_capacity(ids.len());
            // bounded statement sizes: SQLite limits bound parameters
            for chunk in ids.chunks(500) {
                let params: Vec<Param> = chunk.iter().map(|d| d.as_str().into()).collect();
                out.extend(query_bundles(
                    conn,
                    &sql::select_bundles(chunk.len()),
                    &params,
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn delete_bundle(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |conn| {
            match exec(conn, sql::DELETE_BUNDLE, &[id.into()]).map_err(backend)? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn list_bundles(&self, page: Page, limit: u32) -> StoreResult<Vec<BundleRecord>> {
        self.read(move |conn| {
            let stmt = sql::list_bundles(&page, limit);
            query_bundles(conn, &stmt.text, &stmt.params)
        })
        .await
    }

    async fn list_entries(&self, query: ListQuery) -> StoreResult<Vec<(EntryKind, String)>> {
        self.read(move |conn| {
            let stmt = sql::list_entries(&query);
            let mut prepared = conn.prepare_cached(&dialect(&stmt.text)).map_err(backend)?;
            let rows = prepared
                .query_map(
                    rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
                    |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
                )
                .map_err(backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (kind, id) = row.map_err(backend)?;
                let kind = if kind == "bundle" {
                    EntryKind::Bundle
                } else {
                    EntryKind::Record
                };
                out.push((kind, id));
            }
            Ok(out)
        })
        .await
    }
}
