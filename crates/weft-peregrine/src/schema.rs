//! The GraphQL schema, generated from the dictionary as peregrine generates it: an object
//! type per node type (named by its label), implementing `Node`; a field per property and
//! per link in both directions (with its own arguments and `_<link>_count`); root fields
//! `<label>`, `_<label>_count` and `node`.

use std::sync::Arc;

use async_graphql::dynamic::{
    Field, FieldFuture, FieldValue, InputObject, InputValue, Interface, InterfaceField, Object,
    ResolverContext, Schema, SchemaError, TypeRef,
};
use async_graphql::{Error, Value as GqlValue};
use serde_json::{Map, Value};
use weft_dictionary::{Dictionary, Node, Property};
use weft_store::{GraphNode, NodeFilter, NodeQuery};

use crate::Request;
use crate::args::{self, BASE_ARGS, properties};
use crate::loader::Spec;

/// The fields every node has (peregrine's `Node` interface).
const NODE_FIELDS: [&str; 6] = [
    "id",
    "submitter_id",
    "type",
    "project_id",
    "created_datetime",
    "updated_datetime",
];

/// How a property is typed in GraphQL (peregrine: integers and numbers are `Float`, arrays
/// `[String]`, anything else not boolean is `String`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Float,
    Bool,
    List,
}

pub(crate) fn kind_of(p: &Property) -> Kind {
    kind(p)
}

fn kind(p: &Property) -> Kind {
    let k = &p.kinds;
    if k.array {
        Kind::List
    } else if k.boolean && !k.string && !k.number && !k.integer {
        Kind::Bool
    } else if (k.number || k.integer) && !k.string {
        Kind::Float
    } else {
        Kind::Str
    }
}

fn scalar(kind: Kind) -> &'static str {
    match kind {
        Kind::Str | Kind::List => TypeRef::STRING,
        Kind::Float => TypeRef::FLOAT,
        Kind::Bool => TypeRef::BOOLEAN,
    }
}

/// A stored value as a field of `kind`.
pub(crate) fn output_of(v: Option<&Value>, kind: Kind) -> Option<FieldValue<'static>> {
    output(v, kind)
}

/// A field's type of `kind` (a list of strings for arrays unless `arg_list`).
pub(crate) fn scalar_of(kind: Kind, arg_list: bool) -> TypeRef {
    if kind == Kind::List || arg_list {
        TypeRef::named_list(scalar(kind))
    } else {
        TypeRef::named(scalar(kind))
    }
}

fn output(v: Option<&Value>, kind: Kind) -> Option<FieldValue<'static>> {
    let v = v.filter(|v| !v.is_null())?;
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(match kind {
        Kind::Float => FieldValue::value(v.as_f64()?),
        Kind::Bool => FieldValue::value(v.as_bool()?),
        Kind::Str => FieldValue::value(text(v)),
        Kind::List => match v {
            Value::Array(items) => {
                FieldValue::list(items.iter().map(|i| FieldValue::value(text(i))))
            }
            other => FieldValue::list([FieldValue::value(text(other))]),
        },
    })
}

/// One of the interface fields of a node.
fn base_field(node: &GraphNode, name: &str) -> Option<FieldValue<'static>> {
    match name {
        "id" => Some(FieldValue::value(node.id.clone())),
        "type" => Some(FieldValue::value(node.node_type.clone())),
        "project_id" => node.project_id.clone().map(FieldValue::value),
        "submitter_id" => node
            .submitter_id
            .clone()
            .or_else(|| {
                node.props
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .map(FieldValue::value),
        _ => output(node.props.get(name), Kind::Str),
    }
}

/// The arguments of a resolver as JSON.
pub(crate) fn json_args(ctx: &ResolverContext<'_>) -> Result<Map<String, Value>, Error> {
    ctx.args
        .as_index_map()
        .iter()
        .map(|(k, v)| {
            let v = v
                .clone()
                .into_json()
                .map_err(|e| Error::new(e.to_string()))?;
            Ok((k.to_string(), v))
        })
        .collect()
}

fn parent<'a>(ctx: &'a ResolverContext<'_>) -> Result<&'a GraphNode, Error> {
    ctx.parent_value.try_downcast_ref::<GraphNode>()
}

/// Nodes as a list of their object type.
fn nodes_value(nodes: Vec<GraphNode>) -> FieldValue<'static> {
    FieldValue::list(nodes.into_iter().map(FieldValue::owned_any))
}

/// Nodes as a list of the `Node` interface, each naming its object type.
fn interface_value(nodes: Vec<GraphNode>) -> FieldValue<'static> {
    FieldValue::list(nodes.into_iter().map(|n| {
        let t = n.node_type.clone();
        FieldValue::owned_any(n).with_type(t)
    }))
}

/// The arguments every node query takes besides its properties ([`BASE_ARGS`]).
pub(crate) fn base_args(mut field: Field) -> Field {
    for name in BASE_ARGS {
        let ty = match name {
            "ids" => TypeRef::named_list(TypeRef::STRING),
            "first" | "offset" => TypeRef::named(TypeRef::INT),
            _ => TypeRef::named(TypeRef::STRING),
        };
        let mut arg = InputValue::new(name, ty);
        if name == "first" {
            arg = arg.default_value(GqlValue::from(args::DEFAULT_FIRST));
        }
        field = field.argument(arg);
    }
    field
}

/// The arguments of a query of `node`'s type.
fn node_args(field: Field, node: &Node) -> Field {
    let props: Vec<&Property> = properties(node).collect();
    let mut field = base_args(field);
    if !props.iter().any(|p| p.name == "submitter_id") {
        field = field.argument(InputValue::new(
            "submitter_id",
            TypeRef::named(TypeRef::STRING),
        ));
    }
    if !props.iter().any(|p| p.name == "project_id") {
        field = field.argument(InputValue::new(
            "project_id",
            TypeRef::named_list(TypeRef::STRING),
        ));
    }
    for p in &props {
        let ty = if p.name == "project_id" {
            TypeRef::named_list(TypeRef::STRING)
        } else {
            TypeRef::named_list(scalar(kind(p)))
        };
        field = field.argument(InputValue::new(p.name.as_str(), ty));
    }
    for name in ["with_links", "with_links_any", "without_links"] {
        field = field.argument(InputValue::new(name, TypeRef::named_list(TypeRef::STRING)));
    }
    for name in ["with_path_to", "with_path_to_any", "without_path_to"] {
        field = field.argument(InputValue::new(
            name,
            TypeRef::named_list("WithPathToInput"),
        ));
    }
    field.argument(InputValue::new(
        "not",
        TypeRef::named_list(format!("NotPropertiesInput_{}", node.id)),
    ))
}

/// `with_path_to`'s element: a node type, an id, and any property of any node type.
fn path_input(dict: &Dictionary) -> InputObject {
    let mut input = InputObject::new("WithPathToInput")
        .field(InputValue::new("type", TypeRef::named_nn(TypeRef::STRING)))
        .field(InputValue::new("id", TypeRef::named(TypeRef::STRING)));
    let mut seen = std::collections::BTreeSet::from(["type".to_owned(), "id".to_owned()]);
    for node in dict.nodes() {
        for p in properties(node) {
            if seen.insert(p.name.clone()) {
                let ty = if kind(p) == Kind::List {
                    TypeRef::named_list(TypeRef::STRING)
                } else {
                    TypeRef::named(scalar(kind(p)))
                };
                input = input.field(InputValue::new(p.name.as_str(), ty));
            }
        }
    }
    input
}

/// The `not` input of a node type: its properties, each one value.
fn not_input(node: &Node) -> InputObject {
    let mut input = InputObject::new(format!("NotPropertiesInput_{}", node.id));
    for p in properties(node) {
        input = input.field(InputValue::new(
            p.name.as_str(),
            TypeRef::named(scalar(kind(p))),
        ));
    }
    if node.id == "project" {
        input = input.field(InputValue::new(
            "project_id",
            TypeRef::named(TypeRef::STRING),
        ));
    }
    input
}

/// A link field of `parent_type`: the nodes of `target` linked by edges named `link`.
fn link_fields(
    dict: Arc<Dictionary>,
    name: &str,
    target: Arc<Node>,
    link: String,
    to_parents: bool,
) -> [Field; 2] {
    let label = target.id.clone();
    let spec = move |ctx: &ResolverContext<'_>, counting: bool| -> Result<Spec, Error> {
        let req = ctx.ctx.data::<Request>()?;
        let args = json_args(ctx)?;
        let mut query =
            args::node_query(&dict, &target, &args, req.readable.as_ref()).map_err(Error::new)?;
        if counting {
            query.limit = None;
            query.offset = 0;
            query.order = None;
        }
        Ok(Spec {
            link: link.clone(),
            to_parents,
            query,
        })
    };
    let spec = Arc::new(spec);
    let list_spec = Arc::clone(&spec);
    let list = Field::new(name, TypeRef::named_list(label), move |ctx| {
        let spec = Arc::clone(&list_spec);
        FieldFuture::new(async move {
            let req = ctx.ctx.data::<Request>()?;
            let key = req.links.register(spec(&ctx, false)?);
            let anchor = parent(&ctx)?.id.clone();
            let nodes = req
                .nodes
                .load_one((key, anchor))
                .await
                .map_err(|e| Error::new(e.as_str()))?
                .unwrap_or_default();
            Ok(Some(nodes_value(nodes)))
        })
    });
    let count = Field::new(
        format!("_{name}_count"),
        TypeRef::named(TypeRef::INT),
        move |ctx| {
            let spec = Arc::clone(&spec);
            FieldFuture::new(async move {
                let req = ctx.ctx.data::<Request>()?;
                let key = req.links.register(spec(&ctx, true)?);
                let anchor = parent(&ctx)?.id.clone();
                let n = req
                    .counts
                    .load_one((key, anchor))
                    .await
                    .map_err(|e| Error::new(e.as_str()))?
                    .unwrap_or(0);
                Ok(Some(FieldValue::value(n)))
            })
        },
    );
    [list, count]
}

/// The object type of a node type.
fn node_object(dict: &Arc<Dictionary>, node: &Node) -> Object {
    let mut obj = Object::new(node.id.as_str()).implement("Node");
    if let Some(d) = &node.description {
        obj = obj.description(d.as_str());
    }
    for name in NODE_FIELDS {
        let ty = if name == "id" {
            TypeRef::named(TypeRef::ID)
        } else {
            TypeRef::named(TypeRef::STRING)
        };
        obj = obj.field(Field::new(name, ty, move |ctx| {
            FieldFuture::new(async move { Ok(base_field(parent(&ctx)?, name)) })
        }));
    }
    for p in properties(node) {
        if NODE_FIELDS.contains(&p.name.as_str()) {
            continue;
        }
        let k = kind(p);
        let ty = if k == Kind::List {
            TypeRef::named_list(TypeRef::STRING)
        } else {
            TypeRef::named(scalar(k))
        };
        let key = p.name.clone();
        obj = obj.field(Field::new(p.name.as_str(), ty, move |ctx| {
            let key = key.clone();
            FieldFuture::new(async move { Ok(output(parent(&ctx)?.props.get(&key), k)) })
        }));
    }
    obj = obj.field(links_field());
    // links to parents, by the link's name
    for l in &node.links {
        let Some(target) = dict.node(&l.target_type) else {
            continue;
        };
        for f in linked(dict, &l.name, target, l.name.clone(), true) {
            obj = obj.field(f);
        }
    }
    // links from children, by the backref's name
    for (child, l) in dict.links_to(&node.id) {
        for f in linked(dict, &l.backref, child, l.name.clone(), false) {
            obj = obj.field(f);
        }
    }
    obj
}

/// The two fields of one link, with the target's arguments.
fn linked(
    dict: &Arc<Dictionary>,
    name: &str,
    target: &Node,
    link: String,
    to_parents: bool,
) -> Vec<Field> {
    let [list, count] = link_fields(
        Arc::clone(dict),
        name,
        Arc::new(target.clone()),
        link,
        to_parents,
    );
    vec![node_args(list, target), node_args(count, target)]
}

/// The root query type: `<label>`, `_<label>_count`, `node`, `datanode`, `_node_type`,
/// `viewer` (all of these again) and the transaction log.
fn root(dict: &Arc<Dictionary>) -> (Object, Vec<Object>) {
    let mut root = Object::new("Root");
    for f in root_fields(dict) {
        root = root.field(f);
    }
    let (viewer, viewer_field) = crate::extra::viewer(root_fields(dict));
    let (datanode, _) = crate::extra::datanode(dict);
    let (node_type, _) = crate::extra::node_type(dict);
    let [log, log_count] = crate::transactions::root_fields();
    let root = root.field(viewer_field).field(log).field(log_count);
    (root, vec![viewer, datanode, node_type])
}

/// The fields `Root` and `viewer` share.
fn root_fields(dict: &Arc<Dictionary>) -> Vec<Field> {
    let mut fields = Vec::new();
    for node in dict.nodes() {
        let label = node.id.clone();
        let shared = Arc::new(node.clone());
        let for_list = Arc::clone(&shared);
        let (dict_list, dict_count) = (Arc::clone(dict), Arc::clone(dict));
        let list = Field::new(
            label.as_str(),
            TypeRef::named_list(label.as_str()),
            move |ctx| {
                let node = Arc::clone(&for_list);
                let dict = Arc::clone(&dict_list);
                FieldFuture::new(async move {
                    let req = ctx.ctx.data::<Request>()?;
                    let args = json_args(&ctx)?;
                    let query = args::node_query(&dict, &node, &args, req.readable.as_ref())
                        .map_err(Error::new)?;
                    let nodes = req
                        .store
                        .graph_query(query)
                        .await
                        .map_err(|e| Error::new(e.to_string()))?;
                    Ok(Some(nodes_value(nodes)))
                })
            },
        );
        fields.push(node_args(list, node));
        let count = Field::new(
            format!("_{label}_count"),
            TypeRef::named(TypeRef::INT),
            move |ctx| {
                let node = Arc::clone(&shared);
                let dict = Arc::clone(&dict_count);
                FieldFuture::new(async move {
                    let req = ctx.ctx.data::<Request>()?;
                    let args = json_args(&ctx)?;
                    let query = args::node_query(&dict, &node, &args, req.readable.as_ref())
                        .map_err(Error::new)?;
                    let n = req
                        .store
                        .graph_count(query.filter)
                        .await
                        .map_err(|e| Error::new(e.to_string()))?;
                    Ok(Some(FieldValue::value(n)))
                })
            },
        );
        fields.push(node_args(count, node));
    }
    fields.push(generic_node(dict));
    fields.push(crate::extra::datanode(dict).1);
    fields.push(crate::extra::node_type(dict).1);
    fields
}

/// `node`: nodes of any type in the readable projects (peregrine's base query).
fn generic_node(dict: &Arc<Dictionary>) -> Field {
    let dict = Arc::clone(dict);
    let field = Field::new("node", TypeRef::named_list("Node"), move |ctx| {
        let dict = Arc::clone(&dict);
        FieldFuture::new(async move {
            let req = ctx.ctx.data::<Request>()?;
            let args = json_args(&ctx)?;
            let text = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_owned);
            let strings = |k: &str| {
                args.get(k).and_then(Value::as_array).map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
            };
            let mut filter = NodeFilter {
                node_types: strings("of_type").unwrap_or_default(),
                projects: Some(
                    req.readable
                        .clone()
                        .unwrap_or_else(|| req.all_projects.clone()),
                ),
                ids: strings("ids").or_else(|| text("id").map(|i| vec![i])),
                quick_search: text("quick_search"),
                ..NodeFilter::default()
            };
            if let Some(p) = text("project_id")
                && let Some(projects) = &mut filter.projects
            {
                projects.retain(|x| *x == p);
            }
            if let Some(category) = text("category") {
                // peregrine: the types whose category is part of the argument
                let of_category: Vec<String> = dict
                    .nodes()
                    .filter(|n| category.contains(n.category.as_str()))
                    .map(|n| n.id.clone())
                    .filter(|t| filter.node_types.is_empty() || filter.node_types.contains(t))
                    .collect();
                if of_category.is_empty() {
                    return Ok(Some(interface_value(Vec::new())));
                }
                filter.node_types = of_category;
            }
            let (limit, offset) = args::page(&args);
            let nodes = req
                .store
                .graph_query(NodeQuery {
                    filter,
                    order: None,
                    limit,
                    offset,
                })
                .await
                .map_err(|e| Error::new(e.to_string()))?;
            Ok(Some(interface_value(nodes)))
        })
    });
    field
        .argument(InputValue::new("id", TypeRef::named(TypeRef::STRING)))
        .argument(InputValue::new("ids", TypeRef::named_list(TypeRef::STRING)))
        .argument(InputValue::new(
            "of_type",
            TypeRef::named_list(TypeRef::STRING),
        ))
        .argument(InputValue::new(
            "project_id",
            TypeRef::named(TypeRef::STRING),
        ))
        .argument(InputValue::new(
            "quick_search",
            TypeRef::named(TypeRef::STRING),
        ))
        .argument(InputValue::new("category", TypeRef::named(TypeRef::STRING)))
        .argument(
            InputValue::new("first", TypeRef::named(TypeRef::INT))
                .default_value(GqlValue::from(args::DEFAULT_FIRST)),
        )
        .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT)))
}

/// `_links`: a node's neighbours both ways, of the readable projects, in id order (as
/// peregrine, without a limit).
fn links_field() -> Field {
    Field::new("_links", TypeRef::named_list("Node"), |ctx| {
        FieldFuture::new(async move {
            let req = ctx.ctx.data::<Request>()?;
            let id = parent(&ctx)?.id.clone();
            let store_error = |e: weft_store::StoreError| Error::new(e.to_string());
            let mut ids: Vec<String> = req
                .store
                .graph_parents(vec![id.clone()])
                .await
                .map_err(store_error)?
                .into_iter()
                .map(|l| l.edge.dst)
                .collect();
            ids.extend(
                req.store
                    .graph_children(vec![id])
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .map(|l| l.edge.src),
            );
            let readable = req.readable.as_ref().unwrap_or(&req.all_projects);
            let mut nodes: Vec<GraphNode> = req
                .store
                .graph_nodes(ids)
                .await
                .map_err(store_error)?
                .into_iter()
                .filter(|n| n.project_id.as_ref().is_some_and(|p| readable.contains(p)))
                .collect();
            nodes.sort_by(|a, b| a.id.cmp(&b.id));
            nodes.dedup_by(|a, b| a.id == b.id);
            Ok(Some(interface_value(nodes)))
        })
    })
}

/// The schema of a dictionary.
pub fn build(dict: &Arc<Dictionary>) -> Result<Schema, SchemaError> {
    let mut interface = Interface::new("Node");
    for name in NODE_FIELDS {
        let ty = if name == "id" {
            TypeRef::named(TypeRef::ID)
        } else {
            TypeRef::named(TypeRef::STRING)
        };
        interface = interface.field(InterfaceField::new(name, ty));
    }
    let mut builder = Schema::build("Root", None, None)
        .register(interface)
        .limit_depth(crate::MAX_DEPTH)
        .limit_complexity(crate::MAX_COMPLEXITY);
    for node in dict.nodes() {
        builder = builder
            .register(node_object(dict, node))
            .register(not_input(node));
    }
    for t in crate::transactions::types() {
        builder = builder.register(t);
    }
    builder = builder.register(path_input(dict));
    let (root, others) = root(dict);
    for o in others {
        builder = builder.register(o);
    }
    builder.register(root).finish()
}
