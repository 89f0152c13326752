//! tube's `etlMapping.yaml`, read as tube reads it and checked against the dictionary at
//! start (every node, link, backref and property resolved, each error naming its key), or
//! derived from the dictionary when none is configured.
//!
//! Paths follow tube: going down (`aggregated_props`, `flatten_props`, `nested_props`) each
//! segment is a backref (`samples.aliquots`), going up (`parent_props`) a link name
//! (`studies[...].projects[...]`); in `a[x:y]` the document's field `x` takes the node's
//! property `y`.

use std::collections::{BTreeSet, HashSet, VecDeque};

use serde_json::{Map, Value};
use weft_dictionary::{Dictionary, Node, ValueKinds};
use weft_store::Hop;

/// A mapping that cannot be used: `at` names the key (`mappings[0].aggregated_props[1].path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct MappingError {
    pub at: String,
    pub message: String,
}

fn err(at: &str, message: impl Into<String>) -> MappingError {
    MappingError {
        at: at.to_owned(),
        message: message.into(),
    }
}

/// What a field of a document holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKind {
    /// Text, compared whole (Elasticsearch's `keyword`); booleans become `"true"`/`"false"`.
    Keyword,
    /// A number (`long` or `float`; GraphQL `Float`).
    Number,
    /// A list of objects (Elasticsearch's `nested`) with these fields.
    Nested(Vec<Field>),
}

/// One field of an index's documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub kind: FieldKind,
    /// Holds a list of values (guppy's array config).
    pub array: bool,
}

/// An aggregation function (`fn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Count,
    Sum,
    Min,
    Max,
    Set,
    List,
}

impl Func {
    fn parse(s: &str, at: &str) -> Result<Self, MappingError> {
        Ok(match s {
            "count" => Self::Count,
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "set" => Self::Set,
            "list" => Self::List,
            other => {
                return Err(err(
                    at,
                    format!("unknown fn {other:?} (count, sum, min, max, set or list)"),
                ));
            }
        })
    }

    /// Whether it yields a list of values (else one number).
    #[must_use]
    pub fn listed(self) -> bool {
        matches!(self, Self::Set | Self::List)
    }
}

/// A property taken from a node into a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    /// The document's field.
    pub name: String,
    /// The node's property (`id`, `project_id`, `submitter_id` included).
    pub src: String,
    /// `value_mappings`: a value listed becomes its mapped text.
    pub mappings: Vec<(String, String)>,
    pub func: Option<Func>,
}

impl Prop {
    /// The value of this prop on a node's properties, mapped.
    #[must_use]
    pub fn value(&self, node: &weft_store::GraphNode) -> Value {
        let v = match self.src.as_str() {
            "id" => Value::String(node.id.clone()),
            "project_id" => node.project_id.clone().map_or(Value::Null, Value::String),
            "type" => Value::String(node.node_type.clone()),
            "source_node" => Value::String(node.node_type.clone()),
            key => node.props.get(key).cloned().unwrap_or(Value::Null),
        };
        self.mapped(v)
    }

    fn mapped(&self, v: Value) -> Value {
        if self.mappings.is_empty() {
            return v;
        }
        let text = match &v {
            Value::String(s) => s.clone(),
            Value::Null => return v,
            other => other.to_string(),
        };
        self.mappings
            .iter()
            .find(|(from, _)| *from == text)
            .map_or(v, |(_, to)| Value::String(to.clone()))
    }
}

/// `flatten_props`: one child's properties in the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Flatten {
    pub hop: Hop,
    pub props: Vec<Prop>,
    /// The child kept when there are several: least (or, `true`, greatest) value first.
    pub sorted_by: Option<(String, bool)>,
}

/// One segment of a `parent_props` path.
#[derive(Debug, Clone, PartialEq)]
pub struct ParentStep {
    pub hop: Hop,
    pub props: Vec<Prop>,
}

/// `parent_props`: properties of ancestors, as lists of distinct values (or, `one`,
/// `relation: 1-1`, the first value).
#[derive(Debug, Clone, PartialEq)]
pub struct ParentPath {
    pub steps: Vec<ParentStep>,
    pub one: bool,
}

/// `aggregated_props`: a function over the nodes at the end of a path down.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregated {
    pub name: String,
    pub path: Vec<Hop>,
    pub src: Option<String>,
    pub func: Func,
}

/// `nested_props`: the nodes at the end of a path down, as a list of objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Nested {
    pub name: String,
    pub path: Vec<Hop>,
    pub props: Vec<Prop>,
    pub nested: Vec<Nested>,
}

/// `joining_props`: values of another index's documents sharing `join_on`.
#[derive(Debug, Clone, PartialEq)]
pub struct Joining {
    /// The other mapping's `doc_type`.
    pub doc_type: String,
    pub join_on: String,
    pub props: Vec<Prop>,
}

/// An `aggregator`: one document per node of `root`.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregator {
    pub root: String,
    pub props: Vec<Prop>,
    pub flatten: Vec<Flatten>,
    pub parents: Vec<ParentPath>,
    pub aggregated: Vec<Aggregated>,
    pub nested: Vec<Nested>,
    pub joining: Vec<Joining>,
}

/// `injecting_props` of one ancestor type.
#[derive(Debug, Clone, PartialEq)]
pub struct Injecting {
    pub node_type: String,
    pub props: Vec<Prop>,
}

/// A `collector`: one document per node of a category (`data_file`).
#[derive(Debug, Clone, PartialEq)]
pub struct Collector {
    pub category: String,
    /// The dictionary's nodes of that category.
    pub node_types: Vec<String>,
    pub props: Vec<Prop>,
    pub injecting: Vec<Injecting>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Aggregator(Aggregator),
    Collector(Collector),
}

/// One mapping: an index of documents.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexMapping {
    /// The index's name (`etl`, `dev_case`).
    pub name: String,
    /// guppy's type (`case`, `file`).
    pub doc_type: String,
    pub kind: Kind,
    /// The documents' fields, in order.
    pub fields: Vec<Field>,
}

impl IndexMapping {
    /// The field holding a document's id: `_<root>_id` (aggregators) or `_<doc_type>_id`.
    #[must_use]
    pub fn id_field(&self) -> String {
        match &self.kind {
            Kind::Aggregator(a) => format!("_{}_id", a.root),
            Kind::Collector(_) => format!("_{}_id", self.doc_type),
        }
    }

    /// The node types whose nodes are this index's documents.
    #[must_use]
    pub fn root_types(&self) -> Vec<String> {
        match &self.kind {
            Kind::Aggregator(a) => vec![a.root.clone()],
            Kind::Collector(c) => c.node_types.clone(),
        }
    }

    #[must_use]
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A whole mapping file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EtlMapping {
    pub indices: Vec<IndexMapping>,
}

/// The field every document carries for authorization.
pub const AUTH_FIELD: &str = "auth_resource_path";

/// `program-project` → `/programs/program/projects/project` (split on the first `-`).
#[must_use]
pub fn auth_path(project_id: &str) -> String {
    match project_id.split_once('-') {
        Some((program, project)) => format!("/programs/{program}/projects/{project}"),
        None => String::new(),
    }
}

impl EtlMapping {
    /// Read a mapping file's text and check it against the dictionary.
    pub fn parse(text: &str, dict: &Dictionary) -> Result<Self, MappingError> {
        let value: Value = serde_saphyr::from_str(text)
            .map_err(|e| err("etlMapping", format!("not valid YAML: {e}")))?;
        Self::from_value(&value, dict)
    }

    /// A mapping already parsed into JSON values.
    pub fn from_value(value: &Value, dict: &Dictionary) -> Result<Self, MappingError> {
        let list = value
            .get("mappings")
            .ok_or_else(|| err("mappings", "missing: the file must hold a list `mappings`"))?
            .as_array()
            .ok_or_else(|| err("mappings", "must be a list"))?;
        let mut indices = Vec::new();
        let mut doc_types = HashSet::new();
        for (i, m) in list.iter().enumerate() {
            let at = format!("mappings[{i}]");
            let index = read_index(m, &at, dict)?;
            if !doc_types.insert(index.doc_type.clone()) {
                return Err(err(
                    &format!("{at}.doc_type"),
                    format!("{:?} is the doc_type of another mapping", index.doc_type),
                ));
            }
            indices.push(index);
        }
        let mapping = Self { indices };
        mapping.check_joins()?;
        Ok(mapping)
    }

    fn check_joins(&self) -> Result<(), MappingError> {
        for (i, m) in self.indices.iter().enumerate() {
            let Kind::Aggregator(a) = &m.kind else {
                continue;
            };
            for (j, join) in a.joining.iter().enumerate() {
                let at = format!("mappings[{i}].joining_props[{j}]");
                let Some(other) = self.by_type(&join.doc_type) else {
                    return Err(err(
                        &format!("{at}.index"),
                        format!("no mapping has doc_type {:?}", join.doc_type),
                    ));
                };
                if other.doc_type == m.doc_type {
                    return Err(err(&format!("{at}.index"), "an index cannot join itself"));
                }
                if let Kind::Aggregator(o) = &other.kind
                    && !o.joining.is_empty()
                {
                    return Err(err(
                        &format!("{at}.index"),
                        format!("{:?} joins another index itself", join.doc_type),
                    ));
                }
                for key in [&join.join_on] {
                    if m.field(key).is_none() || other.field(key).is_none() {
                        return Err(err(
                            &format!("{at}.join_on"),
                            format!(
                                "{key:?} must be a field of both {:?} and {:?}",
                                m.doc_type, other.doc_type
                            ),
                        ));
                    }
                }
                for (k, p) in join.props.iter().enumerate() {
                    if other.field(&p.src).is_none() {
                        return Err(err(
                            &format!("{at}.props[{k}].src"),
                            format!("{:?} is not a field of {:?}", p.src, other.doc_type),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    #[must_use]
    pub fn by_type(&self, doc_type: &str) -> Option<&IndexMapping> {
        self.indices.iter().find(|m| m.doc_type == doc_type)
    }

    /// The mapping weft uses when none is configured: a document per subject (`case`,
    /// `subject`, … or the node with the most kinds of descendants) with its own
    /// properties, those of its one-to-one children, and counts of its descendants, joined
    /// with its files' formats and types; and a document per data file with its subject's id.
    pub fn derive(dict: &Dictionary) -> Result<Self, MappingError> {
        let Some(subject) = subject_type(dict) else {
            return Ok(Self::default());
        };
        let value = derived_yaml(dict, &subject);
        Self::from_value(&value, dict)
    }
}

/// The node a derived mapping documents.
fn subject_type(dict: &Dictionary) -> Option<String> {
    for name in ["case", "subject", "participant", "patient"] {
        if dict.node(name).is_some_and(Node::in_project) {
            return Some(name.to_owned());
        }
    }
    dict.nodes()
        .filter(|n| n.in_project() && !n.is_file() && n.id != "project")
        .max_by_key(|n| downward(dict, &n.id, 4).len())
        .map(|n| n.id.clone())
}

/// Paths down from `from` (dotted backrefs) to each type they reach first, shortest first.
fn downward(dict: &Dictionary, from: &str, depth: usize) -> Vec<(String, String)> {
    let mut seen: BTreeSet<String> = BTreeSet::from([from.to_owned()]);
    let mut out = Vec::new();
    let mut queue = VecDeque::from([(from.to_owned(), String::new(), 0)]);
    while let Some((node, path, d)) = queue.pop_front() {
        if d >= depth {
            continue;
        }
        for (child, link) in dict.links_to(&node) {
            if !seen.insert(child.id.clone()) {
                continue;
            }
            let p = if path.is_empty() {
                link.backref.clone()
            } else {
                format!("{path}.{}", link.backref)
            };
            out.push((child.id.clone(), p.clone()));
            queue.push_back((child.id.clone(), p, d + 1));
        }
    }
    out
}

const SYSTEM: [&str; 6] = [
    "id",
    "type",
    "submitter_id",
    "state",
    "created_datetime",
    "updated_datetime",
];

fn scalar(kinds: &ValueKinds) -> bool {
    !kinds.object && !kinds.items.as_ref().is_some_and(|i| i.object)
}

fn derived_yaml(dict: &Dictionary, subject: &str) -> Value {
    let node = dict.node(subject).expect("subject exists");
    let links: BTreeSet<&str> = node.links.iter().map(|l| l.name.as_str()).collect();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut props = Vec::new();
    for p in &node.properties {
        if links.contains(p.name.as_str()) || p.name == "id" || p.name == "type" {
            continue;
        }
        if scalar(&p.kinds) && taken.insert(p.name.clone()) {
            props.push(serde_json::json!({"name": p.name}));
        }
    }
    let mut flatten = Vec::new();
    for (child, link) in dict.links_to(subject) {
        if link.multiplicity != weft_dictionary::Multiplicity::OneToOne || child.is_file() {
            continue;
        }
        let child_links: BTreeSet<&str> = child.links.iter().map(|l| l.name.as_str()).collect();
        let fields: Vec<Value> = child
            .properties
            .iter()
            .filter(|p| {
                !child_links.contains(p.name.as_str())
                    && !SYSTEM.contains(&p.name.as_str())
                    && p.name != "project_id"
                    && scalar(&p.kinds)
            })
            .filter(|p| taken.insert(p.name.clone()))
            .map(|p| serde_json::json!({"name": p.name}))
            .collect();
        if !fields.is_empty() {
            flatten.push(serde_json::json!({"path": link.backref, "props": fields}));
        }
    }
    let mut counts = Vec::new();
    for (_, path) in downward(dict, subject, 5) {
        let last = path.rsplit('.').next().unwrap_or(&path);
        let name = format!("_{last}_count");
        if taken.insert(name.clone()) {
            counts.push(serde_json::json!({"name": name, "path": path, "fn": "count"}));
        }
    }
    let files: Vec<&Node> = dict.nodes().filter(|n| n.category == "data_file").collect();
    let mut file_props = vec![serde_json::json!({"name": "source_node"})];
    let mut join = Vec::new();
    for name in [
        "object_id",
        "file_name",
        "file_size",
        "md5sum",
        "data_format",
        "data_type",
        "data_category",
        "state",
        "submitter_id",
        "project_id",
    ] {
        if files.iter().any(|n| n.property(name).is_some()) {
            file_props.push(serde_json::json!({"name": name}));
            if matches!(name, "data_format" | "data_type") && !taken.contains(name) {
                join.push(serde_json::json!({"name": name, "src": name, "fn": "set"}));
            }
        }
    }
    let id = format!("_{subject}_id");
    let mut mappings = vec![serde_json::json!({
        "name": subject,
        "doc_type": subject,
        "type": "aggregator",
        "root": subject,
        "props": props,
        "flatten_props": flatten,
        "aggregated_props": counts,
    })];
    if !files.is_empty() {
        if !join.is_empty() {
            mappings[0]["joining_props"] =
                serde_json::json!([{"index": "file", "join_on": id, "props": join}]);
        }
        mappings.push(serde_json::json!({
            "name": "file",
            "doc_type": "file",
            "type": "collector",
            "root": null,
            "category": "data_file",
            "props": file_props,
            "injecting_props": {subject: {"props": [{"name": id, "src": "id", "fn": "set"}]}},
        }));
    }
    serde_json::json!({ "mappings": mappings })
}

fn text<'a>(m: &'a Value, key: &str, at: &str) -> Result<&'a str, MappingError> {
    match m.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(_) => Err(err(&format!("{at}.{key}"), "must be a non-empty string")),
        None => Err(err(&format!("{at}.{key}"), "missing")),
    }
}

fn opt_text<'a>(m: &'a Value, key: &str, at: &str) -> Result<Option<&'a str>, MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(&format!("{at}.{key}"), "must be a string")),
    }
}

fn list<'a>(m: &'a Value, key: &str, at: &str) -> Result<&'a [Value], MappingError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(err(&format!("{at}.{key}"), "must be a list")),
    }
}

fn node<'a>(dict: &'a Dictionary, name: &str, at: &str) -> Result<&'a Node, MappingError> {
    dict.node(name)
        .ok_or_else(|| err(at, format!("the dictionary has no node {name:?}")))
}

/// One segment down from `from`: the child type whose link to `from` has this backref.
fn down(dict: &Dictionary, from: &str, backref: &str, at: &str) -> Result<Hop, MappingError> {
    dict.links_to(from)
        .find(|(_, l)| l.backref == backref)
        .map(|(child, l)| Hop {
            link: l.name.clone(),
            to_parents: false,
            node_type: child.id.clone(),
        })
        .ok_or_else(|| {
            err(
                at,
                format!("{from} has no children by the backref {backref:?}"),
            )
        })
}

/// One segment up from `from`: its link of this name.
fn up(dict: &Dictionary, from: &str, link: &str, at: &str) -> Result<Hop, MappingError> {
    node(dict, from, at)?
        .link(link)
        .map(|l| Hop {
            link: l.name.clone(),
            to_parents: true,
            node_type: l.target_type.clone(),
        })
        .ok_or_else(|| err(at, format!("{from} has no link {link:?}")))
}

fn path_down(
    dict: &Dictionary,
    from: &str,
    path: &str,
    at: &str,
) -> Result<Vec<Hop>, MappingError> {
    let mut hops: Vec<Hop> = Vec::new();
    for seg in path.split('.') {
        let here = hops.last().map_or(from, |h| h.node_type.as_str());
        hops.push(down(dict, here, seg.trim(), at)?);
    }
    Ok(hops)
}

/// Whether `name` is something a node of `node_type` carries.
fn has_prop(dict: &Dictionary, node_type: &str, name: &str) -> bool {
    matches!(
        name,
        "id" | "project_id" | "submitter_id" | "type" | "source_node"
    ) || dict
        .node(node_type)
        .is_some_and(|n| n.property(name).is_some())
}

/// The kind of a node property in a document (`None`: the property is an object).
fn prop_kind(dict: &Dictionary, node_types: &[String], src: &str) -> (FieldKind, bool) {
    for t in node_types {
        if let Some(p) = dict.node(t).and_then(|n| n.property(src)) {
            let k = &p.kinds;
            if k.array {
                let items = k.items.as_deref();
                let number = items.is_some_and(|i| (i.number || i.integer) && !i.string);
                return (
                    if number {
                        FieldKind::Number
                    } else {
                        FieldKind::Keyword
                    },
                    true,
                );
            }
            let number = (k.number || k.integer) && !k.string && !k.boolean;
            return (
                if number {
                    FieldKind::Number
                } else {
                    FieldKind::Keyword
                },
                false,
            );
        }
    }
    (FieldKind::Keyword, false)
}

fn read_props(
    m: &Value,
    key: &str,
    at: &str,
    dict: &Dictionary,
    node_types: &[String],
) -> Result<Vec<Prop>, MappingError> {
    let mut out = Vec::new();
    for (i, p) in list(m, key, at)?.iter().enumerate() {
        let pat = format!("{at}.{key}[{i}]");
        out.push(read_prop(p, &pat, dict, node_types)?);
    }
    Ok(out)
}

fn read_prop(
    p: &Value,
    at: &str,
    dict: &Dictionary,
    node_types: &[String],
) -> Result<Prop, MappingError> {
    if !p.is_object() {
        return Err(err(at, "must be an object with `name`"));
    }
    let name = text(p, "name", at)?.to_owned();
    let func = opt_text(p, "fn", at)?
        .map(|f| Func::parse(f, &format!("{at}.fn")))
        .transpose()?;
    let src = opt_text(p, "src", at)?.unwrap_or(&name).to_owned();
    if !node_types.is_empty() && !node_types.iter().any(|t| has_prop(dict, t, &src)) {
        return Err(err(
            &format!("{at}.src"),
            format!("{} has no property {src:?}", node_types.join(" or ")),
        ));
    }
    let mut mappings = Vec::new();
    for (i, entry) in list(p, "value_mappings", at)?.iter().enumerate() {
        let Value::Object(o) = entry else {
            return Err(err(
                &format!("{at}.value_mappings[{i}]"),
                "must be a map of one value to its text",
            ));
        };
        for (from, to) in o {
            let to = match to {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            mappings.push((from.clone(), to));
        }
    }
    Ok(Prop {
        name,
        src,
        mappings,
        func,
    })
}

fn field(name: &str, kind: FieldKind, array: bool) -> Field {
    Field {
        name: name.to_owned(),
        kind,
        array,
    }
}

/// The fields of `props` taken from nodes of `types`, each a list when `array`.
fn prop_fields(dict: &Dictionary, types: &[String], props: &[Prop], array: bool) -> Vec<Field> {
    props
        .iter()
        .map(|p| {
            let (kind, is_array) = match p.func {
                Some(Func::Count | Func::Sum | Func::Min | Func::Max) => (FieldKind::Number, false),
                Some(Func::Set | Func::List) => (prop_kind(dict, types, &p.src).0, true),
                None => prop_kind(dict, types, &p.src),
            };
            let kind = if p.mappings.is_empty() {
                kind
            } else {
                FieldKind::Keyword
            };
            field(&p.name, kind, is_array || array)
        })
        .collect()
}

fn read_index(m: &Value, at: &str, dict: &Dictionary) -> Result<IndexMapping, MappingError> {
    if !m.is_object() {
        return Err(err(at, "must be an object"));
    }
    let name = text(m, "name", at)?.to_owned();
    let doc_type = text(m, "doc_type", at)?.to_owned();
    if !doc_type
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        || doc_type.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(err(
            &format!("{at}.doc_type"),
            "must be a GraphQL name (letters, digits and `_`)",
        ));
    }
    let (kind, mut fields) = match text(m, "type", at)? {
        "aggregator" => read_aggregator(m, at, dict)?,
        "collector" => read_collector(m, at, dict, &doc_type)?,
        other => {
            return Err(err(
                &format!("{at}.type"),
                format!("{other:?} is neither `aggregator` nor `collector`"),
            ));
        }
    };
    // each name once (tube keeps the first definition of a name)
    let mut seen = HashSet::new();
    fields.retain(|f| seen.insert(f.name.clone()));
    for f in &fields {
        if !f
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
            || f.name.starts_with(|c: char| c.is_ascii_digit())
            || f.name.starts_with("__")
        {
            return Err(err(
                at,
                format!("the field name {:?} is not a GraphQL name", f.name),
            ));
        }
    }
    Ok(IndexMapping {
        name,
        doc_type,
        kind,
        fields,
    })
}

fn read_nested(
    m: &Value,
    at: &str,
    dict: &Dictionary,
    from: &str,
) -> Result<Vec<Nested>, MappingError> {
    let mut out = Vec::new();
    for (i, n) in list(m, "nested_props", at)?.iter().enumerate() {
        let nat = format!("{at}.nested_props[{i}]");
        let path_text = text(n, "path", &nat)?;
        let path = path_down(dict, from, path_text, &format!("{nat}.path"))?;
        let end = path.last().map(|h| h.node_type.clone()).unwrap_or_default();
        let name =
            opt_text(n, "name", &nat)?.map_or_else(|| path_text.replace('.', "_"), str::to_owned);
        let props = read_props(n, "props", &nat, dict, std::slice::from_ref(&end))?;
        let nested = read_nested(n, &nat, dict, &end)?;
        out.push(Nested {
            name,
            path,
            props,
            nested,
        });
    }
    Ok(out)
}

fn nested_field(dict: &Dictionary, n: &Nested) -> Field {
    let end = n
        .path
        .last()
        .map(|h| h.node_type.clone())
        .unwrap_or_default();
    let mut fields = prop_fields(dict, std::slice::from_ref(&end), &n.props, false);
    fields.push(field(&format!("_{end}_id"), FieldKind::Keyword, false));
    fields.extend(n.nested.iter().map(|c| nested_field(dict, c)));
    field(&n.name, FieldKind::Nested(fields), true)
}

fn read_aggregator(
    m: &Value,
    at: &str,
    dict: &Dictionary,
) -> Result<(Kind, Vec<Field>), MappingError> {
    let root = text(m, "root", at)?.to_owned();
    let root_node = node(dict, &root, &format!("{at}.root"))?;
    let roots = vec![root.clone()];
    let props = read_props(m, "props", at, dict, &roots)?;
    let mut fields = vec![field(&format!("_{root}_id"), FieldKind::Keyword, false)];
    fields.extend(prop_fields(dict, &roots, &props, false));

    let mut flatten = Vec::new();
    for (i, f) in list(m, "flatten_props", at)?.iter().enumerate() {
        let fat = format!("{at}.flatten_props[{i}]");
        let seg = text(f, "path", &fat)?;
        let hop = down(dict, &root, seg, &format!("{fat}.path"))?;
        let types = vec![hop.node_type.clone()];
        let props = read_props(f, "props", &fat, dict, &types)?;
        let sorted_by = opt_text(f, "sorted_by", &fat)?.map(|s| {
            let mut parts = s.split(',').map(str::trim);
            let field = parts.next().unwrap_or("").to_owned();
            (field, parts.next() == Some("desc"))
        });
        fields.extend(prop_fields(dict, &types, &props, false));
        flatten.push(Flatten {
            hop,
            props,
            sorted_by,
        });
    }

    let mut parents = Vec::new();
    for (i, p) in list(m, "parent_props", at)?.iter().enumerate() {
        let pat = format!("{at}.parent_props[{i}]");
        let Some(path) = opt_text(p, "path", &pat)? else {
            continue;
        };
        let one = opt_text(p, "relation", &pat)?.is_some_and(|r| r.eq_ignore_ascii_case("1-1"));
        let mut steps: Vec<ParentStep> = Vec::new();
        for seg in path.split('.') {
            let (link, names) = match seg.split_once('[') {
                Some((l, rest)) => (
                    l.trim(),
                    rest.strip_suffix(']').ok_or_else(|| {
                        err(
                            &format!("{pat}.path"),
                            format!("{seg:?} lacks its closing `]`"),
                        )
                    })?,
                ),
                None => (seg.trim(), ""),
            };
            let here = steps
                .last()
                .map_or(root.as_str(), |s| s.hop.node_type.as_str());
            let hop = up(dict, here, link, &format!("{pat}.path"))?;
            let mut props = Vec::new();
            for item in names.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                let (name, src) = item.split_once(':').unwrap_or((item, item));
                let (name, src) = (name.trim(), src.trim());
                if !has_prop(dict, &hop.node_type, src) {
                    return Err(err(
                        &format!("{pat}.path"),
                        format!("{} has no property {src:?}", hop.node_type),
                    ));
                }
                props.push(Prop {
                    name: name.to_owned(),
                    src: src.to_owned(),
                    mappings: Vec::new(),
                    func: None,
                });
            }
            let types = vec![hop.node_type.clone()];
            let mut fs = prop_fields(dict, &types, &props, !one);
            if one {
                for f in &mut fs {
                    f.kind = FieldKind::Keyword;
                    f.array = false;
                }
            }
            fields.extend(fs);
            steps.push(ParentStep { hop, props });
        }
        parents.push(ParentPath { steps, one });
    }

    let mut aggregated = Vec::new();
    for (i, a) in list(m, "aggregated_props", at)?.iter().enumerate() {
        let aat = format!("{at}.aggregated_props[{i}]");
        let name = text(a, "name", &aat)?.to_owned();
        let path = path_down(dict, &root, text(a, "path", &aat)?, &format!("{aat}.path"))?;
        let func = Func::parse(text(a, "fn", &aat)?, &format!("{aat}.fn"))?;
        let end = path.last().map(|h| h.node_type.clone()).unwrap_or_default();
        let src = opt_text(a, "src", &aat)?.map(str::to_owned);
        if let Some(s) = &src
            && !has_prop(dict, &end, s)
        {
            return Err(err(
                &format!("{aat}.src"),
                format!("{end} has no property {s:?}"),
            ));
        }
        if src.is_none() && func != Func::Count {
            return Err(err(
                &format!("{aat}.src"),
                "missing (only `count` needs none)",
            ));
        }
        let kind = if func.listed() {
            src.as_deref().map_or(FieldKind::Keyword, |s| {
                prop_kind(dict, std::slice::from_ref(&end), s).0
            })
        } else {
            FieldKind::Number
        };
        fields.push(field(&name, kind, func.listed()));
        aggregated.push(Aggregated {
            name,
            path,
            src,
            func,
        });
    }

    let nested = read_nested(m, at, dict, &root)?;
    fields.extend(nested.iter().map(|n| nested_field(dict, n)));

    let mut joining = Vec::new();
    for (i, j) in list(m, "joining_props", at)?.iter().enumerate() {
        let jat = format!("{at}.joining_props[{i}]");
        let doc_type = text(j, "index", &jat)?.to_owned();
        let join_on = text(j, "join_on", &jat)?.to_owned();
        let props = read_props(j, "props", &jat, dict, &[])?;
        for p in &props {
            let (kind, array) = match p.func {
                Some(Func::Set | Func::List) | None => (FieldKind::Keyword, true),
                Some(_) => (FieldKind::Number, false),
            };
            fields.push(field(&p.name, kind, array));
        }
        joining.push(Joining {
            doc_type,
            join_on,
            props,
        });
    }
    if root_node.in_project() || root == "project" {
        fields.push(field("project_id", FieldKind::Keyword, false));
    }
    fields.push(field(AUTH_FIELD, FieldKind::Keyword, false));
    Ok((
        Kind::Aggregator(Aggregator {
            root,
            props,
            flatten,
            parents,
            aggregated,
            nested,
            joining,
        }),
        fields,
    ))
}

fn read_collector(
    m: &Value,
    at: &str,
    dict: &Dictionary,
    doc_type: &str,
) -> Result<(Kind, Vec<Field>), MappingError> {
    let category = opt_text(m, "category", at)?
        .unwrap_or("data_file")
        .to_owned();
    let node_types: Vec<String> = dict
        .nodes()
        .filter(|n| n.category == category)
        .map(|n| n.id.clone())
        .collect();
    if node_types.is_empty() {
        return Err(err(
            &format!("{at}.category"),
            format!("the dictionary has no node of category {category:?}"),
        ));
    }
    let props = read_props(m, "props", at, dict, &node_types)?;
    let mut fields = vec![field(&format!("_{doc_type}_id"), FieldKind::Keyword, false)];
    fields.extend(prop_fields(dict, &node_types, &props, false));
    let mut injecting = Vec::new();
    match m.get("injecting_props") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            for (label, spec) in o {
                let iat = format!("{at}.injecting_props.{label}");
                node(dict, label, &iat)?;
                let types = vec![label.clone()];
                let props = read_props(spec, "props", &iat, dict, &types)?;
                // injected values are lists of the distinct values over every ancestor
                let mut fs = prop_fields(dict, &types, &props, true);
                for (f, p) in fs.iter_mut().zip(&props) {
                    if p.name == "project_id" {
                        f.array = false;
                    }
                }
                fields.extend(fs);
                injecting.push(Injecting {
                    node_type: label.clone(),
                    props,
                });
            }
        }
        Some(_) => {
            return Err(err(
                &format!("{at}.injecting_props"),
                "must be a map of node names to `props`",
            ));
        }
    }
    fields.push(field("project_id", FieldKind::Keyword, false));
    fields.push(field(AUTH_FIELD, FieldKind::Keyword, false));
    Ok((
        Kind::Collector(Collector {
            category,
            node_types,
            props,
            injecting,
        }),
        fields,
    ))
}

/// A document's value for a field: scalars as they are, lists as arrays.
pub type Doc = Map<String, Value>;

/// The fields of an index as guppy's array config lists them (arrays, nested paths).
#[must_use]
pub fn array_fields(fields: &[Field]) -> Vec<String> {
    fn walk(prefix: &str, fields: &[Field], out: &mut Vec<String>) {
        for f in fields {
            let name = if prefix.is_empty() {
                f.name.clone()
            } else {
                format!("{prefix}.{}", f.name)
            };
            if f.array {
                out.push(name.clone());
            }
            if let FieldKind::Nested(sub) = &f.kind {
                walk(&name, sub, out);
            }
        }
    }
    let mut out = Vec::new();
    walk("", fields, &mut out);
    out
}
