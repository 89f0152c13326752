//! Query strings of the index API, parsed as indexd parses them.

use serde_json::Value;
use weft_core::WeftError;
use weft_core::hashes::is_valid_hash;
use weft_store::{ListQuery, Negate, Page, UrlQuery};

use crate::limits;

/// Query parameters as decoded pairs, in order, repeats kept.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    #[must_use]
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    #[must_use]
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
    /// 400 for any parameter not in `allowed`.
    pub fn only(&self, allowed: &[&str]) -> Result<(), WeftError> {
        match self.0.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            Some((k, _)) => Err(WeftError::invalid(format!(
                "unknown query parameter \"{k}\"; allowed: {}",
                allowed.join(", ")
            ))),
            None => Ok(()),
        }
    }
    fn int(&self, key: &str) -> Result<Option<i64>, WeftError> {
        self.get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| WeftError::invalid(format!("{key} must be an integer")))
            })
            .transpose()
    }
}

/// `type:value` pairs, validated (unknown types and malformed values are errors).
pub fn hashes(values: &[&str]) -> Result<Vec<(String, String)>, WeftError> {
    let mut out = Vec::new();
    for v in values {
        let Some((kind, value)) = v.split_once(':') else {
            return Err(WeftError::invalid(format!(
                "hash \"{v}\" must be of the form type:value"
            )));
        };
        match is_valid_hash(kind, value) {
            None => return Err(WeftError::invalid("invalid hash types specified")),
            Some(false) => return Err(WeftError::invalid("invalid hash values specified")),
            Some(true) => out.push((kind.to_owned(), value.to_owned())),
        }
    }
    Ok(out)
}

fn list_param(v: Option<&str>) -> Option<Vec<String>> {
    v.map(|s| {
        if s == "null" {
            Vec::new()
        } else {
            s.split(',').map(str::to_owned).collect()
        }
    })
}

fn json_param(p: &Params, key: &str) -> Result<Option<serde_json::Map<String, Value>>, WeftError> {
    match p.get(key) {
        None | Some("") => Ok(None),
        Some(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(Value::Object(m)) => {
                limits::json_object(key, &m)?;
                Ok(Some(m))
            }
            _ => Err(WeftError::invalid(format!(
                "{key} must be a valid json string"
            ))),
        },
    }
}

fn value_text(v: &Value) -> String {
    weft_store::IndexRecord::metadata_text(v)
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, WeftError> {
    match v {
        Value::Array(items) => Ok(items.iter().map(value_text).collect()),
        Value::String(s) => Ok(vec![s.clone()]),
        _ => Err(WeftError::invalid(format!(
            "negate_params.{what} must be a list"
        ))),
    }
}

/// Which listing `GET /index/` asks for: `form=bundle`, `form=all` or plain records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListForm {
    Objects,
    Bundles,
    All,
}

/// The parsed `GET /index/` request and the echo of its filters.
#[derive(Debug, Clone)]
pub struct ListRequest {
    pub query: ListQuery,
    pub form: ListForm,
    /// The parsed filters, echoed back in the response as indexd does.
    pub echo: serde_json::Map<String, Value>,
}

/// A listing that only looks records up by one checksum (`hash=type:value`, and `limit` or
/// not): what Gen3 clients send most. It is served without the general filter machinery;
/// its response is the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashLookup {
    pub kind: String,
    pub value: String,
    pub limit: u32,
}

impl HashLookup {
    /// `Some` when `p` is exactly such a lookup and valid. Anything else (another parameter,
    /// a repeated one, an invalid value) is left to [`list_request`], which also reports the
    /// errors.
    #[must_use]
    pub fn of(p: &Params) -> Option<Self> {
        let (mut hash, mut limit) = (None, None);
        for (k, v) in &p.0 {
            let slot = match k.as_str() {
                "hash" => &mut hash,
                "limit" => &mut limit,
                _ => return None,
            };
            if slot.replace(v.as_str()).is_some() {
                return None;
            }
        }
        let (kind, value) = hash?.split_once(':')?;
        if is_valid_hash(kind, value) != Some(true) {
            return None;
        }
        let limit = match limit {
            None => 100,
            Some(l) => l.parse::<u32>().ok().filter(|l| *l <= 1024)?,
        };
        Some(Self {
            kind: kind.to_owned(),
            value: value.to_owned(),
            limit,
        })
    }

    /// The store query: what [`list_request`] builds for the same parameters.
    #[must_use]
    pub fn query(&self) -> ListQuery {
        ListQuery {
            limit: self.limit,
            hashes: vec![(self.kind.clone(), self.value.clone())],
            ..ListQuery::default()
        }
    }
}

/// The filters a listing echoes back, as indexd does: parsed by [`list_request`], or a
/// [`HashLookup`]'s, written without building the map.
#[derive(Debug, Clone)]
pub enum Echo {
    Filters(serde_json::Map<String, Value>),
    Hash(HashLookup),
}

impl serde::Serialize for Echo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        /// `{kind: value}`
        struct One<'a>(&'a str, &'a str);
        impl serde::Serialize for One<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(self.0, self.1)?;
                m.end()
            }
        }
        let h = match self {
            Self::Filters(map) => return map.serialize(s),
            Self::Hash(h) => h,
        };
        let none = Option::<()>::None;
        let nothing: [(); 0] = [];
        // The keys and order of `list_request`'s echo.
        let mut m = s.serialize_map(Some(13))?;
        m.serialize_entry("ids", &none)?;
        m.serialize_entry("limit", &h.limit)?;
        for key in ["start", "page", "size", "file_name", "version"] {
            m.serialize_entry(key, &none)?;
        }
        m.serialize_entry("urls", &nothing)?;
        m.serialize_entry("acl", &none)?;
        m.serialize_entry("authz", &none)?;
        m.serialize_entry("hashes", &One(&h.kind, &h.value))?;
        m.serialize_entry("metadata", &serde_json::Map::new())?;
        m.serialize_entry("urls_metadata", &none)?;
        m.end()
    }
}

/// 400 when an `ids=` list names more than [`limits::MAX_IDS`] ids.
pub fn id_count(ids: Option<&[String]>) -> Result<(), WeftError> {
    let n = ids.map_or(0, <[String]>::len);
    if n > limits::MAX_IDS {
        return Err(WeftError::invalid(format!(
            "too many ids: {n}; the limit is {}",
            limits::MAX_IDS
        )));
    }
    Ok(())
}

/// How many conditions a listing's filters make (each hash, url, acl or authz entry,
/// metadata pair, urls_metadata URL and pair, and negated entry is one).
fn condition_count(q: &ListQuery) -> usize {
    let n = &q.negate;
    q.hashes.len()
        + q.urls.len()
        + q.acl.as_ref().map_or(0, Vec::len)
        + q.authz.as_ref().map_or(0, Vec::len)
        + q.metadata.len()
        + q.urls_metadata
            .iter()
            .map(|(_, pairs)| 1 + pairs.len())
            .sum::<usize>()
        + n.urls.len()
        + n.acl.len()
        + n.authz.len()
        + n.metadata.len()
        + n.urls_metadata
            .iter()
            .map(|(_, pairs)| 1 + pairs.len())
            .sum::<usize>()
}

/// Parse `GET /index/` parameters.
pub fn list_request(p: &Params) -> Result<ListRequest, WeftError> {
    limits::params(&p.0)?;
    let ids = p
        .get("ids")
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_owned).collect::<Vec<_>>());
    id_count(ids.as_deref())?;
    if ids.is_some() && (p.has("start") || p.has("limit") || p.has("page")) {
        return Err(WeftError::invalid(
            "pagination is not supported when ids is provided",
        ));
    }
    let limit = p.int("limit")?.unwrap_or(100);
    if !(0..=1024).contains(&limit) {
        return Err(WeftError::invalid("limit must be between 0 and 1024"));
    }
    let page_no = p.int("page")?;
    if page_no.is_some_and(|n| n < 0) {
        return Err(WeftError::invalid("page must be >= 0"));
    }
    let size = p.int("size")?;
    if size.is_some_and(|s| s < 0) {
        return Err(WeftError::invalid("size must be > 0"));
    }
    let start = p.get("start").map(str::to_owned);
    let hash_pairs = hashes(&p.all("hash"))?;
    let mut metadata = Vec::new();
    for m in p.all("metadata") {
        let Some((k, v)) = m.split_once(':') else {
            return Err(WeftError::invalid(format!(
                "metadata \"{m}\" must be of the form key:value"
            )));
        };
        metadata.push((k.to_owned(), v.to_owned()));
    }
    let urls: Vec<String> = p.all("url").into_iter().map(str::to_owned).collect();
    let acl = list_param(p.get("acl"));
    let authz = list_param(p.get("authz"));
    let urls_metadata_raw = json_param(p, "urls_metadata")?;
    let mut urls_metadata = Vec::new();
    for (url, pairs) in urls_metadata_raw.iter().flatten() {
        let Value::Object(pairs) = pairs else {
            return Err(WeftError::invalid("urls_metadata values must be objects"));
        };
        urls_metadata.push((
            url.clone(),
            pairs
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect(),
        ));
    }
    let negate = negate_params(json_param(p, "negate_params")?)?;
    let form = match p.get("form") {
        None | Some("object") => ListForm::Objects,
        Some("bundle") => ListForm::Bundles,
        Some("all") => ListForm::All,
        Some(other) => {
            return Err(WeftError::invalid(format!(
                "form must be object, bundle or all, not \"{other}\""
            )));
        }
    };
    let page = match (page_no, &start) {
        (Some(n), _) => Page::Number(u32::try_from(n).unwrap_or(u32::MAX)),
        (None, Some(s)) => Page::After(s.clone()),
        (None, None) => Page::First,
    };
    let opt = |v: Option<&str>| v.map(str::to_owned);
    let query = ListQuery {
        ids: ids.clone(),
        page,
        limit: u32::try_from(limit).unwrap_or(100),
        size,
        blank: false,
        file_name: opt(p.get("file_name")),
        version: opt(p.get("version")),
        uploader: opt(p.get("uploader")),
        urls: urls.clone(),
        acl: acl.clone(),
        authz: authz.clone(),
        hashes: hash_pairs.clone(),
        metadata: metadata.clone(),
        urls_metadata,
        negate,
    };
    limits::filter_count(condition_count(&query))?;
    let map_of = |pairs: &[(String, String)]| -> Value {
        if pairs.is_empty() {
            Value::Null
        } else {
            Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        }
    };
    let mut echo = serde_json::Map::new();
    echo.insert("ids".into(), serde_json::json!(ids));
    echo.insert("limit".into(), limit.into());
    echo.insert("start".into(), serde_json::json!(start));
    echo.insert("page".into(), serde_json::json!(page_no));
    echo.insert("size".into(), serde_json::json!(size));
    echo.insert("file_name".into(), serde_json::json!(p.get("file_name")));
    echo.insert("version".into(), serde_json::json!(p.get("version")));
    echo.insert("urls".into(), serde_json::json!(urls));
    echo.insert("acl".into(), serde_json::json!(acl));
    echo.insert("authz".into(), serde_json::json!(authz));
    echo.insert("hashes".into(), map_of(&hash_pairs));
    echo.insert(
        "metadata".into(),
        Value::Object(
            metadata
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    echo.insert(
        "urls_metadata".into(),
        urls_metadata_raw.map_or(Value::Null, Value::Object),
    );
    Ok(ListRequest { query, form, echo })
}

fn negate_params(raw: Option<serde_json::Map<String, Value>>) -> Result<Negate, WeftError> {
    let mut n = Negate::default();
    let Some(raw) = raw else { return Ok(n) };
    for (key, v) in raw {
        match key.as_str() {
            "urls" => n.urls = string_list(&v, "urls")?,
            "acl" => n.acl = string_list(&v, "acl")?,
            "authz" => n.authz = string_list(&v, "authz")?,
            "file_name" => n.file_name = Some(value_text(&v)),
            "version" => n.version = Some(value_text(&v)),
            "metadata" => n.metadata = key_maybe_values(&v, "metadata")?,
            "urls_metadata" => {
                let Value::Object(m) = v else {
                    return Err(WeftError::invalid(
                        "negate_params.urls_metadata must be an object",
                    ));
                };
                for (url, inner) in m {
                    let pairs = match &inner {
                        Value::Object(_) => key_maybe_values(&inner, "urls_metadata")?,
                        _ => Vec::new(),
                    };
                    n.urls_metadata.push((url, pairs));
                }
            }
            other => {
                return Err(WeftError::invalid(format!(
                    "negate_params has an unknown key \"{other}\""
                )));
            }
        }
    }
    Ok(n)
}

fn key_maybe_values(v: &Value, what: &str) -> Result<Vec<(String, Option<String>)>, WeftError> {
    let Value::Object(m) = v else {
        return Err(WeftError::invalid(format!(
            "negate_params.{what} must be an object"
        )));
    };
    Ok(m.iter()
        .map(|(k, v)| {
            let empty = matches!(v, Value::Null) || v.as_str() == Some("");
            (k.clone(), if empty { None } else { Some(value_text(v)) })
        })
        .collect())
}

fn bool_param(p: &Params, key: &str) -> Result<Option<bool>, WeftError> {
    p.get(key)
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(WeftError::invalid(format!("{key} must be true or false"))),
        })
        .transpose()
}

/// `fields=` of the URL query endpoints.
pub fn fields(p: &Params, default: &[&str], allowed: &[&str]) -> Result<Vec<String>, WeftError> {
    let raw = p
        .get("fields")
        .map_or_else(|| default.join(","), str::to_owned);
    let fields: Vec<String> = raw
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    for f in &fields {
        if !allowed.contains(&f.as_str()) {
            return Err(WeftError::invalid(format!(
                "field \"{f}\" is not one of {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(fields)
}

fn limit_offset(p: &Params) -> Result<(u32, u32), WeftError> {
    let limit = p.int("limit")?.unwrap_or(1000);
    let offset = p.int("offset")?.unwrap_or(0);
    if limit < 0 || offset < 0 {
        return Err(WeftError::invalid("limit and offset must be >= 0"));
    }
    Ok((
        u32::try_from(limit).unwrap_or(u32::MAX),
        u32::try_from(offset).unwrap_or(u32::MAX),
    ))
}

/// `GET /_query/urls/q`.
pub fn urls_query(p: &Params) -> Result<(UrlQuery, Vec<String>), WeftError> {
    p.only(&[
        "include",
        "exclude",
        "versioned",
        "fields",
        "limit",
        "offset",
    ])?;
    let (limit, offset) = limit_offset(p)?;
    let q = UrlQuery {
        include: p.get("include").map(str::to_owned),
        exclude: p.get("exclude").map(str::to_owned),
        versioned: bool_param(p, "versioned")?,
        metadata: None,
        limit,
        offset,
    };
    Ok((q, fields(p, &["did", "urls"], &["did", "urls", "rev"])?))
}

/// `GET /_query/urls/metadata/q`.
pub fn urls_metadata_query(p: &Params) -> Result<(UrlQuery, Vec<String>), WeftError> {
    p.only(&[
        "key",
        "value",
        "url",
        "versioned",
        "fields",
        "limit",
        "offset",
    ])?;
    let (Some(key), Some(value)) = (p.get("key"), p.get("value")) else {
        return Err(WeftError::invalid("key and value are required"));
    };
    let (limit, offset) = limit_offset(p)?;
    let q = UrlQuery {
        include: None,
        exclude: None,
        versioned: bool_param(p, "versioned")?,
        metadata: Some((
            key.to_owned(),
            value.to_owned(),
            p.get("url").map(str::to_owned),
        )),
        limit,
        offset,
    };
    Ok((
        q,
        fields(p, &["did", "urls", "rev"], &["did", "urls", "rev"])?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lookup by hash reads exactly what the general parser reads, and echoes the same.
    #[test]
    fn hash_lookups_match_the_general_listing() {
        let md5 = "0123456789abcdef0123456789abcdef";
        let hash = format!("md5:{md5}");
        for q in [
            vec![("hash", hash.as_str())],
            vec![("hash", hash.as_str()), ("limit", "10")],
            vec![("limit", "0"), ("hash", hash.as_str())],
            vec![("hash", hash.as_str()), ("limit", "1024")],
            vec![("hash", hash.as_str()), ("limit", "+7")],
        ] {
            let p = params(&q);
            let fast = HashLookup::of(&p).unwrap();
            let general = list_request(&p).unwrap();
            assert_eq!(fast.query(), general.query, "{q:?}");
            assert_eq!(general.form, ListForm::Objects);
            assert_eq!(
                serde_json::to_string(&Echo::Hash(fast)).unwrap(),
                serde_json::to_string(&general.echo).unwrap(),
                "{q:?}"
            );
        }
        // anything else takes the general path (which reports the errors)
        for q in [
            vec![],
            vec![("limit", "10")],
            vec![("hash", hash.as_str()), ("hash", hash.as_str())],
            vec![("hash", hash.as_str()), ("limit", "1"), ("limit", "2")],
            vec![("hash", hash.as_str()), ("start", "x")],
            vec![("hash", hash.as_str()), ("limit", "1025")],
            vec![("hash", hash.as_str()), ("limit", "-1")],
            vec![("hash", hash.as_str()), ("limit", "ten")],
            vec![("hash", "md5:ABC")],
            vec![("hash", "md7:0123456789abcdef0123456789abcdef")],
            vec![("hash", md5)],
            vec![("hash", hash.as_str()), ("form", "object")],
        ] {
            assert_eq!(HashLookup::of(&params(&q)), None, "{q:?}");
        }
    }

    fn params(q: &[(&str, &str)]) -> Params {
        Params(
            q.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn list_parsing() {
        let md5 = "0123456789abcdef0123456789abcdef";
        let h = format!("md5:{md5}");
        let r = list_request(&params(&[
            ("hash", &h),
            ("acl", "null"),
            ("authz", "/a,/b"),
            ("url", "s3://x"),
            ("url", "gs://y"),
            ("metadata", "k:v:w"),
            ("start", "abc"),
            (
                "negate_params",
                r#"{"metadata":{"gone":""},"authz":["/c"]}"#,
            ),
        ]))
        .unwrap();
        let q = r.query;
        assert_eq!(q.hashes, vec![("md5".to_owned(), md5.to_owned())]);
        assert_eq!(q.acl, Some(vec![]));
        assert_eq!(q.authz, Some(vec!["/a".to_owned(), "/b".to_owned()]));
        assert_eq!(q.urls.len(), 2);
        assert_eq!(q.metadata, vec![("k".to_owned(), "v:w".to_owned())]);
        assert_eq!(q.page, Page::After("abc".into()));
        assert_eq!(q.limit, 100);
        assert_eq!(q.negate.metadata, vec![("gone".to_owned(), None)]);
        assert_eq!(q.negate.authz, vec!["/c".to_owned()]);
        assert_eq!(r.echo["hashes"]["md5"], md5);
    }

    #[test]
    fn list_errors() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("limit", "x")], "limit must be an integer"),
            (&[("limit", "2000")], "between 0 and 1024"),
            (&[("size", "-1")], "size must be > 0"),
            (
                &[("ids", "a,b"), ("limit", "1")],
                "pagination is not supported",
            ),
            (&[("hash", "md5:zz")], "invalid hash values"),
            (&[("hash", "blake:zz")], "invalid hash types"),
            (&[("hash", "md5")], "type:value"),
            (
                &[("urls_metadata", "{bad")],
                "urls_metadata must be a valid json string",
            ),
            (
                &[("negate_params", "[]")],
                "negate_params must be a valid json string",
            ),
            (&[("form", "blob")], "form must be"),
        ];
        for (q, want) in cases {
            let err = list_request(&params(q)).unwrap_err();
            assert!(err.message.contains(want), "{q:?}: {}", err.message);
        }
    }

    #[test]
    fn url_queries_reject_unknown_params() {
        assert!(urls_query(&params(&[("include", "s3")])).is_ok());
        let err = urls_query(&params(&[("colour", "red")])).unwrap_err();
        assert!(err.message.contains("colour"));
        assert!(urls_metadata_query(&params(&[("key", "k")])).is_err());
        let (q, f) = urls_metadata_query(&params(&[
            ("key", "k"),
            ("value", "v"),
            ("versioned", "False"),
        ]))
        .unwrap();
        assert_eq!(q.versioned, Some(false));
        assert_eq!(f, vec!["did", "urls", "rev"]);
    }
}
