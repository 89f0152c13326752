//! manifestservice: each user's manifests (lists of objects exported from the explorer or
//! discovery), cohorts (PFB GUIDs) and exported metadata, kept in the database. A new
//! manifest is also placed in the user's running workspace at `manifests/<filename>`.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use weft_core::{ErrorCode, WeftError};
use weft_store::{ManifestRow, WorkspaceStore};

use crate::WorkspaceService;

/// The folders manifestservice keeps files in.
pub mod folder {
    pub const MANIFEST: &str = "manifest";
    pub const COHORT: &str = "cohort";
    pub const METADATA: &str = "metadata";
}

/// One entry of a listing.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Listed {
    pub filename: String,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    pub last_modified: String,
    /// Seconds, with a fraction.
    pub last_modified_timestamp: f64,
}

/// The manifest service.
pub struct Manifests {
    store: Arc<dyn WorkspaceStore>,
    workspaces: Option<Arc<WorkspaceService>>,
}

fn bad(msg: impl Into<String>) -> WeftError {
    WeftError::new(ErrorCode::InvalidInput, msg)
}

impl Manifests {
    #[must_use]
    pub fn new(store: Arc<dyn WorkspaceStore>, workspaces: Option<Arc<WorkspaceService>>) -> Self {
        Self { store, workspaces }
    }

    /// The user's files in `folder`, oldest first.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn list(&self, user: &str, folder: &str) -> Result<Vec<Listed>, WeftError> {
        let rows = self.store.manifests(user, folder).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let t = chrono::DateTime::from_timestamp_millis(r.created_ms).unwrap_or_default();
                #[allow(clippy::cast_precision_loss)]
                let ts = r.created_ms as f64 / 1000.0;
                Listed {
                    filename: r.filename,
                    last_modified: t.format("%Y-%m-%d %H:%M:%S").to_string(),
                    last_modified_timestamp: ts,
                }
            })
            .collect())
    }

    /// Store a manifest: a JSON array of objects, each with an `object_id`. Returns its
    /// file name, `manifest-<UTC time>.json` (`-1`, `-2`… on a clash).
    ///
    /// # Errors
    /// 400 for a body that is not such an array.
    pub async fn create_manifest(&self, user: &str, body: &[u8]) -> Result<String, WeftError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| bad(format!("the manifest is not JSON: {e}")))?;
        let Value::Array(entries) = &value else {
            return Err(bad("the manifest must be a JSON array of objects"));
        };
        if entries.is_empty() {
            return Err(bad("the manifest is empty"));
        }
        for (i, e) in entries.iter().enumerate() {
            match e.get("object_id") {
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => {
                    return Err(bad(format!(
                        "entry {i} of the manifest has no object_id (a non-empty string)"
                    )));
                }
            }
        }
        let text = serde_json::to_string(&value).unwrap_or_default();
        let name = self
            .put("manifest", folder::MANIFEST, ".json", text.clone(), user)
            .await?;
        if let Some(ws) = &self.workspaces {
            ws.deliver(user, &format!("manifests/{name}"), text.as_bytes())
                .await;
        }
        Ok(name)
    }

    /// Record a cohort (a PFB's GUID).
    ///
    /// # Errors
    /// 400 for a body without a GUID.
    pub async fn create_cohort(&self, user: &str, body: &[u8]) -> Result<String, WeftError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let guid = value
            .get("guid")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the body needs a \"guid\""))?;
        // a GUID, with or without a prefix (`dg.ABCD/…`)
        let bare = guid.rsplit('/').next().unwrap_or(guid);
        if uuid::Uuid::parse_str(bare).is_err() {
            return Err(bad(format!("{guid:?} is not a GUID")));
        }
        let row = ManifestRow {
            user: user.to_owned(),
            folder: folder::COHORT.to_owned(),
            filename: guid.to_owned(),
            body: "{}".to_owned(),
            created_ms: chrono::Utc::now().timestamp_millis(),
        };
        self.store.put_manifest(row).await?;
        Ok(guid.to_owned())
    }

    /// Store exported metadata (any JSON).
    ///
    /// # Errors
    /// 400 for a body that is not JSON.
    pub async fn create_metadata(&self, user: &str, body: &[u8]) -> Result<String, WeftError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let text = serde_json::to_string(&value).unwrap_or_default();
        self.put("metadata", folder::METADATA, ".json", text, user)
            .await
    }

    async fn put(
        &self,
        prefix: &str,
        folder: &str,
        ext: &str,
        body: String,
        user: &str,
    ) -> Result<String, WeftError> {
        let now = chrono::Utc::now();
        let stamp = now
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string()
            .replace(':', "-");
        for n in 0..100 {
            let filename = if n == 0 {
                format!("{prefix}-{stamp}{ext}")
            } else {
                format!("{prefix}-{stamp}-{n}{ext}")
            };
            let row = ManifestRow {
                user: user.to_owned(),
                folder: folder.to_owned(),
                filename: filename.clone(),
                body: body.clone(),
                created_ms: now.timestamp_millis(),
            };
            if self.store.put_manifest(row).await? {
                return Ok(filename);
            }
        }
        Err(WeftError::new(
            ErrorCode::Unavailable,
            "too many files stored at the same instant; try again",
        ))
    }

    /// One stored file's body.
    ///
    /// # Errors
    /// 400 unless the name ends in `json`, 404 when the user has no such file.
    pub async fn get(&self, user: &str, folder: &str, filename: &str) -> Result<String, WeftError> {
        if !filename.ends_with("json") {
            return Err(bad("Incorrect file name: it must end in json"));
        }
        self.store
            .manifest(user, folder, filename)
            .await?
            .map(|r| r.body)
            .ok_or_else(|| WeftError::new(ErrorCode::NotFound, format!("no file {filename:?}")))
    }
}
