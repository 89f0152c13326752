//! `OAuthStore` on PostgreSQL.

use async_trait::async_trait;
use sqlx::Row as _;
use sqlx::postgres::PgRow;
use weft_store::{
    AuthCode, CodeRedemption, OAuthClient, OAuthStore, RefreshToken, Session, StoreError,
    StoreResult,
};

use crate::{PostgresStore, backend};

fn list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn unlist(r: &PgRow, i: usize) -> Result<Vec<String>, sqlx::Error> {
    let text: String = r.try_get(i)?;
    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

const CLIENT_COLUMNS: &str = "client_id, name, secret_hash, redirect_uris, allowed_scopes, \
                              grant_types, auto_approve, owner, created_at";

fn client_row(r: &PgRow) -> Result<OAuthClient, sqlx::Error> {
    Ok(OAuthClient {
        client_id: r.try_get(0)?,
        name: r.try_get(1)?,
        secret_hash: r.try_get(2)?,
        redirect_uris: unlist(r, 3)?,
        allowed_scopes: unlist(r, 4)?,
        grant_types: unlist(r, 5)?,
        auto_approve: r.try_get(6)?,
        owner: r.try_get(7)?,
        created_at: r.try_get(8)?,
    })
}

const CODE_COLUMNS: &str = "code_hash, client_id, username, redirect_uri, scopes, nonce, \
                            code_challenge, code_challenge_method, auth_time, expires_at";

fn code_row(r: &PgRow) -> Result<AuthCode, sqlx::Error> {
    Ok(AuthCode {
        code_hash: r.try_get(0)?,
        client_id: r.try_get(1)?,
        username: r.try_get(2)?,
        redirect_uri: r.try_get(3)?,
        scopes: unlist(r, 4)?,
        nonce: r.try_get(5)?,
        code_challenge: r.try_get(6)?,
        code_challenge_method: r.try_get(7)?,
        auth_time: r.try_get(8)?,
        expires_at: r.try_get(9)?,
    })
}

fn refresh_row(r: &PgRow) -> Result<RefreshToken, sqlx::Error> {
    Ok(RefreshToken {
        jti: r.try_get(0)?,
        username: r.try_get(1)?,
        client_id: r.try_get(2)?,
        code_hash: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        revoked: r.try_get(5)?,
    })
}

fn exists_error(what: String) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| {
        if crate::unique_violation(&e).is_some() {
            StoreError::AlreadyExists(what)
        } else {
            backend(e)
        }
    }
}

#[async_trait]
impl OAuthStore for PostgresStore {
    async fn add_client(&self, c: OAuthClient) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oauth_client ({CLIENT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        )))
        .bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(list(&c.redirect_uris))
        .bind(list(&c.allowed_scopes))
        .bind(list(&c.grant_types))
        .bind(c.auto_approve)
        .bind(&c.owner)
        .bind(c.created_at)
        .execute(self.pool())
        .await
        .map_err(exists_error(format!("client {} already exists", c.name)))?;
        Ok(())
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_client WHERE client_id = $1"
        )))
        .bind(client_id)
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(client_row).transpose().map_err(backend)
    }

    async fn clients(&self) -> StoreResult<Vec<OAuthClient>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CLIENT_COLUMNS} FROM oauth_client ORDER BY name"
        )))
        .fetch_all(self.pool())
        .await
        .map_err(backend)?;
        rows.iter()
            .map(client_row)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }

    async fn delete_client(&self, name: &str) -> StoreResult<bool> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        sqlx::query(
            "DELETE FROM refresh_token WHERE client_id IN \
             (SELECT client_id FROM oauth_client WHERE name = $1)",
        )
        .bind(name)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let r = sqlx::query("DELETE FROM oauth_client WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn add_code(&self, c: AuthCode) -> StoreResult<()> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oauth_code ({CODE_COLUMNS}, used) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE)"
        )))
        .bind(&c.code_hash)
        .bind(&c.client_id)
        .bind(&c.username)
        .bind(&c.redirect_uri)
        .bind(list(&c.scopes))
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(&c.code_challenge_method)
        .bind(c.auth_time)
        .bind(c.expires_at)
        .execute(self.pool())
        .await
        .map_err(exists_error("authorization code collision".into()))?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str) -> StoreResult<CodeRedemption> {
        // One statement marks the code spent and says whether it was spent before; the row
        // lock serializes concurrent redemptions. The statement text is made of constants.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE oauth_code AS n SET used = TRUE \
             FROM (SELECT code_hash, used FROM oauth_code WHERE code_hash = $1 FOR UPDATE) AS o \
             WHERE n.code_hash = o.code_hash \
             RETURNING {}, o.used",
            CODE_COLUMNS
                .split(", ")
                .map(|c| format!("n.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )))
        .bind(code_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        let Some(row) = row else {
            return Ok(CodeRedemption::Unknown);
        };
        let code = code_row(&row).map_err(backend)?;
        let was_used: bool = row.try_get(10).map_err(backend)?;
        Ok(if was_used {
            CodeRedemption::Reused(code)
        } else {
            CodeRedemption::Fresh(code)
        })
    }

    async fn add_refresh_token(&self, t: RefreshToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_token (jti, username, client_id, code_hash, expires_at, revoked) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&t.jti)
        .bind(&t.username)
        .bind(&t.client_id)
        .bind(&t.code_hash)
        .bind(t.expires_at)
        .bind(t.revoked)
        .execute(self.pool())
        .await
        .map_err(exists_error(format!("refresh token {} exists", t.jti)))?;
        Ok(())
    }

    async fn refresh_token(&self, jti: &str) -> StoreResult<Option<RefreshToken>> {
        let row = sqlx::query(
            "SELECT jti, username, client_id, code_hash, expires_at, revoked \
             FROM refresh_token WHERE jti = $1",
        )
        .bind(jti)
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.as_ref().map(refresh_row).transpose().map_err(backend)
    }

    async fn revoke_refresh_token(&self, jti: &str) -> StoreResult<bool> {
        let r = sqlx::query("UPDATE refresh_token SET revoked = TRUE WHERE jti = $1")
            .bind(jti)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn revoke_refresh_tokens_of_code(&self, code_hash: &str) -> StoreResult<u64> {
        let r = sqlx::query("UPDATE refresh_token SET revoked = TRUE WHERE code_hash = $1")
            .bind(code_hash)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(r.rows_affected())
    }

    async fn add_session(&self, s: Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO login_session (id_hash, username, idp, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id_hash)
        .bind(&s.username)
        .bind(&s.idp)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(self.pool())
        .await
        .map_err(exists_error("session collision".into()))?;
        Ok(())
    }

    async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        let row = sqlx::query(
            "SELECT id_hash, username, idp, created_at, expires_at FROM login_session \
             WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now)
        .fetch_optional(self.pool())
        .await
        .map_err(backend)?;
        row.map(|r| {
            Ok(Session {
                id_hash: r.try_get(0)?,
                username: r.try_get(1)?,
                idp: r.try_get(2)?,
                created_at: r.try_get(3)?,
                expires_at: r.try_get(4)?,
            })
        })
        .transpose()
        .map_err(|e: sqlx::Error| backend(e))
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let r = sqlx::query("DELETE FROM login_session WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(r.rows_affected() > 0)
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        let mut n = 0;
        for sql in [
            "DELETE FROM oauth_code WHERE expires_at <= $1",
            "DELETE FROM login_session WHERE expires_at <= $1",
            "DELETE FROM refresh_token WHERE expires_at <= $1",
        ] {
            n += sqlx::query(sql)
                .bind(now)
                .execute(self.pool())
                .await
                .map_err(backend)?
                .rows_affected();
        }
        Ok(n)
    }
}
