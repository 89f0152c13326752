//! Portable SQL shared by the SQL backends.
//!
//! SQLite and PostgreSQL both accept `$1`-style placeholders and the statements here use
//! only what both dialects mean the same way. Backends bind [`Param`]s in order and map
//! rows to [`RawRecord`]; dialect-specific SQL (schema, upserts) stays in each backend.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::StoreError;
use crate::model::{BundleRecord, IndexRecord, ListQuery, Page, UrlQuery};

/// A bound parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Text(String),
    Int(i64),
    Null,
}

impl From<&str> for Param {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}
impl From<String> for Param {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}
impl From<Option<String>> for Param {
    fn from(s: Option<String>) -> Self {
        s.map_or(Self::Null, Self::Text)
    }
}
impl From<Option<i64>> for Param {
    fn from(s: Option<i64>) -> Self {
        s.map_or(Self::Null, Self::Int)
    }
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
}

impl Sql {
    pub(crate) fn new(text: &str) -> Self {
        Self {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }
    /// Bind a parameter and return its placeholder.
    pub(crate) fn bind(&mut self, p: impl Into<Param>) -> String {
        self.params.push(p.into());
        format!("${}", self.params.len())
    }
}

/// Columns of `index_record`, in [`RawRecord`] order.
pub const RECORD_COLUMNS: &str = "r.did, r.baseid, r.rev, r.form, r.size, r.file_name, r.version, \
     r.uploader, r.description, r.created_date, r.updated_date, r.content_created_date, \
     r.content_updated_date, r.urls, r.urls_metadata, r.acl, r.authz, r.hashes, r.metadata";

pub const SELECT_BY_DID: &str = "SELECT r.did, r.baseid, r.rev, r.form, r.size, r.file_name, r.version, r.uploader, \
     r.description, r.created_date, r.updated_date, r.content_created_date, \
     r.content_updated_date, r.urls, r.urls_metadata, r.acl, r.authz, r.hashes, r.metadata \
     FROM index_record r WHERE r.did = $1";

pub const SELECT_VERSIONS: &str = "SELECT r.did, r.baseid, r.rev, r.form, r.size, r.file_name, r.version, r.uploader, \
     r.description, r.created_date, r.updated_date, r.content_created_date, \
     r.content_updated_date, r.urls, r.urls_metadata, r.acl, r.authz, r.hashes, r.metadata \
     FROM index_record r WHERE r.baseid = $1 ORDER BY r.created_date, r.did";

pub const INSERT_RECORD: &str = "INSERT INTO index_record (did, baseid, rev, form, size, \
     file_name, version, uploader, description, created_date, updated_date, \
     content_created_date, content_updated_date, urls, urls_metadata, acl, authz, hashes, \
     metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
     $17, $18, $19)";

/// Parameters: the 19 columns with `$1` = did, then `$20` = the expected rev.
pub const UPDATE_RECORD: &str = "UPDATE index_record SET baseid = $2, rev = $3, form = $4, \
     size = $5, file_name = $6, version = $7, uploader = $8, description = $9, \
     created_date = $10, updated_date = $11, content_created_date = $12, \
     content_updated_date = $13, urls = $14, urls_metadata = $15, acl = $16, authz = $17, \
     hashes = $18, metadata = $19 WHERE did = $1 AND rev = $20";

pub const SELECT_REV: &str = "SELECT rev FROM index_record WHERE did = $1";
pub const DELETE_RECORD: &str = "DELETE FROM index_record WHERE did = $1 AND rev = $2";

/// The side tables are keyed by what queries look up, `(value…, did)` (migration 0009): a
/// record's side rows are found from its own JSON columns ([`for_each_side_row`]), and
/// removed one by one with these statements. Parameters as in the matching `INSERT_*`.
pub const INSERT_HASH: &str =
    "INSERT INTO index_record_hash (did, hash_type, hash_value) VALUES ($1, $2, $3)";
pub const INSERT_URL: &str = "INSERT INTO index_record_url (did, url) VALUES ($1, $2)";
pub const INSERT_ACE: &str = "INSERT INTO index_record_ace (did, ace) VALUES ($1, $2)";
pub const INSERT_AUTHZ: &str = "INSERT INTO index_record_authz (did, resource) VALUES ($1, $2)";
pub const INSERT_METADATA: &str =
    "INSERT INTO index_record_metadata (did, key, value) VALUES ($1, $2, $3)";
pub const INSERT_URL_METADATA: &str =
    "INSERT INTO index_record_url_metadata (did, url, key, value) VALUES ($1, $2, $3, $4)";

pub const DELETE_HASH: &str =
    "DELETE FROM index_record_hash WHERE hash_value = $3 AND hash_type = $2 AND did = $1";
pub const DELETE_URL: &str = "DELETE FROM index_record_url WHERE url = $2 AND did = $1";
pub const DELETE_ACE: &str = "DELETE FROM index_record_ace WHERE ace = $2 AND did = $1";
pub const DELETE_AUTHZ: &str = "DELETE FROM index_record_authz WHERE resource = $2 AND did = $1";
pub const DELETE_METADATA: &str =
    "DELETE FROM index_record_metadata WHERE key = $2 AND value = $3 AND did = $1";
pub const DELETE_URL_METADATA: &str = "DELETE FROM index_record_url_metadata \
     WHERE key = $3 AND value = $4 AND url = $2 AND did = $1";

pub const SELECT_ALIASES: &str = "SELECT name FROM index_record_alias WHERE did = $1 ORDER BY name";
pub const SELECT_ALIAS_TARGET: &str = "SELECT did FROM index_record_alias WHERE name = $1";
pub const INSERT_ALIAS: &str = "INSERT INTO index_record_alias (name, did) VALUES ($1, $2)";
pub const DELETE_ALIASES: &str = "DELETE FROM index_record_alias WHERE did = $1";
pub const DELETE_ALIAS: &str = "DELETE FROM index_record_alias WHERE did = $1 AND name = $2";

/// `SUM` of a BIGINT is NUMERIC in PostgreSQL: the cast keeps both columns 64-bit integers.
pub const STATS_ALL: &str =
    "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM index_record";
pub const STATS_BEFORE: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) \
     FROM index_record WHERE created_date < $1";

pub const SELECT_INDEX_USER: &str = "SELECT password_hash FROM index_user WHERE username = $1";

/// A record row as stored: scalar columns plus JSON text for the collections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub did: String,
    pub baseid: String,
    pub rev: String,
    pub form: Option<String>,
    pub size: Option<i64>,
    pub file_name: Option<String>,
    pub version: Option<String>,
    pub uploader: Option<String>,
    pub description: Option<String>,
    pub created_date: String,
    pub updated_date: String,
    pub content_created_date: Option<String>,
    pub content_updated_date: Option<String>,
    pub urls: String,
    pub urls_metadata: String,
    pub acl: String,
    pub authz: String,
    pub hashes: String,
    pub metadata: String,
}

fn json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Backend(format!("corrupt JSON in column {column}: {e}")))
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    // Serializing maps of strings and JSON values cannot fail.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

/// A record row serializes to exactly the JSON of its [`IndexRecord`] (same keys, same
/// order), copying the stored JSON collections through instead of decoding them: listings
/// and record GETs are served without building maps.
impl serde::Serialize for RawRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        fn raw<'t, E: serde::ser::Error>(
            column: &str,
            text: &'t str,
        ) -> Result<&'t serde_json::value::RawValue, E> {
            serde_json::from_str(text)
                .map_err(|e| E::custom(format!("corrupt JSON in column {column}: {e}")))
        }
        let mut st = s.serialize_struct("IndexRecord", 19)?;
        st.serialize_field("did", &self.did)?;
        st.serialize_field("baseid", &self.baseid)?;
        st.serialize_field("rev", &self.rev)?;
        st.serialize_field("form", &self.form)?;
        st.serialize_field("size", &self.size)?;
        st.serialize_field("file_name", &self.file_name)?;
        st.serialize_field("version", &self.version)?;
        st.serialize_field("uploader", &self.uploader)?;
        st.serialize_field("description", &self.description)?;
        st.serialize_field("urls", raw::<S::Error>("urls", &self.urls)?)?;
        st.serialize_field(
            "urls_metadata",
            raw::<S::Error>("urls_metadata", &self.urls_metadata)?,
        )?;
        st.serialize_field("acl", raw::<S::Error>("acl", &self.acl)?)?;
        st.serialize_field("authz", raw::<S::Error>("authz", &self.authz)?)?;
        st.serialize_field("hashes", raw::<S::Error>("hashes", &self.hashes)?)?;
        st.serialize_field("metadata", raw::<S::Error>("metadata", &self.metadata)?)?;
        st.serialize_field("created_date", &self.created_date)?;
        st.serialize_field("updated_date", &self.updated_date)?;
        st.serialize_field("content_created_date", &self.content_created_date)?;
        st.serialize_field("content_updated_date", &self.content_updated_date)?;
        st.end()
    }
}

/// A stored record row borrowed from the driver's row buffer: a [`RawRecord`] that owns
/// nothing, for writing a row straight into a response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub did: &'a str,
    pub baseid: &'a str,
    pub rev: &'a str,
    pub form: Option<&'a str>,
    pub size: Option<i64>,
    pub file_name: Option<&'a str>,
    pub version: Option<&'a str>,
    pub uploader: Option<&'a str>,
    pub description: Option<&'a str>,
    pub created_date: &'a str,
    pub updated_date: &'a str,
    pub content_created_date: Option<&'a str>,
    pub content_updated_date: Option<&'a str>,
    pub urls: &'a str,
    pub urls_metadata: &'a str,
    pub acl: &'a str,
    pub authz: &'a str,
    pub hashes: &'a str,
    pub metadata: &'a str,
}

impl RecordRef<'_> {
    /// Append the record's JSON to `out`: the keys, order and bytes of the [`RawRecord`]'s
    /// (and so the [`IndexRecord`]'s) serialization. The stored JSON collections are copied
    /// as they are, without parsing them again: weft wrote them, compact, from the same
    /// types.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        fn value<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, v: &T) {
            out.extend_from_slice(key.as_bytes());
            // Strings, integers and nulls into a Vec: serde_json cannot fail on them.
            let _ = serde_json::to_writer(&mut *out, v);
        }
        fn stored(out: &mut Vec<u8>, key: &str, json: &str) {
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(json.as_bytes());
        }
        value(out, "{\"did\":", self.did);
        value(out, ",\"baseid\":", self.baseid);
        value(out, ",\"rev\":", self.rev);
        value(out, ",\"form\":", &self.form);
        value(out, ",\"size\":", &self.size);
        value(out, ",\"file_name\":", &self.file_name);
        value(out, ",\"version\":", &self.version);
        value(out, ",\"uploader\":", &self.uploader);
        value(out, ",\"description\":", &self.description);
        stored(out, ",\"urls\":", self.urls);
        stored(out, ",\"urls_metadata\":", self.urls_metadata);
        stored(out, ",\"acl\":", self.acl);
        stored(out, ",\"authz\":", self.authz);
        stored(out, ",\"hashes\":", self.hashes);
        stored(out, ",\"metadata\":", self.metadata);
        value(out, ",\"created_date\":", self.created_date);
        value(out, ",\"updated_date\":", self.updated_date);
        value(
            out,
            ",\"content_created_date\":",
            &self.content_created_date,
        );
        value(
            out,
            ",\"content_updated_date\":",
            &self.content_updated_date,
        );
        out.push(b'}');
    }
}

impl RecordRef<'_> {
    /// The row, owned.
    #[must_use]
    pub fn to_raw(&self) -> RawRecord {
        let owned = |v: Option<&str>| v.map(str::to_owned);
        RawRecord {
            did: self.did.to_owned(),
            baseid: self.baseid.to_owned(),
            rev: self.rev.to_owned(),
            form: owned(self.form),
            size: self.size,
            file_name: owned(self.file_name),
            version: owned(self.version),
            uploader: owned(self.uploader),
            description: owned(self.description),
            created_date: self.created_date.to_owned(),
            updated_date: self.updated_date.to_owned(),
            content_created_date: owned(self.content_created_date),
            content_updated_date: owned(self.content_updated_date),
            urls: self.urls.to_owned(),
            urls_metadata: self.urls_metadata.to_owned(),
            acl: self.acl.to_owned(),
            authz: self.authz.to_owned(),
            hashes: self.hashes.to_owned(),
            metadata: self.metadata.to_owned(),
        }
    }
}

/// Writes records into the JSON text of an array, `[{…},{…}]`, one at a time.
#[derive(Debug, Default)]
pub struct JsonArray {
    out: Vec<u8>,
}

impl JsonArray {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Append one record.
    pub fn push(&mut self, record: &RecordRef<'_>) {
        self.out.push(if self.out.is_empty() { b'[' } else { b',' });
        record.write_json(&mut self.out);
    }

    /// The array's text.
    #[must_use]
    pub fn finish(mut self) -> Vec<u8> {
        if self.out.is_empty() {
            self.out.push(b'[');
        }
        self.out.push(b']');
        self.out
    }
}

impl RawRecord {
    /// The row, borrowed.
    #[must_use]
    pub fn borrowed(&self) -> RecordRef<'_> {
        RecordRef {
            did: &self.did,
            baseid: &self.baseid,
            rev: &self.rev,
            form: self.form.as_deref(),
            size: self.size,
            file_name: self.file_name.as_deref(),
            version: self.version.as_deref(),
            uploader: self.uploader.as_deref(),
            description: self.description.as_deref(),
            created_date: &self.created_date,
            updated_date: &self.updated_date,
            content_created_date: self.content_created_date.as_deref(),
            content_updated_date: self.content_updated_date.as_deref(),
            urls: &self.urls,
            urls_metadata: &self.urls_metadata,
            acl: &self.acl,
            authz: &self.authz,
            hashes: &self.hashes,
            metadata: &self.metadata,
        }
    }

    /// The record's JSON ([`RecordRef::write_json`]).
    #[must_use]
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        self.borrowed().write_json(&mut out);
        out
    }

    pub fn into_record(self) -> Result<IndexRecord, StoreError> {
        Ok(IndexRecord {
            urls: json("urls", &self.urls)?,
            urls_metadata: json("urls_metadata", &self.urls_metadata)?,
            acl: json("acl", &self.acl)?,
            authz: json("authz", &self.authz)?,
            hashes: json("hashes", &self.hashes)?,
            metadata: json("metadata", &self.metadata)?,
            did: self.did,
            baseid: self.baseid,
            rev: self.rev,
            form: self.form,
            size: self.size,
            file_name: self.file_name,
            version: self.version,
            uploader: self.uploader,
            description: self.description,
            created_date: self.created_date,
            updated_date: self.updated_date,
            content_created_date: self.content_created_date,
            content_updated_date: self.content_updated_date,
        })
    }

    /// The 19 column parameters in [`INSERT_RECORD`] order.
    #[must_use]
    pub fn params(r: &IndexRecord) -> Vec<Param> {
        vec![
            Param::from(r.did.as_str()),
            Param::from(r.baseid.as_str()),
            Param::from(r.rev.as_str()),
            Param::from(r.form.clone()),
            Param::from(r.size),
            Param::from(r.file_name.clone()),
            Param::from(r.version.clone()),
            Param::from(r.uploader.clone()),
            Param::from(r.description.clone()),
            Param::from(r.created_date.as_str()),
            Param::from(r.updated_date.as_str()),
            Param::from(r.content_created_date.clone()),
            Param::from(r.content_updated_date.clone()),
            Param::Text(to_json(&r.urls)),
            Param::Text(to_json(&r.urls_metadata)),
            Param::Text(to_json(&r.acl)),
            Param::Text(to_json(&r.authz)),
            Param::Text(to_json(&r.hashes)),
            Param::Text(to_json(&r.metadata)),
        ]
    }
}

/// One side-table row of a record (its did aside), borrowed from the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SideRow<'a> {
    /// `(hash_type, hash_value)`
    Hash(&'a str, &'a str),
    Url(&'a str),
    Ace(&'a str),
    Authz(&'a str),
    /// `(key, value)`
    Metadata(&'a str, std::borrow::Cow<'a, str>),
    /// `(url, key, value)`
    UrlMetadata(&'a str, &'a str, std::borrow::Cow<'a, str>),
}

impl SideRow<'_> {
    /// The portable `INSERT` of this row's table; its parameters are the did, then the
    /// row's fields in order.
    #[must_use]
    pub fn statement(&self) -> &'static str {
        match self {
            Self::Hash(..) => INSERT_HASH,
            Self::Url(_) => INSERT_URL,
            Self::Ace(_) => INSERT_ACE,
            Self::Authz(_) => INSERT_AUTHZ,
            Self::Metadata(..) => INSERT_METADATA,
            Self::UrlMetadata(..) => INSERT_URL_METADATA,
        }
    }

    /// The portable `DELETE` of this row, parameters as for [`Self::statement`].
    #[must_use]
    pub fn delete_statement(&self) -> &'static str {
        match self {
            Self::Hash(..) => DELETE_HASH,
            Self::Url(_) => DELETE_URL,
            Self::Ace(_) => DELETE_ACE,
            Self::Authz(_) => DELETE_AUTHZ,
            Self::Metadata(..) => DELETE_METADATA,
            Self::UrlMetadata(..) => DELETE_URL_METADATA,
        }
    }

    /// The row's fields after the did, in [`Self::statement`]'s parameter order.
    #[must_use]
    pub fn fields(&self) -> Vec<&str> {
        match self {
            Self::Hash(k, v) => vec![k, v],
            Self::Url(v) | Self::Ace(v) | Self::Authz(v) => vec![v],
            Self::Metadata(k, v) => vec![k, v.as_ref()],
            Self::UrlMetadata(u, k, v) => vec![u, k, v.as_ref()],
        }
    }
}

fn metadata_value(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => std::borrow::Cow::Borrowed(s),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

/// Every side-table row that makes a record queryable, table by table (hashes, URLs, ACEs,
/// authz resources, metadata, URL metadata) and within a table in primary-key order, each
/// value once. Bulk loads rely on that order: a record's rows append to each table.
pub fn for_each_side_row<'a, E>(
    r: &'a IndexRecord,
    mut f: impl FnMut(SideRow<'a>) -> Result<(), E>,
) -> Result<(), E> {
    for (kind, value) in &r.hashes {
        f(SideRow::Hash(kind, value))?;
    }
    for url in r.urls.iter().collect::<BTreeSet<_>>() {
        f(SideRow::Url(url))?;
    }
    for ace in r.acl.iter().collect::<BTreeSet<_>>() {
        f(SideRow::Ace(ace))?;
    }
    for res in r.authz.iter().collect::<BTreeSet<_>>() {
        f(SideRow::Authz(res))?;
    }
    for (k, v) in &r.metadata {
        f(SideRow::Metadata(k, metadata_value(v)))?;
    }
    for (url, meta) in &r.urls_metadata {
        for (k, v) in meta {
            f(SideRow::UrlMetadata(url, k, metadata_value(v)))?;
        }
    }
    Ok(())
}

/// The parameters of a side row's statements: the did, then the row's fields.
fn side_params(did: &str, row: &SideRow<'_>) -> Vec<Param> {
    std::iter::once(did)
        .chain(row.fields())
        .map(Param::from)
        .collect()
}

/// The side-table rows that make a record queryable: `(statement, params)` pairs.
#[must_use]
pub fn side_rows(r: &IndexRecord) -> Vec<(&'static str, Vec<Param>)> {
    let mut rows = Vec::new();
    let _ = for_each_side_row::<()>(r, |row| {
        rows.push((row.statement(), side_params(&r.did, &row)));
        Ok(())
    });
    rows
}

/// What replacing record `old` by `new` (the same did) changes in the side tables: the
/// `DELETE`s of the rows only `old` has, then the `INSERT`s of the rows only `new` has, as
/// `(statement, params)` pairs. Rows both have stay as they are.
#[must_use]
pub fn side_row_changes(
    old: Option<&IndexRecord>,
    new: Option<&IndexRecord>,
) -> Vec<(&'static str, Vec<Param>)> {
    fn rows(r: Option<&IndexRecord>) -> Vec<SideRow<'_>> {
        let mut rows = Vec::new();
        if let Some(r) = r {
            let _ = for_each_side_row::<()>(r, |row| {
                rows.push(row);
                Ok(())
            });
        }
        rows
    }
    let (before, after) = (rows(old), rows(new));
    let mut changes = Vec::new();
    if let Some(old) = old {
        for row in before.iter().filter(|row| !after.contains(row)) {
            changes.push((row.delete_statement(), side_params(&old.did, row)));
        }
    }
    if let Some(new) = new {
        for row in after.iter().filter(|row| !before.contains(row)) {
            changes.push((row.statement(), side_params(&new.did, row)));
        }
    }
    changes
}

/// The six JSON collection columns of a record ([`INSERT_RECORD`]'s `$14`–`$19`), written
/// into reusable buffers: what [`RawRecord::params`] binds, without allocating per record.
#[derive(Debug, Default)]
pub struct JsonColumns {
    pub urls: String,
    pub urls_metadata: String,
    pub acl: String,
    pub authz: String,
    pub hashes: String,
    pub metadata: String,
}

impl JsonColumns {
    /// Serialize `r`'s collections, replacing the previous record's.
    pub fn fill(&mut self, r: &IndexRecord) {
        fn put<T: serde::Serialize>(buf: &mut String, v: &T) {
            let mut bytes = std::mem::take(buf).into_bytes();
            bytes.clear();
            // Maps of strings and JSON values always serialize, and always to UTF-8.
            let _ = serde_json::to_writer(&mut bytes, v);
            *buf = String::from_utf8(bytes).unwrap_or_default();
        }
        put(&mut self.urls, &r.urls);
        put(&mut self.urls_metadata, &r.urls_metadata);
        put(&mut self.acl, &r.acl);
        put(&mut self.authz, &r.authz);
        put(&mut self.hashes, &r.hashes);
        put(&mut self.metadata, &r.metadata);
    }
}

/// `%text%` for LIKE, with `\` escaping the wildcards.
fn like_contains(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

fn select_records(sql: &mut Sql) {
    let _ = write!(
        sql.text,
        "SELECT {RECORD_COLUMNS} FROM index_record r WHERE 1 = 1"
    );
}

/// The listing statement for `GET /index/`.
#[must_use]
pub fn list(q: &ListQuery) -> Sql {
    let mut sql = Sql::new("");
    // The did the rows are ordered and paged by. Driven from the hash index, it is the hash
    // row's: that index holds (hash_value, hash_type, did), so its matches come out in did
    // order and SQLite needs no temporary B-tree to sort them (`r.did` is the same value, but
    // the planner sorts by it: an ephemeral table per lookup, about a tenth of a hash GET's
    // instructions).
    let mut key = "r.did";
    match q.hashes.split_first() {
        // The common lookup by checksum drives from the hash index with a join: cheaper than
        // materializing an `IN (subquery)` for one matching row.
        Some(((kind, value), rest)) => {
            key = "h.did";
            let (a, b) = (sql.bind(kind.as_str()), sql.bind(value.as_str()));
            let _ = write!(
                sql.text,
                "SELECT {RECORD_COLUMNS} FROM index_record_hash h JOIN index_record r \
                 ON r.did = h.did WHERE h.hash_value = {b} AND h.hash_type = {a}"
            );
            let rest = ListQuery {
                hashes: rest.to_vec(),
                ..q.clone()
            };
            record_conditions(&rest, &mut sql);
        }
        None => {
            select_records(&mut sql);
            record_conditions(q, &mut sql);
        }
    }
    if q.ids.is_some() {
        let _ = write!(sql.text, " ORDER BY {key}");
        return sql;
    }
    match &q.page {
        Page::First => {
            let l = sql.bind(Param::Int(i64::from(q.limit)));
            let _ = write!(sql.text, " ORDER BY {key} LIMIT {l}");
        }
        Page::After(start) => {
            let s = sql.bind(start.as_str());
            let l = sql.bind(Param::Int(i64::from(q.limit)));
            let _ = write!(sql.text, " AND {key} > {s} ORDER BY {key} LIMIT {l}");
        }
        Page::Number(page) => {
            let l = sql.bind(Param::Int(i64::from(q.limit)));
            let o = sql.bind(Param::Int(i64::from(q.limit) * i64::from(*page)));
            let _ = write!(
                sql.text,
                " ORDER BY r.updated_date, r.did LIMIT {l} OFFSET {o}"
            );
        }
    }
    sql
}

/// Append `AND …` for every filter of `q` (records aliased `r`), `ids` included, paging not.
fn record_conditions(q: &ListQuery, sql: &mut Sql) {
    let cond = |sql: &mut Sql, s: String| {
        sql.text.push_str(" AND ");
        sql.text.push_str(&s);
    };
    if let Some(ids) = &q.ids {
        if ids.is_empty() {
            cond(sql, "1 = 0".into());
        } else {
            let ph: Vec<String> = ids.iter().map(|id| sql.bind(id.as_str())).collect();
            cond(sql, format!("r.did IN ({})", ph.join(", ")));
        }
    }
    if let Some(size) = q.size {
        let p = sql.bind(Param::Int(size));
        cond(sql, format!("r.size = {p}"));
    }
    if q.blank {
        cond(sql, "r.size IS NULL".into());
    }
    for (col, val) in [
        ("file_name", &q.file_name),
        ("version", &q.version),
        ("uploader", &q.uploader),
    ] {
        if let Some(v) = val {
            let p = sql.bind(v.as_str());
            cond(sql, format!("r.{col} = {p}"));
        }
    }
    for url in &q.urls {
        let p = sql.bind(url.as_str());
        cond(
            sql,
            format!("r.did IN (SELECT did FROM index_record_url WHERE url = {p})"),
        );
    }
    for (table, col, column, list) in [
        ("index_record_ace", "ace", "acl", &q.acl),
        ("index_record_authz", "resource", "authz", &q.authz),
    ] {
        match list {
            // No side rows: the record's own list is empty (it is stored as JSON text, and
            // an empty list always as `[]`).
            Some(items) if items.is_empty() => cond(sql, format!("r.{column} = '[]'")),
            Some(items) => {
                for item in items {
                    let p = sql.bind(item.as_str());
                    cond(
                        sql,
                        format!("r.did IN (SELECT did FROM {table} WHERE {col} = {p})"),
                    );
                }
            }
            None => {}
        }
    }
    for (kind, value) in &q.hashes {
        let (a, b) = (sql.bind(kind.as_str()), sql.bind(value.as_str()));
        cond(
            sql,
            format!(
                "r.did IN (SELECT did FROM index_record_hash WHERE hash_value = {b} AND hash_type = {a})"
            ),
        );
    }
    for (k, v) in &q.metadata {
        let (a, b) = (sql.bind(k.as_str()), sql.bind(v.as_str()));
        cond(
            sql,
            format!(
                "r.did IN (SELECT did FROM index_record_metadata WHERE key = {a} AND value = {b})"
            ),
        );
    }
    for (url, pairs) in &q.urls_metadata {
        let u = sql.bind(like_contains(url));
        let mut inner = format!(
            "r.did IN (SELECT u.did FROM index_record_url u WHERE u.url LIKE {u} ESCAPE '\\'"
        );
        for (k, v) in pairs {
            let (a, b) = (sql.bind(k.as_str()), sql.bind(v.as_str()));
            let _ = write!(
                inner,
                " AND EXISTS (SELECT 1 FROM index_record_url_metadata m WHERE m.did = u.did \
                 AND m.url = u.url AND m.key = {a} AND m.value = {b})"
            );
        }
        inner.push(')');
        cond(sql, inner);
    }
    let n = &q.negate;
    for (table, col, items) in [
        ("index_record_url", "url", &n.urls),
        ("index_record_ace", "ace", &n.acl),
        ("index_record_authz", "resource", &n.authz),
    ] {
        if !items.is_empty() {
            let ph: Vec<String> = items.iter().map(|i| sql.bind(i.as_str())).collect();
            cond(
                sql,
                format!(
                    "r.did NOT IN (SELECT did FROM {table} WHERE {col} IN ({}))",
                    ph.join(", ")
                ),
            );
        }
    }
    for (col, val) in [("file_name", &n.file_name), ("version", &n.version)] {
        if let Some(v) = val {
            let p = sql.bind(v.as_str());
            cond(sql, format!("r.{col} <> {p}"));
        }
    }
    for (k, v) in &n.metadata {
        let a = sql.bind(k.as_str());
        let value = match v {
            Some(v) => format!(" AND value = {}", sql.bind(v.as_str())),
            None => String::new(),
        };
        cond(
            sql,
            format!("r.did NOT IN (SELECT did FROM index_record_metadata WHERE key = {a}{value})"),
        );
    }
    for (url, pairs) in &n.urls_metadata {
        for (k, v) in pairs {
            let u = sql.bind(like_contains(url));
            let a = sql.bind(k.as_str());
            let value = match v {
                Some(v) => format!(" AND value = {}", sql.bind(v.as_str())),
                None => String::new(),
            };
            cond(
                sql,
                format!(
                    "r.did NOT IN (SELECT did FROM index_record_url_metadata WHERE url LIKE {u} \
                     ESCAPE '\\' AND key = {a}{value})"
                ),
            );
        }
    }
}

/// The statement for `GET /_query/urls/q` and `/_query/urls/metadata/q`.
#[must_use]
pub fn query_urls(q: &UrlQuery) -> Sql {
    let mut sql = Sql::new("");
    select_records(&mut sql);
    if let Some(inc) = &q.include {
        let p = sql.bind(like_contains(inc));
        let _ = write!(
            sql.text,
            " AND r.did IN (SELECT did FROM index_record_url WHERE url LIKE {p} ESCAPE '\\')"
        );
    }
    if let Some(exc) = &q.exclude {
        let p = sql.bind(like_contains(exc));
        let _ = write!(
            sql.text,
            " AND r.did NOT IN (SELECT did FROM index_record_url WHERE url LIKE {p} ESCAPE '\\')"
        );
    }
    match q.versioned {
        Some(true) => sql.text.push_str(" AND r.version IS NOT NULL"),
        Some(false) => sql.text.push_str(" AND r.version IS NULL"),
        None => {}
    }
    if let Some((k, v, url)) = &q.metadata {
        let (a, b) = (sql.bind(k.as_str()), sql.bind(v.as_str()));
        let url_cond = match url {
            Some(u) => format!(" AND url LIKE {} ESCAPE '\\'", sql.bind(like_contains(u))),
            None => String::new(),
        };
        let _ = write!(
            sql.text,
            " AND r.did IN (SELECT did FROM index_record_url_metadata WHERE key = {a} \
             AND value = {b}{url_cond})"
        );
    }
    let l = sql.bind(Param::Int(i64::from(q.limit)));
    let o = sql.bind(Param::Int(i64::from(q.offset)));
    let _ = write!(sql.text, " ORDER BY r.did LIMIT {l} OFFSET {o}");
    sql
}

/// Columns of `index_bundle`, in [`RawBundle`] order.
pub const BUNDLE_COLUMNS: &str = "b.bundle_id, b.name, b.size, b.checksums, b.members, \
     b.description, b.version, b.aliases, b.created_time, b.updated_time";

pub const SELECT_BUNDLE: &str = "SELECT b.bundle_id, b.name, b.size, b.checksums, b.members, \
     b.description, b.version, b.aliases, b.created_time, b.updated_time \
     FROM index_bundle b WHERE b.bundle_id = $1";

/// Inserts nothing (zero rows) when a record has the bundle's id: bundle and record ids
/// share one namespace, since the same lookups resolve both.
pub const INSERT_BUNDLE: &str = "INSERT INTO index_bundle (bundle_id, name, size, checksums, \
     members, description, version, aliases, created_time, updated_time) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
     WHERE NOT EXISTS (SELECT 1 FROM index_record WHERE did = $1)";

pub const DELETE_BUNDLE: &str = "DELETE FROM index_bundle WHERE bundle_id = $1";

/// The message of a bundle id taken, as indexd words it.
#[must_use]
pub fn bundle_exists(id: &str) -> String {
    format!("bundle id \"{id}\" already exists")
}

/// A bundle row as stored: scalar columns plus JSON text for the lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawBundle {
    pub bundle_id: String,
    pub name: String,
    pub size: i64,
    pub checksums: String,
    pub members: String,
    pub description: String,
    pub version: String,
    pub aliases: String,
    pub created_time: String,
    pub updated_time: String,
}

impl RawBundle {
    pub fn into_bundle(self) -> Result<BundleRecord, StoreError> {
        Ok(BundleRecord {
            checksums: json("checksums", &self.checksums)?,
            members: json("members", &self.members)?,
            aliases: json("aliases", &self.aliases)?,
            bundle_id: self.bundle_id,
            name: self.name,
            size: self.size,
            description: self.description,
            version: self.version,
            created_time: self.created_time,
            updated_time: self.updated_time,
        })
    }

    /// The 10 column parameters in [`INSERT_BUNDLE`] order.
    #[must_use]
    pub fn params(b: &BundleRecord) -> Vec<Param> {
        vec![
            Param::from(b.bundle_id.as_str()),
            Param::from(b.name.as_str()),
            Param::Int(b.size),
            Param::Text(to_json(&b.checksums)),
            Param::Text(to_json(&b.members)),
            Param::from(b.description.as_str()),
            Param::from(b.version.as_str()),
            Param::Text(to_json(&b.aliases)),
            Param::from(b.created_time.as_str()),
            Param::from(b.updated_time.as_str()),
        ]
    }
}

/// Select bundles by a list of ids.
#[must_use]
pub fn select_bundles(n: usize) -> String {
    format!(
        "SELECT {BUNDLE_COLUMNS} FROM index_bundle b WHERE b.bundle_id IN ({})",
        placeholders(n)
    )
}

/// `GET /index/?form=bundle`: bundles paged as records are.
#[must_use]
pub fn list_bundles(page: &Page, limit: u32) -> Sql {
    let mut sql = Sql::new("");
    let _ = write!(sql.text, "SELECT {BUNDLE_COLUMNS} FROM index_bundle b");
    let l = Param::Int(i64::from(limit));
    match page {
        Page::First => {
            let l = sql.bind(l);
            let _ = write!(sql.text, " ORDER BY b.bundle_id LIMIT {l}");
        }
        Page::After(start) => {
            let s = sql.bind(start.as_str());
            let l = sql.bind(l);
            let _ = write!(
                sql.text,
                " WHERE b.bundle_id > {s} ORDER BY b.bundle_id LIMIT {l}"
            );
        }
        Page::Number(n) => {
            let l = sql.bind(l);
            let o = sql.bind(Param::Int(i64::from(limit) * i64::from(*n)));
            let _ = write!(
                sql.text,
                " ORDER BY b.updated_time, b.bundle_id LIMIT {l} OFFSET {o}"
            );
        }
    }
    sql
}

/// `GET /index/?form=all`: `(kind, id)` of records matching `q` and of bundles, merged.
///
/// Each side is ordered and cut to the rows the page can need before the two are merged, so
/// both keep using their indexes. Columns: `kind` (`'record'` or `'bundle'`), `id`.
#[must_use]
pub fn list_entries(q: &ListQuery) -> Sql {
    let mut sql = Sql::new(
        "SELECT e.kind, e.id FROM (SELECT * FROM (SELECT 'record' AS kind, \
         r.did AS id, r.updated_date AS updated FROM index_record r WHERE 1 = 1",
    );
    record_conditions(q, &mut sql);
    let (order, outer_order) = match q.page {
        Page::Number(_) => ("updated, id", "e.updated, e.id"),
        Page::First | Page::After(_) => ("id", "e.id"),
    };
    // rows each side may contribute: the whole page after the offset
    let (cut, offset) = match &q.page {
        Page::Number(n) => {
            let offset = i64::from(q.limit) * i64::from(*n);
            (offset + i64::from(q.limit), offset)
        }
        Page::First | Page::After(_) => (i64::from(q.limit), 0),
    };
    let start = match (&q.ids, &q.page) {
        (None, Page::After(s)) => Some(s.as_str()),
        _ => None,
    };
    let side_end = |sql: &mut Sql, key: &str| {
        if let Some(s) = start {
            let p = sql.bind(s);
            let _ = write!(sql.text, " AND {key} > {p}");
        }
        sql.text.push_str(" ORDER BY ");
        sql.text.push_str(order);
        if q.ids.is_none() {
            let l = sql.bind(Param::Int(cut));
            let _ = write!(sql.text, " LIMIT {l}");
        }
    };
    side_end(&mut sql, "r.did");
    sql.text.push_str(
        ") x UNION ALL SELECT * FROM (SELECT 'bundle' AS kind, b.bundle_id AS id, \
         b.updated_time AS updated FROM index_bundle b WHERE 1 = 1",
    );
    if let Some(ids) = &q.ids {
        if ids.is_empty() {
            sql.text.push_str(" AND 1 = 0");
        } else {
            let ph: Vec<String> = ids.iter().map(|id| sql.bind(id.as_str())).collect();
            let _ = write!(sql.text, " AND b.bundle_id IN ({})", ph.join(", "));
        }
    }
    side_end(&mut sql, "b.bundle_id");
    let _ = write!(sql.text, ") y) e ORDER BY {outer_order}");
    if q.ids.is_none() {
        let l = sql.bind(Param::Int(i64::from(q.limit)));
        let o = sql.bind(Param::Int(offset));
        let _ = write!(sql.text, " LIMIT {l} OFFSET {o}");
    }
    sql
}

/// The placeholder list `$1, $2, …, $n`.
#[must_use]
pub fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Select records by a list of dids (bulk documents).
#[must_use]
pub fn select_many(n: usize) -> String {
    format!(
        "SELECT {RECORD_COLUMNS} FROM index_record r WHERE r.did IN ({})",
        placeholders(n)
    )
}

/// An empty urls_metadata entry for each URL lacking one (indexd always lists every URL).
pub fn fill_urls_metadata(urls: &[String], meta: &mut BTreeMap<String, Map<String, Value>>) {
    for u in urls {
        meta.entry(u.clone()).or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Negate;

    /// The row a backend would hold for `r`.
    fn stored(r: &IndexRecord) -> RawRecord {
        RawRecord {
            did: r.did.clone(),
            baseid: r.baseid.clone(),
            rev: r.rev.clone(),
            form: r.form.clone(),
            size: r.size,
            file_name: r.file_name.clone(),
            version: r.version.clone(),
            uploader: r.uploader.clone(),
            description: r.description.clone(),
            created_date: r.created_date.clone(),
            updated_date: r.updated_date.clone(),
            content_created_date: r.content_created_date.clone(),
            content_updated_date: r.content_updated_date.clone(),
            urls: to_json(&r.urls),
            urls_metadata: to_json(&r.urls_metadata),
            acl: to_json(&r.acl),
            authz: to_json(&r.authz),
            hashes: to_json(&r.hashes),
            metadata: to_json(&r.metadata),
        }
    }

    #[test]
    fn rows_are_written_as_records_serialize() {
        let mut odd = crate::test_suite::sample(7);
        odd.form = None;
        odd.size = Some(-1);
        odd.file_name = Some("a \"quoted\"\n\tname \u{e9}\u{1} \\ /".into());
        odd.description = None;
        odd.content_created_date = Some("2024-01-02T00:00:00.000000".into());
        odd.urls_metadata.insert(
            "s3://b/\"k\"".into(),
            serde_json::json!({"k\u{7f}": "\u{2028}"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        odd.metadata
            .insert("n".into(), serde_json::json!({"x": [1, 2.5, null]}));
        for r in [crate::test_suite::sample(1), odd] {
            let row = stored(&r);
            assert_eq!(row.to_json(), serde_json::to_vec(&r).unwrap());
            assert_eq!(row.to_json(), serde_json::to_vec(&row).unwrap());
            assert_eq!(row.borrowed().to_raw(), row);
        }
        let mut array = JsonArray::new();
        assert_eq!(JsonArray::new().finish(), b"[]");
        let (a, b) = (crate::test_suite::sample(1), crate::test_suite::sample(2));
        array.push(&stored(&a).borrowed());
        array.push(&stored(&b).borrowed());
        assert_eq!(array.finish(), serde_json::to_vec(&[&a, &b]).unwrap());
    }

    #[test]
    fn placeholders_are_numbered_in_bind_order() {
        let q = ListQuery {
            limit: 10,
            page: Page::After("a".into()),
            hashes: vec![("md5".into(), "x".into())],
            acl: Some(vec![]),
            negate: Negate {
                file_name: Some("f".into()),
                ..Negate::default()
            },
            ..ListQuery::default()
        };
        let sql = list(&q);
        assert!(
            sql.text
                .contains("FROM index_record_hash h JOIN index_record r")
                && sql.text.contains("h.hash_value = $2 AND h.hash_type = $1"),
            "{}",
            sql.text
        );
        let two = list(&ListQuery {
            limit: 1,
            hashes: vec![("md5".into(), "x".into()), ("sha1".into(), "y".into())],
            ..ListQuery::default()
        });
        assert!(
            two.text
                .contains("r.did IN (SELECT did FROM index_record_hash WHERE hash_value = $4"),
            "{}",
            two.text
        );
        assert!(sql.text.contains("AND r.acl = '[]'"));
        assert!(sql.text.contains("r.file_name <> $3"));
        assert!(
            sql.text.ends_with("AND h.did > $4 ORDER BY h.did LIMIT $5"),
            "{}",
            sql.text
        );
        assert_eq!(
            sql.params,
            vec![
                Param::from("md5"),
                Param::from("x"),
                Param::from("f"),
                Param::from("a"),
                Param::Int(10)
            ]
        );
    }

    #[test]
    fn entries_cut_each_side_to_the_page() {
        let sql = list_entries(&ListQuery {
            limit: 5,
            page: Page::After("a".into()),
            size: Some(3),
            ..ListQuery::default()
        });
        assert!(
            sql.text
                .contains("r.size = $1 AND r.did > $2 ORDER BY id LIMIT $3) x UNION ALL"),
            "{}",
            sql.text
        );
        assert!(
            sql.text.ends_with(
                "AND b.bundle_id > $4 ORDER BY id LIMIT $5) y) e ORDER BY e.id LIMIT $6 OFFSET $7"
            ),
            "{}",
            sql.text
        );
        let paged = list_entries(&ListQuery {
            limit: 5,
            page: Page::Number(2),
            ..ListQuery::default()
        });
        assert!(
            paged
                .text
                .ends_with("ORDER BY e.updated, e.id LIMIT $3 OFFSET $4")
        );
        assert_eq!(
            paged.params,
            vec![
                Param::Int(15),
                Param::Int(15),
                Param::Int(5),
                Param::Int(10)
            ]
        );
    }

    #[test]
    fn like_escapes_wildcards() {
        assert_eq!(like_contains("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn page_numbers_order_by_update_time() {
        let sql = list(&ListQuery {
            limit: 5,
            page: Page::Number(3),
            ..ListQuery::default()
        });
        assert!(
            sql.text
                .ends_with("ORDER BY r.updated_date, r.did LIMIT $1 OFFSET $2")
        );
        assert_eq!(sql.params, vec![Param::Int(5), Param::Int(15)]);
    }
}
