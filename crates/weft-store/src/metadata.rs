//! Storage of the metadata service (Gen3 MDS): a JSON object per GUID, its aliases, and the
//! key paths that carry an index.
//!
//! Metadata is handed over as JSON text ([`RawJson`]) so that reads can go from the database
//! to the response without being parsed; writes are validated JSON objects.

use async_trait::async_trait;
use serde_json::value::RawValue;

use crate::StoreResult;

/// A JSON document as text, exactly as stored.
pub type RawJson = Box<RawValue>;

/// A dotted key path into the metadata (`a.b.c`), its keys validated so that backends can
/// put them into SQL and JSON path literals (escaping only `'`): no empty key, none of
/// `"`, `\`, `{`, `}`, `,`, and no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Parse `a.b.c`; `None` when a key is empty or holds a character a path cannot carry
    /// (`"`, `\`, `{`, `}`, `,`, or a control character).
    #[must_use]
    pub fn parse(dotted: &str) -> Option<Self> {
        let keys: Vec<String> = dotted.split('.').map(str::to_owned).collect();
        let ok = keys.iter().all(|k| {
            !k.is_empty()
                && k.len() <= 256
                && !k
                    .chars()
                    .any(|c| c.is_control() || matches!(c, '"' | '\\' | '{' | '}' | ','))
        });
        (ok && keys.len() <= 32).then_some(Self(keys))
    }

    /// The keys, outermost first.
    #[must_use]
    pub fn keys(&self) -> &[String] {
        &self.0
    }

    /// The dotted form, as MDS lists index paths.
    #[must_use]
    pub fn dotted(&self) -> String {
        self.0.join(".")
    }
}

/// What one filter of a query accepts at its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterValue {
    /// The value at the path, as text (strings unquoted, other JSON as JSON text), equals this.
    Text(String),
    /// Some value is present at the path.
    Present,
}

/// Values at one path, any of which matches (MDS ORs the values of one key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataFilter {
    pub path: FieldPath,
    pub values: Vec<FilterValue>,
}

/// A metadata query: every filter must match (AND); results by GUID, paged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetadataQuery {
    pub filters: Vec<MetadataFilter>,
    pub limit: u32,
    pub offset: u64,
    /// Return each match's metadata too.
    pub with_data: bool,
}

/// Whether a write made a new record or replaced an existing one's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Updated,
}

/// What a batch create did with each GUID, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Already present, and `overwrite` was off.
    pub conflict: Vec<String>,
}

/// How a GUID's aliases are set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliasMode {
    /// Only when the GUID has none yet (`AlreadyExists` otherwise).
    Create,
    /// Add to those it has.
    Merge,
    /// Exactly these: the others are removed.
    Replace,
}

/// Storage for the metadata service.
///
/// Every method that changes more than one row does so in one transaction.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// The metadata of `guid`, or, when no record has that GUID, of the record `guid` is an
    /// alias of: the stored JSON text, as it is (written by this store from a validated
    /// object, so the hot read path hands it to the response without parsing it again).
    async fn metadata(&self, guid: &str) -> StoreResult<Option<String>>;

    /// The authz document kept beside a record's metadata (never part of its metadata).
    async fn metadata_authz(&self, guid: &str) -> StoreResult<Option<RawJson>>;

    /// Insert a record, or with `overwrite` replace the data of an existing one (its authz
    /// is then kept). `authz` is the record's authz document when it is created.
    /// `AlreadyExists` when it exists and `overwrite` is off.
    async fn put_metadata(
        &self,
        guid: &str,
        data: RawJson,
        authz: RawJson,
        overwrite: bool,
    ) -> StoreResult<Written>;

    /// [`Self::put_metadata`] for many records, in one transaction; existing GUIDs are
    /// conflicts when `overwrite` is off.
    async fn put_metadata_batch(
        &self,
        items: Vec<(String, RawJson)>,
        authz: RawJson,
        overwrite: bool,
    ) -> StoreResult<BatchOutcome>;

    /// Replace a record's data, or with `merge` its top-level keys present in `data` (a
    /// shallow merge). Returns the new data; `NotFound` when there is no such record.
    async fn update_metadata(&self, guid: &str, data: RawJson, merge: bool)
    -> StoreResult<RawJson>;

    /// Delete a record (and its aliases); returns its data. `NotFound` when absent.
    async fn delete_metadata(&self, guid: &str) -> StoreResult<RawJson>;

    /// GUIDs matching the query, in GUID order, each with its data if asked for.
    async fn query_metadata(
        &self,
        query: MetadataQuery,
    ) -> StoreResult<Vec<(String, Option<RawJson>)>>;

    /// A record's aliases, sorted; empty when it has none (or does not exist).
    async fn metadata_aliases(&self, guid: &str) -> StoreResult<Vec<String>>;

    /// Set a record's aliases; returns the aliases it has afterwards, sorted. `NotFound`
    /// when the record does not exist; `AlreadyExists` when an alias belongs to another
    /// record, or (with [`AliasMode::Create`]) when the record has aliases already.
    async fn set_metadata_aliases(
        &self,
        guid: &str,
        aliases: Vec<String>,
        mode: AliasMode,
    ) -> StoreResult<Vec<String>>;

    /// Remove one alias of a record. `NotFound` when the record has no such alias.
    async fn delete_metadata_alias(&self, guid: &str, alias: &str) -> StoreResult<()>;

    /// Remove every alias of a record. `NotFound` when it had none.
    async fn delete_metadata_aliases(&self, guid: &str) -> StoreResult<()>;

    /// The key paths that carry an index, sorted.
    async fn metadata_index_paths(&self) -> StoreResult<Vec<FieldPath>>;

    /// Index the values at `path`, so that equality filters on it do not scan. `AlreadyExists`
    /// when it is indexed already.
    async fn create_metadata_index(&self, path: FieldPath) -> StoreResult<()>;

    /// Drop the index at `path`. `NotFound` when there is none.
    async fn drop_metadata_index(&self, path: FieldPath) -> StoreResult<()>;
}

/// A short, stable name for the index of `path` (MDS names them `path_idx_` + 8 hex digits
/// of a hash of the path).
#[must_use]
pub fn index_name(path: &FieldPath) -> String {
    // FNV-1a, 64 bits: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.keys().join(",").bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("metadata_path_idx_{h:016x}")
}

/// Shallow-merge `patch`'s top-level keys into `base` (both JSON objects), as MDS's
/// `PUT ?merge=true` does; `None` when either is not an object.
#[must_use]
pub fn shallow_merge(base: &RawValue, patch: &RawValue) -> Option<RawJson> {
    let mut base: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(base.get()).ok()?;
    let patch: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(patch.get()).ok()?;
    base.extend(patch);
    serde_json::value::to_raw_value(&base).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_reject() {
        let p = FieldPath::parse("a.b_c.d-e f").unwrap();
        assert_eq!(p.keys(), ["a", "b_c", "d-e f"]);
        assert_eq!(p.dotted(), "a.b_c.d-e f");
        for bad in ["", "a..b", ".a", "a.", "a\"b", "a\\b", "a{b", "a,b", "a\nb"] {
            assert_eq!(FieldPath::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn index_names_are_stable_and_distinct() {
        let a = index_name(&FieldPath::parse("a.b").unwrap());
        assert_eq!(a, index_name(&FieldPath::parse("a.b").unwrap()));
        assert_ne!(a, index_name(&FieldPath::parse("a.c").unwrap()));
        assert!(a.starts_with("metadata_path_idx_") && a.len() == 34, "{a}");
    }

    #[test]
    fn merge_is_shallow() {
        let base = RawValue::from_string(r#"{"a":{"x":1,"y":2},"b":1}"#.into()).unwrap();
        let patch = RawValue::from_string(r#"{"a":{"z":3},"c":true}"#.into()).unwrap();
        let merged: serde_json::Value =
            serde_json::from_str(shallow_merge(&base, &patch).unwrap().get()).unwrap();
        assert_eq!(
            merged,
            serde_json::json!({"a": {"z": 3}, "b": 1, "c": true})
        );
        let list = RawValue::from_string("[1]".into()).unwrap();
        assert!(shallow_merge(&list, &patch).is_none());
    }
}
