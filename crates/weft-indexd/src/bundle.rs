//! indexd bundles: the create body and its rules, the default checksum, what a bundle's
//! members are when read, and the three documents a bundle is served as — indexd's bundle
//! document (`/bundle/{id}`), its index document (`/index/{id}` and listings) and a DRS object.
//!
//! A bundle stores only its member ids; names and nesting are read when the bundle is, so
//! `contents` always shows the members as they are now (indexd stores a snapshot taken when
//! the bundle was made).

use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_core::hashes::is_valid_hash;
use weft_core::{WeftError, time};
use weft_store::{BundleRecord, Checksum, IndexRecord};

use crate::drs::{self, ContentsObject, DrsContext, DrsObject};

/// The resource bundle writes are authorized on (indexd's constant).
pub const BUNDLES_RESOURCE: &str = "/services/indexd/bundles";

/// `POST /bundle/`, indexd's `BUNDLE_SCHEMA`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleBody {
    /// Ids of records or bundles, in order.
    pub bundles: Vec<String>,
    pub bundle_id: Option<String>,
    pub name: Option<String>,
    pub size: Option<i64>,
    pub checksums: Option<Vec<ChecksumBody>>,
    pub description: Option<String>,
    pub version: Option<String>,
    pub aliases: Option<Vec<String>>,
}

/// One given checksum. Other keys are ignored, as indexd's schema allows them.
#[derive(Debug, Clone, Deserialize)]
pub struct ChecksumBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub checksum: String,
}

impl BundleBody {
    /// indexd's rules, in indexd's order, beyond what the types enforce.
    pub fn validate(&self) -> Result<(), WeftError> {
        if self.size.is_some_and(|s| s < 0) {
            return Err(WeftError::invalid("size must be >= 0"));
        }
        if self.bundles.is_empty() {
            return Err(WeftError::invalid("Bundle data required."));
        }
        self.check_text()?;
        let mut seen = std::collections::HashSet::new();
        if !self.bundles.iter().all(|id| seen.insert(id)) {
            return Err(WeftError::invalid("Duplicate GUID in bundles."));
        }
        if let Some(id) = &self.bundle_id
            && self.bundles.contains(id)
        {
            return Err(WeftError::invalid("Bundle refers to itself."));
        }
        for c in self.checksums.iter().flatten() {
            match is_valid_hash(&c.kind, &c.checksum) {
                None => return Err(WeftError::invalid("invalid hash types specified")),
                Some(false) => return Err(WeftError::invalid("invalid hash values specified")),
                Some(true) => {}
            }
        }
        Ok(())
    }

    /// No NUL anywhere; ids within their limit (see [`crate::limits`]).
    fn check_text(&self) -> Result<(), WeftError> {
        use crate::limits;
        for id in &self.bundles {
            limits::id("bundles entry", id)?;
        }
        if let Some(id) = &self.bundle_id {
            limits::id("bundle_id", id)?;
        }
        for (field, v) in [
            ("name", &self.name),
            ("description", &self.description),
            ("version", &self.version),
        ] {
            if let Some(v) = v {
                limits::no_nul(field, v)?;
            }
        }
        for a in self.aliases.iter().flatten() {
            limits::no_nul("aliases entry", a)?;
        }
        for c in self.checksums.iter().flatten() {
            limits::no_nul("checksum type", &c.kind)?;
            limits::no_nul("checksum", &c.checksum)?;
        }
        Ok(())
    }

    /// The given checksums, if any (an empty list counts as none, as in indexd).
    #[must_use]
    pub fn given_checksums(&self) -> Option<Vec<Checksum>> {
        let given = self.checksums.as_ref().filter(|c| !c.is_empty())?;
        Some(
            given
                .iter()
                .map(|c| Checksum {
                    kind: c.kind.clone(),
                    checksum: c.checksum.clone(),
                })
                .collect(),
        )
    }
}

/// indexd's default bundle checksum: the md5 (hex) of the members' first checksums, sorted
/// and concatenated.
#[must_use]
pub fn compute_checksum(mut firsts: Vec<String>) -> Checksum {
    firsts.sort();
    let digest = Md5::digest(firsts.concat().as_bytes());
    Checksum {
        kind: "md5".to_owned(),
        checksum: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

/// The checksum of a record that stands for it in its bundle's default checksum: the first
/// of its hashes in weft's order (by type name).
#[must_use]
pub fn first_hash(r: &IndexRecord) -> Option<String> {
    r.hashes.values().next().cloned()
}

/// A member of a bundle as read now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: String,
    /// A record's file name or a bundle's name.
    pub name: Option<String>,
    /// A bundle member's own members, when read that deep; empty for records.
    pub contents: Vec<Member>,
}

/// A bundle with its members read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub record: BundleRecord,
    pub contents: Vec<Member>,
}

/// What an id names: a record or a bundle.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a handful per request, built once and read
pub enum Entry {
    Record(IndexRecord),
    Bundle(Bundle),
}

impl Entry {
    /// The document `GET /index/` lists: a record's document, or a bundle's index document
    /// without its members.
    pub fn index_document(&self) -> Result<Value, WeftError> {
        match self {
            Self::Record(r) => serde_json::to_value(r).map_err(WeftError::internal),
            Self::Bundle(b) => Ok(Value::Object(index_document(&b.record))),
        }
    }
}

/// indexd's bundle row as a document (`to_document_dict`): `checksum` and `aliases` are the
/// JSON texts indexd stores, `form` is `bundle`, times are naive UTC as records' are.
#[must_use]
pub fn index_document(b: &BundleRecord) -> Map<String, Value> {
    let text = |v: Value| Value::String(v.to_string());
    let mut doc = Map::new();
    doc.insert("id".into(), json!(b.bundle_id));
    doc.insert("name".into(), json!(b.name));
    doc.insert("created_time".into(), json!(b.created_time));
    doc.insert("updated_time".into(), json!(b.updated_time));
    doc.insert("checksum".into(), text(json!(b.checksums)));
    doc.insert("size".into(), json!(b.size));
    doc.insert("form".into(), json!("bundle"));
    doc.insert("version".into(), json!(b.version));
    doc.insert("description".into(), json!(b.description));
    doc.insert("aliases".into(), text(json!(b.aliases)));
    doc
}

impl DrsContext {
    /// Members as indexd's bundle API lists them: `{id, name, drs_uri, contents}`, children's
    /// `contents` only when `expand` (records' are empty lists).
    #[must_use]
    pub fn bundle_contents(&self, members: &[Member], expand: bool) -> Vec<Value> {
        members
            .iter()
            .map(|m| {
                let mut v = Map::new();
                v.insert("id".into(), json!(m.id));
                v.insert("name".into(), json!(m.name.as_deref().unwrap_or(&m.id)));
                v.insert("drs_uri".into(), json!(self.self_uri(&m.id)));
                if expand {
                    v.insert(
                        "contents".into(),
                        Value::Array(self.bundle_contents(&m.contents, true)),
                    );
                }
                Value::Object(v)
            })
            .collect()
    }

    /// `GET /bundle/{id}`: indexd's `bundle_to_drs` document, with DRS times (RFC 3339,
    /// never null).
    #[must_use]
    pub fn bundle_document(&self, entry: &Entry, expand: bool) -> Value {
        match entry {
            Entry::Bundle(b) => {
                let r = &b.record;
                json!({
                    "id": r.bundle_id,
                    "name": r.name,
                    "drs_uri": self.self_uri(&r.bundle_id),
                    "contents": self.bundle_contents(&b.contents, expand),
                    "checksums": r.checksums.iter().map(|c| json!({"checksum": c.checksum, "type": c.kind})).collect::<Vec<_>>(),
                    "created_time": time::to_rfc3339(&r.created_time),
                    "updated_time": time::to_rfc3339(&r.updated_time),
                    "size": r.size,
                    "aliases": r.aliases,
                    "description": r.description,
                    "version": r.version,
                })
            }
            // indexd answers a record id here too, in the same shape
            Entry::Record(r) => json!({
                "id": r.did,
                "name": r.file_name.as_deref().unwrap_or(&r.did),
                "drs_uri": self.self_uri(&r.did),
                "contents": [],
                "checksums": r.hashes.iter().map(|(k, v)| json!({"checksum": v, "type": k})).collect::<Vec<_>>(),
                "created_time": time::to_rfc3339(&r.created_date),
                "updated_time": time::to_rfc3339(&r.updated_date),
                "size": r.size.unwrap_or(0),
                "aliases": [],
                "description": r.description.as_deref().unwrap_or_default(),
                "version": r.version.as_deref().unwrap_or(&r.rev),
            }),
        }
    }

    /// `GET /index/{id}` of a bundle: its index document with every member, fully expanded,
    /// under `bundle_data` (what indexd stores there).
    #[must_use]
    pub fn bundle_index_document(&self, b: &Bundle) -> Value {
        let mut doc = index_document(&b.record);
        doc.insert(
            "bundle_data".into(),
            Value::Array(self.bundle_contents(&b.contents, true)),
        );
        Value::Object(doc)
    }

    /// DRS `ContentsObject`s of members; children's `contents` only when `expand`.
    #[must_use]
    pub fn contents_objects(&self, members: &[Member], expand: bool) -> Vec<ContentsObject> {
        members
            .iter()
            .map(|m| ContentsObject {
                name: m.name.clone().unwrap_or_else(|| m.id.clone()),
                id: m.id.clone(),
                drs_uri: vec![self.self_uri(&m.id)],
                contents: expand.then(|| self.contents_objects(&m.contents, true)),
            })
            .collect()
    }

    /// A bundle as a DRS object: `contents` instead of access methods.
    #[must_use]
    pub fn bundle_object(&self, b: &Bundle, expand: bool) -> DrsObject {
        let r = &b.record;
        DrsObject {
            id: r.bundle_id.clone(),
            name: Some(r.name.clone()),
            self_uri: self.self_uri(&r.bundle_id),
            size: r.size,
            created_time: time::to_rfc3339(&r.created_time),
            updated_time: time::to_rfc3339(&r.updated_time),
            version: r.version.clone(),
            mime_type: "application/json".to_owned(),
            checksums: r
                .checksums
                .iter()
                .map(|c| drs::Checksum {
                    checksum: c.checksum.clone(),
                    kind: c.kind.clone(),
                })
                .collect(),
            access_methods: None,
            contents: Some(self.contents_objects(&b.contents, expand)),
            description: Some(r.description.clone()),
            aliases: r.aliases.clone(),
            form: Some("bundle".to_owned()),
            index_created_time: time::to_rfc3339(&r.created_time),
            index_updated_time: time::to_rfc3339(&r.updated_time),
        }
    }

    /// What `GET /index/{id}` answers: a record's document, or a bundle's index document
    /// with its members.
    pub fn entry_index_document(&self, e: &Entry) -> Result<Value, WeftError> {
        match e {
            Entry::Record(r) => serde_json::to_value(r).map_err(WeftError::internal),
            Entry::Bundle(b) => Ok(self.bundle_index_document(b)),
        }
    }

    /// Any entry as a DRS object.
    #[must_use]
    pub fn entry_object(&self, e: &Entry, expand: bool) -> DrsObject {
        match e {
            Entry::Record(r) => self.object(r),
            Entry::Bundle(b) => self.bundle_object(b, expand),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Result<BundleBody, WeftError> {
        let b: BundleBody = crate::input::parse(v.to_string().as_bytes())?;
        b.validate()?;
        Ok(b)
    }

    #[test]
    fn bodies() {
        let md5 = "0123456789abcdef0123456789abcdef";
        assert!(body(json!({"bundles": ["a", "b"]})).is_ok());
        let ok = body(
            json!({"bundles": ["a"], "checksums": [{"type": "md5", "checksum": md5, "x": 1}]}),
        )
        .unwrap();
        assert_eq!(ok.given_checksums().unwrap()[0].checksum, md5);
        assert!(
            body(json!({"bundles": ["a"], "checksums": []}))
                .unwrap()
                .given_checksums()
                .is_none()
        );
        let cases = [
            (json!({}), "missing field `bundles`"),
            (json!({"bundles": []}), "Bundle data required."),
            (
                json!({"bundles": ["a", "b", "a"]}),
                "Duplicate GUID in bundles.",
            ),
            (
                json!({"bundles": ["a", "b"], "bundle_id": "b"}),
                "Bundle refers to itself.",
            ),
            (json!({"bundles": ["a"], "size": -1}), "size must be >= 0"),
            (
                json!({"bundles": ["a"], "colour": 1}),
                "unknown field `colour`",
            ),
            (
                json!({"bundles": ["a"], "checksums": [{"type": "md42", "checksum": "a"}]}),
                "invalid hash types",
            ),
            (
                json!({"bundles": ["a"], "checksums": [{"type": "md5", "checksum": "a"}]}),
                "invalid hash values",
            ),
            (
                json!({"bundles": ["a"], "checksums": [{"type": "md5"}]}),
                "missing field `checksum`",
            ),
            (json!({"bundles": [1]}), "invalid type"),
        ];
        for (b, want) in cases {
            let err = body(b.clone()).unwrap_err();
            assert_eq!(err.code, weft_core::ErrorCode::InvalidInput, "{b}");
            assert!(err.message.contains(want), "{b}: {}", err.message);
        }
    }

    #[test]
    fn default_checksum_is_md5_of_sorted_firsts() {
        // md5("ab") = 187ef4436122d1cc2f40dc2b92f0eba0
        let c = compute_checksum(vec!["b".into(), "a".into()]);
        assert_eq!(c.kind, "md5");
        assert_eq!(c.checksum, "187ef4436122d1cc2f40dc2b92f0eba0");
    }

    #[test]
    fn documents() {
        let ctx = DrsContext {
            hostname: "h.org".into(),
            prefix: String::new(),
            bearer_issuer: String::new(),
        };
        let b = Bundle {
            record: BundleRecord {
                bundle_id: "b1".into(),
                name: "n".into(),
                size: 3,
                checksums: vec![Checksum {
                    kind: "md5".into(),
                    checksum: "c".into(),
                }],
                members: vec!["r1".into(), "b0".into()],
                description: String::new(),
                version: String::new(),
                aliases: vec!["x".into()],
                created_time: "2020-01-02T03:04:05.000006".into(),
                updated_time: "2020-01-02T03:04:05.000006".into(),
            },
            contents: vec![
                Member {
                    id: "r1".into(),
                    name: None,
                    contents: vec![],
                },
                Member {
                    id: "b0".into(),
                    name: Some("inner".into()),
                    contents: vec![Member {
                        id: "r0".into(),
                        name: Some("f".into()),
                        contents: vec![],
                    }],
                },
            ],
        };
        let entry = Entry::Bundle(b.clone());
        let flat = ctx.bundle_document(&entry, false);
        assert_eq!(flat["created_time"], "2020-01-02T03:04:05.000006Z");
        assert_eq!(
            flat["contents"],
            json!([
                {"id": "r1", "name": "r1", "drs_uri": "drs://h.org/r1"},
                {"id": "b0", "name": "inner", "drs_uri": "drs://h.org/b0"},
            ])
        );
        let deep = ctx.bundle_document(&entry, true);
        assert_eq!(deep["contents"][0]["contents"], json!([]));
        assert_eq!(deep["contents"][1]["contents"][0]["name"], "f");
        let index = ctx.bundle_index_document(&b);
        assert_eq!(index["checksum"], r#"[{"type":"md5","checksum":"c"}]"#);
        assert_eq!(index["aliases"], r#"["x"]"#);
        assert_eq!(index["form"], "bundle");
        assert_eq!(index["bundle_data"][1]["contents"][0]["id"], "r0");
        let drs = serde_json::to_value(ctx.bundle_object(&b, false)).unwrap();
        assert!(drs.get("access_methods").is_none());
        assert_eq!(drs["contents"][0]["drs_uri"], json!(["drs://h.org/r1"]));
        assert!(drs["contents"][1].get("contents").is_none());
        assert_eq!(drs["form"], "bundle");
    }
}
