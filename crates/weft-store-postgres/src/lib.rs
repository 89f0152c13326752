//! weft-store-postgres: the production backend, on a sqlx PostgreSQL pool.
//!
//! It owns the PostgreSQL schema (`migrations/`, the same version numbers as
//! `weft-store-sqlite`), the pool, and the `weft-store` traits implemented on them. Statements
//! come from the portable [`weft_store::sql`] module; only what PostgreSQL says differently
//! lives here: the upsert of index users, inserts that bind whole columns as arrays and
//! `UNNEST` them (a record with its side rows and aliases is one statement), and bulk imports
//! through `COPY`, rebuilding the indexes when the import outweighs the table (see `bulk`),
//! and the graph's lookups and changes on bound arrays (`= ANY`, `UNNEST`, see `graph`).
//! Every change of more than one row runs in one transaction.
//!
//! This crate must never know about HTTP or services, never decide policy, and never build
//! SQL by pasting values into the text: values are always bound.

mod authz;
pub use authz::AuthzFollower;
mod bulk;
mod bundle;
mod graph;
mod hub;
mod index;
mod metadata;
mod oauth;
mod point;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod workspace;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::migrate::Migrator;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{
    PgArgumentBuffer, PgDatabaseError, PgPool, PgPoolOptions, PgTypeInfo, Postgres,
};
use sqlx::{Encode, Type};
use weft_store::sql::Param;
use weft_store::{StoreError, StoreResult};

/// The embedded migrations, `migrations/NNNN_name.sql`.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL store: a connection pool. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
    /// Where the `LISTEN weft_authz` follower announces versions; set by
    /// [`PostgresStore::authz_follower`].
    authz_watch:
        std::sync::Arc<std::sync::OnceLock<std::sync::Arc<tokio::sync::watch::Sender<u64>>>>,
    /// The coalescing lookups by did (`point`), started on first use.
    point_reads: std::sync::Arc<std::sync::OnceLock<point::PointReads>>,
}

impl PostgresStore {
    /// Connect a pool of at most `max_connections` to `url` and apply pending migrations.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        apply_migrations(&pool).await?;
        Ok(Self {
            pool,
            authz_watch: std::sync::Arc::default(),
            point_reads: std::sync::Arc::default(),
        })
    }

    /// Apply pending migrations to the database at `url`; returns how many were applied.
    pub async fn migrate(url: &str) -> StoreResult<usize> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .map_err(|e| StoreError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        let applied = apply_migrations(&pool).await;
        pool.close().await;
        applied
    }

    /// The underlying pool, for callers that need to close it or watch its size.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Apply pending migrations to the database at `url`; returns how many were applied.
pub async fn migrate(url: &str) -> StoreResult<usize> {
    PostgresStore::migrate(url).await
}

async fn applied_migrations(pool: &PgPool) -> StoreResult<i64> {
    let table = MIGRATOR.table_name.as_ref();
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(pool)
        .await
        .map_err(backend)?;
    if !exists {
        return Ok(0);
    }
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {table} WHERE success"
    )))
    .fetch_one(pool)
    .await
    .map_err(backend)
}

async fn apply_migrations(pool: &PgPool) -> StoreResult<usize> {
    let before = applied_migrations(pool).await?;
    MIGRATOR
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(format!("migration: {e}")))?;
    let after = applied_migrations(pool).await?;
    Ok(usize::try_from(after - before).unwrap_or(0))
}

pub(crate) fn backend<E: std::fmt::Display + 'static>(e: E) -> StoreError {
    let any: &dyn std::any::Any = &e;
    if let Some(invalid) = any.downcast_ref::<sqlx::Error>().and_then(invalid_input) {
        return invalid;
    }
    StoreError::Backend(e.to_string())
}

/// SQLSTATEs of values PostgreSQL refuses as they are: `22021` (a NUL in text: "invalid
/// byte sequence for encoding"), `22P05` (a `\u0000` in JSONB: "unsupported Unicode escape
/// sequence"), `54000` (a value too large for an index entry: "index row size exceeds").
const INVALID_INPUT: [&str; 3] = ["22021", "22P05", "54000"];

/// The backstop for what the services check first: a value PostgreSQL refuses becomes an
/// invalid-input error (a 400), not a 500; SQLite would have stored it.
pub(crate) fn invalid_input(e: &sqlx::Error) -> Option<StoreError> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let code = db.code()?;
    INVALID_INPUT.contains(&code.as_ref()).then(|| {
        StoreError::Invalid(match code.as_ref() {
            "54000" => "a value is too long for the index".to_owned(),
            _ => "text must not contain NUL characters (U+0000)".to_owned(),
        })
    })
}

/// SQLSTATE of a unique violation.
const UNIQUE_VIOLATION: &str = "23505";

/// A unique violation's constraint name and the key value PostgreSQL reports for it.
///
/// The detail reads `Key (col)=(value) already exists.` (or `… is duplicated.` when a unique
/// index is built); for one-column keys the value is taken as is (it may itself contain
/// parentheses or commas).
pub(crate) fn unique_violation(e: &sqlx::Error) -> Option<(String, Option<String>)> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    if db.code().as_deref() != Some(UNIQUE_VIOLATION) {
        return None;
    }
    let constraint = db.constraint().unwrap_or_default().to_owned();
    let key = db
        .try_downcast_ref::<PgDatabaseError>()
        .and_then(PgDatabaseError::detail)
        .and_then(single_key_value)
        .map(str::to_owned);
    Some((constraint, key))
}

/// `value` from `Key (column)=(value) already exists.`, when the key has one column.
fn single_key_value(detail: &str) -> Option<&str> {
    let rest = detail.strip_prefix("Key (")?;
    let (columns, rest) = rest.split_once(")=(")?;
    if columns.contains(',') {
        return None;
    }
    rest.strip_suffix(") already exists.")
        .or_else(|| rest.strip_suffix(") is duplicated."))
}

/// A portable [`Param`] bound with the type it carries. SQL NULL is sent with no declared
/// type, so PostgreSQL infers it from the statement (a NULL `size` is a BIGINT, a NULL
/// `file_name` TEXT); texts and integers declare TEXT and INT8, which is what the portable
/// statements compare them with.
pub(crate) struct Bind(pub(crate) Param);

impl Type<Postgres> for Bind {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Bind {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        match &self.0 {
            Param::Text(s) => <&str as Encode<'_, Postgres>>::encode(s.as_str(), buf),
            Param::Int(i) => <i64 as Encode<'_, Postgres>>::encode_by_ref(i, buf),
            Param::Null => Ok(IsNull::Yes),
        }
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(match &self.0 {
            Param::Text(_) => <String as Type<Postgres>>::type_info(),
            Param::Int(_) => <i64 as Type<Postgres>>::type_info(),
            // OID 0: "unspecified", the server infers the type from the context.
            Param::Null => PgTypeInfo::with_oid(Oid(0)),
        })
    }

    fn size_hint(&self) -> usize {
        match &self.0 {
            Param::Text(s) => s.len(),
            Param::Int(_) => 8,
            Param::Null => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_versions_match_sqlite() {
        let postgres: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        let sqlite: Vec<i64> = weft_store_sqlite::MIGRATIONS
            .iter()
            .map(|(v, _, _)| *v)
            .collect();
        assert_eq!(postgres, sqlite);
    }

    #[test]
    fn key_values_are_read_from_details() {
        assert_eq!(
            single_key_value("Key (did)=(a(b)c) already exists."),
            Some("a(b)c")
        );
        assert_eq!(
            single_key_value("Key (name)=(x, y) already exists."),
            Some("x, y")
        );
        assert_eq!(
            single_key_value("Key (did, url)=(a, b) already exists."),
            None
        );
        assert_eq!(single_key_value("Key (did)=(x) is duplicated."), Some("x"));
        assert_eq!(single_key_value("something else"), None);
    }
}
