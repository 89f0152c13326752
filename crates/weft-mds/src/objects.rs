//! MDS's objects API: an index record and its metadata, made, read and deleted together.
//!
//! Gen3's MDS does this by calling fence and indexd over HTTP with the caller's token; weft
//! calls the same services in-process, with the same credentials, so every check is the
//! one fence or indexd would make. Nothing is left half-made: when the second half of a
//! change fails, the first is undone.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use weft_auth::Credentials;
use weft_core::{ErrorCode, WeftError};
use weft_indexd::IndexService;
use weft_indexd::drs::AccessSigner;
use weft_indexd::upload::{UploadRequest, Uploads};
use weft_store::{RawJson, StoreError};

use crate::{FORBIDDEN_IDS, MetadataService};

/// The status MDS gives an object's metadata until its bytes arrive.
const NOT_UPLOADED: &str = "not_uploaded";

/// The objects API over the metadata, index and upload services.
pub struct Objects {
    pub mds: Arc<MetadataService>,
    pub index: Arc<IndexService>,
    pub uploads: Arc<dyn Uploads>,
    pub access: Arc<dyn AccessSigner>,
}

/// `authz` of an upload request: `{"version": 0, "resource_paths": [...]}`.
#[derive(Debug, Deserialize)]
struct AuthzBody {
    version: Value,
    resource_paths: Value,
}

#[derive(Debug, Deserialize)]
struct UploadBody {
    file_name: String,
    authz: AuthzBody,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct VersionBody {
    file_name: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, WeftError> {
    serde_json::from_slice(body)
        .map_err(|e| WeftError::invalid(format!("request body must be {what}: {e}")))
}

fn raw(v: &impl serde::Serialize) -> Result<RawJson, WeftError> {
    serde_json::value::to_raw_value(v).map_err(WeftError::internal)
}

fn check_aliases(aliases: &[String]) -> Result<Vec<String>, WeftError> {
    for a in aliases {
        crate::new_guid("alias", a)?;
    }
    if let Some(bad) = aliases
        .iter()
        .find(|a| a.is_empty() || FORBIDDEN_IDS.contains(&a.as_str()))
    {
        return Err(WeftError::invalid(format!(
            "{bad:?} cannot be used as an alias"
        )));
    }
    let mut out = aliases.to_vec();
    out.sort();
    out.dedup();
    Ok(out)
}

/// The metadata an object starts with: the caller's, marked not uploaded yet.
fn initial_metadata(mut metadata: Map<String, Value>) -> Map<String, Value> {
    metadata.insert("_upload_status".into(), Value::String(NOT_UPLOADED.into()));
    metadata
}

impl Objects {
    /// Undo a blank record made for a request that then failed.
    async fn undo_blank(&self, guid: &str) {
        let store = self.index.store();
        let rev = match store.get(guid).await {
            Ok(Some(r)) => r.rev,
            _ => return,
        };
        if let Err(e) = store.delete(guid, &rev).await {
            tracing::warn!(guid, "objects: could not undo the blank record: {e}");
        }
    }

    /// Give a new record its aliases and metadata, undoing the record if either fails.
    async fn finish(
        &self,
        guid: &str,
        aliases: &[String],
        metadata: &Map<String, Value>,
        authz: RawJson,
    ) -> Result<(), WeftError> {
        let result = async {
            if !aliases.is_empty() {
                self.index
                    .store()
                    .put_aliases(guid, aliases.to_vec(), false)
                    .await
                    .map_err(|e| match e {
                        StoreError::AlreadyExists(m) => WeftError::conflict(m),
                        e => e.into(),
                    })?;
            }
            self.mds
                .store()
                .put_metadata(guid, raw(metadata)?, authz, false)
                .await
                .map_err(|e| match e {
                    StoreError::AlreadyExists(m) => WeftError::conflict(m),
                    e => e.into(),
                })?;
            Ok::<(), WeftError>(())
        }
        .await;
        if result.is_err() {
            self.undo_blank(guid).await;
        }
        result
    }

    /// `POST /objects/upload` (and `POST /objects`, the path the SDK uses): a blank index
    /// record with an upload URL (fence's upload flow), its aliases, and its metadata.
    pub async fn upload(&self, creds: &Credentials, body: &[u8]) -> Result<Value, WeftError> {
        if matches!(creds, Credentials::None) {
            return Err(WeftError::unauthenticated(
                "this needs a user's access token",
            ));
        }
        self.uploads.authenticate(creds).await?;
        let b: UploadBody = parse(
            body,
            r#"{"file_name": str, "authz": {"version": 0, "resource_paths": [str]}, "aliases"?: [str], "metadata"?: {}}"#,
        )?;
        let version_ok = matches!(&b.authz.version, Value::Number(n) if n.as_u64() == Some(0))
            || b.authz.version == json!("0");
        if !version_ok {
            return Err(WeftError::invalid(format!(
                "authz.version must be 0, not {}",
                b.authz.version
            )));
        }
        let paths: Vec<String> = serde_json::from_value(b.authz.resource_paths.clone())
            .map_err(|_| WeftError::invalid("authz.resource_paths must be a list of strings"))?;
        let aliases = check_aliases(&b.aliases)?;
        weft_indexd::limits::json_object("metadata", &b.metadata)?;
        let request = UploadRequest {
            file_name: Some(b.file_name.clone()),
            authz: Some(paths.clone()),
            ..UploadRequest::default()
        };
        let (guid, upload_url) = self.uploads.upload(creds, request).await?;
        let authz = json!({"version": 0, "resource_paths": paths});
        let metadata = initial_metadata(b.metadata);
        self.finish(&guid, &aliases, &metadata, raw(&authz)?)
            .await?;
        Ok(json!({
            "guid": guid,
            "upload_url": upload_url,
            "authz": authz,
            "aliases": aliases,
            "metadata": metadata,
        }))
    }

    /// `POST /objects/{guid_or_alias}`: a new blank version of an object, with an upload URL.
    pub async fn new_version(
        &self,
        creds: &Credentials,
        id: &str,
        body: &[u8],
    ) -> Result<Value, WeftError> {
        self.index.authenticate(creds, "update").await?;
        let b: VersionBody = parse(
            body,
            r#"{"file_name": str, "aliases"?: [str], "metadata"?: {}}"#,
        )?;
        let aliases = check_aliases(&b.aliases)?;
        weft_indexd::limits::json_object("metadata", &b.metadata)?;
        let old = self.index.get(id).await?;
        let blank =
            serde_json::to_vec(&json!({"file_name": b.file_name})).map_err(WeftError::internal)?;
        let ids = self.index.blank_version(creds, &old.did, &blank).await?;
        let upload_url = match self
            .uploads
            .upload_url(creds, &ids.did, Some(&b.file_name), None, None, None)
            .await
        {
            Ok(url) => url,
            Err(e) => {
                self.undo_blank(&ids.did).await;
                return Err(e);
            }
        };
        let authz = json!({"version": 0, "resource_paths": old.authz});
        let metadata = initial_metadata(b.metadata);
        self.finish(&ids.did, &aliases, &metadata, raw(&authz)?)
            .await?;
        Ok(json!({
            "guid": ids.did,
            "upload_url": upload_url,
            "aliases": aliases,
            "metadata": metadata,
        }))
    }

    /// `GET /objects/{guid}` (or `/latest`): the index record and the metadata, each `{}`
    /// when absent; 404 only when both are.
    pub async fn get(
        &self,
        creds: &Credentials,
        id: &str,
        latest: bool,
    ) -> Result<Value, WeftError> {
        self.mds.require_reader(creds).await?;
        let record = if latest {
            self.index.latest(id, false).await.map(Some)
        } else {
            self.index.resolve(id).await
        };
        let record = match record {
            Ok(Some(r)) => serde_json::to_value(r).map_err(WeftError::internal)?,
            Ok(None) => json!({}),
            Err(e) if e.code == ErrorCode::NotFound => json!({}),
            Err(e) => return Err(e),
        };
        let guid = record.get("did").and_then(Value::as_str).unwrap_or(id);
        let metadata = match self.mds.store().metadata(guid).await? {
            Some(m) => serde_json::from_str(&m).map_err(WeftError::internal)?,
            None => json!({}),
        };
        if record == json!({}) && metadata == json!({}) {
            return Err(WeftError::not_found(format!("Not found: {id}")));
        }
        Ok(json!({"record": record, "metadata": metadata}))
    }

    /// `GET /objects/{guid}/download`: a signed URL, as fence's `/data/download/{guid}`.
    pub async fn download(&self, creds: &Credentials, id: &str) -> Result<String, WeftError> {
        let record = self.index.get(id).await?;
        // The location fence's /data/download picks when no protocol is asked for.
        let url = weft_blob::select_url(&record.urls, None)?;
        self.access.access_url(creds, &record, url, None).await
    }

    /// `DELETE /objects/{guid}[?delete_file_locations]`: the index record (and with the
    /// flag, its files, through fence's delete), then the metadata.
    pub async fn delete(
        &self,
        creds: &Credentials,
        id: &str,
        delete_files: bool,
    ) -> Result<(), WeftError> {
        let record = self.index.get(id).await?;
        if delete_files {
            self.uploads.delete(creds, &record.did).await?;
        } else {
            self.index
                .delete(creds, &record.did, Some(&record.rev))
                .await?;
        }
        match self.mds.store().delete_metadata(&record.did).await {
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
