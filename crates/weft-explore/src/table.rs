//! The embedded index: one [`Table`] of documents per mapping, held in memory as columns.
//!
//! Each field is a column of values per row (`offsets` into one vector, so a row holds none,
//! one or many values); text is dictionary-coded, so filters and histograms compare and
//! count small integers. A nested field keeps each row's list of objects as JSON text for
//! output, and each of its leaves is also a column of its own (`visits.visit_label`) holding
//! every element's values: filters and aggregations on nested fields see a document's values
//! together, not element by element (see docs/compat/guppy.md).
//!
//! A change replaces a document's row: the old row is marked dead and a new one appended, so
//! rows never move while a reader holds the table; dead rows are dropped when they are many.

use std::collections::HashMap;
use std::sync::Arc;

use fixedbitset::FixedBitSet;
use serde_json::{Map, Value};

use crate::mapping::{Field, FieldKind, IndexMapping};

/// Distinct texts of a column and their codes.
#[derive(Debug, Clone, Default)]
pub struct Dict {
    pub values: Vec<Arc<str>>,
    codes: HashMap<Arc<str>, u32>,
}

impl Dict {
    fn code(&mut self, s: &str) -> u32 {
        if let Some(c) = self.codes.get(s) {
            return *c;
        }
        let c = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        let v: Arc<str> = Arc::from(s);
        self.values.push(Arc::clone(&v));
        self.codes.insert(v, c);
        c
    }

    #[must_use]
    pub fn get(&self, s: &str) -> Option<u32> {
        self.codes.get(s).copied()
    }
}

/// A column's values.
#[derive(Debug, Clone)]
pub enum Values {
    Keyword { dict: Dict, codes: Vec<u32> },
    Number(Vec<f64>),
}

/// One column: row `r`'s values are `values[offsets[r]..offsets[r + 1]]`.
#[derive(Debug, Clone)]
pub struct Column {
    /// The field's name; dotted for a leaf of a nested field.
    pub name: String,
    /// The field holds lists (guppy's array config).
    pub array: bool,
    pub offsets: Vec<u32>,
    pub values: Values,
}

impl Column {
    fn new(name: String, kind: &FieldKind, array: bool) -> Self {
        let values = match kind {
            FieldKind::Number => Values::Number(Vec::new()),
            _ => Values::Keyword {
                dict: Dict::default(),
                codes: Vec::new(),
            },
        };
        Self {
            name,
            array,
            offsets: vec![0],
            values,
        }
    }

    #[must_use]
    pub fn is_number(&self) -> bool {
        matches!(self.values, Values::Number(_))
    }

    /// The range of row `r`'s values.
    #[must_use]
    pub fn span(&self, r: usize) -> std::ops::Range<usize> {
        self.offsets[r] as usize..self.offsets[r + 1] as usize
    }

    fn push_value(&mut self, v: &Value) {
        match (&mut self.values, v) {
            (_, Value::Null) => {}
            (_, Value::Array(items)) => {
                for i in items {
                    if !i.is_array() {
                        self.push_value(i);
                    }
                }
            }
            (Values::Number(nums), v) => {
                let n = match v {
                    Value::Number(n) => n.as_f64(),
                    Value::String(s) => s.parse().ok(),
                    Value::Bool(b) => Some(f64::from(u8::from(*b))),
                    _ => None,
                };
                if let Some(n) = n {
                    nums.push(n);
                }
            }
            (Values::Keyword { dict, codes }, v) => {
                let c = match v {
                    Value::String(s) => dict.code(s),
                    other => dict.code(&other.to_string()),
                };
                codes.push(c);
            }
        }
    }

    fn len_values(&self) -> usize {
        match &self.values {
            Values::Number(n) => n.len(),
            Values::Keyword { codes, .. } => codes.len(),
        }
    }

    fn end_row(&mut self) {
        let n = u32::try_from(self.len_values()).unwrap_or(u32::MAX);
        self.offsets.push(n);
    }

    /// Row `r`'s values as JSON (numbers whole where they are: `3`, not `3.0`).
    fn json(&self, r: usize) -> Value {
        let span = self.span(r);
        let one = |i: usize| match &self.values {
            Values::Number(n) => number(n[i]),
            Values::Keyword { dict, codes } => {
                Value::String(dict.values[codes[i] as usize].to_string())
            }
        };
        if span.is_empty() {
            Value::Null
        } else if self.array {
            Value::Array(span.map(one).collect())
        } else {
            one(span.start)
        }
    }
}

/// A number as JSON: whole numbers without a fraction, as JavaScript prints them.
#[must_use]
pub fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 {
        #[allow(clippy::cast_possible_truncation)]
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// The documents of one mapping.
#[derive(Debug, Clone)]
pub struct Table {
    pub mapping: Arc<IndexMapping>,
    pub columns: Vec<Column>,
    by_name: HashMap<String, usize>,
    /// For each nested field, its column of rows' lists as JSON text.
    nested: Vec<(String, Vec<Option<Box<str>>>)>,
    ids: Vec<Arc<str>>,
    rows: HashMap<Arc<str>, u32>,
    live: FixedBitSet,
    dead: usize,
    /// Changes with every change of the documents (never the same for two states, across
    /// tables too): what caches of derived row sets are keyed by.
    epoch: u64,
}

/// The source of table epochs.
static EPOCHS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_epoch() -> u64 {
    EPOCHS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn leaves(prefix: &str, fields: &[Field], out: &mut Vec<Column>) {
    for f in fields {
        let name = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        match &f.kind {
            FieldKind::Nested(sub) => leaves(&name, sub, out),
            kind => out.push(Column::new(name, kind, f.array || !prefix.is_empty())),
        }
    }
}

/// Every value of the nested path `path` (dotted) in `v`.
fn nested_values<'a>(v: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for i in items {
                nested_values(i, path, out);
            }
        }
        Value::Object(o) => {
            if let Some((first, rest)) = path.split_first()
                && let Some(next) = o.get(*first)
            {
                if rest.is_empty() {
                    out.push(next);
                } else {
                    nested_values(next, rest, out);
                }
            }
        }
        _ => {}
    }
}

impl Table {
    #[must_use]
    pub fn new(mapping: Arc<IndexMapping>) -> Self {
        let mut columns = Vec::new();
        leaves("", &mapping.fields, &mut columns);
        let by_name = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.clone(), i))
            .collect();
        let nested = mapping
            .fields
            .iter()
            .filter(|f| matches!(f.kind, FieldKind::Nested(_)))
            .map(|f| (f.name.clone(), Vec::new()))
            .collect();
        Self {
            mapping,
            columns,
            by_name,
            nested,
            ids: Vec::new(),
            rows: HashMap::new(),
            live: FixedBitSet::new(),
            dead: 0,
            epoch: next_epoch(),
        }
    }

    /// The rows, dead ones included.
    #[must_use]
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// How many documents it holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len() - self.dead
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows of live documents.
    #[must_use]
    pub fn live(&self) -> &FixedBitSet {
        &self.live
    }

    #[must_use]
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.by_name.get(name).map(|i| &self.columns[*i])
    }

    #[must_use]
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The document id of a row.
    #[must_use]
    pub fn id(&self, row: usize) -> &str {
        &self.ids[row]
    }

    /// The row of a document.
    #[must_use]
    pub fn row_of(&self, id: &str) -> Option<usize> {
        self.rows.get(id).map(|r| *r as usize)
    }

    /// A document's value of `field`, if it has it.
    #[must_use]
    pub fn value(&self, id: &str, field: &str) -> Value {
        match (self.row_of(id), self.column(field)) {
            (Some(r), Some(c)) => c.json(r),
            _ => Value::Null,
        }
    }

    /// The state of the documents: another after any change.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Add or replace the document `id`.
    pub fn upsert(&mut self, id: &str, doc: &Map<String, Value>) {
        self.remove(id);
        self.epoch = next_epoch();
        let row = self.ids.len();
        for c in &mut self.columns {
            match c.name.split_once('.') {
                None => {
                    if let Some(v) = doc.get(&c.name) {
                        c.push_value(v);
                    }
                }
                Some((top, _)) => {
                    if let Some(v) = doc.get(top) {
                        let path: Vec<&str> = c.name.split('.').skip(1).collect();
                        let mut found = Vec::new();
                        nested_values(v, &path, &mut found);
                        for f in found {
                            c.push_value(f);
                        }
                    }
                }
            }
            c.end_row();
        }
        for (name, texts) in &mut self.nested {
            texts.push(
                doc.get(name.as_str())
                    .filter(|v| !v.is_null())
                    .map(|v| v.to_string().into_boxed_str()),
            );
        }
        let id: Arc<str> = Arc::from(id);
        self.ids.push(Arc::clone(&id));
        self.rows.insert(id, u32::try_from(row).unwrap_or(u32::MAX));
        self.live.grow(row + 1);
        self.live.insert(row);
    }

    /// Drop the document `id`; whether it was there.
    pub fn remove(&mut self, id: &str) -> bool {
        let Some(row) = self.rows.remove(id) else {
            return false;
        };
        self.live.set(row as usize, false);
        self.dead += 1;
        self.epoch = next_epoch();
        true
    }

    /// Whether dead rows are many enough to rewrite the table without them.
    #[must_use]
    pub fn wants_compaction(&self) -> bool {
        self.dead > 10_000 && self.dead * 2 > self.ids.len()
    }

    /// The table without its dead rows (documents in the same order), column by column.
    #[must_use]
    pub fn compacted(&self) -> Self {
        let live: Vec<usize> = self.live.ones().collect();
        let columns = self
            .columns
            .iter()
            .map(|c| {
                let mut offs = Vec::with_capacity(live.len() + 1);
                offs.push(0);
                let values = match &c.values {
                    Values::Keyword { dict, codes } => {
                        let mut out = Vec::with_capacity(codes.len());
                        for &r in &live {
                            out.extend_from_slice(&codes[c.span(r)]);
                            offs.push(u32::try_from(out.len()).unwrap_or(u32::MAX));
                        }
                        Values::Keyword {
                            dict: dict.clone(),
                            codes: out,
                        }
                    }
                    Values::Number(nums) => {
                        let mut out = Vec::with_capacity(nums.len());
                        for &r in &live {
                            out.extend_from_slice(&nums[c.span(r)]);
                            offs.push(u32::try_from(out.len()).unwrap_or(u32::MAX));
                        }
                        Values::Number(out)
                    }
                };
                Column {
                    name: c.name.clone(),
                    array: c.array,
                    offsets: offs,
                    values,
                }
            })
            .collect();
        let nested = self
            .nested
            .iter()
            .map(|(n, texts)| (n.clone(), live.iter().map(|r| texts[*r].clone()).collect()))
            .collect();
        let ids: Vec<Arc<str>> = live.iter().map(|r| Arc::clone(&self.ids[*r])).collect();
        let rows = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (Arc::clone(id), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        let mut alive = FixedBitSet::with_capacity(ids.len());
        alive.insert_range(..);
        Self {
            mapping: Arc::clone(&self.mapping),
            columns,
            by_name: self.by_name.clone(),
            nested,
            ids,
            rows,
            live: alive,
            dead: 0,
            epoch: next_epoch(),
        }
    }

    /// Row `r` as its whole document.
    #[must_use]
    pub fn document(&self, r: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for f in &self.mapping.fields {
            out.insert(f.name.clone(), self.field_json(r, f));
        }
        out
    }

    /// Row `r`'s value of a top-level field.
    #[must_use]
    pub fn field_json(&self, r: usize, f: &Field) -> Value {
        match &f.kind {
            FieldKind::Nested(_) => self
                .nested
                .iter()
                .find(|(n, _)| *n == f.name)
                .and_then(|(_, texts)| texts[r].as_deref())
                .and_then(|t| serde_json::from_str(t).ok())
                .unwrap_or(Value::Null),
            _ => self.column(&f.name).map_or(Value::Null, |c| c.json(r)),
        }
    }

    /// Row `r` with only `fields` (top-level names; dotted names pick nested leaves).
    #[must_use]
    pub fn select(&self, r: usize, fields: &[String]) -> Map<String, Value> {
        let mut out = Map::new();
        for name in fields {
            let top = name.split('.').next().unwrap_or(name);
            if out.contains_key(top) && !name.contains('.') {
                continue;
            }
            let Some(f) = self.mapping.field(top) else {
                continue;
            };
            if name.contains('.') {
                if !out.contains_key(top) {
                    out.insert(top.to_owned(), self.field_json(r, f));
                }
            } else {
                out.insert(name.clone(), self.field_json(r, f));
            }
        }
        out
    }
}
