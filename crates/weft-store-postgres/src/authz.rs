//! `AuthzStore` on PostgreSQL, with `LISTEN/NOTIFY` so every weft sharing the database
//! learns of a change as it commits.

use std::sync::Arc;

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

/// Raise the watched version to `v` (never lower it).
fn raise(tx: &watch::Sender<u64>, v: u64) {
    tx.send_if_modified(|cur| {
        let newer = v > *cur;
        if newer {
            *cur = v;
        }
        newer
    });
}

/// Follows `LISTEN weft_authz` for the receivers [`AuthzStore::authz_watch`] hands out.
/// A server runs it as a supervised task ([`Self::run`]), and starts it again when it fails.
#[derive(Clone, Debug)]
pub struct AuthzFollower {
    pool: sqlx::PgPool,
    tx: Arc<watch::Sender<u64>>,
}

impl AuthzFollower {
    /// LISTEN on a connection of its own, read the stored version (so nothing committed
    /// before the LISTEN is missed), call `listening`, then pass every announced version
    /// on until `stop` resolves (`Ok`). When the connection is lost an error is returned:
    /// notifications may have been missed meanwhile, and the next run listens again and
    /// reads the version afresh.
    pub async fn run(
        &self,
        stop: impl std::future::Future<Output = ()>,
        listening: impl Fn(),
    ) -> StoreResult<()> {
        let mut listener = PgListener::connect_with(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("LISTEN {CHANNEL}: {e}")))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(|e| StoreError::Backend(format!("LISTEN {CHANNEL}: {e}")))?;
        raise(&self.tx, current_version(&self.pool).await?);
        listening();
        tokio::pin!(stop);
        loop {
            let next = tokio::select! {
                () = &mut stop => return Ok(()),
                n = listener.try_recv() => n,
            };
            match next {
                Ok(Some(n)) => {
                    if let Ok(v) = n.payload().parse::<u64>() {
                        raise(&self.tx, v);
                    }
                }
                Ok(None) => {
                    return Err(StoreError::Backend(format!(
                        "LISTEN {CHANNEL}: the connection was lost"
                    )));
                }
                Err(e) => return Err(StoreError::Backend(format!("LISTEN {CHANNEL}: {e}"))),
            }
        }
    }
}

impl PostgresStore {
    /// The follower of policy changes. From the first call on, [`AuthzStore::authz_watch`]
    /// hands out receivers it feeds, so the caller must keep it running (restarting it when
    /// it fails); before that, `authz_watch` answers `None` and callers read the version
    /// from the store instead.
    #[must_use]
    pub fn authz_follower(&self) -> AuthzFollower {
        let tx = self
            .authz_watch
            .get_or_init(|| Arc::new(watch::channel(0).0));
        AuthzFollower {
            pool: self.pool().clone(),
            tx: Arc::clone(tx),
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
        Ok(self.authz_watch.get().map(|tx| tx.subscribe()))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::testing::TempDatabase;

    fn change(key: &str) -> Vec<AuthzChange> {
        vec![AuthzChange {
            kind: "user".into(),
            key: key.into(),
            body: Some("{}".into()),
        }]
    }

    async fn until_version(rx: &mut watch::Receiver<u64>, v: u64) {
        tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|cur| *cur >= v))
            .await
            .expect("the version never arrived")
            .expect("the sender is gone");
    }

    /// No follower asked for: no watch (callers read the version). With one running, every
    /// other process's commit arrives; when its connection is killed, its run fails (to be
    /// restarted), and a new run reads what was committed meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_follower_feeds_the_watch_fails_on_a_lost_connection_and_catches_up() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 4).await.unwrap();
        let other = PostgresStore::connect(db.url(), 2).await.unwrap();
        assert!(store.authz_watch().await.unwrap().is_none());
        let v1 = other.authz_write(0, change("a")).await.unwrap();

        let follower = store.authz_follower();
        let mut rx = store.authz_watch().await.unwrap().expect("a watch");
        let (listening_tx, listening_rx) = tokio::sync::oneshot::channel::<()>();
        let listening_tx = std::sync::Mutex::new(Some(listening_tx));
        let f = follower.clone();
        let run = tokio::spawn(async move {
            f.run(std::future::pending(), || {
                if let Some(tx) = listening_tx.lock().unwrap().take() {
                    let _ = tx.send(());
                }
            })
            .await
        });
        listening_rx.await.unwrap();
        // Committed before the LISTEN: read at start.
        until_version(&mut rx, v1).await;
        let v2 = other.authz_write(v1, change("b")).await.unwrap();
        until_version(&mut rx, v2).await;

        // Kill the listening connection: the run ends with an error.
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%' \
             AND pid <> pg_backend_pid()",
        )
        .execute(other.pool())
        .await
        .unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the follower did not notice the lost connection")
            .unwrap();
        let err = ended
            .expect_err("a lost connection is an error")
            .to_string();
        assert!(err.contains("LISTEN weft_authz"), "{err}");

        // Missed while down; a new run (what the supervisor does) catches up.
        let v3 = other.authz_write(v2, change("c")).await.unwrap();
        assert_eq!(*rx.borrow(), v2);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let f = follower.clone();
        let run = tokio::spawn(async move {
            f.run(
                async {
                    let _ = stop_rx.await;
                },
                || {},
            )
            .await
        });
        until_version(&mut rx, v3).await;
        let v4 = other.authz_write(v3, change("d")).await.unwrap();
        until_version(&mut rx, v4).await;
        stop_tx.send(()).unwrap();
        run.await.unwrap().unwrap();

        store.pool().close().await;
        other.pool().close().await;
        db.drop_database().await.unwrap();
    }
}
