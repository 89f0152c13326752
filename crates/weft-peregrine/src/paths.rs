//! Paths through the dictionary's graph for peregrine's `with_links` and `with_path_to`
//! filters: every simple path (no node type twice) from one node type to another, along
//! links in either direction, that keeps going one way through the categories (up towards
//! the project, or down towards the files), as peregrine's traversal prunes them. The store
//! then checks each path with joins in the database.

use weft_dictionary::{Dictionary, Node};
use weft_store::Hop;

/// Longest path considered.
const MAX_HOPS: usize = 8;

/// Most paths considered between two types.
const MAX_PATHS: usize = 64;

/// peregrine's category levels: the project's side low, the files' side high.
fn level(node: &Node) -> u8 {
    match node.category.as_str() {
        "administrative" => 0,
        "biospecimen" | "clinical" => 1,
        "data_file" => 3,
        _ => 4,
    }
}

/// The edges of `node`: to its parents by its links' names, to its children by theirs.
pub fn edges(dict: &Dictionary, node: &Node) -> Vec<(String, Hop)> {
    let mut out: Vec<(String, Hop)> = node
        .links
        .iter()
        .map(|l| {
            (
                l.name.clone(),
                Hop {
                    link: l.name.clone(),
                    to_parents: true,
                    node_type: l.target_type.clone(),
                },
            )
        })
        .collect();
    for (child, l) in dict.links_to(&node.id) {
        out.push((
            l.backref.clone(),
            Hop {
                link: l.name.clone(),
                to_parents: false,
                node_type: child.id.clone(),
            },
        ));
    }
    out
}

/// The simple paths from `from` to `to`.
pub fn between(dict: &Dictionary, from: &str, to: &str) -> Vec<Vec<Hop>> {
    let (Some(start), Some(end)) = (dict.node(from), dict.node(to)) else {
        return Vec::new();
    };
    let up = level(end) <= level(start);
    let mut found = Vec::new();
    let mut path: Vec<Hop> = Vec::new();
    let mut seen = vec![start.id.clone()];
    walk(dict, start, to, up, &mut path, &mut seen, &mut found);
    found
}

fn walk(
    dict: &Dictionary,
    at: &Node,
    to: &str,
    up: bool,
    path: &mut Vec<Hop>,
    seen: &mut Vec<String>,
    found: &mut Vec<Vec<Hop>>,
) {
    if path.len() >= MAX_HOPS || found.len() >= MAX_PATHS {
        return;
    }
    for (_, hop) in edges(dict, at) {
        if seen.contains(&hop.node_type) {
            continue;
        }
        let Some(next) = dict.node(&hop.node_type) else {
            continue;
        };
        path.push(hop.clone());
        if next.id == to {
            found.push(path.clone());
        } else {
            let onward = if up {
                level(next) <= level(at)
            } else {
                level(next) >= level(at)
            };
            if onward {
                seen.push(next.id.clone());
                walk(dict, next, to, up, path, seen, found);
                seen.pop();
            }
        }
        path.pop();
    }
}
