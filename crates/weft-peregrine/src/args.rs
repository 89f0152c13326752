//! Peregrine's arguments of a node query, read into a [`NodeQuery`] the store runs in the
//! database.

use std::collections::HashMap;

use serde_json::{Map, Value};
use weft_dictionary::{Dictionary, Node};
use weft_store::{Hop, NodeFilter, NodeQuery, PropMatch, Reach, ReachGroup};

use crate::paths;

/// What peregrine's `first` is when not given.
pub const DEFAULT_FIRST: i64 = 10;

/// The arguments every node query takes besides its properties.
pub const BASE_ARGS: [&str; 11] = [
    "id",
    "ids",
    "quick_search",
    "first",
    "offset",
    "created_before",
    "created_after",
    "updated_before",
    "updated_after",
    "order_by_asc",
    "order_by_desc",
];

/// The properties of a node type that are fields and filters: its dictionary properties
/// other than links, `id` and `type` (as gen3datamodel makes them).
pub fn properties(node: &Node) -> impl Iterator<Item = &weft_dictionary::Property> {
    node.properties
        .iter()
        .filter(move |p| node.link(&p.name).is_none() && p.name != "id" && p.name != "type")
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The readable projects (`None`: all) narrowed to `wanted`.
fn narrow(readable: Option<&Vec<String>>, wanted: Vec<String>) -> Vec<String> {
    match readable {
        None => wanted,
        Some(r) => wanted.into_iter().filter(|p| r.contains(p)).collect(),
    }
}

/// A query of `node`'s type from its GraphQL arguments (already coerced to their types);
/// `readable` the projects the caller may read (`None`: all). Errors are peregrine's
/// messages.
pub fn node_query(
    dict: &Dictionary,
    node: &Node,
    args: &Map<String, Value>,
    readable: Option<&Vec<String>>,
) -> Result<NodeQuery, String> {
    let mut filter = NodeFilter {
        node_types: vec![node.id.clone()],
        projects: if node.id == "program" {
            None
        } else {
            readable.cloned()
        },
        ..NodeFilter::default()
    };
    let mut ids: Option<Vec<String>> = None;
    if let Some(id) = args.get("id").and_then(text) {
        ids = Some(vec![id]);
    }
    if let Some(list_ids) = args.get("ids").filter(|v| !v.is_null()) {
        let given: Vec<String> = list(list_ids).iter().filter_map(text).collect();
        ids = Some(match ids {
            Some(one) => one.into_iter().filter(|i| given.contains(i)).collect(),
            None => given,
        });
    }
    filter.ids = ids;
    if let Some(projects) = args.get("project_id").filter(|v| !v.is_null()) {
        let wanted: Vec<String> = list(projects).iter().filter_map(text).collect();
        filter.projects = Some(narrow(filter.projects.as_ref().or(readable), wanted));
    }
    filter.quick_search = args.get("quick_search").and_then(text);
    filter.created_after = args.get("created_after").and_then(text);
    filter.created_before = args.get("created_before").and_then(text);
    filter.updated_after = args.get("updated_after").and_then(text);
    filter.updated_before = args.get("updated_before").and_then(text);
    for p in properties(node) {
        if p.name == "project_id" {
            continue;
        }
        let Some(v) = args.get(&p.name).filter(|v| !v.is_null()) else {
            continue;
        };
        let values = list(v);
        let m = if p.kinds.array {
            PropMatch::HoldsAll(values)
        } else {
            PropMatch::AnyOf(values)
        };
        filter.props.push((p.name.clone(), m));
    }
    if let Some(Value::Array(nots)) = args.get("not") {
        for item in nots {
            if let Some((key, value)) = item.as_object().and_then(|o| o.iter().next())
                && !value.is_null()
            {
                filter
                    .props
                    .retain(|(k, m)| !(k == key && matches!(m, PropMatch::Not(_))));
                filter
                    .props
                    .push((key.clone(), PropMatch::Not(value.clone())));
            }
        }
    }
    filter.reach = reach(dict, node, args)?;
    let orderable = |key: &str| key == "id" || key == "type" || node.property(key).is_some();
    let mut order = None;
    for (arg, asc) in [("order_by_desc", false), ("order_by_asc", true)] {
        if let Some(key) = args.get(arg).and_then(text) {
            if !orderable(&key) {
                return Err(format!("Cannot order by {key} on {}", node.id));
            }
            if key != "type" {
                order = Some((key, asc));
            }
        }
    }
    let (limit, offset) = page(args);
    Ok(NodeQuery {
        filter,
        order,
        limit,
        offset,
    })
}

/// `first` (default 10; 0 or less: no limit) and `offset` (less than 0: none) as a page.
pub fn page(args: &Map<String, Value>) -> (Option<usize>, usize) {
    let first = args
        .get("first")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_FIRST);
    let offset = args.get("offset").and_then(Value::as_i64).unwrap_or(0);
    (
        usize::try_from(first).ok().filter(|f| *f > 0),
        usize::try_from(offset).unwrap_or(0),
    )
}

/// The destination of a `with_path_to` element: its `id` and property values.
fn destination(item: &Map<String, Value>) -> NodeFilter {
    let mut dest = NodeFilter::default();
    for (key, value) in item {
        match (key.as_str(), value) {
            ("type", _) | (_, Value::Null) => {}
            ("id", v) => dest.ids = text(v).map(|i| vec![i]),
            (_, Value::Array(items)) => {
                dest.props
                    .push((key.clone(), PropMatch::HoldsAll(items.clone())));
            }
            (_, v) => dest
                .props
                .push((key.clone(), PropMatch::AnyOf(vec![v.clone()]))),
        }
    }
    dest
}

/// `with_links`, `with_links_any`, `without_links`, `with_path_to`, `with_path_to_any`
/// and `without_path_to` as paths the store checks.
fn reach(
    dict: &Dictionary,
    node: &Node,
    args: &Map<String, Value>,
) -> Result<Vec<ReachGroup>, String> {
    let edges: HashMap<String, Hop> = paths::edges(dict, node).into_iter().collect();
    let names = |key: &str| -> Vec<String> {
        list(args.get(key).unwrap_or(&Value::Null))
            .iter()
            .filter_map(text)
            .collect()
    };
    let link = |name: &str| -> Result<Reach, String> {
        let hop = edges
            .get(name)
            .cloned()
            .ok_or_else(|| format!("Invalid link name '{name}'"))?;
        Ok(Reach {
            paths: vec![vec![hop]],
            dest: NodeFilter::default(),
        })
    };
    let path = |item: &Value| -> Result<Reach, String> {
        let item = item.as_object().cloned().unwrap_or_default();
        let Some(to) = item.get("type").and_then(Value::as_str) else {
            return Err("Please specify a {type: <type>} in the with_path_to filter.".into());
        };
        Ok(Reach {
            paths: paths::between(dict, &node.id, to),
            dest: destination(&item),
        })
    };
    let group = |any_of: Vec<Reach>, negate: bool| ReachGroup { any_of, negate };
    let mut out = Vec::new();
    for name in names("with_links") {
        out.push(group(vec![link(&name)?], false));
    }
    let any = names("with_links_any");
    if !any.is_empty() {
        out.push(group(
            any.iter().map(|n| link(n)).collect::<Result<_, _>>()?,
            false,
        ));
    }
    for name in names("without_links") {
        out.push(group(vec![link(&name)?], true));
    }
    let items = |key: &str| list(args.get(key).unwrap_or(&Value::Null));
    for item in items("with_path_to") {
        out.push(group(vec![path(&item)?], false));
    }
    let any = items("with_path_to_any");
    if !any.is_empty() {
        out.push(group(
            any.iter().map(&path).collect::<Result<_, _>>()?,
            false,
        ));
    }
    for item in items("without_path_to") {
        out.push(group(vec![path(&item)?], true));
    }
    Ok(out)
}
