//! Throwaway PostgreSQL databases for tests (this crate's and other crates'; enable the
//! `testing` feature to use it from elsewhere).
//!
//! Tests read the server from [`DATABASE_URL_ENV`]. When it is unset they are skipped with a
//! notice on stderr; when it is set but the server cannot be reached they fail. Each test
//! gets its own uniquely named database, so tests can run in parallel.

use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};
use weft_store::{StoreError, StoreResult};

/// The environment variable naming the PostgreSQL server tests use, as a URL whose database
/// the test user can connect to and whose user may `CREATE DATABASE`.
pub const DATABASE_URL_ENV: &str = "WEFT_TEST_DATABASE_URL";

/// The URL in [`DATABASE_URL_ENV`], if set and not blank.
#[must_use]
pub fn database_url() -> Option<String> {
    std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A freshly created, empty database, dropped again by [`TempDatabase::drop_database`] or,
/// failing that, when the value is dropped (also when a test panics).
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TempDatabase {
    /// A new database on the server of [`DATABASE_URL_ENV`]; `Ok(None)`, after printing a
    /// notice, when that is unset. An error when it is set and the database cannot be made.
    pub async fn from_env() -> StoreResult<Option<Self>> {
        let Some(url) = database_url() else {
            eprintln!("{DATABASE_URL_ENV} is unset: skipping a PostgreSQL test");
            return Ok(None);
        };
        Self::create(&url).await.map(Some)
    }

    /// A new database for a test that means nothing without PostgreSQL (this crate's own).
    /// When [`DATABASE_URL_ENV`] is unset it skips (`Ok(None)`, with a notice) on a
    /// developer's machine, but panics when `CI` is set: a CI run that forgot its database
    /// must fail, not pass with every PostgreSQL test skipped. `./test.sh` runs this crate
    /// only in its PostgreSQL leg.
    pub async fn for_postgres_only_test() -> StoreResult<Option<Self>> {
        if database_url().is_none() && std::env::var_os("CI").is_some() {
            panic!(
                "{DATABASE_URL_ENV} is unset but CI is: this PostgreSQL test cannot run \
                 (set {DATABASE_URL_ENV}, or run ./test.sh, which does)"
            );
        }
        Self::from_env().await
    }

    /// Create a uniquely named database through a connection to `admin_url`. The new
    /// database's URL is `admin_url` with its database name replaced.
    pub async fn create(admin_url: &str) -> StoreResult<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "weft_test_{}_{}_{nanos}",
            process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let url = with_database(admin_url, &name).ok_or_else(|| {
            StoreError::Backend(format!("{DATABASE_URL_ENV} is not a postgres:// URL"))
        })?;
        let mut conn = PgConnection::connect(admin_url).await.map_err(|e| {
            StoreError::Backend(format!("cannot connect to the test PostgreSQL server: {e}"))
        })?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot create database {name}: {e}")))?;
        let _ = conn.close().await;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
            dropped: false,
        })
    }

    /// The URL to connect to this database.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drop the database, ending any sessions still connected to it.
    pub async fn drop_database(mut self) -> StoreResult<()> {
        self.dropped = true;
        drop_database(&self.admin_url, &self.name).await
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // No async drop: run the DROP on a thread with its own runtime, which works both
        // inside and outside a Tokio runtime.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(drop_database(&admin_url, &name)),
                Err(e) => Err(StoreError::Backend(e.to_string())),
            }
        });
        if let Ok(Err(e)) = dropper.join() {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

async fn drop_database(admin_url: &str, name: &str) -> StoreResult<()> {
    let mut conn = PgConnection::connect(admin_url)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .map_err(|e| StoreError::Backend(format!("cannot drop database {name}: {e}")))?;
    let _ = conn.close().await;
    Ok(())
}

/// `url` with its database (the path) replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> Option<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority = base.find("://")? + 3;
    let path = base[authority..]
        .find('/')
        .map_or(base.len(), |i| authority + i);
    let mut out = format!("{}/{name}", &base[..path]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/t1")
        );
        assert_eq!(
            with_database("postgresql://u:p@h", "t2").as_deref(),
            Some("postgresql://u:p@h/t2")
        );
        assert_eq!(
            with_database("postgres://h/db?sslmode=disable", "t3").as_deref(),
            Some("postgres://h/t3?sslmode=disable")
        );
        assert_eq!(with_database("nonsense", "t4"), None);
    }

    #[tokio::test]
    async fn databases_are_created_and_dropped() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let name = db.name().to_owned();
        let mut conn = PgConnection::connect(db.url()).await.unwrap();
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(current, name);
        // dropping while a session is still open ends it
        let admin = database_url().unwrap();
        drop(db);
        let mut admin = PgConnection::connect(&admin).await.unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(left, 0);
    }
}
