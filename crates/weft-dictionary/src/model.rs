//! The typed model of a loaded dictionary: nodes, their links, unique keys and property types.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::DictionaryError;

/// How many of each side a link joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Multiplicity {
    OneToOne,
    OneToMany,
    ManyToOne,
    ManyToMany,
}

impl Multiplicity {
    /// Whether a child may link to at most one node through this link.
    pub fn to_one(self) -> bool {
        matches!(self, Self::OneToOne | Self::ManyToOne)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OneToOne => "one_to_one",
            Self::OneToMany => "one_to_many",
            Self::ManyToOne => "many_to_one",
            Self::ManyToMany => "many_to_many",
        }
    }
}

/// A link from a node (the child) to its parent type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Link {
    /// The property the child names its parents in (`cases`).
    pub name: String,
    /// The name of the way back, from the parent to its children (`samples`).
    pub backref: String,
    pub label: String,
    pub target_type: String,
    pub multiplicity: Multiplicity,
    /// Required on its own (a link in a subgroup is governed by the subgroup).
    pub required: bool,
}

/// A group of links of which one (`exclusive`: exactly one) or more must be given when the
/// group is `required`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkGroup {
    pub exclusive: bool,
    pub required: bool,
    /// The names of the links in the group (nested subgroups flattened).
    pub links: Vec<String>,
}

/// The JSON types a property accepts, for reading TSV cells.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueKinds {
    pub string: bool,
    pub integer: bool,
    pub number: bool,
    pub boolean: bool,
    pub array: bool,
    pub object: bool,
    /// What an array's items accept, when the property is an array.
    pub items: Option<Box<ValueKinds>>,
}

impl ValueKinds {
    fn of(schema: &Value) -> Self {
        let mut kinds = Self::default();
        kinds.add(schema, 0);
        if !(kinds.integer
            || kinds.number
            || kinds.boolean
            || kinds.array
            || kinds.object
            || kinds.string)
        {
            kinds.string = true;
        }
        kinds
    }

    fn add(&mut self, schema: &Value, depth: usize) {
        if depth > 8 {
            return;
        }
        let Value::Object(map) = schema else { return };
        match map.get("type") {
            Some(Value::String(t)) => self.add_type(t, map, depth),
            Some(Value::Array(types)) => {
                for t in types.iter().filter_map(Value::as_str) {
                    self.add_type(t, map, depth);
                }
            }
            _ => {}
        }
        if let Some(Value::Array(values)) = map.get("enum") {
            for v in values {
                match v {
                    Value::String(_) => self.string = true,
                    Value::Bool(_) => self.boolean = true,
                    Value::Number(n) if n.is_i64() || n.is_u64() => self.integer = true,
                    Value::Number(_) => self.number = true,
                    _ => {}
                }
            }
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(alternatives)) = map.get(key) {
                for a in alternatives {
                    self.add(a, depth + 1);
                }
            }
        }
    }

    fn add_type(&mut self, t: &str, map: &serde_json::Map<String, Value>, depth: usize) {
        match t {
            "string" => self.string = true,
            "integer" => self.integer = true,
            "number" => self.number = true,
            "boolean" => self.boolean = true,
            "object" => self.object = true,
            "array" => {
                self.array = true;
                if self.items.is_none() {
                    let mut items = Self::default();
                    if let Some(schema) = map.get("items") {
                        items.add(schema, depth + 1);
                    }
                    if items == Self::default() {
                        items.string = true;
                    }
                    self.items = Some(Box::new(items));
                }
            }
            _ => {}
        }
    }
}

/// One property of a node.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub kinds: ValueKinds,
    /// The property's schema, after `$ref` resolution and `allow_nulls`.
    pub schema: Value,
    pub description: Option<String>,
    pub default: Option<Value>,
}

/// One node type of the dictionary.
#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub title: String,
    pub category: String,
    pub description: Option<String>,
    pub submittable: bool,
    /// Every link, subgroups flattened.
    pub links: Vec<Link>,
    pub link_groups: Vec<LinkGroup>,
    pub required: Vec<String>,
    pub unique_keys: Vec<Vec<String>>,
    pub system_properties: BTreeSet<String>,
    /// In the order the schema lists them.
    pub properties: Vec<Property>,
    /// The resolved schema, nulls allowed where a value is optional: what entities are
    /// validated against.
    pub schema: Value,
}

impl Node {
    pub fn property(&self, name: &str) -> Option<&Property> {
        self.properties.iter().find(|p| p.name == name)
    }

    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    /// Data, metadata and index files: nodes that stand for an object in the index.
    pub fn is_file(&self) -> bool {
        matches!(
            self.category.as_str(),
            "data_file" | "metadata_file" | "index_file"
        )
    }

    /// Whether entities of this node live in a project (and so can be submitted to one).
    pub fn in_project(&self) -> bool {
        self.property("project_id").is_some()
    }

    /// Whether `name` is a required property or a required link (alone or in a required
    /// group of one).
    pub fn is_required(&self, name: &str) -> bool {
        self.required.iter().any(|r| r == name)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLinkItem {
    Link(Link),
    Group {
        exclusive: bool,
        required: bool,
        subgroup: Vec<RawLinkItem>,
    },
}

fn flatten(items: Vec<RawLinkItem>, links: &mut Vec<Link>, groups: &mut Vec<LinkGroup>) {
    for item in items {
        match item {
            RawLinkItem::Link(l) => links.push(l),
            RawLinkItem::Group {
                exclusive,
                required,
                subgroup,
            } => {
                let start = links.len();
                flatten(subgroup, links, groups);
                let names = links[start..].iter().map(|l| l.name.clone()).collect();
                groups.push(LinkGroup {
                    exclusive,
                    required,
                    links: names,
                });
            }
        }
    }
}

fn string_list(
    schema: &Value,
    key: &str,
    file: &str,
    node: &str,
) -> Result<Vec<String>, DictionaryError> {
    match schema.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            DictionaryError::node(file, node, key, "must be a list of strings".to_owned())
        }),
    }
}

/// The names of the required links, in a subgroup or not (as dictionaryutils counts them).
fn required_link_names(links: &[Link]) -> impl Iterator<Item = String> + '_ {
    links.iter().filter(|l| l.required).map(|l| l.name.clone())
}

/// Build a node from its resolved schema; `allow_nulls` is applied here.
pub fn build_node(file: &str, mut schema: Value) -> Result<Node, DictionaryError> {
    let id = schema
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| DictionaryError::key(file, "/id", "a node needs a string `id`"))?
        .to_owned();
    let text = |key: &str| schema.get(key).and_then(Value::as_str).map(str::to_owned);
    let title = text("title").unwrap_or_else(|| id.clone());
    let category = text("category").unwrap_or_default();
    let description = text("description");
    let submittable = schema
        .get("submittable")
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let raw_links: Vec<RawLinkItem> = match schema.get("links") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            DictionaryError::node(file, &id, "links", format!("not a list of links: {e}"))
        })?,
    };
    let mut links = Vec::new();
    let mut link_groups = Vec::new();
    flatten(raw_links, &mut links, &mut link_groups);

    let required = string_list(&schema, "required", file, &id)?;
    let system_properties = string_list(&schema, "systemProperties", file, &id)?
        .into_iter()
        .collect();
    let unique_keys: Vec<Vec<String>> = match schema.get("uniqueKeys") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| {
            DictionaryError::node(
                file,
                &id,
                "uniqueKeys",
                "must be a list of lists of property names".to_owned(),
            )
        })?,
    };

    let mut nullable_exempt = required.clone();
    nullable_exempt.extend(required_link_names(&links));
    crate::load::allow_nulls(&mut schema, &nullable_exempt);

    let mut properties = Vec::new();
    if let Some(props) = schema.get("properties") {
        let Value::Object(props) = props else {
            return Err(DictionaryError::node(
                file,
                &id,
                "properties",
                "must be an object".to_owned(),
            ));
        };
        for (name, prop) in props {
            if !prop.is_object() {
                return Err(DictionaryError::node(
                    file,
                    &id,
                    &format!("properties.{name}"),
                    "must be an object (a JSON schema)".to_owned(),
                ));
            }
            properties.push(Property {
                name: name.clone(),
                kinds: ValueKinds::of(prop),
                schema: prop.clone(),
                description: prop
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                default: prop.get("default").cloned(),
            });
        }
    }
    let node = Node {
        id,
        title,
        category,
        description,
        submittable,
        links,
        link_groups,
        required,
        unique_keys,
        system_properties,
        properties,
        schema,
    };
    check_node(file, &node)?;
    Ok(node)
}

/// The rules of a node on its own (links' targets are checked once all nodes are known).
fn check_node(file: &str, node: &Node) -> Result<(), DictionaryError> {
    let has = |name: &str| node.property(name).is_some();
    for (i, link) in node.links.iter().enumerate() {
        if !has(&link.name) {
            return Err(DictionaryError::node(
                file,
                &node.id,
                &format!("links[{i}].name"),
                format!("the link `{}` is not among the properties", link.name),
            ));
        }
    }
    let mut seen = BTreeSet::new();
    for link in &node.links {
        if !seen.insert(&link.name) {
            return Err(DictionaryError::node(
                file,
                &node.id,
                "links",
                format!("the link `{}` is declared twice", link.name),
            ));
        }
    }
    for (i, keys) in node.unique_keys.iter().enumerate() {
        for key in keys {
            if !has(key) {
                return Err(DictionaryError::node(
                    file,
                    &node.id,
                    &format!("uniqueKeys[{i}]"),
                    format!("`{key}` is not among the properties"),
                ));
            }
        }
    }
    for name in &node.required {
        if !has(name) {
            return Err(DictionaryError::node(
                file,
                &node.id,
                "required",
                format!("`{name}` is not among the properties"),
            ));
        }
    }
    Ok(())
}

/// Check what needs every node: link targets exist, backrefs are unique per target.
pub fn check_graph(nodes: &BTreeMap<String, (String, Node)>) -> Result<(), DictionaryError> {
    let mut backrefs: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (file, node) in nodes.values() {
        for (i, link) in node.links.iter().enumerate() {
            if !nodes.contains_key(&link.target_type) {
                return Err(DictionaryError::node(
                    file,
                    &node.id,
                    &format!("links[{i}].target_type"),
                    format!("no node `{}` in the dictionary", link.target_type),
                ));
            }
            if let Some(other) = backrefs.insert((&link.target_type, &link.backref), &node.id)
                && other != node.id
            {
                return Err(DictionaryError::node(
                    file,
                    &node.id,
                    &format!("links[{i}].backref"),
                    format!(
                        "`{}` on `{}` is already the backref of a link from `{other}`",
                        link.backref, link.target_type
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_come_from_type_enum_and_alternatives() {
        let k = ValueKinds::of(&json!({"type": ["integer", "null"]}));
        assert!(k.integer && !k.string && !k.number);
        let k = ValueKinds::of(&json!({"enum": ["a", "b", null]}));
        assert!(k.string && !k.integer);
        let k = ValueKinds::of(&json!({"type": "array", "items": {"type": "number"}}));
        assert!(k.array && k.items.as_ref().is_some_and(|i| i.number));
        let k = ValueKinds::of(
            &json!({"oneOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
        );
        assert!(k.string);
        let k = ValueKinds::of(&json!({"oneOf": [{"enum": [true, false]}]}));
        assert!(k.boolean && !k.string);
        // A schema that names no type reads cells as text.
        assert!(ValueKinds::of(&json!({"description": "x"})).string);
    }

    #[test]
    fn subgroups_flatten_and_required_links_stay_non_nullable() {
        let schema = json!({
            "id": "f", "category": "data_file",
            "required": ["submitter_id"],
            "links": [{"exclusive": true, "required": true, "subgroup": [
                {"name": "a", "backref": "fs", "label": "l", "target_type": "x", "multiplicity": "many_to_one", "required": false},
                {"name": "b", "backref": "fs", "label": "l", "target_type": "y", "multiplicity": "many_to_many", "required": false}]},
                {"name": "c", "backref": "fs", "label": "l", "target_type": "z", "multiplicity": "one_to_one", "required": true}],
            "properties": {"submitter_id": {"type": "string"}, "a": {"anyOf": [{"type": "object"}]},
                           "b": {"anyOf": [{"type": "object"}]}, "c": {"anyOf": [{"type": "object"}]},
                           "n": {"type": "integer"}}});
        let node = build_node("f.yaml", schema).unwrap();
        assert_eq!(node.links.len(), 3);
        assert_eq!(
            node.link_groups,
            vec![LinkGroup {
                exclusive: true,
                required: true,
                links: vec!["a".into(), "b".into()]
            }]
        );
        assert!(node.is_file());
        let p = |n: &str| node.property(n).unwrap().schema.clone();
        assert_eq!(p("c"), json!({"anyOf": [{"type": "object"}]}));
        assert_eq!(
            p("a"),
            json!({"anyOf": [{"type": "object"}, {"type": "null"}]})
        );
        assert_eq!(p("n")["type"], json!(["integer", "null"]));
        assert_eq!(p("submitter_id"), json!({"type": "string"}));
    }

    #[test]
    fn a_link_must_be_a_property() {
        let schema = json!({"id": "s", "links": [{"name": "cases", "backref": "samples", "label": "l",
            "target_type": "case", "multiplicity": "many_to_one", "required": true}], "properties": {}});
        let e = build_node("s.yaml", schema).unwrap_err().to_string();
        assert!(
            e.contains("s.yaml") && e.contains("node `s`") && e.contains("links[0].name"),
            "{e}"
        );
    }
}
