//! Sheepdog's transaction responses: what every submission, dry run and deletion answers.

use serde::Serialize;
use serde_json::{Map, Value};

/// One problem (or warning) of one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityError {
    pub message: String,
    pub keys: Vec<String>,
    /// `INVALID_LINK`, `INVALID_VALUE`, `MISSING_PROPERTY`, `NOT_UNIQUE`, …
    #[serde(rename = "type")]
    pub kind: String,
}

impl EntityError {
    pub fn new(kind: &str, keys: &[&str], message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            kind: kind.to_owned(),
        }
    }
}

/// Sheepdog's entity error types (`transactions/entity_base.py`).
pub mod kinds {
    pub const INVALID_LINK: &str = "INVALID_LINK";
    pub const INVALID_PERMISSIONS: &str = "INVALID_PERMISSIONS";
    pub const INVALID_PROPERTY: &str = "INVALID_PROPERTY";
    pub const INVALID_TYPE: &str = "INVALID_TYPE";
    pub const INVALID_VALUE: &str = "INVALID_VALUE";
    pub const MISSING_PROPERTY: &str = "MISSING_PROPERTY";
    pub const NOT_UNIQUE: &str = "NOT_UNIQUE";
    pub const NOT_FOUND: &str = "NOT_FOUND";
    pub const ERROR: &str = "ERROR";
}

/// One entity of a transaction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntityReport {
    pub valid: bool,
    /// `create`, `update`, `delete`, or `null` when it never got that far.
    pub action: Option<String>,
    #[serde(rename = "type")]
    pub node_type: Option<String>,
    pub id: Option<String>,
    /// The entity's unique keys other than `id` (`[{"project_id", "submitter_id"}]`).
    pub unique_keys: Vec<Map<String, Value>>,
    pub errors: Vec<EntityError>,
    pub warnings: Vec<EntityError>,
    pub related_cases: Vec<Value>,
}

/// A whole transaction's answer; its `code` is also the HTTP status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionReport {
    pub transaction_id: Option<i64>,
    pub success: bool,
    pub entity_error_count: usize,
    pub transactional_error_count: usize,
    pub created_entity_count: usize,
    pub updated_entity_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_entity_count: Option<usize>,
    /// Deletion only: the ids other entities depend on, comma-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dependent_ids: Option<String>,
    pub code: u16,
    pub message: String,
    pub transactional_errors: Vec<Value>,
    pub entities: Vec<EntityReport>,
}

pub const SUCCESS: &str = "Transaction successful.";
pub const DRY_RUN: &str = "Transaction would have been successful. User selected dry run option, \
                           transaction aborted, no data written to database.";

impl TransactionReport {
    /// The report of `entities`, given whether it was written (or would have been).
    pub fn new(
        entities: Vec<EntityReport>,
        transactional_errors: Vec<Value>,
        success_code: u16,
        dry_run: bool,
    ) -> Self {
        let entity_error_count = entities.iter().filter(|e| !e.valid).count();
        let success = entity_error_count == 0 && transactional_errors.is_empty();
        let count = |action: &str| {
            if success {
                entities
                    .iter()
                    .filter(|e| e.action.as_deref() == Some(action))
                    .count()
            } else {
                0
            }
        };
        let message = if !success {
            if entity_error_count > 0 {
                format!(
                    "Transaction aborted due to {entity_error_count} invalid entit{}.",
                    if entity_error_count == 1 { "y" } else { "ies" }
                )
            } else {
                "Transaction aborted due to a transactional error.".to_owned()
            }
        } else if dry_run {
            DRY_RUN.to_owned()
        } else {
            SUCCESS.to_owned()
        };
        Self {
            transaction_id: None,
            success,
            entity_error_count,
            transactional_error_count: transactional_errors.len(),
            created_entity_count: count("create"),
            updated_entity_count: count("update"),
            deleted_entity_count: None,
            dependent_ids: None,
            code: if !success {
                400
            } else if dry_run {
                200
            } else {
                success_code
            },
            message,
            transactional_errors,
            entities,
        }
    }

    /// A transaction refused as a whole, before any entity was looked at.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(
            Vec::new(),
            vec![serde_json::json!({"message": message.into()})],
            400,
            false,
        )
    }
}
