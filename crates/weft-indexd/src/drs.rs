//! GA4GH DRS 1.x objects, as indexd maps its records, held to the DRS schema where indexd
//! is not: `created_time` is never null (it falls back to the record's creation time).

use serde::Serialize;
use serde_json::{Value, json};
use weft_core::time;
use weft_store::IndexRecord;

/// The DRS version weft serves.
pub const DRS_VERSION: &str = "1.5.0";

#[derive(Debug, Clone, Serialize)]
pub struct Checksum {
    pub checksum: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessUrl {
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Authorizations {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drs_object_id: Option<String>,
    pub supported_types: Vec<String>,
    pub passport_auth_issuers: Vec<String>,
    pub bearer_auth_issuers: Vec<String>,
}

/// An access method, holding only the keys the DRS schema allows (`additionalProperties:
/// false` in the schemas the GA4GH compliance suite checks): no `cloud`, `available` or
/// per-method `authorizations` (those are served by `OPTIONS` on the object instead).
#[derive(Debug, Clone, Serialize)]
pub struct AccessMethod {
    #[serde(rename = "type")]
    pub kind: String,
    pub access_id: String,
    pub access_url: AccessUrl,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// A DRS object.
#[derive(Debug, Clone, Serialize)]
pub struct DrsObject {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub self_uri: String,
    pub size: i64,
    pub created_time: String,
    pub updated_time: String,
    pub version: String,
    pub mime_type: String,
    pub checksums: Vec<Checksum>,
    /// Present on every object, even with no URL; bundles have none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_methods: Option<Vec<AccessMethod>>,
    /// Bundles only: their members.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<ContentsObject>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub aliases: Vec<String>,
    /// indexd extensions the Gen3 SDK reads (left out for blank records, which have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    pub index_created_time: String,
    pub index_updated_time: String,
}

/// A member of a bundle in a DRS object (DRS `ContentsObject`): `drs_uri` is a list, as the
/// schema has it; `contents` only when expanded.
#[derive(Debug, Clone, Serialize)]
pub struct ContentsObject {
    pub name: String,
    pub id: String,
    pub drs_uri: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<Vec<ContentsObject>>,
}

/// Where DRS objects of this service live: for `self_uri` and the issuers.
#[derive(Debug, Clone)]
pub struct DrsContext {
    /// Host (and port) of the public base URL, e.g. `commons.example.org`.
    pub hostname: String,
    /// GUID prefix ("" if none).
    pub prefix: String,
    /// Issuer of bearer tokens accepted for access (`<base URL>/user`).
    pub bearer_issuer: String,
}

/// `s3://bucket/key` → `s3`.
#[must_use]
pub fn scheme(url: &str) -> &str {
    url.split_once("://").map_or("", |(s, _)| s)
}

impl DrsContext {
    /// The object's `drs://` URI: compact (`drs://dg.1234:uuid`) for prefixed GUIDs as
    /// indexd writes them, hostname-based otherwise as the DRS spec asks.
    #[must_use]
    pub fn self_uri(&self, did: &str) -> String {
        if !self.prefix.is_empty()
            && let Some(accession) = did.strip_prefix(&self.prefix)
        {
            let prefix = self.prefix.trim_end_matches('/').replacen(':', "", 1);
            return format!("drs://{prefix}:{accession}");
        }
        format!("drs://{}/{did}", self.hostname)
    }

    /// The Authorizations object of a record.
    #[must_use]
    pub fn authorizations(&self, r: &IndexRecord, with_id: bool) -> Authorizations {
        let id = with_id.then(|| r.did.clone());
        if r.authz.is_empty() {
            return Authorizations {
                drs_object_id: id,
                supported_types: vec![],
                passport_auth_issuers: vec![],
                bearer_auth_issuers: vec![],
            };
        }
        let open = r.authz.iter().any(|a| a.contains("/open"));
        let mut types = vec![];
        if open {
            types.push("None".to_owned());
        }
        types.push("BearerAuth".to_owned());
        Authorizations {
            drs_object_id: id,
            supported_types: types,
            passport_auth_issuers: vec![],
            bearer_auth_issuers: vec![self.bearer_issuer.clone()],
        }
    }

    /// Map a record to a DRS object.
    #[must_use]
    pub fn object(&self, r: &IndexRecord) -> DrsObject {
        let access_methods = r
            .urls
            .iter()
            .map(|u| {
                let s = scheme(u).to_owned();
                let meta = r.urls_metadata.get(u);
                let region = meta
                    .and_then(|m| m.get("region"))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned);
                AccessMethod {
                    kind: s.clone(),
                    access_id: s,
                    access_url: AccessUrl { url: u.clone() },
                    region,
                }
            })
            .collect();
        let created = r.content_created_date.as_deref().unwrap_or(&r.created_date);
        let updated = r.content_updated_date.as_deref().unwrap_or(&r.updated_date);
        DrsObject {
            id: r.did.clone(),
            name: r.file_name.clone(),
            self_uri: self.self_uri(&r.did),
            size: r.size.unwrap_or(0),
            created_time: time::to_rfc3339(created),
            updated_time: time::to_rfc3339(updated),
            version: r.version.clone().unwrap_or_else(|| r.rev.clone()),
            mime_type: "application/json".to_owned(),
            checksums: r
                .hashes
                .iter()
                .map(|(k, v)| Checksum {
                    checksum: v.clone(),
                    kind: k.clone(),
                })
                .collect(),
            access_methods: Some(access_methods),
            contents: None,
            description: r.description.clone(),
            aliases: vec![],
            form: r.form.clone(),
            index_created_time: time::to_rfc3339(&r.created_date),
            index_updated_time: time::to_rfc3339(&r.updated_date),
        }
    }

    /// `GET /ga4gh/drs/v1/service-info`: exactly the GA4GH service-info keys (the
    /// compliance suite's schema forbids others, so DRS 1.5's `drs` block is not sent).
    #[must_use]
    pub fn service_info(&self, organization_name: &str, organization_url: &str) -> Value {
        let id = self
            .hostname
            .split(':')
            .next()
            .unwrap_or_default()
            .split('.')
            .rev()
            .collect::<Vec<_>>()
            .join(".");
        json!({
            "id": id,
            "name": "DRS System",
            "type": {"group": "org.ga4gh", "artifact": "drs", "version": DRS_VERSION},
            "description": "GA4GH Data Repository Service served by weft",
            "organization": {"name": organization_name, "url": organization_url},
            "version": DRS_VERSION,
        })
    }
}

/// The seam where signed URLs plug in: turn a record's stored URL into one the caller may
/// fetch, valid for `expires_in` seconds (capped; `None` for the longest allowed).
#[async_trait::async_trait]
pub trait AccessSigner: Send + Sync + 'static {
    async fn access_url(
        &self,
        credentials: &crate::Credentials,
        record: &IndexRecord,
        url: &str,
        expires_in: Option<u64>,
    ) -> Result<String, weft_core::WeftError>;
}

/// Hands out the stored URL itself: to anyone for public records (acl `*` without authz,
/// or an authz path containing `/open`), otherwise after a `fence`/`read-storage` check.
pub struct PassThroughAccess {
    pub authorizer: std::sync::Arc<dyn crate::Authorizer>,
}

/// Whether a record is readable by anyone.
#[must_use]
pub fn is_public(r: &IndexRecord) -> bool {
    r.authz.iter().any(|a| a.contains("/open"))
        || (r.authz.is_empty() && r.acl.iter().any(|a| a == "*"))
}

#[async_trait::async_trait]
impl AccessSigner for PassThroughAccess {
    async fn access_url(
        &self,
        credentials: &crate::Credentials,
        record: &IndexRecord,
        url: &str,
        _expires_in: Option<u64>,
    ) -> Result<String, weft_core::WeftError> {
        if !is_public(record) {
            self.authorizer
                .authorize(credentials, "fence", "read-storage", &record.authz)
                .await?;
        }
        Ok(url.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn ctx(prefix: &str) -> DrsContext {
        DrsContext {
            hostname: "commons.example.org".into(),
            prefix: prefix.into(),
            bearer_issuer: "https://commons.example.org/user".into(),
        }
    }

    fn record() -> IndexRecord {
        IndexRecord {
            did: "dg.1234/0f9a6c6e-2b41-4e4b-9f0c-1b0b5b7c1a2e".into(),
            baseid: "b".into(),
            rev: "12345678".into(),
            form: Some("object".into()),
            size: Some(5),
            file_name: Some("a.txt".into()),
            version: None,
            uploader: None,
            description: None,
            urls: vec![
                "s3://bucket/a.txt".into(),
                "https://example.org/a.txt".into(),
            ],
            urls_metadata: BTreeMap::new(),
            acl: vec![],
            authz: vec!["/programs/open".into()],
            hashes: BTreeMap::from([("md5".into(), "0123456789abcdef0123456789abcdef".into())]),
            metadata: serde_json::Map::new(),
            created_date: "2020-01-02T03:04:05.000006".into(),
            updated_date: "2020-01-02T03:04:05.000006".into(),
            content_created_date: None,
            content_updated_date: None,
        }
    }

    #[test]
    fn self_uris() {
        let r = record();
        assert_eq!(
            ctx("dg.1234/").self_uri(&r.did),
            "drs://dg.1234:0f9a6c6e-2b41-4e4b-9f0c-1b0b5b7c1a2e"
        );
        assert_eq!(ctx("").self_uri("abc"), "drs://commons.example.org/abc");
    }

    #[test]
    fn object_fields() {
        let o = ctx("dg.1234/").object(&record());
        let v = serde_json::to_value(&o).unwrap();
        assert_eq!(v["created_time"], "2020-01-02T03:04:05.000006Z");
        assert_eq!(v["version"], "12345678");
        assert_eq!(v["checksums"][0]["type"], "md5");
        assert_eq!(v["access_methods"][0]["type"], "s3");
        assert_eq!(v["access_methods"][1]["access_id"], "https");
        let keys: Vec<&String> = v["access_methods"][0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["type", "access_id", "access_url"]);
        assert!(v.get("description").is_none(), "null strings are left out");
        let auth = serde_json::to_value(ctx("").authorizations(&record(), true)).unwrap();
        assert_eq!(auth["supported_types"], json!(["None", "BearerAuth"]));
    }

    #[test]
    fn service_info_id_is_reversed_host() {
        let v = ctx("").service_info("weft", "https://x");
        assert_eq!(v["id"], "org.example.commons");
        assert_eq!(v["type"]["artifact"], "drs");
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "name",
                "type",
                "description",
                "organization",
                "version"
            ]
        );
    }
}
