//! `PUT|POST .../transactions/{id}/close` and `.../commit`: a dry run closed, or committed —
//! what it checked written for real, as sheepdog's `commit_dry_run_transaction` does: the
//! logged documents are submitted again with the dry run's role, and the dry run's log entry
//! names the transaction that wrote them, in the same database transaction.

use serde::Deserialize;
use serde_json::{Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;
use weft_store::GraphTransaction;

use crate::parse::{self, Format};
use crate::state::Transition;
use crate::upload::{Mode, Role};
use crate::{Project, Run, SubmissionService, store_error};

/// Every role that may commit a dry run (each entity is then checked against its own).
const COMMITTERS: [&str; 6] = ["create", "update", "delete", "release", "review", "submit"];

/// One document of a logged submission.
#[derive(Deserialize)]
struct Logged {
    doc_format: String,
    doc: String,
}

/// A logged deletion.
#[derive(Deserialize)]
struct LoggedDelete {
    ids: Vec<String>,
    fields: Option<Vec<String>>,
}

fn unreadable(id: i64) -> WeftError {
    WeftError::invalid(format!(
        "transaction_log '{id}' cannot be committed: its documents are not in a form weft logs"
    ))
}

impl SubmissionService {
    /// The log entry `id`, of the project when `own` (any project's otherwise, for the
    /// refusal to name it): 404 naming it when there is none.
    async fn logged(
        &self,
        project: &Project,
        id: i64,
        own: bool,
    ) -> Result<GraphTransaction, WeftError> {
        let tx = self
            .store
            .graph_transaction(id)
            .await
            .map_err(store_error)?
            .filter(|t| !own || t.entry.project_id.as_deref() == Some(project.project_id.as_str()));
        tx.ok_or_else(|| {
            WeftError::not_found(format!(
                "Unable to find transaction_log with id: {id} for project {}",
                project.project_id
            ))
        })
    }

    /// Close a dry run of the project so it can no longer be committed (needs `update`).
    pub async fn close_transaction(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        id: i64,
    ) -> Result<Value, WeftError> {
        self.authenticate(creds).await?;
        let project = self.project(program, code).await?;
        self.allowed(creds, "update", &project.resource()).await?;
        let tx = self.logged(&project, id, true).await?;
        let refusal = if tx.entry.closed {
            Some("This transaction log is already closed.")
        } else if !tx.entry.dry_run {
            Some("This transaction log is not a dry run. Closing it would have no effect.")
        } else if tx.entry.committed_by.is_some() {
            Some(
                "This transaction log has already been committed. Closing it would have no effect.",
            )
        } else {
            None
        };
        if let Some(reason) = refusal {
            return Err(WeftError::invalid(reason));
        }
        self.store.graph_close(id).await.map_err(store_error)?;
        Ok(json!({"code": 200, "message": "Closed transaction.", "transaction_id": id}))
    }

    /// Commit a successful, open dry run of the project: its documents submitted again for
    /// real. Answers the new transaction's JSON (its `code` is the status), the dry run's
    /// log entry then names it in `committed_by`.
    pub async fn commit_transaction(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        id: i64,
    ) -> Result<Value, WeftError> {
        self.authenticate(creds).await?;
        let project = self.project(program, code).await?;
        let (user, allowed) = self
            .allowed_any(creds, &COMMITTERS, &project.resource())
            .await?;
        let entry = self.logged(&project, id, false).await?.entry;
        let refusal = if entry.state != "SUCCEEDED" {
            Some(format!(
                "Unable to commit transaction log in state {}.",
                entry.state
            ))
        } else if entry.closed {
            Some("Unable to commit closed transaction log.".to_owned())
        } else if let Some(by) = entry.committed_by {
            Some(format!(
                "This transaction_log was committed already by transaction '{by}'."
            ))
        } else if !entry.dry_run {
            Some(format!(
                "Cannot submit transaction_log '{id}', not a dry_run."
            ))
        } else if entry.project_id.as_deref() != Some(project.project_id.as_str()) {
            Some(format!(
                "Cannot submit transaction_log '{id}', in project {}.",
                project.project_id
            ))
        } else {
            None
        };
        if let Some(reason) = refusal {
            return Err(WeftError::invalid(reason));
        }
        let run = Run::Commit(id);
        let documents: Value =
            serde_json::from_str(&entry.documents).map_err(|_| unreadable(id))?;
        match entry.role.as_str() {
            "create" | "update" => {
                let role = if entry.role == "create" {
                    Role::Create
                } else {
                    Role::Update
                };
                let logged: Vec<Logged> =
                    serde_json::from_value(documents.clone()).map_err(|_| unreadable(id))?;
                let mut docs = Vec::new();
                let mut lines = Vec::new();
                for d in &logged {
                    let format = Format::parse(&d.doc_format).ok_or_else(|| unreadable(id))?;
                    let parsed = parse::documents(&self.dictionary, format, d.doc.as_bytes())?;
                    match parsed.lines {
                        Some(l) => lines.extend(l.into_iter().map(Some)),
                        None => lines.extend(std::iter::repeat_n(None, parsed.docs.len())),
                    }
                    docs.extend(parsed.docs);
                }
                let report = self
                    .apply_documents(
                        &project,
                        user,
                        &allowed,
                        Mode { role, run },
                        docs,
                        lines,
                        documents,
                    )
                    .await?;
                serde_json::to_value(report).map_err(WeftError::internal)
            }
            "delete" => {
                let logged: LoggedDelete =
                    serde_json::from_value(documents).map_err(|_| unreadable(id))?;
                let report = self
                    .delete_entities(creds, program, code, &logged.ids, logged.fields, run)
                    .await?;
                serde_json::to_value(report).map_err(WeftError::internal)
            }
            _ => {
                let to = documents["transition"]
                    .as_str()
                    .and_then(Transition::parse)
                    .ok_or_else(|| unreadable(id))?;
                self.transition(creds, program, code, to, run).await
            }
        }
    }
}
