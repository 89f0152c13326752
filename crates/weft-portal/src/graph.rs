//! The dictionary as a picture: node types in layers by their distance from `program`
//! (each below every type it links to), ordered in a layer by where their parents sit, drawn
//! as SVG with each node a link to its page.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use maud::{Markup, PreEscaped};
use weft_dictionary::Dictionary;

const BOX_W: u32 = 150;
const BOX_H: u32 = 38;
const GAP_X: u32 = 16;
const GAP_Y: u32 = 50;
const MARGIN: u32 = 10;

/// One placed node.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub id: String,
    pub title: String,
    pub category: String,
    pub layer: usize,
    pub x: u32,
    pub y: u32,
}

/// The laid-out graph: placed nodes and edges (child id, parent id).
#[derive(Debug, Clone)]
pub struct DictionaryGraph {
    pub nodes: Vec<Placed>,
    pub edges: Vec<(String, String)>,
    pub width: u32,
    pub height: u32,
}

impl DictionaryGraph {
    /// Lay `dict` out.
    #[must_use]
    pub fn layout(dict: &Dictionary) -> Self {
        let parents: BTreeMap<&str, Vec<&str>> = dict
            .nodes()
            .map(|n| {
                let mut ps: Vec<&str> = n
                    .links
                    .iter()
                    .map(|l| l.target_type.as_str())
                    .filter(|t| *t != n.id && dict.node(t).is_some())
                    .collect();
                ps.sort_unstable();
                ps.dedup();
                (n.id.as_str(), ps)
            })
            .collect();
        // Longest path to a root, by relaxation (at most one round per node: a cycle in a
        // broken dictionary cannot loop forever).
        let mut layer: BTreeMap<&str, usize> = parents.keys().map(|k| (*k, 0)).collect();
        for _ in 0..parents.len() {
            let mut changed = false;
            for (child, ps) in &parents {
                let want = ps.iter().map(|p| layer[p] + 1).max().unwrap_or(0);
                if want > layer[child] && want < parents.len() {
                    layer.insert(child, want);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let depth = layer.values().copied().max().unwrap_or(0);
        let mut layers: Vec<Vec<&str>> = vec![Vec::new(); depth + 1];
        for (id, l) in &layer {
            layers[*l].push(id);
        }
        // Order each layer by the mean position of its parents in the layers above.
        let mut position: BTreeMap<&str, f64> = BTreeMap::new();
        for row in &mut layers {
            let key = |id: &&str| -> f64 {
                let ps = &parents[id];
                let known: Vec<f64> = ps.iter().filter_map(|p| position.get(p).copied()).collect();
                if known.is_empty() {
                    f64::MAX
                } else {
                    known.iter().sum::<f64>() / known.len() as f64
                }
            };
            row.sort_by(|a, b| key(a).total_cmp(&key(b)).then(a.cmp(b)));
            let n = row.len().max(1) as f64;
            for (i, id) in row.iter().enumerate() {
                position.insert(id, (i as f64 + 0.5) / n);
            }
        }
        let widest = layers.iter().map(Vec::len).max().unwrap_or(1).max(1) as u32;
        let width = 2 * MARGIN + widest * (BOX_W + GAP_X) - GAP_X;
        let height = 2 * MARGIN + (depth as u32 + 1) * (BOX_H + GAP_Y) - GAP_Y;
        let mut nodes = Vec::new();
        for (l, row) in layers.iter().enumerate() {
            let row_w = row.len() as u32 * (BOX_W + GAP_X) - GAP_X.min(row.len() as u32 * GAP_X);
            let start = (width.saturating_sub(row_w)) / 2;
            for (i, id) in row.iter().enumerate() {
                let Some(node) = dict.node(id) else { continue };
                nodes.push(Placed {
                    id: (*id).to_owned(),
                    title: node.title.clone(),
                    category: node.category.clone(),
                    layer: l,
                    x: start + i as u32 * (BOX_W + GAP_X),
                    y: MARGIN + l as u32 * (BOX_H + GAP_Y),
                });
            }
        }
        let edges = parents
            .iter()
            .flat_map(|(c, ps)| ps.iter().map(|p| ((*c).to_owned(), (*p).to_owned())))
            .collect();
        Self {
            nodes,
            edges,
            width,
            height,
        }
    }

    /// The SVG picture, each node a keyboard-reachable link to `/dd/{id}`.
    #[must_use]
    pub fn svg(&self) -> Markup {
        let at: BTreeMap<&str, &Placed> = self.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="group" aria-label="The data dictionary's node types and their links">"#,
            w = self.width,
            h = self.height
        );
        s.push_str(r#"<g aria-hidden="true">"#);
        for (child, parent) in &self.edges {
            let (Some(c), Some(p)) = (at.get(child.as_str()), at.get(parent.as_str())) else {
                continue;
            };
            let _ = write!(
                s,
                r#"<line x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
                c.x + BOX_W / 2,
                c.y,
                p.x + BOX_W / 2,
                p.y + BOX_H
            );
        }
        s.push_str("</g>");
        for n in &self.nodes {
            let lines = wrap(&n.title, 22);
            let mut text = String::new();
            let first_y = n.y + BOX_H / 2 + 4 - 7 * (lines.len() as u32 - 1);
            for (i, line) in lines.iter().enumerate() {
                let _ = write!(
                    text,
                    r#"<tspan x="{x}" y="{y}">{t}</tspan>"#,
                    x = n.x + BOX_W / 2,
                    y = first_y + 14 * i as u32,
                    t = escape(line)
                );
            }
            let _ = write!(
                s,
                r#"<a href="/dd/{id}"><rect class="cat-{cls}" x="{x}" y="{y}" width="{bw}" height="{bh}" rx="5"/><text text-anchor="middle">{text}</text></a>"#,
                id = escape(&n.id),
                cls = css_class(&n.category),
                x = n.x,
                y = n.y,
                bw = BOX_W,
                bh = BOX_H,
            );
        }
        s.push_str("</svg>");
        PreEscaped(s)
    }
}

fn css_class(category: &str) -> &'static str {
    match category {
        "administrative" => "administrative",
        "clinical" => "clinical",
        "biospecimen" => "biospecimen",
        "data_file" => "data_file",
        "metadata_file" => "metadata_file",
        "analysis" => "analysis",
        "notation" => "notation",
        "index_file" => "index_file",
        _ => "other",
    }
}

/// A title in at most two lines of about `width` characters, split at spaces.
fn wrap(s: &str, width: usize) -> Vec<String> {
    if s.chars().count() <= width {
        return vec![s.to_owned()];
    }
    let words: Vec<&str> = s.split(' ').collect();
    let mut first = String::new();
    let mut i = 0;
    while i < words.len() && first.chars().count() + words[i].chars().count() < width {
        if !first.is_empty() {
            first.push(' ');
        }
        first.push_str(words[i]);
        i += 1;
    }
    if first.is_empty() || i == words.len() {
        return vec![s.to_owned()];
    }
    vec![first, words[i..].join(" ")]
}

fn escape(s: &str) -> String {
    maud::html! { (s) }.into_string()
}
