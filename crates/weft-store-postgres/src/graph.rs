//! `GraphStore` on PostgreSQL.
//!
//! Lookups bind their ids as one array (`= ANY($1)`): one statement whatever their number.
//! A change is one transaction of a handful of statements, each writing all its rows at once
//! from bound arrays (`UNNEST`). Creates use `ON CONFLICT DO NOTHING … RETURNING`, so a
//! taken id or unique key shows as a row not returned, which names it, and a concurrent
//! transaction writing the same key is waited for rather than failing with a raw violation.
//! The index records of file nodes go in with the index store's own `UNNEST` insert.

use std::collections::HashSet;

use async_trait::async_trait;
use sqlx::postgres::{PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Row as _};
use weft_store::graph::sql::{self, Dialect};
use weft_store::{
    FeedEntry, GraphChange, GraphEdge, GraphLink, GraphListQuery, GraphLogEntry, GraphNode,
    GraphStore, GraphTransaction, LinkedQuery, NodeFilter, NodeQuery, StoreError, StoreResult,
    TransactionQuery, UniqueKey,
};

use crate::index::{Columns, STATEMENTS, guarded_update, portable, write_error};
use crate::{PostgresStore, backend};

const NODES_BY_ID: &str = "SELECT n.id, n.node_type, n.project_id, n.submitter_id, n.props \
     FROM graph_node n WHERE n.id = ANY($1::text[])";
const EXISTING_IDS: &str = "SELECT n.id FROM graph_node n WHERE n.id = ANY($1::text[])";
/// For each `(type, names, value)` asked, its position (from 1) and the node holding it.
const FIND_UNIQUE: &str = "SELECT k.at, n.id, n.node_type, n.project_id, n.submitter_id, \
     n.props FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY \
     AS k(node_type, names, value, at) \
     JOIN graph_unique u ON u.node_type = k.node_type AND u.names = k.names \
     AND u.value = k.value \
     JOIN graph_node n ON n.id = u.node_id";
const PARENTS: &str = "SELECT e.src, e.link, e.dst, n.node_type, n.submitter_id, n.project_id \
     FROM graph_edge e JOIN graph_node n ON n.id = e.dst \
     WHERE e.src = ANY($1::text[]) ORDER BY e.src, e.link, e.dst";
const CHILDREN: &str = "SELECT e.src, e.link, e.dst, n.node_type, n.submitter_id, n.project_id \
     FROM graph_edge e JOIN graph_node n ON n.id = e.src \
     WHERE e.dst = ANY($1::text[]) ORDER BY e.dst, e.link, e.src";

const REMOVE_EDGES: &str = "DELETE FROM graph_edge e \
     USING UNNEST($1::text[], $2::text[], $3::text[]) AS r(src, link, dst) \
     WHERE e.src = r.src AND e.link = r.link AND e.dst = r.dst";
const DELETE_EDGES_FROM: &str = "DELETE FROM graph_edge WHERE src = ANY($1::text[])";
/// An edge still pointing at one of the nodes `$1` (once the edges out of them are gone:
/// its child stays), with both ends' types.
const FIRST_CHILD: &str = "SELECT e.src, e.link, e.dst, p.node_type, c.node_type \
     FROM graph_edge e JOIN graph_node p ON p.id = e.dst JOIN graph_node c ON c.id = e.src \
     WHERE e.dst = ANY($1::text[]) ORDER BY e.dst, e.src, e.link LIMIT 1";
/// Their unique keys go with them (`ON DELETE CASCADE`).
const DELETE_NODES: &str = "DELETE FROM graph_node WHERE id = ANY($1::text[])";
const DELETE_UNIQUE_OF: &str = "DELETE FROM graph_unique WHERE node_id = ANY($1::text[])";
/// One feed entry for each id of `$1`, written at `$2`.
const FEED_INSERT: &str = "INSERT INTO graph_feed (node_id, at) SELECT UNNEST($1::text[]), $2";
const CREATE_NODES: &str = "INSERT INTO graph_node (id, node_type, project_id, submitter_id, \
     props) SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
     ON CONFLICT (id) DO NOTHING RETURNING id";
const UPDATE_NODES: &str = "UPDATE graph_node n SET project_id = u.project_id, \
     submitter_id = u.submitter_id, props = u.props \
     FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
     AS u(id, node_type, project_id, submitter_id, props) \
     WHERE n.id = u.id AND n.node_type = u.node_type RETURNING n.id";
const INSERT_UNIQUE: &str = "INSERT INTO graph_unique (node_type, names, value, node_id) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) \
     ON CONFLICT (node_type, names, value) DO NOTHING RETURNING node_type, names, value";
const ADD_EDGES: &str = "INSERT INTO graph_edge (src, link, dst) \
     SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING";

/// SQLSTATE of a foreign-key violation.
const FOREIGN_KEY_VIOLATION: &str = "23503";

/// An error of a change's statement. The checks before each write name what is wrong; a
/// foreign-key violation is what a concurrent change leaves them to find (a node deleted
/// under an edge being added, a child added under a parent being deleted).
fn graph_error(e: &sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = e
        && db.code().as_deref() == Some(FOREIGN_KEY_VIOLATION)
    {
        return StoreError::Invalid(
            "a link of this change points at a node that no longer exists, or a deleted node \
             still has children"
                .to_owned(),
        );
    }
    crate::invalid_input(e).unwrap_or_else(|| StoreError::Backend(e.to_string()))
}

fn node_row(r: &PgRow, at: usize) -> StoreResult<GraphNode> {
    let props: &str = r.try_get(at + 4).map_err(backend)?;
    Ok(GraphNode {
        id: r.try_get(at).map_err(backend)?,
        node_type: r.try_get(at + 1).map_err(backend)?,
        project_id: r.try_get(at + 2).map_err(backend)?,
        submitter_id: r.try_get(at + 3).map_err(backend)?,
        props: sql::props(props)?,
    })
}

fn link_row(r: &PgRow) -> Result<GraphLink, sqlx::Error> {
    Ok(GraphLink {
        edge: GraphEdge {
            src: r.try_get(0)?,
            link: r.try_get(1)?,
            dst: r.try_get(2)?,
        },
        other_type: r.try_get(3)?,
        other_submitter_id: r.try_get(4)?,
        other_project_id: r.try_get(5)?,
    })
}

fn log_row(r: &PgRow) -> Result<GraphTransaction, sqlx::Error> {
    Ok(GraphTransaction {
        id: r.try_get(0)?,
        entry: GraphLogEntry {
            project_id: r.try_get(1)?,
            role: r.try_get(2)?,
            submitter: r.try_get(3)?,
            dry_run: r.try_get(4)?,
            state: r.try_get(5)?,
            created: r.try_get(6)?,
            documents: r.try_get(7)?,
            closed: r.try_get(8)?,
            committed_by: r.try_get(9)?,
        },
    })
}

/// Mark the dry run `id` committed by `by` (or closed, for `None`).
async fn settle(conn: &mut PgConnection, id: i64, by: Option<i64>) -> StoreResult<()> {
    let changed = sqlx::query(sql::SETTLE_DRY_RUN)
        .bind(id)
        .bind(by)
        .execute(conn)
        .await
        .map_err(|e| graph_error(&e))?
        .rows_affected();
    if changed == 0 {
        return Err(sql::unsettled(id));
    }
    Ok(())
}

/// The edges' columns as arrays: sources, links, destinations.
fn edge_columns(edges: &[GraphEdge]) -> [Vec<&str>; 3] {
    [
        edges.iter().map(|e| e.src.as_str()).collect(),
        edges.iter().map(|e| e.link.as_str()).collect(),
        edges.iter().map(|e| e.dst.as_str()).collect(),
    ]
}

async fn insert_log(conn: &mut PgConnection, e: &GraphLogEntry) -> StoreResult<i64> {
    sqlx::query_scalar(sql::INSERT_LOG)
        .bind(&e.project_id)
        .bind(&e.role)
        .bind(&e.submitter)
        .bind(e.dry_run)
        .bind(&e.state)
        .bind(&e.created)
        .bind(&e.documents)
        .fetch_one(conn)
        .await
        .map_err(|e| graph_error(&e))
}

/// Remove the edges out of `delete` and then the nodes, refusing when a node that stays
/// still links to one of them.
async fn delete_nodes(conn: &mut PgConnection, delete: &[String]) -> StoreResult<()> {
    let ids = sql::distinct(delete);
    sqlx::query(DELETE_EDGES_FROM)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?;
    let child = sqlx::query(FIRST_CHILD)
        .bind(&ids)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?;
    if let Some(r) = child {
        let edge = GraphEdge {
            src: r.try_get(0).map_err(backend)?,
            link: r.try_get(1).map_err(backend)?,
            dst: r.try_get(2).map_err(backend)?,
        };
        let parent_type: &str = r.try_get(3).map_err(backend)?;
        let child_type: &str = r.try_get(4).map_err(backend)?;
        return Err(sql::has_children(parent_type, &edge, child_type));
    }
    let deleted = sqlx::query(DELETE_NODES)
        .bind(&ids)
        .execute(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?
        .rows_affected();
    if deleted < ids.len() as u64 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Create (`create`) or update the nodes of `change` that are to be, in one statement.
/// `AlreadyExists` naming the first node whose id is taken; `NotFound` when a node to update
/// is missing.
async fn write_nodes(
    conn: &mut PgConnection,
    change: &GraphChange,
    create: bool,
) -> StoreResult<()> {
    let nodes: Vec<&GraphNode> = change
        .nodes
        .iter()
        .filter(|w| w.create == create)
        .map(|w| &w.node)
        .collect();
    if nodes.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let types: Vec<&str> = nodes.iter().map(|n| n.node_type.as_str()).collect();
    let projects: Vec<Option<&str>> = nodes.iter().map(|n| n.project_id.as_deref()).collect();
    let submitters: Vec<Option<&str>> = nodes.iter().map(|n| n.submitter_id.as_deref()).collect();
    let props: Vec<String> = nodes.iter().map(|n| sql::props_text(&n.props)).collect();
    let written: Vec<String> = sqlx::query_scalar(if create { CREATE_NODES } else { UPDATE_NODES })
        .bind(&ids)
        .bind(&types)
        .bind(&projects)
        .bind(&submitters)
        .bind(&props)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?;
    let mut written: HashSet<String> = written.into_iter().collect();
    for n in nodes {
        // each returned id answers one node: a repeated id is written once
        if !written.remove(&n.id) {
            return Err(if create {
                sql::id_taken(&n.node_type, &n.id)
            } else {
                StoreError::NotFound
            });
        }
    }
    Ok(())
}

/// Insert the unique keys of the nodes written; `AlreadyExists` naming the first one taken.
async fn insert_unique(conn: &mut PgConnection, change: &GraphChange) -> StoreResult<()> {
    let keys: Vec<(&GraphNode, &UniqueKey)> = change
        .nodes
        .iter()
        .flat_map(|w| w.unique.iter().map(move |k| (&w.node, k)))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    let types: Vec<&str> = keys.iter().map(|(n, _)| n.node_type.as_str()).collect();
    let names: Vec<&str> = keys.iter().map(|(_, k)| k.names.as_str()).collect();
    let values: Vec<&str> = keys.iter().map(|(_, k)| k.value.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|(n, _)| n.id.as_str()).collect();
    let written: Vec<(String, String, String)> = sqlx::query_as(INSERT_UNIQUE)
        .bind(&types)
        .bind(&names)
        .bind(&values)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?;
    let mut written: HashSet<(String, String, String)> = written.into_iter().collect();
    for (n, k) in keys {
        if !written.remove(&(n.node_type.clone(), k.names.clone(), k.value.clone())) {
            return Err(sql::key_taken(&n.node_type, k));
        }
    }
    Ok(())
}

async fn add_edges(conn: &mut PgConnection, edges: &[GraphEdge]) -> StoreResult<()> {
    if edges.is_empty() {
        return Ok(());
    }
    let exists: Vec<String> = sqlx::query_scalar(EXISTING_IDS)
        .bind(sql::edge_ends(edges))
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?;
    sql::check_ends(edges, &exists.into_iter().collect())?;
    let [src, link, dst] = edge_columns(edges);
    sqlx::query(ADD_EDGES)
        .bind(&src)
        .bind(&link)
        .bind(&dst)
        .execute(&mut *conn)
        .await
        .map_err(|e| graph_error(&e))?;
    Ok(())
}

/// The index records of the change, with their side rows and aliases, in one statement;
/// then its guarded index updates.
async fn write_index(conn: &mut PgConnection, change: &GraphChange) -> StoreResult<()> {
    if !change.index_records.is_empty() || !change.index_aliases.is_empty() {
        let mut columns = Columns::new();
        for r in &change.index_records {
            columns.push_record(r);
            columns.push_side(r);
        }
        for (alias, did) in &change.index_aliases {
            columns.push_alias(alias, did);
        }
        let did = change.index_records.first().map(|r| r.did.as_str());
        let alias = change.index_aliases.first().map(|(a, _)| a.as_str());
        columns
            .bind_all(sqlx::query(STATEMENTS.create.as_str()))
            .execute(&mut *conn)
            .await
            .map_err(|e| write_error(&e, did, alias))?;
    }
    for (r, rev) in &change.index_updates {
        guarded_update(conn, r, rev).await?;
    }
    Ok(())
}

async fn apply(conn: &mut PgConnection, change: &GraphChange) -> StoreResult<i64> {
    sql::check_nodes(change)?;
    if !change.remove_edges.is_empty() {
        let [src, link, dst] = edge_columns(&change.remove_edges);
        sqlx::query(REMOVE_EDGES)
            .bind(&src)
            .bind(&link)
            .bind(&dst)
            .execute(&mut *conn)
            .await
            .map_err(|e| graph_error(&e))?;
    }
    if !change.delete.is_empty() {
        delete_nodes(conn, &change.delete).await?;
    }
    let updated: Vec<&str> = change
        .nodes
        .iter()
        .filter(|w| !w.create)
        .map(|w| w.node.id.as_str())
        .collect();
    if !updated.is_empty() {
        sqlx::query(DELETE_UNIQUE_OF)
            .bind(&updated)
            .execute(&mut *conn)
            .await
            .map_err(|e| graph_error(&e))?;
    }
    write_nodes(conn, change, true).await?;
    write_nodes(conn, change, false).await?;
    insert_unique(conn, change).await?;
    add_edges(conn, &change.add_edges).await?;
    write_index(conn, change).await?;
    let touched = sql::touched(change);
    if !touched.is_empty() {
        sqlx::query(FEED_INSERT)
            .bind(&touched)
            .bind(sql::unix_now())
            .execute(&mut *conn)
            .await
            .map_err(backend)?;
    }
    let id = insert_log(conn, &change.log).await?;
    if let Some(dry_run) = change.commits {
        settle(conn, dry_run, Some(id)).await?;
    }
    Ok(id)
}

impl PostgresStore {
    async fn links(&self, text: &'static str, ids: Vec<String>) -> StoreResult<Vec<GraphLink>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(text)
            .bind(ids)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(link_row)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }
}

#[async_trait]
impl GraphStore for PostgresStore {
    async fn graph_nodes(&self, ids: Vec<String>) -> StoreResult<Vec<GraphNode>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(NODES_BY_ID)
            .bind(ids)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter().map(|r| node_row(r, 0)).collect()
    }

    async fn graph_find_unique(
        &self,
        keys: Vec<(String, UniqueKey)>,
    ) -> StoreResult<Vec<Option<GraphNode>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let types: Vec<&str> = keys.iter().map(|(t, _)| t.as_str()).collect();
        let names: Vec<&str> = keys.iter().map(|(_, k)| k.names.as_str()).collect();
        let values: Vec<&str> = keys.iter().map(|(_, k)| k.value.as_str()).collect();
        let rows = sqlx::query(FIND_UNIQUE)
            .bind(&types)
            .bind(&names)
            .bind(&values)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        let mut out: Vec<Option<GraphNode>> = vec![None; keys.len()];
        for r in &rows {
            let at: i64 = r.try_get(0).map_err(backend)?;
            let slot = usize::try_from(at - 1).ok().and_then(|i| out.get_mut(i));
            if let Some(slot) = slot {
                *slot = Some(node_row(r, 1)?);
            }
        }
        Ok(out)
    }

    async fn graph_parents(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>> {
        self.links(PARENTS, ids).await
    }

    async fn graph_children(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>> {
        self.links(CHILDREN, ids).await
    }

    async fn graph_list(&self, query: GraphListQuery) -> StoreResult<Vec<GraphNode>> {
        let stmt = sql::list(&query);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter().map(|r| node_row(r, 0)).collect()
    }

    async fn graph_counts(&self, project_id: Option<String>) -> StoreResult<Vec<(String, i64)>> {
        let stmt = sql::counts(project_id.as_deref());
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }

    async fn graph_apply(&self, change: GraphChange) -> StoreResult<i64> {
        let mut tx = self.pool().begin().await.map_err(backend)?;
        let id = apply(&mut tx, &change).await?;
        tx.commit().await.map_err(backend)?;
        Ok(id)
    }

    async fn graph_log(&self, entry: GraphLogEntry) -> StoreResult<i64> {
        let mut conn = self.pool().acquire().await.map_err(backend)?;
        insert_log(&mut conn, &entry).await
    }

    async fn graph_query(&self, query: NodeQuery) -> StoreResult<Vec<GraphNode>> {
        let stmt = sql::query(Dialect::Postgres, &query);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(|e| graph_error(&e))?;
        rows.iter().map(|r| node_row(r, 0)).collect()
    }

    async fn graph_count(&self, filter: NodeFilter) -> StoreResult<i64> {
        let stmt = sql::count(Dialect::Postgres, &filter);
        let row = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_one(self.pool())
            .await
            .map_err(|e| graph_error(&e))?;
        row.try_get(0).map_err(backend)
    }

    async fn graph_linked(&self, query: LinkedQuery) -> StoreResult<Vec<(String, GraphNode)>> {
        let stmt = sql::linked(Dialect::Postgres, &query);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(|e| graph_error(&e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(backend)?, node_row(r, 1)?)))
            .collect()
    }

    async fn graph_linked_counts(&self, query: LinkedQuery) -> StoreResult<Vec<(String, i64)>> {
        let stmt = sql::linked_counts(Dialect::Postgres, &query);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(|e| graph_error(&e))?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }

    async fn graph_transaction_query(
        &self,
        query: TransactionQuery,
    ) -> StoreResult<Vec<GraphTransaction>> {
        let stmt = sql::transaction_query(Dialect::Postgres, &query);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(|e| graph_error(&e))?;
        rows.iter()
            .map(log_row)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }

    async fn graph_transaction_count(&self, query: TransactionQuery) -> StoreResult<i64> {
        let stmt = sql::transaction_count(Dialect::Postgres, &query);
        let row = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_one(self.pool())
            .await
            .map_err(|e| graph_error(&e))?;
        row.try_get(0).map_err(backend)
    }

    async fn graph_transaction(&self, id: i64) -> StoreResult<Option<GraphTransaction>> {
        let row = sqlx::query(sql::LOG_BY_ID)
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(backend)?;
        row.as_ref().map(log_row).transpose().map_err(backend)
    }

    async fn graph_close(&self, id: i64) -> StoreResult<()> {
        if self.graph_transaction(id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        let mut conn = self.pool().acquire().await.map_err(backend)?;
        settle(&mut conn, id, None).await
    }

    async fn graph_scan(
        &self,
        node_type: String,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphNode>> {
        let stmt = sql::scan(&node_type, after.as_deref(), limit);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter().map(|r| node_row(r, 0)).collect()
    }

    async fn graph_feed(&self, after: i64, limit: usize) -> StoreResult<Vec<FeedEntry>> {
        let rows = sqlx::query(sql::FEED_AFTER)
            .bind(after)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(FeedEntry {
                    seq: r.try_get(0)?,
                    node_id: r.try_get(1)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(backend)
    }

    async fn graph_feed_head(&self) -> StoreResult<i64> {
        sqlx::query_scalar(sql::FEED_HEAD)
            .fetch_one(self.pool())
            .await
            .map_err(backend)
    }

    async fn graph_feed_prune(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query(sql::FEED_PRUNE)
            .bind(before)
            .execute(self.pool())
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn graph_transactions(
        &self,
        project_id: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphTransaction>> {
        let stmt = sql::transactions(project_id.as_deref(), limit);
        let rows = portable(AssertSqlSafe(stmt.text), stmt.params)
            .fetch_all(self.pool())
            .await
            .map_err(backend)?;
        rows.iter()
            .map(log_row)
            .collect::<Result<_, _>>()
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use weft_store::{GraphListQuery, NodeWrite};

    use super::*;
    use crate::testing::TempDatabase;

    fn case(id: &str, submitter: &str) -> GraphNode {
        GraphNode {
            id: id.into(),
            node_type: "case".into(),
            project_id: Some("p-q".into()),
            submitter_id: Some(submitter.into()),
            props: serde_json::Map::new(),
        }
    }

    fn create(node: GraphNode, unique: Vec<UniqueKey>) -> GraphChange {
        GraphChange {
            nodes: vec![NodeWrite {
                node,
                unique,
                create: true,
            }],
            ..GraphChange::default()
        }
    }

    /// Values PostgreSQL refuses (a NUL in text, a unique key too long for its index) are
    /// `Invalid`, not backend errors, in changes and in lookups, and leave nothing behind.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refused_values_are_invalid_input() {
        let Some(db) = TempDatabase::for_postgres_only_test().await.unwrap() else {
            return;
        };
        let store = PostgresStore::connect(db.url(), 2).await.unwrap();
        let invalid = |r: StoreResult<i64>, what: &str| {
            assert!(
                matches!(&r, Err(StoreError::Invalid(m)) if m.contains(what)),
                "{r:?}"
            );
        };
        invalid(
            store
                .graph_apply(create(case("a", "c\u{0}1"), vec![]))
                .await,
            "NUL",
        );
        // a NUL inside the properties is JSON's escape in the stored text: kept as it is
        let mut props = case("b", "c2");
        props
            .props
            .insert("note".into(), serde_json::Value::String("x\u{0}y".into()));
        store
            .graph_apply(create(props.clone(), vec![]))
            .await
            .unwrap();
        assert_eq!(
            store.graph_nodes(vec!["b".into()]).await.unwrap(),
            vec![props]
        );
        // not compressible below the index entry limit
        let mut x: u64 = 11;
        let long: String = (0..4000)
            .map(|_| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                char::from(b'!' + u8::try_from((x >> 33) % 90).unwrap())
            })
            .collect();
        let key = UniqueKey {
            names: "submitter_id".into(),
            value: long,
        };
        invalid(
            store
                .graph_apply(create(case("c", "c3"), vec![key.clone()]))
                .await,
            "too long",
        );
        invalid(
            store
                .graph_log(GraphLogEntry {
                    role: "create\u{0}".into(),
                    ..GraphLogEntry::default()
                })
                .await,
            "NUL",
        );
        let err = store.graph_nodes(vec!["a\u{0}".into()]).await.unwrap_err();
        assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        // a long value is no trouble to look up
        assert_eq!(
            store
                .graph_find_unique(vec![("case".into(), key)])
                .await
                .unwrap(),
            vec![None]
        );
        let all = store
            .graph_list(GraphListQuery {
                project_id: Some("p-q".into()),
                limit: 10,
                ..GraphListQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "only the good node is stored");
        assert!(store.graph_transactions(None, 10).await.unwrap().len() == 1);
        store.pool().close().await;
        db.drop_database().await.unwrap();
    }
}
