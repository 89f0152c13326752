//! Input limits every index write and query meets, whichever backend stores it.
//!
//! PostgreSQL refuses NUL characters (U+0000) in text and JSON, and refuses B-tree index
//! entries over about 2.7 KB; SQLite accepts both. So both are checked here, before the
//! store sees them, and both backends answer the same 400:
//!
//! - no text anywhere (fields, list entries, JSON keys and string values, query
//!   parameters, ids in paths) holds a NUL;
//! - ids (`did`, `baseid`, bundle ids) are at most [`MAX_ID_BYTES`];
//! - every value a side table or index keys on (a URL, `file_name`, an `acl` or `authz`
//!   entry, an alias, a checksum's type and value together, a `metadata` key and value
//!   together, a `urls_metadata` URL, key and value together) is at most
//!   [`MAX_INDEXED_BYTES`]: with an id beside it in the key, that fits PostgreSQL's entry
//!   size with room to spare;
//! - a listing has at most [`MAX_FILTERS`] filter conditions and [`MAX_IDS`] ids (SQLite
//!   refuses expressions deeper than 1,000 and more than 32,766 parameters).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use weft_core::WeftError;
use weft_store::IndexRecord;

/// The longest id (`did`, `baseid`, bundle id), in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// The longest value an index keys on, in bytes (see the module doc for what counts).
pub const MAX_INDEXED_BYTES: usize = 2048;
/// The most filter conditions one query may have.
pub const MAX_FILTERS: usize = 100;
/// The most ids one `ids=` listing may name.
pub const MAX_IDS: usize = 1024;

/// 400 when `value` holds a NUL character.
pub fn no_nul(field: &str, value: &str) -> Result<(), WeftError> {
    if value.contains('\0') {
        return Err(WeftError::invalid(format!(
            "{field} must not contain NUL characters (U+0000)"
        )));
    }
    Ok(())
}

fn at_most(field: &str, bytes: usize, max: usize) -> Result<(), WeftError> {
    if bytes > max {
        return Err(WeftError::invalid(format!(
            "{field} is {bytes} bytes long; the limit is {max} bytes"
        )));
    }
    Ok(())
}

/// An id: no NUL, at most [`MAX_ID_BYTES`].
pub fn id(field: &str, value: &str) -> Result<(), WeftError> {
    no_nul(field, value)?;
    at_most(field, value.len(), MAX_ID_BYTES)
}

/// A value an index keys on: no NUL, at most [`MAX_INDEXED_BYTES`].
pub fn indexed(field: &str, value: &str) -> Result<(), WeftError> {
    no_nul(field, value)?;
    at_most(field, value.len(), MAX_INDEXED_BYTES)
}

/// Every entry of a list an index keys on.
pub fn indexed_all(field: &str, values: &[String]) -> Result<(), WeftError> {
    values.iter().try_for_each(|v| indexed(field, v))
}

/// No NUL in any key or string of a JSON value, at any depth.
pub fn json(field: &str, value: &Value) -> Result<(), WeftError> {
    match value {
        Value::String(s) => no_nul(field, s),
        Value::Array(items) => items.iter().try_for_each(|v| json(field, v)),
        Value::Object(map) => json_object(field, map),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

/// No NUL in any key or string of a JSON object, at any depth.
pub fn json_object(field: &str, map: &Map<String, Value>) -> Result<(), WeftError> {
    map.iter().try_for_each(|(k, v)| {
        no_nul(&format!("{field} key"), k)?;
        json(field, v)
    })
}

/// A record's `hashes`: types and values without NUL, each pair within the limit.
pub fn hashes(hashes: &BTreeMap<String, String>) -> Result<(), WeftError> {
    for (kind, value) in hashes {
        no_nul("hash type", kind)?;
        no_nul("hash value", value)?;
        at_most(
            &format!("hash {kind:?} (type and value)"),
            kind.len() + value.len(),
            MAX_INDEXED_BYTES,
        )?;
    }
    Ok(())
}

/// A record's `metadata`: no NUL anywhere, each key with its value (as the side table
/// stores it) within the limit.
pub fn metadata(map: &Map<String, Value>) -> Result<(), WeftError> {
    json_object("metadata", map)?;
    for (k, v) in map {
        at_most(
            &format!("metadata entry {k:?} (key and value)"),
            k.len() + text_len(v),
            MAX_INDEXED_BYTES,
        )?;
    }
    Ok(())
}

/// A record's `urls_metadata`: no NUL anywhere, each URL with each key and value within
/// the limit.
pub fn urls_metadata(meta: &BTreeMap<String, Map<String, Value>>) -> Result<(), WeftError> {
    for (url, map) in meta {
        indexed("urls_metadata URL", url)?;
        json_object("urls_metadata", map)?;
        for (k, v) in map {
            at_most(
                &format!("urls_metadata entry {k:?} of {url:?} (URL, key and value)"),
                url.len() + k.len() + text_len(v),
                MAX_INDEXED_BYTES,
            )?;
        }
    }
    Ok(())
}

/// The length of a metadata value as the side table stores it.
fn text_len(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        other => other.to_string().len(),
    }
}

fn optional(field: &str, value: Option<&String>) -> Result<(), WeftError> {
    value.map_or(Ok(()), |v| no_nul(field, v))
}

/// Every field of a record about to be stored.
pub fn record(r: &IndexRecord) -> Result<(), WeftError> {
    id("did", &r.did)?;
    id("baseid", &r.baseid)?;
    if let Some(f) = &r.file_name {
        indexed("file_name", f)?;
    }
    optional("version", r.version.as_ref())?;
    optional("uploader", r.uploader.as_ref())?;
    optional("description", r.description.as_ref())?;
    optional("content_created_date", r.content_created_date.as_ref())?;
    optional("content_updated_date", r.content_updated_date.as_ref())?;
    indexed_all("url", &r.urls)?;
    indexed_all("acl entry", &r.acl)?;
    indexed_all("authz entry", &r.authz)?;
    hashes(&r.hashes)?;
    metadata(&r.metadata)?;
    urls_metadata(&r.urls_metadata)
}

/// Every query parameter, key and value: no NUL.
pub fn params(pairs: &[(String, String)]) -> Result<(), WeftError> {
    for (k, v) in pairs {
        no_nul("query parameter names", k)?;
        no_nul(&format!("query parameter {k:?}"), v)?;
    }
    Ok(())
}

/// 400 when a query has more than [`MAX_FILTERS`] conditions.
pub fn filter_count(count: usize) -> Result<(), WeftError> {
    if count > MAX_FILTERS {
        return Err(WeftError::invalid(format!(
            "too many filter conditions: {count}; the limit is {MAX_FILTERS}"
        )));
    }
    Ok(())
}

/// An arborist resource path: starts with `/`, no empty segment (so no `//` and no
/// trailing `/`), no control characters, at most [`MAX_INDEXED_BYTES`].
pub fn resource_path(field: &str, path: &str) -> Result<(), WeftError> {
    indexed(field, path)?;
    let bad = |why: &str| {
        Err(WeftError::invalid(format!(
            "{field} {path:?} is not a resource path: {why}"
        )))
    };
    let Some(rest) = path.strip_prefix('/') else {
        return bad("it must start with `/`");
    };
    if rest.split('/').any(str::is_empty) {
        return bad("it has an empty segment");
    }
    if path.chars().any(char::is_control) {
        return bad("it has control characters");
    }
    Ok(())
}

/// A file name given for an upload: not blank, no control characters, not only `/`s, at
/// most [`MAX_INDEXED_BYTES`].
pub fn file_name(name: &str) -> Result<(), WeftError> {
    indexed("file_name", name)?;
    let bad = |why: &str| {
        Err(WeftError::invalid(format!(
            "file_name {name:?} is not a file name: {why}"
        )))
    };
    if name.trim().is_empty() {
        return bad("it is blank");
    }
    if name.chars().any(char::is_control) {
        return bad("it has control characters");
    }
    if name.chars().all(|c| c == '/') {
        return bad("it is only `/`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nul_and_lengths() {
        assert!(no_nul("x", "a\u{0}b").unwrap_err().message.contains("NUL"));
        assert!(id("did", &"a".repeat(256)).is_ok());
        let e = id("did", &"a".repeat(257)).unwrap_err();
        assert_eq!(e.message, "did is 257 bytes long; the limit is 256 bytes");
        assert!(indexed("url", &"u".repeat(2048)).is_ok());
        assert!(indexed("url", &"u".repeat(2049)).is_err());
        let deep = json!({"a": [{"b": "c\u{0}"}]});
        assert!(json("metadata", &deep).is_err());
        let key = json!({"a\u{0}": 1});
        assert!(json("metadata", &key).unwrap_err().message.contains("key"));
        let m = json!({"k": "v".repeat(2047)});
        assert!(metadata(m.as_object().unwrap()).is_ok());
        let m = json!({"kk": "v".repeat(2047)});
        assert!(metadata(m.as_object().unwrap()).is_err());
        let u = BTreeMap::from([(
            "u".repeat(2000),
            json!({"k": "v".repeat(47)}).as_object().unwrap().clone(),
        )]);
        assert!(urls_metadata(&u).is_ok());
        let u = BTreeMap::from([(
            "u".repeat(2000),
            json!({"k": "v".repeat(48)}).as_object().unwrap().clone(),
        )]);
        assert!(urls_metadata(&u).is_err());
        assert!(filter_count(100).is_ok());
        assert!(
            filter_count(101)
                .unwrap_err()
                .message
                .contains("limit is 100")
        );
    }

    #[test]
    fn resource_paths_and_file_names() {
        for ok in ["/a", "/programs/p/projects/q", "/a b"] {
            assert!(resource_path("authz", ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("a", "start with"),
            ("", "start with"),
            ("/", "empty segment"),
            ("//a", "empty segment"),
            ("/a/", "empty segment"),
            ("/a\tb", "control"),
            ("/a\u{0}", "NUL"),
        ] {
            let e = resource_path("authz", bad).unwrap_err();
            assert!(e.message.contains(why), "{bad:?}: {}", e.message);
        }
        for ok in ["a.txt", "a b.bam", "dir/x"] {
            assert!(file_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "blank"),
            ("  ", "blank"),
            ("a\nb", "control"),
            ("//", "only `/`"),
            ("a\u{0}", "NUL"),
        ] {
            let e = file_name(bad).unwrap_err();
            assert!(e.message.contains(why), "{bad:?}: {}", e.message);
        }
        assert!(
            file_name(&"f".repeat(2049))
                .unwrap_err()
                .message
                .contains("limit")
        );
    }
}
