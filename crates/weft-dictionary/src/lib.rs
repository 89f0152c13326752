//! The data dictionary of a Gen3 commons: which node types exist, their properties, links,
//! unique keys and system properties, loaded unchanged from any of the forms a commons uses
//! (a directory of node YAML files, the JSON dump a commons publishes at its
//! `dictionary_url`, or the bytes of such a dump fetched by the caller), `$ref`s resolved
//! across files, every node checked against the metaschema and compiled into a draft-04
//! validator once.
//!
//! A dictionary with an error is refused with the file, the node and the key named
//! ([`DictionaryError`]).

mod load;
mod model;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::collections::BTreeMap;
use std::path::Path;

use jsonschema::error::ValidationErrorKind;
use serde_json::{Map, Value};

pub use load::Files;
pub use model::{Link, LinkGroup, Multiplicity, Node, Property, ValueKinds};

/// What is wrong with a dictionary, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("dictionary file `{file}`{}{}: {message}",
    node.as_deref().map(|n| format!(", node `{n}`")).unwrap_or_default(),
    key.as_deref().map(|k| format!(", key `{k}`")).unwrap_or_default())]
pub struct DictionaryError {
    pub file: String,
    pub node: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl DictionaryError {
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            node: None,
            key: None,
            message: message.into(),
        }
    }

    fn key(file: &str, key: &str, message: impl Into<String>) -> Self {
        Self {
            key: Some(key.to_owned()),
            ..Self::file(file, message)
        }
    }

    fn node(file: &str, node: &str, key: &str, message: String) -> Self {
        Self {
            file: file.to_owned(),
            node: Some(node.to_owned()),
            key: Some(key.to_owned()),
            message,
        }
    }
}

/// The files that are not nodes.
const NOT_NODES: [&str; 4] = [
    "metaschema.yaml",
    "_definitions.yaml",
    "_terms.yaml",
    "_settings.yaml",
];

/// Why one property of an entity is refused (sheepdog's entity error types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// `MISSING_PROPERTY`: a required property or link is absent.
    MissingProperty,
    /// `INVALID_VALUE`: wrong type, not in the enum, does not match the pattern.
    InvalidValue,
    /// `INVALID_PROPERTY`: the node has no such property.
    InvalidProperty,
    /// `INVALID_LINK`: a link's value is malformed.
    InvalidLink,
}

impl ViolationKind {
    /// Sheepdog's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingProperty => "MISSING_PROPERTY",
            Self::InvalidValue => "INVALID_VALUE",
            Self::InvalidProperty => "INVALID_PROPERTY",
            Self::InvalidLink => "INVALID_LINK",
        }
    }
}

/// One problem of an entity document against its node's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The properties concerned.
    pub keys: Vec<String>,
    /// What is wrong, naming the property and the value.
    pub message: String,
}

/// A loaded, checked dictionary.
pub struct Dictionary {
    /// Each file's resolved source by name without `.yaml` (served by `_dictionary/{entry}`).
    sources: BTreeMap<String, Value>,
    nodes: BTreeMap<String, Node>,
    validators: BTreeMap<String, jsonschema::Validator>,
    version: Option<String>,
    commit: Option<String>,
}

impl std::fmt::Debug for Dictionary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dictionary")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Dictionary {
    /// A directory of YAML files (`*.yaml` directly in it).
    pub fn from_dir(dir: &Path) -> Result<Self, DictionaryError> {
        Self::from_files(load::read_dir(dir)?)
    }

    /// A JSON dump (an object keyed by file name), from a file or a URL's body; `origin`
    /// names it in errors.
    pub fn from_json_dump(origin: &str, bytes: &[u8]) -> Result<Self, DictionaryError> {
        Self::from_files(load::read_json_dump(origin, bytes)?)
    }

    /// A dictionary from its files by name (`case.yaml`, …), each parsed into JSON.
    pub fn from_files(files: Files) -> Result<Self, DictionaryError> {
        let mut all = load::builtin_files();
        all.extend(files);
        let resolver = load::Resolver::new(&all);
        let mut resolved = BTreeMap::new();
        for (name, raw) in &all {
            // Only nodes are resolved, as dictionaryutils does: the definitions and terms
            // are served as written (a real dictionary has dangling `$ref`s in definitions no
            // node uses), and the metaschema is a JSON schema of its own (recursive: a
            // subgroup holds subgroups) whose references the validator follows.
            let value = if NOT_NODES.contains(&name.as_str()) {
                raw.clone()
            } else {
                resolver.resolve_file(name)?
            };
            resolved.insert(name.clone(), value);
        }
        let metaschema_source = resolved
            .get("metaschema.yaml")
            .cloned()
            .unwrap_or(Value::Null);
        let metaschema = jsonschema::draft4::options()
            .should_validate_formats(false)
            .build(&without_draft_ref(&metaschema_source))
            .map_err(|e| {
                DictionaryError::file("metaschema.yaml", format!("not a valid schema: {e}"))
            })?;
        let draft4 = jsonschema::draft4::meta::validator();

        let mut nodes: BTreeMap<String, (String, Node)> = BTreeMap::new();
        for (file, source) in &resolved {
            if NOT_NODES.contains(&file.as_str()) {
                continue;
            }
            let node_name = source.get("id").and_then(Value::as_str).unwrap_or("");
            if !source.is_object() {
                return Err(DictionaryError::file(
                    file,
                    "a node schema must be an object",
                ));
            }
            if let Some(e) = metaschema.iter_errors(source).next() {
                return Err(DictionaryError::node(
                    file,
                    node_name,
                    &pointer_or_top(e.instance_path().as_str()),
                    format!("does not meet the metaschema: {e}"),
                ));
            }
            if let Some(e) = draft4.iter_errors(source).next() {
                return Err(DictionaryError::node(
                    file,
                    node_name,
                    &pointer_or_top(e.instance_path().as_str()),
                    format!("not a valid draft-04 JSON schema: {e}"),
                ));
            }
            let node = model::build_node(file, source.clone())?;
            if let Some((other, _)) = nodes.get(&node.id) {
                return Err(DictionaryError::node(
                    file,
                    &node.id,
                    "id",
                    format!("the node `{}` is also defined in `{other}`", node.id),
                ));
            }
            nodes.insert(node.id.clone(), (file.clone(), node));
        }
        model::check_graph(&nodes)?;

        let mut validators = BTreeMap::new();
        for (file, node) in nodes.values() {
            let validator = jsonschema::draft4::options()
                .should_validate_formats(false)
                .build(&node.schema)
                .map_err(|e| {
                    DictionaryError::node(
                        file,
                        &node.id,
                        "properties",
                        format!("cannot be compiled: {e}"),
                    )
                })?;
            validators.insert(node.id.clone(), validator);
        }

        let settings = resolved.get("_settings.yaml");
        let setting = |key: &str| {
            settings
                .and_then(|s| s.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let version = setting("_dict_version");
        let commit = setting("_dict_commit");
        let sources = resolved
            .into_iter()
            .map(|(file, v)| (file.strip_suffix(".yaml").unwrap_or(&file).to_owned(), v))
            .collect();
        Ok(Self {
            sources,
            nodes: nodes
                .into_iter()
                .map(|(id, (_, node))| (id, node))
                .collect(),
            validators,
            version,
            commit,
        })
    }

    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.get(id)
    }

    /// Every node, by id.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// The dictionary's version and commit, when its `_settings.yaml` says (a JSON dump made
    /// by dictionaryutils does).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub fn commit(&self) -> Option<&str> {
        self.commit.as_deref()
    }

    /// One file's resolved source by name without `.yaml` (`case`, `_definitions`,
    /// `metaschema`): sheepdog's `_dictionary/{entry}`.
    pub fn entry(&self, name: &str) -> Option<&Value> {
        self.sources.get(name)
    }

    /// Sheepdog's `_dictionary/_all`: every file's source by name.
    pub fn all(&self) -> Value {
        Value::Object(
            self.sources
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Map<_, _>>(),
        )
    }

    /// The links pointing at `target`: `(child node, link)`.
    pub fn links_to<'a>(&'a self, target: &'a str) -> impl Iterator<Item = (&'a Node, &'a Link)> {
        self.nodes.values().flat_map(move |n| {
            n.links
                .iter()
                .filter(move |l| l.target_type == target)
                .map(move |l| (n, l))
        })
    }

    /// Check an entity document against its node's schema. `None` when the node is unknown.
    pub fn validate(&self, node: &str, doc: &Value) -> Option<Vec<Violation>> {
        let validator = self.validators.get(node)?;
        let links = self.nodes.get(node).map(|n| &n.links);
        let is_link = |key: &str| links.is_some_and(|l| l.iter().any(|l| l.name == key));
        let mut out = Vec::new();
        for e in validator.iter_errors(doc) {
            let key = e.instance_path().segments().next().map(|s| s.to_string());
            match e.kind() {
                ValidationErrorKind::Required { property } => {
                    let name = property
                        .as_str()
                        .map_or_else(|| property.to_string(), str::to_owned);
                    out.push(Violation {
                        kind: ViolationKind::MissingProperty,
                        message: format!("'{name}' is a required property"),
                        keys: vec![name],
                    });
                }
                ValidationErrorKind::AdditionalProperties { unexpected } if key.is_none() => {
                    for name in unexpected {
                        out.push(Violation {
                            kind: ViolationKind::InvalidProperty,
                            message: format!(
                                "Key '{name}' is not a valid property for type '{node}'."
                            ),
                            keys: vec![name.clone()],
                        });
                    }
                }
                _ => {
                    let keys: Vec<String> = key.into_iter().collect();
                    let kind = if keys.first().is_some_and(|k| is_link(k)) {
                        ViolationKind::InvalidLink
                    } else {
                        ViolationKind::InvalidValue
                    };
                    let message = match keys.first() {
                        Some(k) => format!("'{k}': {e}"),
                        None => e.to_string(),
                    };
                    out.push(Violation {
                        kind,
                        keys,
                        message,
                    });
                }
            }
        }
        Some(out)
    }
}

/// The metaschema without its `allOf` reference to draft-04 itself, which is checked with the
/// library's own draft-04 metaschema instead (nothing is fetched).
fn without_draft_ref(metaschema: &Value) -> Value {
    let mut m = metaschema.clone();
    if let Value::Object(map) = &mut m {
        map.remove("allOf");
    }
    m
}

fn pointer_or_top(pointer: &str) -> String {
    if pointer.is_empty() {
        "(top level)".to_owned()
    } else {
        pointer.trim_start_matches('/').replace('/', ".")
    }
}

#[cfg(test)]
mod tests;
