//! Nested link fields, batched: every parent of one level asking for the same link with the
//! same arguments is answered by one statement (each parent's page cut in the database),
//! so a page of 100 cases with their samples is two statements, not 101.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weft_store::{GraphNode, GraphStore, LinkedQuery, NodeQuery};

/// A link and its query: which batch a key belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub link: String,
    pub to_parents: bool,
    pub query: NodeQuery,
}

/// Loads linked nodes (or their counts) of anchors, batching the anchors of one spec.
pub struct Links {
    store: Arc<dyn GraphStore>,
    /// Specs by their key, registered by the resolvers before they load.
    specs: Mutex<HashMap<String, Spec>>,
}

/// A spec's key and one anchor.
pub type Key = (String, String);

impl Links {
    pub fn new(store: Arc<dyn GraphStore>) -> Self {
        Self {
            store,
            specs: Mutex::new(HashMap::new()),
        }
    }

    /// The key of a spec, registered for the batch that loads it.
    pub fn register(&self, spec: Spec) -> String {
        let key = format!("{spec:?}");
        self.specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key.clone())
            .or_insert(spec);
        key
    }

    fn spec(&self, key: &str) -> Option<Spec> {
        self.specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Each spec's anchors among `keys`.
    fn batches(keys: &[Key]) -> HashMap<&str, Vec<String>> {
        let mut by_spec: HashMap<&str, Vec<String>> = HashMap::new();
        for (spec, anchor) in keys {
            by_spec.entry(spec).or_default().push(anchor.clone());
        }
        by_spec
    }
}

/// Linked nodes of each anchor.
pub struct Nodes(pub Arc<Links>);

/// How many linked nodes each anchor has.
pub struct Counts(pub Arc<Links>);

impl async_graphql::dataloader::Loader<Key> for Nodes {
    type Value = Vec<GraphNode>;
    type Error = Arc<String>;

    async fn load(&self, keys: &[Key]) -> Result<HashMap<Key, Vec<GraphNode>>, Arc<String>> {
        let mut out: HashMap<Key, Vec<GraphNode>> = HashMap::new();
        for (spec_key, anchors) in Links::batches(keys) {
            let Some(spec) = self.0.spec(spec_key) else {
                continue;
            };
            for a in &anchors {
                out.insert((spec_key.to_owned(), a.clone()), Vec::new());
            }
            let rows = self
                .0
                .store
                .graph_linked(LinkedQuery {
                    anchors,
                    link: spec.link,
                    to_parents: spec.to_parents,
                    query: spec.query,
                })
                .await
                .map_err(|e| Arc::new(e.to_string()))?;
            for (anchor, node) in rows {
                out.entry((spec_key.to_owned(), anchor))
                    .or_default()
                    .push(node);
            }
        }
        Ok(out)
    }
}

impl async_graphql::dataloader::Loader<Key> for Counts {
    type Value = i64;
    type Error = Arc<String>;

    async fn load(&self, keys: &[Key]) -> Result<HashMap<Key, i64>, Arc<String>> {
        let mut out: HashMap<Key, i64> = HashMap::new();
        for (spec_key, anchors) in Links::batches(keys) {
            let Some(spec) = self.0.spec(spec_key) else {
                continue;
            };
            for a in &anchors {
                out.insert((spec_key.to_owned(), a.clone()), 0);
            }
            let rows = self
                .0
                .store
                .graph_linked_counts(LinkedQuery {
                    anchors,
                    link: spec.link,
                    to_parents: spec.to_parents,
                    query: spec.query,
                })
                .await
                .map_err(|e| Arc::new(e.to_string()))?;
            for (anchor, n) in rows {
                out.insert((spec_key.to_owned(), anchor), n);
            }
        }
        Ok(out)
    }
}
