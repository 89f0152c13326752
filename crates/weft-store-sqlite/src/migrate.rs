//! The embedded migration runner: numbered SQL files applied in order, each in a
//! transaction, recorded in `_weft_migrations`. The PostgreSQL backend has the same
//! numbers (checked by a test there).

use rusqlite::Connection;
use weft_store::{StoreError, StoreResult};

/// `(version, name, sql)` in order.
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "index", include_str!("../migrations/0001_index.sql")),
    (2, "bundles", include_str!("../migrations/0002_bundles.sql")),
    (3, "authz", include_str!("../migrations/0003_authz.sql")),
    (
        4,
        "identity",
        include_str!("../migrations/0004_identity.sql"),
    ),
    (
        5,
        "api_keys",
        include_str!("../migrations/0005_api_keys.sql"),
    ),
    (6, "oauth", include_str!("../migrations/0006_oauth.sql")),
    (
        7,
        "metadata",
        include_str!("../migrations/0007_metadata.sql"),
    ),
    (8, "hub", include_str!("../migrations/0008_hub.sql")),
    (
        9,
        "side_keys",
        include_str!("../migrations/0009_side_keys.sql"),
    ),
    (
        10,
        "record_rowid",
        include_str!("../migrations/0010_record_rowid.sql"),
    ),
    (
        11,
        "metadata_jsonb",
        include_str!("../migrations/0011_metadata_jsonb.sql"),
    ),
    (12, "graph", include_str!("../migrations/0012_graph.sql")),
    (
        13,
        "graph_commit",
        include_str!("../migrations/0013_graph_commit.sql"),
    ),
    (
        14,
        "graph_type_order",
        include_str!("../migrations/0014_graph_type_order.sql"),
    ),
    (
        15,
        "graph_feed",
        include_str!("../migrations/0015_graph_feed.sql"),
    ),
    (
        16,
        "workspace",
        include_str!("../migrations/0016_workspace.sql"),
    ),
];

pub(crate) fn apply(conn: &mut Connection) -> StoreResult<usize> {
    let be = |e: rusqlite::Error| StoreError::Backend(format!("migration: {e}"));
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _weft_migrations (version INTEGER PRIMARY KEY, \
         name TEXT NOT NULL, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    )
    .map_err(be)?;
    let mut applied = 0;
    for (version, name, sql) in MIGRATIONS {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(be)?;
        let done: bool = tx
            .query_row(
                "SELECT COUNT(*) > 0 FROM _weft_migrations WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .map_err(be)?;
        if !done {
            tx.execute_batch(sql).map_err(be)?;
            tx.execute(
                "INSERT INTO _weft_migrations (version, name) VALUES (?1, ?2)",
                (version, name),
            )
            .map_err(be)?;
            applied += 1;
        }
        tx.commit().map_err(be)?;
    }
    Ok(applied)
}
