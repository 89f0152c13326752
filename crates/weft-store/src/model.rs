//! Row models exchanged between services and backends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An indexd record ("document"), exactly the fields indexd stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRecord {
    pub did: String,
    pub baseid: String,
    pub rev: String,
    pub form: Option<String>,
    pub size: Option<i64>,
    pub file_name: Option<String>,
    pub version: Option<String>,
    pub uploader: Option<String>,
    pub description: Option<String>,
    /// In insertion order.
    pub urls: Vec<String>,
    /// Per URL, a JSON object of metadata. Every URL of the record has an entry.
    pub urls_metadata: BTreeMap<String, Map<String, Value>>,
    pub acl: Vec<String>,
    pub authz: Vec<String>,
    pub hashes: BTreeMap<String, String>,
    pub metadata: Map<String, Value>,
    /// Naive UTC, `weft_core::time::FORMAT`.
    pub created_date: String,
    pub updated_date: String,
    pub content_created_date: Option<String>,
    pub content_updated_date: Option<String>,
}

impl IndexRecord {
    /// The side-table form of a metadata value: strings as they are, other JSON as text.
    #[must_use]
    pub fn metadata_text(value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// How a listing is ordered and paged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Page {
    /// By did ascending, dids strictly greater than `start` (indexd's keyset cursor).
    #[default]
    First,
    After(String),
    /// By updated date, offset `limit * page` (indexd's `page=`).
    Number(u32),
}

/// Filters of `GET /index/`. Every filter present must match (AND).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListQuery {
    /// Exact dids to return; pagination is not combined with it.
    pub ids: Option<Vec<String>>,
    pub page: Page,
    pub limit: u32,
    pub size: Option<i64>,
    /// Only blank records (no size yet: an upload not yet indexed).
    pub blank: bool,
    pub file_name: Option<String>,
    pub version: Option<String>,
    pub uploader: Option<String>,
    /// The record must hold every one of these URLs.
    pub urls: Vec<String>,
    /// `Some(vec![])` means "records whose acl is empty".
    pub acl: Option<Vec<String>>,
    pub authz: Option<Vec<String>>,
    pub hashes: Vec<(String, String)>,
    pub metadata: Vec<(String, String)>,
    /// `(url substring, [(key, value)])`: a URL containing the substring carries every pair.
    pub urls_metadata: Vec<(String, Vec<(String, String)>)>,
    pub negate: Negate,
}

/// indexd's `negate_params`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Negate {
    /// Exclude records holding any of these.
    pub urls: Vec<String>,
    pub acl: Vec<String>,
    pub authz: Vec<String>,
    pub file_name: Option<String>,
    pub version: Option<String>,
    /// `(key, None)`: the key must be absent; `(key, Some(v))`: absent or different.
    pub metadata: Vec<(String, Option<String>)>,
    #[allow(clippy::type_complexity)] // mirrors `ListQuery::urls_metadata`, plus "absent"
    pub urls_metadata: Vec<(String, Vec<(String, Option<String>)>)>,
}

/// Filters of `GET /_query/urls/q` and `/_query/urls/metadata/q`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlQuery {
    /// Some URL of the record contains this.
    pub include: Option<String>,
    /// No URL of the record contains this.
    pub exclude: Option<String>,
    /// `Some(true)`: only records with a version; `Some(false)`: only without.
    pub versioned: Option<bool>,
    /// `(key, value, url substring)`: a URL metadata entry must match.
    pub metadata: Option<(String, String, Option<String>)>,
    pub limit: u32,
    pub offset: u32,
}

/// One checksum of a bundle, as indexd's bundle API spells it: `{"type", "checksum"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    #[serde(rename = "type")]
    pub kind: String,
    pub checksum: String,
}

/// An indexd bundle (`drs_bundle_record` there): a named, ordered set of records and other
/// bundles. Only the member ids are stored; what a member is called is read when needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRecord {
    pub bundle_id: String,
    pub name: String,
    pub size: i64,
    pub checksums: Vec<Checksum>,
    /// Ids of the member records and bundles, in the order they were given.
    pub members: Vec<String>,
    pub description: String,
    pub version: String,
    pub aliases: Vec<String>,
    /// Naive UTC, `weft_core::time::FORMAT`, like records' dates.
    pub created_time: String,
    pub updated_time: String,
}

/// What an entry of a mixed listing (records and bundles) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Record,
    Bundle,
}
