//! Peregrine's arguments of a node query, read into a [`NodeQuery`] the store runs in the
//! database.

use serde_json::{Map, Value};
use weft_dictionary::Node;
use weft_store::{NodeFilter, NodeQuery, PropMatch};

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
    let first = args
        .get("first")
        .and_then(Value::as_i64)
        .unwrap_or(DEFAULT_FIRST);
    let offset = args.get("offset").and_then(Value::as_i64).unwrap_or(0);
    Ok(NodeQuery {
        filter,
        order,
        limit: usize::try_from(first).ok().filter(|f| *f > 0),
        offset: usize::try_from(offset).unwrap_or(0),
    })
}
