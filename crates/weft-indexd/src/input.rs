//! Request bodies of the index API, parsed and validated as indexd does.
//!
//! Bodies are parsed from raw bytes here (not by the HTTP layer) so that every way a body
//! can be wrong — not JSON, wrong types, unknown fields, bad hashes, bad dates — becomes a
//! 400 with a message naming the problem.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use weft_core::hashes::{KNOWN_HASH_TYPES, is_valid_hash};
use weft_core::{WeftError, ids, time};

/// Parse a JSON object body into `T`, mapping every failure to a 400 that says what is
/// wrong. Only an object is accepted (serde would otherwise read a struct from an array).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, WeftError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => Err(WeftError::invalid("request body must be a JSON object")),
        Some(b'{') => parse_json(body),
        Some(_) => Err(WeftError::invalid(
            "invalid request body: it must be a JSON object",
        )),
    }
}

/// Parse any JSON body (lists included) into `T`, failures as 400.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, WeftError> {
    serde_json::from_slice(body)
        .map_err(|e| WeftError::invalid(format!("invalid request body: {e}")))
}

/// `Some(None)` for an explicit null, `None` when absent.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A field that may be absent but, when present, must not be `null` (indexd's schema types
/// these as arrays or objects only).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    match Option::<T>::deserialize(d)? {
        Some(v) => Ok(Some(v)),
        None => Err(serde::de::Error::custom("null is not allowed here")),
    }
}

/// A record's `form`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Object,
    Container,
    Multipart,
}

impl Form {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Object => "object",
            Self::Container => "container",
            Self::Multipart => "multipart",
        }
    }
}

/// `POST /index/` and `POST /index/{did}` (new version).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub form: Form,
    pub size: i64,
    pub urls: Vec<String>,
    pub hashes: BTreeMap<String, String>,
    pub did: Option<String>,
    pub baseid: Option<String>,
    pub file_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[schema(value_type = Option<BTreeMap<String, Object>>)]
    pub urls_metadata: Option<BTreeMap<String, Map<String, Value>>>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub uploader: Option<String>,
    pub acl: Option<Vec<String>>,
    pub authz: Option<Vec<String>>,
    pub content_created_date: Option<String>,
    pub content_updated_date: Option<String>,
}

impl CreateBody {
    /// indexd's schema and date rules beyond what the types enforce.
    pub fn validate(&mut self) -> Result<(), WeftError> {
        if self.size < 0 {
            return Err(WeftError::invalid("size must be >= 0"));
        }
        validate_record_hashes(&self.hashes)?;
        for (name, id) in [("did", &self.did), ("baseid", &self.baseid)] {
            if let Some(id) = id
                && !ids::is_valid_guid(id)
            {
                return Err(WeftError::invalid(format!(
                    "{name} \"{id}\" is not a valid GUID: it must end in a UUID"
                )));
            }
        }
        if let Some(meta) = &self.urls_metadata {
            urls_metadata_keys_in_urls(meta, &self.urls)?;
        }
        let (created, updated) = content_dates(
            self.content_created_date.as_deref(),
            self.content_updated_date.as_deref(),
        )?;
        if updated.is_some() && created.is_none() {
            return Err(WeftError::invalid(
                "Cannot set content_updated_date without content_created_date",
            ));
        }
        self.content_updated_date = updated.or_else(|| created.clone());
        self.content_created_date = created;
        Ok(())
    }
}

/// Normalize and order-check content dates.
fn content_dates(
    created: Option<&str>,
    updated: Option<&str>,
) -> Result<(Option<String>, Option<String>), WeftError> {
    let norm = |name: &str, v: Option<&str>| -> Result<Option<String>, WeftError> {
        v.map(|s| {
            time::normalize(s).ok_or_else(|| {
                WeftError::invalid(format!("{name} \"{s}\" is not an ISO 8601 date-time"))
            })
        })
        .transpose()
    };
    let c = norm("content_created_date", created)?;
    let u = norm("content_updated_date", updated)?;
    if let (Some(c), Some(u)) = (&c, &u)
        && u < c
    {
        return Err(WeftError::invalid(
            "content_updated_date cannot come before content_created_date",
        ));
    }
    Ok((c, u))
}

/// Known hash types must be well formed, and at least one known type must be present.
pub fn validate_record_hashes(hashes: &BTreeMap<String, String>) -> Result<(), WeftError> {
    let mut known = 0;
    for (kind, value) in hashes {
        match is_valid_hash(kind, value) {
            Some(true) => known += 1,
            Some(false) => {
                return Err(WeftError::invalid(format!(
                    "invalid {kind} hash value \"{value}\""
                )));
            }
            None => {}
        }
    }
    if known == 0 {
        return Err(WeftError::invalid(format!(
            "hashes must include at least one of {}",
            KNOWN_HASH_TYPES.join(", ")
        )));
    }
    Ok(())
}

fn urls_metadata_keys_in_urls(
    meta: &BTreeMap<String, Map<String, Value>>,
    urls: &[String],
) -> Result<(), WeftError> {
    for url in meta.keys() {
        if !urls.contains(url) {
            return Err(WeftError::invalid(format!(
                "url {url} in urls_metadata is not in urls"
            )));
        }
    }
    Ok(())
}

/// `PUT /index/{did}`: every field optional; string fields may be set to null.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    #[serde(default, deserialize_with = "present")]
    pub urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub acl: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub authz: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub file_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub version: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub uploader: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, Object>>)]
    pub urls_metadata: Option<BTreeMap<String, Map<String, Value>>>,
    #[serde(default, deserialize_with = "nullable")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub content_created_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    pub content_updated_date: Option<Option<String>>,
}

impl UpdateBody {
    /// Apply to a record (in place), validating as indexd does.
    pub fn apply(self, r: &mut weft_store::IndexRecord) -> Result<(), WeftError> {
        if let Some(urls) = self.urls {
            r.urls_metadata.retain(|u, _| urls.contains(u));
            r.urls = urls;
        }
        if let Some(meta) = self.urls_metadata {
            urls_metadata_keys_in_urls(&meta, &r.urls)?;
            r.urls_metadata = meta;
        }
        weft_store::sql::fill_urls_metadata(&r.urls, &mut r.urls_metadata);
        if let Some(acl) = self.acl {
            r.acl = dedup(acl);
        }
        if let Some(authz) = self.authz {
            r.authz = dedup(authz);
        }
        if let Some(v) = self.file_name {
            r.file_name = v;
        }
        if let Some(v) = self.version {
            r.version = v;
        }
        if let Some(v) = self.uploader {
            r.uploader = v;
        }
        if let Some(v) = self.description {
            r.description = v;
        }
        if let Some(m) = self.metadata {
            r.metadata = m;
        }
        let created = self
            .content_created_date
            .unwrap_or_else(|| r.content_created_date.clone());
        let updated = self
            .content_updated_date
            .unwrap_or_else(|| r.content_updated_date.clone());
        let (c, u) = content_dates(created.as_deref(), updated.as_deref())?;
        r.content_created_date = c;
        r.content_updated_date = u;
        Ok(())
    }
}

/// Keep the first occurrence of each entry (indexd stores acl/authz as sets).
#[must_use]
pub fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

/// `PUT /index/{did}/versions`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionsBody {
    pub acl: Option<Vec<String>>,
    pub authz: Option<Vec<String>>,
}

/// `POST /index/blank/` and `POST /index/blank/{did}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlankBody {
    pub did: Option<String>,
    pub uploader: Option<String>,
    pub file_name: Option<String>,
    pub authz: Option<Vec<String>>,
}

/// `PUT /index/blank/{did}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlankUpdateBody {
    pub size: i64,
    pub hashes: BTreeMap<String, String>,
    pub urls: Option<Vec<String>>,
    pub authz: Option<Vec<String>>,
}

/// `{"aliases": [{"value": "..."}]}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasesBody {
    pub aliases: Vec<AliasValue>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasValue {
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(json: &str) -> Result<CreateBody, WeftError> {
        let mut b: CreateBody = parse(json.as_bytes())?;
        b.validate()?;
        Ok(b)
    }

    const MD5: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn create_bodies() {
        let ok = create(&format!(
            r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}},
               "content_created_date":"2020-01-01T00:00:00Z"}}"#
        ))
        .unwrap();
        assert_eq!(
            ok.content_updated_date.as_deref(),
            Some("2020-01-01T00:00:00.000000")
        );

        let cases = [
            ("not json", "invalid request body"),
            ("", "must be a JSON object"),
            (
                r#"{"form":"object","size":1,"urls":[]}"#,
                "missing field `hashes`",
            ),
            (
                &format!(r#"{{"form":"blob","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}}}}"#),
                "unknown variant `blob`",
            ),
            (
                &format!(r#"{{"form":"object","size":-1,"urls":[],"hashes":{{"md5":"{MD5}"}}}}"#),
                "size must be >= 0",
            ),
            (
                &format!(r#"{{"form":"object","size":"1","urls":[],"hashes":{{"md5":"{MD5}"}}}}"#),
                "invalid type: string",
            ),
            (
                r#"{"form":"object","size":1,"urls":[],"hashes":{"md5":"abc"}}"#,
                "invalid md5",
            ),
            (
                r#"{"form":"object","size":1,"urls":[],"hashes":{}}"#,
                "at least one of",
            ),
            (
                &format!(
                    r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}},"colour":1}}"#
                ),
                "unknown field `colour`",
            ),
            (
                &format!(
                    r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}},"did":"x"}}"#
                ),
                "not a valid GUID",
            ),
            (
                &format!(
                    r#"{{"form":"object","size":1,"urls":["a"],"hashes":{{"md5":"{MD5}"}},"urls_metadata":{{"b":{{}}}}}}"#
                ),
                "not in urls",
            ),
            (
                &format!(
                    r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}},"content_updated_date":"2020-01-01T00:00:00"}}"#
                ),
                "without content_created_date",
            ),
            (
                &format!(
                    r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}},"content_created_date":"2021-01-01T00:00:00","content_updated_date":"2020-01-01T00:00:00"}}"#
                ),
                "cannot come before",
            ),
            (
                &format!(
                    r#"{{"form":"object","size":1,"urls":[],"hashes":{{"md5":"{MD5}"}},"content_created_date":"soon"}}"#
                ),
                "not an ISO 8601",
            ),
        ];
        for (body, want) in cases {
            let err = create(body).unwrap_err();
            assert_eq!(err.code, weft_core::ErrorCode::InvalidInput, "{body}");
            assert!(err.message.contains(want), "{body}: {}", err.message);
        }
    }

    #[test]
    fn update_distinguishes_null_from_absent() {
        let b: UpdateBody = parse(br#"{"file_name": null}"#).unwrap();
        assert_eq!(b.file_name, Some(None));
        assert_eq!(b.version, None);
        assert!(
            parse::<UpdateBody>(br#"{"size": 3}"#)
                .unwrap_err()
                .message
                .contains("size")
        );
    }
}
