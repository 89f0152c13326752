//! `GraphStore` on SQLite.
//!
//! Lookups of many ids are one statement each, whatever their number: the ids are bound as
//! one JSON array and read back with `json_each`, which drives the primary-key (or index)
//! searches; so the statement text never changes and stays in each connection's cache. A
//! change is one job of the group-committing writer, so it runs in its own savepoint and a
//! failure anywhere rolls back all of it and nothing else.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, Row};
use weft_store::graph::sql::{self, Dialect};
use weft_store::sql::{Param, Sql};
use weft_store::{
    FeedEntry, GraphChange, GraphEdge, GraphLink, GraphListQuery, GraphLogEntry, GraphNode,
    GraphStore, GraphTransaction, LinkedQuery, NodeFilter, NodeQuery, StoreError, StoreResult,
    TransactionQuery, UniqueKey,
};

use crate::index::{guarded_update, insert_alias, insert_record, is_unique_violation};
use crate::{SqliteStore, backend, dialect, exec, to_value};

/// Lookups of at most this many ids run as point reads (on the calling thread when a read
/// connection is free); larger ones on the blocking pool.
const POINT_IDS: usize = 100;

/// The nodes of the ids in the JSON array `?1`.
const NODES_BY_ID: &str = "SELECT n.id, n.node_type, n.project_id, n.submitter_id, n.props \
     FROM graph_node n WHERE n.id IN (SELECT value FROM json_each(?1))";
/// The ids of `?1` that exist.
const EXISTING_IDS: &str =
    "SELECT n.id FROM graph_node n WHERE n.id IN (SELECT value FROM json_each(?1))";
/// For each `[type, names, value]` of the JSON array `?1`, its position and the node that
/// holds the key.
const FIND_UNIQUE: &str = "SELECT k.key, n.id, n.node_type, n.project_id, n.submitter_id, \
     n.props FROM json_each(?1) k \
     CROSS JOIN graph_unique u ON u.node_type = k.value ->> 0 AND u.names = k.value ->> 1 \
     AND u.value = k.value ->> 2 \
     JOIN graph_node n ON n.id = u.node_id";
const PARENTS: &str = "SELECT e.src, e.link, e.dst, n.node_type, n.submitter_id, n.project_id \
     FROM graph_edge e JOIN graph_node n ON n.id = e.dst \
     WHERE e.src IN (SELECT value FROM json_each(?1)) ORDER BY e.src, e.link, e.dst";
const CHILDREN: &str = "SELECT e.src, e.link, e.dst, n.node_type, n.submitter_id, n.project_id \
     FROM graph_edge e JOIN graph_node n ON n.id = e.src \
     WHERE e.dst IN (SELECT value FROM json_each(?1)) ORDER BY e.dst, e.link, e.src";
const DELETE_EDGES_FROM: &str =
    "DELETE FROM graph_edge WHERE src IN (SELECT value FROM json_each(?1))";
/// An edge still pointing at one of the nodes `?1` (once the edges out of them are gone:
/// its child stays), with both ends' types.
const FIRST_CHILD: &str = "SELECT e.src, e.link, e.dst, p.node_type, c.node_type \
     FROM graph_edge e JOIN graph_node p ON p.id = e.dst JOIN graph_node c ON c.id = e.src \
     WHERE e.dst IN (SELECT value FROM json_each(?1)) ORDER BY e.dst, e.src, e.link LIMIT 1";
/// Their unique keys go with them (`ON DELETE CASCADE`).
const DELETE_NODES: &str = "DELETE FROM graph_node WHERE id IN (SELECT value FROM json_each(?1))";
const DELETE_UNIQUE_OF: &str =
    "DELETE FROM graph_unique WHERE node_id IN (SELECT value FROM json_each(?1))";
/// One feed entry for each id of the JSON array `?1`, written at `?2`.
const FEED_INSERT: &str =
    "INSERT INTO graph_feed (node_id, at) SELECT value, ?2 FROM json_each(?1)";

/// `ids` as the JSON array text `json_each` reads.
fn json_ids<S: AsRef<str>>(ids: &[S]) -> String {
    let ids: Vec<&str> = ids.iter().map(AsRef::as_ref).collect();
    serde_json::Value::from(ids).to_string()
}

/// A node from the columns starting at `at` ([`sql::NODE_COLUMNS`] order); its properties
/// are still text.
fn node_row(r: &Row<'_>, at: usize) -> rusqlite::Result<(GraphNode, String)> {
    Ok((
        GraphNode {
            id: r.get(at)?,
            node_type: r.get(at + 1)?,
            project_id: r.get(at + 2)?,
            submitter_id: r.get(at + 3)?,
            props: serde_json::Map::new(),
        },
        r.get(at + 4)?,
    ))
}

fn with_props((mut node, text): (GraphNode, String)) -> StoreResult<GraphNode> {
    node.props = sql::props(&text)?;
    Ok(node)
}

/// The rows of a portable statement, each read by `row`.
fn select<T>(
    conn: &Connection,
    stmt: &Sql,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut prepared = conn.prepare_cached(&dialect(&stmt.text)).map_err(backend)?;
    let rows = prepared
        .query_map(
            rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
            row,
        )
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<_>>().map_err(backend)
}

/// The one count a statement selects.
fn count_of(conn: &Connection, stmt: &Sql) -> StoreResult<i64> {
    conn.prepare_cached(&dialect(&stmt.text))
        .and_then(|mut s| {
            s.query_row(
                rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
                |r| r.get(0),
            )
        })
        .map_err(backend)
}

fn link_row(r: &Row<'_>) -> rusqlite::Result<GraphLink> {
    Ok(GraphLink {
        edge: GraphEdge {
            src: r.get(0)?,
            link: r.get(1)?,
            dst: r.get(2)?,
        },
        other_type: r.get(3)?,
        other_submitter_id: r.get(4)?,
        other_project_id: r.get(5)?,
    })
}

fn log_row(r: &Row<'_>) -> rusqlite::Result<GraphTransaction> {
    Ok(GraphTransaction {
        id: r.get(0)?,
        entry: GraphLogEntry {
            project_id: r.get(1)?,
            role: r.get(2)?,
            submitter: r.get(3)?,
            dry_run: r.get(4)?,
            state: r.get(5)?,
            created: r.get(6)?,
            documents: r.get(7)?,
            closed: r.get(8)?,
            committed_by: r.get(9)?,
        },
    })
}

/// Mark the dry run `id` committed by `by` (or closed, for `None`).
fn settle(conn: &Connection, id: i64, by: Option<i64>) -> StoreResult<()> {
    let changed = conn
        .prepare_cached(&dialect(sql::SETTLE_DRY_RUN))
        .and_then(|mut s| s.execute((id, by)))
        .map_err(backend)?;
    if changed == 0 {
        return Err(sql::unsettled(id));
    }
    Ok(())
}

fn transaction(conn: &Connection, id: i64) -> StoreResult<Option<GraphTransaction>> {
    conn.prepare_cached(&dialect(sql::LOG_BY_ID))
        .and_then(|mut s| s.query_row([id], log_row).optional())
        .map_err(backend)
}

fn links(conn: &Connection, text: &str, ids: &[String]) -> StoreResult<Vec<GraphLink>> {
    let mut stmt = conn.prepare_cached(text).map_err(backend)?;
    let rows = stmt.query_map([json_ids(ids)], link_row).map_err(backend)?;
    rows.collect::<rusqlite::Result<_>>().map_err(backend)
}

fn existing_ids(conn: &Connection, ids: &[String]) -> StoreResult<HashSet<String>> {
    let mut stmt = conn.prepare_cached(EXISTING_IDS).map_err(backend)?;
    let rows = stmt
        .query_map([json_ids(ids)], |r| r.get::<_, String>(0))
        .map_err(backend)?;
    rows.collect::<rusqlite::Result<_>>().map_err(backend)
}

/// Run a statement taking the JSON array of `ids`; the number of rows changed.
fn run_ids(conn: &Connection, text: &str, ids: &[impl AsRef<str>]) -> StoreResult<usize> {
    conn.prepare_cached(text)
        .and_then(|mut s| s.execute([json_ids(ids)]))
        .map_err(backend)
}

fn insert_log(conn: &Connection, e: &GraphLogEntry) -> StoreResult<i64> {
    conn.prepare_cached(&dialect(sql::INSERT_LOG))
        .and_then(|mut s| {
            s.query_row(
                (
                    &e.project_id,
                    &e.role,
                    &e.submitter,
                    e.dry_run,
                    &e.state,
                    &e.created,
                    &e.documents,
                ),
                |r| r.get(0),
            )
        })
        .map_err(backend)
}

/// Remove the edges out of `delete` and then the nodes, refusing when a node that stays
/// still links to one of them.
fn delete_nodes(conn: &Connection, delete: &[String]) -> StoreResult<()> {
    let ids = sql::distinct(delete);
    run_ids(conn, DELETE_EDGES_FROM, &ids)?;
    let child = conn
        .prepare_cached(FIRST_CHILD)
        .and_then(|mut s| {
            s.query_row([json_ids(&ids)], |r| {
                Ok((
                    GraphEdge {
                        src: r.get(0)?,
                        link: r.get(1)?,
                        dst: r.get(2)?,
                    },
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    if let Some((edge, parent_type, child_type)) = child {
        return Err(sql::has_children(&parent_type, &edge, &child_type));
    }
    if run_ids(conn, DELETE_NODES, &ids)? < ids.len() {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn apply(conn: &Connection, change: &GraphChange) -> StoreResult<i64> {
    sql::check_nodes(change)?;
    for e in &change.remove_edges {
        let params: [Param; 3] = [
            e.src.as_str().into(),
            e.link.as_str().into(),
            e.dst.as_str().into(),
        ];
        exec(conn, sql::DELETE_EDGE, &params).map_err(backend)?;
    }
    if !change.delete.is_empty() {
        delete_nodes(conn, &change.delete)?;
    }
    let updated: Vec<&str> = change
        .nodes
        .iter()
        .filter(|w| !w.create)
        .map(|w| w.node.id.as_str())
        .collect();
    if !updated.is_empty() {
        run_ids(conn, DELETE_UNIQUE_OF, &updated)?;
    }
    // creates first, then updates: the order PostgreSQL's two statements report in
    for create in [true, false] {
        for w in change.nodes.iter().filter(|w| w.create == create) {
            let n = &w.node;
            let params: [Param; 5] = [
                n.id.as_str().into(),
                n.node_type.as_str().into(),
                n.project_id.clone().into(),
                n.submitter_id.clone().into(),
                sql::props_text(&n.props).into(),
            ];
            if create {
                exec(conn, sql::INSERT_NODE, &params).map_err(|e| {
                    if is_unique_violation(&e) {
                        sql::id_taken(&n.node_type, &n.id)
                    } else {
                        backend(e)
                    }
                })?;
            } else if exec(conn, sql::UPDATE_NODE, &params).map_err(backend)? == 0 {
                return Err(StoreError::NotFound);
            }
        }
    }
    for w in &change.nodes {
        for k in &w.unique {
            let params: [Param; 4] = [
                w.node.node_type.as_str().into(),
                k.names.as_str().into(),
                k.value.as_str().into(),
                w.node.id.as_str().into(),
            ];
            exec(conn, sql::INSERT_UNIQUE, &params).map_err(|e| {
                if is_unique_violation(&e) {
                    sql::key_taken(&w.node.node_type, k)
                } else {
                    backend(e)
                }
            })?;
        }
    }
    if !change.add_edges.is_empty() {
        let exists = existing_ids(conn, &sql::edge_ends(&change.add_edges))?;
        sql::check_ends(&change.add_edges, &exists)?;
        for e in &change.add_edges {
            let params: [Param; 3] = [
                e.src.as_str().into(),
                e.link.as_str().into(),
                e.dst.as_str().into(),
            ];
            exec(conn, sql::INSERT_EDGE, &params).map_err(backend)?;
        }
    }
    for r in &change.index_records {
        insert_record(conn, r)?;
    }
    for (alias, did) in &change.index_aliases {
        insert_alias(conn, alias, did)?;
    }
    for (r, rev) in &change.index_updates {
        guarded_update(conn, r, rev)?;
    }
    let touched = sql::touched(change);
    if !touched.is_empty() {
        conn.prepare_cached(FEED_INSERT)
            .and_then(|mut s| s.execute((json_ids(&touched), sql::unix_now())))
            .map_err(backend)?;
    }
    let id = insert_log(conn, &change.log)?;
    if let Some(dry_run) = change.commits {
        settle(conn, dry_run, Some(id))?;
    }
    Ok(id)
}

impl SqliteStore {
    /// A lookup of `n` ids: a point read when there are few.
    async fn read_ids<R, F>(&self, n: usize, f: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    {
        if n <= POINT_IDS {
            self.read_point(f).await
        } else {
            self.read(f).await
        }
    }
}

#[async_trait]
impl GraphStore for SqliteStore {
    async fn graph_nodes(&self, ids: Vec<String>) -> StoreResult<Vec<GraphNode>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read_ids(ids.len(), move |conn| {
            let mut stmt = conn.prepare_cached(NODES_BY_ID).map_err(backend)?;
            let rows = stmt
                .query_map([json_ids(&ids)], |r| node_row(r, 0))
                .map_err(backend)?;
            rows.map(|r| with_props(r.map_err(backend)?)).collect()
        })
        .await
    }

    async fn graph_find_unique(
        &self,
        keys: Vec<(String, UniqueKey)>,
    ) -> StoreResult<Vec<Option<GraphNode>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.read_ids(keys.len(), move |conn| {
            let asked: Vec<[&str; 3]> = keys
                .iter()
                .map(|(t, k)| [t.as_str(), k.names.as_str(), k.value.as_str()])
                .collect();
            let asked = serde_json::to_string(&asked).map_err(backend)?;
            let mut out: Vec<Option<GraphNode>> = vec![None; keys.len()];
            let mut stmt = conn.prepare_cached(FIND_UNIQUE).map_err(backend)?;
            let rows = stmt
                .query_map([asked], |r| Ok((r.get::<_, i64>(0)?, node_row(r, 1)?)))
                .map_err(backend)?;
            for row in rows {
                let (at, node) = row.map_err(backend)?;
                if let Some(slot) = usize::try_from(at).ok().and_then(|at| out.get_mut(at)) {
                    *slot = Some(with_props(node)?);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn graph_parents(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read_ids(ids.len(), move |conn| links(conn, PARENTS, &ids))
            .await
    }

    async fn graph_children(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read_ids(ids.len(), move |conn| links(conn, CHILDREN, &ids))
            .await
    }

    async fn graph_list(&self, query: GraphListQuery) -> StoreResult<Vec<GraphNode>> {
        self.read(move |conn| {
            let stmt = sql::list(&query);
            let mut prepared = conn.prepare_cached(&dialect(&stmt.text)).map_err(backend)?;
            let rows = prepared
                .query_map(
                    rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
                    |r| node_row(r, 0),
                )
                .map_err(backend)?;
            rows.map(|r| with_props(r.map_err(backend)?)).collect()
        })
        .await
    }

    async fn graph_counts(&self, project_id: Option<String>) -> StoreResult<Vec<(String, i64)>> {
        self.read(move |conn| {
            let stmt = sql::counts(project_id.as_deref());
            let mut prepared = conn.prepare_cached(&dialect(&stmt.text)).map_err(backend)?;
            let rows = prepared
                .query_map(
                    rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
        .await
    }

    async fn graph_apply(&self, change: GraphChange) -> StoreResult<i64> {
        self.write(move |conn| apply(conn, &change)).await
    }

    async fn graph_log(&self, entry: GraphLogEntry) -> StoreResult<i64> {
        self.write(move |conn| insert_log(conn, &entry)).await
    }

    async fn graph_query(&self, query: NodeQuery) -> StoreResult<Vec<GraphNode>> {
        self.read(move |conn| {
            let stmt = sql::query(Dialect::Sqlite, &query);
            select(conn, &stmt, |r| node_row(r, 0))?
                .into_iter()
                .map(with_props)
                .collect()
        })
        .await
    }

    async fn graph_count(&self, filter: NodeFilter) -> StoreResult<i64> {
        self.read(move |conn| count_of(conn, &sql::count(Dialect::Sqlite, &filter)))
            .await
    }

    async fn graph_linked(&self, query: LinkedQuery) -> StoreResult<Vec<(String, GraphNode)>> {
        self.read(move |conn| {
            let stmt = sql::linked(Dialect::Sqlite, &query);
            select(conn, &stmt, |r| {
                Ok((r.get::<_, String>(0)?, node_row(r, 1)?))
            })?
            .into_iter()
            .map(|(anchor, node)| Ok((anchor, with_props(node)?)))
            .collect()
        })
        .await
    }

    async fn graph_linked_counts(&self, query: LinkedQuery) -> StoreResult<Vec<(String, i64)>> {
        self.read(move |conn| {
            let stmt = sql::linked_counts(Dialect::Sqlite, &query);
            select(conn, &stmt, |r| Ok((r.get(0)?, r.get(1)?)))
        })
        .await
    }

    async fn graph_transaction_query(
        &self,
        query: TransactionQuery,
    ) -> StoreResult<Vec<GraphTransaction>> {
        self.read(move |conn| {
            select(
                conn,
                &sql::transaction_query(Dialect::Sqlite, &query),
                log_row,
            )
        })
        .await
    }

    async fn graph_transaction_count(&self, query: TransactionQuery) -> StoreResult<i64> {
        self.read(move |conn| count_of(conn, &sql::transaction_count(Dialect::Sqlite, &query)))
            .await
    }

    async fn graph_transaction(&self, id: i64) -> StoreResult<Option<GraphTransaction>> {
        self.read(move |conn| transaction(conn, id)).await
    }

    async fn graph_close(&self, id: i64) -> StoreResult<()> {
        self.write(move |conn| {
            if transaction(conn, id)?.is_none() {
                return Err(StoreError::NotFound);
            }
            settle(conn, id, None)
        })
        .await
    }

    async fn graph_scan(
        &self,
        node_type: String,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphNode>> {
        self.read(move |conn| {
            let rows = select(conn, &sql::scan(&node_type, after.as_deref(), limit), |r| {
                node_row(r, 0)
            })?;
            rows.into_iter().map(with_props).collect()
        })
        .await
    }

    async fn graph_feed(&self, after: i64, limit: usize) -> StoreResult<Vec<FeedEntry>> {
        let n = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read_point(move |conn| {
            let mut s = conn
                .prepare_cached(&dialect(sql::FEED_AFTER))
                .map_err(backend)?;
            let rows = s
                .query_map((after, n), |r| {
                    Ok(FeedEntry {
                        seq: r.get(0)?,
                        node_id: r.get(1)?,
                    })
                })
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
        .await
    }

    async fn graph_feed_head(&self) -> StoreResult<i64> {
        self.read_point(|conn| {
            conn.prepare_cached(sql::FEED_HEAD)
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(backend)
        })
        .await
    }

    async fn graph_feed_prune(&self, before: i64) -> StoreResult<u64> {
        self.write(move |conn| {
            let n = conn
                .prepare_cached(&dialect(sql::FEED_PRUNE))
                .and_then(|mut s| s.execute([before]))
                .map_err(backend)?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn graph_transactions(
        &self,
        project_id: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphTransaction>> {
        self.read(move |conn| {
            let stmt = sql::transactions(project_id.as_deref(), limit);
            let mut prepared = conn.prepare_cached(&dialect(&stmt.text)).map_err(backend)?;
            let rows = prepared
                .query_map(
                    rusqlite::params_from_iter(stmt.params.iter().map(to_value)),
                    log_row,
                )
                .map_err(backend)?;
            rows.collect::<rusqlite::Result<_>>().map_err(backend)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lookup statement searches an index for each id asked; none scans a table.
    #[test]
    fn lookups_search_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.db");
        SqliteStore::migrate(&path).unwrap();
        let conn = crate::open(&path, 2048).unwrap();
        for (text, arg) in [
            (NODES_BY_ID, r#"["a","b"]"#),
            (EXISTING_IDS, r#"["a","b"]"#),
            (FIND_UNIQUE, r#"[["case","k","[1]"]]"#),
            (PARENTS, r#"["a","b"]"#),
            (CHILDREN, r#"["a","b"]"#),
            (FIRST_CHILD, r#"["a","b"]"#),
        ] {
            let mut explain = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
            let plan: Vec<String> = explain
                .query_map([arg], |r| r.get(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            // only the bound array is scanned
            assert!(
                plan.iter().all(|p| !p.starts_with("SCAN")
                    || p.contains("json_each")
                    || p.starts_with("SCAN k VIRTUAL TABLE")),
                "{text}: {plan:?}"
            );
            assert!(plan.iter().any(|p| p.starts_with("SEARCH")), "{plan:?}");
        }
    }
}
