//! `AuthzStore` on PostgreSQL, with `LISTEN/NOTIFY` so every weft sharing the database
//! learns of a change as it commits.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use weft_store::{AuthzChange, AuthzRows, AuthzStore, StoreError, StoreResult};

use crate::{PostgresStore, backend};

/// The channel changes are announced on; the payload is the new version.
const CHANNEL: &str = "weft_authz";

async fn current_version(pool: &sqlx::PgPool) -> StoreResult<u64> {
    let v: i64 = sqlx::query_scalar("SELECT version FROM authz_version WHERE id = 1")
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    u64::try_from(v).map_err(backend)
}

/// Follow the channel for as long as anyone holds a receiver. When the connection drops,
/// notifications may have been missed, so the version is read again after reconnecting.
async fn follow(pool: sqlx::PgPool, mut listener: PgListener, tx: watch::Sender<u64>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if tx.is_closed() {
            return;
        }
        match listener.try_recv().await {
            Ok(Some(n)) => {
                backoff = Duration::from_millis(100);
                if let Ok(v) = n.payload().parse::<u64>() {
                    tx.send_if_modified(|cur| {
                        let newer = v > *cur;
                        if newer {
                            *cur = v;
                        }
                        newer
                    });
                }
            }
            Ok(None) => {
                // Reconnected: catch up on whatever was missed meanwhile.
                if let Ok(v) = current_version(&pool).await {
                    tx.send_if_modified(|cur| {
                        let newer = v > *cur;
                        if newer {
                            *cur = v;
                        }
                        newer
                    });
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "LISTEN {CHANNEL} failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[async_trait]
impl AuthzStore for PostgresStore {
    async fn authz_load(&self) -> StoreResult<AuthzRows> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let v: i64 = sqlx::query_scalar("SELECT version FROM authz_version WHERE id = 1")
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)?;
        let rows = sqlx::query("SELECT kind, key, body FROM authz_object")
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(AuthzRows {
            version: u64::try_from(v).map_err(backend)?,
            rows,
        })
    }

    async fn authz_write(&self, expected: u64, changes: Vec<AuthzChange>) -> StoreResult<u64> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let v: i64 =
            sqlx::query_scalar("SELECT version FROM authz_version WHERE id = 1 FOR UPDATE")
                .fetch_one(&mut *tx)
                .await
                .map_err(backend)?;
        if u64::try_from(v).map_err(backend)? != expected {
            return Err(StoreError::RevisionMismatch);
        }
        let (upserts, deletes): (Vec<_>, Vec<_>) =
            changes.into_iter().partition(|c| c.body.is_some());
        if !upserts.is_empty() {
            let (kinds, (keys, bodies)): (Vec<String>, (Vec<String>, Vec<String>)) = upserts
                .into_iter()
                .map(|c| (c.kind, (c.key, c.body.unwrap_or_default())))
                .unzip();
            sqlx::query(
                "INSERT INTO authz_object (kind, key, body) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) \
                 ON CONFLICT (kind, key) DO UPDATE SET body = excluded.body",
            )
            .bind(kinds)
            .bind(keys)
            .bind(bodies)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        if !deletes.is_empty() {
            let (kinds, keys): (Vec<String>, Vec<String>) =
                deletes.into_iter().map(|c| (c.kind, c.key)).unzip();
            sqlx::query(
                "DELETE FROM authz_object o USING UNNEST($1::text[], $2::text[]) AS d(kind, key) \
                 WHERE o.kind = d.kind AND o.key = d.key",
            )
            .bind(kinds)
            .bind(keys)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        let new = expected + 1;
        let new_i = i64::try_from(new).map_err(backend)?;
        sqlx::query("UPDATE authz_version SET version = $1 WHERE id = 1")
            .bind(new_i)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(new.to_string())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(new)
    }

    async fn authz_version(&self) -> StoreResult<u64> {
        current_version(self.pool()).await
    }

    async fn authz_watch(&self) -> StoreResult<Option<watch::Receiver<u64>>> {
        let pool = self.pool().clone();
        let rx = self
            .authz_watch
            .get_or_try_init(|| async move {
                let mut listener = PgListener::connect_with(&pool).await.map_err(backend)?;
                listener.listen(CHANNEL).await.map_err(backend)?;
                // Read after LISTEN: nothing committed from here on can be missed.
                let v = current_version(&pool).await?;
                let (tx, rx) = watch::channel(v);
                tokio::spawn(follow(pool, listener, tx));
                Ok::<_, StoreError>(rx)
            })
            .await?;
        Ok(Some(rx.clone()))
    }
}

fn api_key_row(r: &sqlx::postgres::PgRow) -> Result<weft_store::ApiKey, sqlx::Error> {
    Ok(weft_store::ApiKey {
        jti: r.try_get(0)?,
        username: r.try_get(1)?,
        expires_at: r.try_get(2)?,
        revoked: r.try_get(3)?,
    })
}

#[async_trait]
impl weft_store::IdentityStore for PostgresStore {
    async fn add_api_key(&self, key: weft_store::ApiKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_key (jti, username, expires_at, revoked) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.jti)
        .bind(&key.username)
        .bind(key.expires_at)
        .bind(key.revoked)
        .execute(self.pool())
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn api_key(&self, jti: &str) -> StoreResult<Option<weft_store::ApiKey>> {
        let row =
            sqlx::query("SELECT jti, username, expires_at, revoked FROM api_key WHERE jti = $1")
                .bind(jti)
                .fetch_optional(self.pool())
                .await
                .map_err(backend)?;
        row.as_ref().map(api_key_row).transpose().map_err(backend)
    }

    async fn api_keys(&self, username: &str, now: i64) -> StoreResult<Vec<weft_store::ApiKey>> {
        let rows = sqlx::query(
            "SELECT jti, username, expires_at, revoked FROM api_key \
             WHERE username = $1 AND NOT revoked AND expires_at > $2 ORDER BY expires_at",
        )
        .bind(username)
        .bind(now)
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(api_key_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)
    }

    async fn revoke_api_key(&self, username: &str, jti: &str) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE api_key SET revoked = TRUE WHERE jti = $1 AND username = $2")
            .bind(jti)
            .bind(username)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn signing_keys(&self) -> StoreResult<Vec<weft_store::SigningKey>> {
        let rows = sqlx::query(
            "SELECT kid, private_pem, created_at FROM signing_key \
             ORDER BY created_at DESC, kid DESC",
        )
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(weft_store::SigningKey {
                    kid: r.try_get(0)?,
                    private_pem: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(backend)
    }

    async fn add_signing_key(&self, key: weft_store::SigningKey) -> StoreResult<()> {
        sqlx::query("INSERT INTO signing_key (kid, private_pem, created_at) VALUES ($1, $2, $3)")
            .bind(&key.kid)
            .bind(&key.private_pem)
            .bind(&key.created_at)
            .execute(self.pool())
            .await
            .map_err(|e| {
                if crate::unique_violation(&e).is_some() {
                    StoreError::AlreadyExists(format!("signing key {} exists", key.kid))
                } else {
                    backend(e)
                }
            })?;
        Ok(())
    }
}
