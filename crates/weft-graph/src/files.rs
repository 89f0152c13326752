//! File nodes (data, metadata and index files) and the index: sheepdog's `FileUploadEntity`.
//!
//! A file node stands for an object in the index. Where the node has `object_id` (the modern
//! dictionaries), the index is searched by that id, else by MD5 and size; a record found is
//! linked (`object_id` set, its `authz` filled in when it has none, its URLs replaced when
//! the submission gives `urls`); none found, a new record is registered (the given
//! `object_id` or a new did, MD5, size, URLs, file name, the project's `authz` and `acl`)
//! with the alias `<project_id>/<submitter_id>`, in the same transaction as the node. Without
//! `object_id` in the schema the node's id is the record's did.

use serde_json::{Value, json};
use weft_core::WeftError;
use weft_store::{IndexRecord, ListQuery};

use crate::report::kinds;
use crate::upload::Entity;
use crate::{Project, SubmissionService, store_error};

/// File states in which a file node may still change (sheepdog's rule).
const UPDATABLE: [&str; 4] = ["registered", "uploading", "uploaded", "validating"];

/// The index writes of a submission.
#[derive(Debug, Default)]
pub(crate) struct IndexWrites {
    pub create: Vec<IndexRecord>,
    pub aliases: Vec<(String, String)>,
    pub update: Vec<(IndexRecord, String)>,
}

/// `urls` of a submission: a comma-separated string or a list of strings.
fn urls_of(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(
            s.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

impl SubmissionService {
    /// The project's `acl`: `*` when it is open, else its program's and its own accession
    /// numbers.
    fn acl(project: &Project) -> Vec<String> {
        if project
            .node
            .props
            .get("availability_type")
            .and_then(Value::as_str)
            == Some("Open")
        {
            return vec!["*".into()];
        }
        [&project.program_node, &project.node]
            .iter()
            .filter_map(|n| {
                n.props
                    .get("dbgap_accession_number")
                    .and_then(Value::as_str)
            })
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub(crate) async fn file_records(
        &self,
        project: &Project,
        entities: &mut [Entity<'_>],
    ) -> Result<IndexWrites, WeftError> {
        let mut out = IndexWrites::default();
        let authz = vec![project.resource()];
        for e in entities.iter_mut() {
            let Some(node) = e.node else { continue };
            if !e.errors.is_empty() || !node.is_file() {
                continue;
            }
            if let Some(existing) = &e.existing {
                let state = existing
                    .props
                    .get("file_state")
                    .and_then(Value::as_str)
                    .unwrap_or("registered");
                if !UPDATABLE.contains(&state) {
                    e.errors.push(crate::EntityError::new(
                        kinds::INVALID_PERMISSIONS,
                        &["file_state"],
                        format!("This file is in state {state} and can no longer be changed"),
                    ));
                    continue;
                }
            }
            let md5 = e
                .props
                .get("md5sum")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let size = e.props.get("file_size").and_then(Value::as_i64);
            let (Some(md5), Some(size)) = (md5, size) else {
                // The schema check names what is missing or wrong.
                continue;
            };
            let file_name = e
                .props
                .get("file_name")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let urls = urls_of(e.doc.get("urls"));
            let modern = node.property("object_id").is_some();
            let wanted = if modern {
                e.props
                    .get("object_id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            } else {
                e.id.clone()
            };
            let store = self.index.store();
            let mut found = match &wanted {
                Some(did) => store.get(did).await.map_err(store_error)?,
                None => None,
            };
            if found.is_none() && modern && wanted.is_none() {
                let query = ListQuery {
                    hashes: vec![("md5".into(), md5.clone())],
                    size: Some(size),
                    limit: 1,
                    ..ListQuery::default()
                };
                found = store
                    .list(query)
                    .await
                    .map_err(store_error)?
                    .into_iter()
                    .next();
            }
            match found {
                Some(mut record) => {
                    if record.hashes.get("md5").is_some_and(|h| *h != md5)
                        || record.size.is_some_and(|s| s != size)
                    {
                        e.errors.push(crate::EntityError::new(
                            kinds::INVALID_VALUE,
                            &["md5sum", "file_size"],
                            format!(
                                "The index record {} has another MD5 or size than this file",
                                record.did
                            ),
                        ));
                        continue;
                    }
                    let rev = record.rev.clone();
                    let mut changed = false;
                    if record.authz.is_empty() && record.acl.is_empty() {
                        record.authz = authz.clone();
                        record.acl = Self::acl(project);
                        changed = true;
                    }
                    if let Some(urls) = urls.filter(|u| *u != record.urls) {
                        record.urls_metadata = urls
                            .iter()
                            .map(|u| (u.clone(), Default::default()))
                            .collect();
                        record.urls = urls;
                        changed = true;
                    }
                    if changed {
                        record.rev = weft_core::ids::new_rev();
                        record.updated_date = weft_core::time::now_string();
                        out.update.push((record.clone(), rev));
                    }
                    if modern {
                        e.props
                            .insert("object_id".into(), Value::from(record.did.as_str()));
                    }
                }
                None => {
                    let mut body = json!({
                        "form": "object", "size": size, "hashes": {"md5": md5},
                        "urls": urls.unwrap_or_default(), "authz": authz, "acl": Self::acl(project),
                    });
                    if let Some(did) = &wanted {
                        body["did"] = Value::from(did.as_str());
                    }
                    if let Some(f) = &file_name {
                        body["file_name"] = Value::from(f.as_str());
                    }
                    let (record, _) = match self.index.record_from_body(body.to_string().as_bytes())
                    {
                        Ok(r) => r,
                        Err(err) => {
                            e.errors.push(crate::EntityError::new(
                                kinds::INVALID_VALUE,
                                &["file_name", "md5sum", "object_id"],
                                format!("Cannot register the file in the index: {}", err.message),
                            ));
                            continue;
                        }
                    };
                    if modern {
                        e.props
                            .insert("object_id".into(), Value::from(record.did.as_str()));
                    }
                    if let Some(sub) = e.props.get("submitter_id").and_then(Value::as_str) {
                        out.aliases
                            .push((format!("{}/{sub}", project.project_id), record.did.clone()));
                    }
                    out.create.push(record);
                }
            }
        }
        Ok(out)
    }
}
