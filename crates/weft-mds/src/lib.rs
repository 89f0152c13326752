//! weft-mds: the metadata service, as Gen3's metadata-service (MDS) serves it.
//!
//! A JSON object per GUID, queried by nested fields (`a.b=v`, values compared as text, `*`
//! for "present"), written with MDS's semantics (create 201 / overwrite 200, `PUT` replace
//! or shallow merge, batch create), aliases, and indexes on key paths. Writes need the
//! policy engine's `mds_gateway` `access` on `/mds_gateway`, which is what Gen3's gateway
//! checks on `/mds-admin/`; weft checks the caller's own token instead of swapping in a
//! shared admin password. Reads are open unless configured otherwise.
//!
//! The objects API (an index record and its metadata together) is in [`objects`].

pub mod objects;

use std::sync::Arc;

use serde_json::value::RawValue;
use weft_auth::{Authorizer, Credentials};
use weft_config::MdsConfig;
use weft_core::WeftError;
use weft_indexd::limits;
use weft_store::{
    AliasMode, BatchOutcome, FieldPath, FilterValue, MetadataFilter, MetadataQuery, MetadataStore,
    RawJson, StoreError, Written,
};

/// The policy-engine service name MDS checks.
pub const SERVICE: &str = "mds_gateway";
/// The resource whose `access` allows writes (the gateway's `/mds-admin/` check).
pub const ADMIN_RESOURCE: &str = "/mds_gateway";
/// The resource whose `access` allows queries when they are forced to be checked.
pub const QUERY_RESOURCE: &str = "/mds_metadata_queries";
/// GUIDs no record may have (MDS's `FORBIDDEN_IDS`: they are routes of the objects API).
pub const FORBIDDEN_IDS: &[&str] = &["upload"];
/// The authz document of records made through `/metadata` (MDS's `DEFAULT_AUTHZ_STR`).
pub const DEFAULT_AUTHZ: &str = r#"{"version":0,"_resource_paths":["/open"]}"#;
/// Query parameters that are not filters.
const RESERVED: &[&str] = &["data", "limit", "offset"];
/// MDS's default page size.
const DEFAULT_LIMIT: u32 = 10;
/// The most filter conditions (`key=value` parameters) one query may have: SQLite refuses
/// expressions deeper than 1,000, and no real query comes near this.
pub const MAX_FILTERS: usize = limits::MAX_FILTERS;

/// What a query returns: GUIDs alone, or GUIDs with their metadata (`data=true`).
#[derive(Debug)]
pub enum QueryResult {
    Guids(Vec<String>),
    Data(Vec<(String, RawJson)>),
}

/// A batch create's outcome: the store's, plus the GUIDs refused outright.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub outcome: BatchOutcome,
    /// Entries that are not `{"guid": str, "data": object}` or name a forbidden GUID.
    pub bad_input: Vec<serde_json::Value>,
}

/// The metadata service.
pub struct MetadataService {
    store: Arc<dyn MetadataStore>,
    authorizer: Arc<dyn Authorizer>,
    config: MdsConfig,
}

/// Parse a boolean query parameter as FastAPI does (`true/false/1/0/yes/no/on/off`, any case).
pub fn parse_bool(name: &str, value: &str) -> Result<bool, WeftError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Ok(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Ok(false),
        _ => Err(WeftError::invalid(format!(
            "query parameter `{name}` must be a boolean (true or false), not {value:?}"
        ))),
    }
}

/// The last value of a query parameter, if given.
fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A boolean query parameter with a default.
pub fn bool_param(
    params: &[(String, String)],
    name: &str,
    default: bool,
) -> Result<bool, WeftError> {
    param(params, name).map_or(Ok(default), |v| parse_bool(name, v))
}

fn int_param(params: &[(String, String)], name: &str, default: u64) -> Result<u64, WeftError> {
    param(params, name).map_or(Ok(default), |v| {
        v.trim().parse().map_err(|_| {
            WeftError::invalid(format!(
                "query parameter `{name}` must be a non-negative integer, not {v:?}"
            ))
        })
    })
}

/// A request body that must be a JSON object.
pub fn object_body(body: &[u8]) -> Result<RawJson, WeftError> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| WeftError::invalid(format!("request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(WeftError::invalid(format!(
            "request body must be a JSON object, not {}",
            kind(&value)
        )));
    }
    limits::json("request body", &value)?;
    serde_json::value::to_raw_value(&value).map_err(WeftError::internal)
}

/// A GUID (or alias) in a path: no NUL.
fn guid_text(guid: &str) -> Result<(), WeftError> {
    limits::no_nul("GUID", guid)
}

/// A GUID or alias being written: no NUL, at most [`limits::MAX_ID_BYTES`].
pub fn new_guid(field: &str, guid: &str) -> Result<(), WeftError> {
    limits::id(field, guid)
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A key path from a query parameter or a URL: `a.b.c`; 400 when malformed.
pub fn field_path(dotted: &str) -> Result<FieldPath, WeftError> {
    FieldPath::parse(dotted).ok_or_else(|| {
        WeftError::invalid(format!(
            "malformed field path {dotted:?}: keys separated by single dots, none empty, \
             without quotes, backslashes, braces, commas or control characters"
        ))
    })
}

/// The query's filters: every parameter but `data`, `limit` and `offset`, grouped by key
/// in order of first appearance (values of one key are ORed).
pub fn filters(params: &[(String, String)]) -> Result<Vec<MetadataFilter>, WeftError> {
    limits::params(params)?;
    let count = params
        .iter()
        .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
        .count();
    limits::filter_count(count)?;
    let mut out: Vec<MetadataFilter> = Vec::new();
    for (key, value) in params {
        if RESERVED.contains(&key.as_str()) {
            continue;
        }
        let path = field_path(key)?;
        let value = match value.as_str() {
            "*" => FilterValue::Present,
            "\\*" => FilterValue::Text("*".to_owned()),
            v => FilterValue::Text(v.to_owned()),
        };
        match out.iter_mut().find(|f| f.path == path) {
            Some(f) => f.values.push(value),
            None => out.push(MetadataFilter {
                path,
                values: vec![value],
            }),
        }
    }
    Ok(out)
}

fn not_found(guid: &str) -> WeftError {
    WeftError::not_found(format!("Not found: {guid}"))
}

fn store_error(guid: &str) -> impl FnOnce(StoreError) -> WeftError {
    move |e| match e {
        StoreError::NotFound => not_found(guid),
        StoreError::AlreadyExists(m) => WeftError::conflict(m),
        e => e.into(),
    }
}

fn forbidden_id(guid: &str) -> Result<(), WeftError> {
    if FORBIDDEN_IDS.contains(&guid) {
        return Err(WeftError::invalid(format!(
            "{guid:?} cannot be used as a GUID: it is a route of the objects API"
        )));
    }
    Ok(())
}

impl MetadataService {
    #[must_use]
    pub fn new(
        store: Arc<dyn MetadataStore>,
        authorizer: Arc<dyn Authorizer>,
        config: MdsConfig,
    ) -> Self {
        Self {
            store,
            authorizer,
            config,
        }
    }

    /// The store, for the objects API.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn MetadataStore> {
        &self.store
    }

    /// Create the configured key-path indexes that do not exist yet.
    pub async fn ensure_indexes(&self) -> Result<(), WeftError> {
        let have = self.store.metadata_index_paths().await?;
        for dotted in &self.config.indexed_paths {
            let path = field_path(dotted)
                .map_err(|e| WeftError::invalid(format!("mds.indexed_paths: {}", e.message)))?;
            if have.contains(&path) {
                continue;
            }
            match self.store.create_metadata_index(path).await {
                // Another instance made it first.
                Ok(()) | Err(StoreError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Writes, and index administration: `mds_gateway` `access` on `/mds_gateway`.
    pub async fn require_admin(&self, creds: &Credentials) -> Result<(), WeftError> {
        self.authorizer
            .authorize(creds, SERVICE, "access", &[ADMIN_RESOURCE.to_owned()])
            .await
            .map(|_| ())
    }

    /// Reads: open, unless `force_authz_for_queries` asks for `access` on
    /// `/mds_metadata_queries`.
    pub async fn require_reader(&self, creds: &Credentials) -> Result<(), WeftError> {
        if !self.config.force_authz_for_queries {
            return Ok(());
        }
        self.authorizer
            .authorize(creds, SERVICE, "access", &[QUERY_RESOURCE.to_owned()])
            .await
            .map(|_| ())
    }

    /// `GET /metadata/{guid}`: the record's data (stored JSON text), found by GUID or alias.
    pub async fn get(&self, creds: &Credentials, guid: &str) -> Result<String, WeftError> {
        self.require_reader(creds).await?;
        guid_text(guid)?;
        self.store
            .metadata(guid)
            .await?
            .ok_or_else(|| not_found(guid))
    }

    /// `GET /metadata?...`.
    pub async fn query(
        &self,
        creds: &Credentials,
        params: &[(String, String)],
    ) -> Result<QueryResult, WeftError> {
        self.require_reader(creds).await?;
        let with_data = bool_param(params, "data", false)?;
        let limit = int_param(params, "limit", u64::from(DEFAULT_LIMIT))?;
        let limit = u32::try_from(limit)
            .unwrap_or(u32::MAX)
            .min(self.config.query_results_limit);
        // Past every row anyway; beyond i64 the databases would refuse the number itself.
        let offset = int_param(params, "offset", 0)?.min(i64::MAX.unsigned_abs());
        let query = MetadataQuery {
            filters: filters(params)?,
            limit,
            offset,
            with_data,
        };
        let rows = self.store.query_metadata(query).await?;
        Ok(if with_data {
            QueryResult::Data(
                rows.into_iter()
                    .filter_map(|(g, d)| d.map(|d| (g, d)))
                    .collect(),
            )
        } else {
            QueryResult::Guids(rows.into_iter().map(|(g, _)| g).collect())
        })
    }

    /// `POST /metadata/{guid}?overwrite=`: 201 when created, 200 when overwritten.
    pub async fn create(
        &self,
        creds: &Credentials,
        guid: &str,
        body: &[u8],
        overwrite: bool,
    ) -> Result<(Written, RawJson), WeftError> {
        self.require_admin(creds).await?;
        forbidden_id(guid)?;
        new_guid("GUID", guid)?;
        let data = object_body(body)?;
        let written = self
            .store
            .put_metadata(guid, data.clone(), default_authz()?, overwrite)
            .await
            .map_err(store_error(guid))?;
        Ok((written, data))
    }

    /// `POST /metadata?overwrite=` with `[{"guid", "data"}, ...]`: one transaction.
    pub async fn batch_create(
        &self,
        creds: &Credentials,
        body: &[u8],
        overwrite: bool,
    ) -> Result<BatchReport, WeftError> {
        self.require_admin(creds).await?;
        let entries: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
            WeftError::invalid(format!(
                "request body must be a JSON array of {{\"guid\", \"data\"}} objects: {e}"
            ))
        })?;
        let mut report = BatchReport::default();
        let mut items = Vec::with_capacity(entries.len());
        for entry in entries {
            let guid = entry.get("guid").and_then(serde_json::Value::as_str);
            let data = entry.get("data").filter(|d| d.is_object());
            let fits = guid.is_some_and(|g| new_guid("GUID", g).is_ok())
                && data.is_some_and(|d| limits::json("data", d).is_ok());
            match (guid, data) {
                (Some(g), Some(d)) if fits && !FORBIDDEN_IDS.contains(&g) => {
                    let raw = serde_json::value::to_raw_value(d).map_err(WeftError::internal)?;
                    items.push((g.to_owned(), raw));
                }
                _ => report.bad_input.push(entry),
            }
        }
        report.outcome = self
            .store
            .put_metadata_batch(items, default_authz()?, overwrite)
            .await?;
        Ok(report)
    }

    /// `PUT /metadata/{guid}?merge=`: replace, or shallow-merge; never creates.
    pub async fn update(
        &self,
        creds: &Credentials,
        guid: &str,
        body: &[u8],
        merge: bool,
    ) -> Result<RawJson, WeftError> {
        self.require_admin(creds).await?;
        guid_text(guid)?;
        let data = object_body(body)?;
        self.store
            .update_metadata(guid, data, merge)
            .await
            .map_err(store_error(guid))
    }

    /// `DELETE /metadata/{guid}`: returns what was deleted.
    pub async fn delete(&self, creds: &Credentials, guid: &str) -> Result<RawJson, WeftError> {
        self.require_admin(creds).await?;
        guid_text(guid)?;
        self.store
            .delete_metadata(guid)
            .await
            .map_err(store_error(guid))
    }

    /// `GET /metadata/{guid}/aliases`.
    pub async fn aliases(&self, creds: &Credentials, guid: &str) -> Result<Vec<String>, WeftError> {
        self.require_reader(creds).await?;
        guid_text(guid)?;
        Ok(self.store.metadata_aliases(guid).await?)
    }

    /// `POST` (create) or `PUT` (merge or replace) `/metadata/{guid}/aliases`.
    pub async fn set_aliases(
        &self,
        creds: &Credentials,
        guid: &str,
        body: &[u8],
        mode: AliasMode,
    ) -> Result<Vec<String>, WeftError> {
        self.require_admin(creds).await?;
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Aliases {
            aliases: Vec<String>,
        }
        let Aliases { aliases } = serde_json::from_slice(body).map_err(|e| {
            WeftError::invalid(format!(
                "request body must be {{\"aliases\": [strings]}}: {e}"
            ))
        })?;
        if let Some(bad) = aliases.iter().find(|a| a.is_empty()) {
            return Err(WeftError::invalid(format!("alias {bad:?} is empty")));
        }
        guid_text(guid)?;
        for a in &aliases {
            new_guid("alias", a)?;
        }
        self.store
            .set_metadata_aliases(guid, aliases, mode)
            .await
            .map_err(store_error(guid))
    }

    /// `DELETE /metadata/{guid}/aliases/{alias}`.
    pub async fn delete_alias(
        &self,
        creds: &Credentials,
        guid: &str,
        alias: &str,
    ) -> Result<(), WeftError> {
        self.require_admin(creds).await?;
        guid_text(guid)?;
        guid_text(alias)?;
        self.store
            .delete_metadata_alias(guid, alias)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    WeftError::not_found(format!("Not found: alias {alias} of {guid}"))
                }
                e => e.into(),
            })
    }

    /// `DELETE /metadata/{guid}/aliases`.
    pub async fn delete_aliases(&self, creds: &Credentials, guid: &str) -> Result<(), WeftError> {
        self.require_admin(creds).await?;
        guid_text(guid)?;
        self.store
            .delete_metadata_aliases(guid)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    WeftError::not_found(format!("Not found: no aliases for {guid}"))
                }
                e => e.into(),
            })
    }

    /// `GET /metadata_index`: the indexed key paths, dotted.
    pub async fn index_paths(&self, creds: &Credentials) -> Result<Vec<String>, WeftError> {
        self.require_admin(creds).await?;
        Ok(self
            .store
            .metadata_index_paths()
            .await?
            .iter()
            .map(FieldPath::dotted)
            .collect())
    }

    /// `POST /metadata_index/{path}`.
    pub async fn create_index(
        &self,
        creds: &Credentials,
        dotted: &str,
    ) -> Result<String, WeftError> {
        self.require_admin(creds).await?;
        let path = field_path(dotted)?;
        self.store
            .create_metadata_index(path.clone())
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(_) => {
                    WeftError::conflict(format!("Conflict: index on {} exists", path.dotted()))
                }
                e => e.into(),
            })?;
        Ok(path.dotted())
    }

    /// `DELETE /metadata_index/{path}`.
    pub async fn drop_index(&self, creds: &Credentials, dotted: &str) -> Result<(), WeftError> {
        self.require_admin(creds).await?;
        let path = field_path(dotted)?;
        self.store
            .drop_metadata_index(path)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => {
                    WeftError::not_found(format!("Not found: no index on {dotted}"))
                }
                e => e.into(),
            })
    }
}

fn default_authz() -> Result<RawJson, WeftError> {
    RawValue::from_string(DEFAULT_AUTHZ.to_owned()).map_err(WeftError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn filters_group_values_by_key_and_skip_paging() {
        let f = filters(&pairs(&[
            ("a.b", "3"),
            ("data", "true"),
            ("t", "*"),
            ("a.b", "33"),
            ("u", "\\*"),
            ("limit", "5"),
        ]))
        .unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].path.dotted(), "a.b");
        assert_eq!(
            f[0].values,
            [
                FilterValue::Text("3".into()),
                FilterValue::Text("33".into())
            ]
        );
        assert_eq!(f[1].values, [FilterValue::Present]);
        assert_eq!(f[2].values, [FilterValue::Text("*".into())]);
        let err = filters(&pairs(&[("a..b", "1")])).unwrap_err();
        assert_eq!(err.code, weft_core::ErrorCode::InvalidInput);
        assert!(
            err.message.contains("malformed field path"),
            "{}",
            err.message
        );
    }

    #[test]
    fn booleans_parse_as_fastapi_does() {
        for t in ["true", "True", "TRUE", "1", "yes", "on"] {
            assert!(parse_bool("data", t).unwrap(), "{t}");
        }
        for f in ["false", "False", "0", "no", "off"] {
            assert!(!parse_bool("data", f).unwrap(), "{f}");
        }
        let err = parse_bool("overwrite", "maybe").unwrap_err();
        assert!(err.message.contains("`overwrite`"), "{}", err.message);
    }

    #[test]
    fn bodies_must_be_objects() {
        assert_eq!(object_body(br#"{"a": 1}"#).unwrap().get(), r#"{"a":1}"#);
        for (body, needle) in [
            (&b"[1]"[..], "not an array"),
            (b"\"x\"", "not a string"),
            (b"null", "not null"),
            (b"{", "not valid JSON"),
        ] {
            let err = object_body(body).unwrap_err();
            assert!(err.message.contains(needle), "{}", err.message);
        }
    }
}
