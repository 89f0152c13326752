//! The REST summaries Gen3's gateway serves under `/api/search/` from peregrine: per-project
//! counts of node types (the portal's home page), the readable projects, and the core
//! metadata of a data file (JSON, schema.org JSON-LD, BibTeX).

use serde_json::{Map, Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;
use weft_store::{LinkedQuery, NodeFilter, NodeQuery, PropMatch};

use std::sync::Arc;

use crate::Peregrine;

/// The core metadata collection's fields, in peregrine's order.
const COLLECTION_FIELDS: [&str; 10] = [
    "title",
    "description",
    "creator",
    "contributor",
    "coverage",
    "language",
    "publisher",
    "rights",
    "source",
    "subject",
];

/// The file's own fields, in peregrine's order.
const FILE_FIELDS: [&str; 8] = [
    "type",
    "file_name",
    "data_format",
    "file_size",
    "project_id",
    "object_id",
    "updated_datetime",
    "md5sum",
];

/// A core-metadata answer's formats, by `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataFormat {
    Json,
    JsonLd,
    Bibtex,
}

/// How long remembered counts are trusted even when the graph seems unchanged.
pub const COUNTS_TTL: std::time::Duration = std::time::Duration::from_secs(10);

/// A project's counts per node type, the feed head and the time they were taken at.
type Remembered = (i64, std::time::Instant, Arc<Vec<(String, i64)>>);

/// Counts per project.
#[derive(Default)]
pub(crate) struct CountsCache(
    pub(crate) std::sync::Mutex<std::collections::HashMap<String, Remembered>>,
);

impl MetadataFormat {
    /// peregrine's choice: `x-bibtex`, `application/vnd.schemaorg.ld+json`, else JSON.
    #[must_use]
    pub fn from_accept(accept: &str) -> Self {
        if accept.contains("x-bibtex") {
            Self::Bibtex
        } else if accept.contains("application/vnd.schemaorg.ld+json") {
            Self::JsonLd
        } else {
            Self::Json
        }
    }

    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::JsonLd => "application/vnd.schemaorg.ld+json",
            Self::Bibtex => "application/x-bibtex",
        }
    }
}

impl Peregrine {
    /// The projects the caller may read, as a list (every project when all are).
    async fn readable_list(&self, creds: &Credentials) -> Result<Vec<String>, WeftError> {
        let (readable, all) = self.readable(creds).await?;
        Ok(readable.unwrap_or(all))
    }

    /// `GET /datasets?nodes=a,b`: `{"<project_id>": {"a": n, "b": m}}` over the readable
    /// projects.
    pub async fn datasets(
        &self,
        creds: &Credentials,
        nodes: &[String],
    ) -> Result<Value, WeftError> {
        if nodes.is_empty() {
            return Err(WeftError::invalid(
                "Need to provide target nodes in query param",
            ));
        }
        if let Some(unknown) = nodes.iter().find(|n| self.dictionary.node(n).is_none()) {
            return Err(WeftError::invalid(format!(
                "{unknown} is not a node type of the dictionary"
            )));
        }
        let mut out = Map::new();
        let head = self
            .store
            .graph_feed_head()
            .await
            .map_err(WeftError::from)?;
        for project in self.readable_list(creds).await? {
            let counts = self.project_counts(&project, head).await?;
            let per_node: Map<String, Value> = nodes
                .iter()
                .map(|n| {
                    let count = counts.iter().find(|(t, _)| t == n).map_or(0, |(_, c)| *c);
                    (n.clone(), Value::from(count))
                })
                .collect();
            out.insert(project, Value::Object(per_node));
        }
        Ok(Value::Object(out))
    }

    /// A project's count per node type: remembered until the graph changes (the change
    /// feed's head moves) or for at most [`COUNTS_TTL`], since on PostgreSQL a change may
    /// commit after a later one was already seen.
    async fn project_counts(
        &self,
        project: &str,
        head: i64,
    ) -> Result<Arc<Vec<(String, i64)>>, WeftError> {
        let now = std::time::Instant::now();
        if let Ok(m) = self.counts.0.lock()
            && let Some((h, at, counts)) = m.get(project)
            && *h == head
            && now.duration_since(*at) < COUNTS_TTL
        {
            return Ok(Arc::clone(counts));
        }
        let counts = Arc::new(
            self.store
                .graph_counts(Some(project.to_owned()))
                .await
                .map_err(WeftError::from)?,
        );
        if let Ok(mut m) = self.counts.0.lock() {
            m.insert(project.to_owned(), (head, now, Arc::clone(&counts)));
        }
        Ok(counts)
    }

    /// `GET /datasets/projects`: the readable projects' names, codes and accession numbers.
    pub async fn dataset_projects(&self, creds: &Credentials) -> Result<Value, WeftError> {
        let readable = self.readable_list(creds).await?;
        let projects = self
            .store
            .graph_query(NodeQuery {
                filter: NodeFilter {
                    node_types: vec!["project".into()],
                    projects: Some(readable),
                    ..NodeFilter::default()
                },
                ..NodeQuery::default()
            })
            .await
            .map_err(WeftError::from)?;
        let schema = self.dictionary.node("project");
        let listed: Vec<Value> = projects
            .iter()
            .map(|p| {
                let mut o = Map::new();
                for key in ["name", "code", "dbgap_accession_number"] {
                    o.insert(key.into(), p.props.get(key).cloned().unwrap_or(Value::Null));
                }
                for key in ["description", "image_url"] {
                    if schema.is_some_and(|s| s.property(key).is_some()) {
                        o.insert(key.into(), p.props.get(key).cloned().unwrap_or(Value::Null));
                    }
                }
                Value::Object(o)
            })
            .collect();
        Ok(json!({ "projects": listed }))
    }

    /// `GET /coremetadata/{object_id}`: the data file holding `object_id` (in a readable
    /// project) with its core metadata collection, and a citation; as text and its media
    /// type.
    pub async fn core_metadata(
        &self,
        creds: &Credentials,
        object_id: &str,
        format: MetadataFormat,
    ) -> Result<String, WeftError> {
        let readable = self.readable_list(creds).await?;
        let file_types: Vec<String> = self
            .dictionary
            .nodes()
            .filter(|n| n.category.ends_with("_file") && n.property("object_id").is_some())
            .map(|n| n.id.clone())
            .collect();
        let found = self
            .store
            .graph_query(NodeQuery {
                filter: NodeFilter {
                    node_types: file_types,
                    projects: Some(readable),
                    props: vec![(
                        "object_id".into(),
                        PropMatch::AnyOf(vec![Value::from(object_id)]),
                    )],
                    ..NodeFilter::default()
                },
                limit: Some(1),
                ..NodeQuery::default()
            })
            .await
            .map_err(WeftError::from)?;
        let Some(file) = found.into_iter().next() else {
            return Err(WeftError::not_found(format!(
                "object_id \"{object_id}\" not found"
            )));
        };
        let mut doc = Map::new();
        let linked = self
            .store
            .graph_linked(LinkedQuery {
                anchors: vec![file.id.clone()],
                link: "core_metadata_collections".into(),
                to_parents: true,
                query: NodeQuery {
                    limit: Some(1),
                    ..NodeQuery::default()
                },
            })
            .await
            .map_err(WeftError::from)?;
        if let Some((_, collection)) = linked.first() {
            for key in COLLECTION_FIELDS {
                doc.insert(
                    key.into(),
                    collection.props.get(key).cloned().unwrap_or(Value::Null),
                );
            }
        }
        for key in FILE_FIELDS {
            let v = match key {
                "type" => Value::from(file.node_type.as_str()),
                "project_id" => file.project_id.clone().map_or(Value::Null, Value::from),
                _ => file.props.get(key).cloned().unwrap_or(Value::Null),
            };
            doc.insert(key.into(), v);
        }
        let citation = citation(&mut doc);
        doc.insert("citation".into(), Value::from(citation));
        doc.remove("title");
        Ok(match format {
            MetadataFormat::Json => Value::Object(doc).to_string(),
            MetadataFormat::JsonLd => json_ld(&doc, object_id).to_string(),
            MetadataFormat::Bibtex => bibtex(&doc, object_id),
        })
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// peregrine's citation: `creator, year: title. publisher, object_id.`; the
/// `updated_datetime` it takes the year from leaves the document.
fn citation(doc: &mut Map<String, Value>) -> String {
    let mut out = String::new();
    if let Some(c) = text(doc.get("creator")) {
        out.push_str(&format!("{c}, "));
    }
    if let Some(updated) = text(doc.get("updated_datetime")) {
        doc.remove("updated_datetime");
        out.push_str(&format!(
            "{}: ",
            updated.chars().take(4).collect::<String>()
        ));
    }
    if let Some(t) = text(doc.get("title")) {
        out.push_str(&format!("{t}. "));
    }
    if let Some(p) = text(doc.get("publisher")) {
        out.push_str(&format!("{p}, "));
    }
    if let Some(o) = text(doc.get("object_id")) {
        out.push_str(&o);
    }
    let mut out = out.trim().trim_end_matches(',').to_owned();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

fn json_ld(doc: &Map<String, Value>, object_id: &str) -> Value {
    let mut out = json!({
        "@context": "http://schema.org",
        "@type": "Dataset",
        "@id": format!("https://dataguids.org/index/{object_id}"),
        "identifier": [
            {"@type": "PropertyValue", "propertyID": "dataguid", "value": object_id},
            {"@type": "PropertyValue", "propertyID": "md5", "value": doc.get("md5sum")},
        ],
    });
    let set = |out: &mut Value, key: &str, v: Value| {
        out[key] = v;
    };
    if let Some(p) = doc.get("publisher") {
        set(
            &mut out,
            "publisher",
            json!({"@type": "Organization", "name": p}),
        );
    }
    if let Some(c) = doc.get("creator") {
        set(&mut out, "author", json!({ "name": c }));
    }
    for (from, to) in [
        ("description", "description"),
        ("type", "additionalType"),
        ("file_name", "name"),
        ("updated_datetime", "datePublished"),
    ] {
        if let Some(v) = doc.get(from) {
            set(&mut out, to, v.clone());
        }
    }
    out
}

fn bibtex(doc: &Map<String, Value>, object_id: &str) -> String {
    let fields: Vec<String> = doc
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.replace('"', "'"),
                other => other.to_string(),
            };
            format!("{k} = \"{v}\"")
        })
        .collect();
    format!("@misc {{{object_id}, {}}}", fields.join(", "))
}
