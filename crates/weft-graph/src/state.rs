//! A project's states (`PUT|POST .../open|review|submit|release[/_dry_run]`), as sheepdog's
//! review, submission and release transactions move them: `open` (submissions allowed) ⇄
//! `review` (locked for review) → `submit` (every `validated` entity becomes `submitted`, the
//! project `submitted` and `releasable`) → `release` (the project `released`). Each needs
//! `release` of `sheepdog` on the project.

use serde_json::{Value, json};
use weft_auth::Credentials;
use weft_core::WeftError;
use weft_store::{GraphChange, GraphNode, NodeWrite, UniqueKey};

use crate::{Run, SubmissionService, log_entry, now, store_error};

/// A state change of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Open,
    Review,
    Submit,
    Release,
}

impl Transition {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "open" => Some(Self::Open),
            "review" => Some(Self::Review),
            "submit" => Some(Self::Submit),
            "release" => Some(Self::Release),
            _ => None,
        }
    }

    /// The name of its route.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Review => "review",
            Self::Submit => "submit",
            Self::Release => "release",
        }
    }
}

impl SubmissionService {
    /// Move a project to another state; answers sheepdog's transaction JSON (400 with the
    /// reason in `transactional_errors` when the project is not in a state that allows it).
    pub async fn transition(
        &self,
        creds: &Credentials,
        program: &str,
        code: &str,
        to: Transition,
        run: Run,
    ) -> Result<Value, WeftError> {
        let dry_run = run.is_dry();
        self.authenticate(creds).await?;
        let project = self.project(program, code).await?;
        let user = self.allowed(creds, "release", &project.resource()).await?;
        let mut node = project.node.clone();
        let state = node
            .props
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("open")
            .to_owned();
        let flag = |name: &str| node.props.get(name).and_then(Value::as_bool) == Some(true);
        let refusal = match to {
            Transition::Open | Transition::Review if state == "submitted" || flag("released") => {
                Some(format!(
                    "Project is {state}: it can no longer be opened or reviewed"
                ))
            }
            Transition::Review if state != "open" => Some(format!(
                "Project is {state}, not open: only an open project can be reviewed"
            )),
            Transition::Submit if state != "review" => Some(format!(
                "Project is {state}, not in review: review it before submitting"
            )),
            Transition::Release if flag("released") => Some("Project is already released.".into()),
            Transition::Release if !flag("releasable") => Some(
                "Project is not releasable. Project must be submitted at least once first.".into(),
            ),
            _ => None,
        };
        let (to_state, message) = match to {
            Transition::Open => ("open", "Successfully transitioned project state to 'open'"),
            Transition::Review => (
                "review",
                "Successfully transitioned project state to 'review'",
            ),
            Transition::Submit => ("submitted", "Successfully submitted project"),
            Transition::Release => (state.as_str(), "Successfully released project"),
        };
        let role = match to {
            Transition::Release => "release",
            Transition::Submit => "submit",
            _ => "review",
        };
        let documents =
            json!({"project": project.project_id, "action": role, "transition": to.name()});
        if let Some(reason) = refusal {
            let entry = log_entry(
                Some(project.project_id.clone()),
                role,
                Some(user),
                dry_run,
                "FAILED",
                documents,
            );
            let id = self.store.graph_log(entry).await.ok();
            return Ok(
                json!({"code": 400, "success": false, "message": reason, "transaction_id": id,
                             "transactional_errors": [{"message": reason}], "entities": []}),
            );
        }
        let stamp = now();
        let mut change = GraphChange::default();
        let mut submitted = 0usize;
        if to == Transition::Submit {
            for entity in self.validated_entities(&project.project_id).await? {
                let Some(def) = self.dictionary.node(&entity.node_type) else {
                    continue;
                };
                let mut props = entity.props.clone();
                props.insert("state".into(), Value::from("submitted"));
                props.insert("updated_datetime".into(), Value::from(stamp.as_str()));
                let unique = crate::upload::unique_keys(def, &props, &project.project_id).0;
                change.nodes.push(NodeWrite {
                    node: GraphNode { props, ..entity },
                    unique,
                    create: false,
                });
                submitted += 1;
            }
            node.props.insert("releasable".into(), Value::Bool(true));
        }
        if to == Transition::Release {
            node.props.insert("released".into(), Value::Bool(true));
        }
        node.props.insert("state".into(), Value::from(to_state));
        change.nodes.push(NodeWrite {
            unique: vec![UniqueKey::new(&["code"], &[&Value::from(code)])],
            node,
            create: false,
        });
        let message = if dry_run {
            format!("Dry run successful: {}", message.to_lowercase())
        } else {
            message.to_owned()
        };
        let id = if dry_run {
            let entry = log_entry(
                Some(project.project_id.clone()),
                role,
                Some(user),
                true,
                "SUCCEEDED",
                documents,
            );
            self.store.graph_log(entry).await.ok()
        } else {
            change.log = log_entry(
                Some(project.project_id.clone()),
                role,
                Some(user),
                false,
                "SUCCEEDED",
                documents,
            );
            change.commits = run.commits();
            Some(self.store.graph_apply(change).await.map_err(store_error)?)
        };
        let mut out = json!({"code": 200, "success": true, "message": message, "transaction_id": id,
                             "transactional_errors": [], "entities": []});
        if to == Transition::Submit {
            out["submitted_entity_count"] = Value::from(submitted);
        }
        Ok(out)
    }

    /// Every entity of a project in state `validated` (or without a state).
    async fn validated_entities(&self, project_id: &str) -> Result<Vec<GraphNode>, WeftError> {
        let all = self.list_all(Some(project_id.to_owned()), None).await?;
        Ok(all
            .into_iter()
            .filter(|n| {
                n.node_type != "project"
                    && n.props
                        .get("state")
                        .and_then(Value::as_str)
                        .is_none_or(|s| s == "validated")
            })
            .collect())
    }
}
