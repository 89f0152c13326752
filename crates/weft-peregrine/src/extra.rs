//! peregrine's other root fields: `datanode` (data files of every file type at once),
//! `_node_type` (the dictionary's node types, queried like nodes) and `viewer` (the root
//! fields again, for clients that start there).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, InputValue, Object, TypeRef};
use async_graphql::{Error, Value as GqlValue};
use serde_json::Value;
use weft_dictionary::{Dictionary, Node};
use weft_store::GraphNode;

use crate::Request;
use crate::args::{self, properties};
use crate::schema::{json_args, kind_of, output_of, scalar_of};

/// Node types whose category ends with `_file`.
fn file_types(dict: &Dictionary) -> Vec<&Node> {
    dict.nodes()
        .filter(|n| n.category.ends_with("_file"))
        .collect()
}

/// The fields of `DataNode`: every property of the file types (first type wins), with
/// `id` and `type`.
fn datanode_fields(dict: &Dictionary) -> BTreeMap<String, &weft_dictionary::Property> {
    let mut fields = BTreeMap::new();
    for node in file_types(dict) {
        for p in properties(node) {
            fields.entry(p.name.clone()).or_insert(p);
        }
    }
    fields
}

/// The `DataNode` type and the root field `datanode`.
pub fn datanode(dict: &Arc<Dictionary>) -> (Object, Field) {
    let fields = datanode_fields(dict);
    let mut obj = Object::new("DataNode");
    for name in ["id", "type"] {
        obj = obj.field(Field::new(
            name,
            TypeRef::named(TypeRef::STRING),
            move |ctx| {
                FieldFuture::new(async move {
                    let n = ctx.parent_value.try_downcast_ref::<GraphNode>()?;
                    let v = if name == "id" { &n.id } else { &n.node_type };
                    Ok(Some(FieldValue::value(v.clone())))
                })
            },
        ));
    }
    for (name, p) in &fields {
        if name == "id" || name == "type" {
            continue;
        }
        let k = kind_of(p);
        let key = name.clone();
        obj = obj.field(Field::new(name.as_str(), scalar_of(k, false), move |ctx| {
            let key = key.clone();
            FieldFuture::new(async move {
                let n = ctx.parent_value.try_downcast_ref::<GraphNode>()?;
                Ok(output_of(n.props.get(&key), k))
            })
        }));
    }
    let shared = Arc::clone(dict);
    let mut field = Field::new("datanode", TypeRef::named_list("DataNode"), move |ctx| {
        let dict = Arc::clone(&shared);
        FieldFuture::new(async move {
            let req = ctx.ctx.data::<Request>()?;
            let mut args = json_args(&ctx)?;
            let of_type: Option<Vec<String>> = args.remove("of_type").and_then(|v| {
                v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
            });
            let project = args.remove("project_id").filter(|v| !v.is_null());
            let mut out = Vec::new();
            for node in file_types(&dict) {
                if of_type.as_ref().is_some_and(|t| !t.contains(&node.id)) {
                    continue;
                }
                // each type takes the arguments it has; `first`/`offset` apply per type
                let mut own = args.clone();
                own.retain(|k, _| {
                    args::BASE_ARGS.contains(&k.as_str()) || node.property(k).is_some()
                });
                if let Some(p) = &project {
                    own.insert("project_id".into(), Value::Array(vec![p.clone()]));
                }
                let q = args::node_query(&dict, node, &own, req.readable.as_ref())
                    .map_err(Error::new)?;
                out.extend(
                    req.store
                        .graph_query(q)
                        .await
                        .map_err(|e| Error::new(e.to_string()))?,
                );
            }
            Ok(Some(FieldValue::list(
                out.into_iter().map(FieldValue::owned_any),
            )))
        })
    });
    field = crate::schema::base_args(field);
    for (name, p) in &fields {
        if args::BASE_ARGS.contains(&name.as_str()) || name == "project_id" {
            continue;
        }
        field = field.argument(InputValue::new(name.as_str(), scalar_of(kind_of(p), false)));
    }
    let field = field
        .argument(InputValue::new(
            "of_type",
            TypeRef::named_list(TypeRef::STRING),
        ))
        .argument(InputValue::new(
            "project_id",
            TypeRef::named(TypeRef::STRING),
        ));
    (obj, field)
}

/// The top-level keys of the node schemas that can be GraphQL names.
fn node_type_keys(dict: &Dictionary) -> Vec<String> {
    let mut keys = std::collections::BTreeSet::new();
    for node in dict.nodes() {
        if let Value::Object(schema) = &node.schema {
            for k in schema.keys() {
                let mut chars = k.chars();
                let ok = chars
                    .next()
                    .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                    && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
                if ok {
                    keys.insert(k.clone());
                }
            }
        }
    }
    keys.into_iter().collect()
}

fn schema_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The `NodeType` type and the root field `_node_type`.
pub fn node_type(dict: &Arc<Dictionary>) -> (Object, Field) {
    let keys = node_type_keys(dict);
    let mut obj = Object::new("NodeType");
    for k in &keys {
        let key = k.clone();
        obj = obj.field(Field::new(
            k.as_str(),
            TypeRef::named(TypeRef::STRING),
            move |ctx| {
                let key = key.clone();
                FieldFuture::new(async move {
                    let n = ctx.parent_value.try_downcast_ref::<Node>()?;
                    Ok(n.schema
                        .get(&key)
                        .map(|v| FieldValue::value(schema_text(v))))
                })
            },
        ));
    }
    let shared = Arc::clone(dict);
    let mut field = Field::new("_node_type", TypeRef::named_list("NodeType"), move |ctx| {
        let dict = Arc::clone(&shared);
        FieldFuture::new(async move {
            let args = json_args(&ctx)?;
            let mut nodes: Vec<Node> = dict.nodes().cloned().collect();
            for (k, v) in &args {
                let Some(want) = v.as_str() else { continue };
                if ["order_by_asc", "order_by_desc"].contains(&k.as_str()) {
                    continue;
                }
                nodes.retain(|n| {
                    n.schema
                        .get(k)
                        .is_some_and(|have| want.contains(schema_text(have).as_str()))
                });
            }
            for (arg, asc) in [("order_by_desc", false), ("order_by_asc", true)] {
                if let Some(key) = args.get(arg).and_then(Value::as_str) {
                    nodes.sort_by_key(|n| n.schema.get(key).map(schema_text));
                    if !asc {
                        nodes.reverse();
                    }
                }
            }
            if let (Some(n), _) = args::page(&args) {
                nodes.truncate(n);
            }
            Ok(Some(FieldValue::list(
                nodes.into_iter().map(FieldValue::owned_any),
            )))
        })
    });
    field = field
        .argument(
            InputValue::new("first", TypeRef::named(TypeRef::INT))
                .default_value(GqlValue::from(args::DEFAULT_FIRST)),
        )
        .argument(InputValue::new(
            "order_by_asc",
            TypeRef::named(TypeRef::STRING),
        ))
        .argument(InputValue::new(
            "order_by_desc",
            TypeRef::named(TypeRef::STRING),
        ));
    for k in &keys {
        field = field.argument(InputValue::new(k.as_str(), TypeRef::named(TypeRef::STRING)));
    }
    (obj, field)
}

/// The `viewer` type (holding `fields`) and the root field returning it.
pub fn viewer(fields: Vec<Field>) -> (Object, Field) {
    let mut obj = Object::new("viewer");
    for f in fields {
        obj = obj.field(f);
    }
    let field = Field::new("viewer", TypeRef::named("viewer"), |_| {
        FieldFuture::new(async { Ok(Some(FieldValue::owned_any(()))) })
    });
    (obj, field)
}
