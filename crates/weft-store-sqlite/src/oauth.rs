//! `OAuthStore` on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, Row};
use weft_store::{
    AuthCode, CodeRedemption, OAuthClient, OAuthStore, RefreshToken, Session, StoreError,
    StoreResult,
};

use crate::{SqliteStore, backend};

fn list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

fn unlist(r: &Row<'_>, i: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

const CLIENT_COLUMNS: &str = "client_id, name, secret_hash, redirect_uris, allowed_scopes, \
                              grant_types, auto_approve, owner, created_at";

fn client_row(r: &Row<'_>) -> rusqlite::Result<OAuthClient> {
    Ok(OAuthClient {
        client_id: r.get(0)?,
        name: r.get(1)?,
        secret_hash: r.get(2)?,
        redirect_uris: unlist(r, 3)?,
        allowed_scopes: unlist(r, 4)?,
        grant_types: unlist(r, 5)?,
        auto_approve: r.get(6)?,
        owner: r.get(7)?,
        created_at: r.get(8)?,
    })
}

const CODE_COLUMNS: &str = "code_hash, client_id, username, redirect_uri, scopes, nonce, \
                            code_challenge, code_challenge_method, auth_time, expires_at, used";

fn code_row(r: &Row<'_>) -> rusqlite::Result<(AuthCode, bool)> {
    Ok((
        AuthCode {
            code_hash: r.get(0)?,
            client_id: r.get(1)?,
            username: r.get(2)?,
            redirect_uri: r.get(3)?,
            scopes: unlist(r, 4)?,
            nonce: r.get(5)?,
            code_challenge: r.get(6)?,
            code_challenge_method: r.get(7)?,
            auth_time: r.get(8)?,
            expires_at: r.get(9)?,
        },
        r.get(10)?,
    ))
}

fn refresh_row(r: &Row<'_>) -> rusqlite::Result<RefreshToken> {
    Ok(RefreshToken {
        jti: r.get(0)?,
        username: r.get(1)?,
        client_id: r.get(2)?,
        code_hash: r.get(3)?,
        expires_at: r.get(4)?,
        revoked: r.get(5)?,
    })
}

fn exists_error(what: String) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |e| match e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::AlreadyExists(what)
        }
        e => backend(e),
    }
}

fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(backend)
}

#[async_trait]
impl OAuthStore for SqliteStore {
    async fn add_client(&self, c: OAuthClient) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO oauth_client ({CLIENT_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                (
                    &c.client_id,
                    &c.name,
                    &c.secret_hash,
                    list(&c.redirect_uris),
                    list(&c.allowed_scopes),
                    list(&c.grant_types),
                    c.auto_approve,
                    &c.owner,
                    c.created_at,
                ),
            )
            .map_err(exists_error(format!("client {} already exists", c.name)))?;
            Ok(())
        })
        .await
    }

    async fn client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>> {
        let id = client_id.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {CLIENT_COLUMNS} FROM oauth_client WHERE client_id = ?1"
            ))
            .and_then(|mut s| s.query_row([&id], client_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn clients(&self) -> StoreResult<Vec<OAuthClient>> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT {CLIENT_COLUMNS} FROM oauth_client ORDER BY name"
                ))
                .map_err(backend)?;
            let rows = stmt.query_map([], client_row).map_err(backend)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(backend)
        })
        .await
    }

    async fn delete_client(&self, name: &str) -> StoreResult<bool> {
        let name = name.to_owned();
        self.write(move |conn| {
            execute(
                conn,
                "DELETE FROM refresh_token WHERE client_id IN \
                 (SELECT client_id FROM oauth_client WHERE name = ?1)",
                [&name],
            )?;
            Ok(execute(conn, "DELETE FROM oauth_client WHERE name = ?1", [&name])? > 0)
        })
        .await
    }

    async fn add_code(&self, c: AuthCode) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO oauth_code ({CODE_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, FALSE)"
                ),
                (
                    &c.code_hash,
                    &c.client_id,
                    &c.username,
                    &c.redirect_uri,
                    list(&c.scopes),
                    &c.nonce,
                    &c.code_challenge,
                    &c.code_challenge_method,
                    c.auth_time,
                    c.expires_at,
                ),
            )
            .map_err(exists_error("authorization code collision".into()))?;
            Ok(())
        })
        .await
    }

    async fn redeem_code(&self, code_hash: &str) -> StoreResult<CodeRedemption> {
        let hash = code_hash.to_owned();
        // The single writer runs this read-then-update alone: no two redemptions interleave.
        self.write(move |conn| {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {CODE_COLUMNS} FROM oauth_code WHERE code_hash = ?1"
                ))
                .and_then(|mut s| s.query_row([&hash], code_row).optional())
                .map_err(backend)?;
            Ok(match found {
                None => CodeRedemption::Unknown,
                Some((code, true)) => CodeRedemption::Reused(code),
                Some((code, false)) => {
                    execute(
                        conn,
                        "UPDATE oauth_code SET used = TRUE WHERE code_hash = ?1",
                        [&hash],
                    )?;
                    CodeRedemption::Fresh(code)
                }
            })
        })
        .await
    }

    async fn add_refresh_token(&self, t: RefreshToken) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO refresh_token (jti, username, client_id, code_hash, expires_at, \
                 revoked) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (
                    &t.jti,
                    &t.username,
                    &t.client_id,
                    &t.code_hash,
                    t.expires_at,
                    t.revoked,
                ),
            )
            .map_err(exists_error(format!("refresh token {} exists", t.jti)))?;
            Ok(())
        })
        .await
    }

    async fn refresh_token(&self, jti: &str) -> StoreResult<Option<RefreshToken>> {
        let jti = jti.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT jti, username, client_id, code_hash, expires_at, revoked \
                 FROM refresh_token WHERE jti = ?1",
            )
            .and_then(|mut s| s.query_row([&jti], refresh_row).optional())
            .map_err(backend)
        })
        .await
    }

    async fn revoke_refresh_token(&self, jti: &str) -> StoreResult<bool> {
        let jti = jti.to_owned();
        self.write(move |conn| {
            Ok(execute(
                conn,
                "UPDATE refresh_token SET revoked = TRUE WHERE jti = ?1",
                [&jti],
            )? > 0)
        })
        .await
    }

    async fn revoke_refresh_tokens_of_code(&self, code_hash: &str) -> StoreResult<u64> {
        let hash = code_hash.to_owned();
        self.write(move |conn| {
            let n = execute(
                conn,
                "UPDATE refresh_token SET revoked = TRUE WHERE code_hash = ?1",
                [&hash],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn add_session(&self, s: Session) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO login_session (id_hash, username, idp, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                (&s.id_hash, &s.username, &s.idp, s.created_at, s.expires_at),
            )
            .map_err(exists_error("session collision".into()))?;
            Ok(())
        })
        .await
    }

    async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        let hash = id_hash.to_owned();
        self.read_point(move |conn| {
            conn.prepare_cached(
                "SELECT id_hash, username, idp, created_at, expires_at FROM login_session \
                 WHERE id_hash = ?1 AND expires_at > ?2",
            )
            .and_then(|mut s| {
                s.query_row((&hash, now), |r| {
                    Ok(Session {
                        id_hash: r.get(0)?,
                        username: r.get(1)?,
                        idp: r.get(2)?,
                        created_at: r.get(3)?,
                        expires_at: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(backend)
        })
        .await
    }

    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool> {
        let hash = id_hash.to_owned();
        self.write(move |conn| {
            Ok(execute(
                conn,
                "DELETE FROM login_session WHERE id_hash = ?1",
                [&hash],
            )? > 0)
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> StoreResult<u64> {
        self.write(move |conn| {
            let mut n = 0;
            for sql in [
                "DELETE FROM oauth_code WHERE expires_at <= ?1",
                "DELETE FROM login_session WHERE expires_at <= ?1",
                "DELETE FROM refresh_token WHERE expires_at <= ?1",
            ] {
                n += execute(conn, sql, [now])?;
            }
            Ok(n as u64)
        })
        .await
    }
}
