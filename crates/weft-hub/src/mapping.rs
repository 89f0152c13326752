//! Normalization of pulled metadata, as aggregate MDS does it: the gen3 adapter's field
//! mappings (literals, `path:` JSONPaths, `{path, default, filters, filterParams}`), field
//! filters, schema defaults and type coercion, `per_item_values`; then for every commons
//! `select_field`, the study-field rename, `columns_to_fields` and `commons_name`.
//!
//! Pure functions over `serde_json` values: no I/O.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};
use serde_json_path::JsonPath;
use weft_config::hub::{AdapterCommons, AggFile, Gen3Commons, SelectField};

use crate::HubError;

/// The study field every aggregated document uses.
pub const STUDY_FIELD: &str = "gen3_discovery";
/// The variable-level (data dictionary) field of aggregated documents.
pub const DATA_DICT_FIELD: &str = "data_dictionaries";

/// A field filter (aggregate MDS's `FieldFilters`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    StripHtml,
    StripEmail,
    StripLeadingDoubleUnderscore,
    AddIcpsrSourceUrl,
    AddClinicalTrialsSourceUrl,
    Uppercase,
    PrepareCidcDescription,
    AggregatePdcFileCount,
    NormalizeValue,
    NormalizeTags,
}

/// Every filter served, by its configuration name.
pub const FILTERS: &[(&str, Filter)] = &[
    ("strip_html", Filter::StripHtml),
    ("strip_email", Filter::StripEmail),
    (
        "strip_leading_double_underscore",
        Filter::StripLeadingDoubleUnderscore,
    ),
    ("add_icpsr_source_url", Filter::AddIcpsrSourceUrl),
    (
        "add_clinical_trials_source_url",
        Filter::AddClinicalTrialsSourceUrl,
    ),
    ("uppercase", Filter::Uppercase),
    ("prepare_cidc_description", Filter::PrepareCidcDescription),
    ("aggregate_pdc_file_count", Filter::AggregatePdcFileCount),
    ("normalize_value", Filter::NormalizeValue),
    ("normalize_tags", Filter::NormalizeTags),
];

impl Filter {
    /// A filter by its configuration name.
    pub fn parse(name: &str) -> Result<Self, HubError> {
        FILTERS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let names: Vec<&str> = FILTERS.iter().map(|(n, _)| *n).collect();
                HubError::Config(format!(
                    "unknown field filter {name:?} (served: {})",
                    names.join(", ")
                ))
            })
    }

    /// Apply the filter; values it does not apply to pass unchanged.
    #[must_use]
    pub fn apply(self, value: Value, params: Option<&Value>) -> Value {
        match (self, value) {
            (Self::StripHtml, Value::String(s)) => Value::String(strip_html(&s)),
            (Self::StripEmail, Value::String(s)) => Value::String(strip_email(&s)),
            (Self::Uppercase, Value::String(s)) => Value::String(s.to_uppercase()),
            (Self::AddIcpsrSourceUrl, Value::String(s)) => Value::String(format!(
                "https://www.icpsr.umich.edu/web/NAHDAP/studies/{s}"
            )),
            (Self::AddClinicalTrialsSourceUrl, Value::String(s)) => {
                Value::String(format!("https://clinicaltrials.gov/ct2/show/{s}"))
            }
            (Self::PrepareCidcDescription, Value::String(s)) => {
                let s = s.replace(['\t', '\n'], "");
                Value::String(s.replace("&nbsp;", " ").replace("&thinsp;", " "))
            }
            (Self::StripLeadingDoubleUnderscore, Value::Object(m)) => {
                Value::Object(rename_double_underscore(m))
            }
            (Self::StripLeadingDoubleUnderscore, Value::Array(items)) => Value::Array(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::Object(m) => Value::Object(rename_double_underscore(m)),
                        other => other,
                    })
                    .collect(),
            ),
            (Self::AggregatePdcFileCount, Value::Array(items)) => {
                let total: i64 = items
                    .iter()
                    .filter_map(|i| i.get("files_count").and_then(Value::as_i64))
                    .sum();
                json!(total)
            }
            (Self::AggregatePdcFileCount, Value::Null) => json!(0),
            (Self::NormalizeValue, Value::String(s)) => {
                match params.and_then(|p| p.get(&s)).cloned() {
                    Some(v) => v,
                    None => Value::String(s),
                }
            }
            (Self::NormalizeTags, Value::Array(tags)) => {
                let Some(Value::Object(mapping)) = params else {
                    return Value::Array(tags);
                };
                Value::Array(
                    tags.into_iter()
                        .map(|t| normalize_tag(t, mapping))
                        .collect(),
                )
            }
            (_, v) => v,
        }
    }
}

fn normalize_tag(tag: Value, mapping: &Map<String, Value>) -> Value {
    let Value::Object(mut t) = tag else {
        return tag;
    };
    let (Some(Value::String(cat)), Some(Value::String(name))) = (t.get("category"), t.get("name"))
    else {
        return Value::Object(t);
    };
    if let Some(new) = mapping.get(cat).and_then(|m| m.get(name)).cloned() {
        t.insert("name".into(), new);
    }
    Value::Object(t)
}

fn rename_double_underscore(m: Map<String, Value>) -> Map<String, Value> {
    m.into_iter()
        .map(|(k, v)| {
            let renamed = match k.strip_prefix("__") {
                Some(rest) if !rest.is_empty() && !rest.starts_with('_') => format!("_{rest}"),
                _ => k,
            };
            (renamed, v)
        })
        .collect()
}

static TAG: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"<[^>]*>").ok());
static EMAIL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[\w.+-]+@[\w-]+\.[\w.-]+").ok());

/// Remove HTML tags, keeping their text.
#[must_use]
pub fn strip_html(s: &str) -> String {
    match TAG.as_ref() {
        Some(re) => re.replace_all(s, "").into_owned(),
        None => s.to_owned(),
    }
}

/// Remove email addresses.
#[must_use]
pub fn strip_email(s: &str) -> String {
    match EMAIL.as_ref() {
        Some(re) => re.replace_all(s, "").into_owned(),
        None => s.to_owned(),
    }
}

/// A JSONPath as aggregate MDS writes them (`study_title`, `a.b[0].c`, or `$...`) in
/// RFC 9535 form.
pub fn json_path(expr: &str) -> Result<JsonPath, HubError> {
    let expr = expr.trim();
    let normalized = if expr.starts_with('$') {
        expr.to_owned()
    } else {
        let mut out = String::from("$");
        for segment in expr.split('.') {
            let (name, rest) = match segment.find('[') {
                Some(i) => segment.split_at(i),
                None => (segment, ""),
            };
            if name == "*" {
                out.push_str("[*]");
            } else if !name.is_empty() {
                let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
                out.push_str(&format!("['{quoted}']"));
            }
            out.push_str(rest);
        }
        out
    };
    JsonPath::parse(&normalized)
        .map_err(|e| HubError::Config(format!("bad JSONPath {expr:?}: {e}")))
}

/// One schema field (aggregate MDS's `FieldDefinition`).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDef {
    pub kind: String,
    pub description: String,
    pub default: Option<Value>,
    pub properties: Option<Vec<(String, FieldDef)>>,
    pub items: Option<Value>,
}

impl FieldDef {
    fn parse(v: &Value) -> Self {
        let props = v.get("properties").and_then(Value::as_object).map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), Self::parse(v)))
                .collect::<Vec<_>>()
        });
        Self {
            kind: v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_owned(),
            description: v
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            default: v.get("default").filter(|d| !d.is_null()).cloned(),
            properties: props,
            items: v.get("items").cloned(),
        }
    }

    /// The JSON-schema form served at `/mds/aggregate/info/schema`.
    #[must_use]
    pub fn to_schema(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), json!(self.kind));
        if let Some(props) = &self.properties {
            let p: Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), v.to_schema()))
                .collect();
            m.insert("properties".into(), Value::Object(p));
        }
        if let Some(items) = &self.items {
            m.insert("items".into(), items.clone());
        }
        m.insert("description".into(), json!(self.description));
        if let Some(d) = &self.default {
            m.insert("default".into(), d.clone());
        }
        Value::Object(m)
    }

    /// Coerce a value to the field's type where aggregate MDS has a converter (string →
    /// integer/number/object/array, object → array, array → string); other values pass
    /// unchanged, and a failed conversion gives null.
    #[must_use]
    pub fn coerce(&self, value: Value) -> Value {
        let have = match &value {
            Value::String(_) => "string",
            Value::Number(n) if n.is_f64() => "float",
            Value::Number(_) => "integer",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Bool(_) => "bool",
            Value::Null => "null",
        };
        if have == self.kind {
            return value;
        }
        match (value, self.kind.as_str()) {
            (Value::String(s), "integer") => {
                // Python's str.isnumeric: digits only, no sign
                if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
                    s.parse::<i64>().map_or(Value::Null, |i| json!(i))
                } else {
                    Value::Null
                }
            }
            (Value::String(s), "number") => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or(Value::Null, Value::Number),
            (Value::String(s), "object") => serde_json::from_str(&s).unwrap_or(Value::Null),
            (Value::String(s), "array") => {
                if s.is_empty() {
                    json!([])
                } else {
                    json!([s])
                }
            }
            (Value::Object(m), "array") => json!([m]),
            (Value::Array(items), "string") => Value::String(
                items
                    .iter()
                    .map(|i| match i {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect(),
            ),
            (v, _) => v,
        }
    }
}

/// The configuration's schema, in order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schema(pub Vec<(String, FieldDef)>);

impl Schema {
    #[must_use]
    pub fn parse(raw: &Map<String, Value>) -> Self {
        Self(
            raw.iter()
                .map(|(k, v)| (k.clone(), FieldDef::parse(v)))
                .collect(),
        )
    }

    #[must_use]
    pub fn get(&self, field: &str) -> Option<&FieldDef> {
        self.0.iter().find(|(k, _)| k == field).map(|(_, v)| v)
    }

    /// `{field: json schema}`, as `/mds/aggregate/info/schema` serves it.
    #[must_use]
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_schema()))
                .collect(),
        )
    }
}

/// How one normalized field gets its value.
#[derive(Debug, Clone)]
pub enum Mapping {
    Literal(Value),
    /// `"path:<expr>"`: the value there, else the schema default.
    Path(JsonPath),
    /// `{path, default, filters, filterParams}`.
    Complex {
        path: Option<JsonPath>,
        default: Option<Value>,
        filters: Vec<(Filter, Option<Value>)>,
    },
}

impl Mapping {
    fn parse(v: &Value) -> Result<Self, HubError> {
        match v {
            Value::String(s) if s.contains("path:") => {
                let expr = s.split_once("path:").map_or("", |(_, e)| e);
                Ok(Self::Path(json_path(expr)?))
            }
            Value::Object(m) => {
                let path = m
                    .get("path")
                    .and_then(Value::as_str)
                    .map(json_path)
                    .transpose()?;
                let params = m.get("filterParams").and_then(Value::as_object);
                let filters = match m.get("filters") {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(names)) => names
                        .iter()
                        .map(|n| {
                            let name = n.as_str().ok_or_else(|| {
                                HubError::Config(format!("filter names are strings, not {n}"))
                            })?;
                            Ok((
                                Filter::parse(name)?,
                                params.and_then(|p| p.get(name)).cloned(),
                            ))
                        })
                        .collect::<Result<_, HubError>>()?,
                    Some(other) => {
                        return Err(HubError::Config(format!(
                            "`filters` must be a list of names, not {other}"
                        )));
                    }
                };
                Ok(Self::Complex {
                    path,
                    default: m.get("default").cloned(),
                    filters,
                })
            }
            other => Ok(Self::Literal(other.clone())),
        }
    }
}

/// The first match of a path, all matches as a list when there are several, `None` when
/// none.
fn path_value(path: &JsonPath, item: &Value) -> Option<Value> {
    let nodes = path.query(item).all();
    match nodes.len() {
        0 => None,
        1 => Some(nodes[0].clone()),
        _ => Some(Value::Array(nodes.into_iter().cloned().collect())),
    }
}

/// Set `key` (dots nest) in `out`, creating objects on the way.
fn set_path(out: &mut Map<String, Value>, key: &str, value: Value) {
    let mut parts = key.split('.').peekable();
    let mut cur = out;
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(p.to_owned(), value);
            return;
        }
        let slot = cur
            .entry(p.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        cur = next;
    }
}

/// `column_to_fields` entry: copy a field, or `{name, default}`.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnMap {
    Field(String),
    WithDefault { name: String, default: Value },
}

/// Everything needed to pull and normalize one commons.
#[derive(Debug, Clone)]
pub struct CommonsSpec {
    /// The configuration entry's name.
    pub name: String,
    pub mds_url: String,
    pub commons_url: String,
    /// The studies' `commons_name`.
    pub commons_name: String,
    pub guid_type: String,
    /// Where the study sits in a pulled record.
    pub study_field: String,
    /// Where the variable-level metadata sits in a pulled record, if anywhere.
    pub data_dict_field: Option<String>,
    pub page_size: u32,
    pub max_items: Option<u64>,
    /// Appended to each page URL (`&k=v...`).
    pub extra_query: String,
    pub select_field: Option<SelectField>,
    pub columns_to_fields: Vec<(String, ColumnMap)>,
    /// The gen3 adapter's field mappings; `None` keeps the study as pulled.
    pub mappings: Option<Vec<(String, Mapping)>>,
    pub keep_original_fields: bool,
    pub global_filters: Vec<Filter>,
    pub per_item_values: Map<String, Value>,
    pub drs_prefixes: Vec<String>,
    pub drs_hostname: String,
}

/// The `host[:port]` of `url` (the port only when not the scheme's default), parsed by
/// `url` (re-exported by reqwest); the URL itself if it does not parse.
fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_owned();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_owned())
}

impl CommonsSpec {
    fn from_gen3(name: &str, c: &Gen3Commons) -> Result<Self, HubError> {
        let columns_to_fields = c
            .columns_to_fields
            .iter()
            .flatten()
            .map(|(col, v)| {
                let map = match v {
                    Value::String(f) => ColumnMap::Field(f.clone()),
                    Value::Object(m) => ColumnMap::WithDefault {
                        name: m
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                HubError::Config(format!(
                                    "commons {name:?}: columns_to_fields.{col} needs a name"
                                ))
                            })?
                            .to_owned(),
                        default: m.get("default").cloned().unwrap_or(json!("")),
                    },
                    other => {
                        return Err(HubError::Config(format!(
                            "commons {name:?}: columns_to_fields.{col} is {other}, not a \
                             field name or {{name, default}}"
                        )));
                    }
                };
                Ok((col.clone(), map))
            })
            .collect::<Result<_, HubError>>()?;
        Ok(Self {
            name: name.to_owned(),
            mds_url: c.mds_url.clone(),
            commons_url: c.commons_url.clone(),
            commons_name: name.to_owned(),
            guid_type: c.guid_type.clone(),
            study_field: c.study_data_field.clone(),
            data_dict_field: c.data_dict_field.clone(),
            page_size: 1000,
            max_items: None,
            extra_query: String::new(),
            select_field: c.select_field.clone(),
            columns_to_fields,
            mappings: None,
            keep_original_fields: true,
            global_filters: Vec::new(),
            per_item_values: Map::new(),
            drs_prefixes: c.drs_prefixes.clone(),
            drs_hostname: c
                .drs_hostname
                .clone()
                .unwrap_or_else(|| host_of(&c.mds_url)),
        })
    }

    fn from_adapter(name: &str, c: &AdapterCommons) -> Result<Self, HubError> {
        let o = &c.config;
        let mut extra = String::new();
        if let Some(f) = o.filters.as_deref().filter(|f| !f.is_empty()) {
            extra.push('&');
            extra.push_str(f);
        }
        if let (Some(n), Some(v)) = (&o.field_name, &o.field_value) {
            extra.push_str(&format!("&{}.{n}={v}", o.guid_type));
        }
        let mappings = c
            .field_mappings
            .as_ref()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        Mapping::parse(v)
                            .map(|m| (k.clone(), m))
                            .map_err(|e| HubError::Config(format!("commons {name:?}: {k}: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let global_filters = c
            .global_field_filters
            .iter()
            .map(|f| Filter::parse(f))
            .collect::<Result<_, _>>()
            .map_err(|e| HubError::Config(format!("commons {name:?}: {e}")))?;
        Ok(Self {
            name: name.to_owned(),
            mds_url: c.mds_url.clone(),
            commons_url: c.commons_url.clone(),
            commons_name: c.commons_name.clone().unwrap_or_else(|| name.to_owned()),
            guid_type: o.guid_type.clone(),
            study_field: o.study_field.clone(),
            data_dict_field: o
                .data_dict_field
                .clone()
                .or_else(|| c.data_dict_field.clone()),
            page_size: o.batch_size,
            max_items: o.max_items,
            extra_query: extra,
            select_field: None,
            columns_to_fields: Vec::new(),
            mappings,
            keep_original_fields: c.keep_original_fields,
            global_filters,
            per_item_values: c.per_item_values.clone().unwrap_or_default(),
            drs_prefixes: c.drs_prefixes.clone(),
            drs_hostname: c
                .drs_hostname
                .clone()
                .unwrap_or_else(|| host_of(&c.mds_url)),
        })
    }

    /// The info document served for this commons.
    #[must_use]
    pub fn info(&self) -> Value {
        json!({"commons_url": self.commons_url})
    }

    /// The URL of one page of the commons' metadata.
    #[must_use]
    pub fn page_url(&self, limit: u64, offset: u64) -> String {
        format!(
            "{}/mds/metadata?data=True&_guid_type={}&limit={limit}&offset={offset}{}",
            self.mds_url.trim_end_matches('/'),
            self.guid_type,
            self.extra_query
        )
    }
}

/// Every configured commons, and the schema.
pub fn specs(file: &AggFile) -> Result<(Vec<CommonsSpec>, Schema), HubError> {
    let mut out = Vec::new();
    for (name, c) in &file.gen3_commons {
        out.push(CommonsSpec::from_gen3(name, c)?);
    }
    for (name, c) in &file.adapter_commons {
        out.push(CommonsSpec::from_adapter(name, c)?);
    }
    Ok((out, Schema::parse(&file.configuration.schema)))
}

/// One normalized study: its GUID and stored document.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub guid: String,
    /// `{"gen3_discovery": {...}, "data_dictionaries"?: ...}`.
    pub doc: Value,
}

/// The gen3 adapter's field mapping of one study.
#[must_use]
pub fn map_fields(
    item: &Value,
    mappings: &[(String, Mapping)],
    global: &[Filter],
    schema: &Schema,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (key, mapping) in mappings {
        let field = schema.get(key);
        let schema_default = field.and_then(|f| f.default.clone());
        let (value, default) = match mapping {
            Mapping::Literal(v) => (Some(v.clone()), None),
            Mapping::Path(p) => (path_value(p, item), schema_default),
            Mapping::Complex {
                path,
                default,
                filters,
            } => {
                let default = default.clone().or(schema_default);
                let mut v = path.as_ref().and_then(|p| path_value(p, item));
                if v.is_none() {
                    v.clone_from(&default);
                }
                let mut v = v.unwrap_or(Value::Null);
                for (f, params) in filters {
                    v = f.apply(v, params.as_ref());
                }
                (Some(v), default)
            }
        };
        let mut v = match value {
            Some(v) => v,
            None => default.clone().unwrap_or(Value::Null),
        };
        for f in global {
            v = f.apply(v, None);
        }
        if let Some(f) = field {
            v = f.coerce(v);
        }
        if v.is_null()
            && let Some(d) = default
        {
            v = d;
        }
        set_path(&mut out, key, v);
    }
    out
}

/// Normalize one commons' pulled records (`{guid: record}`) into stored documents.
#[must_use]
pub fn normalize(
    spec: &CommonsSpec,
    schema: &Schema,
    records: Map<String, Value>,
) -> Vec<Normalized> {
    let mut out = Vec::with_capacity(records.len());
    for (guid, record) in records {
        let Value::Object(mut record) = record else {
            continue;
        };
        let Some(Value::Object(study)) = record.remove(&spec.study_field) else {
            continue;
        };
        let mut study = match &spec.mappings {
            None => study,
            Some(m) => {
                let mapped = map_fields(
                    &Value::Object(study.clone()),
                    m,
                    &spec.global_filters,
                    schema,
                );
                if spec.keep_original_fields {
                    let mut s = study;
                    s.extend(mapped);
                    s
                } else {
                    mapped
                }
            }
        };
        if let Some(Value::Object(values)) = spec.per_item_values.get(&guid) {
            for (k, v) in values {
                if study.contains_key(k) {
                    study.insert(k.clone(), v.clone());
                }
            }
        }
        if let Some(sel) = &spec.select_field
            && study.get(&sel.field_name) != Some(&sel.field_value)
        {
            continue;
        }
        for (column, map) in &spec.columns_to_fields {
            match map {
                ColumnMap::Field(f) if f == column => {}
                ColumnMap::Field(f) => {
                    if let Some(v) = study.get(f).cloned() {
                        study.insert(column.clone(), v);
                    }
                }
                ColumnMap::WithDefault { name, default } => {
                    let v = study.get(name).cloned().unwrap_or_else(|| default.clone());
                    study.insert(column.clone(), v);
                }
            }
        }
        study.insert("commons_name".into(), json!(spec.commons_name));
        let mut doc = Map::new();
        doc.insert(STUDY_FIELD.into(), Value::Object(study));
        if let Some(f) = &spec.data_dict_field
            && let Some(dd) = record.remove(f)
        {
            doc.insert(DATA_DICT_FIELD.into(), dd);
        }
        out.push(Normalized {
            guid,
            doc: Value::Object(doc),
        });
    }
    out
}

/// Tag counts of one category: how many tags, and how many per name.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TagCounts {
    pub total: u64,
    pub names: BTreeMap<String, u64>,
}

/// `{category: counts}` over studies' `gen3_discovery.tags` (one count per tag object, as
/// aggregate MDS's nested aggregation counts them).
#[must_use]
pub fn tag_summary<'a>(docs: impl IntoIterator<Item = &'a Value>) -> BTreeMap<String, TagCounts> {
    let mut out: BTreeMap<String, TagCounts> = BTreeMap::new();
    for doc in docs {
        let Some(Value::Array(tags)) = doc.get(STUDY_FIELD).and_then(|s| s.get("tags")) else {
            continue;
        };
        for t in tags {
            let Some(cat) = t.get("category").and_then(Value::as_str) else {
                continue;
            };
            let c = out.entry(cat.to_owned()).or_default();
            c.total += 1;
            if let Some(name) = t.get("name").and_then(Value::as_str) {
                *c.names.entry(name.to_owned()).or_default() += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::parse(
            json!({
                "_subjects_count": {"type": "integer"},
                "year": {"default": "not_set"},
                "tags": {"type": "array"},
                "__manifest": {"type": "array", "description": "files",
                               "properties": {"file_size": {"type": "integer"}}},
                "score": {"type": "number"},
                "meta": {"type": "object"},
                "joined": {"type": "string"}
            })
            .as_object()
            .unwrap(),
        )
    }

    #[test]
    fn filters() {
        let s = |v: &str| json!(v);
        let cases: Vec<(Filter, Value, Option<Value>, Value)> = vec![
            (
                Filter::StripHtml,
                s("<p>Hello <b>world</b></p>"),
                None,
                s("Hello world"),
            ),
            (
                Filter::StripEmail,
                s("ask a.b+c@x-y.org now"),
                None,
                s("ask  now"),
            ),
            (Filter::Uppercase, s("abc"), None, s("ABC")),
            (Filter::Uppercase, json!(3), None, json!(3)),
            (
                Filter::AddClinicalTrialsSourceUrl,
                s("NCT1"),
                None,
                s("https://clinicaltrials.gov/ct2/show/NCT1"),
            ),
            (
                Filter::AddIcpsrSourceUrl,
                s("7"),
                None,
                s("https://www.icpsr.umich.edu/web/NAHDAP/studies/7"),
            ),
            (
                Filter::PrepareCidcDescription,
                s("a\tb\nc&nbsp;d"),
                None,
                s("abc d"),
            ),
            (
                Filter::StripLeadingDoubleUnderscore,
                json!([{"__manifest": 1, "___x": 2, "_y": 3}, 4]),
                None,
                json!([{"_manifest": 1, "___x": 2, "_y": 3}, 4]),
            ),
            (
                Filter::AggregatePdcFileCount,
                json!([{"files_count": 2}, {"files_count": 5}]),
                None,
                json!(7),
            ),
            (
                Filter::NormalizeValue,
                s("M"),
                Some(json!({"M": "Male"})),
                s("Male"),
            ),
            (
                Filter::NormalizeValue,
                s("F"),
                Some(json!({"M": "Male"})),
                s("F"),
            ),
            (
                Filter::NormalizeTags,
                json!([{"category": "Sex", "name": "M"}, {"name": "x"}]),
                Some(json!({"Sex": {"M": "Male"}})),
                json!([{"category": "Sex", "name": "Male"}, {"name": "x"}]),
            ),
        ];
        for (f, input, params, want) in cases {
            assert_eq!(
                f.apply(input.clone(), params.as_ref()),
                want,
                "{f:?} {input}"
            );
        }
        assert!(Filter::parse("strip_html").is_ok());
        let err = Filter::parse("shout").unwrap_err().to_string();
        assert!(err.contains("shout") && err.contains("strip_html"), "{err}");
    }

    #[test]
    fn coercion_follows_aggregate_mds() {
        let s = schema();
        let f = |name: &str| s.get(name).unwrap().clone();
        assert_eq!(f("_subjects_count").coerce(json!("12")), json!(12));
        assert_eq!(f("_subjects_count").coerce(json!("-1")), Value::Null);
        assert_eq!(f("_subjects_count").coerce(json!("x")), Value::Null);
        assert_eq!(f("_subjects_count").coerce(json!(5)), json!(5));
        assert_eq!(f("score").coerce(json!("1.5")), json!(1.5));
        assert_eq!(f("score").coerce(json!("nan-ish")), Value::Null);
        assert_eq!(f("tags").coerce(json!("a")), json!(["a"]));
        assert_eq!(f("tags").coerce(json!("")), json!([]));
        assert_eq!(f("tags").coerce(json!({"k": 1})), json!([{"k": 1}]));
        assert_eq!(f("meta").coerce(json!(r#"{"a":1}"#)), json!({"a": 1}));
        assert_eq!(f("joined").coerce(json!(["a", "b"])), json!("ab"));
        assert_eq!(f("year").coerce(json!(2020)), json!(2020));
        assert_eq!(
            s.to_json()["__manifest"],
            json!({"type": "array", "properties": {"file_size": {"type": "integer",
                   "description": ""}}, "description": "files"})
        );
        assert_eq!(
            s.to_json()["year"],
            json!({"type": "string", "description": "", "default": "not_set"})
        );
    }

    #[test]
    fn jsonpaths_in_aggregate_mds_spelling() {
        let item = json!({"study_title": "T", "a": {"b": [{"c": 1}, {"c": 2}]},
                          "odd-key": "k", "list": [1, 2]});
        let q = |e: &str| path_value(&json_path(e).unwrap(), &item);
        assert_eq!(q("study_title"), Some(json!("T")));
        assert_eq!(q("$.study_title"), Some(json!("T")));
        assert_eq!(q("a.b[0].c"), Some(json!(1)));
        assert_eq!(q("a.b[*].c"), Some(json!([1, 2])));
        assert_eq!(q("odd-key"), Some(json!("k")));
        assert_eq!(q("missing"), None);
        assert!(json_path("a[").is_err());
    }

    #[test]
    fn field_mappings() {
        let mappings: Vec<(String, Mapping)> = json!({
            "full_name": "path:study_title",
            "commons": "Gen3 Data Commons",
            "study_url": {"path": "link", "default": "unknown", "filters": ["strip_html"]},
            "year": "path:year",
            "_subjects_count": "path:n",
            "summary": {"path": "desc", "filters": ["strip_email", "uppercase"]},
            "nested.deep": "path:study_title",
            "sex": {"path": "sex", "filters": ["normalize_value"],
                    "filterParams": {"normalize_value": {"F": "Female"}}}
        })
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), Mapping::parse(v).unwrap()))
        .collect();
        let item = json!({"study_title": "<i>Heart</i>", "n": "42",
                          "desc": "mail x@y.org", "sex": "F", "other": 1});
        let out = map_fields(&item, &mappings, &[Filter::StripHtml], &schema());
        assert_eq!(
            Value::Object(out),
            json!({
                "full_name": "Heart",
                "commons": "Gen3 Data Commons",
                "study_url": "unknown",
                "year": "not_set",
                "_subjects_count": 42,
                "summary": "MAIL ",
                "nested": {"deep": "Heart"},
                "sex": "Female"
            })
        );
        // a bad mapping is a configuration error
        assert!(Mapping::parse(&json!({"path": "x", "filters": ["nope"]})).is_err());
        assert!(Mapping::parse(&json!({"path": "x", "filters": "strip_html"})).is_err());
    }

    fn file(text: &str) -> AggFile {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn gen3_commons_normalization() {
        let f = file(
            r#"{"gen3_commons": {"A": {"mds_url": "http://a.test:81/", "commons_url": "a.test",
                 "study_data_field": "my_study", "data_dict_field": "vlmd",
                 "columns_to_fields": {"name": "short_name",
                    "authz": {"name": "missing_field", "default": "/open"},
                    "same": "same"},
                 "select_field": {"field_name": "keep", "field_value": true}}}}"#,
        );
        let (specs, schema) = specs(&f).unwrap();
        let spec = &specs[0];
        assert_eq!(spec.drs_hostname, "a.test:81");
        assert_eq!(
            spec.page_url(1000, 2000),
            "http://a.test:81/mds/metadata?data=True&_guid_type=discovery_metadata\
             &limit=1000&offset=2000"
        );
        let records = json!({
            "g1": {"_guid_type": "discovery_metadata", "my_study": {"short_name": "S1",
                   "keep": true, "tags": [{"category": "A", "name": "x"}]}, "vlmd": {"v": 1}},
            "g2": {"my_study": {"short_name": "S2", "keep": false}},
            "g3": {"no_study": {}},
            "g4": "garbage",
            "g5": {"my_study": {"keep": true}}
        });
        let out = normalize(spec, &schema, records.as_object().unwrap().clone());
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].guid, "g1");
        assert_eq!(
            out[0].doc,
            json!({"gen3_discovery": {"short_name": "S1", "keep": true,
                    "tags": [{"category": "A", "name": "x"}], "name": "S1", "authz": "/open",
                    "commons_name": "A"},
                   "data_dictionaries": {"v": 1}})
        );
        assert_eq!(out[1].guid, "g5");
        assert_eq!(out[1].doc["gen3_discovery"]["authz"], "/open");
        assert!(out[1].doc["gen3_discovery"].get("name").is_none());
    }

    #[test]
    fn adapter_normalization() {
        let f = file(
            r#"{"configuration": {"schema": {"year": {"default": "not_set"},
                                             "_subjects_count": {"type": "integer"}}},
                "adapter_commons": {"B": {"mds_url": "https://b.test", "commons_url": "b.test",
                 "adapter": "gen3", "commons_name": "Bee Commons",
                 "config": {"filters": "x=1", "field_name": "f", "field_value": "v",
                            "batchSize": 50},
                 "keep_original_fields": false,
                 "global_field_filters": ["strip_html"],
                 "field_mappings": {"full_name": "path:title", "year": "path:year",
                                    "_subjects_count": "path:n", "tags": "path:tags"},
                 "per_item_values": {"g1": {"full_name": "Override", "absent": 1}}}}}"#,
        );
        let (specs, schema) = specs(&f).unwrap();
        let spec = &specs[0];
        assert_eq!(
            spec.page_url(50, 0),
            "https://b.test/mds/metadata?data=True&_guid_type=discovery_metadata&limit=50\
             &offset=0&x=1&discovery_metadata.f=v"
        );
        let records = json!({
            "g1": {"gen3_discovery": {"title": "<b>One</b>", "n": "7", "extra": 1}},
            "g2": {"gen3_discovery": {"title": "Two", "year": "2001", "tags": []}}
        });
        let out = normalize(spec, &schema, records.as_object().unwrap().clone());
        assert_eq!(
            out[0].doc,
            json!({"gen3_discovery": {"full_name": "Override", "year": "not_set",
                   "_subjects_count": 7, "tags": null, "commons_name": "Bee Commons"}})
        );
        assert_eq!(out[1].doc["gen3_discovery"]["year"], "2001");
        assert_eq!(out[1].doc["gen3_discovery"]["tags"], json!([]));
        // keep_original_fields (the default) keeps the pulled fields beside the mapped ones
        let mut keep = f;
        keep.adapter_commons
            .get_mut("B")
            .unwrap()
            .keep_original_fields = true;
        let (specs, schema) = specs_of(&keep);
        let out = normalize(&specs[0], &schema, records.as_object().unwrap().clone());
        assert_eq!(out[0].doc["gen3_discovery"]["extra"], 1);
        assert_eq!(out[0].doc["gen3_discovery"]["title"], "<b>One</b>");
        assert_eq!(out[0].doc["gen3_discovery"]["full_name"], "Override");
    }

    fn specs_of(f: &AggFile) -> (Vec<CommonsSpec>, Schema) {
        specs(f).unwrap()
    }

    #[test]
    fn tags_are_counted_per_tag_object() {
        let docs = [
            json!({"gen3_discovery": {"tags": [{"category": "Data Type", "name": "WGS"},
                                               {"category": "Data Type", "name": "RNA"},
                                               {"category": "Program"}]}}),
            json!({"gen3_discovery": {"tags": [{"category": "Data Type", "name": "WGS"},
                                               {"name": "orphan"}]}}),
            json!({"gen3_discovery": {"tags": "not a list"}}),
        ];
        let s = tag_summary(docs.iter());
        assert_eq!(s["Data Type"].total, 3);
        assert_eq!(s["Data Type"].names["WGS"], 2);
        assert_eq!(s["Data Type"].names["RNA"], 1);
        assert_eq!(s["Program"].total, 1);
        assert!(s["Program"].names.is_empty());
        assert_eq!(s.len(), 2);
    }
}
