//! guppy's GraphQL schema, built from the mapping with async-graphql's dynamic schema: a
//! row list per index (`offset`, `first`, `filter`, `sort`, `accessibility`, `format`),
//! `_aggregation` (per index `_totalCount` and per field histograms) and `_mapping`.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputValue, Object, ResolverContext, Scalar, Schema,
    SchemaError, TypeRef,
};
use async_graphql::{Error, ErrorExtensions, Value as GqlValue};
use fixedbitset::FixedBitSet;
use serde_json::{Map, Value};

use crate::agg;
use crate::config::Tier;
use crate::filter::{self, Cond, Missing};
use crate::mapping::{Field as DocField, FieldKind, IndexMapping};
use crate::service::Explorer;
use crate::table::{Column, Table, Values};

/// How deep a query may nest (guppy's `depthLimit(10)`).
pub const MAX_DEPTH: usize = 10;

/// What the resolvers of one request share.
pub struct Request {
    pub explorer: Arc<Explorer>,
    /// Every index's table, read-locked for the request.
    pub tables: Vec<tokio::sync::OwnedRwLockReadGuard<Table>>,
    /// The resource paths the caller may read (`None`: all).
    pub readable: Option<Vec<String>>,
}

/// guppy's refusal of unreadable rows under `regular` tier access.
pub const NO_ACCESS: &str = "You don't have access to all the data you are querying. Try using \
     'accessibility: accessible' in your query";

fn bad_input(msg: impl Into<String>) -> Error {
    Error::new(msg.into()).extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
}

/// guppy's type name: the first letter upper case.
#[must_use]
pub fn type_name(doc_type: &str) -> String {
    let mut c = doc_type.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn json_arg(ctx: &ResolverContext<'_>, name: &str) -> Value {
    ctx.args
        .get(name)
        .and_then(|v| v.as_value().clone().into_json().ok())
        .unwrap_or(Value::Null)
}

fn enum_arg(ctx: &ResolverContext<'_>, name: &str, default: &str) -> String {
    ctx.args
        .get(name)
        .and_then(|v| v.enum_name().ok().map(str::to_owned))
        .unwrap_or_else(|| default.to_owned())
}

fn int_arg(ctx: &ResolverContext<'_>, name: &str) -> Result<Option<i64>, Error> {
    match ctx.args.get(name) {
        None => Ok(None),
        Some(v) if v.is_null() => Ok(None),
        Some(v) => Ok(Some(v.i64()?)),
    }
}

/// What a request may see of an index, and how much of it is hidden: `(rows the caller's
/// filter may reach, rows whose small counts are hidden)`.
struct Scope {
    restrict: Option<FixedBitSet>,
    hidden: Option<FixedBitSet>,
}

fn not(bits: &FixedBitSet) -> FixedBitSet {
    let mut out = bits.clone();
    out.toggle_range(..);
    out
}

/// Apply tier access: for rows (`rows: true`) or aggregations.
fn scope(
    req: &Request,
    index: usize,
    table: &Table,
    accessibility: &str,
    cond: &Cond,
    rows: bool,
) -> Result<Scope, Error> {
    let tier = req.explorer.tier(index);
    if tier == Tier::Libre {
        return Ok(Scope {
            restrict: None,
            hidden: None,
        });
    }
    let ok: FixedBitSet = (*req
        .explorer
        .accessible_rows(index, table, req.readable.as_deref()))
    .clone();
    if tier == Tier::Private {
        return Ok(Scope {
            restrict: Some(ok),
            hidden: None,
        });
    }
    let out_of_scope = || {
        let mut m = cond.rows(table, None);
        m.intersect_with(table.live());
        m.difference_with(&ok);
        !m.is_clear()
    };
    Ok(match (accessibility, rows) {
        ("accessible", _) => Scope {
            restrict: Some(ok),
            hidden: None,
        },
        ("unaccessible", true) | ("all", true) => {
            if out_of_scope() {
                return Err(Error::new(NO_ACCESS).extend_with(|_, e| e.set("code", 401)));
            }
            Scope {
                restrict: None,
                hidden: None,
            }
        }
        ("unaccessible", false) => {
            let hidden = not(&ok);
            Scope {
                restrict: Some(hidden.clone()),
                hidden: Some(hidden),
            }
        }
        _ => Scope {
            restrict: None,
            hidden: Some(not(&ok)),
        },
    })
}

/// The rows of a table a condition matches within a scope.
fn matching(
    table: &Table,
    cond: &Cond,
    skip: Option<&str>,
    restrict: Option<&FixedBitSet>,
) -> FixedBitSet {
    let mut rows = cond.rows(table, skip);
    rows.intersect_with(table.live());
    if let Some(r) = restrict {
        rows.intersect_with(r);
    }
    rows
}

fn missing(req: &Request) -> Missing {
    let c = req.explorer.config();
    Missing {
        include: c.aggs_include_missing_data,
        alias: c.missing_data_alias.clone(),
    }
}

/// Sort keys of a column: each row's first value's rank (missing last).
fn sort_keys(col: &Column, rows: &[usize], desc: bool) -> Vec<u64> {
    match &col.values {
        Values::Keyword { dict, codes } => {
            let mut order: Vec<u32> = (0..u32::try_from(dict.values.len()).unwrap_or(0)).collect();
            order.sort_by(|a, b| dict.values[*a as usize].cmp(&dict.values[*b as usize]));
            let mut rank = vec![0u64; dict.values.len()];
            for (i, c) in order.iter().enumerate() {
                rank[*c as usize] = i as u64;
            }
            rows.iter()
                .map(|r| {
                    let vs = &codes[col.span(*r)];
                    let k = if desc {
                        vs.iter().map(|c| rank[*c as usize]).max()
                    } else {
                        vs.iter().map(|c| rank[*c as usize]).min()
                    };
                    match (k, desc) {
                        (None, _) => u64::MAX,
                        (Some(k), false) => k,
                        (Some(k), true) => u64::MAX - 1 - k,
                    }
                })
                .collect()
        }
        Values::Number(nums) => rows
            .iter()
            .map(|r| {
                let vs = &nums[col.span(*r)];
                let v = if desc {
                    vs.iter().copied().reduce(f64::max)
                } else {
                    vs.iter().copied().reduce(f64::min)
                };
                match v {
                    None => u64::MAX,
                    Some(v) => {
                        // order-preserving bits of an f64
                        let b = v.to_bits();
                        let k = if b >> 63 == 1 { !b } else { b | (1 << 63) };
                        if desc {
                            u64::MAX - 1 - (k >> 1)
                        } else {
                            k >> 1
                        }
                    }
                }
            })
            .collect(),
    }
}

/// guppy's `sort`: `[{field: "asc"|"desc"}]` or `{field: "asc", ...}`.
pub fn parse_sort(v: &Value, table: &Table) -> Result<Vec<(String, bool)>, String> {
    let items: Vec<(String, Value)> = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => {
            let mut out = Vec::new();
            for i in list {
                let Value::Object(o) = i else {
                    return Err("Invalid sort argument".into());
                };
                if o.len() != 1 {
                    return Err("Invalid sort argument".into());
                }
                out.extend(o.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            out
        }
        Value::Object(o) => o.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        _ => return Err("Invalid sort argument".into()),
    };
    items
        .into_iter()
        .map(|(field, order)| {
            let desc = match order.as_str() {
                Some("asc") => false,
                Some("desc") => true,
                _ => return Err("Invalid sort argument".into()),
            };
            if table.column(&field).is_none() {
                return Err("Invalid sort argument".into());
            }
            Ok((field, desc))
        })
        .collect()
}

/// The rows of `rows` in `sort` order (row order when none), `offset` skipped, at most
/// `first` (`None`: all).
#[must_use]
pub fn page(
    table: &Table,
    rows: &FixedBitSet,
    sort: &[(String, bool)],
    offset: usize,
    first: Option<usize>,
) -> Vec<usize> {
    if sort.is_empty() {
        let it = rows.ones().skip(offset);
        return match first {
            Some(n) => it.take(n).collect(),
            None => it.collect(),
        };
    }
    let all: Vec<usize> = rows.ones().collect();
    let keys: Vec<Vec<u64>> = sort
        .iter()
        .filter_map(|(f, desc)| table.column(f).map(|c| sort_keys(c, &all, *desc)))
        .collect();
    let mut idx: Vec<usize> = (0..all.len()).collect();
    let cmp = |a: &usize, b: &usize| {
        for k in &keys {
            match k[*a].cmp(&k[*b]) {
                std::cmp::Ordering::Equal => {}
                o => return o,
            }
        }
        all[*a].cmp(&all[*b])
    };
    let end = first.map_or(idx.len(), |n| (offset + n).min(idx.len()));
    if end < idx.len() && end > 0 {
        idx.select_nth_unstable_by(end - 1, cmp);
        idx.truncate(end);
    }
    idx.sort_unstable_by(cmp);
    idx.into_iter().skip(offset).map(|i| all[i]).collect()
}

fn to_gql(v: &Value) -> FieldValue<'static> {
    FieldValue::value(GqlValue::from_json(v.clone()).unwrap_or(GqlValue::Null))
}

/// A row's (or nested object's) field as GraphQL output.
fn field_value(v: Value, f: &DocField) -> Option<FieldValue<'static>> {
    match (&f.kind, v) {
        (_, Value::Null) => None,
        (FieldKind::Nested(_), Value::Array(items)) => {
            let objs: Vec<FieldValue<'static>> = items
                .into_iter()
                .filter_map(|i| match i {
                    Value::Object(o) => Some(FieldValue::owned_any(o)),
                    _ => None,
                })
                .collect();
            Some(if f.array {
                FieldValue::list(objs)
            } else {
                objs.into_iter().next()?
            })
        }
        (FieldKind::Nested(_), Value::Object(o)) => Some(FieldValue::owned_any(o)),
        (_, Value::Array(items)) if f.array => Some(FieldValue::list(items.iter().map(to_gql))),
        (_, Value::Array(items)) => items.first().map(to_gql),
        (_, v) if f.array => Some(FieldValue::list([to_gql(&v)])),
        (_, v) => Some(to_gql(&v)),
    }
}

fn scalar(kind: &FieldKind) -> &'static str {
    match kind {
        FieldKind::Number => TypeRef::FLOAT,
        _ => TypeRef::STRING,
    }
}

/// The object type of documents (or nested objects) with these fields.
fn row_type(name: &str, fields: &[DocField], types: &mut Vec<Object>) -> Object {
    let mut obj = Object::new(name);
    for f in fields {
        let ty = match &f.kind {
            FieldKind::Nested(sub) => {
                let t = row_type(&f.name, sub, types);
                types.push(t);
                if f.array {
                    TypeRef::named_list(f.name.clone())
                } else {
                    TypeRef::named(f.name.clone())
                }
            }
            k if f.array => TypeRef::named_list(scalar(k)),
            k => TypeRef::named(scalar(k)),
        };
        let field = f.clone();
        obj = obj.field(Field::new(f.name.clone(), ty, move |ctx| {
            let field = field.clone();
            FieldFuture::new(async move {
                let row = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
                Ok(field_value(
                    row.get(&field.name).cloned().unwrap_or(Value::Null),
                    &field,
                ))
            })
        }));
    }
    obj
}

/// The selected fields of a row list (dotted for nested selections).
fn selected(ctx: &ResolverContext<'_>) -> Vec<String> {
    ctx.ctx
        .field()
        .selection_set()
        .map(|f| f.name().to_owned())
        .collect()
}

fn rows_field(index: usize, m: &IndexMapping) -> Field {
    Field::new(
        m.doc_type.clone(),
        TypeRef::named_list(type_name(&m.doc_type)),
        move |ctx| {
            FieldFuture::new(async move {
                let req = ctx.ctx.data::<Request>()?;
                let table = &req.tables[index];
                let cond = filter::compile(&json_arg(&ctx, "filter"), table, &missing(req))
                    .map_err(|e| bad_input(e.0))?;
                let sort = parse_sort(&json_arg(&ctx, "sort"), table).map_err(bad_input)?;
                let offset = int_arg(&ctx, "offset")?.unwrap_or(0).max(0) as usize;
                let first = int_arg(&ctx, "first")?.unwrap_or(10).max(0) as usize;
                let accessibility = enum_arg(&ctx, "accessibility", "all");
                let s = scope(req, index, table, &accessibility, &cond, true)?;
                let rows = matching(table, &cond, None, s.restrict.as_ref());
                let fields = selected(&ctx);
                let list = page(table, &rows, &sort, offset, Some(first))
                    .into_iter()
                    .map(|r| FieldValue::owned_any(table.select(r, &fields)));
                Ok(Some(FieldValue::list(list)))
            })
        },
    )
    .argument(InputValue::new("offset", TypeRef::named(TypeRef::INT)))
    .argument(InputValue::new("first", TypeRef::named(TypeRef::INT)))
    .argument(InputValue::new("filter", TypeRef::named("JSON")))
    .argument(InputValue::new("sort", TypeRef::named("JSON")))
    .argument(
        InputValue::new("accessibility", TypeRef::named("Accessibility"))
            .default_value(GqlValue::Enum(async_graphql::Name::new("all"))),
    )
    .argument(
        InputValue::new("format", TypeRef::named("Format"))
            .default_value(GqlValue::Enum(async_graphql::Name::new("json"))),
    )
}

/// One index's aggregation: its rows under the filter, and what histograms need.
struct AggCtx {
    index: usize,
    cond: Cond,
    /// guppy's `nestedAggFields`: per bucket, the terms of these fields and the documents
    /// lacking those.
    terms_fields: Vec<String>,
    missing_fields: Vec<String>,
    filter_self: bool,
    restrict: Option<FixedBitSet>,
    hidden: Option<FixedBitSet>,
    rows: FixedBitSet,
}

/// One field's histograms.
struct FieldAgg {
    ctx: Arc<AggCtx>,
    column: String,
}

impl FieldAgg {
    fn rows(&self, table: &Table) -> FixedBitSet {
        let leaf = self.column.rsplit('.').next().unwrap_or(&self.column);
        // Without a condition on this field, `filterSelf: false` is the whole filter's rows:
        // no pass over the table again.
        if self.ctx.filter_self || !self.ctx.cond.mentions(leaf) {
            self.ctx.rows.clone()
        } else {
            matching(
                table,
                &self.ctx.cond,
                Some(leaf),
                self.ctx.restrict.as_ref(),
            )
        }
    }
}

/// `-1` for a count of which a small part is hidden.
fn masked(count: u64, hidden: u64, limit: u64, hide: bool) -> i64 {
    if hide && hidden > 0 && hidden < limit {
        -1
    } else {
        i64::try_from(count).unwrap_or(i64::MAX)
    }
}

/// guppy's `nestedAggFields`: `{"termsFields": [...], "missingFields": [...]}`.
fn nested_agg_fields(v: &Value, table: &Table) -> Result<(Vec<String>, Vec<String>), Error> {
    let list = |key: &str| -> Result<Vec<String>, Error> {
        match v.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    let f = i.as_str().ok_or_else(|| {
                        bad_input(format!("nestedAggFields.{key}: field names are strings"))
                    })?;
                    if table.column(f).is_none() {
                        return Err(bad_input(format!(
                            "nestedAggFields.{key}: invalid field {f}"
                        )));
                    }
                    Ok(f.to_owned())
                })
                .collect(),
            Some(_) => Err(bad_input(format!("nestedAggFields.{key}: must be a list"))),
        }
    };
    match v {
        Value::Null => Ok((Vec::new(), Vec::new())),
        Value::Object(_) => Ok((list("termsFields")?, list("missingFields")?)),
        _ => Err(bad_input("nestedAggFields: must be an object")),
    }
}

fn text_buckets(req: &Request, fa: &FieldAgg, table: &Table) -> Vec<FieldValue<'static>> {
    let Some(col) = table.column(&fa.column) else {
        return Vec::new();
    };
    let cfg = req.explorer.config();
    let rows = fa.rows(table);
    let hidden = fa.ctx.hidden.as_ref();
    let sub = !fa.ctx.terms_fields.is_empty() || !fa.ctx.missing_fields.is_empty();
    let terms_of: Vec<(&String, agg::BucketTerms)> = fa
        .ctx
        .terms_fields
        .iter()
        .filter_map(|f| Some((f, agg::sub_terms(col, &rows, table.column(f)?))))
        .collect();
    let missing_of: Vec<(&String, HashMap<Option<String>, u64>)> = fa
        .ctx
        .missing_fields
        .iter()
        .filter_map(|f| Some((f, agg::sub_missing(col, &rows, table.column(f)?))))
        .collect();
    // sub-aggregations turn the missing bucket off, as in guppy
    agg::terms(col, &rows, hidden, cfg.aggs_include_missing_data && !sub)
        .into_iter()
        .map(|t| {
            let mut extra = Map::new();
            if !terms_of.is_empty() {
                let fields: Vec<Value> = terms_of
                    .iter()
                    .map(|(f, per)| {
                        let terms = per.get(&t.key).cloned().unwrap_or_default();
                        let total: u64 = terms.iter().map(|(_, n)| n).sum();
                        let list: Vec<Value> = if terms.is_empty() {
                            vec![serde_json::json!({"key": null, "count": 0})]
                        } else {
                            terms
                                .into_iter()
                                .map(|(k, n)| serde_json::json!({"key": k, "count": n}))
                                .collect()
                        };
                        serde_json::json!({"field": f, "count": total, "terms": list})
                    })
                    .collect();
                extra.insert("termsFields".into(), Value::Array(fields));
            }
            if !missing_of.is_empty() {
                let fields: Vec<Value> = missing_of
                    .iter()
                    .map(|(f, per)| {
                        serde_json::json!({"field": f, "count": per.get(&t.key).copied().unwrap_or(0)})
                    })
                    .collect();
                extra.insert("missingFields".into(), Value::Array(fields));
            }
            let key = t.key.unwrap_or_else(|| cfg.missing_data_alias.clone());
            let white = cfg
                .encrypt_whitelist
                .iter()
                .any(|w| w.eq_ignore_ascii_case(&key));
            let count = masked(
                t.count,
                t.hidden,
                cfg.tier_access_limit,
                hidden.is_some() && !white,
            );
            let mut o = Map::new();
            o.insert("key".into(), Value::String(key));
            o.insert("count".into(), Value::from(count));
            if count >= 0 {
                o.extend(extra);
            }
            FieldValue::owned_any(o)
        })
        .collect()
}

fn number_buckets(
    fa: &FieldAgg,
    table: &Table,
    args: [Option<i64>; 4],
) -> Result<Vec<FieldValue<'static>>, Error> {
    let Some(col) = table.column(&fa.column) else {
        return Ok(Vec::new());
    };
    let [start, end, step, bins] = args.map(|a| a.map(|v| v as f64));
    if let Some(s) = step
        && s <= 0.0
    {
        return Err(bad_input(format!("Invalid rangeStep {s}")));
    }
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(bad_input(format!(
            "Invalid rangeStart ({s}) > rangeEnd ({e})"
        )));
    }
    if let Some(b) = bins
        && b <= 0.0
    {
        return Err(bad_input(format!("Invalid binCount {b}")));
    }
    if step.is_some() && bins.is_some() {
        return Err(bad_input(
            "Invalid to set \"rangeStep\" and \"binCount\" at same time",
        ));
    }
    let rows = fa.rows(table);
    let bucket = |key: [Option<f64>; 2], s: &agg::Stats| {
        let mut o = Map::new();
        let num = |v: Option<f64>| v.map_or(Value::Null, crate::table::number);
        o.insert("key".into(), Value::Array(vec![num(key[0]), num(key[1])]));
        o.insert("count".into(), Value::from(s.count));
        o.insert("min".into(), num(s.min));
        o.insert("max".into(), num(s.max));
        o.insert("avg".into(), num(s.avg()));
        o.insert("sum".into(), crate::table::number(s.sum));
        FieldValue::owned_any(o)
    };
    if step.is_none() && bins.is_none() {
        let s = agg::stats(col, &rows, start, end);
        return Ok(vec![bucket([start.or(s.min), end.or(s.max)], &s)]);
    }
    let (from, to, step) = match (step, bins) {
        (Some(step), _) => (start, end, step),
        (None, Some(bins)) => {
            let s = agg::stats(col, &rows, start, end);
            let (Some(lo), Some(hi)) = (start.or(s.min), end.or(s.max.map(|m| m + 1.0))) else {
                return Ok(Vec::new());
            };
            (Some(lo), Some(hi), (hi - lo) / bins)
        }
        (None, None) => unreachable!("handled above"),
    };
    let offset = from.map_or(0.0, |f| {
        let mut o = f;
        while o - step > 0.0 {
            o -= step;
        }
        o
    });
    Ok(agg::histogram(col, &rows, step, offset, from, to)
        .into_iter()
        .map(|(k, s)| bucket([Some(k), Some(k + step)], &s))
        .collect())
}

/// The field's aggregation a histogram field resolves on, with its table.
fn field_agg<'a>(ctx: &'a ResolverContext<'a>) -> Result<(&'a Table, &'a FieldAgg), Error> {
    let fa = ctx.parent_value.try_downcast_ref::<FieldAgg>()?;
    let req = ctx.ctx.data::<Request>()?;
    Ok((&*req.tables[fa.ctx.index], fa))
}

/// A count over the field's column among the aggregation's rows.
fn count_field(name: &'static str, count: fn(&Column, &FixedBitSet) -> u64) -> Field {
    Field::new(name, TypeRef::named(TypeRef::INT), move |ctx| {
        FieldFuture::new(async move {
            let (table, fa) = field_agg(&ctx)?;
            let n = table
                .column(&fa.column)
                .map_or(0, |c| count(c, &fa.ctx.rows));
            Ok(Some(FieldValue::value(n)))
        })
    })
}

/// The text histogram (`histogram` of text fields, `asTextHistogram` of all).
fn text_histogram_field(name: &'static str) -> Field {
    Field::new(
        name,
        TypeRef::named_list("BucketsForNestedStringAgg"),
        move |ctx| {
            FieldFuture::new(async move {
                let req = ctx.ctx.data::<Request>()?;
                let (table, fa) = field_agg(&ctx)?;
                Ok(Some(FieldValue::list(text_buckets(req, fa, table))))
            })
        },
    )
}

fn histogram_type(name: &str, number: bool) -> Object {
    let obj = Object::new(name)
        .field(count_field("_totalCount", agg::value_count))
        .field(
            count_field("_cardinalityCount", agg::cardinality).argument(
                InputValue::new("precision_threshold", TypeRef::named(TypeRef::INT))
                    .default_value(3000),
            ),
        )
        .field(text_histogram_field("asTextHistogram"));
    if !number {
        return obj.field(text_histogram_field("histogram"));
    }
    obj.field(
        Field::new(
            "histogram",
            TypeRef::named_list("BucketsForNestedNumberAgg"),
            move |ctx| {
                FieldFuture::new(async move {
                    let args = [
                        int_arg(&ctx, "rangeStart")?,
                        int_arg(&ctx, "rangeEnd")?,
                        int_arg(&ctx, "rangeStep")?,
                        int_arg(&ctx, "binCount")?,
                    ];
                    let (table, fa) = field_agg(&ctx)?;
                    Ok(Some(FieldValue::list(number_buckets(fa, table, args)?)))
                })
            },
        )
        .argument(InputValue::new("rangeStart", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("rangeEnd", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("rangeStep", TypeRef::named(TypeRef::INT)))
        .argument(InputValue::new("binCount", TypeRef::named(TypeRef::INT))),
    )
}

/// A field of a JSON object; objects (and lists of them) stay objects for their own fields.
fn map_field(name: &'static str, ty: TypeRef) -> Field {
    fn out(v: &Value) -> FieldValue<'static> {
        match v {
            Value::Object(o) => FieldValue::owned_any(o.clone()),
            Value::Array(items) if items.iter().any(Value::is_object) => {
                FieldValue::list(items.iter().map(out))
            }
            v => to_gql(v),
        }
    }
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let o = ctx.parent_value.try_downcast_ref::<Map<String, Value>>()?;
            Ok(o.get(name).filter(|v| !v.is_null()).map(out))
        })
    })
}

/// The aggregation type of an index's (or a nested field's) fields.
fn aggregation_type(
    name: &str,
    prefix: &str,
    fields: &[DocField],
    regular: bool,
    top: bool,
    types: &mut Vec<Object>,
) -> Object {
    let mut obj = Object::new(name);
    if top {
        obj = obj.field(Field::new(
            "_totalCount",
            TypeRef::named(TypeRef::INT),
            |ctx| {
                FieldFuture::new(async move {
                    let a = ctx.parent_value.try_downcast_ref::<Arc<AggCtx>>()?;
                    let req = ctx.ctx.data::<Request>()?;
                    let total = a.rows.count_ones(..) as u64;
                    let hidden = a
                        .hidden
                        .as_ref()
                        .map_or(0, |h| a.rows.intersection(h).count() as u64);
                    let limit = req.explorer.config().tier_access_limit;
                    Ok(Some(FieldValue::value(masked(
                        total,
                        hidden,
                        limit,
                        a.hidden.is_some(),
                    ))))
                })
            },
        ));
    }
    let prefix_type = if regular { "RegularAccess" } else { "" };
    for f in fields {
        let column = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let ty = match &f.kind {
            FieldKind::Nested(sub) => {
                let tn = format!("NestedHistogramFor{}", type_name(&f.name));
                let t = aggregation_type(&tn, &column, sub, regular, false, types);
                types.push(t);
                tn
            }
            FieldKind::Number => format!("{prefix_type}HistogramForNumber"),
            FieldKind::Keyword => format!("{prefix_type}HistogramForString"),
        };
        obj = obj.field(Field::new(f.name.clone(), TypeRef::named(ty), move |ctx| {
            let column = column.clone();
            FieldFuture::new(async move {
                let a = if let Ok(a) = ctx.parent_value.try_downcast_ref::<Arc<AggCtx>>() {
                    Arc::clone(a)
                } else {
                    Arc::clone(&ctx.parent_value.try_downcast_ref::<FieldAgg>()?.ctx)
                };
                Ok(Some(FieldValue::owned_any(FieldAgg { ctx: a, column })))
            })
        }));
    }
    obj
}

fn aggregation_field(index: usize, m: &IndexMapping) -> Field {
    Field::new(
        m.doc_type.clone(),
        TypeRef::named(format!("{}Aggregation", type_name(&m.doc_type))),
        move |ctx| {
            FieldFuture::new(async move {
                let req = ctx.ctx.data::<Request>()?;
                let table = &req.tables[index];
                let cond = filter::compile(&json_arg(&ctx, "filter"), table, &missing(req))
                    .map_err(|e| bad_input(e.0))?;
                let filter_self = ctx
                    .args
                    .get("filterSelf")
                    .and_then(|v| v.boolean().ok())
                    .unwrap_or(true);
                let accessibility = enum_arg(&ctx, "accessibility", "all");
                let (terms_fields, missing_fields) =
                    nested_agg_fields(&json_arg(&ctx, "nestedAggFields"), table)?;
                let s = scope(req, index, table, &accessibility, &cond, false)?;
                let rows = matching(table, &cond, None, s.restrict.as_ref());
                Ok(Some(FieldValue::owned_any(Arc::new(AggCtx {
                    index,
                    cond,
                    terms_fields,
                    missing_fields,
                    filter_self,
                    restrict: s.restrict,
                    hidden: s.hidden,
                    rows,
                }))))
            })
        },
    )
    .argument(InputValue::new("filter", TypeRef::named("JSON")))
    .argument(InputValue::new("filterSelf", TypeRef::named(TypeRef::BOOLEAN)).default_value(true))
    .argument(InputValue::new("nestedAggFields", TypeRef::named("JSON")))
    .argument(
        InputValue::new("accessibility", TypeRef::named("Accessibility"))
            .default_value(GqlValue::Enum(async_graphql::Name::new("all"))),
    )
}

/// Field names as guppy's `_mapping` lists them: top-level fields and nested leaves, dotted.
#[must_use]
pub fn mapping_names(fields: &[DocField], prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    for f in fields {
        let name = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        match &f.kind {
            FieldKind::Nested(sub) => out.extend(mapping_names(sub, &name)),
            _ => out.push(name),
        }
    }
    out
}

/// The schema of an explorer's mapping.
pub fn build(explorer: &Explorer) -> Result<Schema, SchemaError> {
    let mapping = explorer.mapping();
    let mut types: Vec<Object> = Vec::new();
    let mut query = Object::new("Query");
    let mut aggregation = Object::new("Aggregation");
    let mut mapping_type = Object::new("Mapping");
    for (i, m) in mapping.indices.iter().enumerate() {
        if !explorer.config().serves(&m.doc_type) {
            continue;
        }
        let row = row_type(&type_name(&m.doc_type), &m.fields, &mut types).field(Field::new(
            "_matched",
            TypeRef::named_list("MatchedItem"),
            |_| FieldFuture::new(async { Ok(None::<FieldValue<'static>>) }),
        ));
        types.push(row);
        query = query.field(rows_field(i, m));
        let regular = explorer.tier(i) == Tier::Regular;
        let agg_name = format!("{}Aggregation", type_name(&m.doc_type));
        let t = aggregation_type(&agg_name, "", &m.fields, regular, true, &mut types);
        types.push(t);
        aggregation = aggregation.field(aggregation_field(i, m));
        let names = mapping_names(&m.fields, "");
        mapping_type = mapping_type.field(
            Field::new(
                m.doc_type.clone(),
                TypeRef::named_list(TypeRef::STRING),
                move |ctx| {
                    let names = names.clone();
                    FieldFuture::new(async move {
                        let pattern = match ctx.args.get("searchInput") {
                            Some(v) if !v.is_null() => {
                                Some(regex::Regex::new(v.string()?).map_err(|e| {
                                    Error::new(format!("Invalid regular expression: {e}"))
                                })?)
                            }
                            _ => None,
                        };
                        Ok(Some(FieldValue::list(
                            names
                                .into_iter()
                                .filter(|n| pattern.as_ref().is_none_or(|p| p.is_match(n)))
                                .map(FieldValue::value),
                        )))
                    })
                },
            )
            .argument(InputValue::new(
                "searchInput",
                TypeRef::named(TypeRef::STRING),
            )),
        );
    }
    query = query
        .field(Field::new(
            "_aggregation",
            TypeRef::named("Aggregation"),
            |_| FieldFuture::new(async { Ok(Some(FieldValue::owned_any(()))) }),
        ))
        .field(Field::new("_mapping", TypeRef::named("Mapping"), |_| {
            FieldFuture::new(async { Ok(Some(FieldValue::owned_any(()))) })
        }));
    // a bucket's sub-aggregations (nestedAggFields), on both kinds of bucket
    let with_subs = |o: Object| {
        o.field(map_field(
            "missingFields",
            TypeRef::named_list("BucketsForNestedMissingFields"),
        ))
        .field(map_field(
            "termsFields",
            TypeRef::named_list("BucketsForNestedTermsFields"),
        ))
    };
    let string_bucket = with_subs(
        Object::new("BucketsForNestedStringAgg")
            .field(map_field("key", TypeRef::named(TypeRef::STRING)))
            .field(map_field("count", TypeRef::named(TypeRef::INT))),
    );
    let number_bucket = with_subs(
        Object::new("BucketsForNestedNumberAgg")
            .field(map_field("key", TypeRef::named_list(TypeRef::FLOAT)))
            .field(map_field("min", TypeRef::named(TypeRef::FLOAT)))
            .field(map_field("max", TypeRef::named(TypeRef::FLOAT)))
            .field(map_field("avg", TypeRef::named(TypeRef::FLOAT)))
            .field(map_field("sum", TypeRef::named(TypeRef::FLOAT)))
            .field(map_field("count", TypeRef::named(TypeRef::INT))),
    );
    let missing_fields = Object::new("BucketsForNestedMissingFields")
        .field(map_field("field", TypeRef::named(TypeRef::STRING)))
        .field(map_field("count", TypeRef::named(TypeRef::INT)));
    let terms_fields = Object::new("BucketsForNestedTermsFields")
        .field(map_field("field", TypeRef::named(TypeRef::STRING)))
        .field(map_field("count", TypeRef::named(TypeRef::INT)))
        .field(map_field("terms", TypeRef::named_list("BucketsForString")));
    let string_count = Object::new("BucketsForString")
        .field(map_field("key", TypeRef::named(TypeRef::STRING)))
        .field(map_field("count", TypeRef::named(TypeRef::INT)));
    let matched = Object::new("MatchedItem")
        .field(map_field("field", TypeRef::named(TypeRef::STRING)))
        .field(map_field(
            "highlights",
            TypeRef::named_list(TypeRef::STRING),
        ));
    let mut builder = Schema::build("Query", None, None)
        .register(Scalar::new("JSON"))
        .register(Enum::new("Accessibility").items(["all", "accessible", "unaccessible"]))
        .register(Enum::new("Format").items(["json", "tsv", "csv"]))
        .register(histogram_type("HistogramForString", false))
        .register(histogram_type("HistogramForNumber", true))
        .register(histogram_type("RegularAccessHistogramForString", false))
        .register(histogram_type("RegularAccessHistogramForNumber", true))
        .register(string_bucket)
        .register(number_bucket)
        .register(missing_fields)
        .register(terms_fields)
        .register(string_count)
        .register(matched)
        .register(aggregation)
        .register(mapping_type)
        .limit_depth(MAX_DEPTH);
    for t in types {
        builder = builder.register(t);
    }
    builder.register(query).finish()
}
