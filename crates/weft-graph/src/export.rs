//! Reading a project's entities back: `GET .../entities/{ids}` and `.../export` (by ids or by
//! node type, as JSON or TSV/CSV), streamed page by page so a whole project never sits in
//! memory.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;
use weft_dictionary::{Dictionary, Node};
use weft_store::{GraphListQuery, GraphNode, GraphStore};

use crate::parse::Format;
use crate::template::columns;
use crate::{Project, SubmissionService, display, store_error};

/// How many nodes one page of an export reads.
const PAGE: usize = 5000;

/// A parent as a link entry shows it: `(link, id, submitter_id, code)`; `code` for a project.
type Parent = (String, String, Option<String>, Option<String>);

/// A node as sheepdog shows it: its properties, `id`, `type`, and each link as
/// `[{"id", "submitter_id"}]` (a project also by its `code`).
fn flat(node: &GraphNode, parents: &[Parent]) -> Map<String, Value> {
    let mut props = node.props.clone();
    props.insert("id".into(), Value::from(node.id.as_str()));
    props.insert("type".into(), Value::from(node.node_type.as_str()));
    for (link, id, submitter, code) in parents {
        let entry = props
            .entry(link.clone())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = entry {
            let mut item = json!({"id": id, "submitter_id": submitter});
            if let Some(code) = code {
                item["code"] = Value::from(code.as_str());
            }
            items.push(item);
        }
    }
    props
}

/// Each node's parents.
async fn parents_of(
    store: &dyn GraphStore,
    nodes: &[GraphNode],
) -> Result<HashMap<String, Vec<Parent>>, WeftError> {
    let ids = nodes.iter().map(|n| n.id.clone()).collect();
    let mut out: HashMap<String, Vec<Parent>> = HashMap::new();
    for l in store.graph_parents(ids).await.map_err(store_error)? {
        // A project's code is its project_id after the program's name.
        let code = (l.other_type == "project")
            .then(|| {
                l.other_project_id
                    .as_deref()
                    .and_then(|p| p.split_once('-'))
                    .map(|(_, c)| c.to_owned())
            })
            .flatten();
        out.entry(l.edge.src).or_default().push((
            l.edge.link,
            l.edge.dst,
            l.other_submitter_id,
            code,
        ));
    }
    for v in out.values_mut() {
        v.sort();
    }
    Ok(out)
}

/// A cell of delimited text: text as it is, arrays joined by `,`, null as empty.
fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::Array(items)) => items.iter().map(display).collect::<Vec<_>>().join(","),
        Some(v) => display(v),
    }
}

/// What an export sends: its file name, media type, and its body, page by page.
pub struct Export {
    pub filename: String,
    pub content_type: &'static str,
    pages: Pages,
}

/// A page of nodes with their parents.
type Page = (Vec<GraphNode>, HashMap<String, Vec<Parent>>);

/// Read the page of `node_type` after `after`, with the nodes' parents.
async fn fetch(
    store: Arc<dyn GraphStore>,
    project_id: String,
    node_type: String,
    after: Option<String>,
) -> Result<Page, WeftError> {
    let nodes = store
        .graph_list(GraphListQuery {
            project_id: Some(project_id),
            node_type: Some(node_type),
            after,
            limit: PAGE,
        })
        .await
        .map_err(store_error)?;
    let parents = parents_of(&*store, &nodes).await?;
    Ok((nodes, parents))
}

struct Pages {
    store: Arc<dyn GraphStore>,
    dictionary: Arc<Dictionary>,
    project_id: String,
    node_type: String,
    /// The nodes of an export by ids, read and checked already.
    given: Option<Vec<GraphNode>>,
    format: Format,
    after: Option<String>,
    started: bool,
    done: bool,
    header: Vec<String>,
    /// The next page, read while this one is written out.
    pending: Option<tokio::task::JoinHandle<Result<Page, WeftError>>>,
}

impl Drop for Pages {
    fn drop(&mut self) {
        if let Some(next) = self.pending.take() {
            next.abort();
        }
    }
}

impl Export {
    /// The next part of the body, `None` at the end.
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>, WeftError> {
        self.pages.next().await
    }
}

impl Pages {
    async fn next(&mut self) -> Result<Option<Vec<u8>>, WeftError> {
        if self.done {
            return Ok(None);
        }
        let (nodes, parents) = match self.given.take() {
            Some(mut nodes) => {
                self.done = true;
                nodes.sort_by(|a, b| a.id.cmp(&b.id));
                nodes.dedup_by(|a, b| a.id == b.id);
                let parents = parents_of(&*self.store, &nodes).await?;
                (nodes, parents)
            }
            None => {
                let page = match self.pending.take() {
                    Some(next) => next.await.map_err(WeftError::internal)??,
                    None => {
                        fetch(
                            self.store.clone(),
                            self.project_id.clone(),
                            self.node_type.clone(),
                            self.after.clone(),
                        )
                        .await?
                    }
                };
                if page.0.len() < PAGE {
                    self.done = true;
                } else {
                    // Read the next page while this one is written out.
                    self.after = page.0.last().map(|n| n.id.clone());
                    self.pending = Some(tokio::spawn(fetch(
                        self.store.clone(),
                        self.project_id.clone(),
                        self.node_type.clone(),
                        self.after.clone(),
                    )));
                }
                page
            }
        };
        let mut out = Vec::new();
        let first = !self.started;
        self.started = true;
        match self.format {
            Format::Json => {
                if first {
                    out.push(b'[');
                }
                for (i, node) in nodes.iter().enumerate() {
                    if !(first && i == 0) {
                        out.push(b',');
                    }
                    let doc = flat(node, parents.get(&node.id).map_or(&[][..], Vec::as_slice));
                    serde_json::to_writer(&mut out, &doc).map_err(WeftError::internal)?;
                }
                if self.done {
                    out.push(b']');
                }
            }
            Format::Tsv | Format::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .delimiter(self.format.delimiter())
                    .from_writer(Vec::new());
                if first {
                    w.write_record(&self.header).map_err(WeftError::internal)?;
                }
                // Each column: a link's `(link, property)`, or a property (decided once a page).
                let node_def = self.dictionary.node(&self.node_type);
                let columns: Vec<(&str, Option<&str>)> = self
                    .header
                    .iter()
                    .map(|h| match h.split_once('.') {
                        Some((link, prop)) if node_def.and_then(|n| n.link(link)).is_some() => {
                            (link, Some(prop))
                        }
                        _ => (h.as_str(), None),
                    })
                    .collect();
                let mut joined = String::new();
                for node in &nodes {
                    let ps = parents.get(&node.id).map_or(&[][..], Vec::as_slice);
                    for &(name, link_prop) in &columns {
                        let written = match (name, link_prop) {
                            (link, Some(prop)) => {
                                // Each target's property, joined by `,`.
                                joined.clear();
                                let targets = ps.iter().filter(|p| p.0 == link);
                                for (i, (_, id, submitter, code)) in targets.enumerate() {
                                    if i > 0 {
                                        joined.push(',');
                                    }
                                    joined.push_str(match prop {
                                        "id" => id,
                                        "submitter_id" => submitter.as_deref().unwrap_or(""),
                                        "code" => code.as_deref().unwrap_or(""),
                                        _ => "",
                                    });
                                }
                                w.write_field(&joined)
                            }
                            ("id", None) => w.write_field(&node.id),
                            ("type", None) => w.write_field(&node.node_type),
                            (prop, None) => match node.props.get(prop) {
                                Some(Value::String(text)) => w.write_field(text),
                                other => w.write_field(cell(other)),
                            },
                        };
                        written.map_err(WeftError::internal)?;
                    }
                    w.write_record(None::<&[u8]>).map_err(WeftError::internal)?;
                }
                out = w
                    .into_inner()
                    .map_err(|e| WeftError::internal(e.to_string()))?;
            }
        }
        Ok(Some(out))
    }
}

/// The columns of a delimited export of `node`: the template's, with ids.
fn export_header(dict: &Dictionary, node: &Node) -> Vec<String> {
    columns(dict, node, false, true)
}

impl SubmissionService {
    async fn readable(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
    ) -> Result<Project, WeftError> {
        self.authenticate(creds).await?;
        let project = self.project(program, code).await?;
        self.allowed(creds, "read", &project.resource()).await?;
        Ok(project)
    }

    /// The nodes `ids` of the project, in the order asked; `Not found: ...` naming those it
    /// does not hold.
    async fn project_nodes(
        &self,
        project: &Project,
        ids: &[String],
    ) -> Result<Vec<GraphNode>, WeftError> {
        if ids.len() > crate::MAX_ENTITIES {
            return Err(WeftError::invalid("Too many ids"));
        }
        let found: HashMap<String, GraphNode> = self
            .store
            .graph_nodes(ids.to_vec())
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|n| n.project_id.as_deref() == Some(project.project_id.as_str()))
            .map(|n| (n.id.clone(), n))
            .collect();
        let missing: Vec<&str> = ids
            .iter()
            .filter(|id| !found.contains_key(*id))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(WeftError::not_found(format!(
                "Not found: {}",
                missing.join(", ")
            )));
        }
        Ok(ids.iter().filter_map(|id| found.get(id).cloned()).collect())
    }

    /// `GET .../entities/{ids}`: `{"entities": [{"program", "project", "properties"}]}`.
    pub async fn entities_by_id(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        ids: &[String],
    ) -> Result<Value, WeftError> {
        let project = self.readable(creds, program, code).await?;
        let nodes = self.project_nodes(&project, ids).await?;
        let parents = parents_of(&*self.store, &nodes).await?;
        let entities: Vec<Value> = nodes
            .iter()
            .map(|n| {
                json!({"program": program, "project": code,
                       "properties": flat(n, parents.get(&n.id).map_or(&[][..], Vec::as_slice))})
            })
            .collect();
        Ok(json!({ "entities": entities }))
    }

    /// `GET|POST .../export`: by `ids` (which wins) or by `node_label`.
    pub async fn export(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        ids: Option<Vec<String>>,
        node_label: Option<String>,
        format: Format,
    ) -> Result<Export, WeftError> {
        let project = self.readable(creds, program, code).await?;
        let (node_type, given) = match (ids, node_label) {
            (Some(ids), _) if !ids.is_empty() => {
                let nodes = self.project_nodes(&project, &ids).await?;
                let mut types: Vec<&str> = nodes.iter().map(|n| n.node_type.as_str()).collect();
                types.sort_unstable();
                types.dedup();
                if types.len() > 1 && format != Format::Json {
                    return Err(WeftError::invalid(format!(
                        "These ids are of several types ({}): export them as JSON, or one type at a time as {}",
                        types.join(", "),
                        format.as_str()
                    )));
                }
                let node_type = types.first().map(|t| (*t).to_owned()).unwrap_or_default();
                (node_type, Some(nodes))
            }
            (_, Some(label)) => {
                if self.dictionary.node(&label).is_none_or(|n| !n.in_project()) {
                    return Err(WeftError::invalid(format!(
                        "Invalid node_label: {label} is not a node of the dictionary that projects hold"
                    )));
                }
                (label, None)
            }
            _ => return Err(WeftError::invalid("Give ids or node_label")),
        };
        let header = self
            .dictionary
            .node(&node_type)
            .map(|n| export_header(&self.dictionary, n))
            .unwrap_or_default();
        Ok(Export {
            filename: format!("{node_type}.{}", format.as_str()),
            content_type: if format == Format::Json {
                "application/json"
            } else {
                "application/octet-stream"
            },
            pages: Pages {
                store: self.store.clone(),
                dictionary: self.dictionary.clone(),
                project_id: project.project_id,
                node_type,
                given,
                format,
                after: None,
                started: false,
                done: false,
                header,
                pending: None,
            },
        })
    }
}

impl SubmissionService {
    /// `GET .../manifest?ids=`: the data-file entities among `ids`, each as exported with
    /// `local_file_path` (its file name): `{"files": [...]}`.
    pub async fn manifest(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        ids: &[String],
    ) -> Result<Value, WeftError> {
        if ids.is_empty() {
            return Err(WeftError::invalid(
                "No ids specified. Use query parameter 'ids', e.g. 'ids=id1,id2'.",
            ));
        }
        let listed = self.entities_by_id(creds, program, code, ids).await?;
        let mut files = Vec::new();
        for e in listed["entities"].as_array().into_iter().flatten() {
            let props = &e["properties"];
            let node_type = props["type"].as_str().unwrap_or_default();
            if !self.dictionary.node(node_type).is_some_and(Node::is_file) {
                return Err(WeftError::invalid(format!(
                    "Entity {} is a {node_type}, not a data file",
                    display(&props["id"])
                )));
            }
            let mut doc = props.clone();
            doc["local_file_path"] = props["file_name"].clone();
            files.push(doc);
        }
        Ok(json!({ "files": files }))
    }
}
