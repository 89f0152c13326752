//! Documents built from the graph, a chunk of roots at a time: every path of a mapping is
//! walked level by level with one batched store call per level (`graph_children` down,
//! `graph_parents` up), never node by node. Each document comes with the nodes it was built
//! from, so a change to any of them can find the documents to rebuild.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use weft_dictionary::Dictionary;
use weft_store::{GraphNode, GraphStore, Hop, StoreResult};

use crate::mapping::{
    AUTH_FIELD, Aggregator, Collector, Func, IndexMapping, Nested, ParentPath, Prop, auth_path,
};
use crate::table::Table;

/// A document, its id, and the nodes it depends on (its root included).
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub id: String,
    pub doc: Map<String, Value>,
    pub deps: Vec<String>,
}

/// One node reached at a level of a walk, and the index of the node it was reached from at
/// the level before.
#[derive(Debug, Clone)]
struct Step {
    id: String,
    from: usize,
}

/// Walks from a chunk of roots, each level fetched once and shared by every path through it.
struct Walker<'a> {
    store: &'a dyn GraphStore,
    roots: Vec<String>,
    levels: HashMap<Vec<Hop>, Arc<Vec<Step>>>,
    /// The links out of (up) or into (down) each level, fetched once for every hop from it.
    links: HashMap<(Vec<Hop>, bool), Arc<Vec<weft_store::GraphLink>>>,
    nodes: HashMap<String, GraphNode>,
}

impl<'a> Walker<'a> {
    fn new(store: &'a dyn GraphStore, roots: &[GraphNode]) -> Self {
        Self {
            store,
            roots: roots.iter().map(|n| n.id.clone()).collect(),
            levels: HashMap::new(),
            links: HashMap::new(),
            nodes: roots.iter().map(|n| (n.id.clone(), n.clone())).collect(),
        }
    }

    /// The ids at the level before `path`'s last hop (the roots for a one-hop path).
    fn ids_before(&self, path: &[Hop]) -> Vec<String> {
        match path.split_last() {
            Some((_, [])) | None => self.roots.clone(),
            Some((_, prefix)) => self.levels[prefix].iter().map(|s| s.id.clone()).collect(),
        }
    }

    /// The nodes at the end of `path`, each with its index at the level before.
    async fn level(&mut self, path: &[Hop]) -> StoreResult<Arc<Vec<Step>>> {
        if let Some(l) = self.levels.get(path) {
            return Ok(Arc::clone(l));
        }
        if path.len() > 1 {
            Box::pin(self.level(&path[..path.len() - 1])).await?;
        }
        let Some(hop) = path.last() else {
            return Ok(Arc::new(Vec::new()));
        };
        let before = self.ids_before(path);
        let mut at: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, id) in before.iter().enumerate() {
            at.entry(id.as_str()).or_default().push(i);
        }
        let key = (path[..path.len() - 1].to_vec(), hop.to_parents);
        let links = match self.links.get(&key) {
            Some(l) => Arc::clone(l),
            None => {
                let distinct: Vec<String> = at.keys().map(|k| (*k).to_owned()).collect();
                let fetched = if distinct.is_empty() {
                    Vec::new()
                } else if hop.to_parents {
                    self.store.graph_parents(distinct).await?
                } else {
                    self.store.graph_children(distinct).await?
                };
                let fetched = Arc::new(fetched);
                self.links.insert(key, Arc::clone(&fetched));
                fetched
            }
        };
        let mut steps = Vec::new();
        for l in links.iter() {
            if l.edge.link != hop.link || l.other_type != hop.node_type {
                continue;
            }
            let (near, far) = if hop.to_parents {
                (&l.edge.src, &l.edge.dst)
            } else {
                (&l.edge.dst, &l.edge.src)
            };
            for from in at.get(near.as_str()).into_iter().flatten() {
                steps.push(Step {
                    id: far.clone(),
                    from: *from,
                });
            }
        }
        let steps = Arc::new(steps);
        self.levels.insert(path.to_vec(), Arc::clone(&steps));
        Ok(steps)
    }

    /// Load the properties of these nodes (those not loaded yet).
    async fn load(&mut self, ids: impl IntoIterator<Item = String>) -> StoreResult<()> {
        let want: BTreeSet<String> = ids
            .into_iter()
            .filter(|i| !self.nodes.contains_key(i))
            .collect();
        if want.is_empty() {
            return Ok(());
        }
        for n in self.store.graph_nodes(want.into_iter().collect()).await? {
            self.nodes.insert(n.id.clone(), n);
        }
        Ok(())
    }

    /// For each node at the end of `path`, the index of its origin `up` levels before
    /// (`up == path.len()`: its root).
    fn origins(&self, path: &[Hop], up: usize) -> Vec<usize> {
        let last = &self.levels[path];
        let mut idx: Vec<usize> = (0..last.len()).collect();
        for k in 0..up {
            let level = &self.levels[&path[..path.len() - k]];
            for i in &mut idx {
                *i = level[*i].from;
            }
        }
        idx
    }
}

fn add_value(out: &mut Vec<Value>, v: Value, distinct: bool) {
    match v {
        Value::Null => {}
        Value::Array(items) => {
            for i in items {
                add_value(out, i, distinct);
            }
        }
        v => {
            if !distinct || !out.contains(&v) {
                out.push(v);
            }
        }
    }
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => match (a, b) {
            (Value::Null, Value::Null) => std::cmp::Ordering::Equal,
            (Value::Null, _) => std::cmp::Ordering::Greater,
            (_, Value::Null) => std::cmp::Ordering::Less,
            _ => a.to_string().cmp(&b.to_string()),
        },
    }
}

/// The function of an aggregated prop over values (`count` of nodes given as `n`).
fn reduce(func: Func, n: usize, values: Vec<Value>, counted: bool) -> Value {
    let nums = || values.iter().filter_map(Value::as_f64);
    match func {
        Func::Count if counted => Value::from(values.len()),
        Func::Count => Value::from(n),
        Func::Sum => {
            if values.is_empty() {
                Value::Null
            } else {
                crate::table::number(nums().sum())
            }
        }
        Func::Min => nums()
            .reduce(f64::min)
            .map_or(Value::Null, crate::table::number),
        Func::Max => nums()
            .reduce(f64::max)
            .map_or(Value::Null, crate::table::number),
        Func::Set => {
            let mut out = Vec::new();
            for v in values {
                add_value(&mut out, v, true);
            }
            Value::Array(out)
        }
        Func::List => {
            let mut out = Vec::new();
            for v in values {
                add_value(&mut out, v, false);
            }
            Value::Array(out)
        }
    }
}

/// The fields every document of a project carries.
fn project_fields(doc: &mut Map<String, Value>, project_id: Option<&str>) {
    if let Some(p) = project_id {
        doc.entry("project_id".to_owned())
            .or_insert_with(|| Value::String(p.to_owned()));
        doc.insert(AUTH_FIELD.to_owned(), Value::String(auth_path(p)));
    }
}

fn own_props(doc: &mut Map<String, Value>, props: &[Prop], node: &GraphNode) {
    for p in props {
        let v = p.value(node);
        if !v.is_null() {
            doc.insert(p.name.clone(), bools(v));
        }
    }
}

/// Booleans as guppy's keyword text.
fn bools(v: Value) -> Value {
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.into_iter().map(bools).collect()),
        v => v,
    }
}

/// Each node's document as it starts (its id field, own properties, project fields) and
/// the nodes it depends on so far (itself).
fn starts(
    nodes: &[GraphNode],
    id_field: &str,
    props: &[Prop],
) -> (Vec<Map<String, Value>>, Vec<BTreeSet<String>>) {
    nodes
        .iter()
        .map(|n| {
            let mut d = Map::new();
            d.insert(id_field.to_owned(), Value::String(n.id.clone()));
            own_props(&mut d, props, n);
            project_fields(&mut d, n.project_id.as_deref());
            (d, BTreeSet::from([n.id.clone()]))
        })
        .unzip()
}

/// Each node's finished document with the nodes it depends on.
fn finish(
    nodes: &[GraphNode],
    docs: Vec<Map<String, Value>>,
    deps: Vec<BTreeSet<String>>,
) -> Vec<Built> {
    nodes
        .iter()
        .zip(docs)
        .zip(deps)
        .map(|((n, doc), deps)| Built {
            id: n.id.clone(),
            doc,
            deps: deps.into_iter().collect(),
        })
        .collect()
}

/// The documents of an aggregator for a chunk of its root nodes.
pub async fn aggregator(
    store: &dyn GraphStore,
    a: &Aggregator,
    roots: &[GraphNode],
) -> StoreResult<Vec<Built>> {
    let mut w = Walker::new(store, roots);
    let (mut docs, mut deps) = starts(roots, &format!("_{}_id", a.root), &a.props);

    for f in &a.flatten {
        let path = vec![f.hop.clone()];
        let steps = w.level(&path).await?;
        w.load(steps.iter().map(|s| s.id.clone())).await?;
        let mut best: HashMap<usize, &GraphNode> = HashMap::new();
        for s in steps.iter() {
            let Some(node) = w.nodes.get(&s.id) else {
                continue;
            };
            let keep = match (best.get(&s.from), &f.sorted_by) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(old), Some((key, desc))) => {
                    let (x, y) = (
                        node.props.get(key).unwrap_or(&Value::Null),
                        old.props.get(key).unwrap_or(&Value::Null),
                    );
                    let ord = compare(x, y);
                    if *desc { ord.is_gt() } else { ord.is_lt() }
                }
            };
            if keep {
                best.insert(s.from, node);
            }
        }
        for (r, node) in best {
            own_props(&mut docs[r], &f.props, node);
        }
    }

    for agg in &a.aggregated {
        let steps = w.level(&agg.path).await?;
        if agg.src.is_some() {
            w.load(steps.iter().map(|s| s.id.clone())).await?;
        }
        let origins = w.origins(&agg.path, agg.path.len());
        let mut per_root: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); roots.len()];
        for (s, r) in steps.iter().zip(&origins) {
            per_root[*r].insert(s.id.as_str());
        }
        let source = agg.src.as_ref().map(|src| Prop {
            name: agg.name.clone(),
            src: src.clone(),
            mappings: Vec::new(),
            func: None,
        });
        for (r, ids) in per_root.iter().enumerate() {
            let values: Vec<Value> = match &source {
                Some(prop) => ids
                    .iter()
                    .filter_map(|id| w.nodes.get(*id))
                    .map(|n| prop.value(n))
                    .filter(|v| !v.is_null())
                    .map(bools)
                    .collect(),
                None => Vec::new(),
            };
            let v = reduce(agg.func, ids.len(), values, agg.src.is_some());
            if !v.is_null() {
                docs[r].insert(agg.name.clone(), v);
            }
        }
    }

    for n in &a.nested {
        let values = nested(&mut w, n, &[], roots.len()).await?;
        for (r, v) in values.into_iter().enumerate() {
            if !v.is_empty() {
                docs[r].insert(n.name.clone(), Value::Array(v));
            }
        }
    }

    for p in &a.parents {
        let took = parents(&mut w, p, roots.len()).await?;
        for (r, fields) in took.into_iter().enumerate() {
            docs[r].extend(fields);
        }
        // the ancestors whose properties the documents hold
        let mut path = Vec::new();
        for step in &p.steps {
            path.push(step.hop.clone());
            if step.props.is_empty() {
                continue;
            }
            let origins = w.origins(&path, path.len());
            for (s, r) in w.levels[&path].iter().zip(origins) {
                deps[r].insert(s.id.clone());
            }
        }
    }

    // every node reached going down
    let mut down: Vec<Vec<Hop>> = a.flatten.iter().map(|f| vec![f.hop.clone()]).collect();
    down.extend(a.aggregated.iter().map(|g| g.path.clone()));
    fn nested_paths(n: &Nested, prefix: &[Hop], out: &mut Vec<Vec<Hop>>) {
        let mut p = prefix.to_vec();
        p.extend(n.path.iter().cloned());
        for c in &n.nested {
            nested_paths(c, &p, out);
        }
        out.push(p);
    }
    for n in &a.nested {
        nested_paths(n, &[], &mut down);
    }
    for path in &down {
        for k in 1..=path.len() {
            let sub = &path[..k];
            let origins = w.origins(sub, k);
            for (s, r) in w.levels[sub].iter().zip(origins) {
                deps[r].insert(s.id.clone());
            }
        }
    }

    Ok(finish(roots, docs, deps))
}

/// For each origin (`count` of them, at the level `prefix` ends on), its nested objects.
async fn nested(
    w: &mut Walker<'_>,
    n: &Nested,
    prefix: &[Hop],
    count: usize,
) -> StoreResult<Vec<Vec<Value>>> {
    let mut path = prefix.to_vec();
    path.extend(n.path.iter().cloned());
    let steps = w.level(&path).await?;
    w.load(steps.iter().map(|s| s.id.clone())).await?;
    let origins = w.origins(&path, n.path.len());
    let end = path.last().map(|h| h.node_type.clone()).unwrap_or_default();
    let mut objects: Vec<Map<String, Value>> = steps
        .iter()
        .map(|s| {
            let mut o = Map::new();
            if let Some(node) = w.nodes.get(&s.id) {
                for p in &n.props {
                    o.insert(p.name.clone(), bools(p.value(node)));
                }
            }
            o.insert(format!("_{end}_id"), Value::String(s.id.clone()));
            o
        })
        .collect();
    for c in &n.nested {
        let children = Box::pin(nested(w, c, &path, steps.len())).await?;
        for (o, list) in objects.iter_mut().zip(children) {
            if !list.is_empty() {
                o.insert(c.name.clone(), Value::Array(list));
            }
        }
    }
    let mut out = vec![Vec::new(); count];
    for (o, r) in objects.into_iter().zip(origins) {
        out[r].push(Value::Object(o));
    }
    Ok(out)
}

/// For each root, the fields a `parent_props` path takes from its ancestors.
async fn parents(
    w: &mut Walker<'_>,
    p: &ParentPath,
    count: usize,
) -> StoreResult<Vec<Map<String, Value>>> {
    let mut out = vec![Map::new(); count];
    let mut path = Vec::new();
    for step in &p.steps {
        path.push(step.hop.clone());
        let steps = w.level(&path).await?;
        if step.props.is_empty() {
            continue;
        }
        w.load(steps.iter().map(|s| s.id.clone())).await?;
        let origins = w.origins(&path, path.len());
        for prop in &step.props {
            let mut per_root: Vec<Vec<Value>> = vec![Vec::new(); count];
            for (s, r) in steps.iter().zip(&origins) {
                if let Some(node) = w.nodes.get(&s.id) {
                    add_value(&mut per_root[*r], bools(prop.value(node)), true);
                }
            }
            for (r, vals) in per_root.into_iter().enumerate() {
                let v = if p.one {
                    vals.into_iter().next().map(|v| match v {
                        Value::String(s) => Value::String(s),
                        other => Value::String(other.to_string()),
                    })
                } else if vals.is_empty() {
                    None
                } else {
                    Some(Value::Array(vals))
                };
                if let Some(v) = v {
                    out[r].insert(prop.name.clone(), v);
                }
            }
        }
    }
    Ok(out)
}

/// The documents of a collector for a chunk of its nodes: their own properties, and those
/// of their ancestors of the injecting types, found by walking up every link.
pub async fn collector(
    store: &dyn GraphStore,
    dict: &Dictionary,
    doc_type: &str,
    c: &Collector,
    leaves: &[GraphNode],
) -> StoreResult<Vec<Built>> {
    let targets: BTreeSet<&str> = c.injecting.iter().map(|i| i.node_type.as_str()).collect();
    let below = types_below(dict, &targets);
    let (mut docs, mut deps) = starts(leaves, &format!("_{doc_type}_id"), &c.props);
    let mut found: Vec<Vec<String>> = vec![Vec::new(); leaves.len()];
    // (node id, node type, leaf index) at each level up
    let mut frontier: Vec<(String, usize)> = leaves
        .iter()
        .enumerate()
        .filter(|(_, n)| below.contains(n.node_type.as_str()))
        .map(|(i, n)| (n.id.clone(), i))
        .collect();
    let mut seen: BTreeSet<(String, usize)> = frontier.iter().cloned().collect();
    for _ in 0..12 {
        if frontier.is_empty() {
            break;
        }
        let ids: BTreeSet<String> = frontier.iter().map(|(id, _)| id.clone()).collect();
        let links = store.graph_parents(ids.into_iter().collect()).await?;
        let mut by_src: HashMap<&str, Vec<(&str, &str)>> = HashMap::new();
        for l in &links {
            by_src
                .entry(l.edge.src.as_str())
                .or_default()
                .push((l.edge.dst.as_str(), l.other_type.as_str()));
        }
        let mut next = Vec::new();
        for (id, leaf) in &frontier {
            for (dst, t) in by_src.get(id.as_str()).into_iter().flatten() {
                if !seen.insert(((*dst).to_owned(), *leaf)) {
                    continue;
                }
                if targets.contains(t) {
                    found[*leaf].push((*dst).to_owned());
                    deps[*leaf].insert((*dst).to_owned());
                }
                if below.contains(*t) {
                    deps[*leaf].insert((*dst).to_owned());
                    next.push(((*dst).to_owned(), *leaf));
                }
            }
        }
        frontier = next;
    }
    let wanted: BTreeSet<String> = found.iter().flatten().cloned().collect();
    let nodes: HashMap<String, GraphNode> = if wanted.is_empty() {
        HashMap::new()
    } else {
        store
            .graph_nodes(wanted.into_iter().collect())
            .await?
            .into_iter()
            .map(|n| (n.id.clone(), n))
            .collect()
    };
    for (leaf, ancestors) in found.iter().enumerate() {
        for inj in &c.injecting {
            // the document's project_id is its own node's
            for p in inj.props.iter().filter(|p| p.name != "project_id") {
                let values: Vec<Value> = ancestors
                    .iter()
                    .filter_map(|id| nodes.get(id))
                    .filter(|n| n.node_type == inj.node_type)
                    .map(|n| bools(p.value(n)))
                    .collect();
                let v = reduce(p.func.unwrap_or(Func::Set), values.len(), values, true);
                if !v.is_null() {
                    docs[leaf].insert(p.name.clone(), v);
                }
            }
        }
    }
    Ok(finish(leaves, docs, deps))
}

/// The node types that have one of `targets` above them (the walk up goes through them).
fn types_below(dict: &Dictionary, targets: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut below: BTreeSet<String> = BTreeSet::new();
    let mut changed = true;
    while changed {
        changed = false;
        for n in dict.nodes() {
            if below.contains(&n.id) {
                continue;
            }
            if n.links
                .iter()
                .any(|l| targets.contains(l.target_type.as_str()) || below.contains(&l.target_type))
            {
                below.insert(n.id.clone());
                changed = true;
            }
        }
    }
    below
}

/// Fill `doc`'s joined fields from the documents of `other` sharing its `join_on` value
/// (`rows`: the other table's rows by their `join_on` value).
pub fn join(
    doc: &mut Map<String, Value>,
    j: &crate::mapping::Joining,
    other: &Table,
    rows: &HashMap<String, Vec<usize>>,
) {
    let key = match doc.get(&j.join_on) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(v) => v.to_string(),
    };
    let matched = rows.get(&key).map_or(&[][..], Vec::as_slice);
    for p in &j.props {
        let Some(f) = other.mapping.field(&p.src) else {
            continue;
        };
        let values: Vec<Value> = matched
            .iter()
            .map(|r| other.field_json(*r, f))
            .filter(|v| !v.is_null())
            .collect();
        let v = reduce(p.func.unwrap_or(Func::Set), values.len(), values, true);
        // no document to join: no value (tube's outer join)
        if v.is_null() || matched.is_empty() {
            doc.remove(&p.name);
        } else {
            doc.insert(p.name.clone(), v);
        }
    }
}

/// The rows of `table` by each of their values of `field` (only `keys`, when given).
#[must_use]
pub fn rows_by(
    table: &Table,
    field: &str,
    keys: Option<&BTreeSet<String>>,
) -> HashMap<String, Vec<usize>> {
    let mut out: HashMap<String, Vec<usize>> = HashMap::new();
    let Some(col) = table.column(field) else {
        return out;
    };
    let crate::table::Values::Keyword { dict, codes } = &col.values else {
        return out;
    };
    let wanted: Option<Vec<bool>> = keys.map(|ks| {
        let mut w = vec![false; dict.values.len()];
        for k in ks {
            if let Some(c) = dict.get(k) {
                w[c as usize] = true;
            }
        }
        w
    });
    for r in table.live().ones() {
        for c in &codes[col.span(r)] {
            if wanted.as_ref().is_none_or(|w| w[*c as usize]) {
                out.entry(dict.values[*c as usize].to_string())
                    .or_default()
                    .push(r);
            }
        }
    }
    out
}

/// Which mapping is which kind, in the order a build goes: those another joins first.
#[must_use]
pub fn build_order(indices: &[IndexMapping]) -> Vec<usize> {
    let joined: BTreeSet<&str> = indices
        .iter()
        .filter_map(|m| match &m.kind {
            crate::mapping::Kind::Aggregator(a) => {
                Some(a.joining.iter().map(|j| j.doc_type.as_str()))
            }
            crate::mapping::Kind::Collector(_) => None,
        })
        .flatten()
        .collect();
    let mut order: Vec<usize> = (0..indices.len())
        .filter(|i| joined.contains(indices[*i].doc_type.as_str()))
        .collect();
    order.extend((0..indices.len()).filter(|i| !joined.contains(indices[*i].doc_type.as_str())));
    order
}
