//! guppy's JSON filter language, checked against an index's fields and run over its columns.
//!
//! A unit is `{"<op>": {"<field>": value}}`; `AND`/`OR` take lists, `nested` a `path` and one
//! unit whose fields are relative to it, `search` a `keyword` and optional `fields`. Only the
//! first key of an object is read, as guppy reads it. Errors use guppy's words.

use fixedbitset::FixedBitSet;
use serde_json::Value;

use crate::table::{Column, Table, Values};

/// What a leaf tests of a document's values in one column.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// Some value is one of these (`=`, `in`); `missing`: or the document has none (the
    /// missing-data alias was among them).
    Any(Vec<Value>, bool),
    /// Every one of these is among its values (`contains_all`).
    All(Vec<Value>),
    /// None of these is among its values (`!=`, `excludes_any`).
    None(Vec<Value>),
    /// Not all of these are among its values (`excludes_all`).
    NotAll(Vec<Value>),
    /// Some value within the bounds (`>`, `>=`, `<`, `<=`): `(value, inclusive)`.
    Range(Option<(f64, bool)>, Option<(f64, bool)>),
    /// Some value other than this one (numeric `!=`).
    Other(f64),
}

/// A compiled filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// No constraint.
    All,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Leaf {
        field: String,
        test: Test,
    },
    /// The keyword (lower case) occurs in one of the columns' texts.
    Search {
        keyword: String,
        fields: Vec<String>,
    },
    /// Exactly these documents (the authorization filter).
    Rows(FixedBitSet),
}

/// How a filter reads the missing-data alias.
#[derive(Debug, Clone)]
pub struct Missing {
    pub include: bool,
    pub alias: String,
}

/// A filter that cannot run: guppy's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

fn bad(msg: impl Into<String>) -> FilterError {
    FilterError(msg.into())
}

const SYNTAX: &str = "Please check your syntax for input \"filter\" argument";

/// Compile a filter (`null` or `{}`: no constraint).
pub fn compile(v: &Value, table: &Table, missing: &Missing) -> Result<Cond, FilterError> {
    unit(v, table, missing, None)
}

fn first(o: &serde_json::Map<String, Value>) -> Option<(&String, &Value)> {
    o.iter().next()
}

fn unit(
    v: &Value,
    table: &Table,
    missing: &Missing,
    path: Option<&str>,
) -> Result<Cond, FilterError> {
    let o = match v {
        Value::Null => return Ok(Cond::All),
        Value::Object(o) => o,
        _ => return Err(bad(SYNTAX)),
    };
    let Some((key, body)) = first(o) else {
        return Ok(Cond::All);
    };
    match key.to_lowercase().as_str() {
        "and" | "or" => {
            let Value::Array(items) = body else {
                return Err(bad(SYNTAX));
            };
            let mut parts = Vec::new();
            for i in items {
                match unit(i, table, missing, path)? {
                    Cond::All => {}
                    c => parts.push(c),
                }
            }
            Ok(match (key.to_lowercase().as_str(), parts.len()) {
                (_, 0) => Cond::All,
                ("and", _) => Cond::And(parts),
                _ => Cond::Or(parts),
            })
        }
        "nested" => {
            let Value::Object(inner) = body else {
                return Err(bad(SYNTAX));
            };
            let Some(Value::String(p)) = inner.get("path") else {
                return Err(bad("Invalid nested filter syntax: missing 'path' field"));
            };
            if !table
                .columns
                .iter()
                .any(|c| c.name.starts_with(&format!("{p}.")))
            {
                let seg = p.split('.').next_back().unwrap_or(p);
                return Err(bad(format!("Field {seg} does not exist in ES index")));
            }
            let rest: serde_json::Map<String, Value> = inner
                .iter()
                .filter(|(k, _)| *k != "path")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            unit(&Value::Object(rest), table, missing, Some(p))
        }
        "search" => search(body, table),
        _ => leaf(key, body, table, missing, path),
    }
}

fn search(body: &Value, table: &Table) -> Result<Cond, FilterError> {
    let Value::Object(o) = body else {
        return Err(bad("Invalid search filter syntax: missing 'keyword' field"));
    };
    for k in o.keys() {
        if k != "keyword" && k != "fields" {
            return Err(bad(format!(
                "Invalid search filter syntax: unrecognized field '{k}'"
            )));
        }
    }
    let Some(Value::String(keyword)) = o.get("keyword") else {
        return Err(bad("Invalid search filter syntax: missing 'keyword' field"));
    };
    if keyword.chars().count() < 2 {
        return Err(bad("Keyword too short (length < 2"));
    }
    let fields: Vec<String> = match o.get("fields") {
        None | Some(Value::Null) => table
            .columns
            .iter()
            .filter(|c| !c.is_number() && !c.name.contains('.'))
            .map(|c| c.name.clone())
            .collect(),
        Some(Value::String(f)) => vec![f.clone()],
        Some(Value::Array(fs)) => fs
            .iter()
            .map(|f| f.as_str().map(str::to_owned).ok_or_else(|| bad(SYNTAX)))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad(SYNTAX)),
    };
    for f in &fields {
        if table.column(f).is_none() {
            return Err(bad(format!("invalid field {f} in \"filter\" variable")));
        }
    }
    Ok(Cond::Search {
        keyword: keyword.to_lowercase(),
        fields,
    })
}

fn values(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        other => vec![other.clone()],
    }
}

fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn leaf(
    op: &str,
    body: &Value,
    table: &Table,
    missing: &Missing,
    path: Option<&str>,
) -> Result<Cond, FilterError> {
    let Value::Object(o) = body else {
        return Err(bad(SYNTAX));
    };
    let Some((name, value)) = first(o) else {
        return Err(bad(SYNTAX));
    };
    let field = match path {
        Some(p) => format!("{p}.{name}"),
        None => name.clone(),
    };
    let Some(col) = table.column(&field) else {
        return Err(bad(SYNTAX));
    };
    let test = if col.is_number() {
        let num = |v: &Value| {
            as_number(v).ok_or_else(|| {
                bad(format!(
                    "Invalid value {v} for numeric field \"{field}\" in filter argument"
                ))
            })
        };
        match op {
            ">" | "gt" | "GT" => Test::Range(Some((num(value)?, false)), None),
            ">=" | "gte" | "GTE" => Test::Range(Some((num(value)?, true)), None),
            "<" | "lt" | "LT" => Test::Range(None, Some((num(value)?, false))),
            "<=" | "lte" | "LTE" => Test::Range(None, Some((num(value)?, true))),
            "=" | "eq" | "EQ" | "in" | "IN" => {
                let vs = values(value)
                    .iter()
                    .map(|v| num(v).map(Value::from))
                    .collect::<Result<_, _>>()?;
                Test::Any(vs, false)
            }
            "!=" => Test::Other(num(value)?),
            _ => {
                return Err(bad(format!(
                    "Invalid numeric operation \"{op}\" for field \"{field}\" in filter argument"
                )));
            }
        }
    } else {
        let texts: Vec<Value> = values(value)
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Value::String(s),
                other => Value::String(other.to_string()),
            })
            .collect();
        let is_alias = |v: &Value| missing.include && v.as_str() == Some(missing.alias.as_str());
        match op {
            "=" | "eq" | "EQ" | "in" | "IN" | "contains_any" | "CONTAINS_ANY" => {
                let has_missing = texts.iter().any(is_alias);
                Test::Any(
                    texts.into_iter().filter(|v| !is_alias(v)).collect(),
                    has_missing,
                )
            }
            "contains_all" | "CONTAINS_ALL" => Test::All(texts),
            "!=" | "excludes_any" | "EXCLUDES_ANY" => Test::None(texts),
            "excludes_all" | "EXCLUDES_ALL" => Test::NotAll(texts),
            _ => {
                return Err(bad(format!(
                    "Invalid operation \"{op}\" in filter argument."
                )));
            }
        }
    };
    Ok(Cond::Leaf { field, test })
}

/// The codes of `texts` in a keyword column (those it has).
fn codes(col: &Column, texts: &[Value]) -> Vec<u32> {
    match &col.values {
        Values::Keyword { dict, .. } => texts
            .iter()
            .filter_map(|t| t.as_str().and_then(|s| dict.get(s)))
            .collect(),
        Values::Number(_) => Vec::new(),
    }
}

/// Rows whose values satisfy `pred` over their slice.
fn rows_where<T>(
    col: &Column,
    vals: &[T],
    rows: usize,
    mut pred: impl FnMut(&[T]) -> bool,
) -> FixedBitSet {
    let mut out = FixedBitSet::with_capacity(rows);
    for r in 0..rows {
        if pred(&vals[col.span(r)]) {
            out.insert(r);
        }
    }
    out
}

fn in_bounds(v: f64, lo: Option<(f64, bool)>, hi: Option<(f64, bool)>) -> bool {
    lo.is_none_or(|(b, inc)| if inc { v >= b } else { v > b })
        && hi.is_none_or(|(b, inc)| if inc { v <= b } else { v < b })
}

impl Cond {
    /// The rows (dead ones may be among them) that match; with `skip`, leaves on that field
    /// are no constraint (guppy's `filterSelf: false`).
    #[must_use]
    pub fn rows(&self, table: &Table, skip: Option<&str>) -> FixedBitSet {
        let n = table.rows();
        let full = || {
            let mut all = FixedBitSet::with_capacity(n);
            all.insert_range(..);
            all
        };
        match self {
            Self::All => full(),
            Self::Rows(r) => {
                let mut r = r.clone();
                r.grow(n);
                r
            }
            Self::And(parts) => {
                let mut acc = full();
                for p in parts {
                    acc.intersect_with(&p.rows(table, skip));
                }
                acc
            }
            Self::Or(parts) => {
                let mut acc = FixedBitSet::with_capacity(n);
                let mut any = false;
                for p in parts {
                    if p.skipped(skip) {
                        continue;
                    }
                    any = true;
                    acc.union_with(&p.rows(table, skip));
                }
                if any { acc } else { full() }
            }
            Self::Leaf { field, .. } if Some(field.rsplit('.').next().unwrap_or(field)) == skip => {
                full()
            }
            Self::Leaf { field, test } => {
                let Some(col) = table.column(field) else {
                    return FixedBitSet::with_capacity(n);
                };
                leaf_rows(col, test, n)
            }
            Self::Search { keyword, fields } => {
                let mut acc = FixedBitSet::with_capacity(n);
                for f in fields {
                    let Some(col) = table.column(f) else { continue };
                    let Values::Keyword { dict, codes } = &col.values else {
                        continue;
                    };
                    let hit: Vec<bool> = dict
                        .values
                        .iter()
                        .map(|v| v.to_lowercase().contains(keyword.as_str()))
                        .collect();
                    acc.union_with(&rows_where(col, codes, n, |vs| {
                        vs.iter().any(|c| hit[*c as usize])
                    }));
                }
                acc
            }
        }
    }

    /// Whether a condition on the field `leaf` (the last part of a nested path) is in it:
    /// when not, `filterSelf: false` on `leaf` changes nothing.
    #[must_use]
    pub fn mentions(&self, leaf: &str) -> bool {
        match self {
            Self::Leaf { field, .. } => field.rsplit('.').next().unwrap_or(field) == leaf,
            Self::Or(parts) | Self::And(parts) => parts.iter().any(|p| p.mentions(leaf)),
            _ => false,
        }
    }

    /// Whether `filterSelf: false` on `skip` drops this whole part.
    fn skipped(&self, skip: Option<&str>) -> bool {
        match self {
            Self::Leaf { field, .. } => Some(field.rsplit('.').next().unwrap_or(field)) == skip,
            Self::Or(parts) | Self::And(parts) => parts.iter().all(|p| p.skipped(skip)),
            _ => false,
        }
    }
}

fn leaf_rows(col: &Column, test: &Test, n: usize) -> FixedBitSet {
    match (&col.values, test) {
        (Values::Keyword { dict, codes: vals }, test) => {
            let mut want = vec![false; dict.values.len()];
            let list = match test {
                Test::Any(t, _) | Test::All(t) | Test::None(t) | Test::NotAll(t) => t.as_slice(),
                _ => &[],
            };
            let cs = codes(col, list);
            for c in &cs {
                want[*c as usize] = true;
            }
            match test {
                Test::Any(_, with_missing) => rows_where(col, vals, n, |vs| {
                    (*with_missing && vs.is_empty()) || vs.iter().any(|c| want[*c as usize])
                }),
                Test::None(_) => {
                    rows_where(col, vals, n, |vs| !vs.iter().any(|c| want[*c as usize]))
                }
                Test::All(t) | Test::NotAll(t) => {
                    let all_known = cs.len() == t.len();
                    let negate = matches!(test, Test::NotAll(_));
                    rows_where(col, vals, n, |vs| {
                        let holds = all_known && cs.iter().all(|c| vs.contains(c));
                        holds != negate
                    })
                }
                _ => FixedBitSet::with_capacity(n),
            }
        }
        (Values::Number(vals), Test::Any(vs, _)) => {
            let targets: Vec<f64> = vs.iter().filter_map(Value::as_f64).collect();
            rows_where(col, vals, n, |xs| xs.iter().any(|x| targets.contains(x)))
        }
        (Values::Number(vals), Test::Range(lo, hi)) => rows_where(col, vals, n, |xs| {
            xs.iter().any(|x| in_bounds(*x, *lo, *hi))
        }),
        (Values::Number(vals), Test::Other(v)) =>
        {
            #[allow(clippy::float_cmp)]
            rows_where(col, vals, n, |xs| xs.iter().any(|x| x != v))
        }
        (Values::Number(_), _) => FixedBitSet::with_capacity(n),
    }
}
