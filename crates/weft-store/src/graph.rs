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
/// taken) or updated in place (its properties and unique keys replaced).
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
}

/// Everything one submission changes, written in one transaction or not at all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GraphChange {
    pub log: GraphLogEntry,
    pub nodes: Vec<NodeWrite>,
    /// Node ids to delete, with their unique keys and the edges out of them. An edge into
    /// one from a node that stays makes the change fail (`Invalid`): nothing is orphaned.
    pub delete: Vec<String>,
    pub add_edges: Vec<GraphEdge>,
    pub remove_edges: Vec<GraphEdge>,
    /// Index records registered for file nodes, created in the same transaction
    /// (`AlreadyExists` when a did is taken).
    pub index_records: Vec<IndexRecord>,
    /// Index aliases `(alias, did)` created with them.
    pub index_aliases: Vec<(String, String)>,
    /// Index records replaced in place, each with the revision it must still have.
    pub index_updates: Vec<(IndexRecord, String)>,
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

/// A logged transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphTransaction {
    pub id: i64,
    pub entry: GraphLogEntry,
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

    /// The edges out of these nodes (to their parents).
    async fn graph_parents(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>>;

    /// The edges into these nodes (from their children).
    async fn graph_children(&self, ids: Vec<String>) -> StoreResult<Vec<GraphLink>>;

    /// One page of nodes in id order.
    async fn graph_list(&self, query: GraphListQuery) -> StoreResult<Vec<GraphNode>>;

    /// How many nodes of each type a project holds (`None`: programs), by type.
    async fn graph_counts(&self, project_id: Option<String>) -> StoreResult<Vec<(String, i64)>>;

    /// Write a change and its log entry in one transaction; returns the entry's id.
    async fn graph_apply(&self, change: GraphChange) -> StoreResult<i64>;

    /// Log a transaction that changed nothing (a dry run, a refused submission).
    async fn graph_log(&self, entry: GraphLogEntry) -> StoreResult<i64>;

    /// The newest logged transactions, newest first, of a project or of all.
    async fn graph_transactions(
        &self,
        project_id: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<GraphTransaction>>;
}
