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

    /// One query per registered spec among `keys`, over that spec's anchors: `(spec's key,
    /// query)`.
    fn queries(&self, keys: &[Key]) -> Vec<(String, LinkedQuery)> {
        let mut anchors: HashMap<&str, Vec<String>> = HashMap::new();
        for (spec, anchor) in keys {
            anchors.entry(spec).or_default().push(anchor.clone());
        }
        let specs = self
            .specs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        anchors
            .into_iter()
            .filter_map(|(key, anchors)| {
                let spec = specs.get(key)?.clone();
                let query = LinkedQuery {
                    anchors,
                    link: spec.link,
                    to_parents: spec.to_parents,
                    query: spec.query,
                };
                Some((key.to_owned(), query))
            })
            .collect()
    }
}

fn failed(e: weft_store::StoreError) -> Arc<String> {
    Arc::new(e.to_string())
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
        for (spec, query) in self.0.queries(keys) {
            for a in &query.anchors {
                out.insert((spec.clone(), a.clone()), Vec::new());
            }
            for (anchor, node) in self.0.store.graph_linked(query).await.map_err(failed)? {
                out.entry((spec.clone(), anchor)).or_default().push(node);
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
        for (spec, query) in self.0.queries(keys) {
            for a in &query.anchors {
                out.insert((spec.clone(), a.clone()), 0);
            }
            let counts = self
                .0
                .store
                .graph_linked_counts(query)
                .await
                .map_err(failed)?;
            for (anchor, n) in counts {
                out.insert((spec.clone(), anchor), n);
            }
        }
        Ok(out)
    }
}
