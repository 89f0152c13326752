//! `AuthzStore` on SQLite.

use async_trait::async_trait;
use rusqlite::Connection;
use weft_store::{AuthzChange, AuthzRows, AuthzStore, StoreError, StoreResult};

use crate::{SqliteStore, backend};

fn version(conn: &Connection) -> StoreResult<u64> {
    let v: i64 = conn
        .prepare_cached("SELECT version FROM authz_version WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(backend)?;
    u64::try_from(v).map_err(backend)
}

#[async_trait]
impl AuthzStore for SqliteStore {
    async fn authz_load(&self) -> StoreResult<AuthzRows> {
        self.read(|conn| {
            // One read transaction: the rows and the version agree.
            conn.execute_batch("BEGIN").map_err(backend)?;
            let result = (|| {
                let version = version(conn)?;
                let mut stmt = conn
                    .prepare("SELECT kind, key, body FROM authz_object")
                    .map_err(backend)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(backend)?
                    .collect::<rusqlite::Result<Vec<_>>>()
                    .map_err(backend)?;
                Ok(AuthzRows { version, rows })
            })();
            conn.execute_batch("COMMIT").map_err(backend)?;
            result
        })
        .await
    }

    async fn authz_write(&self, expected: u64, changes: Vec<AuthzChange>) -> StoreResult<u64> {
        self.write(move |conn| {
            if version(conn)? != expected {
                return Err(StoreError::RevisionMismatch);
            }
            for c in &changes {
                match &c.body {
                    Some(body) => conn
                        .prepare_cached(
                            "INSERT INTO authz_object (kind, key, body) VALUES (?1, ?2, ?3) \
                             ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
                        )
                        .and_then(|mut s| s.execute((&c.kind, &c.key, body))),
                    None => conn
                        .prepare_cached("DELETE FROM authz_object WHERE kind = ?1 AND key = ?2")
                        .and_then(|mut s| s.execute((&c.kind, &c.key))),
                }
                .map_err(backend)?;
            }
            conn.execute(
                "UPDATE authz_version SET version = version + 1 WHERE id = 1",
                [],
            )
            .map_err(backend)?;
            Ok(expected + 1)
        })
        .await
    }

    async fn authz_version(&self) -> StoreResult<u64> {
        self.read_point(version).await
    }

    async fn authz_watch(&self) -> StoreResult<Option<tokio::sync::watch::Receiver<u64>>> {
        Ok(None)
    }
}

#[async_trait]
impl weft_store::IdentityStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<weft_store::SigningKey>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT kid, private_pem, created_at FROM signing_key \
                     ORDER BY created_at DESC, kid DESC",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(weft_store::SigningKey {
                        kid: r.get(0)?,
                        private_pem: r.get(1)?,
                        created_at: r.get(2)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn add_signing_key(&self, key: weft_store::SigningKey) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO signing_key (kid, private_pem, created_at) VALUES (?1, ?2, ?3)",
                (&key.kid, &key.private_pem, &key.created_at),
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::AlreadyExists(format!("signing key {} exists", key.kid))
                }
                e => backend(e),
            })?;
            Ok(())
        })
        .await
    }
}
