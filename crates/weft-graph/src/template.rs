//! Submission templates (`/template/{node}`), and the column order exports share with them:
//! `type`, `id`, the unique keys' properties, the links (`<link>.submitter_id`), the required
//! properties, then the optional ones, each group sorted; required columns marked `*` in
//! templates.

use serde_json::{Map, Value};
use weft_core::WeftError;
use weft_dictionary::{Dictionary, Node};

use crate::parse::Format;

/// The property a link column names its target by in a template: the first unique key of
/// the target other than `[id]`, without `project_id` (`submitter_id`, or `code`).
fn link_key(dict: &Dictionary, target: &str) -> Vec<String> {
    dict.node(target)
        .and_then(|t| {
            t.unique_keys
                .iter()
                .find(|k| !(k.len() == 1 && k[0] == "id"))
                .map(|k| k.iter().filter(|p| *p != "project_id").cloned().collect())
        })
        .unwrap_or_else(|| vec!["submitter_id".to_owned()])
}

/// The columns of `node`: for a template (`export: false`, no `id`, no system properties,
/// required ones marked `*`, data files with `urls`), or for an export (every property,
/// links by `submitter_id` and `id`).
pub fn columns(dict: &Dictionary, node: &Node, template: bool, export: bool) -> Vec<String> {
    let hidden = |p: &str| {
        template && (p == "id" || (node.system_properties.contains(p) && p != "project_id"))
    };
    let mut ordered: Vec<String> = vec!["type".into(), "id".into()];
    let mut unique: Vec<String> = node
        .unique_keys
        .iter()
        .flatten()
        .filter(|k| !ordered.contains(k))
        .cloned()
        .collect();
    unique.sort();
    unique.dedup();
    ordered.extend(unique);
    let (mut links, mut required, mut optional) = (Vec::new(), Vec::new(), Vec::new());
    for p in &node.properties {
        if ordered.contains(&p.name) {
            continue;
        }
        if node.link(&p.name).is_some() {
            links.push(p.name.clone());
        } else if node.is_required(&p.name) {
            required.push(p.name.clone());
        } else {
            optional.push(p.name.clone());
        }
    }
    links.sort();
    required.sort();
    optional.sort();
    ordered.extend(links);
    ordered.extend(required);
    ordered.extend(optional);
    let mut out = Vec::new();
    for key in ordered.iter().filter(|k| !hidden(k)) {
        let marked = if template && node.is_required(key) {
            format!("*{key}")
        } else {
            key.clone()
        };
        if let Some(link) = node.link(key) {
            for prop in link_key(dict, &link.target_type) {
                out.push(format!("{marked}.{prop}"));
            }
            if export {
                out.push(format!("{marked}.id"));
            }
        } else {
            out.push(marked);
        }
    }
    if template && node.category == "data_file" {
        out.push("urls".into());
    }
    out
}

/// One node's template in JSON: every shown property, `null`, links as objects of their
/// key properties.
fn json_template(dict: &Dictionary, node: &Node) -> Value {
    let mut out = Map::new();
    for p in &node.properties {
        let name = p.name.as_str();
        if name == "id" || (node.system_properties.contains(name) && name != "project_id") {
            continue;
        }
        let key = if node.is_required(name) {
            format!("*{name}")
        } else {
            name.to_owned()
        };
        let value = if name == "type" {
            Value::from(node.id.as_str())
        } else if let Some(link) = node.link(name) {
            Value::Object(
                link_key(dict, &link.target_type)
                    .into_iter()
                    .map(|k| (k, Value::Null))
                    .collect(),
            )
        } else {
            Value::Null
        };
        out.insert(key, value);
    }
    if node.category == "data_file" {
        out.insert("urls".into(), Value::Null);
    }
    Value::Object(out)
}

/// `GET /template/{node}?format=`: `(file name, body)`.
pub fn template(
    dict: &Dictionary,
    node_type: &str,
    format: Format,
) -> Result<(String, Vec<u8>), WeftError> {
    let node = dict.node(node_type).ok_or_else(|| {
        WeftError::not_found(format!("Entity type {node_type} is not in dictionary"))
    })?;
    let name = format!("submission_{node_type}_template.{}", format.as_str());
    let body = match format {
        Format::Json => {
            serde_json::to_vec_pretty(&json_template(dict, node)).map_err(WeftError::internal)?
        }
        Format::Tsv | Format::Csv => {
            let header = columns(dict, node, true, false);
            let mut example = vec![String::new(); header.len()];
            if let Some(first) = example.first_mut() {
                *first = node.id.clone();
            }
            let mut w = csv::WriterBuilder::new()
                .delimiter(format.delimiter())
                .from_writer(Vec::new());
            w.write_record(&header).map_err(WeftError::internal)?;
            w.write_record(&example).map_err(WeftError::internal)?;
            w.into_inner()
                .map_err(|e| WeftError::internal(e.to_string()))?
        }
    };
    Ok((name, body))
}

/// `GET /template?format=json[&categories=a,b][&exclude=n1,n2]`: every submittable node's
/// JSON template (TSV and CSV sets come one node at a time).
pub fn all_templates(
    dict: &Dictionary,
    format: Format,
    categories: &[String],
    exclude: &[String],
) -> Result<(String, Vec<u8>), WeftError> {
    if format != Format::Json {
        return Err(WeftError::invalid(
            "Templates of every node come as JSON (format=json); ask /template/{node} for one node as TSV or CSV",
        ));
    }
    let all: Vec<Value> = dict
        .nodes()
        .filter(|n| n.in_project())
        .filter(|n| categories.is_empty() || categories.contains(&n.category))
        .filter(|n| !exclude.contains(&n.id))
        .map(|n| json_template(dict, n))
        .collect();
    let body = serde_json::to_vec_pretty(&all).map_err(WeftError::internal)?;
    Ok(("submission_templates.json".into(), body))
}
