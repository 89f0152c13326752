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

fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<weft_store::ApiKey> {
    Ok(weft_store::ApiKey {
        jti: r.get(0)?,
        username: r.get(1)?,
        expires_at: r.get(2)?,
        revoked: r.get(3)?,
    })
}

#[async_trait]
impl weft_store::IdentityStore for SqliteStore {
    async fn add_api_key(&self, key: weft_store::ApiKey) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_key (jti, username, expires_at, revoked) VALUES (?1, ?2, ?3, ?4)",
                (&key.jti, &key.username, key.expires_at, key.revoked),
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn api_key(&self, jti: &str) -> StoreResult<Option<weft_store::ApiKey>> {
        let jti = jti.to_owned();
        self.read_point(move |conn| {
            use rusqlite::OptionalExtension as _;
            conn.prepare_cached(
                "SELECT jti, username, expires_at, revoked FROM api_key WHERE jti = ?1",
            )
            .and_then(|mut s| s.query_row([&jti], api_key_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn api_keys(&self, username: &str, now: i64) -> StoreResult<Vec<weft_store::ApiKey>> {
        let username = username.to_owned();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT jti, username, expires_at, revoked FROM api_key \
                     WHERE username = ?1 AND NOT revoked AND expires_at > ?2 ORDER BY expires_at",
                )
                .map_err(backend)?;
            let rows = stmt
                .query_map((&username, now), api_key_row)
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn revoke_api_key(&self, username: &str, jti: &str) -> StoreResult<bool> {
        let (username, jti) = (username.to_owned(), jti.to_owned());
        self.write(move |conn| {
            let n = conn
                .execute(
                    "UPDATE api_key SET revoked = TRUE WHERE jti = ?1 AND username = ?2",
                    (&jti, &username),
                )
                .map_err(backend)?;
            Ok(n > 0)
        })
        .await
    }

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
