//! `DELETE .../entities/{ids}` (and its `_dry_run`): entities of a project deleted in one
//! transaction, refused for any entity another entity that stays still links to (nothing is
//! orphaned); with `?fields=a,b`, those properties are cleared instead.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;
use weft_store::{GraphChange, GraphNode, NodeWrite, StoreError};

use crate::report::{EntityError, EntityReport, TransactionReport, kinds};
use crate::{Run, SubmissionService, log_entry, now, store_error};

fn unique_dicts(node: &GraphNode) -> Vec<Map<String, Value>> {
    node.submitter_id.as_ref().map_or_else(Vec::new, |s| {
        vec![Map::from_iter([
            (
                "project_id".to_owned(),
                Value::from(node.project_id.clone()),
            ),
            ("submitter_id".to_owned(), Value::from(s.as_str())),
        ])]
    })
}

impl SubmissionService {
    /// Delete (or, with `fields`, clear properties of) the entities `ids` of a project.
    pub async fn delete_entities(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        ids: &[String],
        fields: Option<Vec<String>>,
        run: Run,
    ) -> Result<TransactionReport, WeftError> {
        let dry_run = run.is_dry();
        self.authenticate(creds).await?;
        let project = self.project(program, code).await?;
        let user = self.allowed(creds, "delete", &project.resource()).await?;
        if ids.len() > crate::MAX_ENTITIES {
            return Err(WeftError::invalid("Too many ids"));
        }
        let mut wanted: Vec<String> = ids.to_vec();
        wanted.sort();
        wanted.dedup();
        let found: HashMap<String, GraphNode> = self
            .store
            .graph_nodes(wanted.clone())
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|n| {
                n.project_id.as_deref() == Some(project.project_id.as_str())
                    && n.node_type != "project"
            })
            .map(|n| (n.id.clone(), n))
            .collect();
        let documents = json!({"ids": wanted, "fields": fields});
        let mut reports = Vec::new();
        let mut dependents = BTreeSet::new();
        let mut change = GraphChange::default();
        let deleting: BTreeSet<&str> = found.keys().map(String::as_str).collect();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        if fields.is_none() {
            for l in self
                .store
                .graph_children(found.keys().cloned().collect())
                .await
                .map_err(store_error)?
            {
                if !deleting.contains(l.edge.src.as_str()) {
                    children.entry(l.edge.dst).or_default().push(l.edge.src);
                }
            }
        }
        let stamp = now();
        for id in &wanted {
            let Some(node) = found.get(id) else {
                reports.push(EntityReport {
                    valid: false,
                    action: Some("delete".into()),
                    node_type: None,
                    id: Some(id.clone()),
                    unique_keys: Vec::new(),
                    errors: vec![EntityError::new(
                        kinds::NOT_FOUND,
                        &["id"],
                        format!("Entity {id} not found in project {}", project.project_id),
                    )],
                    warnings: Vec::new(),
                    related_cases: Vec::new(),
                });
                continue;
            };
            let mut errors = Vec::new();
            let mut action = "delete";
            if let Some(fields) = &fields {
                action = "update";
                let def = self.dictionary.node(&node.node_type);
                let mut props = node.props.clone();
                for f in fields {
                    let known = def.is_some_and(|d| d.property(f).is_some() && d.link(f).is_none());
                    if !known
                        || def.is_some_and(|d| d.is_required(f) || d.system_properties.contains(f))
                    {
                        errors.push(EntityError::new(
                            kinds::INVALID_PROPERTY,
                            &[f],
                            format!(
                                "'{f}' cannot be cleared: it is not an optional property of {}",
                                node.node_type
                            ),
                        ));
                    }
                    props.remove(f);
                }
                props.insert("updated_datetime".into(), Value::from(stamp.as_str()));
                let unique = def
                    .map(|d| crate::upload::unique_keys(d, &props, &project.project_id).0)
                    .unwrap_or_default();
                change.nodes.push(NodeWrite {
                    node: GraphNode {
                        props,
                        ..node.clone()
                    },
                    unique,
                    create: false,
                });
            } else if let Some(kids) = children.get(id) {
                dependents.insert(id.clone());
                errors.push(EntityError::new(kinds::INVALID_LINK, &[], format!(
                    "Unable to delete entity because {} others directly or indirectly depend on it (for example {}). \
                     You can only delete this entity by deleting its dependents prior to, or during the same \
                     transaction as this one.",
                    kids.len(),
                    kids[0]
                )));
            } else {
                change.delete.push(id.clone());
            }
            reports.push(EntityReport {
                valid: errors.is_empty(),
                action: Some(action.into()),
                node_type: Some(node.node_type.clone()),
                id: Some(id.clone()),
                unique_keys: unique_dicts(node),
                errors,
                warnings: Vec::new(),
                related_cases: Vec::new(),
            });
        }
        let mut report = TransactionReport::new(reports, Vec::new(), 200, dry_run);
        let deleted = if report.success && fields.is_none() {
            change.delete.len()
        } else {
            0
        };
        report.deleted_entity_count = Some(deleted);
        report.dependent_ids = Some(dependents.into_iter().collect::<Vec<_>>().join(","));
        if report.entities.is_empty() {
            report = TransactionReport::refused("Nothing to delete");
        }
        let state = crate::log_state(report.success);
        let entry = log_entry(
            Some(project.project_id.clone()),
            "delete",
            Some(user),
            dry_run,
            state,
            documents,
        );
        if !report.success || dry_run {
            report.transaction_id = self.store.graph_log(entry).await.ok();
            return Ok(report);
        }
        change.log = entry;
        change.commits = run.commits();
        match self.store.graph_apply(change).await {
            Ok(id) => report.transaction_id = Some(id),
            Err(StoreError::Invalid(m) | StoreError::AlreadyExists(m)) => {
                let mut failed = TransactionReport::new(
                    report.entities,
                    vec![json!({"message": m})],
                    200,
                    false,
                );
                failed.deleted_entity_count = Some(0);
                failed.dependent_ids = report.dependent_ids;
                return Ok(failed);
            }
            Err(e) => return Err(store_error(e)),
        }
        Ok(report)
    }
}
