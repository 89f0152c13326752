//! guppy's aggregations over a set of rows: text histograms (every term, counted by
//! document, most frequent first, the missing bucket last), numeric stats and histograms,
//! cardinality. Under `regular` tier access each count is taken together with the part of
//! it the caller may not read, in the same pass.

use fixedbitset::FixedBitSet;

use crate::table::{Column, Values};

/// One term: its text (`None`: documents without the field), its count, and how many of
/// those the caller may not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    pub key: Option<String>,
    pub count: u64,
    pub hidden: u64,
}

/// Every term of a column among `rows`, most frequent first (ties: greater key first), the
/// documents without a value last (when `missing`). `hidden`: the rows the caller may not read.
#[must_use]
pub fn terms(
    col: &Column,
    rows: &FixedBitSet,
    hidden: Option<&FixedBitSet>,
    missing: bool,
) -> Vec<Term> {
    let mut out = Vec::new();
    let mut none = (0u64, 0u64);
    match &col.values {
        Values::Keyword { dict, codes } => {
            let mut counts = vec![(0u64, 0u64); dict.values.len()];
            let mut seen: Vec<u32> = Vec::new();
            for r in rows.ones() {
                let vs = &codes[col.span(r)];
                let h = u64::from(hidden.is_some_and(|h| h.contains(r)));
                if vs.is_empty() {
                    none.0 += 1;
                    none.1 += h;
                    continue;
                }
                if vs.len() == 1 {
                    let c = &mut counts[vs[0] as usize];
                    c.0 += 1;
                    c.1 += h;
                    continue;
                }
                seen.clear();
                for v in vs {
                    if !seen.contains(v) {
                        seen.push(*v);
                        let c = &mut counts[*v as usize];
                        c.0 += 1;
                        c.1 += h;
                    }
                }
            }
            for (code, (count, h)) in counts.into_iter().enumerate() {
                if count > 0 {
                    out.push(Term {
                        key: Some(dict.values[code].to_string()),
                        count,
                        hidden: h,
                    });
                }
            }
        }
        Values::Number(nums) => {
            let mut counts: std::collections::BTreeMap<u64, (f64, u64, u64)> =
                std::collections::BTreeMap::new();
            for r in rows.ones() {
                let vs = &nums[col.span(r)];
                let h = u64::from(hidden.is_some_and(|h| h.contains(r)));
                if vs.is_empty() {
                    none.0 += 1;
                    none.1 += h;
                }
                for (i, v) in vs.iter().enumerate() {
                    if vs[..i].contains(v) {
                        continue;
                    }
                    let e = counts.entry(v.to_bits()).or_insert((*v, 0, 0));
                    e.1 += 1;
                    e.2 += h;
                }
            }
            for (v, count, h) in counts.into_values() {
                out.push(Term {
                    key: Some(crate::table::number(v).to_string()),
                    count,
                    hidden: h,
                });
            }
        }
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| b.key.cmp(&a.key)));
    if missing && none.0 > 0 {
        out.push(Term {
            key: None,
            count: none.0,
            hidden: none.1,
        });
    }
    out
}

/// How many distinct values a column has among `rows`.
#[must_use]
pub fn cardinality(col: &Column, rows: &FixedBitSet) -> u64 {
    match &col.values {
        Values::Keyword { dict, codes } => {
            let mut seen = FixedBitSet::with_capacity(dict.values.len());
            for r in rows.ones() {
                for c in &codes[col.span(r)] {
                    seen.insert(*c as usize);
                }
            }
            seen.count_ones(..) as u64
        }
        Values::Number(nums) => {
            let mut seen = std::collections::HashSet::new();
            for r in rows.ones() {
                for v in &nums[col.span(r)] {
                    seen.insert(v.to_bits());
                }
            }
            seen.len() as u64
        }
    }
}

/// How many of `rows` have a value in the column (value count, as guppy's field `_totalCount`).
#[must_use]
pub fn value_count(col: &Column, rows: &FixedBitSet) -> u64 {
    rows.ones().map(|r| col.span(r).len() as u64).sum()
}

/// Stats of values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Stats {
    pub count: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub sum: f64,
}

impl Stats {
    fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
    }

    #[must_use]
    pub fn avg(&self) -> Option<f64> {
        #[allow(clippy::cast_precision_loss)]
        (self.count > 0).then(|| self.sum / self.count as f64)
    }
}

/// The numeric values of `rows` within `[start, end)`.
fn each_value(
    col: &Column,
    rows: &FixedBitSet,
    start: Option<f64>,
    end: Option<f64>,
    mut f: impl FnMut(f64),
) {
    let Values::Number(nums) = &col.values else {
        return;
    };
    for r in rows.ones() {
        for v in &nums[col.span(r)] {
            if start.is_none_or(|s| *v >= s) && end.is_none_or(|e| *v < e) {
                f(*v);
            }
        }
    }
}

/// Stats of a numeric column's values among `rows`, within `[start, end)`.
#[must_use]
pub fn stats(col: &Column, rows: &FixedBitSet, start: Option<f64>, end: Option<f64>) -> Stats {
    let mut s = Stats::default();
    each_value(col, rows, start, end, |v| s.add(v));
    s
}

/// Buckets `[key, key + step)` of values, from the first to the last that holds any, the
/// keys aligned on `offset` as Elasticsearch's `histogram` aligns them.
#[must_use]
pub fn histogram(
    col: &Column,
    rows: &FixedBitSet,
    step: f64,
    offset: f64,
    start: Option<f64>,
    end: Option<f64>,
) -> Vec<(f64, Stats)> {
    #[allow(clippy::cast_possible_truncation)]
    let key = |v: f64| ((v - offset) / step).floor() as i64;
    let mut buckets: std::collections::BTreeMap<i64, Stats> = std::collections::BTreeMap::new();
    match (start, end) {
        // a bounded range: buckets in a vector, no map lookup a value
        (Some(s), Some(e)) if (e - s) / step < 100_000.0 => {
            let first = key(s);
            let n = usize::try_from(key(e) - first + 1).unwrap_or(0);
            let mut slots = vec![Stats::default(); n];
            each_value(col, rows, start, end, |v| {
                if let Some(slot) = usize::try_from(key(v) - first)
                    .ok()
                    .and_then(|i| slots.get_mut(i))
                {
                    slot.add(v);
                }
            });
            for (i, st) in slots.into_iter().enumerate() {
                if st.count > 0 {
                    buckets.insert(first + i64::try_from(i).unwrap_or(0), st);
                }
            }
        }
        _ => each_value(col, rows, start, end, |v| {
            buckets.entry(key(v)).or_default().add(v)
        }),
    }
    let (Some(first), Some(last)) = (
        buckets.keys().next().copied(),
        buckets.keys().next_back().copied(),
    ) else {
        return Vec::new();
    };
    #[allow(clippy::cast_precision_loss)]
    (first..=last)
        .map(|k| {
            (
                k as f64 * step + offset,
                buckets.get(&k).copied().unwrap_or_default(),
            )
        })
        .collect()
}

/// Per bucket key (`None`: documents without a value), terms and their counts.
pub type BucketTerms = std::collections::HashMap<Option<String>, Vec<(String, u64)>>;

/// For each bucket of a keyword column among `rows` (`None`: documents without a value),
/// the terms of another column in its documents, each counted once per document, most
/// frequent first (ties: lesser key first), as guppy's `termsFields`.
#[must_use]
pub fn sub_terms(col: &Column, rows: &FixedBitSet, sub: &Column) -> BucketTerms {
    let mut counts: std::collections::HashMap<(Option<u32>, String), u64> =
        std::collections::HashMap::new();
    let Values::Keyword { dict, codes } = &col.values else {
        return std::collections::HashMap::new();
    };
    for r in rows.ones() {
        let buckets: Vec<Option<u32>> = if col.span(r).is_empty() {
            vec![None]
        } else {
            let mut b: Vec<Option<u32>> = codes[col.span(r)].iter().map(|c| Some(*c)).collect();
            b.dedup();
            b
        };
        let mut values: Vec<String> = match &sub.values {
            Values::Keyword { dict, codes } => codes[sub.span(r)]
                .iter()
                .map(|c| dict.values[*c as usize].to_string())
                .collect(),
            Values::Number(nums) => nums[sub.span(r)]
                .iter()
                .map(|v| crate::table::number(*v).to_string())
                .collect(),
        };
        values.sort();
        values.dedup();
        for b in &buckets {
            for v in &values {
                *counts.entry((*b, v.clone())).or_default() += 1;
            }
        }
    }
    let mut out = BucketTerms::new();
    for ((b, v), n) in counts {
        let key = b.map(|c| dict.values[c as usize].to_string());
        out.entry(key).or_default().push((v, n));
    }
    for terms in out.values_mut() {
        terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }
    out
}

/// For each bucket of a keyword column among `rows`, how many of its documents lack a
/// value of another column, as guppy's `missingFields`.
#[must_use]
pub fn sub_missing(
    col: &Column,
    rows: &FixedBitSet,
    sub: &Column,
) -> std::collections::HashMap<Option<String>, u64> {
    let mut out = std::collections::HashMap::new();
    let Values::Keyword { dict, codes } = &col.values else {
        return out;
    };
    for r in rows.ones() {
        if !sub.span(r).is_empty() {
            continue;
        }
        let span = col.span(r);
        if span.is_empty() {
            *out.entry(None).or_default() += 1;
            continue;
        }
        let mut seen: Vec<u32> = Vec::new();
        for c in &codes[span] {
            if !seen.contains(c) {
                seen.push(*c);
                *out.entry(Some(dict.values[*c as usize].to_string()))
                    .or_default() += 1;
            }
        }
    }
    out
}
