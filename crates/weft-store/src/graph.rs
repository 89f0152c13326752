//! Storage of a commons' graph (sheepdog's submission model): nodes of any type the data
//! dictionary defines, typed links between them, the dictionary's unique keys enforced by the
//! database, and a log of submission transactions.
//!
//! The store knows nothing of the dictionary: a node's properties are one JSON object, its
//! unique keys arrive already computed ([`UniqueKey`]), so a new node type or property needs
//! no migration. Every change of one submission is one [`GraphChange`], written in one
//! transaction together with the index records its file nodes register.

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::{IndexRecord, StoreResult};

/// One entity of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphNode {
    /// A UUID.
    pub id: String,
    /// The dictionary node it is an entity of (`case`).
    pub node_type: String,
    /// `program-project` for the entities of a project (projects included: a project's own
    /// `project_id` is itself); `None` for programs.
    pub project_id: Option<String>,
    pub submitter_id: Option<String>,
    /// Every property but `id`, `type` and the links, as submitted or defaulted
    /// (`state`, `created_datetime`, `updated_datetime` included).
    pub props: Map<String, Value>,
}

/// One of the dictionary's unique keys of a node other than `[id]`, with its values:
/// `names` the properties joined by `,` (`project_id,submitter_id`), `value` the values as a
/// JSON array text (`["P-Q","c1"]`). Unique per node type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UniqueKey {
    pub names: String,
    pub value: String,
}

impl UniqueKey {
    /// The key of `names` with `values`, in that order.
    pub fn new(names: &[&str], values: &[&Value]) -> Self {
        Self {
            names: names.join(","),
            value: Value::Array(values.iter().map(|v| (*v).clone()).collect()).to_string(),
        }
    }
}

/// A link from a child (`src`) to a parent (`dst`), named by the child's link property.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GraphEdge {
    pub src: String,
    pub link: String,
    pub dst: String,
}

/// An edge with what a caller needs of the node at its other end (the parent for
/// [`GraphStore::graph_parents`], the child for [`GraphStore::graph_children`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphLink {
    pub edge: GraphEdge,
    pub other_type: String,
    pub other_submitter_id: Option<String>,
    pub other_project_id: Option<String>,
}

/// One node to write: created (refused with `AlreadyExists` when its id or a unique key is
/// taken) or updated in place (its properties, `project_id`, `submitter_id` and unique keys
/// replaced; `NotFound` when no node of this id and type exists).
#[derive(Debug, Clone, PartialEq)]
pub struct NodeWrite {
    pub node: GraphNode,
    pub unique: Vec<UniqueKey>,
    pub create: bool,
}

/// A submission transaction's log entry (what peregrine's `transaction_log` shows).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphLogEntry {
    pub project_id: Option<String>,
    /// `create`, `update`, `delete`, …
    pub role: String,
    /// The user who submitted.
    pub submitter: Option<String>,
    pub dry_run: bool,
    /// `SUCCEEDED`, `FAILED`, …
    pub state: String,
    /// RFC 3339.
    pub created: String,
    /// JSON text: the documents and the response, as the submission layer records them.
    pub documents: String,
    /// A dry run closed: it can no longer be committed.
    pub closed: bool,
    /// For a dry run committed since, the id of the transaction that wrote it.
    pub committed_by: Option<i64>,
}

/// Everything one submission changes, written in one transaction or not at all.
///
/// A backend applies it in this order: `remove_edges`; `delete` (the edges out of the deleted
/// nodes go first, so a child and its parent may be deleted together, and an edge removed
/// in the same change no longer holds its parent); `nodes` (the unique keys of deleted and
/// updated nodes are free by then, so a key may move between nodes in one change);
/// `add_edges` (their nodes may be ones this change creates); the index records, their
/// aliases and updates; the log entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphChange {
    pub log: GraphLogEntry,
    /// Each node at most once (`Invalid` otherwise).
    pub nodes: Vec<NodeWrite>,
    /// Node ids to delete, with their unique keys and the edges out of them. An edge into
    /// one from a node that stays makes the change fail (`Invalid`): nothing is orphaned.
    /// `NotFound` when one of them does not exist.
    pub delete: Vec<String>,
    /// Edges to add; one that exists already is left as it is, one to or from a node that
    /// does not exist (after this change) makes the change fail (`Invalid`).
    pub add_edges: Vec<GraphEdge>,
    /// Edges to remove; one that does not exist is no error.
    pub remove_edges: Vec<GraphEdge>,
    /// Index records registered for file nodes, created in the same transaction
    /// (`AlreadyExists` when a did is taken).
    pub index_records: Vec<IndexRecord>,
    /// Index aliases `(alias, did)` created with them.
    pub index_aliases: Vec<(String, String)>,
    /// Index records replaced in place, each with the revision it must still have.
    pub index_updates: Vec<(IndexRecord, String)>,
    /// The dry run this change commits: its log entry's `committed_by` becomes this
    /// change's entry, in the same transaction; `Invalid` when it is no longer an open,
    /// uncommitted dry run.
    pub commits: Option<i64>,
}

/// Which nodes a listing returns, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GraphListQuery {
    /// `None`: programs (nodes of no project).
    pub project_id: Option<String>,
    pub node_type: Option<String>,
    /// Only ids greater than this one.
    pub after: Option<String>,
    pub limit: usize,
}

/// How a property of the nodes must match (peregrine's property arguments).
#[derive(Debug, Clone, PartialEq)]
pub enum PropMatch {
    /// Equal to one of these values; numbers compare as numbers (`5` matches `5.0`).
    AnyOf(Vec<Value>),
    /// An array holding every one of these values.
    HoldsAll(Vec<Value>),
    /// Present, not null, and not this value (peregrine's `not`).
    Not(Value),
}

/// One step of a path through the graph: along an edge named `link` to the node's parent
/// (`to_parents`) or child, which is of `node_type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Hop {
    pub link: String,
    pub to_parents: bool,
    pub node_type: String,
}

/// A node at the end of one of `paths` that `dest` matches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reach {
    pub paths: Vec<Vec<Hop>>,
    pub dest: NodeFilter,
}

/// Reaching any of `any_of` (or, `negate`, none of them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReachGroup {
    pub any_of: Vec<Reach>,
    pub negate: bool,
}

/// Which nodes a query reads; every part must hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeFilter {
    /// Of one of these types (empty: any).
    pub node_types: Vec<String>,
    /// In one of these projects (`None`: anywhere, programs included).
    pub projects: Option<Vec<String>>,
    /// One of these ids.
    pub ids: Option<Vec<String>>,
    /// Property name and how it must match.
    pub props: Vec<(String, PropMatch)>,
    /// The id or `submitter_id` contains this text, case-insensitively.
    pub quick_search: Option<String>,
    /// `created_datetime` strictly after / before (compared as ISO 8601 text).
    pub created_after: Option<String>,
    pub created_before: Option<String>,
    pub updated_after: Option<String>,
    pub updated_before: Option<String>,
    /// Paths to other nodes that must (or must not) exist; every group must hold.
    pub reach: Vec<ReachGroup>,
}

/// A page of nodes matching a filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeQuery {
    pub filter: NodeFilter,
    /// A property name (or `id`), ascending or not; ties and `None` in id order.
    pub order: Option<(String, bool)>,
    /// `None`: every match.
    pub limit: Option<usize>,
    pub offset: usize,
}

/// The nodes linked to `anchors` by edges named `link`: their parents (`to_parents`: the
/// anchors are the edges' children) or their children, each anchor's page of
/// [`NodeQuery`] on its own.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LinkedQuery {
    pub anchors: Vec<String>,
    pub link: String,
    pub to_parents: bool,
    pub query: NodeQuery,
}

/// Which logged transactions a query reads (peregrine's `transaction_log`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransactionQuery {
    /// Of these projects (`None`: any).
    pub projects: Option<Vec<String>>,
    pub id: Option<i64>,
    pub dry_run: Option<bool>,
    pub closed: Option<bool>,
    pub state: Option<String>,
    pub committed_by: Option<i64>,
    /// A successful dry run neither closed nor committed (or, `false`, anything else).
    pub committable: Option<bool>,
    /// Of these roles (`create`, `update`, `delete`, …).
    pub roles: Option<Vec<String>>,
    /// Newest first (else oldest first).
    pub newest_first: bool,
    pub limit: Option<usize>,
    pub offset: usize,
}

/// A logged transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphTransaction {
    pub id: i64,
    pub entry: GraphLogEntry,
}

/// One entry of the graph's change feed: a node created, updated or deleted, or the child
/// of an edge added or removed (its parent only gained or lost a child), by a change. Followers
/// (the explorer's live documents) read the feed in `seq` order. On PostgreSQL a `seq` may
/// become visible after a greater one (transactions commit out of order), so a follower
/// reads again behind its last `seq` for a while (see `weft-explore`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub seq: i64,
    pub node_id: String,
}

#[async_trait]
pub trait GraphStore: Send + Sync + 'static {
    /// The nodes of these ids that exist, any type, in no particular order.
    async fn graph_nodes(&self, ids: Vec<String>) -> StoreResult<Vec<GraphNode>>;

    /// For each `(node type, key)`, the node holding it, in the order asked.
    async fn graph_find_unique(
        &self,
        keys: Vec<(String, UniqueKey)>,
    ) -> StoreResult<Vec<Option<GraphNode>>>;

    /// The edges out of these nodes (to their parents), by `(src, link, dst)`.
    async fn graph_parents(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>>;

    /// The edges into these nodes (from their children), by `(dst, link, src)`.
    async fn graph_children(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>>;

    /// One page of nodes in id order.
    async fn graph_list(&self, query: GraphListQuery) -> StoreResult<Vec<GraphNode>>;

    /// How many nodes of each type a project holds (`None`: programs), by type.
    async fn graph_counts(&self, project_id: Option<String>) -> StoreResult<Vec<(String, i64)>>;

    /// Write a change and its log entry in one transaction ([`GraphChange`] says in which
    /// order); returns the entry's id. Any failure writes nothing, the log entry included.
    async fn graph_apply(&self, change: GraphChange) -> StoreResult<i64>;

    /// Log a transaction that changed nothing (a dry run, a refused submission).
    async fn graph_log(&self, entry: GraphLogEntry) -> StoreResult<i64>;

    /// A page of the nodes a query matches.
    async fn graph_query(&self, query: NodeQuery) -> StoreResult<Vec<GraphNode>>;

    /// How many nodes a filter matches.
    async fn graph_count(&self, filter: NodeFilter) -> StoreResult<i64>;

    /// For each anchor, its page of linked nodes: `(anchor, node)` by anchor, each
    /// anchor's nodes in the query's order.
    async fn graph_linked(&self, query: LinkedQuery) -> StoreResult<Vec<(String, GraphNode)>>;

    /// For each anchor with any, how many linked nodes match (the query's page ignored).
    async fn graph_linked_counts(&self, query: LinkedQuery) -> StoreResult<Vec<(String, i64)>>;

    /// The logged transactions a query matches, in id order (or newest first).
    async fn graph_transaction_query(
        &self,
        query: TransactionQuery,
    ) -> StoreResult<Vec<GraphTransaction>>;

    /// How many logged transactions a query matches (its page ignored).
    async fn graph_transaction_count(&self, query: TransactionQuery) -> StoreResult<i64>;

    /// One logged transaction.
    async fn graph_transaction(&self, id: i64) -> StoreResult<Option<GraphTransaction>>;

    /// Close a dry run so it can no longer be committed; `Invalid` when it is not an open,
    /// uncommitted dry run (any more), `NotFound` when there is no such entry.
    async fn graph_close(&self, id: i64) -> StoreResult<()>;

    /// Up to `limit` nodes of a type in id order, those after `after`.
    async fn graph_scan(
        &self,
        node_type: String,
        after: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphNode>>;

    /// Up to `limit` entries of the change feed after `after`, in `seq` order.
    async fn graph_feed(&self, after: i64, limit: usize) -> StoreResult<Vec<FeedEntry>>;

    /// The greatest `seq` of the feed (0 when it is empty).
    async fn graph_feed_head(&self) -> StoreResult<i64>;

    /// Drop the feed's entries written before `before` (Unix seconds); returns how many.
    async fn graph_feed_prune(&self, before: i64) -> StoreResult<u64>;

    /// The newest logged transactions, newest first, of a project or of all.
    async fn graph_transactions(
        &self,
        project_id: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphTransaction>>;
}

/// What both SQL backends share: portable statements (`$n` parameters), the properties'
/// text form, and the errors a change reports, worded the same on both.
pub mod sql {
    use serde_json::{Map, Value};

    use super::{GraphEdge, GraphListQuery, UniqueKey};
    use crate::StoreError;
    use crate::sql::{Param, Sql};

    /// Columns of `graph_node n`, in [`super::GraphNode`] order.
    pub const NODE_COLUMNS: &str = "n.id, n.node_type, n.project_id, n.submitter_id, n.props";
    pub const INSERT_NODE: &str = "INSERT INTO graph_node (id, node_type, project_id, \
         submitter_id, props) VALUES ($1, $2, $3, $4, $5)";
    /// An update keeps the node's type: `$1` id, `$2` type.
    pub const UPDATE_NODE: &str = "UPDATE graph_node SET project_id = $3, submitter_id = $4, \
         props = $5 WHERE id = $1 AND node_type = $2";
    pub const INSERT_UNIQUE: &str =
        "INSERT INTO graph_unique (node_type, names, value, node_id) VALUES ($1, $2, $3, $4)";
    /// Adding an edge that exists already changes nothing.
    pub const INSERT_EDGE: &str = "INSERT INTO graph_edge (src, link, dst) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING";
    pub const DELETE_EDGE: &str =
        "DELETE FROM graph_edge WHERE src = $1 AND link = $2 AND dst = $3";
    /// `$4` is a boolean, bound the way each backend stores one.
    pub const INSERT_LOG: &str = "INSERT INTO graph_transaction (project_id, role, submitter, \
         is_dry_run, state, created, documents) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
    /// Columns of `graph_transaction`, in [`super::GraphTransaction`] order.
    pub const LOG_COLUMNS: &str = "id, project_id, role, submitter, is_dry_run, state, \
         created, documents, closed, committed_by";
    /// One log entry by id: `$1`.
    pub const LOG_BY_ID: &str = "SELECT id, project_id, role, submitter, is_dry_run, state, \
         created, documents, closed, committed_by FROM graph_transaction WHERE id = $1";
    /// A dry run still open and uncommitted: `$1` its id; `$2` the transaction committing
    /// it, or NULL to close it. Changes no row when it is not (any more).
    pub const SETTLE_DRY_RUN: &str = "UPDATE graph_transaction SET \
         committed_by = $2, closed = (closed OR $2 IS NULL) \
         WHERE id = $1 AND is_dry_run AND NOT closed AND committed_by IS NULL";

    /// Why a dry run could not be committed or closed.
    #[must_use]
    pub fn unsettled(id: i64) -> StoreError {
        StoreError::Invalid(format!(
            "transaction {id} is not an open, uncommitted dry run (it may have been committed \
             or closed meanwhile)"
        ))
    }

    fn limit(n: usize) -> i64 {
        i64::try_from(n).unwrap_or(i64::MAX)
    }

    /// `project_id = $k`, or `IS NULL` for programs.
    fn project_filter(sql: &mut Sql, project_id: Option<&str>) -> String {
        match project_id {
            Some(p) => format!("n.project_id = {}", sql.bind(p)),
            None => "n.project_id IS NULL".to_owned(),
        }
    }

    /// The page of nodes [`GraphListQuery`] asks for, in id order.
    #[must_use]
    pub fn list(q: &GraphListQuery) -> Sql {
        let mut sql = Sql::new("");
        let mut filters = vec![project_filter(&mut sql, q.project_id.as_deref())];
        if let Some(t) = &q.node_type {
            filters.push(format!("n.node_type = {}", sql.bind(t.as_str())));
        }
        id_page(sql, filters, q.after.as_deref(), q.limit)
    }

    /// Nodes matching `filters` (on `graph_node n`, their parameters bound in `sql`), in
    /// id order after `after`, at most `n`.
    fn id_page(mut sql: Sql, mut filters: Vec<String>, after: Option<&str>, n: usize) -> Sql {
        if let Some(a) = after {
            filters.push(format!("n.id > {}", sql.bind(a)));
        }
        let l = sql.bind(crate::sql::Param::Int(limit(n)));
        sql.text = format!(
            "SELECT {NODE_COLUMNS} FROM graph_node n WHERE {} ORDER BY n.id LIMIT {l}",
            filters.join(" AND ")
        );
        sql
    }

    /// Up to `limit` nodes of a type in id order, after `after`.
    #[must_use]
    pub fn scan(node_type: &str, after: Option<&str>, n: usize) -> Sql {
        let mut sql = Sql::new("");
        let filters = vec![format!("n.node_type = {}", sql.bind(node_type))];
        id_page(sql, filters, after, n)
    }

    /// The feed after `$1`, at most `$2` entries.
    pub const FEED_AFTER: &str =
        "SELECT seq, node_id FROM graph_feed WHERE seq > $1 ORDER BY seq LIMIT $2";
    pub const FEED_HEAD: &str = "SELECT COALESCE(MAX(seq), 0) FROM graph_feed";
    pub const FEED_PRUNE: &str = "DELETE FROM graph_feed WHERE at < $1";

    /// The nodes a change touches, each once: written, deleted, or the child of an edge
    /// added or removed (what the feed records of it).
    #[must_use]
    pub fn touched(change: &super::GraphChange) -> Vec<String> {
        let mut seen = std::collections::BTreeSet::new();
        for id in change
            .nodes
            .iter()
            .map(|w| w.node.id.as_str())
            .chain(change.delete.iter().map(String::as_str))
            .chain(
                change
                    .add_edges
                    .iter()
                    .chain(&change.remove_edges)
                    .map(|e| e.src.as_str()),
            )
        {
            seen.insert(id);
        }
        seen.into_iter().map(str::to_owned).collect()
    }

    /// Now, in Unix seconds (when a feed entry is written).
    #[must_use]
    pub fn unix_now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }

    /// Nodes per type of a project (`None`: programs), by type.
    #[must_use]
    pub fn counts(project_id: Option<&str>) -> Sql {
        let mut sql = Sql::new("");
        let filter = project_filter(&mut sql, project_id);
        sql.text = format!(
            "SELECT n.node_type, COUNT(*) FROM graph_node n WHERE {filter} \
             GROUP BY n.node_type ORDER BY n.node_type"
        );
        sql
    }

    /// The newest `limit` log entries, of a project or of all.
    #[must_use]
    pub fn transactions(project_id: Option<&str>, n: usize) -> Sql {
        let mut sql = Sql::new("");
        let filter = match project_id {
            Some(p) => format!("WHERE project_id = {} ", sql.bind(p)),
            None => String::new(),
        };
        let l = sql.bind(crate::sql::Param::Int(limit(n)));
        sql.text = format!(
            "SELECT {LOG_COLUMNS} FROM graph_transaction {filter}ORDER BY id DESC LIMIT {l}"
        );
        sql
    }

    /// What differs between the backends' SQL for reading JSON properties.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Dialect {
        Sqlite,
        Postgres,
    }

    impl Dialect {
        /// The property `key` of `<a>.props`, as a value comparable with [`Self::value`].
        fn prop(self, sql: &mut Sql, a: &str, key: &str) -> String {
            match self {
                Self::Sqlite => {
                    let path = sql.bind(format!("$.\"{}\"", key.replace('"', "")));
                    format!("json_extract({a}.props, {path})")
                }
                Self::Postgres => format!("({a}.props::jsonb -> {})", sql.bind(key)),
            }
        }

        /// The property `key` as text.
        fn prop_text(self, sql: &mut Sql, a: &str, key: &str) -> String {
            match self {
                Self::Sqlite => self.prop(sql, a, key),
                Self::Postgres => format!("({a}.props::jsonb ->> {})", sql.bind(key)),
            }
        }

        /// A bound value comparable with [`Self::prop`].
        fn value(self, sql: &mut Sql, v: &Value) -> String {
            match (self, v) {
                (Self::Sqlite, Value::String(s)) => sql.bind(s.as_str()),
                (Self::Sqlite, Value::Bool(b)) => sql.bind(Param::Int(i64::from(*b))),
                (Self::Sqlite, Value::Number(n)) => match n.as_i64() {
                    Some(i) => sql.bind(Param::Int(i)),
                    None => format!("CAST({} AS REAL)", sql.bind(n.to_string())),
                },
                (Self::Sqlite, other) => sql.bind(other.to_string()),
                (Self::Postgres, v) => format!("{}::jsonb", sql.bind(v.to_string())),
            }
        }

        /// Whether `text` (lower case) occurs in the expression `expr`.
        fn contains(self, sql: &mut Sql, expr: &str, text: &str) -> String {
            let p = sql.bind(text.to_lowercase());
            match self {
                Self::Sqlite => format!("instr(lower({expr}), {p}) > 0"),
                Self::Postgres => format!("strpos(lower({expr}), {p}) > 0"),
            }
        }
    }

    fn in_list(sql: &mut Sql, expr: &str, items: &[String]) -> String {
        if items.is_empty() {
            return "1 = 0".to_owned();
        }
        let ps: Vec<String> = items.iter().map(|i| sql.bind(i.as_str())).collect();
        format!("{expr} IN ({})", ps.join(", "))
    }

    /// The conditions of a filter on `graph_node n`, joined by `AND` (`1 = 1` for none).
    #[must_use]
    pub fn node_filter(d: Dialect, sql: &mut Sql, f: &super::NodeFilter) -> String {
        filter_on(d, sql, f, "n")
    }

    /// Whether the node `<a>` reaches, along `hops`, a node that `dest` matches: one
    /// `EXISTS` of joins over the edge and node tables (each hop an index probe).
    fn reaches(
        d: Dialect,
        sql: &mut Sql,
        a: &str,
        hops: &[super::Hop],
        dest: &super::NodeFilter,
    ) -> String {
        let tag = sql.params.len();
        let mut from = String::new();
        let mut conds = Vec::new();
        let mut prev = format!("{a}.id");
        for (i, h) in hops.iter().enumerate() {
            let (e, m) = (format!("e{tag}_{i}"), format!("m{tag}_{i}"));
            let (near, far) = if h.to_parents {
                ("src", "dst")
            } else {
                ("dst", "src")
            };
            // CROSS JOIN keeps SQLite's join order: from the outer node along the edges
            // (an index probe each), never from a scan of a node type.
            if i > 0 {
                from.push_str(" CROSS JOIN ");
            }
            from.push_str(&format!("graph_edge {e} CROSS JOIN graph_node {m}"));
            conds.push(format!("{e}.{near} = {prev}"));
            conds.push(format!("{m}.id = {e}.{far}"));
            conds.push(format!("{e}.link = {}", sql.bind(h.link.as_str())));
            conds.push(format!(
                "{m}.node_type = {}",
                sql.bind(h.node_type.as_str())
            ));
            prev = format!("{m}.id");
        }
        let last = format!("m{tag}_{}", hops.len().saturating_sub(1));
        conds.push(filter_on(d, sql, dest, &last));
        format!(
            "EXISTS (SELECT 1 FROM {from} WHERE {})",
            conds.join(" AND ")
        )
    }

    /// [`reaches`] walked the other way, for a destination a filter narrows: the nodes the
    /// destinations reach back along `hops`, found once (from the destinations' few rows
    /// through the edges' indexes), then `<a>.id IN` them.
    fn reached_from(
        d: Dialect,
        sql: &mut Sql,
        a: &str,
        hops: &[super::Hop],
        dest: &super::NodeFilter,
    ) -> String {
        let tag = sql.params.len();
        let k = hops.len() - 1;
        let mut from = format!("graph_node m{tag}_{k}");
        let dest_cond = filter_on(d, sql, dest, &format!("m{tag}_{k}"));
        let mut conds = vec![dest_cond];
        for (i, h) in hops.iter().enumerate().rev() {
            let (e, m) = (format!("e{tag}_{i}"), format!("m{tag}_{i}"));
            let (near, far) = if h.to_parents {
                ("src", "dst")
            } else {
                ("dst", "src")
            };
            from.push_str(&format!(" CROSS JOIN graph_edge {e}"));
            conds.push(format!("{e}.{far} = {m}.id"));
            conds.push(format!("{e}.link = {}", sql.bind(h.link.as_str())));
            conds.push(format!(
                "{m}.node_type = {}",
                sql.bind(h.node_type.as_str())
            ));
            if i > 0 {
                let before = format!("m{tag}_{}", i - 1);
                from.push_str(&format!(" CROSS JOIN graph_node {before}"));
                conds.push(format!("{before}.id = {e}.{near}"));
            }
        }
        let first_near = if hops[0].to_parents { "src" } else { "dst" };
        format!(
            "{a}.id IN (SELECT e{tag}_0.{first_near} FROM {from} WHERE {})",
            conds.join(" AND ")
        )
    }

    /// [`node_filter`] on the node table aliased `a`.
    fn filter_on(d: Dialect, sql: &mut Sql, f: &super::NodeFilter, a: &str) -> String {
        use super::PropMatch;
        let mut conds = Vec::new();
        if !f.node_types.is_empty() {
            conds.push(in_list(sql, &format!("{a}.node_type"), &f.node_types));
        }
        if let Some(p) = &f.projects {
            conds.push(in_list(sql, &format!("{a}.project_id"), p));
        }
        if let Some(ids) = &f.ids {
            conds.push(in_list(sql, &format!("{a}.id"), ids));
        }
        for (key, m) in &f.props {
            match m {
                PropMatch::AnyOf(values) if values.is_empty() => conds.push("1 = 0".into()),
                PropMatch::AnyOf(values) => {
                    let prop = d.prop(sql, a, key);
                    let vs: Vec<String> = values.iter().map(|v| d.value(sql, v)).collect();
                    conds.push(format!("{prop} IN ({})", vs.join(", ")));
                }
                PropMatch::HoldsAll(values) => {
                    for v in values {
                        let cond = match d {
                            Dialect::Sqlite => {
                                let path = sql.bind(format!("$.\"{}\"", key.replace('"', "")));
                                let value = d.value(sql, v);
                                format!(
                                    "EXISTS (SELECT 1 FROM json_each({a}.props, {path}) j \
                                     WHERE j.value = {value})"
                                )
                            }
                            Dialect::Postgres => {
                                let prop = d.prop(sql, a, key);
                                let value = d.value(sql, v);
                                format!("{prop} @> jsonb_build_array({value})")
                            }
                        };
                        conds.push(cond);
                    }
                }
                PropMatch::Not(v) => {
                    let text = d.prop_text(sql, a, key);
                    let prop = d.prop(sql, a, key);
                    let value = d.value(sql, v);
                    conds.push(format!("({text} IS NOT NULL AND {prop} <> {value})"));
                }
            }
        }
        if let Some(q) = f.quick_search.as_deref().filter(|q| !q.is_empty()) {
            let by_id = d.contains(sql, &format!("{a}.id"), q);
            let by_submitter = d.contains(sql, &format!("COALESCE({a}.submitter_id, '')"), q);
            conds.push(format!("({by_id} OR {by_submitter})"));
        }
        for (key, bound, op) in [
            ("created_datetime", &f.created_after, ">"),
            ("created_datetime", &f.created_before, "<"),
            ("updated_datetime", &f.updated_after, ">"),
            ("updated_datetime", &f.updated_before, "<"),
        ] {
            if let Some(t) = bound {
                let prop = d.prop_text(sql, a, key);
                conds.push(format!("{prop} {op} {}", sql.bind(t.as_str())));
            }
        }
        for group in &f.reach {
            let mut any = Vec::new();
            for r in &group.any_of {
                let narrowed = r.dest.ids.is_some() || !r.dest.props.is_empty();
                for hops in r.paths.iter().filter(|h| !h.is_empty()) {
                    any.push(if narrowed {
                        reached_from(d, sql, a, hops, &r.dest)
                    } else {
                        reaches(d, sql, a, hops, &r.dest)
                    });
                }
            }
            let cond = if any.is_empty() {
                "1 = 0".to_owned()
            } else {
                format!("({})", any.join(" OR "))
            };
            conds.push(if group.negate {
                format!("NOT {cond}")
            } else {
                cond
            });
        }
        if conds.is_empty() {
            "1 = 1".to_owned()
        } else {
            conds.join(" AND ")
        }
    }

    /// `ORDER BY` terms of a query (ties in id order).
    fn order_by(d: Dialect, sql: &mut Sql, order: Option<&(String, bool)>) -> String {
        match order {
            Some((key, asc)) if key != "id" => {
                let prop = d.prop(sql, "n", key);
                let dir = if *asc { "ASC" } else { "DESC" };
                format!("{prop} {dir}, n.id")
            }
            Some((_, false)) => "n.id DESC".to_owned(),
            _ => "n.id".to_owned(),
        }
    }

    /// ` LIMIT … OFFSET …` of a page (`None`: no limit, each backend's way of saying so).
    fn page(d: Dialect, sql: &mut Sql, first: Option<usize>, offset: usize) -> String {
        let mut out = String::new();
        if let Some(l) = first {
            out.push_str(&format!(" LIMIT {}", sql.bind(Param::Int(limit(l)))));
        } else if offset > 0 {
            out.push_str(match d {
                Dialect::Sqlite => " LIMIT -1",
                Dialect::Postgres => " LIMIT ALL",
            });
        }
        if offset > 0 {
            out.push_str(&format!(" OFFSET {}", sql.bind(Param::Int(limit(offset)))));
        }
        out
    }

    /// A page of the nodes a query matches.
    #[must_use]
    pub fn query(d: Dialect, q: &super::NodeQuery) -> Sql {
        let mut sql = Sql::new("");
        let filter = node_filter(d, &mut sql, &q.filter);
        let order = order_by(d, &mut sql, q.order.as_ref());
        let page = page(d, &mut sql, q.limit, q.offset);
        sql.text = format!(
            "SELECT {NODE_COLUMNS} FROM graph_node n WHERE {filter} ORDER BY {order}{page}"
        );
        sql
    }

    /// How many nodes a filter matches.
    #[must_use]
    pub fn count(d: Dialect, f: &super::NodeFilter) -> Sql {
        let mut sql = Sql::new("");
        let filter = node_filter(d, &mut sql, f);
        sql.text = format!("SELECT COUNT(*) FROM graph_node n WHERE {filter}");
        sql
    }

    /// The edge's anchor column and the column joined to the linked node.
    fn ends(to_parents: bool) -> (&'static str, &'static str) {
        if to_parents {
            ("e.src", "e.dst")
        } else {
            ("e.dst", "e.src")
        }
    }

    /// Each anchor's page of linked nodes: the anchor, then the node's columns. The edges of
    /// the anchors drive the join (`CROSS JOIN` fixes SQLite's order), so the cost follows
    /// the anchors' links, not the size of the linked type.
    #[must_use]
    pub fn linked(d: Dialect, q: &super::LinkedQuery) -> Sql {
        let mut sql = Sql::new("");
        let (anchor, other) = ends(q.to_parents);
        let link = sql.bind(q.link.as_str());
        let anchors = in_list(&mut sql, anchor, &q.anchors);
        let filter = node_filter(d, &mut sql, &q.query.filter);
        let order = order_by(d, &mut sql, q.query.order.as_ref());
        let from = q.query.offset;
        let mut window = format!("x.rn > {}", sql.bind(Param::Int(limit(from))));
        if let Some(l) = q.query.limit {
            let to = sql.bind(Param::Int(limit(from.saturating_add(l))));
            window.push_str(&format!(" AND x.rn <= {to}"));
        }
        sql.text = format!(
            "SELECT x.anchor, x.id, x.node_type, x.project_id, x.submitter_id, x.props FROM \
             (SELECT {anchor} AS anchor, n.id, n.node_type, n.project_id, n.submitter_id, \
             n.props, ROW_NUMBER() OVER (PARTITION BY {anchor} ORDER BY {order}) AS rn \
             FROM graph_edge e CROSS JOIN graph_node n \
             WHERE n.id = {other} AND e.link = {link} AND {anchors} AND {filter}) x \
             WHERE {window} ORDER BY x.anchor, x.rn"
        );
        sql
    }

    /// For each anchor with any, how many linked nodes match.
    #[must_use]
    pub fn linked_counts(d: Dialect, q: &super::LinkedQuery) -> Sql {
        let mut sql = Sql::new("");
        let (anchor, other) = ends(q.to_parents);
        let link = sql.bind(q.link.as_str());
        let anchors = in_list(&mut sql, anchor, &q.anchors);
        let filter = node_filter(d, &mut sql, &q.query.filter);
        sql.text = format!(
            "SELECT {anchor}, COUNT(*) FROM graph_edge e CROSS JOIN graph_node n \
             WHERE n.id = {other} AND e.link = {link} AND {anchors} AND {filter} \
             GROUP BY {anchor}"
        );
        sql
    }

    /// The conditions of a transaction query, joined by `AND`.
    fn transaction_filter(d: Dialect, sql: &mut Sql, q: &super::TransactionQuery) -> String {
        let flag = |b: bool| match d {
            Dialect::Sqlite => {
                if b {
                    "1"
                } else {
                    "0"
                }
            }
            Dialect::Postgres => {
                if b {
                    "TRUE"
                } else {
                    "FALSE"
                }
            }
        };
        let mut conds = vec!["1 = 1".to_owned()];
        if let Some(p) = &q.projects {
            conds.push(in_list(sql, "project_id", p));
        }
        if let Some(id) = q.id {
            conds.push(format!("id = {}", sql.bind(Param::Int(id))));
        }
        if let Some(b) = q.dry_run {
            conds.push(format!("is_dry_run = {}", flag(b)));
        }
        if let Some(b) = q.closed {
            conds.push(format!("closed = {}", flag(b)));
        }
        if let Some(state) = &q.state {
            conds.push(format!("state = {}", sql.bind(state.as_str())));
        }
        if let Some(by) = q.committed_by {
            conds.push(format!("committed_by = {}", sql.bind(Param::Int(by))));
        }
        if let Some(c) = q.committable {
            let yes = format!(
                "(is_dry_run = {} AND state = 'SUCCEEDED' AND closed = {} AND committed_by IS NULL)",
                flag(true),
                flag(false)
            );
            conds.push(if c { yes } else { format!("NOT {yes}") });
        }
        if let Some(roles) = &q.roles {
            conds.push(in_list(sql, "role", roles));
        }
        conds.join(" AND ")
    }

    /// A page of logged transactions.
    #[must_use]
    pub fn transaction_query(d: Dialect, q: &super::TransactionQuery) -> Sql {
        let mut sql = Sql::new("");
        let filter = transaction_filter(d, &mut sql, q);
        let order = if q.newest_first { "id DESC" } else { "id" };
        let page = page(d, &mut sql, q.limit, q.offset);
        sql.text = format!(
            "SELECT {LOG_COLUMNS} FROM graph_transaction WHERE {filter} ORDER BY {order}{page}"
        );
        sql
    }

    /// How many logged transactions a query matches.
    #[must_use]
    pub fn transaction_count(d: Dialect, q: &super::TransactionQuery) -> Sql {
        let mut sql = Sql::new("");
        let filter = transaction_filter(d, &mut sql, q);
        sql.text = format!("SELECT COUNT(*) FROM graph_transaction WHERE {filter}");
        sql
    }

    /// A node's properties as stored: one JSON object's text.
    #[must_use]
    pub fn props_text(props: &Map<String, Value>) -> String {
        // a map of JSON values always serializes
        serde_json::to_string(props).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The stored properties back as an object.
    pub fn props(text: &str) -> Result<Map<String, Value>, StoreError> {
        serde_json::from_str(text)
            .map_err(|e| StoreError::Backend(format!("stored node properties: {e}")))
    }

    /// A created node whose id is taken.
    #[must_use]
    pub fn id_taken(node_type: &str, id: &str) -> StoreError {
        StoreError::AlreadyExists(format!("{node_type} with id {id} already exists"))
    }

    /// A node whose unique key another node of its type holds.
    #[must_use]
    pub fn key_taken(node_type: &str, key: &UniqueKey) -> StoreError {
        StoreError::AlreadyExists(format!(
            "{node_type} with {} {} already exists",
            key.names, key.value
        ))
    }

    /// A deleted node that a node which stays still links to.
    #[must_use]
    pub fn has_children(parent_type: &str, edge: &GraphEdge, child_type: &str) -> StoreError {
        StoreError::Invalid(format!(
            "{parent_type} {} has children and cannot be deleted: {child_type} {} links to it \
             ({})",
            edge.dst, edge.src, edge.link
        ))
    }

    /// An added edge with an end that does not exist.
    #[must_use]
    pub fn missing_end(edge: &GraphEdge, missing: &str) -> StoreError {
        StoreError::Invalid(format!(
            "cannot link {} to {} ({}): node {missing} does not exist",
            edge.src, edge.dst, edge.link
        ))
    }

    /// The first edge of `edges` with an end not in `exists`, as an error.
    pub fn check_ends(
        edges: &[GraphEdge],
        exists: &std::collections::HashSet<String>,
    ) -> Result<(), StoreError> {
        for e in edges {
            for end in [&e.src, &e.dst] {
                if !exists.contains(end) {
                    return Err(missing_end(e, end));
                }
            }
        }
        Ok(())
    }

    /// Every id at either end of `edges`, each once.
    #[must_use]
    pub fn edge_ends(edges: &[GraphEdge]) -> Vec<String> {
        let set: std::collections::BTreeSet<&str> = edges
            .iter()
            .flat_map(|e| [e.src.as_str(), e.dst.as_str()])
            .collect();
        set.into_iter().map(str::to_owned).collect()
    }

    /// `Invalid` when a node is written twice in one change.
    pub fn check_nodes(change: &super::GraphChange) -> Result<(), StoreError> {
        let mut seen = std::collections::HashSet::new();
        match change
            .nodes
            .iter()
            .find(|w| !seen.insert(w.node.id.as_str()))
        {
            Some(w) => Err(StoreError::Invalid(format!(
                "{} {} is written twice in one change",
                w.node.node_type, w.node.id
            ))),
            None => Ok(()),
        }
    }

    /// `ids` without repeats, in first-seen order.
    #[must_use]
    pub fn distinct(ids: &[String]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        ids.iter()
            .filter(|i| seen.insert(i.as_str()))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::sql;
    use super::*;
    use crate::StoreError;
    use crate::sql::Param;

    #[test]
    fn unique_keys_are_names_and_a_json_array() {
        let k = UniqueKey::new(
            &["project_id", "submitter_id"],
            &[&json!("P-Q"), &json!("c1")],
        );
        assert_eq!(k.names, "project_id,submitter_id");
        assert_eq!(k.value, r#"["P-Q","c1"]"#);
        assert_eq!(
            sql::key_taken("case", &k),
            StoreError::AlreadyExists(
                r#"case with project_id,submitter_id ["P-Q","c1"] already exists"#.into()
            )
        );
    }

    #[test]
    fn listings_bind_their_filters_in_order() {
        let cases = [
            (
                GraphListQuery {
                    limit: 5,
                    ..GraphListQuery::default()
                },
                "n.project_id IS NULL ORDER BY n.id LIMIT $1",
                vec![Param::Int(5)],
            ),
            (
                GraphListQuery {
                    project_id: Some("p-q".into()),
                    node_type: Some("case".into()),
                    after: Some("x".into()),
                    limit: 2,
                },
                "n.project_id = $1 AND n.node_type = $2 AND n.id > $3 ORDER BY n.id LIMIT $4",
                vec!["p-q".into(), "case".into(), "x".into(), Param::Int(2)],
            ),
        ];
        for (q, tail, params) in cases {
            let stmt = sql::list(&q);
            assert!(
                stmt.text.ends_with(&format!("WHERE {tail}")),
                "{}",
                stmt.text
            );
            assert_eq!(stmt.params, params);
        }
        let t = sql::transactions(None, usize::MAX);
        assert!(
            t.text
                .ends_with("graph_transaction ORDER BY id DESC LIMIT $1"),
            "{}",
            t.text
        );
        assert_eq!(t.params, vec![Param::Int(i64::MAX)]);
        assert!(
            sql::counts(Some("p"))
                .text
                .contains("WHERE n.project_id = $1 GROUP BY")
        );
    }

    #[test]
    fn a_node_written_twice_is_refused() {
        let node = GraphNode {
            id: "a".into(),
            node_type: "case".into(),
            project_id: None,
            submitter_id: None,
            props: Map::new(),
        };
        let write = NodeWrite {
            node,
            unique: vec![],
            create: true,
        };
        let mut change = GraphChange {
            nodes: vec![write.clone()],
            ..GraphChange::default()
        };
        assert_eq!(sql::check_nodes(&change), Ok(()));
        change.nodes.push(write);
        assert!(matches!(
            sql::check_nodes(&change),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(
            sql::distinct(&["b".into(), "a".into(), "b".into()]),
            vec!["b".to_owned(), "a".to_owned()]
        );
    }
}
